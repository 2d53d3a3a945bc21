//! The registry client against a real `docker-registry` (plain, TLS, token auth) and against
//! small misbehaving servers written here (a lying, a hanging, a rate-limiting one).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tastevin::image_ref::ImageRef;
use tastevin::net::https_client::{HttpError, PlainHttp};
use tastevin::registry::auth::BasicAuth;
use tastevin::registry::manifest::{sha256_digest, Manifest, ManifestKind, DOCKER_MANIFEST};
use tastevin::registry::signatures::{
    self, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION,
};
use tastevin::registry::{Credentials, RegistryClient, RegistryError, RegistryOptions};
use tastevin::validators::cosign::SignatureLayer;

use support::registry::{Mode, Registry, SignatureBlob, TestPki, PASSWORD, USER};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn plain_client() -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        plain_http: PlainHttp::Anywhere,
        ..RegistryOptions::default()
    })
    .unwrap()
}

fn tls_client(registry: &Registry, credentials: Option<Credentials>) -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        ca: Some(vec![registry.pki.as_ref().unwrap().ca_der.clone()]),
        credentials,
        plain_http: PlainHttp::Nowhere,
    })
    .unwrap()
}

fn credentials(registry: &Registry, password: &str) -> Credentials {
    let config = format!(
        r#"{{"auths":{{"{}":{{"username":"{USER}","password":"{password}"}}}}}}"#,
        registry.host()
    );
    Credentials::from_docker_config(&config).unwrap()
}

#[test]
fn tag_resolves_to_the_pushed_digest_and_content_is_checked() {
    let registry = Registry::start(Mode::Plain);
    let pushed = registry.push_image("team/app", "v1", "one");
    let client = plain_client();
    let image = registry.image("team/app:v1");

    let digest = client.resolve_digest(&image, deadline()).unwrap();
    assert_eq!(digest, pushed.digest);

    let fetched = client.manifest(&image, &digest, deadline()).unwrap();
    assert_eq!(fetched.digest, pushed.digest);
    assert_eq!(fetched.bytes, pushed.manifest);
    let Manifest::Image {
        kind,
        config,
        layers,
        ..
    } = fetched.manifest
    else {
        panic!("expected an image manifest");
    };
    assert_eq!(kind, ManifestKind::DockerManifest);
    assert_eq!(config.digest, pushed.config_digest);
    assert_eq!(layers.len(), 1);

    let blob = client
        .blob(&image, &pushed.config_digest, 1024, deadline())
        .unwrap();
    assert_eq!(blob, pushed.config);
    let e = client
        .blob(&image, &pushed.config_digest, 10, deadline())
        .unwrap_err();
    assert!(
        e.to_string().contains("exceeds the limit of 10 bytes"),
        "{e}"
    );

    // A digest reference is confirmed by fetching it.
    let pinned = registry.image(&format!("team/app@{}", pushed.digest));
    assert_eq!(
        client.resolve_digest(&pinned, deadline()).unwrap(),
        pushed.digest
    );
}

