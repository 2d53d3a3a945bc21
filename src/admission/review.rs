//! Typed decoding of an `AdmissionReview` (`admission.k8s.io/v1` or `v1beta1`; both are read
//! with the v1 schema, as Connaisseur does).
//!
//! Only what the engine needs is read; every other field is skipped without being built. The
//! workload objects (`object`, `oldObject`) stay borrowed raw JSON here because their decoder
//! depends on `request.kind.kind`, which may come after them in the document; decoding them is
//! [`super::workload`]'s job and their failures are denials, not HTTP errors.
//!
//! serde_json bounds nesting of typed values at 128 levels and skips ignored values without
//! recursion, so hostile documents cost time and memory linear in their size. Duplicated keys
//! of fields we read are rejected (the API server never sends them, and accepting them would let
//! us read a different value than the API server stored).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The top level of an AdmissionReview. `apiVersion` and `kind` are echoed in the answer.
#[derive(Debug, Default, Deserialize)]
pub struct AdmissionReview<'a> {
    #[serde(rename = "apiVersion", default, deserialize_with = "nullable")]
    pub api_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(borrow, default, deserialize_with = "optional_request")]
    pub request: Option<AdmissionRequest<'a>>,
}

/// `request` of an AdmissionReview, reduced to what admission decisions depend on.
#[derive(Debug, Default, Deserialize)]
pub struct AdmissionRequest<'a> {
    #[serde(default, deserialize_with = "nullable")]
    pub uid: String,
    #[serde(default, deserialize_with = "object")]
    pub kind: GroupVersionKind,
    #[serde(default, deserialize_with = "nullable")]
    pub operation: String,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(borrow, default)]
    pub object: Option<&'a RawValue>,
    #[serde(rename = "oldObject", borrow, default)]
    pub old_object: Option<&'a RawValue>,
}

impl AdmissionRequest<'_> {
    /// Whether this is an UPDATE, the only operation whose old object is looked at.
    pub fn is_update(&self) -> bool {
        self.operation == "UPDATE"
    }
}

/// `request.kind`: only `kind` selects the decoder; group and version are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default, deserialize_with = "nullable")]
    pub group: String,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
}

/// Why a request body is answered with HTTP 400 instead of an AdmissionReview.
#[derive(Debug)]
pub enum ReviewError {
    /// Not JSON, not UTF-8, or a field we read has the wrong type.
    InvalidJson(serde_json::Error),
    /// `request` is missing or `null` (e.g. a body of `{}` or `null`).
    EmptyRequest,
}

impl fmt::Display for ReviewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewError::InvalidJson(err) => write!(f, "received invalid json: {err}"),
            ReviewError::EmptyRequest => f.write_str("received empty admission request"),
        }
    }
}

impl std::error::Error for ReviewError {}

/// A decoded review whose request is known to be present.
#[derive(Debug)]
pub struct Review<'a> {
    pub api_version: String,
    pub kind: String,
    pub request: AdmissionRequest<'a>,
}

fn optional_request<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AdmissionRequest<'a>>, D::Error> {
    Option::<JsonObject<AdmissionRequest<'a>>>::deserialize(deserializer)
        .map(|request| request.map(|JsonObject(request)| request))
}

/// Decodes a request body. The result borrows the workload objects from `body`.
pub fn decode(body: &[u8]) -> Result<Review<'_>, ReviewError> {
    let review: Option<JsonObject<AdmissionReview<'_>>> =
        serde_json::from_slice(body).map_err(ReviewError::InvalidJson)?;
    let JsonObject(review) = review.ok_or(ReviewError::EmptyRequest)?;
    let request = review.request.ok_or(ReviewError::EmptyRequest)?;
    Ok(Review {
        api_version: review.api_version,
        kind: review.kind,
        request,
    })
}

/// Reads a struct only from a JSON object, or `null` as its default value, as Go's
/// encoding/json does. (serde's derived structs would also accept an array of field values.)
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    JsonObject::deserialize(deserializer).map(|JsonObject(value)| value)
}

/// A `T` that deserialises only from a JSON object or `null` (see [`object`]).
#[derive(Debug, Default)]
pub(crate) struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for ObjectVisitor<T> {
    type Value = JsonObject<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonObject(T::default()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonObject(T::default()))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(JsonObject)
    }
}

