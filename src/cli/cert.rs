//! `tastevin cert`: creates a private CA and a serving certificate for the webhook's
//! Service, writes `ca.crt`, `tls.crt` and `tls.key`, and prints the base64 `caBundle` that
//! the MutatingWebhookConfiguration needs so the API server trusts the webhook.
//!
//! The CA's private key is never written: it signs one certificate and is dropped, so a
//! leaked directory cannot mint more. Rotation issues a new CA (see deploy/OPERATIONS.md).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::{ArgError, Args};

const HELP: &str = "\
Usage: tastevin cert --service NAME --namespace NS [--out DIR] [--days N]

Create a private CA and a serving certificate for the webhook's Service, signed by
that CA, for the names NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local.
Writes DIR/ca.crt, DIR/tls.crt and DIR/tls.key (mode 0600; existing files are never
overwritten) and prints the caBundle (base64 of ca.crt) on standard output, for the
MutatingWebhookConfiguration's clientConfig.caBundle.

Options:
      --service NAME    the webhook's Service name (deploy/: tastevin-svc)
      --namespace NS    the namespace the webhook runs in (deploy/: tastevin)
      --out DIR         directory to write the files to [default: .]
      --days N          validity of both certificates in days [default: 3650]
  -h, --help            print this help

Example:
  tastevin cert --service tastevin-svc --namespace tastevin --out certs > ca-bundle.txt
  kubectl -n tastevin create secret generic tastevin-tls --type=kubernetes.io/tls \\
      --from-file=certs/tls.crt --from-file=certs/tls.key --from-file=certs/ca.crt

Exit status: 0 on success, 1 if the files cannot be created, 2 on a usage error.
";

const VALUED: &[&str] = &["--service", "--namespace", "--out", "--days"];
const SWITCHES: &[&str] = &["-h", "--help"];
const DEFAULT_DAYS: u32 = 3650;
/// Longer than any sane validity, short enough that the end date stays representable.
const MAX_DAYS: u32 = 36500;
/// Tolerates a cluster whose clocks lag behind the machine that issued the certificate.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Why no certificate was written.
#[derive(Debug)]
pub enum CertError {
    Usage(ArgError),
    MissingOption(&'static str),
    /// A Service or namespace name that Kubernetes would not accept.
    InvalidName {
        flag: &'static str,
        value: String,
    },
    InvalidDays(u32),
    Generate(rcgen::Error),
    /// The output file exists already; overwriting a key in use would break the webhook.
    Exists(PathBuf),
    Write {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Usage(e) => write!(f, "{e}"),
            CertError::MissingOption(flag) => write!(f, "option '{flag}' is required"),
            CertError::InvalidName { flag, value } => write!(
                f,
                "invalid value '{value}' for '{flag}': must be a DNS label (lowercase letters, \
                 digits and '-', starting and ending with a letter or digit, at most 63 characters)"
            ),
            CertError::InvalidDays(days) => write!(
                f,
                "invalid value '{days}' for '--days': must be between 1 and {MAX_DAYS}"
            ),
            CertError::Generate(e) => write!(f, "cannot generate the certificates: {e}"),
            CertError::Exists(path) => write!(
                f,
                "{} exists already; move it away or choose another directory with --out",
                path.display()
            ),
            CertError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for CertError {}

/// What to issue, parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub service: String,
    pub namespace: String,
    pub days: u32,
}

impl Request {
    /// The DNS names the API server (and anyone in the cluster) may use for the Service.
    pub fn dns_names(&self) -> Vec<String> {
        let (service, namespace) = (&self.service, &self.namespace);
        vec![
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
            format!("{service}.{namespace}"),
            service.clone(),
        ]
    }
}

/// The PEM texts of a freshly issued CA and serving certificate.
pub struct Issued {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// The value for `webhooks[].clientConfig.caBundle`: base64 of the CA's PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }
}

pub fn run(raw: &[String]) -> i32 {
    let args = match Args::parse(raw, VALUED, SWITCHES) {
        Ok(a) => a,
        Err(e) => return usage_error(&CertError::Usage(e)),
    };
    if args.switch("-h") || args.switch("--help") {
        print!("{HELP}");
        return 0;
    }
    if let Some(extra) = args.positional.first() {
        return usage_error(&CertError::Usage(ArgError::Unknown(extra.clone())));
    }
    let request = match parse_request(&args) {
        Ok(r) => r,
        Err(e) => return usage_error(&e),
    };
    let out = PathBuf::from(args.value("--out").unwrap_or("."));
    let written = issue(&request, SystemTime::now()).and_then(|issued| {
        write_files(&issued, &out)?;
        Ok(issued)
    });
    match written {
        Ok(issued) => {
            eprintln!(
                "tastevin cert: wrote {dir}/ca.crt, {dir}/tls.crt and {dir}/tls.key for {name}, \
                 valid {days} days; the caBundle for the MutatingWebhookConfiguration follows",
                dir = out.display(),
                name = request.dns_names().join(", "),
                days = request.days,
            );
            println!("{}", issued.ca_bundle());
            0
        }
        Err(e) => {
            eprintln!("tastevin cert: {e}");
            1
        }
    }
}

fn usage_error(e: &CertError) -> i32 {
    eprintln!("tastevin cert: {e}\nRun 'tastevin cert --help' for the options.");
    2
}

fn parse_request(args: &Args) -> Result<Request, CertError> {
    let name = |flag: &'static str| -> Result<String, CertError> {
        let value = args.value(flag).ok_or(CertError::MissingOption(flag))?;
        if is_dns_label(value) {
            Ok(value.to_string())
        } else {
            Err(CertError::InvalidName {
                flag,
                value: value.to_string(),
            })
        }
    };
    let days = args
        .parsed("--days", DEFAULT_DAYS)
        .map_err(CertError::Usage)?;
    if days == 0 || days > MAX_DAYS {
        return Err(CertError::InvalidDays(days));
    }
    Ok(Request {
        service: name("--service")?,
        namespace: name("--namespace")?,
        days,
    })
}

/// RFC 1123 label, as Kubernetes requires for Service and namespace names.
fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (1..=63).contains(&bytes.len()) && inner_ok && ends_ok(bytes.first()) && ends_ok(bytes.last())
}

