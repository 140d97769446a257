//! The HTTP side of `firma-ca` (RFC 6712): `POST` of `application/pkixcmp`
//! to the CMP path, `GET` of the CRL, one request per connection, bounded
//! sizes and time; any bytes a client sends are answered or dropped, and the
//! server keeps serving.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use firma_station_engine::ca::cmp::message::MAX_MESSAGE;
use firma_station_engine::ca::CertificateAuthority;

use crate::responder::Responder;

const MAX_HEADER_LINE: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;
const MAX_CONNECTIONS: usize = 64;
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the server answers.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The CMP path, e.g. `/pkix/`.
    pub cmp: String,
    /// The CRL path, e.g. `/crl`.
    pub crl: String,
}

/// Serves until the listener fails.
pub fn serve(
    listener: TcpListener,
    responder: Arc<Responder>,
    paths: Paths,
) -> std::io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = reply(&mut s, 503, "text/plain", b"busy");
            continue;
        }
        let responder = responder.clone();
        let paths = paths.clone();
        let open = open.clone();
        std::thread::spawn(move || {
            if let Err(e) = connection(stream, &responder, &paths) {
                tracing::debug!(error = %e, "connection ended");
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

fn reply(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // One write: a head and a body in two segments would wait for the
    // client's delayed ACK (Nagle), some 40 ms per answer.
    let mut answer = head.into_bytes();
    answer.extend_from_slice(body);
    stream.write_all(&answer)?;
    stream.flush()
}

fn bad(stream: &mut TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    reply(stream, status, "text/plain", text.as_bytes())
}

fn connection(mut stream: TcpStream, responder: &Responder, paths: &Paths) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    read_line(&mut reader, &mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = None;
    let mut content_type = String::new();
    for _ in 0..MAX_HEADERS {
        let mut h = String::new();
        read_line(&mut reader, &mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "content-type" => content_type = value.to_ascii_lowercase(),
                _ => {}
            }
        }
    }
    let path = target.split('?').next().unwrap_or("");
    if method == "GET" && path == paths.crl {
        return match responder.ca().crl() {
            Ok(der) => reply(&mut stream, 200, "application/pkix-crl", &der),
            Err(e) => bad(&mut stream, 503, &e.to_string()),
        };
    }
    if path != paths.cmp {
        return bad(&mut stream, 404, "not here");
    }
    if method != "POST" {
        return bad(&mut stream, 405, "CMP requests are POSTed");
    }
    if !content_type.starts_with("application/pkixcmp") {
        return bad(&mut stream, 415, "application/pkixcmp only");
    }
    let Some(length) = length else {
        return bad(&mut stream, 400, "Content-Length is required");
    };
    if length > MAX_MESSAGE {
        return bad(&mut stream, 413, "a CMP message is smaller than that");
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let answer = responder.handle(&body);
    if answer.is_empty() {
        return bad(&mut stream, 503, "the CA cannot answer now");
    }
    reply(&mut stream, 200, "application/pkixcmp", &answer)
}

fn read_line(reader: &mut impl BufRead, line: &mut String) -> std::io::Result<()> {
    let mut limited = reader.take(MAX_HEADER_LINE as u64);
    let n = limited.read_line(line)?;
    if n == 0 || !line.ends_with('\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "header line too long or cut",
        ));
    }
    Ok(())
}
