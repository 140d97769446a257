//! One power cycle of the card: Trussed's service with the firmware's
//! backends, the PIV application, and the APDU layer in front of it.
//!
//! A power cycle starts afresh from the card's flash: the PIV application's
//! volatile state (PIN verified, management key authenticated, a pending
//! challenge) and Trussed's volatile storage are lost, as on a Nitrokey 3
//! that is unplugged or reset.

use std::path::Path;

use apdu_dispatch::dispatch::ApduDispatch;
use apdu_dispatch::interchanges::{Channel, Data, Requester};
use piv_authenticator::{Authenticator, Options};
use trussed::pipe::TrussedChannel;
use trussed::virt::{self, Runner};

use crate::dispatch::{Dispatcher, BACKENDS};
use crate::platform::{store_config, Platform, RamFlash};

/// The ATR of a Nitrokey 3: a generic one, without extended length.
pub const ATR: &[u8] = &[
    0x3B, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xFF, 0x01, 0x00, 0x0B,
];

type Client<'a> = virt::Client<'a, Dispatcher>;

pub struct Card<'a> {
    app: Authenticator<Client<'a>>,
    dispatch: ApduDispatch<'a>,
    contact: Requester<'a>,
    /// The reader powered the card off, on or reset it: this cycle is over.
    pub cycled: bool,
}

impl Card<'_> {
    /// One command APDU in, one response APDU out (data and status word).
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let mut data = Data::new();
        if data.extend_from_slice(apdu).is_err() {
            return vec![0x67, 0x00]; // wrong length: larger than the card's buffer
        }
        if self.contact.request(data).is_err() {
            return vec![0x6F, 0x00];
        }
        self.dispatch.poll(&mut [&mut self.app]);
        match self.contact.take_response() {
            Some(response) => response.to_vec(),
            None => {
                // No answer in this poll: withdraw the request so the next
                // APDU is not refused as "busy".
                let _ = self.contact.cancel();
                vec![0x6F, 0x00]
            }
        }
    }
}

impl vpicc::VSmartCard for Card<'_> {
    fn atr(&self) -> &[u8] {
        ATR
    }

    fn power_on(&mut self) {
        self.cycled = true;
    }

    fn power_off(&mut self) {
        self.cycled = true;
    }

    fn reset(&mut self) {
        self.cycled = true;
    }

    fn execute(&mut self, msg: &[u8]) -> Vec<u8> {
        self.transmit(msg)
    }
}

/// Powers the card on with the flash in `dir` (`ram` when `None`) and runs
/// `f` until it returns; the card's volatile state ends with it.
pub fn power_cycle<R>(dir: Option<&Path>, ram: &RamFlash, f: impl FnOnce(&mut Card<'_>) -> R) -> R {
    let mut store = store_config(dir, ram);
    store.with_store(|store| {
        let trussed_channel = TrussedChannel::new();
        let (requester, responder) = trussed_channel.split().expect("a new channel splits once");
        let mut runner = Runner::new();
        runner.add_endpoint(responder, "piv", BACKENDS);
        let client = Client::new(requester, runner.syscall(), None);
        runner.run(Platform::new(store), Dispatcher::default(), move || {
            let (contact, contactless) = (Channel::new(), Channel::new());
            let (contact_requester, contact_responder) =
                contact.split().expect("a new channel splits once");
            let (_nfc, contactless_responder) =
                contactless.split().expect("a new channel splits once");
            let mut card = Card {
                app: Authenticator::new(client, Options::default()),
                dispatch: ApduDispatch::new(contact_responder, contactless_responder),
                contact: contact_requester,
                cycled: false,
            };
            f(&mut card)
        })
    })
}
