//! What the screens show, read from the registry and the readers monitor
//! into one [`Snapshot`]. Screens draw from a snapshot and never read the
//! registry themselves.

use std::sync::Arc;

use firma_station_engine::audit::AuditEntry;
use firma_station_engine::engine::Station;
use firma_station_engine::readers::{ReaderView, Readers};
use firma_station_engine::registry::{Application, CertRecord, IdentityCheck};
use firma_station_engine::services::CardView;
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

/// How many history entries the detail shows.
const HISTORY: usize = 30;

impl Snapshot {
    /// Reads what `want` asks for. A registry that fails to answer shows
    /// as empty, as the screens always did.
    pub fn load(station: &Station, readers: &Readers, want: Want) -> Self {
        let mut s = Snapshot {
            readers: readers.snapshot(),
            ..Snapshot::default()
        };
        s.load_registry(station, want);
        s
    }

    /// Reads the registry's part again.
    pub fn load_registry(&mut self, station: &Station, want: Want) {
        {
            let registry = station.registry();
            self.applications = registry.applications().unwrap_or_default();
            self.detail = want.application.map(|id| Detail {
                application: id,
                checks: registry.identity_checks(id).unwrap_or_default(),
                certificates: registry.certificates(id).unwrap_or_default(),
                history: registry
                    .audit_about(&format!("application {id}"), HISTORY)
                    .unwrap_or_default(),
                renewal_opens: None,
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
