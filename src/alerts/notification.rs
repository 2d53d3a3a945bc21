//! What an alert says about one admission decision (§6.2 "When", §4.3/§4.4): which stream
//! it goes to, its `alert_message`, `images`, and the values its templates can insert.

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::template::{Field, Values};
use crate::admission::engine::Evaluation;
use crate::admission::response::Decision;

/// The outcome class of a decision, as Connaisseur names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertResult {
    /// Admitted after validation (or the deleted-object shortcut).
    Success,
    /// Admitted, every image by unchanged approval, child approval or the cache.
    Skip,
    /// Denied by an image's validation.
    Error,
    /// Denied because the request deadline passed.
    Timeout,
    /// Denied because the workload could not be decoded.
    Invalid,
}

impl AlertResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertResult::Success => "success",
            AlertResult::Skip => "skip",
            AlertResult::Error => "error",
            AlertResult::Timeout => "timeout",
            AlertResult::Invalid => "invalid",
        }
    }

    pub fn stream(self) -> Stream {
        match self {
            AlertResult::Success | AlertResult::Skip => Stream::Admit,
            AlertResult::Error | AlertResult::Timeout | AlertResult::Invalid => Stream::Reject,
        }
    }
}

/// The two lists of receivers: `admitRequest` and `rejectRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Admit,
    Reject,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Admit => "admit",
            Stream::Reject => "reject",
        })
    }
}

/// One admission decision, as alerts describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub result: AlertResult,
    /// The admission request's `uid`.
    pub request_id: String,
    pub namespace: String,
    /// Admitted: the raw image once per patch op, joined with `, `; denied by an image: that
    /// image; otherwise empty.
    pub images: String,
    /// The denial message; empty when admitted.
    pub error: String,
}

impl Alert {
    /// The alert for the engine's raw decision (before detection mode and pods-only).
    pub fn of(evaluation: &Evaluation, request_id: &str, namespace: &str) -> Alert {
        let (result, images, error) = match (&evaluation.decision, &evaluation.workload) {
            (Decision::Deny(message), None) => {
                (AlertResult::Invalid, String::new(), message.clone())
            }
            (Decision::Deny(message), Some(_)) => {
                // The engine denies with the first failure among the validations that
                // finished in time; with none, the deadline denied.
                match evaluation
                    .outcomes
                    .iter()
                    .find(|outcome| !outcome.timed_out && outcome.result.is_err())
                {
                    Some(failed) => (AlertResult::Error, failed.raw.clone(), message.clone()),
                    None => (AlertResult::Timeout, String::new(), message.clone()),
                }
            }
            (Decision::Allow(_), workload) => {
                let mut positions: HashMap<&str, usize> = HashMap::new();
                for slot in workload.iter().flat_map(|workload| &workload.images) {
                    *positions.entry(slot.image.as_str()).or_default() += 1;
                }
                let pinned: Vec<&str> = evaluation
                    .outcomes
                    .iter()
                    .filter(|outcome| {
                        outcome
                            .result
                            .as_ref()
                            .is_ok_and(|admitted| admitted.patch_value.is_some())
                    })
                    .flat_map(|outcome| {
                        let count = positions.get(outcome.raw.as_str()).copied().unwrap_or(1);
                        std::iter::repeat_n(outcome.raw.as_str(), count)
                    })
                    .collect();
                let all_skipped = !evaluation.outcomes.is_empty()
                    && evaluation
                        .outcomes
                        .iter()
                        .all(|outcome| outcome.skipped.is_some());
                let result = if all_skipped {
                    AlertResult::Skip
                } else {
                    AlertResult::Success
                };
                (result, pinned.join(", "), String::new())
            }
        };
        Alert {
            result,
            request_id: request_id.to_owned(),
            namespace: namespace.to_owned(),
            images,
            error,
        }
    }

    /// `alert_message`.
    pub fn message(&self) -> String {
        match self.result {
            AlertResult::Success | AlertResult::Skip => "CONNAISSEUR admitted a request".to_owned(),
            AlertResult::Error => format!("CONNAISSEUR rejected a request: {}", self.error),
            AlertResult::Timeout => format!(
                "CONNAISSEUR validation timed out for admission request {}",
                self.request_id
            ),
            AlertResult::Invalid => format!(
                "CONNAISSEUR failed to parse admission request {}",
                self.request_id
            ),
        }
    }
}

/// Everything one receiver's template can insert.
pub struct Notification<'a> {
    pub alert: &'a Alert,
    pub message: &'a str,
    pub cluster: &'a str,
    pub pod_id: &'a str,
    pub timestamp: &'a str,
    pub priority: u64,
}

impl Values for Notification<'_> {
    fn value(&self, field: Field) -> String {
        match field {
            Field::AlertMessage => self.message.to_owned(),
            Field::Priority => self.priority.to_string(),
            Field::ConnaisseurPodId => self.pod_id.to_owned(),
            Field::Namespace => self.alert.namespace.clone(),
            Field::Cluster => self.cluster.to_owned(),
            Field::Timestamp => self.timestamp.to_owned(),
            Field::RequestId => self.alert.request_id.clone(),
            Field::Images => self.alert.images.clone(),
            Field::Result => self.alert.result.as_str().to_owned(),
            Field::Error => self.alert.error.clone(),
        }
    }
}

