//! The portal's HTTP surface: `GET /` the form and `POST /generate` the
//! certificate file (the portal makes the key); `GET /browser`,
//! `GET /assets/browser.js` and `POST /browser/certificate` the way where
//! the browser makes the key and sends a certificate request; everything
//! else 404. Each answer carries headers that
//! keep it out of caches and frames; refusals are 4xx pages in the
//! citizen's language and change nothing but the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, REFERRER_POLICY, RETRY_AFTER, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::i18n::{Key, Lang};
use crate::issue::KeyKind;
use crate::pages::{self, Filled};
use crate::{request, Download, Portal, Refusal, MAX_BODY};

/// The portal's routes over `portal`.
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(form))
        .route("/generate", post(generate))
        .route("/browser", get(browser_form))
        .route("/assets/browser.js", get(browser_script))
        .route("/browser/certificate", post(browser_certificate))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(too_large))
        .layer(axum::middleware::map_response(protect))
        .with_state(portal)
}

/// Every page but the browser way's: no script at all.
const NO_SCRIPT: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The browser way's page: its own script, talking to the portal only.
pub(crate) const OWN_SCRIPT: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page script of the browser way: `web/browser.js` bundled with
/// PKI.js by `web/build.sh`.
const BROWSER_JS: &str = include_str!("../assets/browser.js");

pub(crate) async fn protect(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, CACHE_CONTROL, "no-store");
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        set(h, CONTENT_SECURITY_POLICY, NO_SCRIPT);
    }
    set(h, X_FRAME_OPTIONS, "DENY");
    set(h, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, REFERRER_POLICY, "no-referrer");
    set(h, STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    response
}

/// A body announced over the limit is refused before it is read (413);
/// one that grows past it unannounced fails the form's extraction (400).
pub(crate) async fn too_large(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    next.run(request).await
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

pub(crate) fn language(query: &LangQuery, headers: &HeaderMap) -> Lang {
    query
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_else(|| {
            let accept = headers
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Lang::from_accept_language(accept)
        })
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn form(
    State(portal): State<Arc<Portal>>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&query, &headers);
    let token = portal.csrf.issue(now());
    Html(pages::form(lang, &token, &Filled::default())).into_response()
}

async fn not_found(Query(query): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = language(&query, &headers);
    (
        StatusCode::NOT_FOUND,
        Html(pages::message(lang, Key::NotFound)),
    )
        .into_response()
}

/// The form as sent. Wiped when dropped: it holds the code and password.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct GenerateForm {
    csrf: String,
    nif: String,
    code: String,
    password: String,
    password2: String,
    key: String,
}

/// The form again, with a fresh token, the NIF typed and what went wrong.
fn again(portal: &Portal, lang: Lang, status: StatusCode, nif: &str, error: Key) -> Response {
    let token = portal.csrf.issue(now());
    let filled = Filled {
        nif,
        error: Some(error),
    };
    (status, Html(pages::form(lang, &token, &filled))).into_response()
}

fn retry_after(mut response: Response, wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(RETRY_AFTER, v);
    }
    response
}

/// What is wrong with a chosen password typed twice, if anything.
pub(crate) fn password_problem(password: &str, again: &str) -> Option<Key> {
    let length = password.chars().count();
    if length < 8 {
        Some(Key::PasswordShort)
    } else if length > 128 {
        Some(Key::PasswordLong)
    } else if password != again {
        Some(Key::PasswordMismatch)
    } else {
        None
    }
}

/// The PKCS#12 file as a download.
pub(crate) fn download_response(download: &Download) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", download.filename);
    let mut response = (StatusCode::OK, download.file.to_vec()).into_response();
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-pkcs12"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    response
}

