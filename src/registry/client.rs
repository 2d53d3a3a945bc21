//! The registry client (OCI distribution spec, pull side): tag → digest, manifests and
//! blobs, each checked against the digest it was asked by, with anonymous, Basic and Bearer
//! token authentication and `429 Retry-After` honoured within the deadline.
//!
//! A `401` is answered once: a Bearer challenge by a token for `repository:<repo>:pull`
//! from the challenge's realm (with the configured Basic credentials, if any), a Basic
//! challenge by the credentials. Tokens are cached per registry and repository.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;

use super::auth::{self, Challenge, Token};
use super::credentials::Credentials;
use super::manifest::{self, Manifest, ManifestError, ACCEPT_MANIFESTS, MAX_MANIFEST_BYTES};
use crate::image_ref::{ImageRef, DOCKER_HUB};
use crate::net::http_response::FramingError;
use crate::net::https_client::{
    self, HttpError, HttpsClient, Method, PlainHttp, Request, Response, Url,
};

/// Where Docker Hub's registry API answers for `index.docker.io`.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Largest token server answer read.
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest error body kept for a message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Most `429` answers waited out for one request.
const MAX_RATE_LIMIT_RETRIES: usize = 3;
/// Wait after a `429` without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Most cached tokens; the cache is cleared when full (tokens are cheap to fetch again).
const MAX_CACHED_TOKENS: usize = 256;

/// How a client reaches one validator's registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Trust exactly these CAs (the validator's `cert`); `None`: the system bundle.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// Credentials from `auth.secretName`.
    pub credentials: Option<Credentials>,
    /// The registries spoken to over plain HTTP (only where the configuration says so).
    pub plain_http: PlainHttp,
}

/// One page of a referrers index and where the next one is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrersPage {
    pub body: Vec<u8>,
    /// The path (and query) of the next page, from `Link: <…>; rel="next"`.
    pub next: Option<String>,
}

/// The next page a `Link` header names (OCI distribution spec: `<path?query>; rel="next"`),
/// only when it stays on the referrers path of the first page (`first`): a registry cannot
/// send the client elsewhere.
fn next_page(link: &str, first: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params
            .split(';')
            .any(|param| matches!(param.trim(), "rel=\"next\"" | "rel=next"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let safe = query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=&%-._~:+".contains(&b));
        (is_next && path == first && safe).then(|| target.to_owned())
    })
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The connection or the HTTP exchange failed (includes timeouts and size limits).
    Http { what: String, error: HttpError },
    /// The image, tag or digest does not exist.
    ManifestNotFound { image: String, reference: String },
    /// A blob the manifest refers to does not exist.
    BlobNotFound { image: String, digest: String },
    /// The registry requires credentials and none are configured.
    CredentialsRequired { registry: String },
    /// The registry (or its token server) refused the credentials or the token.
    AccessDenied { registry: String, detail: String },
    /// The `WWW-Authenticate` challenge is unusable.
    BadChallenge { registry: String, detail: String },
    /// `429` and the `Retry-After` does not fit before the deadline.
    RateLimited {
        registry: String,
        retry_after: Duration,
    },
    /// An answer that makes no sense at this point.
    UnexpectedStatus {
        what: String,
        status: u16,
        detail: String,
    },
    /// Content whose sha256 differs from the digest it was asked by or announced with.
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// The manifest is unusable.
    Manifest { what: String, error: ManifestError },
    /// A digest that is not `sha256:<64 hex>`.
    InvalidDigest(String),
    /// The signature manifest has more layers than accepted.
    TooManySignatures {
        image: String,
        count: usize,
        limit: usize,
    },
    /// The signature manifest or a payload is unusable (an index, a size beyond limits).
    InvalidSignatures { image: String, detail: String },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Http { what, error } => write!(f, "{what}: {error}"),
            RegistryError::ManifestNotFound { image, reference } => write!(
                f,
                "image {image} does not exist: manifest {reference} not found in the registry"
            ),
            RegistryError::BlobNotFound { image, digest } => {
                write!(f, "blob {digest} of image {image} not found in the registry")
            }
            RegistryError::CredentialsRequired { registry } => write!(
                f,
                "registry {registry} requires authentication: configure auth.secretName on the validator"
            ),
            RegistryError::AccessDenied { registry, detail } => write!(
                f,
                "registry {registry} denied access: {detail}; check the credentials in auth.secretName"
            ),
            RegistryError::BadChallenge { registry, detail } => {
                write!(f, "registry {registry} sent an unusable authentication challenge: {detail}")
            }
            RegistryError::RateLimited {
                registry,
                retry_after,
            } => write!(
                f,
                "registry {registry} is rate limiting (retry after {} s, beyond the deadline)",
                retry_after.as_secs()
            ),
            RegistryError::UnexpectedStatus {
                what,
                status,
                detail,
            } => write!(f, "{what}: unexpected HTTP status {status}{detail}"),
            RegistryError::DigestMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what}: content digest {actual} does not match the expected {expected}; the registry served different content"
            ),
            RegistryError::Manifest { what, error } => write!(f, "{what}: {error}"),
            RegistryError::InvalidDigest(digest) => {
                write!(f, "invalid digest {digest:?}: expected sha256:<64 hex>")
            }
            RegistryError::TooManySignatures {
                image,
                count,
                limit,
            } => write!(
                f,
                "signature manifest of {image} has {count} layers, more than the {limit} accepted"
            ),
            RegistryError::InvalidSignatures { image, detail } => {
                write!(f, "unusable cosign signatures of {image}: {detail}")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

impl RegistryError {
    /// Whether the deadline ran out (such errors are reported as timeouts, never cached).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RegistryError::Http { error, .. } if error.is_timeout())
    }

    /// Whether the failure is transport-level (connection, TLS, timeout, framing): worth
    /// retrying later, never worth caching.
    pub fn is_transport(&self) -> bool {
        matches!(self, RegistryError::Http { .. })
    }
}

