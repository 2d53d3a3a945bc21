//! Outbound proxies: `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their lower-case forms),
//! read once per process into a typed [`ProxyConfig`] with Go's `httpproxy` semantics, so a
//! cluster's proxy settings mean for tastevin what they mean for Connaisseur.
//!
//! As in Go: the upper-case variable wins when both are set and non-empty; a value without a
//! scheme is `http://host[:port]`; `localhost` and loopback addresses never go through a
//! proxy; `NO_PROXY` holds `*`, IP addresses, CIDRs, and domain names (`example.com`
//! matches it and its subdomains, `.example.com` and `*.example.com` only subdomains), each
//! optionally with a `:port`. Unlike Go, which ignores a proxy URL it cannot parse, an
//! unusable value is an error that stops startup: a silently ignored proxy would turn into
//! connection failures that name the registry instead of the setting.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::https_client::Origin;

/// A proxy URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    /// The environment variable it came from.
    pub variable: &'static str,
    pub reason: String,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unusable proxy setting {}: {}; expected http://[user:password@]host[:port]",
            self.variable, self.reason
        )
    }
}

impl std::error::Error for ProxyError {}

/// One HTTP proxy: where it listens and the credentials it is given.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Host name or IP address; IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// `Basic <base64>` from the URL's userinfo, sent as `Proxy-Authorization`.
    pub authorization: Option<String>,
    /// The URL as shown in logs and denials: `http://user@host:port`, never the password.
    display: String,
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password must not reach a log through `{:?}` either.
        f.write_str(&self.display)
    }
}

impl Proxy {
    /// Parses one proxy value; `variable` names it in errors.
    pub fn parse(variable: &'static str, raw: &str) -> Result<Proxy, ProxyError> {
        let error = |reason: String| ProxyError { variable, reason };
        let raw = raw.trim();
        let rest = match raw.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(error(format!(
                    "scheme {scheme:?} is not supported, only http:// proxies are"
                )))
            }
            // Go's fallback: a bare `host[:port]` is an http proxy.
            None => raw,
        };
        let authority = match rest.split_once('/') {
            Some((authority, "")) => authority,
            Some(_) => return Err(error("a proxy URL has no path".to_string())),
            None => rest,
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| error(format!("cannot read host and port from {hostport:?}")))?;
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| error(format!("invalid port {p:?}")))?,
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !host_ok {
            return Err(error(format!("invalid host {host:?}")));
        }
        let host = host.to_ascii_lowercase();
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let (authorization, display) = match userinfo {
            None => (None, format!("http://{shown_host}:{port}")),
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user)
                    .ok_or_else(|| error("invalid percent-encoding in the user".to_string()))?;
                let password = percent_decode(password)
                    .ok_or_else(|| error("invalid percent-encoding in the password".to_string()))?;
                let token = STANDARD.encode(format!("{user}:{password}"));
                let shown_user: String = user
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                (
                    Some(format!("Basic {token}")),
                    format!("http://{shown_user}@{shown_host}:{port}"),
                )
            }
        };
        Ok(Proxy {
            host,
            port,
            authorization,
            display,
        })
    }

    /// Where the proxy listens, as the `Origin` a connection is made to.
    pub fn origin(&self) -> Origin {
        Origin {
            https: false,
            host: self.host.clone(),
            port: self.port,
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 address has no port.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.matches(':').count() {
        0 => Some((s, None)),
        1 => s.split_once(':').map(|(h, p)| (h, Some(p))),
        _ => Some((s, None)),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bypass {
    /// `*`: no proxy at all.
    All,
    Cidr {
        network: IpAddr,
        prefix: u8,
    },
    Ip {
        ip: IpAddr,
        port: Option<u16>,
    },
    /// `suffix` starts with a dot; `exact` also matches the name without it.
    Domain {
        suffix: String,
        exact: bool,
        port: Option<u16>,
    },
}

impl Bypass {
    /// Go's reading of one entry; entries it cannot read are skipped, as in Go.
    fn parse(entry: &str) -> Option<Bypass> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Bypass::All);
        }
        if let Some((ip, prefix)) = entry.split_once('/') {
            let network: IpAddr = ip.parse().ok()?;
            let prefix: u8 = prefix.parse().ok()?;
            let max = if network.is_ipv4() { 32 } else { 128 };
            return (prefix <= max).then_some(Bypass::Cidr { network, prefix });
        }
        let (host, port) = split_host_port(&entry)?;
        // A port that is not a number can never match a real port (Go compares strings).
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().ok()?),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Bypass::Ip {
                ip: ip.to_canonical(),
                port,
            });
        }
        let host = host.strip_prefix('*').unwrap_or(host);
        if host.is_empty() {
            return None;
        }
        Some(match host.strip_prefix('.') {
            Some(_) => Bypass::Domain {
                suffix: host.to_string(),
                exact: false,
                port,
            },
            None => Bypass::Domain {
                suffix: format!(".{host}"),
                exact: true,
                port,
            },
        })
    }

    fn matches(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        let port_ok = |wanted: &Option<u16>| wanted.is_none_or(|p| p == port);
        match (self, ip) {
            (Bypass::All, _) => true,
            (Bypass::Cidr { network, prefix }, Some(ip)) => in_network(ip, *network, *prefix),
            (
                Bypass::Ip {
                    ip: wanted,
                    port: p,
                },
                Some(ip),
            ) => *wanted == ip && port_ok(p),
            (
                Bypass::Domain {
                    suffix,
                    exact,
                    port: p,
                },
                None,
            ) => {
                let name_ok =
                    host.ends_with(suffix.as_str()) || (*exact && suffix.get(1..) == Some(host));
                name_ok && port_ok(p)
            }
            _ => false,
        }
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (ip, network, width) = match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(a.to_bits()), u128::from(n.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(prefix);
    if shift >= width {
        return true;
    }
    (ip >> shift) == (network >> shift)
}

/// The proxies and exceptions for all outbound connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// For `http://` targets.
    pub http: Option<Proxy>,
    /// For `https://` targets (a CONNECT tunnel).
    pub https: Option<Proxy>,
    no_proxy: Vec<Bypass>,
}

