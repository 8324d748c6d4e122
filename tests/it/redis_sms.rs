//! SMS codes, the SMS defences' state and the start limits in Redis (issue 22.5 and 22.6):
//! shared by every instance on one Redis and kept across restarts. Real `mo2fa serve`
//! processes on a real redis-server (`MO2FA_TEST_REDIS`, else one of the test's own; under
//! `CI=true` a missing Redis fails these tests). `limits_model` drives the Lua token buckets and
//! the core's `StartLimiter` with the same random requests.

use crate::common;
use crate::redis_store::{Instance, Redis, Reply, unique_prefix};

fn defences(name: &str, text: &str) -> std::path::PathBuf {
    common::temp_file("redis-sms", name, text)
}

fn sms_start(i: &Instance, phone: &str) -> Reply {
    i.post("/sms/start", "", &format!(r#"{{"phone":"{phone}"}}"#))
}

fn sms_check(i: &Instance, phone: &str, code: &str) -> Reply {
    i.post(
        "/sms/check",
        "",
        &format!(r#"{{"phone":"{phone}","code":"{code}"}}"#),
    )
}

fn outbox(i: &Instance, phone: &str) -> String {
    let r = crate::redis_store::send(
        &i.addr,
        format!("GET /sms/outbox/{phone} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body["code"].as_str().expect("a code").to_string()
}

/// Two instances with `per_number = 1`: one send to a number in total, whichever instance is
/// asked, and a restarted instance still remembers it.
#[test]
fn per_number_holds_across_instances_and_restarts() {
    let Some(redis) = Redis::shared("sms-per-number") else {
        return;
    };
    let prefix = unique_prefix("sms-per-number");
    let file = defences("per_number.toml", "per_number = 1\nwindow = \"1h\"\n");
    let args = ["--sms-defences", file.to_str().expect("utf-8")];
    let a = Instance::spawn(&redis, &prefix, &args);
    let b = Instance::spawn(&redis, &prefix, &args);
    let phone = "+14155550142";
    let answers: Vec<u16> = [&a, &b, &a, &b]
        .iter()
        .map(|i| sms_start(i, phone).status)
        .collect();
    assert_eq!(answers, [202, 429, 429, 429], "one send in total");
    // Another number is its own.
    assert_eq!(sms_start(&b, "+14155550143").status, 202);
    drop(a);
    let again = Instance::spawn(&redis, &prefix, &args);
    let r = sms_start(&again, phone);
    assert_eq!(r.status, 429, "a restarted instance remembers: {r:?}");
    assert!(r.head.contains("retry-after: "), "{}", r.head);
}

/// A code sent by one instance is checked on another, once; wrong guesses count across
/// instances too.
#[test]
fn a_code_sent_by_one_instance_is_checked_on_the_other() {
    let Some(redis) = Redis::shared("sms-code") else {
        return;
    };
    let prefix = unique_prefix("sms-code");
    let a = Instance::spawn(&redis, &prefix, &["--sms-outbox"]);
    let b = Instance::spawn(&redis, &prefix, &["--sms-outbox"]);
    let phone = "+447700900123";
    assert_eq!(sms_start(&a, phone).status, 202);
    let code = outbox(&a, phone);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = sms_check(&b, phone, wrong);
    assert_eq!(r.body["result"], "wrong_code", "{r:?}");
    assert_eq!(r.body["attempts_left"], 4, "{r:?}");
    let r = sms_check(&a, phone, wrong);
    assert_eq!(
        r.body["attempts_left"], 3,
        "counted on the shared code: {r:?}"
    );
    assert_eq!(sms_check(&b, phone, &code).body["result"], "verified");
    assert_eq!(sms_check(&a, phone, &code).body["result"], "no_challenge");
    assert_eq!(sms_check(&b, phone, &code).body["result"], "no_challenge");
}

/// Three instances with a global start limit of a burst of 4 allow 4 starts in total, not 12.
#[test]
fn n_instances_allow_the_start_rate_once() {
    let Some(redis) = Redis::shared("start-rate") else {
        return;
    };
    let prefix = unique_prefix("start-rate");
    let args = ["--start-rate-global", "1", "--start-burst-global", "4"];
    let all: Vec<Instance> = (0..3)
        .map(|_| Instance::spawn(&redis, &prefix, &args))
        .collect();
    let mut created = 0;
    for round in 0..4 {
        for i in &all {
            match i.start("").status {
                201 => created += 1,
                429 => {}
                other => panic!("round {round}: {other}"),
            }
        }
    }
    assert_eq!(created, 4, "the burst once across three instances");
    // Per client: one client's bucket is shared too.
    let prefix = unique_prefix("start-rate-client");
    let args = [
        "--start-rate-per-client",
        "1",
        "--start-burst-per-client",
        "2",
    ];
    let two: Vec<Instance> = (0..2)
        .map(|_| Instance::spawn(&redis, &prefix, &args))
        .collect();
    let statuses: Vec<u16> = (0..4).map(|k| two[k % 2].start("").status).collect();
    assert_eq!(statuses, [201, 201, 429, 429]);
}

/// The Lua token buckets and the core's limiter decide alike on random requests (the same
/// refusals, naming the same limit and wait), refunds included.
mod limits_model {
    use super::*;
    use mo2fa_core::limits::{LimitsConfig, Rate, StartLimiter};
    use mo2fa_core::verifier::Config;
    use mo2fa_server::backend::Backend;
    use mo2fa_server::redis::{RedisConfig, RedisVerifier};
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Start { client: u8, sender: Option<u8> },
        Refund { client: u8, sender: Option<u8> },
        Wait { ms: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..3, proptest::option::of(0u8..2))
                .prop_map(|(client, sender)| Op::Start { client, sender }),
            1 => (0u8..3, proptest::option::of(0u8..2))
                .prop_map(|(client, sender)| Op::Refund { client, sender }),
            2 => (1u64..5_000).prop_map(|ms| Op::Wait { ms }),
            1 => (5_000u64..120_000).prop_map(|ms| Op::Wait { ms }),
        ]
    }

    fn rate(per_minute: f64, burst: u32) -> Option<Rate> {
        Some(Rate { per_minute, burst })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn lua_buckets_decide_as_the_core(ops in proptest::collection::vec(op(), 1..60)) {
            let Some(redis) = Redis::shared("limits-model") else {
                return Ok(());
            };
            let cfg = LimitsConfig {
                per_client: rate(7.0, 3),
                per_sender: rate(2.5, 2),
                global: rate(20.0, 6),
                // Redis' buckets have no table bound (keys expire when full).
                max_keys: 1_000_000,
            };
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let red = RedisVerifier::new(
                    Config::default(),
                    RedisConfig {
                        prefix: unique_prefix("limits-model"),
                        ..RedisConfig::new(redis.url.clone())
                    },
                )
                .unwrap();
                let shared = red.shared().expect("Redis shares its limits");
                let mut core = StartLimiter::new(&cfg).unwrap();
                let mut now = 1_700_000_000_000u64;
                let senders = ["+15550001111", "bob@example.com"];
                for op in &ops {
                    match *op {
                        Op::Start { client, sender } => {
                            let s = sender.map(|i| senders[usize::from(i)]);
                            let want = core.check(u128::from(client), s, now);
                            let got = shared
                                .limit(&cfg, u128::from(client), s, now, true)
                                .await
                                .unwrap();
                            assert_eq!(got, want, "{op:?} at {now} in {ops:?}");
                        }
                        Op::Refund { client, sender } => {
                            let s = sender.map(|i| senders[usize::from(i)]);
                            core.refund(u128::from(client), s, now);
                            shared
                                .limit(&cfg, u128::from(client), s, now, false)
                                .await
                                .unwrap();
                        }
                        Op::Wait { ms } => now += ms,
                    }
                }
            });
        }
    }
}
