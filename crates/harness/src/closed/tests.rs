//! Unit tests of `mo2fa load`: the mix, the counters and the senders.

use super::*;

#[test]
fn parses_a_full_mix() {
    let m: Mix = "flow=4,webhook_flood=2,start_flood=1,status_poll=3"
        .parse()
        .unwrap();
    assert_eq!(m, Mix::default());
}

#[test]
fn names_left_out_weigh_nothing_and_spaces_are_allowed() {
    let m: Mix = " flow = 2 , status_poll=0,".parse().unwrap();
    assert_eq!(m.weights().map(|(_, w)| w), [2, 0, 0, 0], "only flow runs");
}

#[test]
fn rejects_unknown_names() {
    let e = "flow=1,foo=2".parse::<Mix>().unwrap_err();
    assert_eq!(e, MixError::Unknown("foo".into()));
    assert!(e.to_string().starts_with("unknown transaction \"foo\""));
}

#[test]
fn rejects_bad_weights() {
    for bad in ["flow=-1", "flow=1.5", "flow=x", "flow=", "flow=1001"] {
        let e = bad.parse::<Mix>().unwrap_err();
        assert!(
            matches!(e, MixError::Weight { ref name, .. } if name == "flow"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn rejects_all_zero_duplicates_and_syntax() {
    assert_eq!(
        "flow=0,start_flood=0".parse::<Mix>(),
        Err(MixError::AllZero)
    );
    assert_eq!("".parse::<Mix>(), Err(MixError::AllZero));
    assert_eq!(
        "flow=1,flow=2".parse::<Mix>(),
        Err(MixError::Duplicate("flow".into()))
    );
    assert_eq!("flow".parse::<Mix>(), Err(MixError::Syntax("flow".into())));
}

#[test]
fn reads_counters_from_the_prometheus_text() {
    let text = "# HELP mo2fa_verifications_total Challenges verified.\n\
                # TYPE mo2fa_verifications_total counter\n\
                mo2fa_verifications_total 42\n\
                mo2fa_no_match_total 7\n\
                mo2fa_bad_signatures_total 0\n\
                mo2fa_latency_seconds_bucket{le=\"0.001\"} 3\n\
                garbage\n";
    let c = ServerCounters::parse(text);
    assert_eq!(c.verifications, 42);
    assert_eq!(c.no_match, 7);
    let later = ServerCounters {
        verifications: 50,
        ..c.clone()
    };
    assert_eq!(later.since(&c).verifications, 8);
}

#[test]
fn user_and_flood_senders_never_overlap() {
    let user = user_sender(usize::MAX);
    assert!(user.starts_with("+15550"), "{user}");
    assert!(format!("+{FLOOD_SENDER_BASE}").starts_with("+15559"));
}
