//! The simulator crate's integration tests: the engine against arithmetic it must obey, and
//! byte-identical reports for a seed. Tolerances are 5 standard deviations: wide enough never
//! to flake, narrow enough to catch a wrong formula or a lost event.

use mo2fa_sim::engine::{self, Control, Outcome, Row};
use mo2fa_sim::report;
use mo2fa_sim::scenario::{Dur, Scenario};
use std::sync::atomic::AtomicBool;

mod compat;
mod history;
mod incidents;

/// `text` with `from` replaced by `to`; panics when `from` is not there, so a variant can never
/// silently be the base scenario.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the scenario text");
    text.replace(from, to)
}

fn run(text: &str, seed: Option<u64>) -> (Scenario, Outcome) {
    let sc = Scenario::parse("test.toml", text).unwrap();
    run_scenario(sc, seed)
}

fn run_scenario(sc: Scenario, seed: Option<u64>) -> (Scenario, Outcome) {
    let stop = AtomicBool::new(false);
    let control = Control {
        interrupt: &stop,
        progress: &|_| {},
    };
    let o = engine::simulate(&sc, seed.unwrap_or(sc.run.seed), &control).unwrap();
    (sc, o)
}

fn within_5_sigma(got: f64, mean: f64, var: f64, what: &str) {
    let sigma = var.sqrt();
    assert!(
        (got - mean).abs() <= 5.0 * sigma,
        "{what}: {got} vs expected {mean:.1} ± 5·{sigma:.1}"
    );
}

const BASE: &str = r#"
seed = 7
duration = "2h"
interval = "10m"
flows = ["reverse", "sms"]
[legit]
rate_per_s = RATE
p_send = 1.0
send_delay_median = "8s"
double_send = 0.1
countries.US = { weight = 0.5, imessage = 0.6, fallback = "inbound_sms" }
countries.DE = { weight = 0.5, imessage = 0.4, fallback = "outbound_sms" }
[emitter]
latency_median = "300ms"
duplicate_rate = 0.2
"#;

fn base(rate: f64) -> String {
    edit(BASE, "RATE", &format!("{rate:?}"))
}

#[test]
fn poisson_arrival_count() {
    let (_, o) = run(&base(5.0), None);
    let mean = 5.0 * 7200.0;
    within_5_sigma(o.counts.users.legit as f64, mean, mean, "legit arrivals");
}

#[test]
fn every_legit_challenge_verified_exactly_once() {
    let (_, o) = run(&base(3.0), None);
    let t = &o.counts.totals;
    assert!(o.counts.users.legit > 10_000);
    assert_eq!(
        o.counts.users.double_verified, 0,
        "a challenge answered verified twice"
    );
    assert!(
        t.webhook.duplicate_deliveries > 0,
        "duplicates were simulated"
    );
    // Everyone sends, nothing is dropped or mistyped: every flow verifies once.
    assert_eq!(t.legit.legit_starts, o.counts.users.legit);
    assert_eq!(
        t.legit.legit_verified_reverse, o.counts.users.legit,
        "reverse flow"
    );
    assert_eq!(t.legit.legit_verified_sms, o.counts.users.legit, "sms flow");
}

#[test]
fn pumping_bill_is_the_sum_of_destination_prices() {
    let text = format!(
        "{}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"2h\"\nshape = \"sustained\"\nrate_per_s = 2.0\ntargets = {{ MA = 1.0, AZ = 1.0, KG = 2.0 }}\nnumbers = \"random\"\n",
        edit(
            &base(0.0),
            "flows = [\"reverse\", \"sms\"]",
            "flows = [\"sms\"]"
        )
    );
    let (_, o) = run(&text, None);
    let pumped: u64 = o.counts.countries.iter().map(|c| c.pumped_smsflow).sum();
    assert_eq!(pumped, o.counts.totals.pumping.pumped_sms_smsflow);
    within_5_sigma(pumped as f64, 2.0 * 7200.0, 2.0 * 7200.0, "pumped messages");
    let expected: f64 = o
        .counts
        .countries
        .iter()
        .map(|c| c.pumped_smsflow as f64 * c.usd_per_segment)
        .sum();
    assert!(expected > 1000.0);
    assert!(
        (o.counts.totals.usd.usd_sms_flow - expected).abs() < 1e-6 * expected,
        "bill {} vs sum of prices {expected}",
        o.counts.totals.usd.usd_sms_flow
    );
    // Kyrgyzstan got twice the weight of each other target.
    let kg = o
        .counts
        .countries
        .iter()
        .find(|c| c.iso == "KG")
        .unwrap()
        .pumped_smsflow as f64;
    within_5_sigma(kg, pumped as f64 / 2.0, pumped as f64 / 4.0, "KG share");
}

