//! The provider's own documented deliveries, as it would send them: each fixture in
//! `tests/fixtures/provider/` (sources in its README) signed with a test secret and posted to a
//! real server, then the rules for the headers Blooio documents (`X-Blooio-Event`,
//! `X-Blooio-Message-Id`, the replay headers) and for the V4 envelope.

use crate::common;

use common::Server;
use mo2fa_core::verifier::{Config, Protocol};
use mo2fa_core::webhook::Scheme;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/provider");
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
}

/// The fixture with `text` (at the top or under a V4 envelope's `data`) replaced.
fn with_text(body: &str, text: &str) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap();
    let fields = if v.get("data").is_some() {
        &mut v["data"]
    } else {
        &mut v
    };
    fields["text"] = Value::from(text);
    v.to_string()
}

#[tokio::test]
async fn every_documented_body_gets_its_documented_answer() {
    for (name, result, reason) in [
        ("v2-received-imessage.json", "no_code", ""),
        (
            "v2-received-sms-attachment.json",
            "ignored",
            "protocol \"sms\"",
        ),
        ("v2-sent.json", "ignored", "message.sent"),
        ("v4-envelope-received.json", "no_code", ""),
        ("v4-envelope-delivered.json", "ignored", "message.delivered"),
        ("legacy-crate-0.2.json", "ignored", "without a protocol"),
        ("legacy-crate-0.3.json", "ignored", "protocol \"sms\""),
    ] {
        // A server each: two of the examples share a message_id.
        let s = Server::start().await;
        let r = s.deliver(&fixture(name)).await;
        assert_eq!(r.status, 200, "{name}: {r:?}");
        let v = r.json();
        assert_eq!(v["result"], result, "{name}: {v}");
        assert!(
            v["reason"].as_str().unwrap_or_default().contains(reason),
            "{name}: {v}"
        );
    }
}

#[tokio::test]
async fn documented_v2_and_v4_bodies_verify_a_challenge() {
    let s = Server::start().await;
    for name in ["v2-received-imessage.json", "v4-envelope-received.json"] {
        let c = s.post_json("/2fa/start", "").await.json();
        let body = with_text(&fixture(name), c["code"].as_str().unwrap());
        // The documented headers, as Blooio sends them with a v2 event.
        let headers: &[(&str, &str)] = if name.starts_with("v2") {
            &[
                ("X-Blooio-Event", "message.received"),
                ("X-Blooio-Message-Id", "CZIsqG9ZWd9gwjIEhZpHY"),
            ]
        } else {
            &[]
        };
        let r = s.deliver_with(&body, headers).await;
        assert_eq!(r.json()["result"], "verified", "{name}: {r:?}");
        let st = s
            .get(&format!("/2fa/status/{}", c["id"].as_str().unwrap()))
            .await
            .json();
        assert_eq!(st["sender"], "+15551234567", "{name}: {st}");
    }
}

#[tokio::test]
async fn external_id_and_sender_must_agree() {
    let s = Server::start().await;
    let c = s.post_json("/2fa/start", "").await.json();
    let code = c["code"].as_str().unwrap();
    let both = format!(
        r#"{{"event":"message.received","message_id":"m1","external_id":"+15551234567","sender":"+15550000000","text":"{code}","protocol":"imessage"}}"#
    );
    s.deliver(&both).await.assert_error(400, "disagree");
    let same = common::replaced(&both, "+15550000000", "+15551234567");
    assert_eq!(s.deliver(&same).await.json()["result"], "verified");
}

#[tokio::test]
async fn the_message_id_header_must_agree_and_never_names_a_delivery() {
    let s = Server::start().await;
    let c = s.post_json("/2fa/start", "").await.json();
    let body = common::message_event(
        "m_1",
        "+15551234567",
        c["code"].as_str().unwrap(),
        "imessage",
    );
    s.deliver_with(&body, &[("X-Blooio-Message-Id", "m_2")])
        .await
        .assert_error(400, "X-Blooio-Message-Id");
    s.deliver_with(&body, &[("X-Blooio-Event", "message.sent")])
        .await
        .assert_error(400, "X-Blooio-Event");
    // A body without message_id is refused, with or without the header: the header is not
    // signed, so replaying one captured body under made-up ids would make new deliveries.
    let c2 = s.post_json("/2fa/start", "").await.json();
    let mut v: Value = serde_json::from_str(&common::message_event(
        "x",
        "+15551234567",
        c2["code"].as_str().unwrap(),
        "imessage",
    ))
    .unwrap();
    v.as_object_mut().unwrap().remove("message_id");
    let no_id = v.to_string();
    s.deliver(&no_id).await.assert_error(400, "message_id");
    for made_up in ["h_1", "h_2", "h_3"] {
        s.deliver_with(&no_id, &[("X-Blooio-Message-Id", made_up)])
            .await
            .assert_error(400, "X-Blooio-Message-Id header is not signed");
    }
    // Nothing was decided: the challenge is still pending.
    let id = c2["id"].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/2fa/status/{id}")).await.json()["status"],
        "pending"
    );
}

