//! Keyless trust roots: a signature counts when its Fulcio certificate chains to the
//! configured Fulcio roots (`host.fulcioCert`) for code signing at the time the signature
//! was logged, carries a valid embedded SCT (unless `verifySCT: false`), and names the
//! expected identity. The certificate's key then verifies the signature like a root key.
//!
//! Sigstore TUF is not used: every trusted key and certificate comes from the
//! configuration.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::der::Decode;
use x509_cert::Certificate;

use super::identity::{CertificateIdentity, ExpectedIdentity, IdentityMismatch};
use super::sct::{self, SctError};
use super::trusted_root::{LogKeys, SigstoreTrustedRoot, Window};
use crate::crypto::{KeyError, PublicKey};

/// Largest `dev.sigstore.cosign/certificate` annotation read (Fulcio leaves are ~1 KiB).
pub const MAX_CERTIFICATE_PEM_BYTES: usize = 16 * 1024;
/// Largest `dev.sigstore.cosign/chain` annotation read.
pub const MAX_CHAIN_PEM_BYTES: usize = 64 * 1024;
/// Most certificates accepted in the chain annotation.
pub const MAX_CHAIN_CERTIFICATES: usize = 10;

/// `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), OID contents.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The Fulcio roots and CT logs a validator trusts for its keyless roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FulcioTrust {
    /// Per certificate authority, its trust anchors and when it may be trusted.
    authorities: Vec<(Vec<TrustAnchor<'static>>, Window)>,
    /// The CT log keys embedded SCTs must verify with; `None` with `verifySCT: false`.
    ct_logs: Option<LogKeys>,
}

