//! `link/hot-text.ld` (written by `scripts/hot-text`, applied by `build.rs`) is in effect and
//! not stale: tastevin's own functions that it names still exist, and the linker gathered them
//! into `.text.hot` at the front of the code, where start-up and serving touch few pages.

use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (binutils) could not run: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `*` matches any run of characters; nothing else is special (as the script uses globs).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The address range of the binary's `.text.hot` section.
fn hot_range(binary: &str) -> (u64, u64) {
    let sections = run("readelf", &["-SW", binary]);
    let line = sections
        .lines()
        .find(|l| l.contains(" .text.hot "))
        .unwrap_or_else(|| panic!("{binary} has no .text.hot section: is build.rs applied?"));
    let fields: Vec<&str> = line
        .split_whitespace()
        .skip_while(|f| *f != ".text.hot")
        .collect();
    let address = u64::from_str_radix(fields[2], 16).expect("section address");
    let size = u64::from_str_radix(fields[4], 16).expect("section size");
    (address, address + size)
}

#[test]
fn globs_match_as_the_linker_does() {
    assert!(glob_matches(
        "_ZN8tastevin3cli4main17h*",
        "_ZN8tastevin3cli4main17h0123E"
    ));
    assert!(glob_matches("a*b*c", "a-b-b-c"));
    assert!(glob_matches("exact", "exact"));
    assert!(!glob_matches("exact", "exactly"));
    assert!(!glob_matches("a*bc", "abxc"));
    assert!(!glob_matches("ab*ba", "aba"));
}

#[test]
fn the_hot_functions_are_gathered_at_the_front_of_the_code() {
    let binary = env!("CARGO_BIN_EXE_tastevin");
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/link/hot-text.ld"))
        .expect("link/hot-text.ld");
    // tastevin's own functions, in per-function sections of their own name (a debug build
    // has no cold-section prefixes and no LTO clones, so those patterns are left out).
    let names: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("*(.text.")?.strip_suffix(')'))
        .filter(|n| n.starts_with("_ZN") && n.contains("tastevin") && !n.ends_with(".*"))
        .collect();
    assert!(
        names.len() > 100,
        "only {} tastevin functions in link/hot-text.ld",
        names.len()
    );

    let (start, end) = hot_range(binary);
    let symbols: Vec<(u64, String)> = run("nm", &["--defined-only", binary])
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let address = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            let name = f.next()?;
            matches!(kind, "t" | "T").then(|| (address, name.to_string()))
        })
        .filter(|(_, n)| n.starts_with("_ZN") && n.contains("tastevin"))
        .collect();

    let mut found = 0;
    let mut elsewhere = Vec::new();
    for name in &names {
        let matching: Vec<&(u64, String)> = symbols
            .iter()
            .filter(|(_, s)| glob_matches(name, s))
            .collect();
        if !matching.is_empty() {
            found += 1;
        }
        elsewhere.extend(
            matching
                .iter()
                .filter(|(a, _)| !(start..end).contains(a))
                .map(|(_, s)| s.clone()),
        );
    }
    assert!(
        elsewhere.is_empty(),
        "named in link/hot-text.ld but linked outside .text.hot: {elsewhere:?}"
    );
    // Renamed or removed functions stay in the script until it is regenerated; most must
    // still be there, or the hot code is no longer gathered and the idle RSS grows back.
    assert!(
        found * 10 >= names.len() * 8,
        "link/hot-text.ld is stale ({found} of {} tastevin functions found): run scripts/hot-text",
        names.len()
    );
}
