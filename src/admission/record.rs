//! Metrics of one admission request (groups A and B of the metrics contract, plus the
//! validation duration histogram), read from the engine's outcomes as data.

use super::engine::ImageOutcome;
use crate::metrics::Metrics;

/// Validator type label for an image that failed before a validator was resolved.
const UNKNOWN_TYPE: &str = "unknown";

/// Records one distinct image's validation.
pub fn image(metrics: &Metrics, outcome: &ImageOutcome) {
    let (type_name, name) = outcome
        .validator
        .as_ref()
        .map_or((UNKNOWN_TYPE, ""), |id| (id.type_name, id.name.as_str()));
    if outcome.timed_out {
        // Counted as an `error` in connaisseur_validations_total by the registry itself.
        metrics.validation_timeouted(type_name, name);
        return;
    }
    let success = outcome.result.is_ok();
    metrics.validation_outcome(type_name, name, success);
    if let Some(reason) = outcome.skipped {
        metrics.validation_skipped(type_name, name, reason);
    }
    if outcome.validator.is_some() {
        metrics.validation_duration(type_name, name, success, outcome.elapsed.as_secs_f64());
    }
}

/// Records the final answer (after detection and pods-only adjustments).
pub fn answer(metrics: &Metrics, allowed: bool, deadline_passed: bool) {
    if allowed {
        metrics.request_admitted();
    } else {
        metrics.request_denied(deadline_passed);
    }
    metrics.mutate_answered(allowed);
}
