//! Unit tests of `webhook`.

use super::*;

const NOW: i64 = 1_700_000_000;

#[test]
fn event_strings_borrow_from_the_body_unless_escaped() {
    let e = Event::parse(
        br#"{"event":"message.received","message_id":"m_1","sender":"+15550100001","text":"code \"AB2\"","protocol":null}"#,
    )
    .expect("event");
    assert!(matches!(e.kind, Cow::Borrowed("message.received")));
    assert!(matches!(e.message_id, Some(Cow::Borrowed("m_1"))));
    assert!(matches!(e.sender, Some(Cow::Borrowed("+15550100001"))));
    assert!(matches!(&e.text, Some(Cow::Owned(t)) if t == "code \"AB2\""));
    assert_eq!(e.protocol, None);
    assert_eq!(e.internal_id, None);
    let wrong = Event::parse(br#"{"event":"message.received","sender":5}"#).expect_err("number");
    assert!(wrong.to_string().contains("expected a string"), "{wrong}");
}
const BODY: &[u8] = br#"{"event":"message.received","message_id":"m_1","sender":"+15550100001","text":"ABC234","protocol":"imessage"}"#;

fn blooio(header: &str) -> SignatureHeaders<'_> {
    SignatureHeaders {
        blooio_signature: Some(header),
        ..Default::default()
    }
}

#[test]
fn blooio_known_vector() {
    // HMAC-SHA256("whsec_example_secret", "1700000000.<body>") computed independently
    // with Python's hmac module.
    let s = Secret::new(Scheme::Blooio, "whsec_example_secret").unwrap();
    let body = br#"{"event":"message.received","message_id":"m_123","text":"Hi there!","sender":"+15555550123"}"#;
    let header = "t=1700000000,v1=a031050aeb41a7ef072aefefdece109e8ca7db26d85348b8b64a911dac4e2987";
    assert_eq!(s.sign_blooio(NOW, body), header);
    assert_eq!(s.verify(&blooio(header), body, NOW, 300), Ok(()));
}

