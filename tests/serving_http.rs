//! The real binary over real TLS: routes and their exact texts, and HTTP/1.1 framing
//! (keep-alive, pipelining, chunked bodies, 100-continue, HTTP/1.0, Connection: close).

mod support;

use std::time::Duration;

use support::requests::{admission_review, chunked, get, mutate, request, review_verdict};
use support::{Mode, Server};

const CLOSE_WAIT: Duration = Duration::from_secs(10);

#[test]
fn health_and_ready_answer_200_with_an_empty_body() {
    let server = Server::start(&[]);
    for path in ["/health", "/ready"] {
        let resp = server.get(path);
        assert_eq!(resp.status, 200, "{path}");
        assert!(resp.body.is_empty(), "{path}: {:?}", resp.text());
        assert_eq!(resp.header("content-length"), Some("0"), "{path}");
    }
}

#[test]
fn probes_refuse_other_methods_with_connaisseurs_text() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for path in ["/health", "/ready"] {
        for method in ["POST", "PUT", "DELETE"] {
            client.send(&request(method, path, &[], b""));
            let resp = client.read_response();
            assert_eq!(resp.status, 405, "{method} {path}");
            assert_eq!(resp.text(), "Method not allowed.\n", "{method} {path}");
        }
    }
}

#[test]
fn unknown_path_is_404() {
    let server = Server::start(&[]);
    assert_eq!(server.get("/nope").status, 404);
    assert_eq!(server.get("/mutate/extra").status, 404);
    assert_eq!(server.get("/").status, 404);
}

#[test]
fn metrics_is_prometheus_text() {
    let server = Server::start(&[]);
    let resp = server.get("/metrics");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        resp.text().contains("# TYPE http_request_total counter"),
        "{}",
        resp.text()
    );
    let mut client = server.connect();
    client.send(&request("POST", "/metrics", &[], b""));
    assert_eq!(client.read_response().status, 405);
}

#[test]
fn mutate_refuses_other_methods_naming_them() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for method in ["GET", "PUT", "PATCH"] {
        client.send(&request(method, "/mutate", &[], b""));
        let resp = client.read_response();
        assert_eq!(resp.status, 405, "{method}");
        assert_eq!(resp.text(), format!("Method not allowed.: {method}\n"));
    }
}

#[test]
fn mutate_requires_exactly_application_json() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let body = admission_review("ct");
    for content_type in ["text/plain", "application/json; charset=utf-8"] {
        let header = format!("Content-Type: {content_type}");
        client.send(&request("POST", "/mutate", &[&header], &body));
        let resp = client.read_response();
        assert_eq!(resp.status, 400, "{content_type}");
        assert_eq!(
            resp.text(),
            format!("wrong content type: expected json, got {content_type}\n")
        );
    }
    client.send(&request("POST", "/mutate", &[], &body));
    let resp = client.read_response();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.text(), "wrong content type: expected json, got \n");
}

#[test]
fn mutate_answers_an_admission_review_echoing_its_uid() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(&mutate(&admission_review("0f1e2d3c-uid")));
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let (uid, allowed) = review_verdict(&resp.body);
    assert_eq!(uid, "0f1e2d3c-uid");
    assert!(!allowed, "the default configuration denies everything");
}

#[test]
fn mutate_accepts_the_api_servers_timeout_query() {
    // The Kubernetes API server calls webhooks as `/mutate?timeout=10s`.
    let server = Server::start(&[]);
    let mut client = server.connect();
    let body = admission_review("with-query");
    client.send(&request(
        "POST",
        "/mutate?timeout=10s",
        &["Content-Type: application/json"],
        &body,
    ));
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "with-query");
    client.send(&get("/health?probe=1"));
    assert_eq!(client.read_response().status, 200);
}

