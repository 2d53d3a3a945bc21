//! Outbound proxies end to end: the real binary (`tastevin review`, which runs the same
//! admission engine and clients as `serve`) with `HTTPS_PROXY`/`NO_PROXY` in its
//! environment, a real `docker-registry` serving signed images, and a real forward proxy
//! (Debian's `squid`) whose access log shows what went through it. The images name the
//! registry [`PROXIED_HOST`], which only the proxy resolves (to 127.0.0.1): a validation that
//! went around the proxy cannot reach the registry. Plain-HTTP forwarding is checked on the
//! HTTP client with the same proxy and registry.

mod support;

use std::fs;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tastevin::net::https_client::{self, HttpsClient, Method, Request, Url};
use tastevin::net::proxy::ProxyConfig;

use support::cosign::{layer, payload, Signer};
use support::notary::NotaryServer;
use support::registry::{free_addr, Mode, Registry};
use support::squid::{Squid, PROXIED_HOST};
use support::TempDir;

const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// A registry with one signed image, and the files `tastevin review` reads for it.
struct Setup {
    registry: Registry,
    dir: TempDir,
}

impl Setup {
    /// A TLS registry reached as `PROXIED_HOST:<port>`.
    fn new() -> Setup {
        let registry = Registry::start_named(Mode::Tls, Some(PROXIED_HOST));
        let authority = proxied_authority(&registry);
        Setup::reached_as(registry, &authority)
    }

    /// The image named `<authority>/team/app:v1`.
    fn reached_as(registry: Registry, authority: &str) -> Setup {
        let signer = Signer::p256();
        let pushed = registry.push_image("team/app", "v1", "through-the-proxy");
        let image = format!("{authority}/team/app:v1");
        registry.push_signatures(
            "team/app",
            &pushed.digest,
            &[layer(&signer, &payload(&image, &pushed.digest), None)],
        );
        let indent = |text: &str, by: usize| -> String {
            text.lines()
                .map(|l| format!("{}{l}\n", " ".repeat(by)))
                .collect()
        };
        let ca = &registry.pki.as_ref().expect("a TLS registry").ca_pem;
        let config = format!(
            "validators:\n  - name: signed\n    type: cosign\n    cert: |\n{}    trustRoots:\n      - name: default\n        key: |\n{}policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {{verifyInTransparencyLog: false}}\n",
            indent(ca, 6),
            indent(&signer.public_key_pem(), 10)
        );
        let dir = TempDir::new();
        fs::write(dir.path().join("config.yaml"), config).expect("write the config");
        fs::write(
            dir.path().join("pod.yaml"),
            format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers:\n    - name: app\n      image: {image}\n"),
        )
        .expect("write the pod");
        Setup { registry, dir }
    }

    /// Runs `tastevin review` with exactly these proxy variables: exit code and output.
    fn review(&self, env: &[(&str, &str)]) -> (Option<i32>, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tastevin"));
        command
            .arg("review")
            .arg("--config")
            .arg(self.dir.path().join("config.yaml"))
            .arg(self.dir.path().join("pod.yaml"))
            .env("CACHE_EXPIRY_SECONDS", "0");
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let output = command.output().expect("run tastevin review");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.code(), text)
    }

    /// Tunnels to the registry the proxy opened (status 200).
    fn tunnels(&self, proxy: &Squid) -> usize {
        let target = proxied_authority(&self.registry);
        proxy
            .requests()
            .iter()
            .filter(|r| r.method == "CONNECT" && r.target == target && r.status == "200")
            .count()
    }
}

/// `PROXIED_HOST:<port of the registry>`.
fn proxied_authority(registry: &Registry) -> String {
    format!("{PROXIED_HOST}:{}", registry.addr.port())
}

fn admitted(out: &str) -> bool {
    out.contains("\"allowed\": true") || out.contains("\"allowed\":true")
}

