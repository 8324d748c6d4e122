//! End-to-end tests of the HTTP verifier on a real loopback socket (port 0).

use crate::common;

use common::{Server, message_event};
use mo2fa_core::verifier::{Config, Protocol};
use mo2fa_core::webhook::Scheme;

async fn start(server: &Server, body: &str) -> serde_json::Value {
    let r = server.post_json("/2fa/start", body).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.json()
}

#[tokio::test]
async fn start_signed_webhook_then_status_verified() {
    let s = Server::start().await;
    let c = start(&s, "").await;
    let code = c["code"].as_str().unwrap();
    let id = c["id"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert_eq!(
        c["link"],
        format!("https://start.msg.new/verify%40example%2Ecom?text={code}")
    );
    assert_eq!(c["expires_at"], "2023-11-14T22:18:20.000Z", "T0 + 300 s");

    let pending = s.get(&format!("/2fa/status/{id}")).await.json();
    assert_eq!(pending["status"], "pending");
    assert!(pending["sender"].is_null());

    s.clock.advance(4_000);
    let text = format!("Here is my code: {}", code.to_lowercase());
    let r = s
        .deliver(&message_event("m_1", "+1 555 010 0001", &text, "imessage"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"], "verified");
    assert_eq!(r.json()["id"], id);
    assert_eq!(r.json()["duplicate"], false);

    let st = s.get(&format!("/2fa/status/{id}")).await;
    assert_eq!(st.status, 200);
    let st = st.json();
    assert_eq!(st["status"], "verified");
    assert_eq!(st["sender"], "+15550100001");
    assert_eq!(st["verified_at"], "2023-11-14T22:13:24.000Z");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn redelivery_gets_same_answer_and_no_second_effect() {
    let s = Server::start().await;
    let c = start(&s, "").await;
    let event = message_event(
        "m_dup",
        "+15550100001",
        c["code"].as_str().unwrap(),
        "imessage",
    );
    let first = s.deliver(&event).await.json();
    let second = s.deliver(&event).await.json();
    assert_eq!(first["result"], "verified");
    assert_eq!(second["result"], "verified");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["duplicate"], true);
    let metrics = s.get("/metrics").await.body;
    assert!(
        metrics.contains("\nmo2fa_verifications_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nmo2fa_duplicate_deliveries_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn expected_sender_binding_rejects_others_then_locks() {
    let cfg = Config {
        max_sender_failures: 2,
        ..Config::default()
    };
    let s = Server::start_with(cfg, 100, Scheme::Blooio).await;
    let c = start(&s, r#"{"expected_sender": "+44 20 7946 0958"}"#).await;
    let code = c["code"].as_str().unwrap();
    let r = s
        .deliver(&message_event("m1", "+15550100666", code, "imessage"))
        .await
        .json();
    assert_eq!(r["result"], "sender_mismatch");
    assert_eq!(r["locked"], false);
    // The owner can still verify after one stranger's attempt.
    let c2 = start(&s, r#"{"expected_sender": "+442079460958"}"#).await;
    let code2 = c2["code"].as_str().unwrap();
    let ok = s
        .deliver(&message_event("m2", "+442079460958", code2, "imessage"))
        .await
        .json();
    assert_eq!(ok["result"], "verified");
    // A second stranger's attempt locks the first challenge for good.
    let r = s
        .deliver(&message_event("m3", "+15550100667", code, "imessage"))
        .await
        .json();
    assert_eq!(r["locked"], true);
    let r = s
        .deliver(&message_event("m4", "+442079460958", code, "imessage"))
        .await
        .json();
    assert_eq!(r["result"], "no_match");
    let st = s
        .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(st["status"], "locked");
}

#[tokio::test]
async fn sms_protocol_is_ignored_by_default_policy() {
    let s = Server::start().await;
    let c = start(&s, "").await;
    let r = s
        .deliver(&message_event(
            "m1",
            "+15550100001",
            c["code"].as_str().unwrap(),
            "sms",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"], "ignored");
    let st = s
        .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(st["status"], "pending");

    let cfg = Config {
        accepted_protocols: vec![Protocol::Imessage, Protocol::Sms],
        ..Config::default()
    };
    let s = Server::start_with(cfg, 100, Scheme::Blooio).await;
    let c = start(&s, "").await;
    let r = s
        .deliver(&message_event(
            "m1",
            "+15550100001",
            c["code"].as_str().unwrap(),
            "sms",
        ))
        .await;
    assert_eq!(r.json()["result"], "verified");
}

#[tokio::test]
async fn other_events_are_acknowledged_and_ignored() {
    let s = Server::start().await;
    let r = s
        .deliver(r#"{"event":"message.delivered","message_id":"m9"}"#)
        .await;
    assert_eq!(r.status, 200);
    // The same fields as every webhook answer: result, its own fields, duplicate.
    assert_eq!(
        r.json(),
        serde_json::json!({
            "result": "ignored",
            "reason": "event \"message.delivered\" is not handled",
            "duplicate": false,
        })
    );
}

/// Every answer is one of the `wire` types: the start and status answers have exactly the
/// fields openapi.yaml lists, and every error is `{"error": "..."}` and nothing else.
#[tokio::test]
async fn answers_have_exactly_their_documented_fields() {
    let s = Server::start().await;
    let c = start(&s, "").await;
    let mut keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["code", "expires_at", "id", "link"]);
    let st = s
        .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(
        st,
        serde_json::json!({
            "status": "pending",
            "sender": null,
            "verified_at": null,
            "expires_at": c["expires_at"],
        })
    );
    for r in [
        s.get("/nowhere").await,
        s.get("/2fa/status/nope").await,
        s.post_json("/2fa/start", "[1]").await,
        s.get("/2fa/start").await,
    ] {
        let v = r.json();
        assert_eq!(v.as_object().unwrap().len(), 1, "{r:?}");
        assert!(v["error"].is_string(), "{r:?}");
    }
    assert_eq!(
        s.get("/healthz").await.json(),
        serde_json::json!({"status": "ok"})
    );
    assert_eq!(
        s.get("/readyz").await.json(),
        serde_json::json!({"status": "ready"})
    );
}

#[tokio::test]
async fn expiry_over_http() {
    let s = Server::start().await;
    let c = start(&s, r#"{"ttl_seconds": 30}"#).await;
    s.clock.advance(30_000);
    let st = s
        .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(st["status"], "expired");
    let r = s
        .deliver(&message_event(
            "m1",
            "+15550100001",
            c["code"].as_str().unwrap(),
            "imessage",
        ))
        .await
        .json();
    // "expired" if the code is matched before the once-a-second sweep removes it, else no match.
    let result = r["result"].as_str().unwrap();
    assert!(result == "expired" || result == "no_match", "{r}");
    let st = s
        .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(st["status"], "expired");
}

#[tokio::test]
async fn standard_webhooks_scheme() {
    let s = Server::start_with(Config::default(), 100, Scheme::Standard).await;
    let c = start(&s, "").await;
    let body = message_event(
        "m1",
        "+15550100001",
        c["code"].as_str().unwrap(),
        "imessage",
    );
    let ts = s.now_secs().to_string();
    let sig = s
        .secret
        .sign_standard("wh_1", s.now_secs(), body.as_bytes());
    let headers = [
        ("webhook-id", "wh_1"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", sig.as_str()),
    ];
    let r = s
        .post(
            "/webhook/blooio",
            "application/json",
            &headers,
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.json()["result"], "verified", "{r:?}");
    let again = s
        .post(
            "/webhook/blooio",
            "application/json",
            &headers,
            body.as_bytes(),
        )
        .await;
    assert_eq!(again.json()["duplicate"], true);
    // A Blooio-style header means nothing under the standard scheme.
    let blooio = s.secret.sign_blooio(s.now_secs(), body.as_bytes());
    s.post(
        "/webhook/blooio",
        "application/json",
        &[("Blooio-Signature", &blooio)],
        body.as_bytes(),
    )
    .await
    .assert_error(401, "webhook-id");
}

// ----- Bad input: one test each -----

#[tokio::test]
async fn bad_signatures_are_401() {
    let s = Server::start().await;
    let c = start(&s, "").await;
    let body = message_event(
        "m1",
        "+15550100001",
        c["code"].as_str().unwrap(),
        "imessage",
    );
    let post = |headers: Vec<(&'static str, String)>, body: String| {
        let s = &s;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post("/webhook/blooio", "application/json", &h, body.as_bytes())
                .await
        }
    };
    post(vec![], body.clone())
        .await
        .assert_error(401, "missing signature");
    let good = s.secret.sign_blooio(s.now_secs(), body.as_bytes());
    let tampered = common::replaced(&body, "+15550100001", "+15550100002");
    post(vec![("Blooio-Signature", good.clone())], tampered)
        .await
        .assert_error(401, "does not match");
    let stale = s.secret.sign_blooio(s.now_secs() - 301, body.as_bytes());
    post(vec![("Blooio-Signature", stale)], body.clone())
        .await
        .assert_error(401, "tolerance");
    let wrong = mo2fa_core::webhook::Secret::new(Scheme::Blooio, "not-the-secret").unwrap();
    let forged = wrong.sign_blooio(s.now_secs(), body.as_bytes());
    post(vec![("Blooio-Signature", forged)], body.clone())
        .await
        .assert_error(401, "does not match");
    post(vec![("Blooio-Signature", "t=1,v1".into())], body.clone())
        .await
        .assert_error(401, "malformed");
    // The lower-case alternative header name works.
    let r = post(vec![("x-blooio-signature", good)], body).await;
    assert_eq!(r.json()["result"], "verified");
    let metrics = s.get("/metrics").await.body;
    assert!(
        metrics.contains("\nmo2fa_bad_signatures_total 5\n"),
        "{metrics}"
    );
    let st = s
        .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(
        st["sender"], "+15550100001",
        "forged deliveries changed nothing"
    );
}

#[tokio::test]
async fn malformed_json_is_400() {
    let s = Server::start().await;
    s.post_json("/2fa/start", "{\"ttl_seconds\": ")
        .await
        .assert_error(400, "invalid JSON");
    s.post_json("/2fa/start", r#"{"ttl_seconds": -5}"#)
        .await
        .assert_error(400, "invalid JSON");
    s.post_json("/2fa/start", r#"{"ttl": 60}"#)
        .await
        .assert_error(400, "unknown field `ttl`");
    // serde would fill a struct from an array; the API takes objects only (found by schemathesis).
    s.post_json("/2fa/start", "[null, null]")
        .await
        .assert_error(400, "JSON object");
    s.post_json("/sms/check", r#"["+15550100001", "123456"]"#)
        .await
        .assert_error(400, "JSON object");
    s.deliver("{not json")
        .await
        .assert_error(400, "invalid JSON");
    s.deliver(r#"{"event":"message.received","message_id":"m1","text":"ABC234"}"#)
        .await
        .assert_error(400, "sender");
    s.deliver(r#"{"event":"message.received","sender":"+15550100001","text":"ABC234"}"#)
        .await
        .assert_error(400, "message_id");
    assert_eq!(
        s.app.verifier.pending(),
        0,
        "nothing was created by bad input"
    );
}

#[tokio::test]
async fn invalid_values_are_422() {
    let s = Server::start().await;
    s.post_json("/2fa/start", r#"{"ttl_seconds": 5}"#)
        .await
        .assert_error(422, "between 10 and 3600");
    s.post_json("/2fa/start", r#"{"ttl_seconds": 18446744073709551615}"#)
        .await
        .assert_error(422, "ttl_seconds");
    s.post_json("/2fa/start", r#"{"expected_sender": "555-0100"}"#)
        .await
        .assert_error(422, "expected_sender");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let s = Server::start().await;
    let big = format!("{{\"text\": \"{}\"}}", "A".repeat(64 * 1024));
    s.post_json("/2fa/start", &big)
        .await
        .assert_error(413, "exceeds");
    s.deliver(&big).await.assert_error(413, "exceeds");
    // Without a declared length (chunked), the limit still holds while reading.
    let chunk = "B".repeat(70 * 1024);
    let raw = format!(
        "POST /webhook/blooio HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    s.send(&raw).await.assert_error(413, "exceeds");
    // Exactly at the limit is fine (then rejected for its signature, not its size).
    let at_limit = "C".repeat(64 * 1024);
    s.post(
        "/webhook/blooio",
        "application/json",
        &[],
        at_limit.as_bytes(),
    )
    .await
    .assert_error(401, "signature");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let s = Server::start().await;
    s.post("/2fa/start", "text/plain", &[], b"{}")
        .await
        .assert_error(415, "application/json");
    s.post(
        "/webhook/blooio",
        "application/x-www-form-urlencoded",
        &[],
        b"a=b",
    )
    .await
    .assert_error(415, "application/json");
    // Parameters after the media type are fine.
    let r = s
        .post("/2fa/start", "application/json; charset=utf-8", &[], b"{}")
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn unknown_route_and_unknown_id_are_404() {
    let s = Server::start().await;
    s.get("/nope").await.assert_error(404, "no route for /nope");
    s.get("/2fa/status/AAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .assert_error(404, "unknown challenge");
    s.get("/2fa/status/not-an-id")
        .await
        .assert_error(404, "unknown challenge");
    let c = start(&s, "").await;
    let mut forged = c["id"].as_str().unwrap().to_string();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(26.., last);
    s.get(&format!("/2fa/status/{forged}"))
        .await
        .assert_error(404, "unknown challenge");
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let s = Server::start().await;
    let r = s.get("/2fa/start").await;
    r.assert_error(405, "POST");
    assert_eq!(r.header("allow"), Some("POST"));
    s.get("/webhook/blooio").await.assert_error(405, "POST");
    s.post_json("/healthz", "{}").await.assert_error(405, "GET");
    s.post_json("/metrics", "{}").await.assert_error(405, "GET");
    s.post_json("/2fa/status/x", "{}")
        .await
        .assert_error(405, "GET");
}

#[tokio::test]
async fn full_store_is_503_with_retry_after() {
    let s = Server::start_with(Config::default(), 2, Scheme::Blooio).await;
    start(&s, "").await;
    start(&s, "").await;
    let r = s.post_json("/2fa/start", "").await;
    r.assert_error(503, "max_pending = 2");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(s.app.verifier.pending(), 2);
}

#[tokio::test]
async fn health_and_metrics() {
    let s = Server::start().await;
    let h = s.get("/healthz").await;
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    start(&s, "").await;
    let m = s.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    for needle in [
        "mo2fa_starts_total 1\n",
        "mo2fa_pending_challenges 1\n",
        "# TYPE mo2fa_request_duration_seconds histogram\n",
        "mo2fa_request_duration_seconds_count{route=\"start\"} 1\n",
        "mo2fa_expired_total 0\n",
        "mo2fa_sender_mismatches_total 0\n",
    ] {
        assert!(m.body.contains(needle), "missing {needle:?} in\n{}", m.body);
    }
}

#[tokio::test]
async fn garbage_bytes_do_not_crash_the_server() {
    let s = Server::start().await;
    let r = s.send_bytes(b"\x00\xff\xfe GARBAGE\r\n\r\n").await;
    assert!(r.status == 400 || r.status == 0, "{r:?}");
    let invalid_utf8 = b"{\"event\":\"message.received\",\"text\":\"\xff\xfe\"}";
    s.post("/webhook/blooio", "application/json", &[], invalid_utf8)
        .await
        .assert_error(401, "signature");
    assert_eq!(s.get("/healthz").await.status, 200, "still serving");
}

#[tokio::test]
async fn shutdown_finishes_cleanly() {
    let s = Server::start().await;
    start(&s, "").await;
    s.stop()
        .await
        .expect("serve returns Ok after the shutdown signal");
}

// ----- The traditional SMS-OTP flow over HTTP -----

#[tokio::test]
async fn sms_start_outbox_check_verifies_and_bills() {
    let s = Server::start().await;
    let r = s
        .post_json(
            "/sms/start",
            r#"{"phone": "+44 20 7946 0958", "country": "GB"}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let usd = r.json()["usd"].as_f64().unwrap();
    assert!(usd > 0.01 && usd < 1.0, "GB list price, got {usd}");
    let code = s.get("/sms/outbox/+442079460958").await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = s
        .post_json(
            "/sms/check",
            &format!(r#"{{"phone": "+442079460958", "code": "{wrong}"}}"#),
        )
        .await
        .json();
    assert_eq!(r["result"], "wrong_code");
    assert_eq!(r["attempts_left"], 4);
    let r = s
        .post_json(
            "/sms/check",
            &format!(r#"{{"phone": "+442079460958", "code": "{code}"}}"#),
        )
        .await
        .json();
    assert_eq!(r["result"], "verified");
    let r = s
        .post_json(
            "/sms/check",
            &format!(r#"{{"phone": "+442079460958", "code": "{code}"}}"#),
        )
        .await
        .json();
    assert_eq!(r["result"], "no_challenge", "one-shot");
    let m = s.get("/metrics").await.body;
    assert!(m.contains("\nmo2fa_sms_sent_total 1\n"), "{m}");
    assert!(m.contains(&format!("\nmo2fa_sms_spend_usd {usd}\n")), "{m}");
    // As `promtool check metrics` reads it: a name ending in _total is a counter, and only
    // counters end in _total (.ci/run runs promtool itself on a live server).
    for line in m.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        assert_eq!(
            name.ends_with("_total"),
            kind == "counter",
            "{line}: Prometheus wants counters, and only counters, named *_total"
        );
    }
}

/// The newest built-in list price for `iso`, or the fallback price for `None`.
fn list_price(iso: Option<&str>) -> f64 {
    let snapshot = mo2fa_cost::prices::PriceTable::builtin()
        .and_then(|t| t.snapshot(None))
        .expect("built-in price table");
    iso.map_or(snapshot.fallback_usd(), |c| {
        snapshot.quote(c).usd_per_segment
    })
}

#[tokio::test]
async fn sms_start_prices_by_the_numbers_calling_code() {
    let s = Server::start().await;
    let sent = |phone: &str, country: Option<&str>| {
        let body = match country {
            Some(c) => format!(r#"{{"phone": "{phone}", "country": "{c}"}}"#),
            None => format!(r#"{{"phone": "{phone}"}}"#),
        };
        let s = &s;
        async move {
            let r = s.post_json("/sms/start", &body).await;
            assert_eq!(r.status, 202, "{r:?}");
            r.json()
        }
    };

    let gb = sent("+447700900123", None).await;
    assert_eq!(gb["country"], "GB");
    assert_eq!(gb["country_source"], "calling_code");
    assert_eq!(gb["country_shared"], true, "+44 is shared with GG, IM, JE");
    assert_eq!(gb["usd"].as_f64(), Some(list_price(Some("GB"))));

    let us = sent("+14155550100", None).await;
    assert_eq!(us["country"], "US");
    assert_eq!(us["country_shared"], true, "a +1 number may be Canadian");
    assert_eq!(us["usd"].as_f64(), Some(list_price(Some("US"))));

    let ng = sent("+2348031234567", None).await;
    assert_eq!(ng["country"], "NG");
    assert!(ng.get("country_shared").is_none(), "{ng}");

    let named = sent("+2348031234568", Some("FR")).await;
    assert_eq!(
        named["country"], "NG",
        "a named country never overrides the number's"
    );
    assert_eq!(named["country_source"], "calling_code");
    assert_eq!(named["country_ignored"], "FR");
    assert_eq!(named["usd"].as_f64(), Some(list_price(Some("NG"))));

    let unknown = sent("+88212345678", None).await;
    assert!(unknown["country"].is_null(), "{unknown}");
    assert_eq!(unknown["country_source"], "unknown");
    assert_eq!(unknown["usd"].as_f64(), Some(list_price(None)));
    assert_ne!(
        list_price(None),
        list_price(Some("GB")),
        "the test tells them apart"
    );

    // /metrics splits the sends by billed country, as it billed them.
    let m = s.get("/metrics").await.body;
    for (country, n) in [("GB", 1), ("NG", 2), ("US", 1), ("unknown", 1)] {
        let line = format!("\nmo2fa_sms_sent_by_country_total{{country=\"{country}\"}} {n}\n");
        assert!(m.contains(&line), "{line:?} missing in\n{m}");
    }
    let gb_spend = format!(
        "\nmo2fa_sms_spend_by_country_usd{{country=\"GB\"}} {}\n",
        list_price(Some("GB"))
    );
    assert!(m.contains(&gb_spend), "{gb_spend:?} missing in\n{m}");
}

/// A request whose country disagrees with the number is counted, so an operator sees clients
/// that mislabel numbers (or try to buy a cheaper country) without reading answers.
#[tokio::test]
async fn sms_start_counts_countries_it_ignored() {
    let s = Server::start().await;
    let counted = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("mo2fa_sms_country_ignored_total "))
            .map(|v| v.to_string())
    };
    let m = s.get("/metrics").await.body;
    assert_eq!(counted(&m).as_deref(), Some("0"), "{m}");
    assert!(m.contains("# TYPE mo2fa_sms_country_ignored_total counter\n"));
    for (body, ignored) in [
        (r#"{"phone": "+2348031234567", "country": "NG"}"#, false),
        (r#"{"phone": "+2348031234568"}"#, false),
        (r#"{"phone": "+2348031234569", "country": "US"}"#, true),
    ] {
        let r = s.post_json("/sms/start", body).await;
        assert_eq!(r.status, 202, "{r:?}");
        assert_eq!(r.json().get("country_ignored").is_some(), ignored, "{r:?}");
    }
    let m = s.get("/metrics").await.body;
    assert_eq!(counted(&m).as_deref(), Some("1"), "{m}");
}

#[tokio::test]
async fn sms_bad_input() {
    let s = Server::start().await;
    s.post_json("/sms/start", r#"{"phone": "5550100"}"#)
        .await
        .assert_error(422, "phone");
    s.post_json("/sms/start", r#"{"phone": "a@b.co"}"#)
        .await
        .assert_error(422, "phone number");
    s.post_json(
        "/sms/start",
        r#"{"phone": "+15550100001", "country": "usa"}"#,
    )
    .await
    .assert_error(422, "country");
    s.post_json("/sms/start", r#"{"phone": "+15550100001", "extra": 1}"#)
        .await
        .assert_error(400, "unknown field");
    s.post("/sms/start", "text/plain", &[], b"x")
        .await
        .assert_error(415, "application/json");
    s.post_json("/sms/check", r#"{"phone": "+15550100001"}"#)
        .await
        .assert_error(400, "code");
    s.get("/sms/start").await.assert_error(405, "POST");
    s.get("/sms/outbox/+15550100009")
        .await
        .assert_error(404, "no code");
}

/// `/metrics` counts answers by route and status class, so 4xx and 5xx rates can be graphed.
#[tokio::test]
async fn answers_are_counted_by_route_and_status_class() {
    let s = Server::start().await;
    s.post_json("/2fa/start", "").await;
    s.post_json("/2fa/start", "").await;
    s.post_json("/2fa/start", r#"{"ttl_seconds": 0}"#).await;
    s.post("/webhook/blooio", "application/json", &[], b"{}")
        .await;
    s.get("/no/such/route").await;
    let text = s.get("/metrics").await.body;
    let count = |route: &str, class: &str| -> u64 {
        let line = format!("mo2fa_responses_total{{route=\"{route}\",class=\"{class}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in {text}"))
    };
    assert_eq!(count("start", "2xx"), 2);
    assert_eq!(count("start", "4xx"), 1);
    assert_eq!(count("webhook", "4xx"), 1, "an unsigned delivery is a 401");
    assert_eq!(count("other", "4xx"), 1);
    assert_eq!(count("webhook", "5xx"), 0);
}

/// A start the store refuses (503, full) spends no start-limit token: the client is charged
/// for challenges it got, not for the server's refusals.
#[tokio::test]
async fn a_start_refused_by_a_full_store_spends_no_token() {
    use mo2fa_core::limits::{LimitsConfig, Rate};
    let s = Server::start_custom(Config::default(), 1, Scheme::Blooio, |mut h| {
        h.start_limits = LimitsConfig {
            per_client: Some(Rate {
                per_minute: 1.0,
                burst: 2,
            }),
            ..LimitsConfig::default()
        };
        h
    })
    .await;
    let c = start(&s, "").await;
    let full = s.post_json("/2fa/start", "").await;
    full.assert_error(503, "too many pending challenges");
    assert_eq!(full.header("retry-after"), Some("5"));
    // Free the one place; the clock has not moved, so no token refilled meanwhile.
    let code = c["code"].as_str().unwrap();
    let r = s
        .deliver(&message_event("m1", "+15550100001", code, "imessage"))
        .await;
    assert_eq!(r.json()["result"], "verified");
    let again = s.post_json("/2fa/start", "").await;
    assert_eq!(
        again.status, 201,
        "the 503 spent the second token: {again:?}"
    );
    s.post_json("/2fa/start", "")
        .await
        .assert_error(429, "per-client start limit");
}

/// Refused deliveries are counted by reason in /metrics (and logged, at most a line a second).
#[tokio::test]
async fn rejected_deliveries_are_counted_by_reason() {
    let s = Server::start().await;
    let body = message_event("m1", "+15550100001", "ABC234", "imessage");
    s.post("/webhook/blooio", "application/json", &[], body.as_bytes())
        .await
        .assert_error(401, "signature");
    s.post(
        "/webhook/blooio",
        "application/json",
        &[("X-Blooio-Signature", "t=1,v1=00")],
        body.as_bytes(),
    )
    .await
    .assert_error(401, "signature");
    s.post("/webhook/blooio", "text/plain", &[], body.as_bytes())
        .await
        .assert_error(415, "content-type");
    s.deliver("[]").await.assert_error(400, "JSON object");
    s.deliver(r#"{"event":"message.received","message_id":"m2"}"#)
        .await
        .assert_error(400, "sender");
    let no_id = common::replaced(&body, r#""message_id":"m1","#, "");
    s.deliver(&no_id).await.assert_error(400, "message_id");
    let m = s.get("/metrics").await.body;
    for (reason, n) in [
        ("signature_missing", 1),
        ("signature_stale", 1),
        ("not_json", 1),
        ("event", 1),
        ("message", 1),
        ("delivery", 1),
        ("signature_mismatch", 0),
    ] {
        let line = format!("mo2fa_webhook_rejected_total{{reason=\"{reason}\"}} {n}\n");
        assert!(m.contains(&line), "{line} in\n{m}");
    }
}
