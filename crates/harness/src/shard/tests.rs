use super::*;
use mo2fa_sim::trace::Step;

#[test]
fn the_parts_of_a_rate_add_up_to_it() {
    for n in 1..=7 {
        for rate in [1u64, 7, 100, 4_000, 256_001] {
            let parts: Vec<u64> = (0..n)
                .map(|i| Shard::new(i, n).unwrap().part(rate))
                .collect();
            if rate >= n as u64 {
                assert_eq!(parts.iter().sum::<u64>(), rate, "{rate} over {n}");
            }
            let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            assert!(hi - lo <= 1 && *lo >= 1, "{parts:?}");
        }
    }
    let e = Shard::new(2, 2).unwrap_err().to_string();
    assert!(e.contains("2/2") && e.contains("0 to N-1"), "{e}");
    assert!(Shard::new(0, 0).is_err());
}

fn step(at_ms: u64, action: Action) -> Step {
    Step {
        at_ms,
        action,
        expect: "created",
    }
}

/// User `u`: a start bound to their phone, the code sent (twice: a redelivery), a status poll,
/// and an SMS code to the same phone read back.
fn user(u: u32, at: u64, out: &mut Vec<Step>) {
    let phone = 1_000_000 + u64::from(u);
    out.push(step(
        at,
        Action::Start {
            key: Some(2 * u),
            expected_sender: Some(phone),
        },
    ));
    for _ in 0..2 {
        out.push(step(
            at + 1,
            Action::Webhook {
                msg: u + 1,
                sender: phone,
                text: Text::Code(2 * u),
                protocol: "imessage",
            },
        ));
    }
    out.push(step(
        at + 2,
        Action::Poll {
            key: 2 * u,
            after: u + 1,
        },
    ));
    out.push(step(
        at + 3,
        Action::SmsStart {
            world: mo2fa_sim::scenario::Flow::Sms,
            key: Some(2 * u + 1),
            number: phone,
            country: 0,
        },
    ));
    out.push(step(
        at + 4,
        Action::SmsRead {
            world: mo2fa_sim::scenario::Flow::Sms,
            key: 2 * u + 1,
            number: phone,
        },
    ));
}

fn trace(users: u32) -> Trace {
    let mut steps = Vec::new();
    // Users interleaved in time, as a real run has them.
    for u in 0..users {
        user(u, u64::from(u % 7) * 10, &mut steps);
    }
    steps.push(step(
        5,
        Action::Forged {
            n: 1,
            code: "AAAA".into(),
        },
    ));
    steps.sort_by_key(|s| s.at_ms);
    Trace {
        steps,
        keys: 2 * users,
        messages: users,
        ..Trace::default()
    }
}

/// The phone a step belongs to (the forged step has none).
fn phone(a: &Action) -> Option<u64> {
    match a {
        Action::Start {
            expected_sender, ..
        } => *expected_sender,
        Action::Webhook { sender, .. } => Some(*sender),
        Action::Poll { key, .. } => Some(1_000_000 + u64::from(key / 2)),
        Action::SmsStart { number, .. } | Action::SmsRead { number, .. } => Some(*number),
        _ => None,
    }
}

#[test]
fn slices_split_by_user_keep_every_step_once_in_order() {
    let whole = trace(200);
    let n = 3;
    let slices: Vec<Trace> = (0..n)
        .map(|i| slice(whole.clone(), Shard::new(i, n).unwrap()))
        .collect();
    assert_eq!(
        slices.iter().map(|s| s.steps.len()).sum::<usize>(),
        whole.steps.len()
    );
    let mut owner: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for (i, s) in slices.iter().enumerate() {
        // About a third each (200 users of 6 steps).
        assert!(
            s.steps.len() > 250 && s.steps.len() < 560,
            "{}",
            s.steps.len()
        );
        assert!(s.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert_eq!((s.keys, s.messages), (whole.keys, whole.messages));
        for st in &s.steps {
            if let Some(p) = phone(&st.action) {
                assert_eq!(*owner.entry(p).or_insert(i), i, "user {p} is on two shards");
            }
        }
    }
    assert_eq!(slice(whole.clone(), Shard::WHOLE).steps, whole.steps);
    // Deterministic.
    assert_eq!(
        slice(whole.clone(), Shard::new(1, 3).unwrap()).steps,
        slices[1].steps
    );
}

#[test]
fn the_digest_names_the_trace() {
    let a = trace(10);
    let mut b = a.clone();
    assert_eq!(trace_digest(&a), trace_digest(&b));
    b.steps[3].expect = "verified";
    assert_ne!(trace_digest(&a), trace_digest(&b));
}