#[test]
fn code_guessing_hit_rate_matches_p_over_s() {
    // 4-symbol codes (S = 31^4 - 23^4 = 643,680: every code has a digit) so hits are
    // frequent enough to count. A flood makes the
    // pending population P in the first 10 s; guesses come later, while P stays put.
    let text = format!(
        "{}\n[verifier]\ncode_len = 4\nttl = \"1h\"\n\
         [[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"10s\"\nshape = \"sustained\"\nrate_per_s = 1000.0\n\
         [[attacker]]\nkind = \"code_guessing\"\nstart = \"1m\"\nend = \"11m\"\nshape = \"sustained\"\nrate_per_s = 40.0\nsender_accounts = 100\n",
        edit(&base(0.0), "duration = \"2h\"", "duration = \"12m\"")
    );
    let (_, o) = run(&text, None);
    let t = &o.counts.totals;
    let p = t.webhook.flood_starts as f64;
    let s = mo2fa_core::code::CodeSpec::new(4).unwrap().space() as f64;
    assert_eq!(s, 31f64.powi(4) - 23f64.powi(4));
    let k = t.webhook.guess_messages as f64;
    assert!(p > 9_000.0 && k > 20_000.0, "P {p}, k {k}");
    let q = p / s;
    within_5_sigma(
        t.webhook.guess_hits as f64,
        k * q,
        k * q * (1.0 - q),
        "hits",
    );
    // The chance that this attacker hijacks at least one challenge: 1 - (1 - P/S)^k.
    let at_least_one = 1.0 - (1.0 - q).powf(k);
    assert!(at_least_one > 0.999 && t.webhook.hijacks > 0);
    assert_eq!(
        t.webhook.hijacks, t.webhook.guess_hits,
        "no binding: every hit is a hijack"
    );
}

#[test]
fn expected_sender_binding_turns_hits_into_mismatches() {
    let text = format!(
        "{}\n[verifier]\ncode_len = 4\nttl = \"1h\"\n[defences.reverse]\nexpected_sender = true\n\
         [[attacker]]\nkind = \"code_guessing\"\nstart = \"1m\"\nend = \"30m\"\nshape = \"sustained\"\nrate_per_s = 40.0\n",
        edit(
            &edit(&base(20.0), "duration = \"2h\"", "duration = \"30m\""),
            "p_send = 1.0",
            "p_send = 0.0"
        )
    );
    let (_, o) = run(&text, None);
    assert!(
        o.counts.totals.webhook.guess_hits > 0,
        "the attacker does hit pending codes"
    );
    assert_eq!(
        o.counts.totals.webhook.hijacks, 0,
        "but bound challenges never verify for a stranger"
    );
}

#[test]
fn forged_and_replayed_deliveries_change_nothing() {
    let text = format!(
        "{}\n[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 5.0\n\
         [[attacker]]\nkind = \"replay\"\nstart = \"10m\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 5.0\ncapture_age = \"1m\"\n\
         [[attacker]]\nkind = \"replay\"\nname = \"stale\"\nstart = \"30m\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 5.0\ncapture_age = \"20m\"\n",
        edit(&base(2.0), "duration = \"2h\"", "duration = \"1h\"")
    );
    let (_, o) = run(&text, None);
    let t = &o.counts.totals;
    assert!(t.webhook.forged_rejected > 10_000);
    assert!(
        o.counts.attackers[0].succeeded == 0
            && o.counts.attackers[1].succeeded == 0
            && o.counts.attackers[2].succeeded == 0
    );
    assert!(
        t.webhook.replays_deduped > 0,
        "fresh replays pass the signature but hit the dedupe cache"
    );
    assert!(
        t.webhook.replays_rejected > 0,
        "stale replays fail the timestamp check"
    );
    assert_eq!(t.legit.legit_verified_reverse, o.counts.users.legit);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/quickstart.toml"
    );
    let mut quickstart = Scenario::load(std::path::Path::new(path)).unwrap();
    quickstart.run.duration = Dur(3 * 3_600_000);
    let files = |seed: Option<u64>| {
        let (sc, o) = run_scenario(quickstart.clone(), seed);
        (
            report::summary_json(&sc, "q", seed.unwrap_or(sc.run.seed), &o),
            report::timeline_csv(&sc, &o).unwrap(),
            report::html(&sc, "q", seed.unwrap_or(sc.run.seed), &o),
        )
    };
    let a = files(None);
    assert_eq!(a, files(None));
    let b = files(Some(12345));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}

