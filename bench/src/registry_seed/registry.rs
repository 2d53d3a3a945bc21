//! Pushes images and their cosign signatures to a TLS registry with the distribution API
//! (blob upload by POST then monolithic PUT, manifest PUT): one blocking request per TLS
//! connection (`Connection: close`), responses read to the end and framed with httparse.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{digest, SHA256};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::json;

use crate::cosign::{self, Signer, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Registry answers to pushes are small; anything larger is not a registry.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub enum PushError {
    Io {
        what: String,
        why: std::io::Error,
    },
    Tls(rustls::Error),
    Malformed(String),
    Refused {
        what: String,
        status: u16,
        body: String,
    },
    Sign(cosign::SignerError),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Io { what, why } => write!(f, "{what}: {why}"),
            PushError::Tls(e) => write!(f, "TLS with the registry failed: {e}"),
            PushError::Malformed(why) => write!(f, "the registry's answer is not HTTP: {why}"),
            PushError::Refused { what, status, body } => {
                write!(
                    f,
                    "the registry refused to {what} (status {status}): {body}"
                )
            }
            PushError::Sign(e) => write!(f, "{e}"),
        }
    }
}

/// A response: status, the headers the pushes need, body.
struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// A TLS registry at `addr`, addressed as `host` (`127.0.0.1:PORT`) in image references.
pub struct Registry {
    addr: SocketAddr,
    host: String,
    tls: Arc<ClientConfig>,
}

/// `sha256:<hex>` of `bytes`, as registries name blobs and manifests.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = digest(&SHA256, bytes);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Registry {
    pub fn new(addr: SocketAddr, tls: Arc<ClientConfig>) -> Registry {
        Registry {
            addr,
            host: addr.to_string(),
            tls,
        }
    }

    fn request(
        &self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, PushError> {
        let io = |what: &str| {
            let what = format!("{method} {target} on {}: {what}", self.host);
            move |why| PushError::Io { what, why }
        };
        let tcp = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).map_err(io("connect"))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(io("set timeout"))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))
            .map_err(io("set timeout"))?;
        let name = ServerName::try_from(self.addr.ip().to_string())
            .map_err(|e| PushError::Malformed(e.to_string()))?;
        let session = ClientConnection::new(Arc::clone(&self.tls), name).map_err(PushError::Tls)?;
        let mut stream = StreamOwned::new(session, tcp);
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.host,
            body.len()
        );
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(io("write"))?;
        stream.write_all(body).map_err(io("write"))?;
        stream.flush().map_err(io("write"))?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                // distribution closes without close_notify after `Connection: close`.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io("read")(e)),
            }
            if raw.len() > MAX_RESPONSE_BYTES {
                return Err(PushError::Malformed(format!(
                    "more than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
        }
        parse_response(&raw)
    }

    fn expect(&self, what: &str, wanted: u16, response: Response) -> Result<Response, PushError> {
        if response.status == wanted {
            Ok(response)
        } else {
            Err(PushError::Refused {
                what: what.to_string(),
                status: response.status,
                body: String::from_utf8_lossy(&response.body).into_owned(),
            })
        }
    }

    /// Uploads a blob (POST, then a monolithic PUT); its digest.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> Result<String, PushError> {
        let digest = sha256_digest(bytes);
        let what = format!("upload a blob to {repository}");
        let started = self.request(
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            None,
            b"",
        )?;
        let started = self.expect(&what, 202, started)?;
        let location = started
            .location
            .ok_or_else(|| PushError::Malformed("upload answer without Location".to_string()))?;
        // distribution answers with an absolute URL that already has a query.
        let path = location
            .find("/v2/")
            .and_then(|at| location.get(at..))
            .ok_or_else(|| PushError::Malformed(format!("upload Location '{location}'")))?;
        let separator = if path.contains('?') { '&' } else { '?' };
        let put = self.request(
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            Some("application/octet-stream"),
            bytes,
        )?;
        self.expect(&what, 201, put)?;
        Ok(digest)
    }

    /// Stores a manifest at a tag; the digest of its bytes.
    fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, PushError> {
        let put = self.request(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            Some(media_type),
            bytes,
        )?;
        self.expect(&format!("store the manifest {repository}:{tag}"), 201, put)?;
        Ok(sha256_digest(bytes))
    }

    /// Pushes a small Docker schema 2 image unique to `tag` (one layer, one config) and a cosign
    /// signature of it by `signer`; the image reference and its digest.
    pub fn push_signed_image(
        &self,
        repository: &str,
        tag: &str,
        signer: &Signer,
    ) -> Result<(String, String), PushError> {
        let reference = format!("{}/{repository}", self.host);
        let layer = format!("layer of {reference}:{tag}").into_bytes();
        let layer_digest = self.push_blob(repository, &layer)?;
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "config": {"Labels": {"tag": tag}},
        })
        .to_string()
        .into_bytes();
        let config_digest = self.push_blob(repository, &config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": layer.len(), "digest": layer_digest}],
        })
        .to_string()
        .into_bytes();
        let digest = self.push_manifest(repository, tag, DOCKER_MANIFEST, &manifest)?;
        self.push_signature(repository, &reference, &digest, signer)?;
        Ok((format!("{reference}:{tag}"), digest))
    }

    /// Stores cosign's signature manifest of `digest` at the tag `sha256-<hex>.sig`: an OCI
    /// manifest with one simple-signing layer whose annotation signs the layer's blob.
    fn push_signature(
        &self,
        repository: &str,
        reference: &str,
        digest: &str,
        signer: &Signer,
    ) -> Result<(), PushError> {
        let payload = cosign::payload(reference, digest);
        let signature = signer.sign_base64(&payload).map_err(PushError::Sign)?;
        let payload_digest = self.push_blob(repository, &payload)?;
        let config =
            br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = self.push_blob(repository, config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "size": payload.len(),
                        "digest": payload_digest,
                        "annotations": {SIGNATURE_ANNOTATION: signature}}],
        })
        .to_string()
        .into_bytes();
        let tag = signature_tag(digest)?;
        self.push_manifest(repository, &tag, OCI_MANIFEST, &manifest)?;
        Ok(())
    }
}

