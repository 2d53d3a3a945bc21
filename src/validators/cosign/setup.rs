//! From configuration to a ready verifier: which trust roots a rule evaluates, their keys,
//! the effective threshold and the Rekor key (§5.3 A–D of the Connaisseur spec), and for
//! keyless roots the Fulcio roots and CT log keys: from the configuration's `host.*`, and for
//! what it leaves unset from its Sigstore trusted root (`host.trustedRoot`, else the embedded
//! public-good one).

use std::sync::Arc;

use super::identity::ExpectedIdentity;
use super::keyless::{FulcioTrust, KeylessRoot};
use super::layer::{SignatureLayer, StoredBundle};
use super::trusted_root::{LogKeys, SigstoreTrustedRoot};
use super::verify::{
    self, CosignError, CosignPolicy, RootVerifier, TransparencyLog, TrustedRoot, Verified,
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
            TransparencyLog::Require(match &config.rekor_public_key {
                Some(der) => {
                    LogKeys::single(PublicKey::from_spki_der(der).map_err(CosignError::RekorKey)?)
                }
                None => sigstore_root(config)?.tlogs.clone(),
            })
        } else {
            TransparencyLog::Ignore
        };
        Ok(CosignVerifier {
            roots,
            policy: CosignPolicy {
                threshold,
                required,
                transparency_log,
                timestamp_authorities: sigstore_root(config)?.timestamp_authorities.clone(),
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

/// The trusted root for what `host.*` leaves unset: the validator's `host.trustedRoot`, else
/// the embedded public-good one.
fn sigstore_root(config: &CosignConfig) -> Result<&SigstoreTrustedRoot, CosignError> {
    match &config.trusted_root {
        Some(root) => Ok(root),
        None => {
            SigstoreTrustedRoot::public_good().map_err(|e| CosignError::FulcioRoots(e.to_string()))
        }
    }
}

/// What keyless roots trust: the Fulcio roots and the CT log key from `host.*`, each one not
/// configured from the trusted root (with the windows it gives).
fn fulcio_trust(
    config: &CosignConfig,
    options: &RuleOptions,
) -> Result<Arc<FulcioTrust>, CosignError> {
    let configured_ct_log = match (&config.ct_log_public_key, options.verify_sct) {
        (Some(der), true) => Some(PublicKey::from_spki_der(der).map_err(CosignError::CtLogKey)?),
        _ => None,
    };
    let trust = match (&config.fulcio_roots, configured_ct_log) {
        (Some(roots), Some(ct_log)) => FulcioTrust::new(roots, Some(ct_log)),
        (Some(roots), None) if !options.verify_sct => FulcioTrust::new(roots, None),
        (Some(roots), None) => {
            let ct_logs = sigstore_root(config)?.ctlogs.clone();
            FulcioTrust::new(roots, None).map(|trust| trust.with_ct_logs(ct_logs))
        }
        (None, configured_ct_log) => {
            let root = sigstore_root(config)?;
            FulcioTrust::from_trusted_root(root, options.verify_sct).map(|trust| {
                match configured_ct_log {
                    Some(ct_log) => trust.with_ct_logs(LogKeys::single(ct_log)),
                    None => trust,
                }
            })
        }
    };
    trust.map(Arc::new).map_err(CosignError::FulcioRoots)
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
        // A keyless root with no host.* values trusts the public-good instance.
        assert!(error("who").is_ok());
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
    fn keyless_roots_take_what_host_leaves_unset_from_the_trusted_root() {
        let fulcio = super::super::keyless::fixtures::TestFulcio::new();
        let (rekor, ct_log) = (TestSigner::p256(), TestSigner::p256());
        let fulcio_cert = format!("    fulcioCert: |\n{}", indent(&fulcio.root_pem, 6));
        let rekor_key = format!("    rekorPubkey: |\n{}", indent(&rekor.public_key_pem(), 6));
        let ct_key = format!(
            "    ctLogPubkey: |\n{}",
            indent(&ct_log.public_key_pem(), 6)
        );
        let identity = "{issuer: i, subjectRegex: s}";
        let trust = |host: &[&str], with: &str| {
            let host = format!("  host:\n{}", host.concat());
            match verifier(&keyless_config(&host, identity, with)).map(|v| v.roots) {
                Ok(roots) => match roots.as_slice() {
                    [TrustedRoot {
                        verifier: RootVerifier::Keyless(root),
                        ..
                    }] => root.trust.clone(),
                    other => panic!("{other:?}"),
                },
                Err(e) => panic!("{e}"),
            }
        };
        let defaults = "{trustRoot: who}";
        let configured = FulcioTrust::new(
            std::slice::from_ref(&fulcio.root_der),
            Some(ct_log.public_key()),
        )
        .unwrap();
        assert_eq!(*trust(&[&fulcio_cert, &ct_key], defaults), configured);
        let public_good = SigstoreTrustedRoot::public_good().unwrap();
        // Without host.fulcioCert: the public-good authorities (with their windows).
        assert_eq!(
            *trust(&[&rekor_key], defaults),
            FulcioTrust::from_trusted_root(public_good, true).unwrap()
        );
        // Without host.ctLogPubkey: the configured roots, the public-good CT logs.
        assert_eq!(
            *trust(&[&fulcio_cert, &rekor_key], defaults),
            FulcioTrust::new(std::slice::from_ref(&fulcio.root_der), None)
                .unwrap()
                .with_ct_logs(public_good.ctlogs.clone())
        );
        assert_eq!(
            *trust(
                &[&fulcio_cert],
                "{trustRoot: who, verifySCT: false, verifyInTransparencyLog: false}"
            ),
            FulcioTrust::new(std::slice::from_ref(&fulcio.root_der), None).unwrap()
        );
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
        let public_good = match PublicKey::from_pem(super::super::PUBLIC_GOOD_REKOR_KEY) {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        };
        // The public-good trusted root's logs, rekor.sigstore.dev among them.
        match log(&config(&keys, "", "{trustRoot: alice}")) {
            Ok(TransparencyLog::Require(logs)) => {
                assert!(logs.by_id(&public_good.sha256_id()).is_some());
            }
            other => panic!("{other:?}"),
        }
        let custom = format!(
            "  host:\n    rekorPubkey: |\n{}",
            indent(&rekor.public_key_pem(), 6)
        );
        assert_eq!(
            log(&config(&keys, &custom, "{trustRoot: alice}")),
            Ok(TransparencyLog::Require(LogKeys::single(
                rekor.public_key()
            )))
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
