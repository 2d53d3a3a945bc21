//! The Kubernetes manifests in `deploy/`: every YAML document parses, and the objects carry
//! what a Connaisseur-equivalent installation needs (webhook rules and settings, replicas,
//! probes, security context, Service wiring, a policy that tastevin itself accepts, RBAC for
//! child approval, a NetworkPolicy). The kustomize base is rendered with the real
//! `kubectl kustomize` (Debian package `kubernetes-client`) and checked as rendered.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::{json, Value};

const NAMESPACE: &str = "tastevin";

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // deploy/redis is a kustomize component (patches, not installable alone); it is
        // checked as rendered with the base below.
        if path.is_dir() && !path.ends_with("redis") {
            yaml_files(&path, out);
        } else if path.is_dir() {
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
}

/// Every document of every YAML file under deploy/ (but the Redis component), with the file
/// it came from.
fn documents() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &mut files,
    );
    assert!(!files.is_empty(), "no YAML files under deploy/");
    let mut docs = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                value.is_object(),
                "{}: a document that is not an object",
                file.display()
            );
            docs.push((file.clone(), value));
        }
    }
    docs
}

fn all_of_kind(kind: &str) -> Vec<Value> {
    documents()
        .into_iter()
        .filter(|(_, doc)| doc["kind"] == kind)
        .map(|(_, doc)| doc)
        .collect()
}

fn one_of_kind(kind: &str) -> Value {
    let mut found = all_of_kind(kind);
    assert_eq!(found.len(), 1, "exactly one {kind} in deploy/");
    found.remove(0)
}

fn named(kind: &str, name: &str) -> Value {
    all_of_kind(kind)
        .into_iter()
        .find(|doc| doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name} in deploy/"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn every_document_has_a_kind_an_api_version_and_a_name() {
    for (file, doc) in documents() {
        let kind = doc["kind"].as_str();
        assert!(kind.is_some(), "{}: document without kind", file.display());
        assert!(
            doc["apiVersion"].is_string(),
            "{}: {kind:?}",
            file.display()
        );
        if kind != Some("Kustomization") {
            assert!(
                doc["metadata"]["name"].is_string(),
                "{}: {kind:?} without a name",
                file.display()
            );
        }
        let cluster_scoped = [
            "Namespace",
            "MutatingWebhookConfiguration",
            "Kustomization",
            "ClusterRole",
            "ClusterRoleBinding",
        ];
        if !cluster_scoped.contains(&kind.unwrap_or_default()) {
            assert_eq!(
                doc["metadata"]["namespace"],
                NAMESPACE,
                "{}",
                file.display()
            );
        }
    }
}

#[test]
fn webhook_has_connaisseurs_rules_and_settings() {
    let config = one_of_kind("MutatingWebhookConfiguration");
    let hooks = config["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["timeoutSeconds"], 30);
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["reinvocationPolicy"], "Never");
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(strings(&hook["admissionReviewVersions"]), ["v1"]);
    assert!(hook["objectSelector"].is_null());
    let service = &hook["clientConfig"]["service"];
    assert_eq!(service["path"], "/mutate");
    assert!(hook["clientConfig"]["caBundle"].is_string());

    let mut covered: Vec<(String, String)> = Vec::new();
    for rule in hook["rules"].as_array().unwrap() {
        let mut operations = strings(&rule["operations"]);
        operations.sort_unstable();
        assert_eq!(operations, ["CREATE", "UPDATE"], "{rule}");
        assert_eq!(rule["apiVersions"].as_array().unwrap().len(), 1, "{rule}");
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                covered.push((group.to_string(), resource.to_string()));
            }
        }
    }
    covered.sort();
    let mut expected: Vec<(String, String)> = [
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "daemonsets"),
        ("apps", "statefulsets"),
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    ]
    .iter()
    .map(|(g, r)| (g.to_string(), r.to_string()))
    .collect();
    expected.sort();
    assert_eq!(covered, expected);
}

#[test]
fn webhook_namespace_selector_is_connaisseurs_and_leaves_out_system_namespaces() {
    let config = one_of_kind("MutatingWebhookConfiguration");
    let selector = &config["webhooks"][0]["namespaceSelector"];
    assert!(selector["matchLabels"].is_null());
    let expressions = selector["matchExpressions"].as_array().unwrap();
    assert!(expressions.contains(&json!({
        "key": "securesystemsengineering.connaisseur/webhook",
        "operator": "NotIn",
        "values": ["ignore"],
    })));
    let excluded = expressions
        .iter()
        .find(|e| e["key"] == "kubernetes.io/metadata.name")
        .expect("an expression on the namespace name");
    assert_eq!(excluded["operator"], "NotIn");
    let mut names = strings(&excluded["values"]);
    names.sort_unstable();
    assert_eq!(names, ["kube-system", NAMESPACE]);
    named("Namespace", NAMESPACE);
}

