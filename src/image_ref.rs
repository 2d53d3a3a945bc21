//! Container image references: parsing and normalisation the way Connaisseur v3 does it
//! (go-containerregistry's `name` package with weak validation, plus the tag kept on
//! `name:tag@digest` references).
//!
//! `nginx` becomes `index.docker.io/library/nginx:latest`; `docker.io` is rewritten to
//! `index.docker.io`; a first path component is a registry only when it contains `.` or
//! `:` (so `localhost/x` is the Docker Hub repository `localhost/x`); digests must be
//! `sha256:` followed by 64 lower-case hex characters.
//!
//! The normalised form is built once at parse time and kept, so that matching policy
//! rules against it (see [`crate::policy`]) allocates nothing.

use std::fmt;
use std::ops::Range;

/// Registry used when a reference names none.
pub const DOCKER_HUB: &str = "index.docker.io";
/// The short spelling of Docker Hub that is rewritten to [`DOCKER_HUB`].
const DOCKER_HUB_ALIAS: &str = "docker.io";
/// Tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest raw reference we look at; real ones are far below (255 + 128 + 71 + registry).
pub const MAX_REFERENCE_LEN: usize = 1024;

const TAG_MAX_LEN: usize = 128;
const REPOSITORY_MIN_LEN: usize = 2;
const REPOSITORY_MAX_LEN: usize = 255;
const SHA256_PREFIX: &str = "sha256:";
const SHA256_HEX_LEN: usize = 64;

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `<registry>/<repository>[:<tag>][@<digest>]`.
    normalised: String,
    registry_end: usize,
    repository_end: usize,
    tag: Option<Range<usize>>,
    digest: Option<Range<usize>>,
}

/// Why a string is not an image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRefError {
    Empty,
    TooLong(usize),
    InvalidTag(String),
    InvalidRepository(String),
    InvalidRegistry(String),
    MoreThanOneAt,
    UnsupportedDigestAlgorithm(String),
    InvalidDigest(String),
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a repository name must be specified"),
            Self::TooLong(len) => write!(
                f,
                "image reference is {len} bytes long, more than the {MAX_REFERENCE_LEN} allowed"
            ),
            Self::InvalidTag(tag) => write!(
                f,
                "tag {tag:?} must be 1 to {TAG_MAX_LEN} characters of [A-Za-z0-9_.-]"
            ),
            Self::InvalidRepository(repo) => write!(
                f,
                "repository {repo:?} must be {REPOSITORY_MIN_LEN} to {REPOSITORY_MAX_LEN} characters of [a-z0-9_./-]"
            ),
            Self::InvalidRegistry(registry) => write!(
                f,
                "registry {registry:?} must be a host name or [IPv6] address with an optional :port"
            ),
            Self::MoreThanOneAt => {
                f.write_str("a digest reference must contain exactly one '@' separator")
            }
            Self::UnsupportedDigestAlgorithm(digest) => {
                write!(f, "unsupported digest algorithm in {digest:?}: only sha256 is accepted")
            }
            Self::InvalidDigest(digest) => write!(
                f,
                "digest {digest:?} must be sha256: followed by {SHA256_HEX_LEN} lower-case hex characters"
            ),
        }
    }
}

impl std::error::Error for ImageRefError {}

impl ImageRef {
    /// Parses a raw image reference (the `image` field of a container).
    pub fn parse(raw: &str) -> Result<ImageRef, ImageRefError> {
        if raw.len() > MAX_REFERENCE_LEN {
            return Err(ImageRefError::TooLong(raw.len()));
        }
        if raw.is_empty() {
            return Err(ImageRefError::Empty);
        }
        match raw.split_once('@') {
            None => {
                let (name, tag) = split_tag(raw);
                let tag = match tag {
                    Some(tag) if !tag.is_empty() => check_tag(tag)?,
                    _ => DEFAULT_TAG,
                };
                let (registry, repository) = split_repository(name)?;
                Ok(Self::assemble(registry, &repository, Some(tag), None))
            }
            Some((name_and_tag, digest)) => {
                if digest.contains('@') {
                    return Err(ImageRefError::MoreThanOneAt);
                }
                let digest = check_digest(digest)?;
                let (name, tag) = split_tag(name_and_tag);
                let tag = match tag {
                    Some(tag) if !tag.is_empty() => Some(check_tag(tag)?),
                    _ => None,
                };
                let (registry, repository) = split_repository(name)?;
                Ok(Self::assemble(registry, &repository, tag, Some(digest)))
            }
        }
    }

