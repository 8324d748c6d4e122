//! Unit tests of `store`.

use super::*;

const T0: Millis = 1_700_000_000_000;

fn store(max_pending: usize, retention_ms: Millis) -> MemoryStore {
    MemoryStore::new(MemoryStoreConfig {
        shards: 4,
        max_pending,
        retention_ms,
    })
}

fn challenge(code: u64, ttl: Millis, expected: Option<&str>) -> NewChallenge {
    NewChallenge {
        code: Code(code),
        tag: u128::from(code) * 0x1234_5678_9abc_def1 + 7,
        created_at: T0,
        expires_at: T0 + ttl,
        expected_sender: expected.map(|s| Sender::parse(s).unwrap()),
    }
}

fn alice() -> Sender {
    Sender::parse("+15550100001").unwrap()
}

#[test]
fn id_round_trips_and_rejects_garbage() {
    let id = ChallengeId {
        locator: 0x0300_0102,
        tag: u128::MAX - 5,
    };
    let text = id.encode();
    assert_eq!(text.len(), ID_TEXT_LEN);
    assert_eq!(ChallengeId::parse(&text), Some(id));
    assert_eq!(ChallengeId::parse("short"), None);
    assert_eq!(ChallengeId::parse(&"!".repeat(ID_TEXT_LEN)), None);
    assert_eq!(ChallengeId::parse(&format!("{text}A")), None);
}

#[test]
fn verify_is_one_shot() {
    let st = store(10, 0);
    let id = st.insert(challenge(42, 60_000, None)).unwrap();
    assert_eq!(st.pending(), 1);
    assert_eq!(
        st.match_code(Code(42), &alice(), T0 + 5, 5),
        MatchOutcome::Verified(id)
    );
    assert_eq!(st.pending(), 0);
    assert_eq!(
        st.match_code(Code(42), &alice(), T0 + 6, 5),
        MatchOutcome::NoMatch
    );
    let view = st.get(&id, T0 + 7).unwrap();
    assert_eq!(view.status, Status::Verified);
    assert_eq!(view.verified, Some((alice(), T0 + 5)));
}

#[test]
fn wrong_tag_reads_nothing() {
    let st = store(10, 0);
    let id = st.insert(challenge(42, 60_000, None)).unwrap();
    let forged = ChallengeId {
        tag: id.tag ^ 1,
        ..id
    };
    assert!(st.get(&forged, T0).is_none());
    let far = ChallengeId {
        locator: u32::MAX,
        ..id
    };
    assert!(st.get(&far, T0).is_none());
}

#[test]
fn codes_are_unique_among_pending_only() {
    let st = store(10, 0);
    st.insert(challenge(42, 60_000, None)).unwrap();
    assert_eq!(
        st.insert(challenge(42, 60_000, None)),
        Err(InsertError::CodeTaken)
    );
    assert_eq!(st.pending(), 1, "a refused insert does not count");
    st.match_code(Code(42), &alice(), T0, 5);
    assert!(
        st.insert(challenge(42, 60_000, None)).is_ok(),
        "verified code is free again"
    );
}

#[test]
fn only_live_challenges_hold_a_place_whether_or_not_swept() {
    let st = store(2, 60_000);
    // Due at T0 + 1500, within a second the wheel has not reached.
    st.insert(challenge(1, 1_500, None)).unwrap();
    st.insert(challenge(2, 60_000, None)).unwrap();
    let later = |code, at: Millis| NewChallenge {
        created_at: at,
        expires_at: at + 60_000,
        ..challenge(code, 1, None)
    };
    assert_eq!(
        st.insert(later(3, T0 + 1_499)),
        Err(InsertError::Full { max_pending: 2 }),
        "both still live"
    );
    // Nobody swept; challenge 1 is due and gives its place back.
    assert!(st.insert(later(3, T0 + 1_500)).is_ok());
    assert_eq!(st.pending(), 2);
    assert_eq!(
        st.insert(later(4, T0 + 1_501)),
        Err(InsertError::Full { max_pending: 2 })
    );
    // Its code is free, and the expiry is counted once, by the next sweep.
    assert!(st.insert(later(1, T0 + 1_502)).is_err(), "still full");
    assert_eq!(st.sweep(T0 + 1_600).expired, 1);
    assert_eq!(st.sweep(T0 + 120_000).expired, 2);
}

#[test]
fn full_store_refuses_and_evicts_nothing() {
    let st = store(3, 0);
    let ids: Vec<_> = (1..=3)
        .map(|c| st.insert(challenge(c, 60_000, None)).unwrap())
        .collect();
    assert_eq!(
        st.insert(challenge(9, 60_000, None)),
        Err(InsertError::Full { max_pending: 3 })
    );
    for id in &ids {
        assert_eq!(st.get(id, T0).unwrap().status, Status::Pending);
    }
    st.match_code(Code(2), &alice(), T0, 5);
    assert!(
        st.insert(challenge(9, 60_000, None)).is_ok(),
        "room after a verification"
    );
}

