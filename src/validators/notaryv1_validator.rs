//! The Notary v1 validator at work (spec §5.2 A–B): pinned root keys from the rule's trust
//! roots, a ping of the Notary server's `/v2/` to learn its authentication (Bearer token,
//! Basic, or none), the four base roles fetched concurrently from
//! `<host>/v2/<GUN>/_trust/tuf/<role>.json` (delegations once they are chosen), each body
//! bounded, then [`verify_trust_data`].
//!
//! Runs on a worker thread within the request's deadline. Clients (TLS configuration,
//! idle connections, tokens) are kept per validator in [`Clients`]; the rollback memory lives
//! as long as the process, so that a configuration reload does not forget what was seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::SubjectPublicKeyInfoDer;

use super::notaryv1::tuf::MAX_ROLE_BYTES;
use super::notaryv1::verify::{verify_trust_data, Lookup, TrustData};
use super::notaryv1::versions::{RollbackMemory, VersionMemory, WithShared};
use super::{Clients, Outcome, Rejection};
use crate::config::{Auth, KeyRef, NotaryV1Config, Rule, TrustRoot, TrustRootMaterial};
use crate::crypto::PublicKey;
use crate::image_ref::ImageRef;
use crate::net::https_client::{tls_config, HttpError, HttpsClient, Method, Request, Url};
use crate::registry::auth::{token_url, BasicAuth, Challenge, Token};
use crate::registry::Credentials;

/// Time allowed for the ping of `/v2/`.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for each trust-data download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest ping or token answer read.
const MAX_SMALL_BODY: usize = 64 * 1024;
/// Most delegation documents downloaded at once.
const MAX_PARALLEL_FETCHES: usize = 8;
/// Most tokens cached per client; the cache is cleared when full.
const MAX_CACHED_TOKENS: usize = 256;

/// The highest version seen per repository and role, for the life of the process.
fn versions() -> &'static VersionMemory {
    static VERSIONS: OnceLock<VersionMemory> = OnceLock::new();
    VERSIONS.get_or_init(VersionMemory::new)
}

/// A failure and whether it judges the image (cacheable) or only the circumstances.
struct Failure {
    message: String,
    transient: bool,
}

impl Failure {
    fn verdict(message: String) -> Failure {
        Failure {
            message,
            transient: false,
        }
    }

    fn transient(message: String) -> Failure {
        Failure {
            message,
            transient: true,
        }
    }

    fn into_outcome(self) -> Outcome {
        Outcome::Rejected(if self.transient {
            Rejection::Unavailable(self.message)
        } else {
            Rejection::Failed(self.message)
        })
    }
}

/// Verifies `image` with the Notary v1 validator `name`.
pub fn validate(
    name: &str,
    config: &NotaryV1Config,
    rule: &Rule,
    image: &ImageRef,
    deadline: Instant,
    clients: &Clients,
) -> Outcome {
    match verify(name, config, rule, image, deadline, clients) {
        Ok(digest) => Outcome::Verified {
            digest: Some(digest),
        },
        Err(failure) => failure.into_outcome(),
    }
}

fn verify(
    name: &str,
    config: &NotaryV1Config,
    rule: &Rule,
    image: &ImageRef,
    deadline: Instant,
    clients: &Clients,
) -> Result<String, Failure> {
    let pinned = pinned_keys(name, config, rule).map_err(Failure::verdict)?;
    let client = client_for(name, config, clients)?;
    let gun = image.notary_gun();
    let authorization = client.authorize(&gun, deadline)?;
    let fetch = |role: &str| client.trust_data(&gun, role, authorization.as_deref(), deadline);

    let [root, targets, snapshot, timestamp] = std::thread::scope(|scope| {
        let handles = ["root", "targets", "snapshot", "timestamp"]
            .map(|role| scope.spawn(move || fetch(role)));
        handles.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Err(Acquisition::transient("download thread failed")))
        })
    });
    let base_failure = |role: &str, error: Acquisition| Failure {
        message: format!(
            "error downloading trust data: error acquiring trust data {role}: {}",
            error.message
        ),
        transient: error.transient,
    };
    let data = TrustData {
        root: root.map_err(|e| base_failure("root", e))?,
        targets: targets.map_err(|e| base_failure("targets", e))?,
        snapshot: snapshot.map_err(|e| base_failure("snapshot", e))?,
        timestamp: timestamp.map_err(|e| base_failure("timestamp", e))?,
    };

    let repository = format!("{}/{gun}", client.base);
    let lookup = Lookup {
        validator: name,
        repository: &repository,
        tag: image.tag(),
        digest: image.digest(),
        delegations: &rule.with.delegations,
    };
    let mut fetch_delegations = |roles: &[String]| -> Vec<Result<Vec<u8>, String>> {
        let mut bodies = Vec::with_capacity(roles.len());
        for chunk in roles.chunks(MAX_PARALLEL_FETCHES) {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|role| scope.spawn(move || fetch(role)))
                    .collect();
                for handle in handles {
                    let body = handle
                        .join()
                        .unwrap_or_else(|_| Err(Acquisition::transient("download thread failed")));
                    bodies.push(body.map_err(|e| e.message));
                }
            });
        }
        bodies
    };
    let with_shared = clients
        .shared_versions()
        .map(|shared| WithShared::new(versions(), shared, deadline));
    let memory: &dyn RollbackMemory = match &with_shared {
        Some(with_shared) => with_shared,
        None => versions(),
    };
    verify_trust_data(
        &data,
        &pinned,
        &lookup,
        SystemTime::now(),
        memory,
        &mut fetch_delegations,
    )
    .map_err(|e| Failure::verdict(e.to_string()))
}

