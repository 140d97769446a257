//! The card side of vsmartcard's vpcd protocol: a TCP client of the reader
//! driver. Every message is a 2-byte big-endian length and a payload; a
//! 1-byte payload is a control code, anything else a command APDU.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::apdulog::ApduLog;
use crate::VirtualCard;

const POWER_OFF: u8 = 0;
const POWER_ON: u8 = 1;
const RESET: u8 = 2;
const GET_ATR: u8 = 4;

/// Why the card left the reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `--fail-after` was reached: the card was "pulled out".
    FailAfter(u64),
}

pub struct Connection<'a> {
    pub card: &'a mut VirtualCard,
    pub log: Option<ApduLog>,
    /// Drop the connection after this many APDUs.
    pub fail_after: Option<u64>,
    /// APDUs answered so far, over all connections.
    pub count: u64,
}

impl Connection<'_> {
    /// Serves one vpcd connection until it closes (`Ok(None)`) or the
    /// `--fail-after` budget is spent.
    pub fn serve(&mut self, stream: TcpStream) -> io::Result<Option<Ended>> {
        stream.set_nodelay(true)?;
        let mut writer = stream.try_clone()?;
        // Buffered, so the length and the APDU that vpcd writes separately
        // are taken in one read when both have arrived.
        let mut reader = BufReader::with_capacity(70_000, stream);
        let mut payload = Vec::with_capacity(4096);
        loop {
            let mut len = [0u8; 2];
            match reader.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            quickack(&reader);
            payload.resize(usize::from(u16::from_be_bytes(len)), 0);
            reader.read_exact(&mut payload)?;
            let answer = match payload[..] {
                [POWER_OFF] | [POWER_ON] | [RESET] => {
                    self.card.reset();
                    continue;
                }
                [GET_ATR] => self.card.atr().to_vec(),
                [_] => continue,
                _ => {
                    let start = std::time::Instant::now();
                    let response = self.card.process(&payload);
                    if let Some(log) = &mut self.log {
                        log.record(&payload, &response, start.elapsed());
                    }
                    self.count += 1;
                    response
                }
            };
            payload.iter_mut().for_each(|b| *b = 0);
            let mut msg = Vec::with_capacity(answer.len() + 2);
            msg.extend_from_slice(&(answer.len() as u16).to_be_bytes());
            msg.extend_from_slice(&answer);
            writer.write_all(&msg)?;
            if self.fail_after.is_some_and(|n| self.count >= n) {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return Ok(Some(Ended::FailAfter(self.count)));
            }
        }
    }
}

/// Acknowledge at once: vpcd sends the length and the APDU in two writes and
/// Nagle holds the second until the first is acknowledged, so a delayed ACK
/// would cost ~40 ms per APDU.
fn quickack(reader: &BufReader<TcpStream>) {
    let sock = socket2::SockRef::from(reader.get_ref());
    let _ = sock.set_quickack(true);
}

/// Connects to vpcd, retrying while it is not listening yet.
pub fn connect(addr: &str, patience: Duration) -> io::Result<TcpStream> {
    let start = std::time::Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() < patience => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}