    fn assemble(registry: &str, repository: &str, tag: Option<&str>, digest: Option<&str>) -> Self {
        let mut normalised = String::with_capacity(
            registry.len()
                + repository.len()
                + tag.map_or(0, str::len)
                + digest.map_or(0, str::len)
                + 3,
        );
        normalised.push_str(registry);
        let registry_end = normalised.len();
        normalised.push('/');
        normalised.push_str(repository);
        let repository_end = normalised.len();
        let tag = tag.map(|tag| {
            normalised.push(':');
            let start = normalised.len();
            normalised.push_str(tag);
            start..normalised.len()
        });
        let digest = digest.map(|digest| {
            normalised.push('@');
            let start = normalised.len();
            normalised.push_str(digest);
            start..normalised.len()
        });
        ImageRef {
            normalised,
            registry_end,
            repository_end,
            tag,
            digest,
        }
    }

    /// The registry host (with port if any), e.g. `index.docker.io`.
    pub fn registry(&self) -> &str {
        self.normalised.get(..self.registry_end).unwrap_or_default()
    }

    /// The repository path inside the registry, e.g. `library/nginx`.
    pub fn repository(&self) -> &str {
        self.normalised
            .get(self.registry_end + 1..self.repository_end)
            .unwrap_or_default()
    }

    /// `<registry>/<repository>` without tag or digest (Connaisseur's `Context`), used for
    /// credential lookup and registry access. Policy rules match the full normalised form
    /// ([`ImageRef::normalised`]) instead, which carries the tag and digest.
    pub fn name(&self) -> String {
        self.context().to_owned()
    }

    /// `<registry>/<repository>` borrowed, see [`ImageRef::name`].
    pub fn context(&self) -> &str {
        self.normalised
            .get(..self.repository_end)
            .unwrap_or_default()
    }

    /// The full normalised reference, `<registry>/<repository>[:<tag>][@<digest>]`: the
    /// string policy rules are matched against (Connaisseur's `Name()`).
    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    /// The tag: `latest` when the reference had neither tag nor digest, `None` for a
    /// digest-only reference.
    pub fn tag(&self) -> Option<&str> {
        self.tag
            .as_ref()
            .and_then(|range| self.normalised.get(range.clone()))
    }

    /// The digest, `sha256:<64 hex>`, if the reference carries one.
    pub fn digest(&self) -> Option<&str> {
        self.digest
            .as_ref()
            .and_then(|range| self.normalised.get(range.clone()))
    }

    /// The Notary v1 GUN: the context with Docker Hub spelled `docker.io`.
    pub fn notary_gun(&self) -> String {
        match self.context().strip_prefix("index.") {
            Some(rest) if self.registry() == DOCKER_HUB => rest.to_owned(),
            _ => self.context().to_owned(),
        }
    }

    /// The same reference pinned to `digest` (`sha256:<hex>` or bare hex), tag kept.
    pub fn with_digest(&self, digest: &str) -> Result<ImageRef, ImageRefError> {
        let prefixed;
        let digest = if digest.starts_with(SHA256_PREFIX) {
            digest
        } else {
            prefixed = format!("{SHA256_PREFIX}{digest}");
            &prefixed
        };
        let digest = check_digest(digest)?;
        Ok(Self::assemble(
            self.registry(),
            self.repository(),
            self.tag(),
            Some(digest),
        ))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalised)
    }
}

