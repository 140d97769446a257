//! The portal's HTML: plain forms that work without JavaScript, every
//! value escaped, the language switcher on each page. What the citizen
//! typed comes back only as their NIF, never the code or the password.

use crate::i18n::{Key, Lang};

/// `text` safe inside an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str =
    "body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5}\
label{display:block;margin-top:1em;font-weight:bold}\
input,select{font-size:1.1em;padding:.3em;width:100%;box-sizing:border-box}\
.hint{color:#444;font-size:.9em;margin:.2em 0}\
.error{border-left:4px solid #b00;background:#fee;padding:.5em 1em}\
button{margin-top:1.5em;font-size:1.1em;padding:.5em 1em}\
nav a{margin-right:1em}";

fn page(lang: Lang, body: &str) -> String {
    page_titled(lang, Key::Title.text(lang), body)
}

/// A page of the portal titled `title`, with the language switcher.
pub(crate) fn page_titled(lang: Lang, title: &str, body: &str) -> String {
    let nav: String = Lang::ALL
        .iter()
        .map(|l| {
            format!(
                "<a href=\"/?lang={}\" lang=\"{}\">{}</a>",
                l.code(),
                l.tag(),
                l.name()
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"{tag}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head>\
<body><nav>{nav}</nav><h1>{title}</h1>{body}</body></html>\n",
        tag = lang.tag(),
        title = escape(title),
    )
}

/// What the form shows again after a refusal.
#[derive(Default)]
pub struct Filled<'a> {
    pub nif: &'a str,
    pub error: Option<Key>,
}

/// What went wrong, as the box every page shows it in.
pub(crate) fn alert(text: &str) -> String {
    format!(
        "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>",
        escape(text)
    )
}

fn error_box(lang: Lang, error: Option<Key>) -> String {
    error.map(|k| alert(k.text(lang))).unwrap_or_default()
}

/// The password twice and the kind of key, as every form that makes a
/// file asks for them.
pub(crate) fn password_fields(lang: Lang) -> String {
    let t = |k: Key| escape(k.text(lang));
    format!(
        "<label for=\"password\">{password}</label>\
<input id=\"password\" name=\"password\" type=\"password\" required minlength=\"8\" maxlength=\"128\" autocomplete=\"new-password\" aria-describedby=\"password-hint\">\
<p class=\"hint\" id=\"password-hint\">{hint}</p>\
<label for=\"password2\">{again}</label>\
<input id=\"password2\" name=\"password2\" type=\"password\" required minlength=\"8\" maxlength=\"128\" autocomplete=\"new-password\">\
<label for=\"key\">{kind}</label>\
<select id=\"key\" name=\"key\"><option value=\"p256\" selected>{p256}</option><option value=\"rsa2048\">{rsa}</option></select>",
        password = t(Key::Password),
        hint = t(Key::PasswordHint),
        again = t(Key::PasswordAgain),
        kind = t(Key::KeyKind),
        p256 = t(Key::KeyP256),
        rsa = t(Key::KeyRsa),
    )
}

/// The fields both ways ask for: the token, NIF, code, password twice and
/// the kind of key.
fn fields(lang: Lang, csrf: &str, filled: &Filled<'_>) -> String {
    let t = |k: Key| escape(k.text(lang));
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"nif\">{nif}</label>\
<input id=\"nif\" name=\"nif\" required maxlength=\"16\" value=\"{nif_value}\" aria-describedby=\"nif-hint\">\
<p class=\"hint\" id=\"nif-hint\">{nif_hint}</p>\
<label for=\"code\">{code_label}</label>\
<input id=\"code\" name=\"code\" required maxlength=\"32\" autocapitalize=\"off\" spellcheck=\"false\" aria-describedby=\"code-hint\">\
<p class=\"hint\" id=\"code-hint\">{code_hint}</p>{passwords}",
        csrf = escape(csrf),
        nif = t(Key::Nif),
        nif_value = escape(filled.nif),
        nif_hint = t(Key::NifHint),
        code_label = t(Key::Code),
        code_hint = t(Key::CodeHint),
        passwords = password_fields(lang),
    )
}

