//! Workload objects: which kinds are admitted, where their container images are, and the
//! JSON-patch path of each image.
//!
//! `request.kind.kind` selects the decoder (group and version are ignored, so a
//! `batch/v1beta1` CronJob decodes like `batch/v1`). Objects are decoded leniently: unknown
//! fields are ignored and the object's own `apiVersion`/`kind` are not required.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::review::{nullable, object, JsonObject};

/// The eight kinds whose pods run container images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    ReplicaSet,
    DaemonSet,
    StatefulSet,
    ReplicationController,
    Job,
    CronJob,
}

impl WorkloadKind {
    /// The kind named `kind` (exact, case-sensitive as in Kubernetes), if it is a workload.
    pub fn from_name(kind: &str) -> Option<WorkloadKind> {
        Some(match kind {
            "Pod" => WorkloadKind::Pod,
            "Deployment" => WorkloadKind::Deployment,
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "ReplicationController" => WorkloadKind::ReplicationController,
            "Job" => WorkloadKind::Job,
            "CronJob" => WorkloadKind::CronJob,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "Pod",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }

    /// Where the pod spec lives, as a JSON-pointer prefix for patch operations.
    pub fn patch_prefix(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "/spec",
            WorkloadKind::CronJob => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        }
    }
}

/// The container lists of a pod spec, in the order images are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    pub fn json_name(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// One container's image and its position (list, index in that list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSlot {
    pub list: ContainerList,
    pub index: usize,
    pub image: String,
}

/// `metadata.ownerReferences[*]`, kept for child approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OwnerReference {
    #[serde(rename = "apiVersion", default, deserialize_with = "nullable")]
    pub api_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uid: String,
}

/// A decoded workload object: what admission needs and nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// `metadata.name`, or for Pods `metadata.generateName` when the name is empty.
    pub name: String,
    pub owners: Vec<OwnerReference>,
    /// `metadata.deletionTimestamp` is set.
    pub deleted: bool,
    /// Containers, then init containers, then (Pods only) ephemeral containers.
    pub images: Vec<ImageSlot>,
}

impl Workload {
    /// Whether `image` is, verbatim, the image of one of this workload's containers.
    pub fn uses_image(&self, image: &str) -> bool {
        self.images.iter().any(|slot| slot.image == image)
    }
}

