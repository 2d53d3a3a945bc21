//! Who a Fulcio certificate was issued to, and whether that is who a keyless trust root
//! expects: the subject is a SAN email address or URI, the issuer is the OIDC issuer
//! extension (`1.3.6.1.4.1.57264.1.8`, a UTF8String, or the older raw
//! `1.3.6.1.4.1.57264.1.1`). Literal values compare exactly; regular expressions match
//! anywhere in the value, as Go's `regexp.MatchString` in cosign does.

use std::fmt;

use regex_lite::Regex;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::config::{IdentityMatch, Keyless};

/// `id-ce-subjectAltName`.
const SUBJECT_ALT_NAME_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// Fulcio's OIDC issuer, DER UTF8String (current certificates).
pub const ISSUER_V2_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's OIDC issuer, raw bytes (deprecated, still written).
pub const ISSUER_V1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");

/// The identity a certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// SAN email addresses and URIs, in certificate order.
    pub subjects: Vec<String>,
    /// The OIDC issuer, `None` when the certificate names none.
    pub issuer: Option<String>,
}

impl CertificateIdentity {
    /// Reads the SAN and issuer extensions of `certificate`.
    pub fn of(certificate: &Certificate) -> Result<CertificateIdentity, String> {
        let extensions = certificate.tbs_certificate.extensions.iter().flatten();
        let mut subjects = Vec::new();
        let mut issuer_v1 = None;
        let mut issuer_v2 = None;
        for extension in extensions {
            let value = extension.extn_value.as_bytes();
            if extension.extn_id == SUBJECT_ALT_NAME_OID {
                let names = SubjectAltName::from_der(value)
                    .map_err(|e| format!("unreadable subject alternative name: {e}"))?;
                subjects.extend(names.0.into_iter().filter_map(|name| match name {
                    GeneralName::Rfc822Name(email) => Some(email.to_string()),
                    GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                    _ => None,
                }));
            } else if extension.extn_id == ISSUER_V2_OID {
                let issuer = Utf8StringRef::from_der(value)
                    .map_err(|e| format!("unreadable Fulcio issuer extension: {e}"))?;
                issuer_v2 = Some(issuer.as_str().to_owned());
            } else if extension.extn_id == ISSUER_V1_OID {
                issuer_v1 = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        Ok(CertificateIdentity {
            subjects,
            issuer: issuer_v2.or(issuer_v1),
        })
    }
}

/// A literal or compiled regular expression.
#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Pattern(Regex),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Exact(a), Matcher::Exact(b)) => a == b,
            (Matcher::Pattern(a), Matcher::Pattern(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for Matcher {}

impl Matcher {
    fn new(configured: &IdentityMatch, field: &str) -> Result<Matcher, String> {
        match configured {
            IdentityMatch::Exact(value) => Ok(Matcher::Exact(value.clone())),
            IdentityMatch::Regex(pattern) => {
                Regex::new(pattern).map(Matcher::Pattern).map_err(|e| {
                    format!("keyless {field} {pattern:?} is not a valid regular expression: {e}")
                })
            }
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Pattern(regex) => regex.is_match(value),
        }
    }
}

/// What a keyless trust root expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedIdentity {
    pub issuer: Matcher,
    pub subject: Matcher,
}

/// The certificate's identity is not the expected one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityMismatch(pub CertificateIdentity);

impl fmt::Display for IdentityMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "none of the expected identities matched what was in the certificate, got subjects [{}] with issuer {}",
            self.0.subjects.join(", "),
            self.0.issuer.as_deref().unwrap_or("")
        )
    }
}

impl std::error::Error for IdentityMismatch {}

impl ExpectedIdentity {
    /// Compiles a trust root's `keyless` constraints.
    pub fn new(keyless: &Keyless) -> Result<ExpectedIdentity, String> {
        Ok(ExpectedIdentity {
            issuer: Matcher::new(&keyless.issuer, "issuerRegex")?,
            subject: Matcher::new(&keyless.subject, "subjectRegex")?,
        })
    }

