//! The Generation Code letter: one A4 page, Spanish then English, like the
//! PUK letter (`crate::letter`, whose page layout it shares), as a PDF for
//! the printer or as text.
//!
//! The code is in the returned bytes in clear and nowhere else: the caller
//! prints them and drops them (they are [`Zeroizing`]); buffers that hold
//! the code are sized so that they never grow and leave copies behind.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::code::GenerationCode;
use crate::letter::{
    date_en, date_es, encode, wrap, wrap_chars, Font, Writer, MARGIN, PAGE_HEIGHT, PAGE_WIDTH,
};

/// What the letter says besides the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLetterInfo {
    /// "GIVEN SURNAMES".
    pub holder_name: String,
    pub nif: String,
    /// The Registration Point's station name.
    pub station: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Where the citizen redeems it (the portal's address).
    pub portal: String,
}

const TITLE_ES: &str = "Código de Generación de su certificado software";
const TITLE_EN: &str = "Your software certificate's Generation Code";
const CODE_LABEL: &str = "Su código / Your code";

fn time_utc(t: OffsetDateTime) -> String {
    format!("{:02}:{:02} UTC", t.hour(), t.minute())
}

fn fields(info: &CodeLetterInfo) -> Vec<(&'static str, String)> {
    vec![
        ("Titular / Holder", info.holder_name.clone()),
        ("NIF / NIE", info.nif.clone()),
        (
            "Punto de Registro / Registration Point",
            info.station.clone(),
        ),
        (
            "Válido hasta / Valid until",
            format!(
                "{} ({}), {}",
                date_es(info.expires_at.date()),
                date_en(info.expires_at.date()),
                time_utc(info.expires_at)
            ),
        ),
    ]
}

