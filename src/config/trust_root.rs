//! Trust roots of signature validators (`trustRoots[]`): a name plus key material, and the
//! resolution of a rule's `trustRoot` reference to the roots it designates (§2.5).

use std::fmt;

use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use super::error::Problem;
use super::pem;

/// The name a rule without `trustRoot` refers to.
pub const DEFAULT_TRUST_ROOT: &str = "default";
/// The reference meaning "every trust root of the validator".
pub const ALL_TRUST_ROOTS: &str = "*";

/// One named trust root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustRoot {
    pub name: String,
    pub material: TrustRootMaterial,
}

/// What a trust root pins. Which kinds suit which validator is checked when the root is
/// used, as in Connaisseur (a `cert` root on a notaryv1 validator fails at validation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustRootMaterial {
    Key(KeyRef),
    Cert {
        /// The first certificate of the `cert` PEM.
        cert: CertificateDer<'static>,
        /// Timestamping authority root (`tsCert`, Notation).
        timestamp_cert: Option<CertificateDer<'static>>,
    },
    Keyless(Keyless),
}

/// A `key` value. A PEM key is parsed at load (Connaisseur only notices bad key material
/// per request, which denies every image of the rule until someone reads the logs; a
/// refused configuration is caught by `check-config`, and a reload keeps the old one),
/// but kept as text: the validators apply their own stricter checks when they use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// Inline `-----BEGIN PUBLIC KEY-----` PEM.
    Pem(String),
    /// A cosign KMS reference; not supported yet.
    Kms(KmsKey),
    /// Anything else cosign might understand (`pkcs11:`, `gitlab://`, a file path): useless
    /// on a read-only scratch image, and refused when used.
    Other(String),
}

/// A key held in a key management service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKey {
    pub provider: KmsProvider,
    /// The full URI as configured.
    pub uri: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmsProvider {
    Aws,
    Gcp,
    Azure,
    HashiVault,
    Kubernetes,
}

impl KmsProvider {
    const ALL: [KmsProvider; 5] = [
        KmsProvider::Aws,
        KmsProvider::Gcp,
        KmsProvider::Azure,
        KmsProvider::HashiVault,
        KmsProvider::Kubernetes,
    ];

    /// The URI scheme with its `://`, e.g. `awskms://`.
    pub fn scheme(self) -> &'static str {
        match self {
            KmsProvider::Aws => "awskms://",
            KmsProvider::Gcp => "gcpkms://",
            KmsProvider::Azure => "azurekms://",
            KmsProvider::HashiVault => "hashivault://",
            KmsProvider::Kubernetes => "k8s://",
        }
    }
}

impl KmsKey {
    /// The error text for validations that meet a KMS key.
    pub fn unsupported_message(&self) -> String {
        format!(
            "KMS key references ({}) are not supported yet; configure the public key as PEM",
            self.provider.scheme()
        )
    }
}

impl KeyRef {
    fn classify(key: String) -> KeyRef {
        if key.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") {
            return KeyRef::Pem(key);
        }
        match KmsProvider::ALL
            .into_iter()
            .find(|provider| key.starts_with(provider.scheme()))
        {
            Some(provider) => KeyRef::Kms(KmsKey { provider, uri: key }),
            None => KeyRef::Other(key),
        }
    }
}

/// Keyless (Fulcio certificate) identity constraints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyless {
    pub issuer: IdentityMatch,
    pub subject: IdentityMatch,
}

