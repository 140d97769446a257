//! CMP over HTTP (RFC 6712): one POST of `application/pkixcmp` per message,
//! one message per connection (`Connection: close`: some servers, OpenSSL's
//! among them, take a single request per connection), a timeout on every
//! exchange, no redirects, and an answer only if it is `application/pkixcmp`
//! and no larger than a CMP message may be.

use std::fmt;
use std::time::Duration;

use super::message::MAX_MESSAGE;
use crate::ca::CaError;

pub const CONTENT_TYPE: &str = "application/pkixcmp";

/// The HTTP side of a CMP client.
pub struct Http {
    agent: ureq::Agent,
    timeout: Duration,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections(0)
            .user_agent(concat!("firma-station/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Http { agent, timeout }
    }

    /// Checks that `url` is one this client can talk to.
    pub fn check_url(url: &str) -> Result<(), CaError> {
        if url.starts_with("http://") {
            Ok(())
        } else if url.starts_with("https://") {
            Err(CaError::CmpConfig(format!(
                "{url}: this build talks to the CA over plain HTTP only (CMP messages are signed end to end); give an http:// address"
            )))
        } else {
            Err(CaError::CmpConfig(format!(
                "{url} is not an http:// address"
            )))
        }
    }

    fn failed(&self, url: &str, e: ureq::Error) -> CaError {
        match e {
            ureq::Error::Timeout(_) => CaError::CaTimeout {
                url: url.to_string(),
                seconds: self.timeout.as_secs(),
            },
            ureq::Error::BodyExceedsLimit(_) => CaError::NotCmp {
                url: url.to_string(),
                what: format!("more than {MAX_MESSAGE} bytes"),
            },
            e => CaError::CaUnreachable {
                url: url.to_string(),
                reason: e.to_string(),
            },
        }
    }

    /// Sends one CMP message and returns the answer's bytes.
    pub fn exchange(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, CaError> {
        tracing::debug!(url, bytes = request.len(), "CMP request");
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", CONTENT_TYPE)
            .header("Accept", CONTENT_TYPE)
            .header("Connection", "close")
            .send(request)
            .map_err(|e| self.failed(url, e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_MESSAGE as u64)
            .read_to_vec()
            .map_err(|e| self.failed(url, e))?;
        tracing::debug!(url, status, bytes = body.len(), "CMP response");
        if !content_type.starts_with(CONTENT_TYPE) {
            return Err(CaError::NotCmp {
                url: url.to_string(),
                what: format!("HTTP {status} with {content_type:?}"),
            });
        }
        // RFC 6712 §3.3: an error message may come with a 4xx/5xx status;
        // it is still read (and verified) as CMP.
        Ok(body)
    }

    /// GETs a document (the CA's CRL).
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, CaError> {
        let mut response = self
            .agent
            .get(url)
            .header("Connection", "close")
            .call()
            .map_err(|e| self.failed(url, e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(CaError::CaUnreachable {
                url: url.to_string(),
                reason: format!("HTTP {status}"),
            });
        }
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| self.failed(url, e))
    }
}
