//! Hot reload of the serving certificate and the configuration, mounted the way the
//! kubelet mounts Secrets and ConfigMaps (`name -> ..data/name`, `..data` swapped to a new
//! directory): new connections get the new certificate while a keep-alive connection keeps
//! being answered, the next request uses a new policy, and a broken configuration is
//! refused and counted while the previous one stays in force.

mod support;

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use support::{client, metrics::Scrape, requests, Client, TempDir, ANSWER_TIMEOUT};

const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The server checks every second; this leaves room for a busy machine.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

const ALLOW: &str =
    "validators:\n  - name: default\n    type: static\n    approve: true\npolicy:\n  - pattern: \"*:*\"\n";
const DENY: &str =
    "validators:\n  - name: default\n    type: static\n    approve: false\npolicy:\n  - pattern: \"*:*\"\n";
/// Well-formed YAML, but the notaryv1 `cert` is PEM around bytes that are no certificate.
const BAD_PEM: &str = "validators:\n  - name: default\n    type: static\n    approve: false\n  - name: nv1\n    type: notaryv1\n    cert: |\n      -----BEGIN CERTIFICATE-----\n      Z2FyYmFnZQ==\n      -----END CERTIFICATE-----\n    trustRoots: [{name: default, key: x}]\npolicy:\n  - pattern: \"*:*\"\n";
const BROKEN: &str = "validators:\n  - name: default\n    type: static\n    approve: true\n    notAKey: 1\npolicy:\n  - pattern: \"*:*\"\n";

