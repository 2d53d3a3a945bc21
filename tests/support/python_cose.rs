//! COSE_Sign1 envelopes made by an implementation independent of tastevin's `coset`: Python's
//! `cbor2` for CBOR and `cryptography` for ECDSA (Debian's `python3-cbor2` and
//! `python3-cryptography`). The script builds the Notary Project's protected header, the
//! `Sig_structure`, signs it with the harness's leaf key and writes the tagged COSE_Sign1,
//! so that tastevin's parser is checked against bytes it did not help to make.

use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::notation::Signer;
use super::TempDir;

const SCRIPT: &str = r#"
import json, sys
import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import load_der_private_key

directory, signing_time = sys.argv[1], int(sys.argv[2])
key = load_der_private_key(open(directory + "/key.der", "rb").read(), None)
chain = json.load(open(directory + "/chain.json"))
payload = open(directory + "/payload.json", "rb").read()
protected = cbor2.dumps({
    1: -7,
    2: ["io.cncf.notary.signingScheme"],
    3: "application/vnd.cncf.notary.payload.v1+json",
    "io.cncf.notary.signingScheme": "notary.x509",
    "io.cncf.notary.signingTime": cbor2.CBORTag(1, signing_time),
})
to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
r, s = utils.decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
unprotected = {33: [bytes.fromhex(c) for c in chain],
               "io.cncf.notary.signingAgent": "python cbor2"}
sys.stdout.buffer.write(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature])))
"#;

/// A tagged COSE_Sign1 by `signer` over the Notary Project payload naming `target`.
pub fn envelope(signer: &Signer, target: &Value) -> Vec<u8> {
    let dir = TempDir::new();
    let path = dir.path();
    fs::write(path.join("key.der"), &signer.pkcs8).expect("write key");
    let chain: Vec<String> = signer
        .chain
        .iter()
        .map(|der| der.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    fs::write(
        path.join("chain.json"),
        serde_json::to_vec(&chain).expect("chain JSON"),
    )
    .expect("write chain");
    let payload = serde_json::json!({ "targetArtifact": target });
    fs::write(path.join("payload.json"), payload.to_string()).expect("write payload");
    let signing_time = signer
        .signing_time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_else(|_| SystemTime::now().duration_since(UNIX_EPOCH).expect("clock"))
        .as_secs();
    // Debian's interpreter, which the Debian packages serve (a pyenv or venv python3
    // earlier on PATH would not see them).
    let output = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .arg(signing_time.to_string())
        .output()
        .expect(
            "run /usr/bin/python3 (Debian packages python3, python3-cbor2, python3-cryptography)",
        );
    assert!(
        output.status.success(),
        "python COSE signer: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
