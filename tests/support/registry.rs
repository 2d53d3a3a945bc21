//! A real registry for tests: Debian's `docker-registry` (distribution) on 127.0.0.1 and a
//! free port, in plain HTTP, TLS (a test CA made with rcgen) or TLS with token auth served
//! by [`TokenServer`], a std-only token issuer signing ES256 JWTs with aws-lc-rs. It is
//! killed on drop. Images and cosign-format signature manifests are pushed with the
//! registry API (monolithic blob upload, manifest PUT), no Docker involved.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::json;
use tastevin::image_ref::ImageRef;
use tastevin::registry::manifest::{sha256_digest, DOCKER_MANIFEST, OCI_MANIFEST};
use tastevin::registry::signatures::{signature_tag, SIMPLE_SIGNING_MEDIA_TYPE};

use super::client::{self, Client};
use super::{Response, TempDir, START_TIMEOUT};

/// The user the token server accepts.
pub const USER: &str = "tester";
pub const PASSWORD: &str = "tester-password";
pub const SERVICE: &str = "tastevin-test-registry";
pub const ISSUER: &str = "tastevin-test-token-issuer";

/// How the registry is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Tls,
    /// TLS, and pulls need a token from the harness's token server.
    Token,
    /// TLS with a self-signed serving certificate (no CA): `TestPki::ca_pem` is that
    /// certificate itself.
    SelfSigned,
}

/// A CA and a serving certificate for `127.0.0.1` and `localhost` signed by it.
pub struct TestPki {
    pub ca_der: CertificateDer<'static>,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub server_config: Arc<ServerConfig>,
}

impl TestPki {
    pub fn generate() -> TestPki {
        TestPki::generate_for(&[])
    }

    /// The same, with the certificate valid for `extra` names or addresses too.
    pub fn generate_for(extra: &[String]) -> TestPki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tastevin test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("server key");
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        for name in extra {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let leaf_params = CertificateParams::new(names).expect("server params");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("server certificate");
        TestPki::assemble(ca_cert.der().clone(), ca_cert.pem(), &leaf, &leaf_key)
    }

    /// A self-signed serving certificate for `127.0.0.1` and `localhost`, its own anchor.
    pub fn self_signed() -> TestPki {
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        TestPki::assemble(cert.der().clone(), cert.pem(), &cert, &key)
    }

    fn assemble(
        ca_der: CertificateDer<'static>,
        ca_pem: String,
        leaf: &rcgen::Certificate,
        leaf_key: &KeyPair,
    ) -> TestPki {
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server_config = ServerConfig::builder_with_provider(client::provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key_der)
            .expect("server config");
        TestPki {
            ca_der,
            ca_pem,
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            server_config: Arc::new(server_config),
        }
    }
}

/// A local address with a port nobody listens on right now.
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address")
}

/// A running `docker-registry`, killed on drop.
pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    pub mode: Mode,
    /// The CA the registry's certificate chains to (TLS modes).
    pub pki: Option<TestPki>,
    pub token_server: Option<TokenServer>,
    log_path: PathBuf,
    _dir: TempDir,
}

impl Registry {
    pub fn start(mode: Mode) -> Registry {
        Registry::start_named(mode, None)
    }

