//! A Fulcio-like certificate authority made by the tests: a P-384 root and intermediate
//! (the intermediate for code signing, as Fulcio's), issuing short-lived P-256 leaves with
//! a SAN email, the Fulcio issuer extensions and an SCT embedded by a test CT log, and the
//! keyless signature layers cosign writes with them.

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
    SigningKey, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use x509_cert::der::asn1::{OctetString, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use super::cosign::{bundle, Signer};
use super::registry::SignatureBlob;

/// The time the test Rekor bundles are integrated at (see `cosign::bundle`); leaves are
/// valid for ten minutes around it, as Fulcio's.
pub const SIGNED_AT: u64 = 1_700_000_000;

pub struct Fulcio {
    pub root_pem: String,
    pub intermediate_pem: String,
    intermediate: Issuer<'static, KeyPair>,
    intermediate_spki: Vec<u8>,
    pub ct_log: Signer,
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub pem: String,
    key: KeyPair,
}

fn ca(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "tastevin.test");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Fulcio {
    pub fn new() -> Fulcio {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("root key");
        let mut root_params = ca("sigstore");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = root_params.self_signed(&root_key).expect("root");
        let root = (root.pem(), Issuer::new(root_params, root_key));
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("intermediate key");
        let mut params = ca("sigstore-intermediate");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let intermediate = params.signed_by(&key, &root.1).expect("intermediate");
        let intermediate_spki = Certificate::from_der(intermediate.der())
            .expect("intermediate DER")
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("intermediate SPKI");
        Fulcio {
            root_pem: root.0,
            intermediate_pem: intermediate.pem(),
            intermediate: Issuer::new(params, key),
            intermediate_spki,
            ct_log: Signer::p256(),
        }
    }

    /// The chain annotation as cosign writes it: intermediate, then root.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.intermediate_pem, self.root_pem)
    }

    /// A leaf for `email`, issued after an OIDC login at `issuer`.
    pub fn issue(&self, email: &str, issuer: &str) -> Leaf {
        // Ten minutes around SIGNED_AT, 2023-11-14 22:13:20 UTC.
        self.issue_for(email, issuer, 1_699_999_800)
    }

    /// A leaf valid for ten minutes around now, as Fulcio issues them, for signatures whose
    /// time a TSA signs now.
    pub fn issue_now(&self, email: &str, issuer: &str) -> Leaf {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        self.issue_for(email, issuer, now - 300)
    }

    /// A leaf valid for ten minutes from `not_before` (Unix seconds).
    fn issue_for(&self, email: &str, issuer: &str, not_before: u64) -> Leaf {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.serial_number = Some(SerialNumber::from_slice(&[0x0f, 0x17, 0xc1]));
        params.subject_alt_names = vec![SanType::Rfc822Name(email.try_into().expect("email"))];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        params.not_before = epoch + std::time::Duration::from_secs(not_before);
        params.not_after = epoch + std::time::Duration::from_secs(not_before + 600);
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                issuer.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
                Utf8StringRef::new(issuer)
                    .and_then(|s| s.to_der())
                    .expect("issuer"),
            ),
        ];
        // The log signs the precertificate: this TBS without the SCT extension.
        let precertificate = params.signed_by(&key, &self.intermediate).expect("precert");
        let tbs = Certificate::from_der(precertificate.der())
            .and_then(|c| c.tbs_certificate.to_der())
            .expect("precert TBS");
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                self.sct_list(&tbs),
            ));
        let certificate = params.signed_by(&key, &self.intermediate).expect("leaf");
        Leaf {
            pem: certificate.pem(),
            key,
        }
    }

    /// The SCT list extension value (RFC 6962 §3.3, TLS encoding in an OCTET STRING).
    fn sct_list(&self, tbs: &[u8]) -> Vec<u8> {
        let log_id = digest::digest(&digest::SHA256, &self.ct_log.spki_der());
        let issuer_key_hash = digest::digest(&digest::SHA256, &self.intermediate_spki);
        let timestamp = (SIGNED_AT * 1000).to_be_bytes();
        let tbs_length = u32::try_from(tbs.len()).expect("TBS length").to_be_bytes();
        let mut signed = vec![0, 0];
        signed.extend_from_slice(&timestamp);
        signed.extend_from_slice(&[0, 1]);
        signed.extend_from_slice(issuer_key_hash.as_ref());
        signed.extend_from_slice(&tbs_length[1..]);
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&[0, 0]);
        let signature = self.ct_log.sign(&signed);
        let mut sct = vec![0];
        sct.extend_from_slice(log_id.as_ref());
        sct.extend_from_slice(&timestamp);
        sct.extend_from_slice(&[0, 0, 4, 3]);
        sct.extend_from_slice(
            &u16::try_from(signature.len())
                .expect("length")
                .to_be_bytes(),
        );
        sct.extend_from_slice(&signature);
        let mut one = u16::try_from(sct.len())
            .expect("length")
            .to_be_bytes()
            .to_vec();
        one.extend_from_slice(&sct);
        let mut list = u16::try_from(one.len())
            .expect("length")
            .to_be_bytes()
            .to_vec();
        list.extend_from_slice(&one);
        OctetString::new(list)
            .and_then(|octets| octets.to_der())
            .expect("SCT list")
    }
}

impl Leaf {
    /// Signs `message` with the leaf's key (ECDSA P-256, SHA-256).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).expect("sign")
    }

    /// The certificate in DER.
    pub fn der(&self) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(self.pem.as_bytes())
            .expect("leaf PEM")
            .to_vec()
    }

    /// The keyless signature layer cosign writes: signature over `payload` with the leaf's
    /// key, certificate, chain, and a bundle of `rekor` recording signature and certificate.
    pub fn layer(&self, fulcio: &Fulcio, payload: &[u8], rekor: &Signer) -> SignatureBlob {
        let signature = self.key.sign(payload).expect("sign");
        let chain = fulcio.chain_pem();
        let annotations = [
            (
                "dev.cosignproject.cosign/signature",
                STANDARD.encode(&signature),
            ),
            ("dev.sigstore.cosign/certificate", self.pem.clone()),
            ("dev.sigstore.cosign/chain", chain),
            (
                "dev.sigstore.cosign/bundle",
                bundle(rekor, payload, &signature, &self.pem),
            ),
        ];
        let borrowed: Vec<(&str, &str)> =
            annotations.iter().map(|(k, v)| (*k, v.as_str())).collect();
        SignatureBlob::simple_signing(payload, &borrowed)
    }
}
