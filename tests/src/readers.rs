//! In-process readers for the station's engine: virtual cards that tests
//! insert and pull while the station's readers monitor and workers use them,
//! without pcscd (the window's tests, the throughput benchmark). The cards
//! are `firma-vcard`'s, answering APDUs directly.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use firma_apdu::piv::Piv;
use firma_apdu::transport::{Transport, TransportError};
use firma_station_engine::error::StationError;
use firma_station_engine::readers::ReaderSource;
use firma_station_engine::worker::Connector;
use firma_vcard::card::{Options, VirtualCard};

/// A blank card whose key generation takes `keygen_delay`, as a real
/// card's does.
pub fn blank_card(serial: u32, keygen_delay: Duration) -> VirtualCard {
    let mut card = VirtualCard::blank(serial);
    card.set_options(Options {
        keygen_delay,
        ..Options::default()
    });
    card
}

/// A reader's slot. `pulled` is set before the card is taken, so the
/// worker's next command finds it gone: a pull lands between the same two
/// commands on every run (the lock alone would race with the worker).
#[derive(Default)]
struct CardSlot {
    card: Mutex<Option<VirtualCard>>,
    pulled: AtomicBool,
}

/// `n` readers named "Virtual Reader 0", "Virtual Reader 1", ...; tests
/// insert and pull cards, and the station sees them come and go.
pub struct VirtualReaders {
    slots: Vec<(String, Arc<CardSlot>)>,
    generation: Mutex<u64>,
    changed: Condvar,
    tokens: Mutex<Vec<Option<u64>>>,
}

impl VirtualReaders {
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: (0..n)
                .map(|i| (format!("Virtual Reader {i}"), Arc::default()))
                .collect(),
            generation: Mutex::new(0),
            changed: Condvar::new(),
            tokens: Mutex::new(vec![None; n]),
        })
    }

    /// Tells the station's monitor that reader `i` changed (as PC/SC's
    /// event counter does), so that it looks at the card again.
    pub fn bump(&self, i: usize, present: bool) {
        let mut g = self.generation.lock().unwrap();
        *g += 1;
        self.tokens.lock().unwrap()[i] = present.then_some(*g);
        self.changed.notify_all();
    }

    pub fn insert(&self, i: usize, card: VirtualCard) {
        *self.slots[i].1.card.lock().unwrap() = Some(card);
        self.slots[i].1.pulled.store(false, SeqCst);
        self.bump(i, true);
    }

    /// Pulls the card out of reader `i` (panics if there is none).
    pub fn pull(&self, i: usize) -> VirtualCard {
        self.slots[i].1.pulled.store(true, SeqCst);
        let card = self.slots[i].1.card.lock().unwrap().take().expect("a card");
        self.bump(i, false);
        card
    }

    /// Works on the card in reader `i` directly, as the citizen's own
    /// software would.
    pub fn with_card<R>(&self, i: usize, f: impl FnOnce(&mut Piv<SharedCard>) -> R) -> R {
        let mut piv = Piv::new(SharedCard(self.slots[i].1.clone()));
        piv.select().unwrap();
        f(&mut piv)
    }
}

/// A connection to a virtual reader's card; fails as a pulled card does.
pub struct SharedCard(Arc<CardSlot>);

impl Transport for SharedCard {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.0.pulled.load(SeqCst) {
            return Err(TransportError::CardRemoved);
        }
        match self.0.card.lock().unwrap().as_mut() {
            Some(card) => card.transmit_raw(apdu),
            None => Err(TransportError::CardRemoved),
        }
    }

    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), firma_apdu::Error>,
    ) -> Result<(), firma_apdu::Error> {
        f(self)
    }
}

struct VirtualConnector(String, Arc<CardSlot>);

impl Connector for VirtualConnector {
    fn name(&self) -> String {
        self.0.clone()
    }
    fn connect(&mut self) -> Result<Box<dyn Transport + Send>, StationError> {
        if self.1.pulled.load(SeqCst) || self.1.card.lock().unwrap().is_none() {
            return Err(StationError::NoCard(self.0.clone()));
        }
        Ok(Box::new(SharedCard(self.1.clone())))
    }
}

impl ReaderSource for VirtualReaders {
    fn list(&self) -> Vec<(String, Option<u64>)> {
        let tokens = self.tokens.lock().unwrap().clone();
        self.slots
            .iter()
            .zip(tokens)
            .map(|((n, _), t)| (n.clone(), t))
            .collect()
    }
    fn wait(&self, known: &[(String, Option<u64>)], timeout: Duration) {
        let g = self.generation.lock().unwrap();
        if self.list() != known {
            return;
        }
        let _ = self.changed.wait_timeout(g, timeout).unwrap();
    }
    fn connector(&self, reader: &str) -> Box<dyn Connector> {
        let (n, s) = self.slots.iter().find(|(n, _)| n == reader).unwrap();
        Box::new(VirtualConnector(n.clone(), s.clone()))
    }
}

/// A reader into which a fresh blank card is put for every job (serials
/// counting up from `next_serial`): a PRU's day of activations.
pub struct FreshCards {
    pub name: String,
    pub next_serial: u32,
    pub keygen_delay: Duration,
}

impl Connector for FreshCards {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn connect(&mut self) -> Result<Box<dyn Transport + Send>, StationError> {
        let card = blank_card(self.next_serial, self.keygen_delay);
        self.next_serial += 1;
        Ok(Box::new(card))
    }
}