/// §5.2.C: the public keys of the trust roots the rule selects.
fn pinned_keys(
    validator: &str,
    config: &NotaryV1Config,
    rule: &Rule,
) -> Result<Vec<PublicKey>, String> {
    let wrap = |detail: String| {
        format!(
            "error getting trust root keys for validator {validator}: error getting keys for validator {validator}: {detail}"
        )
    };
    let roots =
        crate::config::resolve_trust_roots(&config.trust_roots, rule.with.trust_root_references())
            .map_err(|e| wrap(e.to_string()))?;
    let mut keys = Vec::with_capacity(roots.len());
    for root in roots {
        keys.push(pinned_key(validator, root).map_err(wrap)?);
    }
    Ok(keys)
}

fn pinned_key(validator: &str, root: &TrustRoot) -> Result<PublicKey, String> {
    let name = &root.name;
    let wrong_format = || {
        format!("error decoding public key {name}: wrong format, provide a PEM encoded public key")
    };
    let TrustRootMaterial::Key(KeyRef::Pem(pem)) = &root.material else {
        return Err(wrong_format());
    };
    if !pem.contains("-----BEGIN ") {
        return Err(wrong_format());
    }
    // One PEM block, then only whitespace: the end marker's closing dashes end the block.
    let after_block = pem
        .find("-----END ")
        .and_then(|end| {
            let rest = pem.get(end + "-----END ".len()..)?;
            let close = rest.find("-----")?;
            rest.get(close + "-----".len()..)
        })
        .ok_or_else(wrong_format)?;
    if !after_block.trim().is_empty() {
        return Err(format!(
            "key material for key {name} of validator {validator} contains extraneous characters"
        ));
    }
    let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("error parsing public key {name}: {e}"))?;
    PublicKey::from_spki_der(&der).map_err(|e| format!("error parsing public key {name}: {e}"))
}

fn client_for(
    name: &str,
    config: &NotaryV1Config,
    clients: &Clients,
) -> Result<Arc<NotaryClient>, Failure> {
    clients.notaries.get_or_build(name, || {
        let authority = config.host.authority();
        let credentials = match &config.auth {
            Some(Auth::Secret(secret)) => {
                let loaded = Credentials::load(clients.secrets_dir(), secret)
                    .map_err(|e| Failure::verdict(format!("error creating notary client: {e}")))?;
                loaded
                    .with_unkeyed_entries_for(&authority)
                    .lookup(&authority)
                    .cloned()
            }
            Some(Auth::Keychain) | None => None,
        };
        let tls = tls_config(config.tls_roots.as_deref()).map_err(|e| {
            Failure::verdict(format!(
                "error creating notary client: error setting up TLS config: {e}"
            ))
        })?;
        let scheme = if config.host.https { "https" } else { "http" };
        Ok(NotaryClient {
            http: HttpsClient::new(tls, !config.host.https),
            base: format!("{scheme}://{authority}{}", config.host.base_path),
            credentials,
            tokens: Mutex::new(HashMap::new()),
        })
    })
}

/// A failed download: its message and whether it says anything about the repository.
struct Acquisition {
    message: String,
    transient: bool,
}

