//! The files of `mo2fa import`: summary.json (machine-readable, `sms_sent` and `spend_usd` at
//! the top level), summary.md and report.html ([`html`]). Numbers appear only masked unless the
//! user asked for `--show-numbers`; addresses only as their /24 or /48. Deterministic: the same
//! log gives byte-identical files.

pub mod html;

use crate::analysis::Agg;
use crate::error::ImportError;
use crate::privacy::mask_prefix;
use crate::replay::Replay;
use crate::run::Imported;
use crate::time::{DAY_MS, day_string};
use mo2fa_core::timefmt::rfc3339_ms;
use mo2fa_cost::observed::ObservedCost;
use serde_json::{Value, json};
use std::path::Path;

/// Rows of each ranked table in the reports.
pub const TOP: usize = 20;

/// A dollar figure as docs/metrics.md writes money: a string with two decimals (`"1234.50"`).
pub fn cents(v: f64) -> String {
    // `+ 0.0` turns -0.0 into 0.0, which would print as "-0.00".
    format!("{:.2}", (v * 100.0).round() / 100.0 + 0.0)
}

fn agg(a: &Agg) -> Value {
    json!({
        "sms_sent": a.sms,
        "segments": a.segments,
        "spend_usd": cents(a.spend_usd),
        "converted": a.converted,
        "unconverted": a.unconverted,
        "unknown": a.unknown(),
        "conversion": a.conversion().map(|c| (c * 1e4).round() / 1e4),
    })
}

fn with(mut v: Value, key: &str, x: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert(key.to_string(), x);
    }
    v
}

fn cost(c: &ObservedCost) -> Value {
    json!({
        "total_usd": cents(c.total_usd),
        "legit_sms_usd": cents(c.legit_sms_usd),
        "pumped_sms_usd": cents(c.pumped_sms_usd),
        "verify_fees_usd": cents(c.verify_fees_usd),
        "inbound_sms_usd": cents(c.inbound_sms_usd),
        "imessage_lines": c.lines,
        "imessage_lines_usd": cents(c.lines_usd),
        "fixed_fees_usd": cents(c.fixed_usd),
        "notes": c.notes,
    })
}

fn breakdowns(im: &Imported) -> Value {
    let a = &im.analysis;
    let show = im.show_numbers;
    let by_country: Vec<Value> = a
        .by_country
        .iter()
        .enumerate()
        .filter(|(_, c)| c.sms > 0)
        .map(|(i, c)| with(agg(c), "country", json!(im.countries.name(i as u16))))
        .collect();
    let by_day: Vec<Value> = a
        .by_day
        .iter()
        .map(|(d, c)| with(agg(c), "day", json!(day_string(*d))))
        .collect();
    let by_prefix: Vec<Value> = a
        .by_prefix()
        .top(TOP)
        .iter()
        .map(|(p, c)| with(agg(c), "range", json!(mask_prefix(*p, show))))
        .collect();
    let by_carrier: Vec<Value> = a
        .by_carrier
        .top(TOP)
        .iter()
        .map(|((mcc, mnc), c)| {
            with(
                with(agg(c), "mcc", json!(format!("{mcc:03}"))),
                "mnc",
                json!(format!("{mnc:02}")),
            )
        })
        .collect();
    let by_ip: Vec<Value> = a
        .by_ip
        .top(TOP)
        .iter()
        .map(|(ip, c)| with(agg(c), "block", json!(ip.block_string())))
        .collect();
    json!({
        "by_country": by_country,
        "by_day": by_day,
        "top_ranges": by_prefix,
        "ranges_total": a.by_prefix().map.len() as u64 + u64::from(a.by_prefix().other.sms > 0),
        "by_carrier": by_carrier,
        "top_ip_blocks": by_ip,
    })
}

fn pumping(im: &Imported) -> Value {
    let s = &im.suspects;
    let by_country: Vec<Value> = s
        .by_country()
        .iter()
        .map(|(c, (n, usd))| json!({"country": im.countries.name(*c), "sms": n, "spend_usd": cents(*usd)}))
        .collect();
    let by_day: Vec<Value> = s
        .by_day()
        .iter()
        .map(|(d, (n, usd))| json!({"day": day_string(*d), "sms": n, "spend_usd": cents(*usd)}))
        .collect();
    let hours = s.hours();
    json!({
        "rule": s.rule.describe(),
        "sms": s.sms(),
        "spend_usd": cents(s.spend_usd()),
        "share_of_spend": if im.analysis.total.spend_usd > 0.0 { (s.spend_usd() / im.analysis.total.spend_usd * 1e4).round() / 1e4 } else { 0.0 },
        "first": hours.first().map(|h| rfc3339_ms(u64::from(*h) * 3_600_000)),
        "last": hours.last().map(|h| rfc3339_ms(u64::from(*h) * 3_600_000)),
        "suspect_hours": hours.len(),
        "by_country": by_country,
        "by_day": by_day,
    })
}

