//! The PUK letter handed to the citizen with their card.
//!
//! The station generates the card's PUK at random; it exists only in memory
//! and in this letter, never in the registry. The letter is bilingual,
//! Spanish first and English after, and comes in two forms with the same
//! content: a one-page A4 PDF ([`pdf`]) and plain text for a terminal or a
//! line printer ([`text`]).
//!
//! Buffers this module fills with the PUK are zeroized when dropped, and
//! are sized up front so that they do not grow (growing would leave stale
//! copies behind). The PDF returned by [`pdf`] holds the PUK in clear: it
//! is the caller's to print and then zeroize (for example by wrapping it in
//! [`zeroize::Zeroizing`]), and it should never be written to disk.

use std::fmt::Write as _;

use firma_apdu::piv::Puk;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use time::{Date, Month};
use zeroize::Zeroizing;

use crate::audit::{Action, Event, Subject};
use crate::engine::Station;
use crate::error::StationError;
use crate::profile::{self, RENEWAL_WINDOW_DAYS};

/// What the letter says about the card and its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterInfo {
    /// "GIVEN SURNAMES", as on the identity document.
    pub holder_name: String,
    pub nif: String,
    pub card_serial: u32,
    /// The Registration Point's station name.
    pub station: String,
    pub issued_on: Date,
    pub certificates_expire: Date,
}

// ---------------------------------------------------------------------------
// The content, shared by both forms.
// ---------------------------------------------------------------------------

const TITLE_ES: &str = "Carta del PUK de su tarjeta de firma";
const TITLE_EN: &str = "Your signature card's PUK";
const PUK_LABEL: &str = "Su PUK / Your PUK";

fn month_es(m: Month) -> &'static str {
    match m {
        Month::January => "enero",
        Month::February => "febrero",
        Month::March => "marzo",
        Month::April => "abril",
        Month::May => "mayo",
        Month::June => "junio",
        Month::July => "julio",
        Month::August => "agosto",
        Month::September => "septiembre",
        Month::October => "octubre",
        Month::November => "noviembre",
        Month::December => "diciembre",
    }
}

pub(crate) fn date_es(d: Date) -> String {
    format!("{} de {} de {}", d.day(), month_es(d.month()), d.year())
}

pub(crate) fn date_en(d: Date) -> String {
    format!("{} {} {}", d.day(), d.month(), d.year())
}

fn renewal_opens(info: &LetterInfo) -> Date {
    profile::renewal_opens_on(info.certificates_expire)
}

/// (label, value) pairs at the top of the letter.
fn fields(info: &LetterInfo) -> Vec<(&'static str, String)> {
    vec![
        ("Titular / Holder", info.holder_name.clone()),
        ("NIF", info.nif.clone()),
        (
            "Nº de serie de la tarjeta / Card serial number",
            info.card_serial.to_string(),
        ),
        (
            "Punto de Registro / Registration Point",
            info.station.clone(),
        ),
        (
            "Fecha / Date",
            format!("{} ({})", date_es(info.issued_on), date_en(info.issued_on)),
        ),
    ]
}

