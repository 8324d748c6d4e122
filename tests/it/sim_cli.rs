//! `mo2fa run` end to end: a short scenario, byte-identical reruns, and a bad scenario.

use std::process::Command;

fn mo2fa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn quickstart_runs_and_reruns_byte_identically() {
    let dir = crate::common::scratch("sim-cli");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for out in [&a, &b] {
        let o = mo2fa(&[
            "run",
            "tests/fixtures/short-run.toml",
            "--out",
            out.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.contains("events/s"), "{stdout}");
    }
    for f in ["summary.json", "timeline.csv", "summary.md", "report.html"] {
        let x = std::fs::read(a.join(f)).unwrap();
        assert!(!x.is_empty());
        assert_eq!(
            x,
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between runs"
        );
    }
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Attacks and defences"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["legit"]["double_verified"], 0);
    assert!(summary["sms"]["pumped_sms_flow"].as_u64().unwrap() > 100);
    // Both flows priced by the cost model from what the run sent; pumping only hits SMS OTP.
    let sms_total: f64 = summary["cost_model_usd"]["sms_flow"]["total"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rev_total: f64 = summary["cost_model_usd"]["reverse_flow"]["total"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        sms_total > rev_total && rev_total > 0.0,
        "{sms_total} vs {rev_total}"
    );
    assert_eq!(
        summary["cost_model_usd"]["reverse_flow"]["pumped_sms"],
        "0.00"
    );
    assert!(html.contains("What it cost"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_scenario_names_file_line_and_key() {
    let o = mo2fa(&[
        "run",
        "tests/fixtures/bad-scenario.toml",
        "--out",
        "/nonexistent/never",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "tests/fixtures/bad-scenario.toml:14: emitter.drop_rate: 2.5 is not a probability"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_scenario_is_a_clear_error() {
    let o = mo2fa(&["run", "scenarios/no-such.toml"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("scenarios/no-such.toml: cannot read"));
}

#[test]
fn errors_are_one_line_even_with_backtraces_enabled() {
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(["run", "scenarios/no-such.toml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: ") && err.contains("scenarios/no-such.toml: cannot read"));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// A `--duration` that cuts an attack says so, naming it; the file's own attacks past its
/// duration are an error, so a cut on the command line is never silent.
#[test]
fn a_duration_that_cuts_an_attack_says_so() {
    let o = mo2fa(&[
        "run",
        "scenarios/quickstart.toml",
        "--check",
        "--duration",
        "2h",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: --duration 2h leaves out attack pumping wave (9h–15h)"),
        "{stderr}"
    );
    let o = mo2fa(&[
        "run",
        "scenarios/quickstart.toml",
        "--check",
        "--duration",
        "12h",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: --duration 12h cuts attack pumping wave (9h–15h) short at 12h"),
        "{stderr}"
    );
    let o = mo2fa(&[
        "run",
        "scenarios/quickstart.toml",
        "--check",
        "--duration",
        "1d",
    ]);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `--live` at 1x would replay a day in a day: it needs a speed.
#[test]
fn live_needs_a_speed() {
    let o = mo2fa(&["run", "tests/fixtures/short-run.toml", "--live"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("--live needs --speed"), "{stderr}");
}

/// A run never silently replaces the report of another run: it stops before running unless
/// given --force; the same run again replaces its own report.
#[test]
fn a_report_of_another_run_is_replaced_only_with_force() {
    let dir = crate::common::scratch("replace");
    let out = dir.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "tests/fixtures/short-run.toml", "--out", out];
        args.extend_from_slice(extra);
        mo2fa(&args)
    };
    assert!(run(&["--seed", "1"]).status.success());
    let first = std::fs::read(dir.join("summary.json")).unwrap();
    // The same run again: its own report is replaced.
    assert!(run(&["--seed", "1"]).status.success());
    let o = run(&["--seed", "2"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("holds the report of another run (short-run, seed 1, 3h)")
            && stderr.contains("this run (short-run, seed 2, 3h)")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.join("summary.json")).unwrap(), first);
    let o = run(&["--duration", "1h", "--seed", "1"]);
    assert!(!o.status.success(), "another duration is another run");
    assert!(run(&["--seed", "2", "--force"]).status.success());
    assert_ne!(std::fs::read(dir.join("summary.json")).unwrap(), first);
    std::fs::remove_dir_all(&dir).ok();
}