async fn generate(
    State(portal): State<Arc<Portal>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    form: Result<Form<GenerateForm>, FormRejection>,
) -> Response {
    let lang = language(&query, &headers);
    let Ok(Form(form)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::message(lang, Key::BadRequest)),
        )
            .into_response();
    };
    // The NIF shown back: only what a NIF can hold.
    let nif: String = form
        .nif
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    if portal.csrf.spend(&form.csrf, now()).is_err() {
        return again(&portal, lang, StatusCode::FORBIDDEN, &nif, Key::FormExpired);
    }
    if let Err(wait) = portal.admit(&client.ip().to_string(), &form.nif) {
        let response = again(
            &portal,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &nif,
            Key::TooMany,
        );
        return retry_after(response, wait);
    }
    let problem = password_problem(&form.password, &form.password2);
    let Some(kind) = KeyKind::from_form(&form.key) else {
        return again(
            &portal,
            lang,
            StatusCode::BAD_REQUEST,
            &nif,
            Key::BadRequest,
        );
    };
    if let Some(problem) = problem {
        return again(&portal, lang, StatusCode::BAD_REQUEST, &nif, problem);
    }
    let worker = Arc::clone(&portal);
    let done = tokio::task::spawn_blocking(move || {
        worker.redeem(&form.nif, &form.code, &form.password, kind)
    })
    .await;
    match done {
        Ok(Ok(download)) => download_response(&download),
        Ok(Err(Refusal::Refused)) => {
            again(&portal, lang, StatusCode::FORBIDDEN, &nif, Key::Refused)
        }
        Ok(Err(Refusal::Unavailable(_))) | Err(_) => again(
            &portal,
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            &nif,
            Key::Unavailable,
        ),
    }
}

/// A certificate chain for `browser.js`.
pub(crate) fn chain_response(chain: String) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/pem-certificate-chain")],
        chain,
    )
        .into_response()
}

async fn browser_form(
    State(portal): State<Arc<Portal>>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&query, &headers);
    let token = portal.csrf.issue(now());
    let mut response = Html(pages::browser_form(lang, &token)).into_response();
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(OWN_SCRIPT),
    );
    response
}

pub(crate) async fn browser_script() -> Response {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        BROWSER_JS,
    )
        .into_response()
}

/// The browser way's form as `browser.js` sends it. Wiped when dropped: it
/// holds the code.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RequestForm {
    csrf: String,
    nif: String,
    code: String,
    csr: String,
}

/// The header that carries a fresh form token to `browser.js` with every
/// refusal, so that the citizen can correct and send again.
pub const FRESH_TOKEN: &str = "x-firma-csrf";

/// A refusal for `browser.js`: the text it shows, and a fresh token.
fn refuse_script(portal: &Portal, lang: Lang, status: StatusCode, key: Key) -> Response {
    refuse_text(portal, status, key.text(lang), b"")
}

/// A refusal for `browser.js` that says `text`, with a fresh token for
/// the form's `context` (see `csrf`).
pub(crate) fn refuse_text(
    portal: &Portal,
    status: StatusCode,
    text: &str,
    context: &[u8],
) -> Response {
    let mut response = (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&portal.csrf.issue_for(now(), context)) {
        response.headers_mut().insert(FRESH_TOKEN, v);
    }
    response
}

async fn browser_certificate(
    State(portal): State<Arc<Portal>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    form: Result<Form<RequestForm>, FormRejection>,
) -> Response {
    let lang = language(&query, &headers);
    let refuse = |status, key| refuse_script(&portal, lang, status, key);
    let Ok(Form(form)) = form else {
        return refuse(StatusCode::BAD_REQUEST, Key::BadRequest);
    };
    if portal.csrf.spend(&form.csrf, now()).is_err() {
        return refuse(StatusCode::FORBIDDEN, Key::FormExpired);
    }
    if let Err(wait) = portal.admit(&client.ip().to_string(), &form.nif) {
        return retry_after(refuse(StatusCode::TOO_MANY_REQUESTS, Key::TooMany), wait);
    }
    let csr = match request::parse(&form.csr) {
        Ok(csr) => csr,
        Err(e) => {
            tracing::info!("a browser's certificate request was refused: {e}");
            return refuse(StatusCode::BAD_REQUEST, Key::BadCertificateRequest);
        }
    };
    let worker = Arc::clone(&portal);
    let done =
        tokio::task::spawn_blocking(move || worker.redeem_request(&form.nif, &form.code, &csr))
            .await;
    match done {
        Ok(Ok(chain)) => chain_response(chain),
        Ok(Err(Refusal::Refused)) => refuse(StatusCode::FORBIDDEN, Key::Refused),
        Ok(Err(Refusal::Unavailable(_))) | Err(_) => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, Key::Unavailable)
        }
    }
}
