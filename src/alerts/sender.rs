//! Sending notifications (§6.2 rule 5): one POST per receiver on the shared outbound HTTP
//! client, and the small pool that sends those nobody waits for.
//!
//! Receivers without `failIfAlertSendingFails` never delay an answer: their deliveries go
//! to a bounded queue drained by [`BACKGROUND_THREADS`] threads. When the queue is full
//! (more than [`QUEUE_CAPACITY`] deliveries or [`QUEUE_BYTES`] of payload waiting) the
//! delivery is dropped with a warning, so a dead receiver under load costs bounded memory
//! and never one thread per alert. Unlike Connaisseur, every delivery has a time limit:
//! [`BACKGROUND_TIMEOUT`] for background ones, the request deadline for awaited ones.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver as Queue, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::https_client::{tls_config, HttpError, HttpsClient, Url};
use crate::{log_error, log_warn};

/// Threads sending background deliveries.
pub const BACKGROUND_THREADS: usize = 2;
/// Background deliveries waiting at most.
pub const QUEUE_CAPACITY: usize = 256;
/// Payload bytes of waiting background deliveries at most.
pub const QUEUE_BYTES: usize = 16 << 20;
/// Time limit of one background delivery, from the moment it is sent.
pub const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read from a receiver (it only goes into error messages).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Characters of a receiver's error response quoted in messages.
const QUOTED_RESPONSE_CHARS: usize = 512;

/// One POST to one receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The receiver's name, `<template>-<index>`.
    pub receiver: String,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The template rendered to something that is not a JSON object.
    Render { receiver: String, reason: String },
    /// The receiver answered with a non-2xx status.
    Refused {
        receiver: String,
        status: u16,
        body: String,
    },
    /// No answer: connection, TLS, or time limit.
    Transport { receiver: String, error: HttpError },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Render { receiver, reason } => {
                write!(
                    f,
                    "failed to render template for receiver {receiver}: {reason}"
                )
            }
            SendError::Refused {
                receiver,
                status,
                body,
            } => {
                write!(f, "failed to send notification for receiver {receiver}: ")?;
                if body.trim().is_empty() {
                    write!(f, "HTTP status {status} with an empty body")
                } else {
                    f.write_str(body)
                }
            }
            SendError::Transport { receiver, error } => {
                write!(f, "failed to send notification for receiver {receiver}: ")?;
                match error {
                    HttpError::Timeout { host } => {
                        write!(f, "{host} did not answer within the time limit")
                    }
                    other => write!(f, "{other}"),
                }
            }
        }
    }
}

impl std::error::Error for SendError {}

impl SendError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendError::Transport { error, .. } if error.is_timeout())
    }
}

/// The outbound client for receivers: system CAs, plain HTTP allowed (as Go's client).
/// Without a usable CA bundle, `https://` receivers fail per delivery and `http://` ones
/// still work.
pub fn client() -> Result<HttpsClient, HttpError> {
    let tls = tls_config(None).or_else(|error| {
        log_warn!("alerts to https:// receivers will fail: {error}");
        untrusting_tls()
    })?;
    Ok(HttpsClient::new(tls, true))
}

