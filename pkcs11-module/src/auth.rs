//! The card's keys only under the module's own login.
//!
//! PC/SC shares a card between every local application. A card left
//! PIN-verified between two of our operations signs and decrypts for any of
//! them, and the one-shot grant a VERIFY leaves on a PIN-always key (9C) is
//! for whoever sends the next command. So the card is never left verified:
//! every private-key operation carries its own authorization inside one
//! PC/SC transaction (nothing of another application can come between):
//!
//! 1. VERIFY with the PIN;
//! 2. the operation (GENERAL AUTHENTICATE);
//! 3. VERIFY with `P1 = FF`, which resets the PIN's security status
//!    (SP 800-73-4 Part 2 §3.2.1).
//!
//! C_Login checks the PIN the same way (VERIFY, then the reset) and keeps it,
//! zeroized on drop, for the operations of the login. A failed reset is an
//! error: the operation's result is withheld and the card is reset through
//! PC/SC (`SCARD_RESET_CARD`), the one other way to end the verified state,
//! so a card that refuses `P1 = FF` is never left verified either.

use firma_apdu::piv::{Pin, Piv};
use firma_apdu::transport::{PcscTransport, Transport, TransportError};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::token::Token;

/// The card inside one of our transactions.
pub type Card<'a> = Piv<&'a mut dyn Transport>;

/// What one authorized exchange gave: the operation's result, and whether
/// the security status was reset afterwards.
type Outcome<R> = (
    std::result::Result<R, firma_apdu::Error>,
    std::result::Result<(), firma_apdu::Error>,
);

