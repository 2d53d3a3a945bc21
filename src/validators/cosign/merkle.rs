//! Merkle inclusion proofs of a transparency log (RFC 9162 §2.1.3.2, as Rekor serves them
//! in a bundle's `inclusionProof`): from the leaf (the entry's canonicalized body) and the
//! audit path to the tree's root hash. The hashing is SHA-256 over aws-lc-rs, with RFC
//! 6962's domain separation (0x00 for leaves, 0x01 for interior nodes).

use std::fmt;

use aws_lc_rs::digest::{Context, SHA256};

/// Why a proof does not lead to the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The index is not inside a tree of that size (or either is negative).
    OutOfRange { index: i64, tree_size: i64 },
    /// The proof has more or fewer hashes than the tree shape needs.
    WrongLength,
    /// A hash that is not 32 bytes.
    BadHash,
    /// The path leads to another root.
    RootMismatch,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::OutOfRange { index, tree_size } => write!(
                f,
                "inclusion proof names entry {index} of a tree of {tree_size} entries"
            ),
            ProofError::WrongLength => {
                f.write_str("inclusion proof has the wrong number of hashes for its tree")
            }
            ProofError::BadHash => f.write_str("inclusion proof holds a hash that is not SHA-256"),
            ProofError::RootMismatch => {
                f.write_str("inclusion proof does not lead to the log's root hash")
            }
        }
    }
}

impl std::error::Error for ProofError {}

/// The RFC 6962 hash of a leaf.
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    hash(&[&[0x00], leaf])
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    hash(&[&[0x01], left, right])
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// Checks that the leaf with hash `leaf` is entry `index` of the tree of `tree_size`
/// entries whose root is `root`, by the audit path `proof` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &[u8; 32],
    index: i64,
    tree_size: i64,
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), ProofError> {
    let out_of_range = ProofError::OutOfRange { index, tree_size };
    let (Ok(index), Ok(tree_size)) = (u64::try_from(index), u64::try_from(tree_size)) else {
        return Err(out_of_range);
    };
    if index >= tree_size {
        return Err(out_of_range);
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if p.len() != 32 {
            return Err(ProofError::BadHash);
        }
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if r.as_slice() != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Test support: a whole tree built the slow, obvious way (RFC 9162 §2.1.1), for proofs
/// and roots the verifier is checked against.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// The root hash of `leaves` (leaf hashes).
    pub(crate) fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => hash(&[]),
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
            }
        }
    }

    /// The audit path of leaf `index` in `leaves`.
    pub(crate) fn path(index: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
        if leaves.len() <= 1 {
            return Vec::new();
        }
        let k = split(leaves.len());
        if index < k {
            let mut p = path(index, &leaves[..k]);
            p.push(root(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = path(index - k, &leaves[k..]);
            p.push(root(&leaves[..k]).to_vec());
            p
        }
    }

    /// The largest power of two smaller than `n`.
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{path, root};
    use super::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_is_proven() {
        for size in 1..=17 {
            let tree = leaves(size);
            let top = root(&tree);
            for (index, leaf) in tree.iter().enumerate() {
                let proof = path(index, &tree);
                assert_eq!(
                    verify_inclusion(leaf, index as i64, size as i64, &proof, &top),
                    Ok(()),
                    "leaf {index} of {size}"
                );
            }
        }
    }

    #[test]
    fn a_proof_for_something_else_fails() {
        let tree = leaves(11);
        let top = root(&tree);
        let proof = path(5, &tree);
        // Another leaf, another index, another root, a shortened or padded path.
        assert_eq!(
            verify_inclusion(&tree[4], 5, 11, &proof, &top),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&tree[5], 4, 11, &proof, &top),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&tree[5], 5, 11, &proof, &root(&leaves(12))),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&tree[5], 5, 11, &proof[1..], &top),
            Err(ProofError::WrongLength)
        );
        let mut long = proof.clone();
        long.push(vec![0; 32]);
        assert_eq!(
            verify_inclusion(&tree[5], 5, 11, &long, &top),
            Err(ProofError::WrongLength)
        );
        let mut short_hash = proof.clone();
        short_hash[0] = vec![0; 31];
        assert_eq!(
            verify_inclusion(&tree[5], 5, 11, &short_hash, &top),
            Err(ProofError::BadHash)
        );
        for (index, size) in [(11, 11), (-1, 11), (0, -3), (0, 0)] {
            assert_eq!(
                verify_inclusion(&tree[0], index, size, &proof, &top),
                Err(ProofError::OutOfRange {
                    index,
                    tree_size: size
                })
            );
        }
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        // RFC 6962 test vector: the hash of the empty leaf.
        let empty: String = leaf_hash(b"").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            empty,
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