fn anchors(roots: &[CertificateDer<'_>], what: &str) -> Result<Vec<TrustAnchor<'static>>, String> {
    let anchors = roots
        .iter()
        .enumerate()
        .map(|(index, root)| {
            webpki::anchor_from_trusted_cert(root)
                .map(|anchor| anchor.to_owned())
                .map_err(|e| format!("{what} certificate {} is not usable: {e}", index + 1))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if anchors.is_empty() {
        return Err(format!("{what} holds no certificate"));
    }
    Ok(anchors)
}

impl FulcioTrust {
    /// Every certificate of `host.fulcioCert` is a trust anchor, as in Connaisseur, at any
    /// time; so is the configured CT log key.
    pub fn new(roots: &[CertificateDer<'_>], ct_log: Option<PublicKey>) -> Result<Self, String> {
        Ok(FulcioTrust {
            authorities: vec![(anchors(roots, "host.fulcioCert")?, Window::ALWAYS)],
            ct_logs: ct_log.map(LogKeys::single),
        })
    }

    /// The certificate authorities of a Sigstore trusted root, each within its window, and
    /// its CT logs when SCTs are verified.
    pub fn from_trusted_root(root: &SigstoreTrustedRoot, verify_sct: bool) -> Result<Self, String> {
        let authorities = root
            .authorities
            .iter()
            .map(|authority| {
                Ok((
                    anchors(&authority.certificates, "trusted root Fulcio authority")?,
                    authority.valid,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if authorities.is_empty() {
            return Err("the trusted root has no Fulcio certificate authority".to_owned());
        }
        Ok(FulcioTrust {
            authorities,
            ct_logs: verify_sct.then(|| root.ctlogs.clone()),
        })
    }

    /// The same authorities with SCTs checked against `ct_logs`.
    pub fn with_ct_logs(self, ct_logs: LogKeys) -> FulcioTrust {
        FulcioTrust {
            ct_logs: Some(ct_logs),
            ..self
        }
    }

    /// The anchors of the authorities trusted at `at`.
    fn anchors_at(&self, at: u64) -> Vec<TrustAnchor<'static>> {
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        self.authorities
            .iter()
            .filter(|(_, valid)| valid.contains(at))
            .flat_map(|(anchors, _)| anchors.iter().cloned())
            .collect()
    }
}

/// A keyless trust root ready to judge certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeylessRoot {
    pub identity: ExpectedIdentity,
    pub trust: Arc<FulcioTrust>,
}

/// A certificate that passed every keyless check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningCertificate {
    /// The leaf certificate DER (what a Rekor entry must record).
    pub der: Vec<u8>,
    /// The leaf's key, which must verify the signature.
    pub key: PublicKey,
}

/// Why a signature's certificate does not satisfy a keyless root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeylessError {
    NoCertificate,
    TooLarge {
        annotation: &'static str,
        limit: usize,
    },
    Unreadable {
        what: &'static str,
        reason: String,
    },
    TooManyCertificates,
    /// webpki refused the chain (expired, unknown issuer, not for code signing, …).
    Chain {
        error: webpki::Error,
        at: u64,
    },
    Sct(SctError),
    Identity(IdentityMismatch),
    Key(KeyError),
}

impl fmt::Display for KeylessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeylessError::NoCertificate => f.write_str(
                "no signing certificate attached (dev.sigstore.cosign/certificate); a keyless trust root only accepts signatures made with a Fulcio certificate",
            ),
            KeylessError::TooLarge { annotation, limit } => {
                write!(f, "{annotation} annotation exceeds the limit of {limit} bytes")
            }
            KeylessError::Unreadable { what, reason } => write!(f, "unreadable {what}: {reason}"),
            KeylessError::TooManyCertificates => write!(
                f,
                "certificate chain annotation holds more than {MAX_CHAIN_CERTIFICATES} certificates"
            ),
            KeylessError::Chain { error, at } => write!(
                f,
                "certificate is not valid for code signing under the Fulcio roots (host.fulcioCert or the trusted root) at Unix time {at}: {}",
                chain_reason(error)
            ),
            KeylessError::Sct(error) => error.fmt(f),
            KeylessError::Identity(mismatch) => mismatch.fmt(f),
            KeylessError::Key(error) => write!(f, "certificate key is not usable: {error}"),
        }
    }
}

impl std::error::Error for KeylessError {}

fn chain_reason(error: &webpki::Error) -> String {
    match error {
        webpki::Error::CertExpired { .. } => "certificate expired".to_owned(),
        webpki::Error::CertNotValidYet { .. } => "certificate not yet valid".to_owned(),
        webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => {
            "not issued by a configured Fulcio root".to_owned()
        }
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "certificate is not for code signing (extended key usage)".to_owned()
        }
        other => format!("{other:?}"),
    }
}

impl KeylessRoot {
    /// Checks the signing certificate (PEM `certificate`, PEM `chain` of intermediates) at
    /// `at` (Unix seconds) and returns its key.
    pub fn certify(
        &self,
        certificate: Option<&str>,
        chain: Option<&str>,
        at: u64,
    ) -> Result<SigningCertificate, KeylessError> {
        let leaf_pem = certificate.ok_or(KeylessError::NoCertificate)?;
        bounded(leaf_pem, "certificate", MAX_CERTIFICATE_PEM_BYTES)?;
        let leaf_der = CertificateDer::from_pem_slice(leaf_pem.as_bytes()).map_err(|e| {
            KeylessError::Unreadable {
                what: "signing certificate",
                reason: e.to_string(),
            }
        })?;
        let intermediates = match chain {
            None => Vec::new(),
            Some(pem) => intermediates(pem)?,
        };
        self.certify_der(leaf_der, &intermediates, at)
    }

    /// [`KeylessRoot::certify`] for certificates already in DER, as a Sigstore bundle holds
    /// them (`intermediates` may include the root).
    pub fn certify_der(
        &self,
        leaf_der: CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        at: u64,
    ) -> Result<SigningCertificate, KeylessError> {
        if intermediates.len() > MAX_CHAIN_CERTIFICATES {
            return Err(KeylessError::TooManyCertificates);
        }
        let anchors = self.trust.anchors_at(at);
        let end_entity = EndEntityCert::try_from(&leaf_der)
            .map_err(|error| KeylessError::Chain { error, at })?;
        let path = end_entity
            .verify_for_usage(
                rustls::crypto::aws_lc_rs::default_provider()
                    .signature_verification_algorithms
                    .all,
                &anchors,
                intermediates,
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
                KeyUsage::required(EKU_CODE_SIGNING),
                None,
                None,
            )
            .map_err(|error| KeylessError::Chain { error, at })?;
        let leaf = Certificate::from_der(&leaf_der).map_err(|e| KeylessError::Unreadable {
            what: "signing certificate",
            reason: e.to_string(),
        })?;
        if let Some(ct_logs) = &self.trust.ct_logs {
            let issuer = path.issuer_spki();
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            let mut outcome = Err(SctError::NotVerified);
            for ct_log in ct_logs.valid_at(at) {
                outcome = sct::verify_embedded(&leaf, issuer.as_ref(), ct_log);
                if outcome.is_ok() {
                    break;
                }
            }
            outcome.map_err(KeylessError::Sct)?;
        }
        let identity =
            CertificateIdentity::of(&leaf).map_err(|reason| KeylessError::Unreadable {
                what: "certificate identity",
                reason,
            })?;
        self.identity
            .check(&identity)
            .map_err(KeylessError::Identity)?;
        let key = PublicKey::from_spki_der(end_entity.subject_public_key_info().as_ref())
            .map_err(KeylessError::Key)?;
        Ok(SigningCertificate {
            der: leaf_der.as_ref().to_vec(),
            key,
        })
    }
}

fn bounded(text: &str, annotation: &'static str, limit: usize) -> Result<(), KeylessError> {
    if text.len() > limit {
        Err(KeylessError::TooLarge { annotation, limit })
    } else {
        Ok(())
    }
}

/// The certificates of the chain annotation (intermediates, and usually the root too).
fn intermediates(pem: &str) -> Result<Vec<CertificateDer<'static>>, KeylessError> {
    bounded(pem, "certificate chain", MAX_CHAIN_PEM_BYTES)?;
    let mut certificates = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        if certificates.len() == MAX_CHAIN_CERTIFICATES {
            return Err(KeylessError::TooManyCertificates);
        }
        certificates.push(certificate.map_err(|e| KeylessError::Unreadable {
            what: "certificate chain",
            reason: e.to_string(),
        })?);
    }
    Ok(certificates)
}

