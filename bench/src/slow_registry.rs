//! `slow-registry`: a registry that never answers in time. It accepts every TCP connection,
//! reads and discards whatever arrives, and closes the connection after a fixed hold (default
//! 5 s), so each validation against it waits that long. Standard library only, one thread per
//! held connection. Prints `accepted=N waiting=M max_waiting=K` whenever a connection starts
//! waiting (has sent its first bytes: a silent one, like a port check, is no request) or is
//! closed, so the bench can show how many validations were waiting at once.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: slow-registry --listen 127.0.0.1:PORT [--hold-ms N]

Accepts TCP connections, discards what they send, closes each after N ms (default 5000).
";

/// Connection counts, shared by the accept loop and the connection threads.
#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    waiting: AtomicUsize,
    max_waiting: AtomicUsize,
}

impl Counts {
    fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }

    fn started_waiting(&self) {
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_waiting.fetch_max(waiting, Ordering::SeqCst);
        self.print();
    }

    fn stopped_waiting(&self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.print();
    }

    fn print(&self) {
        let line = format!(
            "accepted={} waiting={} max_waiting={}\n",
            self.accepted.load(Ordering::SeqCst),
            self.waiting.load(Ordering::SeqCst),
            self.max_waiting.load(Ordering::SeqCst)
        );
        // Status lines only: a closed stdout must not stop the registry from being slow.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// Holds `tcp` open for `hold`, draining what the peer sends, then closes it. Whether the
/// peer sent anything.
fn hold_then_close(mut tcp: TcpStream, hold: Duration, counts: &Counts) -> bool {
    let until = Instant::now() + hold;
    let mut sink = [0u8; 4096];
    let mut waiting = false;
    loop {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return waiting;
        };
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            return waiting;
        }
        match tcp.read(&mut sink) {
            // The peer gave up: stay silent until the hold is over anyway.
            Ok(0) => {
                thread::sleep(left);
                return waiting;
            }
            Ok(_) if !waiting => {
                waiting = true;
                counts.started_waiting();
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return waiting,
        }
    }
}

fn serve(listener: TcpListener, hold: Duration, counts: Arc<Counts>) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        counts.accepted();
        let counts = Arc::clone(&counts);
        thread::spawn(move || {
            if hold_then_close(tcp, hold, &counts) {
                counts.stopped_waiting();
            }
        });
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listen = None;
    let mut hold = Duration::from_millis(5000);
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter.next();
        match (flag.as_str(), value) {
            ("--listen", Some(value)) => listen = Some(value.clone()),
            ("--hold-ms", Some(value)) => match value.parse() {
                Ok(ms) => hold = Duration::from_millis(ms),
                Err(_) => {
                    eprintln!("slow-registry: invalid --hold-ms '{value}'\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(listen) = listen else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match TcpListener::bind(&listen) {
        Ok(listener) => {
            serve(listener, hold, Arc::new(Counts::default()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("slow-registry: cannot listen on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_each_connection_then_closes_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = Duration::from_millis(300);
        let counts = Arc::new(Counts::default());
        let seen = Arc::clone(&counts);
        thread::spawn(move || serve(listener, hold, seen));
        let started = Instant::now();
        // A port check: connects, sends nothing; it is not a waiting request.
        drop(TcpStream::connect(addr).unwrap());
        let clients: Vec<_> = (0..3)
            .map(|_| {
                thread::spawn(move || {
                    let mut tcp = TcpStream::connect(addr).unwrap();
                    tcp.write_all(b"GET /v2/ HTTP/1.1\r\n\r\n").unwrap();
                    let mut answer = Vec::new();
                    tcp.read_to_end(&mut answer).unwrap();
                    answer
                })
            })
            .collect();
        for client in clients {
            assert!(client.join().unwrap().is_empty(), "it must never answer");
        }
        let waited = started.elapsed();
        assert!(waited >= hold, "closed after {waited:?}");
        assert!(
            waited < hold * 3,
            "connections were held one after another: {waited:?}"
        );
    }
}