#[test]
fn mutate_rejects_invalid_json_with_400() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(&mutate(b"{\"request\": "));
    let resp = client.read_response();
    assert_eq!(resp.status, 400);
    assert!(
        resp.text().starts_with("received invalid json: "),
        "{}",
        resp.text()
    );
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for i in 0..5 {
        client.send(&get("/health"));
        let resp = client.read_response();
        assert_eq!(resp.status, 200, "request {i}");
        assert!(!resp.says_close(), "request {i}");
        let uid = format!("keep-{i}");
        client.send(&mutate(&admission_review(&uid)));
        let resp = client.read_response();
        assert_eq!(resp.status, 200, "mutate {i}");
        assert_eq!(review_verdict(&resp.body).0, uid);
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut burst = get("/health");
    burst.extend(get("/missing"));
    burst.extend(request("POST", "/ready", &[], b""));
    client.send(&burst);
    let statuses: Vec<u16> = (0..3).map(|_| client.read_response().status).collect();
    assert_eq!(statuses, [200, 404, 405]);
    assert!(client.leftover().is_empty());
}

#[test]
fn pipelined_mutate_requests_keep_their_order() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut burst = Vec::new();
    for i in 0..3 {
        burst.extend(mutate(&admission_review(&format!("pipe-{i}"))));
    }
    client.send(&burst);
    for i in 0..3 {
        let resp = client.read_response();
        assert_eq!(resp.status, 200);
        assert_eq!(review_verdict(&resp.body).0, format!("pipe-{i}"));
    }
}

#[test]
fn chunked_body_in_three_chunks() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut bytes = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    bytes.extend(chunked(&admission_review("chunked-3"), 3));
    client.send(&bytes);
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "chunked-3");
}

#[test]
fn chunked_body_sent_in_separate_writes() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    let body = chunked(&admission_review("chunked-split"), 3);
    for piece in body.chunks(7) {
        client.send(piece);
    }
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "chunked-split");
}

#[test]
fn chunked_body_with_extension_and_trailer() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let body = admission_review("chunked-ext");
    let (first, second) = body.split_at(body.len() / 2);
    let mut bytes = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    bytes.extend(format!("{:X};name=value\r\n", first.len()).as_bytes());
    bytes.extend(first);
    bytes.extend(b"\r\n");
    bytes.extend(format!("{:x};flag\r\n", second.len()).as_bytes());
    bytes.extend(second);
    bytes.extend(b"\r\n0;last=1\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n");
    client.send(&bytes);
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "chunked-ext");
    // The connection is still in step after the trailer.
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
}

#[test]
fn expect_100_continue_gets_an_interim_answer() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let body = admission_review("continue");
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.send(head.as_bytes());
    let interim = client.read_response();
    assert_eq!(interim.status, 100);
    client.send(&body);
    let resp = client.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "continue");
}

#[test]
fn http_1_0_is_answered_then_closed() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(b"GET /health HTTP/1.0\r\n\r\n");
    let resp = client.read_response();
    assert_eq!(resp.status, 200);
    assert!(
        client.closed_within(CLOSE_WAIT),
        "HTTP/1.0 without keep-alive stays open"
    );
}

#[test]
fn http_1_0_keep_alive_stays_open() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for _ in 0..2 {
        client.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let resp = client.read_response();
        assert_eq!(resp.status, 200);
        assert!(!resp.says_close());
    }
}

#[test]
fn connection_close_is_honoured() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client.send(&request("GET", "/health", &["Connection: close"], b""));
    let resp = client.read_response();
    assert_eq!(resp.status, 200);
    assert!(resp.says_close());
    assert!(client.closed_within(CLOSE_WAIT));
}

#[test]
fn plain_http_mode_serves_without_tls() {
    let server = Server::start_with(Mode::Plain, &[]);
    assert!(server.tls.is_none());
    let mut client = server.connect();
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
    client.send(&mutate(&admission_review("plain")));
    let resp = client.read_response();
    assert_eq!(resp.status, 200);
    assert_eq!(review_verdict(&resp.body).0, "plain");
    assert!(server.log().contains("--plain-http"), "{}", server.log());
}