/// Test fixtures: a Fulcio-like PKI (P-384 root and intermediate) issuing leaves with the
/// Fulcio extensions and an embedded SCT signed by a test CT log.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::crypto::tests::TestSigner;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
        SigningKey, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    };
    use x509_cert::der::asn1::Utf8StringRef;
    use x509_cert::der::Encode;

    /// The integrated time of the test Rekor bundles (`bundle::fixtures`).
    pub(crate) const SIGNED_AT: u64 = 1_700_000_000;
    pub(crate) const GITHUB: &str = "https://github.com/login/oauth";

    pub(crate) fn ok<T, E: fmt::Display>(result: Result<T, E>) -> T {
        match result {
            Ok(value) => value,
            Err(e) => panic!("fixture: {e}"),
        }
    }

    /// What goes into a leaf.
    pub(crate) struct LeafSpec {
        pub(crate) email: Option<&'static str>,
        pub(crate) uri: Option<&'static str>,
        pub(crate) issuer: Option<&'static str>,
        pub(crate) code_signing: bool,
        /// Valid for ten minutes around [`SIGNED_AT`] (as Fulcio issues), else for decades.
        pub(crate) short_lived: bool,
        pub(crate) sct: SctSpec,
    }

    pub(crate) enum SctSpec {
        /// Signed by the PKI's CT log over the right precertificate.
        Valid,
        None,
        /// Signed by another log key.
        OtherLog,
        /// Signed over another precertificate (serial changed afterwards).
        OtherCertificate,
    }

    impl Default for LeafSpec {
        fn default() -> LeafSpec {
            LeafSpec {
                email: Some("alice@example.org"),
                uri: None,
                issuer: Some(GITHUB),
                code_signing: true,
                short_lived: true,
                sct: SctSpec::Valid,
            }
        }
    }

    /// A leaf and its key.
    pub(crate) struct TestLeaf {
        pub(crate) pem: String,
        pub(crate) der: Vec<u8>,
        pub(crate) key: KeyPair,
    }

    impl TestLeaf {
        /// Signs like cosign with the leaf's P-256 key (SHA-256, DER signature).
        pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
            ok(self.key.sign(message))
        }
    }

    pub(crate) struct TestFulcio {
        pub(crate) root_pem: String,
        pub(crate) root_der: CertificateDer<'static>,
        pub(crate) intermediate_pem: String,
        intermediate: Issuer<'static, KeyPair>,
        intermediate_spki: Vec<u8>,
        pub(crate) ct_log: TestSigner,
    }

    fn ca_params(name: &str, path_length: Option<u8>) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "tastevin.test");
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(match path_length {
            Some(depth) => BasicConstraints::Constrained(depth),
            None => BasicConstraints::Unconstrained,
        });
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
    }

    impl TestFulcio {
        pub(crate) fn new() -> TestFulcio {
            let root_key = ok(KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384));
            let root_params = ca_params("sigstore", None);
            let root = ok(root_params.self_signed(&root_key));
            let root_issuer = Issuer::new(root_params, root_key);
            let intermediate_key = ok(KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384));
            let mut intermediate_params = ca_params("sigstore-intermediate", Some(0));
            // As Fulcio's: webpki checks the required EKU on intermediates too.
            intermediate_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
            let intermediate = ok(intermediate_params.signed_by(&intermediate_key, &root_issuer));
            let intermediate_spki = ok(ok(Certificate::from_der(intermediate.der()))
                .tbs_certificate
                .subject_public_key_info
                .to_der());
            TestFulcio {
                root_pem: root.pem(),
                root_der: root.der().clone(),
                intermediate_pem: intermediate.pem(),
                intermediate: Issuer::new(intermediate_params, intermediate_key),
                intermediate_spki,
                ct_log: TestSigner::p256(),
            }
        }

        /// The chain annotation as Fulcio returns it: intermediate, then root.
        pub(crate) fn chain_pem(&self) -> String {
            format!("{}{}", self.intermediate_pem, self.root_pem)
        }

        pub(crate) fn trust(&self, verify_sct: bool) -> Arc<FulcioTrust> {
            let ct_log = verify_sct.then(|| self.ct_log.public_key());
            Arc::new(ok(FulcioTrust::new(
                std::slice::from_ref(&self.root_der),
                ct_log,
            )))
        }

        pub(crate) fn leaf(&self, spec: &LeafSpec) -> TestLeaf {
            let key = ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256));
            let mut params = CertificateParams::default();
            params.distinguished_name = DistinguishedName::new();
            params.serial_number = Some(SerialNumber::from_slice(&[0x42, 0x17, 0x01]));
            params.subject_alt_names = spec
                .email
                .map(|email| SanType::Rfc822Name(ok(email.try_into())))
                .into_iter()
                .chain(spec.uri.map(|uri| SanType::URI(ok(uri.try_into()))))
                .collect();
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![if spec.code_signing {
                ExtendedKeyUsagePurpose::CodeSigning
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            params.use_authority_key_identifier_extension = true;
            if spec.short_lived {
                let day = rcgen::date_time_ymd(2023, 11, 14);
                // 1_700_000_000 is 2023-11-14 22:13:20 UTC.
                params.not_before = day + std::time::Duration::from_secs(22 * 3600 + 10 * 60);
                params.not_after = day + std::time::Duration::from_secs(22 * 3600 + 20 * 60);
            }
            if let Some(issuer) = spec.issuer {
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                        issuer.as_bytes().to_vec(),
                    ));
                let utf8 = ok(ok(Utf8StringRef::new(issuer)).to_der());
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
                        utf8,
                    ));
            }
            let other_log = TestSigner::p256();
            let log = match spec.sct {
                SctSpec::None => None,
                SctSpec::Valid | SctSpec::OtherCertificate => Some(&self.ct_log),
                SctSpec::OtherLog => Some(&other_log),
            };
            if let Some(log) = log {
                let precertificate = ok(params.signed_by(&key, &self.intermediate));
                let tbs = ok(ok(Certificate::from_der(precertificate.der()))
                    .tbs_certificate
                    .to_der());
                let extension =
                    super::super::sct::fixtures::sct_extension(log, &self.intermediate_spki, &tbs);
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                        extension,
                    ));
                if matches!(spec.sct, SctSpec::OtherCertificate) {
                    params.serial_number = Some(SerialNumber::from_slice(&[0x42, 0x17, 0x02]));
                }
            }
            let certificate = ok(params.signed_by(&key, &self.intermediate));
            TestLeaf {
                pem: certificate.pem(),
                der: certificate.der().to_vec(),
                key,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::config::{IdentityMatch, Keyless};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn root(fulcio: &TestFulcio, issuer: IdentityMatch, subject: IdentityMatch) -> KeylessRoot {
        KeylessRoot {
            identity: ok(ExpectedIdentity::new(&Keyless { issuer, subject })),
            trust: fulcio.trust(true),
        }
    }

    fn alice_root(fulcio: &TestFulcio) -> KeylessRoot {
        root(
            fulcio,
            IdentityMatch::Exact(GITHUB.to_owned()),
            IdentityMatch::Exact("alice@example.org".to_owned()),
        )
    }

    fn certify(
        root: &KeylessRoot,
        fulcio: &TestFulcio,
        leaf: &TestLeaf,
        at: u64,
    ) -> Result<SigningCertificate, KeylessError> {
        root.certify(Some(&leaf.pem), Some(&fulcio.chain_pem()), at)
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }

    #[test]
    fn a_fulcio_certificate_yields_its_key() {
        let fulcio = TestFulcio::new();
        let leaf = fulcio.leaf(&LeafSpec::default());
        let certified = ok(certify(&alice_root(&fulcio), &fulcio, &leaf, SIGNED_AT));
        assert_eq!(certified.der, leaf.der);
        let signature = leaf.sign(b"payload");
        assert_eq!(
            super::super::scheme::verify(&certified.key, b"payload", &signature),
            Ok(())
        );
        // The chain annotation may also hold only the intermediate.
        let root = alice_root(&fulcio);
        assert!(root
            .certify(Some(&leaf.pem), Some(&fulcio.intermediate_pem), SIGNED_AT)
            .is_ok());
    }

    #[test]
    fn the_chain_must_lead_to_the_configured_roots() {
        let (fulcio, impostor) = (TestFulcio::new(), TestFulcio::new());
        let leaf = impostor.leaf(&LeafSpec::default());
        // The impostor's CA names are the real ones: the signatures give it away.
        let refused = certify(&alice_root(&fulcio), &impostor, &leaf, SIGNED_AT);
        assert!(refused
            .map_err(|e| e.to_string())
            .is_err_and(|e| e.ends_with(": not issued by a configured Fulcio root")),);
        // Without the chain annotation the intermediate is unknown.
        let leaf = fulcio.leaf(&LeafSpec::default());
        let refused = alice_root(&fulcio).certify(Some(&leaf.pem), None, SIGNED_AT);
        assert!(
            matches!(
                &refused,
                Err(KeylessError::Chain {
                    error: webpki::Error::UnknownIssuer,
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn the_certificate_must_be_valid_at_the_signing_time() {
        let fulcio = TestFulcio::new();
        let leaf = fulcio.leaf(&LeafSpec::default());
        let root = alice_root(&fulcio);
        assert!(certify(&root, &fulcio, &leaf, SIGNED_AT).is_ok());
        let expired = certify(&root, &fulcio, &leaf, now());
        assert!(
            matches!(
                &expired,
                Err(KeylessError::Chain {
                    error: webpki::Error::CertExpired { .. },
                    ..
                })
            ),
            "{expired:?}"
        );
        let early = certify(&root, &fulcio, &leaf, SIGNED_AT - 3600);
        assert!(
            matches!(
                &early,
                Err(KeylessError::Chain {
                    error: webpki::Error::CertNotValidYet { .. },
                    ..
                })
            ),
            "{early:?}"
        );
        assert!(expired
            .map_err(|e| e.to_string())
            .is_err_and(|e| e.ends_with(": certificate expired")),);
    }

    #[test]
    fn only_code_signing_certificates_count() {
        let fulcio = TestFulcio::new();
        let leaf = fulcio.leaf(&LeafSpec {
            code_signing: false,
            ..LeafSpec::default()
        });
        let refused = certify(&alice_root(&fulcio), &fulcio, &leaf, SIGNED_AT);
        assert!(refused
            .map_err(|e| e.to_string())
            .is_err_and(|e| e.contains("not for code signing")),);
    }

    #[test]
    fn identities_match_literally_or_by_regex() {
        let fulcio = TestFulcio::new();
        let workflow = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main";
        let leaf = fulcio.leaf(&LeafSpec {
            email: None,
            uri: Some(workflow),
            issuer: Some("https://token.actions.githubusercontent.com"),
            ..LeafSpec::default()
        });
        let by_regex = root(
            &fulcio,
            IdentityMatch::Regex(r"^https://token\.actions\.githubusercontent\.com$".to_owned()),
            IdentityMatch::Regex(r"^https://github\.com/org/".to_owned()),
        );
        assert!(certify(&by_regex, &fulcio, &leaf, SIGNED_AT).is_ok());
        let literal = root(
            &fulcio,
            IdentityMatch::Exact("https://token.actions.githubusercontent.com".to_owned()),
            IdentityMatch::Exact(workflow.to_owned()),
        );
        assert!(certify(&literal, &fulcio, &leaf, SIGNED_AT).is_ok());
        let other = root(
            &fulcio,
            IdentityMatch::Regex("google".to_owned()),
            IdentityMatch::Exact("bob@gmail.com".to_owned()),
        );
        assert_eq!(
            certify(&other, &fulcio, &leaf, SIGNED_AT).map_err(|e| e.to_string()),
            Err(format!("none of the expected identities matched what was in the certificate, got subjects [{workflow}] with issuer https://token.actions.githubusercontent.com"))
        );
        // Without the issuer extension nothing matches.
        let no_issuer = fulcio.leaf(&LeafSpec {
            issuer: None,
            ..LeafSpec::default()
        });
        assert!(matches!(
            certify(&alice_root(&fulcio), &fulcio, &no_issuer, SIGNED_AT),
            Err(KeylessError::Identity(_))
        ));
    }

    #[test]
    fn the_embedded_sct_must_verify_unless_turned_off() {
        let fulcio = TestFulcio::new();
        let root = alice_root(&fulcio);
        let sct_off = KeylessRoot {
            trust: fulcio.trust(false),
            ..root.clone()
        };
        for (spec, error) in [
            (SctSpec::None, SctError::Missing),
            (SctSpec::OtherLog, SctError::NotVerified),
            (SctSpec::OtherCertificate, SctError::NotVerified),
        ] {
            let leaf = fulcio.leaf(&LeafSpec {
                sct: spec,
                ..LeafSpec::default()
            });
            assert_eq!(
                certify(&root, &fulcio, &leaf, SIGNED_AT),
                Err(KeylessError::Sct(error))
            );
            assert!(certify(&sct_off, &fulcio, &leaf, SIGNED_AT).is_ok());
        }
    }

    #[test]
    fn annotations_are_bounded_and_must_be_certificates() {
        let fulcio = TestFulcio::new();
        let root = alice_root(&fulcio);
        let leaf = fulcio.leaf(&LeafSpec::default());
        assert_eq!(
            root.certify(None, Some(&fulcio.chain_pem()), SIGNED_AT),
            Err(KeylessError::NoCertificate)
        );
        let huge = "A".repeat(MAX_CERTIFICATE_PEM_BYTES + 1);
        assert!(matches!(
            root.certify(Some(&huge), None, SIGNED_AT),
            Err(KeylessError::TooLarge { .. })
        ));
        assert!(matches!(
            root.certify(Some("not a certificate"), None, SIGNED_AT),
            Err(KeylessError::Unreadable { .. })
        ));
        let long_chain = fulcio.intermediate_pem.repeat(MAX_CHAIN_CERTIFICATES + 1);
        assert_eq!(
            root.certify(Some(&leaf.pem), Some(&long_chain), SIGNED_AT),
            Err(KeylessError::TooManyCertificates)
        );
        let huge_chain = "A".repeat(MAX_CHAIN_PEM_BYTES + 1);
        assert!(matches!(
            root.certify(Some(&leaf.pem), Some(&huge_chain), SIGNED_AT),
            Err(KeylessError::TooLarge { .. })
        ));
    }

    #[test]
    fn fulcio_roots_must_be_certificates() {
        assert!(FulcioTrust::new(&[], None).is_err());
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(FulcioTrust::new(&[garbage], None).is_err());
    }
}
