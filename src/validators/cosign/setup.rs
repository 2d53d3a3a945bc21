//! From configuration to a ready verifier: which trust roots a rule evaluates, their keys,
//! the effective threshold and the Rekor key (§5.3 A–D of the Connaisseur spec), and for
//! keyless roots the Fulcio roots and CT log key, all from the configuration.

use std::sync::Arc;

use super::bundle::PUBLIC_GOOD_REKOR_KEY;
use super::identity::ExpectedIdentity;
use super::keyless::{FulcioTrust, KeylessRoot};
use super::layer::{SignatureLayer, StoredBundle};
use super::verify::{
    self, CosignError, CosignPolicy, HostValue, RootVerifier, TransparencyLog, TrustedRoot,
    Verified,
};
use crate::config::{
    resolve_trust_roots, CosignConfig, KeyRef, RuleOptions, TrustRoot, TrustRootMaterial,
    ALL_TRUST_ROOTS,
};
use crate::crypto::PublicKey;

/// The keys and policy one rule applies with one cosign validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignVerifier {
    pub roots: Vec<TrustedRoot>,
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
        // A name listed twice is one root.
        let mut required = options.required.clone();
        dedup_in_order(&mut required);
        let requested = options.threshold.unwrap_or(0);
        let references: &[String] = if all && !required.is_empty() && requested <= count(&required)
        {
            &required
        } else {
            options.trust_root_references()
        };
        let resolved = resolve_trust_roots(&config.trust_roots, references).map_err(|error| {
            CosignError::TrustRoots {
                validator: validator.to_owned(),
                error,
            }
        })?;
        // Duplicate root names under "*" are one root, the first of that name, as for every
        // other lookup by name.
        let mut roots: Vec<TrustedRoot> = Vec::with_capacity(resolved.len());
        // Built once, when the first keyless root needs it.
        let mut fulcio: Option<Arc<FulcioTrust>> = None;
        for root in resolved {
            if roots.iter().all(|known| known.name != root.name) {
                roots.push(trusted_root(root, config, options, &mut fulcio)?);
            }
        }
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
                required,
                transparency_log,
            },
        })
    }

    /// [`verify::verify`] with these roots and policy.
    pub fn verify(
        &self,
        layers: &[SignatureLayer],
        bundles: &[StoredBundle],
        resolved_digest: &str,
    ) -> Result<Verified, CosignError> {
        verify::verify(layers, bundles, resolved_digest, &self.roots, &self.policy)
    }
}

fn dedup_in_order(names: &mut Vec<String>) {
    let mut seen = Vec::with_capacity(names.len());
    names.retain(|name| {
        let first = !seen.contains(name);
        if first {
            seen.push(name.clone());
        }
        first
    });
}

fn count(names: &[String]) -> u64 {
    u64::try_from(names.len()).unwrap_or(u64::MAX)
}

fn trusted_root(
    root: &TrustRoot,
    config: &CosignConfig,
    options: &RuleOptions,
    fulcio: &mut Option<Arc<FulcioTrust>>,
) -> Result<TrustedRoot, CosignError> {
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
        TrustRootMaterial::Keyless(keyless) => {
            let identity = ExpectedIdentity::new(keyless).map_err(unusable)?;
            let trust = match fulcio {
                Some(trust) => Arc::clone(trust),
                None => Arc::clone(fulcio.insert(fulcio_trust(config, options)?)),
            };
            return Ok(TrustedRoot {
                name: root.name.clone(),
                verifier: RootVerifier::Keyless(Box::new(KeylessRoot { identity, trust })),
            });
        }
        TrustRootMaterial::Cert { .. } => {
            return Err(unusable(
                "no public key or keyless configuration found".to_owned(),
            ))
        }
    };
    Ok(TrustedRoot {
        name: root.name.clone(),
        verifier: RootVerifier::Key(key),
    })
}

