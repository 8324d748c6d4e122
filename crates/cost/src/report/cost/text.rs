//! The words and table rows a cost report shows in several places (page, `summary.md`,
//! terminal): percentages, the break-even sentence, rows at each power of ten, the cost
//! components, the per-country costs, and the assumptions.

use crate::model::BreakEven;
use crate::report::currency::Currency;
use crate::report::{group_thousands, usd_label};
use crate::sweep::{FraudResult, Sweep, cheaper_label};

pub(super) fn pct(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// The fraud share used for the per-country breakdown: the largest one in the run.
pub(super) fn breakdown_result(sweep: &Sweep) -> Option<&FraudResult> {
    sweep.per_fraud.last()
}

pub(super) fn country_label(sweep: &Sweep, i: usize) -> String {
    let c = &sweep.mix.countries[i];
    format!("{} ({})", c.dest.quote.country_name, c.dest.iso)
}

/// Category rows of the by-country breakdown: label, SMS cost, reverse cost.
pub(super) fn country_rows(sweep: &Sweep) -> Vec<(String, f64, f64)> {
    let Some(r) = breakdown_result(sweep) else {
        return Vec::new();
    };
    let e = &r.reference;
    let mut rows: Vec<(String, f64, f64)> = (0..sweep.mix.countries.len())
        .map(|i| {
            (
                country_label(sweep, i),
                e.sms.by_country.get(i).copied().unwrap_or(0.0),
                e.reverse.by_country.get(i).copied().unwrap_or(0.0),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.push((
        format!("Pumped SMS ({} destinations)", sweep.mix.pumping.len()),
        e.sms.pumped_sms_usd,
        e.reverse.pumped_sms_usd,
    ));
    rows.push((
        String::from("Fixed fees"),
        e.sms.fixed_usd,
        e.reverse.fixed_usd,
    ));
    rows
}

/// The break-even of one fraud share as the report says it everywhere (cards, lists, chart
/// descriptions, summary.md, terminal): over the searched range, and saying so when the
/// crossing lies below the start of the volume range the user chose.
pub fn describe(r: &FraudResult, sweep: &Sweep) -> String {
    let base = describe_break_even(&r.break_even, r.scan.lo, r.scan.hi);
    match break_even_volume(&r.break_even) {
        Some(v) if v < sweep.lo => format!(
            "{base} (below {}, where the chosen volume range starts: see the close-up chart)",
            group_thousands(sweep.lo)
        ),
        _ => base,
    }
}

/// The volume a break-even card shows: where the cheaper method first changes.
pub(super) fn break_even_volume(be: &BreakEven) -> Option<f64> {
    match *be {
        BreakEven::At { first, .. } => Some(first),
        BreakEven::SmsFrom { sms_from } => Some(sms_from),
        BreakEven::Always | BreakEven::Never => None,
    }
}

/// The short form of a break-even, for a card.
pub(super) fn break_even_card(be: &BreakEven) -> String {
    match *be {
        BreakEven::At { first, .. } => format!("{}/mo", group_thousands(first)),
        BreakEven::Always => String::from("always cheaper"),
        BreakEven::Never => String::from("never cheaper"),
        BreakEven::SmsFrom { sms_from } => format!("below {}/mo", group_thousands(sms_from)),
    }
}

/// The fraud shares that get headline cards: all of them, or the smallest and the largest when
/// there are more than four (the lists and tables still show every one).
pub(super) fn headline_results(sweep: &Sweep) -> Vec<&FraudResult> {
    let all = &sweep.per_fraud;
    if all.len() <= 4 {
        all.iter().collect()
    } else {
        all.first().into_iter().chain(all.last()).collect()
    }
}

/// One line describing a break-even, for terminals and summaries.
pub fn describe_break_even(be: &BreakEven, lo: f64, hi: f64) -> String {
    let n = group_thousands;
    let (lo, hi) = (n(lo), n(hi));
    match *be {
        BreakEven::Always => {
            format!("reverse iMessage is cheaper at every volume from {lo} to {hi}")
        }
        BreakEven::Never => {
            format!("reverse iMessage is never cheaper between {lo} and {hi} verifications a month")
        }
        BreakEven::At {
            first,
            stays_from: Some(stay),
        } if (stay - first).abs() < 0.5 => format!(
            "break-even at {} verifications a month; reverse iMessage is cheaper above it",
            n(first)
        ),
        BreakEven::At {
            first,
            stays_from: Some(stay),
        } => format!(
            "reverse iMessage first cheaper above {} and cheaper at every volume above {} verifications a month",
            n(first),
            n(stay)
        ),
        BreakEven::At {
            first,
            stays_from: None,
        } => format!(
            "reverse iMessage first cheaper above {} verifications a month, but SMS OTP is cheaper again at {hi}",
            n(first)
        ),
        BreakEven::SmsFrom { sms_from } => format!(
            "reverse iMessage is cheaper below {} verifications a month; SMS OTP above",
            n(sms_from)
        ),
    }
}

/// Volumes at powers of ten inside the range (or the grid ends if there are none).
fn decade_volumes(sweep: &Sweep) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    let mut k = sweep.lo.log10().ceil() as i32;
    while 10f64.powi(k) <= sweep.hi * (1.0 + 1e-12) {
        out.push(10f64.powi(k));
        k += 1;
    }
    if out.is_empty() {
        out = vec![sweep.lo, sweep.hi];
        out.dedup();
    }
    out
}

pub(super) fn decade_rows(sweep: &Sweep) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for r in &sweep.per_fraud {
        for v in decade_volumes(sweep) {
            let (s, rv) = (r.sms.at(v), r.reverse.at(v));
            rows.push(vec![
                group_thousands(v),
                pct(r.fraud_share),
                usd_label(s),
                usd_label(rv),
                group_thousands(r.reverse.lines_at(v) as f64),
                cheaper_label(s, rv).replace('_', " "),
            ]);
        }
    }
    rows
}

/// Headers of the cost-components table: USD, then the second currency's columns if any.
pub(super) fn breakdown_headers(currency: Option<&Currency>) -> Vec<String> {
    let mut h: Vec<String> = ["Component", "SMS OTP", "Reverse iMessage"]
        .map(String::from)
        .to_vec();
    if let Some(c) = currency {
        h.push(format!("SMS OTP, {}", c.code));
        h.push(format!("Reverse iMessage, {}", c.code));
    }
    h
}

pub(super) fn breakdown_rows(sweep: &Sweep, currency: Option<&Currency>) -> Vec<Vec<String>> {
    let Some(r) = breakdown_result(sweep) else {
        return Vec::new();
    };
    let (s, v) = (&r.reference.sms, &r.reference.reverse);
    let row = |name: String, a: f64, b: f64| {
        let mut out = vec![name, usd_label(a), usd_label(b)];
        if let Some(c) = currency {
            out.push(c.label(a));
            out.push(c.label(b));
        }
        out
    };
    vec![
        row(
            String::from("Legitimate outbound SMS"),
            s.legit_sms_usd,
            v.legit_sms_usd,
        ),
        row(
            String::from("Per-success verify fees"),
            s.verify_fees_usd,
            v.verify_fees_usd,
        ),
        row(
            String::from("Pumped SMS"),
            s.pumped_sms_usd,
            v.pumped_sms_usd,
        ),
        row(
            String::from("Inbound SMS fallback"),
            s.inbound_sms_usd,
            v.inbound_sms_usd,
        ),
        row(
            format!("iMessage lines ({})", group_thousands(v.lines as f64)),
            s.lines_usd,
            v.lines_usd,
        ),
        row(String::from("Fixed fees"), s.fixed_usd, v.fixed_usd),
        row(String::from("Total"), s.total_usd, v.total_usd),
    ]
}

pub(super) fn assumptions(sweep: &Sweep, currency: Option<&Currency>) -> Vec<String> {
    let s = &sweep.mix;
    let mut out = vec![
        format!(
            "Outbound SMS prices: Twilio list prices, snapshot {} from {} (max over carrier rows; US carrier fee ${} per segment added).",
            s.snapshot.date(),
            s.snapshot.origin(),
            s.sms
                .carrier_fees_usd
                .get("US")
                .map_or(String::from("0"), |f| format!("{f}"))
        ),
        format!(
            "{} segment(s) per OTP, {} resends per verification, {} of verifications succeed, verify fee {} per success.",
            s.sms.segments_per_otp,
            s.sms.resend_rate,
            pct(s.sms.success_rate),
            usd_label(s.sms.verify_fee_usd)
        ),
        format!(
            "iMessage lines: {} per line per month, {} inbound contacts per line per day, sized for a peak day {}× the average of a {}-day month.",
            usd_label(s.imessage.line_usd_per_month),
            group_thousands(s.imessage.capacity_per_line_per_day),
            s.imessage.peak_factor,
            s.imessage.days_per_month
        ),
        format!(
            "Break-evens are searched from {} verification a month to the top of the range, so one below the range's start is reported too.",
            group_thousands(crate::sweep::BREAK_EVEN_FROM)
        ),
        format!(
            "Fraud share = pumped SMS / all OTP SMS of the SMS method; pumped SMS go to {} high-price destinations (equal weights) and never succeed. Numbers from countries outside the mix get the {} fallback under reverse iMessage.",
            s.pumping.len(),
            s.fallback_other_countries.as_str().replace('_', " ")
        ),
    ];
    if let Some(c) = currency {
        out.push(c.sentence());
    }
    for f in &s.sms.fixed_fees {
        out.push(format!(
            "Fixed fee: {} = {} per month{}.",
            f.name,
            usd_label(f.monthly_usd),
            f.country
                .as_ref()
                .map_or(String::new(), |c| format!(" (when sending SMS to {c})"))
        ));
    }
    out
}

pub(super) fn country_table_rows(sweep: &Sweep) -> Vec<Vec<String>> {
    sweep
        .mix
        .countries
        .iter()
        .map(|c| {
            vec![
                format!("{} ({})", c.dest.quote.country_name, c.dest.iso),
                pct(c.dest.share),
                pct(c.imessage_share),
                c.fallback.as_str().replace('_', " "),
                format!("${:.4}", c.dest.usd_per_segment()),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_break_even_has_its_sentence() {
        let d = |be| describe_break_even(&be, 1e3, 1e6);
        assert_eq!(
            d(BreakEven::Always),
            "reverse iMessage is cheaper at every volume from 1,000 to 1,000,000"
        );
        assert_eq!(
            d(BreakEven::Never),
            "reverse iMessage is never cheaper between 1,000 and 1,000,000 verifications a month"
        );
        assert_eq!(
            d(BreakEven::At {
                first: 1851.98,
                stays_from: Some(1851.98)
            }),
            "break-even at 1,852 verifications a month; reverse iMessage is cheaper above it"
        );
        assert_eq!(
            d(BreakEven::At {
                first: 1500.0,
                stays_from: Some(40_000.4)
            }),
            "reverse iMessage first cheaper above 1,500 and cheaper at every volume above 40,000 \
verifications a month"
        );
        assert_eq!(
            d(BreakEven::At {
                first: 1500.0,
                stays_from: None
            }),
            "reverse iMessage first cheaper above 1,500 verifications a month, but SMS OTP is \
cheaper again at 1,000,000"
        );
        assert_eq!(
            d(BreakEven::SmsFrom { sms_from: 2.5e5 }),
            "reverse iMessage is cheaper below 250,000 verifications a month; SMS OTP above"
        );
    }

    #[test]
    fn percentages_keep_one_decimal_only_when_needed() {
        assert_eq!(pct(0.0), "0%");
        assert_eq!(pct(0.2), "20%");
        assert_eq!(pct(0.125), "12.5%");
        assert_eq!(pct(1.0 / 3.0), "33.3%");
    }
}
