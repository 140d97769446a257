//! The window's side of the engine's [`Citizen`]: a workflow on a worker's
//! thread asks the window for the citizen's PIN and waits for the answer;
//! the PUK letter is handed over to be printed (never shown).

use std::sync::mpsc::{channel, Sender};

use eframe::egui;
use firma_apdu::piv::{Pin, Puk};
use firma_station_engine::activation::Citizen;
use firma_station_engine::error::StationError;
use firma_station_engine::letter::{self, LetterInfo};
use zeroize::Zeroizing;

/// What the citizen's side of a workflow asks of the window.
pub enum CitizenEvent {
    /// The citizen types a PIN (`new`: a new one, twice; else the current one).
    NeedPin {
        reader: String,
        new: bool,
        reply: Sender<Option<Pin>>,
    },
    /// The letter as a PDF, for the printer only: the window never shows
    /// the PUK.
    Letter {
        reader: String,
        card_serial: u32,
        pdf: Zeroizing<Vec<u8>>,
    },
}

/// Asks the UI and waits for its answer on the worker's thread.
pub struct UiCitizen {
    pub reader: String,
    pub events: Sender<CitizenEvent>,
    pub repaint: egui::Context,
}

impl UiCitizen {
    fn ask(&mut self, new: bool) -> Result<Pin, StationError> {
        let (reply, answer) = channel();
        self.events
            .send(CitizenEvent::NeedPin {
                reader: self.reader.clone(),
                new,
                reply,
            })
            .map_err(|_| StationError::PinEntryCancelled)?;
        self.repaint.request_repaint();
        match answer.recv() {
            Ok(Some(pin)) => Ok(pin),
            _ => Err(StationError::PinEntryCancelled),
        }
    }
}

impl Citizen for UiCitizen {
    fn choose_pin(&mut self) -> Result<Pin, StationError> {
        self.ask(true)
    }
    fn current_pin(&mut self) -> Result<Pin, StationError> {
        self.ask(false)
    }
    fn deliver_letter(&mut self, info: &LetterInfo, puk: &Puk) -> Result<(), StationError> {
        let event = CitizenEvent::Letter {
            reader: self.reader.clone(),
            card_serial: info.card_serial,
            pdf: Zeroizing::new(letter::pdf(info, puk)),
        };
        self.events
            .send(event)
            .map_err(|_| StationError::Letter("the window was closed".into()))?;
        self.repaint.request_repaint();
        Ok(())
    }
}
