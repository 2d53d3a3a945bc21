//! From configuration to a ready verifier: which trust roots a rule evaluates, their keys,
//! the effective threshold and the Rekor key (§5.3 A–D of the Connaisseur spec).

use super::bundle::PUBLIC_GOOD_REKOR_KEY;
use super::layer::SignatureLayer;
use super::verify::{self, CosignError, CosignPolicy, TransparencyLog, TrustedKey, Verified};
use crate::config::{
    resolve_trust_roots, CosignConfig, KeyRef, RuleOptions, TrustRoot, TrustRootMaterial,
    ALL_TRUST_ROOTS,
};
use crate::crypto::PublicKey;

/// The keys and policy one rule applies with one cosign validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignVerifier {
    pub roots: Vec<TrustedKey>,
    pub policy: CosignPolicy,
}

impl CosignVerifier {
    /// Resolves the rule's `with` options against the validator named `validator`.
    ///
    /// With `trustRoot: "*"`, the evaluated roots are those in `required` when a threshold no
    /// larger than their number is asked for (or none at all), else every root; `"*"` with
    /// neither threshold nor `required` requires every root. Otherwise the one named root is
    /// evaluated and only `required` applies.
    pub fn from_config(
        validator: &str,
        config: &CosignConfig,
        options: &RuleOptions,
    ) -> Result<CosignVerifier, CosignError> {
        let all = options.trust_root.as_deref() == Some(ALL_TRUST_ROOTS);
        let required = &options.required;
        let requested = options.threshold.unwrap_or(0);
        let references: &[String] = if all && !required.is_empty() && requested <= count(required) {
            required
        } else {
            options.trust_root_references()
        };
        let resolved = resolve_trust_roots(&config.trust_roots, references).map_err(|error| {
            CosignError::TrustRoots {
                validator: validator.to_owned(),
                error,
            }
        })?;
        let roots = resolved
            .into_iter()
            .map(trusted_key)
            .collect::<Result<Vec<_>, _>>()?;
        let threshold = match (all, requested) {
            (true, 0) if required.is_empty() => Some(roots.len()),
            (true, 0) | (false, _) => None,
            (true, requested) => Some(usize::try_from(requested).unwrap_or(usize::MAX)),
        };
        let transparency_log = if options.verify_in_transparency_log {
            let key = match &config.rekor_public_key {
                Some(der) => PublicKey::from_spki_der(der),
                None => PublicKey::from_pem(PUBLIC_GOOD_REKOR_KEY),
            };
            TransparencyLog::Require(key.map_err(CosignError::RekorKey)?)
        } else {
            TransparencyLog::Ignore
        };
        Ok(CosignVerifier {
            roots,
            policy: CosignPolicy {
                threshold,
                required: required.clone(),
                transparency_log,
            },
        })
    }

    /// [`verify::verify`] with these roots and policy.
    pub fn verify(
        &self,
        layers: &[SignatureLayer],
        resolved_digest: &str,
    ) -> Result<Verified, CosignError> {
        verify::verify(layers, resolved_digest, &self.roots, &self.policy)
    }
}

fn count(names: &[String]) -> u64 {
    u64::try_from(names.len()).unwrap_or(u64::MAX)
}

fn trusted_key(root: &TrustRoot) -> Result<TrustedKey, CosignError> {
    let unusable = |reason: String| CosignError::UnusableRoot {
        root: root.name.clone(),
        reason,
    };
    let key = match &root.material {
        TrustRootMaterial::Key(KeyRef::Pem(pem)) => {
            PublicKey::from_pem(pem).map_err(|e| unusable(format!("invalid public key: {e}")))?
        }
        TrustRootMaterial::Key(KeyRef::Kms(kms)) => return Err(unusable(kms.unsupported_message())),
        TrustRootMaterial::Key(KeyRef::Other(_)) => {
            return Err(unusable(
                "key is neither a PEM public key nor a supported key reference; configure the public key as PEM"
                    .to_owned(),
            ))
        }
        TrustRootMaterial::Keyless(_) => {
            return Err(unusable(
                "keyless (Fulcio certificate) verification is not supported yet".to_owned(),
            ))
        }
        TrustRootMaterial::Cert { .. } => {
            return Err(unusable(
                "no public key or keyless configuration found".to_owned(),
            ))
        }
    };
    Ok(TrustedKey {
        name: root.name.clone(),
        key,
    })
}