/// Issues a P-256 CA and a serving certificate signed by it, valid from `now` (less an hour).
pub fn issue(request: &Request, now: SystemTime) -> Result<Issued, CertError> {
    let since_epoch = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(BACKDATE);
    let not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    let not_after = not_before + BACKDATE + Duration::from_secs(u64::from(request.days) * 86_400);

    let ca_key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CertError::Generate)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = common_name(&format!(
        "tastevin webhook CA for {}.{}",
        request.service, request.namespace
    ));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key).map_err(CertError::Generate)?;
    let issuer = Issuer::new(ca, ca_key);

    let names = request.dns_names();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CertError::Generate)?;
    let mut leaf = CertificateParams::new(names.clone()).map_err(CertError::Generate)?;
    leaf.distinguished_name = common_name(names.first().map_or("", String::as_str));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer).map_err(CertError::Generate)?;

    Ok(Issued {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// Writes the three files into `dir` (created if missing); the key is readable by its
/// owner only. Refuses to replace any existing file, and checks all three before writing.
pub fn write_files(issued: &Issued, dir: &Path) -> Result<(), CertError> {
    let files = [
        ("ca.crt", issued.ca_pem.as_str(), 0o644),
        ("tls.crt", issued.cert_pem.as_str(), 0o644),
        ("tls.key", issued.key_pem.as_str(), 0o600),
    ];
    if let Some(existing) = files
        .iter()
        .map(|(name, _, _)| dir.join(name))
        .find(|path| path.symlink_metadata().is_ok())
    {
        return Err(CertError::Exists(existing));
    }
    fs::create_dir_all(dir).map_err(|source| CertError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for (name, text, mode) in files {
        let path = dir.join(name);
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        written.map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => CertError::Exists(path.clone()),
            _ => CertError::Write {
                path: path.clone(),
                source,
            },
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::RootCertStore;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

    use super::*;

    fn request() -> Request {
        Request {
            service: "tastevin-svc".into(),
            namespace: "tastevin".into(),
            days: 30,
        }
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn verifier(ca_pem: &str) -> Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(der(ca_pem)).unwrap();
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), crate::tls::provider())
            .build()
            .unwrap()
    }

    fn verify(issued: &Issued, ca_pem: &str, name: &str, at: SystemTime) -> Result<(), String> {
        let at = UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap());
        verifier(ca_pem)
            .verify_server_cert(
                &der(&issued.cert_pem),
                &[],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                at,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn chain_verifies_for_every_service_name() {
        let now = SystemTime::now();
        let issued = issue(&request(), now).unwrap();
        for name in request().dns_names() {
            verify(&issued, &issued.ca_pem, &name, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn chain_does_not_verify_for_other_names_other_cas_or_after_expiry() {
        let now = SystemTime::now();
        let issued = issue(&request(), now).unwrap();
        let other = issue(&request(), now).unwrap();
        assert!(verify(&issued, &issued.ca_pem, "other-svc.tastevin.svc", now).is_err());
        assert!(verify(&issued, &other.ca_pem, "tastevin-svc.tastevin.svc", now).is_err());
        let after = now + Duration::from_secs(31 * 86_400);
        assert!(verify(&issued, &issued.ca_pem, "tastevin-svc.tastevin.svc", after).is_err());
        let before = now - Duration::from_secs(2 * 3600);
        assert!(verify(&issued, &issued.ca_pem, "tastevin-svc.tastevin.svc", before).is_err());
    }

    #[test]
    fn key_fits_the_certificate_for_serving() {
        let issued = issue(&request(), SystemTime::now()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
        crate::tls::server_config(vec![der(&issued.cert_pem)], key).unwrap();
    }

    #[test]
    fn ca_bundle_is_base64_of_the_ca_pem() {
        let issued = issue(&request(), SystemTime::now()).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(issued.ca_bundle())
            .unwrap();
        assert_eq!(decoded, issued.ca_pem.as_bytes());
        assert!(issued.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tastevin-cert-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn files_are_written_with_a_private_key_and_never_overwritten() {
        let dir = scratch_dir("write");
        let issued = issue(&request(), SystemTime::now()).unwrap();
        write_files(&issued, &dir).unwrap();
        let mode = |name: &str| fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("tls.key"), 0o600);
        assert_eq!(mode("tls.crt"), 0o644);
        assert_eq!(
            fs::read_to_string(dir.join("ca.crt")).unwrap(),
            issued.ca_pem
        );
        let again = issue(&request(), SystemTime::now()).unwrap();
        match write_files(&again, &dir) {
            Err(CertError::Exists(path)) => assert_eq!(path, dir.join("ca.crt")),
            other => panic!("expected Exists, got {other:?}"),
        }
        assert_eq!(
            fs::read_to_string(dir.join("tls.key")).unwrap(),
            issued.key_pem
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_requires_valid_names_and_days() {
        let parse =
            |v: &[&str]| parse_request(&Args::parse(&strings(v), VALUED, SWITCHES).unwrap());
        let ok = parse(&["--service", "a-svc", "--namespace", "ns1", "--days=7"]).unwrap();
        assert_eq!(ok.days, 7);
        assert_eq!(ok.dns_names()[0], "a-svc.ns1.svc");
        assert!(matches!(
            parse(&["--namespace", "ns"]),
            Err(CertError::MissingOption("--service"))
        ));
        for bad in ["Upper", "-lead", "trail-", "dot.ted", ""] {
            assert!(
                matches!(
                    parse(&["--service", bad, "--namespace", "ns"]),
                    Err(CertError::InvalidName {
                        flag: "--service",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(&["--service", "s", "--namespace", "n", "--days", "0"]),
            Err(CertError::InvalidDays(0))
        ));
    }

    #[test]
    fn run_writes_files_and_refuses_a_second_time() {
        let dir = scratch_dir("run");
        let args = strings(&[
            "--service",
            "tastevin-svc",
            "--namespace",
            "tastevin",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(run(&args), 0);
        assert!(dir.join("tls.crt").exists());
        assert_eq!(run(&args), 1);
        assert_eq!(run(&strings(&["--bogus"])), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
