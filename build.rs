//! Links the tastevin binary with `link/hot-text.ld`, which gathers the functions run at
//! start-up and while serving at the front of the code, so that the few 64 KiB windows the
//! kernel maps around them are most of the idle RSS (see `scripts/hot-text`).

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    // An ELF linker script (GNU ld and lld alike); other platforms link as they would.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let Ok(root) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let script = Path::new(&root).join("link").join("hot-text.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    // The position-independent glibc build's relocations as a bitmap (DT_RELR, glibc 2.36 and
    // later) instead of 24 bytes each: the dynamic loader reads them all at start-up, and 200
    // KiB of table would stay mapped.
    if env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