    /// A registry on 127.0.0.1 whose certificate is valid for `name` too, for images that
    /// reach it under that name.
    pub fn start_named(mode: Mode, name: Option<&str>) -> Registry {
        let dir = TempDir::new();
        let addr = free_addr();
        let data = dir.path().join("data");
        fs::create_dir_all(&data).expect("registry data dir");
        let extra_names: Vec<String> = name.map(str::to_string).into_iter().collect();
        let pki = match mode {
            Mode::Plain => None,
            Mode::SelfSigned => Some(TestPki::self_signed()),
            Mode::Tls | Mode::Token => Some(TestPki::generate_for(&extra_names)),
        };
        let mut config = format!(
            "version: 0.1\nlog: {{level: info}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {addr}\n  secret: tastevin-test\n",
            data.display()
        );
        if let Some(pki) = &pki {
            let cert = dir.path().join("server.crt");
            let key = dir.path().join("server.key");
            fs::write(&cert, &pki.cert_pem).expect("write the server certificate");
            fs::write(&key, &pki.key_pem).expect("write the server key");
            config.push_str(&format!(
                "  tls: {{certificate: {}, key: {}}}\n",
                cert.display(),
                key.display()
            ));
        }
        let token_server = match (&pki, mode) {
            (Some(pki), Mode::Token) => {
                let server = TokenServer::start(Arc::clone(&pki.server_config));
                let bundle = dir.path().join("token.crt");
                fs::write(&bundle, &server.signing_cert_pem).expect("write the token cert");
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: https://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    server.addr,
                    bundle.display()
                ));
                Some(server)
            }
            _ => None,
        };
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write the registry config");
        let log_path = dir.path().join("registry.log");
        let log = fs::File::create(&log_path).expect("create the registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share the log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        let mut registry = Registry {
            child,
            addr,
            mode,
            pki,
            token_server,
            log_path,
            _dir: dir,
        };
        registry.wait_until_listening();
        registry
    }

    fn wait_until_listening(&mut self) {
        let until = Instant::now() + START_TIMEOUT;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited with {status}:\n{}", self.log());
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "docker-registry did not listen on {}:\n{}",
            self.addr,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `127.0.0.1:<port>`, the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// An image reference in this registry, e.g. `image("app:v1")`.
    pub fn image(&self, repository_and_tag: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{repository_and_tag}", self.host())).expect("image reference")
    }

    /// One request to the registry, with a push token in token mode.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        repository: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let tcp = TcpStream::connect_timeout(&self.addr, START_TIMEOUT).expect("connect");
        let mut connection = match &self.pki {
            Some(pki) => Client::tls(tcp, client::trusting(&pki.ca_der)).expect("TLS"),
            None => Client::plain(tcp).expect("plain"),
        };
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.host(),
            body.len()
        );
        if let Some(server) = &self.token_server {
            let token = server.mint(USER, repository, &["pull", "push"]);
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        connection.send(&bytes);
        connection.read_response()
    }

    /// Uploads a blob (POST, then a monolithic PUT); its digest.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let started = self.request(
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            repository,
            &[],
            b"",
        );
        assert_eq!(started.status, 202, "start upload: {}", started.text());
        let location = started.header("location").expect("upload location");
        // distribution answers with an absolute URL that already has a query.
        let path = &location[location.find("/v2/").expect("upload path")..];
        let separator = if path.contains('?') { '&' } else { '?' };
        let put = self.request(
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            repository,
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(put.status, 201, "upload blob: {}", put.text());
        digest
    }

    /// Stores a manifest at a tag or digest; the digest of its bytes.
    pub fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let put = self.request(
            "PUT",
            &format!("/v2/{repository}/manifests/{reference}"),
            repository,
            &[("Content-Type", media_type)],
            bytes,
        );
        assert_eq!(put.status, 201, "put manifest: {}", put.text());
        let digest = sha256_digest(bytes);
        assert_eq!(put.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }

    /// Pushes a small Docker schema 2 image (a config and one layer, both unique to `seed`)
    /// at `tag`; the manifest's digest and its layer and config digests.
    pub fn push_image(&self, repository: &str, tag: &str, seed: &str) -> PushedImage {
        let layer = format!("layer of {seed}").into_bytes();
        let layer_digest = self.push_blob(repository, &layer);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "config": {"Labels": {"seed": seed}},
        }))
        .expect("config JSON");
        let config_digest = self.push_blob(repository, &config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": config_digest,
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": layer.len(),
                "digest": layer_digest,
            }],
        }))
        .expect("manifest JSON");
        let digest = self.push_manifest(repository, tag, DOCKER_MANIFEST, &manifest);
        PushedImage {
            digest,
            manifest,
            config,
            config_digest,
        }
    }

    /// Stores cosign-format signatures of `digest`: an OCI manifest at `sha256-<hex>.sig`
    /// with one layer per signature (the payload blob, annotations as given).
    pub fn push_signatures(&self, repository: &str, digest: &str, layers: &[SignatureBlob]) {
        let config = serde_json::to_vec(&json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .expect("config JSON");
        let config_digest = self.push_blob(repository, &config);
        let descriptors: Vec<serde_json::Value> = layers
            .iter()
            .map(|layer| {
                let blob_digest = self.push_blob(repository, &layer.payload);
                json!({
                    "mediaType": layer.media_type,
                    "size": layer.payload.len(),
                    "digest": blob_digest,
                    "annotations": layer.annotations,
                })
            })
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": config.len(),
                "digest": config_digest,
            },
            "layers": descriptors,
        }))
        .expect("signature manifest JSON");
        let tag = signature_tag(digest).expect("signature tag");
        self.push_manifest(repository, &tag, OCI_MANIFEST, &manifest);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`Registry::push_image`] stored.
pub struct PushedImage {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub config_digest: String,
}