/// Why an object could not be read as a workload.
#[derive(Debug)]
pub enum WorkloadError {
    UnknownKind(String),
    NoContainers,
    Json(serde_json::Error),
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::UnknownKind(kind) => write!(f, "unknown workload kind {kind:?}"),
            WorkloadError::NoContainers => f.write_str("no containers found in workload object"),
            WorkloadError::Json(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for WorkloadError {}

/// Decodes `object` as a workload of kind `kind`. A missing or `null` object has no containers.
pub fn decode(kind: &str, object: Option<&RawValue>) -> Result<Workload, WorkloadError> {
    let kind =
        WorkloadKind::from_name(kind).ok_or_else(|| WorkloadError::UnknownKind(kind.to_owned()))?;
    let json = object.map_or("null", RawValue::get);
    let (metadata, spec) = match kind {
        WorkloadKind::Pod => {
            let JsonObject(pod): JsonObject<Object<PodSpec>> = parse(json)?;
            (pod.metadata, pod.spec)
        }
        WorkloadKind::CronJob => {
            let JsonObject(cron): JsonObject<Object<CronJobSpec>> = parse(json)?;
            (cron.metadata, cron.spec.job_template.spec.template.spec)
        }
        _ => {
            let JsonObject(owner): JsonObject<Object<TemplateSpec>> = parse(json)?;
            (owner.metadata, owner.spec.template.spec)
        }
    };
    let images = collect_images(spec, kind == WorkloadKind::Pod);
    if images.is_empty() {
        return Err(WorkloadError::NoContainers);
    }
    let name = if metadata.name.is_empty() && kind == WorkloadKind::Pod {
        metadata.generate_name
    } else {
        metadata.name
    };
    Ok(Workload {
        kind,
        name,
        owners: metadata
            .owner_references
            .into_iter()
            .map(|JsonObject(owner)| owner)
            .collect(),
        deleted: metadata.deletion_timestamp.is_some(),
        images,
    })
}

fn parse<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, WorkloadError> {
    serde_json::from_str(json).map_err(WorkloadError::Json)
}

fn collect_images(spec: PodSpec, with_ephemeral: bool) -> Vec<ImageSlot> {
    let mut lists = vec![
        (ContainerList::Containers, spec.containers),
        (ContainerList::InitContainers, spec.init_containers),
    ];
    if with_ephemeral {
        lists.push((
            ContainerList::EphemeralContainers,
            spec.ephemeral_containers,
        ));
    }
    lists
        .into_iter()
        .flat_map(|(list, containers)| {
            containers
                .into_iter()
                .enumerate()
                .map(move |(index, JsonObject(container))| ImageSlot {
                    list,
                    index,
                    image: container.image,
                })
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(bound = "S: Deserialize<'de> + Default")]
struct Object<S> {
    #[serde(default, deserialize_with = "object")]
    metadata: Metadata,
    #[serde(default, deserialize_with = "object")]
    spec: S,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(rename = "generateName", default, deserialize_with = "nullable")]
    generate_name: String,
    #[serde(rename = "ownerReferences", default, deserialize_with = "nullable")]
    owner_references: Vec<JsonObject<OwnerReference>>,
    /// Only presence matters; any non-null string counts as "marked for deletion".
    #[serde(rename = "deletionTimestamp", default)]
    deletion_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PodSpec {
    #[serde(default, deserialize_with = "nullable")]
    containers: Vec<JsonObject<Container>>,
    #[serde(rename = "initContainers", default, deserialize_with = "nullable")]
    init_containers: Vec<JsonObject<Container>>,
    #[serde(rename = "ephemeralContainers", default, deserialize_with = "nullable")]
    ephemeral_containers: Vec<JsonObject<Container>>,
}

#[derive(Debug, Default, Deserialize)]
struct Container {
    #[serde(default, deserialize_with = "nullable")]
    image: String,
}

#[derive(Debug, Default, Deserialize)]
struct PodTemplate {
    #[serde(default, deserialize_with = "object")]
    spec: PodSpec,
}

#[derive(Debug, Default, Deserialize)]
struct TemplateSpec {
    #[serde(default, deserialize_with = "object")]
    template: PodTemplate,
}

#[derive(Debug, Default, Deserialize)]
struct JobTemplate {
    #[serde(default, deserialize_with = "object")]
    spec: TemplateSpec,
}

#[derive(Debug, Default, Deserialize)]
struct CronJobSpec {
    #[serde(rename = "jobTemplate", default, deserialize_with = "object")]
    job_template: JobTemplate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("test JSON is valid")
    }

    fn images(workload: &Workload) -> Vec<(&'static str, usize, &str)> {
        workload
            .images
            .iter()
            .map(|slot| (slot.list.json_name(), slot.index, slot.image.as_str()))
            .collect()
    }

    fn template_object(image: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"w"}},"spec":{{"replicas":2,"template":{{"spec":{{"containers":[{{"name":"c","image":"{image}"}}],"initContainers":[{{"image":"init"}}]}}}}}}}}"#
        )
    }

    #[test]
    fn item_26_all_eight_kinds_decode_and_kind_version_is_irrelevant() {
        let pod = raw(r#"{"metadata":{"name":"p"},"spec":{"containers":[{"image":"nginx"}]}}"#);
        let workload = decode("Pod", Some(&pod)).expect("pod");
        assert_eq!(workload.kind, WorkloadKind::Pod);
        assert_eq!(images(&workload), vec![("containers", 0, "nginx")]);

        for kind in [
            "Deployment",
            "ReplicaSet",
            "DaemonSet",
            "StatefulSet",
            "ReplicationController",
            "Job",
        ] {
            let object = raw(&template_object("busybox"));
            let workload = decode(kind, Some(&object)).expect(kind);
            assert_eq!(workload.kind.name(), kind);
            assert_eq!(
                images(&workload),
                vec![("containers", 0, "busybox"), ("initContainers", 0, "init")]
            );
        }

        let cron = raw(
            r#"{"apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"c"},"spec":{"schedule":"* * * * *",
              "jobTemplate":{"spec":{"template":{"spec":{"containers":[{"image":"busybox"}]}}}}}}"#,
        );
        let workload = decode("CronJob", Some(&cron)).expect("cronjob");
        assert_eq!(images(&workload), vec![("containers", 0, "busybox")]);
    }

    #[test]
    fn item_43_patch_prefixes() {
        assert_eq!(WorkloadKind::Pod.patch_prefix(), "/spec");
        assert_eq!(
            WorkloadKind::CronJob.patch_prefix(),
            "/spec/jobTemplate/spec/template/spec"
        );
        for kind in [
            "Deployment",
            "ReplicaSet",
            "DaemonSet",
            "StatefulSet",
            "ReplicationController",
            "Job",
        ] {
            let kind = WorkloadKind::from_name(kind).expect("workload kind");
            assert_eq!(kind.patch_prefix(), "/spec/template/spec");
        }
    }

    #[test]
    fn item_27_pods_read_all_three_lists_in_order() {
        let pod = raw(
            r#"{"spec":{"ephemeralContainers":[{"image":"debug"}],"initContainers":[{"image":"i0"},{"image":"i1"}],
               "containers":[{"image":"c0"},{"image":"c1"}]}}"#,
        );
        let workload = decode("Pod", Some(&pod)).expect("pod");
        assert_eq!(
            images(&workload),
            vec![
                ("containers", 0, "c0"),
                ("containers", 1, "c1"),
                ("initContainers", 0, "i0"),
                ("initContainers", 1, "i1"),
                ("ephemeralContainers", 0, "debug"),
            ]
        );
    }

    #[test]
    fn item_27_templates_ignore_ephemeral_containers_and_pod_level_lists() {
        let object = raw(
            r#"{"spec":{"containers":[{"image":"not-a-pod"}],"template":{"spec":{
               "containers":[{"image":"c"}],"ephemeralContainers":[{"image":"e"}]}}}}"#,
        );
        let workload = decode("Deployment", Some(&object)).expect("deployment");
        assert_eq!(images(&workload), vec![("containers", 0, "c")]);
    }

    #[test]
    fn item_28_other_kinds_are_unknown() {
        let object = raw(r#"{"rules":[]}"#);
        let err = decode("Role", Some(&object)).expect_err("role");
        assert_eq!(err.to_string(), r#"unknown workload kind "Role""#);
        let err = decode("", None).expect_err("no kind");
        assert_eq!(err.to_string(), r#"unknown workload kind """#);
        let err = decode("pod", None).expect_err("lower case");
        assert_eq!(err.to_string(), r#"unknown workload kind "pod""#);
    }

    #[test]
    fn item_29_objects_without_containers() {
        for json in [
            r#"{"msg":"Expecting a Pod?"}"#,
            r#"{"spec":{"containers":[]}}"#,
            r#"{"spec":null}"#,
            "null",
        ] {
            let object = raw(json);
            let err = decode("Pod", Some(&object)).expect_err(json);
            assert_eq!(err.to_string(), "no containers found in workload object");
        }
        let err = decode("Job", None).expect_err("missing object");
        assert_eq!(err.to_string(), "no containers found in workload object");
    }

    #[test]
    fn wrong_types_are_decode_errors_not_panics() {
        for json in [
            r#"{"spec":{"containers":{"image":"x"}}}"#,
            r#"{"spec":{"containers":[{"image":5}]}}"#,
            r#"{"spec":"x"}"#,
            r#"[]"#,
            r#"{"metadata":{"deletionTimestamp":1},"spec":{"containers":[{"image":"x"}]}}"#,
            r#"{"spec":{"containers":[{"image":"a","image":"b"}]}}"#,
            r#"{"spec":{"containers":[["x"]]}}"#,
            r#"{"spec":[[["x"]]]}"#,
        ] {
            let object = raw(json);
            match decode("Pod", Some(&object)) {
                Err(WorkloadError::Json(_)) => {}
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_inside_a_workload_is_bounded() {
        let depth = 100_000;
        let json = format!(
            r#"{{"spec":{{"containers":[{{"image":"x","env":{}{}}}]}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let object = raw(&json);
        let workload = decode("Pod", Some(&object)).expect("ignored nesting is skipped");
        assert_eq!(images(&workload), vec![("containers", 0, "x")]);
    }

    #[test]
    fn ten_thousand_containers_decode_in_order() {
        let containers: Vec<String> = (0..10_000)
            .map(|i| format!(r#"{{"image":"img-{i}"}}"#))
            .collect();
        let json = format!(r#"{{"spec":{{"containers":[{}]}}}}"#, containers.join(","));
        let object = raw(&json);
        let workload = decode("Pod", Some(&object)).expect("pod");
        assert_eq!(workload.images.len(), 10_000);
        assert_eq!(
            workload.images.last().map(|s| (s.index, s.image.as_str())),
            Some((9_999, "img-9999"))
        );
    }

    #[test]
    fn metadata_name_owners_and_deletion() {
        let pod = raw(
            r#"{"metadata":{"generateName":"web-","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet",
               "name":"web-1","uid":"u-1","controller":true}],"deletionTimestamp":"2024-01-01T00:00:00Z"},
               "spec":{"containers":[{"image":"x"}]}}"#,
        );
        let workload = decode("Pod", Some(&pod)).expect("pod");
        assert_eq!(workload.name, "web-");
        assert!(workload.deleted);
        assert_eq!(
            workload.owners,
            vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web-1".into(),
                uid: "u-1".into(),
            }]
        );

        let deployment = raw(&template_object("x").replace(
            r#""name":"w""#,
            r#""generateName":"g-","deletionTimestamp":null"#,
        ));
        let workload = decode("Deployment", Some(&deployment)).expect("deployment");
        assert_eq!(workload.name, "", "only Pods fall back to generateName");
        assert!(!workload.deleted);
    }

    #[test]
    fn uses_image_compares_raw_strings() {
        let pod = raw(
            r#"{"spec":{"containers":[{"image":"nginx"}],"initContainers":[{"image":"busybox:1"}]}}"#,
        );
        let workload = decode("Pod", Some(&pod)).expect("pod");
        assert!(workload.uses_image("busybox:1"));
        assert!(!workload.uses_image("docker.io/library/nginx:latest"));
    }
}
