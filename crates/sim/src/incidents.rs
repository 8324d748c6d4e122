//! The incident library's comparison: each incident replayed as written, with each vendor
//! defence preset's published defaults from an empty account and warm (from the file's
//! history), over another range size, and through the reverse flow with each fallback,
//! measured the same way; and the check of a replay against the figures its source documents
//! (only the figures marked predicted are checked; inputs are shown as inputs). A scenario
//! without `[incident]` gets the same table without the documented figures.

use crate::fees;
use crate::first_block;
use crate::outcome::Outcome;
use crate::scenario::{Fallback, Figure, Flow, Incident, Scenario};
use crate::variants::{Variant, WARMUP_DAYS};

/// What one run of an incident did in the flow the incident is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub flow: Flow,
    /// Pumped SMS the provider billed (segments billed / segments per message).
    pub pumped_sms: u64,
    /// Pumping attempts the flow's defences refused.
    pub blocked: u64,
    /// What the pumped SMS cost, as billed (USD).
    pub bill_usd: f64,
    /// The defences' own fees (USD, in the cost model's total) and the vendor's credit (USD,
    /// claimable, not in the total): crate::fees.
    pub fees_usd: f64,
    pub credit_usd: f64,
    /// Time to first block (crate::first_block), ms; negative before the attack began.
    pub first_block_ms: Option<i64>,
    /// Legit requests refused an SMS by a defence or a suspended account (false positives),
    /// and the legit users of the run.
    pub legit_blocked: u64,
    pub legit_users: u64,
    /// Monitor-mode alerts (sends a rule saw and would have refused).
    pub alerts: u64,
    /// Pumped SMS the app's log still held at the end (`[incident] app_log_retention`).
    pub app_logged: Option<u64>,
}

impl Measured {
    /// What `o`, a run of `sc`, did in `flow`.
    pub fn of(sc: &Scenario, flow: Flow, o: &Outcome) -> Self {
        let (sent, cost, account) = match flow {
            Flow::Sms => (
                o.counts.totals.pumping.pumped_sms_smsflow,
                &o.costs.sms,
                &o.billing.sms,
            ),
            Flow::Reverse => (
                o.counts.totals.pumping.pumped_sms_reverse,
                &o.costs.reverse,
                &o.billing.reverse,
            ),
        };
        let defences = &o.counts.defences[flow.index()];
        let segments = u64::from(sc.sms.segments).max(1);
        let bill_usd = cost.as_ref().map_or(0.0, |c| c.pumped_sms_usd);
        let credited = defences.credits.values().sum();
        Measured {
            flow,
            pumped_sms: sc.billed_segments(sent) / segments,
            blocked: defences.blocked - defences.legit_blocked,
            bill_usd,
            fees_usd: fees::fees_usd(defences).values().sum(),
            credit_usd: fees::credit_usd(credited, sent, bill_usd),
            first_block_ms: first_block::time_to_first_block_ms(sc, defences),
            legit_blocked: defences.legit_blocked + account.as_ref().map_or(0, |a| a.refused_legit),
            legit_users: o.counts.users.legit,
            alerts: defences.alerts(),
            app_logged: app_logged(sc, flow, o),
        }
    }

    /// Legit users blocked as a share of the run's legit users.
    pub fn legit_blocked_share(&self) -> f64 {
        self.legit_blocked as f64 / self.legit_users.max(1) as f64
    }
}

/// Pumped SMS sent within `[incident] app_log_retention` of the run's end (the timeline's
/// rows that start inside it), as the app's own log would still hold them.
fn app_logged(sc: &Scenario, flow: Flow, o: &Outcome) -> Option<u64> {
    let keep = sc.criteria.incident.as_ref()?.app_log_retention?.ms();
    let from = sc.run.duration.ms().saturating_sub(keep);
    let interval = sc.run.interval.ms().max(1);
    Some(
        o.counts
            .rows
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 * interval >= from)
            .map(|(_, r)| match flow {
                Flow::Sms => r.pumping.pumped_sms_smsflow,
                Flow::Reverse => r.pumping.pumped_sms_reverse,
            })
            .sum(),
    )
}

/// The variants every scenario is compared under, in table order: as written, each preset
/// cold then warm, as written and under Fraud Guard Standard (cold) over `other_range`
/// numbers, the two reverse flows.
pub fn variants(presets: &[&str], other_range: u32) -> Vec<Variant> {
    let mut v = vec![Variant::AsWritten];
    for p in presets {
        for warm in [false, true] {
            v.push(Variant::Preset {
                name: (*p).to_string(),
                warm,
            });
        }
    }
    v.push(Variant::RangeSize(other_range));
    v.push(Variant::PresetRangeSize {
        name: crate::variants::RANGE_PRESET.to_string(),
        range: other_range,
    });
    v.push(Variant::Reverse(Fallback::InboundSms));
    v.push(Variant::Reverse(Fallback::OutboundSms));
    v
}

