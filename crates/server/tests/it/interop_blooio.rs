//! Interop with code written elsewhere: the independent `blooio` Rust client's webhook
//! verification. Signatures must mean the same thing on both sides.

use crate::common;

use blooio::webhook::{VerifyError, WebhookEvent, verify_at};
use common::{SECRET, Server, shaped_event};
use mo2fa_core::webhook::{PayloadShape, Scheme, Secret};

/// The `blooio` crate reads the sender from `sender` (the older shape), not from the
/// documented `external_id`: it is an interop check of signatures and of that older shape
/// only. docs/provider.md has the documented shapes; tests/provider_docs.rs checks them.
/// The crate's examples also carry `internal_id` (the business's own number).
fn message_event(message_id: &str, sender: &str, text: &str, protocol: &str) -> String {
    let body = shaped_event(PayloadShape::Legacy, message_id, sender, text, protocol);
    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["internal_id"] = "+15550009999".into();
    v.to_string()
}

const NOW: i64 = 1_700_000_000;

fn body() -> String {
    message_event("m_interop", "+15550100001", "ABC234", "imessage")
}

#[test]
fn our_signatures_pass_blooio_verify() {
    let ours = Secret::new(Scheme::Blooio, SECRET).unwrap();
    let b = body();
    let header = ours.sign_blooio(NOW, b.as_bytes());
    assert_eq!(
        verify_at(SECRET.as_bytes(), &header, b.as_bytes(), 300, NOW),
        Ok(())
    );
    // And their parser reads our event format.
    let event = WebhookEvent::parse(b.as_bytes()).unwrap();
    assert_eq!(event.payload.event.as_deref(), Some("message.received"));
    assert_eq!(event.payload.message_id.as_deref(), Some("m_interop"));
    // Their projection of an inbound SMS reads our fields the way our parser does.
    let sms = message_event("m_sms", "+15550100001", "ABC234", "sms");
    let received = WebhookEvent::parse(sms.as_bytes())
        .unwrap()
        .try_into_received_sms()
        .unwrap();
    assert_eq!(
        (received.sender.as_str(), received.text.as_str()),
        ("+15550100001", "ABC234")
    );
}

#[test]
fn both_sides_reject_tampered_stale_and_wrong_secret() {
    let ours = Secret::new(Scheme::Blooio, SECRET).unwrap();
    let b = body();
    let header = ours.sign_blooio(NOW, b.as_bytes());
    let tampered = common::replaced(&b, "ABC234", "ABC235");
    assert_eq!(
        verify_at(SECRET.as_bytes(), &header, tampered.as_bytes(), 300, NOW),
        Err(VerifyError::Mismatch)
    );
    let h = mo2fa_core::webhook::SignatureHeaders {
        blooio_signature: Some(&header),
        ..Default::default()
    };
    assert!(ours.verify(&h, tampered.as_bytes(), NOW, 300).is_err());
    // Stale: 301 s later, both refuse.
    assert!(matches!(
        verify_at(SECRET.as_bytes(), &header, b.as_bytes(), 300, NOW + 301),
        Err(VerifyError::TimestampOutOfTolerance { .. })
    ));
    assert!(ours.verify(&h, b.as_bytes(), NOW + 301, 300).is_err());
    // Wrong secret: both refuse.
    assert_eq!(
        verify_at(b"another-secret", &header, b.as_bytes(), 300, NOW),
        Err(VerifyError::Mismatch)
    );
    let other = Secret::new(Scheme::Blooio, "another-secret").unwrap();
    assert!(other.verify(&h, b.as_bytes(), NOW, 300).is_err());
}

#[tokio::test]
async fn deliveries_blooio_accepts_are_accepted_by_the_server() {
    let s = Server::start().await;
    let c = s.post_json("/2fa/start", "").await.json();
    let b = message_event(
        "m_interop2",
        "+15550100001",
        c["code"].as_str().unwrap(),
        "imessage",
    );
    // A header in the scheme's documented form, checked by blooio's own verifier first.
    let t = s.now_secs();
    let header = Secret::new(Scheme::Blooio, SECRET)
        .unwrap()
        .sign_blooio(t, b.as_bytes());
    verify_at(SECRET.as_bytes(), &header, b.as_bytes(), 300, t).expect("blooio accepts it");
    let r = s
        .post(
            "/webhook/blooio",
            "application/json",
            &[("x-blooio-signature", &header)],
            b.as_bytes(),
        )
        .await;
    assert_eq!(r.json()["result"], "verified", "{r:?}");
    // What blooio refuses, the server refuses too.
    let stale = Secret::new(Scheme::Blooio, SECRET)
        .unwrap()
        .sign_blooio(t - 400, b.as_bytes());
    assert!(verify_at(SECRET.as_bytes(), &stale, b.as_bytes(), 300, t).is_err());
    s.post(
        "/webhook/blooio",
        "application/json",
        &[("Blooio-Signature", &stale)],
        b.as_bytes(),
    )
    .await
    .assert_error(401, "tolerance");
}
