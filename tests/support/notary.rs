//! A real Notary v1 server for tests: Debian's `notary-server` with its local signing
//! service and in-memory storage, TLS from a test CA made with rcgen, on 127.0.0.1 and a free
//! port; killed on drop. Optionally behind the harness's token server, as a registry's
//! Notary usually is. Trust data is signed with the real `notary` client (passphrases
//! from the environment, trust directory in a temporary directory).

use std::fs;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tastevin::validators::notaryv1::keys::public_key;
use tastevin::validators::notaryv1::tuf::parse_root;

use super::registry::{free_addr, TestPki, TokenServer, ISSUER, PASSWORD, SERVICE, USER};
use super::{TempDir, START_TIMEOUT};

pub const PASSPHRASES: [(&str, &str); 4] = [
    ("NOTARY_ROOT_PASSPHRASE", "test-root"),
    ("NOTARY_TARGETS_PASSPHRASE", "test-targets"),
    ("NOTARY_SNAPSHOT_PASSPHRASE", "test-snapshot"),
    ("NOTARY_DELEGATION_PASSPHRASE", "test-delegation"),
];

/// A running `notary-server`, killed on drop.
pub struct NotaryServer {
    child: Child,
    dir: TempDir,
    pub port: u16,
    pub pki: TestPki,
    /// The token issuer the server sends clients to, when it requires tokens.
    pub token_server: Option<TokenServer>,
}

impl Drop for NotaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NotaryServer {
    /// A server that serves trust data to anyone.
    pub fn start() -> NotaryServer {
        NotaryServer::launch(false, &[])
    }

    /// A server whose certificate is valid for `name` too, for clients that reach it so.
    pub fn start_named(name: &str) -> NotaryServer {
        NotaryServer::launch(false, &[name.to_string()])
    }

    /// A server that requires a token from the harness's [`TokenServer`] for every call;
    /// the token server grants pull and push to [`USER`] with [`PASSWORD`], and nothing to
    /// anonymous callers. The `notary` client signs with those credentials.
    pub fn start_with_token_auth() -> NotaryServer {
        NotaryServer::launch(true, &[])
    }

