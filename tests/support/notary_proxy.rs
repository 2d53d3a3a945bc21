//! A hostile stand-in for a Notary server: a TLS server (the real server's certificate, so
//! the validator trusts it as it trusts the real one) that answers each path with what the
//! test set: trust data captured from the real `notary-server`, tampered or swapped copies,
//! a 500, a body announced as 2 GB of which only a little is sent, a connection that is
//! never answered, or a token server that refuses. Unset paths answer 404.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How one path is answered.
#[derive(Clone)]
pub enum Answer {
    /// A complete response.
    Body { status: u16, body: Vec<u8> },
    /// `Content-Length` announces `announced` bytes, `sent` are written, the connection held.
    Announce { announced: u64, sent: Vec<u8> },
    /// The request is read and never answered.
    Hang,
    /// 401 with a Bearer challenge whose realm is this server's `/token`.
    Challenge,
}

impl Answer {
    pub fn json(body: &[u8]) -> Answer {
        Answer::Body {
            status: 200,
            body: body.to_vec(),
        }
    }

    pub fn status(status: u16) -> Answer {
        Answer::Body {
            status,
            body: Vec::new(),
        }
    }
}

/// The running stand-in; its threads end when it is dropped.
pub struct NotaryProxy {
    pub port: u16,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    stopped: Arc<AtomicBool>,
}

impl NotaryProxy {
    pub fn start(tls: Arc<ServerConfig>) -> NotaryProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("non-blocking accept");
        let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let stopped = Arc::new(AtomicBool::new(false));
        let (shared, stop) = (Arc::clone(&answers), Arc::clone(&stopped));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (tls, answers, stop) =
                            (Arc::clone(&tls), Arc::clone(&shared), Arc::clone(&stop));
                        thread::spawn(move || serve(tcp, tls, port, &answers, &stop));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        NotaryProxy {
            port,
            answers,
            stopped,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Answers `path` (e.g. `/v2/`) with `answer` from now on.
    pub fn set(&self, path: &str, answer: Answer) {
        self.answers
            .lock()
            .expect("answers lock")
            .insert(path.to_owned(), answer);
    }

    /// Answers `role` of `gun` with `answer` from now on.
    pub fn set_role(&self, gun: &str, role: &str, answer: Answer) {
        self.set(&format!("/v2/{gun}/_trust/tuf/{role}.json"), answer);
    }
}

impl Drop for NotaryProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

fn serve(
    tcp: TcpStream,
    tls: Arc<ServerConfig>,
    port: u16,
    answers: &Mutex<HashMap<String, Answer>>,
    stopped: &AtomicBool,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(connection) = ServerConnection::new(tls) else {
        return;
    };
    let mut stream = StreamOwned::new(connection, tcp);
    loop {
        let Some(path) = read_request_path(&mut stream) else {
            return;
        };
        let answer = answers
            .lock()
            .ok()
            .and_then(|answers| answers.get(&path).cloned())
            .unwrap_or_else(|| Answer::status(404));
        let head = |status: u16, length: u64, extra: &str| {
            format!("HTTP/1.1 {status} X\r\nContent-Length: {length}\r\n{extra}\r\n")
        };
        let written = match answer {
            Answer::Body { status, body } => stream
                .write_all(
                    head(
                        status,
                        body.len() as u64,
                        "Content-Type: application/json\r\n",
                    )
                    .as_bytes(),
                )
                .and_then(|()| stream.write_all(&body)),
            Answer::Challenge => {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"https://127.0.0.1:{port}/token\",service=\"notary\"\r\n"
                );
                stream.write_all(head(401, 0, &challenge).as_bytes())
            }
            Answer::Announce { announced, sent } => {
                let _ = stream
                    .write_all(head(200, announced, "").as_bytes())
                    .and_then(|()| stream.write_all(&sent))
                    .and_then(|()| stream.flush());
                hold(stopped);
                return;
            }
            Answer::Hang => {
                hold(stopped);
                return;
            }
        };
        if written.and_then(|()| stream.flush()).is_err() {
            return;
        }
    }
}

/// Keeps a connection open, unanswered, until the proxy is dropped (or a minute passed).
fn hold(stopped: &AtomicBool) {
    for _ in 0..600 {
        if stopped.load(Ordering::Relaxed) {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Reads one request head (the validator sends GETs without bodies) and returns its path.
fn read_request_path(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    let target = line.split(' ').nth(1)?;
    Some(target.split('?').next().unwrap_or(target).to_owned())
}