fn sections(info: &CodeLetterInfo) -> [(&'static str, Vec<String>); 2] {
    let until_es = date_es(info.expires_at.date());
    let until_en = date_en(info.expires_at.date());
    [
        (
            "En español",
            vec![
                format!(
                    "Con este código genera su certificado software en {}: escriba su NIF/NIE, \
                     el código tal como está impreso (distingue mayúsculas de minúsculas) y una \
                     contraseña para el fichero que descargará.",
                    info.portal
                ),
                format!(
                    "El código sirve una sola vez, solo con su NIF/NIE, y caduca el {until_es}. \
                     Tras 3 intentos con un código equivocado deja de servir. Un código nuevo \
                     anula este, y un código caducado o anulado no se puede reactivar: para otro \
                     tendrá que volver a identificarse en un Punto de Registro."
                ),
                "Nadie de la Autoridad de Certificación le pedirá nunca este código. No lo \
                 comparta: quien lo tenga junto con su NIF/NIE podría obtener un certificado \
                 a su nombre."
                    .to_owned(),
            ],
        ),
        (
            "In English",
            vec![
                format!(
                    "With this code you generate your software certificate at {}: type your \
                     NIF/NIE, the code exactly as printed (capitals and small letters differ) \
                     and a password for the file you will download.",
                    info.portal
                ),
                format!(
                    "The code works once, only with your NIF/NIE, and expires on {until_en}. \
                     After 3 attempts with a wrong code it stops working. A new code voids this \
                     one, and an expired or voided code cannot be reactivated: for another one \
                     you will have to identify yourself again at a Registration Point."
                ),
                "Nobody from the Certification Authority will ever ask you for this code. Do \
                 not share it: whoever has it with your NIF/NIE could obtain a certificate in \
                 your name."
                    .to_owned(),
            ],
        ),
    ]
}

/// The letter as plain text, for a terminal or a line printer.
pub fn text(info: &CodeLetterInfo, code: &GenerationCode) -> Zeroizing<String> {
    let mut before = format!("{TITLE_ES}\n{TITLE_EN}\n{}\n\n", "=".repeat(72));
    for (label, value) in fields(info) {
        before.push_str(&format!("{label}: {value}\n"));
    }
    before.push_str(&format!("\n{CODE_LABEL}:\n\n        "));
    let mut after = String::from("\n\n");
    for (heading, paragraphs) in sections(info) {
        after.push_str(&format!("{}\n", heading.to_uppercase()));
        for p in paragraphs {
            for line in wrap_chars(&p, 72) {
                after.push_str(&line);
                after.push('\n');
            }
            after.push('\n');
        }
    }
    let grouped = code.grouped();
    let mut out = Zeroizing::new(String::with_capacity(
        before.len() + grouped.len() + after.len(),
    ));
    out.push_str(&before);
    out.push_str(&grouped);
    out.push_str(&after);
    out
}

/// The letter as a one-page A4 PDF (base-14 Helvetica).
pub fn pdf(info: &CodeLetterInfo, code: &GenerationCode) -> Zeroizing<Vec<u8>> {
    const BODY: f32 = 10.0;
    let width = PAGE_WIDTH - 2.0 * MARGIN;
    let mut w = Writer {
        content: Content::new(),
        y: PAGE_HEIGHT - MARGIN - 18.0,
    };
    w.line(Font::Bold, 16.0, MARGIN, &encode(TITLE_ES));
    w.y -= 20.0;
    w.line(Font::Regular, 14.0, MARGIN, &encode(TITLE_EN));
    w.y -= 10.0;
    w.content
        .set_line_width(0.8)
        .move_to(MARGIN, w.y)
        .line_to(PAGE_WIDTH - MARGIN, w.y)
        .stroke();
    w.y -= 24.0;
    for (label, value) in fields(info) {
        w.line(Font::Regular, BODY, MARGIN, &encode(&format!("{label}:")));
        w.y -= 13.0;
        for line in wrap(Font::Bold, 11.0, &encode(&value), width - 12.0) {
            w.line(Font::Bold, 11.0, MARGIN + 12.0, &line);
            w.y -= 14.0;
        }
        w.y -= 6.0;
    }
    let box_height = 70.0;
    let box_bottom = w.y - box_height + 12.0;
    w.content
        .set_line_width(1.5)
        .rect(MARGIN, box_bottom, width, box_height)
        .stroke();
    w.y -= 8.0;
    w.line(Font::Regular, BODY, MARGIN + 12.0, &encode(CODE_LABEL));
    let code_y = box_bottom + 14.0;
    w.y = box_bottom - 28.0;
    for (heading, paragraphs) in sections(info) {
        w.line(Font::Bold, 12.0, MARGIN, &encode(heading));
        w.y -= 18.0;
        for p in &paragraphs {
            w.paragraph(Font::Regular, BODY, 13.0, MARGIN, width, p);
            w.y -= 5.0;
        }
        w.y -= 12.0;
    }
    debug_assert!(w.y > MARGIN - 20.0, "the letter overflows its page");
    let mut body = w.content.finish();

    let grouped = code.grouped();
    let mut code_ops = Content::with_capacity(256);
    code_ops
        .begin_text()
        .set_font(Font::Bold.name(), 30.0)
        .next_line(MARGIN + 150.0, code_y)
        .show(Str(grouped.as_bytes()))
        .end_text();
    let code_ops = Zeroizing::new(code_ops.finish());
    let mut stream = Zeroizing::new(Vec::with_capacity(body.len() + 1 + code_ops.len()));
    stream.append(&mut body);
    stream.push(b'\n');
    stream.extend_from_slice(&code_ops);

    let (catalog, pages, page_id, regular, bold, content, info_id) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
        Ref::new(7),
    );
    let mut doc = Pdf::with_capacity(stream.len() + 16 * 1024);
    doc.catalog(catalog).pages(pages);
    doc.pages(pages).kids([page_id]).count(1);
    let mut page = doc.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
        .parent(pages)
        .contents(content);
    page.resources()
        .fonts()
        .pair(Font::Regular.name(), regular)
        .pair(Font::Bold.name(), bold);
    page.finish();
    for (id, base) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        doc.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    doc.stream(content, &stream);
    doc.document_info(info_id)
        .title(TextStr("Código de Generación / Generation Code"));
    Zeroizing::new(doc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn info() -> CodeLetterInfo {
        CodeLetterInfo {
            holder_name: "MARÍA JOSÉ NÚÑEZ IBÁÑEZ".into(),
            nif: "12345678Z".into(),
            station: "PRU Valladolid 1".into(),
            issued_at: datetime!(2026-12-02 17:40 UTC),
            expires_at: datetime!(2026-12-17 17:40 UTC),
            portal: "https://portal.example".into(),
        }
    }

    fn pdftotext(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.pdf");
        std::fs::write(&path, pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) is installed");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_pdf_is_one_page_spanish_then_english_with_the_code() {
        let code = GenerationCode::parse("ABCDEfghmn").unwrap();
        let raw = pdftotext(&pdf(&info(), &code));
        let flat = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in [
            TITLE_ES,
            TITLE_EN,
            "MARÍA JOSÉ NÚÑEZ IBÁÑEZ",
            "12345678Z",
            "ABCDE fghmn",
            "17 de diciembre de 2026",
            "17 December 2026",
            "17:40 UTC",
            "https://portal.example",
        ] {
            assert!(flat.contains(needle), "{needle:?} not in {flat}");
        }
        assert!(flat.find("En español").unwrap() < flat.find("In English").unwrap());
        assert_eq!(raw.matches('\u{c}').count(), 1, "one page");
    }

    #[test]
    fn the_text_has_the_code_and_the_expiry() {
        let code = GenerationCode::parse("ABCDEfghmn").unwrap();
        let t = text(&info(), &code);
        assert!(t.contains("ABCDE fghmn"));
        assert!(t.contains("17 December 2026"));
        assert_eq!(t.len(), t.capacity());
    }
}