#[tokio::test]
async fn empty_delivery_ids_are_refused_like_missing_ones() {
    let s = Server::start().await;
    let c = s.post_json("/2fa/start", "").await.json();
    let code = c["code"].as_str().unwrap();
    // Were "" a dedupe key, this wrong-sender delivery's answer would be handed to the next.
    let wrong = common::message_event("", "+15550000000", code, "imessage");
    s.deliver(&wrong).await.assert_error(400, "message_id");
    s.deliver_with(
        &common::replaced(&wrong, r#""message_id":"","#, ""),
        &[("X-Blooio-Message-Id", "")],
    )
    .await
    .assert_error(400, "X-Blooio-Message-Id");
    let real = common::message_event("m_real", "+15551234567", code, "imessage");
    assert_eq!(s.deliver(&real).await.json()["result"], "verified");

    // Standard Webhooks: an empty webhook-id, signed or not, is refused.
    let std = Server::start_with(Config::default(), 100, Scheme::Standard).await;
    let body = common::message_event("m", "+15551234567", "ABC234", "imessage");
    let t = std.now_secs();
    let sig = std.secret.sign_standard("", t, body.as_bytes());
    let ts = t.to_string();
    std.post(
        "/webhook/blooio",
        "application/json",
        &[
            ("webhook-id", ""),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ],
        body.as_bytes(),
    )
    .await
    .assert_error(400, "webhook-id");
}

/// A replay names its original in unsigned headers: it gets the original's answer and changes
/// nothing, and the header can never make an already handled body count again.
#[tokio::test]
async fn replays_get_the_first_answer_and_change_nothing() {
    let cfg = Config {
        max_sender_failures: 2,
        ..Config::default()
    };
    let s = Server::start_with(cfg, 100, Scheme::Blooio).await;
    let c = s
        .post_json("/2fa/start", r#"{"expected_sender":"+15551234567"}"#)
        .await
        .json();
    let code = c["code"].as_str().unwrap();
    let envelope = |evt: &str, sender: &str| {
        format!(
            r#"{{"id":"{evt}","type":"message.received","created_at":1,"organization_id":"org_1","data":{{"message_id":"m_{evt}","external_id":"{sender}","text":"{code}","attachments":[{{"url":"x"}}],"protocol":"imessage"}}}}"#
        )
    };
    // One wrong-sender delivery: one failure of the two the challenge tolerates.
    let wrong = s.deliver(&envelope("evt_1", "+15550000000")).await.json();
    assert_eq!(wrong["result"], "sender_mismatch", "{wrong}");
    // Replayed as a new V4 event, and as the same body with a made-up original id: both are
    // answered from the record; neither counts a second failure.
    let replay = [
        ("X-Blooio-Replay", "true"),
        ("X-Original-Event-Id", "evt_1"),
    ];
    let r = s
        .deliver_with(&envelope("evt_2", "+15550000000"), &replay)
        .await
        .json();
    assert_eq!(
        (&r["result"], &r["duplicate"]),
        (&"sender_mismatch".into(), &true.into())
    );
    let forged = [
        ("X-Blooio-Replay", "true"),
        ("X-Original-Event-Id", "evt_unknown"),
    ];
    let r = s
        .deliver_with(&envelope("evt_1", "+15550000000"), &forged)
        .await
        .json();
    assert_eq!(r["duplicate"], true, "{r}");
    // Had either counted, the challenge would be locked now; it still verifies.
    let ok = s.deliver(&envelope("evt_3", "+15551234567")).await.json();
    assert_eq!(ok["result"], "verified", "{ok}");
    // A replay of the verifying delivery gets "verified" back, marked duplicate.
    let replay3 = [
        ("X-Blooio-Replay", "true"),
        ("X-Original-Event-Id", "evt_3"),
    ];
    let r = s
        .deliver_with(&envelope("evt_4", "+15551234567"), &replay3)
        .await
        .json();
    assert_eq!(
        (&r["result"], &r["duplicate"]),
        (&"verified".into(), &true.into())
    );
    // A replay whose original was never seen is handled under its own id.
    let c2 = s.post_json("/2fa/start", "").await.json();
    let fresh = common::replaced(
        &envelope("evt_5", "+15551234567"),
        code,
        c2["code"].as_str().unwrap(),
    );
    let never = [
        ("X-Blooio-Replay", "true"),
        ("X-Original-Event-Id", "evt_gone"),
    ];
    let r = s.deliver_with(&fresh, &never).await.json();
    assert_eq!(
        (&r["result"], &r["duplicate"]),
        (&"verified".into(), &false.into())
    );
}

#[tokio::test]
async fn a_delivery_without_protocol_verifies_only_when_unknown_is_accepted() {
    let body = |code: &str, protocol: &str| {
        let mut v: Value = serde_json::from_str(&common::message_event(
            "m",
            "+15551234567",
            code,
            "imessage",
        ))
        .unwrap();
        match protocol {
            "missing" => {
                v.as_object_mut().unwrap().remove("protocol");
            }
            _ => v["protocol"] = Value::Null,
        }
        v.to_string()
    };
    let strict = Server::start().await;
    let c = strict.post_json("/2fa/start", "").await.json();
    for how in ["missing", "null"] {
        let r = strict
            .deliver(&common::replaced(
                &body(c["code"].as_str().unwrap(), how),
                "\"m\"",
                &format!("\"m_{how}\""),
            ))
            .await
            .json();
        assert_eq!(r["result"], "ignored", "{how}: {r}");
    }
    let open = Server::start_with(
        Config {
            accepted_protocols: vec![Protocol::Imessage, Protocol::Unknown],
            ..Config::default()
        },
        100,
        Scheme::Blooio,
    )
    .await;
    let c = open.post_json("/2fa/start", "").await.json();
    let r = open
        .deliver(&body(c["code"].as_str().unwrap(), "missing"))
        .await
        .json();
    assert_eq!(r["result"], "verified", "{r}");
}