#[test]
fn validations_tunnel_through_the_proxy() {
    let setup = Setup::new();
    let proxy = Squid::start(None);
    let url = proxy.url(None);

    let (code, out) = setup.review(&[("HTTPS_PROXY", &url)]);
    assert_eq!(code, Some(0), "{out}\n{}", proxy.log());
    assert!(admitted(&out), "{out}");
    let tunnelled = setup.tunnels(&proxy);
    assert!(
        tunnelled >= 1,
        "no tunnel in the proxy's log:\n{}",
        proxy.log()
    );

    // The lower-case form works alone too.
    let (code, out) = setup.review(&[("https_proxy", &url)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(setup.tunnels(&proxy) > tunnelled, "{}", proxy.log());

    // A NO_PROXY entry for another port of the same host does not bypass it.
    let before = setup.tunnels(&proxy);
    let other_port = format!("{PROXIED_HOST}:1");
    let (code, out) = setup.review(&[("HTTPS_PROXY", &url), ("no_proxy", &other_port)]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(setup.tunnels(&proxy), before + 1, "{}", proxy.log());
}

#[test]
fn no_proxy_sends_the_validation_around_the_proxy() {
    let setup = Setup::new();
    let proxy = Squid::start(None);
    let url = proxy.url(None);
    let before = proxy.requests().len();
    let port_entry = format!("{PROXIED_HOST}:{}", setup.registry.addr.port());
    for no_proxy in [
        PROXIED_HOST,
        "proxied.test",
        ".proxied.test",
        "example.com, proxied.test",
        &port_entry,
        "*",
    ] {
        let (code, out) = setup.review(&[("HTTPS_PROXY", &url), ("NO_PROXY", no_proxy)]);
        // Around the proxy, nothing resolves the name: denied, by tastevin's own lookup.
        assert_eq!(code, Some(1), "NO_PROXY={no_proxy}: {out}");
        assert!(
            out.contains(&format!("cannot resolve host {PROXIED_HOST}")),
            "NO_PROXY={no_proxy}: {out}"
        );
        assert!(!admitted(&out), "{out}");
    }
    assert_eq!(proxy.requests().len(), before, "{}", proxy.log());
}

#[test]
fn notary_v1_trust_data_comes_through_the_proxy() {
    const GUN: &str = "registry.test/app";
    const HEX: &str = "a220cff1b3a4c1aa4ba4b6e4d4a7d2bfae9a4d8e4f1c2b3a4d5e6f708192a3b4";
    let notary = NotaryServer::start_named(PROXIED_HOST);
    notary.sign(GUN, "v1", 423, HEX);
    let indent = |text: &str, by: usize| -> String {
        text.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(by)))
            .collect()
    };
    let host = format!("{PROXIED_HOST}:{}", notary.port);
    let config = format!(
        "validators:\n  - name: nv1\n    type: notaryv1\n    host: https://{host}\n    cert: |\n{}    trustRoots:\n      - name: default\n        key: |\n{}policy:\n  - pattern: \"*:*\"\n    validator: nv1\n",
        indent(&notary.pki.ca_pem, 6),
        indent(&notary.root_key_pem(GUN), 10)
    );
    let dir = TempDir::new();
    fs::write(dir.path().join("config.yaml"), config).expect("write the config");
    fs::write(
        dir.path().join("pod.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers:\n    - name: app\n      image: {GUN}:v1\n"),
    )
    .expect("write the pod");
    let proxy = Squid::start(None);
    let review = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tastevin"));
        command
            .arg("review")
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .arg(dir.path().join("pod.yaml"))
            .env("CACHE_EXPIRY_SECONDS", "0");
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        let output = command
            .envs(env.iter().copied())
            .output()
            .expect("run tastevin review");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.code(), text)
    };

    let (code, out) = review(&[("HTTPS_PROXY", &proxy.url(None))]);
    assert_eq!(code, Some(0), "{out}\n{}", proxy.log());
    assert!(admitted(&out), "{out}");
    let pinned = format!("{GUN}:v1@sha256:{HEX}");
    assert!(
        out.contains(&STANDARD.encode(format!(
            "[{{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"{pinned}\"}}]"
        ))),
        "{out}"
    );
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == host && r.status == "200"),
        "{}",
        proxy.log()
    );

    // Around the proxy the name does not resolve: denied.
    let (code, out) = review(&[
        ("HTTPS_PROXY", &proxy.url(None)),
        ("NO_PROXY", PROXIED_HOST),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("cannot resolve host {PROXIED_HOST}")),
        "{out}"
    );
}

