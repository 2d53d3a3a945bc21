//! Sigstore trusted roots (`trusted_root.json`, media type
//! `application/vnd.dev.sigstore.trustedroot+json;version=0.1`): the Fulcio certificate
//! authorities, Rekor logs and CT logs of a Sigstore instance, each with the window in which
//! it may be trusted. A snapshot of the public-good instance's is embedded (taken from the
//! `sigstore` 4.5.1 package on PyPI, which ships it as its TUF cache seed); a validator may
//! name its own file instead. No TUF fetching: the file is the trust. Its time-stamping
//! authorities vouch for the RFC 3161 timestamps in bundles.
//!
//! A key or authority counts only for signatures made inside its `validFor` window: a Rekor
//! key for the entry's integrated time, a CT log key and a Fulcio authority for the time the
//! certificate is checked at.

use std::fmt;
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use crate::crypto::PublicKey;
use crate::validators::notaryv1::timestamp::parse_rfc3339;

/// The public-good instance's trusted root, as the `sigstore` 4.5.1 wheel on PyPI ships it
/// (`sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json`).
pub const PUBLIC_GOOD_TRUSTED_ROOT: &str = include_str!("public_good_trusted_root.json");
/// The media type a trusted root declares.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// Largest trusted root read (the public-good one is about 6 KiB).
pub const MAX_TRUSTED_ROOT_BYTES: usize = 1024 * 1024;
/// Most logs or authorities of one kind.
const MAX_ENTRIES: usize = 64;

/// When something may be trusted: from `start`, until `end` when there is one (Unix
/// seconds, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: Option<i64>,
}

impl Window {
    /// Always: for keys configured one by one (`host.*`), which carry no window.
    pub const ALWAYS: Window = Window {
        start: i64::MIN,
        end: None,
    };

    pub fn contains(&self, at: i64) -> bool {
        at >= self.start && self.end.is_none_or(|end| at <= end)
    }
}

/// A log's key (Rekor or CT) and its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogKey {
    pub key: PublicKey,
    pub valid: Window,
}

/// The keys of every log of one kind a validator trusts, found by log ID (the SHA-256 of the
/// key's SubjectPublicKeyInfo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogKeys(Vec<LogKey>);

impl LogKeys {
    /// One key, trusted at any time.
    pub fn single(key: PublicKey) -> LogKeys {
        LogKeys(vec![LogKey {
            key,
            valid: Window::ALWAYS,
        }])
    }

    /// The key of the log `log_id` (hex), if that log is trusted.
    pub fn by_id(&self, log_id: &str) -> Option<&LogKey> {
        self.0
            .iter()
            .find(|log| log.key.sha256_id().eq_ignore_ascii_case(log_id))
    }

    /// The keys valid at `at`.
    pub fn valid_at(&self, at: i64) -> impl Iterator<Item = &PublicKey> {
        self.0
            .iter()
            .filter(move |log| log.valid.contains(at))
            .map(|log| &log.key)
    }
}

/// A Fulcio certificate authority: its chain (every certificate a trust anchor, as with
/// `host.fulcioCert`) and its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    pub certificates: Vec<CertificateDer<'static>>,
    pub valid: Window,
}

/// A parsed trusted root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigstoreTrustedRoot {
    pub authorities: Vec<Authority>,
    /// Time-stamping authorities (RFC 3161), each chain's certificates and window.
    pub timestamp_authorities: Vec<Authority>,
    pub tlogs: LogKeys,
    pub ctlogs: LogKeys,
}

/// Why a trusted root cannot be used; shown to whoever configured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedRootError(pub String);

impl fmt::Display for TrustedRootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unusable Sigstore trusted root: {}", self.0)
    }
}

impl std::error::Error for TrustedRootError {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    public_key: RawKey,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    valid_for: RawWindow,
}

