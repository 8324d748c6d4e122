//! ARCHITECTURE.md's dependency table is the workspace's: each crate's `mo2fa-*` dependencies
//! as its Cargo.toml declares them, no more and no less.

use std::collections::{BTreeMap, BTreeSet};

/// The `mo2fa-*` names in a manifest's `[dependencies]` table.
fn workspace_deps(manifest: &str) -> BTreeSet<String> {
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && line.starts_with("mo2fa-") {
            let name = line.split(['.', ' ', '=']).next().unwrap_or("");
            out.insert(name.to_string());
        }
    }
    out
}

/// The package name of a manifest.
fn package_name(manifest: &str) -> String {
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| l.trim().strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a [package] name")
        .to_string()
}

#[test]
fn the_dependency_table_is_the_workspaces() {
    let mut actual = BTreeMap::new();
    let mut manifests = vec![std::path::PathBuf::from("Cargo.toml")];
    for e in std::fs::read_dir("crates").unwrap() {
        manifests.push(e.unwrap().path().join("Cargo.toml"));
    }
    for path in manifests {
        let text = std::fs::read_to_string(&path).unwrap();
        actual.insert(package_name(&text), workspace_deps(&text));
    }
    let doc = std::fs::read_to_string("ARCHITECTURE.md").unwrap();
    let mut documented = BTreeMap::new();
    for row in doc.lines().filter_map(|l| l.strip_prefix("| `mo2fa")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = format!("mo2fa{}", cells[0].trim_end_matches('`'));
        let deps: BTreeSet<String> = cells[1]
            .split(',')
            .map(str::trim)
            .filter(|d| d.starts_with("mo2fa-"))
            .map(String::from)
            .collect();
        documented.insert(name, deps);
    }
    assert!(actual.len() >= 9, "{actual:?}");
    assert_eq!(
        documented, actual,
        "ARCHITECTURE.md's dependency table differs from the Cargo.toml files"
    );
}