#[test]
fn loopback_registries_never_go_through_the_proxy() {
    // As in Go: `localhost` and loopback addresses bypass the proxy without NO_PROXY, so a
    // dead proxy does not matter for them.
    let registry = Registry::start(Mode::Tls);
    let authority = registry.host();
    let setup = Setup::reached_as(registry, &authority);
    let dead = format!("http://{}", free_addr());
    let (code, out) = setup.review(&[("HTTPS_PROXY", &dead)]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_dead_proxy_denies_naming_the_proxy_without_its_password() {
    let setup = Setup::new();
    let dead = free_addr();
    let url = format!("http://scott:tiger-secret@{dead}");
    let (code, out) = setup.review(&[("HTTPS_PROXY", &url)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "proxy http://scott@{dead} (for {}): cannot connect to the proxy",
            proxied_authority(&setup.registry)
        )),
        "{out}"
    );
    assert!(!out.contains("tiger-secret"), "{out}");
}

#[test]
fn proxy_credentials_from_the_url_are_sent_and_checked() {
    let setup = Setup::new();
    let proxy = Squid::start(Some(("tester", "proxy-pass")));

    let good = proxy.url(Some(("tester", "proxy-pass")));
    let (code, out) = setup.review(&[("HTTPS_PROXY", &good)]);
    assert_eq!(code, Some(0), "{out}\n{}", proxy.log());
    assert!(setup.tunnels(&proxy) >= 1, "{}", proxy.log());

    let (code, out) = setup.review(&[("HTTPS_PROXY", &proxy.url(None))]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("the proxy requires authentication (407)"),
        "{out}"
    );

    let wrong = proxy.url(Some(("tester", "wrong-pass")));
    let (code, out) = setup.review(&[("HTTPS_PROXY", &wrong)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "proxy http://tester@{} (for {}): the proxy refused the credentials",
            proxy.addr,
            proxied_authority(&setup.registry)
        )),
        "{out}"
    );
    assert!(!out.contains("wrong-pass"), "{out}");
}

#[test]
fn an_unusable_proxy_url_stops_startup() {
    for (name, value) in [
        ("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
        ("http_proxy", "http://proxy:99999"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tastevin"));
        command.args(["serve", "--plain-http", "--listen", "127.0.0.1:0"]);
        for variable in PROXY_VARIABLES {
            command.env_remove(variable);
        }
        let output = command.env(name, value).output().expect("run tastevin");
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("unusable proxy setting {name}: ")),
            "{text}"
        );
    }
}

#[test]
fn plain_http_requests_are_forwarded_in_absolute_form() {
    let registry = Registry::start_named(Mode::Plain, None);
    let proxy = Squid::start(Some(("tester", "proxy-pass")));
    let get = |proxy_url: &str| {
        let proxies =
            ProxyConfig::from_values(Some(("HTTP_PROXY", proxy_url.to_string())), None, None)
                .expect("proxy config");
        let client = HttpsClient::with_proxies(
            https_client::tls_config(None).expect("TLS config"),
            true,
            Arc::new(proxies),
        );
        client.send(&Request {
            method: Method::Get,
            url: Url::parse(&format!("http://{}/v2/", proxied_authority(&registry))).expect("url"),
            headers: vec![],
            max_body: 4096,
            deadline: Instant::now() + Duration::from_secs(30),
        })
    };
    let response = get(&proxy.url(Some(("tester", "proxy-pass")))).expect("through the proxy");
    assert_eq!(response.status, 200);
    let target = format!("http://{}/v2/", proxied_authority(&registry));
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.target == target && r.status == "200"),
        "{}",
        proxy.log()
    );

    let refused = get(&proxy.url(None)).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("the proxy requires authentication (407)"),
        "{refused}"
    );
}