/// The range size of the sensitivity row: one 10,000-number block (Luma's +99899394) when
/// the file pumps wider ranges, else 1,000,000 numbers.
pub fn other_range(sc: &Scenario) -> u32 {
    let widest = sc
        .attackers
        .iter()
        .filter_map(|a| match &a.attack {
            crate::scenario::Attack::Pumping(p) => Some(p.numbers.range_size),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if widest > 10_000 { 10_000 } else { 1_000_000 }
}

/// The flow a variant's figures are read from.
pub fn flow_of(sc: &Scenario, v: &Variant) -> Flow {
    match (v, &sc.criteria.incident) {
        (Variant::Reverse(_), _) => Flow::Reverse,
        (_, Some(inc)) => inc.flow,
        (_, None) => sc.run.flows[0],
    }
}

/// One documented figure against the replay: its name, the documented and replayed values
/// as printed, and, for a predicted figure, whether the replay met it.
#[derive(Clone, Debug, PartialEq)]
pub struct Compared {
    pub name: &'static str,
    pub documented: String,
    pub replayed: String,
    /// `None` for an input; `Some(miss)` for a predicted figure, `miss` empty when met.
    pub predicted: Option<String>,
}

/// Every documented figure of `inc` against the replay `m`.
pub fn compare(inc: &Incident, m: &Measured) -> Vec<Compared> {
    let tol = Incident::TOLERANCE;
    let mut out = Vec::new();
    let mut number = |f: Figure, what: &'static str, documented: Option<f64>, got: f64| {
        let Some(documented) = documented else { return };
        let off = (got - documented) / documented.max(f64::MIN_POSITIVE);
        let miss = if off.abs() > tol {
            format!(
                "{what}: {}, documented {} ({:+.0} %, more than ±{:.0} %)",
                short(got),
                short(documented),
                off * 100.0,
                tol * 100.0
            )
        } else {
            String::new()
        };
        out.push(Compared {
            name: what,
            documented: short(documented),
            replayed: short(got),
            predicted: inc.is_predicted(f).then_some(miss),
        });
    };
    number(
        Figure::Sms,
        "pumped SMS billed",
        inc.sms.map(|n| n as f64),
        m.pumped_sms as f64,
    );
    number(
        Figure::Blocked,
        "pumped SMS blocked",
        inc.blocked.map(|n| n as f64),
        m.blocked as f64,
    );
    number(
        Figure::BillUsd,
        "bill (USD)",
        inc.bill_usd.map(|b| b.0),
        m.bill_usd,
    );
    let per_sms = m.bill_usd / m.pumped_sms.max(1) as f64;
    if let Some(p) = inc.usd_per_sms {
        let miss = ((per_sms - p.0).abs() > tol * p.0).then(|| {
            format!(
                "USD per pumped SMS: {per_sms:.4}, documented {:.4} (more than ±{:.0} %)",
                p.0,
                tol * 100.0
            )
        });
        out.push(Compared {
            name: "USD per pumped SMS",
            documented: format!("{:.4}", p.0),
            replayed: format!("{per_sms:.4}"),
            predicted: inc
                .is_predicted(Figure::UsdPerSms)
                .then(|| miss.unwrap_or_default()),
        });
    }
    if let Some([a, b]) = inc.first_block {
        let (a, b) = (a.ms() as i64, b.ms() as i64);
        let met = m.first_block_ms.is_some_and(|t| (a..=b).contains(&t));
        let range = format!("{} to {}", clock(Some(a)), clock(Some(b)));
        out.push(Compared {
            name: first_block::NAME,
            replayed: clock(m.first_block_ms),
            predicted: inc.is_predicted(Figure::FirstBlock).then(|| {
                if met {
                    String::new()
                } else {
                    format!(
                        "{}: {}, documented {range}",
                        first_block::NAME,
                        clock(m.first_block_ms)
                    )
                }
            }),
            documented: range,
        });
    }
    out
}

/// Predicted figures the replay misses, one line each (inputs are never misses).
pub fn misses(inc: &Incident, m: &Measured) -> Vec<String> {
    compare(inc, m)
        .into_iter()
        .filter_map(|c| c.predicted.filter(|miss| !miss.is_empty()))
        .collect()
}

/// A figure as the comparison prints it: whole numbers with thousands separators, else two
/// decimals.
fn short(x: f64) -> String {
    if x.fract() == 0.0 && x >= 0.0 {
        thousands(x as u64)
    } else {
        format!("{x:.2}")
    }
}

/// "3h 12m" for a virtual duration, "never" for none, "-20m (before the attack)" when a
/// legit send was refused before the attack began.
pub fn clock(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    if ms < 0 {
        return format!("-{} (before the attack)", clock(Some(-ms)));
    }
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

/// One Markdown table: a row per variant.
pub fn table(rows: &[(Variant, Measured)]) -> String {
    let mut s = format!(
        "| defences | flow | SMS pumped | bill (USD) | fees / credit (USD) | {} | legit users blocked | alerts |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
        first_block::NAME
    );
    for (v, m) in rows {
        let money = |usd: f64| thousands(usd.round() as u64);
        let extra = match (m.fees_usd > 0.0, m.credit_usd > 0.0) {
            (false, false) => "–".to_string(),
            (true, false) => format!("+{}", money(m.fees_usd)),
            (false, true) => format!("credit {}", money(m.credit_usd)),
            (true, true) => format!("+{} / credit {}", money(m.fees_usd), money(m.credit_usd)),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {extra} | {} | {} ({:.1} %) | {} |\n",
            v.label(),
            m.flow.name(),
            thousands(m.pumped_sms),
            money(m.bill_usd),
            clock(m.first_block_ms),
            thousands(m.legit_blocked),
            m.legit_blocked_share() * 100.0,
            thousands(m.alerts),
        ));
    }
    s
}

/// What history a scenario's runs start from, in words.
pub fn history_label(sc: &Scenario) -> String {
    match &sc.money.history {
        None => "none (an empty account: every country never sent to)".into(),
        Some(h) => match h.warmup_ms() {
            Some(ms) => format!(
                "a warm-up: the file's legit population replayed for {} before the run",
                crate::scenario::Dur(ms)
            ),
            None => {
                let e = h.explicit().unwrap_or_default();
                format!(
                    "explicit: daily sends {} over {} days, conversion {:.2}",
                    e.daily_sends
                        .iter()
                        .map(|(k, v)| format!("{} {}", k.0, thousands(u64::from(*v))))
                        .collect::<Vec<_>>()
                        .join(", "),
                    e.days.unwrap_or(mo2fa_core::sms_defences::history::DAYS),
                    e.conversion
                        .map_or(mo2fa_core::sms_defences::history::CONVERSION, |p| p.0)
                )
            }
        },
    }
}

/// One scenario's part of docs/incidents.md: its source and documented figures (each an
/// input or a prediction checked against the replay as written), its history, and the table
/// of variants. A scenario without `[incident]` gets the table only.
pub fn section(file: &str, sc: &Scenario, rows: &[(Variant, Measured)]) -> String {
    let title = if sc.run.description.is_empty() {
        file
    } else {
        &sc.run.description
    };
    let mut s = format!("## {title}\n\n`{file}`, seed {}.", sc.run.seed);
    if let Some(inc) = &sc.criteria.incident {
        s.push_str(&format!(" Source: <{}>.", inc.source));
    }
    s.push_str(&format!(
        " History as written: {}. Warm preset rows start from {}.\n\n",
        history_label(sc),
        if sc.money.history.is_some() {
            "the same history".to_string()
        } else {
            format!("a {WARMUP_DAYS}-day warm-up (assumed; the file gives no history)")
        }
    ));
    let as_written = rows.iter().find(|(v, _)| *v == Variant::AsWritten);
    match (&sc.criteria.incident, as_written) {
        (Some(inc), Some((_, m))) => s.push_str(&documented(inc, m)),
        (None, _) => s.push_str("No `[incident]` section: no documented figure to check.\n\n"),
        _ => {}
    }
    s.push_str(&table(rows));
    s.push('\n');
    s
}

/// The documented figures against the replay as written.
fn documented(inc: &Incident, m: &Measured) -> String {
    let mut s = String::from(
        "| documented figure | source | replay as written | used as |\n|---|---:|---:|---|\n",
    );
    for c in compare(inc, m) {
        let used = match &c.predicted {
            None => "input (the file is built to give it; not a test)".to_string(),
            Some(miss) if miss.is_empty() => {
                format!("predicted: within ±{:.0} %", Incident::TOLERANCE * 100.0)
            }
            Some(_) => "predicted: **missed**".to_string(),
        };
        let used = if c.name == first_block::NAME && c.predicted.as_deref() == Some("") {
            "predicted: within the documented range".to_string()
        } else {
            used
        };
        s.push_str(&format!(
            "| {} | {} | {} | {used} |\n",
            c.name, c.documented, c.replayed
        ));
    }
    if let (Some(keep), Some(logged)) = (inc.app_log_retention, m.app_logged) {
        s.push_str(&format!(
            "\nThe app's log, kept {keep} (assumed), still held {} of the {} pumped SMS ({:.0} %).\n",
            thousands(logged),
            thousands(m.pumped_sms),
            logged as f64 / m.pumped_sms.max(1) as f64 * 100.0
        ));
    }
    s.push('\n');
    s
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
