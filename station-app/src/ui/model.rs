//! What the screens show, read from the registry and the readers monitor
//! into one [`Snapshot`]. Screens draw from a snapshot and never read the
//! registry themselves; the [`Model`]'s thread reads it when something
//! changed (a worker's report, an action, another screen), never per
//! frame, so the UI thread never waits on the registry's lock that the
//! workers commit under.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, OnceLock};

use eframe::egui;
use firma_station_engine::audit;

use firma_station_engine::audit::{AuditEntry, Subject};
use firma_station_engine::engine::Station;
use firma_station_engine::inspection::CardView;
use firma_station_engine::readers::{ReaderView, Readers};
use firma_station_engine::registry::{Application, CertRecord, IdentityCheck};
use time::OffsetDateTime;

/// What the screens on show need read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// The open application, whose detail is read.
    pub application: Option<i64>,
    /// The audit tab is open: the whole log is read.
    pub audit: bool,
}

/// One application's detail.
#[derive(Debug, Clone)]
pub struct Detail {
    pub application: i64,
    pub checks: Vec<IdentityCheck>,
    pub certificates: Vec<CertRecord>,
    /// The newest entries about it.
    pub history: Vec<AuditEntry>,
    /// When its renewal opens.
    pub renewal_opens: Option<OffsetDateTime>,
    /// Its newest identity check already gave a Generation Code: another
    /// code needs another check.
    pub latest_check_used: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub applications: Vec<Application>,
    pub detail: Option<Detail>,
    /// The whole audit log, when the audit tab wants it.
    pub audit: Option<Arc<Vec<AuditEntry>>>,
    /// What the monitor saw in each reader.
    pub readers: Vec<(String, ReaderView)>,
}

/// Whether the newest identity check of `application` gave a code.
fn latest_check_used(
    registry: &dyn firma_station_engine::registry::Registry,
    application: i64,
) -> bool {
    let latest = registry.latest_identity_check(application).ok().flatten();
    let codes = registry.codes(application).unwrap_or_default();
    latest.is_some_and(|c| codes.iter().any(|code| code.identity_check_id == c.id))
}

/// How many history entries the detail shows.
const HISTORY: usize = 30;

impl Snapshot {
    /// Reads the registry's part again, as `want` asks. A registry that
    /// fails to answer shows as empty, as the screens always did.
    fn load_registry(&mut self, station: &Station, want: Want) {
        {
            let registry = station.registry();
            self.applications = registry.applications().unwrap_or_default();
            self.detail = want.application.map(|id| Detail {
                application: id,
                checks: registry.identity_checks(id).unwrap_or_default(),
                certificates: registry.certificates(id).unwrap_or_default(),
                history: registry
                    .audit_about(&Subject::Application(id), HISTORY)
                    .unwrap_or_default(),
                renewal_opens: None,
                latest_check_used: latest_check_used(registry.as_ref(), id),
            });
            self.audit = want
                .audit
                .then(|| Arc::new(registry.audit_entries().unwrap_or_default()));
        }
        // After the registry's lock is let go: renewal_window takes it.
        if let Some(d) = &mut self.detail {
            d.renewal_opens = station
                .renewal_window(d.application)
                .ok()
                .flatten()
                .map(|(opens, _)| opens);
        }
    }

    /// The card in `reader`, if the monitor has looked at it.
    pub fn card_in(&self, reader: &str) -> Option<&CardView> {
        self.readers
            .iter()
            .find(|(n, _)| n == reader)
            .and_then(|(_, v)| match v {
                ReaderView::Card(c) => Some(c),
                _ => None,
            })
    }
}

enum Request {
    /// Read the registry again for `Want`; the answer carries the number.
    Registry(u64, Want),
    /// The monitor saw a reader change.
    Readers,
    /// Check the audit log's hash chain.
    VerifyChain,
    /// Write to the registry (an audit entry the window records), then
    /// read it again.
    Write(Box<dyn FnOnce(&Station) + Send>),
}

enum Update {
    /// A new snapshot, answering the registry request of that number.
    Snapshot(u64, Box<Snapshot>),
    /// The chain check: the entries it covered, or where it broke.
    Chain(Result<usize, audit::ChainError>),
}

