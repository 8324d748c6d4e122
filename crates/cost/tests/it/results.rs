//! `results.json` carries the same break-evens and costs as the model and the human-readable
//! outputs, and the same inputs give the same bytes.

use crate::sweep_of;
use mo2fa_cost::BreakEven;
use mo2fa_cost::model::evaluate;
use mo2fa_cost::report::cost::{CostReport, describe_break_even};
use serde_json::Value;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn results_agree_with_the_model_and_the_summary() {
    let s = sweep_of("us-eu.toml", 1e2, vec![0.0, 0.1, 0.2]);
    let report = CostReport::render(&s, None, None);
    let r: Value = serde_json::from_str(&report.results_json).expect("JSON");
    assert_eq!(r["price_snapshot"], s.mix.snapshot.date().to_string());
    assert_eq!(r["mix"], s.mix.name.as_str());
    let shares = r["fraud_shares"].as_array().expect("array");
    assert_eq!(shares.len(), s.per_fraud.len());
    for (j, want) in shares.iter().zip(&s.per_fraud) {
        assert!(close(num(&j["fraud_share"]), want.fraud_share));
        let BreakEven::At { first, stays_from } = want.break_even else {
            panic!(
                "us-eu has a break-even at every fraud share: {:?}",
                want.break_even
            );
        };
        let be = &j["break_even"];
        assert_eq!(be["kind"], "at", "{be}");
        assert!(close(num(&be["first_cheaper_above"]), first), "{be}");
        assert!(
            close(num(&be["cheaper_from"]), stays_from.expect("stays")),
            "{be}"
        );
        let e = evaluate(&s.mix, 1e6, want.fraud_share).expect("evaluate");
        let at = &j["at_reference"];
        assert!(close(num(&at["sms_otp"]["total_usd"]), e.sms.total_usd));
        assert!(close(
            num(&at["reverse_imessage"]["total_usd"]),
            e.reverse.total_usd
        ));
        assert_eq!(at["reverse_imessage"]["imessage_lines"], e.reverse.lines);
        let sentence = describe_break_even(&want.break_even, s.lo, s.hi);
        assert!(report.summary_md.contains(&sentence), "{sentence}");
    }
    let again = CostReport::render(&s, None, None);
    assert_eq!(report.results_json, again.results_json, "deterministic");
}

#[test]
fn pumping_through_an_outbound_fallback_leaves_the_break_even_in_place() {
    // docs/cost.md: with outbound SMS fallback everywhere the fallback is pumped exactly as SMS
    // OTP is, so both curves move together and the break-even stays at about 3,021.
    let s = sweep_of("global.toml", 1e2, vec![0.0, 0.2]);
    let r: Value =
        serde_json::from_str(&CostReport::render(&s, None, None).results_json).expect("JSON");
    let firsts: Vec<f64> = r["fraud_shares"]
        .as_array()
        .expect("array")
        .iter()
        .map(|f| num(&f["break_even"]["first_cheaper_above"]))
        .collect();
    assert_eq!(firsts.len(), 2);
    assert!((firsts[0] - 3_021.0).abs() < 1.0, "{firsts:?}");
    assert!((firsts[0] - firsts[1]).abs() < 1.0, "{firsts:?}");
}