/// A literal value or a regular expression (Go RE2 syntax, matched by the cosign
/// validator) for an issuer or subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityMatch {
    Exact(String),
    Regex(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTrustRoot {
    name: Option<String>,
    key: Option<String>,
    cert: Option<String>,
    ts_cert: Option<String>,
    keyless: Option<RawKeyless>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKeyless {
    issuer: Option<String>,
    issuer_regex: Option<String>,
    subject: Option<String>,
    subject_regex: Option<String>,
}

/// Problems found in one trust root, each with the field it is about (`""` = the root).
pub(super) type RootProblems = Vec<(&'static str, Problem)>;

impl RawTrustRoot {
    /// notaryv1 and cosign roots: exactly one of `key`, `cert`, `keyless`.
    pub(super) fn check_signature_root(self) -> Result<TrustRoot, RootProblems> {
        let mut problems = Vec::new();
        let name = self.checked_name(&mut problems);
        let given = [
            self.key.is_some(),
            self.cert.is_some(),
            self.keyless.is_some(),
        ];
        if given.iter().filter(|present| **present).count() != 1 {
            problems.push(("", Problem::TrustRootMaterial));
            return Err(problems);
        }
        if self.ts_cert.is_some() && self.cert.is_none() {
            problems.push(("tsCert", Problem::TimestampCertWithoutCert));
        }
        let material = if let Some(key) = self.key {
            match KeyRef::classify(key) {
                // Refused at load, so that a policy that cannot be enforced is never deployed.
                KeyRef::Kms(kms) => {
                    problems.push(("key", Problem::NotSupportedYet(kms.unsupported_message())));
                    None
                }
                KeyRef::Pem(pem) => match pem::public_key(&pem) {
                    Ok(_) => Some(TrustRootMaterial::Key(KeyRef::Pem(pem))),
                    Err(problem) => {
                        problems.push(("key", problem));
                        None
                    }
                },
                key => Some(TrustRootMaterial::Key(key)),
            }
        } else if let Some(keyless) = self.keyless {
            keyless.check(&mut problems).map(TrustRootMaterial::Keyless)
        } else {
            cert_material(self.cert.as_deref(), self.ts_cert.as_deref(), &mut problems)
        };
        finish(name, material, problems)
    }

    /// Notation roots: a valid `cert` (first PEM block) and optional `tsCert`; other
    /// material is ignored, as in Connaisseur.
    pub(super) fn check_notation_root(self) -> Result<TrustRoot, RootProblems> {
        let mut problems = Vec::new();
        let name = self.checked_name(&mut problems);
        if self.cert.is_none() {
            problems.push(("cert", Problem::MissingField("cert")));
            return Err(problems);
        }
        let material = cert_material(self.cert.as_deref(), self.ts_cert.as_deref(), &mut problems);
        finish(name, material, problems)
    }

    fn checked_name(&self, problems: &mut RootProblems) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => name.clone(),
            _ => {
                problems.push(("", Problem::MissingField("name")));
                String::new()
            }
        }
    }
}

fn cert_material(
    cert: Option<&str>,
    ts_cert: Option<&str>,
    problems: &mut RootProblems,
) -> Option<TrustRootMaterial> {
    let cert = cert.and_then(|text| {
        pem::first_certificate(text)
            .map_err(|problem| problems.push(("cert", problem)))
            .ok()
    });
    let timestamp_cert = match ts_cert.map(pem::first_certificate) {
        None => None,
        Some(Ok(cert)) => Some(cert),
        Some(Err(problem)) => {
            problems.push(("tsCert", problem));
            None
        }
    };
    cert.map(|cert| TrustRootMaterial::Cert {
        cert,
        timestamp_cert,
    })
}

fn finish(
    name: String,
    material: Option<TrustRootMaterial>,
    problems: RootProblems,
) -> Result<TrustRoot, RootProblems> {
    match material {
        Some(material) if problems.is_empty() => Ok(TrustRoot { name, material }),
        _ => Err(problems),
    }
}

impl RawKeyless {
    fn check(self, problems: &mut RootProblems) -> Option<Keyless> {
        let issuer = identity(
            self.issuer,
            self.issuer_regex,
            "issuer",
            "issuerRegex",
            problems,
        );
        let subject = identity(
            self.subject,
            self.subject_regex,
            "subject",
            "subjectRegex",
            problems,
        );
        Some(Keyless {
            issuer: issuer?,
            subject: subject?,
        })
    }
}

fn identity(
    literal: Option<String>,
    regex: Option<String>,
    literal_name: &'static str,
    regex_name: &'static str,
    problems: &mut RootProblems,
) -> Option<IdentityMatch> {
    match (literal, regex) {
        (Some(literal), None) if !literal.is_empty() => Some(IdentityMatch::Exact(literal)),
        (None, Some(regex)) if !regex.is_empty() => Some(IdentityMatch::Regex(regex)),
        _ => {
            problems.push((
                "keyless",
                Problem::KeylessConstraint {
                    literal: literal_name,
                    regex: regex_name,
                },
            ));
            None
        }
    }
}

/// A rule's trust root reference could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustRootError {
    NotFound(String),
    NoneDefined(Vec<String>),
}

