//! Unit and property tests of the formats, the scan and the analysis, on the hand-made
//! fixtures in tests/fixtures/import/ (whose README cites each format's source).

use crate::countries::{Countries, Prices};
use crate::error::ImportError;
use crate::formats::{Format, Item};
use crate::privacy::parse_number;
use crate::scan::{BadRow, ScanStats, Scanner, Sent};
use proptest::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/import")
        .join(name)
}

fn scan(
    name: &str,
    format: Format,
    strict: bool,
) -> Result<(Vec<Sent>, ScanStats, Vec<BadRow>), ImportError> {
    let countries = Countries::builtin();
    let prices = Prices::new(&countries, None).unwrap();
    let scanner = Scanner {
        countries: &countries,
        prices: &prices,
        format,
        strict,
    };
    let (mut sends, mut bad) = (Vec::new(), Vec::new());
    let stats = scanner.scan(&[fixture(name)], &mut |s| sends.push(*s), &mut |b| {
        bad.push(b.clone())
    })?;
    Ok((sends, stats, bad))
}

fn lines_and_fields(bad: &[BadRow]) -> Vec<(u64, &str)> {
    bad.iter().map(|b| (b.line, b.field.as_str())).collect()
}

#[test]
fn twilio_verify_attempts_page() {
    let (sends, stats, bad) = scan(
        "twilio_verify_attempts.json",
        Format::TwilioVerifyAttempts,
        false,
    )
    .unwrap();
    assert_eq!(sends.len(), 5);
    assert_eq!(stats.skipped.get("not an SMS attempt"), Some(&1));
    let fields: Vec<&str> = bad.iter().map(|b| b.field.as_str()).collect();
    assert_eq!(
        fields,
        ["attempts[5].date_created", "attempts[6].channel_data.to"]
    );
    // Each at the line of its attempt's closing brace.
    assert_eq!((bad[0].line, bad[1].line), (117, 135), "{bad:?}");
    let c = Countries::builtin();
    let ma = &sends[2];
    assert_eq!(
        (c.name(ma.country), ma.converted, ma.price_usd),
        ("MA", Some(false), 0.25)
    );
    assert_eq!(ma.carrier, Some((604, 0)));
    // The last attempt has no price yet: the dated table prices it, and it is counted inferred.
    assert_eq!(stats.inferred.price_usd, 1);
    let de = sends.last().unwrap();
    let (per, _) = Prices::new(&c, None)
        .unwrap()
        .per_segment(de.country, de.ts_ms);
    assert_eq!(de.price_usd, per);
    assert_eq!(
        stats.inferred.country, 5,
        "Verify attempts carry no country here"
    );
}

#[test]
fn truncated_json_keeps_what_was_read_and_reports_the_rest() {
    let (sends, _, bad) = scan(
        "twilio_verify_attempts_truncated.json",
        Format::TwilioVerifyAttempts,
        false,
    )
    .unwrap();
    assert_eq!(sends.len(), 3);
    assert_eq!(bad.len(), 1);
    assert!(bad[0].message.contains("truncated"), "{bad:?}");
    let err = scan(
        "twilio_verify_attempts_truncated.json",
        Format::TwilioVerifyAttempts,
        true,
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::Strict { .. }), "{err}");
}

#[test]
fn twilio_console_csv_with_bom_crlf_and_quoted_commas() {
    let (sends, stats, bad) = scan(
        "twilio_messaging_console.csv",
        Format::TwilioMessaging,
        false,
    )
    .unwrap();
    assert_eq!(sends.len(), 4, "{bad:?}");
    assert_eq!(
        lines_and_fields(&bad),
        [(7, "To")],
        "the quoted line break makes row 5 start on line 7"
    );
    assert_eq!(stats.skipped.get("inbound message"), Some(&1));
    // Prices are Twilio's negative strings: the magnitude is the cost.
    assert_eq!(sends[0].price_usd, 0.0083);
    // "undelivered" cannot have converted: read as unconverted and counted inferred.
    assert_eq!(sends[1].converted, Some(false));
    assert_eq!(stats.inferred.verified, 1);
    assert_eq!(sends[2].segments, 2);
    assert_eq!(
        sends[0].converted, None,
        "delivered says nothing about conversion"
    );
}

