//! The admission decision for one request: decode the workloads, de-duplicate image strings,
//! run the per-image pipeline of §4.3, aggregate as §4.4.
//!
//! Per-image results are plain data ([`ImageOutcome`]) in arrival order, so that validators
//! that wait on the network can later run on a worker pool and hand their outcomes back; the
//! aggregation, patch building and metrics only read that list.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::response::{Decision, PatchOp};
use super::review::AdmissionRequest;
use super::settings::Settings;
use super::workload::{self, ContainerList, OwnerReference, Workload, WorkloadKind};
use crate::cache::{CacheKey, Verdict, VerdictCache};
use crate::config::{Config, Mode, ValidatorKind};
use crate::config::{Rule, Validator};
use crate::image_ref::ImageRef;
use crate::kube::owners::{LookupError, Owners};
use crate::metrics::SkipReason;
use crate::redis::verdicts::{SharedVerdicts, Turn};
use crate::validators::in_flight::InFlight;
use crate::validators::{self, Clients, Outcome, Rejection};
use crate::{log_debug, log_info, log_warn};

/// The validator that handled an image, as metrics label it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorId {
    /// `static`, `notaryv1`, `cosign`, `notation`.
    pub type_name: &'static str,
    pub name: String,
}

/// A trusted image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The pinned reference to write into every position of this image, when the rule mutates
    /// and the verified digest is not already in the reference.
    pub patch_value: Option<String>,
}

/// What happened to one distinct image string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOutcome {
    /// The image string as written in the workload.
    pub raw: String,
    /// The normalised reference, when the string parsed.
    pub normalised: Option<String>,
    /// The pattern of the rule that applied, when one matched.
    pub rule: Option<String>,
    /// The validator that applied, when the rule's validator exists.
    pub validator: Option<ValidatorId>,
    /// Admitted, or the denial message for the cluster user.
    pub result: Result<Admitted, String>,
    /// Set when the image was admitted without running its validator.
    pub skipped: Option<SkipReason>,
    /// The validation did not finish before the request deadline.
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// The engine's conclusion about one request, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Outcomes of the distinct images, in arrival order (empty when no validation ran).
    pub outcomes: Vec<ImageOutcome>,
    /// The new object's workload, when it decoded.
    pub workload: Option<Workload>,
}

/// Everything the engine needs besides the request.
pub struct Engine<'a> {
    pub config: &'a Config,
    pub settings: &'a Settings,
    /// Write Connaisseur's per-image log lines (off for the CLI, whose stdout is the answer).
    pub log: bool,
    /// Recent verdicts of signature validators.
    pub cache: &'a VerdictCache,
    /// Registry clients of the signature validators.
    pub clients: &'a Clients,
    /// Signature validations running now, shared between requests.
    pub in_flight: &'a InFlight<Decided>,
    /// The verdicts shared by all replicas through Redis, asked on a local miss.
    pub shared: Option<&'a SharedVerdicts>,
    /// Distinct images validated at once. 1 on the event loop, where validation never waits;
    /// more on a worker thread, where validators wait on registries.
    pub parallelism: usize,
    /// Owner lookups for child approval; `None` outside a cluster, when the API client
    /// could not be set up, or when child approval is off.
    pub owners: Option<&'a Owners>,
}

/// What child approval needs of the request: where the child is and who owns it.
#[derive(Clone, Copy)]
struct Family<'r> {
    namespace: &'r str,
    owners: &'r [OwnerReference],
}

/// One distinct image string and the positions that use it.
struct DistinctImage<'w> {
    raw: &'w str,
    slots: Vec<(ContainerList, usize)>,
}