#[test]
fn missing_image_and_missing_digest_are_not_found() {
    let registry = Registry::start(Mode::Plain);
    registry.push_image("team/app", "v1", "one");
    let client = plain_client();
    let e = client
        .resolve_digest(&registry.image("team/app:nope"), deadline())
        .unwrap_err();
    assert!(matches!(e, RegistryError::ManifestNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = client
        .resolve_digest(&registry.image("team/other:v1"), deadline())
        .unwrap_err();
    assert!(matches!(e, RegistryError::ManifestNotFound { .. }), "{e:?}");
    let absent = sha256_digest(b"absent");
    let e = client
        .blob(&registry.image("team/app:v1"), &absent, 1024, deadline())
        .unwrap_err();
    assert!(matches!(e, RegistryError::BlobNotFound { .. }), "{e:?}");
}

#[test]
fn signatures_round_trip_into_signature_layers() {
    let registry = Registry::start(Mode::Plain);
    let signed = registry.push_image("app", "signed", "signed");
    let unsigned = registry.push_image("app", "unsigned", "unsigned");
    let payload_a = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{}/app"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        registry.host(),
        signed.digest
    );
    let payload_b = payload_a.replace("null", r#"{"by":"b"}"#);
    registry.push_signatures(
        "app",
        &signed.digest,
        &[
            SignatureBlob::simple_signing(
                payload_a.as_bytes(),
                &[
                    (SIGNATURE_ANNOTATION, "c2lnLWE="),
                    (BUNDLE_ANNOTATION, r#"{"SignedEntryTimestamp":"x"}"#),
                    (CERTIFICATE_ANNOTATION, "-----BEGIN CERTIFICATE-----\nA\n"),
                    (CHAIN_ANNOTATION, "-----BEGIN CERTIFICATE-----\nB\n"),
                ],
            ),
            // No signature annotation: not a signature, skipped.
            SignatureBlob::simple_signing(b"{}", &[("other", "x")]),
            SignatureBlob {
                media_type: "application/octet-stream".to_string(),
                payload: b"not a signature".to_vec(),
                annotations: [(SIGNATURE_ANNOTATION.to_string(), "eA==".to_string())].into(),
            },
            SignatureBlob::simple_signing(
                payload_b.as_bytes(),
                &[(SIGNATURE_ANNOTATION, "c2lnLWI=")],
            ),
        ],
    );
    let client = plain_client();
    let image = registry.image("app:signed");
    let digest = client.resolve_digest(&image, deadline()).unwrap();
    let layers = signatures::fetch(&client, &image, &digest, deadline()).unwrap();
    assert_eq!(
        layers,
        vec![
            SignatureLayer {
                payload: payload_a.into_bytes(),
                signature: "c2lnLWE=".to_string(),
                bundle: Some(r#"{"SignedEntryTimestamp":"x"}"#.to_string()),
                certificate: Some("-----BEGIN CERTIFICATE-----\nA\n".to_string()),
                chain: Some("-----BEGIN CERTIFICATE-----\nB\n".to_string()),
            },
            SignatureLayer {
                payload: payload_b.into_bytes(),
                signature: "c2lnLWI=".to_string(),
                bundle: None,
                certificate: None,
                chain: None,
            },
        ]
    );
    let none = signatures::fetch(
        &client,
        &registry.image("app:unsigned"),
        &unsigned.digest,
        deadline(),
    )
    .unwrap();
    assert_eq!(none, vec![]);
}

#[test]
fn tls_registry_with_its_ca_works_and_with_another_ca_fails_clearly() {
    let registry = Registry::start(Mode::Tls);
    let pushed = registry.push_image("app", "v1", "tls");
    let image = registry.image("app:v1");
    let digest = tls_client(&registry, None)
        .resolve_digest(&image, deadline())
        .unwrap();
    assert_eq!(digest, pushed.digest);

    let stranger = TestPki::generate();
    let wrong_ca = RegistryClient::new(RegistryOptions {
        ca: Some(vec![stranger.ca_der]),
        ..RegistryOptions::default()
    })
    .unwrap();
    let e = wrong_ca.resolve_digest(&image, deadline()).unwrap_err();
    assert!(
        matches!(
            &e,
            RegistryError::Http {
                error: HttpError::CertificateNotTrusted { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(
        message.contains(&format!(
            "TLS certificate of host {} not trusted",
            registry.host()
        )),
        "{message}"
    );

    // The default trust (system bundle) does not know the test CA either.
    let system = RegistryClient::new(RegistryOptions::default()).unwrap();
    let e = system.resolve_digest(&image, deadline()).unwrap_err();
    assert!(e.to_string().contains("not trusted"), "{e}");

    // Plain HTTP to a TLS-only registry is refused without being asked for.
    let insecure = plain_client();
    assert!(insecure.resolve_digest(&image, deadline()).is_err());
}

#[test]
fn token_flow_fetches_caches_and_reports_refusals() {
    let registry = Registry::start(Mode::Token);
    let pushed = registry.push_image("team/app", "v1", "token");
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[SignatureBlob::simple_signing(
            b"{\"p\":1}",
            &[(SIGNATURE_ANNOTATION, "c2ln")],
        )],
    );
    let image = registry.image("team/app:v1");
    let issued = Arc::clone(&registry.token_server.as_ref().unwrap().issued);

    let client = tls_client(&registry, Some(credentials(&registry, PASSWORD)));
    let digest = client.resolve_digest(&image, deadline()).unwrap();
    assert_eq!(digest, pushed.digest);
    let layers = signatures::fetch(&client, &image, &digest, deadline()).unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].payload, b"{\"p\":1}");
    // One token served the HEAD, the manifest and the blob.
    assert_eq!(issued.load(Ordering::SeqCst), 1);

    let wrong = tls_client(&registry, Some(credentials(&registry, "wrong-password")));
    let e = wrong.resolve_digest(&image, deadline()).unwrap_err();
    assert!(matches!(e, RegistryError::AccessDenied { .. }), "{e:?}");
    let message = e.to_string();
    assert!(message.contains("denied access"), "{message}");
    assert!(
        message.contains("answered 401 to the configured credentials"),
        "{message}"
    );
    assert!(message.contains("auth.secretName"), "{message}");

    let anonymous = tls_client(&registry, None);
    let e = anonymous.resolve_digest(&image, deadline()).unwrap_err();
    assert!(
        matches!(e, RegistryError::CredentialsRequired { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("requires authentication"), "{e}");

    // Credentials for another registry path are not used (boundary-checked lookup).
    let elsewhere = Credentials::from_docker_config(&format!(
        r#"{{"auths":{{"{}/team/application":{{"username":"{USER}","password":"{PASSWORD}"}}}}}}"#,
        registry.host()
    ))
    .unwrap();
    let e = tls_client(&registry, Some(elsewhere))
        .resolve_digest(&image, deadline())
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::CredentialsRequired { .. }),
        "{e:?}"
    );
}

/// A request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// A std-only HTTP/1.1 server answering every request with `answer(request, count)`;
/// `None` keeps the connection open without answering.
fn scripted_server(
    answer: impl Fn(&Seen, usize) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let log = Arc::clone(&log);
            let answer = Arc::clone(&answer);
            thread::spawn(move || serve_scripted(tcp, &log, &*answer));
        }
    });
    (addr, seen)
}

fn serve_scripted(
    mut tcp: TcpStream,
    log: &Mutex<Vec<Seen>>,
    answer: &(dyn Fn(&Seen, usize) -> Option<Vec<u8>> + Send + Sync),
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match tcp.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let seen = Seen {
            method: first.next().unwrap_or_default().to_string(),
            path: first.next().unwrap_or_default().to_string(),
            authorization: lines
                .filter_map(|l| l.split_once(": "))
                .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.to_string()),
        };
        let count = {
            let mut log = log.lock().unwrap();
            log.push(seen.clone());
            log.len()
        };
        match answer(&seen, count) {
            Some(bytes) => {
                if tcp.write_all(&bytes).is_err() {
                    return;
                }
            }
            None => {
                thread::sleep(Duration::from_secs(30));
                return;
            }
        }
    }
}