#[test]
fn bulkexport_gzip_json_lines() {
    let (sends, stats, bad) = scan(
        "twilio_messaging_bulkexport.jsonl.gz",
        Format::TwilioMessaging,
        false,
    )
    .unwrap();
    assert_eq!(sends.len(), 4);
    assert_eq!(lines_and_fields(&bad), [(5, "json")]);
    assert_eq!(stats.inferred.price_usd, 1);
}

#[test]
fn aws_events_count_each_message_once() {
    let (sends, stats, bad) = scan("aws_sms_events.jsonl", Format::AwsSmsEvents, false).unwrap();
    assert_eq!(
        sends.len(),
        4,
        "m-1 once, m-2, m-3, m-5 (from its EventBridge envelope)"
    );
    assert_eq!(lines_and_fields(&bad), [(6, "destinationPhoneNumber")]);
    assert_eq!(stats.skipped_total(), 3);
    let us = &sends[0];
    assert!(
        (us.price_usd - 0.00883).abs() < 1e-12,
        "price + carrier fee: {}",
        us.price_usd
    );
    assert_eq!(us.carrier, Some((310, 800)));
    assert_eq!(
        us.ts_ms, 1_793_613_600_000,
        "the request time, not the event's"
    );
    assert_eq!(stats.inferred.country, 0, "isoCountryCode is given");
    assert_eq!(sends[2].segments, 2);
}

#[test]
fn generic_csv_rows_and_their_faults() {
    let (sends, stats, bad) = scan("generic.csv", Format::Csv, false).unwrap();
    assert_eq!(sends.len(), 4);
    assert_eq!(
        lines_and_fields(&bad),
        [(4, "verified"), (5, "timestamp"), (6, "country")]
    );
    assert_eq!(stats.bad_by_field.get("verified"), Some(&1));
    assert_eq!(sends[0].account, crate::formats::account_key("acme, inc"));
    assert!(sends[2].ip.unwrap().v6);
    assert_eq!(sends[2].ts_ms, 1_793_613_720_000);
    assert_eq!(sends[3].converted, None);
    let err = scan("generic.csv", Format::Csv, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("generic.csv:4: verified:"), "{err}");
}

#[test]
fn encodings_and_wrong_formats() {
    let (sends, _, bad) = scan("generic_latin1.csv", Format::Csv, false).unwrap();
    assert_eq!(
        (sends.len(), lines_and_fields(&bad)),
        (1, vec![(2, "account")])
    );
    let err = scan("generic_utf16.csv", Format::Csv, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("UTF-16"), "{err}");
    for (file, format) in [
        ("aws_sms_events.jsonl", Format::Csv),
        ("generic.csv", Format::AwsSmsEvents),
        ("generic.csv", Format::TwilioVerifyAttempts),
        ("twilio_verify_attempts.json", Format::AwsSmsEvents),
    ] {
        let err = scan(file, format, false).unwrap_err();
        assert!(
            matches!(err, ImportError::WrongFormat { .. }),
            "{file} as {format:?}: {err}"
        );
    }
}

/// The JSON formats read a byte-order mark and CRLF line ends as the plain file (the same
/// sends, the same bad rows on the same lines), and a line in another encoding is a bad row
/// naming it.
#[test]
fn json_formats_with_a_bom_crlf_and_a_wrong_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (name, format) in [
        ("aws_sms_events.jsonl", Format::AwsSmsEvents),
        ("twilio_verify_attempts.json", Format::TwilioVerifyAttempts),
    ] {
        let plain = std::fs::read(fixture(name)).unwrap();
        assert!(
            !plain.contains(&b'\r') && !plain.starts_with(b"\xEF"),
            "{name}"
        );
        let mut crlf = b"\xEF\xBB\xBF".to_vec();
        for &b in &plain {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        let path = dir.join(format!("crlf-{name}"));
        std::fs::write(&path, &crlf).unwrap();
        let (want, want_stats, want_bad) = scan(name, format, false).unwrap();
        let (got, got_stats, got_bad) = scan(path.to_str().unwrap(), format, false).unwrap();
        assert_eq!(got, want, "{name}");
        assert_eq!(got_stats.skipped, want_stats.skipped, "{name}");
        assert_eq!(
            lines_and_fields(&got_bad),
            lines_and_fields(&want_bad),
            "{name}"
        );
    }
    // An AWS event whose country is Latin-1, after a good one: a bad row, not a panic.
    let mut bytes = concat!(
        r#"{"eventType":"TEXT_SUCCESSFUL","isFinal":true,"destinationPhoneNumber":"+14155550101","#,
        r#""messageId":"m-1","messageRequestTimestamp":1793613600000,"totalMessagePrice":0.00883}"#,
        "\n"
    )
    .as_bytes()
    .to_vec();
    bytes.extend_from_slice(b"{\"eventType\":\"TEXT_SUCCESSFUL\",\"isoCountryCode\":\"\xC9S\"}\n");
    let path = dir.join("latin1.jsonl");
    std::fs::write(&path, bytes).unwrap();
    let (sends, _, bad) = scan(path.to_str().unwrap(), Format::AwsSmsEvents, false).unwrap();
    assert_eq!(sends.len(), 1);
    assert_eq!(lines_and_fields(&bad), [(2, "json")]);
    assert!(bad[0].message.contains("not UTF-8"), "{bad:?}");
}

