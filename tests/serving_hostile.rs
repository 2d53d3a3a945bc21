//! Hostile inputs: a declared 10 MB body, a 100 KB header, garbage inside and outside TLS,
//! half-closed sockets, and 2,000 connections at once. After each, the server still serves
//! others, and its memory stays bounded.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use support::requests::{admission_review, get, review_verdict};
use support::{procfs, Server, ANSWER_TIMEOUT};

const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Deterministic bytes that are neither HTTP nor TLS.
fn garbage(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

#[test]
fn ten_megabyte_body_is_refused_without_reading_it() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut bytes = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n".to_vec();
    bytes.extend(vec![b' '; 64 * 1024]);
    let _ = client.try_send(&bytes);
    let resp = client.read_response();
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert!(resp.says_close());
    assert!(client.closed_within(CLOSE_WAIT));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn endless_chunk_extensions_and_trailers_are_refused_in_bounded_memory() {
    let server = Server::start(&[]);
    let head = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut long_extension = head.to_vec();
    long_extension.extend(b"2;");
    long_extension.extend(vec![b'e'; 1024 * 1024]);
    long_extension.extend(b"\r\n{}\r\n0\r\n\r\n");
    let mut long_trailer = head.to_vec();
    long_trailer.extend(b"2\r\n{}\r\n0\r\n");
    long_trailer.extend(b"X-Trailer: tttttttttttttttttttt\r\n".repeat(40_000));
    long_trailer.extend(b"\r\n");
    for (name, bytes) in [("extension", long_extension), ("trailer", long_trailer)] {
        let mut client = server.connect();
        let _ = client.try_send(&bytes);
        let resp = client.read_response();
        // Which 4xx is a matter of taste; that the request is refused and dropped is not.
        assert!(
            matches!(resp.status, 400 | 413 | 431),
            "{name}: {}",
            resp.status
        );
        assert!(resp.says_close(), "{name}");
        assert!(client.closed_within(CLOSE_WAIT), "{name}");
    }
    let rss = procfs::vm_rss_bytes(server.pid());
    assert!(rss < 64 * 1024 * 1024, "VmRSS {} MiB", rss >> 20);
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn hundred_kilobyte_header_is_431() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let filler = format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "b".repeat(100 * 1024)
    );
    // The server may refuse and close before reading it all; the answer still comes.
    let _ = client.try_send(filler.as_bytes());
    let resp = client.read_response();
    assert_eq!(resp.status, 431, "{}", resp.text());
    assert!(client.closed_within(CLOSE_WAIT));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn garbage_head_inside_tls_is_400_and_close() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut bytes = garbage(4096, 7);
    bytes.extend(b"\r\n\r\n");
    let _ = client.try_send(&bytes);
    let resp = client.read_response();
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(client.closed_within(CLOSE_WAIT));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn endless_garbage_inside_tls_is_refused_and_closed() {
    let server = Server::start(&["--read-timeout", "2"]);
    let mut client = server.connect();
    // No blank line ever ends this head: it is refused as malformed or, at the latest,
    // when the read timeout expires.
    let _ = client.try_send(&garbage(4096, 7));
    let resp = client.read_response();
    assert!(
        matches!(resp.status, 400 | 408),
        "{} {}",
        resp.status,
        resp.text()
    );
    assert!(client.closed_within(CLOSE_WAIT));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn non_tls_bytes_on_the_tls_port_are_dropped_and_counted() {
    let server = Server::start(&[]);
    for payload in [
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        garbage(2048, 11),
    ] {
        let mut tcp = server.connect_tcp();
        let _ = tcp.write_all(&payload);
        let mut sink = Vec::new();
        // Whatever comes back (at most a TLS alert), the connection ends.
        let _ = std::io::Read::read_to_end(&mut tcp, &mut sink);
        assert!(
            sink.len() < 64,
            "answered non-TLS bytes with {} bytes",
            sink.len()
        );
    }
    server.wait_connections(0);
    let scrape = server.scrape();
    assert_eq!(
        scrape.value("tastevin_connections_rejected_total", &[("reason", "tls")]),
        2.0
    );
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn half_closed_client_still_gets_its_answers() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut bytes = get("/health");
    bytes.extend(get("/nowhere"));
    client.send(&bytes);
    client.shutdown_write();
    assert_eq!(client.read_response().status, 200);
    assert_eq!(client.read_response().status, 404);
    assert!(client.closed_within(CLOSE_WAIT));
}

#[test]
fn half_closed_mutate_still_gets_its_verdict() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(&support::requests::mutate(&admission_review("half")));
    client.shutdown_write();
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "half");
}

#[test]
fn plain_tcp_half_close_after_a_request_gets_its_answer() {
    let server = Server::start_with(support::Mode::Plain, &[]);
    let mut client = server.connect();
    client.send(&get("/health"));
    client.shutdown_write();
    assert_eq!(client.read_response().status, 200);
    assert!(client.closed_within(CLOSE_WAIT));
}

/// Raises this process's open-files limit so that `connections` sockets fit, with room to
/// spare; the server started afterwards inherits the limit and needs the same.
fn allow_open_files(connections: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the valid struct passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let wanted = connections + 1024;
        if limit.rlim_cur < wanted {
            assert!(
                limit.rlim_max >= wanted,
                "open-files hard limit {} is below {wanted}: raise it (ulimit -Hn)",
                limit.rlim_max
            );
            limit.rlim_cur = wanted;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

#[test]
fn two_thousand_connections_at_once_leave_the_server_serving_in_bounded_memory() {
    const CONNECTIONS: usize = 2000;
    allow_open_files(CONNECTIONS as u64);
    let server = Server::start(&["--max-connections", "2100", "--handshake-timeout", "120"]);
    let config = server.tls.clone().expect("a TLS server");
    let mut held = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let mut tcp = TcpStream::connect_timeout(&server.addr, ANSWER_TIMEOUT)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        // Each starts a handshake and stops after its ClientHello.
        let name = ServerName::try_from("localhost").expect("server name");
        let mut tls = ClientConnection::new(config.clone(), name).expect("client session");
        while tls.wants_write() {
            tls.write_tls(&mut tcp).expect("send a ClientHello");
        }
        held.push(tcp);
    }
    server.wait_connections(CONNECTIONS);
    let resp = server.get("/health");
    assert_eq!(resp.status, 200);
    let rss = procfs::vm_rss_bytes(server.pid());
    assert!(
        rss < 64 * 1024 * 1024,
        "VmRSS {} MiB with {CONNECTIONS} connections",
        rss >> 20
    );
    let scrape = server.scrape();
    assert_eq!(
        scrape.value(
            "tastevin_connections_rejected_total",
            &[("reason", "limit")]
        ),
        0.0
    );
    drop(held);
    server.wait_connections(0);
    assert_eq!(server.get("/health").status, 200);
}