#[test]
fn timeline_csv_has_one_column_per_counter_and_one_row_per_interval() {
    let (sc, o) = run(
        &edit(&base(1.0), "duration = \"2h\"", "duration = \"25m\""),
        None,
    );
    let csv = report::timeline_csv(&sc, &o).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        1 + 3,
        "header and three 10-minute rows (the last partial)"
    );
    assert!(lines[0].starts_with("t_start_s,legit_starts,"));
    assert!(
        lines[0].ends_with(
            ",usd_sms_flow,usd_reverse_flow,usd_captcha_sms_flow,usd_captcha_reverse_flow"
        )
    );
    assert_eq!(lines[0].split(',').count(), 1 + Row::COLUMNS.len());
    assert!(lines[2].starts_with("600,"));
    assert!(lines[3].starts_with("1200,"));
    let starts: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(starts, o.counts.totals.legit.legit_starts);
    assert!(csv.ends_with('\n') && !csv.contains('\r'));
}

#[test]
fn the_costs_are_priced_once_and_an_unrun_flow_has_none() {
    let (sc, o) = run(
        &edit(
            &base(1.0),
            "flows = [\"reverse\", \"sms\"]",
            "flows = [\"reverse\"]",
        ),
        None,
    );
    assert!(o.costs.sms.is_none(), "the sms flow did not run");
    let reverse = o.costs.reverse.as_ref().expect("reverse flow priced");
    assert!(reverse.total_usd > 0.0);
    let json: serde_json::Value =
        serde_json::from_str(&report::summary_json(&sc, "t", 7, &o)).unwrap();
    assert!(json["cost_model_usd"]["sms_flow"].is_null());
    assert_eq!(
        json["cost_model_usd"]["reverse_flow"]["total"],
        format!("{:.2}", reverse.total_usd)
    );
}

/// An hour of SMS-flow traffic (US users) and two hours of pumping to MA at 1/s, under a
/// conversion rule, with the attacker's `keys`.
fn pumped_under_conversion_rule(keys: &str) -> Outcome {
    let text = format!(
        "{}[defences.sms]\nconversion = {{ min_sent = 50, threshold = 0.3, block_for = \"6h\" }}\n\
         [[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"2h\"\nshape = \"sustained\"\n\
         rate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n{keys}",
        edit(
            &base(0.2),
            "flows = [\"reverse\", \"sms\"]",
            "flows = [\"sms\"]"
        )
    );
    run(&text, None).1
}

#[test]
fn submitted_codes_pass_the_conversion_rule_and_pay_the_verify_fee() {
    let plain = pumped_under_conversion_rule("");
    assert!(
        plain.counts.blocks.sms.iter().any(|b| b.iso == "MA"),
        "pumped traffic does not convert: MA is blocked"
    );
    assert!(plain.counts.totals.pumping.blocked_sms > 0);
    let submit = pumped_under_conversion_rule("submit_codes = 0.6\n");
    assert!(
        submit.counts.blocks.sms.is_empty(),
        "{:?}",
        submit.counts.blocks.sms
    );
    let (pumped, verified) = (
        submit.counts.totals.pumping.pumped_sms_smsflow as f64,
        submit.counts.totals.pumping.pumped_verified_smsflow as f64,
    );
    within_5_sigma(verified, 0.6 * pumped, 0.24 * pumped, "submitted codes");
    // The Verify fee ($0.05 in the built-in price file) is due on every success.
    let fees = |o: &Outcome| o.costs.sms.as_ref().unwrap().verify_fees_usd;
    let successes = submit.counts.totals.legit.legit_verified_sms
        + submit.counts.totals.pumping.pumped_verified_smsflow;
    assert!((fees(&submit) - 0.05 * successes as f64).abs() < 1e-6);
    // Camouflage fools the rule too, but nothing is verified and no fee is due for it.
    let camouflage = pumped_under_conversion_rule("camouflage = 0.6\n");
    assert!(camouflage.counts.blocks.sms.is_empty());
    assert_eq!(camouflage.counts.totals.pumping.pumped_verified_smsflow, 0);
    let legit_fees = 0.05 * camouflage.counts.totals.legit.legit_verified_sms as f64;
    assert!((fees(&camouflage) - legit_fees).abs() < 1e-6);
}

