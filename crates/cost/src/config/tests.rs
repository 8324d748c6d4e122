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
        e.starts_with("mix.toml:13: resend_rate: must be in [0, 10]"),
        "{e}"
    );
    let e = err(&format!("{MIX}\n[sms]\nprice_date = \"2026-02-30\"\n"));
    assert!(e.starts_with("mix.toml:13: price_date:"), "{e}");
    let e = err("[countries.US]\nweight = 1\n");
    assert!(e.contains("countries.US.imessage_share: missing"), "{e}");
    let e = err("imessage_share = 0.5\n[countries.US]\nweight = 0\n");
    assert!(e.contains("sum to more than 0"), "{e}");
    let e =
        err("imessage_share = 0.5\n[countries.US]\nweight = 1\n[imessage]\npeak_factor = 0.5\n");
    assert!(e.starts_with("mix.toml:5: peak_factor"), "{e}");
}

#[test]
fn builtin_prices_parse() {
    let doc = Doc {
        name: BUILTIN_PRICES_NAME,
        text: BUILTIN_PRICES,
    };
    let p: PricesFile = doc.parse().expect("built-in prices parse");
    validate_all(&doc, p.tables()).expect("valid");
}
