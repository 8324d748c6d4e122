use super::*;
use crate::scenario::{Dur, NonNeg};

fn measured(pumped_sms: u64, blocked: u64, bill_usd: f64) -> Measured {
    Measured {
        flow: Flow::Sms,
        pumped_sms,
        blocked,
        bill_usd,
        fees_usd: 0.0,
        credit_usd: 0.0,
        first_block_ms: None,
        legit_blocked: 0,
        legit_users: 0,
        alerts: 0,
        app_logged: None,
    }
}

fn incident(predicted: Vec<Figure>) -> Incident {
    Incident {
        source: "https://example.org".into(),
        flow: Flow::Sms,
        sms: Some(8000),
        blocked: None,
        bill_usd: Some(NonNeg(1800.0)),
        usd_per_sms: None,
        first_block: None,
        predicted,
        app_log_retention: None,
    }
}

#[test]
fn only_predicted_figures_are_held_to_ten_percent() {
    let inc = incident(vec![Figure::Sms, Figure::BillUsd]);
    assert!(misses(&inc, &measured(8790, 123_456, 1630.0)).is_empty());
    let m = misses(&inc, &measured(8900, 0, 1800.0));
    assert_eq!(
        m,
        ["pumped SMS billed: 8,900, documented 8,000 (+11 %, more than ±10 %)"]
    );
    assert_eq!(misses(&inc, &measured(8000, 0, 1500.0)).len(), 1);
    // The same figures as inputs are shown, never checked.
    let inputs = incident(Vec::new());
    assert!(misses(&inputs, &measured(1, 0, 1.0)).is_empty());
    let c = compare(&inputs, &measured(1, 0, 1.0));
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.predicted.is_none()));
}

#[test]
fn a_documented_time_range_is_met_inside_it_only() {
    let mut inc = incident(vec![Figure::FirstBlock]);
    inc.first_block = Some([Dur(2 * 3_600_000), Dur(5 * 3_600_000)]);
    let at = |ms: Option<i64>| Measured {
        first_block_ms: ms,
        ..measured(8000, 0, 1800.0)
    };
    assert!(misses(&inc, &at(Some(3 * 3_600_000))).is_empty());
    assert_eq!(
        misses(&inc, &at(Some(69 * 60_000))),
        ["time to first block: 1h 09m, documented 2h to 5h"]
    );
    assert_eq!(misses(&inc, &at(None)).len(), 1);
}

#[test]
fn times_and_counts_read_like_a_report() {
    assert_eq!(clock(None), "never");
    assert_eq!(clock(Some(59_999)), "0m");
    assert_eq!(clock(Some(3 * 3_600_000 + 12 * 60_000)), "3h 12m");
    assert_eq!(clock(Some(2 * 3_600_000)), "2h");
    assert_eq!(clock(Some(-20 * 60_000)), "-20m (before the attack)");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(thousands(999), "999");
}

#[test]
fn the_table_gives_the_legit_share_alerts_fees_and_credit() {
    let m = Measured {
        legit_blocked: 50,
        legit_users: 1_000,
        alerts: 1_234,
        fees_usd: 12.4,
        credit_usd: 300.0,
        ..measured(2_500, 4_000, 800.0)
    };
    let t = table(&[(Variant::AsWritten, m)]);
    assert!(
        t.contains(
            "| as written | sms | 2,500 | 800 | +12 / credit 300 | never | 50 (5.0 %) | 1,234 |"
        ),
        "{t}"
    );
}
