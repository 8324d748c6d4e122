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
        target: None,
        unobservable: Vec::new(),
    }
}

#[test]
fn against_a_target_what_was_not_seen_is_neither_agreement_nor_difference() {
    let mut r = report(
        &[
            ("verified", UNOBSERVED, 40),
            ("rejected", "accepted", 5),
            ("duplicate", UNOBSERVED, 2),
        ],
        None,
    );
    r.target = Some("http://127.0.0.1:8091 (profile blooio-demo)".into());
    assert_eq!(r.verified(), (0, 0));
    assert_eq!(r.not_compared(), 40);
    assert_eq!(r.agreement(), (0, 5), "only the forgeries were compared");
    assert!(
        r.verified_line().starts_with("NOT COMPARED"),
        "{}",
        r.verified_line()
    );
    assert_eq!(r.problem(), None);
    // In process nothing is unobserved: the same answers would be differences.
    r.target = None;
    assert_eq!(r.verified(), (40, 0));
    assert!(r.problem().unwrap().contains("DIFFER"));
    // Some seen, some not: the seen ones are compared and the rest are said to be left out.
    let mut r = report(
        &[("verified", "verified", 3), ("verified", UNOBSERVED, 2)],
        None,
    );
    r.target = Some("t".into());
    assert_eq!(
        r.verified_line(),
        "virtual 3, live 3 (agree); 2 more virtual verifications not compared (not seen on the target)"
    );
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

/// A provider's redelivery waits for the original delivery, a poll for the code delivered
/// before it, an SMS check for the code texted to the same phone; unrelated steps wait for
/// nothing.
#[test]
fn steps_on_the_same_state_go_out_in_virtual_order() {
    use mo2fa_sim::trace::{Action, Step, Text, Trace};
    let step = |at_ms, action| Step {
        at_ms,
        action,
        expect: "x",
    };
    let webhook = |msg, key| Action::Webhook {
        msg,
        sender: 15550100001,
        text: Text::Code(key),
        protocol: "imessage",
    };
    let trace = Trace {
        steps: vec![
            step(
                0,
                Action::Start {
                    key: Some(0),
                    expected_sender: None,
                },
            ),
            step(
                1,
                Action::Start {
                    key: Some(1),
                    expected_sender: None,
                },
            ),
            step(2, webhook(1, 0)),
            // The provider's redelivery of message 1, 4 ms of wall time later at 100x.
            step(400, webhook(1, 0)),
            step(
                500,
                Action::Forged {
                    n: 0,
                    code: "ABC234".into(),
                },
            ),
            step(600, Action::Poll { key: 0, after: 1 }),
            step(700, webhook(2, 1)),
            step(
                800,
                Action::SmsStart {
                    world: mo2fa_sim::scenario::Flow::Sms,
                    key: Some(2),
                    number: 447700900123,
                    country: 0,
                },
            ),
            step(
                900,
                Action::SmsStart {
                    world: mo2fa_sim::scenario::Flow::Sms,
                    key: Some(3),
                    number: 447700900123,
                    country: 0,
                },
            ),
            step(
                950,
                Action::SmsRead {
                    world: mo2fa_sim::scenario::Flow::Sms,
                    key: 2,
                    number: 447700900123,
                },
            ),
        ],
        countries: vec!["GB".into()],
        keys: 4,
        messages: 2,
        max_steps: 100,
        truncated: false,
    };
    let p = super::order::predecessors(&trace);
    assert_eq!(p[0], [None, None]);
    assert_eq!(p[1], [None, None]);
    assert_eq!(p[2], [None, Some(0)], "the code waits for its start");
    assert_eq!(
        p[3],
        [Some(2), Some(2)],
        "the redelivery waits for the original"
    );
    assert_eq!(p[4], [None, None], "a forgery touches no challenge");
    assert_eq!(
        p[5],
        [Some(3), None],
        "the poll waits for the last delivery of its code"
    );
    assert_eq!(p[6], [None, Some(1)]);
    assert_eq!(p[7], [None, None]);
    assert_eq!(
        p[8],
        [None, Some(7)],
        "a second code texted to the same phone"
    );
    assert_eq!(
        p[9],
        [Some(7), Some(8)],
        "the check reads the phone's last code"
    );
}

/// A guess may verify any challenge: guesses keep their virtual order, and a poll waits for
/// the last guess before it (the guess may have hijacked the polled challenge), while polls do
/// not wait for each other.
#[test]
fn polls_wait_for_earlier_deliveries_that_name_no_code() {
    use mo2fa_sim::trace::{Action, Step, Text, Trace};
    let step = |at_ms, action| Step {
        at_ms,
        action,
        expect: "x",
    };
    let guess = |msg| Action::Webhook {
        msg,
        sender: 15550100009,
        text: Text::Literal("ABC234".into()),
        protocol: "imessage",
    };
    let start = |key| Action::Start {
        key: Some(key),
        expected_sender: None,
    };
    let trace = Trace {
        steps: vec![
            step(0, start(0)),
            step(1, start(1)),
            step(2, guess(0)),
            step(3, guess(1)),
            step(4, Action::Poll { key: 0, after: 1 }),
            step(5, Action::Poll { key: 1, after: 1 }),
            step(6, guess(2)),
        ],
        countries: vec![],
        keys: 2,
        messages: 3,
        max_steps: 100,
        truncated: false,
    };
    let p = super::order::predecessors(&trace);
    assert_eq!(p[2], [None, None], "the first guess waits for nothing");
    assert_eq!(p[3], [None, Some(2)], "guesses go in order");
    assert_eq!(p[4], [Some(0), Some(3)], "a poll waits for the last guess");
    assert_eq!(p[5], [Some(1), Some(3)], "and not for the poll before it");
    assert_eq!(
        p[6],
        [None, Some(3)],
        "a later guess does not wait for polls"
    );
}
