use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use firma_vcard::apdulog::ApduLog;
use firma_vcard::vpcd::{self, Connection, Ended};
use firma_vcard::{Options, VirtualCard};

/// A virtual blank PIV card for vsmartcard's virtual reader (vpcd).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address of the vpcd reader to plug into (reader "... 00 00" listens on 35963, "... 00 01" on 35964).
    #[arg(long, default_value = "127.0.0.1:35963")]
    vpcd: String,
    /// Keep the card in this file across restarts (created blank if missing).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Serial number of a new card.
    #[arg(long, default_value_t = 10_000_001)]
    serial: u32,
    /// Extra time each key generation takes, like a real card's.
    #[arg(long, default_value_t = 0)]
    keygen_delay_ms: u64,
    /// Drop the connection after N APDUs and exit: a card pulled out.
    #[arg(long)]
    fail_after: Option<u64>,
    /// Append one line per APDU (time, header, lengths, status word; never data).
    #[arg(long)]
    log_apdus: Option<PathBuf>,
    /// A plain PIV applet: no Yubico extensions (version, serial, metadata,
    /// management key change, PIN retries, reset, import, attestation).
    #[arg(long)]
    plain_piv: bool,
    /// Refuse VERIFY with P1=FF (resetting the PIN's security status), as
    /// some cards do.
    #[arg(long)]
    refuse_pin_reset: bool,
    /// Seconds to wait for vpcd to listen, at start and after it goes away.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut card = match &args.state {
        Some(path) => match VirtualCard::open(path.clone(), args.serial) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("firma-vcard: cannot open the card state: {e}");
                return ExitCode::from(2);
            }
        },
        None => VirtualCard::blank(args.serial),
    };
    card.set_options(Options {
        keygen_delay: Duration::from_millis(args.keygen_delay_ms),
        plain_piv: args.plain_piv,
        refuse_pin_reset: args.refuse_pin_reset,
    });
    let log = match args.log_apdus.as_deref().map(ApduLog::create).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("firma-vcard: cannot open the APDU log: {e}");
            return ExitCode::from(2);
        }
    };
    let mut conn = Connection {
        card: &mut card,
        log,
        fail_after: args.fail_after,
        count: 0,
    };
    loop {
        let stream = match vpcd::connect(&args.vpcd, Duration::from_secs(args.wait)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("firma-vcard: no vpcd reader at {} ({e}): is pcscd running with the vpcd driver?", args.vpcd);
                return ExitCode::from(1);
            }
        };
        eprintln!(
            "firma-vcard: card {} inserted in the reader at {}",
            conn.card.serial(),
            args.vpcd
        );
        match conn.serve(stream) {
            Ok(Some(Ended::FailAfter(n))) => {
                eprintln!("firma-vcard: card pulled out after {n} APDUs (--fail-after)");
                return ExitCode::SUCCESS;
            }
            Ok(None) => {
                eprintln!("firma-vcard: the reader closed the connection; waiting for it to return")
            }
            Err(e) => eprintln!("firma-vcard: connection to the reader failed: {e}; reconnecting"),
        }
        conn.card.reset();
    }
}