    fn launch(token_auth: bool, extra_names: &[String]) -> NotaryServer {
        let dir = TempDir::new();
        let pki = TestPki::generate_for(extra_names);
        let port = free_addr().port();
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        fs::write(path("server.crt"), &pki.cert_pem).expect("write cert");
        fs::write(path("server.key"), &pki.key_pem).expect("write key");
        fs::write(path("ca.crt"), &pki.ca_pem).expect("write CA");
        let mut config = serde_json::json!({
            "server": {"http_addr": format!("127.0.0.1:{port}"),
                       "tls_key_file": path("server.key"), "tls_cert_file": path("server.crt")},
            "trust_service": {"type": "local", "hostname": "", "port": "", "key_algorithm": "ecdsa"},
            "storage": {"backend": "memory"},
            "logging": {"level": "error"}
        });
        let token_server = token_auth.then(|| {
            let server = TokenServer::start(Arc::clone(&pki.server_config));
            fs::write(path("token.crt"), &server.signing_cert_pem).expect("write the token cert");
            config["auth"] = serde_json::json!({"type": "token", "options": {
                "realm": format!("https://{}/token", server.addr),
                "service": SERVICE, "issuer": ISSUER,
                "rootcertbundle": path("token.crt"), "autoredirect": false}});
            server
        });
        fs::write(path("server.json"), config.to_string()).expect("write config");
        let log = fs::File::create(path("server.log")).expect("log file");
        let child = Command::new("notary-server")
            .args(["-config", &path("server.json"), "-logf", "logfmt"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start notary-server (apt install notary)");
        let server = NotaryServer {
            child,
            dir,
            port,
            pki,
            token_server,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "notary-server did not start: {}",
                fs::read_to_string(path_in(&server, "server.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The `notary` client's trust directory: its private keys (encrypted with the
    /// passphrases in [`PASSPHRASES`]) and its copies of the trust data.
    pub fn trust_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("trust")
    }

    /// Runs the `notary` client against this server.
    pub fn client(&self, args: &[&str]) {
        let output = Command::new("notary")
            .arg("-d")
            .arg(path_in(self, "trust"))
            .args(["-s", &self.url(), "--tlscacert", &path_in(self, "ca.crt")])
            .args(args)
            .envs(PASSPHRASES)
            .env(
                "NOTARY_AUTH",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")),
            )
            .stdin(Stdio::null())
            .output()
            .expect("run notary");
        assert!(
            output.status.success(),
            "notary {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Signs `tag` of `gun` as the manifest of `size` bytes with sha256 `hex` (init and
    /// publish included).
    pub fn sign(&self, gun: &str, tag: &str, size: usize, hex: &str) {
        self.client(&["init", gun]);
        self.client(&["addhash", gun, tag, &size.to_string(), "--sha256", hex]);
        self.client(&["publish", gun]);
    }

    /// The trust data this server serves for `role` of `gun`, byte for byte (fetched with
    /// curl, so that capturing it does not depend on the client under test).
    pub fn trust_data(&self, gun: &str, role: &str) -> Vec<u8> {
        let url = format!("{}/v2/{gun}/_trust/tuf/{role}.json", self.url());
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--fail", "--cacert", &path_in(self, "ca.crt"), &url]);
        if let Some(tokens) = &self.token_server {
            let token = tokens.mint(USER, gun, &["pull"]);
            curl.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let output = curl.output().expect("run curl");
        assert!(
            output.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The root key of `gun` as Connaisseur pins it: the SPKI of root's certificate, as PEM.
    pub fn root_key_pem(&self, gun: &str) -> String {
        let root_path = self
            .dir
            .path()
            .join("trust/tuf")
            .join(gun)
            .join("metadata/root.json");
        let bytes = fs::read(&root_path).expect("root.json in the trust directory");
        let root = parse_root(&bytes).expect("root.json parses");
        let id = root
            .role
            .roles
            .get("root")
            .and_then(|keys| keys.key_ids.first())
            .expect("a root key");
        let key = root
            .role
            .keys
            .get(id)
            .and_then(public_key)
            .expect("a usable root key");
        let body = base64::engine::general_purpose::STANDARD.encode(key.spki_der());
        let lines: Vec<String> = body
            .as_bytes()
            .chunks(64)
            .map(|line| String::from_utf8_lossy(line).into_owned())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }
}

/// A delegation signer: a key pair and its self-signed certificate, as `docker trust`
/// makes them.
pub struct Signer {
    pub name: String,
    pub key_pem: String,
    pub cert_pem: String,
}

impl Signer {
    pub fn generate(name: &str) -> Signer {
        let key = rcgen::KeyPair::generate().expect("signer key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("signer certificate");
        Signer {
            name: name.to_owned(),
            key_pem: key.serialize_pem(),
            cert_pem: cert.pem(),
        }
    }

    /// The signer's public key as a PEM `PUBLIC KEY` (SPKI), as a trust root is configured.
    pub fn public_key_pem(&self) -> String {
        rcgen::KeyPair::from_pem(&self.key_pem)
            .expect("signer key PEM")
            .public_key_pem()
    }
}

impl NotaryServer {
    /// Adds `signer` as delegation `role` of `gun` (all paths) and imports its key.
    pub fn delegate(&self, gun: &str, role: &str, signer: &Signer) {
        let key = path_in(self, &format!("{}.key", signer.name));
        let cert = path_in(self, &format!("{}.crt", signer.name));
        fs::write(&key, &signer.key_pem).expect("write signer key");
        fs::write(&cert, &signer.cert_pem).expect("write signer cert");
        self.client(&["key", "import", &key, "-r", role]);
        self.client(&["delegation", "add", gun, role, &cert, "--all-paths"]);
    }

    /// Signs `tag` of `gun` in the given delegation roles only.
    pub fn sign_in(&self, gun: &str, roles: &[&str], tag: &str, size: usize, hex: &str) {
        let size = size.to_string();
        let mut args = vec!["addhash", gun, tag, size.as_str(), "--sha256", hex];
        for role in roles {
            args.extend(["-r", role]);
        }
        self.client(&args);
    }
}

fn path_in(server: &NotaryServer, name: &str) -> String {
    server.dir.path().join(name).to_string_lossy().into_owned()
}
