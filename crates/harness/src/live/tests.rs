//! Unit tests of the live replay's timing rule and agreement.

use super::schedule::suggest;
use super::*;
use crate::openloop::Recorder;
use mo2fa_sim::trace::Endpoint;

#[test]
fn suggested_speeds_are_round_and_below_what_was_sustained() {
    assert_eq!(suggest(3_158.0, 5_000.0), 1_000.0);
    assert_eq!(suggest(600.0, 1e9), 200.0);
    assert_eq!(suggest(1e6, 400.0), 200.0);
    assert_eq!(suggest(10.0, 1e9), 5.0);
    assert_eq!(suggest(0.5, 100.0), 0.2);
    assert_eq!(suggest(0.0, 100.0), 0.001);
}

fn report(outcomes: &[(&'static str, &str, u64)], behind: Option<Behind>) -> LiveReport {
    LiveReport {
        load: Recorder::new(&[], Duration::from_secs(1)).finish(Duration::from_secs(1)),
        outcomes: outcomes
            .iter()
            .map(|&(expect, got, n)| ((Endpoint::Webhook, expect, got.to_string()), n))
            .collect(),
        speed: 5000.0,
        released: 10,
        steps: 10,
        max_lag: Duration::from_millis(3),
        budget: MIN_LAG_BUDGET,
        behind,
    }
}

#[test]
fn differing_verifications_or_falling_behind_fail_the_replay() {
    // Answers that trade places without changing the totals still stand.
    let swapped = report(
        &[("verified", "duplicate", 1), ("duplicate", "verified", 1)],
        None,
    );
    assert_eq!(swapped.problem(), None);
    let lost = report(
        &[("verified", "verified", 7), ("verified", "http_503", 2)],
        None,
    );
    let p = lost.problem().unwrap();
    assert!(
        p.contains("DIFFER") && p.contains("virtual 9, live 7"),
        "{p}"
    );
    let behind = Behind {
        lag: Duration::from_millis(4200),
        budget: Duration::from_millis(20),
        window: (Duration::from_secs(300), "challenge TTL"),
        at_ms: 36_000_000,
        speed: 5000.0,
        sustained: 3158.0,
        suggested_speed: suggest(3158.0, 5000.0),
    };
    let p = report(&[("verified", "verified", 9)], Some(behind.clone()))
        .problem()
        .unwrap();
    assert_eq!(
        p,
        "the live replay fell 4.2 s behind schedule at 5000x; try --speed 1000"
    );
    let long = behind.to_string();
    assert!(
        long.contains("challenge TTL, 300 s") && long.contains("20 ms"),
        "{long}"
    );
}
