//! The README's test command (`scripts/test`) on a machine without the tests' programs: it
//! names every Debian package it would install, and `.ci/run` calls exactly that command.

use std::path::Path;
use std::process::Command;

const PROJECT: &str = env!("CARGO_MANIFEST_DIR");

/// A PATH with only the shell tools the script itself uses, so none of the tests' programs
/// (promtool, docker-registry, notary-server, …) and no rustup can be found.
fn bare_path(dir: &Path) -> String {
    for tool in ["bash", "env", "dirname", "uname", "grep", "id"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found in /usr/bin or /bin"));
        std::os::unix::fs::symlink(found, dir.join(tool)).expect("link a shell tool");
    }
    dir.display().to_string()
}

#[test]
fn on_a_bare_machine_it_names_what_it_would_install() {
    let dir = std::env::temp_dir().join(format!("tastevin-bare-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let output = Command::new(dir.join("bash"))
        .arg(Path::new(PROJECT).join("scripts/test"))
        .arg("--no-install")
        .env("PATH", bare_path(&dir))
        .output()
        .expect("run scripts/test");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    for package in [
        "prometheus",
        "docker-registry",
        "redis-server",
        "notary",
        "openssl",
        "bubblewrap",
        "musl-tools",
        "kubernetes-client",
        "squid",
        "python3-venv",
    ] {
        assert!(
            stderr.split_whitespace().any(|word| word == package),
            "{package} is not named: {stderr}"
        );
    }
    assert!(stderr.contains("pip install sigstore=="), "{stderr}");
    if cfg!(target_arch = "x86_64") {
        assert!(
            stderr.contains("rustup target add x86_64-unknown-linux-musl"),
            "{stderr}"
        );
    }
}

#[test]
fn ci_and_readme_run_the_same_test_command() {
    let readme = std::fs::read_to_string(Path::new(PROJECT).join("README.md")).expect("README");
    let ci = std::fs::read_to_string(Path::new(PROJECT).join(".ci/run")).expect(".ci/run");
    let setup = readme
        .split("## Set-up")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Set-up section");
    assert!(
        setup.contains("```sh\nscripts/test\n```"),
        "README's Set-up gives `scripts/test` as the test command"
    );
    assert!(
        ci.lines().any(|line| line.trim() == "scripts/test"),
        ".ci/run calls scripts/test"
    );
    assert!(
        !ci.contains("cargo test"),
        ".ci/run runs the tests only through scripts/test"
    );
}