/// A manifest as fetched: its bytes, their digest, and the parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// `sha256:<hex>` of `bytes` (checked against what was asked or announced).
    pub digest: String,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// A registry client for one validator's settings. `Send + Sync`: share it between workers.
pub struct RegistryClient {
    http: HttpsClient,
    credentials: Option<Credentials>,
    plain_http: PlainHttp,
    /// Bearer tokens by `registry/repository`.
    tokens: Mutex<HashMap<String, Token>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    pub fn new(options: RegistryOptions) -> Result<RegistryClient, RegistryError> {
        let tls = https_client::tls_config(options.ca.as_deref()).map_err(|error| {
            RegistryError::Http {
                what: "setting up the registry client".to_string(),
                error,
            }
        })?;
        Ok(RegistryClient {
            http: HttpsClient::new(tls, options.plain_http.clone()),
            credentials: options.credentials,
            plain_http: options.plain_http,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The digest the image's tag (or digest) points at. By tag: `HEAD` and its
    /// `Docker-Content-Digest`, else `GET` and hashing. By digest: fetched and checked.
    pub fn resolve_digest(
        &self,
        image: &ImageRef,
        deadline: Instant,
    ) -> Result<String, RegistryError> {
        if let Some(digest) = image.digest() {
            return Ok(self.manifest(image, digest, deadline)?.digest);
        }
        let tag = image.tag().unwrap_or(crate::image_ref::DEFAULT_TAG);
        let what = format!("resolving {image}");
        let path = format!("/v2/{}/manifests/{tag}", image.repository());
        let response = self.get(
            image,
            Method::Head,
            &path,
            ACCEPT_MANIFESTS,
            0,
            deadline,
            &what,
        )?;
        match response.status {
            200 => {}
            404 => {
                return Err(RegistryError::ManifestNotFound {
                    image: image.to_string(),
                    reference: tag.to_string(),
                })
            }
            // Some registries do not answer HEAD on manifests: the GET below settles it.
            405 | 501 => return Ok(self.manifest(image, tag, deadline)?.digest),
            status => return Err(unexpected(&what, status, &response)),
        }
        match response.header("docker-content-digest") {
            Some(digest) if manifest::is_sha256_digest(digest) => Ok(digest.to_string()),
            _ => Ok(self.manifest(image, tag, deadline)?.digest),
        }
    }

    /// The manifest at `reference` (a tag or a digest) in the image's repository, at most
    /// [`MAX_MANIFEST_BYTES`]. Its sha256 must equal the digest asked for, or the
    /// `Docker-Content-Digest` announced for a tag.
    pub fn manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        deadline: Instant,
    ) -> Result<FetchedManifest, RegistryError> {
        let by_digest = reference.starts_with("sha256:");
        if by_digest && !manifest::is_sha256_digest(reference) {
            return Err(RegistryError::InvalidDigest(reference.to_string()));
        }
        let what = format!("fetching manifest {reference} of {}", image.context());
        let path = format!("/v2/{}/manifests/{reference}", image.repository());
        let response = self.get(
            image,
            Method::Get,
            &path,
            ACCEPT_MANIFESTS,
            MAX_MANIFEST_BYTES,
            deadline,
            &what,
        )?;
        match response.status {
            200 => {}
            404 => {
                return Err(RegistryError::ManifestNotFound {
                    image: image.to_string(),
                    reference: reference.to_string(),
                })
            }
            status => return Err(unexpected(&what, status, &response)),
        }
        let digest = manifest::sha256_digest(&response.body);
        let expected = if by_digest {
            Some(reference)
        } else {
            response.header("docker-content-digest")
        };
        if let Some(expected) = expected {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: expected.to_string(),
                    actual: digest,
                });
            }
        }
        let parsed =
            manifest::parse(&response.body, response.header("content-type")).map_err(|error| {
                RegistryError::Manifest {
                    what: what.clone(),
                    error,
                }
            })?;
        Ok(FetchedManifest {
            digest,
            bytes: response.body,
            manifest: parsed,
        })
    }

    /// The blob `digest` of the image's repository, at most `max_bytes`, digest-checked.
    /// Redirects (to a CDN) are followed.
    pub fn blob(
        &self,
        image: &ImageRef,
        digest: &str,
        max_bytes: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, RegistryError> {
        if !manifest::is_sha256_digest(digest) {
            return Err(RegistryError::InvalidDigest(digest.to_string()));
        }
        let what = format!("fetching blob {digest} of {}", image.context());
        let path = format!("/v2/{}/blobs/{digest}", image.repository());
        let response = self.get(image, Method::Get, &path, "*/*", max_bytes, deadline, &what)?;
        match response.status {
            200 => {}
            404 => {
                return Err(RegistryError::BlobNotFound {
                    image: image.to_string(),
                    digest: digest.to_string(),
                })
            }
            status => return Err(unexpected(&what, status, &response)),
        }
        let actual = manifest::sha256_digest(&response.body);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(response.body)
    }

    /// One page of the referrers index of `digest` from the OCI referrers API
    /// (`GET /v2/<name>/referrers/<digest>`, or the `next` path of the page before), at most
    /// [`MAX_MANIFEST_BYTES`]. `None` when the registry does not offer the API (404, or an
    /// answer that is not an OCI index): callers then read the referrers tag schema.
    pub fn referrers(
        &self,
        image: &ImageRef,
        digest: &str,
        page: Option<&str>,
        deadline: Instant,
    ) -> Result<Option<ReferrersPage>, RegistryError> {
        if !manifest::is_sha256_digest(digest) {
            return Err(RegistryError::InvalidDigest(digest.to_string()));
        }
        let what = format!("listing the referrers of {digest} of {}", image.context());
        let first = format!("/v2/{}/referrers/{digest}", image.repository());
        let path = page.unwrap_or(&first);
        let response = self.get(
            image,
            Method::Get,
            path,
            manifest::OCI_INDEX,
            MAX_MANIFEST_BYTES,
            deadline,
            &what,
        )?;
        let is_index = response
            .header("content-type")
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|ct| ct.trim() == manifest::OCI_INDEX);
        match response.status {
            200 if is_index => Ok(Some(ReferrersPage {
                next: response
                    .header("link")
                    .and_then(|link| next_page(link, &first)),
                body: response.body,
            })),
            // A 200 that is not an index is some catch-all page, not the API (as ORAS does).
            200 | 404 => Ok(None),
            status => Err(unexpected(&what, status, &response)),
        }
    }

    /// The registry API base URL for an image's registry.
    fn base_url(&self, registry: &str) -> String {
        let host = if registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            registry
        };
        let plain = Url::parse(&format!("http://{host}/"))
            .is_ok_and(|url| self.plain_http.allows(&url.origin));
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{host}")
    }

    /// One authenticated request, with the 401 and 429 handling.
    #[allow(clippy::too_many_arguments)]
    fn get(
        &self,
        image: &ImageRef,
        method: Method,
        path: &str,
        accept: &str,
        max_body: usize,
        deadline: Instant,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let transport = |error| RegistryError::Http {
            what: what.to_string(),
            error,
        };
        let url =
            Url::parse(&format!("{}{path}", self.base_url(image.registry()))).map_err(transport)?;
        let registry = url.origin.authority();
        let mut authorization = self.known_authorization(image);
        let mut challenged = false;
        let mut rate_limited = 0;
        loop {
            let mut headers = vec![("Accept".to_string(), accept.to_string())];
            if let Some(value) = &authorization {
                headers.push(("Authorization".to_string(), value.clone()));
            }
            let request = Request {
                method,
                url: url.clone(),
                headers,
                // Error bodies are read too (for their message), under their own small limit.
                max_body: max_body.max(MAX_ERROR_BODY),
                deadline,
            };
            let response = self.http.send(&request).map_err(transport)?;
            if response.status == 200 && response.body.len() > max_body {
                return Err(transport(HttpError::Response {
                    host: registry.clone(),
                    error: FramingError::BodyTooLarge { limit: max_body },
                }));
            }
            match response.status {
                401 if !challenged => {
                    challenged = true;
                    authorization =
                        Some(self.answer_challenge(image, &registry, &response, deadline, what)?);
                }
                401 | 403 => {
                    return Err(match self.lookup_credentials(image) {
                        None => RegistryError::CredentialsRequired { registry },
                        Some(_) => RegistryError::AccessDenied {
                            registry,
                            detail: format!(
                                "status {} for repository {}{}",
                                response.status,
                                image.repository(),
                                error_detail(&response)
                            ),
                        },
                    })
                }
                429 if rate_limited < MAX_RATE_LIMIT_RETRIES => {
                    rate_limited += 1;
                    let wait = retry_after(&response);
                    if Instant::now() + wait >= deadline {
                        return Err(RegistryError::RateLimited {
                            registry,
                            retry_after: wait,
                        });
                    }
                    std::thread::sleep(wait);
                }
                429 => {
                    return Err(RegistryError::RateLimited {
                        registry,
                        retry_after: retry_after(&response),
                    })
                }
                _ => return Ok(response),
            }
        }
    }

    fn lookup_credentials(&self, image: &ImageRef) -> Option<&auth::BasicAuth> {
        self.credentials.as_ref()?.lookup(image.context())
    }

    /// What to send before any challenge: a cached token, else nothing (credentials are
    /// sent only when asked for, so they never go to a registry that does not want them).
    fn known_authorization(&self, image: &ImageRef) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        let token = tokens.get(image.context())?;
        token
            .is_fresh(Instant::now())
            .then(|| format!("Bearer {}", token.value))
    }

    fn answer_challenge(
        &self,
        image: &ImageRef,
        registry: &str,
        response: &Response,
        deadline: Instant,
        what: &str,
    ) -> Result<String, RegistryError> {
        let credentials = self.lookup_credentials(image);
        let required = || RegistryError::CredentialsRequired {
            registry: registry.to_string(),
        };
        // Without a challenge, Basic is the only thing worth trying.
        let Some(header) = response.header("www-authenticate") else {
            return credentials
                .map(auth::BasicAuth::header)
                .ok_or_else(required);
        };
        let bad = |detail: String| RegistryError::BadChallenge {
            registry: registry.to_string(),
            detail,
        };
        let challenge = Challenge::parse(header).map_err(|e| bad(e.to_string()))?;
        match challenge.scheme.as_str() {
            "basic" => credentials
                .map(auth::BasicAuth::header)
                .ok_or_else(required),
            "bearer" => {
                let realm = challenge
                    .param("realm")
                    .ok_or_else(|| bad("Bearer challenge without realm".to_string()))?;
                let scope = format!("repository:{}:pull", image.repository());
                let token_url = auth::token_url(realm, challenge.param("service"), &scope);
                let token = self.fetch_token(registry, &token_url, credentials, deadline, what)?;
                let value = format!("Bearer {}", token.value);
                if let Ok(mut tokens) = self.tokens.lock() {
                    if tokens.len() >= MAX_CACHED_TOKENS {
                        tokens.clear();
                    }
                    tokens.insert(image.context().to_string(), token);
                }
                Ok(value)
            }
            other => Err(bad(format!("unsupported scheme {other:?}"))),
        }
    }

    fn fetch_token(
        &self,
        registry: &str,
        token_url: &str,
        credentials: Option<&auth::BasicAuth>,
        deadline: Instant,
        what: &str,
    ) -> Result<Token, RegistryError> {
        let what = format!("{what}: getting a token");
        let transport = |error| RegistryError::Http {
            what: what.clone(),
            error,
        };
        let url = Url::parse(token_url).map_err(transport)?;
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        if let Some(basic) = credentials {
            headers.push(("Authorization".to_string(), basic.header()));
        }
        let response = self
            .http
            .send(&Request {
                method: Method::Get,
                url: url.clone(),
                headers,
                max_body: MAX_TOKEN_BYTES,
                deadline,
            })
            .map_err(transport)?;
        match response.status {
            200 => Token::from_answer(&response.body, Instant::now()).map_err(|detail| {
                RegistryError::BadChallenge {
                    registry: registry.to_string(),
                    detail: format!("token server {}: {detail}", url.origin.authority()),
                }
            }),
            401 | 403 => Err(RegistryError::AccessDenied {
                registry: registry.to_string(),
                detail: format!(
                    "token server {} answered {}{}{}",
                    url.origin.authority(),
                    response.status,
                    if credentials.is_some() {
                        " to the configured credentials"
                    } else {
                        " to an anonymous request"
                    },
                    error_detail(&response)
                ),
            }),
            status => Err(unexpected(&what, status, &response)),
        }
    }
}

