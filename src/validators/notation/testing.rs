//! Test fixtures for the Notation unit tests: certificate chains made with rcgen (a CA and a
//! code-signing leaf, or a self-signed signing certificate) and JWS envelopes signed with
//! the leaf's key by aws-lc-rs, as the Notary Project signature specification describes.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, RsaKeySize,
};
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};

/// The key type of a test signing certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignerKey {
    P256,
    P384,
    P521,
    Rsa2048,
    Rsa3072,
}

impl SignerKey {
    fn generate(self) -> KeyPair {
        let generated = match self {
            SignerKey::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            SignerKey::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            SignerKey::P521 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
            SignerKey::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
            }
            SignerKey::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA384, RsaKeySize::_3072)
            }
        };
        generated.expect("test key")
    }

    /// The JWS `alg` the Notary Project assigns to this key.
    pub fn alg(self) -> &'static str {
        match self {
            SignerKey::P256 => "ES256",
            SignerKey::P384 => "ES384",
            SignerKey::P521 => "ES512",
            SignerKey::Rsa2048 => "PS256",
            SignerKey::Rsa3072 => "PS384",
        }
    }
}

/// A CA and a signing certificate issued by it (or a self-signed signing certificate,
/// then `ca == leaf`), with the signing key.
pub struct Pki {
    pub ca: CertificateDer<'static>,
    pub leaf: CertificateDer<'static>,
    key: SignerKey,
    pkcs8: Vec<u8>,
    self_signed: bool,
}

fn leaf_params(usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, "notation test signer");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params
}

impl Pki {
    /// A P-256 CA and a code-signing leaf with a `key` key.
    pub fn new(key: SignerKey) -> Pki {
        Pki::issued(key, leaf_params(ExtendedKeyUsagePurpose::CodeSigning))
    }

    /// A leaf for TLS servers, not code signing.
    pub fn server_auth_leaf() -> Pki {
        Pki::issued(
            SignerKey::P256,
            leaf_params(ExtendedKeyUsagePurpose::ServerAuth),
        )
    }

    /// A code-signing leaf naming a CRL distribution point.
    pub fn with_crl_distribution_point() -> Pki {
        let mut params = leaf_params(ExtendedKeyUsagePurpose::CodeSigning);
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec!["http://crl.example/ca.crl".to_string()],
        }];
        Pki::issued(SignerKey::P256, params)
    }

    /// A code-signing leaf with an authority information access extension naming an OCSP
    /// responder (`ocsp`) or only the issuer's certificate.
    pub fn with_authority_info_access(ocsp: bool) -> Pki {
        use x509_cert::der::asn1::Ia5String;
        use x509_cert::der::oid::db::rfc5280::{ID_AD_CA_ISSUERS, ID_AD_OCSP};
        use x509_cert::der::Encode;
        use x509_cert::ext::pkix::name::GeneralName;
        use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
        let method = if ocsp { ID_AD_OCSP } else { ID_AD_CA_ISSUERS };
        let uri = Ia5String::new("http://pki.example/ca").expect("IA5 URI");
        let access = AuthorityInfoAccessSyntax(vec![AccessDescription {
            access_method: method,
            access_location: GeneralName::UniformResourceIdentifier(uri),
        }]);
        let mut params = leaf_params(ExtendedKeyUsagePurpose::CodeSigning);
        params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            access.to_der().expect("AIA DER"),
        )];
        Pki::issued(SignerKey::P256, params)
    }

    /// A code-signing leaf that expired in 2020.
    pub fn expired_leaf() -> Pki {
        let mut params = leaf_params(ExtendedKeyUsagePurpose::CodeSigning);
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        Pki::issued(SignerKey::P256, params)
    }

    fn issued(key: SignerKey, leaf: CertificateParams) -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "notation test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = key.generate();
        let leaf = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
        Pki {
            ca: ca.der().clone(),
            leaf: leaf.der().clone(),
            key,
            pkcs8: leaf_key.serialize_der(),
            self_signed: false,
        }
    }

    /// A self-signed code-signing certificate marked as a CA (as `openssl req -x509` and
    /// `notation cert generate-test` make them).
    pub fn self_signed(key: SignerKey) -> Pki {
        let mut params = leaf_params(ExtendedKeyUsagePurpose::CodeSigning);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let leaf_key = key.generate();
        let leaf = params.self_signed(&leaf_key).expect("self-signed");
        Pki {
            ca: leaf.der().clone(),
            leaf: leaf.der().clone(),
            key,
            pkcs8: leaf_key.serialize_der(),
            self_signed: true,
        }
    }

    /// `x5c`: the leaf, then the CA (just the leaf when self-signed).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        if self.self_signed {
            vec![self.leaf.clone()]
        } else {
            vec![self.leaf.clone(), self.ca.clone()]
        }
    }

    /// Signs `message` the way JWS `alg` for this key does.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let ecdsa = |alg| {
            EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8)
                .expect("ECDSA key")
                .sign(&rng, message)
                .expect("ECDSA signature")
                .as_ref()
                .to_vec()
        };
        let rsa = |padding| {
            let key = RsaKeyPair::from_pkcs8(&self.pkcs8).expect("RSA key");
            let mut out = vec![0; key.public_modulus_len()];
            key.sign(padding, &rng, message, &mut out)
                .expect("RSA signature");
            out
        };
        match self.key {
            SignerKey::P256 => ecdsa(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            SignerKey::P384 => ecdsa(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            SignerKey::P521 => ecdsa(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
            SignerKey::Rsa2048 => rsa(&signature::RSA_PSS_SHA256),
            SignerKey::Rsa3072 => rsa(&signature::RSA_PSS_SHA384),
        }
    }

    /// The usual protected header for this key (`notary.x509`, signed now).
    pub fn protected(&self) -> Value {
        json!({
            "alg": self.key.alg(),
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "crit": ["io.cncf.notary.signingScheme"],
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2025-01-24T13:43:46+01:00",
        })
    }

    /// A JWS envelope over a payload for `digest`, with `protected` as protected header
    /// and `header` merged into the unprotected header.
    pub fn envelope(&self, protected: &Value, target: &Value, header: &Value) -> Vec<u8> {
        let payload = json!({ "targetArtifact": target });
        let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let signature = self.sign(format!("{protected}.{payload}").as_bytes());
        let mut unprotected = json!({
            "x5c": self.chain().iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
            "io.cncf.notary.signingAgent": "tastevin tests",
        });
        if let (Some(into), Some(from)) = (unprotected.as_object_mut(), header.as_object()) {
            into.extend(from.clone());
        }
        json!({
            "payload": payload,
            "protected": protected,
            "header": unprotected,
            "signature": URL_SAFE_NO_PAD.encode(signature),
        })
        .to_string()
        .into_bytes()
    }
}

/// A target artifact descriptor.
pub fn target(digest: &str, media_type: &str, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest, "size": size})
}