#[test]
fn webhook_reaches_the_service_and_the_service_reaches_the_pods() {
    let hook = &one_of_kind("MutatingWebhookConfiguration")["webhooks"][0];
    let target = &hook["clientConfig"]["service"];
    let service = named("Service", target["name"].as_str().unwrap());
    assert_eq!(target["namespace"], NAMESPACE);
    let expected_name = format!("{}.{NAMESPACE}.svc", target["name"].as_str().unwrap());
    assert_eq!(hook["name"], expected_name.as_str());
    let port = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == target["port"])
        .expect("the Service port the webhook calls");
    assert_eq!(port["port"], 443);

    let deployment = one_of_kind("Deployment");
    let pod = &deployment["spec"]["template"];
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][key], value, "selector {key}");
    }
    let container_port = pod["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == port["targetPort"] || p["containerPort"] == port["targetPort"])
        .expect("the container port the Service targets");
    assert_eq!(container_port["containerPort"], 5000);
}

#[test]
fn deployment_is_replicated_probed_small_and_locked_down() {
    let deployment = one_of_kind("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    let anti = &pod["affinity"]["podAntiAffinity"];
    assert!(
        anti.is_object() && !anti.as_object().unwrap().is_empty(),
        "pod anti-affinity"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];

    for (probe, path) in [("livenessProbe", "/health"), ("readinessProbe", "/ready")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
    }
    assert_eq!(container["resources"]["requests"]["memory"], "16Mi");
    assert!(container["resources"]["limits"]["memory"].is_string());

    let security = &container["securityContext"];
    assert_eq!(security["runAsUser"], 10001);
    assert_eq!(security["runAsGroup"], 20001);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(pod["securityContext"]["runAsUser"], 10001);
    assert_eq!(pod["securityContext"]["runAsGroup"], 20001);

    // Child approval reads owners with the ServiceAccount's token.
    let account = pod["serviceAccountName"].as_str().unwrap();
    let account = named("ServiceAccount", account);
    assert_ne!(account["automountServiceAccountToken"], false);
    assert_ne!(pod["automountServiceAccountToken"], false);
}

#[test]
fn certificate_and_policy_are_mounted_so_that_updates_reach_the_pod() {
    let deployment = one_of_kind("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    let volume_at = |dir: &str| -> Value {
        let mount = mounts
            .iter()
            .find(|m| m["mountPath"] == dir)
            .unwrap_or_else(|| panic!("nothing mounted at {dir}"));
        // A subPath mount is never updated by the kubelet: hot reload would see nothing.
        assert!(mount["subPath"].is_null(), "{dir} mounted with subPath");
        assert_eq!(mount["readOnly"], true, "{dir}");
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .cloned()
            .unwrap_or_else(|| panic!("no volume for {dir}"))
    };
    assert!(volume_at("/app/certs")["secret"]["secretName"].is_string());
    let config_map = volume_at("/app/config")["configMap"]["name"].clone();
    let config_map = named("ConfigMap", config_map.as_str().unwrap());
    let policy = config_map["data"]["config.yaml"].as_str().unwrap();
    if let Err(errors) = tastevin::config::Config::from_yaml(policy) {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("deploy/ policy does not load: {errors:?}");
    }
}

#[test]
fn disruption_budget_keeps_replicas_of_the_deployment() {
    let budget = one_of_kind("PodDisruptionBudget");
    let deployment = one_of_kind("Deployment");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let max_unavailable = budget["spec"]["maxUnavailable"].as_u64();
    let min_available = budget["spec"]["minAvailable"].as_u64();
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    assert!(
        max_unavailable.is_some_and(|n| n >= 1 && n < replicas)
            || min_available.is_some_and(|n| n >= 1 && n < replicas),
        "budget allows neither drains nor keeps a replica: {budget}"
    );
}

#[test]
fn monitoring_examples_scrape_metrics_and_alert_on_denials() {
    let monitor = one_of_kind("ServiceMonitor");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["scheme"], "https");
    let service = named("Service", "tastevin-svc");
    assert!(service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == endpoint["port"]));

    let rule = one_of_kind("PrometheusRule");
    let expressions: Vec<&str> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter(|r| r["alert"].is_string())
        .map(|r| r["expr"].as_str().unwrap())
        .collect();
    assert!(
        expressions
            .iter()
            .any(|e| e.contains(r#"mutate_requests_total{allowed="False"}"#)),
        "{expressions:?}"
    );
}

#[test]
fn kustomization_lists_every_manifest_outside_monitoring() {
    let kustomization = one_of_kind("Kustomization");
    let listed = strings(&kustomization["resources"]);
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut files: Vec<String> = fs::read_dir(&deploy)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    files.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort_unstable();
    assert_eq!(listed_sorted, files);
}

/// `kubectl kustomize deploy/`, parsed: what `kubectl apply -k deploy/` would send.
fn rendered() -> Vec<Value> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&deploy)
        .output()
        .expect("run kubectl (Debian package kubernetes-client)");
    assert!(
        output.status.success(),
        "kubectl kustomize deploy/ failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("rendered YAML"))
        .collect()
}

fn rendered_one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind} rendered");
    found[0]
}

