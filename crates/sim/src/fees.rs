//! What the SMS defences' vendors charge or credit on top of the messages
//! (`SmsGuard::report`'s fees and credits; docs/defences.md, "Fees and credits"), priced for
//! the cost model and the reports.
//!
//! Fees are counts of billable events priced per event. No vendor's page in the reference
//! corpus gives the price of these two features, so both are **assumed** at $0.001 per message:
//! the order of Twilio's one published per-message processing fee (the "Message Processing
//! Fee of $0.001" for failed messages, support.twilio.com article 27502337507483). The Fraud
//! Guard Promise credit is "any Verify fees and SMS fees incurred" for the credited sends: the
//! flow's mean billed price of a pumped SMS times the credited sends, at most the pumped bill.

use crate::outcome::FlowDefences;
use mo2fa_cost::observed::ObservedCost;
use std::collections::BTreeMap;

/// Assumed USD per billable event of each fee (see the module doc).
pub fn fee_usd(name: &str) -> f64 {
    match name {
        "aws_ait_evaluation" | "twilio_pumping_protection" => 0.001,
        _ => 0.0,
    }
}

/// The defences' fees in USD, per fee name.
pub fn fees_usd(d: &FlowDefences) -> BTreeMap<&'static str, f64> {
    d.fees
        .iter()
        .map(|(name, n)| (*name, *n as f64 * fee_usd(name)))
        .collect()
}

/// The Promise credit in USD: `credited` sends at the mean price of the `pumped` SMS that
/// cost `pumped_usd`, at most `pumped_usd`.
pub fn credit_usd(credited: u64, pumped: u64, pumped_usd: f64) -> f64 {
    if pumped == 0 {
        return 0.0;
    }
    (credited as f64 * pumped_usd / pumped as f64).min(pumped_usd)
}

/// Adds a flow's defence fees to its priced cost (in the total, one note each) and notes its
/// credits as their own line: a credit is claimed from the vendor afterwards, so the total
/// stays the bill.
pub fn charge(cost: &mut ObservedCost, d: &FlowDefences, pumped: u64) {
    for (name, usd) in fees_usd(d) {
        cost.total_usd += usd;
        cost.notes.push(format!(
            "defence fee {name}: {} events at ${:.4} (assumed) = ${usd:.2}, in the total",
            d.fees[name],
            fee_usd(name)
        ));
    }
    for (name, n) in &d.credits {
        let usd = credit_usd(*n, pumped, cost.pumped_sms_usd);
        cost.notes.push(format!(
            "vendor credit {name}: {n} pumped SMS, ${usd:.2} claimable, not taken off the total"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_priced_per_event_and_the_credit_never_exceeds_the_bill() {
        let mut d = FlowDefences::default();
        d.fees.insert("aws_ait_evaluation", 2_000);
        d.fees.insert("unknown_fee", 7);
        let usd = fees_usd(&d);
        assert!((usd["aws_ait_evaluation"] - 2.0).abs() < 1e-12);
        assert_eq!(usd["unknown_fee"], 0.0);
        assert!((credit_usd(500, 2_000, 640.0) - 160.0).abs() < 1e-9);
        assert_eq!(credit_usd(5_000, 2_000, 640.0), 640.0);
        assert_eq!(credit_usd(5, 0, 0.0), 0.0);
    }
}
