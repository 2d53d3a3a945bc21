//! The `static` validator: `approve: true` admits every matched image as written,
//! `approve: false` denies it. No signature data, so nothing to pin: the "verified" digest is
//! whatever the reference already carries, and a tag-only image is never patched.

use super::{Outcome, Rejection};
use crate::image_ref::ImageRef;

pub fn validate(approve: bool, image: &ImageRef) -> Outcome {
    if approve {
        Outcome::Verified {
            digest: image.digest().map(str::to_owned),
        }
    } else {
        Outcome::Rejected(Rejection::StaticDeny)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff";

    fn image(raw: &str) -> ImageRef {
        ImageRef::parse(raw).expect("valid test reference")
    }

    #[test]
    fn item_33_approve_keeps_the_reference_as_written() {
        assert_eq!(
            validate(true, &image("nginx:1.25")),
            Outcome::Verified { digest: None }
        );
        assert_eq!(
            validate(true, &image(&format!("my.reg/app@{DIGEST}"))),
            Outcome::Verified {
                digest: Some(DIGEST.to_owned())
            }
        );
    }

    #[test]
    fn item_33_deny_rejects() {
        assert_eq!(
            validate(false, &image(&format!("my.reg/app@{DIGEST}"))),
            Outcome::Rejected(Rejection::StaticDeny)
        );
    }
}
