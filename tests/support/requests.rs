//! Request bytes and AdmissionReview bodies the tests send.

/// `METHOD path HTTP/1.1` with a Host header, the given extra header lines, and `body`
/// framed by Content-Length when not empty.
pub fn request(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn get(path: &str) -> Vec<u8> {
    request("GET", path, &[], b"")
}

/// `POST /mutate` with a JSON AdmissionReview body.
pub fn mutate(body: &[u8]) -> Vec<u8> {
    request("POST", "/mutate", &["Content-Type: application/json"], body)
}

/// A minimal AdmissionReview for creating a one-container Pod.
pub fn admission_review(uid: &str) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "web",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "tester", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"containers": [{"name": "web", "image": "docker.io/library/nginx:1.27"}]}
            },
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
    .to_string()
    .into_bytes()
}

/// The `response.uid` and `response.allowed` of an AdmissionReview answer body.
pub fn review_verdict(body: &[u8]) -> (String, bool) {
    let review: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "answer is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    let response = &review["response"];
    let uid = response["uid"]
        .as_str()
        .unwrap_or_else(|| panic!("no response.uid in {review}"))
        .to_string();
    let allowed = response["allowed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no response.allowed in {review}"));
    (uid, allowed)
}

/// `body` in chunked transfer coding, split into `parts` chunks.
pub fn chunked(body: &[u8], parts: usize) -> Vec<u8> {
    let size = body.len().div_ceil(parts).max(1);
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
