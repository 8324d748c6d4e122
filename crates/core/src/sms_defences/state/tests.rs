use super::*;
use crate::sms_defences::PRESET_NAMES;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;
/// A US number's guard country index (US in the server's country space).
const US: usize = (b'U' - b'A') as usize * 26 + (b'S' - b'A') as usize;

fn attempt(number: u64, ip: u128, now: u64) -> Attempt {
    Attempt {
        country: US,
        number,
        ip,
        now,
        ..Attempt::default()
    }
}

fn defences(text: &str) -> SmsDefences {
    SmsDefences::parse("d.toml", text).expect("valid")
}

fn replica(d: &SmsDefences, start: Start) -> Replica {
    Replica::new(d, &countries(), start)
}

fn cold() -> Start {
    Start {
        history: None,
        warmup_ms: 0,
    }
}

#[test]
fn events_round_trip_and_nothing_else_decodes() {
    let a = Event::Attempt(Attempt {
        country: 676,
        network: 3,
        number: 14_155_550_100,
        ip: u128::MAX - 5,
        account: 42,
        now: 1_700_000_000_000,
    });
    let v = Event::Verified {
        number: 14_155_550_100,
        now: 9,
    };
    for ev in [a, v] {
        let bytes = ev.encode();
        assert_eq!(Event::decode(&bytes), Some(ev));
        assert_eq!(Event::decode(&bytes[..bytes.len() - 1]), None, "truncated");
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Event::decode(&longer), None, "trailing bytes");
    }
    assert_eq!(a.encode().len(), ATTEMPT_BYTES);
    assert_eq!(Event::decode(b"X"), None);
    assert_eq!(Event::decode(b""), None);
}

/// Two instances appending to one log in turn admit what one guard would: `per_number = 1`
/// lets one send to a number in total, whichever instance asks, and each instance reads the
/// other's verdicts at their positions.
#[test]
fn instances_on_one_log_decide_as_one_guard() {
    let d = defences("per_number = 1\nwindow = \"1h\"\n");
    let mut log: Vec<Event> = Vec::new();
    let mut instances = [replica(&d, cold()), replica(&d, cold())];
    let mut allowed = 0;
    for i in 0..10u64 {
        let ev = Event::Attempt(attempt(14_155_550_100, u128::from(i), 1_000 + i));
        log.push(ev);
        let me = &mut instances[(i % 2) as usize];
        let at = log.len() as u64 - 1;
        for (j, e) in log.iter().enumerate().skip(me.next() as usize) {
            me.apply(j as u64, e, 1_000).unwrap();
        }
        if me.verdict(at).unwrap().result.is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 1, "one send to the number in total");
    let [a, b] = &mut instances;
    // Both replicas caught up give the same verdict for every attempt.
    for (j, e) in log.iter().enumerate().skip(b.next() as usize) {
        b.apply(j as u64, e, 1_000).unwrap();
    }
    for j in 0..log.len() as u64 - 1 {
        assert_eq!(a.verdict(j), b.verdict(j), "event {j}");
    }
}

#[test]
fn applying_twice_is_harmless_and_a_gap_is_reported() {
    let d = defences("per_number = 1\n");
    let mut r = replica(&d, cold());
    let ev = Event::Attempt(attempt(14_155_550_100, 1, 0));
    r.apply(0, &ev, 0).unwrap();
    r.apply(0, &ev, 0).unwrap();
    assert_eq!(r.next(), 1);
    assert_eq!(r.apply(5, &ev, 0), Err(Gap { next: 1, got: 5 }));
    r.rebuild(5);
    r.apply(5, &ev, 0).unwrap();
    assert!(
        r.verdict(5).unwrap().result.is_ok(),
        "a rebuilt replica starts empty"
    );
}

#[test]
fn time_never_runs_backwards() {
    let d = defences("per_number = 1\nwindow = \"1h\"\n");
    let mut log = replica(&d, cold());
    assert!(
        log.push(Event::Attempt(attempt(1, 1, HOUR)))
            .unwrap()
            .result
            .is_ok()
    );
    // An instance whose clock is an hour behind is judged at the latest time applied.
    let v = log.push(Event::Attempt(attempt(1, 1, 0))).unwrap();
    assert_eq!(v.result, Err(Blocked::Number));
    assert_eq!(v.at, HOUR);
}