#[test]
fn kustomize_renders_the_whole_installation() {
    let objects = rendered();
    let mut kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "MutatingWebhookConfiguration",
            "Namespace",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    );
    let deployment = rendered_one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let budget = rendered_one(&objects, "PodDisruptionBudget");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert_eq!(budget["spec"]["selector"]["matchLabels"], *labels);
    let service = rendered_one(&objects, "Service");
    assert_eq!(service["spec"]["selector"], *labels);

    // Item 93: Connaisseur's namespace label, in its default mode `ignore`.
    let hook = &rendered_one(&objects, "MutatingWebhookConfiguration")["webhooks"][0];
    assert!(hook["namespaceSelector"]["matchExpressions"]
        .as_array()
        .unwrap()
        .contains(&json!({
            "key": "securesystemsengineering.connaisseur/webhook",
            "operator": "NotIn",
            "values": ["ignore"],
        })));
    assert_eq!(
        hook["clientConfig"]["service"]["name"],
        service["metadata"]["name"]
    );
}

#[test]
fn rbac_grants_get_on_the_workload_kinds_to_the_pods_service_account() {
    let objects = rendered();
    let role = rendered_one(&objects, "ClusterRole");
    let mut granted: Vec<(String, String)> = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(strings(&rule["verbs"]), ["get"], "only get: {rule}");
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                granted.push((group.to_owned(), resource.to_owned()));
            }
        }
    }
    granted.sort();
    let mut expected: Vec<(String, String)> = [
        ("", "pods"),
        ("", "replicationcontrollers"),
        ("apps", "daemonsets"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("batch", "cronjobs"),
        ("batch", "jobs"),
    ]
    .iter()
    .map(|(g, r)| (g.to_string(), r.to_string()))
    .collect();
    expected.sort();
    assert_eq!(granted, expected);

    let binding = rendered_one(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let pod = &rendered_one(&objects, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}])
    );
    assert_eq!(pod["automountServiceAccountToken"], true);
    let account = rendered_one(&objects, "ServiceAccount");
    assert_eq!(account["metadata"]["name"], pod["serviceAccountName"]);
    assert_ne!(account["automountServiceAccountToken"], false);
}

#[test]
fn network_policy_opens_port_5000_and_lets_everything_out() {
    let objects = rendered();
    let policy = rendered_one(&objects, "NetworkPolicy");
    let deployment = rendered_one(&objects, "Deployment");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    let mut types = strings(&policy["spec"]["policyTypes"]);
    types.sort_unstable();
    assert_eq!(types, ["Egress", "Ingress"]);
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"ports": [{"port": 5000, "protocol": "TCP"}]}])
    );
    assert_eq!(policy["spec"]["egress"], json!([{}]));
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 5000);
}

/// `deploy/redis` used as its README says: an overlay with `deploy/` as resource and the
/// component, rendered by the real `kubectl kustomize`.
fn rendered_with_redis() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let overlay = root
        .join("target")
        .join(format!("redis-overlay-{}", std::process::id()));
    fs::create_dir_all(&overlay).unwrap();
    fs::write(
        overlay.join("kustomization.yaml"),
        "resources: [../../deploy]\ncomponents: [../../deploy/redis]\n",
    )
    .unwrap();
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&overlay)
        .output()
        .expect("run kubectl (Debian package kubernetes-client)");
    let _ = fs::remove_dir_all(&overlay);
    assert!(
        output.status.success(),
        "kubectl kustomize of the Redis overlay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("rendered YAML"))
        .collect()
}

#[test]
fn the_redis_component_adds_a_tls_redis_the_replicas_share() {
    let objects = rendered_with_redis();
    let named = |kind: &str, name: &str| -> Value {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .clone()
    };
    let webhook = named("Deployment", "tastevin");
    assert_eq!(webhook["spec"]["replicas"], 3);
    let container = &webhook["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| -> Value {
        container["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    // The name is one `tastevin cert --service tastevin-redis --namespace tastevin` covers.
    assert_eq!(
        env("REDIS_HOST")["value"],
        "tastevin-redis.tastevin.svc:6379"
    );
    assert_eq!(
        env("REDIS_PASSWORD")["valueFrom"]["secretKeyRef"]["name"],
        "tastevin-redis"
    );
    let ca = env("REDIS_CA_PATH")["value"].as_str().unwrap().to_owned();
    let mounted = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| ca.starts_with(m["mountPath"].as_str().unwrap_or("-")));
    assert!(mounted, "{ca} is not mounted");
    // The base's own settings survive the patch.
    assert!(container["envFrom"][0]["configMapRef"]["name"] == "tastevin-env");

    let redis = named("Deployment", "tastevin-redis");
    let args: Vec<String> = redis["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    for pair in [
        ["--port", "0"],
        ["--tls-port", "6379"],
        ["--requirepass", "$(REDIS_PASSWORD)"],
    ] {
        assert!(
            args.windows(2).any(|w| w == pair),
            "{pair:?} not in {args:?}"
        );
    }
    let service = named("Service", "tastevin-redis");
    assert_eq!(service["spec"]["ports"][0]["port"], 6379);
    assert_eq!(service["metadata"]["namespace"], "tastevin");
}