/// `Retry-After` in seconds (an HTTP date is treated as absent).
fn retry_after(response: &Response) -> Duration {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER)
}

fn unexpected(what: &str, status: u16, response: &Response) -> RegistryError {
    RegistryError::UnexpectedStatus {
        what: what.to_string(),
        status,
        detail: error_detail(response),
    }
}

/// A short, printable excerpt of an error body, prefixed with `: `, or nothing.
fn error_detail(response: &Response) -> String {
    let text: String = String::from_utf8_lossy(&response.body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allow_http: bool) -> RegistryClient {
        RegistryClient::new(RegistryOptions {
            plain_http: allow_http.into(),
            ..RegistryOptions::default()
        })
        .unwrap()
    }

    #[test]
    fn docker_hub_uses_its_api_host() {
        assert_eq!(
            client(false).base_url("index.docker.io"),
            "https://registry-1.docker.io"
        );
        assert_eq!(client(false).base_url("ghcr.io"), "https://ghcr.io");
        assert_eq!(
            client(true).base_url("127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn invalid_digests_are_refused_before_any_request() {
        let image = ImageRef::parse("127.0.0.1:1/xy").unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let e = client(true)
            .blob(&image, "sha256:zz", 10, deadline)
            .unwrap_err();
        assert_eq!(e, RegistryError::InvalidDigest("sha256:zz".to_string()));
        let e = client(true)
            .manifest(&image, "sha256:12", deadline)
            .unwrap_err();
        assert_eq!(e, RegistryError::InvalidDigest("sha256:12".to_string()));
    }

    #[test]
    fn the_client_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RegistryClient>();
    }
}
