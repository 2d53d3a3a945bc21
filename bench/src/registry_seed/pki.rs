//! A throwaway CA and a serving certificate for `127.0.0.1`/`localhost` signed by it, written as
//! PEM files: the bench's registry serves with them and tastevin trusts the CA through the
//! cosign validator's `cert` (tastevin refuses plain-HTTP registries).

use std::fmt;
use std::fs;
use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// File names inside the directory given to [`write`].
pub const CA_FILE: &str = "ca.pem";
pub const CERT_FILE: &str = "server.crt";
pub const KEY_FILE: &str = "server.key";

#[derive(Debug)]
pub enum PkiError {
    Generate(rcgen::Error),
    Write { path: String, why: std::io::Error },
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::Generate(e) => write!(f, "cannot generate the bench CA: {e}"),
            PkiError::Write { path, why } => write!(f, "cannot write '{path}': {why}"),
        }
    }
}

/// The PEM texts of a CA and of a leaf certificate and key for the loopback names.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn generate() -> Result<Pki, PkiError> {
    let ca_key = KeyPair::generate().map_err(PkiError::Generate)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(PkiError::Generate)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tastevin bench CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(PkiError::Generate)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().map_err(PkiError::Generate)?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .and_then(|params| params.signed_by(&leaf_key, &issuer))
        .map_err(PkiError::Generate)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Writes [`CA_FILE`], [`CERT_FILE`] and [`KEY_FILE`] into `dir` (created if missing).
pub fn write(pki: &Pki, dir: &Path) -> Result<(), PkiError> {
    let write_error = |path: &Path, why| PkiError::Write {
        path: path.display().to_string(),
        why,
    };
    fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    for (name, text) in [
        (CA_FILE, &pki.ca_pem),
        (CERT_FILE, &pki.cert_pem),
        (KEY_FILE, &pki.key_pem),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| write_error(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn writes_a_ca_and_a_leaf_that_parse_as_pem() {
        let dir = std::env::temp_dir().join(format!("bench-pki-{}", std::process::id()));
        let pki = generate().unwrap();
        write(&pki, &dir).unwrap();
        for name in [CA_FILE, CERT_FILE] {
            let certs: Vec<_> = CertificateDer::pem_file_iter(dir.join(name))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(certs.len(), 1, "{name}");
        }
        let key = fs::read_to_string(dir.join(KEY_FILE)).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert_ne!(pki.ca_pem, pki.cert_pem);
        fs::remove_dir_all(dir).unwrap();
    }
}