/// The generation form (the portal makes the key), with a fresh
/// anti-forgery token.
pub fn form(lang: Lang, csrf: &str, filled: &Filled<'_>) -> String {
    let t = |k: Key| escape(k.text(lang));
    let body = format!(
        "<p>{intro}</p>{error}\
<form method=\"post\" action=\"/generate?lang={code}\" autocomplete=\"off\">{fields}\
<button type=\"submit\" id=\"generate\">{submit}</button>\
</form><p class=\"hint\">{after}</p>\
<p><a id=\"browser-way\" href=\"/browser?lang={code}\">{browser}</a></p>",
        intro = t(Key::Intro),
        error = error_box(lang, filled.error),
        code = lang.code(),
        fields = fields(lang, csrf, filled),
        submit = t(Key::Submit),
        after = t(Key::AfterDownload),
        browser = t(Key::BrowserWay),
    );
    page(lang, &body)
}

/// The form of the way where the key is made in the browser: the same
/// fields, sent by `browser.js` with the certificate request instead of
/// the password. Without JavaScript it says so and leads to the other way.
pub fn browser_form(lang: Lang, csrf: &str) -> String {
    let body = browser_body(
        lang,
        Key::BrowserIntro.text(lang),
        &BrowserForm {
            action: format!("/browser/certificate?lang={}", lang.code()),
            fields: fields(lang, csrf, &Filled::default()),
            filename: None,
            submit: Key::Submit.text(lang),
            back: format!("/?lang={}", lang.code()),
        },
    );
    page(lang, &body)
}

/// A form whose key `browser.js` makes: where it posts, its fields (HTML:
/// what is not a password is sent), the file's name (else
/// `certificado-NIF.p12`), the button and where the page leads without
/// JavaScript.
pub(crate) struct BrowserForm<'a> {
    pub action: String,
    pub fields: String,
    pub filename: Option<&'a str>,
    pub submit: &'a str,
    pub back: String,
}

/// The body of a page of the browser way: `intro`, the boxes the script
/// fills, the form, its messages and the script.
pub(crate) fn browser_body(lang: Lang, intro: &str, form: &BrowserForm<'_>) -> String {
    let t = |k: Key| escape(k.text(lang));
    let messages = serde_json::json!({
        "passwordShort": Key::PasswordShort.text(lang),
        "passwordLong": Key::PasswordLong.text(lang),
        "passwordMismatch": Key::PasswordMismatch.text(lang),
        "working": Key::BrowserWorking.text(lang),
        "done": Key::BrowserDone.text(lang),
        "failed": Key::BrowserFailed.text(lang),
    })
    .to_string()
    // Kept inside its script element whatever a text holds.
    .replace('<', "\\u003c");
    let filename = form
        .filename
        .map(|f| format!(" data-filename=\"{}\"", escape(f)))
        .unwrap_or_default();
    format!(
        "<p>{intro}</p>\
<noscript><p class=\"error\">{noscript} <a href=\"{back_href}\">{back}</a></p></noscript>\
<p class=\"error\" role=\"alert\" id=\"error\" hidden></p>\
<p role=\"status\" id=\"status\" hidden></p>\
<p role=\"status\" id=\"done\" hidden></p>\
<form id=\"browser-form\" method=\"post\" action=\"{action}\"{filename} autocomplete=\"off\">{fields}\
<button type=\"submit\" id=\"generate\" disabled>{submit}</button>\
</form><p class=\"hint\">{after}</p>\
<script type=\"application/json\" id=\"messages\">{messages}</script>\
<script src=\"/assets/browser.js\"></script>",
        intro = escape(intro),
        noscript = t(Key::BrowserNeedsScript),
        back_href = escape(&form.back),
        back = t(Key::BackToForm),
        action = escape(&form.action),
        fields = form.fields,
        submit = escape(form.submit),
        after = t(Key::AfterDownload),
    )
}

/// A page that only says what went wrong and leads back to the form.
pub fn message(lang: Lang, key: Key) -> String {
    let body = format!(
        "{}<p><a href=\"/?lang={}\">{}</a></p>",
        alert(key.text(lang)),
        lang.code(),
        escape(Key::BackToForm.text(lang))
    );
    page(lang, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_citizen_typed_is_escaped() {
        let html = form(
            Lang::En,
            "t",
            &Filled {
                nif: "\"><script>alert(1)</script>",
                error: Some(Key::Refused),
            },
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    }
}