/// Writes `files` as the kubelet updates a volume: a new `..<version>` directory, an
/// atomic rename of `..data` onto it, `name -> ..data/name` links, the old one removed.
fn kubelet_update(dir: &Path, version: &str, files: &[(&str, &str)]) {
    let versioned = dir.join(format!("..{version}"));
    fs::create_dir_all(&versioned).unwrap();
    for (name, text) in files {
        fs::write(versioned.join(name), text).unwrap();
    }
    let data = dir.join("..data");
    let previous = fs::read_link(&data).ok();
    let tmp = dir.join("..data_tmp");
    symlink(format!("..{version}"), &tmp).unwrap();
    fs::rename(&tmp, &data).unwrap();
    if let Some(previous) = previous {
        fs::remove_dir_all(dir.join(previous)).unwrap();
    }
    for (name, _) in files {
        let link = dir.join(name);
        if link.symlink_metadata().is_err() {
            symlink(Path::new("..data").join(name), &link).unwrap();
        }
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost: its PEM texts and DER.
struct Cert {
    pem: String,
    key: String,
    der: CertificateDer<'static>,
}

fn new_cert() -> Cert {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    Cert {
        pem: certified.cert.pem(),
        key: certified.signing_key.serialize_pem(),
        der: certified.cert.der().clone(),
    }
}

fn install_cert(dir: &Path, version: &str, cert: &Cert) {
    kubelet_update(
        dir,
        version,
        &[("tls.crt", &cert.pem), ("tls.key", &cert.key)],
    );
}

fn install_config(dir: &Path, version: &str, text: &str) {
    kubelet_update(dir, version, &[("config.yaml", text)]);
}

/// `tastevin serve` on the mounted-style files, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    tls: Arc<ClientConfig>,
    certs: PathBuf,
    config: PathBuf,
    _dir: TempDir,
}

impl Server {
    fn start(first: &Cert, second: &Cert, config: &str) -> Server {
        let dir = TempDir::new();
        let certs = dir.path().join("certs");
        let config_dir = dir.path().join("config");
        install_cert(&certs, "1", first);
        install_config(&config_dir, "1", config);
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let log = dir.path().join("server.log");
        let out = fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tastevin"))
            .arg("serve")
            .args(["--listen", &addr.to_string(), "--reload-interval", "1"])
            .arg("--cert")
            .arg(certs.join("tls.crt"))
            .arg("--key")
            .arg(certs.join("tls.key"))
            .arg("--config")
            .arg(config_dir.join("config.yaml"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start tastevin");
        let mut roots = RootCertStore::empty();
        roots.add(first.der.clone()).unwrap();
        roots.add(second.der.clone()).unwrap();
        let mut tls = ClientConfig::builder_with_provider(client::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server = Server {
            child,
            addr,
            log,
            tls: Arc::new(tls),
            certs,
            config: config_dir,
            _dir: dir,
        };
        server.wait_until(START_TIMEOUT, "the server to start", || {
            server.try_connect().is_ok()
        });
        server
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_connect(&self) -> std::io::Result<Client> {
        let tcp = TcpStream::connect_timeout(&self.addr, ANSWER_TIMEOUT)?;
        Client::tls(tcp, Arc::clone(&self.tls))
    }

    fn connect(&self) -> Client {
        self.try_connect()
            .unwrap_or_else(|e| panic!("connect: {e}\nlog:\n{}", self.log()))
    }

    /// The certificate a new connection is served.
    fn served_certificate(&self) -> CertificateDer<'static> {
        peer_certificate(&self.connect())
    }

    fn wait_until(&self, timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}\nlog:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer_certificate(client: &Client) -> CertificateDer<'static> {
    client
        .tls_session()
        .and_then(|s| s.peer_certificates())
        .and_then(|chain| chain.first())
        .expect("a peer certificate")
        .clone()
        .into_owned()
}

/// Asks `/mutate` over `client` (keep-alive); whether the pod is admitted.
fn admitted(client: &mut Client, uid: &str) -> bool {
    client.send(&requests::mutate(&requests::admission_review(uid)));
    let answer = client.read_response();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        !answer.says_close(),
        "the server closed the keep-alive connection"
    );
    let (answered_uid, allowed) = requests::review_verdict(&answer.body);
    assert_eq!(answered_uid, uid);
    allowed
}

fn health(client: &mut Client) -> u16 {
    client.send(&requests::get("/health"));
    client.read_response().status
}

fn scrape(client: &mut Client) -> Scrape {
    client.send(&requests::get("/metrics"));
    let answer = client.read_response();
    assert_eq!(answer.status, 200);
    Scrape::parse(&answer.text())
}

#[test]
fn new_certificate_for_new_connections_while_open_ones_keep_being_answered() {
    let (first, second) = (new_cert(), new_cert());
    let server = Server::start(&first, &second, ALLOW);
    let mut open = server.connect();
    assert_eq!(peer_certificate(&open), first.der);
    assert_eq!(health(&mut open), 200);

    install_cert(&server.certs, "2", &second);
    let mut requests_meanwhile = 0;
    server.wait_until(RELOAD_TIMEOUT, "the new certificate", || {
        assert_eq!(
            health(&mut open),
            200,
            "keep-alive connection during the swap"
        );
        requests_meanwhile += 1;
        server.served_certificate() == second.der
    });
    assert!(requests_meanwhile >= 1);
    assert!(admitted(&mut open, "after-cert-swap"));
    assert_eq!(
        peer_certificate(&open),
        first.der,
        "the open session is unchanged"
    );
    assert!(server.log().contains("new serving certificate loaded"));
}

#[test]
fn new_config_applies_to_the_next_request_on_the_same_connection() {
    let cert = new_cert();
    let server = Server::start(&cert, &cert, DENY);
    let mut open = server.connect();
    assert!(!admitted(&mut open, "before"));

    install_config(&server.config, "2", ALLOW);
    let mut asked = 0;
    server.wait_until(RELOAD_TIMEOUT, "the new policy", || {
        asked += 1;
        admitted(&mut open, &format!("during-{asked}"))
    });
    let successes =
        scrape(&mut open).value("tastevin_config_reloads_total", &[("result", "success")]);
    assert!(successes >= 1.0, "reloads counted: {successes}");
}

#[test]
fn broken_config_is_refused_counted_and_the_old_one_stays() {
    let cert = new_cert();
    let server = Server::start(&cert, &cert, ALLOW);
    let mut open = server.connect();
    assert!(admitted(&mut open, "before"));
    let errors = |client: &mut Client| {
        scrape(client)
            .find("tastevin_config_reloads_total", &[("result", "error")])
            .unwrap_or(0.0)
    };
    assert_eq!(errors(&mut open), 0.0);

    install_config(&server.config, "2", BROKEN);
    server.wait_until(RELOAD_TIMEOUT, "the refusal to be counted", || {
        errors(&mut open) >= 1.0
    });
    assert!(admitted(&mut open, "after"), "the previous policy stays");
    let log = server.log();
    assert!(log.contains("refused") && log.contains("notAKey"), "{log}");

    // A fixed file is taken again: deny proves it is the new one.
    install_config(&server.config, "3", DENY);
    server.wait_until(RELOAD_TIMEOUT, "the fixed policy", || {
        !admitted(&mut open, "fixed")
    });
}

#[test]
fn config_with_unparsable_pem_is_refused_and_the_old_one_stays() {
    let cert = new_cert();
    let server = Server::start(&cert, &cert, ALLOW);
    let mut open = server.connect();
    assert!(admitted(&mut open, "before"));
    install_config(&server.config, "2", BAD_PEM);
    server.wait_until(RELOAD_TIMEOUT, "the refusal to be counted", || {
        scrape(&mut open)
            .find("tastevin_config_reloads_total", &[("result", "error")])
            .unwrap_or(0.0)
            >= 1.0
    });
    assert!(admitted(&mut open, "after"), "the previous policy stays");
    let log = server.log();
    assert!(
        log.contains("validators[1].cert: not a valid PEM certificate"),
        "{log}"
    );
}
