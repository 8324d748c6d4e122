//! Runs the real `mo2fa cost` binary on the checked-in two-country mix and checks the files
//! against values computed by hand (see the derivation in `crates/cost/src/model.rs` tests):
//!   SMS OTP(V, f=0)   = 10 + 0.0629625·V
//!   SMS OTP(V, f=0.2) = 10 + 0.2581025·V
//!   reverse(V)        = 0.01436625·V + 100·ceil(V / 34782.6087)
//!   break-even (f=0)  = 90 / (0.0629625 − 0.01436625) = 1851.99…
//!   break-even (f=0.2) = 90 / (0.2581025 − 0.01436625) = 369.24…, below the range's start
//!   (1e3): the search runs from 1 verification a month, so it is reported, not "always".
//!
//! Numbers are read from `results.json` and `cost_curve.csv`, never from the printed table.

use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("cost-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mix(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/mixes")
        .join(name)
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .arg("cost")
        .args(args)
        .output()
        .expect("binary runs")
}

/// `results.json` of a finished run.
fn results(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("results.json is JSON")
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn run_two_country(dir: &Path) -> String {
    let m = mix("two-country.toml");
    let out = run(&[
        "--mix",
        m.to_str().expect("utf-8 path"),
        "--volumes",
        "1e3..1e6",
        "--points-per-decade",
        "1",
        "--fraud-share",
        "0,0.2",
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

#[test]
fn csv_matches_hand_computed_curves_and_break_even() {
    let dir = out_dir("two");
    let stdout = run_two_country(&dir);
    let r = results(&dir);
    let shares = r["fraud_shares"].as_array().expect("fraud_shares");
    assert_eq!(shares.len(), 2, "{r}");
    assert_eq!(num(&shares[0]["fraud_share"]), 0.0);
    let be = &shares[0]["break_even"];
    assert_eq!(be["kind"], "at", "{be}");
    let exact = 90.0 / (0.0629625 - 0.01436625);
    assert!(
        (num(&be["first_cheaper_above"]) - exact).abs() < 1e-6,
        "{be}"
    );
    assert!((num(&be["cheaper_from"]) - exact).abs() < 1e-6, "{be}");
    assert_eq!(num(&shares[1]["fraud_share"]), 0.2);
    let be = &shares[1]["break_even"];
    assert_eq!(be["kind"], "at", "{r}");
    let exact = 90.0 / (0.2581025 - 0.01436625);
    assert!(
        (num(&be["first_cheaper_above"]) - exact).abs() < 1e-6,
        "{be}"
    );
    assert_eq!(num(&r["break_even_searched_from"]), 1.0);
    assert_eq!(num(&r["reference_volume"]), 1e6);
    for (share, sms) in shares.iter().zip([62_972.5, 258_112.5]) {
        let at = &share["at_reference"];
        assert!(
            (num(&at["sms_otp"]["total_usd"]) - sms).abs() < 1e-6,
            "{at}"
        );
        assert!((num(&at["reverse_imessage"]["total_usd"]) - 17_266.25).abs() < 1e-6);
        assert_eq!(at["reverse_imessage"]["imessage_lines"], 29);
        assert_eq!(num(&at["sms_otp"]["fixed_usd"]), 10.0, "10DLC monthly fee");
    }
    let csv = std::fs::read_to_string(dir.join("cost_curve.csv")).expect("csv written");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "monthly_verifications,fraud_share,sms_otp_usd,reverse_imessage_usd,cheaper,imessage_lines"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 8, "4 volumes × 2 fraud shares");
    let want = [
        // volume, fraud, sms, reverse, cheaper, lines
        (1e3, 0.0, 72.9625, 114.36625, "sms_otp", 1),
        (1e4, 0.0, 639.625, 243.6625, "reverse_imessage", 1),
        (1e5, 0.0, 6306.25, 1736.625, "reverse_imessage", 3),
        (1e6, 0.0, 62972.5, 17266.25, "reverse_imessage", 29),
        (1e3, 0.2, 268.1025, 114.36625, "reverse_imessage", 1),
        (1e4, 0.2, 2591.025, 243.6625, "reverse_imessage", 1),
        (1e5, 0.2, 25820.25, 1736.625, "reverse_imessage", 3),
        (1e6, 0.2, 258112.5, 17266.25, "reverse_imessage", 29),
    ];
    for (row, w) in rows.iter().zip(want) {
        let num = |i: usize| row[i].parse::<f64>().expect("number");
        assert_eq!(num(0), w.0, "{row:?}");
        assert_eq!(num(1), w.1, "{row:?}");
        assert!((num(2) - w.2).abs() <= 0.0051, "sms {row:?} vs {}", w.2);
        assert!((num(3) - w.3).abs() <= 0.0051, "reverse {row:?} vs {}", w.3);
        assert_eq!(row[4], w.4, "{row:?}");
        assert_eq!(row[5], w.5.to_string(), "{row:?}");
    }
    for f in [
        "cost_curve.csv",
        "results.json",
        "summary.md",
        "report.html",
        "cost_curve.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
        let wrote = format!("wrote {}", dir.join(f).display());
        assert!(
            stdout.lines().any(|l| l == wrote),
            "{f} not listed: {stdout}"
        );
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary");
    assert!(summary.contains("break-even at 1,852"), "{summary}");
    assert!(
        summary.contains("break-even at 369 verifications a month; reverse iMessage is cheaper above it (below 1,000"),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_is_byte_identical_across_runs() {
    let (a, b) = (out_dir("det-a"), out_dir("det-b"));
    run_two_country(&a);
    run_two_country(&b);
    for f in [
        "cost_curve.csv",
        "results.json",
        "summary.md",
        "report.html",
        "cost_curve.svg",
    ] {
        let x = std::fs::read(a.join(f)).expect("first");
        let y = std::fs::read(b.join(f)).expect("second");
        assert!(x == y, "{f} differs between runs");
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn bad_inputs_fail_with_file_line_and_key() {
    let dir = out_dir("bad");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "imessage_share = 0.5\n[countries.US]\nweight = 1\n[imessage]\npeak_factr = 2\n",
    )
    .expect("write mix");
    let out = run(&[
        "--mix",
        bad.to_str().expect("utf-8"),
        "--out",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "bad.toml:5: imessage.peak_factr: unknown field `peak_factr` (did you mean `peak_factor`?)"
        ),
        "{err}"
    );

    let m = mix("two-country.toml");
    let out = run(&["--mix", m.to_str().expect("utf-8"), "--fraud-share", "1.5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fraud-share"));
    let out = run(&[
        "--mix",
        m.to_str().expect("utf-8"),
        "--price-date",
        "2020-01-01",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("earliest is 2024-01-23"));
    // A second currency takes the four values a run's [report] takes, checked the same way.
    let out = run(&["--mix", m.to_str().expect("utf-8"), "--currency", "EUR"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--per-usd"));
    let out = run(&[
        "--mix",
        m.to_str().expect("utf-8"),
        "--currency",
        "USD",
        "--per-usd",
        "1",
        "--rate-date",
        "2026-05-25",
        "--rate-source",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--currency: \"USD\" is not an ISO 4217 code other than USD")
    );
    let out = run(&["--mix", "/nonexistent/mix.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/mix.toml: cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_that_cannot_be_written_says_cannot_write_not_cannot_read() {
    let dir = out_dir("unwritable");
    std::fs::create_dir_all(&dir).unwrap();
    // A file where the report's directory should be.
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out_arg = file.join("out");
    let m = mix("two-country.toml");
    let out = run(&[
        "--mix",
        m.to_str().expect("utf-8 path"),
        "--out",
        out_arg.to_str().expect("utf-8 path"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: cannot write: ", out_arg.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn price_date_selects_an_older_snapshot() {
    let dir = out_dir("date");
    let m = mix("us-eu.toml");
    let args = |date: &'static str| {
        vec![
            "--mix".to_string(),
            m.to_str().expect("utf-8").to_string(),
            "--volumes".into(),
            "1e6".into(),
            "--price-date".into(),
            date.to_string(),
            "--out".into(),
            dir.to_str().expect("utf-8").to_string(),
            "--no-episode".into(),
        ]
    };
    let out = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .arg("cost")
        .args(args("2024-06-30"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = results(&dir);
    assert_eq!(r["price_snapshot"], "2024-04-29", "{r}");
    assert_eq!(num(&r["monthly_verifications_from"]), 1e6);
    assert_eq!(num(&r["monthly_verifications_to"]), 1e6);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn second_currency_is_printed_beside_usd() {
    let dir = out_dir("eur");
    let m = mix("two-country.toml");
    let out = run(&[
        "--mix",
        m.to_str().expect("utf-8"),
        "--volumes",
        "1e6",
        "--fraud-share",
        "0",
        "--currency",
        "EUR",
        "--per-usd",
        "0.5",
        "--rate-date",
        "2026-05-25",
        "--rate-source",
        "test rate",
        "--no-episode",
        "--out",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // SMS OTP at 1e6, f = 0: 10 + 0.0629625 x 1e6 = $62,972.50, half of it in EUR.
    assert!(stdout.contains("SMS OTP $62,973 (31,486 EUR)"), "{stdout}");
    let r = results(&dir);
    assert_eq!(r["report_currency"]["currency"], "EUR");
    assert!(
        (num(&r["fraud_shares"][0]["at_reference"]["sms_otp"]["total_usd"]) - 62_972.5).abs()
            < 1e-6
    );
    let _ = std::fs::remove_dir_all(&dir);
}
