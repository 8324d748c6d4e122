//! `mo2fa load` through the real binary: a short goose run against the in-process server and
//! against a `mo2fa serve` child, with both reports written and every flow verified. Built
//! with `--features load` (goose); without it, `load` must say how to get it.

#![cfg_attr(not(feature = "load"), allow(dead_code, unused_imports))]

use crate::common;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");

fn out_dir(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("cli-load-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn check(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// load.json, after checking the flows: all verified, as many as the server counted.
fn flows_all_verified(dir: &std::path::Path, stdout: &str) -> Value {
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.join("load.json")).expect("load.json is written"),
    )
    .expect("load.json is JSON");
    let tx = |name: &str| -> Value {
        report["transactions"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} row: {report}"))
    };
    let flow = tx("flow");
    let flows = flow["count"].as_u64().unwrap();
    assert!(flows > 0, "{stdout}");
    assert_eq!(flow["failures"], 0, "{stdout}");
    assert_eq!(
        report["server"]["verifications"].as_u64(),
        Some(flows),
        "{stdout}"
    );
    assert_eq!(report["flows_verified"].as_u64(), Some(flows));
    assert_eq!(report["server"]["bad_signatures"], 0);
    assert_eq!(report["problems"], serde_json::json!([]));
    let html = std::fs::read_to_string(dir.join("goose.html")).expect("goose.html is written");
    assert!(
        html.contains("<html") && html.contains("/2fa/start"),
        "goose's HTML report"
    );
    assert!(dir.join("load.md").is_file());
    report
}

#[cfg(not(feature = "load"))]
#[test]
fn without_goose_load_says_how_to_build_it() {
    let out = Command::new(BIN)
        .args(["load", "--run-time", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features load"), "{err}");
}

#[cfg(feature = "load")]
#[test]
fn short_run_against_the_in_process_server() {
    let dir = out_dir("in-process");
    let out = Command::new(BIN)
        .args([
            "load",
            "--users",
            "4",
            "--hatch-rate",
            "40",
            "--duration",
            "2s",
        ])
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = check(&out);
    // goose's own log lines (users launched, phases, its logger set-up) only show with -v, and
    // nothing is coloured when stderr is not a terminal.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("INFO") && !stderr.contains("CombinedLogger"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let report = flows_all_verified(&dir, &stdout);
    for name in ["webhook_flood", "start_flood", "status_poll"] {
        let row = report["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        assert!(row["count"].as_u64().unwrap() > 0, "{name} ran: {stdout}");
        assert_eq!(row["failures"], 0, "{name}: {stdout}");
    }
    // Flood codes never match (their sender is bound to nothing) and are not redelivered.
    assert!(report["server"]["no_match"].as_u64().unwrap() > 0);
    assert_eq!(report["server"]["duplicates"], 0);
    // goose's tables are in files, not printed before our summary.
    // (goose's own one-line notices, such as "All 4 users launched.", may come first.)
    let summary = stdout.lines().position(|l| l.starts_with("mo2fa load:"));
    assert!(summary.is_some_and(|i| i < 4), "{stdout}");
    assert!(!stdout.contains("PER REQUEST METRICS"), "{stdout}");
    let tables = std::fs::read_to_string(dir.join("goose.md")).unwrap();
    assert!(tables.contains("Request Metrics"), "{tables}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "load")]
#[test]
fn runs_against_a_target_with_the_secret_from_the_environment() {
    // Both schemes: the deliveries carry whatever headers the target's scheme checks.
    for (scheme, secret) in [
        ("blooio", "target-secret"),
        ("standard", "whsec_dGFyZ2V0LXNlY3JldC1ieXRlcw=="),
    ] {
        let server = common::Serve::start(secret, &["--signature-scheme", scheme]);
        assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
        let url = format!("http://{}", server.addr);

        let dir = out_dir(&format!("target-{scheme}"));
        let out = Command::new(BIN)
            .args([
                "load",
                "--users",
                "2",
                "--hatch-rate",
                "40",
                "--run-time",
                "1",
            ])
            .args(["--mix", "flow=1,webhook_flood=1", "--target", &url])
            .args([
                "--secret-env",
                "LOAD_TEST_SECRET",
                "--signature-scheme",
                scheme,
            ])
            .env("LOAD_TEST_SECRET", secret)
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap();
        drop(server);
        let stdout = check(&out);
        let report = flows_all_verified(&dir, &stdout);
        assert_eq!(report["target"].as_str(), Some(url.as_str()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn refused(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("load")
        .args(args)
        .env_remove("MO2FA_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(feature = "load")]
#[test]
fn bad_options_are_refused_with_the_field_named() {
    let err = refused(&["--mix", "flow=1,foo=2"]);
    assert!(err.contains("--mix: unknown transaction \"foo\""), "{err}");
    let err = refused(&["--mix", "flow=-1"]);
    assert!(
        err.contains("--mix: weight of flow must be an integer"),
        "{err}"
    );
    let err = refused(&["--mix", "flow=0,status_poll=0"]);
    assert!(err.contains("--mix: at least one weight"), "{err}");
    let err = refused(&["--duration", "1500ms"]);
    assert!(
        err.contains("--duration must be a whole number of seconds"),
        "{err}"
    );
    let err = refused(&["--duration", "soon"]);
    assert!(err.contains("--duration"), "{err}");
    let err = refused(&["--users", "0"]);
    assert!(err.contains("--users"), "{err}");
    let err = refused(&["--target", "http://127.0.0.1:9"]);
    assert!(err.contains("MO2FA_WEBHOOK_SECRET is not set"), "{err}");
}
