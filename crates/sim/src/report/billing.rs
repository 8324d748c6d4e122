//! What the reports say about billing and the second currency: the `billing` and
//! `report_currency` objects of summary.json, and the lines summary.md and report.html show.
//! Each is present only when the scenario has the section, so other reports do not change.

use crate::billing::balance::usd;
use crate::billing::{FlowAccount, ReportSettings};
use crate::outcome::Outcome;
use crate::scenario::{Flow, Scenario};
use crate::time;
use mo2fa_cost::observed::ObservedCost;
use serde_json::{Value, json};

fn two(v: f64) -> String {
    format!("{:.2}", v + 0.0)
}

/// What one flow sent, as the app logged it and as the provider billed it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Billed {
    pub messages: u64,
    pub app_logged_segments: u64,
    pub provider_billed_segments: u64,
    pub app_logged_usd: f64,
    pub provider_billed_usd: f64,
}

/// The SMS a flow sent (legit and pumped), logged and billed. `None` for a flow not run.
pub fn billed(sc: &Scenario, o: &Outcome, flow: Flow) -> Option<Billed> {
    if !sc.run.flows.contains(&flow) {
        return None;
    }
    let seg = u64::from(sc.sms.segments);
    let mut b = Billed {
        messages: 0,
        app_logged_segments: 0,
        provider_billed_segments: 0,
        app_logged_usd: 0.0,
        provider_billed_usd: match flow {
            Flow::Sms => o.counts.totals.usd.usd_sms_flow,
            Flow::Reverse => o.counts.totals.usd.usd_reverse_flow,
        },
    };
    for c in &o.counts.countries {
        let n = match flow {
            Flow::Sms => c.sms_legit_smsflow + c.pumped_smsflow,
            Flow::Reverse => c.sms_legit_reverse + c.pumped_reverse,
        };
        b.messages += n;
        b.app_logged_segments += n * seg;
        b.provider_billed_segments += sc.billed_segments(n);
        b.app_logged_usd += (n * seg) as f64 * c.usd_per_segment;
    }
    Some(b)
}

fn seconds(ms: u64) -> u64 {
    ms / time::MS_PER_S
}

fn account_json(a: &FlowAccount) -> Value {
    let acc = &a.account;
    let r = acc.rules();
    json!({
        "start_usd": two(usd(r.start)),
        "recharge_below_usd": two(usd(r.recharge_below)),
        "recharge_usd": two(usd(r.recharge)),
        "card_daily_limit_usd": two(usd(r.card_daily_limit)),
        "on_limit": r.on_limit.name(),
        "recharges": acc.recharge_count(),
        "recharged_usd": two(usd(acc.recharged())),
        "recharge_times_s": acc.recharges().iter().map(|x| json!([seconds(x.at_ms), x.times, two(usd(x.micros))])).collect::<Vec<_>>(),
        "spent_usd": two(usd(acc.spent())),
        "final_balance_usd": two(usd(acc.balance())),
        "card_first_declined_s": acc.first_declined_ms().map(seconds),
        "suspended_at_s": acc.suspended_at_ms().map(seconds),
        "sms_paid": acc.paid(),
        "sms_refused": acc.refused(),
        "legit_sms_refused": a.refused_legit,
        "pumped_sms_refused": a.refused_pumped,
    })
}

fn flow_json(sc: &Scenario, o: &Outcome, flow: Flow, account: Option<&FlowAccount>) -> Value {
    let Some(b) = billed(sc, o, flow) else {
        return Value::Null;
    };
    json!({
        "sms_sent": b.messages,
        "app_logged_segments": b.app_logged_segments,
        "provider_billed_segments": b.provider_billed_segments,
        "app_logged_list_price_usd": two(b.app_logged_usd),
        "provider_billed_list_price_usd": two(b.provider_billed_usd),
        "balance": account.map_or(Value::Null, account_json),
    })
}

