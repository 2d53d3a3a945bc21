//! The static binary alone in an empty root, as in the scratch image: built by
//! `scripts/build-static` (dev profile, to keep CI fast), then run under bubblewrap with
//! nothing but the binary, the CA bundle, `/etc/hosts`, a certificate, a configuration and
//! `/proc` mounted, read-only, as UID 10001 / GID 20001, as PID 1 of its own PID namespace.
//! It must serve TLS, answer `/health`, `/metrics` and `/mutate`, reach a registry whose
//! name only `/etc/hosts` knows, and exit 0 on SIGTERM.
//!
//! Needs `bwrap` (apt package bubblewrap) and the musl target with `musl-gcc` (musl-tools);
//! without them the test fails and says what to install, it is never skipped.

mod support;

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{client, requests, Certificate, Client, TempDir, ANSWER_TIMEOUT};

/// A debug build is slower to start than a release build, and CI machines are busy.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A name no DNS server knows: only the sandbox's `/etc/hosts` maps it (to 127.0.0.1).
const REGISTRY_NAME: &str = "registry.tastevin.test";

/// Admits everything, except images of [`REGISTRY_NAME`], which need a cosign signature.
fn config(public_key_pem: &str) -> String {
    let key: String = public_key_pem
        .lines()
        .map(|line| format!("          {line}\n"))
        .collect();
    format!(
        "validators:\n  - name: allow\n    type: static\n    approve: true\n  - name: signed\n    \
         type: cosign\n    trustRoots:\n      - name: default\n        key: |\n{key}policy:\n  \
         - pattern: \"*:*\"\n    validator: allow\n  - pattern: \"{REGISTRY_NAME}:*\"\n    \
         validator: signed\n"
    )
}

/// An AdmissionReview creating a pod of `image`.
fn review_of(uid: &str, image: &str) -> Vec<u8> {
    let mut review: serde_json::Value =
        serde_json::from_slice(&requests::admission_review(uid)).unwrap();
    review["request"]["object"]["spec"]["containers"][0]["image"] = image.into();
    review.to_string().into_bytes()
}

/// A stand-in registry: a listener on loopback that reports whether anybody connected.
fn registry_stub() -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the registry stub");
    let port = listener.local_addr().unwrap().port();
    let (connected, receiver) = mpsc::channel();
    thread::spawn(move || {
        // Closing the connection at once fails the registry request quickly.
        if listener.accept().is_ok() {
            let _ = connected.send(());
        }
    });
    (port, receiver)
}

/// Runs scripts/build-static and returns the root filesystem it laid out.
fn build_rootfs(dir: &Path) -> PathBuf {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rootfs = dir.join("rootfs");
    let output = Command::new(project.join("scripts/build-static"))
        .args(["--profile", "dev", "--target-dir"])
        .arg(project.join("target/static-test"))
        .arg("--rootfs")
        .arg(&rootfs)
        // The jobserver of the cargo running this test is not ours to use.
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/build-static");
    assert!(
        output.status.success(),
        "scripts/build-static failed ({}); it needs the x86_64-unknown-linux-musl target \
         (rustup target add) and musl-gcc (apt package musl-tools):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    rootfs
}

/// Whether the ELF64 file asks for a dynamic loader (a PT_INTERP program header).
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    assert_eq!(elf.get(..4), Some(&b"\x7fELF"[..]), "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    assert_eq!(elf[5], 1, "not a little-endian ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}

fn free_port() -> SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    probe.local_addr().expect("read the ephemeral port")
}

/// bubblewrap running the binary, killed on drop.
struct Sandbox {
    child: Child,
    log: PathBuf,
}

impl Sandbox {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the sandbox exited early with {status}\nlog:\n{}",
                self.log()
            );
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start(rootfs: &Path, files: &Path, addr: SocketAddr) -> Sandbox {
    let log = files.join("sandbox.log");
    let bind = |from: PathBuf, to: &str| [String::from("--ro-bind"), path(&from), to.to_string()];
    let mut args: Vec<String> = [
        "--unshare-user",
        "--uid",
        "10001",
        "--gid",
        "20001",
        "--unshare-pid",
        // Without it bwrap's own reaper would be PID 1; the image has no init either.
        "--as-pid-1",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]
    .map(String::from)
    .to_vec();
    args.extend(bind(rootfs.join("tastevin"), "/tastevin"));
    args.extend(bind(
        rootfs.join("etc/ssl/certs/ca-certificates.crt"),
        "/etc/ssl/certs/ca-certificates.crt",
    ));
    args.extend(bind(files.join("hosts"), "/etc/hosts"));
    args.extend(bind(files.join("certs"), "/app/certs"));
    args.extend(bind(files.join("config"), "/app/config"));
    args.extend(["--proc", "/proc", "--remount-ro", "/"].map(String::from));
    args.extend(["/tastevin", "serve", "--listen"].map(String::from));
    args.push(addr.to_string());
    let out = fs::File::create(&log).expect("create the sandbox log");
    let child = Command::new("bwrap")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("share the log file"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bwrap ({e}): install the apt package bubblewrap"));
    Sandbox { child, log }
}

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_string()
}