impl ProxyConfig {
    /// No proxy at all.
    pub fn direct() -> ProxyConfig {
        ProxyConfig::default()
    }

    /// From this process's environment, as Go's `httpproxy.FromEnvironment`.
    pub fn from_env() -> Result<ProxyConfig, ProxyError> {
        let var = |upper: &'static str, lower: &'static str| {
            [upper, lower].into_iter().find_map(|name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (name, v))
            })
        };
        ProxyConfig::from_values(
            var("HTTP_PROXY", "http_proxy"),
            var("HTTPS_PROXY", "https_proxy"),
            var("NO_PROXY", "no_proxy").map(|(_, v)| v).as_deref(),
        )
    }

    /// From the values of the variables: `(variable name, value)` for the proxies.
    pub fn from_values(
        http: Option<(&'static str, String)>,
        https: Option<(&'static str, String)>,
        no_proxy: Option<&str>,
    ) -> Result<ProxyConfig, ProxyError> {
        let parse = |value: Option<(&'static str, String)>| {
            value
                .map(|(name, raw)| Proxy::parse(name, &raw))
                .transpose()
        };
        Ok(ProxyConfig {
            http: parse(http)?,
            https: parse(https)?,
            no_proxy: no_proxy
                .unwrap_or_default()
                .split(',')
                .filter_map(Bypass::parse)
                .collect(),
        })
    }

    /// The proxy a connection to `origin` goes through, if any.
    pub fn for_origin(&self, origin: &Origin) -> Option<&Proxy> {
        let proxy = if origin.https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        let host = origin.host.to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        // Go never proxies these, whatever NO_PROXY says.
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        let bypassed = self
            .no_proxy
            .iter()
            .any(|entry| entry.matches(&host, ip, origin.port));
        (!bypassed).then_some(proxy)
    }

    /// One line for the startup log.
    pub fn describe(&self) -> Option<String> {
        if self.http.is_none() && self.https.is_none() {
            return None;
        }
        let show = |p: &Option<Proxy>| p.as_ref().map_or("none".to_string(), Proxy::to_string);
        Some(format!(
            "outbound proxies: https {}, http {}, {} NO_PROXY entries",
            show(&self.https),
            show(&self.http),
            self.no_proxy.len()
        ))
    }
}

/// The process's proxy configuration, read from the environment on first use. `serve`
/// and `review` look at it at startup and refuse to start on an error, so a request never
/// meets one; a client that does fails every request (deny on doubt).
pub fn global() -> &'static Result<Arc<ProxyConfig>, ProxyError> {
    static CONFIG: OnceLock<Result<Arc<ProxyConfig>, ProxyError>> = OnceLock::new();
    CONFIG.get_or_init(|| ProxyConfig::from_env().map(Arc::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(no_proxy: &str) -> ProxyConfig {
        ProxyConfig::from_values(
            Some(("HTTP_PROXY", "http://proxy:3128".to_string())),
            Some(("HTTPS_PROXY", "proxy:3129".to_string())),
            Some(no_proxy),
        )
        .unwrap()
    }

    fn proxied(config: &ProxyConfig, https: bool, host: &str, port: u16) -> bool {
        config
            .for_origin(&Origin {
                https,
                host: host.to_string(),
                port,
            })
            .is_some()
    }

    #[test]
    fn proxy_urls_parse_with_go_defaults_and_hide_the_password() {
        let p = Proxy::parse("HTTPS_PROXY", "http://user:p%40ss@Proxy.example:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(
            p.authorization.as_deref(),
            Some(format!("Basic {}", STANDARD.encode("user:p@ss")).as_str())
        );
        assert_eq!(p.to_string(), "http://user@proxy.example:3128");
        assert!(!format!("{p:?}").contains("p%40ss") && !format!("{p:?}").contains("p@ss"));
        let bare = Proxy::parse("HTTP_PROXY", "10.0.0.1").unwrap();
        assert_eq!((bare.host.as_str(), bare.port), ("10.0.0.1", 80));
        assert_eq!(bare.authorization, None);
        let v6 = Proxy::parse("HTTP_PROXY", "http://[fd00::1]:8080").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("fd00::1", 8080));
        assert_eq!(v6.to_string(), "http://[fd00::1]:8080");
    }

    #[test]
    fn unusable_proxy_urls_are_errors_naming_the_variable() {
        for bad in [
            "socks5://proxy:1080",
            "https://proxy:443",
            "http://proxy:99999",
            "http://proxy:0",
            "http://proxy:3128/path",
            "http://",
            "http://pro xy:1",
            "http://u:%zz@proxy:1",
        ] {
            let e = Proxy::parse("HTTPS_PROXY", bad).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("unusable proxy setting HTTPS_PROXY: "),
                "{e}"
            );
        }
        let e = ProxyConfig::from_values(None, Some(("https_proxy", "ftp://x".into())), None)
            .unwrap_err();
        assert_eq!(e.variable, "https_proxy");
    }

    #[test]
    fn the_target_scheme_picks_the_proxy() {
        let c = config("");
        let https = Origin {
            https: true,
            host: "registry.example".to_string(),
            port: 443,
        };
        assert_eq!(c.for_origin(&https).map(|p| p.port), Some(3129));
        let http = Origin {
            https: false,
            ..https
        };
        assert_eq!(c.for_origin(&http).map(|p| p.port), Some(3128));
        let only_http =
            ProxyConfig::from_values(Some(("HTTP_PROXY", "proxy:3128".to_string())), None, None)
                .unwrap();
        assert!(!proxied(&only_http, true, "registry.example", 443));
        assert!(ProxyConfig::direct().describe().is_none());
    }

    #[test]
    fn localhost_and_loopback_are_never_proxied() {
        let c = config("");
        assert!(!proxied(&c, true, "localhost", 5000));
        assert!(!proxied(&c, true, "127.0.0.1", 5000));
        assert!(!proxied(&c, true, "127.3.4.5", 5000));
        assert!(!proxied(&c, true, "::1", 5000));
        assert!(!proxied(&c, true, "::ffff:127.0.0.1", 5000));
        // Only the exact name, as in Go.
        assert!(proxied(&c, true, "localhost.example", 5000));
        assert!(proxied(&c, true, "192.0.2.1", 5000));
    }

    #[test]
    fn no_proxy_domains_match_themselves_and_subdomains() {
        let c = config(" Example.com , .sub.test,*.star.test, other.test:8443");
        assert!(!proxied(&c, true, "example.com", 443));
        assert!(!proxied(&c, true, "registry.example.com", 443));
        assert!(proxied(&c, true, "notexample.com", 443));
        assert!(!proxied(&c, true, "a.sub.test", 443));
        assert!(
            proxied(&c, true, "sub.test", 443),
            "a leading dot: subdomains only"
        );
        assert!(!proxied(&c, true, "a.star.test", 443));
        assert!(proxied(&c, true, "star.test", 443));
        assert!(!proxied(&c, true, "other.test", 8443));
        assert!(proxied(&c, true, "other.test", 443), "the port must match");
        assert!(!proxied(&c, true, "x.other.test", 8443));
        // Domain entries never match IP addresses.
        let c = config("2.0.192");
        assert!(proxied(&c, true, "192.0.2.1", 443));
    }

    #[test]
    fn no_proxy_ips_and_cidrs_match_addresses() {
        let c =
            config("10.96.0.0/12,192.0.2.7,192.0.2.8:6443,fd00::/8,[2001:db8::5]:443,2001:db8::1");
        assert!(!proxied(&c, true, "10.96.0.1", 443));
        assert!(!proxied(&c, true, "10.111.255.255", 443));
        assert!(proxied(&c, true, "10.112.0.1", 443));
        assert!(!proxied(&c, true, "192.0.2.7", 5000));
        assert!(!proxied(&c, true, "192.0.2.8", 6443));
        assert!(proxied(&c, true, "192.0.2.8", 443));
        assert!(!proxied(&c, true, "fd12::3", 443));
        assert!(!proxied(&c, true, "2001:db8::5", 443));
        assert!(proxied(&c, true, "2001:db8::5", 80));
        assert!(!proxied(&c, true, "2001:db8::1", 443));
        assert!(proxied(&c, true, "2001:db8::2", 443));
        // An IP entry does not match a host name, even one that resolves to it.
        assert!(proxied(&c, true, "kubernetes.default.svc", 443));
        let all = config("a.test, *");
        assert!(!proxied(&all, true, "anything.example", 443));
        assert!(!proxied(&all, false, "192.0.2.1", 80));
    }

    #[test]
    fn malformed_no_proxy_entries_are_skipped() {
        let c = config(",,:80,10.0.0.0/99,[x,example.com");
        assert_eq!(c.no_proxy.len(), 1, "{:?}", c.no_proxy);
        assert!(!proxied(&c, true, "example.com", 443));
        assert!(proxied(&c, true, "example.org", 443));
    }
}