#[test]
fn sender_binding_counts_and_locks() {
    let st = store(10, 0);
    let id = st
        .insert(challenge(7, 60_000, Some("+15550100001")))
        .unwrap();
    let mallory = Sender::parse("+15550100666").unwrap();
    for n in 1..3 {
        assert_eq!(
            st.match_code(Code(7), &mallory, T0, 3),
            MatchOutcome::SenderMismatch {
                id,
                failures: n,
                locked: false
            }
        );
        assert_eq!(st.get(&id, T0).unwrap().status, Status::Pending);
    }
    assert_eq!(
        st.match_code(Code(7), &mallory, T0, 3),
        MatchOutcome::SenderMismatch {
            id,
            failures: 3,
            locked: true
        }
    );
    assert_eq!(st.get(&id, T0).unwrap().status, Status::Locked);
    assert_eq!(
        st.match_code(Code(7), &alice(), T0, 3),
        MatchOutcome::NoMatch
    );
    assert_eq!(st.pending(), 0);
}

#[test]
fn bound_sender_verifies() {
    let st = store(10, 0);
    let id = st
        .insert(challenge(7, 60_000, Some("+1 555 010 0001")))
        .unwrap();
    assert_eq!(
        st.match_code(Code(7), &alice(), T0, 3),
        MatchOutcome::Verified(id)
    );
}

#[test]
fn expiry_is_exact_for_reads_and_matches_before_any_sweep() {
    let st = store(10, 0);
    let id = st.insert(challenge(5, 1_000, None)).unwrap();
    assert_eq!(st.get(&id, T0 + 999).unwrap().status, Status::Pending);
    assert_eq!(st.get(&id, T0 + 1_000).unwrap().status, Status::Expired);
    assert_eq!(
        st.match_code(Code(5), &alice(), T0 + 1_000, 5),
        MatchOutcome::Expired(id)
    );
    assert_eq!(st.pending(), 0);
    assert_eq!(
        st.match_code(Code(5), &alice(), T0 + 1_001, 5),
        MatchOutcome::NoMatch
    );
}

#[test]
fn sweep_expires_then_frees_after_retention() {
    let st = store(100, 5_000);
    let short = st.insert(challenge(1, 2_000, None)).unwrap();
    let long = st.insert(challenge(2, 10_000, None)).unwrap();
    assert_eq!(st.sweep(T0 + 1_000), SweepStats::default());
    assert_eq!(
        st.sweep(T0 + 2_000),
        SweepStats {
            expired: 1,
            freed: 0
        }
    );
    assert_eq!(st.pending(), 1);
    assert_eq!(st.get(&short, T0 + 3_000).unwrap().status, Status::Expired);
    assert_eq!(
        st.sweep(T0 + 7_000),
        SweepStats {
            expired: 0,
            freed: 1
        }
    );
    assert!(
        st.get(&short, T0 + 7_000).is_none(),
        "freed after retention"
    );
    assert_eq!(st.get(&long, T0 + 7_000).unwrap().status, Status::Pending);
    // Expiry and release happen in separate sweeps, even after a long gap.
    assert_eq!(
        st.sweep(T0 + 20_000),
        SweepStats {
            expired: 1,
            freed: 0
        }
    );
    assert_eq!(st.pending(), 0);
    assert_eq!(
        st.sweep(T0 + 21_000),
        SweepStats {
            expired: 0,
            freed: 1
        }
    );
}

#[test]
fn a_later_insert_that_expires_sooner_is_not_delayed() {
    // Found by the model test: the wheel's cursor must start at the insert time, not at
    // the first challenge's due time.
    let st = MemoryStore::new(MemoryStoreConfig {
        shards: 1,
        max_pending: 10,
        retention_ms: 0,
    });
    st.insert(challenge(1, 3_000, None)).unwrap();
    st.insert(challenge(2, 1_000, None)).unwrap();
    assert_eq!(st.sweep(T0 + 1_000).expired, 1);
    assert_eq!(st.pending(), 1);
}

#[test]
fn sweep_after_a_jump_longer_than_a_round_misses_nothing() {
    let st = store(100, 0);
    let round = TICK_MS * WHEEL_BUCKETS as Millis;
    for (code, ttl) in [(1, 1_000), (2, round + 500), (3, 3 * round), (4, 5 * round)] {
        st.insert(challenge(code, ttl, None)).unwrap();
    }
    let s = st.sweep(T0 + 4 * round);
    assert_eq!(s.expired, 3);
    assert_eq!(st.pending(), 1);
    assert_eq!(st.sweep(T0 + 6 * round).expired, 1);
}

#[test]
fn slots_are_reused_and_old_ids_stay_dead() {
    let st = store(10, 0);
    let old = st.insert(challenge(1, 1_000, None)).unwrap();
    st.sweep(T0 + 1_000);
    st.sweep(T0 + 2_000);
    // The same code lands in the same shard, where the freed slot waits.
    let mut new = challenge(1, 60_000, None);
    new.created_at = T0 + 2_000;
    new.expires_at = T0 + 62_000;
    new.tag ^= 1;
    let fresh = st.insert(new).unwrap();
    assert_eq!(fresh.locator, old.locator, "slot reused");
    assert!(
        st.get(&old, T0 + 2_000).is_none(),
        "the old tag no longer reads"
    );
}

