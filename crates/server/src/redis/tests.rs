//! Unit tests of `redis`.

use super::*;

fn record(pairs: &[(&str, u64)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [k.to_string(), v.to_string()])
        .collect()
}

#[test]
fn tally_shows_the_larger_of_answers_and_redis_record_once() {
    let t = Tally::default();
    let shown = |t: &Tally| t.shown.verifications.load(Ordering::Relaxed);
    t.replied(["verifications"], |c| Counters::inc(&c.verifications));
    assert_eq!(shown(&t), 1);
    // Redis also ran two scripts whose answers were lost (503s that took effect), and one
    // that found no code: four messages, the sum of the outcomes.
    t.recorded(&record(&[
        ("verifications", 3),
        ("no_code", 1),
        ("expired", 5),
        ("expired_messages", 1),
    ]));
    assert_eq!(shown(&t), 3);
    assert_eq!(t.shown.messages.load(Ordering::Relaxed), 5);
    assert_eq!(t.shown.expired.load(Ordering::Relaxed), 5);
    // An answer Redis' record already held arrives late: nothing is counted twice.
    t.replied(["verifications"], |c| Counters::inc(&c.verifications));
    assert_eq!(shown(&t), 3);
    // A new decision, answered before the next sweep, shows at once.
    t.replied(["verifications"], |c| Counters::inc(&c.verifications));
    t.replied(["verifications"], |c| Counters::inc(&c.verifications));
    assert_eq!(shown(&t), 4);
    // A stale or lost record (Redis restarted empty) never takes a counter back.
    t.recorded(&record(&[("verifications", 1)]));
    assert_eq!(shown(&t), 4);
    // Local counts add to the recorded part; unknown fields and bad numbers are ignored.
    Counters::inc(&t.shown.starts_refused);
    t.recorded(&record(&[("starts_refused", 2), ("bad_signatures", 9)]));
    t.recorded(&["ignored".into(), "x".into(), "odd".into()]);
    assert_eq!(t.shown.starts_refused.load(Ordering::Relaxed), 3);
    assert_eq!(t.shown.bad_signatures.load(Ordering::Relaxed), 0);
    assert_eq!(t.shown.ignored.load(Ordering::Relaxed), 0);
}

#[test]
fn every_recorded_counter_exists_and_scripts_use_no_other() {
    let c = Counters::default();
    for name in RECORDED {
        assert!(c.field(name).is_some(), "{name}");
    }
    // Each field a script counts (written as a quoted name after `count(counts, `).
    let scripts = [
        INSERT,
        RECEIVE,
        SWEEP,
        LOOKUP,
        receive::CLAIM,
        receive::RECORD,
    ]
    .concat();
    for part in scripts.split("count(counts, ").skip(1) {
        if let Some(name) = part.strip_prefix('\'').and_then(|p| p.split('\'').next()) {
            assert!(RECORDED.contains(&name), "{name}");
        }
    }
    // And the outcome kinds, counted as `kind`; `messages` is never counted, only summed.
    for field in MESSAGES_ARE {
        assert!(RECEIVE.contains(&format!("'{field}'")), "{field}");
        assert!(
            RECORDED.contains(&field) || field == "expired_messages",
            "{field}"
        );
    }
    assert!(!scripts.contains("'messages'"));
    assert!(count_prelude().contains(&COUNTS_TTL_MS.to_string()));
}

#[test]
fn outcomes_round_trip_through_their_text() {
    let id = ChallengeId {
        locator: 7,
        tag: 0xDEAD_BEEF,
    };
    let e = id.encode();
    for (text, want) in [
        (format!("verified {e}"), ReceiveOutcome::Verified { id }),
        (format!("expired {e}"), ReceiveOutcome::Expired { id }),
        (
            format!("sender_mismatch {e} 1"),
            ReceiveOutcome::SenderMismatch { id, locked: true },
        ),
        (
            format!("sender_mismatch {e} 0"),
            ReceiveOutcome::SenderMismatch { id, locked: false },
        ),
        (
            "no_match 3".to_string(),
            ReceiveOutcome::NoMatch {
                candidates_tried: 3,
            },
        ),
        ("no_code".to_string(), ReceiveOutcome::NoCode),
    ] {
        assert_eq!(parse_outcome(&text), Some(want), "{text}");
    }
    let ignored = ReceiveOutcome::Ignored {
        reason: "protocol \"sms\" is not accepted".into(),
    };
    assert_eq!(parse_outcome(&early_text(&ignored)), Some(ignored));
    assert_eq!(
        parse_outcome(&early_text(&ReceiveOutcome::NoCode)),
        Some(ReceiveOutcome::NoCode)
    );
    for bad in ["", "verified", "verified nope", "no_match x", "weird 1"] {
        assert_eq!(parse_outcome(bad), None, "{bad}");
    }
}

