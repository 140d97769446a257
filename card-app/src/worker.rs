//! The card's thread: the window never touches a card and never waits for
//! one. It watches the PC/SC readers, reads the chosen reader's card when
//! one is inserted, and runs the PIN change and the unblock; each answer
//! comes back as an [`Event`] and the window is asked to repaint.
//! Registration in the browsers runs `modutil`, on a thread of its own.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use firma_apdu::card::{self, CitizenCard};
use firma_apdu::piv::{Pin, Puk};
use firma_apdu::transport::{self, PcscTransport, ReaderStatus};
use firma_apdu::Error as CardError;
use firma_pkcs11_register::{self as register, RegisterError, Registration};

use crate::card::{self as view, CardView};

/// What the window asks of the card's thread.
pub enum Command {
    /// Read the card in this reader (and keep to it).
    Choose(String),
    ChangePin {
        old: Pin,
        new: Pin,
    },
    Unblock {
        puk: Puk,
        new: Pin,
    },
}

/// Why a card operation did not happen, as the citizen can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoCard,
    /// No PC/SC service, or it refused us.
    NoPcsc,
    WrongPin {
        tries_left: u8,
    },
    PinBlocked,
    /// `None`: the card does not tell the tries left.
    WrongPuk {
        tries_left: Option<u8>,
    },
    PukBlocked,
    /// The card is not a citizen's card this program understands.
    NotACitizenCard,
    /// Anything else, in the card layer's English, for the details line.
    Other(String),
}

impl From<CardError> for Problem {
    fn from(e: CardError) -> Self {
        match e {
            CardError::WrongPin { tries_left: 0 } | CardError::PinBlocked => Problem::PinBlocked,
            CardError::WrongPin { tries_left } => Problem::WrongPin { tries_left },
            CardError::WrongPuk { tries_left: 0 } | CardError::PukBlocked => Problem::PukBlocked,
            CardError::WrongPuk { tries_left } => Problem::WrongPuk {
                tries_left: Some(tries_left),
            },
            CardError::WrongPukUncounted => Problem::WrongPuk { tries_left: None },
            e if e.is_card_gone() => Problem::NoCard,
            CardError::NotFound(_) | CardError::NotSupportedByCard(_) => Problem::NotACitizenCard,
            e => Problem::Other(e.to_string()),
        }
    }
}

/// What the card's thread reports.
pub enum Event {
    /// The readers, and which one the card's thread keeps to.
    Readers {
        names: Vec<String>,
        chosen: Option<String>,
    },
    /// The chosen reader's card, read again.
    Card(Result<CardView, Problem>),
    PinChanged(Result<(), Problem>),
    Unblocked(Result<(), Problem>),
    Registered(Result<Registration, String>),
}

/// Where the browsers' registration goes: the user's home and the module.
#[derive(Debug, Clone, Default)]
pub struct RegisterTarget {
    /// `None`: `HOME`.
    pub home: Option<PathBuf>,
    /// `None`: found beside the program or in the system's PKCS#11 directory.
    pub module: Option<PathBuf>,
}

/// The window's handle on the card's thread.
pub struct CardThread {
    commands: Sender<Command>,
    events_tx: Sender<Event>,
    events: Receiver<Event>,
    repaint: std::sync::Arc<dyn Fn() + Send + Sync>,
}

impl CardThread {
    pub fn spawn(repaint: impl Fn() + Send + Sync + 'static) -> Self {
        let (commands, inbox) = channel();
        let (events_tx, events) = channel();
        let repaint: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(repaint);
        let (tx, r) = (events_tx.clone(), repaint.clone());
        std::thread::Builder::new()
            .name("card".into())
            .spawn(move || run(inbox, tx, r))
            .expect("spawn the card thread");
        Self {
            commands,
            events_tx,
            events,
            repaint,
        }
    }

    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Registers the module for the user, on a thread of its own.
    pub fn register(&self, target: RegisterTarget) {
        let (tx, repaint) = (self.events_tx.clone(), self.repaint.clone());
        std::thread::spawn(move || {
            let result = register_now(&target).map_err(|e| e.to_string());
            let _ = tx.send(Event::Registered(result));
            repaint();
        });
    }
}

fn register_now(target: &RegisterTarget) -> Result<Registration, RegisterError> {
    let home = match &target.home {
        Some(h) => h.clone(),
        None => register::home()?,
    };
    let module = register::find_module(target.module.as_deref())?;
    register::install(&home, &module)
}

/// How often the readers are looked at when nothing is asked.
const POLL: Duration = Duration::from_millis(400);

fn run(
    inbox: Receiver<Command>,
    events: Sender<Event>,
    repaint: std::sync::Arc<dyn Fn() + Send + Sync>,
) {
    let send = |e: Event| {
        let _ = events.send(e);
        repaint();
    };
    let mut known: Option<Vec<ReaderStatus>> = None;
    let mut chosen: Option<String> = None;
    loop {
        let command = match inbox.recv_timeout(POLL) {
            Ok(c) => Some(c),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let readers = transport::pcsc_context().and_then(|ctx| transport::list_readers(&ctx));
        let readers = match readers {
            Ok(r) => r,
            Err(_) => {
                if known.is_some() || command.is_some() {
                    known = None;
                    send(Event::Readers {
                        names: Vec::new(),
                        chosen: None,
                    });
                    send(Event::Card(Err(Problem::NoPcsc)));
                }
                continue;
            }
        };
        let mut reread = known.as_ref() != Some(&readers);
        match command {
            Some(Command::Choose(r)) => {
                chosen = Some(r);
                reread = true;
            }
            Some(Command::ChangePin { old, new }) => {
                let r = with_card(chosen.as_deref(), |c| c.change_pin(&old, &new));
                send(Event::PinChanged(r));
                reread = true;
            }
            Some(Command::Unblock { puk, new }) => {
                let r = with_card(chosen.as_deref(), |c| c.unblock_pin(&puk, &new));
                send(Event::Unblocked(r));
                reread = true;
            }
            None => {}
        }
        if !reread {
            continue;
        }
        // Keep to the chosen reader while it is there; else the first
        // reader with a card, else the first reader.
        if !chosen
            .as_ref()
            .is_some_and(|c| readers.iter().any(|r| &r.name == c))
        {
            chosen = readers
                .iter()
                .find(|r| r.atr.is_some())
                .or(readers.first())
                .map(|r| r.name.clone());
        }
        send(Event::Readers {
            names: readers.iter().map(|r| r.name.clone()).collect(),
            chosen: chosen.clone(),
        });
        let present = readers
            .iter()
            .any(|r| Some(&r.name) == chosen.as_ref() && r.atr.is_some());
        let card = if present {
            with_card(chosen.as_deref(), view::read)
        } else {
            Err(Problem::NoCard)
        };
        send(Event::Card(card));
        known = Some(readers);
    }
}

/// Runs `op` on the card in `reader`, inside one PC/SC connection.
fn with_card<R>(
    reader: Option<&str>,
    op: impl FnOnce(&mut dyn CitizenCard) -> Result<R, CardError>,
) -> Result<R, Problem> {
    let reader = reader.ok_or(Problem::NoCard)?;
    let ctx = transport::pcsc_context().map_err(|_| Problem::NoPcsc)?;
    let t = PcscTransport::connect(&ctx, reader).map_err(|e| Problem::from(CardError::from(e)))?;
    let mut card = card::open(t).map_err(|e| match Problem::from(e) {
        Problem::NoCard => Problem::NoCard,
        _ => Problem::NotACitizenCard,
    })?;
    Ok(op(card.as_mut())?)
}
