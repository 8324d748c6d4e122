//! docs/metrics.md is the contract for summary.json's names: every leaf a run writes is
//! documented there, and every documented name is written by some run.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const COVERAGE: &str = "tests/fixtures/metrics-coverage.toml";

/// The dotted names `docs/metrics.md` documents (the first cell of each table row).
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string("docs/metrics.md").unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Every leaf of `v` by dotted name: objects add `.key`, list elements `[]`; a null is a leaf,
/// an empty list or object has none (what it would hold is named by its elements' leaves).
fn leaves(v: &serde_json::Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        serde_json::Value::Array(items) => {
            for x in items {
                leaves(x, &format!("{path}[]"), out);
            }
        }
        _ => {
            out.insert(path.to_string());
        }
    }
}

/// `pattern` with `<rule>` standing for one key.
fn matches(pattern: &str, leaf: &str) -> bool {
    match pattern.split_once("<rule>") {
        None => pattern == leaf,
        Some((head, tail)) => leaf
            .strip_prefix(head)
            .and_then(|rest| rest.strip_suffix(tail))
            .is_some_and(|key| !key.is_empty() && !key.contains('.')),
    }
}

fn run(scenario_text: &str, dir: &Path, name: &str) -> BTreeSet<String> {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, scenario_text).unwrap();
    let out = dir.join(name);
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let mut set = BTreeSet::new();
    leaves(&serde_json::from_str(&summary).unwrap(), "", &mut set);
    set
}

#[test]
fn every_summary_leaf_is_documented_and_every_documented_name_is_written() {
    let dir = crate::common::scratch("metrics-doc");
    std::fs::create_dir_all(&dir).unwrap();
    let both = std::fs::read_to_string(COVERAGE).unwrap();
    let balance = both
        .find("[billing.balance]")
        .zip(both.find("[report]"))
        .expect("the coverage scenario has [billing.balance] before [report]");
    let no_balance = format!("{}{}", &both[..balance.0], &both[balance.1..]);
    let one_flow = |flow: &str| {
        let s = no_balance.replace(
            "flows = [\"reverse\", \"sms\"]",
            &format!("flows = [\"{flow}\"]"),
        );
        assert_ne!(s, no_balance, "the coverage scenario names both flows");
        s
    };
    let mut written = run(&both, &dir, "both");
    written.extend(run(&one_flow("sms"), &dir, "sms"));
    written.extend(run(&one_flow("reverse"), &dir, "reverse"));
    let doc = documented();
    assert!(doc.len() > 100, "docs/metrics.md lists {} names", doc.len());

    let undocumented: Vec<_> = written
        .iter()
        .filter(|leaf| !doc.iter().any(|p| matches(p, leaf)))
        .collect();
    let unwritten: Vec<_> = doc
        .iter()
        .filter(|p| !written.iter().any(|leaf| matches(p, leaf)))
        .collect();
    assert!(
        undocumented.is_empty(),
        "summary.json leaves missing from docs/metrics.md: {undocumented:?}"
    );
    assert!(
        unwritten.is_empty(),
        "docs/metrics.md names that no run writes: {unwritten:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rule_placeholders_match_one_key_only() {
    let p = "defences.sms_flow.blocked_by_rule.<rule>";
    assert!(matches(p, "defences.sms_flow.blocked_by_rule.per_number"));
    assert!(!matches(p, "defences.sms_flow.blocked_by_rule."));
    assert!(!matches(p, "defences.sms_flow.blocked_by_rule.a.b"));
    assert!(!matches(p, "defences.sms_flow.alerts_by_rule.per_number"));
}