impl Acquisition {
    fn transient(message: &str) -> Acquisition {
        Acquisition {
            message: message.to_owned(),
            transient: true,
        }
    }
}

/// One Notary server, as one validator reaches it.
pub(super) struct NotaryClient {
    http: HttpsClient,
    /// `scheme://host[:port][/base]`.
    base: String,
    credentials: Option<BasicAuth>,
    /// Bearer tokens by GUN.
    tokens: Mutex<HashMap<String, Token>>,
}

impl NotaryClient {
    fn get(
        &self,
        url: &str,
        authorization: Option<&str>,
        max_body: usize,
        deadline: Instant,
    ) -> Result<crate::net::https_client::Response, HttpError> {
        let mut headers = Vec::new();
        if let Some(value) = authorization {
            headers.push(("Authorization".to_owned(), value.to_owned()));
        }
        self.http.send(&Request {
            method: Method::Get,
            url: Url::parse(url)?,
            headers,
            max_body,
            deadline,
        })
    }

    /// §5.2.A 3: the `Authorization` value trust-data requests carry, if any.
    fn authorize(&self, gun: &str, deadline: Instant) -> Result<Option<String>, Failure> {
        if let Some(token) = self.tokens.lock().ok().and_then(|tokens| {
            tokens
                .get(gun)
                .filter(|t| t.is_fresh(Instant::now()))
                .cloned()
        }) {
            return Ok(Some(format!("Bearer {}", token.value)));
        }
        let ping_deadline = deadline.min(Instant::now() + PING_TIMEOUT);
        let response = self
            .get(
                &format!("{}/v2/", self.base),
                None,
                MAX_SMALL_BODY,
                ping_deadline,
            )
            .map_err(|e| {
                Failure::transient(format!(
                    "error creating notary client: error pinging notary server: {e}"
                ))
            })?;
        if response.status != 401 {
            return Ok(None);
        }
        let challenge = response
            .header("www-authenticate")
            .and_then(|header| Challenge::parse(header).ok())
            .ok_or_else(|| {
                Failure::verdict(
                    "error creating notary client: error adding challenge response".to_owned(),
                )
            })?;
        match challenge.scheme.as_str() {
            "basic" => Ok(self.credentials.as_ref().map(BasicAuth::header)),
            "bearer" => {
                let realm = challenge.param("realm").ok_or_else(|| {
                    Failure::verdict(
                        "error creating notary client: error adding challenge response".to_owned(),
                    )
                })?;
                let mut url = token_url(
                    realm,
                    challenge.param("service"),
                    &format!("repository:{gun}:pull"),
                );
                if let Some(credentials) = &self.credentials {
                    url.push_str("&account=");
                    url.push_str(&query_escape(&credentials.username));
                }
                let token = self.fetch_token(&url, deadline)?;
                let value = format!("Bearer {}", token.value);
                if let Ok(mut tokens) = self.tokens.lock() {
                    if tokens.len() >= MAX_CACHED_TOKENS {
                        tokens.clear();
                    }
                    tokens.insert(gun.to_owned(), token);
                }
                Ok(Some(value))
            }
            _ => Ok(None),
        }
    }

    fn fetch_token(&self, url: &str, deadline: Instant) -> Result<Token, Failure> {
        let failed = |detail: String| {
            format!("error creating notary client: error getting a token: {detail}")
        };
        let basic = self.credentials.as_ref().map(BasicAuth::header);
        let response = self
            .get(url, basic.as_deref(), MAX_SMALL_BODY, deadline)
            .map_err(|e| Failure::transient(failed(e.to_string())))?;
        match response.status {
            200 => Token::from_answer(&response.body, Instant::now())
                .map_err(|e| Failure::verdict(failed(e))),
            status @ 500..=599 => Err(Failure::transient(failed(format!(
                "token server answered {}",
                status_line(status)
            )))),
            status => Err(Failure::verdict(failed(format!(
                "token server answered {}{}",
                status_line(status),
                if self.credentials.is_some() {
                    "; check the credentials in auth.secretName"
                } else {
                    "; configure auth.secretName on the validator"
                }
            )))),
        }
    }

