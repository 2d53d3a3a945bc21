//! SIGTERM and SIGINT: the listener closes, idle connections close, requests in flight are
//! finished and answered with `Connection: close` (`/ready` turning 503), and the process
//! exits 0 when drained or when the grace period ends.

mod support;

use std::net::TcpStream;
use std::time::Duration;

use support::requests::{admission_review, get, review_verdict};
use support::{Client, Server};

const EXIT_WAIT: Duration = Duration::from_secs(15);

/// Sends a complete `/health` request and, in the same write, the first part of `next`;
/// once `/health` is answered the server holds that part: the request is in flight.
fn start_in_flight(client: &mut Client, head_part: &[u8]) {
    let mut bytes = get("/health");
    bytes.extend_from_slice(head_part);
    client.send(&bytes);
    assert_eq!(client.read_response().status, 200);
}

fn refused(server: &Server) -> bool {
    match TcpStream::connect_timeout(&server.addr, Duration::from_secs(2)) {
        Err(_) => true,
        Ok(tcp) => {
            // Accepted by the kernel before the listener closed: it must not be served.
            let Some(config) = server.tls.clone() else {
                return false;
            };
            Client::tls(tcp, config).is_err()
        }
    }
}

#[test]
fn sigterm_finishes_requests_in_flight_and_exits_0() {
    let mut server = Server::start(&["--grace-period", "30"]);
    let body = admission_review("drain");
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first_half, second_half) = body.split_at(body.len() / 2);

    let mut mutating = server.connect();
    let mut in_flight = head.into_bytes();
    in_flight.extend_from_slice(first_half);
    start_in_flight(&mut mutating, &in_flight);

    let mut probing = server.connect();
    start_in_flight(&mut probing, b"GET /ready HTTP/1.1\r\n");

    let mut idle = server.connect();
    idle.send(&get("/health"));
    assert_eq!(idle.read_response().status, 200);

    server.signal(libc::SIGTERM);
    assert!(
        idle.closed_within(Duration::from_secs(10)),
        "idle connection kept open"
    );
    assert!(
        server.eventually(Duration::from_secs(10), || refused(&server)),
        "new connections still served after SIGTERM"
    );
    assert!(
        server.wait_exit(Duration::from_millis(200)).is_none(),
        "exited with requests in flight"
    );

    mutating.send(second_half);
    let resp = mutating.read_response();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(review_verdict(&resp.body).0, "drain");
    assert!(
        resp.says_close(),
        "in-flight answer without Connection: close"
    );
    assert!(mutating.closed_within(Duration::from_secs(10)));

    probing.send(b"Host: localhost\r\n\r\n");
    let resp = probing.read_response();
    assert_eq!(resp.status, 503, "/ready while draining");
    assert!(resp.says_close());
    assert!(probing.closed_within(Duration::from_secs(10)));

    let status = server
        .wait_exit(EXIT_WAIT)
        .expect("server exits once drained");
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

#[test]
fn sigterm_when_idle_exits_0() {
    let mut server = Server::start(&[]);
    let _idle = server.connect();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(EXIT_WAIT).expect("server exits");
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

#[test]
fn sigint_exits_0() {
    let mut server = Server::start(&[]);
    server.signal(libc::SIGINT);
    let status = server.wait_exit(EXIT_WAIT).expect("server exits");
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

#[test]
fn grace_period_ends_a_stuck_request_and_exits_0() {
    let mut server = Server::start(&["--grace-period", "1", "--read-timeout", "60"]);
    let mut stuck = server.connect();
    start_in_flight(&mut stuck, b"GET /health HTTP/1.1\r\n");
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(EXIT_WAIT)
        .expect("server exits after its grace period");
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(stuck.closed_within(Duration::from_secs(5)));
}
