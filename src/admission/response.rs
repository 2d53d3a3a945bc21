//! The admission answer: the engine's decision, the post-processing of §4.6 (pods-only, then
//! detection mode) and the exact AdmissionReview JSON of §4.7.
//!
//! Differences from Connaisseur v3, on purpose: a denial's `status` carries `code: 403` (as
//! Connaisseur 2.x did), and a denial re-admitted by detection or pods-only mode carries
//! `code: 202`, matching `mutate_requests_total{status_code}`.

use base64::Engine as _;
use serde::Serialize;

use super::settings::{ResourceValidationMode, Settings};

/// HTTP-style status code of a denial.
pub const DENIED_CODE: u16 = 403;
/// HTTP-style status code of an admission that only warns (detection / pods-only).
pub const WARNED_CODE: u16 = 202;

/// Warning that precedes the denial message when detection mode admits a request.
pub const DETECTION_WARNING: &str = "detection mode active";
/// Warning that precedes the denial message when pods-only mode admits a non-Pod.
pub const PODS_ONLY_WARNING: &str = "pod-only validation active";

/// One JSON-patch `replace` op that pins an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchOp {
    op: &'static str,
    pub path: String,
    pub value: String,
}

impl PatchOp {
    /// `{"op":"replace","path":"<prefix>/<list>/<index>/image","value":<image>}`.
    pub fn replace_image(prefix: &str, list: &str, index: usize, image: String) -> PatchOp {
        PatchOp {
            op: "replace",
            path: format!("{prefix}/{list}/{index}/image"),
            value: image,
        }
    }
}

/// What the engine decided, before modes are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Admit, applying these ops (possibly none).
    Allow(Vec<PatchOp>),
    /// Deny with this message for the cluster user.
    Deny(String),
}

/// `response.status` of a denial (or of a denial turned into a warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    metadata: EmptyObject,
    pub message: String,
    pub code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct EmptyObject {}

/// `response` of an AdmissionReview, fields in Go's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The compact JSON-patch array; serialised as base64.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_base64"
    )]
    pub patch: Option<Vec<u8>>,
    #[serde(rename = "patchType", skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl AdmissionResponse {
    /// The decision as Connaisseur's handler builds it, before modes.
    pub fn from_decision(uid: String, decision: Decision) -> AdmissionResponse {
        match decision {
            Decision::Allow(ops) => {
                let patch = patch_bytes(&ops);
                AdmissionResponse {
                    uid,
                    allowed: true,
                    status: None,
                    patch_type: patch.as_ref().map(|_| "JSONPatch"),
                    patch,
                    warnings: Vec::new(),
                }
            }
            Decision::Deny(message) => AdmissionResponse {
                uid,
                allowed: false,
                status: Some(Status {
                    metadata: EmptyObject {},
                    message,
                    code: DENIED_CODE,
                }),
                patch: None,
                patch_type: None,
                warnings: Vec::new(),
            },
        }
    }

    /// §4.6 steps 2 and 3: pods-only mode for non-Pods, then detection mode.
    pub fn apply_modes(mut self, settings: &Settings, request_is_pod: bool) -> AdmissionResponse {
        if settings.resource_validation_mode == ResourceValidationMode::PodsOnly && !request_is_pod
        {
            self.readmit_with_warning(PODS_ONLY_WARNING);
            self.patch = None;
            self.patch_type = None;
        }
        if settings.detection_mode {
            self.readmit_with_warning(DETECTION_WARNING);
        }
        self
    }

    fn readmit_with_warning(&mut self, warning: &str) {
        if self.allowed {
            return;
        }
        self.allowed = true;
        let message = self
            .status
            .as_mut()
            .map(|status| {
                status.code = WARNED_CODE;
                status.message.clone()
            })
            .unwrap_or_default();
        self.warnings = vec![warning.to_owned(), message];
    }

    /// The whole AdmissionReview answer, echoing the request's `kind` and `apiVersion`.
    pub fn to_review_json(&self, kind: &str, api_version: &str) -> serde_json::Result<Vec<u8>> {
        // Sized once for the envelope, the uid, a denial's message and the base64 patch, so
        // serialising does not grow the buffer on the way.
        let mut out = Vec::with_capacity(
            160 + kind.len()
                + api_version.len()
                + self.uid.len()
                + self.status.as_ref().map_or(0, |s| s.message.len() + 32)
                + self.patch.as_ref().map_or(0, |p| p.len() * 4 / 3 + 48)
                + self.warnings.iter().map(|w| w.len() + 4).sum::<usize>(),
        );
        serde_json::to_writer(
            &mut out,
            &ReviewOut {
                kind,
                api_version,
                response: self,
            },
        )?;
        Ok(out)
    }
}

#[derive(Serialize)]
struct ReviewOut<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    #[serde(rename = "apiVersion", skip_serializing_if = "str::is_empty")]
    api_version: &'a str,
    response: &'a AdmissionResponse,
}

/// The compact JSON array of `ops`, or `None` when there is nothing to patch.
fn patch_bytes(ops: &[PatchOp]) -> Option<Vec<u8>> {
    if ops.is_empty() {
        return None;
    }
    // Serialising strings into a Vec cannot fail; an empty patch would only drop the pinning.
    serde_json::to_vec(ops).ok()
}