/// The explanations: (section heading, paragraphs), Spanish then English.
fn sections(info: &LetterInfo) -> [(&'static str, Vec<String>); 2] {
    let expire = info.certificates_expire;
    let renew = renewal_opens(info);
    [
        (
            "En español",
            vec![
                "Esta carta contiene el PUK de su tarjeta de firma. El PUK solo está en \
                 esta carta: no se ha guardado en ningún otro sitio, así que no se puede \
                 recuperar si la pierde."
                    .to_owned(),
                "Para qué sirve: su tarjeta está protegida por un PIN. Si se escribe un PIN \
                 equivocado 3 veces seguidas, la tarjeta bloquea el PIN para protegerle. \
                 Con el PUK puede desbloquearlo y elegir un PIN nuevo: en un Punto de \
                 Registro (PRU) o usted mismo con las herramientas de la tarjeta."
                    .to_owned(),
                "Guarde esta carta en un lugar seguro y separada de la tarjeta: quien tenga \
                 las dos podría cambiar su PIN y firmar en su nombre."
                    .to_owned(),
                "Nadie de la Autoridad de Certificación le pedirá nunca su PUK, ni por \
                 teléfono ni por correo electrónico ni de ninguna otra forma. Si alguien se \
                 lo pide, no se lo dé."
                    .to_owned(),
                format!(
                    "Los certificados de su tarjeta caducan el {}. Puede renovarlos desde \
                     {RENEWAL_WINDOW_DAYS} días antes, es decir, a partir del {}.",
                    date_es(expire),
                    date_es(renew)
                ),
            ],
        ),
        (
            "In English",
            vec![
                "This letter holds your signature card's PUK. The PUK exists only in this \
                 letter: it has not been stored anywhere else, so it cannot be recovered if \
                 you lose the letter."
                    .to_owned(),
                "What it is for: your card is protected by a PIN. If a wrong PIN is entered \
                 3 times in a row, the card blocks the PIN to protect you. With the PUK you \
                 can unblock it and choose a new PIN: at a Registration Point (PRU), or \
                 yourself with your card's tools."
                    .to_owned(),
                "Keep this letter in a safe place, apart from the card: someone who has both \
                 could change your PIN and sign in your name."
                    .to_owned(),
                "Nobody from the Certification Authority will ever ask you for your PUK, \
                 by phone, by e-mail or in any other way. If someone asks for it, do not \
                 give it."
                    .to_owned(),
                format!(
                    "Your card's certificates expire on {}. You can renew them from \
                     {RENEWAL_WINDOW_DAYS} days before, that is, from {}.",
                    date_en(expire),
                    date_en(renew)
                ),
            ],
        ),
    ]
}

/// The PUK grouped for reading: "1234 5678" (a 6-character PUK as "123 456").
fn grouped_puk(puk: &Puk) -> Zeroizing<Vec<u8>> {
    let bytes = puk.as_bytes();
    let split = if bytes.len() == 6 { 3 } else { 4 }.min(bytes.len());
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
    out.extend_from_slice(&bytes[..split]);
    if split < bytes.len() {
        out.push(b' ');
        out.extend_from_slice(&bytes[split..]);
    }
    out
}

// ---------------------------------------------------------------------------
// Plain text.
// ---------------------------------------------------------------------------

const TEXT_WIDTH: usize = 72;

pub(crate) fn wrap_chars(paragraph: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in paragraph.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// What became of a PUK letter after the workflow made it: the audit log
/// says so only when it happened (the printer took it, the operator says
/// the citizen has it), never before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Printed,
    HandedOver,
}

/// Records in the audit log that the PUK letter of `application`'s card
/// `card_serial` was printed or handed over.
pub fn record(
    station: &Station,
    application: i64,
    card_serial: u32,
    fate: Fate,
) -> Result<(), StationError> {
    let action = match fate {
        Fate::Printed => Action::LetterPrinted,
        Fate::HandedOver => Action::LetterHandedOver,
    };
    station.registry().commit(
        &station.actor,
        None,
        &[],
        &Event::new(
            action,
            Subject::Application(application),
            format!("card {card_serial}"),
        ),
    )?;
    Ok(())
}

/// The letter as plain text (UTF-8, lines of at most 72 characters except
/// for unbreakable words), for a terminal or a printer.
///
/// The returned string holds the PUK and is zeroized when dropped; it is
/// allocated at its final size, so no stale copy of the PUK is left behind.
pub fn text(info: &LetterInfo, puk: &Puk) -> Zeroizing<String> {
    // Everything but the PUK is built first, so the buffer that receives
    // the PUK never has to grow.
    let mut before = String::new();
    let rule = "=".repeat(TEXT_WIDTH);
    let _ = writeln!(before, "{TITLE_ES}");
    let _ = writeln!(before, "{TITLE_EN}");
    let _ = writeln!(before, "{rule}");
    before.push('\n');
    let fields = fields(info);
    let label_width = fields
        .iter()
        .map(|(l, _)| l.chars().count() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in &fields {
        let label = format!("{label}:");
        if label_width + 1 + value.chars().count() <= TEXT_WIDTH {
            let _ = writeln!(before, "{label:<label_width$} {value}");
        } else {
            let _ = writeln!(before, "{label}");
            for line in wrap_chars(value, TEXT_WIDTH - 4) {
                let _ = writeln!(before, "    {line}");
            }
        }
    }
    before.push('\n');
    let _ = writeln!(before, "{PUK_LABEL}:");
    before.push('\n');
    before.push_str("        ");

    let mut after = String::from("\n\n");
    for (heading, paragraphs) in sections(info) {
        let _ = writeln!(after, "{}", heading.to_uppercase());
        let _ = writeln!(after, "{}", "-".repeat(heading.chars().count()));
        for p in paragraphs {
            for line in wrap_chars(&p, TEXT_WIDTH) {
                let _ = writeln!(after, "{line}");
            }
            after.push('\n');
        }
    }

    let puk = grouped_puk(puk);
    let puk = std::str::from_utf8(&puk).expect("a PUK is printable ASCII");
    let mut out = Zeroizing::new(String::with_capacity(
        before.len() + puk.len() + after.len(),
    ));
    out.push_str(&before);
    out.push_str(puk);
    out.push_str(&after);
    out
}

// ---------------------------------------------------------------------------
// PDF.
// ---------------------------------------------------------------------------

pub(crate) const PAGE_WIDTH: f32 = 595.276;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;
pub(crate) const MARGIN: f32 = 56.7; // 20 mm

/// Unicode to Windows-1252 (WinAnsiEncoding), '?' for what it lacks.
fn win1252(ch: char) -> u8 {
    let c = ch as u32;
    match c {
        0x20..=0x7E | 0xA0..=0xFF => c as u8,
        0x20AC => 0x80,
        0x201A => 0x82,
        0x0192 => 0x83,
        0x201E => 0x84,
        0x2026 => 0x85,
        0x2020 => 0x86,
        0x2021 => 0x87,
        0x02C6 => 0x88,
        0x2030 => 0x89,
        0x0160 => 0x8A,
        0x2039 => 0x8B,
        0x0152 => 0x8C,
        0x017D => 0x8E,
        0x2018 => 0x91,
        0x2019 => 0x92,
        0x201C => 0x93,
        0x201D => 0x94,
        0x2022 => 0x95,
        0x2013 => 0x96,
        0x2014 => 0x97,
        0x02DC => 0x98,
        0x2122 => 0x99,
        0x0161 => 0x9A,
        0x203A => 0x9B,
        0x0153 => 0x9C,
        0x017E => 0x9E,
        0x0178 => 0x9F,
        _ => b'?',
    }
}

/// Composes a letter with a combining accent (names typed on some systems
/// arrive decomposed, as N + U+0303 for Ñ).
fn compose(base: char, mark: char) -> Option<char> {
    let table = match mark {
        '\u{300}' => "AÀaàEÈeèIÌiìOÒoòUÙuù",
        '\u{301}' => "AÁaáEÉeéIÍiíOÓoóUÚuúYÝyý",
        '\u{302}' => "AÂaâEÊeêIÎiîOÔoôUÛuû",
        '\u{303}' => "AÃaãNÑnñOÕoõ",
        '\u{308}' => "AÄaäEËeëIÏiïOÖoöUÜuüYŸyÿ",
        '\u{327}' => "CÇcç",
        _ => return None,
    };
    let chars: Vec<char> = table.chars().collect();
    chars
        .chunks(2)
        .find(|pair| pair[0] == base)
        .map(|pair| pair[1])
}

/// Encodes text for the base-14 fonts with WinAnsiEncoding.
pub(crate) fn encode(s: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut last: Option<char> = None;
    for ch in s.chars() {
        if ('\u{300}'..='\u{36F}').contains(&ch) {
            if let Some(composed) = last.and_then(|b| compose(b, ch)) {
                *out.last_mut().expect("a base letter was written") = win1252(composed);
                last = None;
            }
            // A mark that cannot be composed is dropped: the base letter
            // reads better than a '?'.
            continue;
        }
        let ch = if ch.is_whitespace() { ' ' } else { ch };
        out.push(win1252(ch));
        last = Some(ch);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    Regular,
    Bold,
}

impl Font {
    pub(crate) fn name(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }
}

/// Helvetica advance widths (1/1000 em) for ASCII 0x20..=0x7E.
#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Helvetica-Bold advance widths (1/1000 em) for ASCII 0x20..=0x7E.
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The width of a WinAnsi byte, close enough to wrap lines: accented
/// letters take their base letter's width, other symbols a wide 1000.
fn glyph_width(font: Font, byte: u8) -> f32 {
    let table = match font {
        Font::Regular => &HELVETICA,
        Font::Bold => &HELVETICA_BOLD,
    };
    let ascii = |b: u8| table[(b - 0x20) as usize];
    let w = match byte {
        0x20..=0x7E => ascii(byte),
        0xC0..=0xC5 => ascii(b'A'),
        0xC7 => ascii(b'C'),
        0xC8..=0xCB => ascii(b'E'),
        0xCC..=0xCF => ascii(b'I'),
        0xD1 => ascii(b'N'),
        0xD2..=0xD6 | 0xD8 => ascii(b'O'),
        0xD9..=0xDC => ascii(b'U'),
        0xDD | 0x9F => ascii(b'Y'),
        0xE0..=0xE5 => ascii(b'a'),
        0xE7 => ascii(b'c'),
        0xE8..=0xEB => ascii(b'e'),
        0xEC..=0xEF => 278,
        0xF1 => ascii(b'n'),
        0xF2..=0xF6 | 0xF8 => ascii(b'o'),
        0xF9..=0xFC => ascii(b'u'),
        0xFD | 0xFF => ascii(b'y'),
        0xA0 => 278,
        _ => 1000,
    };
    f32::from(w)
}

pub(crate) fn text_width(font: Font, size: f32, text: &[u8]) -> f32 {
    text.iter().map(|&b| glyph_width(font, b)).sum::<f32>() * size / 1000.0
}

/// Splits encoded text into lines no wider than `width` points.
pub(crate) fn wrap(font: Font, size: f32, text: &[u8], width: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() {
            let mut candidate = line.clone();
            candidate.push(b' ');
            candidate.extend_from_slice(word);
            if text_width(font, size, &candidate) > width {
                lines.push(std::mem::take(&mut line));
            } else {
                line = candidate;
                continue;
            }
        }
        line.extend_from_slice(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Writes lines of text top-down on the page.
pub(crate) struct Writer {
    pub(crate) content: Content,
    pub(crate) y: f32,
}

impl Writer {
    pub(crate) fn line(&mut self, font: Font, size: f32, x: f32, text: &[u8]) {
        self.content
            .begin_text()
            .set_font(font.name(), size)
            .next_line(x, self.y)
            .show(Str(text))
            .end_text();
    }

    pub(crate) fn paragraph(
        &mut self,
        font: Font,
        size: f32,
        leading: f32,
        x: f32,
        width: f32,
        s: &str,
    ) {
        for line in wrap(font, size, &encode(s), width) {
            self.line(font, size, x, &line);
            self.y -= leading;
        }
    }
}

const BODY: f32 = 10.0;
const LEADING: f32 = 13.0;
const PUK_SIZE: f32 = 30.0;

/// The letter as a one-page A4 PDF with the base-14 Helvetica fonts.
///
/// The returned bytes hold the PUK in clear. They are the caller's to
/// handle: send them to the printer, never to disk, and zeroize them after
/// (wrap them in [`zeroize::Zeroizing`]). The buffers this function uses
/// for the PUK on the way are zeroized and sized so that they do not grow.
pub fn pdf(info: &LetterInfo, puk: &Puk) -> Vec<u8> {
    let text_width_pt = PAGE_WIDTH - 2.0 * MARGIN;
    let mut w = Writer {
        content: Content::new(),
        y: PAGE_HEIGHT - MARGIN - 18.0,
    };

    // Titles.
    w.line(Font::Bold, 18.0, MARGIN, &encode(TITLE_ES));
    w.y -= 20.0;
    w.line(Font::Regular, 14.0, MARGIN, &encode(TITLE_EN));
    w.y -= 10.0;
    w.content
        .set_line_width(0.8)
        .move_to(MARGIN, w.y)
        .line_to(PAGE_WIDTH - MARGIN, w.y)
        .stroke();
    w.y -= 24.0;

    // Fields: labels in a column, values beside them.
    let fields = fields(info);
    let label_col = fields
        .iter()
        .map(|(l, _)| text_width(Font::Regular, BODY, &encode(&format!("{l}:"))))
        .fold(0.0f32, f32::max)
        + 12.0;
    for (label, value) in &fields {
        w.line(Font::Regular, BODY, MARGIN, &encode(&format!("{label}:")));
        let x = MARGIN + label_col;
        let lines = wrap(Font::Bold, 11.0, &encode(value), text_width_pt - label_col);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                w.y -= 14.0;
            }
            w.line(Font::Bold, 11.0, x, line);
        }
        w.y -= 18.0;
    }

    // The PUK in a box.
    w.y -= 6.0;
    let box_height = 70.0;
    let box_bottom = w.y - box_height + 12.0;
    w.content
        .set_line_width(1.5)
        .rect(MARGIN, box_bottom, text_width_pt, box_height)
        .stroke();
    w.y -= 8.0;
    w.line(Font::Regular, BODY, MARGIN + 12.0, &encode(PUK_LABEL));
    let puk_y = box_bottom + 14.0;
    w.y = box_bottom - 28.0;

    // The explanations.
    for (heading, paragraphs) in sections(info) {
        w.line(Font::Bold, 12.0, MARGIN, &encode(heading));
        w.y -= 18.0;
        for p in &paragraphs {
            w.paragraph(Font::Regular, BODY, LEADING, MARGIN, text_width_pt, p);
            w.y -= 5.0;
        }
        w.y -= 12.0;
    }
    debug_assert!(w.y > MARGIN - 20.0, "the letter overflows its page");
    let mut body = w.content.finish();

    // The PUK goes in its own small buffer, sized so it never grows.
    let grouped = grouped_puk(puk);
    let mut puk_ops = Content::with_capacity(256);
    puk_ops
        .begin_text()
        .set_font(Font::Bold.name(), PUK_SIZE)
        .next_line(MARGIN + 150.0, puk_y)
        .show(Str(&grouped))
        .end_text();
    let puk_ops = Zeroizing::new(puk_ops.finish());

    let mut stream = Zeroizing::new(Vec::with_capacity(body.len() + 1 + puk_ops.len()));
    stream.append(&mut body);
    stream.push(b'\n');
    stream.extend_from_slice(&puk_ops);

    let catalog_id = Ref::new(1);
    let pages_id = Ref::new(2);
    let page_id = Ref::new(3);
    let regular_id = Ref::new(4);
    let bold_id = Ref::new(5);
    let content_id = Ref::new(6);
    let info_id = Ref::new(7);

    // Large enough for the whole file, so the buffer holding the PUK does
    // not grow and leave copies behind.
    let mut doc = Pdf::with_capacity(stream.len() + 16 * 1024);
    doc.catalog(catalog_id).pages(pages_id);
    doc.pages(pages_id).kids([page_id]).count(1);
    let mut page = doc.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
        .parent(pages_id)
        .contents(content_id);
    page.resources()
        .fonts()
        .pair(Font::Regular.name(), regular_id)
        .pair(Font::Bold.name(), bold_id);
    page.finish();
    for (id, base) in [(regular_id, "Helvetica"), (bold_id, "Helvetica-Bold")] {
        doc.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    doc.stream(content_id, &stream);
    doc.document_info(info_id)
        .title(TextStr("Carta del PUK / PUK letter"));
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use time::macros::date;

    fn info() -> LetterInfo {
        LetterInfo {
            holder_name: "MARÍA JOSÉ NÚÑEZ IBÁÑEZ".to_owned(),
            nif: "12345678Z".to_owned(),
            card_serial: 17_654_321,
            station: "PRU Valladolid 1".to_owned(),
            issued_on: date!(2026 - 05 - 17),
            certificates_expire: date!(2029 - 05 - 17),
        }
    }

    fn puk() -> Puk {
        Puk::new("73914628").unwrap()
    }

    fn pdftotext(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("letter.pdf");
        std::fs::write(&path, pdf).unwrap();
        let out = match Command::new("pdftotext").arg(&path).arg("-").output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "pdftotext is not installed: install poppler-utils \
                 (apt-get install -y poppler-utils) to run this test"
            ),
            Err(e) => panic!("could not run pdftotext: {e}"),
        };
        assert!(
            out.status.success(),
            "pdftotext failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Lines may break anywhere between words: compare with single spaces.
    fn flat(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn pdf_is_a_one_page_pdf() {
        let pdf = pdf(&info(), &puk());
        assert!(pdf.starts_with(b"%PDF"));
        assert!(pdf.ends_with(b"%%EOF"));
        let s = String::from_utf8_lossy(&pdf);
        assert!(s.contains("/Count 1"));
        assert!(s.contains("/BaseFont /Helvetica-Bold"));
        assert!(s.contains("/Encoding /WinAnsiEncoding"));
    }

    #[test]
    fn pdf_text_can_be_extracted() {
        let raw = pdftotext(&pdf(&info(), &puk()));
        let text = flat(&raw);
        for needle in [
            "Carta del PUK de su tarjeta de firma",
            "Your signature card's PUK",
            "MARÍA JOSÉ NÚÑEZ IBÁÑEZ",
            "12345678Z",
            "17654321",
            "PRU Valladolid 1",
            "7391 4628",
            "17 de mayo de 2026",
            "17 May 2026",
            "Registration Point (PRU), or",
            "17 de mayo de 2029",
            "8 de marzo de 2029",
            "8 March 2029",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
        let es = text.find("En español").expect("Spanish section");
        let en = text.find("In English").expect("English section");
        assert!(es < en, "Spanish comes first");
        // Page count: one form feed at the end of a single page.
        assert_eq!(raw.matches('\u{c}').count(), 1);
    }

    #[test]
    fn text_has_the_same_content() {
        let t = text(&info(), &puk());
        for needle in [
            "Carta del PUK de su tarjeta de firma",
            "Your signature card's PUK",
            "MARÍA JOSÉ NÚÑEZ IBÁÑEZ",
            "12345678Z",
            "17654321",
            "PRU Valladolid 1",
            "7391 4628",
            "17 de mayo de 2026 (17 May 2026)",
            "Registration Point (PRU), or",
            "8 de marzo de 2029",
            "8 March 2029",
        ] {
            assert!(flat(&t).contains(needle), "{needle:?} not in:\n{}", *t);
        }
        assert!(t.find("EN ESPAÑOL").unwrap() < t.find("IN ENGLISH").unwrap());
        // The citizen has no command line: the letter names none.
        assert!(!t.contains("firma-station"), "{}", *t);
        assert!(t.lines().all(|l| l.chars().count() <= TEXT_WIDTH), "{}", *t);
        // Allocated at its final size.
        assert_eq!(t.len(), t.capacity());
    }

    #[test]
    fn long_names_wrap_and_still_fit() {
        let mut i = info();
        i.holder_name = "MARÍA DE LOS ÁNGELES GUADALUPE FERNÁNDEZ-CASTAÑO DE LA \
                         PEÑA Y MONTESDEOCA ÚBEDA"
            .to_owned();
        let t = pdftotext(&pdf(&i, &puk()));
        assert!(t.contains("MONTESDEOCA"), "{t}");
        assert_eq!(t.matches('\u{c}').count(), 1);
        let plain = text(&i, &puk());
        assert!(plain.contains("MONTESDEOCA"));
        assert!(plain.lines().all(|l| l.chars().count() <= TEXT_WIDTH));
    }

    #[test]
    fn groups_the_puk() {
        assert_eq!(&grouped_puk(&puk())[..], b"7391 4628");
        assert_eq!(&grouped_puk(&Puk::new("123456").unwrap())[..], b"123 456");
        assert_eq!(&grouped_puk(&Puk::new("1234567").unwrap())[..], b"1234 567");
    }

    #[test]
    fn encodes_windows_1252() {
        assert_eq!(encode("Ñandú"), b"\xD1and\xFA");
        assert_eq!(
            encode("ÁÉÍÓÚÜáéíóúüñ"),
            b"\xC1\xC9\xCD\xD3\xDA\xDC\xE1\xE9\xED\xF3\xFA\xFC\xF1"
        );
        assert_eq!(encode("€ – “x”"), b"\x80 \x96 \x93x\x94");
        assert_eq!(encode("Łódź 日本"), b"?\xF3d? ??");
        // Decomposed input (N + combining tilde) is composed.
        assert_eq!(encode("NU\u{303}N\u{303}EZ"), b"NU\xD1EZ");
        assert_eq!(encode("Jose\u{301}"), b"Jos\xE9");
    }

    #[test]
    fn pdf_renders_decomposed_names() {
        let mut i = info();
        i.holder_name = "JOSE\u{301} IBA\u{301}N\u{303}EZ".to_owned();
        let t = pdftotext(&pdf(&i, &puk()));
        assert!(t.contains("JOSÉ IBÁÑEZ"), "{t}");
    }
}
