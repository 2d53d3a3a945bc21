//! The Notation trust store of one validation: the `ca:` certificates of the trust roots a
//! rule selects (and their `tsa:` timestamping roots), and the check that a signature's
//! `x5c` chain leads to one of them at a given time.
//!
//! Chains are verified by webpki (code-signing EKU where the leaf names its usages). A
//! signing certificate that is itself the configured root (a self-signed signing cert, as
//! `notation cert generate-test` makes) is trusted by byte-for-byte comparison, because
//! webpki refuses a CA certificate as end entity and has no notion of self-signed trust.
//! Certificate fields webpki does not expose (validity, extensions, subject) are read with
//! x509-cert.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage, ALL_VERIFICATION_ALGS};
use x509_cert::der::oid::db::rfc5280::{
    ID_AD_OCSP, ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE, ID_CE_FRESHEST_CRL,
    ID_KP_CODE_SIGNING, ID_PE_AUTHORITY_INFO_ACCESS,
};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, ExtendedKeyUsage};
use x509_cert::Certificate;

use crate::config::{TrustRoot, TrustRootMaterial};
use crate::timestamp_token::TsaRoot;

/// DER contents of the code-signing EKU OID 1.3.6.1.5.5.7.3.3, as webpki wants it.
const CODE_SIGNING_EKU: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A trusted certificate and the trust root it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NamedCertificate {
    root: String,
    der: CertificateDer<'static>,
}

/// The `ca:` and `tsa:` stores built from the selected trust roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustStore {
    signing: Vec<NamedCertificate>,
    timestamping: Vec<NamedCertificate>,
}

impl TrustStore {
    /// The stores of the selected roots; every root needs a `cert`.
    pub fn from_roots(roots: &[&TrustRoot]) -> Result<TrustStore, TrustError> {
        let mut store = TrustStore {
            signing: Vec::new(),
            timestamping: Vec::new(),
        };
        for root in roots {
            let TrustRootMaterial::Cert {
                cert,
                timestamp_cert,
            } = &root.material
            else {
                return Err(TrustError::NotACertificateRoot(root.name.clone()));
            };
            store.signing.push(NamedCertificate {
                root: root.name.clone(),
                der: cert.clone(),
            });
            if let Some(timestamp_cert) = timestamp_cert {
                store.timestamping.push(NamedCertificate {
                    root: root.name.clone(),
                    der: timestamp_cert.clone(),
                });
            }
        }
        Ok(store)
    }

    /// Whether a `tsa:` store is configured (a root with `tsCert`).
    pub fn has_timestamp_roots(&self) -> bool {
        !self.timestamping.is_empty()
    }

    /// The `tsa:` store, for verifying timestamp countersignatures.
    pub fn timestamp_roots(&self) -> Vec<TsaRoot<'_>> {
        self.timestamping
            .iter()
            .map(|c| TsaRoot {
                name: &c.root,
                der: &c.der,
            })
            .collect()
    }

    /// Checks that `chain` (signing certificate first) leads to a `ca:` certificate, with
    /// every certificate valid at `at`; the name of the trust root it leads to.
    pub fn verify_chain(
        &self,
        chain: &[CertificateDer<'static>],
        at: SystemTime,
    ) -> Result<&str, TrustError> {
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(TrustError::EmptyChain);
        };
        if let Some(pinned) = self
            .signing
            .iter()
            .find(|c| c.der.as_ref() == leaf.as_ref())
        {
            let facts = CertificateFacts::parse(leaf).map_err(TrustError::Certificate)?;
            facts.check_valid_at(at).map_err(TrustError::Untrusted)?;
            facts.check_code_signing().map_err(TrustError::Untrusted)?;
            return Ok(&pinned.root);
        }
        let end_entity = EndEntityCert::try_from(leaf)
            .map_err(|e| TrustError::Certificate(format!("signing certificate: {e:?}")))?;
        let time =
            UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO));
        let mut reasons = Vec::new();
        for trusted in &self.signing {
            let anchor = match anchor_from_trusted_cert(&trusted.der) {
                Ok(anchor) => anchor,
                Err(e) => {
                    reasons.push(format!(
                        "trust root {}: unusable certificate ({e:?})",
                        trusted.root
                    ));
                    continue;
                }
            };
            match end_entity.verify_for_usage(
                ALL_VERIFICATION_ALGS,
                &[anchor],
                rest,
                time,
                KeyUsage::required_if_present(CODE_SIGNING_EKU),
                None,
                None,
            ) {
                Ok(_) => return Ok(&trusted.root),
                Err(e) => reasons.push(format!("trust root {}: {e:?}", trusted.root)),
            }
        }
        Err(TrustError::Untrusted(reasons.join("; ")))
    }
}