#[test]
fn a_carriers_price_reaches_the_timeline_and_the_cost_model() {
    let o = pumped_under_conversion_rule(
        "carriers = [\"Dear\"]\n[[carrier]]\ncountry = \"MA\"\nname = \"Dear\"\nshare = 0.5\n\
         price_usd = 1.0\n",
    );
    let dear = o.counts.carriers.iter().find(|k| k.name == "Dear").unwrap();
    let ma = o.counts.countries.iter().find(|c| c.iso == "MA").unwrap();
    assert_eq!(
        dear.pumped_smsflow, ma.pumped_smsflow,
        "every pumped SMS on Dear"
    );
    assert!(dear.pumped_smsflow > 100);
    let per_carrier: u64 = o.counts.carriers.iter().map(|k| k.pumped_smsflow).sum();
    assert_eq!(per_carrier, o.counts.totals.pumping.pumped_sms_smsflow);
    let legit_usd: f64 = o
        .counts
        .carriers
        .iter()
        .map(|k| k.sms_legit_smsflow as f64 * k.usd_per_segment)
        .sum();
    let bill = dear.pumped_smsflow as f64 * 1.0 + legit_usd;
    assert!(
        (o.counts.totals.usd.usd_sms_flow - bill).abs() < 1e-6,
        "{} vs {bill}",
        o.counts.totals.usd.usd_sms_flow
    );
    let cost = o.costs.sms.as_ref().unwrap();
    assert!(
        (cost.pumped_sms_usd - dear.pumped_smsflow as f64).abs() < 1e-6,
        "the model bills Dear's $1.00, not MA's list price: {}",
        cost.pumped_sms_usd
    );
    let by_ma = cost.by_country.iter().find(|c| c.iso == "MA").unwrap();
    assert!((by_ma.pumped_sms_usd - cost.pumped_sms_usd).abs() < 1e-6);
}

#[test]
fn the_adaptive_pumping_example_exercises_its_knobs() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/examples/adaptive-pumping.toml"
    );
    let sc = Scenario::load(std::path::Path::new(path)).unwrap();
    let (_, o) = run_scenario(sc, None);
    let t = &o.counts.totals;
    let (farm, bots) = (&o.counts.attackers[0], &o.counts.attackers[1]);
    assert!(farm.adaptations > 0 && farm.accounts > 100, "{farm:?}");
    assert!(
        bots.adaptations > 0 && bots.attempts < 1_000,
        "bots back off: {bots:?}"
    );
    assert!(t.pumping.pumped_verified_smsflow > 0 && t.pumping.pumped_verified_reverse > 0);
    assert!(t.pumping.captcha_blocked_pumping > 0 && t.legit.captcha_blocked_legit > 0);
    assert!(t.usd.usd_captcha_sms_flow > 0.0);
    let on = |name: &str, iso: &str| {
        o.counts
            .carriers
            .iter()
            .find(|k| k.name == name && k.iso == iso)
            .map_or(0, |k| k.pumped_smsflow)
    };
    assert!(on("Inwi", "MA") > 0 && on("Beeline", "KG") > 0);
    // The farm keeps to its carriers; only the few bots that get through reach IAM.
    assert!(on("IAM", "MA") * 100 < on("Inwi", "MA"));
}