    /// §5.2.A 4: one role's document, bounded by [`MAX_ROLE_BYTES`].
    fn trust_data(
        &self,
        gun: &str,
        role: &str,
        authorization: Option<&str>,
        deadline: Instant,
    ) -> Result<Vec<u8>, Acquisition> {
        let url = format!("{}/v2/{gun}/_trust/tuf/{role}.json", self.base);
        let fetch_deadline = deadline.min(Instant::now() + FETCH_TIMEOUT);
        let response = self
            .get(&url, authorization, MAX_ROLE_BYTES, fetch_deadline)
            .map_err(|e| Acquisition {
                message: e.to_string(),
                transient: true,
            })?;
        match response.status {
            200 => Ok(response.body),
            status => Err(Acquisition {
                message: format!("error acquiring trust data {role}: {}", status_line(status)),
                transient: status >= 500 || status == 429,
            }),
        }
    }
}

/// The status as Go prints `Response.Status`: code and standard reason phrase.
fn status_line(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    };
    if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters, for a query value.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ValidatorKind};
    use crate::validators::notaryv1::verify::tests::{sha256_of, Repo, DIGEST_A};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// What the mock Notary server does.
    #[derive(Clone, Default)]
    struct Behaviour {
        /// Trust-data documents by role (`root`, `targets/releases`, …).
        files: HashMap<String, Vec<u8>>,
        /// Roles answered with this status instead.
        failing: HashMap<String, u16>,
        /// The token server refuses to issue tokens.
        refuse_tokens: bool,
        /// Ask for Basic credentials instead of a token.
        basic: Option<String>,
    }

    /// A plain-HTTP Notary server on 127.0.0.1 that requires a Bearer token from its
    /// `/token` endpoint; records the request lines it saw.
    struct MockNotary {
        port: u16,
        seen: Arc<Mutex<Vec<String>>>,
        token_requests: Arc<AtomicUsize>,
    }

    const TOKEN: &str = "test-token";

    impl MockNotary {
        fn start(behaviour: Behaviour) -> MockNotary {
            let listener = match TcpListener::bind("127.0.0.1:0") {
                Ok(listener) => listener,
                Err(e) => panic!("bind: {e}"),
            };
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            let seen = Arc::new(Mutex::new(Vec::new()));
            let token_requests = Arc::new(AtomicUsize::new(0));
            let (seen_log, tokens) = (Arc::clone(&seen), Arc::clone(&token_requests));
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let mut reader = BufReader::new(&stream);
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).is_err() {
                        continue;
                    }
                    let mut authorization = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("authorization") {
                                authorization = Some(value.trim().to_owned());
                            }
                        }
                    }
                    if let Ok(mut log) = seen_log.lock() {
                        log.push(request_line.trim().to_owned());
                    }
                    let path = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let (status, headers, body) =
                        answer(&behaviour, port, &path, authorization.as_deref(), &tokens);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                        body.len()
                    );
                    let mut writer = &stream;
                    let _ = writer.write_all(head.as_bytes());
                    let _ = writer.write_all(&body);
                }
            });
            MockNotary {
                port,
                seen,
                token_requests,
            }
        }

        fn requests(&self) -> Vec<String> {
            self.seen.lock().map(|log| log.clone()).unwrap_or_default()
        }
    }

    fn answer(
        behaviour: &Behaviour,
        port: u16,
        path: &str,
        authorization: Option<&str>,
        tokens: &AtomicUsize,
    ) -> (u16, String, Vec<u8>) {
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"notary\"\r\n"
        );
        if let Some(expected) = &behaviour.basic {
            let basic_challenge = "WWW-Authenticate: Basic realm=\"notary\"\r\n".to_owned();
            if authorization != Some(expected.as_str()) {
                return (401, basic_challenge, Vec::new());
            }
        } else if path == "/v2/" {
            return (401, challenge, Vec::new());
        }
        if path.starts_with("/token?") {
            tokens.fetch_add(1, Ordering::SeqCst);
            if behaviour.refuse_tokens {
                return (401, String::new(), Vec::new());
            }
            return (
                200,
                String::new(),
                format!("{{\"token\":\"{TOKEN}\"}}").into_bytes(),
            );
        }
        if behaviour.basic.is_none() && authorization != Some(&format!("Bearer {TOKEN}")) {
            return (401, challenge, Vec::new());
        }
        let Some(role) = path
            .strip_prefix("/v2/registry.test/app/_trust/tuf/")
            .and_then(|rest| rest.strip_suffix(".json"))
        else {
            return (404, String::new(), Vec::new());
        };
        if let Some(status) = behaviour.failing.get(role) {
            return (*status, String::new(), Vec::new());
        }
        match behaviour.files.get(role) {
            Some(body) => (200, String::new(), body.clone()),
            None => (404, String::new(), Vec::new()),
        }
    }

    fn behaviour_of(repo: &Repo) -> Behaviour {
        let (data, delegations) = repo.seal();
        let mut files = delegations;
        files.insert("root".to_owned(), data.root);
        files.insert("targets".to_owned(), data.targets);
        files.insert("snapshot".to_owned(), data.snapshot);
        files.insert("timestamp".to_owned(), data.timestamp);
        Behaviour {
            files,
            ..Behaviour::default()
        }
    }

    fn config(port: u16, key_pem: &str, with: &str) -> Config {
        config_with_auth(port, key_pem, with, "")
    }

    fn config_with_auth(port: u16, key_pem: &str, with: &str, auth: &str) -> Config {
        let key: String = key_pem
            .lines()
            .map(|line| format!("      {line}\n"))
            .collect();
        let text = format!(
            "validators:\n- name: nv1\n  type: notaryv1\n  host: http://127.0.0.1:{port}\n{auth}  trustRoots:\n  - name: default\n    key: |\n{key}policy:\n- pattern: \"*:*\"\n  validator: nv1\n  with: {with}\n"
        );
        match Config::from_yaml(&text) {
            Ok(config) => config,
            Err(errors) => panic!("{text}\n{errors:?}"),
        }
    }

    fn run(config: &Config, image: &str) -> Outcome {
        run_with_secrets(config, image, &std::env::temp_dir())
    }

    fn run_with_secrets(config: &Config, image: &str, secrets: &std::path::Path) -> Outcome {
        let (Some(rule), Some(validator)) = (config.rules().first(), config.validator("nv1"))
        else {
            panic!("no rule or validator")
        };
        let ValidatorKind::NotaryV1(notary) = &validator.kind else {
            panic!("not notaryv1")
        };
        let image = match ImageRef::parse(image) {
            Ok(image) => image,
            Err(e) => panic!("{e}"),
        };
        let clients = Clients::new(secrets.to_path_buf());
        validate(
            "nv1",
            notary,
            rule,
            &image,
            Instant::now() + Duration::from_secs(20),
            &clients,
        )
    }

    #[test]
    fn a_signed_tag_is_pinned_through_token_auth() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let server = MockNotary::start(behaviour_of(&repo));
        let config = config(server.port, &repo.root_key_pem(), "{}");
        assert_eq!(
            run(&config, "registry.test/app:sign"),
            Outcome::Verified {
                digest: Some(sha256_of(DIGEST_A))
            }
        );
        let requests = server.requests();
        assert!(
            requests.contains(&"GET /v2/ HTTP/1.1".to_owned()),
            "{requests:?}"
        );
        assert!(requests.iter().any(|r| r.starts_with(
            "GET /token?service=notary&scope=repository%3Aregistry.test%2Fapp%3Apull "
        )));
        for role in ["root", "targets", "snapshot", "timestamp"] {
            let line = format!("GET /v2/registry.test/app/_trust/tuf/{role}.json HTTP/1.1");
            assert!(requests.contains(&line), "{role}: {requests:?}");
        }
        assert_eq!(server.token_requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_unknown_repository_is_a_verdict() {
        let server = MockNotary::start(Behaviour::default());
        let repo = Repo::new(&[]);
        let config = config(server.port, &repo.root_key_pem(), "{}");
        assert_eq!(
            run(&config, "registry.test/app:sign"),
            Outcome::Rejected(Rejection::Failed(
                "error downloading trust data: error acquiring trust data root: error acquiring trust data root: 404 Not Found"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn server_errors_are_not_verdicts() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let mut behaviour = behaviour_of(&repo);
        behaviour.failing.insert("timestamp".to_owned(), 500);
        let server = MockNotary::start(behaviour);
        let config = config(server.port, &repo.root_key_pem(), "{}");
        assert_eq!(
            run(&config, "registry.test/app:sign"),
            Outcome::Rejected(Rejection::Unavailable(
                "error downloading trust data: error acquiring trust data timestamp: error acquiring trust data timestamp: 500 Internal Server Error"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn oversized_trust_data_is_refused() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let mut behaviour = behaviour_of(&repo);
        behaviour
            .files
            .insert("targets".to_owned(), vec![b' '; MAX_ROLE_BYTES + 1]);
        let server = MockNotary::start(behaviour);
        let config = config(server.port, &repo.root_key_pem(), "{}");
        let outcome = run(&config, "registry.test/app:sign");
        assert!(
            matches!(&outcome, Outcome::Rejected(Rejection::Unavailable(m))
                if m.starts_with("error downloading trust data: error acquiring trust data targets: ")),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_refused_token_is_reported() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let mut behaviour = behaviour_of(&repo);
        behaviour.refuse_tokens = true;
        let server = MockNotary::start(behaviour);
        let config = config(server.port, &repo.root_key_pem(), "{}");
        assert_eq!(
            run(&config, "registry.test/app:sign"),
            Outcome::Rejected(Rejection::Failed(
                "error creating notary client: error getting a token: token server answered 401 Unauthorized; configure auth.secretName on the validator"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn delegations_are_fetched_on_demand() {
        let mut repo = Repo::new(&[]);
        repo.delegate("del1", &[("sign", DIGEST_A)]);
        let server = MockNotary::start(behaviour_of(&repo));
        let config = config(server.port, &repo.root_key_pem(), "{delegations: [del1]}");
        assert_eq!(
            run(&config, "registry.test/app:sign"),
            Outcome::Verified {
                digest: Some(sha256_of(DIGEST_A))
            }
        );
        assert!(server.requests().contains(
            &"GET /v2/registry.test/app/_trust/tuf/targets/del1.json HTTP/1.1".to_owned()
        ));
    }

    #[test]
    fn trust_root_keys_are_checked_like_connaisseur() {
        let repo = Repo::new(&[]);
        let pem = repo.root_key_pem();
        let prefix = "error getting trust root keys for validator nv1: error getting keys for validator nv1: ";
        let outcome = |config: &Config| match run(config, "registry.test/app:sign") {
            Outcome::Rejected(Rejection::Failed(message)) => message,
            other => panic!("{other:?}"),
        };
        let extra = config(1, &format!("{pem}trailing"), "{}");
        assert_eq!(
            outcome(&extra),
            format!("{prefix}key material for key default of validator nv1 contains extraneous characters")
        );
        let der_only: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let bare = config(1, &der_only, "{}");
        assert_eq!(
            outcome(&bare),
            format!("{prefix}error decoding public key default: wrong format, provide a PEM encoded public key")
        );
        let unknown = config(1, &pem, "{trustRoot: missing}");
        assert_eq!(
            outcome(&unknown),
            format!("{prefix}unable to find trust root missing")
        );
    }

    #[test]
    fn basic_auth_uses_the_secret_for_the_notary_host() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let mut behaviour = behaviour_of(&repo);
        behaviour.basic = Some(
            BasicAuth {
                username: "notary-user".to_owned(),
                password: "notary-password".to_owned(),
            }
            .header(),
        );
        let server = MockNotary::start(behaviour);
        let secrets = std::env::temp_dir().join(format!(
            "tastevin-notary-secrets-{}-{}",
            std::process::id(),
            server.port
        ));
        let written = std::fs::create_dir_all(secrets.join("creds")).and_then(|()| {
            std::fs::write(
                secrets.join("creds/secret.yaml"),
                "username: notary-user\npassword: notary-password\n",
            )
        });
        assert!(written.is_ok(), "{written:?}");
        let with_secret = config_with_auth(
            server.port,
            &repo.root_key_pem(),
            "{}",
            "  auth:\n    secretName: creds\n",
        );
        let outcome = run_with_secrets(&with_secret, "registry.test/app:sign", &secrets);
        let _ = std::fs::remove_dir_all(&secrets);
        assert_eq!(
            outcome,
            Outcome::Verified {
                digest: Some(sha256_of(DIGEST_A))
            }
        );
        // Without credentials the server's 401 is what the user sees.
        let anonymous = config(server.port, &repo.root_key_pem(), "{}");
        assert_eq!(
            run(&anonymous, "registry.test/app:sign"),
            Outcome::Rejected(Rejection::Failed(
                "error downloading trust data: error acquiring trust data root: error acquiring trust data root: 401 Unauthorized"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn status_lines_read_like_go() {
        assert_eq!(status_line(404), "404 Not Found");
        assert_eq!(status_line(503), "503 Service Unavailable");
        assert_eq!(status_line(418), "418");
        assert_eq!(query_escape("a b/c"), "a%20b%2Fc");
    }
}
