//! Transparency log checkpoints (the signed note format of Go's `golang.org/x/mod/sumdb/note`,
//! as Rekor writes them in a bundle's `inclusionProof.checkpoint.envelope`):
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\n[extension lines]\n\n— <name> <base64(key hash[4] ‖ signature)>\n
//! ```
//!
//! A checkpoint counts when a signature line whose key hash names the configured log key
//! verifies over the note's text (everything before the blank line, with its newline).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::scheme;
use crate::crypto::PublicKey;

/// Largest checkpoint read.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;
/// Most signature lines looked at.
const MAX_SIGNATURE_LINES: usize = 16;

/// A checkpoint whose signature verified under the log key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
}

/// Why a checkpoint does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointError {
    Malformed(&'static str),
    /// No signature line is by the configured log key.
    NotSignedByLog,
    /// The line by the log key does not verify.
    BadSignature,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Malformed(what) => write!(f, "malformed log checkpoint: {what}"),
            CheckpointError::NotSignedByLog => {
                f.write_str("log checkpoint is not signed by the configured Rekor key")
            }
            CheckpointError::BadSignature => {
                f.write_str("log checkpoint signature does not verify with the Rekor public key")
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

/// The note key hash of a log key, as Rekor uses it: the first 4 bytes of SHA-256 over the
/// key's SubjectPublicKeyInfo DER.
fn key_hash(key: &PublicKey) -> [u8; 4] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.spki_der());
    // SHA-256 output always has more than 4 bytes.
    digest
        .as_ref()
        .first_chunk::<4>()
        .copied()
        .unwrap_or_default()
}

/// Verifies `envelope` under `log_key` and reads what it commits to.
pub fn verify(envelope: &str, log_key: &PublicKey) -> Result<Checkpoint, CheckpointError> {
    if envelope.len() > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::Malformed("larger than 16 KiB"));
    }
    let split = envelope.find("\n\n").ok_or(CheckpointError::Malformed(
        "no blank line before the signatures",
    ))?;
    // The signed text keeps its final newline.
    let (text, signatures) = (
        envelope.get(..=split).unwrap_or_default(),
        envelope.get(split + 2..).unwrap_or_default(),
    );
    let mut lines = text.lines();
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or(CheckpointError::Malformed("no origin line"))?;
    let tree_size = lines
        .next()
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|size| *size >= 0)
        .ok_or(CheckpointError::Malformed("no tree size line"))?;
    let root_hash = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .filter(|hash| hash.len() == 32)
        .ok_or(CheckpointError::Malformed("no SHA-256 root hash line"))?;
    let wanted = key_hash(log_key);
    let mut by_log = None;
    for line in signatures.lines().take(MAX_SIGNATURE_LINES) {
        let signed = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.rsplit_once(' '))
            .and_then(|(_name, b64)| STANDARD.decode(b64).ok())
            .filter(|bytes| bytes.len() > 4)
            .ok_or(CheckpointError::Malformed("unreadable signature line"))?;
        if let Some((hash, signature)) = signed.split_first_chunk::<4>() {
            if *hash == wanted {
                by_log = Some(signature.to_vec());
                break;
            }
        }
    }
    let signed = by_log.ok_or(CheckpointError::NotSignedByLog)?;
    scheme::verify(log_key, text.as_bytes(), &signed).map_err(|_| CheckpointError::BadSignature)?;
    Ok(Checkpoint {
        origin: origin.to_owned(),
        tree_size,
        root_hash,
    })
}

/// Test support: checkpoints signed by a test log key.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::crypto::tests::TestSigner;

    /// A checkpoint of `origin` for a tree of `size` with `root`, signed by `log`.
    pub(crate) fn signed(log: &TestSigner, origin: &str, size: u64, root: &[u8]) -> String {
        let text = format!("{origin}\n{size}\n{}\n", STANDARD.encode(root));
        let mut sig = key_hash(&log.public_key()).to_vec();
        sig.extend(log.sign(text.as_bytes()));
        format!("{text}\n\u{2014} {origin} {}\n", STANDARD.encode(sig))
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::signed;
    use super::*;
    use crate::crypto::tests::TestSigner;

    const ORIGIN: &str = "rekor.test - 1193050959916656506";

    #[test]
    fn a_checkpoint_signed_by_the_log_verifies() {
        let log = TestSigner::p256();
        let note = signed(&log, ORIGIN, 8, &[3; 32]);
        assert_eq!(
            verify(&note, &log.public_key()),
            Ok(Checkpoint {
                origin: ORIGIN.to_owned(),
                tree_size: 8,
                root_hash: vec![3; 32],
            })
        );
        // Another witness's line first does not hide the log's.
        let other = TestSigner::p256();
        let theirs = signed(&other, ORIGIN, 8, &[3; 32]);
        let other_line = theirs.lines().last().unwrap_or_default();
        let (text, log_line) = note.split_once("\n\n").unwrap_or_default();
        let both = format!("{text}\n\n{other_line}\n{log_line}");
        assert!(verify(&both, &log.public_key()).is_ok());
    }

    #[test]
    fn forged_or_foreign_checkpoints_fail() {
        let (log, impostor) = (TestSigner::p256(), TestSigner::p256());
        assert_eq!(
            verify(&signed(&impostor, ORIGIN, 8, &[3; 32]), &log.public_key()),
            Err(CheckpointError::NotSignedByLog)
        );
        // The log's signature over another root, with the root swapped afterwards.
        let note = signed(&log, ORIGIN, 8, &[3; 32]);
        let swapped = note.replace(&STANDARD.encode([3u8; 32]), &STANDARD.encode([4u8; 32]));
        assert_eq!(
            verify(&swapped, &log.public_key()),
            Err(CheckpointError::BadSignature)
        );
        for broken in [
            "",
            "origin\n8\n",
            "origin\nx\nAAAA\n\n\u{2014} o AAAA\n",
            "origin\n8\nAAAA\n\n\u{2014} o AAAAAAAA\n",
            "\n8\nAAAA\n\n",
        ] {
            assert!(
                matches!(
                    verify(broken, &log.public_key()),
                    Err(CheckpointError::Malformed(_))
                ),
                "{broken:?}"
            );
        }
    }
}
