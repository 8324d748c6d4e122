//! The price and mix files: merging, overrides, notes and file:line:key errors.

use super::file::{Doc, PricesFile, validate_all};
use super::*;

fn load(mix: &str) -> Result<PricedMix, CostError> {
    PricedMix::from_mix_text("mix.toml", mix, None, &LoadOptions::default())
}

const MIX: &str = r#"name = "t"
imessage_share = 0.5

[countries.US]
weight = 3

[countries.GB]
weight = 1
imessage_share = 0.4
fallback = "outbound_sms"
"#;

#[test]
fn mix_merges_over_builtin_prices() {
    let s = load(MIX).expect("valid mix");
    assert_eq!(s.countries.len(), 2);
    let gb = &s.countries[0];
    assert_eq!((gb.dest.iso.as_str(), gb.dest.share), ("GB", 0.25));
    assert_eq!(gb.fallback, FallbackKind::OutboundSms);
    let us = &s.countries[1];
    assert_eq!(
        (us.imessage_share, us.fallback),
        (0.5, FallbackKind::InboundSms)
    );
    assert_eq!(us.dest.carrier_fee_usd, 0.0045);
    assert_eq!(us.inbound_usd_per_message, 0.0113);
    assert_eq!(s.sms.verify_fee_usd, 0.05);
    assert_eq!(s.imessage.line_usd_per_month, 100.0);
    assert_eq!(s.pumping.len(), 26);
    assert!((s.pumping.iter().map(|d| d.share).sum::<f64>() - 1.0).abs() < 1e-12);
    let one_time = &s.sms.fixed_fees[1];
    assert!((one_time.monthly_usd - 110.5 / 12.0).abs() < 1e-12);
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn overrides_win_and_unknown_countries_are_noted() {
    let mix = format!(
        "{MIX}\n[countries.XK]\nweight = 1\n\n[sms]\nverify_fee_usd = 0\n\n[imessage]\nline_usd_per_month = 399\n"
    );
    let s = load(&mix).expect("valid mix");
    assert_eq!(s.sms.verify_fee_usd, 0.0);
    assert_eq!(s.imessage.line_usd_per_month, 399.0);
    assert_eq!(
        s.sms.resend_rate, 0.05,
        "untouched keys keep the price file's value"
    );
    assert_eq!(s.notes.len(), 1);
    assert!(
        s.notes[0].contains("XK is not in the price table"),
        "{:?}",
        s.notes
    );
}

fn err(mix: &str) -> String {
    load(mix).expect_err("must fail").to_string()
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let e = err(&crate::test_files::replaced(
        MIX,
        "weight = 1\n",
        "weight = 1\nweigth = 2\n",
    ));
    assert!(
        e.starts_with(
            "mix.toml:9: countries.GB.weigth: unknown field `weigth` (did you mean `weight`?)"
        ),
        "{e}"
    );
    assert!(e.contains("unknown field"), "{e}");
    let e = err(&format!("{MIX}\n[imessage]\nline_price = 5\n"));
    assert!(e.starts_with("mix.toml:13: imessage.line_price:"), "{e}");
    let e = err(&format!("bogus = 1\n{MIX}"));
    assert!(e.starts_with("mix.toml:1: bogus:"), "{e}");
}

#[test]
fn bad_values_name_file_line_and_key() {
    let e = err(&crate::test_files::replaced(
        MIX,
        "imessage_share = 0.4",
        "imessage_share = 1.4",
    ));
    assert!(
        e.starts_with("mix.toml:9: countries.GB.imessage_share: must be in [0, 1]"),
        "{e}"
    );
    let e = err(&crate::test_files::replaced(
        MIX,
        "weight = 3",
        "weight = \"three\"",
    ));
    assert!(e.starts_with("mix.toml:5: countries.US.weight:"), "{e}");
    let e = err(&crate::test_files::replaced(
        MIX,
        "\"outbound_sms\"",
        "\"carrier_pigeon\"",
    ));
    assert!(e.starts_with("mix.toml:10: countries.GB.fallback:"), "{e}");
    let e = err(&crate::test_files::replaced(
        MIX,
        "[countries.GB]",
        "[countries.gb]",
    ));
    assert!(
        e.starts_with("mix.toml:7: countries.gb: \"gb\" is not an ISO 3166-1")
            && e.ends_with("did you mean GB?"),
        "{e}"
    );
    // A code that only looks like one is refused the same way, at its line.
    for (wrong, hint) in [("UK", "; did you mean GB?"), ("XX", "")] {
        let e = err(&crate::test_files::replaced(
            MIX,
            "[countries.GB]",
            &format!("[countries.{wrong}]"),
        ));
        assert!(
            e.starts_with(&format!("mix.toml:7: countries.{wrong}:")),
            "{e}"
        );
        assert!(
            e.ends_with(&format!("country code like \"US\"{hint}")),
            "{e}"
        );
    }
    let e = err(&format!("{MIX}\n[sms]\nresend_rate = -1\n"));
    assert!(
        e.starts_with("mix.toml:13: sms.resend_rate: must be in [0, 10]"),
        "{e}"
    );
    let e = err(&format!("{MIX}\n[sms]\nprice_date = \"2026-02-30\"\n"));
    assert!(e.starts_with("mix.toml:13: sms.price_date:"), "{e}");
    let e = err("[countries.US]\nweight = 1\n");
    assert!(e.contains("countries.US.imessage_share: missing"), "{e}");
    let e = err("imessage_share = 0.5\n[countries.US]\nweight = 0\n");
    assert!(e.contains("sum to more than 0"), "{e}");
    let e =
        err("imessage_share = 0.5\n[countries.US]\nweight = 1\n[imessage]\npeak_factor = 0.5\n");
    assert!(e.starts_with("mix.toml:5: imessage.peak_factor"), "{e}");
}

#[test]
fn builtin_prices_parse() {
    let doc = Doc {
        name: BUILTIN_PRICES_NAME,
        text: BUILTIN_PRICES,
    };
    let p: PricesFile = doc
        .parse(|p: &PricesFile, found| validate_all(&doc, p.tables(), found))
        .expect("built-in prices parse and pass their range checks");
    assert!(p.sms.segments_per_otp.is_some());
}

/// Issue 23 item 6: the range checks stopped at their first error. A mix with parse errors,
/// bad codes, range errors in several tables and a missing key reports them all in one
/// round, in file order, as `file:line: key: message`.
#[test]
fn every_error_of_a_mix_is_reported_in_one_round() {
    let mix = "name = \"t\"\nimessage_share = 1.5\n\
               [countries.US]\nweight = -1\nimessage_share = 2\n\
               [countries.UK]\nweight = 1\n\
               [countries.GB]\nweight = \"one\"\n\
               [sms]\nresend_rate = -1\nsuccess_rate = 2\nprice_date = \"2026-02-30\"\n\
               carrier_fees_usd = { US = -0.1, XX = 0.1 }\n\
               [[sms.fixed_fees]]\nname = \" \"\nmonthly_usd = -5\n\
               [imessage]\npeak_factor = 0.5\ndays_per_month = 40\n\
               [pumping]\nweights = { MA = 0 }\n";
    let e = err(mix);
    let got: Vec<&str> = e.lines().collect();
    assert_eq!(
        got,
        [
            "mix.toml:2: imessage_share: must be in [0, 1], got 1.5",
            "mix.toml:4: countries.US.weight: must be >= 0, got -1",
            "mix.toml:5: countries.US.imessage_share: must be in [0, 1], got 2",
            "mix.toml:6: countries.UK: \"UK\" is not an ISO 3166-1 alpha-2 country code like \"US\"; did you mean GB?",
            "mix.toml:9: countries.GB.weight: invalid type: string \"one\", expected f64",
            "mix.toml:11: sms.resend_rate: must be in [0, 10], got -1",
            "mix.toml:12: sms.success_rate: must be in [0, 1], got 2",
            "mix.toml:13: sms.price_date: \"2026-02-30\" is not a calendar date",
            "mix.toml:14: sms.carrier_fees_usd.US: must be >= 0, got -0.1",
            "mix.toml:14: sms.carrier_fees_usd.XX: \"XX\" is not an ISO 3166-1 alpha-2 country code like \"US\"",
            "mix.toml:16: sms.fixed_fees[1].name: must not be empty",
            "mix.toml:17: sms.fixed_fees[1].monthly_usd: must be >= 0, got -5",
            "mix.toml:19: imessage.peak_factor: must be >= 1 (the peak day is at least the average day), got 0.5",
            "mix.toml:20: imessage.days_per_month: must be in [1, 31], got 40",
            "mix.toml:22: pumping.weights: at least one weight must be > 0",
        ],
        "{e}"
    );
}
