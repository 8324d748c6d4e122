//! Unit tests of `verifier`.

use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::Ordering;

const T0: Millis = 1_700_000_000_000;

/// One outcome of every kind (both sender mismatches), for tests that must cover them all.
fn every_outcome() -> [ReceiveOutcome; 7] {
    let id = ChallengeId {
        locator: 0xDEAD_BEEF,
        tag: u128::MAX - 12345,
    };
    [
        ReceiveOutcome::Verified { id },
        ReceiveOutcome::SenderMismatch { id, locked: true },
        ReceiveOutcome::SenderMismatch { id, locked: false },
        ReceiveOutcome::Expired { id },
        ReceiveOutcome::NoMatch {
            candidates_tried: 16,
        },
        ReceiveOutcome::NoCode,
        ReceiveOutcome::Ignored {
            reason: "protocol \"sms\" is not accepted".into(),
        },
    ]
}

#[test]
fn recorded_answers_are_small_and_lossless() {
    assert!(std::mem::size_of::<Recorded>() <= 24);
    for o in every_outcome() {
        assert_eq!(Recorded::from(o.clone()).outcome(), o);
    }
}

/// `outcome_fields` names exactly the counters `count_outcome` adds to, for every outcome.
#[test]
fn outcome_fields_are_the_counters_an_outcome_counts() {
    for o in every_outcome() {
        let c = Counters::default();
        count_outcome(&c, &o);
        let counted: Vec<&str> = Counters::FIELDS
            .into_iter()
            .filter(|n| c.field(n).expect(n).load(Ordering::Relaxed) > 0)
            .collect();
        let mut named = outcome_fields(&o).to_vec();
        named.sort_by_key(|n| Counters::FIELDS.iter().position(|m| m == n));
        assert_eq!(counted, named, "{o:?}");
    }
}

fn verifier(cfg: Config) -> Verifier {
    Verifier::in_memory(
        cfg,
        MemoryStoreConfig {
            shards: 4,
            max_pending: 1000,
            retention_ms: 60_000,
        },
    )
    .unwrap()
}

fn msg<'a>(sender: &'a str, text: &'a str) -> InboundMessage<'a> {
    InboundMessage {
        sender,
        text,
        protocol: Some("imessage"),
    }
}

fn code_text(v: &Verifier, s: &Started) -> String {
    v.config().code.format(s.code).to_string()
}

/// Starts `n` challenges at `T0` with a generator seeded by `seed`; answers their codes as sent.
fn start_codes(v: &Verifier, seed: u64, n: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| code_text(v, &v.start(&StartRequest::default(), T0, &mut rng).unwrap()))
        .collect()
}

