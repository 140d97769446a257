//! `firma-nitrokey`: Nitrokey 3's PIV application as a card in a vpcd reader.
//!
//! The rig's second, independent card: Nitrokey's own `piv-authenticator`
//! behind the firmware's APDU layer (`apdu-dispatch`) on Trussed's virtual
//! platform, so Firma is tested against a PIV implementation it did not write.
#![forbid(unsafe_code)]

mod apdulog;
mod card;
mod dispatch;
mod platform;

use std::io;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use apdulog::ApduLog;
use card::Card;

/// A virtual Nitrokey 3 PIV card for vsmartcard's virtual reader (vpcd).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address of the vpcd reader to plug into.
    #[arg(long, default_value = "127.0.0.1:35963")]
    vpcd: String,
    /// Keep the card's flash in this directory across restarts (created blank if missing).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Drop the connection after N APDUs and exit: a card pulled out.
    #[arg(long)]
    fail_after: Option<u64>,
    /// Append one line per APDU (time, header, lengths, status word; never data).
    #[arg(long)]
    log_apdus: Option<PathBuf>,
    /// Seconds to wait for vpcd to listen, at start and after it goes away.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

/// The card's side of one reader: APDUs answered so far and where to log them.
struct Slot {
    log: Option<ApduLog>,
    fail_after: Option<u64>,
    count: u64,
}

enum Ended {
    /// `--fail-after` was reached.
    PulledOut,
    /// The reader powered the card off, on or reset it.
    Cycled,
}

impl Slot {
    /// Serves the reader until the card's power cycle ends or the connection does.
    fn serve(
        &mut self,
        conn: &mut vpicc::Connection,
        sock: &TcpStream,
        card: &mut Card<'_>,
    ) -> io::Result<Ended> {
        let mut logged = LoggingCard { card, slot: self };
        loop {
            // vpcd writes a message's length and its body separately; an
            // immediate ACK of the first saves a delayed-ACK stall per APDU.
            let _ = socket2::SockRef::from(sock).set_quickack(true);
            conn.poll(&mut logged)?;
            if logged.card.cycled {
                return Ok(Ended::Cycled);
            }
            if logged
                .slot
                .fail_after
                .is_some_and(|n| logged.slot.count >= n)
            {
                return Ok(Ended::PulledOut);
            }
        }
    }
}

/// The card as vpicc sees it, with every APDU counted and logged.
struct LoggingCard<'c, 'a> {
    card: &'c mut Card<'a>,
    slot: &'c mut Slot,
}

impl vpicc::VSmartCard for LoggingCard<'_, '_> {
    fn atr(&self) -> &[u8] {
        self.card.atr()
    }
    fn power_on(&mut self) {
        self.card.power_on()
    }
    fn power_off(&mut self) {
        self.card.power_off()
    }
    fn reset(&mut self) {
        self.card.reset()
    }
    fn execute(&mut self, msg: &[u8]) -> Vec<u8> {
        let response = self.card.transmit(msg);
        self.slot.count += 1;
        if let Some(log) = &mut self.slot.log {
            log.record(msg, &response);
        }
        response
    }
}

fn connect(addr: &str, patience: Duration) -> io::Result<TcpStream> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(_) if start.elapsed() < patience => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.state {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "firma-nitrokey: cannot create the card's flash directory {}: {e}",
                dir.display()
            );
            return ExitCode::from(2);
        }
    }
    let log = match args.log_apdus.as_deref().map(ApduLog::create).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("firma-nitrokey: cannot open the APDU log: {e}");
            return ExitCode::from(2);
        }
    };
    let ram = platform::RamFlash::default();
    let mut slot = Slot {
        log,
        fail_after: args.fail_after,
        count: 0,
    };
    loop {
        let stream = match connect(&args.vpcd, Duration::from_secs(args.wait)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "firma-nitrokey: no vpcd reader at {} ({e}): is pcscd running with the vpcd driver?",
                    args.vpcd
                );
                return ExitCode::from(1);
            }
        };
        let _ = stream.set_nodelay(true);
        let sock = match stream.try_clone() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("firma-nitrokey: {e}");
                return ExitCode::from(1);
            }
        };
        let mut conn = vpicc::Connection::from(stream);
        eprintln!(
            "firma-nitrokey: card inserted in the reader at {}",
            args.vpcd
        );
        loop {
            let ended = card::power_cycle(args.state.as_deref(), &ram, |card| {
                slot.serve(&mut conn, &sock, card)
            });
            match ended {
                Ok(Ended::Cycled) => continue,
                Ok(Ended::PulledOut) => {
                    eprintln!(
                        "firma-nitrokey: card pulled out after {} APDUs (--fail-after)",
                        slot.count
                    );
                    return ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("firma-nitrokey: the reader closed the connection ({e}); waiting for it to return");
                    break;
                }
            }
        }
    }
}
