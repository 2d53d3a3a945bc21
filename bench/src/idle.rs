//! The idle-connections scenario: open many connections that complete the TLS handshake and
//! then send nothing, and see what holding them costs the server in resident memory.

use std::thread;
use std::time::{Duration, Instant};

use crate::connection::{Dialer, ErrorKind};
use crate::rss;

pub struct IdleResult {
    pub requested: usize,
    pub opened: usize,
    pub errors: [u64; ErrorKind::ALL.len()],
    pub open_time: Duration,
    pub rss_before_kib: Option<u64>,
    pub rss_with_idle_kib: Option<u64>,
    pub rss_after_close_kib: Option<u64>,
}

/// Opens `count` connections one after the other, waits `settle` so the server has processed
/// the last handshake messages, reads the server's RSS, then closes them all.
pub fn run(dialer: &Dialer, count: usize, settle: Duration, server_pid: Option<u32>) -> IdleResult {
    let rss = || server_pid.and_then(rss::vm_rss_kib);
    let rss_before_kib = rss();
    let mut errors = [0; ErrorKind::ALL.len()];
    let mut open = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        match dialer.connect() {
            Ok(conn) => open.push(conn),
            Err(kind) => {
                if let Some(n) = errors.get_mut(kind.index()) {
                    *n += 1;
                }
            }
        }
    }
    let open_time = started.elapsed();
    thread::sleep(settle);
    let rss_with_idle_kib = rss();
    let opened = open.len();
    drop(open);
    thread::sleep(settle);
    IdleResult {
        requested: count,
        opened,
        errors,
        open_time,
        rss_before_kib,
        rss_with_idle_kib,
        rss_after_close_kib: rss(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn holds_connections_and_counts_failures() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let dialer = Dialer {
            addr: listener.local_addr().unwrap(),
            tls: None,
            io_timeout: Duration::from_secs(1),
        };
        let result = run(
            &dialer,
            5,
            Duration::from_millis(1),
            Some(std::process::id()),
        );
        assert_eq!((result.requested, result.opened), (5, 5));
        assert!(result.rss_with_idle_kib.is_some());
        drop(listener);
        let result = run(&dialer, 3, Duration::ZERO, None);
        assert_eq!(result.opened, 0);
        assert_eq!(result.errors[ErrorKind::Connect.index()], 3);
        assert_eq!(result.rss_before_kib, None);
    }
}