fn serialize_base64<S: serde::Serializer>(
    patch: &Option<Vec<u8>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let bytes = patch.as_deref().unwrap_or_default();
    serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "admission.k8s.io/v1";

    fn json(response: &AdmissionResponse) -> String {
        let bytes = response
            .to_review_json("AdmissionReview", V1)
            .expect("serialisable");
        String::from_utf8(bytes).expect("utf-8")
    }

    fn op(index: usize, value: &str) -> PatchOp {
        PatchOp::replace_image("/spec", "containers", index, value.to_owned())
    }

    fn pods_only() -> Settings {
        Settings {
            resource_validation_mode: ResourceValidationMode::PodsOnly,
            ..Settings::default()
        }
    }

    fn detection() -> Settings {
        Settings {
            detection_mode: true,
            ..Settings::default()
        }
    }

    #[test]
    fn item_7_allowed_without_patch_echoes_kind_version_and_uid() {
        let response = AdmissionResponse::from_decision("u".into(), Decision::Allow(vec![]));
        assert_eq!(
            json(&response),
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u","allowed":true}}"#
        );
        let beta = response
            .to_review_json("AdmissionReview", "admission.k8s.io/v1beta1")
            .expect("serialisable");
        assert!(
            String::from_utf8_lossy(&beta).contains(r#""apiVersion":"admission.k8s.io/v1beta1""#)
        );
        let bare = response.to_review_json("", "").expect("serialisable");
        assert_eq!(bare, br#"{"response":{"uid":"u","allowed":true}}"#);
    }

    #[test]
    fn item_44_allowed_with_patch_is_compact_base64_json_patch() {
        let response = AdmissionResponse::from_decision(
            "u".into(),
            Decision::Allow(vec![op(0, "a@sha256:1"), op(2, "a@sha256:1")]),
        );
        let patch = r#"[{"op":"replace","path":"/spec/containers/0/image","value":"a@sha256:1"},{"op":"replace","path":"/spec/containers/2/image","value":"a@sha256:1"}]"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(patch);
        assert_eq!(
            json(&response),
            format!(
                r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{{"uid":"u","allowed":true,"patch":"{encoded}","patchType":"JSONPatch"}}}}"#
            )
        );
    }

    #[test]
    fn item_49_denials_carry_message_and_code_403() {
        let response =
            AdmissionResponse::from_decision("u".into(), Decision::Deny("static deny".into()));
        assert_eq!(
            json(&response),
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u","allowed":false,"status":{"metadata":{},"message":"static deny","code":403}}}"#
        );
    }

    #[test]
    fn messages_and_patch_values_are_json_escaped() {
        let response = AdmissionResponse::from_decision(
            "u".into(),
            Decision::Deny("bad \"image\"\n<x>".into()),
        );
        assert!(json(&response).contains(r#""message":"bad \"image\"\n<x>""#));
    }

    #[test]
    fn item_51_detection_mode_admits_denials_with_warnings() {
        let response = AdmissionResponse::from_decision("u".into(), Decision::Deny("no".into()))
            .apply_modes(&detection(), true);
        assert_eq!(
            json(&response),
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u","allowed":true,"status":{"metadata":{},"message":"no","code":202},"warnings":["detection mode active","no"]}}"#
        );
    }

    #[test]
    fn item_51_detection_mode_leaves_admissions_and_patches_alone() {
        let decision = Decision::Allow(vec![op(0, "x")]);
        let plain = AdmissionResponse::from_decision("u".into(), decision.clone());
        let detected =
            AdmissionResponse::from_decision("u".into(), decision).apply_modes(&detection(), true);
        assert_eq!(plain, detected);
    }

    #[test]
    fn item_50_pods_only_admits_and_never_patches_non_pods() {
        let denied = AdmissionResponse::from_decision("u".into(), Decision::Deny("no".into()))
            .apply_modes(&pods_only(), false);
        assert!(denied.allowed);
        assert_eq!(denied.warnings, vec!["pod-only validation active", "no"]);
        assert_eq!(
            denied.status.as_ref().map(|s| s.message.as_str()),
            Some("no")
        );

        let patched =
            AdmissionResponse::from_decision("u".into(), Decision::Allow(vec![op(0, "x")]))
                .apply_modes(&pods_only(), false);
        assert!(patched.allowed);
        assert_eq!(patched.patch, None);
        assert_eq!(patched.patch_type, None);
        assert!(patched.warnings.is_empty());
    }

    #[test]
    fn item_50_pods_only_still_denies_and_patches_pods() {
        let denied = AdmissionResponse::from_decision("u".into(), Decision::Deny("no".into()))
            .apply_modes(&pods_only(), true);
        assert!(!denied.allowed);
        let patched =
            AdmissionResponse::from_decision("u".into(), Decision::Allow(vec![op(0, "x")]))
                .apply_modes(&pods_only(), true);
        assert!(patched.patch.is_some());
    }

    #[test]
    fn item_52_pods_only_applies_before_detection_mode() {
        let both = Settings {
            detection_mode: true,
            resource_validation_mode: ResourceValidationMode::PodsOnly,
            ..Settings::default()
        };
        let non_pod = AdmissionResponse::from_decision("u".into(), Decision::Deny("no".into()))
            .apply_modes(&both, false);
        assert_eq!(non_pod.warnings, vec!["pod-only validation active", "no"]);
        let pod = AdmissionResponse::from_decision("u".into(), Decision::Deny("no".into()))
            .apply_modes(&both, true);
        assert_eq!(pod.warnings, vec!["detection mode active", "no"]);
    }
}
