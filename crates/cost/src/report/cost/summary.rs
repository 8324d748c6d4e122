//! The cost report as text: `summary.md` and the table `mo2fa cost` prints.

use super::text::{
    assumptions, break_even_card, breakdown_headers, breakdown_result, breakdown_rows,
    country_rows, decade_rows, describe, pct,
};
use crate::episode::Episode;
use crate::report::currency::{Currency, money};
use crate::report::{group_thousands, short_count, usd_label};
use crate::sweep::Sweep;
use std::fmt::Write as _;

/// `summary.md`.
pub fn summary_markdown(
    sweep: &Sweep,
    episode: Option<&Episode>,
    currency: Option<&Currency>,
) -> String {
    let s = &sweep.mix;
    let mut out = String::new();
    let _ = writeln!(out, "# 2FA cost: SMS OTP vs reverse iMessage\n");
    let _ = writeln!(out, "- Mix: **{}** (`{}`)", s.name, s.mix_origin);
    let _ = writeln!(
        out,
        "- Prices: `{}`; SMS price snapshot **{}**",
        s.prices_origin,
        s.snapshot.date()
    );
    let _ = writeln!(
        out,
        "- Volumes: {} to {} verifications a month; fraud shares: {}\n",
        group_thousands(sweep.lo),
        group_thousands(sweep.hi),
        sweep
            .per_fraud
            .iter()
            .map(|r| pct(r.fraud_share))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let at = short_count(sweep.reference_volume);
    let _ = writeln!(out, "## Headline figures\n");
    let _ = writeln!(
        out,
        "| Fraud share | Reverse iMessage break-even | SMS OTP at {at}/mo | Reverse iMessage at {at}/mo |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    for r in &sweep.per_fraud {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            pct(r.fraud_share),
            break_even_card(&r.break_even),
            money(r.reference.sms.total_usd, currency),
            money(r.reference.reverse.total_usd, currency)
        );
    }
    let _ = writeln!(out, "\n## Break-even\n");
    for r in &sweep.per_fraud {
        let _ = writeln!(
            out,
            "- Fraud share {}: {}.",
            pct(r.fraud_share),
            describe(r, sweep)
        );
    }
    let _ = writeln!(out, "\n## Monthly cost at each power of ten\n");
    let _ = writeln!(
        out,
        "| Verifications/month | Fraud share | SMS OTP | Reverse iMessage | Lines | Cheaper |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---|");
    for row in decade_rows(sweep) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if let Some(r) = breakdown_result(sweep) {
        let _ = writeln!(
            out,
            "\n## Cost components at {} verifications a month (fraud share {})\n",
            group_thousands(sweep.reference_volume),
            pct(r.fraud_share)
        );
        let headers = breakdown_headers(currency);
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(headers.len() - 1));
        for row in breakdown_rows(sweep, currency) {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        let _ = writeln!(out, "\n## Cost by country\n");
        let _ = writeln!(out, "| Country | SMS OTP | Reverse iMessage |");
        let _ = writeln!(out, "|---|---:|---:|");
        for (label, a, b) in country_rows(sweep) {
            let _ = writeln!(out, "| {label} | {} | {} |", usd_label(a), usd_label(b));
        }
    }
    if let Some(e) = episode {
        episode_markdown(&mut out, e);
    }
    let _ = writeln!(out, "\n## Assumptions and notes\n");
    for a in assumptions(sweep, currency).iter().chain(&s.notes) {
        let _ = writeln!(out, "- {a}");
    }
    let _ = writeln!(
        out,
        "\nModel and sources: `docs/cost.md`, `scenarios/data/README.md`, `scenarios/prices/default.toml`."
    );
    out
}

/// The illustrative pumping episode's section of `summary.md`.
fn episode_markdown(out: &mut String, e: &Episode) {
    let n = e.spend_sms_open.len();
    let last = |v: &[f64]| v.get(n.wrapping_sub(1)).copied().unwrap_or(0.0);
    let _ = writeln!(out, "\n## Illustrative pumping episode\n");
    let _ = writeln!(out, "{}; {} h shown.\n", e.spec.name, e.spec.horizon_hours);
    let _ = writeln!(
        out,
        "- SMS OTP, no block: {} spent",
        usd_label(last(&e.spend_sms_open))
    );
    let _ = writeln!(
        out,
        "- SMS OTP, block after {} pumped sends{}: {} spent",
        e.spec
            .block_after
            .map_or(String::from("(none)"), group_thousands),
        e.block_hour
            .map_or(String::new(), |h| format!(" (engages at hour {h:.1})")),
        usd_label(last(&e.spend_sms_blocked))
    );
    let _ = writeln!(
        out,
        "- Reverse iMessage: {} spent",
        usd_label(last(&e.spend_reverse))
    );
}

/// A compact table for the terminal, then each fraud share's break-even and both methods' cost
/// at the reference volume (in the second currency too when there is one).
pub fn terminal_table(sweep: &Sweep, currency: Option<&Currency>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mix: {} | SMS prices: snapshot {}",
        sweep.mix.name,
        sweep.mix.snapshot.date()
    );
    for n in &sweep.mix.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(
        out,
        "{:>15} {:>7} {:>14} {:>14} {:>6}  cheaper",
        "verif/month", "fraud", "sms_otp", "reverse_imsg", "lines"
    );
    for row in decade_rows(sweep) {
        let _ = writeln!(
            out,
            "{:>15} {:>7} {:>14} {:>14} {:>6}  {}",
            row[0], row[1], row[2], row[3], row[4], row[5]
        );
    }
    for r in &sweep.per_fraud {
        let _ = writeln!(
            out,
            "fraud share {}: {}",
            pct(r.fraud_share),
            describe(r, sweep)
        );
    }
    for r in &sweep.per_fraud {
        let _ = writeln!(
            out,
            "at {} verifications a month, fraud share {}: SMS OTP {}, reverse iMessage {}",
            group_thousands(sweep.reference_volume),
            pct(r.fraud_share),
            money(r.reference.sms.total_usd, currency),
            money(r.reference.reverse.total_usd, currency)
        );
    }
    if let Some(c) = currency {
        let _ = writeln!(out, "{}", c.sentence());
    }
    out
}