fn http_answer(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn manifest_bytes(seed: &str) -> Vec<u8> {
    let d = sha256_digest(seed.as_bytes());
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"{d}"}},"layers":[]}}"#
    )
    .into_bytes()
}

fn fake_image(addr: SocketAddr, rest: &str) -> ImageRef {
    ImageRef::parse(&format!("{addr}/{rest}")).unwrap()
}

#[test]
fn a_lying_registry_is_caught_by_the_digest_check() {
    let served = manifest_bytes("served");
    let claimed = sha256_digest(&manifest_bytes("claimed"));
    let claimed_header = claimed.clone();
    let (addr, _) = scripted_server(move |_, _| {
        Some(http_answer(
            "200 OK",
            &[
                ("Content-Type", DOCKER_MANIFEST),
                ("Docker-Content-Digest", &claimed_header),
            ],
            &served,
        ))
    });
    let client = plain_client();
    // Asked by digest: the content hashes to something else.
    let e = client
        .manifest(&fake_image(addr, "app:v1"), &claimed, deadline())
        .unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("does not match the expected"), "{e}");
    // Asked by tag: the announced Docker-Content-Digest does not fit the content.
    let e = client
        .manifest(&fake_image(addr, "app:v1"), "v1", deadline())
        .unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
    // Blobs too.
    let e = client
        .blob(&fake_image(addr, "app:v1"), &claimed, 1 << 20, deadline())
        .unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
}