#[test]
fn a_file_of_bad_rows_is_refused_within_its_first_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("bad.csv");
    let mut text = String::from("timestamp,phone\n");
    for _ in 0..100_000 {
        text.push_str("soon,+14155550100\n");
    }
    std::fs::write(&path, text).unwrap();
    let countries = Countries::builtin();
    let prices = Prices::new(&countries, None).unwrap();
    let scanner = Scanner {
        countries: &countries,
        prices: &prices,
        format: Format::Csv,
        strict: false,
    };
    let mut seen = 0u64;
    let err = scanner
        .scan(&[path], &mut |_| {}, &mut |_| seen += 1)
        .unwrap_err();
    match err {
        ImportError::WrongFormat { line, .. } => assert_eq!(line, 2),
        other => panic!("{other}"),
    }
    assert!(
        seen < crate::scan::WRONG_FORMAT_ROWS,
        "stopped within the first rows, saw {seen}"
    );
}

#[test]
fn suspect_cells_follow_conversion() {
    let c = Countries::builtin();
    let (us, ma) = (c.index("US").unwrap(), c.index("MA").unwrap());
    let mut a = crate::analysis::Analysis::new(c.len());
    let base = 1_793_577_600_000u64;
    for i in 0..2000u64 {
        let s = |country, converted| Sent {
            ts_ms: base + i * 1000,
            number: 14_155_550_000 + i,
            country,
            ip: None,
            account: 0,
            converted: Some(converted),
            price_usd: 0.01,
            segments: 1,
            carrier: None,
            refused: false,
            verified_ms: None,
        };
        a.add(&s(us, i % 10 != 0));
        if i % 4 == 0 {
            a.add(&s(ma, false));
        }
    }
    let sus = a.suspects();
    assert_eq!(sus.rule, crate::analysis::Rule::Conversion);
    assert_eq!(sus.sms(), 500, "every MA send, no US send");
    assert_eq!(sus.by_country().keys().copied().collect::<Vec<_>>(), [ma]);
}

/// A log without conversion (AWS events): a spike far above its country's median hour is
/// suspect by volume, and only its excess is counted.
#[test]
fn suspect_cells_by_volume_without_conversion() {
    let c = Countries::builtin();
    let ma = c.index("MA").unwrap();
    let mut a = crate::analysis::Analysis::new(c.len());
    let base = 1_793_577_600_000u64;
    let mut add = |hour: u64, n: u64| {
        for i in 0..n {
            a.add(&Sent {
                ts_ms: base + hour * 3_600_000 + i,
                number: 212_600_000_000 + i,
                country: ma,
                ip: None,
                account: 0,
                converted: None,
                price_usd: 0.2,
                segments: 1,
                carrier: None,
                refused: false,
                verified_ms: None,
            });
        }
    };
    for h in 0..24 {
        add(h, if h == 10 { 300 } else { 20 });
    }
    let sus = a.suspects();
    assert_eq!(sus.rule, crate::analysis::Rule::Volume);
    assert_eq!(sus.sms(), 280, "the spike above the median hour of 20");
    assert_eq!(sus.hours(), [(base / 3_600_000) as u32 + 10]);
    assert!((sus.spend_usd() - 56.0).abs() < 1e-9);
}