/// Splits `name[:tag]` at the last `:` unless what follows contains a `/` (then the colon
/// belongs to a registry port).
fn split_tag(raw: &str) -> (&str, Option<&str>) {
    match raw.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (raw, None),
    }
}

fn check_tag(tag: &str) -> Result<&str, ImageRefError> {
    let valid_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
    if tag.len() <= TAG_MAX_LEN && tag.bytes().all(valid_char) {
        Ok(tag)
    } else {
        Err(ImageRefError::InvalidTag(tag.to_owned()))
    }
}

fn check_digest(digest: &str) -> Result<&str, ImageRefError> {
    let Some(hex) = digest.strip_prefix(SHA256_PREFIX) else {
        return Err(ImageRefError::UnsupportedDigestAlgorithm(digest.to_owned()));
    };
    let lower_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if hex.len() == SHA256_HEX_LEN && hex.bytes().all(lower_hex) {
        Ok(digest)
    } else {
        Err(ImageRefError::InvalidDigest(digest.to_owned()))
    }
}

/// Splits a name into registry and repository, applying Docker Hub defaults.
fn split_repository(name: &str) -> Result<(&str, String), ImageRefError> {
    if name.is_empty() {
        return Err(ImageRefError::Empty);
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) => (first, rest),
        _ => ("", name),
    };
    check_repository(repository)?;
    let registry = match registry {
        "" | DOCKER_HUB_ALIAS => DOCKER_HUB,
        other => check_registry(other)?,
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    // Checked again after `library/` is added so that the normalised form re-parses.
    if repository.len() > REPOSITORY_MAX_LEN {
        return Err(ImageRefError::InvalidRepository(repository));
    }
    Ok((registry, repository))
}

fn check_repository(repository: &str) -> Result<(), ImageRefError> {
    let valid_char = |c: u8| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'/' | b'-')
    };
    let len_ok = (REPOSITORY_MIN_LEN..=REPOSITORY_MAX_LEN).contains(&repository.len());
    if len_ok && repository.bytes().all(valid_char) {
        Ok(())
    } else {
        Err(ImageRefError::InvalidRepository(repository.to_owned()))
    }
}

