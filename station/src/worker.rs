//! One worker thread per reader: card work never runs on the caller's
//! thread (the UI's), and two readers work at the same time. A worker takes
//! jobs in order and reports progress and the result on a channel.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use firma_apdu::transport::{self, PcscTransport, Traced, Transport};

use crate::activation::{self, Citizen, Outcome, Progress};
use crate::engine::Station;
use crate::error::{CardTask, StationError};
use crate::registry::{AppKey, WorkflowKind};

/// How a worker reaches its card: a PC/SC reader, or an in-process card in
/// tests and benchmarks.
pub trait Connector: Send {
    /// The reader's name, for the journal and messages.
    fn name(&self) -> String;
    fn connect(&mut self) -> Result<Box<dyn Transport + Send>, StationError>;
}

/// A PC/SC reader.
pub struct PcscReader {
    pub reader: String,
}

impl Connector for PcscReader {
    fn name(&self) -> String {
        self.reader.clone()
    }

    fn connect(&mut self) -> Result<Box<dyn Transport + Send>, StationError> {
        let ctx = transport::pcsc_context().map_err(StationError::Pcsc)?;
        match PcscTransport::connect(&ctx, &self.reader) {
            // Every APDU goes to the debug log, its data redacted.
            Ok(t) => Ok(Box::new(Traced::new(t))),
            Err(e) => {
                let e = firma_apdu::Error::from(e);
                if e.is_card_gone() {
                    Err(StationError::NoCard(self.reader.clone()))
                } else {
                    Err(StationError::card(CardTask::Connect, e))
                }
            }
        }
    }
}

pub enum Job {
    Activate {
        application: AppKey,
        citizen: Box<dyn Citizen + Send>,
    },
    Renew {
        application: AppKey,
        citizen: Box<dyn Citizen + Send>,
    },
    /// Any other card work (unblock, PIN change, reset, inspection): the
    /// closure gets the station and the card, and says what it did.
    Service { name: String, run: ServiceFn },
}

pub type ServiceFn =
    Box<dyn FnOnce(&Station, Box<dyn Transport + Send>) -> Result<String, StationError> + Send>;

/// What a worker reports, tagged with its reader.
pub enum Report {
    Progress(String, Progress),
    Finished(String, Box<Result<Outcome, StationError>>),
    /// A service job ended: (reader, its name, what it did).
    ServiceDone(String, String, Result<String, StationError>),
}

pub struct Worker {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(
        station: Arc<Station>,
        mut connector: Box<dyn Connector>,
        reports: Sender<Report>,
    ) -> Self {
        let (jobs, inbox): (Sender<Job>, Receiver<Job>) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("card worker {}", connector.name()))
            .spawn(move || {
                for job in inbox {
                    let reader = connector.name();
                    let mut report = |p: Progress| {
                        let _ = reports.send(Report::Progress(reader.clone(), p));
                    };
                    let (application, mut citizen, kind) = match job {
                        Job::Service { name, run } => {
                            let result = connector.connect().and_then(|t| run(&station, t));
                            let _ = reports.send(Report::ServiceDone(reader.clone(), name, result));
                            continue;
                        }
                        Job::Activate {
                            application,
                            citizen,
                        } => (application, citizen, WorkflowKind::Activate),
                        Job::Renew {
                            application,
                            citizen,
                        } => (application, citizen, WorkflowKind::Renew),
                    };
                    let result = connector.connect().and_then(|t| {
                        activation::run(
                            &station,
                            t,
                            &reader,
                            &application,
                            kind,
                            citizen.as_mut(),
                            &mut report,
                        )
                    });
                    let _ = reports.send(Report::Finished(reader, Box::new(result)));
                }
            })
            .expect("the system can start a thread");
        Self {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    pub fn submit(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Worker {
    /// Lets the current job finish, then stops the thread.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
