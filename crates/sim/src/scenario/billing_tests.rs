//! The `[billing]`, `[billing.balance]` and `[report]` sections as scenario files give them.

use crate::billing::balance::OnLimit;
use crate::billing::*;
use crate::scenario::Scenario;
use mo2fa_cost::prices::PriceTable;

use super::tests::MINIMAL;

fn parse(extra: &str) -> Result<Scenario, String> {
    Scenario::parse("b.toml", &format!("{MINIMAL}{extra}")).map_err(|e| e.to_string())
}

const BALANCE: &str = "[billing.balance]\nstart_usd = 100\nrecharge_below_usd = 50\n\
    recharge_usd = 250\ncard_daily_limit_usd = 1000\n";

#[test]
fn sections_parse_with_defaults() {
    let sc = parse("[billing]\nbilled_segments_factor = 2.2\n").unwrap();
    let b = sc.money.billing.as_ref().unwrap();
    assert_eq!(
        (b.billed_segments_factor, b.extra_segments_per_message),
        (2.2, 0)
    );
    assert!(b.balance.is_none());
    let sc = parse(BALANCE).unwrap();
    let bal = sc.money.billing.as_ref().unwrap().balance.as_ref().unwrap();
    assert_eq!(bal.on_limit, OnLimit::Suspend);
    assert_eq!(bal.rules().recharge, 250_000_000);
    let sc = parse(
        "[report]\ncurrency = \"EUR\"\nper_usd = 0.9245\nrate_date = \"2023-10-16\"\n\
         rate_source = \"example\"\n",
    )
    .unwrap();
    assert_eq!(sc.money.report.as_ref().unwrap().convert(10.0), 9.245);
    assert!(parse("").unwrap().money.billing.is_none());
}

#[test]
fn bad_values_name_file_line_and_key() {
    let e = parse("[billing]\nbilled_segments_factor = 0.5\n").unwrap_err();
    assert!(
        e.starts_with("b.toml:14:") && e.contains("billed_segments_factor"),
        "{e}"
    );
    let e = parse("[billing]\nextra_segments_per_message = 101\n").unwrap_err();
    assert!(
        e.starts_with("b.toml:14:") && e.contains("extra_segments"),
        "{e}"
    );
    let e = parse(&BALANCE.replace("recharge_usd = 250", "recharge_usd = 0")).unwrap_err();
    assert!(
        e.starts_with("b.toml:16:") && e.contains("billing.balance.recharge_usd"),
        "{e}"
    );
    let e = parse(&BALANCE.replace("= 1000", "= -1")).unwrap_err();
    assert!(
        e.starts_with("b.toml:17:") && e.contains("card_daily_limit_usd"),
        "{e}"
    );
    let e = parse(&format!("{BALANCE}on_limit = \"panic\"\n")).unwrap_err();
    assert!(e.starts_with("b.toml:18:") && e.contains("on_limit"), "{e}");
    let e = parse(&BALANCE.replace("start_usd = 100\n", "")).unwrap_err();
    assert!(e.contains("start_usd"), "{e}");
    let report = "[report]\ncurrency = \"EUR\"\nper_usd = 0.9245\nrate_date = \"2023-10-16\"\nrate_source = \"x\"\n";
    for (from, to, line, key) in [
        ("\"EUR\"", "\"eur\"", 14, "currency"),
        ("\"EUR\"", "\"USD\"", 14, "currency"),
        ("0.9245", "0", 15, "per_usd"),
        ("2023-10-16", "2023-02-30", 16, "rate_date"),
        ("\"x\"", "\" \"", 17, "rate_source"),
    ] {
        let e = parse(&report.replace(from, to)).unwrap_err();
        assert!(
            e.starts_with(&format!("b.toml:{line}:")) && e.contains(key),
            "{to}: {e}"
        );
    }
    let e = parse(&report.replace("rate_source = \"x\"\n", "")).unwrap_err();
    assert!(e.contains("rate_source"), "all four are required: {e}");
}

#[test]
fn a_bad_price_date_names_the_scenario_file_line_and_key() {
    let e = parse("[sms]\nprice_date = \"2024-02-30\"\n").unwrap_err();
    assert!(
        e.starts_with("b.toml:14: sms.price_date:") && e.contains("calendar"),
        "{e}"
    );
    let oldest = PriceTable::builtin().unwrap().dates()[0];
    let e = parse("[sms]\nprice_date = \"2019-01-01\"\n").unwrap_err();
    assert!(
        e.starts_with("b.toml:14: sms.price_date:") && e.contains(&oldest.to_string()),
        "{e}"
    );
    let e = parse("[sms]\nttl = \"5m\"\n").map(|s| s.sms.price_date);
    assert_eq!(e, Ok(None));
    assert!(parse(&format!("[sms]\nprice_date = \"{oldest}\"\n")).is_ok());
}

#[test]
fn the_template_has_every_key_and_its_commented_examples_parse() {
    let sc = Scenario::parse("template.toml", crate::scenario::TEMPLATE).unwrap();
    assert_eq!(sc.money.billing, Some(Billing::default()));
    assert!(sc.money.report.is_none());
    let uncommented: String = crate::scenario::TEMPLATE
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with("report = ") || rest.starts_with("balance = ") => rest,
            _ => l,
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    let sc = Scenario::parse("template.toml", &uncommented).unwrap();
    let b = sc.money.billing.unwrap().balance.unwrap();
    assert_eq!((b.recharge_usd.0, b.on_limit), (250.0, OnLimit::Suspend));
    assert_eq!(sc.money.report.unwrap().currency, "EUR");
    for key in [
        "billed_segments_factor",
        "extra_segments_per_message",
        "start_usd",
        "recharge_below_usd",
        "recharge_usd",
        "card_daily_limit_usd",
        "on_limit",
        "currency",
        "per_usd",
        "rate_date",
        "rate_source",
    ] {
        assert!(crate::scenario::TEMPLATE.contains(key), "{key}");
    }
}

#[test]
fn billed_segments_scale_and_add() {
    let plain = parse("[sms]\nsegments = 2\n").unwrap();
    assert_eq!(plain.billed_segments(10), 20);
    assert_eq!(plain.billed_per_message(), 2.0);
    let sc = parse("[sms]\nsegments = 2\n[billing]\nbilled_segments_factor = 2.2\nextra_segments_per_message = 1\n").unwrap();
    assert_eq!(sc.billed_segments(10), 44 + 10);
    assert!((sc.billed_per_message() - 5.4).abs() < 1e-12);
}

#[test]
fn accounts_exist_per_flow_run_and_only_with_a_balance() {
    assert_eq!(
        {
            let sc = parse("[billing]\n").unwrap();
            accounts(&sc)
        },
        Accounts::default()
    );
    let sc = parse(BALANCE).unwrap();
    let a = accounts(&sc);
    assert!(a.sms.is_some() && a.reverse.is_some());
    let sc = Scenario::parse(
        "b.toml",
        &format!("{MINIMAL}{BALANCE}").replace("[\"reverse\", \"sms\"]", "[\"sms\"]"),
    )
    .unwrap();
    let a = accounts(&sc);
    assert!(a.sms.is_some() && a.reverse.is_none());
}

/// The run's accounts for `sc`.
fn accounts(sc: &Scenario) -> Accounts {
    Accounts::new(
        sc.money.billing.as_ref().and_then(|b| b.balance.as_ref()),
        &sc.run.flows,
    )
}