#[test]
fn lifetime_must_be_positive_and_bounded() {
    let st = store(10, 0);
    let mut c = challenge(1, 0, None);
    assert_eq!(st.insert(c.clone()), Err(InsertError::BadLifetime));
    c.expires_at = T0 + MAX_TTL_MS + 1;
    assert_eq!(st.insert(c), Err(InsertError::BadLifetime));
    assert_eq!(st.pending(), 0);
}

#[test]
fn slot_stays_small() {
    assert_eq!(std::mem::size_of::<Slot>(), 64, "one cache line");
}

#[test]
fn racing_matches_verify_exactly_once() {
    let st = std::sync::Arc::new(store(10_000, 0));
    for c in 0..2_000u64 {
        st.insert(challenge(c, 60_000, None)).unwrap();
    }
    let wins: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let st = st.clone();
                scope.spawn(move || {
                    (0..2_000u64)
                        .filter(|&c| {
                            matches!(
                                st.match_code(Code(c), &alice(), T0, 5),
                                MatchOutcome::Verified(_)
                            )
                        })
                        .count() as u64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 2_000);
    assert_eq!(st.pending(), 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert { code: u64, ttl_s: u64 },
        Match { code: u64, wrong_sender: bool },
        Advance { secs: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40, 1u64..20).prop_map(|(code, ttl_s)| Op::Insert { code, ttl_s }),
            (0u64..40, prop::bool::weighted(0.2))
                .prop_map(|(code, wrong_sender)| Op::Match { code, wrong_sender }),
            (0u64..6).prop_map(|secs| Op::Advance { secs }),
        ]
    }

    proptest! {
        /// The matcher against a model: a map of pending codes with expiry times.
        #[test]
        fn matches_like_the_model(ops in proptest::collection::vec(op(), 1..300)) {
            let st = MemoryStore::new(MemoryStoreConfig { shards: 2, max_pending: 25, retention_ms: 3_000 });
            let owner = Sender::parse("+15550100001").unwrap();
            let other = Sender::parse("+15550100002").unwrap();
            // code -> (expires_at, failures) for pending challenges.
            let mut model: BTreeMap<u64, (Millis, u8)> = BTreeMap::new();
            let mut now = T0;
            for op in ops {
                match op {
                    Op::Insert { code, ttl_s } => {
                        let c = NewChallenge {
                            code: Code(code),
                            tag: u128::from(code) << 64 | u128::from(now),
                            created_at: now,
                            expires_at: now + ttl_s * 1000,
                            expected_sender: Some(owner.clone()),
                        };
                        let live = model.get(&code).is_some_and(|(exp, _)| now < *exp);
                        if !live {
                            model.remove(&code);
                        }
                        let got = st.insert(c);
                        if live {
                            prop_assert_eq!(got, Err(InsertError::CodeTaken));
                        } else if model.len() >= 25 {
                            prop_assert_eq!(got, Err(InsertError::Full { max_pending: 25 }));
                        } else {
                            prop_assert!(got.is_ok());
                            model.insert(code, (now + ttl_s * 1000, 0));
                        }
                    }
                    Op::Match { code, wrong_sender } => {
                        let sender = if wrong_sender { &other } else { &owner };
                        let got = st.match_code(Code(code), sender, now, 3);
                        match model.get_mut(&code) {
                            None => prop_assert_eq!(got, MatchOutcome::NoMatch),
                            Some((exp, _)) if now >= *exp => {
                                let ok = matches!(got, MatchOutcome::Expired(_) | MatchOutcome::NoMatch);
                                prop_assert!(ok, "{:?}", got);
                                model.remove(&code);
                            }
                            Some((_, failures)) if wrong_sender => {
                                *failures += 1;
                                let locked = *failures >= 3;
                                let ok = matches!(got, MatchOutcome::SenderMismatch { locked: l, .. } if l == locked);
                                prop_assert!(ok, "{:?}", got);
                                if locked {
                                    model.remove(&code);
                                }
                            }
                            Some(_) => {
                                let ok = matches!(got, MatchOutcome::Verified(_));
                                prop_assert!(ok, "{:?}", got);
                                model.remove(&code);
                            }
                        }
                    }
                    Op::Advance { secs } => {
                        now += secs * 1000;
                        st.sweep(now);
                        model.retain(|_, (exp, _)| now < *exp);
                    }
                }
                let live = model.values().filter(|(exp, _)| now < *exp).count();
                // Pending counts challenges not yet swept: between `live` and the model size.
                prop_assert!(st.pending() >= live && st.pending() <= model.len(), "{} vs {live}", st.pending());
            }
        }
    }
}