/// What the SMS defences did is reported per flow: one pumping attempt refused by both flows
/// counts once in each, the old total stays their sum, and rules in monitor mode only alert.
#[test]
fn defences_are_reported_per_flow() {
    let text = format!(
        "{}[defences.sms]\npreset = \"twilio_messaging_pumping_protection\"\n\
         limit = [{{ on = \"global\", max = 10, window = \"1h\", mode = \"monitor\" }}]\n\
         [[attacker]]\nkind = \"sms_pumping\"\nstart = \"30m\"\nend = \"2h\"\nshape = \"sustained\"\nrate_per_s = 0.5\n\
         targets = {{ DE = 1.0 }}\nnumbers = \"sequential\"\nrange_size = 20\n",
        base(0.2)
    );
    let (sc, o) = run(&text, None);
    let [sms, rev] = &o.counts.defences;
    let t = &o.counts.totals;
    assert!(sms.blocked > 0 && rev.blocked > 0, "{sms:?} {rev:?}");
    assert_eq!(
        t.pumping.blocked_sms,
        t.pumping.blocked_sms_smsflow + t.pumping.blocked_sms_reverse
    );
    assert_eq!(
        (t.pumping.blocked_sms_smsflow, t.pumping.blocked_sms_reverse),
        (sms.blocked, rev.blocked)
    );
    assert_eq!(
        (t.legit.legit_blocked_smsflow, t.legit.legit_blocked_reverse),
        (sms.legit_blocked, rev.legit_blocked)
    );
    for d in [sms, rev] {
        assert_eq!(d.blocked_by_rule.values().sum::<u64>(), d.blocked);
        assert!(
            d.first_block_ms.is_some_and(|ms| ms >= 30 * 60_000),
            "{d:?}"
        );
        assert!(d.alerts_by_rule.get("limit_global").is_some_and(|&n| n > 0));
    }
    let v: serde_json::Value =
        serde_json::from_str(&report::summary_json(&sc, "t", 7, &o)).unwrap();
    assert_eq!(
        v["defences"]["preset"],
        "twilio_messaging_pumping_protection"
    );
    assert_eq!(v["defences"]["sms_flow"]["blocked"], sms.blocked);
    // Time to first block runs from the pumping attack's start (30 min), not the run's.
    let since_attack_ms = rev.first_block_ms.unwrap() - 30 * 60_000;
    assert_eq!(
        v["defences"]["reverse_flow"]["time_to_first_block_s"].as_f64(),
        Some(since_attack_ms as f64 / 1000.0)
    );
    assert!(report::table(&o).contains("pumping_protection: blocked / alerts"));
    assert!(report::html(&sc, "t", 7, &o).contains("What the defences did"));
}

/// A prepaid balance pays each SMS at its carrier's price: $10 at $1 a message (one carrier
/// for all of US) pays exactly ten legit SMS, then the account stops sending.
#[test]
fn a_balance_is_charged_the_carriers_price() {
    let text = format!(
        "{}[[carrier]]\ncountry = \"US\"\nname = \"dear\"\nshare = 1.0\nprice_usd = 1.0\n\
         [billing.balance]\nstart_usd = 10\nrecharge_below_usd = 0\nrecharge_usd = 1\n\
         card_daily_limit_usd = 0\non_limit = \"stop_sending\"\n",
        edit(
            &edit(
                &base(0.2),
                "flows = [\"reverse\", \"sms\"]",
                "flows = [\"sms\"]"
            ),
            "countries.DE = { weight = 0.5, imessage = 0.4, fallback = \"outbound_sms\" }\n",
            ""
        )
    );
    let (_, o) = run(&text, None);
    let account = &o.billing.sms.as_ref().expect("a balance").account;
    assert_eq!(account.paid(), 10);
    assert_eq!(account.spent(), 10_000_000, "micro-dollars");
    assert!(o.counts.totals.legit.sms_legit_smsflow == 10 && account.refused() > 100);
}

#[test]
fn a_report_that_cannot_be_written_names_its_file() {
    let (sc, o) = run(&base(1.0), None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A directory where summary.json should go: the write fails on that file.
    std::fs::create_dir_all(dir.join("summary.json")).unwrap();
    let e = report::write_all(dir, &sc, "t", 1, &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("summary.json: cannot write: "),
        "the error names the file: {e}"
    );
}

/// A threat scenario's summary leads with what it is about (takeovers), never with a cost of
/// $0.00, and a reverse-only run's time-to-verify text names no SMS delivery it never made.
#[test]
fn a_threat_run_leads_with_its_attack_and_names_only_what_ran() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/threats/guessing-open.toml"
    );
    let mut sc = Scenario::load(std::path::Path::new(path)).unwrap();
    sc.run.duration = Dur(3_600_000);
    let (sc, o) = run_scenario(sc, None);
    let md = report::summary_md(&sc, "g", sc.run.seed, &o);
    // The key-figures table: the rows between the header rule and the first blank line.
    let figures: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("|---") && !l.starts_with("| ---"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(
        figures
            .first()
            .is_some_and(|l| l.contains("account takeovers")),
        "{figures:#?}"
    );
    assert!(!figures.iter().any(|l| l.contains("$0.00")), "{figures:#?}");
    assert!(md.contains("Reverse flow: provider latency"), "{md}");
    assert!(!md.contains("SMS delivery:"), "{md}");
}