/// Reads `null` as the default value, like Go's encoding/json does for non-pointer fields.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_text(body: &[u8]) -> String {
        match decode(body) {
            Ok(review) => panic!("expected an error, decoded {review:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn decodes_the_fields_the_engine_reads_and_ignores_the_rest() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview",
            "request":{"uid":"u-1","kind":{"group":"apps","version":"v1","kind":"Deployment"},
            "resource":{"group":"apps"},"operation":"UPDATE","namespace":"team",
            "userInfo":{"username":"x","groups":["a"]},"dryRun":true,
            "object":{"spec":{"x":[1,2,{"y":null}]}},"oldObject":{"a":1}}}"#;
        let review = decode(body).expect("valid review");
        assert_eq!(review.api_version, "admission.k8s.io/v1beta1");
        assert_eq!(review.kind, "AdmissionReview");
        assert_eq!(review.request.uid, "u-1");
        assert_eq!(review.request.kind.kind, "Deployment");
        assert_eq!(review.request.kind.group, "apps");
        assert_eq!(review.request.namespace, "team");
        assert!(review.request.is_update());
        assert_eq!(
            review.request.object.map(RawValue::get),
            Some(r#"{"spec":{"x":[1,2,{"y":null}]}}"#)
        );
        assert_eq!(
            review.request.old_object.map(RawValue::get),
            Some(r#"{"a":1}"#)
        );
    }

    #[test]
    fn null_fields_read_as_absent() {
        let body = br#"{"apiVersion":null,"request":{"uid":null,"kind":null,"object":null,"oldObject":null}}"#;
        let review = decode(body).expect("valid review");
        assert_eq!(review.api_version, "");
        assert_eq!(review.request.uid, "");
        assert_eq!(review.request.kind.kind, "");
        assert!(review.request.object.is_none());
        assert!(review.request.old_object.is_none());
        assert!(!review.request.is_update());
    }

    #[test]
    fn a_request_with_only_an_operation_decodes() {
        let review = decode(br#"{"request":{"operation":"CREATE"}}"#).expect("valid review");
        assert_eq!(review.request.operation, "CREATE");
        assert_eq!(review.request.kind.kind, "");
    }

    #[test]
    fn item_6_missing_or_null_request_is_an_empty_request() {
        for body in [&b"null"[..], b"{}", br#"{"request":null}"#, b" null "] {
            assert_eq!(error_text(body), "received empty admission request");
        }
    }

    #[test]
    fn item_6_undecodable_bodies_are_invalid_json() {
        for body in [
            &b""[..],
            b"{",
            b"not json",
            br#"{"request":{"uid":5}}"#,
            br#"{"request":{"kind":"Pod"}}"#,
            br#"{"request":[]}"#,
            br#"[]"#,
            br#"["v1","AdmissionReview",{}]"#,
            br#"{"request":{"kind":["a","b","Pod"]}}"#,
            br#"{"apiVersion":{},"request":{}}"#,
            br#"{"request":{}} trailing"#,
        ] {
            let text = error_text(body);
            assert!(
                text.starts_with("received invalid json: "),
                "{}: {text}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn non_utf8_is_invalid_json() {
        let body = b"{\"request\":{\"uid\":\"\xff\xfe\"}}";
        assert!(error_text(body).starts_with("received invalid json: "));
        let in_object = b"{\"request\":{\"object\":{\"a\":\"\xc3\x28\"}}}";
        assert!(error_text(in_object).starts_with("received invalid json: "));
    }

    #[test]
    fn duplicated_keys_we_read_are_invalid_json() {
        let body = br#"{"request":{"uid":"a","uid":"b"}}"#;
        let text = error_text(body);
        assert!(text.contains("duplicate field `uid`"), "{text}");
        let kinds = br#"{"request":{"kind":{"kind":"Pod","kind":"Role"}}}"#;
        assert!(error_text(kinds).contains("duplicate field `kind`"));
    }

    #[test]
    fn deep_nesting_in_ignored_fields_is_skipped_without_recursion() {
        let depth = 200_000;
        let mut body = String::from(r#"{"request":{"uid":"deep","userInfo":"#);
        body.push_str(&"[".repeat(depth));
        body.push_str(&"]".repeat(depth));
        body.push_str(r#","object":"#);
        body.push_str(&"{\"a\":".repeat(depth));
        body.push('1');
        body.push_str(&"}".repeat(depth));
        body.push_str("}}");
        let review = decode(body.as_bytes()).expect("ignored nesting is accepted");
        assert_eq!(review.request.uid, "deep");
    }

    #[test]
    fn deep_nesting_in_typed_fields_hits_the_recursion_limit() {
        let depth = 1_000;
        let body = format!(r#"{{"request":{}}}"#, "[".repeat(depth));
        assert!(error_text(body.as_bytes()).starts_with("received invalid json: "));
    }

    #[test]
    fn huge_strings_are_read_once() {
        let uid = "u".repeat(4 << 20);
        let body = format!(r#"{{"request":{{"uid":"{uid}"}}}}"#);
        let review = decode(body.as_bytes()).expect("valid review");
        assert_eq!(review.request.uid.len(), uid.len());
    }
}
