use super::*;

#[test]
fn the_builtins_parse_and_say_what_they_cannot_see() {
    for (name, _) in BUILTINS {
        let p = Profile::builtin(name).unwrap_or_else(|| panic!("{name} parses"));
        assert_eq!(p.name, name);
    }
    let mo2fa = Profile::builtin("mo2fa").unwrap();
    assert!(mo2fa.binds_sender() && mo2fa.observes_verification());
    assert_eq!(mo2fa.short_ttl(), Some(10));
    assert!(
        mo2fa.unobservable().is_empty(),
        "{:?}",
        mo2fa.unobservable()
    );
    assert_eq!(
        mo2fa.start_body("+1555\"x", 7).unwrap(),
        r#"{"expected_sender":"+1555\"x","ttl_seconds":7}"#
    );
    let demo = Profile::builtin("blooio-demo").unwrap();
    assert!(!demo.binds_sender() && !demo.observes_verification());
    let blind = demo.unobservable().join("\n");
    for needle in ["whether a delivery verified", "sender binding", "expiry"] {
        assert!(blind.contains(needle), "{needle} in {blind}");
    }
    assert!(Profile::builtin("nope").is_none());
    let e = Profile::resolve("no-such-profile-or-file").unwrap_err();
    assert!(e.to_string().contains("mo2fa, blooio-demo"), "{e}");
}

const MIN: &str = "name = \"x\"\n[start]\npath = \"/s\"\ncode = \"/code\"\n[webhook]\npath = \"/w\"\nsignature = \"none\"\n";

fn err(text: &str) -> String {
    Profile::parse("p.toml", text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_file_and_the_key() {
    let p = Profile::parse("p.toml", MIN).unwrap();
    assert_eq!(
        (p.start.method.as_str(), p.webhook.shape),
        ("POST", PayloadShape::V2)
    );
    let cases = [
        (MIN.replace("/code", "code"), "p.toml: start.code"),
        (MIN.replace("path = \"/s\"", "path = \"s\""), "start.path"),
        (MIN.replace("\"none\"", "\"hmac\""), "p.toml:7"),
        (format!("{MIN}extra = 1\n"), "p.toml:"),
        (
            MIN.replace(
                "[webhook]",
                "[status]\npath = \"/st/{id}\"\npointer = \"/s\"\nverified = \"v\"\n[webhook]",
            ),
            "start.id must say",
        ),
        (
            MIN.replace(
                "[webhook]",
                "[status]\npath = \"/st\"\npointer = \"/s\"\nverified = \"v\"\n[webhook]",
            ),
            "exactly one of {id} or {code}",
        ),
        (
            format!("{MIN}answer_pointer = \"/r\"\n"),
            "webhook.answer_verified",
        ),
        (
            MIN.replace(
                "code = \"/code\"",
                "code = \"/code\"\nshort_ttl_seconds = 5",
            ),
            "needs {ttl_seconds}",
        ),
        (
            MIN.replace(
                "code = \"/code\"",
                "code = \"/code\"\nbody = '{\"a\": {sender}}'",
            ),
            "start.body: is not JSON",
        ),
        (
            MIN.replace("method", "x")
                .replace("[start]", "[start]\nmethod = \"DELETE\""),
            "start.method",
        ),
    ];
    for (text, needle) in cases {
        let e = err(&text);
        assert!(e.contains(needle), "{e:?} should contain {needle:?}");
    }
}

#[test]
fn status_by_code_and_answer_pointers() {
    let text = MIN.replace(
        "[webhook]",
        "[status]\npath = \"/st/{code}\"\npointer = \"/ok\"\nverified = \"true\"\n[webhook]",
    ) + "answer_pointer = \"/r\"\nanswer_verified = \"yes\"\n";
    let p = Profile::parse("p.toml", &text).unwrap();
    assert_eq!(p.status.as_ref().unwrap().key, StatusKey::Code);
    assert_eq!(p.webhook.answer, Some(("/r".into(), "yes".into())));
    let v = serde_json::json!({"ok": true, "n": null, "s": "x"});
    assert_eq!(value_at(&v, "/ok").as_deref(), Some("true"));
    assert_eq!(value_at(&v, "/s").as_deref(), Some("x"));
    assert_eq!(value_at(&v, "/n"), None);
}

#[test]
fn answers_are_read_through_the_profile_and_unseen_when_it_cannot_tell() {
    let mo2fa = Profile::builtin("mo2fa").unwrap();
    let json: serde_json::Value = serde_json::from_str(r#"{"id":"ch_1","code":"K7M2QX"}"#).unwrap();
    let issued = mo2fa.read_start(&json).unwrap();
    assert_eq!(issued.id.as_deref(), Some("ch_1"));
    assert_eq!(
        mo2fa.status_path(&issued),
        Some(Ok("/2fa/status/ch_1".into()))
    );
    let no_id = Issued {
        id: None,
        ..issued.clone()
    };
    assert!(mo2fa.status_path(&no_id).unwrap().is_err());
    let status: serde_json::Value =
        serde_json::from_str(r#"{"status":"verified","sender":"+15550100001"}"#).unwrap();
    assert_eq!(
        mo2fa.read_status(&status),
        (Seen::Verified, Some("+15550100001".into()))
    );
    let first = br#"{"result":"verified","id":"ch_1","duplicate":false}"#;
    let again = br#"{"result":"verified","id":"ch_1","duplicate":true}"#;
    assert_eq!(mo2fa.read_webhook_answer(200, first), Seen::Verified);
    assert_eq!(
        mo2fa.read_webhook_answer(200, br#"{"result":"no_match"}"#),
        Seen::Not("/result = \"no_match\"".into())
    );
    assert_eq!(
        mo2fa.read_webhook_answer(401, first),
        Seen::Not("answered 401".into())
    );
    assert_eq!(mo2fa.read_duplicate(first), Some(false));
    assert_eq!(mo2fa.read_duplicate(again), Some(true));
    assert_eq!(mo2fa.webhook_outcome(again).as_deref(), Some("verified"));
    assert_eq!(mo2fa.health.as_deref(), Some("/healthz"));
    // The demo's {"ok": true} says nothing, and it has no status route or id.
    let demo = Profile::builtin("blooio-demo").unwrap();
    let json: serde_json::Value = serde_json::from_str(r#"{"code":"9A6N3F"}"#).unwrap();
    let issued = demo.read_start(&json).unwrap();
    assert_eq!(demo.status_path(&issued), None);
    assert_eq!(
        demo.read_webhook_answer(200, br#"{"ok":true}"#),
        Seen::Unseen
    );
    assert_eq!(demo.read_duplicate(br#"{"ok":true}"#), None);
    assert_eq!(demo.health, None);
    let e = demo
        .read_start(&serde_json::json!({"link": "x"}))
        .unwrap_err();
    assert!(e.contains("start.code"), "{e}");
    assert!(err(&format!("{MIN}[health]\npath = \"healthz\"\n")).contains("health.path"));
}
