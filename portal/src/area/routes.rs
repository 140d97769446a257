//! The citizen's area's HTTP surface, served on the client-authenticated
//! listener only: `GET /` the list, `GET|POST /renew/{serial}` the renewal
//! form and its PKCS#12, `GET /renew/{serial}/browser` and
//! `POST /renew/{serial}/certificate` the renewal with a key the browser
//! makes (`browser.js`, also served here), `GET|POST /revoke/{serial}` the
//! confirmation and the revocation. Every request is of the certificate the
//! TLS client presented, checked against the registry each time; every form
//! token is bound to that certificate.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::HeaderValue;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::pages;
use super::words::Word;
use super::{AreaRefusal, Citizen};
use crate::i18n::{Key, Lang};
use crate::issue::KeyKind;
use crate::routes::{
    browser_script, chain_response, download_response, language, now, password_problem, protect,
    refuse_text, too_large, LangQuery, OWN_SCRIPT,
};
use crate::tls::ClientCertificate;
use crate::{Portal, MAX_BODY};

/// The area's routes over `portal`.
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(list))
        .route("/renew/{serial}", get(renew_form).post(renew))
        .route("/renew/{serial}/browser", get(renew_browser_form))
        .route("/renew/{serial}/certificate", post(renew_request))
        .route("/assets/browser.js", get(browser_script))
        .route("/revoke/{serial}", get(revoke_form).post(revoke))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(too_large))
        .layer(axum::middleware::map_response(protect))
        .with_state(portal)
}

fn say(lang: Lang, status: StatusCode, text: &str) -> Response {
    (
        status,
        Html(pages::message(lang, text, !status.is_success())),
    )
        .into_response()
}

/// A refusal's status and words.
fn refusal(lang: Lang, refusal: &AreaRefusal) -> (StatusCode, String) {
    match refusal {
        AreaRefusal::NotValid => (StatusCode::FORBIDDEN, Word::NotValid.text(lang).into()),
        AreaRefusal::NotYours => (StatusCode::NOT_FOUND, Word::NotYours.text(lang).into()),
        AreaRefusal::NotOpen(opens) => (
            StatusCode::FORBIDDEN,
            Word::NotOpen
                .text(lang)
                .replace("{date}", &opens.date().to_string()),
        ),
        AreaRefusal::Final => (StatusCode::CONFLICT, Word::Final.text(lang).into()),
        AreaRefusal::Unavailable(e) => {
            tracing::error!("the citizen's area failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Key::Unavailable.text(lang).into(),
            )
        }
    }
}

/// The refusal's page.
fn refused(lang: Lang, e: &AreaRefusal) -> Response {
    let (status, text) = refusal(lang, e);
    say(lang, status, &text)
}

/// Runs `work` for the citizen of `cert` off the async threads (the
/// registry and the CA are synchronous).
async fn as_citizen<T: Send + 'static>(
    portal: &Arc<Portal>,
    cert: &ClientCertificate,
    work: impl FnOnce(&Portal, &Citizen, OffsetDateTime) -> Result<T, AreaRefusal> + Send + 'static,
) -> Result<T, AreaRefusal> {
    let portal = Arc::clone(portal);
    let leaf = Arc::clone(&cert.0);
    tokio::task::spawn_blocking(move || {
        let now = OffsetDateTime::now_utc();
        let citizen = portal.citizen(&leaf, now)?;
        work(&portal, &citizen, now)
    })
    .await
    .unwrap_or_else(|e| {
        Err(AreaRefusal::Unavailable(
            firma_station_engine::error::StationError::Io {
                what: "the citizen's area".into(),
                source: std::io::Error::other(e.to_string()),
            },
        ))
    })
}

async fn list(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&query, &headers);
    let listed = as_citizen(&portal, &cert, |p, citizen, now| {
        Ok((citizen.clone(), p.certificates_of(citizen, now)?))
    })
    .await;
    match listed {
        Ok((citizen, certs)) => Html(pages::list(lang, &citizen, &certs)).into_response(),
        Err(e) => refused(lang, &e),
    }
}

/// Checks that `serial` is the citizen's, and renewable if `renewal`,
/// before a form is shown.
async fn own(
    portal: &Arc<Portal>,
    cert: &ClientCertificate,
    serial: &str,
    renewal: bool,
) -> Result<(), AreaRefusal> {
    let serial = serial.to_string();
    as_citizen(portal, cert, move |p, citizen, now| match renewal {
        true => p.renewable(citizen, &serial, now).map(|_| ()),
        false => p.standing_of(citizen, &serial, now).map(|_| ()),
    })
    .await
}

async fn renew_form(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Path(serial): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&query, &headers);
    if let Err(e) = own(&portal, &cert, &serial, true).await {
        return refused(lang, &e);
    }
    let token = portal.csrf.issue_for(now(), &cert.binding());
    Html(pages::renew_form(lang, &token, &serial, None)).into_response()
}

/// The renewal form as sent. Wiped when dropped: it holds the password.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RenewForm {
    csrf: String,
    password: String,
    password2: String,
    key: String,
}