/// cosign's tag for the signatures of `sha256:<hex>`: `sha256-<hex>.sig`.
fn signature_tag(digest: &str) -> Result<String, PushError> {
    digest
        .strip_prefix("sha256:")
        .map(|hex| format!("sha256-{hex}.sig"))
        .ok_or_else(|| PushError::Malformed(format!("digest '{digest}' is not sha256")))
}

fn parse_response(raw: &[u8]) -> Result<Response, PushError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return Err(PushError::Malformed(
                "response ends inside its head".to_string(),
            ))
        }
        Err(e) => return Err(PushError::Malformed(e.to_string())),
    };
    let status = parsed
        .code
        .ok_or_else(|| PushError::Malformed("no status".to_string()))?;
    let location = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("location"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    Ok(Response {
        status,
        location,
        body: raw.get(head_len..).unwrap_or_default().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_signature_tags() {
        let digest = sha256_digest(b"");
        assert_eq!(
            digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signature_tag(&digest).unwrap(),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig"
        );
        assert!(signature_tag("sha512:00").is_err());
    }

    #[test]
    fn responses_give_status_location_and_body() {
        let response = parse_response(
            b"HTTP/1.1 202 Accepted\r\nLocation: https://h/v2/a/blobs/uploads/x?_state=s\r\nContent-Length: 2\r\n\r\nok",
        )
        .unwrap();
        assert_eq!(response.status, 202);
        assert_eq!(
            response.location.as_deref(),
            Some("https://h/v2/a/blobs/uploads/x?_state=s")
        );
        assert_eq!(response.body, b"ok");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