/// Runs `op` with `pin` verified right before it and the PIN's security
/// status reset right after, in one PC/SC transaction (with no PIN, for a
/// key whose PIN policy is "never", just `op`). After a reset of the card by
/// another application the transaction starts again from SELECT.
pub fn with_pin<R>(
    token: &mut Token,
    pin: Option<&Pin>,
    mut op: impl FnMut(&mut Card<'_>) -> std::result::Result<R, firma_apdu::Error>,
) -> Result<R> {
    let mut outcome = exchange(&mut token.piv, pin, &mut op);
    if matches!(&outcome, Err(e) if stale_connection(e)) {
        // pcscd left our connection behind a reset (a forked child that
        // exited, another application): a new one, and once more.
        token.reconnect()?;
        outcome = exchange(&mut token.piv, pin, &mut op);
    }
    match outcome {
        Err(e) => {
            let failed: std::result::Result<R, _> = Err(e);
            token.note_pin_result(&failed);
            failed.map_err(Error::from)
        }
        Ok((result, Ok(()))) => {
            if pin.is_some() {
                token.note_pin_result::<()>(&Ok(()));
            }
            result.map_err(Error::from)
        }
        // Gone with the card: so is its security status.
        Ok((
            _,
            Err(
                e @ firma_apdu::Error::Transport(
                    TransportError::CardRemoved | TransportError::NoCard(_),
                ),
            ),
        )) => Err(e.into()),
        Ok((_, Err(e))) => {
            tracing::warn!(
                target: "firma_pkcs11",
                "the card refused to reset the PIN's security status ({e}); resetting the card"
            );
            reset_card(&mut token.piv);
            Err(Error::DEVICE_ERROR)
        }
    }
}

/// One authorized exchange, in one transaction.
fn exchange<R>(
    piv: &mut Piv<PcscTransport>,
    pin: Option<&Pin>,
    op: &mut impl FnMut(&mut Card<'_>) -> std::result::Result<R, firma_apdu::Error>,
) -> std::result::Result<Outcome<R>, firma_apdu::Error> {
    piv.transaction(|p| -> std::result::Result<Outcome<R>, firma_apdu::Error> {
        if let Some(pin) = pin {
            p.verify_pin(pin)?;
        }
        let result = match (op(p), pin) {
            // The card lost the verification in between (a reset another
            // application made, seen only by this command): once more.
            (Err(firma_apdu::Error::PinRequired(_)), Some(pin)) => {
                p.verify_pin(pin)?;
                op(p)
            }
            (other, _) => other,
        };
        if let Err(e @ firma_apdu::Error::Transport(TransportError::CardReset)) = result {
            // The reset ended any verification; the transaction runs again.
            return Err(e);
        }
        let reset = match pin {
            Some(_) => unverify(p),
            None => Ok(()),
        };
        Ok((result, reset))
    })
}

/// Whether our PC/SC connection no longer reaches the card as it is now:
/// pcscd answers "protocol mismatch" to a handle that missed a reset.
pub fn stale_connection(e: &firma_apdu::Error) -> bool {
    matches!(
        e,
        firma_apdu::Error::Transport(TransportError::Pcsc(
            pcsc::Error::ProtoMismatch | pcsc::Error::NotTransacted
        ))
    )
}

/// C_Login and CKU_CONTEXT_SPECIFIC: the card checks `pin` (a wrong one
/// costs a try and says how many are left), and is left unverified.
pub fn check_pin(token: &mut Token, pin: &Pin) -> Result<()> {
    with_pin(token, Some(pin), |_| Ok(()))
}

/// A private-key operation (signature, decryption, key agreement) with the
/// PIN that authorizes it (none for a key whose PIN policy is "never").
pub fn private_operation(
    token: &mut Token,
    pin: Option<&Pin>,
    op: impl FnMut(&mut Card<'_>) -> std::result::Result<Zeroizing<Vec<u8>>, firma_apdu::Error>,
) -> Result<Zeroizing<Vec<u8>>> {
    with_pin(token, pin, op)
}

/// Runs a PIN-changing command (CHANGE REFERENCE DATA, RESET RETRY COUNTER,
/// which leave the PIN verified on some cards) and resets the security
/// status after it, in one transaction.
pub fn then_unverify(
    token: &mut Token,
    mut op: impl FnMut(&mut Card<'_>) -> std::result::Result<(), firma_apdu::Error>,
) -> std::result::Result<(), firma_apdu::Error> {
    let mut run = |piv: &mut Piv<PcscTransport>| {
        piv.transaction(|p| -> std::result::Result<_, firma_apdu::Error> {
            match op(p) {
                Err(e @ firma_apdu::Error::Transport(_)) => Err(e),
                Err(e) => Ok(Err(e)),
                Ok(()) => Ok(Ok(unverify(p))),
            }
        })
    };
    let mut outcome = run(&mut token.piv);
    if matches!(&outcome, Err(e) if stale_connection(e)) && token.reconnect().is_ok() {
        outcome = run(&mut token.piv);
    }
    match outcome {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => {
            tracing::warn!(
                target: "firma_pkcs11",
                "the card refused to reset the PIN's security status ({e}); resetting the card"
            );
            reset_card(&mut token.piv);
            Ok(())
        }
        Ok(Err(e)) | Err(e) => Err(e),
    }
}

/// VERIFY with `P1 = FF`. A reset of the card by another application
/// (seen as this command fails) ended the verified state just as well.
fn unverify(p: &mut Card<'_>) -> std::result::Result<(), firma_apdu::Error> {
    match p.unverify_pin() {
        Err(firma_apdu::Error::Transport(TransportError::CardReset)) => Ok(()),
        other => other,
    }
}

/// Ends the card's verified state the other way: a warm reset through a
/// second PC/SC connection (`SCARD_RESET_CARD` on disconnect). Our own
/// connection sees the reset on its next transaction and selects again.
fn reset_card(piv: &mut Piv<PcscTransport>) {
    let reader = piv.transport().reader().to_owned();
    let done = pcsc::Context::establish(pcsc::Scope::User)
        .and_then(|ctx| ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY))
        .and_then(|card| {
            card.disconnect(pcsc::Disposition::ResetCard)
                .map_err(|(_, e)| e)
        });
    if let Err(e) = done {
        tracing::error!(target: "firma_pkcs11", "the card could not be reset either: {e}");
    }
}
