//! HTTP(S) service URLs from the configuration (Notary host, Rekor), checked at load and
//! split into the parts an outbound client needs.

use std::fmt;

/// An absolute `http://` or `https://` URL without user info, query or fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUrl {
    /// `true` for `https`.
    pub https: bool,
    /// Host name or bracketed IPv6 literal, as written.
    pub host: String,
    /// Explicit port, or 443 / 80 from the scheme.
    pub port: u16,
    /// Path without a trailing `/` (empty for the root), e.g. `/notary`.
    pub base_path: String,
}

impl ServiceUrl {
    /// Parses `raw`; a value without scheme gets `https://` (Connaisseur does the same for
    /// the Notary host, and its docs show a scheme-less Rekor host).
    pub fn parse(raw: &str) -> Result<ServiceUrl, String> {
        let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (true, raw.get(8..).unwrap_or_default())
        } else if lower.starts_with("http://") {
            (false, raw.get(7..).unwrap_or_default())
        } else if raw.contains("://") {
            return Err("only http:// and https:// are supported".to_owned());
        } else {
            (true, raw)
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) || authority.contains(['?', '#']) {
            return Err("query and fragment are not allowed".to_owned());
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the path contains whitespace".to_owned());
        }
        if authority.contains('@') {
            return Err("credentials in the URL are not allowed; use auth".to_owned());
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("{authority:?} is not a valid host[:port]"))?;
        Ok(ServiceUrl {
            https,
            host: host.to_owned(),
            port: port.unwrap_or(if https { 443 } else { 80 }),
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `host` or `host:port` when the port is not the scheme's default, as sent in `Host`.
    pub fn authority(&self) -> String {
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.base_path)
    }
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        let inner = host.get(1..host.len() - 1)?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return None;
        }
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
        if host.is_empty() || !host.bytes().all(host_char) {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(port) if !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) => {
            Some(port.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_less_hosts_become_https() {
        let url = ServiceUrl::parse("notary-server.default.svc.cluster.local:4443");
        assert_eq!(
            url.map(|u| u.to_string()).as_deref(),
            Ok("https://notary-server.default.svc.cluster.local:4443")
        );
    }

    #[test]
    fn parts_are_split() {
        let url = ServiceUrl::parse("HTTP://rekor.local/api/").ok();
        assert_eq!(
            url,
            Some(ServiceUrl {
                https: false,
                host: "rekor.local".into(),
                port: 80,
                base_path: "/api".into()
            })
        );
        let url = ServiceUrl::parse("https://[::1]:8443").map(|u| (u.host, u.port));
        assert_eq!(url, Ok(("[::1]".to_owned(), 8443)));
    }

    #[test]
    fn bad_urls_are_refused() {
        for raw in [
            ":\\\\\\",
            "",
            "ftp://x.io",
            "https://user:pw@x.io",
            "https://x.io:99999",
            "https://x.io:",
            "https://x io",
            "https://x.io/a?b",
            "https://[zz]",
        ] {
            assert!(ServiceUrl::parse(raw).is_err(), "{raw:?}");
        }
    }
}
