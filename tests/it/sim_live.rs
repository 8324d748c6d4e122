//! `mo2fa run --live`: the virtual run's requests replayed over real HTTP must get the same
//! answers when the servers keep up.

use mo2fa_sim::engine::{self, Control};
use mo2fa_sim::report;
use mo2fa_sim::scenario::{Dur, Scenario};
use mo2fa_sim::trace::{Action, Text};
use std::process::Command;
use std::sync::atomic::AtomicBool;

#[test]
fn tracing_changes_nothing_and_links_every_step() {
    let mut sc = Scenario::load(std::path::Path::new("scenarios/reverse-attack.toml")).unwrap();
    sc.run.duration = Dur(1_800_000);
    let stop = AtomicBool::new(false);
    let control = Control {
        interrupt: &stop,
        progress: &|_| {},
    };
    let plain = engine::simulate(&sc, sc.run.seed, &control).unwrap();
    let (traced, trace) = engine::simulate_traced(&sc, sc.run.seed, &control, usize::MAX).unwrap();
    assert!(!trace.truncated);
    assert_eq!(report::table(&plain), report::table(&traced));
    assert!(trace.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    let mut kinds = std::collections::BTreeSet::new();
    for s in &trace.steps {
        let key = match &s.action {
            Action::Webhook {
                text: Text::Code(k) | Text::Typo(k),
                ..
            }
            | Action::Poll { key: k, .. } => Some(*k),
            _ => None,
        };
        assert!(key.is_none_or(|k| k < trace.keys), "{s:?}");
        kinds.insert(format!("{:?}/{}", s.action.endpoint(), s.expect));
    }
    // The attack scenario exercises every kind of answer the replay must reproduce.
    for k in [
        "Start/created",
        "Webhook/verified",
        "Webhook/rejected",
        "Webhook/duplicate",
        "Status/verified",
    ] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
}

/// Live replays keep to a wall-clock schedule: one at a time, so that a replay is not slowed
/// by another (the one that falls behind on purpose keeps every core busy).
static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_live_replay_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn live_quickstart_verifies_what_the_virtual_run_verified() {
    let _live = one_live_replay_at_a_time();
    let dir = crate::common::scratch("live");
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(["run", "scenarios/quickstart.toml", "--duration", "20m"])
        .args(["--live", "--speed", "200", "--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(p)).unwrap()).unwrap()
    };
    let summary = read("summary.json");
    let live = read("live/live.json");
    let virtual_verified = summary["legit"]["verified_reverse"].as_u64().unwrap()
        + summary["legit"]["verified_sms"].as_u64().unwrap();
    assert!(virtual_verified > 100, "{summary}");
    assert_eq!(live["verified"]["virtual"], virtual_verified, "{live}");
    assert_eq!(live["verified"]["live"], virtual_verified, "{stdout}");
    assert_eq!(live["released"], live["steps"]);
    for f in [
        "webhook.hgrm",
        "start.hgrm",
        "latency.hlog",
        "throughput.csv",
    ] {
        assert!(
            std::fs::metadata(dir.join("live").join(f)).unwrap().len() > 0,
            "{f}"
        );
    }
    let hgrm = std::fs::read_to_string(dir.join("live/webhook.hgrm")).unwrap();
    assert!(hgrm.contains("Total count"), "{hgrm}");
    // It kept to its schedule: nothing fell behind.
    assert_eq!(live["behind"], serde_json::Value::Null, "{live}");
    assert!(live["max_lag_ms"].as_f64() < live["lag_budget_ms"].as_f64());
    // The percentile plot beside the .hgrm tables.
    let html = std::fs::read_to_string(dir.join("live/latency.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains(">webhook<"),
        "{html}"
    );
    for tick in [">90%<", ">99.9%<", ">99.999%<"] {
        assert!(html.contains(tick), "no {tick} axis label");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_needs_a_positive_speed() {
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args([
            "run",
            "tests/fixtures/short-run.toml",
            "--live",
            "--speed",
            "0",
        ])
        .args([
            "--out",
            crate::common::scratch_root()
                .join("mo2fa-live-0")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--speed"));
}

#[test]
fn a_trace_over_its_cap_is_marked_and_not_replayed() {
    let mut sc = Scenario::load(std::path::Path::new("scenarios/quickstart.toml")).unwrap();
    sc.run.duration = Dur(600_000);
    let stop = AtomicBool::new(false);
    let control = Control {
        interrupt: &stop,
        progress: &|_| {},
    };
    let (_, full) = engine::simulate_traced(&sc, sc.run.seed, &control, usize::MAX).unwrap();
    assert!(full.steps.len() > 100, "{}", full.steps.len());
    let (_, capped) = engine::simulate_traced(&sc, sc.run.seed, &control, 100).unwrap();
    assert!(capped.truncated);
    assert_eq!(capped.steps.len(), 100);
    assert_eq!(
        format!("{:?}", capped.steps),
        format!("{:?}", &full.steps[..100]),
        "the cap keeps the first steps"
    );
    let opts = mo2fa_harness::live::LiveOptions {
        speed: 1.0,
        connections: 1,
        shape: None,
        target: None,
    };
    let Err(e) = mo2fa_harness::live::replay(&sc, capped, opts, &stop, &|_| {}, &|_| {}) else {
        panic!("a truncated trace was replayed");
    };
    assert!(e.to_string().contains("more than 100 requests"), "{e}");
}

/// Each documented body shape, replayed live against real servers, gets every answer the
/// virtual run got: verifications, signature refusals of forgeries, duplicates of replays.
#[test]
fn live_replay_agrees_in_every_payload_shape() {
    let _live = one_live_replay_at_a_time();
    use mo2fa_core::webhook::PayloadShape;
    let mut sc = Scenario::load(std::path::Path::new("scenarios/reverse-attack.toml")).unwrap();
    sc.run.duration = Dur(900_000);
    let stop = AtomicBool::new(false);
    let control = Control {
        interrupt: &stop,
        progress: &|_| {},
    };
    for shape in [PayloadShape::V2, PayloadShape::Legacy, PayloadShape::V4] {
        let (_, trace) = engine::simulate_traced(&sc, sc.run.seed, &control, usize::MAX).unwrap();
        let opts = mo2fa_harness::live::LiveOptions {
            speed: 100.0,
            connections: 8,
            shape: Some(shape),
            target: None,
        };
        let live = mo2fa_harness::live::replay(&sc, trace, opts, &stop, &|_| {}, &|_| {}).unwrap();
        let (same, all) = live.agreement();
        let (virt, got) = live.verified();
        assert!(virt > 10, "{shape:?}: {virt} verified");
        assert_eq!(got, virt, "{shape:?}: {:?}", live.outcomes);
        assert_eq!(same, all, "{shape:?}: {:?}", live.outcomes);
    }
}

/// At an absurd speed the sender cannot keep to the schedule: the replay says how far behind
/// it fell, suggests a lower speed, stops, writes its reports and exits non-zero.
#[test]
fn a_replay_that_falls_behind_says_so_and_fails() {
    let _live = one_live_replay_at_a_time();
    let dir = crate::common::scratch("live-behind");
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(["run", "scenarios/quickstart.toml", "--duration", "2h"])
        .args(["--live", "--speed", "1e9", "--connections", "4"])
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("behind schedule at 1000000000x"),
        "{stderr}"
    );
    let suggested: f64 = stderr
        .split("try --speed ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no suggested speed in {stderr}"));
    assert!(suggested > 0.0 && suggested < 1e9, "{suggested}");
    let live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("live/live.json")).unwrap()).unwrap();
    assert!(
        live["behind"]["lag_s"].as_f64().unwrap() > 0.02,
        "{}",
        live["behind"]
    );
    assert_eq!(live["behind"]["suggested_speed"].as_f64(), Some(suggested));
    assert!(
        live["released"].as_u64() < live["steps"].as_u64(),
        "it stopped"
    );
    let md = std::fs::read_to_string(dir.join("live/live.md")).unwrap();
    assert!(md.contains("FELL BEHIND"), "{md}");
    std::fs::remove_dir_all(&dir).ok();
}