/// Sends one request on a fresh TLS connection, retrying while the server starts.
fn request(
    sandbox: &mut Sandbox,
    addr: SocketAddr,
    tls: &std::sync::Arc<rustls::ClientConfig>,
    bytes: &[u8],
    timeout: Duration,
) -> support::Response {
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = TcpStream::connect_timeout(&addr, ANSWER_TIMEOUT)
            .and_then(|tcp| Client::tls(tcp, tls.clone()))
            .and_then(|mut client| {
                client.send(bytes);
                client.try_read_response()
            });
        match attempt {
            Ok(response) => return response,
            Err(e) => {
                sandbox.assert_running();
                assert!(
                    Instant::now() < deadline,
                    "no answer after {timeout:?}: {e}\nlog:\n{}",
                    sandbox.log()
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The host PID of the sandbox's PID 1 (bwrap's child), and its PIDs in each namespace.
fn pid_one_of(sandbox: &Sandbox) -> (i32, Vec<String>) {
    let bwrap = sandbox.child.id();
    let children = fs::read_to_string(format!("/proc/{bwrap}/task/{bwrap}/children"))
        .expect("read bwrap's children");
    let pid: i32 = children
        .split_whitespace()
        .next()
        .expect("bwrap has a child")
        .parse()
        .expect("a pid");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read its status");
    let ns_pids = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .expect("an NSpid line")
        .split_whitespace()
        .map(String::from)
        .collect();
    (pid, ns_pids)
}

#[test]
fn static_binary_serves_from_an_empty_root_as_pid_one() {
    let dir = TempDir::new();
    let rootfs = build_rootfs(dir.path());
    let binary = fs::read(rootfs.join("tastevin")).expect("the binary in the root filesystem");
    assert!(!has_interpreter(&binary), "the binary is not static");
    let bundle = fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt"))
        .expect("the CA bundle in the root filesystem");
    assert!(bundle.contains("-----BEGIN CERTIFICATE-----"));

    let files = dir.path().join("mounted");
    for sub in ["certs", "config"] {
        fs::create_dir_all(files.join(sub)).unwrap();
    }
    let cert = Certificate::generate(&files.join("certs"));
    let signing_key = rcgen::KeyPair::generate().unwrap();
    fs::write(
        files.join("config/config.yaml"),
        config(&signing_key.public_key_pem()),
    )
    .unwrap();
    fs::write(
        files.join("hosts"),
        format!("127.0.0.1 localhost {REGISTRY_NAME}\n"),
    )
    .unwrap();
    let tls = client::trusting(&cert.der);
    let addr = free_port();
    let mut sandbox = start(&rootfs, &files, addr);

    let health = request(
        &mut sandbox,
        addr,
        &tls,
        &requests::get("/health"),
        START_TIMEOUT,
    );
    assert_eq!(health.status, 200, "{}", sandbox.log());

    let metrics = request(
        &mut sandbox,
        addr,
        &tls,
        &requests::get("/metrics"),
        ANSWER_TIMEOUT,
    );
    assert_eq!(metrics.status, 200);
    let scrape = support::metrics::Scrape::parse(&metrics.text());
    assert!(scrape.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(scrape.type_of("mutate_requests_total").is_some());

    // The embedded default configuration would deny nginx: allowed means the mounted one.
    let review = requests::mutate(&requests::admission_review("empty-root"));
    let answer = request(&mut sandbox, addr, &tls, &review, ANSWER_TIMEOUT);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        requests::review_verdict(&answer.body),
        ("empty-root".to_string(), true)
    );

    // An image of a registry only /etc/hosts knows: the webhook connects to the stub.
    let (port, connected) = registry_stub();
    let image = format!("{REGISTRY_NAME}:{port}/app:1");
    let review = requests::mutate(&review_of("hosts", &image));
    let answer = request(&mut sandbox, addr, &tls, &review, ANSWER_TIMEOUT);
    let (_, allowed) = requests::review_verdict(&answer.body);
    assert!(!allowed, "an unsigned image: {}", answer.text());
    assert!(
        !answer.text().contains("resolve"),
        "the name was not resolved through /etc/hosts: {}",
        answer.text()
    );
    assert!(
        connected.recv_timeout(ANSWER_TIMEOUT).is_ok(),
        "the webhook never connected to {image}: {}\nlog:\n{}",
        answer.text(),
        sandbox.log()
    );

    let (pid, ns_pids) = pid_one_of(&sandbox);
    assert_eq!(ns_pids.last().map(String::as_str), Some("1"), "{ns_pids:?}");
    let command = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(command.trim_end(), "tastevin", "PID 1 of the sandbox");
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().next(),
        Some("10001"),
        "{uid_map}"
    );

    // SAFETY: kill(2) with the pid of a process this test started, and a valid signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = sandbox.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit after SIGTERM as PID 1\nlog:\n{}",
        sandbox.log()
    );
    assert!(sandbox.log().contains("drained"), "{}", sandbox.log());
}