#[test]
fn blooio_round_trip_and_rejections() {
    let s = Secret::new(Scheme::Blooio, "topsecret").unwrap();
    let h = s.sign_blooio(NOW, BODY);
    assert_eq!(s.verify(&blooio(&h), BODY, NOW + 300, 300), Ok(()));
    assert_eq!(s.verify(&blooio(&h), BODY, NOW - 300, 300), Ok(()));
    assert_eq!(
        s.verify(&blooio(&h), BODY, NOW + 301, 300),
        Err(SignatureError::Stale(300))
    );
    let mut tampered = BODY.to_vec();
    tampered[60] ^= 1;
    assert_eq!(
        s.verify(&blooio(&h), &tampered, NOW, 300),
        Err(SignatureError::Mismatch)
    );
    let other = Secret::new(Scheme::Blooio, "othersecret").unwrap();
    assert_eq!(
        other.verify(&blooio(&h), BODY, NOW, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        s.verify(&SignatureHeaders::default(), BODY, NOW, 300),
        Err(SignatureError::Missing("X-Blooio-Signature"))
    );
    for bad in [
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=00",
        "t=1700000000",
        "t=1,t=2,v1=00",
    ] {
        assert!(
            matches!(
                s.verify(&blooio(bad), BODY, NOW, 300),
                Err(SignatureError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn blooio_any_of_many_v1_passes_wherever_it_stands() {
    // More v1 entries than fit without an allocation: the good one is found in any place.
    let s = Secret::new(Scheme::Blooio, "k").unwrap();
    let good = s.sign_blooio(NOW, BODY);
    let good_v1 = good.split_once(",v1=").unwrap().1;
    let bad = "0".repeat(64);
    for at in 0..7 {
        let mut v1s: Vec<&str> = vec![&bad; 6];
        v1s.insert(at, good_v1);
        let header = format!(
            "t={NOW},{}",
            v1s.iter()
                .map(|v| format!("v1={v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            s.verify(&blooio(&header), BODY, NOW, 300),
            Ok(()),
            "good one at {at}"
        );
    }
    let none_good = format!("t={NOW},{}", vec![format!("v1={bad}"); 7].join(","));
    assert_eq!(
        s.verify(&blooio(&none_good), BODY, NOW, 300),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn blooio_any_of_several_v1_passes() {
    let s = Secret::new(Scheme::Blooio, "new").unwrap();
    let good = s.sign_blooio(NOW, BODY);
    let v1 = good.split("v1=").nth(1).unwrap();
    let header = format!("t={NOW}, v1={}, v1={v1}", "0".repeat(64));
    assert_eq!(s.verify(&blooio(&header), BODY, NOW, 300), Ok(()));
    let header = format!("t={NOW},v1=nothex,v1={v1}");
    assert_eq!(s.verify(&blooio(&header), BODY, NOW, 300), Ok(()));
}

#[test]
fn standard_scheme_round_trip_and_rejections() {
    let s = Secret::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let sig = s.sign_standard("msg_1", NOW, BODY);
    let ts = NOW.to_string();
    let h = SignatureHeaders {
        webhook_id: Some("msg_1"),
        webhook_timestamp: Some(&ts),
        webhook_signature: Some(&sig),
        ..Default::default()
    };
    assert_eq!(s.verify(&h, BODY, NOW, 300), Ok(()));
    let multi = format!("v1,AAAA {sig}");
    let h2 = SignatureHeaders {
        webhook_signature: Some(&multi),
        ..h
    };
    assert_eq!(s.verify(&h2, BODY, NOW, 300), Ok(()));
    let h3 = SignatureHeaders {
        webhook_id: Some("msg_2"),
        ..h
    };
    assert_eq!(s.verify(&h3, BODY, NOW, 300), Err(SignatureError::Mismatch));
    assert_eq!(
        s.verify(&h, BODY, NOW + 1000, 300),
        Err(SignatureError::Stale(300))
    );
    assert!(Secret::new(Scheme::Standard, "whsec_!!!").is_err());
}

#[test]
fn standard_scheme_known_vector() {
    // The example from the Standard Webhooks specification.
    let s = Secret::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(
        s.sign_standard("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[test]
fn event_parsing() {
    let e = Event::parse(BODY).unwrap();
    assert!(e.is_message_received());
    let m = e.message().unwrap();
    assert_eq!(
        (m.sender, m.text, m.protocol),
        ("+15550100001", "ABC234", Some("imessage"))
    );
    let e = Event::parse(br#"{"event":"message.received","text":"x"}"#).unwrap();
    assert_eq!(e.message().unwrap_err(), EventError::NoSender);
    assert!(matches!(Event::parse(b"{"), Err(EventError::Json(_))));
    assert_eq!(
        Event::parse(br#"{"text":"x"}"#).unwrap_err(),
        EventError::NoKind
    );
    let positional = br#"["message.received","m1","+15550100001","ABC234","imessage",null]"#;
    assert!(matches!(Event::parse(positional), Err(EventError::Json(_))));
    let e = Event::parse(br#"{"event":"message.sent","extra":[1,2]}"#).unwrap();
    assert!(!e.is_message_received());
}

const DOC_V2: &[u8] = br#"{"event":"message.received","message_id":"CZIsqG9ZWd9gwjIEhZpHY","external_id":"+15551234567","text":"Hello","attachments":["https://cdn.example.com/a.pdf",{"odd":true},null],"protocol":"imessage","timestamp":1703123457474,"device_id":"A1B2C3D4","received_at":1703123456789}"#;
const DOC_V4: &[u8] = br#"{"id":"evt_1","type":"message.received","created_at":1718000000000,"organization_id":"org_1","data":{"message_id":"m_9","external_id":"kate@example.com","text":"ABC234","attachments":[],"protocol":"rcs"}}"#;

#[test]
fn every_documented_shape_reads_as_one_message() {
    let v2 = Event::parse(DOC_V2).unwrap();
    assert_eq!((v2.format, v2.event_id.as_deref()), (Format::Flat, None));
    let m = v2.message().unwrap();
    assert_eq!(
        (m.sender, m.text, m.protocol),
        ("+15551234567", "Hello", Some("imessage"))
    );
    let v4 = Event::parse(DOC_V4).unwrap();
    assert!(v4.is_message_received());
    assert_eq!(
        (v4.format, v4.event_id.as_deref()),
        (Format::Envelope, Some("evt_1"))
    );
    let m = v4.message().unwrap();
    assert_eq!(
        (m.sender, m.text, m.protocol),
        ("kate@example.com", "ABC234", Some("rcs"))
    );
    // An envelope without data, or a body with neither event nor type, is refused.
    for bad in [
        &br#"{"id":"evt_1","type":"message.received"}"#[..],
        br#"{"data":{}}"#,
    ] {
        assert_eq!(Event::parse(bad).unwrap_err(), EventError::NoKind);
    }
    let v4_other = Event::parse(br#"{"id":"e","type":"message.read","data":{}}"#).unwrap();
    assert!(!v4_other.is_message_received());
}

#[test]
fn sender_comes_from_external_id_or_sender_and_both_must_agree() {
    fn e(body: &str) -> Event<'_> {
        Event::parse(body.as_bytes()).unwrap()
    }
    let both =
        e(r#"{"event":"message.received","external_id":"+1555","sender":"+1555","text":"x"}"#);
    assert_eq!(both.sender(), Ok("+1555"));
    let legacy = e(r#"{"event":"message.received","sender":"+1666","text":"x"}"#);
    assert_eq!(legacy.sender(), Ok("+1666"));
    let differ =
        e(r#"{"event":"message.received","external_id":"+1555","sender":"+1666","text":"x"}"#);
    assert!(matches!(differ.sender(), Err(EventError::Disagree(m)) if m.contains("external_id")));
}

#[test]
fn delivery_ids_follow_the_shape_and_the_headers_must_agree() {
    let v2 = Event::parse(DOC_V2).unwrap();
    let mid = "CZIsqG9ZWd9gwjIEhZpHY";
    let none = DeliveryHeaders::default();
    assert_eq!(
        v2.delivery(Scheme::Blooio, &none),
        Ok(Delivery {
            id: mid,
            replay_of: None
        })
    );
    let agreeing = DeliveryHeaders {
        event: Some("message.received"),
        message_id: Some(mid),
        ..none
    };
    assert_eq!(v2.delivery(Scheme::Blooio, &agreeing).unwrap().id, mid);
    for bad in [
        DeliveryHeaders {
            message_id: Some("other"),
            ..none
        },
        DeliveryHeaders {
            event: Some("message.sent"),
            ..none
        },
    ] {
        assert!(
            matches!(
                v2.delivery(Scheme::Blooio, &bad),
                Err(EventError::Disagree(_))
            ),
            "{bad:?}"
        );
    }
    // The unsigned header never names the message when the body does not (a captured body
    // replayed under made-up ids would be a new delivery each time); empty ids are refused.
    let no_mid =
        Event::parse(br#"{"event":"message.received","external_id":"+1","text":"x"}"#).unwrap();
    assert_eq!(
        no_mid.delivery(Scheme::Blooio, &none),
        Err(EventError::Missing("message_id"))
    );
    let by_header = DeliveryHeaders {
        message_id: Some("h_1"),
        ..none
    };
    assert_eq!(
        no_mid.delivery(Scheme::Blooio, &by_header),
        Err(EventError::UnsignedId)
    );
    let empty_header = DeliveryHeaders {
        message_id: Some(""),
        ..none
    };
    assert_eq!(
        no_mid.delivery(Scheme::Blooio, &empty_header),
        Err(EventError::Empty("X-Blooio-Message-Id"))
    );
    let empty = Event::parse(
        br#"{"event":"message.received","message_id":"","external_id":"+1","text":"x"}"#,
    )
    .unwrap();
    assert_eq!(
        empty.delivery(Scheme::Blooio, &none),
        Err(EventError::Empty("message_id"))
    );
    // Standard Webhooks: the signed webhook-id, never empty.
    let std_id = DeliveryHeaders {
        webhook_id: Some("msg_7"),
        ..none
    };
    assert_eq!(v2.delivery(Scheme::Standard, &std_id).unwrap().id, "msg_7");
    let std_empty = DeliveryHeaders {
        webhook_id: Some(""),
        ..none
    };
    assert_eq!(
        v2.delivery(Scheme::Standard, &std_empty),
        Err(EventError::Empty("webhook-id"))
    );
    assert_eq!(
        v2.delivery(Scheme::Standard, &none),
        Err(EventError::Missing("webhook-id"))
    );
    // V4: the event id; a replay names its original, which is only looked up.
    let v4 = Event::parse(DOC_V4).unwrap();
    assert_eq!(v4.delivery(Scheme::Blooio, &none).unwrap().id, "evt_1");
    let replay = DeliveryHeaders {
        replay: true,
        original_event_id: Some("evt_0"),
        ..none
    };
    assert_eq!(
        v4.delivery(Scheme::Blooio, &replay),
        Ok(Delivery {
            id: "evt_1",
            replay_of: Some("evt_0")
        })
    );
    let not_replay = DeliveryHeaders {
        replay: false,
        ..replay
    };
    assert_eq!(
        v4.delivery(Scheme::Blooio, &not_replay).unwrap().replay_of,
        None
    );
}

#[test]
fn emitted_shapes_parse_back_to_the_same_message_and_id() {
    let secret = Secret::new(Scheme::Blooio, "k").unwrap();
    let m = Inbound {
        message_id: "m_1",
        sender: "+15550100001",
        text: "code \"ABC234\"",
        protocol: "imessage",
        received_at_ms: NOW as u64 * 1000,
    };
    for shape in [PayloadShape::V2, PayloadShape::Legacy, PayloadShape::V4] {
        let (body, headers) = shape.signed(&secret, &m, NOW);
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        let sig = SignatureHeaders {
            blooio_signature: find("X-Blooio-Signature"),
            ..Default::default()
        };
        assert_eq!(secret.verify(&sig, &body, NOW, 300), Ok(()), "{shape:?}");
        let e = Event::parse(&body).unwrap();
        let got = e.message().unwrap();
        assert_eq!(
            (got.sender, got.text, got.protocol),
            (m.sender, m.text, Some(m.protocol))
        );
        let h = DeliveryHeaders {
            event: find("X-Blooio-Event"),
            message_id: find("X-Blooio-Message-Id"),
            ..Default::default()
        };
        assert_eq!(
            e.delivery(Scheme::Blooio, &h).unwrap().id,
            shape.delivery_id(&m),
            "{shape:?}"
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Every ASCII byte, and a non-ASCII character, in every position of a MAC: read as a digit
    /// exactly when the `hex` crate reads it as one.
    #[test]
    fn mac_hex_table_agrees_with_the_hex_crate_on_every_byte() {
        let base = "0123456789abcdefABCDEF0123456789abcdef0123456789ABCDEF0123456789";
        for pos in 0..64 {
            for b in (0u8..128).map(char::from).chain(['é']) {
                let mut text = base.to_string();
                text.replace_range(pos..pos + 1, &b.to_string());
                let mut want = [0u8; 32];
                let hex_crate = hex::decode_to_slice(&text, &mut want).ok().map(|()| want);
                assert_eq!(decode_mac(&text), hex_crate, "{text:?}");
            }
        }
    }

    /// The word-wise comparison says "equal" exactly when every byte is: each single bit of
    /// either MAC flipped, in every position, reads as different.
    #[test]
    fn mac_eq_is_byte_equality() {
        let a: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
        assert!(bool::from(mac_eq(&a, &a)));
        assert!(bool::from(mac_eq(&[0; 32], &[0; 32])));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[byte] ^= 1 << bit;
                assert!(!bool::from(mac_eq(&a, &b)), "{byte}.{bit}");
                assert!(!bool::from(mac_eq(&b, &a)), "{byte}.{bit}");
            }
        }
    }

    /// The signature header's trim is `str::trim` on every ASCII byte and some Unicode
    /// whitespace, at either end, around pieces of any length.
    #[test]
    fn trim_is_str_trim() {
        let ends: Vec<String> = (0u8..128)
            .map(|b| char::from(b).to_string())
            .chain(["\u{a0}", "\u{85}", "\u{2003}", "\u{3000}", "é", "  ", ""].map(String::from))
            .collect();
        for a in &ends {
            for b in &ends {
                for mid in ["", "x", "t=1", " v1 ", "\u{a0}"] {
                    let s = format!("{a}{mid}{b}");
                    assert_eq!(trim(&s), s.trim(), "{s:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn trim_agrees_with_str_trim(s in "\\PC{0,8}|[ \t\n\x0b\x0c\r\u{a0}a=,]{0,8}") {
            prop_assert_eq!(trim(&s), s.trim());
        }

        #[test]
        fn mac_eq_agrees_with_eq(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            prop_assert_eq!(bool::from(mac_eq(&a, &b)), a == b);
            prop_assert!(bool::from(mac_eq(&a, &a)));
        }

        #[test]
        fn parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(e) = Event::parse(&body) {
                let _ = e.message();
            }
        }

        #[test]
        fn verification_never_panics_and_rejects_garbage(header in ".{0,200}", body in ".{0,100}") {
            let s = Secret::new(Scheme::Blooio, "k").unwrap();
            prop_assert!(s.verify(&blooio(&header), body.as_bytes(), NOW, 300).is_err());
            let std = Secret::new(Scheme::Standard, "k").unwrap();
            let h = SignatureHeaders {
                webhook_id: Some(&header),
                webhook_timestamp: Some(&header),
                webhook_signature: Some(&header),
                ..Default::default()
            };
            prop_assert!(std.verify(&h, body.as_bytes(), NOW, 300).is_err());
        }

        /// The MAC's hex is read as the `hex` crate reads it: any case, exactly 64 digits.
        #[test]
        fn mac_hex_reads_as_the_hex_crate_reads_it(text in "[0-9a-fA-FgG ]{62,66}", mac in any::<[u8; 32]>()) {
            let mut want = [0u8; 32];
            let hex_crate = hex::decode_to_slice(&text, &mut want).ok().map(|()| want);
            prop_assert_eq!(decode_mac(&text), hex_crate);
            let upper = hex::encode_upper(mac);
            prop_assert_eq!(decode_mac(&upper), Some(mac));
            prop_assert_eq!(decode_mac(&hex::encode(mac)), Some(mac));
        }

        /// Any single-bit change to a signed body is caught.
        #[test]
        fn any_bit_flip_is_rejected(body in proptest::collection::vec(any::<u8>(), 1..200), bit in any::<usize>()) {
            let s = Secret::new(Scheme::Blooio, "k").unwrap();
            let header = s.sign_blooio(NOW, &body);
            prop_assert_eq!(s.verify(&blooio(&header), &body, NOW, 300), Ok(()));
            let mut flipped = body.clone();
            let at = bit % (body.len() * 8);
            flipped[at / 8] ^= 1 << (at % 8);
            prop_assert_eq!(s.verify(&blooio(&header), &flipped, NOW, 300), Err(SignatureError::Mismatch));
        }
    }
}

#[test]
fn several_secrets_rotate_without_dropping_a_delivery() {
    let body = BODY;
    let (old, new) = ("whsec_old_secret", "whsec_new_secret");
    let old_only = Secret::new(Scheme::Blooio, old).unwrap();
    let new_only = Secret::new(Scheme::Blooio, new).unwrap();
    let both = Secret::new(Scheme::Blooio, &format!("{new}, {old}")).unwrap();
    for signer in [&old_only, &new_only] {
        let header = signer.sign_blooio(NOW, body);
        assert_eq!(both.verify(&blooio(&header), body, NOW, 300), Ok(()));
    }
    // The first signs; the old one alone no longer accepts what the list signs.
    let signed = both.sign_blooio(NOW, body);
    assert_eq!(signed, new_only.sign_blooio(NOW, body));
    assert_eq!(
        old_only.verify(&blooio(&signed), body, NOW, 300),
        Err(SignatureError::Mismatch)
    );
    let other = Secret::new(Scheme::Blooio, "whsec_someone_else").unwrap();
    assert_eq!(
        both.verify(&blooio(&other.sign_blooio(NOW, body)), body, NOW, 300),
        Err(SignatureError::Mismatch)
    );
    // Standard Webhooks: each entry decoded as its own whsec_ key.
    let (a, b) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_c2Vjb25kLXNlY3JldC1mb3ItdGVzdHM=",
    );
    let list = Secret::new(Scheme::Standard, &format!("{a},{b}")).unwrap();
    let by_b = Secret::new(Scheme::Standard, b).unwrap();
    let headers = SignatureHeaders {
        webhook_id: Some("msg_1"),
        webhook_timestamp: Some("1700000000"),
        webhook_signature: Some(&by_b.sign_standard("msg_1", NOW, body)),
        ..Default::default()
    };
    assert_eq!(list.verify(&headers, body, NOW, 300), Ok(()));
    assert_eq!(
        Secret::new(Scheme::Blooio, "a,,b").unwrap_err(),
        SecretError::EmptyEntry
    );
    assert_eq!(
        Secret::new(Scheme::Blooio, "a,").unwrap_err(),
        SecretError::EmptyEntry
    );
}
