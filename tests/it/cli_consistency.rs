//! The commands agree with each other: one duration syntax, the same names for the same
//! things (old names kept as hidden aliases), errors that name the flag in its own unit;
//! `run --check` and `new scenario`.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");

fn mo2fa(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("MO2FA_WEBHOOK_SECRET", "consistency-test-secret")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = crate::common::scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn soak_takes_a_duration_with_a_unit_and_connections_under_either_name() {
    for connections in ["--connections", "--workers"] {
        let o = mo2fa(&[
            "soak",
            "--duration",
            "1s",
            "--rate",
            "50",
            "--ttl",
            "1s",
            connections,
            "2",
        ]);
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "{connections}: {stdout}{stderr}");
        assert!(stdout.contains("flows started"), "{stdout}");
    }
    let (help, _) = text(&mo2fa(&["soak", "--help"]));
    assert!(
        help.contains("--connections") && !help.contains("--workers"),
        "{help}"
    );
    // No terminal here: no progress bar drawn into the captured stderr.
    let o = mo2fa(&["soak", "--duration", "1s", "--rate", "20"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains('\u{1b}'));
    let (_, stderr) = text(&mo2fa(&["soak", "--duration", "1h1"]));
    assert!(stderr.contains("--duration"), "{stderr}");
    let (_, stderr) = text(&mo2fa(&["soak", "--duration", "2d"]));
    assert!(stderr.contains("--duration must be at most 1d"), "{stderr}");
    let (_, stderr) = text(&mo2fa(&["soak", "--ttl", "1500ms"]));
    assert!(
        stderr.contains("--ttl must be a whole number of seconds"),
        "{stderr}"
    );
}

#[test]
fn serve_names_the_lifetime_flag_at_fault_in_seconds() {
    let o = mo2fa(&["serve", "--addr", "127.0.0.1:0", "--ttl", "5"]);
    assert!(!o.status.success());
    let (_, e) = text(&o);
    assert!(
        e.contains("--ttl (5 s) is shorter than --min-ttl (10 s)"),
        "{e}"
    );
    assert!(!e.contains("ms") && !e.contains("10000"), "{e}");

    let (_, e) = text(&mo2fa(&["serve", "--addr", "127.0.0.1:0", "--ttl", "2h"]));
    assert!(
        e.contains("--ttl (7200 s) is longer than --max-ttl (3600 s)"),
        "{e}"
    );
    let (_, e) = text(&mo2fa(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--max-ttl",
        "60d",
    ]));
    assert!(
        e.contains("--max-ttl (5184000 s) is longer than the store"),
        "{e}"
    );
    let (_, e) = text(&mo2fa(&["serve", "--min-ttl", "0"]));
    assert!(e.contains("--min-ttl") && e.contains("positive"), "{e}");
}

#[test]
fn serve_accepts_lifetimes_with_units() {
    let server = crate::common::Serve::start(
        "consistency-test-secret",
        &[
            "--ttl",
            "30s",
            "--min-ttl",
            "500ms",
            "--max-ttl",
            "1d",
            "--retention",
            "0",
        ],
    );
    assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
}

#[test]
fn a_negative_seed_is_called_what_it_is() {
    let o = mo2fa(&["run", "tests/fixtures/short-run.toml", "--seed", "-1"]);
    assert!(!o.status.success());
    let (_, e) = text(&o);
    assert!(
        e.contains("--seed") && e.contains("unsigned integer"),
        "{e}"
    );
    assert!(!e.contains("-- -1"), "{e}");
}

#[test]
fn run_check_validates_without_running() {
    let out = temp_dir("check");
    let o = mo2fa(&[
        "run",
        "--check",
        "tests/fixtures/short-run.toml",
        "--duration",
        "90",
        "--out",
        out.join("never").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let line = stdout.trim();
    assert!(
        line.starts_with("OK tests/fixtures/short-run.toml: 90s virtual, flows "),
        "{line}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(!out.join("never").exists(), "--check wrote reports");

    let o = mo2fa(&["run", "--check", "tests/fixtures/bad-scenario.toml"]);
    assert!(!o.status.success());
    let (stdout, e) = text(&o);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        e.contains("tests/fixtures/bad-scenario.toml:14: emitter.drop_rate:"),
        "{e}"
    );
}

#[test]
fn new_scenario_writes_a_template_that_checks_and_runs() {
    let dir = temp_dir("new-scenario");
    let o = Command::new(BIN)
        .args(["new", "scenario", "trial"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let file = dir.join("trial.toml");
    let template = std::fs::read_to_string(&file).unwrap();
    for section in [
        "[store]",
        "[legit]",
        "[emitter]",
        "[verifier]",
        "[sms]",
        "[defences.sms]",
        "[defences.reverse]",
        "[[attacker]]",
    ] {
        assert!(template.contains(section), "{section} missing");
    }

    // Never overwrites: not the default name, not a given path.
    std::fs::write(&file, "mine").unwrap();
    let o = Command::new(BIN)
        .args(["new", "scenario", "trial"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).1.contains("already exists"), "{}", text(&o).1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

    let given = dir.join("given.toml");
    let given = given.to_str().unwrap();
    assert!(
        mo2fa(&["new", "scenario", "x", "--out", given])
            .status
            .success()
    );
    assert!(
        !mo2fa(&["new", "scenario", "x", "--out", given])
            .status
            .success()
    );

    let o = mo2fa(&["run", "--check", given]);
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success() && stdout.starts_with("OK "),
        "{stdout}{stderr}"
    );
    assert!(stdout.contains("1 attacker(s) (pumping wave)"), "{stdout}");

    let reports = dir.join("reports");
    let o = mo2fa(&["run", given, "--out", reports.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("summary.json")).unwrap()).unwrap();
    assert!(summary["legit"].is_object(), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_takes_durations_with_units() {
    let o = mo2fa(&[
        "bench",
        "http",
        "--endpoint",
        "healthz",
        "--rate",
        "200",
        "--duration",
        "500ms",
        "--connections",
        "2",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let (_, e) = text(&mo2fa(&["bench", "http", "--step", "0s"]));
    assert!(e.contains("--step") && e.contains("positive"), "{e}");
}