/// What keyless roots trust: the Fulcio roots and the CT log key come from `host.*` (without
/// Sigstore TUF there is nothing to fall back on, so a missing one is named rather than
/// guessed); the Rekor key is the one every cosign root uses (configured or public-good).
fn fulcio_trust(
    config: &CosignConfig,
    options: &RuleOptions,
) -> Result<Arc<FulcioTrust>, CosignError> {
    let roots = config
        .fulcio_roots
        .as_deref()
        .ok_or(CosignError::MissingHostValue(HostValue::FulcioCert))?;
    let ct_log = if options.verify_sct {
        let der = config
            .ct_log_public_key
            .as_ref()
            .ok_or(CosignError::MissingHostValue(HostValue::CtLogPubkey))?;
        Some(PublicKey::from_spki_der(der).map_err(CosignError::CtLogKey)?)
    } else {
        None
    };
    FulcioTrust::new(roots, ct_log)
        .map(Arc::new)
        .map_err(CosignError::FulcioRoots)
}

#[cfg(test)]
mod tests {
    use super::super::bundle::fixtures::{bundle, hashedrekord};
    use super::super::payload::cosign_payload;
    use super::*;
    use crate::config::{Config, ValidatorKind};
    use crate::crypto::tests::TestSigner;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    const DIGEST: &str = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533";

    struct Keys {
        alice: TestSigner,
        bob: TestSigner,
        charlie: TestSigner,
    }

    fn keys() -> Keys {
        Keys {
            alice: TestSigner::p256(),
            bob: TestSigner::p384(),
            charlie: TestSigner::ed25519(),
        }
    }

    fn indent(pem: &str, by: usize) -> String {
        pem.lines()
            .map(|line| format!("{}{line}\n", " ".repeat(by)))
            .collect()
    }

    /// A cosign validator `sig` with roots alice, bob and charlie (and `extra` YAML) and
    /// one rule whose `with` is `with`.
    fn config(keys: &Keys, extra: &str, with: &str) -> Config {
        let root = |name: &str, signer: &TestSigner| {
            format!(
                "  - name: {name}\n    key: |\n{}",
                indent(&signer.public_key_pem(), 6)
            )
        };
        let text = format!(
            "validators:\n- name: sig\n  type: cosign\n{extra}  trustRoots:\n{}{}{}policy:\n- pattern: \"*:*\"\n  validator: sig\n  with: {with}\n",
            root("alice", &keys.alice),
            root("bob", &keys.bob),
            root("charlie", &keys.charlie),
        );
        match Config::from_yaml(&text) {
            Ok(config) => config,
            Err(errors) => panic!("{text}\n{errors:?}"),
        }
    }

    fn verifier(config: &Config) -> Result<CosignVerifier, CosignError> {
        let rule = match config.rules().first() {
            Some(rule) => rule,
            None => panic!("no rule"),
        };
        match config.validator("sig").map(|v| &v.kind) {
            Some(ValidatorKind::Cosign(cosign)) => {
                CosignVerifier::from_config("sig", cosign, &rule.with)
            }
            other => panic!("not a cosign validator: {other:?}"),
        }
    }

