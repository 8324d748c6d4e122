//! `mo2fa run --emit-log` and the round trip of its logs through `mo2fa import` (issue #27
//! item 4; docs/import.md, "Round trip"): every shipped scenario (every `.toml` under
//! `scenarios/` but its price, mix and data files) is run once with every log format, and each flow's log is imported
//! back with the scenario's own `[defences.sms]` replayed on it.
//!
//! - Every format: the import's SMS count and spend equal the run's, to the cent.
//! - The generic CSV (the one format that carries refused attempts, the client address, the
//!   account and when each code was used): the replay blocks exactly what the run's defences
//!   blocked, rule by rule, and judges every attempt the run's guard judged.
//! - The vendor formats, which hold only what was sent: the documented loss, asserted: no
//!   refused attempt in the log, and the replay judges exactly the sent ones.
//!
//! Durations are shortened with `--duration` (the scenario override `mo2fa run` has) so the
//! whole test stays within a couple of minutes in a debug build; each is long enough for the
//! scenario's attack to start, except where noted in [`CASES`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every shipped scenario, with the duration it is run for here (`None`: its own).
const CASES: &[(&str, Option<&str>)] = &[
    ("scenarios/quickstart.toml", Some("10h")),
    ("scenarios/pumping-wave.toml", Some("10h")),
    ("scenarios/low-and-slow.toml", Some("6h")),
    // 38 arrivals a second for 30 days: 20 minutes of it.
    ("scenarios/month-at-scale.toml", Some("20m")),
    // Attacks on the reverse flow itself: no SMS at all, so its logs are empty.
    ("scenarios/reverse-attack.toml", Some("1h")),
    ("scenarios/incidents/blackpanda.toml", Some("6h")),
    ("scenarios/incidents/eknix.toml", Some("30m")),
    ("scenarios/incidents/healthchecks.toml", None),
    ("scenarios/incidents/k-optional.toml", None),
    ("scenarios/incidents/twitter.toml", Some("30m")),
    ("scenarios/defence-gate.toml", None),
    ("scenarios/incidents/luma.toml", None),
    // Reverse flow only, every user on iMessage: no SMS, so their logs are empty.
    ("scenarios/threats/guessing-bound.toml", Some("2h")),
    ("scenarios/threats/guessing-one-candidate.toml", Some("2h")),
    ("scenarios/threats/guessing-open.toml", Some("2h")),
    ("scenarios/threats/takeovers.toml", Some("3h")),
    ("scenarios/examples/adaptive-pumping.toml", Some("6h")),
    (
        "scenarios/threats/takeovers-no-inbound-sms.toml",
        Some("3h"),
    ),
];

/// The cases that send no SMS at all (attacks on the reverse flow, every user on iMessage or
/// an inbound fallback): their logs are asserted empty.
const NO_SMS: [&str; 4] = [
    "reverse-attack",
    "guessing-bound",
    "guessing-one-candidate",
    "guessing-open",
];

/// Directories of `scenarios/` that hold price and mix files, not scenarios.
const NOT_SCENARIOS: [&str; 3] = ["scenarios/data", "scenarios/prices", "scenarios/mixes"];

/// (`--emit-log` name, file after the stem, `import --format`, carries refused attempts).
const FORMATS: &[(&str, &str, &str, bool)] = &[
    (
        "twilio-verify-attempts",
        ".json",
        "twilio-verify-attempts",
        false,
    ),
    (
        "twilio-messaging",
        ".twilio-messaging.csv",
        "twilio-messaging",
        false,
    ),
    (
        "twilio-bulkexport",
        ".twilio-bulkexport.jsonl",
        "twilio-messaging",
        false,
    ),
    ("aws-sms-events", ".jsonl", "aws-sms-events", false),
    ("csv", ".csv", "csv", true),
];