/// `time` in UTC as Go's `time.Time.String()` writes it:
/// `2024-05-01 12:34:56.123456789 +0000 UTC`, trailing zeros of the fraction dropped.
pub fn go_utc_timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or_default();
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let fraction = match since_epoch.subsec_nanos() {
        0 => String::new(),
        nanos => {
            let digits = format!(".{nanos:09}");
            digits.trim_end_matches('0').to_owned()
        }
    };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}{fraction} +0000 UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * shifted_month + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::engine::{Admitted, ImageOutcome};
    use crate::admission::response::PatchOp;
    use crate::admission::workload::{ContainerList, ImageSlot, Workload, WorkloadKind};
    use crate::metrics::SkipReason;
    use std::time::Duration;

    fn outcome(raw: &str, result: Result<Option<&str>, &str>) -> ImageOutcome {
        ImageOutcome {
            raw: raw.to_owned(),
            normalised: None,
            rule: None,
            validator: None,
            result: result
                .map(|pinned| Admitted {
                    patch_value: pinned.map(str::to_owned),
                })
                .map_err(str::to_owned),
            skipped: None,
            timed_out: false,
            elapsed: Duration::ZERO,
        }
    }

    fn workload(images: &[&str]) -> Workload {
        Workload {
            kind: WorkloadKind::Pod,
            name: "app".to_owned(),
            owners: Vec::new(),
            deleted: false,
            images: images
                .iter()
                .enumerate()
                .map(|(index, image)| ImageSlot {
                    list: ContainerList::Containers,
                    index,
                    image: (*image).to_owned(),
                })
                .collect(),
        }
    }

    fn evaluation(decision: Decision, outcomes: Vec<ImageOutcome>, images: &[&str]) -> Evaluation {
        Evaluation {
            decision,
            outcomes,
            workload: Some(workload(images)),
        }
    }

    #[test]
    fn admitted_lists_each_pinned_image_once_per_position() {
        let op = PatchOp::replace_image("/spec", "containers", 0, "x".to_owned());
        let evaluation = evaluation(
            Decision::Allow(vec![op.clone(), op.clone(), op]),
            vec![
                outcome("b", Ok(Some("index.docker.io/library/b@sha256:1"))),
                outcome("static", Ok(None)),
                outcome("a", Ok(Some("index.docker.io/library/a@sha256:2"))),
            ],
            &["a", "b", "static", "a"],
        );
        let alert = Alert::of(&evaluation, "uid-1", "ns");
        assert_eq!(alert.result, AlertResult::Success);
        assert_eq!(alert.result.stream(), Stream::Admit);
        assert_eq!(alert.images, "b, a, a");
        assert_eq!(alert.message(), "CONNAISSEUR admitted a request");
        assert_eq!(
            (alert.request_id.as_str(), alert.namespace.as_str()),
            ("uid-1", "ns")
        );
    }

    #[test]
    fn admitted_with_every_image_skipped_is_skip() {
        let mut skipped = outcome("a", Ok(None));
        skipped.skipped = Some(SkipReason::CacheHit);
        let mut evaluation = evaluation(Decision::Allow(Vec::new()), vec![skipped], &["a"]);
        assert_eq!(Alert::of(&evaluation, "u", "n").result, AlertResult::Skip);
        evaluation.outcomes.push(outcome("b", Ok(None)));
        assert_eq!(
            Alert::of(&evaluation, "u", "n").result,
            AlertResult::Success
        );
        evaluation.outcomes.clear();
        assert_eq!(
            Alert::of(&evaluation, "u", "n").result,
            AlertResult::Success
        );
    }

    #[test]
    fn denials_are_errors_timeouts_or_invalid() {
        let message = "static deny for image bad using rule bad";
        let denied = evaluation(
            Decision::Deny(message.to_owned()),
            vec![outcome("good", Ok(None)), outcome("bad", Err(message))],
            &["good", "bad"],
        );
        let alert = Alert::of(&denied, "u", "n");
        assert_eq!(
            (alert.result, alert.images.as_str()),
            (AlertResult::Error, "bad")
        );
        assert_eq!(alert.result.stream(), Stream::Reject);
        assert_eq!(
            alert.message(),
            format!("CONNAISSEUR rejected a request: {message}")
        );

        let mut late = outcome(
            "slow",
            Err("validation did not finish before the request deadline"),
        );
        late.timed_out = true;
        let timed_out = evaluation(
            Decision::Deny(
                "validation of admission request u timed out after validating 0/1 images"
                    .to_owned(),
            ),
            vec![late],
            &["slow"],
        );
        let alert = Alert::of(&timed_out, "u", "n");
        assert_eq!(
            (alert.result, alert.images.as_str()),
            (AlertResult::Timeout, "")
        );
        assert_eq!(
            alert.message(),
            "CONNAISSEUR validation timed out for admission request u"
        );

        let invalid = Evaluation {
            decision: Decision::Deny("error decoding new workload object: x".to_owned()),
            outcomes: Vec::new(),
            workload: None,
        };
        let alert = Alert::of(&invalid, "u", "n");
        assert_eq!(alert.result, AlertResult::Invalid);
        assert_eq!(
            alert.message(),
            "CONNAISSEUR failed to parse admission request u"
        );
        assert_eq!(alert.error, "error decoding new workload object: x");
    }

    #[test]
    fn timestamps_follow_go() {
        let at = |secs: u64, nanos: u32| go_utc_timestamp(UNIX_EPOCH + Duration::new(secs, nanos));
        assert_eq!(at(0, 0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            at(1_714_566_896, 123_456_789),
            "2024-05-01 12:34:56.123456789 +0000 UTC"
        );
        assert_eq!(
            at(951_782_400, 500_000_000),
            "2000-02-29 00:00:00.5 +0000 UTC"
        );
        assert_eq!(
            at(4_107_542_399, 10),
            "2100-02-28 23:59:59.00000001 +0000 UTC"
        );
    }
}