/// Issue 22: on an empty account a handful of sends tripped a learning rule for every US
/// number. Warming up, the rule only alerts; after the warm-up it blocks; with a history it
/// blocks from the start, at the learned threshold rather than the floor.
#[test]
fn learning_rules_warm_up_unless_given_a_history() {
    let d = defences("preset = \"authgear_deny\"\n");
    let send = |log: &mut Replica, i: u64, now: u64| {
        log.push(Event::Attempt(attempt(
            14_155_550_000 + i,
            u128::from(i),
            now,
        )))
        .unwrap()
        .result
    };
    // Cold, as before: from the fourth US number in an hour, every one is refused.
    let mut cold_log = replica(&d, cold());
    let refused = (0..10).filter(|&i| send(&mut cold_log, i, i * 1000).is_err());
    assert_eq!(refused.count(), 7);
    // Warming up: nothing refused, every would-be refusal is an alert.
    let mut warm = replica(&d, Start::default());
    assert!((0..10).all(|i| send(&mut warm, i, i * 1000).is_ok()));
    let alerts: u64 = warm.guard().stats.alerts.values().sum();
    assert!(alerts >= 7, "{:?}", warm.guard().stats);
    // After the warm-up (15 days of a quiet account) the floor applies again.
    let later = 15 * DAY + 1;
    let refused: Vec<_> = (100..110)
        .map(|i| send(&mut warm, i, later + i * 1000))
        .collect();
    let refused: Vec<_> = refused.into_iter().filter_map(Result::err).collect();
    assert!(refused.len() >= 6, "{refused:?}");
    assert!(
        refused.iter().all(|&b| b == Blocked::CountryHourly),
        "{refused:?}"
    );
    // With a history of 1,000 verified US codes a day, 10 sends are nothing.
    let history: History =
        toml::from_str("daily_sends = { US = 1000 }\nconversion = 1.0\n").expect("valid history");
    let mut seeded = replica(
        &d,
        Start {
            history: Some(history),
            warmup_ms: 0,
        },
    );
    assert!((0..10).all(|i| send(&mut seeded, i, 5 * DAY + i * 1000).is_ok()));
}

/// Drives a fresh replica through `log`, then asks `probe`.
fn replay_then(d: &SmsDefences, log: &[Event], probe: Attempt) -> Verdict {
    let mut l = replica(d, cold());
    for ev in log {
        l.push(*ev);
    }
    l.push(Event::Attempt(probe))
        .expect("an attempt has a verdict")
}

/// `Retry-After` tells the truth for every preset and pattern: the same request at the
/// announced second passes, and one second earlier it is still refused.
#[test]
fn retry_after_is_the_truth() {
    type Pattern = fn(u64) -> (u64, u128);
    let patterns: [(&str, Pattern); 3] = [
        ("one number", |_| (14_155_550_100, 7)),
        ("numbers from one address", |i| (14_155_550_000 + i, 7)),
        ("numbers from many addresses", |i| {
            (14_155_550_000 + i, u128::from(i))
        }),
    ];
    let mut checked = 0;
    let mut lies = Vec::new();
    for preset in PRESET_NAMES {
        let d = defences(&format!("preset = \"{preset}\"\nmode = \"block\"\n"));
        for (name, pattern) in patterns {
            let mut log = Vec::new();
            let mut l = replica(&d, cold());
            let refusal = (0..3_000u64).find_map(|i| {
                let (number, ip) = pattern(i);
                let a = attempt(number, ip, DAY + i * 1_000);
                log.push(Event::Attempt(a));
                let v = l.push(Event::Attempt(a)).unwrap();
                v.result.err().map(|b| (a, b, v))
            });
            let Some((a, b, v)) = refusal else { continue };
            if b.is_forbidden() {
                continue;
            }
            checked += 1;
            let secs = v.retry_after_ms.div_ceil(1000).max(1);
            let then = v.at + secs * 1000;
            let at_time = replay_then(&d, &log, Attempt { now: then, ..a });
            let early = replay_then(
                &d,
                &log,
                Attempt {
                    now: then - 1000,
                    ..a
                },
            );
            if at_time.result.is_err() || early.result.is_ok() {
                lies.push(format!(
                    "{preset}, {name}: {} said {secs} s; at it: {:?}, a second earlier: {:?}",
                    b.name(),
                    at_time.result,
                    early.result
                ));
            }
        }
    }
    assert!(checked >= 15, "only {checked} refusals were checked");
    assert!(lies.is_empty(), "{}", lies.join("\n"));
}