impl Engine<'_> {
    /// Decides `request`; validations share `deadline`.
    pub fn evaluate(&self, request: &AdmissionRequest<'_>, deadline: Instant) -> Evaluation {
        let kind = request.kind.kind.as_str();
        let old = if request.is_update() {
            match workload::decode(kind, request.old_object) {
                Ok(old) => Some(old),
                Err(err) => {
                    return denied_before_validation(format!(
                        "error decoding old workload object: {err}"
                    ))
                }
            }
        } else {
            None
        };
        let new = match workload::decode(kind, request.object) {
            Ok(new) => new,
            Err(err) => {
                return denied_before_validation(format!(
                    "error decoding new workload object: {err}"
                ))
            }
        };
        if old.as_ref().is_some_and(|old| old.deleted) {
            // Lets finalizers be removed from objects whose images are no longer admissible.
            if self.log {
                log_info!(
                    "skipped validation on update request for {} resource '{}' already marked for deletion",
                    new.kind.name(),
                    new.name
                );
            }
            return Evaluation {
                decision: Decision::Allow(Vec::new()),
                outcomes: Vec::new(),
                workload: Some(new),
            };
        }

        let images = distinct_images(&new);
        let family = Family {
            namespace: &request.namespace,
            owners: &new.owners,
        };
        let (outcomes, validated) = self.check_images(&images, old.as_ref(), family, deadline);
        let decision = aggregate(&outcomes, &images, new.kind, &request.uid, validated);
        Evaluation {
            decision,
            outcomes,
            workload: Some(new),
        }
    }

    /// Checks every distinct image, `parallelism` at a time. Returns the outcomes with those
    /// that finished in time first (in arrival order), then those that did not, and how many
    /// finished in time.
    fn check_images(
        &self,
        images: &[DistinctImage<'_>],
        old: Option<&Workload>,
        family: Family<'_>,
        deadline: Instant,
    ) -> (Vec<ImageOutcome>, usize) {
        let finished: Vec<ImageOutcome> = if self.parallelism <= 1 || images.len() <= 1 {
            let mut finished = Vec::with_capacity(images.len());
            for image in images {
                if Instant::now() >= deadline {
                    break;
                }
                finished.push(self.check_image(image.raw, old, family, deadline));
            }
            finished
        } else {
            let next = AtomicUsize::new(0);
            let finished = Mutex::new(Vec::with_capacity(images.len()));
            std::thread::scope(|scope| {
                for _ in 0..self.parallelism.min(images.len()) {
                    scope.spawn(|| {
                        while let Some(image) = images.get(next.fetch_add(1, Ordering::Relaxed)) {
                            if Instant::now() >= deadline {
                                break;
                            }
                            let outcome = self.check_image(image.raw, old, family, deadline);
                            if let Ok(mut finished) = finished.lock() {
                                finished.push(outcome);
                            }
                        }
                    });
                }
            });
            finished.into_inner().unwrap_or_default()
        };
        let (mut outcomes, late): (Vec<ImageOutcome>, Vec<ImageOutcome>) =
            finished.into_iter().partition(|outcome| !outcome.timed_out);
        let validated = outcomes.len();
        outcomes.extend(late);
        // One outcome per distinct image at most: as many outcomes as images means every
        // image was started, and the common case needs no set of names.
        if outcomes.len() < images.len() {
            let seen: HashSet<&str> = outcomes.iter().map(|o| o.raw.as_str()).collect();
            let unstarted: Vec<ImageOutcome> = images
                .iter()
                .filter(|image| !seen.contains(image.raw))
                .map(|image| self.timed_out(image.raw))
                .collect();
            outcomes.extend(unstarted);
        }
        (outcomes, validated)
    }

    /// §4.3 for one distinct image string.
    fn check_image(
        &self,
        raw: &str,
        old: Option<&Workload>,
        family: Family<'_>,
        deadline: Instant,
    ) -> ImageOutcome {
        let started = Instant::now();
        let mut outcome = ImageOutcome {
            raw: raw.to_owned(),
            normalised: None,
            rule: None,
            validator: None,
            result: Err(String::new()),
            skipped: None,
            timed_out: false,
            elapsed: Duration::ZERO,
        };
        outcome.result = self.run_pipeline(raw, old, family, deadline, &mut outcome);
        outcome.elapsed = started.elapsed();
        // A validation that came back after the deadline no longer decides anything.
        outcome.timed_out = Instant::now() > deadline;
        outcome
    }

    fn run_pipeline(
        &self,
        raw: &str,
        old: Option<&Workload>,
        family: Family<'_>,
        deadline: Instant,
        outcome: &mut ImageOutcome,
    ) -> Result<Admitted, String> {
        let image = ImageRef::parse(raw).map_err(|_| "invalid image reference".to_owned())?;
        outcome.normalised = Some(image.normalised().to_owned());
        let selection = self.config.select(&image).map_err(|err| err.to_string())?;
        let pattern = selection.rule.pattern.as_str();
        let validator = selection.validator;
        let type_name = validator.kind.type_name();
        outcome.rule = Some(pattern.to_owned());
        outcome.validator = Some(ValidatorId {
            type_name,
            name: validator.name.clone(),
        });
        let mutate = selection.rule.with.mode == Mode::Mutate;
        if self.log {
            log_debug!("matched rule {pattern} for image {}", image.normalised());
        }

        if let ValidatorKind::Static { .. } = validator.kind {
            // Never skipped: a deny rule must not be bypassed by unchanged or child approval.
            return match validators::validate(
                validator,
                selection.rule,
                &image,
                deadline,
                self.clients,
            ) {
                Outcome::Verified { .. } => {
                    if self.log {
                        log_info!("static allow for image {raw} using rule {pattern}");
                    }
                    Ok(Admitted { patch_value: None })
                }
                Outcome::Rejected(_) => {
                    Err(format!("static deny for image {raw} using rule {pattern}"))
                }
            };
        }

        if self.settings.automatic_unchanged_approval && old.is_some_and(|old| old.uses_image(raw))
        {
            let reason = SkipReason::UnchangedImage;
            if self.log {
                log_info!("skipped validation: {} for image {raw}", reason.label());
            }
            outcome.skipped = Some(reason);
            return Ok(Admitted { patch_value: None });
        }
        if self.approved_by_parent(raw, family, deadline) {
            let reason = SkipReason::ChildApproval;
            if self.log {
                log_info!("skipped validation: {} for image {raw}", reason.label());
            }
            outcome.skipped = Some(reason);
            return Ok(Admitted { patch_value: None });
        }

        let judge = self.config.judge(selection.rule_index);
        let cache_key = CacheKey::new(image.normalised(), judge);
        let local = self.cache.get(&cache_key, Instant::now());
        if self.cache.policy().ttl.is_some() {
            let result = if local.is_some() { "hit" } else { "miss" };
            crate::metrics::global().cache_lookup("local", result);
        }
        if let Some(verdict) = local {
            if self.log {
                log_info!("skipped validation: cache hit for image {raw}");
            }
            outcome.skipped = Some(SkipReason::CacheHit);
            return match verdict {
                Verdict::Trusted(digest) => pin(&image, digest.as_deref(), mutate),
                Verdict::Rejected(message) => Err(message),
            };
        }

        let decided = self
            .in_flight
            .run(&cache_key, deadline, || {
                self.decide(validator, selection.rule, &image, judge, raw, deadline)
            })
            .unwrap_or_else(|| {
                let rejection = Rejection::Unavailable(
                    "an identical validation in progress did not finish before the deadline"
                        .to_owned(),
                );
                Decided::from_outcome(Outcome::Rejected(rejection), type_name, raw, deadline)
            });
        if decided.keep {
            self.cache
                .put(cache_key, decided.verdict.clone(), Instant::now());
        }
        if !decided.here {
            if self.log {
                log_info!("skipped validation: verdict shared by another replica for image {raw}");
            }
            outcome.skipped = Some(SkipReason::CacheHit);
        }
        match decided.verdict {
            Verdict::Trusted(digest) => {
                let admitted = pin(&image, digest.as_deref(), mutate)?;
                if self.log && decided.here {
                    let result = admitted
                        .patch_value
                        .as_deref()
                        .unwrap_or(image.normalised());
                    log_info!(
                        "successfully validated image {raw} using rule {pattern} and validator {}. Result is {result}.",
                        validator.name
                    );
                }
                Ok(admitted)
            }
            Verdict::Rejected(message) => Err(message),
        }
    }

    /// Validates `image` here, or, with Redis, takes the verdict another replica stored, or
    /// lets the replica holding the image's lock validate it for all; a verdict reached here is stored for the others before the lock
    /// is given up.
    fn decide(
        &self,
        validator: &Validator,
        rule: &Rule,
        image: &ImageRef,
        judge: u64,
        raw: &str,
        deadline: Instant,
    ) -> Decided {
        let type_name = validator.kind.type_name();
        let validate = || {
            let outcome = validators::validate(validator, rule, image, deadline, self.clients);
            Decided::from_outcome(outcome, type_name, raw, deadline)
        };
        let Some(shared) = self.shared else {
            return validate();
        };
        // Asked here, inside the local single flight, so that a burst of identical requests
        // costs one Redis lookup per replica and not one per request.
        if let Some(verdict) = shared.get(image.normalised(), judge, deadline) {
            return Decided {
                verdict,
                keep: true,
                here: false,
            };
        }
        let lock = match shared.claim(image.normalised(), judge, deadline) {
            Turn::Decided(verdict) => {
                return Decided {
                    verdict,
                    keep: true,
                    here: false,
                }
            }
            Turn::Lead(lock) => Some(lock),
            Turn::Alone => None,
        };
        let decided = validate();
        if decided.keep {
            shared.put(image.normalised(), judge, &decided.verdict, deadline);
        }
        if let Some(lock) = lock {
            shared.release(lock);
        }
        decided
    }

    /// §4.5.2: whether an owner of the object, as the API server has it now, carries `raw`
    /// verbatim. The owner was admitted (and pinned) itself, so its pods' images need no
    /// second look. A failed lookup approves nothing: the image is validated.
    fn approved_by_parent(&self, raw: &str, family: Family<'_>, deadline: Instant) -> bool {
        let Some(owners) = self.owners else {
            return false;
        };
        if !self.settings.effective_child_approval() {
            return false;
        }
        family.owners.iter().any(
            |owner| match owners.parent(family.namespace, owner, deadline) {
                Ok(parent) => parent.images.iter().any(|image| image == raw),
                Err(err) => {
                    if self.log {
                        let what = format!("{} {}/{}", owner.kind, family.namespace, owner.name);
                        if matches!(err, LookupError::UidMismatch { .. }) {
                            log_warn!("child approval: owner {what}: {err}");
                        } else {
                            log_info!("child approval: owner {what} not used: {err}");
                        }
                    }
                    false
                }
            },
        )
    }

    /// An image whose validation did not finish before the deadline.
    fn timed_out(&self, raw: &str) -> ImageOutcome {
        let image = ImageRef::parse(raw).ok();
        let selection = image
            .as_ref()
            .and_then(|image| self.config.select(image).ok());
        ImageOutcome {
            raw: raw.to_owned(),
            normalised: image.as_ref().map(|image| image.normalised().to_owned()),
            rule: selection.as_ref().map(|s| s.rule.pattern.clone()),
            validator: selection.as_ref().map(|s| ValidatorId {
                type_name: s.validator.kind.type_name(),
                name: s.validator.name.clone(),
            }),
            result: Err("validation did not finish before the request deadline".to_owned()),
            skipped: None,
            timed_out: true,
            elapsed: Duration::ZERO,
        }
    }
}

