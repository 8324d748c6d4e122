//! The incident library's comparison: each incident replayed as written, with each vendor
//! defence preset, and through the reverse flow with each fallback, measured the same way;
//! and the check of a replay against the figures its source documents.

use crate::outcome::Outcome;
use crate::scenario::{AttackKind, Fallback, Flow, Incident, Scenario};
use crate::variants::Variant;

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
    /// From the first pumping attack's start to the first send a defence refused.
    pub first_block_ms: Option<u64>,
    /// Legit users refused an SMS by a defence (false positives).
    pub legit_blocked: u64,
}

impl Measured {
    /// What `o`, a run of `sc`, did in `flow`.
    pub fn of(sc: &Scenario, flow: Flow, o: &Outcome) -> Self {
        let reverse = flow == Flow::Reverse;
        let (sent, cost, account) = match flow {
            Flow::Sms => (o.totals.pumped_sms_smsflow, &o.costs.sms, &o.billing.sms),
            Flow::Reverse => (
                o.totals.pumped_sms_reverse,
                &o.costs.reverse,
                &o.billing.reverse,
            ),
        };
        let defences = &o.defences[usize::from(reverse)];
        let segments = u64::from(sc.sms.segments).max(1);
        let attack_start_ms = sc
            .attackers
            .iter()
            .filter(|a| a.kind() == AttackKind::SmsPumping)
            .map(|a| a.start.ms())
            .min()
            .unwrap_or(0);
        Measured {
            flow,
            pumped_sms: sc.billed_segments(sent) / segments,
            blocked: defences.blocked - defences.legit_blocked,
            bill_usd: cost.as_ref().map_or(0.0, |c| c.pumped_sms_usd),
            first_block_ms: defences
                .first_block_ms
                .map(|t| t.saturating_sub(attack_start_ms)),
            legit_blocked: defences.legit_blocked + account.as_ref().map_or(0, |a| a.refused_legit),
        }
    }
}

/// The variants every incident is compared under, in table order.
pub fn variants(presets: &[&str]) -> Vec<Variant> {
    let mut v = vec![Variant::AsWritten];
    v.extend(presets.iter().map(|p| Variant::Preset((*p).to_string())));
    v.push(Variant::Reverse(Fallback::InboundSms));
    v.push(Variant::Reverse(Fallback::OutboundSms));
    v
}

/// The flow a variant's figures are read from.
pub fn flow_of(sc: &Scenario, v: &Variant) -> Flow {
    match (v, &sc.incident) {
        (Variant::Reverse(_), _) => Flow::Reverse,
        (_, Some(inc)) => inc.flow,
        (_, None) => sc.flows[0],
    }
}

/// Documented figures the replay misses by more than the tolerance, one line each.
pub fn misses(inc: &Incident, m: &Measured) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, documented: f64, got: f64| {
        let off = (got - documented).abs() / documented.max(1.0);
        if off > Incident::TOLERANCE {
            out.push(format!(
                "{what}: {got:.0}, documented {documented:.0} ({:+.0} %, more than ±{:.0} %)",
                (got - documented) / documented.max(1.0) * 100.0,
                Incident::TOLERANCE * 100.0
            ));
        }
    };
    if let Some(sms) = inc.sms {
        check("pumped SMS billed", sms as f64, m.pumped_sms as f64);
    }
    if let Some(blocked) = inc.blocked {
        check("pumped SMS blocked", blocked as f64, m.blocked as f64);
    }
    if let Some(bill) = inc.bill_usd {
        check("bill (USD)", bill.0, m.bill_usd);
    }
    out
}

/// "3h 12m" for a virtual time, "never" for none.
pub fn clock(ms: Option<u64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

/// One Markdown table: a row per variant.
pub fn table(rows: &[(Variant, Measured)]) -> String {
    let mut s = String::from(
        "| defences | flow | SMS pumped | bill (USD) | time to first block | legit users blocked |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for (v, m) in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            v.label(),
            match m.flow {
                Flow::Sms => "sms",
                Flow::Reverse => "reverse",
            },
            thousands(m.pumped_sms),
            thousands(m.bill_usd.round() as u64),
            clock(m.first_block_ms),
            thousands(m.legit_blocked)
        ));
    }
    s
}

/// One incident's part of docs/incidents.md: its source, what it documents, how the replay as
/// written compares, and the table of variants.
pub fn section(file: &str, sc: &Scenario, rows: &[(Variant, Measured)]) -> String {
    let Some(inc) = &sc.incident else {
        return String::new();
    };
    let mut s = format!(
        "## {}

`{file}`, seed {}. Source: <{}>.

",
        sc.description, sc.seed, inc.source
    );
    let mut documented = Vec::new();
    if let Some(n) = inc.sms {
        documented.push(format!("{} pumped SMS billed", thousands(n)));
    }
    if let Some(n) = inc.blocked {
        documented.push(format!("{} blocked", thousands(n)));
    }
    if let Some(b) = inc.bill_usd {
        documented.push(format!("a bill of ${}", thousands(b.0.round() as u64)));
    }
    s.push_str(&format!("Documented: {}.", documented.join(", ")));
    if let Some((_, m)) = rows.iter().find(|(v, _)| *v == Variant::AsWritten) {
        let misses = misses(inc, m);
        s.push_str(&if misses.is_empty() {
            format!(
                " The replay as written: {} billed, {} blocked, ${}, within ±{:.0} % of each documented figure.",
                thousands(m.pumped_sms),
                thousands(m.blocked),
                thousands(m.bill_usd.round() as u64),
                Incident::TOLERANCE * 100.0
            )
        } else {
            format!(" The replay as written misses: {}.", misses.join("; "))
        });
    }
    s.push_str("\n\n");
    s.push_str(&table(rows));
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
mod tests {
    use super::*;
    use crate::scenario::NonNeg;

    fn measured(pumped_sms: u64, blocked: u64, bill_usd: f64) -> Measured {
        Measured {
            flow: Flow::Sms,
            pumped_sms,
            blocked,
            bill_usd,
            first_block_ms: None,
            legit_blocked: 0,
        }
    }

    #[test]
    fn a_replay_is_held_to_each_documented_figure_within_ten_percent() {
        let inc = Incident {
            source: "https://example.org".into(),
            flow: Flow::Sms,
            sms: Some(8000),
            blocked: None,
            bill_usd: Some(NonNeg(1800.0)),
        };
        assert!(misses(&inc, &measured(8790, 123_456, 1630.0)).is_empty());
        let m = misses(&inc, &measured(8900, 0, 1800.0));
        assert_eq!(
            m,
            ["pumped SMS billed: 8900, documented 8000 (+11 %, more than ±10 %)"]
        );
        assert_eq!(misses(&inc, &measured(8000, 0, 1500.0)).len(), 1);
    }

    #[test]
    fn times_and_counts_read_like_a_report() {
        assert_eq!(clock(None), "never");
        assert_eq!(clock(Some(59_999)), "0m");
        assert_eq!(clock(Some(3 * 3_600_000 + 12 * 60_000)), "3h 12m");
        assert_eq!(clock(Some(2 * 3_600_000)), "2h");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