    /// Whether `identity` is the expected one: its issuer matches and one subject does.
    pub fn check(&self, identity: &CertificateIdentity) -> Result<(), IdentityMismatch> {
        let issuer_matches = identity
            .issuer
            .as_deref()
            .is_some_and(|issuer| self.issuer.matches(issuer));
        let subject_matches = identity
            .subjects
            .iter()
            .any(|subject| self.subject.matches(subject));
        if issuer_matches && subject_matches {
            Ok(())
        } else {
            Err(IdentityMismatch(identity.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(issuer: IdentityMatch, subject: IdentityMatch) -> ExpectedIdentity {
        match ExpectedIdentity::new(&Keyless { issuer, subject }) {
            Ok(expected) => expected,
            Err(e) => panic!("{e}"),
        }
    }

    fn identity(subjects: &[&str], issuer: Option<&str>) -> CertificateIdentity {
        CertificateIdentity {
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            issuer: issuer.map(str::to_owned),
        }
    }

    const GITHUB: &str = "https://github.com/login/oauth";

    #[test]
    fn literals_compare_exactly() {
        let alice = expected(
            IdentityMatch::Exact(GITHUB.to_owned()),
            IdentityMatch::Exact("alice@example.org".to_owned()),
        );
        assert_eq!(
            alice.check(&identity(
                &["bob@example.org", "alice@example.org"],
                Some(GITHUB)
            )),
            Ok(())
        );
        for other in [
            identity(&["alice@example.org.evil"], Some(GITHUB)),
            identity(&["Alice@example.org"], Some(GITHUB)),
            identity(
                &["alice@example.org"],
                Some("https://github.com/login/oauth2"),
            ),
            identity(&["alice@example.org"], None),
            identity(&[], Some(GITHUB)),
        ] {
            assert_eq!(alice.check(&other), Err(IdentityMismatch(other.clone())));
        }
    }

    #[test]
    fn regexes_match_anywhere_unless_anchored() {
        let loose = expected(
            IdentityMatch::Regex("github".to_owned()),
            IdentityMatch::Regex("philipp".to_owned()),
        );
        assert_eq!(
            loose.check(&identity(&["mailto-philipp.b@example.org"], Some(GITHUB))),
            Ok(())
        );
        let anchored = expected(
            IdentityMatch::Regex(r"^https://github\.com/login/oauth$".to_owned()),
            IdentityMatch::Regex(r"^https://github\.com/org/[a-z]+/\.github/workflows/".to_owned()),
        );
        assert_eq!(
            anchored.check(&identity(
                &["https://github.com/org/app/.github/workflows/release.yml@refs/heads/main"],
                Some(GITHUB)
            )),
            Ok(())
        );
        let evil = identity(
            &["https://github.com/org/app/.github/workflows/x.yml"],
            Some("https://github.com/login/oauth.evil"),
        );
        assert_eq!(anchored.check(&evil), Err(IdentityMismatch(evil.clone())));
    }

    #[test]
    fn the_mismatch_names_what_the_certificate_holds() {
        let mismatch = IdentityMismatch(identity(&["a@x", "https://y"], Some(GITHUB)));
        assert_eq!(
            mismatch.to_string(),
            "none of the expected identities matched what was in the certificate, got subjects [a@x, https://y] with issuer https://github.com/login/oauth"
        );
    }

    #[test]
    fn invalid_regexes_are_reported() {
        let error = ExpectedIdentity::new(&Keyless {
            issuer: IdentityMatch::Regex("(".to_owned()),
            subject: IdentityMatch::Exact("s".to_owned()),
        });
        assert!(
            matches!(&error, Err(e) if e.starts_with("keyless issuerRegex \"(\" is not a valid regular expression")),
            "{error:?}"
        );
    }
}