/// Why a chain is not trusted, or the store could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustError {
    /// A selected trust root has a `key` or `keyless` instead of a `cert`.
    NotACertificateRoot(String),
    EmptyChain,
    /// A certificate could not be read.
    Certificate(String),
    /// The chain does not lead to a trusted certificate (reasons per root).
    Untrusted(String),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::NotACertificateRoot(name) => write!(
                f,
                "failed to create trust store: no certificate provided for trust root {name}"
            ),
            TrustError::EmptyChain => f.write_str("the signature carries no certificate"),
            TrustError::Certificate(detail) => write!(f, "unreadable certificate: {detail}"),
            TrustError::Untrusted(detail) => write!(
                f,
                "the certificate chain does not lead to a trusted root ({detail})"
            ),
        }
    }
}

impl std::error::Error for TrustError {}

/// What the Notation checks need from a certificate beyond what webpki checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFacts {
    pub subject: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// CRL distribution points or an OCSP responder: revocation could be checked.
    /// (Authority information access naming only the issuer's certificate does not count.)
    pub has_revocation_info: bool,
    /// The EKU extension's usages (`None` without the extension).
    extended_key_usage: Option<ExtendedKeyUsage>,
    spki: Vec<u8>,
}

impl CertificateFacts {
    pub fn parse(der: &CertificateDer<'_>) -> Result<CertificateFacts, String> {
        let certificate = Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
        let tbs = &certificate.tbs_certificate;
        let extensions = tbs.extensions.as_deref().unwrap_or_default();
        let has_revocation_info = extensions.iter().any(|e| {
            if e.extn_id == ID_PE_AUTHORITY_INFO_ACCESS {
                // Only an OCSP responder counts; an unreadable extension is a doubt.
                return AuthorityInfoAccessSyntax::from_der(e.extn_value.as_bytes())
                    .map_or(true, |access| {
                        access.0.iter().any(|a| a.access_method == ID_AD_OCSP)
                    });
            }
            [ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_FRESHEST_CRL].contains(&e.extn_id)
        });
        let extended_key_usage = extensions
            .iter()
            .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
            .map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()))
            .transpose()
            .map_err(|e| format!("extended key usage: {e}"))?;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        Ok(CertificateFacts {
            subject: tbs.subject.to_string(),
            not_before: system_time(tbs.validity.not_before)?,
            not_after: system_time(tbs.validity.not_after)?,
            has_revocation_info,
            extended_key_usage,
            spki,
        })
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Whether `at` lies within the validity period.
    pub fn check_valid_at(&self, at: SystemTime) -> Result<(), String> {
        if at < self.not_before {
            return Err(format!(
                "certificate {:?} is not valid before {}",
                self.subject,
                unix_seconds(self.not_before)
            ));
        }
        if at > self.not_after {
            return Err(format!(
                "certificate {:?} expired at {}",
                self.subject,
                unix_seconds(self.not_after)
            ));
        }
        Ok(())
    }

    /// A signing certificate that lists usages must list code signing.
    pub fn check_code_signing(&self) -> Result<(), String> {
        match &self.extended_key_usage {
            Some(usage) if !usage.0.contains(&ID_KP_CODE_SIGNING) => Err(format!(
                "certificate {:?} is not for code signing (extended key usage lacks codeSigning)",
                self.subject
            )),
            _ => Ok(()),
        }
    }
}

fn system_time(time: x509_cert::time::Time) -> Result<SystemTime, String> {
    UNIX_EPOCH
        .checked_add(time.to_unix_duration())
        .ok_or_else(|| "validity time out of range".to_string())
}