/// The verdict on one image and where it comes from (what identical validations in flight
/// share).
#[derive(Debug, Clone)]
pub struct Decided {
    verdict: Verdict,
    /// Worth caching: a verdict, not an unreachable registry or a deadline.
    keep: bool,
    /// Validated by this replica (not by another one through Redis).
    here: bool,
}

impl Decided {
    fn from_outcome(outcome: Outcome, type_name: &str, raw: &str, deadline: Instant) -> Decided {
        match outcome {
            Outcome::Verified { digest } => Decided {
                verdict: Verdict::Trusted(digest),
                keep: true,
                here: true,
            },
            Outcome::Rejected(rejection) => Decided {
                keep: rejection.is_verdict() && Instant::now() <= deadline,
                verdict: Verdict::Rejected(validation_error(type_name, raw, &rejection)),
                here: true,
            },
        }
    }
}

fn validation_error(type_name: &str, raw: &str, rejection: &Rejection) -> String {
    format!("error during {type_name} validation of image {raw}: {rejection}")
}

/// §4.3 step 9: the reference to write back, if the verified digest changes it.
fn pin(image: &ImageRef, digest: Option<&str>, mutate: bool) -> Result<Admitted, String> {
    let Some(digest) = digest else {
        return Ok(Admitted { patch_value: None });
    };
    let pinned = image.with_digest(digest).map_err(|err| {
        let tag = image.tag().map(|tag| format!(":{tag}")).unwrap_or_default();
        format!(
            "validated image reference {}{tag}@{digest} has invalid format: {err}",
            image.context()
        )
    })?;
    let changed = pinned.normalised() != image.normalised();
    Ok(Admitted {
        patch_value: (mutate && changed).then(|| pinned.normalised().to_owned()),
    })
}

