//! TLS as a client sees it: ALPN `http/1.1` only, TLS 1.2 and 1.3 both accepted, and the
//! self-signed certificate generated at startup is the one whose fingerprint is logged.

mod support;

use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::ProtocolVersion;
use support::client::{trusting_with, Client};
use support::requests::get;
use support::{fingerprint, Certificate, Mode, Server, TempDir, ANSWER_TIMEOUT};

/// A server with a certificate the test knows, for clients configured per test.
fn server_and_cert() -> (Server, CertificateDer<'static>) {
    let server = Server::start(&[]);
    let cert = server.cert.clone().expect("a test certificate");
    (server, cert)
}

fn connect_with(server: &Server, config: Arc<rustls::ClientConfig>) -> Client {
    let tcp = TcpStream::connect_timeout(&server.addr, ANSWER_TIMEOUT).expect("tcp connect");
    Client::tls(tcp, config).expect("TLS handshake")
}

#[test]
fn alpn_picks_http_1_1_when_h2_is_offered() {
    let (server, cert) = server_and_cert();
    let config = trusting_with(&cert, rustls::ALL_VERSIONS, &[b"h2", b"http/1.1"]);
    let mut client = connect_with(&server, config);
    let session = client.tls_session().expect("a TLS session");
    assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
}

#[test]
fn alpn_h2_only_client_is_not_given_h2() {
    let (server, cert) = server_and_cert();
    let config = trusting_with(&cert, rustls::ALL_VERSIONS, &[b"h2"]);
    let tcp = TcpStream::connect_timeout(&server.addr, ANSWER_TIMEOUT).expect("tcp connect");
    // rustls servers refuse a handshake without a common protocol; either way, never h2.
    if let Ok(client) = Client::tls(tcp, config) {
        let session = client.tls_session().expect("a TLS session");
        assert_ne!(session.alpn_protocol(), Some(&b"h2"[..]));
    }
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn tls_1_2_only_client_connects() {
    let (server, cert) = server_and_cert();
    let config = trusting_with(&cert, &[&rustls::version::TLS12], &[b"http/1.1"]);
    let mut client = connect_with(&server, config);
    assert_eq!(
        client.tls_session().and_then(|s| s.protocol_version()),
        Some(ProtocolVersion::TLSv1_2)
    );
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
}

#[test]
fn tls_1_3_only_client_connects() {
    let (server, cert) = server_and_cert();
    let config = trusting_with(&cert, &[&rustls::version::TLS13], &[b"http/1.1"]);
    let mut client = connect_with(&server, config);
    assert_eq!(
        client.tls_session().and_then(|s| s.protocol_version()),
        Some(ProtocolVersion::TLSv1_3)
    );
    client.send(&get("/health"));
    assert_eq!(client.read_response().status, 200);
}

#[test]
fn self_signed_mode_logs_the_fingerprint_of_the_served_certificate() {
    // The harness pins the logged fingerprint: the handshake only succeeds if they match.
    let mut server = Server::start_with(Mode::SelfSigned, &[]);
    let logged = server.wait_for_fingerprint();
    let client = server.connect();
    let served = client
        .tls_session()
        .and_then(|s| s.peer_certificates())
        .and_then(|chain| chain.first())
        .expect("the server presented a certificate");
    assert_eq!(fingerprint(served), logged);
}

#[test]
fn the_client_rejects_a_certificate_it_does_not_trust() {
    // Guards the harness itself: a client trusting another certificate must fail.
    let server = Server::start(&[]);
    let other_dir = TempDir::new();
    let other = Certificate::generate(other_dir.path());
    let config = trusting_with(&other.der, rustls::ALL_VERSIONS, &[b"http/1.1"]);
    let tcp = TcpStream::connect_timeout(&server.addr, ANSWER_TIMEOUT).expect("tcp connect");
    assert!(Client::tls(tcp, config).is_err());
}
