//! Backward compatibility: every shipped scenario and a few files in older formats give the same
//! numbers for the same seed as when their reference was recorded.
//!
//! References live in `tests/fixtures/compat/golden/` (one `summary.json` and one
//! `timeline.csv` per file). Reports may grow (new keys, new columns): every key and column of
//! the reference must still be there with the same value. Runs are cut to [`CAP_MS`] of virtual
//! time so the suite stays fast in a debug build; the cut is part of the recorded input.
//!
//! A file without a reference fails. Record one (for a new scenario only, never to make a
//! changed number pass) with `MO2FA_BLESS=1 cargo test -p mo2fa-sim compat`.

use super::run_scenario;
use mo2fa_sim::report;
use mo2fa_sim::scenario::{Dur, Scenario};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Virtual time each file is run for, at most.
const CAP_MS: u64 = 6 * 3_600_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Scenario files under `dir`, recursively, skipping the cost model's inputs and reference data.
fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !matches!(name, "mixes" | "prices" | "data") {
                scenario_files(&p, out);
            }
        } else if name.ends_with(".toml") {
            out.push(p);
        }
    }
}

fn golden_name(rel: &Path) -> String {
    rel.to_string_lossy().replace(['/', '\\'], "__")
}

/// Every leaf of `want` is in `got` with the same value; `got` may hold more.
fn same_leaves(want: &Value, got: &Value, path: &str, diffs: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) => same_leaves(v, gv, &format!("{path}.{k}"), diffs),
                    None => diffs.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                diffs.push(format!("{path}: {} items, was {}", g.len(), w.len()));
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                same_leaves(wv, gv, &format!("{path}[{i}]"), diffs);
            }
        }
        _ if want != got => diffs.push(format!("{path}: {got}, was {want}")),
        _ => {}
    }
}

/// Every column of the reference timeline is in `got`, row for row.
fn same_columns(want: &str, got: &str, diffs: &mut Vec<String>) {
    let table = |text: &str| -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let head = r.headers().unwrap().iter().map(String::from).collect();
        let rows = r
            .records()
            .map(|rec| rec.unwrap().iter().map(String::from).collect())
            .collect();
        (head, rows)
    };
    let (wh, wr) = table(want);
    let (gh, gr) = table(got);
    if wr.len() != gr.len() {
        diffs.push(format!("timeline: {} rows, was {}", gr.len(), wr.len()));
        return;
    }
    for (wi, col) in wh.iter().enumerate() {
        let Some(gi) = gh.iter().position(|h| h == col) else {
            diffs.push(format!("timeline: column {col} missing"));
            continue;
        };
        if let Some(row) = (0..wr.len()).find(|&r| wr[r][wi] != gr[r][gi]) {
            diffs.push(format!(
                "timeline: {col} row {}: {}, was {}",
                row + 1,
                gr[row][gi],
                wr[row][wi]
            ));
        }
    }
}

#[test]
fn shipped_and_old_format_scenarios_give_the_recorded_numbers() {
    let root = root();
    let mut files = Vec::new();
    scenario_files(&root.join("scenarios"), &mut files);
    scenario_files(&root.join("tests/fixtures/compat/old"), &mut files);
    assert!(files.len() >= 10, "found only {files:?}");
    let golden = root.join("tests/fixtures/compat/golden");
    let bless = std::env::var_os("MO2FA_BLESS").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap();
        let mut sc = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        sc.run.duration = Dur(sc.run.duration.ms().min(CAP_MS));
        let (sc, o) = run_scenario(sc, None);
        let summary = report::summary_json(&sc, "compat", sc.run.seed, &o);
        let timeline = report::timeline_csv(&sc, &o).unwrap();
        let base = golden.join(golden_name(rel));
        let (json_path, csv_path) = (
            base.with_extension("summary.json"),
            base.with_extension("timeline.csv"),
        );
        if !json_path.exists() {
            if bless {
                std::fs::create_dir_all(&golden).unwrap();
                std::fs::write(&json_path, &summary).unwrap();
                std::fs::write(&csv_path, &timeline).unwrap();
            } else {
                failures.push(format!("{}: no reference recorded", rel.display()));
            }
            continue;
        }
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap())
            .expect("reference summary is JSON");
        let got: Value = serde_json::from_str(&summary).expect("summary is JSON");
        let mut diffs = Vec::new();
        same_leaves(&want, &got, "summary", &mut diffs);
        same_columns(
            &std::fs::read_to_string(&csv_path).unwrap(),
            &timeline,
            &mut diffs,
        );
        if !diffs.is_empty() {
            failures.push(format!("{}:\n  {}", rel.display(), diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_comparison_sees_a_changed_number_and_a_lost_column() {
    let want: Value = serde_json::json!({"a": {"b": [1, 2]}, "c": "0.10"});
    let mut diffs = Vec::new();
    same_leaves(
        &want,
        &serde_json::json!({"a": {"b": [1, 2], "new": 3}, "c": "0.10"}),
        "s",
        &mut diffs,
    );
    assert!(diffs.is_empty(), "{diffs:?}");
    same_leaves(
        &want,
        &serde_json::json!({"a": {"b": [1, 3]}, "c": "0.10"}),
        "s",
        &mut diffs,
    );
    assert_eq!(diffs, ["s.a.b[1]: 3, was 2"]);
    let mut diffs = Vec::new();
    same_columns("t,x\n1,2\n", "t,new,x\n1,9,2\n", &mut diffs);
    assert!(diffs.is_empty(), "{diffs:?}");
    same_columns("t,x\n1,2\n", "t,y\n1,2\n", &mut diffs);
    assert_eq!(diffs, ["timeline: column x missing"]);
}