/// One layer of a signature manifest.
pub struct SignatureBlob {
    pub media_type: String,
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

impl SignatureBlob {
    /// A simple-signing layer with the given annotations.
    pub fn simple_signing(payload: &[u8], annotations: &[(&str, &str)]) -> SignatureBlob {
        SignatureBlob {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
            payload: payload.to_vec(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// A registry token issuer (Docker token auth): `GET /token?service=…&scope=…` over TLS,
/// Basic credentials checked against [`USER`]/[`PASSWORD`], anonymous callers get an empty
/// grant. Tokens are ES256 JWTs with the signing certificate in `x5c`, which the registry
/// checks against its `rootcertbundle`.
pub struct TokenServer {
    pub addr: SocketAddr,
    pub signing_cert_pem: String,
    signing_cert_der: Vec<u8>,
    key: Arc<EcdsaKeyPair>,
    /// Tokens handed out over HTTP so far.
    pub issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    pub fn start(tls: Arc<ServerConfig>) -> TokenServer {
        let signing_key = KeyPair::generate().expect("token signing key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("token cert params");
        params
            .distinguished_name
            .push(DnType::CommonName, "tastevin test token issuer");
        let cert = params
            .self_signed(&signing_key)
            .expect("token signing cert");
        let key = Arc::new(
            EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &signing_key.serialize_der(),
            )
            .expect("token key for aws-lc-rs"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token server");
        let addr = listener.local_addr().expect("token server address");
        let server = TokenServer {
            addr,
            signing_cert_pem: cert.pem(),
            signing_cert_der: cert.der().to_vec(),
            key,
            issued: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let minter = server.minter();
        let issued = Arc::clone(&server.issued);
        let stop = Arc::clone(&server.stop);
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = tcp else { continue };
                let tls = Arc::clone(&tls);
                let minter = minter.clone();
                let issued = Arc::clone(&issued);
                thread::spawn(move || serve_token(tcp, tls, &minter, &issued));
            }
        });
        server
    }

    fn minter(&self) -> Minter {
        Minter {
            cert_der: self.signing_cert_der.clone(),
            key: Arc::clone(&self.key),
        }
    }

    /// A token granting `actions` on `repository` to `subject`.
    pub fn mint(&self, subject: &str, repository: &str, actions: &[&str]) -> String {
        self.minter().mint(
            subject,
            &[(
                repository.to_string(),
                actions.iter().map(|a| a.to_string()).collect(),
            )],
        )
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

#[derive(Clone)]
struct Minter {
    cert_der: Vec<u8>,
    key: Arc<EcdsaKeyPair>,
}

impl Minter {
    fn mint(&self, subject: &str, grants: &[(String, Vec<String>)]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        static JTI: AtomicUsize = AtomicUsize::new(0);
        let header =
            json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]});
        let access: Vec<serde_json::Value> = grants
            .iter()
            .map(|(name, actions)| json!({"type": "repository", "name": name, "actions": actions}))
            .collect();
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("sign the token");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

fn serve_token(tcp: TcpStream, tls: Arc<ServerConfig>, minter: &Minter, issued: &AtomicUsize) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(session) = ServerConnection::new(tls) else {
        return;
    };
    let mut stream = StreamOwned::new(session, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_string());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, body) = if path != "/token" {
        (404, json!({"error": "not found"}))
    } else {
        let subject = match authorization
            .as_deref()
            .and_then(|v| v.strip_prefix("Basic "))
        {
            None => Some(String::new()),
            Some(encoded) => STANDARD
                .decode(encoded)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .filter(|pair| pair == &format!("{USER}:{PASSWORD}"))
                .map(|_| USER.to_string()),
        };
        match subject {
            None => (401, json!({"error": "invalid credentials"})),
            Some(subject) => {
                let grants: Vec<(String, Vec<String>)> = query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .filter(|(name, _)| *name == "scope")
                    .filter_map(|(_, value)| {
                        let scope = percent_decode(value);
                        let mut parts = scope.splitn(3, ':');
                        let (_kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                        let actions = if subject.is_empty() {
                            Vec::new()
                        } else {
                            actions.split(',').map(str::to_string).collect()
                        };
                        Some((name.to_string(), actions))
                    })
                    .collect();
                let token = minter.mint(&subject, &grants);
                issued.fetch_add(1, Ordering::SeqCst);
                (
                    200,
                    json!({"token": token, "access_token": token, "expires_in": 300}),
                )
            }
        }
    };
    let body = body.to_string();
    let answer = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}