impl fmt::Display for TrustRootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(name) => write!(f, "unable to find trust root {name}"),
            Self::NoneDefined(references) => write!(
                f,
                "no trust roots defined for key references [{}]",
                references.join(" ")
            ),
        }
    }
}

impl std::error::Error for TrustRootError {}

/// Resolves trust root references (§2.5): none or `[""]` means `default`; exactly `["*"]`
/// means every root in configuration order; otherwise each name must exist (the first
/// root of that name is taken).
pub fn resolve<'a, S: AsRef<str>>(
    roots: &'a [TrustRoot],
    references: &[S],
) -> Result<Vec<&'a TrustRoot>, TrustRootError> {
    let mut names: Vec<&str> = references.iter().map(AsRef::as_ref).collect();
    if names.is_empty() || names == [""] {
        names = vec![DEFAULT_TRUST_ROOT];
    }
    let resolved: Vec<&TrustRoot> = if names == [ALL_TRUST_ROOTS] {
        roots.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                roots
                    .iter()
                    .find(|root| root.name == *name)
                    .ok_or_else(|| TrustRootError::NotFound((*name).to_owned()))
            })
            .collect::<Result<_, _>>()?
    };
    if resolved.is_empty() {
        return Err(TrustRootError::NoneDefined(
            names.iter().map(|name| (*name).to_owned()).collect(),
        ));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pem::tests::{certificate_pem, public_key_pem};

    fn raw(text: &str) -> RawTrustRoot {
        match serde_norway::from_str(text) {
            Ok(raw) => raw,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn indent(pem: &str) -> String {
        pem.lines().map(|line| format!("  {line}\n")).collect()
    }

    #[test]
    fn signature_roots_need_exactly_one_material() {
        let key = public_key_pem();
        let ok = raw(&format!("name: default\nkey: |\n{}", indent(&key))).check_signature_root();
        assert!(matches!(
            ok,
            Ok(TrustRoot {
                material: TrustRootMaterial::Key(KeyRef::Pem(_)),
                ..
            })
        ));
        let none = raw("name: default").check_signature_root();
        assert_eq!(none, Err(vec![("", Problem::TrustRootMaterial)]));
        let two = raw("name: a\nkey: k8s://ns/secret\nkeyless: {issuer: i, subject: s}")
            .check_signature_root();
        assert_eq!(two, Err(vec![("", Problem::TrustRootMaterial)]));
    }

    #[test]
    fn pem_keys_must_parse_at_load() {
        use crate::config::pem::tests::pem_block;
        let garbage = pem_block("PUBLIC KEY", b"garbage");
        let root = raw(&format!("name: r\nkey: |\n{}", indent(&garbage))).check_signature_root();
        assert!(
            matches!(&root, Err(problems) if matches!(problems.as_slice(), [("key", Problem::BadPem { expected: "public key", .. })])),
            "{root:?}"
        );
        let truncated = public_key_pem().replace("-----END PUBLIC KEY-----", "");
        let root = raw(&format!("name: r\nkey: |\n{}", indent(&truncated))).check_signature_root();
        assert!(root.is_err());
    }

    #[test]
    fn kms_uris_are_refused_at_load_saying_so() {
        for (uri, provider) in [
            ("awskms:///arn:aws:kms:eu-1:1:key/x", KmsProvider::Aws),
            (
                "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
                KmsProvider::Gcp,
            ),
            ("azurekms://vault.vault.azure.net/key", KmsProvider::Azure),
            ("hashivault://transit-key", KmsProvider::HashiVault),
            ("k8s://connaisseur/cosign-key", KmsProvider::Kubernetes),
        ] {
            let root = raw(&format!("name: r\nkey: {uri}")).check_signature_root();
            let message = KmsKey {
                provider,
                uri: uri.to_owned(),
            }
            .unsupported_message();
            assert!(message.contains(provider.scheme()), "{message}");
            assert_eq!(root, Err(vec![("key", Problem::NotSupportedYet(message))]));
        }
        let other = raw("name: r\nkey: /etc/key.pub").check_signature_root();
        assert!(matches!(
            other.map(|r| r.material),
            Ok(TrustRootMaterial::Key(KeyRef::Other(_)))
        ));
    }

    #[test]
    fn keyless_needs_one_form_per_constraint() {
        let ok =
            raw("name: r\nkeyless: {issuerRegex: '.*', subject: me@x.io}").check_signature_root();
        assert!(ok.is_ok());
        let both =
            raw("name: r\nkeyless: {issuer: a, issuerRegex: b, subject: s}").check_signature_root();
        assert_eq!(
            both,
            Err(vec![(
                "keyless",
                Problem::KeylessConstraint {
                    literal: "issuer",
                    regex: "issuerRegex"
                }
            )])
        );
        let missing = raw("name: r\nkeyless: {issuer: a}").check_signature_root();
        assert!(matches!(missing, Err(problems) if problems.len() == 1));
    }

    #[test]
    fn notation_roots_need_a_valid_cert() {
        let cert = certificate_pem();
        let ok = raw(&format!(
            "name: r\nkey: ignored\ncert: |\n{}",
            indent(&cert)
        ))
        .check_notation_root();
        assert!(matches!(
            ok.map(|r| r.material),
            Ok(TrustRootMaterial::Cert { .. })
        ));
        let missing = raw("name: r").check_notation_root();
        assert_eq!(missing, Err(vec![("cert", Problem::MissingField("cert"))]));
        let bad = raw("name: r\ncert: nope\ntsCert: nope").check_notation_root();
        assert!(matches!(bad, Err(problems) if problems.len() == 2));
    }

    #[test]
    fn timestamp_cert_only_next_to_cert() {
        let root = raw("name: r\nkey: pkcs11:x\ntsCert: x").check_signature_root();
        assert_eq!(
            root,
            Err(vec![("tsCert", Problem::TimestampCertWithoutCert)])
        );
    }

    #[test]
    fn resolution_follows_connaisseur() {
        let root = |name: &str| TrustRoot {
            name: name.to_owned(),
            material: TrustRootMaterial::Key(KeyRef::Other(String::new())),
        };
        let roots = [root("default"), root("sse"), root("sse")];
        let names = |refs: &[&str]| {
            resolve(&roots, refs)
                .map(|found| found.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(names(&[]), Ok(vec!["default".to_owned()]));
        assert_eq!(names(&[""]), Ok(vec!["default".to_owned()]));
        assert_eq!(names(&["*"]).map(|n| n.len()), Ok(3));
        assert_eq!(names(&["sse"]), Ok(vec!["sse".to_owned()]));
        assert_eq!(
            names(&["nope"]).map_err(|e| e.to_string()),
            Err("unable to find trust root nope".to_owned())
        );
        assert_eq!(
            resolve::<&str>(&[], &["*"]).map_err(|e| e.to_string()),
            Err("no trust roots defined for key references [*]".to_owned())
        );
    }
}