#[derive(Deserialize)]
struct RawWindow {
    start: String,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    cert_chain: RawChain,
    valid_for: RawWindow,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

fn invalid(reason: impl Into<String>) -> TrustedRootError {
    TrustedRootError(reason.into())
}

fn instant(text: &str, what: &str) -> Result<i64, TrustedRootError> {
    parse_rfc3339(text)
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .and_then(|since| i64::try_from(since.as_secs()).ok())
        .ok_or_else(|| invalid(format!("{what} {text:?} is not an RFC 3339 time")))
}

fn window(raw: &RawWindow, what: &str) -> Result<Window, TrustedRootError> {
    Ok(Window {
        start: instant(&raw.start, what)?,
        end: raw
            .end
            .as_deref()
            .map(|end| instant(end, what))
            .transpose()?,
    })
}

fn log_keys(raw: Vec<RawLog>, kind: &str) -> Result<LogKeys, TrustedRootError> {
    if raw.len() > MAX_ENTRIES {
        return Err(invalid(format!("more than {MAX_ENTRIES} {kind}")));
    }
    raw.into_iter()
        .map(|log| {
            let der = STANDARD
                .decode(&log.public_key.raw_bytes)
                .map_err(|_| invalid(format!("a key of {kind} is not base64")))?;
            let key = PublicKey::from_spki_der(&der)
                .map_err(|e| invalid(format!("a key of {kind}: {e}")))?;
            Ok(LogKey {
                key,
                valid: window(&log.public_key.valid_for, "validFor")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(LogKeys)
}

fn authorities_of(raw: Vec<RawAuthority>, kind: &str) -> Result<Vec<Authority>, TrustedRootError> {
    if raw.len() > MAX_ENTRIES {
        return Err(invalid(format!("more than {MAX_ENTRIES} {kind}")));
    }
    raw.into_iter()
        .map(|authority| {
            let certificates = authority
                .cert_chain
                .certificates
                .iter()
                .map(|c| {
                    STANDARD
                        .decode(&c.raw_bytes)
                        .map(CertificateDer::from)
                        .map_err(|_| invalid(format!("a certificate of the {kind} is not base64")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if certificates.is_empty() {
                return Err(invalid(format!("one of the {kind} has no certificate")));
            }
            Ok(Authority {
                certificates,
                valid: window(&authority.valid_for, "validFor")?,
            })
        })
        .collect()
}

impl SigstoreTrustedRoot {
    pub fn parse(bytes: &[u8]) -> Result<SigstoreTrustedRoot, TrustedRootError> {
        if bytes.len() > MAX_TRUSTED_ROOT_BYTES {
            return Err(invalid(format!(
                "{} bytes, more than {MAX_TRUSTED_ROOT_BYTES}",
                bytes.len()
            )));
        }
        let raw: RawRoot = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if raw.media_type != TRUSTED_ROOT_MEDIA_TYPE {
            return Err(invalid(format!(
                "media type {:?}, expected {TRUSTED_ROOT_MEDIA_TYPE}",
                raw.media_type.chars().take(100).collect::<String>()
            )));
        }
        let authorities = authorities_of(raw.certificate_authorities, "certificate authorities")?;
        let timestamp_authorities =
            authorities_of(raw.timestamp_authorities, "timestamp authorities")?;
        Ok(SigstoreTrustedRoot {
            authorities,
            timestamp_authorities,
            tlogs: log_keys(raw.tlogs, "tlogs")?,
            ctlogs: log_keys(raw.ctlogs, "ctlogs")?,
        })
    }

    /// The embedded public-good trusted root, parsed once per process.
    pub fn public_good() -> Result<&'static SigstoreTrustedRoot, TrustedRootError> {
        static PARSED: OnceLock<Result<SigstoreTrustedRoot, TrustedRootError>> = OnceLock::new();
        PARSED
            .get_or_init(|| SigstoreTrustedRoot::parse(PUBLIC_GOOD_TRUSTED_ROOT.as_bytes()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validators::cosign::bundle::PUBLIC_GOOD_REKOR_KEY;

    fn at(text: &str) -> i64 {
        instant(text, "test").unwrap()
    }

    #[test]
    fn the_embedded_public_good_root_has_its_logs_and_authorities_with_windows() {
        let root = SigstoreTrustedRoot::public_good().unwrap();
        assert!(root.authorities.len() >= 2, "{:?}", root.authorities.len());
        let rekor = PublicKey::from_pem(PUBLIC_GOOD_REKOR_KEY).unwrap();
        let logged = root
            .tlogs
            .by_id(&rekor.sha256_id())
            .expect("rekor.sigstore.dev");
        assert!(logged.valid.contains(at("2024-06-01T00:00:00Z")));
        assert!(!logged.valid.contains(at("2020-06-01T00:00:00Z")));
        // The first CT log key served until the end of October 2022, the second from then.
        let early: Vec<_> = root.ctlogs.valid_at(at("2021-06-01T00:00:00Z")).collect();
        let late: Vec<_> = root.ctlogs.valid_at(at("2025-06-01T00:00:00Z")).collect();
        assert_eq!((early.len(), late.len()), (1, 1));
        assert_ne!(early[0], late[0]);
        assert_eq!(root.timestamp_authorities.len(), 1);
        // The first Fulcio authority ended with 2022.
        let ended = root
            .authorities
            .iter()
            .filter(|a| a.valid.end.is_some())
            .count();
        assert_eq!(ended, 1);
    }

    #[test]
    fn a_malformed_root_is_refused_with_its_reason() {
        let refused = |json: &str| SigstoreTrustedRoot::parse(json.as_bytes()).unwrap_err().0;
        assert!(refused("{").contains("EOF"));
        assert!(refused(r#"{"mediaType": "x"}"#).contains("media type"));
        let bad_key = format!(
            r#"{{"mediaType": "{TRUSTED_ROOT_MEDIA_TYPE}", "tlogs": [{{"publicKey": {{"rawBytes": "AAAA", "validFor": {{"start": "2021-01-01T00:00:00Z"}}}}}}]}}"#
        );
        assert!(refused(&bad_key).contains("a key of tlogs"));
        let bad_time = format!(
            r#"{{"mediaType": "{TRUSTED_ROOT_MEDIA_TYPE}", "certificateAuthorities": [{{"certChain": {{"certificates": [{{"rawBytes": "AAAA"}}]}}, "validFor": {{"start": "yesterday"}}}}]}}"#
        );
        assert!(refused(&bad_time).contains("not an RFC 3339 time"));
    }

    #[test]
    fn windows_include_their_ends() {
        let window = Window {
            start: 10,
            end: Some(20),
        };
        assert!(window.contains(10) && window.contains(20));
        assert!(!window.contains(9) && !window.contains(21));
        assert!(Window::ALWAYS.contains(i64::MIN) && Window::ALWAYS.contains(i64::MAX));
    }
}
