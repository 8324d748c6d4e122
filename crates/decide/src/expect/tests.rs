use super::*;

fn run(json: &str) -> BTreeMap<String, Leaf> {
    metrics::flatten(&serde_json::from_str(json).unwrap())
}

const RUN: &str = r#"{
  "legit": {"users": 1000},
  "cost_model_usd": {"sms_flow": {"pumped_sms": "612.40"}, "reverse_flow": null},
  "defences": {"sms_flow": {"legit_blocked": 3, "time_to_first_block_s": 7200.0},
               "reverse_flow": {"time_to_first_block_s": null}},
  "attackers": [{"blocked": 5}]
}"#;

fn check(text: &str) -> Result<(), String> {
    Expectation::parse("t", text).unwrap().check(&run(RUN))
}

#[test]
fn comparisons_units_and_and() {
    check("cost_model_usd.sms_flow.pumped_sms < $700").unwrap();
    check("cost_model_usd.sms_flow.pumped_sms < 700usd").unwrap();
    check("cost_model_usd.sms_flow.pumped_sms >= 612.4").unwrap();
    check("defences.sms_flow.time_to_first_block_s <= 2h").unwrap();
    check("defences.sms_flow.time_to_first_block_s == 7200s").unwrap();
    check("defences.sms_flow.time_to_first_block_s > 7199999ms").unwrap();
    check("legit.users != 999 and defences.sms_flow.legit_blocked <= 3").unwrap();
    check("attackers[0].blocked > 4").unwrap();
    check("5 > defences.sms_flow.legit_blocked").unwrap();
    let e = check("cost_model_usd.sms_flow.pumped_sms < $500 and legit.users > 10").unwrap_err();
    assert_eq!(
        e,
        "cost_model_usd.sms_flow.pumped_sms < $500 (measured \
         cost_model_usd.sms_flow.pumped_sms = 612.4 USD)"
    );
}

#[test]
fn a_missing_or_null_value_fails_and_says_so() {
    let e = check("defences.reverse_flow.time_to_first_block_s < 1h").unwrap_err();
    assert!(e.contains("= null"), "{e}");
    let e = check("cost_model_usd.reverse_flow.pumped_sms < $1").unwrap_err();
    assert!(e.contains("no value"), "{e}");
}

#[test]
fn bad_expressions_are_errors_that_say_why() {
    let err = |t: &str| Expectation::parse("t", t).unwrap_err();
    let e = err("defences.sms_flow.legit_blockd <= 3");
    assert!(
        e.contains("closest name") && e.contains("`defences.sms_flow.legit_blocked`"),
        "{e}"
    );
    assert!(err("legit.users < $5").contains("a count"));
    assert!(err("cost_model_usd.sms_flow.pumped_sms < 2h").contains("USD"));
    assert!(err("legit.users < 5 or events > 1").contains("METRIC OP VALUE"));
    assert!(err("legit.users <").contains("METRIC OP VALUE"));
    assert!(err("5 < 6").contains("at least one metric"));
    assert!(err("scenario == 5").contains("not a number"));
    assert!(err("legit.users < 5parsecs").contains("unknown unit"));
    assert!(err("legit.users < cost_model_usd.sms_flow.total").contains("different units"));
}

#[test]
fn any_prefix_and_every_error_at_once() {
    let e = Expectation::parse("t", "any: legit.users > 5").unwrap();
    assert!(e.any);
    let errs = parse_all(
        &[("a".into(), "legit.userz > 1".into())],
        &["events <".into()],
    )
    .unwrap_err();
    assert_eq!(errs.lines().count(), 2, "{errs}");
}

#[test]
fn load_reports_have_their_own_names_and_milliseconds() {
    let bench = run(r#"{"webhook": {"p99_ms": 1.5, "achieved_per_s": 9000.0}}"#);
    let parse = |t: &str| Expectation::parse_in(Catalogue::Bench, "t", t);
    parse("webhook.p99_ms < 2").unwrap().check(&bench).unwrap();
    parse("webhook.p99_ms < 2ms")
        .unwrap()
        .check(&bench)
        .unwrap();
    parse("webhook.p99_ms < 0.002s")
        .unwrap()
        .check(&bench)
        .unwrap();
    let e = parse("webhook.p99_ms < 1ms")
        .unwrap()
        .check(&bench)
        .unwrap_err();
    assert!(e.contains("webhook.p99_ms = 1.5 ms"), "{e}");
    parse("webhook.achieved_per_s >= 8000")
        .unwrap()
        .check(&bench)
        .unwrap();
    let e = parse("webhok.p99_ms < 2").unwrap_err();
    assert!(
        e.contains("`webhook.p99_ms`") && e.contains("Bench metrics"),
        "{e}"
    );
    assert!(parse("webhook.p99_ms < $2").is_err());
    // A run's names are not a bench's, and the other way round.
    assert!(parse("legit.users > 1").is_err());
    assert!(Expectation::parse("t", "webhook.p99_ms < 2").is_err());
    let live = |t: &str| Expectation::parse_in(Catalogue::Live, "t", t);
    live("sms_check.p99_ms < 5ms and verified.live >= 1 and agreement >= 99%").unwrap();
    assert!(live("healthz.p99_ms < 1").is_err());
}
