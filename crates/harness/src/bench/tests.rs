//! Unit tests of the bench: the search rule, the start answers, deliveries and bench.json.

use super::challenges::{Delivery, started};
use super::report::provenance;
use super::*;

#[test]
fn start_answers_give_a_code_through_the_profile_or_say_what_came_back() {
    let mo2fa = Profile::builtin("mo2fa").unwrap();
    let got = started(&mo2fa, 201, br#"{"id":"ch_1","code":"ABC234","link":"x"}"#).unwrap();
    assert_eq!(
        (got.id.as_deref(), got.code.as_str()),
        (Some("ch_1"), "ABC234")
    );
    let e = started(&mo2fa, 404, b"{\"error\":\"no route for /2fa/start\"}").unwrap_err();
    assert!(e.contains("404") && e.contains("no route"), "{e}");
    let e = started(&mo2fa, 201, b"<html>hello</html>").unwrap_err();
    assert!(e.contains("201") && e.contains("<html>"), "{e}");
    let e = started(&mo2fa, 201, br#"{"id":"ch_1"}"#).unwrap_err();
    assert!(e.contains("no code at \"/code\" (start.code)"), "{e}");
    let long = vec![b'x'; 10_000];
    assert!(started(&mo2fa, 500, &long).unwrap_err().len() < 300);
    // Invalid UTF-8 and a body cut inside a character are quoted, not a panic.
    assert!(started(&mo2fa, 502, &[0xff, 0xe2, 0x82]).is_err());
    // The demo answers 200 with a code and a link, and no id.
    let demo = Profile::builtin("blooio-demo").unwrap();
    let got = started(&demo, 200, br#"{"code":"9A6N3F","link":"imessage://x"}"#).unwrap();
    assert_eq!((got.id, got.code.as_str()), (None, "9A6N3F"));
}

#[test]
fn what_a_profile_has_no_route_for_is_not_measured() {
    let mut opts = BenchOptions {
        endpoints: vec![
            Endpoint::Healthz,
            Endpoint::Start,
            Endpoint::Status,
            Endpoint::Webhook,
        ],
        connections: 1,
        step: Duration::from_secs(1),
        measure: Duration::from_secs(1),
        fraction: 0.5,
        rate_per_s: Some(1),
        max_rate_per_s: 1,
        out: None,
        server: Server::Remote {
            addr: "127.0.0.1:9".into(),
            secret: None,
            profile: Box::new(Profile::builtin("blooio-demo").unwrap()),
            pid: None,
        },
        scheme: Scheme::Blooio,
        shape: PayloadShape::V2,
        shard: crate::shard::Shard::WHOLE,
        retry: Default::default(),
    };
    let skipped: Vec<Endpoint> = not_measured(&opts).into_iter().map(|(e, _)| e).collect();
    assert_eq!(skipped, [Endpoint::Healthz, Endpoint::Status]);
    opts.server = Server::Remote {
        addr: "127.0.0.1:9".into(),
        secret: None,
        profile: Box::new(Profile::builtin("mo2fa").unwrap()),
        pid: None,
    };
    assert!(not_measured(&opts).is_empty());
}

#[test]
fn deliveries_pass_the_check_of_a_server_with_the_same_secret() {
    use mo2fa_core::webhook::SignatureHeaders;
    for scheme in [Scheme::Blooio, Scheme::Standard] {
        let secret = Secret::new(scheme, "s3cret").unwrap();
        let to = Delivery {
            host: "verifier.internal:8080",
            path: "/webhook/blooio",
            secret: Some(&secret),
            shape: PayloadShape::V2,
        };
        let raw = to.request("bench_1_2_3", "ABC234", 1_700_000_000);
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        };
        let headers = SignatureHeaders {
            blooio_signature: header("X-Blooio-Signature"),
            webhook_id: header("webhook-id"),
            webhook_timestamp: header("webhook-timestamp"),
            webhook_signature: header("webhook-signature"),
        };
        assert_eq!(
            secret.verify(&headers, body.as_bytes(), 1_700_000_000, 300),
            Ok(()),
            "{scheme:?}"
        );
        assert!(body.contains("\"message_id\":\"bench_1_2_3\""));
        assert!(body.contains("\"external_id\":\"+15550100001\""), "{body}");
        assert_eq!(header("X-Blooio-Message-Id"), Some("bench_1_2_3"));
        assert_eq!(header("X-Blooio-Event"), Some("message.received"));
        // A proxy in front of the target routes by it.
        assert_eq!(header("Host"), Some("verifier.internal:8080"));
    }
}

/// A fake server: `kept_up` answers for each step in turn.
fn fake(kept_up: &[bool]) -> Search {
    let mut answers = kept_up.iter();
    search(1_000, 1_000_000, |rate| {
        let ok = *answers
            .next()
            .expect("the search ran more steps than expected");
        Ok::<_, ()>(Step {
            offered: rate,
            achieved: rate as f64 * if ok { 1.0 } else { 0.99 },
            p99_ms: if ok { 1.0 } else { 80.0 },
        })
    })
    .unwrap()
}

/// A fake server that keeps up with every rate up to `capacity` per second and achieves only
/// 80 % of any rate above it.
fn capped(start: u64, capacity: u64) -> Search {
    search(start, 1_000_000, |rate| {
        let achieved = if rate <= capacity {
            rate as f64
        } else {
            0.8 * rate as f64
        };
        Ok::<_, ()>(Step {
            offered: rate,
            achieved,
            p99_ms: 1.0,
        })
    })
    .unwrap()
}

#[test]
fn one_spike_does_not_stop_the_search_two_in_a_row_do() {
    // 1k, 2k pass; 4k spikes once, passes when repeated; 8k passes; 16k fails twice; then the
    // bisection: 12k passes, 14k fails twice, 13k passes, 13.5k fails twice, 13.25k passes
    // (within 1/32 of 13.5k).
    let answers = [
        true, true, false, true, true, false, false, true, false, false, true, false, false, true,
    ];
    let s = fake(&answers);
    let rates: Vec<u64> = s.steps.iter().map(|t| t.offered).collect();
    assert_eq!(
        rates,
        [
            1_000, 2_000, 4_000, 4_000, 8_000, 16_000, 16_000, 12_000, 14_000, 14_000, 13_000,
            13_500, 13_500, 13_250
        ]
    );
    assert!(s.saturated());
    assert_eq!(s.next_rate(), None);
    assert_eq!(s.bracket(), Some((13_250, 13_500)));
    // The saturation is the best step that kept up, not the failing steps above it.
    assert_eq!(s.saturation(), Some(13_250.0));
    assert_eq!(s.best_achieved(), 16_000.0 * 0.99);
    let none = fake(&[false, false]);
    assert_eq!((none.saturation(), none.bracket()), (None, None));
    // The repeated rates are reported with their spread.
    let spread = describe_spread(&s);
    assert_eq!(spread.len(), 4, "{spread:?}");
    assert_eq!(
        spread[0],
        "offered 4000/s ×2: achieved 3960–4000/s, p99 1.00–80.00 ms"
    );
    // Spikes at every other step never stop it: it ends at max_rate, with nothing to bisect.
    let s = fake(&[false, true].repeat(11));
    assert!(!s.saturated());
    assert_eq!(s.bracket(), None);
    assert_eq!(s.steps.last().map(|t| t.offered), Some(512_000));
}

#[test]
fn the_bisection_measures_a_saturation_between_two_doublings() {
    // Doubling alone would stop at 16k (kept up) / 32k (failed): a ratio of 0.5 to a server
    // of twice the capacity, whatever the real one. The bisection finds each within 1/32.
    for capacity in [17_000, 23_456, 31_000, 40_000] {
        let s = capped(4_000, capacity);
        let found = s.saturation().unwrap();
        let (lo, hi) = s.bracket().unwrap();
        assert!(lo <= capacity && capacity < hi, "{capacity}: {lo}..{hi}");
        assert!(
            (hi - lo) as f64 <= hi as f64 / 32.0,
            "{capacity}: {lo}..{hi}"
        );
        assert!(
            found <= capacity as f64 && found >= capacity as f64 * (1.0 - 1.0 / 16.0),
            "{capacity}: found {found}"
        );
        // Every rate that kept up is at most the capacity; every one that failed is above.
        for t in &s.steps {
            assert_eq!(t.kept_up(), t.offered <= capacity, "{capacity}: {t:?}");
        }
    }
    // Two servers of 0.37 and 1 of the same capacity measure about 0.37, not 0.25 or 0.5.
    let (a, b) = (capped(4_000, 37_000), capped(4_000, 100_000));
    let ratio = a.saturation().unwrap() / b.saturation().unwrap();
    assert!((0.34..=0.40).contains(&ratio), "{ratio}");
}

#[test]
fn a_step_fails_on_throughput_or_on_p99() {
    let step = |achieved, p99_ms| Step {
        offered: 1000,
        achieved,
        p99_ms,
    };
    assert!(step(900.0, 50.0).kept_up());
    assert!(!step(899.0, 1.0).kept_up());
    assert!(!step(1000.0, 50.1).kept_up());
}

#[test]
fn provenance_names_time_commit_host_and_cores() {
    let p = provenance();
    let t = p["timestamp"].as_str().unwrap();
    assert!(
        t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
        "{t}"
    );
    let commit = p["git_commit"].as_str().unwrap();
    assert!(commit == "unknown" || commit.len() == 40, "{commit}");
    assert!(!p["host"].as_str().unwrap().is_empty());
    assert!(p["cores"].as_u64().unwrap() >= 1);
}

#[test]
fn only_an_endpoint_without_one_success_fails_the_run_and_errors_are_named() {
    let row = |endpoint, succeeded, error_kinds: Vec<(Option<u16>, u64)>| Row {
        endpoint,
        saturation: None,
        offered: 100,
        achieved: succeeded as f64,
        succeeded,
        p50_ms: 0.1,
        p99_ms: 0.2,
        p999_ms: 0.3,
        max_ms: 0.4,
        errors: error_kinds.iter().map(|(_, n)| n).sum(),
        error_kinds,
        retried: Default::default(),
        seen: None,
        cpu: None,
    };
    let overloaded = row(Endpoint::Start, 97, vec![(Some(503), 3)]);
    let clean = row(Endpoint::Healthz, 100, vec![]);
    assert_eq!(failed_endpoints(&[overloaded.clone(), clean.clone()]), None);
    let refused = row(Endpoint::Webhook, 0, vec![(Some(401), 60), (None, 40)]);
    assert_eq!(
        failed_endpoints(&[overloaded, refused.clone(), clean]).as_deref(),
        Some("webhook (60 answered 401, 40 got no answer)")
    );
    // bench.json says the same.
    let opts = BenchOptions {
        endpoints: vec![Endpoint::Webhook],
        connections: 4,
        step: Duration::from_secs(1),
        measure: Duration::from_secs(1),
        fraction: 0.5,
        rate_per_s: Some(100),
        max_rate_per_s: 1000,
        out: None,
        server: Server::Remote {
            addr: "127.0.0.1:8080".into(),
            secret: None,
            profile: Box::new(Profile::builtin("blooio-demo").unwrap()),
            pid: None,
        },
        scheme: Scheme::Blooio,
        shape: PayloadShape::V2,
        shard: crate::shard::Shard::WHOLE,
        retry: Default::default(),
    };
    let json = summary(&opts, &[refused]);
    assert_eq!(json["target"], "http://127.0.0.1:8080");
    assert_eq!(json["profile"], "blooio-demo");
    assert_eq!(
        json["not_measured"],
        serde_json::json!([]),
        "only the webhook was asked for"
    );
    assert_eq!(json["fraction_of_saturation"], serde_json::Value::Null);
    assert_eq!(
        json["endpoints"][0]["errors_by_status"],
        serde_json::json!({"401": 60, "no_answer": 40})
    );
}