    fn roots_and_threshold(config: &Config) -> (Vec<String>, Option<usize>) {
        match verifier(config) {
            Ok(v) => (
                v.roots.into_iter().map(|root| root.name).collect(),
                v.policy.threshold,
            ),
            Err(e) => panic!("{e}"),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn which_roots_and_threshold() {
        let keys = keys();
        let cases: [(&str, &[&str], Option<usize>); 7] = [
            (
                "{trustRoot: \"*\", required: [alice, alice], threshold: 2}",
                &["alice", "bob", "charlie"],
                Some(2),
            ),
            ("{trustRoot: \"*\"}", &["alice", "bob", "charlie"], Some(3)),
            (
                "{trustRoot: \"*\", threshold: 2}",
                &["alice", "bob", "charlie"],
                Some(2),
            ),
            (
                "{trustRoot: \"*\", required: [alice, charlie]}",
                &["alice", "charlie"],
                None,
            ),
            (
                "{trustRoot: \"*\", required: [bob], threshold: 1}",
                &["bob"],
                Some(1),
            ),
            (
                "{trustRoot: \"*\", required: [bob], threshold: 2}",
                &["alice", "bob", "charlie"],
                Some(2),
            ),
            ("{trustRoot: bob, threshold: 2}", &["bob"], None),
        ];
        for (with, roots, threshold) in cases {
            assert_eq!(
                roots_and_threshold(&config(&keys, "", with)),
                (names(roots), threshold),
                "{with}"
            );
        }
    }

    #[test]
    fn unknown_roots_are_reported_as_connaisseur_does() {
        let keys = keys();
        for (with, missing) in [("{}", "default"), ("{trustRoot: dave}", "dave")] {
            assert_eq!(
                verifier(&config(&keys, "", with)).map_err(|e| e.to_string()),
                Err(format!("error getting verifiers: error getting trust roots for validator sig: unable to find trust root {missing}"))
            );
        }
        assert_eq!(
            verifier(&config(&keys, "", "{trustRoot: \"*\", required: [alice, dave]}"))
                .map_err(|e| e.to_string()),
            Err("error getting verifiers: error getting trust roots for validator sig: unable to find trust root dave".to_owned())
        );
    }

    #[test]
    fn unusable_key_material_is_explained() {
        let text = "validators:\n- name: sig\n  type: cosign\n  trustRoots:\n  - name: who\n    keyless: {issuer: i, subject: s}\npolicy:\n- pattern: \"*:*\"\n  validator: sig\n";
        let config = match Config::from_yaml(text) {
            Ok(config) => config,
            Err(errors) => panic!("{errors:?}"),
        };
        let mut cosign = match config.validator("sig").map(|v| &v.kind) {
            Some(ValidatorKind::Cosign(cosign)) => cosign.clone(),
            _ => panic!("not cosign"),
        };
        // A broken PEM key is refused at load; the validator still refuses one if given.
        cosign.trust_roots.push(TrustRoot {
            name: "broken".to_owned(),
            material: TrustRootMaterial::Key(KeyRef::Pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned(),
            )),
        });
        let cosign = &cosign;
        let error = |root: &str| {
            let options = RuleOptions {
                trust_root: Some(root.to_owned()),
                ..RuleOptions::default()
            };
            CosignVerifier::from_config("sig", cosign, &options).map_err(|e| e.to_string())
        };
        assert!(
            matches!(error("broken"), Err(e) if e.starts_with("error getting verifiers: trust root broken: invalid public key"))
        );
        assert_eq!(
            error("who"),
            Err("error getting fulcio roots: host.fulcioCert is not configured; keyless trust roots need the Fulcio root certificate(s) there (Sigstore TUF is not supported)".to_owned())
        );
    }

    /// A validator `sig` with one keyless root `who`, `host` YAML and the rule's `with`.
    fn keyless_config(host: &str, identity: &str, with: &str) -> Config {
        let text = format!(
            "validators:\n- name: sig\n  type: cosign\n{host}  trustRoots:\n  - name: who\n    keyless: {identity}\npolicy:\n- pattern: \"*:*\"\n  validator: sig\n  with: {with}\n"
        );
        match Config::from_yaml(&text) {
            Ok(config) => config,
            Err(errors) => panic!("{text}\n{errors:?}"),
        }
    }

    #[test]
    fn keyless_roots_need_every_host_value_they_use() {
        let fulcio = super::super::keyless::fixtures::TestFulcio::new();
        let (rekor, ct_log) = (TestSigner::p256(), TestSigner::p256());
        let fulcio_cert = format!("    fulcioCert: |\n{}", indent(&fulcio.root_pem, 6));
        let rekor_key = format!("    rekorPubkey: |\n{}", indent(&rekor.public_key_pem(), 6));
        let ct_key = format!(
            "    ctLogPubkey: |\n{}",
            indent(&ct_log.public_key_pem(), 6)
        );
        let identity = "{issuer: i, subjectRegex: s}";
        let outcome = |host: &[&str], with: &str| {
            let host = format!("  host:\n{}", host.concat());
            verifier(&keyless_config(&host, identity, with)).map_err(|e| e.to_string())
        };
        let defaults = "{trustRoot: who}";
        let missing = |result: Result<CosignVerifier, String>, value: &str| {
            assert!(
                matches!(&result, Err(e) if e.contains(&format!("{value} is not configured"))),
                "{value}: {result:?}"
            );
        };
        missing(outcome(&[&rekor_key, &ct_key], defaults), "host.fulcioCert");
        // Rekor: the public-good key unless one is configured, as for key roots.
        assert!(outcome(&[&fulcio_cert, &ct_key], defaults).is_ok());
        missing(
            outcome(&[&fulcio_cert, &rekor_key], defaults),
            "host.ctLogPubkey",
        );
        assert!(outcome(&[&fulcio_cert, &rekor_key, &ct_key], defaults).is_ok());
        assert!(outcome(
            &[&fulcio_cert],
            "{trustRoot: who, verifySCT: false, verifyInTransparencyLog: false}"
        )
        .is_ok());
        // Key roots keep working without any of them.
        assert!(verifier(&config(&keys(), "", "{trustRoot: alice}")).is_ok());
    }

    #[test]
    fn invalid_identity_regexes_are_explained() {
        let fulcio = super::super::keyless::fixtures::TestFulcio::new();
        let host = format!(
            "  host:\n    fulcioCert: |\n{}",
            indent(&fulcio.root_pem, 6)
        );
        let with = "{trustRoot: who, verifySCT: false, verifyInTransparencyLog: false}";
        let result = verifier(&keyless_config(
            &host,
            "{issuer: i, subjectRegex: \"a(\"}",
            with,
        ));
        assert!(
            matches!(&result, Err(e) if e.to_string().starts_with("error getting verifiers: trust root who: keyless subjectRegex \"a(\" is not a valid regular expression")),
            "{result:?}"
        );
    }

    #[test]
    fn the_rekor_key_is_configured_or_public_good() {
        let keys = keys();
        let rekor = TestSigner::p256();
        let log = |config: &Config| verifier(config).map(|v| v.policy.transparency_log);
        let public_good = match PublicKey::from_pem(PUBLIC_GOOD_REKOR_KEY) {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            log(&config(&keys, "", "{trustRoot: alice}")),
            Ok(TransparencyLog::Require(public_good))
        );
        let custom = format!(
            "  host:\n    rekorPubkey: |\n{}",
            indent(&rekor.public_key_pem(), 6)
        );
        assert_eq!(
            log(&config(&keys, &custom, "{trustRoot: alice}")),
            Ok(TransparencyLog::Require(rekor.public_key()))
        );
        assert_eq!(
            log(&config(
                &keys,
                &custom,
                "{trustRoot: alice, verifyInTransparencyLog: false}"
            )),
            Ok(TransparencyLog::Ignore)
        );
    }

    /// The integration cases of Connaisseur (validator with alice, bob and charlie).
    #[test]
    fn connaisseur_integration_verdicts() {
        let keys = keys();
        let rekor = TestSigner::p256();
        let host = format!(
            "  host:\n    rekorPubkey: |\n{}",
            indent(&rekor.public_key_pem(), 6)
        );
        let signed_by = |signer: &TestSigner| {
            let payload = cosign_payload("registry.test/app", DIGEST);
            let signature = signer.sign(&payload);
            SignatureLayer {
                bundle: Some(bundle(
                    &rekor,
                    hashedrekord(&payload, &signature, &signer.public_key_pem()),
                )),
                payload,
                signature: STANDARD.encode(signature),
                certificate: None,
                chain: None,
            }
        };
        let verdict = |with: &str, layers: &[SignatureLayer]| {
            verifier(&config(&keys, &host, with))
                .and_then(|v| v.verify(layers, &[], DIGEST))
                .map(|verified| verified.digest)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            verdict("{trustRoot: \"*\"}", &[signed_by(&keys.alice)]),
            Err("validation threshold not reached (1/3)".to_owned())
        );
        assert_eq!(
            verdict("{trustRoot: \"*\", threshold: 2}", &[signed_by(&keys.bob)]),
            Err("validation threshold not reached (1/2)".to_owned())
        );
        assert_eq!(
            verdict(
                "{trustRoot: \"*\", required: [alice, charlie]}",
                &[signed_by(&keys.charlie)]
            ),
            Err("missing required signatures from [alice]".to_owned())
        );
        let all = [
            signed_by(&keys.charlie),
            signed_by(&keys.alice),
            signed_by(&keys.bob),
        ];
        assert_eq!(verdict("{trustRoot: \"*\"}", &all), Ok(DIGEST.to_owned()));
        assert_eq!(verdict("{trustRoot: bob}", &all), Ok(DIGEST.to_owned()));
        assert_eq!(
            verdict("{trustRoot: alice}", &[]),
            Err("error validating image: [no signatures found]".to_owned())
        );
    }
}