/// summary.json's `billing` object, or `None` without `[billing]`.
pub fn billing_json(sc: &Scenario, o: &Outcome) -> Option<Value> {
    let b = sc.money.billing.as_ref()?;
    Some(json!({
        "billed_segments_factor": b.billed_segments_factor,
        "extra_segments_per_message": b.extra_segments_per_message,
        "sms_flow": flow_json(sc, o, Flow::Sms, o.billing.sms.as_ref()),
        "reverse_flow": flow_json(sc, o, Flow::Reverse, o.billing.reverse.as_ref()),
    }))
}

fn cost_in(r: &ReportSettings, c: &Option<ObservedCost>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "legit_sms": two(r.convert(c.legit_sms_usd)),
            "pumped_sms": two(r.convert(c.pumped_sms_usd)),
            "verify_fees": two(r.convert(c.verify_fees_usd)),
            "inbound_sms": two(r.convert(c.inbound_sms_usd)),
            "lines": two(r.convert(c.lines_usd)),
            "fixed_fees": two(r.convert(c.fixed_usd)),
            "total": two(r.convert(c.total_usd)),
        }),
    }
}

/// summary.json's `report_currency` object (the USD figures converted, with the rate), or
/// `None` without `[report]`.
pub fn currency_json(sc: &Scenario, o: &Outcome) -> Option<Value> {
    let r = sc.money.report.as_ref()?;
    let t = &o.counts.totals;
    Some(json!({
        "currency": r.currency,
        "per_usd": r.per_usd,
        "rate_date": r.rate_date,
        "rate_source": r.rate_source,
        "sms_list_price": {
            "sms_flow": two(r.convert(t.usd.usd_sms_flow)),
            "reverse_flow": two(r.convert(t.usd.usd_reverse_flow)),
        },
        "cost_model": {
            "sms_flow": cost_in(r, &o.costs.sms),
            "reverse_flow": cost_in(r, &o.costs.reverse),
        },
    }))
}

/// The rate as one sentence, for summary.md and report.html.
pub fn rate_sentence(r: &ReportSettings) -> String {
    format!(
        "{} figures at {} {} per US dollar, the rate of {} ({}).",
        r.currency, r.per_usd, r.currency, r.rate_date, r.rate_source
    )
}

/// `usd` as "$1,234.56", followed by " (1,141.35 EUR)" when the scenario has a second currency.
pub fn money(sc: &Scenario, usd: f64) -> String {
    let grouped = crate::report::grouped_usd;
    match &sc.money.report {
        None => grouped(usd),
        Some(r) => format!(
            "{} ({} {})",
            grouped(usd),
            grouped(r.convert(usd)).replacen('$', "", 1),
            r.currency
        ),
    }
}

