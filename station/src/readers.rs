//! The readers panel's data: a monitor thread that waits for PC/SC reader
//! events (never the UI thread), looks at each new card once, and keeps
//! what it saw for the UI to draw.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firma_apdu::transport::{self, ReaderStatus};

use crate::engine::Station;
use crate::inspection::{self, CardView};
use crate::worker::{Connector, PcscReader};

/// Where readers come from: PC/SC, or in-process cards in tests.
pub trait ReaderSource: Send + Sync {
    /// Every reader, with a token that changes when its card comes or goes
    /// (`None`: empty).
    fn list(&self) -> Vec<(String, Option<u64>)>;
    /// Returns when `known` changed, or after `timeout`.
    fn wait(&self, known: &[(String, Option<u64>)], timeout: Duration);
    fn connector(&self, reader: &str) -> Box<dyn Connector>;
}

/// The machine's PC/SC readers.
pub struct PcscSource;

fn token(status: &ReaderStatus) -> Option<u64> {
    status.atr.as_ref().map(|atr| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        atr.hash(&mut h);
        h.finish()
    })
}

impl ReaderSource for PcscSource {
    fn list(&self) -> Vec<(String, Option<u64>)> {
        let Ok(ctx) = transport::pcsc_context() else {
            return Vec::new();
        };
        transport::list_readers(&ctx)
            .unwrap_or_default()
            .iter()
            .map(|r| (r.name.clone(), token(r)))
            .collect()
    }

    fn wait(&self, known: &[(String, Option<u64>)], timeout: Duration) {
        let Ok(ctx) = transport::pcsc_context() else {
            std::thread::sleep(timeout);
            return;
        };
        let known: Vec<ReaderStatus> = transport::list_readers(&ctx)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| known.iter().any(|(n, t)| *n == r.name && *t == token(r)))
            .collect();
        if transport::wait_for_change(&ctx, &known, timeout).is_err() {
            std::thread::sleep(timeout);
        }
    }

    fn connector(&self, reader: &str) -> Box<dyn Connector> {
        Box::new(PcscReader {
            reader: reader.to_string(),
        })
    }
}

/// What the panel shows for one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderView {
    /// The card is being looked at.
    Looking,
    /// A job runs on this reader's card.
    Working,
    Card(CardView),
}

/// Shared between the monitor and the UI.
#[derive(Default)]
pub struct Readers {
    pub views: Mutex<Vec<(String, ReaderView)>>,
    /// Readers with a job running: the monitor leaves their card alone.
    pub busy: Mutex<HashSet<String>>,
    /// Readers to look at again (a job ended).
    pub dirty: Mutex<HashSet<String>>,
    pub stop: AtomicBool,
}

impl Readers {
    pub fn snapshot(&self) -> Vec<(String, ReaderView)> {
        self.views.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_busy(&self, reader: &str, busy: bool) {
        let mut set = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if busy {
            set.insert(reader.to_string());
        } else {
            set.remove(reader);
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(reader.to_string());
        }
    }
}

/// Starts the monitor; `repaint` is called whenever the views change.
pub fn spawn_monitor(
    station: Arc<Station>,
    source: Arc<dyn ReaderSource>,
    readers: Arc<Readers>,
    repaint: impl Fn() + Send + 'static,
) {
    std::thread::Builder::new()
        .name("reader monitor".into())
        .spawn(move || {
            let mut seen: HashMap<String, Option<u64>> = HashMap::new();
            while !readers.stop.load(Ordering::Relaxed) {
                let list = source.list();
                let dirty: HashSet<String> =
                    std::mem::take(&mut *readers.dirty.lock().unwrap_or_else(|e| e.into_inner()));
                let busy = readers
                    .busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let mut changed = false;
                let mut views = readers.snapshot();
                views.retain(|(n, _)| list.iter().any(|(m, _)| m == n));
                for (name, tok) in &list {
                    let known = seen.get(name);
                    let fresh = known != Some(tok) || dirty.contains(name);
                    let view = if busy.contains(name) && tok.is_none() {
                        // Pulled out while a job waits (for a PIN, say):
                        // the panel says so at once.
                        Some(ReaderView::Card(CardView::Empty))
                    } else if busy.contains(name) {
                        Some(ReaderView::Working)
                    } else if fresh {
                        Some(match tok {
                            None => ReaderView::Card(CardView::Empty),
                            Some(_) => match source.connector(name).connect() {
                                Ok(t) => ReaderView::Card(inspection::describe_card(&station, t)),
                                Err(_) => ReaderView::Card(CardView::Empty),
                            },
                        })
                    } else {
                        None
                    };
                    if busy.contains(name) {
                        // Look again once the job ends.
                        seen.remove(name);
                    } else {
                        seen.insert(name.clone(), *tok);
                    }
                    if let Some(v) = view {
                        match views.iter_mut().find(|(n, _)| n == name) {
                            Some((_, old)) if *old == v => {}
                            Some((_, old)) => {
                                *old = v;
                                changed = true;
                            }
                            None => {
                                views.push((name.clone(), v));
                                changed = true;
                            }
                        }
                    }
                }
                if changed || views.len() != readers.snapshot().len() {
                    *readers.views.lock().unwrap_or_else(|e| e.into_inner()) = views;
                    repaint();
                }
                source.wait(&list, Duration::from_millis(400));
            }
        })
        .expect("the system can start a thread");
}