fn denied_before_validation(message: String) -> Evaluation {
    Evaluation {
        decision: Decision::Deny(message),
        outcomes: Vec::new(),
        workload: None,
    }
}

/// Distinct raw image strings in first-appearance order (containers, init, ephemeral).
fn distinct_images(workload: &Workload) -> Vec<DistinctImage<'_>> {
    let mut position: HashMap<&str, usize> = HashMap::new();
    let mut images: Vec<DistinctImage<'_>> = Vec::new();
    for slot in &workload.images {
        let raw = slot.image.as_str();
        match position.get(raw).and_then(|&at| images.get_mut(at)) {
            Some(image) => image.slots.push((slot.list, slot.index)),
            None => {
                position.insert(raw, images.len());
                images.push(DistinctImage {
                    raw,
                    slots: vec![(slot.list, slot.index)],
                });
            }
        }
    }
    images
}

/// §4.4: the first failure denies; a deadline with images outstanding denies; else admit
/// with one op per position of every image that needs pinning.
fn aggregate(
    outcomes: &[ImageOutcome],
    images: &[DistinctImage<'_>],
    kind: WorkloadKind,
    uid: &str,
    validated: usize,
) -> Decision {
    if let Some(message) = outcomes
        .iter()
        .take(validated)
        .find_map(|outcome| outcome.result.as_ref().err())
    {
        return Decision::Deny(message.clone());
    }
    if validated < images.len() {
        return Decision::Deny(format!(
            "validation of admission request {uid} timed out after validating {validated}/{} images",
            images.len()
        ));
    }
    let pins = |outcome: &ImageOutcome| {
        matches!(
            &outcome.result,
            Ok(Admitted {
                patch_value: Some(_)
            })
        )
    };
    if !outcomes.iter().any(pins) {
        return Decision::Allow(Vec::new());
    }
    // Outcomes may arrive in any order once validators run concurrently: find each image's
    // positions by its string, and emit ops in arrival order, then position order.
    let slots: HashMap<&str, &[(ContainerList, usize)]> = images
        .iter()
        .map(|image| (image.raw, image.slots.as_slice()))
        .collect();
    let mut ops = Vec::new();
    for outcome in outcomes {
        if let Ok(Admitted {
            patch_value: Some(value),
        }) = &outcome.result
        {
            let positions = slots.get(outcome.raw.as_str()).copied().unwrap_or_default();
            ops.extend(positions.iter().map(|(list, index)| {
                PatchOp::replace_image(kind.patch_prefix(), list.json_name(), *index, value.clone())
            }));
        }
    }
    Decision::Allow(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::fixtures::DIGEST;
    use serde_json::value::RawValue;

    const OTHER: &str = "sha256:1234567890123456789012345678901234567890123456789012345678901234";

    fn image(raw: &str) -> ImageRef {
        ImageRef::parse(raw).expect("valid test reference")
    }

    fn admitted(raw: &str, patch_value: Option<&str>) -> ImageOutcome {
        ImageOutcome {
            raw: raw.to_owned(),
            normalised: None,
            rule: None,
            validator: None,
            result: Ok(Admitted {
                patch_value: patch_value.map(str::to_owned),
            }),
            skipped: None,
            timed_out: false,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn item_42_a_new_digest_is_pinned_with_the_normalised_name_and_tag() {
        let pinned = pin(
            &image("securesystemsengineering/alice-image:test"),
            Some(DIGEST),
            true,
        );
        assert_eq!(
            pinned,
            Ok(Admitted {
                patch_value: Some(format!(
                    "index.docker.io/securesystemsengineering/alice-image:test@{DIGEST}"
                ))
            })
        );
    }

    #[test]
    fn item_45_insecure_validate_only_never_patches() {
        let pinned = pin(&image("nginx:1"), Some(DIGEST), false);
        assert_eq!(pinned, Ok(Admitted { patch_value: None }));
    }

    #[test]
    fn item_46_digests_already_in_the_reference_are_not_patched() {
        for raw in [
            format!("securesystemsengineering/alice-image@{DIGEST}"),
            format!("securesystemsengineering/alice-image:test@{DIGEST}"),
        ] {
            assert_eq!(
                pin(&image(&raw), Some(DIGEST), true),
                Ok(Admitted { patch_value: None })
            );
        }
        let repinned = pin(&image(&format!("a.io/bb:t@{OTHER}")), Some(DIGEST), true);
        assert_eq!(
            repinned,
            Ok(Admitted {
                patch_value: Some(format!("a.io/bb:t@{DIGEST}"))
            })
        );
        assert_eq!(
            pin(&image("nginx"), None, true),
            Ok(Admitted { patch_value: None })
        );
    }

    #[test]
    fn item_41_a_malformed_verified_digest_denies() {
        let pinned = pin(
            &image("securesystemsengineering/alice-image:test"),
            Some("sha256:123"),
            true,
        );
        let message = pinned.expect_err("short digest");
        assert!(
            message.starts_with(
                "validated image reference index.docker.io/securesystemsengineering/alice-image:test@sha256:123 has invalid format: "
            ),
            "{message}"
        );
    }

    #[test]
    fn item_32_and_43_every_position_of_a_pinned_image_gets_an_op() {
        let pod = RawValue::from_string(
            r#"{"spec":{"containers":[{"image":"a"},{"image":"b"},{"image":"a"}],"initContainers":[{"image":"a"}]}}"#
                .to_owned(),
        )
        .expect("JSON");
        let workload = workload::decode("CronJob", Some(&pod));
        assert!(workload.is_err(), "a pod spec is not a CronJob");
        let workload = workload::decode("Pod", Some(&pod)).expect("pod");
        let images = distinct_images(&workload);
        assert_eq!(images.len(), 2);
        let outcomes = vec![admitted("b", None), admitted("a", Some("a@x"))];
        let decision = aggregate(&outcomes, &images, WorkloadKind::CronJob, "u", 2);
        let paths: Vec<String> = match decision {
            Decision::Allow(ops) => ops.into_iter().map(|op| op.path).collect(),
            Decision::Deny(message) => panic!("{message}"),
        };
        assert_eq!(
            paths,
            vec![
                "/spec/jobTemplate/spec/template/spec/containers/0/image",
                "/spec/jobTemplate/spec/template/spec/containers/2/image",
                "/spec/jobTemplate/spec/template/spec/initContainers/0/image",
            ]
        );
    }

    #[test]
    fn item_47_the_first_failure_in_arrival_order_wins() {
        let pod = RawValue::from_string(
            r#"{"spec":{"containers":[{"image":"a"},{"image":"b"},{"image":"c"}]}}"#.to_owned(),
        )
        .expect("JSON");
        let workload = workload::decode("Pod", Some(&pod)).expect("pod");
        let images = distinct_images(&workload);
        let mut failing_b = admitted("b", None);
        failing_b.result = Err("b failed".to_owned());
        let mut failing_c = admitted("c", None);
        failing_c.result = Err("c failed".to_owned());
        let outcomes = vec![admitted("a", Some("a@x")), failing_b, failing_c];
        assert_eq!(
            aggregate(&outcomes, &images, WorkloadKind::Pod, "u", 3),
            Decision::Deny("b failed".to_owned())
        );
    }
}
