//! A real forward proxy for tests: Debian's `squid` on 127.0.0.1 and a free port, with a
//! generated configuration, killed on drop.
//!
//! Go's proxy rules (and tastevin's) never send `localhost` or a loopback address through a
//! proxy, so the servers the tests reach through it are named [`PROXIED_HOST`]: a name only
//! the proxy can resolve (squid's `hosts_file` maps it to 127.0.0.1), so every byte stays on
//! the loopback interface and a connection that went around the proxy fails to resolve. The
//! proxy's own DNS is pointed at 127.0.0.1, where nothing answers, so it never asks the
//! network either. Its access log has one line per request it was given: that is how the
//! tests see what went through it.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::registry::free_addr;
use super::{TempDir, START_TIMEOUT};

/// The name, resolvable only by the proxy, of what the tests reach through it.
pub const PROXIED_HOST: &str = "registry.proxied.test";

/// A running `squid`, killed on drop.
pub struct Squid {
    child: Child,
    pub addr: SocketAddr,
    access_log: PathBuf,
    cache_log: PathBuf,
    _dir: TempDir,
}

/// One request as the proxy logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// `CONNECT`, `GET`…
    pub method: String,
    /// `host:port` for `CONNECT`, the absolute URL otherwise.
    pub target: String,
    /// The proxy's answer, e.g. `200` or `407`.
    pub status: String,
}

impl Squid {
    /// Without authentication, or requiring Basic `(user, password)`.
    pub fn start(auth: Option<(&str, &str)>) -> Squid {
        let dir = TempDir::new();
        // Started as root, squid works as the `proxy` user: it must write its logs here.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777))
            .expect("open the squid directory");
        let addr = free_addr();
        let path = |name: &str| dir.path().join(name);
        fs::write(path("hosts"), format!("127.0.0.1 {PROXIED_HOST}\n")).expect("write hosts");
        let mut config = format!(
            "http_port {addr}\n\
             pid_filename {pid}\n\
             cache_log {cache_log}\n\
             access_log stdio:{access_log}\n\
             coredump_dir {dir}\n\
             cache deny all\n\
             hosts_file {hosts}\n\
             dns_nameservers 127.0.0.1\n\
             shutdown_lifetime 0 seconds\n",
            pid = path("squid.pid").display(),
            cache_log = path("cache.log").display(),
            access_log = path("access.log").display(),
            dir = dir.path().display(),
            hosts = path("hosts").display(),
        );
        match auth {
            Some((user, password)) => {
                let hashed = Command::new("openssl")
                    .args(["passwd", "-apr1", password])
                    .output()
                    .expect("run openssl passwd");
                assert!(hashed.status.success(), "openssl passwd failed");
                let hashed = String::from_utf8_lossy(&hashed.stdout).trim().to_string();
                fs::write(path("passwd"), format!("{user}:{hashed}\n")).expect("write passwd");
                config.push_str(&format!(
                    "auth_param basic program /usr/lib/squid/basic_ncsa_auth {}\n\
                     acl authenticated proxy_auth REQUIRED\n\
                     http_access allow authenticated\n",
                    path("passwd").display()
                ));
            }
            None => config.push_str("http_access allow all\n"),
        }
        config.push_str("http_access deny all\n");
        fs::write(path("squid.conf"), config).expect("write squid.conf");
        let child = Command::new("squid")
            .arg("-N")
            .arg("-f")
            .arg(path("squid.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start squid (Debian package squid)");
        let mut proxy = Squid {
            child,
            addr,
            access_log: path("access.log"),
            cache_log: path("cache.log"),
            _dir: dir,
        };
        let until = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("squid exited with {status}:\n{}", proxy.log());
            }
            if TcpStream::connect_timeout(&proxy.addr, Duration::from_millis(200)).is_ok() {
                return proxy;
            }
            assert!(
                Instant::now() < until,
                "squid did not listen:\n{}",
                proxy.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:<port>`, with `user:password@` when given.
    pub fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("http://{user}:{password}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// The proxy's logs, for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.cache_log).unwrap_or_default()
            + &fs::read_to_string(&self.access_log).unwrap_or_default()
    }

    /// The requests logged so far. squid writes a line when a request ends, so this waits
    /// briefly for the log to stop growing.
    pub fn requests(&self) -> Vec<Logged> {
        let read = || fs::read_to_string(&self.access_log).unwrap_or_default();
        let mut text = read();
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            thread::sleep(Duration::from_millis(100));
            let again = read();
            if again == text {
                break;
            }
            text = again;
        }
        // time elapsed client code/status bytes method target user hierarchy type
        text.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let status = fields.get(3)?.split_once('/')?.1;
                Some(Logged {
                    method: fields.get(5)?.to_string(),
                    target: fields.get(6)?.to_string(),
                    status: status.to_string(),
                })
            })
            .collect()
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
