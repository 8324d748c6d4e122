//! `mo2fa import` and `mo2fa fit` end to end on the real binary: the hand-made fixtures
//! (tests/fixtures/import/, sources in its README), bad rows, privacy, defences replayed, and a
//! fitted scenario that `mo2fa run` runs to within 5 % of the log's SMS count and spend.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mo2fa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn dir(name: &str) -> PathBuf {
    let d = crate::common::scratch(&format!("import-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/import/{name}")
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

fn all_output(out: &Path) -> String {
    ["summary.json", "summary.md", "report.html"]
        .iter()
        .map(|f| std::fs::read_to_string(out.join(f)).unwrap())
        .collect()
}

#[test]
fn every_fixture_imports_with_its_bad_rows_reported() {
    let cases: &[(&str, &str, u64, u64)] = &[
        (
            "twilio_verify_attempts.json",
            "twilio-verify-attempts",
            5,
            2,
        ),
        (
            "twilio_verify_attempts_truncated.json",
            "twilio-verify-attempts",
            3,
            1,
        ),
        ("twilio_messaging_console.csv", "twilio-messaging", 4, 1),
        (
            "twilio_messaging_bulkexport.jsonl.gz",
            "twilio-messaging",
            4,
            1,
        ),
        ("aws_sms_events.jsonl", "aws-sms-events", 4, 1),
        ("generic.csv", "csv", 4, 3),
        ("generic_latin1.csv", "csv", 1, 1),
        ("generic_refused.csv", "csv", 2, 2),
    ];
    let d = dir("fixtures");
    for (file, format, sms, bad) in cases {
        let out = d.join(file);
        let o = ok(mo2fa(&[
            "import",
            &fixture(file),
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]));
        let s = summary(&out);
        assert_eq!(s["sms_sent"], *sms, "{file}");
        assert!(num(&s["spend_usd"]) > 0.0, "{file}");
        assert!(
            s["spend_usd"].as_str().unwrap().contains('.'),
            "money as docs/metrics.md writes it"
        );
        assert_eq!(s["bad_rows"]["count"], *bad, "{file}");
        let first = &s["bad_rows"]["first"][0];
        assert!(
            first["file"].as_str().unwrap().ends_with(file),
            "{file}: {first}"
        );
        assert!(
            first["line"].as_u64().unwrap() >= 1 && !first["field"].as_str().unwrap().is_empty()
        );
        // ... and on stderr as file:line: field.
        let stderr = String::from_utf8_lossy(&o.stderr);
        let at = format!(
            "{file}:{}: {}:",
            first["line"],
            first["field"].as_str().unwrap()
        );
        assert!(stderr.contains(&at), "{at} not in {stderr}");
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(html.contains("Spend by country") && html.contains("Reverse iMessage"));
    }
}

#[test]
fn strict_stops_at_the_first_bad_row_and_wrong_formats_are_errors() {
    let d = dir("strict");
    let out = d.join("o");
    let o = mo2fa(&[
        "import",
        &fixture("generic.csv"),
        "--format",
        "csv",
        "--strict",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = crate::common::refused_output(o);
    assert!(err.contains("generic.csv:4: verified:"), "{err}");
    assert!(!out.join("summary.json").exists());
    for (file, format) in [
        ("aws_sms_events.jsonl", "csv"),
        ("generic.csv", "twilio-verify-attempts"),
        ("generic_utf16.csv", "csv"),
    ] {
        let o = mo2fa(&[
            "import",
            &fixture(file),
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = crate::common::refused_output(o);
        assert!(
            err.contains(&format!("not in the {format} format")),
            "{file}: {err}"
        );
    }
    let o = mo2fa(&[
        "import",
        &fixture("generic.csv"),
        "--format",
        "xml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(crate::common::refused_output(o).contains("known: twilio-verify-attempts"));
}

#[test]
fn inferred_fields_are_marked() {
    let d = dir("inferred");
    let out = d.join("o");
    ok(mo2fa(&[
        "import",
        &fixture("generic.csv"),
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]));
    let s = summary(&out);
    // Country given on 2 of the 4 good rows; prices given on 1; segments on 2.
    assert_eq!(s["inferred"]["country"], 2);
    assert_eq!(s["inferred"]["price_usd"], 3);
    assert_eq!(s["inferred"]["segments"], 2);
    assert_eq!(
        s["inferred"]["country_shared_code"], 1,
        "one +1 number: US is a best guess"
    );
}

#[test]
fn numbers_are_masked_unless_asked_for() {
    let d = dir("privacy");
    let (masked, shown) = (d.join("masked"), d.join("shown"));
    ok(mo2fa(&[
        "import",
        &fixture("generic.csv"),
        "--format",
        "csv",
        "--out",
        masked.to_str().unwrap(),
    ]));
    let text = all_output(&masked);
    for full in [
        "14155550101",
        "212600000101",
        "447700900123",
        "203.0.113.7",
        "2001:db8:1:2::7",
    ] {
        assert!(!text.contains(full), "{full} appears in the masked reports");
    }
    assert!(text.contains("203.0.113.0/24") && text.contains("2001:db8:1::/48"));
    assert!(
        text.contains("+212…01xxxx") || text.contains("+212…"),
        "ranges shown masked"
    );
    ok(mo2fa(&[
        "import",
        &fixture("generic.csv"),
        "--format",
        "csv",
        "--show-numbers",
        "--out",
        shown.to_str().unwrap(),
    ]));
    assert!(
        all_output(&shown).contains("+21260000xxxx"),
        "the full range with --show-numbers"
    );
}

/// A log written by hand: 3 hours of one number every minute from one address, and a few
/// converted users; per_number = 5 per hour must block 55 a window, legit users untouched.
#[test]
fn defences_replay_on_the_log() {
    let d = dir("replay");
    let log = d.join("log.csv");
    let mut text = String::from("timestamp,phone,ip,verified\n");
    let t0 = 1_793_577_600u64; // 2026-11-02T00:00:00Z
    for m in 0..180u64 {
        text.push_str(&format!(
            "{},+212600000777,198.51.100.{},false\n",
            t0 + m * 60,
            m % 200
        ));
        text.push_str(&format!(
            "{},+1415555{:04},203.0.113.{},true\n",
            t0 + m * 60 + 30,
            m,
            m % 250
        ));
    }
    std::fs::write(&log, &text).unwrap();
    // The same log newest first (as API pages come): the reorder buffer restores time order.
    let reversed = d.join("reversed.csv");
    let mut rows: Vec<&str> = text.lines().skip(1).collect();
    rows.reverse();
    std::fs::write(
        &reversed,
        format!("timestamp,phone,ip,verified\n{}\n", rows.join("\n")),
    )
    .unwrap();
    let defences = d.join("defences.toml");
    std::fs::write(
        &defences,
        "[defences.sms]\nper_number = 5\nwindow = \"1h\"\n",
    )
    .unwrap();
    let out = d.join("o");
    ok(mo2fa(&[
        "import",
        log.to_str().unwrap(),
        "--format",
        "csv",
        "--defences",
        defences.to_str().unwrap(),
        "--preset",
        "twilio_messaging_pumping_protection",
        "--out",
        out.to_str().unwrap(),
    ]));
    let s = summary(&out);
    let replays = s["defences"]["replays"].as_array().unwrap();
    assert_eq!(replays.len(), 2);
    let own = &replays[0];
    assert_eq!(own["blocked"]["sms_sent"], 3 * 55);
    assert_eq!(own["legit_blocked"], 0);
    assert_eq!(own["legit_numbers_hit"], 0);
    assert_eq!(own["by_rule"][0]["rule"], "per_number");
    assert_eq!(own["by_rule"][0]["first_block"], "2026-11-02T00:05:00.000Z");
    let back = d.join("back");
    ok(mo2fa(&[
        "import",
        reversed.to_str().unwrap(),
        "--format",
        "csv",
        "--defences",
        defences.to_str().unwrap(),
        "--out",
        back.to_str().unwrap(),
    ]));
    let r = summary(&back);
    assert_eq!(r["defences"]["replays"][0]["blocked"], own["blocked"]);
    assert_eq!(r["defences"]["late_rows"], 0);
    let twilio = &replays[1];
    assert_eq!(twilio["name"], "twilio_messaging_pumping_protection");
    assert!(
        twilio["blocked"]["unconverted"].as_u64().unwrap() > 100,
        "{twilio}"
    );
    // A warm-up of 1 hour: the first hour is history, not counted.
    let warm = d.join("w");
    ok(mo2fa(&[
        "import",
        log.to_str().unwrap(),
        "--format",
        "csv",
        "--defences",
        defences.to_str().unwrap(),
        "--warmup",
        "1h",
        "--out",
        warm.to_str().unwrap(),
    ]));
    let w = summary(&warm);
    assert_eq!(w["defences"]["replays"][0]["blocked"]["sms_sent"], 2 * 55);
    assert_eq!(w["defences"]["replays"][0]["warmup"]["sms"], 120);
}

/// A small deterministic generator (xorshift64*), so the log is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Two days of legit traffic to four countries (diurnal, 90 % converted) and a 5-hour pumping
/// burst to two premium countries, priced as a provider would (its own prices, not the table).
fn synthetic_log(path: &Path) -> (u64, f64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut text = String::from("timestamp,phone,verified,price_usd\n");
    let (mut sms, mut spend) = (0u64, 0.0);
    let t0 = 1_793_577_600u64;
    let legit = [
        ("1415555", 0.0079),
        ("4477009", 0.0395),
        ("4915112", 0.0871),
        ("3361234", 0.0712),
    ];
    for s in 0..2 * 86_400u64 {
        let day = s as f64 / 86_400.0;
        let rate = 0.15 * (1.0 + 0.6 * (std::f64::consts::TAU * (day.fract() - 0.25)).sin());
        if rng.next() < rate {
            let (cc, price) = legit[(rng.next() * 4.0) as usize];
            let ok = if rng.next() < 0.9 { "true" } else { "false" };
            text.push_str(&format!(
                "{},+{cc}{:04},{ok},{price}\n",
                t0 + s,
                (rng.next() * 1e4) as u64
            ));
            sms += 1;
            spend += price;
        }
        if (100_800..118_800).contains(&s) && rng.next() < 0.12 {
            let (cc, price) = if rng.next() < 0.6 {
                ("21260", 0.2281)
            } else {
                ("99650", 0.3102)
            };
            text.push_str(&format!(
                "{},+{cc}{:07},false,{price}\n",
                t0 + s,
                (rng.next() * 1e7) as u64
            ));
            sms += 1;
            spend += price;
        }
    }
    std::fs::write(path, text).unwrap();
    (sms, spend)
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap()
}

#[test]
fn a_fitted_scenario_runs_within_five_percent_of_the_log() {
    let d = dir("fit");
    let log = d.join("log.csv");
    let (sms, spend) = synthetic_log(&log);
    let scenario = d.join("fitted.toml");
    ok(mo2fa(&[
        "fit",
        log.to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        scenario.to_str().unwrap(),
    ]));
    let toml = std::fs::read_to_string(&scenario).unwrap();
    assert!(
        toml.contains("kind = \"sms_pumping\"") && toml.contains("MA = ") && toml.contains("KG = "),
        "{toml}"
    );
    let run = d.join("run");
    ok(mo2fa(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]));
    let s = summary(&run);
    let run_sms = num(&s["sms"]["legit_sms_flow"]) + num(&s["sms"]["pumped_sms_flow"]);
    let run_spend = num(&s["sms_list_price_usd"]["sms_flow"]);
    let pumped = num(&s["sms"]["pumped_sms_flow"]);
    assert!(
        (run_sms / sms as f64 - 1.0).abs() < 0.05,
        "run {run_sms} SMS, log {sms}"
    );
    assert!(
        (run_spend / spend - 1.0).abs() < 0.05,
        "run ${run_spend}, log ${spend}"
    );
    assert!(
        (1800.0..2600.0).contains(&pumped),
        "the burst (≈2,160 SMS) is an attacker: {pumped}"
    );
    // The log's own import agrees on what it holds.
    let out = d.join("import");
    ok(mo2fa(&[
        "import",
        log.to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]));
    let i = summary(&out);
    assert_eq!(i["sms_sent"], sms);
    assert!((num(&i["spend_usd"]) - spend).abs() < 0.01);
}