/// The sends queued for the range table are added in the order they came: past the table's
/// limit, the ranges seen first keep their rows and later ones go to "other", as without the
/// queue; a range queued but not yet added when the log ends is counted by `finish`.
#[test]
fn number_ranges_keep_the_first_seen_past_the_limit() {
    use crate::analysis::MAX_PREFIXES;
    let c = Countries::builtin();
    let us = c.index("US").unwrap();
    let mut a = crate::analysis::Analysis::new(c.len());
    let send = |range: u64| Sent {
        ts_ms: 1_793_577_600_000,
        number: 12_000_000_000 + range * 10_000 + 7,
        country: us,
        ip: None,
        account: 0,
        converted: None,
        price_usd: 0.01,
        segments: 1,
        carrier: None,
        refused: false,
        verified_ms: None,
    };
    // Every range once, 100 more than the table keeps; then a second send to the first range
    // and to the last one; and an odd count, so the last batch is not full.
    let ranges = MAX_PREFIXES as u64 + 100;
    for r in 0..ranges {
        a.add(&send(r));
    }
    a.add(&send(0));
    a.add(&send(ranges - 1));
    a.add(&send(1));
    a.finish();
    let t = a.by_prefix();
    assert_eq!(t.map.len(), MAX_PREFIXES);
    let row = |r: u64| {
        t.map
            .get(&((12_000_000_000 + r * 10_000) / 10_000))
            .map(|a| a.sms)
    };
    assert_eq!(row(0), Some(2));
    assert_eq!(
        row(1),
        Some(2),
        "the send still queued at the end is counted"
    );
    assert_eq!(row(MAX_PREFIXES as u64 - 1), Some(1));
    assert_eq!(row(MAX_PREFIXES as u64), None, "past the limit");
    assert_eq!(
        t.other.sms, 101,
        "the 100 late ranges and the repeat of the last"
    );
    assert_eq!(a.total.sms, ranges + 3);
}

#[test]
fn reverse_pricing_with_each_fallback() {
    let c = Countries::builtin();
    let (us, ma) = (c.index("US").unwrap(), c.index("MA").unwrap());
    let mut a = crate::analysis::Analysis::new(c.len());
    let base = 1_793_577_600_000u64;
    for i in 0..10_000u64 {
        let (country, converted, price_usd) = if i % 5 == 0 {
            (ma, false, 0.25)
        } else {
            (us, true, 0.0083)
        };
        a.add(&Sent {
            ts_ms: base + i * 60_000,
            number: 14_155_550_000 + i,
            country,
            ip: None,
            account: 0,
            converted: Some(converted),
            price_usd,
            segments: 1,
            carrier: None,
            refused: false,
            verified_ms: None,
        });
    }
    let shares = crate::reverse::Shares::builtin();
    let r = crate::reverse::price(&a, &c, &shares).unwrap();
    let (inbound, outbound) = (&r.reverse[0], &r.reverse[1]);
    assert_eq!(inbound.fallback.as_str(), "inbound_sms");
    assert_eq!(
        inbound.cost.pumped_sms_usd, 0.0,
        "pumping cannot reach the inbound fallback"
    );
    assert!(outbound.cost.pumped_sms_usd > 0.0 && r.sms_flow.pumped_sms_usd > 0.0);
    assert!(inbound.cost.total_usd < r.sms_flow.total_usd);
    assert_eq!(
        r.shares.iter().find(|s| s.0 == "US").map(|s| s.1),
        Some(0.576)
    );
    let mut all = shares.clone();
    all.set("US=1").unwrap();
    all.set("default=1").unwrap();
    let r = crate::reverse::price(&a, &c, &all).unwrap();
    assert_eq!(
        r.reverse[0].cost.inbound_sms_usd, 0.0,
        "everyone on iMessage: no fallback"
    );
    assert!(all.set("UK=0.5").is_err() && all.set("US=2").is_err());
}

