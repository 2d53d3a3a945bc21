//! A Kubernetes API server stand-in for child approval: HTTPS with a test CA (rcgen), the
//! real REST paths (`/api/v1/namespaces/NS/pods/NAME`,
//! `/apis/apps/v1/namespaces/NS/replicasets/NAME`, `/apis/batch/v1/…/jobs/…`, …) and
//! JSON of the objects put into it, `Status` objects for 401 and 404 as the real API server
//! sends them, a bearer token check, and a count of every request. [`Behaviour::Hang`]
//! accepts connections and never answers.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};
use serde_json::{json, Value};

use super::registry::TestPki;
use super::TempDir;

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Serve,
    /// Reads requests and never answers (a hanging API server).
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Shared {
    objects: HashMap<String, Value>,
    token: String,
    seen: Vec<Seen>,
}

/// A running stand-in; its listener thread ends on drop.
pub struct KubeApi {
    pub addr: SocketAddr,
    /// The CA file and token file to hand to tastevin (`KUBE_API_CA_PATH`,
    /// `KUBE_API_TOKEN_PATH`).
    pub ca_path: PathBuf,
    pub token_path: PathBuf,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    _dir: TempDir,
}

impl KubeApi {
    pub fn start(behaviour: Behaviour) -> KubeApi {
        let dir = TempDir::new();
        let pki = TestPki::generate();
        let ca_path = dir.path().join("ca.crt");
        let token_path = dir.path().join("token");
        fs::write(&ca_path, &pki.ca_pem).expect("write the API CA");
        let shared = Arc::new(Mutex::new(Shared {
            token: "token-1".to_owned(),
            ..Shared::default()
        }));
        fs::write(&token_path, "token-1\n").expect("write the token");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the API stand-in");
        let addr = listener.local_addr().expect("API address");
        let stop = Arc::new(AtomicBool::new(false));
        {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            let tls = Arc::clone(&pki.server_config);
            thread::spawn(move || {
                for tcp in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(tcp) = tcp else { continue };
                    let shared = Arc::clone(&shared);
                    let tls = Arc::clone(&tls);
                    thread::spawn(move || {
                        let Ok(session) = ServerConnection::new(tls) else {
                            return;
                        };
                        let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
                        serve(StreamOwned::new(session, tcp), &shared, behaviour);
                    });
                }
            });
        }
        KubeApi {
            addr,
            ca_path,
            token_path,
            shared,
            stop,
            _dir: dir,
        }
    }

    /// The environment that points tastevin at this stand-in.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()),
            (
                "KUBERNETES_SERVICE_PORT".into(),
                self.addr.port().to_string(),
            ),
            (
                "KUBE_API_TOKEN_PATH".into(),
                self.token_path.display().to_string(),
            ),
            (
                "KUBE_API_CA_PATH".into(),
                self.ca_path.display().to_string(),
            ),
        ]
    }

    /// Stores `object` under the REST path of its `apiVersion`, `kind`, namespace and name.
    pub fn put(&self, object: Value) {
        let path = rest_path(
            object["apiVersion"].as_str().expect("apiVersion"),
            object["kind"].as_str().expect("kind"),
            object["metadata"]["namespace"].as_str().expect("namespace"),
            object["metadata"]["name"].as_str().expect("name"),
        );
        self.shared
            .lock()
            .expect("lock")
            .objects
            .insert(path, object);
    }

    /// Rotates the token: the API accepts only `token` from now on, and the token file says so.
    pub fn rotate_token(&self, token: &str) {
        self.shared.lock().expect("lock").token = token.to_owned();
        // Written beside and renamed, as the kubelet swaps the mounted directory.
        let fresh = self.token_path.with_extension("new");
        fs::write(&fresh, format!("{token}\n")).expect("write the new token");
        fs::rename(&fresh, &self.token_path).expect("replace the token");
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.lock().expect("lock").seen.clone()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// `/api/v1/…` for the core group, `/apis/<group>/<version>/…` otherwise.
pub fn rest_path(api_version: &str, kind: &str, namespace: &str, name: &str) -> String {
    let prefix = match api_version.split_once('/') {
        Some((group, version)) => format!("/apis/{group}/{version}"),
        None => format!("/api/{api_version}"),
    };
    format!(
        "{prefix}/namespaces/{namespace}/{}s/{name}",
        kind.to_ascii_lowercase()
    )
}

/// Serves requests of one connection (keep-alive) until it closes.
fn serve(
    mut stream: StreamOwned<ServerConnection, TcpStream>,
    shared: &Mutex<Shared>,
    behaviour: Behaviour,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or("/")
            .to_string();
        let authorization = lines
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.trim().to_string());
        let (status, body) = {
            let mut shared = shared.lock().expect("lock");
            shared.seen.push(Seen {
                path: path.clone(),
                authorization: authorization.clone(),
            });
            if behaviour == Behaviour::Hang {
                drop(shared);
                // Keep the connection open and silent until the client gives up.
                while let Ok(n) = stream.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                }
                return;
            }
            if authorization.as_deref() != Some(&format!("Bearer {}", shared.token)) {
                (401, status_object(401, "Unauthorized", "Unauthorized"))
            } else {
                match shared.objects.get(&path) {
                    Some(object) => (200, object.clone()),
                    None => {
                        let name = path.rsplit('/').next().unwrap_or("");
                        (
                            404,
                            status_object(404, "NotFound", &format!("\"{name}\" not found")),
                        )
                    }
                }
            }
        };
        let body = body.to_string();
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

fn status_object(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}