/// The UI thread's end of the model: the snapshot on show, and the
/// channel to the thread that reads new ones.
pub struct Model {
    pub snapshot: Snapshot,
    requests: Sender<Request>,
    updates: Receiver<Update>,
    want: Want,
    asked: u64,
    answered: u64,
    repaint: Arc<OnceLock<egui::Context>>,
}

impl Model {
    /// Starts the thread that reads snapshots; it ends with the window.
    pub fn spawn(station: Arc<Station>, readers: Arc<Readers>) -> Self {
        let (requests, inbox) = channel();
        let (updates_tx, updates) = channel();
        let repaint = Arc::new(OnceLock::<egui::Context>::new());
        let wake = repaint.clone();
        std::thread::Builder::new()
            .name("window model".into())
            .spawn(move || {
                serve(&station, &readers, &inbox, &updates_tx, &|| {
                    if let Some(ctx) = wake.get() {
                        ctx.request_repaint();
                    }
                })
            })
            .expect("the system can start a thread");
        Self {
            snapshot: Snapshot::default(),
            requests,
            updates,
            want: Want::default(),
            asked: 0,
            answered: 0,
            repaint,
        }
    }

    /// The window to repaint when a snapshot arrives.
    pub fn attach(&self, ctx: &egui::Context) {
        let _ = self.repaint.set(ctx.clone());
    }

    /// What the readers monitor calls when a reader changes.
    pub fn readers_changed(&self) -> impl Fn() + Send + 'static {
        let requests = self.requests.clone();
        move || {
            let _ = requests.send(Request::Readers);
        }
    }

    /// Reads the registry again (something changed in it).
    pub fn refresh(&mut self, want: Want) {
        self.want = want;
        self.asked += 1;
        let _ = self.requests.send(Request::Registry(self.asked, want));
    }

    /// Reads the registry again if the screens on show want other things.
    pub fn show(&mut self, want: Want) {
        if want != self.want {
            self.refresh(want);
        }
    }

    /// Runs `write` on the model's thread (the UI thread never waits on
    /// the registry), and shows what it changed.
    pub fn write(&mut self, write: impl FnOnce(&Station) + Send + 'static) {
        self.asked += 1;
        let _ = self.requests.send(Request::Write(Box::new(write)));
        let _ = self.requests.send(Request::Registry(self.asked, self.want));
    }

    pub fn verify_chain(&self) {
        let _ = self.requests.send(Request::VerifyChain);
    }

    /// Takes the snapshots that arrived; returns a chain check's result
    /// if one came.
    pub fn poll(&mut self) -> Option<Result<usize, audit::ChainError>> {
        let mut chain = None;
        while let Ok(update) = self.updates.try_recv() {
            match update {
                Update::Snapshot(n, snapshot) => {
                    self.answered = n;
                    self.snapshot = *snapshot;
                }
                Update::Chain(result) => chain = Some(result),
            }
        }
        chain
    }

    /// Whether the snapshot answers the last registry request.
    pub fn is_current(&self) -> bool {
        self.answered == self.asked
    }
}

/// The model's thread: takes every request waiting, reads what they ask
/// for once, and sends one snapshot back.
fn serve(
    station: &Station,
    readers: &Readers,
    inbox: &Receiver<Request>,
    updates: &Sender<Update>,
    repaint: &dyn Fn(),
) {
    let mut snapshot = Snapshot::default();
    let mut answered = 0;
    while let Ok(first) = inbox.recv() {
        let (mut registry, mut readers_changed, mut verify) = (None, false, false);
        for request in std::iter::once(first).chain(inbox.try_iter()) {
            match request {
                Request::Registry(n, want) => registry = Some((n, want)),
                Request::Readers => readers_changed = true,
                Request::VerifyChain => verify = true,
                Request::Write(write) => write(station),
            }
        }
        if readers_changed {
            snapshot.readers = readers.snapshot();
        }
        if let Some((n, want)) = registry {
            snapshot.readers = readers.snapshot();
            snapshot.load_registry(station, want);
            answered = n;
        }
        if verify {
            let entries = station.registry().audit_entries().unwrap_or_default();
            let result = audit::verify(&entries);
            if snapshot.audit.is_some() {
                snapshot.audit = Some(Arc::new(entries));
            }
            if updates.send(Update::Chain(result)).is_err() {
                return;
            }
        }
        if updates
            .send(Update::Snapshot(answered, Box::new(snapshot.clone())))
            .is_err()
        {
            return;
        }
        repaint();
    }
}