#[test]
fn start_then_message_verifies() {
    let v = verifier(Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = v.start(&StartRequest::default(), T0, &mut rng).unwrap();
    assert_eq!(s.expires_at, T0 + 300_000);
    let text = format!("my code is {}", code_text(&v, &s).to_lowercase());
    let out = v.receive(&msg("+15550100001", &text), T0 + 10);
    assert_eq!(out, ReceiveOutcome::Verified { id: s.id });
    let st = v.status(&s.id.encode(), T0 + 20).unwrap();
    assert_eq!(st.status, Status::Verified);
    assert_eq!(st.sender.as_deref(), Some("+15550100001"));
    assert_eq!(st.verified_at, Some(T0 + 10));
    assert_eq!(v.counters.verifications.load(Ordering::Relaxed), 1);
    // One-shot: the same text again matches nothing.
    assert_eq!(
        v.receive(&msg("+15550100001", &text), T0 + 30),
        ReceiveOutcome::NoMatch {
            candidates_tried: 1
        }
    );
}

#[test]
fn same_seed_same_challenges() {
    let a = verifier(Config::default());
    let b = verifier(Config::default());
    let mut ra = ChaCha8Rng::seed_from_u64(9);
    let mut rb = ChaCha8Rng::seed_from_u64(9);
    for i in 0..50 {
        let x = a.start(&StartRequest::default(), T0 + i, &mut ra).unwrap();
        let y = b.start(&StartRequest::default(), T0 + i, &mut rb).unwrap();
        assert_eq!((x.id, x.code), (y.id, y.code));
    }
}

#[test]
fn ttl_bounds_and_bad_sender_are_refused() {
    let v = verifier(Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let too_long = StartRequest {
        ttl_ms: Some(3_600_001),
        ..Default::default()
    };
    assert_eq!(
        v.start(&too_long, T0, &mut rng).unwrap_err(),
        StartError::Ttl { min: 10, max: 3600 }
    );
    let bad_sender = StartRequest {
        expected_sender: Some("555".into()),
        ..Default::default()
    };
    assert!(matches!(
        v.start(&bad_sender, T0, &mut rng),
        Err(StartError::Sender(SenderError::Phone))
    ));
    assert_eq!(v.pending(), 0);
    assert_eq!(v.counters.starts_refused.load(Ordering::Relaxed), 2);
}

#[test]
fn sms_is_ignored_unless_accepted() {
    let v = verifier(Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = v.start(&StartRequest::default(), T0, &mut rng).unwrap();
    let text = code_text(&v, &s);
    let sms = InboundMessage {
        protocol: Some("SMS"),
        ..msg("+15550100001", &text)
    };
    assert!(matches!(
        v.receive(&sms, T0),
        ReceiveOutcome::Ignored { .. }
    ));
    assert_eq!(v.pending(), 1, "an ignored message changes nothing");

    let v = verifier(Config {
        accepted_protocols: vec![Protocol::Imessage, Protocol::Sms],
        ..Config::default()
    });
    let s = v.start(&StartRequest::default(), T0, &mut rng).unwrap();
    let text = code_text(&v, &s);
    let sms = InboundMessage {
        protocol: Some("sms"),
        ..msg("+15550100001", &text)
    };
    assert!(matches!(
        v.receive(&sms, T0),
        ReceiveOutcome::Verified { .. }
    ));
}

#[test]
fn redelivery_returns_first_answer_without_second_effect() {
    let v = verifier(Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = v.start(&StartRequest::default(), T0, &mut rng).unwrap();
    let text = code_text(&v, &s);
    let m = msg("+15550100001", &text);
    let (first, repeat) = v.receive_once("m_1", &m, T0);
    assert!(!repeat);
    let (second, repeat) = v.receive_once("m_1", &m, T0 + 5);
    assert!(repeat);
    assert_eq!(first, second);
    assert_eq!(v.counters.verifications.load(Ordering::Relaxed), 1);
    assert_eq!(v.counters.duplicates.load(Ordering::Relaxed), 1);
    // A different delivery of the same text is a new message: nothing left to match.
    assert!(matches!(
        v.receive_once("m_2", &m, T0).0,
        ReceiveOutcome::NoMatch { .. }
    ));
}

#[test]
fn stuffed_message_cannot_hit_other_pending_codes() {
    let v = verifier(Config::default());
    let codes = start_codes(&v, 3, 20);
    // Every pending code in one message: only the first candidate is tried.
    let stuffed = codes.join(" ");
    let out = v.receive(&msg("+15550100666", &stuffed), T0);
    assert!(matches!(out, ReceiveOutcome::Verified { .. }));
    assert_eq!(v.pending(), 19);
    assert_eq!(v.counters.stuffed.load(Ordering::Relaxed), 1);
}

/// `receive_once` prepares a message before its dedupe probe: a repeat must still count
/// nothing of the message again (no stuffing, no outcome), only the duplicate.
#[test]
fn a_repeated_stuffed_delivery_is_counted_once() {
    let v = verifier(Config::default());
    let codes = start_codes(&v, 4, 5);
    let text = codes.join(" ");
    let m = msg("+15550100667", &text);
    let (first, repeat) = v.receive_once("m_1", &m, T0);
    assert!(matches!(first, ReceiveOutcome::Verified { .. }) && !repeat);
    let (again, repeat) = v.receive_once("m_1", &m, T0 + 1);
    assert_eq!((again, repeat), (first, true));
    let c = &v.counters;
    assert_eq!(c.stuffed.load(Ordering::Relaxed), 1);
    assert_eq!(c.messages.load(Ordering::Relaxed), 1);
    assert_eq!(c.verifications.load(Ordering::Relaxed), 1);
    assert_eq!(c.duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(v.pending(), 4);
    // A first delivery that is not stuffed adds nothing to `stuffed`.
    let (_, repeat) = v.receive_once("m_2", &msg("+15550100667", &codes[1]), T0);
    assert!(!repeat);
    assert_eq!(c.stuffed.load(Ordering::Relaxed), 1);
}

/// Issue 23: polite words around the code verify it and are not counted as stuffing.
#[test]
fn polite_replies_verify_and_are_not_stuffing() {
    let v = verifier(Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    for (i, reply) in [
        "Thanks! {}",
        "Merci beaucoup {}",
        "Danke {} danke",
        "OK {}",
        "Here you go {}",
        "Gracias {}",
        "Obrigado! {} Thanks THANKS merci",
    ]
    .into_iter()
    .enumerate()
    {
        let s = v.start(&StartRequest::default(), T0, &mut rng).unwrap();
        let text = reply.replace("{}", &code_text(&v, &s));
        let out = v.receive(&msg(&format!("+1555010070{i}"), &text), T0);
        assert!(
            matches!(out, ReceiveOutcome::Verified { .. }),
            "{text}: {out:?}"
        );
    }
    assert_eq!(v.counters.stuffed.load(Ordering::Relaxed), 0);
}

#[test]
fn expiry_through_sweep_is_counted() {
    let v = verifier(Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = v.start(&StartRequest::default(), T0, &mut rng).unwrap();
    v.sweep(T0 + 299_000);
    assert_eq!(v.pending(), 1);
    v.sweep(T0 + 300_000);
    assert_eq!(v.pending(), 0);
    assert_eq!(v.counters.expired.load(Ordering::Relaxed), 1);
    assert_eq!(
        v.status(&s.id.encode(), T0 + 300_001).unwrap().status,
        Status::Expired
    );
    let text = code_text(&v, &s);
    assert!(matches!(
        v.receive(&msg("+15550100001", &text), T0 + 300_001),
        ReceiveOutcome::NoMatch { .. }
    ));
}

/// `check_start` + `draw` are what every backend shares: the same request and seed give
/// the same checked request and the same challenge, whoever stores it.
#[test]
fn check_start_and_draw_are_pure() {
    let cfg = Config::default();
    let checked = cfg.check_start(&StartRequest::default(), T0).unwrap();
    assert_eq!((checked.now, checked.expires_at), (T0, T0 + 300_000));
    assert_eq!(checked.expected_sender, None);
    for (ttl_ms, ok) in [
        (9_999, false),
        (10_000, true),
        (3_600_000, true),
        (3_600_001, false),
    ] {
        let req = StartRequest {
            ttl_ms: Some(ttl_ms),
            ..Default::default()
        };
        let got = cfg.check_start(&req, T0);
        assert_eq!(got.is_ok(), ok, "{ttl_ms}");
        if let Ok(c) = got {
            assert_eq!(c.expires_at, T0 + ttl_ms);
        }
    }
    let bound = StartRequest {
        expected_sender: Some("Bob@Example.com".into()),
        ..Default::default()
    };
    let checked = cfg.check_start(&bound, T0).unwrap();
    assert_eq!(
        checked.expected_sender.as_ref().map(ToString::to_string),
        Some("bob@example.com".into())
    );
    let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(9), ChaCha8Rng::seed_from_u64(9));
    let (a, b) = (checked.draw(&cfg, &mut ra), checked.draw(&cfg, &mut rb));
    assert_eq!((a.code, a.tag), (b.code, b.tag));
    assert_eq!((a.created_at, a.expires_at), (T0, T0 + 300_000));
    assert_eq!(a.expected_sender, checked.expected_sender);
    assert_ne!(checked.draw(&cfg, &mut ra).tag, a.tag);
}

#[test]
fn an_unknown_protocol_verifies_only_when_accepted_explicitly() {
    let counters = Counters::default();
    let open = Config {
        accepted_protocols: vec![Protocol::Imessage, Protocol::Unknown],
        ..Config::default()
    };
    for protocol in [None, Some("carrier pigeon")] {
        let m = InboundMessage {
            sender: "+15550100001",
            text: "ABC234",
            protocol,
        };
        assert!(matches!(
            Config::default().prepare(&m, &counters.stuffed, |_| {}),
            Prepared::Done(ReceiveOutcome::Ignored { .. })
        ));
        assert!(
            matches!(
                open.prepare(&m, &counters.stuffed, |_| {}),
                Prepared::Match { .. }
            ),
            "{protocol:?}"
        );
    }
    // Accepting unknown protocols does not accept the named ones.
    let sms = InboundMessage {
        sender: "+15550100001",
        text: "ABC234",
        protocol: Some("sms"),
    };
    assert!(matches!(
        open.prepare(&sms, &counters.stuffed, |_| {}),
        Prepared::Done(ReceiveOutcome::Ignored { .. })
    ));
}

#[test]
fn prepare_decides_what_needs_no_store() {
    let cfg = Config {
        max_candidates: 2,
        ..Config::default()
    };
    let counters = Counters::default();
    let prepared = |sender, text, protocol| {
        let mut first = None;
        let m = InboundMessage {
            sender,
            text,
            protocol,
        };
        let p = cfg.prepare(&m, &counters.stuffed, |c| first = Some(c));
        (p, first)
    };
    for protocol in [
        Some("sms"),
        Some("rcs"),
        Some("non-imessage"),
        Some("carrier pigeon"),
        None,
    ] {
        let (p, first) = prepared("+15550100001", "ABC234", protocol);
        assert!(
            matches!(p, Prepared::Done(ReceiveOutcome::Ignored { .. })),
            "{protocol:?}"
        );
        assert_eq!(first, None, "policy comes before extraction");
    }
    let (p, _) = prepared("not a sender", "ABC234", Some("imessage"));
    assert!(
        matches!(p, Prepared::Done(ReceiveOutcome::Ignored { ref reason }) if reason.starts_with("sender: "))
    );
    let (p, first) = prepared("+15550100001", "hello there", Some("iMessage"));
    assert!(matches!(p, Prepared::Done(ReceiveOutcome::NoCode)));
    assert_eq!(first, None);
    let (p, first) = prepared(
        "+1 555 010 0001",
        "ABC234 or XYZ789 or DEF456",
        Some("imessage"),
    );
    let Prepared::Match { sender, candidates } = p else {
        panic!("a usable message with codes goes to the store");
    };
    assert_eq!(sender.to_string(), "+15550100001");
    assert_eq!(candidates.as_slice().len(), 2);
    assert_eq!(first, candidates.as_slice().first().copied());
    assert_eq!(counters.stuffed.load(Ordering::Relaxed), 1);
    assert_eq!(
        counters.messages.load(Ordering::Relaxed),
        0,
        "prepare counts no message"
    );
}

#[test]
fn count_outcome_counts_each_kind_once() {
    let c = Counters::default();
    for outcome in every_outcome() {
        count_outcome(&c, &outcome);
    }
    let got = [
        &c.messages,
        &c.verifications,
        &c.sender_mismatches,
        &c.locked,
        &c.expired,
        &c.no_match,
        &c.no_code,
        &c.ignored,
    ]
    .map(|a| a.load(Ordering::Relaxed));
    assert_eq!(got, [7, 1, 2, 1, 1, 1, 1, 1]);
}

#[test]
fn bad_config_is_refused() {
    let bad = Config {
        max_candidates: 0,
        ..Config::default()
    };
    assert_eq!(bad.validate(), Err(ConfigError::Candidates(0)));
    let bad = Config {
        min_ttl_ms: 10,
        default_ttl_ms: 5,
        ..Config::default()
    };
    assert!(matches!(bad.validate(), Err(ConfigError::Ttl { .. })));
}
