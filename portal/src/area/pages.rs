//! The citizen's area's HTML: the list of certificates, the renewal form,
//! the revocation's confirmation and the messages, plain forms without
//! JavaScript, every value escaped.

use firma_apdu::piv::Slot;
use time::OffsetDateTime;

use super::words::Word;
use super::{Citizen, Kind, Listed, Standing};
use crate::i18n::{Key, Lang};
use crate::pages::{alert, browser_body, escape, page_titled, password_fields, BrowserForm};

fn page(lang: Lang, body: &str) -> String {
    page_titled(lang, Word::Title.text(lang), body)
}

fn day(t: OffsetDateTime) -> String {
    t.date().to_string()
}

fn back(lang: Lang) -> String {
    format!(
        "<p><a id=\"back\" href=\"/?lang={}\">{}</a></p>",
        lang.code(),
        escape(Word::Back.text(lang))
    )
}

fn action(lang: Lang, what: &str, serial: &str, word: Word) -> String {
    format!(
        "<a id=\"{what}-{serial}\" href=\"/{what}/{serial}?lang={code}\">{text}</a>",
        serial = escape(serial),
        code = lang.code(),
        text = escape(word.text(lang)),
    )
}

/// The list of the citizen's certificates.
pub fn list(lang: Lang, citizen: &Citizen, certs: &[Listed]) -> String {
    let w = |k: Word| escape(k.text(lang));
    let rows: String = certs
        .iter()
        .map(|c| {
            let state = match c.standing {
                Standing::Valid => match c.kind {
                    Kind::Software => Word::RenewFrom
                        .text(lang)
                        .replace("{date}", &day(c.renewal_opens)),
                    Kind::Card(_) => Word::Valid.text(lang).to_string(),
                },
                Standing::Renewable => Word::Renewable.text(lang).to_string(),
                Standing::Renewed => Word::Renewed.text(lang).to_string(),
                Standing::Expired => Word::Expired.text(lang).to_string(),
                Standing::Revoked => Word::Revoked.text(lang).to_string(),
            };
            let mut actions = Vec::new();
            if c.kind == Kind::Software && c.standing == Standing::Renewable {
                actions.push(action(lang, "renew", &c.serial, Word::Renew));
            }
            if c.revocable() {
                actions.push(action(lang, "revoke", &c.serial, Word::Revoke));
            }
            format!(
                "<tr id=\"cert-{serial}\"><td><code>{serial}</code></td><td>{kind}</td>\
<td>{until}</td><td class=\"state\">{state}</td><td>{actions}</td></tr>",
                serial = escape(&c.serial),
                kind = w(match c.kind {
                    Kind::Software => Word::Software,
                    Kind::Card(Slot::Authentication) => Word::CardAuthentication,
                    Kind::Card(Slot::Signature) => Word::CardSignature,
                    Kind::Card(Slot::KeyManagement) => Word::CardEncryption,
                    Kind::Card(_) => Word::Card,
                }),
                until = day(c.not_after),
                state = escape(&state),
                actions = actions.join(" "),
            )
        })
        .collect();
    let hello = Word::Hello
        .text(lang)
        .replace("{serial}", &citizen.serial)
        .replace("{name}", &citizen.name)
        .replace("{nif}", &citizen.nif);
    let body = format!(
        "<p id=\"hello\">{hello}</p><table><thead><tr><th>{serial}</th><th>{kind}</th>\
<th>{until}</th><th>{state}</th><th></th></tr></thead><tbody>{rows}</tbody></table>\
<p class=\"hint\">{card}</p>",
        hello = escape(&hello),
        serial = w(Word::Serial),
        kind = w(Word::Kind),
        until = w(Word::Until),
        state = w(Word::State),
        card = w(Word::CardAtPru),
    );
    page(lang, &body)
}

/// The renewal form of `serial`: password twice and the kind of key.
pub fn renew_form(lang: Lang, csrf: &str, serial: &str, error: Option<&str>) -> String {
    let body = format!(
        "<p>{intro}</p>{error}\
<form method=\"post\" action=\"/renew/{serial}?lang={code}\" autocomplete=\"off\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{fields}\
<button type=\"submit\" id=\"renew\">{submit}</button></form>\
<p class=\"hint\">{after}</p>\
<p><a id=\"browser-way\" href=\"/renew/{serial}/browser?lang={code}\">{browser}</a></p>{back}",
        intro = escape(&Word::RenewIntro.text(lang).replace("{serial}", serial)),
        error = error.map(alert).unwrap_or_default(),
        serial = escape(serial),
        code = lang.code(),
        csrf = escape(csrf),
        fields = password_fields(lang),
        submit = escape(Word::Renew.text(lang)),
        after = escape(Key::AfterDownload.text(lang)),
        browser = escape(Key::BrowserWay.text(lang)),
        back = back(lang),
    );
    page(lang, &body)
}

/// The renewal of `serial` with a key the browser makes (`browser.js`):
/// the password twice and the kind of key, which stay in the page.
pub fn renew_browser_form(lang: Lang, csrf: &str, serial: &str, nif: &str) -> String {
    let intro = format!(
        "{} {}",
        Word::RenewIntro.text(lang).replace("{serial}", serial),
        Key::BrowserIntro.text(lang)
    );
    let filename = format!("certificado-{nif}.p12");
    let body = browser_body(
        lang,
        &intro,
        &BrowserForm {
            action: format!("/renew/{serial}/certificate?lang={}", lang.code()),
            fields: format!(
                "<input type=\"hidden\" name=\"csrf\" value=\"{}\">{}",
                escape(csrf),
                password_fields(lang)
            ),
            filename: Some(&filename),
            submit: Word::Renew.text(lang),
            back: format!("/renew/{serial}?lang={}", lang.code()),
        },
    );
    page(lang, &format!("{body}{}", back(lang)))
}

/// The revocation's confirmation for `serial`.
pub fn revoke_form(lang: Lang, csrf: &str, serial: &str, error: Option<&str>) -> String {
    let body = format!(
        "<p>{intro}</p>{error}\
<form method=\"post\" action=\"/revoke/{serial}?lang={code}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<p><input type=\"checkbox\" id=\"confirm\" name=\"confirm\" value=\"yes\" style=\"width:auto\"> \
<label for=\"confirm\" style=\"display:inline\">{confirm}</label></p>\
<button type=\"submit\" id=\"revoke\">{submit}</button></form>{back}",
        intro = escape(&Word::RevokeIntro.text(lang).replace("{serial}", serial)),
        error = error.map(alert).unwrap_or_default(),
        serial = escape(serial),
        code = lang.code(),
        csrf = escape(csrf),
        confirm = escape(Word::RevokeConfirm.text(lang)),
        submit = escape(Word::Revoke.text(lang)),
        back = back(lang),
    );
    page(lang, &body)
}

/// A page that says `text` (an outcome or a refusal) and leads back.
pub fn message(lang: Lang, text: &str, is_error: bool) -> String {
    let said = if is_error {
        alert(text)
    } else {
        format!("<p role=\"status\" id=\"done\">{}</p>", escape(text))
    };
    page(lang, &format!("{said}{}", back(lang)))
}