/// A registry must be an RFC 3986 authority without user info: a reg-name (unreserved and
/// sub-delimiter characters, no percent escapes) or a bracketed IPv6 literal, then an
/// optional `:port` of digits. Go's `url.Parse` is laxer (it also takes `<>"`, non-ASCII
/// bytes and an empty host); those never name a reachable registry, so they are refused.
fn check_registry(registry: &str) -> Result<&str, ImageRefError> {
    let invalid = || ImageRefError::InvalidRegistry(registry.to_owned());
    let port = if let Some(rest) = registry.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or_else(invalid)?;
        let ipv6_char = |c: u8| c.is_ascii_hexdigit() || matches!(c, b':' | b'.');
        if address.is_empty() || !address.bytes().all(ipv6_char) {
            return Err(invalid());
        }
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(invalid)?),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        let reg_name_char = |c: u8| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        };
        if host.is_empty() || !host.bytes().all(reg_name_char) {
            return Err(invalid());
        }
        port
    };
    match port {
        Some(port) if !port.bytes().all(|c| c.is_ascii_digit()) => Err(invalid()),
        _ => Ok(registry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff";

    fn digest() -> String {
        format!("sha256:{HEX}")
    }

    /// Raw input, context, tag, digest, normalised form.
    type Expected<'a> = (String, &'a str, Option<&'a str>, Option<&'a str>, String);

    /// §3.2: input → (context, tag, digest, normalised form).
    #[test]
    fn connaisseur_reference_table() {
        let d = digest();
        let hub = "index.docker.io/library/test-image";
        let cases: Vec<Expected> = vec![
            (
                "test-image".into(),
                hub,
                Some("latest"),
                None,
                format!("{hub}:latest"),
            ),
            (
                "test-image:latest".into(),
                hub,
                Some("latest"),
                None,
                format!("{hub}:latest"),
            ),
            (
                "test-image:1.0.0".into(),
                hub,
                Some("1.0.0"),
                None,
                format!("{hub}:1.0.0"),
            ),
            (
                "registry.io/path/to/repo/image:tag".into(),
                "registry.io/path/to/repo/image",
                Some("tag"),
                None,
                "registry.io/path/to/repo/image:tag".into(),
            ),
            (
                format!("test-image@{d}"),
                hub,
                None,
                Some(&d),
                format!("{hub}@{d}"),
            ),
            (
                format!("test-image:latest@{d}"),
                hub,
                Some("latest"),
                Some(&d),
                format!("{hub}:latest@{d}"),
            ),
            (
                "path/to/repo/image:tag".into(),
                "index.docker.io/path/to/repo/image",
                Some("tag"),
                None,
                "index.docker.io/path/to/repo/image:tag".into(),
            ),
            (
                "registry.io:8080/path/to/repo/image:tag".into(),
                "registry.io:8080/path/to/repo/image",
                Some("tag"),
                None,
                "registry.io:8080/path/to/repo/image:tag".into(),
            ),
            (
                format!("test-image:tag@{d}"),
                hub,
                Some("tag"),
                Some(&d),
                format!("{hub}:tag@{d}"),
            ),
            (
                format!("my.reg/allow-me@{d}"),
                "my.reg/allow-me",
                None,
                Some(&d),
                format!("my.reg/allow-me@{d}"),
            ),
            (
                "localhost:5000/test-image:latest".into(),
                "localhost:5000/test-image",
                Some("latest"),
                None,
                "localhost:5000/test-image:latest".into(),
            ),
            (
                "localhost/test-image:latest".into(),
                "index.docker.io/localhost/test-image",
                Some("latest"),
                None,
                "index.docker.io/localhost/test-image:latest".into(),
            ),
        ];
        for (raw, context, tag, digest, normalised) in cases {
            let image = ImageRef::parse(&raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(image.name(), context, "{raw}");
            assert_eq!(image.tag(), tag, "{raw}");
            assert_eq!(image.digest(), digest, "{raw}");
            assert_eq!(image.to_string(), normalised, "{raw}");
        }
    }

    #[test]
    fn connaisseur_invalid_references() {
        for raw in [
            "invalid,image",
            "asd\"fgh",
            "securesystemsengineering/alice-image@sha256:123",
            "",
        ] {
            assert!(ImageRef::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn docker_io_and_explicit_hub_are_rewritten() {
        for raw in [
            "docker.io/nginx",
            "index.docker.io/nginx",
            "nginx",
            "docker.io/library/nginx:latest",
        ] {
            let image = ImageRef::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(image.registry(), "index.docker.io");
            assert_eq!(image.repository(), "library/nginx");
            assert_eq!(image.to_string(), "index.docker.io/library/nginx:latest");
        }
    }

    #[test]
    fn empty_tag_defaults_to_latest() {
        let image = ImageRef::parse("nginx:").map(|i| i.to_string());
        assert_eq!(image.as_deref(), Ok("index.docker.io/library/nginx:latest"));
    }

    #[test]
    fn rejects_bad_pieces_with_the_matching_error() {
        let d = digest();
        assert!(matches!(
            ImageRef::parse("Nginx"),
            Err(ImageRefError::InvalidRepository(_))
        ));
        assert!(matches!(
            ImageRef::parse("a"),
            Err(ImageRefError::InvalidRepository(_))
        ));
        assert!(matches!(
            ImageRef::parse("nginx:bad!tag"),
            Err(ImageRefError::InvalidTag(_))
        ));
        let long_tag = format!("nginx:{}", "t".repeat(129));
        assert!(matches!(
            ImageRef::parse(&long_tag),
            Err(ImageRefError::InvalidTag(_))
        ));
        let md5 = "nginx@md5:d41d8cd98f00b204e9800998ecf8427e";
        assert!(matches!(
            ImageRef::parse(md5),
            Err(ImageRefError::UnsupportedDigestAlgorithm(_))
        ));
        let upper = format!("nginx@sha256:{}", HEX.to_uppercase());
        assert!(matches!(
            ImageRef::parse(&upper),
            Err(ImageRefError::InvalidDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse(&format!("a@b@{d}")),
            Err(ImageRefError::MoreThanOneAt)
        ));
        assert!(ImageRef::parse("user@reg.io/x:1").is_err());
        assert!(matches!(
            ImageRef::parse("reg.io:x5/app"),
            Err(ImageRefError::InvalidRegistry(_))
        ));
        assert!(matches!(
            ImageRef::parse(":5000/app"),
            Err(ImageRefError::InvalidRegistry(_))
        ));
        assert!(matches!(
            ImageRef::parse("re<g>.io/app"),
            Err(ImageRefError::InvalidRegistry(_))
        ));
        let huge = "a".repeat(MAX_REFERENCE_LEN + 1);
        assert!(matches!(
            ImageRef::parse(&huge),
            Err(ImageRefError::TooLong(_))
        ));
    }

    #[test]
    fn ipv6_and_port_registries() {
        let image = ImageRef::parse("[::1]:5000/app:v1").map(|i| i.registry().to_owned());
        assert_eq!(image.as_deref(), Ok("[::1]:5000"));
        assert!(ImageRef::parse("[::1/app").is_err());
        assert!(ImageRef::parse("[zz]/app").is_err());
    }

    #[test]
    fn long_hub_name_that_would_not_reparse_is_rejected() {
        let name = "n".repeat(250);
        assert!(ImageRef::parse(&name).is_err());
        assert!(ImageRef::parse(&format!("reg.io/{name}")).is_ok());
    }

    #[test]
    fn with_digest_keeps_the_tag_and_accepts_bare_hex() {
        let image = ImageRef::parse("index.docker.io/library/test-image:latest");
        let pinned = image
            .and_then(|i| i.with_digest(HEX))
            .map(|i| i.to_string());
        assert_eq!(
            pinned.as_deref().ok(),
            Some(format!("index.docker.io/library/test-image:latest@sha256:{HEX}").as_str())
        );
        let image = ImageRef::parse("reg.io/app");
        assert!(image.and_then(|i| i.with_digest("sha256:123")).is_err());
    }

    #[test]
    fn notary_gun_shortens_docker_hub_only() {
        let gun = |raw: &str| ImageRef::parse(raw).map(|i| i.notary_gun());
        assert_eq!(
            gun("test-image:latest").as_deref(),
            Ok("docker.io/library/test-image")
        );
        assert_eq!(
            gun("registry.io:8080/path/to/repo/image:tag").as_deref(),
            Ok("registry.io:8080/path/to/repo/image")
        );
    }

    /// Property: the normalised form of anything accepted re-parses to itself.
    #[test]
    fn normalised_form_round_trips() {
        let d = digest();
        let pieces_registry = [
            "",
            "docker.io/",
            "index.docker.io/",
            "reg.io:5000/",
            "[::1]/",
            "localhost/",
            "a.b/",
        ];
        let pieces_repo = ["ng", "library/ng", "a/b/c", "x_y.z-w", "a//b", "n/"];
        let pieces_suffix = [
            String::new(),
            ":".into(),
            ":v1.2".into(),
            format!("@{d}"),
            format!(":t@{d}"),
            format!(":@{d}"),
        ];
        for registry in pieces_registry {
            for repo in pieces_repo {
                for suffix in &pieces_suffix {
                    let raw = format!("{registry}{repo}{suffix}");
                    let Ok(image) = ImageRef::parse(&raw) else {
                        continue;
                    };
                    let again = ImageRef::parse(&image.to_string());
                    assert_eq!(again.as_ref(), Ok(&image), "{raw}");
                }
            }
        }
    }
}
