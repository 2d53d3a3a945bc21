//! Alerting (Connaisseur §6.2): one notification per admission decision, to the
//! `admitRequest` receivers when the engine admitted, to the `rejectRequest` receivers when
//! it denied, evaluated on the engine's raw decision (before detection mode and pods-only).
//!
//! [`config`] loads `/app/alerts/config.yaml` and its templates strictly, [`template`] and
//! [`payload`] turn a decision ([`notification`]) into each receiver's JSON body, and
//! [`sender`] POSTs it. [`Alerter::notify`] waits only for receivers with
//! `failIfAlertSendingFails`, all at once and at most until the request deadline; the
//! others go to a bounded background sender and never delay the answer. When the deadline
//! has already passed, fail-on-error receivers are handed to that sender too and the
//! request is denied for the timeout at once.
//!
//! Differences from Connaisseur, on purpose: every delivery has a time limit (Connaisseur
//! has none, so a hanging receiver held a goroutine and a connection forever); a failure
//! names the receiver that failed (Connaisseur could name another one, its quirk 18); a
//! template with an unknown variable or a missing template file stops the start instead
//! of failing each alert; `{{ error }}` is escaped like every other value.

pub mod config;
pub mod notification;
pub mod payload;
pub mod sender;
pub mod template;

use std::fmt;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Instant, SystemTime};

use crate::net::https_client::{HttpError, HttpsClient};
use crate::{log_error, log_warn};
pub use config::{templates_dir, AlertsConfig, AlertsError, DEFAULT_PATH};
use notification::{go_utc_timestamp, Notification};
pub use notification::{Alert, AlertResult, Stream};
use sender::{Background, Delivery, SendError};

/// Why an admitted request must be denied after all: a `failIfAlertSendingFails` receiver
/// was not notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertFailure {
    /// That receiver's notification failed.
    Failed(SendError),
    /// The request deadline passed while waiting for receiver `position` of the `awaited`
    /// fail-on-error receivers of `stream`.
    Timeout {
        position: usize,
        awaited: usize,
        stream: Stream,
    },
}

impl AlertFailure {
    /// The receiver whose failure this is (none for a deadline).
    pub fn receiver(&self) -> Option<&str> {
        match self {
            AlertFailure::Failed(
                SendError::Render { receiver, .. }
                | SendError::Refused { receiver, .. }
                | SendError::Transport { receiver, .. },
            ) => Some(receiver),
            AlertFailure::Timeout { .. } => None,
        }
    }

    /// The denial message of §4.10, leading space included as Connaisseur writes it.
    pub fn denial_message(&self) -> String {
        format!(" error sending notifications: {self}")
    }
}

impl fmt::Display for AlertFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertFailure::Failed(error) => write!(
                f,
                "failed sending a notification for receiver {} with FailOnError set: {error}",
                self.receiver().unwrap_or_default()
            ),
            AlertFailure::Timeout {
                position,
                awaited,
                stream,
            } => write!(
                f,
                "timeout during handling of receiver {position}/{awaited} of {stream} alerts"
            ),
        }
    }
}

impl std::error::Error for AlertFailure {}

/// The configured receivers and the means to notify them; one per process.
pub struct Alerter {
    config: AlertsConfig,
    /// `connaisseur_pod_id`.
    pod_id: String,
    client: Arc<HttpsClient>,
    background: Background,
}

impl fmt::Debug for Alerter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerter")
            .field("config", &self.config)
            .field("pod_id", &self.pod_id)
            .finish_non_exhaustive()
    }
}