fn mo2fa(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mo2fa {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn dir(name: &str) -> PathBuf {
    let d = crate::common::scratch(&format!("emitlog-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn num(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The run's figures for one flow: (sent, spend, blocked, blocked by rule).
fn run_flow(s: &serde_json::Value, flow: &str) -> (u64, String, u64, serde_json::Value) {
    let sms = &s["sms"];
    let sent = match flow {
        "sms_flow" => num(&sms["legit_sms_flow"]) + num(&sms["pumped_sms_flow"]),
        _ => num(&sms["legit_reverse_fallback"]) + num(&sms["pumped_reverse_fallback"]),
    };
    let spend = s["sms_list_price_usd"][flow].as_str().unwrap().to_string();
    let d = &s["defences"][flow];
    (
        sent,
        spend,
        num(&d["blocked"]),
        d["blocked_by_rule"].clone(),
    )
}

fn round_trip(scenario: &str, duration: Option<&str>) {
    let name = Path::new(scenario).file_stem().unwrap().to_str().unwrap();
    let out = dir(name);
    let out_s = out.to_str().unwrap();
    let mut args = vec!["run", scenario, "--out", out_s, "--emit-log", "all"];
    if let Some(d) = duration {
        args.extend(["--duration", d]);
    }
    let printed = String::from_utf8(mo2fa(&args).stdout).unwrap();
    let run = json(&out.join("summary.json"));
    let flows: Vec<&str> = ["sms", "reverse"]
        .into_iter()
        .filter(|f| out.join(format!("{}.csv", stem(f))).exists())
        .collect();
    assert!(!flows.is_empty(), "{name}: no log written:\n{printed}");
    let mut checked = 0;
    for flow in flows {
        let key = format!("{flow}_flow");
        let (sent, spend, blocked, by_rule) = run_flow(&run, &key);
        for &(fmt, suffix, import_format, carries_refused) in FORMATS {
            let file = out.join(format!("{}{suffix}", stem(flow)));
            assert!(
                printed.contains(&file.display().to_string()),
                "{name}: {fmt} not announced"
            );
            if sent == 0 && blocked == 0 {
                // Nothing to import (`import` refuses an empty log): the log has no attempt.
                let text = std::fs::read_to_string(&file).unwrap();
                let rows = match fmt {
                    "twilio-verify-attempts" => text.matches("\"sid\"").count(),
                    "csv" | "twilio-messaging" => text.lines().count().saturating_sub(1),
                    _ => text.lines().count(),
                };
                assert_eq!(rows, 0, "{name} {flow} flow, {fmt}: attempts in the log");
                continue;
            }
            if sent == 0 && !carries_refused {
                continue; // an empty vendor log is refused by `import` as empty
            }
            let imp = out.join(format!("import-{flow}-{fmt}"));
            mo2fa(&[
                "import",
                file.to_str().unwrap(),
                "--format",
                import_format,
                "--out",
                imp.to_str().unwrap(),
                "--defences",
                scenario,
            ]);
            let s = json(&imp.join("summary.json"));
            let what = format!("{name} {flow} flow, {fmt}");
            assert_eq!(num(&s["sms_sent"]), sent, "{what}: SMS count");
            assert_eq!(s["spend_usd"].as_str().unwrap(), spend, "{what}: spend");
            let r = &s["defences"]["replays"][0];
            let judged = num(&r["judged"]["sms_sent"]);
            let refused = num(&s["refused_rows"]);
            if carries_refused {
                assert_eq!(num(&r["blocked"]["sms_sent"]), blocked, "{what}: blocked");
                let rules: serde_json::Map<String, serde_json::Value> = r["by_rule"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| {
                        (
                            x["rule"].as_str().unwrap().to_string(),
                            x["sms_sent"].clone(),
                        )
                    })
                    .collect();
                assert_eq!(serde_json::Value::Object(rules), by_rule, "{what}: by rule");
                assert!(
                    refused >= blocked,
                    "{what}: every refused attempt is logged"
                );
                assert_eq!(judged, sent + refused, "{what}: every attempt replayed");
            } else {
                assert_eq!(refused, 0, "{what}: a vendor log holds only sends");
                assert_eq!(judged, sent, "{what}: the replay sees only the sends");
            }
            checked += 1;
        }
    }
    let sends_sms = !NO_SMS.contains(&name);
    assert_eq!(checked >= 1, sends_sms, "{name}: imported {checked} logs");
    let _ = std::fs::remove_dir_all(&out);
}

fn stem(flow: &str) -> &'static str {
    if flow == "sms" {
        "traffic"
    } else {
        "traffic-reverse"
    }
}

#[test]
fn every_shipped_scenario_is_a_case() {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !NOT_SCENARIOS.iter().any(|n| p == Path::new(n)) {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p.to_str().unwrap().to_string());
            }
        }
    }
    let mut shipped = Vec::new();
    walk(Path::new("scenarios"), &mut shipped);
    assert!(shipped.len() >= CASES.len(), "{shipped:?}");
    for p in shipped {
        assert!(
            CASES.iter().any(|(c, _)| *c == p),
            "{p} has no round-trip case in tests/it/emit_log.rs"
        );
    }
}

macro_rules! cases {
    ($($test:ident => $i:expr),* $(,)?) => {$(
        #[test]
        fn $test() {
            let (scenario, duration) = CASES[$i];
            round_trip(scenario, duration);
        }
    )*};
}

cases! {
    round_trip_quickstart => 0,
    round_trip_pumping_wave => 1,
    round_trip_low_and_slow => 2,
    round_trip_month_at_scale => 3,
    round_trip_reverse_attack => 4,
    round_trip_blackpanda => 5,
    round_trip_eknix => 6,
    round_trip_healthchecks => 7,
    round_trip_k_optional => 8,
    round_trip_twitter => 9,
    round_trip_defence_gate => 10,
    round_trip_luma => 11,
    round_trip_guessing_bound => 12,
    round_trip_guessing_one_candidate => 13,
    round_trip_guessing_open => 14,
    round_trip_takeovers => 15,
    round_trip_adaptive_pumping => 16,
    round_trip_takeovers_no_inbound_sms => 17,
}

#[test]
fn emit_log_refuses_an_unknown_format_and_live() {
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(["run", "scenarios/quickstart.toml", "--emit-log", "splunk"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("splunk") && err.contains("twilio-verify-attempts"),
        "{err}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args([
            "run",
            "scenarios/quickstart.toml",
            "--emit-log",
            "csv",
            "--live",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
}