fn replay(r: &Replay, im: &Imported) -> Value {
    let rules: Vec<Value> = r
        .by_rule
        .iter()
        .map(|(name, s)| {
            with(
                with(
                    with(agg(&s.blocked), "rule", json!(name)),
                    "first_block",
                    json!(rfc3339_ms(s.first_ms)),
                ),
                "last_block",
                json!(rfc3339_ms(s.last_ms)),
            )
        })
        .collect();
    let by_day: Vec<Value> = r
        .blocked_by_day
        .iter()
        .map(|(d, c)| with(agg(c), "day", json!(day_string(*d))))
        .collect();
    let spans: Vec<Value> = r
        .spans
        .iter()
        .map(|(from, until, c)| json!({"from": rfc3339_ms(*from), "until": rfc3339_ms(*until), "country": im.countries.iso.get(*c)}))
        .collect();
    json!({
        "name": r.name,
        "judged": agg(&r.judged),
        "blocked": agg(&r.blocked),
        "legit_blocked": r.blocked.converted,
        "blocked_unconverted_likely_pumping": r.blocked.unconverted,
        "blocked_unknown": r.blocked.unknown(),
        "legit_numbers_hit": r.legit_numbers.len(),
        "legit_numbers_hit_is_lower_bound": r.legit_numbers_capped,
        "by_rule": rules,
        "alerts_by_rule": r.alerts(),
        "blocked_by_day": by_day,
        "blocks": spans,
        "blocks_total": r.spans_total,
        "warmup": {"sms": r.warmup.sms, "blocked": r.warmup_blocked},
    })
}

/// The whole summary.json.
pub fn summary(im: &Imported) -> Value {
    let a = &im.analysis;
    let st = &im.stats;
    let rev = &im.reverse;
    let mut out = json!({
        "tool": "mo2fa import",
        "format": im.format.name(),
        "files": st.files,
        "sms_sent": a.total.sms,
        "spend_usd": cents(a.total.spend_usd),
        "segments": a.total.segments,
        "verified": a.total.converted,
        "unverified": a.total.unconverted,
        "outcome_unknown": a.total.unknown(),
        "conversion": a.total.conversion().map(|c| (c * 1e4).round() / 1e4),
        "period": {
            "first": rfc3339_ms(a.first_ms),
            "last": rfc3339_ms(a.last_ms),
            "days": (a.period_days() * 1e4).round() / 1e4,
        },
        "inferred": st.inferred,
        "price_snapshots": im.price_dates,
        "bad_rows": {
            "count": st.bad,
            "by_field": st.bad_by_field,
            "first": st.first_bad,
        },
        "skipped_rows": st.skipped,
        "refused_rows": st.refused(),
        "likely_pumping": pumping(im),
        "defences": {
            "warmup_days": im.warmup_ms as f64 / DAY_MS as f64,
            "late_rows": im.replays.late,
            "replays": im.replays.replays.iter().map(|r| replay(r, im)).collect::<Vec<_>>(),
        },
        "reverse": {
            "price_snapshot": rev.price_date.to_string(),
            "imessage_shares": rev.shares.iter().map(|(iso, s, src)| json!({"country": iso, "share": s, "source": src})).collect::<Vec<_>>(),
            "sms_flow_model": cost(&rev.sms_flow),
            "reverse_flow": rev.reverse.iter().map(|p| with(cost(&p.cost), "fallback", json!(p.fallback.as_str()))).collect::<Vec<_>>(),
        },
        "privacy": {
            "numbers": if im.show_numbers { "shown in full (--show-numbers)" } else { "masked: calling code and last 2 digits" },
            "addresses": "as their /24 (IPv4) or /48 (IPv6)",
        },
    });
    if let (Value::Object(m), Value::Object(b)) = (&mut out, breakdowns(im)) {
        m.extend(b);
    }
    out
}

/// Writes summary.json, summary.md and report.html into `out`.
pub fn write(im: &Imported, out: &Path) -> Result<(), ImportError> {
    let w = |name: &str, body: String| {
        let path = out.join(name);
        std::fs::write(&path, body).map_err(|source| ImportError::Write { file: path, source })
    };
    std::fs::create_dir_all(out).map_err(|source| ImportError::Write {
        file: out.to_path_buf(),
        source,
    })?;
    let json = summary(im);
    w(
        "summary.json",
        format!(
            "{}\n",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ),
    )?;
    w("summary.md", html::markdown(im, &json))?;
    w("report.html", html::page(im, &json))?;
    Ok(())
}
