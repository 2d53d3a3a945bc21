//! The `http://` or `https://` URL a connection talks to, parsed once into its parts.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// Where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TargetError {
    Scheme(String),
    Port(String),
    EmptyHost(String),
    Resolve { url: String, why: String },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Scheme(url) => {
                write!(f, "URL '{url}' must start with http:// or https://")
            }
            TargetError::Port(url) => write!(f, "URL '{url}' has an invalid port"),
            TargetError::EmptyHost(url) => write!(f, "URL '{url}' has no host"),
            TargetError::Resolve { url, why } => write!(f, "cannot resolve host of '{url}': {why}"),
        }
    }
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(TargetError::Scheme(url.to_string()));
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            // An IPv6 literal: [::1]:8443
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| TargetError::Port(url.to_string()))?;
            match after.strip_prefix(':') {
                Some(port) => (host, parse_port(port, url)?),
                None if after.is_empty() => (host, default_port),
                None => return Err(TargetError::Port(url.to_string())),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, parse_port(port, url)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(TargetError::EmptyHost(url.to_string()));
        }
        Ok(Target {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn socket_addr(&self) -> Result<SocketAddr, TargetError> {
        let url = || format!("{}{}", self.authority(), self.path);
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| TargetError::Resolve {
                url: url(),
                why: e.to_string(),
            })?
            .next()
            .ok_or_else(|| TargetError::Resolve {
                url: url(),
                why: "no address".to_string(),
            })
    }
}

fn parse_port(port: &str, url: &str) -> Result<u16, TargetError> {
    port.parse().map_err(|_| TargetError::Port(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scheme_host_port_and_path() {
        let t = Target::parse("https://127.0.0.1:8443/mutate?timeout=5s").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "127.0.0.1".into(),
                port: 8443,
                path: "/mutate?timeout=5s".into()
            }
        );
        assert_eq!(t.authority(), "127.0.0.1:8443");
        let plain = Target::parse("http://localhost").unwrap();
        assert_eq!(
            (plain.tls, plain.port, plain.path.as_str()),
            (false, 80, "/")
        );
        let v6 = Target::parse("https://[::1]:9/metrics").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9));
        assert_eq!(v6.authority(), "[::1]:9");
    }

    #[test]
    fn rejects_what_it_cannot_reach() {
        assert!(matches!(
            Target::parse("ftp://x/"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            Target::parse("http://x:port/"),
            Err(TargetError::Port(_))
        ));
        assert!(matches!(
            Target::parse("http://x:70000/"),
            Err(TargetError::Port(_))
        ));
        assert!(matches!(
            Target::parse("https:///mutate"),
            Err(TargetError::EmptyHost(_))
        ));
    }
}
