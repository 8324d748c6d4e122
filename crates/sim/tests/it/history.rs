//! `[history]` and what the presets charge: a warm-up teaches the rules that learn from
//! history the traffic the account had (issue 24, item 1), and every fee and credit a preset
//! implies is in the cost of the period and the reports (item 2).

use super::run_scenario;
use mo2fa_sim::incidents::Measured;
use mo2fa_sim::report;
use mo2fa_sim::scenario::Flow;
use mo2fa_sim::variants::Variant;

/// A Hong Kong app's legit traffic alone (Blackpanda's: 0.05/s, the cited SMS delivery with
/// loss and resends), one day, SMS flow.
const LEGIT_ONLY: &str = r#"
seed = 20260301
duration = "1d"
interval = "6h"
flows = ["sms"]
[legit]
rate_per_s = 0.05
diurnal_amplitude = 0.6
p_send = 0.93
send_delay_median = "15s"
countries.HK = { weight = 1.0, imessage = 0.5, fallback = "inbound_sms" }
[emitter]
latency_median = "400ms"
[sms]
delivery = "4s"
delivery_sigma = 0.67
loss = 0.03
resend_after = "60s"
"#;

fn legit_blocked_share(text: &str, preset: &str, warm: bool) -> f64 {
    let v = Variant::Preset {
        name: preset.into(),
        warm,
    };
    let sc = v.apply("legit-only.toml", text).unwrap();
    let (sc, o) = run_scenario(sc, None);
    let m = Measured::of(&sc, Flow::Sms, &o);
    assert!(m.legit_users > 3_000, "{preset}: {} users", m.legit_users);
    m.legit_blocked_share()
}

/// The warm row is the account with 15 days of its own traffic behind it. Authgear (deny) and
/// Plivo start from their floors (3 an hour, 50 an hour) below this app's ~180 an hour; a
/// warm-up that they judged would be refused from its first hour and teach them nothing
/// (Authgear's buckets stay full of refused, never verified requests), so the warm row
/// refused every legit user, as the cold one can. Learnt as sent, it refuses (almost) none.
#[test]
fn a_warm_up_teaches_the_learning_rules_traffic_above_their_floors() {
    for preset in ["authgear_deny", "plivo_fraud_shield_medium"] {
        let warm = legit_blocked_share(LEGIT_ONLY, preset, true);
        assert!(
            warm < 0.01,
            "{preset}, warm: {:.1} % of legit users refused",
            warm * 100.0
        );
    }
    let cold = legit_blocked_share(LEGIT_ONLY, "plivo_fraud_shield_medium", false);
    assert!(
        cold > 0.5,
        "Plivo at its floor of 50 an hour refuses most of them cold: {:.1} %",
        cold * 100.0
    );
}

/// Pumping into Morocco under a preset that charges a fee and one that credits.
fn pumped(preset: &str) -> String {
    format!(
        "{LEGIT_ONLY}[defences.sms]\npreset = \"{preset}\"\n[[attacker]]\nkind = \"sms_pumping\"\n\
         start = \"1h\"\nend = \"5h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
         targets = {{ MA = 1.0 }}\nnumbers = \"random\"\nrange_size = 10000\n"
    )
}

/// AWS's AIT evaluation fee is a part of the cost of the period (the headline is the cost
/// model's total, fees included); Twilio's Fraud Guard Promise credit at Max is its own line
/// in summary.json and summary.md, and not taken off the total.
#[test]
fn preset_fees_are_in_the_cost_of_the_period_and_the_credit_is_its_own_line() {
    let sc = mo2fa_sim::scenario::Scenario::parse("f.toml", &pumped("aws_protect_filter")).unwrap();
    let (sc, o) = run_scenario(sc, None);
    let p = o.costs.period[Flow::Sms].as_ref().unwrap();
    let model = o.costs.sms.as_ref().unwrap();
    let screened = o.counts.defences[0].fees["aws_ait_evaluation"];
    assert!(screened > 10_000, "{screened} messages screened");
    assert_eq!(
        p.defence_fees_cents,
        (screened as f64 * 0.1).round() as i64,
        "$0.001 a message"
    );
    assert!(
        (p.total_usd() - model.total_usd).abs() < 0.05,
        "the headline {} is the cost model's total {} (fees in both)",
        p.total_usd(),
        model.total_usd
    );
    let json: serde_json::Value =
        serde_json::from_str(&report::summary_json(&sc, "f", sc.run.seed, &o)).unwrap();
    let cost = &json["cost_of_period_usd"]["sms_flow"];
    assert_eq!(
        cost["defence_fees"].as_str().unwrap(),
        format!("{:.2}", p.defence_fees_cents as f64 / 100.0)
    );
    assert!(
        report::summary_md(&sc, "f", sc.run.seed, &o)
            .contains("SMS defence fee, aws_ait_evaluation")
    );

    let sc =
        mo2fa_sim::scenario::Scenario::parse("f.toml", &pumped("twilio_fraud_guard_max")).unwrap();
    let (sc, o) = run_scenario(sc, None);
    let p = o.costs.period[Flow::Sms].as_ref().unwrap();
    assert!(p.vendor_credit_cents > 0, "Max credits what it caught late");
    assert!(p.vendor_credit_cents <= p.pumped_sms_list_cents + p.carrier_fees_cents);
    let parts: i64 = p.parts().iter().map(|x| x.2).sum();
    assert_eq!(parts, p.total_cents(), "the credit is not a part");
    let json: serde_json::Value =
        serde_json::from_str(&report::summary_json(&sc, "f", sc.run.seed, &o)).unwrap();
    assert_eq!(
        json["cost_of_period_usd"]["sms_flow"]["vendor_credit_claimable"]
            .as_str()
            .unwrap(),
        format!("{:.2}", p.vendor_credit_cents as f64 / 100.0)
    );
    let md = report::summary_md(&sc, "f", sc.run.seed, &o);
    assert!(md.contains("vendor credit, claimable afterwards"), "{md}");
}