/// A time for messages, as seconds since the epoch (`@<seconds>`), unambiguous in any zone.
pub fn unix_seconds(time: SystemTime) -> String {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => format!("@{}", since.as_secs()),
        Err(_) => "before 1970".to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::validators::notation::testing::{Pki, SignerKey};

    fn root(name: &str, cert: &CertificateDer<'static>, tsa: bool) -> TrustRoot {
        TrustRoot {
            name: name.to_string(),
            material: TrustRootMaterial::Cert {
                cert: cert.clone(),
                timestamp_cert: tsa.then(|| cert.clone()),
            },
        }
    }

    #[test]
    fn a_chain_to_the_configured_ca_is_trusted() {
        let pki = Pki::new(SignerKey::P256);
        let other = Pki::new(SignerKey::P256);
        let roots = [
            root("other", &other.ca, false),
            root("right", &pki.ca, false),
        ];
        let store = TrustStore::from_roots(&roots.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(
            store.verify_chain(&pki.chain(), SystemTime::now()),
            Ok("right")
        );
        // The root itself need not be in x5c.
        assert_eq!(
            store.verify_chain(&pki.chain()[..1], SystemTime::now()),
            Ok("right")
        );
        assert!(!store.has_timestamp_roots());
    }

    #[test]
    fn a_chain_to_another_ca_is_not_trusted() {
        let pki = Pki::new(SignerKey::P256);
        let other = Pki::new(SignerKey::P256);
        let roots = [root("other", &other.ca, true)];
        let store = TrustStore::from_roots(&roots.iter().collect::<Vec<_>>()).unwrap();
        assert!(store.has_timestamp_roots());
        assert!(matches!(
            store.verify_chain(&pki.chain(), SystemTime::now()),
            Err(TrustError::Untrusted(_))
        ));
    }

    #[test]
    fn chains_are_checked_at_the_given_time() {
        let pki = Pki::new(SignerKey::P256);
        let roots = [root("r", &pki.ca, false)];
        let store = TrustStore::from_roots(&roots.iter().collect::<Vec<_>>()).unwrap();
        let long_ago = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(store.verify_chain(&pki.chain(), long_ago).is_err());
    }

    #[test]
    fn a_leaf_without_code_signing_is_refused() {
        let pki = Pki::server_auth_leaf();
        let roots = [root("r", &pki.ca, false)];
        let store = TrustStore::from_roots(&roots.iter().collect::<Vec<_>>()).unwrap();
        assert!(store.verify_chain(&pki.chain(), SystemTime::now()).is_err());
    }

    #[test]
    fn a_self_signed_signing_certificate_configured_as_root_is_trusted() {
        let pki = Pki::self_signed(SignerKey::P256);
        let roots = [root("self", &pki.leaf, false)];
        let store = TrustStore::from_roots(&roots.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(
            store.verify_chain(&pki.chain(), SystemTime::now()),
            Ok("self")
        );
        let long_ago = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(store.verify_chain(&pki.chain(), long_ago).is_err());
        // Another self-signed certificate is not.
        let other = Pki::self_signed(SignerKey::P256);
        assert!(store
            .verify_chain(&other.chain(), SystemTime::now())
            .is_err());
    }

    #[test]
    fn key_roots_cannot_build_a_trust_store() {
        let key_root = TrustRoot {
            name: "k".to_string(),
            material: TrustRootMaterial::Key(crate::config::KeyRef::Other("x".to_string())),
        };
        assert_eq!(
            TrustStore::from_roots(&[&key_root]),
            Err(TrustError::NotACertificateRoot("k".to_string()))
        );
    }

    #[test]
    fn facts_are_read_from_certificates() {
        let pki = Pki::new(SignerKey::P256);
        let facts = CertificateFacts::parse(&pki.leaf).unwrap();
        assert!(
            facts.subject.contains("notation test signer"),
            "{}",
            facts.subject
        );
        assert!(facts.check_valid_at(SystemTime::now()).is_ok());
        assert!(facts.check_code_signing().is_ok());
        assert!(!facts.has_revocation_info);
        assert!(CertificateFacts::parse(&CertificateDer::from(vec![1, 2, 3])).is_err());
        let with_crl = Pki::with_crl_distribution_point();
        assert!(
            CertificateFacts::parse(&with_crl.leaf)
                .unwrap()
                .has_revocation_info
        );
        let revocation_info = |pki: Pki| {
            CertificateFacts::parse(&pki.leaf)
                .unwrap()
                .has_revocation_info
        };
        assert!(revocation_info(Pki::with_authority_info_access(true)));
        assert!(!revocation_info(Pki::with_authority_info_access(false)));
    }
}