/// Why alerting could not be set up from a file.
#[derive(Debug)]
pub enum SetupError {
    /// The file or one of its templates does not load.
    Config(Vec<AlertsError>),
    /// The HTTPS client for the receivers could not be built (system CA bundle).
    Client(HttpError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Config(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            SetupError::Client(e) => write!(f, "cannot set up alerting: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl Alerter {
    /// The alerter of the alerting file at `path` (pod id from `POD_NAME`), or `None` when
    /// the file names no receiver.
    pub fn from_file(path: &Path) -> Result<Option<Alerter>, SetupError> {
        let config = AlertsConfig::load(path).map_err(SetupError::Config)?;
        if config.is_empty() {
            return Ok(None);
        }
        Alerter::from_env(config)
            .map(Some)
            .map_err(SetupError::Client)
    }

    /// An alerter for `config` whose alerts carry `pod_id` as `connaisseur_pod_id`.
    pub fn new(config: AlertsConfig, pod_id: String) -> Result<Alerter, HttpError> {
        let client = Arc::new(sender::client()?);
        Ok(Alerter {
            background: Background::start(Arc::clone(&client)),
            config,
            pod_id,
            client,
        })
    }

    /// An alerter whose pod id is `POD_NAME` (empty when unset, as with Connaisseur's chart).
    pub fn from_env(config: AlertsConfig) -> Result<Alerter, HttpError> {
        Alerter::new(config, std::env::var("POD_NAME").unwrap_or_default())
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    /// Notifies the receivers of `alert`'s stream. Returns once every fail-on-error
    /// receiver succeeded, at the first one that failed, or at `deadline`.
    pub fn notify(&self, alert: &Alert, deadline: Instant) -> Result<(), AlertFailure> {
        let stream = alert.result.stream();
        let receivers = self.config.receivers(stream);
        if receivers.is_empty() {
            return Ok(());
        }
        let message = alert.message();
        let timestamp = go_utc_timestamp(SystemTime::now());
        let (outcomes, finished) = mpsc::channel::<Result<(), SendError>>();
        let fail_on_error_count = receivers.iter().filter(|r| r.fail_on_error).count();
        let mut awaited = 0;
        let mut first_failure = None;
        for receiver in receivers {
            let notification = Notification {
                alert,
                message: &message,
                cluster: &self.config.cluster,
                pod_id: &self.pod_id,
                timestamp: &timestamp,
                priority: receiver.priority,
            };
            let rendered = receiver.template.render(&notification);
            let body = match payload::finish(&rendered, &receiver.payload_fields) {
                Ok(Some(body)) => body,
                Ok(None) => {
                    log_warn!(
                        "template of receiver {} rendered to nothing: no notification sent",
                        receiver.name
                    );
                    continue;
                }
                Err(error) => {
                    let error = SendError::Render {
                        receiver: receiver.name.clone(),
                        reason: error.to_string(),
                    };
                    if receiver.fail_on_error {
                        first_failure.get_or_insert(AlertFailure::Failed(error));
                    } else {
                        log_error!("{error}");
                    }
                    continue;
                }
            };
            let delivery = Delivery {
                receiver: receiver.name.clone(),
                url: receiver.url.clone(),
                headers: receiver.headers.clone(),
                body,
            };
            if !receiver.fail_on_error {
                // A dropped alert is logged by the sender; the answer does not wait for it.
                self.background.submit(delivery);
                continue;
            }
            if Instant::now() >= deadline {
                // Too late to wait (the validations used up the deadline): the request is
                // denied, and the alert, often the one about that timeout, still goes out.
                self.background.submit(delivery);
                first_failure.get_or_insert(AlertFailure::Timeout {
                    position: 1,
                    awaited: fail_on_error_count,
                    stream,
                });
                continue;
            }
            awaited += 1;
            let client = Arc::clone(&self.client);
            let report = outcomes.clone();
            let spawned = std::thread::Builder::new()
                .name("alert".to_owned())
                .spawn(move || {
                    let _ = report.send(sender::deliver(&client, &delivery, deadline));
                });
            if let Err(error) = spawned {
                log_error!("cannot start a thread for an alert: {error}");
                awaited -= 1;
                first_failure.get_or_insert(AlertFailure::Failed(SendError::Transport {
                    receiver: receiver.name.clone(),
                    error: HttpError::Io {
                        host: receiver.url.origin.authority(),
                        reason: error.to_string(),
                    },
                }));
            }
        }
        drop(outcomes);
        if let Some(failure) = first_failure {
            return Err(failure);
        }
        let timeout = |received: usize| AlertFailure::Timeout {
            position: received + 1,
            awaited,
            stream,
        };
        for received in 0..awaited {
            let left = deadline.saturating_duration_since(Instant::now());
            match finished.recv_timeout(left) {
                Ok(Ok(())) => {}
                Ok(Err(error)) if error.is_timeout() && Instant::now() >= deadline => {
                    return Err(timeout(received))
                }
                Ok(Err(error)) => return Err(AlertFailure::Failed(error)),
                Err(_) => return Err(timeout(received)),
            }
        }
        Ok(())
    }
}