/// Lines (measure, value) about billing and the second currency, for summary.md and the HTML
/// numbers table; empty without `[billing]` and `[report]`.
pub fn lines(sc: &Scenario, o: &Outcome) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if sc.money.billing.is_some() {
        for (flow, name, account) in [
            (Flow::Sms, "sms flow", o.billing.sms.as_ref()),
            (Flow::Reverse, "reverse flow", o.billing.reverse.as_ref()),
        ] {
            let Some(b) = billed(sc, o, flow) else {
                continue;
            };
            v.push((
                format!("{name}: segments app logged / provider billed"),
                format!(
                    "{} / {}",
                    crate::report::grouped(b.app_logged_segments),
                    crate::report::grouped(b.provider_billed_segments)
                ),
            ));
            v.push((
                format!("{name}: list price app logged / provider billed"),
                format!(
                    "{} / {}",
                    money(sc, b.app_logged_usd),
                    money(sc, b.provider_billed_usd)
                ),
            ));
            let Some(a) = account else {
                continue;
            };
            let acc = &a.account;
            v.push((
                format!("{name}: recharges (total)"),
                format!(
                    "{} ({})",
                    acc.recharge_count(),
                    money(sc, usd(acc.recharged()))
                ),
            ));
            v.push((
                format!("{name}: account suspended at"),
                acc.suspended_at_ms()
                    .map_or("never".into(), |ms| format!("{:.2} h", time::hours(ms))),
            ));
            v.push((
                format!("{name}: SMS refused by billing, legit / pumped"),
                format!("{} / {}", a.refused_legit, a.refused_pumped),
            ));
        }
    }
    if let Some(r) = &sc.money.report {
        let t = &o.counts.totals;
        v.push((
            format!("spend, sms flow ({})", r.currency),
            two(r.convert(t.usd.usd_sms_flow)),
        ));
        v.push((
            format!("spend, reverse flow ({})", r.currency),
            two(r.convert(t.usd.usd_reverse_flow)),
        ));
        v.push((
            format!("rate ({} per USD)", r.currency),
            format!("{} on {} ({})", r.per_usd, r.rate_date, r.rate_source),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Control, simulate};
    use crate::report;
    use std::sync::atomic::AtomicBool;

    /// An hour of US users on both flows, MA without iMessage on an outbound fallback, and a
    /// pumping attacker on MA.
    const BASE: &str = r#"
seed = 3
duration = "1h"
interval = "10m"
flows = ["reverse", "sms"]
[legit]
rate_per_s = 0.5
p_send = 1.0
send_delay_median = "5s"
countries.US = { weight = 1.0, imessage = 0.5, fallback = "inbound_sms" }
countries.MA = { weight = 1.0, imessage = 0.0, fallback = "outbound_sms" }
[emitter]
latency_median = "300ms"
[[attacker]]
kind = "sms_pumping"
start = "10m"
end = "1h"
shape = "sustained"
rate_per_s = 1.0
targets = { MA = 1.0 }
"#;

    fn run(extra: &str) -> (Scenario, Outcome) {
        let sc = Scenario::parse("t.toml", &format!("{BASE}{extra}")).expect("parses");
        let stop = AtomicBool::new(false);
        let o = simulate(
            &sc,
            sc.run.seed,
            &Control {
                interrupt: &stop,
                progress: &|_| {},
            },
        )
        .expect("runs");
        (sc, o)
    }

    fn summary(sc: &Scenario, o: &Outcome) -> Value {
        serde_json::from_str(&report::summary_json(sc, "t", sc.run.seed, o)).expect("json")
    }

    #[test]
    fn the_provider_bills_more_segments_than_the_app_logged_and_every_price_follows() {
        let (plain_sc, plain) = run("");
        let (sc, o) = run("[billing]\nbilled_segments_factor = 2.2\n");
        assert_eq!(
            o.counts.totals.pumping.pumped_sms_smsflow,
            plain.counts.totals.pumping.pumped_sms_smsflow
        );
        assert!(o.counts.totals.pumping.pumped_sms_smsflow > 1000);
        let ratio = o.counts.totals.usd.usd_sms_flow / plain.counts.totals.usd.usd_sms_flow;
        assert!((ratio - 2.2).abs() < 1e-9, "{ratio}");
        let (a, b) = (
            plain.costs.sms.clone().unwrap(),
            o.costs.sms.clone().unwrap(),
        );
        let ratio = b.pumped_sms_usd / a.pumped_sms_usd;
        assert!(
            (ratio - 2.2).abs() < 1e-3,
            "the cost model prices what was billed: {ratio}"
        );
        let json = summary(&sc, &o);
        let f = &json["billing"]["sms_flow"];
        let logged = f["app_logged_segments"].as_u64().unwrap();
        let billed = f["provider_billed_segments"].as_u64().unwrap();
        assert_eq!(
            logged,
            o.counts.totals.legit.sms_legit_smsflow + o.counts.totals.pumping.pumped_sms_smsflow
        );
        // The provider rounds each country's segments (a bill per destination), so the total
        // can differ from rounding the sum by up to half a segment per country.
        let per_country: u64 = o
            .counts
            .countries
            .iter()
            .map(|c| sc.billed_segments(c.sms_legit_smsflow + c.pumped_smsflow))
            .sum();
        assert_eq!(billed, per_country);
        assert!(
            (billed as f64 - logged as f64 * 2.2).abs() <= o.counts.countries.len() as f64 / 2.0
        );
        assert_eq!(
            f["provider_billed_list_price_usd"],
            format!("{:.2}", o.counts.totals.usd.usd_sms_flow)
        );
        assert!(f["balance"].is_null());
        assert!(summary(&plain_sc, &plain).get("billing").is_none());
        let md = report::summary_md(&sc, "t", 3, &o);
        assert!(md.contains("segments app logged / provider billed"), "{md}");
    }

    #[test]
    fn a_suspension_refuses_legit_and_pumped_sms_from_then_on() {
        let (_, plain) = run("");
        let (sc, o) = run(
            "[billing.balance]\nstart_usd = 20\nrecharge_below_usd = 5\nrecharge_usd = 25\n\
             card_daily_limit_usd = 100\n",
        );
        let a = o.billing.sms.as_ref().expect("sms account");
        let at = a.account.suspended_at_ms().expect("suspended");
        assert!(at > 600_000 && at < 3_600_000, "{at}");
        assert_eq!(a.account.recharge_count(), 4);
        assert!(a.refused_legit > 0 && a.refused_pumped > 0);
        assert!(
            o.counts.totals.pumping.pumped_sms_smsflow
                < plain.counts.totals.pumping.pumped_sms_smsflow
        );
        assert!(
            o.counts.totals.legit.sms_legit_smsflow < plain.counts.totals.legit.sms_legit_smsflow
        );
        // The reverse flow's outbound fallback pays from its own account, and is cut off too.
        let r = o.billing.reverse.as_ref().expect("reverse account");
        assert!(r.account.suspended_at_ms().is_some() && r.refused_pumped > 0);
        assert!(
            o.counts.totals.pumping.pumped_sms_reverse
                < plain.counts.totals.pumping.pumped_sms_reverse
        );
        assert!((o.counts.totals.usd.usd_reverse_flow - usd(r.account.spent())).abs() < 1e-3);
        // Every paid send is on the books: $20 + $100 of recharges, less what was spent.
        assert!((o.counts.totals.usd.usd_sms_flow - usd(a.account.spent())).abs() < 1e-3);
        assert!(usd(a.account.balance()) < 5.0);
        let json = summary(&sc, &o);
        let b = &json["billing"]["sms_flow"]["balance"];
        assert_eq!(b["recharges"], 4);
        assert_eq!(b["suspended_at_s"], at / 1000);
        assert_eq!(b["legit_sms_refused"], a.refused_legit);
        assert!(!json["billing"]["reverse_flow"]["balance"].is_null());
        let html = report::html(&sc, "t", 3, &o);
        assert!(html.contains("account suspended at"));
    }

    #[test]
    fn stop_sending_keeps_the_account_open() {
        let (_, o) = run(
            "[billing.balance]\nstart_usd = 20\nrecharge_below_usd = 5\nrecharge_usd = 25\n\
             card_daily_limit_usd = 100\non_limit = \"stop_sending\"\n",
        );
        let a = o.billing.sms.as_ref().expect("sms account");
        assert_eq!(a.account.suspended_at_ms(), None);
        assert!(a.account.first_declined_ms().is_some());
        assert!(a.refused_legit + a.refused_pumped > 0);
    }

    #[test]
    fn reports_show_the_second_currency_with_its_rate() {
        let (sc, o) = run(
            "[report]\ncurrency = \"EUR\"\nper_usd = 0.5\nrate_date = \"2023-10-16\"\n\
             rate_source = \"an example rate\"\n",
        );
        let json = summary(&sc, &o);
        let c = &json["report_currency"];
        assert_eq!(c["currency"], "EUR");
        assert_eq!(c["rate_date"], "2023-10-16");
        assert_eq!(
            c["sms_list_price"]["sms_flow"],
            format!("{:.2}", o.counts.totals.usd.usd_sms_flow * 0.5)
        );
        assert_eq!(
            c["cost_model"]["reverse_flow"]["total"],
            format!("{:.2}", o.costs.reverse.as_ref().unwrap().total_usd * 0.5)
        );
        assert_eq!(
            json["sms_list_price_usd"]["sms_flow"],
            format!("{:.2}", o.counts.totals.usd.usd_sms_flow),
            "USD figures stay"
        );
        let sentence =
            "EUR figures at 0.5 EUR per US dollar, the rate of 2023-10-16 (an example rate).";
        assert!(report::summary_md(&sc, "t", 3, &o).contains(sentence));
        let html = report::html(&sc, "t", 3, &o);
        assert!(html.contains(sentence) && html.contains("cost of the period (EUR)"));
    }
}
