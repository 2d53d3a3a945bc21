//! A real `redis-server` on 127.0.0.1 and a free port, plain or TLS (certificate from the
//! test CA) with a password, killed by PID on drop.

use std::fs;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::registry::{free_addr, TestPki};
use super::TempDir;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    /// The CA file a client must trust (TLS only).
    pub ca_path: Option<std::path::PathBuf>,
}

impl RedisServer {
    pub fn plain() -> RedisServer {
        RedisServer::start(None)
    }

    /// TLS only (no plain port), clients authenticate with `password`.
    pub fn tls(password: &str) -> RedisServer {
        RedisServer::start(Some(password))
    }

    fn start(password: Option<&str>) -> RedisServer {
        let dir = TempDir::new();
        let port = free_addr().port();
        let mut args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.path().display().to_string(),
        ];
        let mut ca_path = None;
        match password {
            None => args.extend(["--port".into(), port.to_string()]),
            Some(password) => {
                let pki = TestPki::generate();
                let cert = dir.path().join("tls.crt");
                let key = dir.path().join("tls.key");
                let ca = dir.path().join("ca.crt");
                fs::write(&cert, &pki.cert_pem).expect("write cert");
                fs::write(&key, &pki.key_pem).expect("write key");
                fs::write(&ca, &pki.ca_pem).expect("write ca");
                args.extend([
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port.to_string(),
                    "--tls-cert-file".into(),
                    cert.display().to_string(),
                    "--tls-key-file".into(),
                    key.display().to_string(),
                    "--tls-ca-cert-file".into(),
                    ca.display().to_string(),
                    "--tls-auth-clients".into(),
                    "no".into(),
                    "--requirepass".into(),
                    password.into(),
                ]);
                ca_path = Some(ca);
            }
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian package redis-server)");
        let server = RedisServer {
            child: Some(child),
            port,
            dir,
            ca_path,
        };
        let until = Instant::now() + super::START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "redis-server did not start listening"
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Kills the server now (the test goes on without it).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