proptest! {
    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = crate::time::parse_ms(&s);
        let _ = parse_number(&s);
        let _ = crate::formats::parse_price(&s);
        let _ = crate::privacy::Addr::parse(&s);
    }

    #[test]
    fn numbers_round_trip(n in 1_000_000u64..999_999_999_999_999u64) {
        prop_assert_eq!(parse_number(&format!("+{n}")), Some(n));
        let masked = crate::privacy::mask_number(n, false);
        let last2 = format!("{:02}", n % 100);
        prop_assert!(masked.ends_with(&last2));
        prop_assert!(!masked.contains(&n.to_string()));
    }

    #[test]
    fn timestamps_round_trip(ms in 0u64..4_102_444_800_000u64) {
        let text = mo2fa_core::timefmt::rfc3339_ms(ms);
        prop_assert_eq!(crate::time::parse_ms(&text), Some(ms));
    }

    /// Any row of the generic CSV, written with the csv crate's quoting, reads back.
    #[test]
    fn generic_rows_read_back(account in "[a-z ,\"]{0,12}", verified in proptest::option::of(any::<bool>()), secs in 1_600_000_000u64..1_900_000_000u64) {
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(["timestamp", "phone", "account", "verified"]).unwrap();
        let v = verified.map_or(String::new(), |b| b.to_string());
        w.write_record([secs.to_string(), "+447700900123".into(), account.clone(), v]).unwrap();
        let bytes = w.into_inner().unwrap();
        let input = crate::source::Input { name: "p.csv".into(), reader: Box::new(std::io::Cursor::new(bytes)) };
        let mut got = Vec::new();
        Format::Csv.read(input, &mut |_, item| { got.push(item); Ok(()) }).unwrap();
        prop_assert_eq!(got.len(), 1);
        match &got[0] {
            Item::Send(r) => {
                prop_assert_eq!(r.ts_ms, secs * 1000);
                prop_assert_eq!(r.account, crate::formats::account_key(&account));
                prop_assert_eq!(r.converted, verified);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

#[test]
fn generic_csv_refused_attempts_and_when_codes_were_used() {
    let (sends, stats, bad) = scan("generic_refused.csv", Format::Csv, false).unwrap();
    assert_eq!(lines_and_fields(&bad), [(4, "refused"), (5, "verified_at")]);
    assert_eq!(sends.len(), 3, "two sends and one refused attempt");
    assert_eq!(stats.sends(), 2);
    assert_eq!(stats.refused(), 1);
    assert_eq!(sends[0].verified_ms, Some(sends[0].ts_ms + 31_250));
    assert!(sends[1].refused && sends[1].price_usd == 0.0);
    assert!(!sends[2].refused && sends[2].verified_ms.is_none());
    assert_eq!(
        stats.inferred.price_usd, 1,
        "only the last row's price is inferred"
    );
}

/// `--defences FILE` reads a scenario's `[defences.sms]` where it is written: every error at
/// once at the scenario's lines (it re-serialised the section, so lines were the copy's), in
/// the one wording every config file has; a defences file and a syntax error likewise.
#[test]
fn a_defences_section_reports_every_error_at_the_scenarios_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let scenario = write(
        "s.toml",
        "seed = 1\n[legit]\nrate_per_s = 1.0\n[defences.reverse]\nx = 1\n\
         [defences.sms]\ngeo_allow = [\"US\", \"UK\"]\nmax_keys = 0\nper_nmber = 3\n",
    );
    let e = crate::run::defences_file(&scenario)
        .err()
        .expect("refused")
        .to_string();
    let file = scenario.display().to_string();
    // serde's list of the known keys left out.
    let short: Vec<&str> = e
        .lines()
        .map(|l| l.split(", expected").next().unwrap_or(l))
        .collect();
    assert_eq!(
        short.join("\n"),
        format!(
            "{file}:7: defences.sms.geo_allow[2]: \"UK\" is not an ISO 3166-1 alpha-2 country \
             code like \"US\"; did you mean GB?\n\
             {file}:8: defences.sms.max_keys: must be at least 1\n\
             {file}:9: defences.sms.per_nmber: unknown field `per_nmber` (did you mean \
             `per_number`?)"
        ),
        "{e}"
    );
    let ok = write(
        "ok.toml",
        "seed = 1\n[legit]\n[defences.sms]\nper_number = 2\n",
    );
    let d = crate::run::defences_file(&ok).unwrap();
    assert_eq!(d.cfg.per_number, Some(2));
    let plain = write("d.toml", "per_number = 2\nwindow = \"1 hour\"\n");
    let e = crate::run::defences_file(&plain)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.starts_with(&format!("{}:2: window: ", plain.display())),
        "{e}"
    );
    let broken = write("b.toml", "per_number = 2\nwindow = \n");
    let e = crate::run::defences_file(&broken)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.starts_with(&format!("{}:2: ", broken.display())), "{e}");
}