#[test]
fn oversized_manifests_are_refused() {
    let (addr, _) = scripted_server(|seen, _| {
        Some(if seen.path.contains("announced") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n".to_vec()
        } else {
            // Chunked, no announced size: refused once the limit is passed.
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..5 {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(&chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        })
    });
    let client = plain_client();
    for tag in ["announced", "chunked"] {
        let e = client
            .manifest(&fake_image(addr, "app:v1"), tag, deadline())
            .unwrap_err();
        assert!(
            e.to_string().contains("exceeds the limit of 4194304 bytes"),
            "{tag}: {e}"
        );
    }
}

#[test]
fn a_hanging_registry_costs_no_more_than_the_deadline() {
    let (addr, _) = scripted_server(|_, _| None);
    let client = plain_client();
    let started = Instant::now();
    let e = client
        .resolve_digest(
            &fake_image(addr, "app:v1"),
            started + Duration::from_millis(800),
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(e.is_timeout(), "{e:?}");
    assert!(
        e.to_string().contains("did not answer within the deadline"),
        "{e}"
    );
    assert!(elapsed >= Duration::from_millis(750), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[test]
fn rate_limits_are_waited_out_within_the_deadline_only() {
    let body = manifest_bytes("limited");
    let digest = sha256_digest(&body);
    let header_digest = digest.clone();
    let (addr, seen) = scripted_server(move |request, count| {
        Some(if request.path.contains("/slow") {
            http_answer("429 Too Many Requests", &[("Retry-After", "30")], b"")
        } else if count == 1 {
            http_answer(
                "429 Too Many Requests",
                &[("Retry-After", "1")],
                b"slow down",
            )
        } else {
            http_answer(
                "200 OK",
                &[("Docker-Content-Digest", &header_digest)],
                if request.method == "HEAD" { b"" } else { &body },
            )
        })
    });
    let client = plain_client();
    let started = Instant::now();
    let resolved = client
        .resolve_digest(&fake_image(addr, "app:v1"), deadline())
        .unwrap();
    assert_eq!(resolved, digest);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen.lock().unwrap().len(), 2);

    let started = Instant::now();
    let e = client
        .resolve_digest(
            &fake_image(addr, "slow:v1"),
            Instant::now() + Duration::from_secs(3),
        )
        .unwrap_err();
    assert!(matches!(e, RegistryError::RateLimited { .. }), "{e:?}");
    assert!(e.to_string().contains("retry after 30 s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn basic_challenges_are_answered_with_the_configured_credentials() {
    let body = manifest_bytes("basic");
    let digest = sha256_digest(&body);
    let header_digest = digest.clone();
    let expected = BasicAuth {
        username: USER.to_string(),
        password: PASSWORD.to_string(),
    }
    .header();
    let (addr, seen) = scripted_server(move |request, _| {
        Some(
            if request.authorization.as_deref() == Some(expected.as_str()) {
                http_answer("200 OK", &[("Docker-Content-Digest", &header_digest)], b"")
            } else {
                http_answer(
                    "401 Unauthorized",
                    &[("WWW-Authenticate", "Basic realm=\"r\"")],
                    b"",
                )
            },
        )
    });
    let config =
        format!(r#"{{"auths":{{"{addr}":{{"username":"{USER}","password":"{PASSWORD}"}}}}}}"#);
    let client = RegistryClient::new(RegistryOptions {
        credentials: Some(Credentials::from_docker_config(&config).unwrap()),
        plain_http: PlainHttp::Anywhere,
        ..RegistryOptions::default()
    })
    .unwrap();
    assert_eq!(
        client
            .resolve_digest(&fake_image(addr, "app:v1"), deadline())
            .unwrap(),
        digest
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    // Credentials are only sent once asked for.
    assert_eq!(seen[0].authorization, None);
}

#[test]
fn authorization_is_dropped_on_a_cross_host_blob_redirect() {
    let blob = b"blob content".to_vec();
    let digest = sha256_digest(&blob);
    let served = blob.clone();
    let (cdn, cdn_seen) = scripted_server(move |_, _| Some(http_answer("200 OK", &[], &served)));
    let location = format!("http://localhost:{}/cdn/blob", cdn.port());
    let (addr, _) = scripted_server(move |request, _| {
        Some(match &request.authorization {
            None => http_answer(
                "401 Unauthorized",
                &[("WWW-Authenticate", "Basic realm=\"r\"")],
                b"",
            ),
            Some(_) => http_answer("307 Temporary Redirect", &[("Location", &location)], b""),
        })
    });
    let config = format!(r#"{{"auths":{{"{addr}":{{"auth":"dTpw"}}}}}}"#);
    let client = RegistryClient::new(RegistryOptions {
        credentials: Some(Credentials::from_docker_config(&config).unwrap()),
        plain_http: PlainHttp::Anywhere,
        ..RegistryOptions::default()
    })
    .unwrap();
    let fetched = client
        .blob(&fake_image(addr, "app:v1"), &digest, 1024, deadline())
        .unwrap();
    assert_eq!(fetched, blob);
    let cdn_seen = cdn_seen.lock().unwrap();
    assert_eq!(cdn_seen.len(), 1);
    assert_eq!(cdn_seen[0].path, "/cdn/blob");
    assert_eq!(cdn_seen[0].authorization, None);
}

/// A signature manifest with `count` simple-signing layers each announcing `size` bytes.
fn signature_manifest(count: usize, size: usize) -> Vec<u8> {
    let layer = format!(
        r#"{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":{size},"digest":"{}","annotations":{{"{SIGNATURE_ANNOTATION}":"c2ln"}}}}"#,
        sha256_digest(b"payload")
    );
    let layers = vec![layer; count].join(",");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"{}"}},"layers":[{layers}]}}"#,
        sha256_digest(b"{}")
    )
    .into_bytes()
}

#[test]
fn signature_manifests_beyond_the_limits_are_refused() {
    let (addr, seen) = scripted_server(|request, _| {
        Some(if request.path.contains("/many/") {
            http_answer("200 OK", &[], &signature_manifest(65, 7))
        } else {
            http_answer("200 OK", &[], &signature_manifest(1, 70_000))
        })
    });
    let client = plain_client();
    let digest = sha256_digest(b"image");
    let e =
        signatures::fetch(&client, &fake_image(addr, "many:v1"), &digest, deadline()).unwrap_err();
    assert!(
        matches!(e, RegistryError::TooManySignatures { count: 65, .. }),
        "{e:?}"
    );
    let e =
        signatures::fetch(&client, &fake_image(addr, "big:v1"), &digest, deadline()).unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidSignatures { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("exceeds the limit of 65536"), "{e}");
    // Neither fetched a single payload blob.
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|r| !r.path.contains("/blobs/")));
}