/// A TLS configuration that trusts no certificate at all.
fn untrusting_tls() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Trust(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// POSTs `delivery`; 2xx is success.
pub fn deliver(
    client: &HttpsClient,
    delivery: &Delivery,
    deadline: Instant,
) -> Result<(), SendError> {
    let response = client
        .post(
            &delivery.url,
            &delivery.headers,
            &delivery.body,
            MAX_RESPONSE_BYTES,
            deadline,
        )
        .map_err(|error| SendError::Transport {
            receiver: delivery.receiver.clone(),
            error,
        })?;
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    Err(SendError::Refused {
        receiver: delivery.receiver.clone(),
        status: response.status,
        body: String::from_utf8_lossy(&response.body)
            .chars()
            .take(QUOTED_RESPONSE_CHARS)
            .collect(),
    })
}

/// The background sender: a bounded queue and its threads, which end when it is dropped.
pub struct Background {
    queue: SyncSender<Delivery>,
    queued_bytes: Arc<AtomicUsize>,
}

impl Background {
    pub fn start(client: Arc<HttpsClient>) -> Background {
        let (queue, waiting) = mpsc::sync_channel::<Delivery>(QUEUE_CAPACITY);
        let waiting = Arc::new(Mutex::new(waiting));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        for index in 0..BACKGROUND_THREADS {
            let waiting = Arc::clone(&waiting);
            let client = Arc::clone(&client);
            let queued_bytes = Arc::clone(&queued_bytes);
            let spawned = std::thread::Builder::new()
                .name(format!("alerts-{index}"))
                .spawn(move || drain(&waiting, &client, &queued_bytes));
            if let Err(error) = spawned {
                log_error!("cannot start the alert sender thread: {error}");
            }
        }
        Background {
            queue,
            queued_bytes,
        }
    }

    /// Queues `delivery`, or drops it with a warning when the queue is full (false).
    pub fn submit(&self, delivery: Delivery) -> bool {
        let size = delivery.body.len();
        let before = self.queued_bytes.fetch_add(size, Ordering::SeqCst);
        if before.saturating_add(size) > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::SeqCst);
            log_warn!(
                "alert for receiver {} dropped: {QUEUE_BYTES} bytes of alerts are already waiting to be sent",
                delivery.receiver
            );
            return false;
        }
        if let Err(error) = self.queue.try_send(delivery) {
            self.queued_bytes.fetch_sub(size, Ordering::SeqCst);
            let (TrySendError::Full(dropped) | TrySendError::Disconnected(dropped)) = error;
            log_warn!(
                "alert for receiver {} dropped: {QUEUE_CAPACITY} alerts are already waiting to be sent",
                dropped.receiver
            );
            return false;
        }
        true
    }
}

fn drain(waiting: &Mutex<Queue<Delivery>>, client: &HttpsClient, queued_bytes: &AtomicUsize) {
    loop {
        let next = match waiting.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(delivery) = next else {
            return;
        };
        queued_bytes.fetch_sub(delivery.body.len(), Ordering::SeqCst);
        if let Err(error) = deliver(client, &delivery, Instant::now() + BACKGROUND_TIMEOUT) {
            log_error!("{error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_which_receiver_and_why() {
        let refused = SendError::Refused {
            receiver: "slack-1".to_owned(),
            status: 500,
            body: "invalid_payload".to_owned(),
        };
        assert_eq!(
            refused.to_string(),
            "failed to send notification for receiver slack-1: invalid_payload"
        );
        let empty = SendError::Refused {
            receiver: "slack-1".to_owned(),
            status: 502,
            body: String::new(),
        };
        assert_eq!(
            empty.to_string(),
            "failed to send notification for receiver slack-1: HTTP status 502 with an empty body"
        );
        let timeout = SendError::Transport {
            receiver: "x-0".to_owned(),
            error: HttpError::Timeout {
                host: "hooks.example".to_owned(),
            },
        };
        assert!(timeout.is_timeout());
        assert_eq!(
            timeout.to_string(),
            "failed to send notification for receiver x-0: hooks.example did not answer within the time limit"
        );
    }

    #[test]
    fn a_full_queue_drops_instead_of_growing() {
        // A receiver that accepts connections but never answers keeps both threads busy.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        // Kept open for the rest of the test run: the queued deliveries then wait quietly
        // instead of each logging a refused connection.
        let listener: &'static std::net::TcpListener = Box::leak(Box::new(listener));
        assert!(listener.local_addr().is_ok());
        let background = Background::start(Arc::new(client().unwrap()));
        let delivery = |body: Vec<u8>| Delivery {
            receiver: "hang-0".to_owned(),
            url: url.clone(),
            headers: Vec::new(),
            body,
        };
        let submitted = QUEUE_CAPACITY + BACKGROUND_THREADS + 50;
        let queued = (0..submitted)
            .filter(|_| background.submit(delivery(b"{}".to_vec())))
            .count();
        assert!(queued <= QUEUE_CAPACITY + BACKGROUND_THREADS, "{queued}");
        assert!(queued >= QUEUE_CAPACITY, "{queued}");
        let waiting = background.queued_bytes.load(Ordering::SeqCst);
        assert!(waiting <= QUEUE_CAPACITY * 2, "{waiting}");
        assert!(!background.submit(delivery(vec![b' '; QUEUE_BYTES + 1])));
        assert!(background.queued_bytes.load(Ordering::SeqCst) <= QUEUE_CAPACITY * 2);
    }
}
