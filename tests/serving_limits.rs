//! Error statuses and limits: malformed requests (400), smuggling shapes (400 + close),
//! body and header limits (413, 431), slowloris (408), idle keep-alive timeout, and the
//! connection limit.

mod support;

use std::io;
use std::time::{Duration, Instant};

use support::requests::{get, request};
use support::{Client, Response, Server};

const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Asserts the answer has `status`, says `Connection: close`, and the connection closes.
fn assert_rejected_and_closed(client: &mut Client, resp: &Response, status: u16) {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert!(
        resp.says_close(),
        "{status} without Connection: close: {:?}",
        resp.headers
    );
    assert!(
        client.closed_within(CLOSE_WAIT),
        "connection left open after {status}"
    );
}

#[test]
fn garbage_request_line_is_400_and_close() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(b"HELLO THERE\x01\x02 what\r\n\r\n");
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 400);
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn content_length_with_transfer_encoding_is_400_and_close() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(
        b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 400);
}

#[test]
fn differing_duplicate_content_lengths_are_400_and_close() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(
        b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    );
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 400);
}

#[test]
fn bad_chunk_size_is_400_and_close() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(
        b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    );
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 400);
}

#[test]
fn http2_preface_is_505_and_close() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 505);
}

#[test]
fn body_over_the_limit_is_413_as_soon_as_the_head_says_so() {
    let server = Server::start(&["--max-body-bytes", "1024"]);
    let mut client = server.connect();
    // Only the head is sent: the server must not wait for the body to refuse it.
    client.send(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1025\r\n\r\n");
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 413);
}

#[test]
fn body_at_the_limit_is_accepted() {
    let server = Server::start(&["--max-body-bytes", "1024"]);
    let mut client = server.connect();
    let body = vec![b' '; 1024];
    client.send(&request("POST", "/nowhere", &[], &body));
    assert_eq!(client.read_response().status, 404);
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let server = Server::start(&["--max-body-bytes", "1024"]);
    let mut client = server.connect();
    let mut bytes = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        bytes.extend(b"200\r\n");
        bytes.extend([b' '; 0x200]);
        bytes.extend(b"\r\n");
    }
    bytes.extend(b"0\r\n\r\n");
    client.send(&bytes);
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 413);
}

#[test]
fn expect_100_continue_over_the_body_limit_is_413_without_continue() {
    let server = Server::start(&["--max-body-bytes", "1024"]);
    let mut client = server.connect();
    client.send(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 413);
}

#[test]
fn header_block_over_the_limit_is_431() {
    let server = Server::start(&["--max-header-bytes", "2048"]);
    let mut client = server.connect();
    let filler = format!("X-Filler: {}", "a".repeat(2100));
    client.send(&request("GET", "/health", &[&filler], b""));
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 431);
}

#[test]
fn method_not_allowed_and_not_found_keep_the_connection() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(&request("DELETE", "/health", &[], b""));
    assert_eq!(client.read_response().status, 405);
    client.send(&get("/not/here"));
    assert_eq!(client.read_response().status, 404);
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
}

#[test]
fn slowloris_gets_408_within_the_read_timeout() {
    let server = Server::start(&["--read-timeout", "1"]);
    let mut client = server.connect();
    client.send(b"GET /health HTTP/1.1\r\nHost: localhost\r\n");
    let started = Instant::now();
    // Trickle one header line at a time: each byte arrives well within any per-read
    // timeout, but the request as a whole never completes.
    client.set_read_timeout(Duration::from_millis(200));
    let resp = loop {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no answer to a slowloris request within 15 s"
        );
        let _ = client.try_send(b"X-Slow: 1\r\n");
        match client.try_read_response() {
            Ok(resp) => break resp,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("connection failed before a 408: {e}"),
        }
    };
    assert_rejected_and_closed(&mut client, &resp, 408);
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn half_sent_request_gets_408() {
    let server = Server::start(&["--read-timeout", "1"]);
    let mut client = server.connect();
    client.send(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"a\":");
    let resp = client.read_response();
    assert_rejected_and_closed(&mut client, &resp, 408);
}

#[test]
fn pipelined_connection_close_ends_the_connection_after_its_answer() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut burst = get("/health");
    burst.extend(request("GET", "/health", &["Connection: close"], b""));
    burst.extend(get("/health"));
    client.send(&burst);
    assert!(!client.read_response().says_close());
    assert!(client.read_response().says_close());
    assert!(client.closed_within(CLOSE_WAIT));
    assert!(
        client.leftover().is_empty(),
        "answered past Connection: close"
    );
}

#[test]
fn silent_handshake_is_dropped_and_counted() {
    let server = Server::start(&["--handshake-timeout", "1"]);
    let mut tcp = server.connect_tcp();
    let mut sink = Vec::new();
    // Nothing is sent: the server closes when the handshake deadline passes.
    let _ = std::io::Read::read_to_end(&mut tcp, &mut sink);
    // At most one TLS alert record (content type 21, 7 bytes) comes before the close.
    assert!(
        sink.is_empty() || (sink.len() == 7 && sink.first() == Some(&21)),
        "server sent {sink:?}"
    );
    server.wait_connections(0);
    let scrape = server.scrape();
    assert_eq!(
        scrape.value(
            "tastevin_connections_rejected_total",
            &[("reason", "timeout")]
        ),
        1.0
    );
}

#[test]
fn client_that_never_reads_is_dropped_after_the_write_timeout() {
    let server = Server::start(&["--write-timeout", "1"]);
    let mut client = server.connect();
    // Far more answer bytes than socket buffers hold; the client reads none for a while.
    let burst: Vec<u8> = (0..2000).flat_map(|_| get("/metrics")).collect();
    let _ = client.try_send(&burst);
    std::thread::sleep(Duration::from_secs(4));
    let mut answers = 0;
    while client.try_read_response().is_ok() {
        answers += 1;
    }
    assert!(
        answers < 2000,
        "all {answers} answers arrived: the connection was not dropped"
    );
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn idle_keep_alive_connection_is_closed_quietly() {
    let server = Server::start(&["--idle-timeout", "1"]);
    let mut client = server.connect();
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
    assert!(
        client.closed_within(CLOSE_WAIT),
        "idle connection still open"
    );
    assert!(
        client.leftover().is_empty(),
        "unexpected bytes: {:?}",
        client.leftover()
    );
    // A connection that never sent a request is idle too.
    let mut silent = server.connect();
    assert!(
        silent.closed_within(CLOSE_WAIT),
        "silent connection still open"
    );
}

#[test]
fn connection_limit_closes_the_excess_counts_it_and_recovers() {
    let server = Server::start(&["--max-connections", "4"]);
    server.wait_connections(0);
    let mut held: Vec<Client> = (0..4).map(|_| server.connect()).collect();
    for client in &mut held {
        client.send(&get("/health"));
        assert_eq!(client.read_response().status, 200);
    }
    // The fifth is accepted and closed at once: its handshake cannot complete.
    assert!(
        server.try_connect().is_err(),
        "a fifth connection was served"
    );
    drop(held);
    server.wait_connections(0);
    let scrape = server.scrape();
    assert_eq!(
        scrape.value(
            "tastevin_connections_rejected_total",
            &[("reason", "limit")]
        ),
        1.0
    );
    assert_eq!(scrape.value("tastevin_connections_open", &[]), 1.0);
    server.wait_connections(0);
    let mut again: Vec<Client> = (0..4).map(|_| server.connect()).collect();
    for client in &mut again {
        client.send(&get("/health"));
        assert_eq!(client.read_response().status, 200);
    }
}