async fn renew(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Path(serial): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    form: Result<Form<RenewForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = language(&query, &headers);
    let again = |status: StatusCode, key: Key| {
        let token = portal.csrf.issue_for(now(), &cert.binding());
        let page = pages::renew_form(lang, &token, &serial, Some(key.text(lang)));
        (status, Html(page)).into_response()
    };
    let Ok(Form(form)) = form else {
        return again(StatusCode::BAD_REQUEST, Key::BadRequest);
    };
    if portal
        .csrf
        .spend_for(&form.csrf, now(), &cert.binding())
        .is_err()
    {
        return again(StatusCode::FORBIDDEN, Key::FormExpired);
    }
    let Some(kind) = KeyKind::from_form(&form.key) else {
        return again(StatusCode::BAD_REQUEST, Key::BadRequest);
    };
    if let Some(problem) = password_problem(&form.password, &form.password2) {
        return again(StatusCode::BAD_REQUEST, problem);
    }
    let target = serial.clone();
    let done = as_citizen(&portal, &cert, move |p, citizen, now| {
        p.renew(citizen, &target, &form.password, kind, now)
    })
    .await;
    match done {
        Ok(download) => download_response(&download),
        Err(e) => refused(lang, &e),
    }
}

async fn renew_browser_form(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Path(serial): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&query, &headers);
    let target = serial.clone();
    let open = as_citizen(&portal, &cert, move |p, citizen, now| {
        p.renewable(citizen, &target, now)?;
        Ok(citizen.nif.clone())
    })
    .await;
    let nif = match open {
        Ok(nif) => nif,
        Err(e) => return refused(lang, &e),
    };
    let token = portal.csrf.issue_for(now(), &cert.binding());
    let page = pages::renew_browser_form(lang, &token, &serial, &nif);
    let mut response = Html(page).into_response();
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(OWN_SCRIPT),
    );
    response
}

/// The browser's renewal request as `browser.js` sends it.
#[derive(Deserialize)]
pub struct RenewRequestForm {
    csrf: String,
    csr: String,
}

async fn renew_request(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Path(serial): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    form: Result<Form<RenewRequestForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = language(&query, &headers);
    let binding = cert.binding();
    let refuse = |status, text: &str| refuse_text(&portal, status, text, &binding);
    let Ok(Form(form)) = form else {
        return refuse(StatusCode::BAD_REQUEST, Key::BadRequest.text(lang));
    };
    if portal
        .csrf
        .spend_for(&form.csrf, now(), &cert.binding())
        .is_err()
    {
        return refuse(StatusCode::FORBIDDEN, Key::FormExpired.text(lang));
    }
    let csr = match crate::request::parse(&form.csr) {
        Ok(csr) => csr,
        Err(e) => {
            tracing::info!("a browser's renewal request was refused: {e}");
            return refuse(
                StatusCode::BAD_REQUEST,
                Key::BadCertificateRequest.text(lang),
            );
        }
    };
    let done = as_citizen(&portal, &cert, move |p, citizen, now| {
        p.renew_request(citizen, &serial, &csr, now)
    })
    .await;
    match done {
        Ok(chain) => chain_response(chain),
        Err(e) => {
            let (status, text) = refusal(lang, &e);
            refuse(status, &text)
        }
    }
}

async fn revoke_form(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Path(serial): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&query, &headers);
    if let Err(e) = own(&portal, &cert, &serial, false).await {
        return refused(lang, &e);
    }
    let token = portal.csrf.issue_for(now(), &cert.binding());
    Html(pages::revoke_form(lang, &token, &serial, None)).into_response()
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    confirm: Option<String>,
}

async fn revoke(
    State(portal): State<Arc<Portal>>,
    Extension(cert): Extension<ClientCertificate>,
    Path(serial): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    form: Result<Form<RevokeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = language(&query, &headers);
    let again = |status: StatusCode, text: &str| {
        let token = portal.csrf.issue_for(now(), &cert.binding());
        (
            status,
            Html(pages::revoke_form(lang, &token, &serial, Some(text))),
        )
            .into_response()
    };
    let Ok(Form(form)) = form else {
        return again(StatusCode::BAD_REQUEST, Key::BadRequest.text(lang));
    };
    if portal
        .csrf
        .spend_for(&form.csrf, now(), &cert.binding())
        .is_err()
    {
        return again(StatusCode::FORBIDDEN, Key::FormExpired.text(lang));
    }
    if form.confirm.as_deref() != Some("yes") {
        return again(StatusCode::BAD_REQUEST, Word::NeedConfirm.text(lang));
    }
    let target = serial.clone();
    let done = as_citizen(&portal, &cert, move |p, citizen, now| {
        p.revoke(citizen, &target, now)
    })
    .await;
    match done {
        Ok(()) => say(
            lang,
            StatusCode::OK,
            &Word::RevokeDone.text(lang).replace("{serial}", &serial),
        ),
        Err(e) => refused(lang, &e),
    }
}

async fn not_found(Query(query): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = language(&query, &headers);
    say(lang, StatusCode::NOT_FOUND, Key::NotFound.text(lang))
}