#[test]
fn cluster_urls_name_their_seed_nodes() {
    assert_eq!(conn::cluster_nodes("redis://127.0.0.1:6379"), None);
    assert_eq!(
        conn::cluster_nodes("redis-cluster://10.0.0.1:7000,10.0.0.2:7001"),
        Some(Ok(vec![
            "redis://10.0.0.1:7000".to_string(),
            "redis://10.0.0.2:7001".to_string()
        ]))
    );
    assert_eq!(
        conn::cluster_nodes("redis-cluster://u:p@h1:1,h2:2/"),
        Some(Ok(vec![
            "redis://u:p@h1:1".to_string(),
            "redis://u:p@h2:2".to_string()
        ]))
    );
    for bad in [
        "redis-cluster://",
        "redis-cluster://h1",
        "redis-cluster://h1:1,:2",
        "redis-cluster://h:99999",
    ] {
        let e = conn::cluster_nodes(bad).unwrap().unwrap_err();
        assert!(e.contains("HOST:PORT"), "{bad}: {e}");
    }
}

#[test]
fn a_challenge_id_names_the_bucket_of_its_code() {
    let layout = Layout::new("mo2fa:", true, 64).unwrap();
    assert_eq!(layout.buckets[7], "mo2fa:{b7}");
    let mut seen = [0u32; 64];
    for code in 0..20_000u64 {
        let b = layout.of_code(code * 7919);
        seen[b] += 1;
        let id = ChallengeId {
            locator: layout.locator(rand::random(), b),
            tag: 1,
        };
        assert_eq!(layout.of_id(&id), b);
        assert_eq!(layout.of_id(&ChallengeId::parse(&id.encode()).unwrap()), b);
    }
    // Codes spread over every bucket (20,000 over 64: about 312 each).
    assert!(seen.iter().all(|&n| n > 200), "{seen:?}");
    // One Redis: no tags, the keys of earlier versions, ids untouched.
    let single = Layout::new("mo2fa:", false, 64).unwrap();
    assert_eq!(single.buckets, vec!["mo2fa:".to_string()]);
    assert_eq!(single.locator(0xdead_beef, 0), 0xdead_beef);
    assert!(Layout::new("a{b}:", true, 64).is_err());
    assert!(Layout::new("mo2fa:", true, 48).is_err());
}

#[test]
fn status_records_read_as_the_memory_store_shows_them() {
    const SENDER: &str = "name with spaces@example.com";
    let cases = [
        ("pending 1000", 999, Status::Pending),
        // Due by the caller's clock before any sweep, as in memory.
        ("pending 1000", 1000, Status::Expired),
        // A pending set's score may read as a float.
        ("pending 1e3", 0, Status::Pending),
        (
            "verified 1000 900 name with spaces@example.com",
            5000,
            Status::Verified,
        ),
        ("expired 1000", 0, Status::Expired),
        ("locked 1000", 0, Status::Locked),
    ];
    for (record, now, status) in cases {
        let v = parse_status(record, now).unwrap();
        let verified = status == Status::Verified;
        assert_eq!(v.status, status, "{record:?}");
        assert_eq!(v.expires_at, 1000, "{record:?}");
        assert_eq!(
            v.sender.as_deref(),
            verified.then_some(SENDER),
            "{record:?}"
        );
        assert_eq!(v.verified_at, verified.then_some(900), "{record:?}");
    }
    for bad in ["", "pending", "pending soon", "verified"] {
        assert!(parse_status(bad, 0).is_none(), "{bad:?}");
    }
}
