//! `/sms/start`'s destination country on the real `mo2fa serve`: it is always the number's own
//! (its calling code's), so a `country` in the request changes neither the defences' per-country
//! rules nor the bill (issue 22.2); a trunk 0 written after the calling code is the same number
//! (22.4); and a defences file with a country typo is refused at start (23.1).

use crate::common;

use common::{Reply, Serve};

const SECRET: &str = "whsec_sms_country_test";
const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");

fn sms_start(addr: &str, body: &str) -> Reply {
    common::post(addr, "/sms/start", &[], body)
}

fn defences_file(name: &str, text: &str) -> std::path::PathBuf {
    common::temp_file("sms-country", name, text)
}

fn serve_with(name: &str, defences: &str) -> Serve {
    let path = defences_file(name, defences);
    Serve::start(SECRET, &["--sms-defences", path.to_str().expect("utf-8")])
}

fn newest_price(iso: &str) -> f64 {
    mo2fa_cost::prices::PriceTable::builtin()
        .and_then(|t| t.snapshot(None))
        .expect("built-in price table")
        .quote(iso)
        .usd_per_segment
}

#[test]
fn a_nigerian_number_named_us_is_nigerian_to_the_defences_and_the_bill() {
    let s = serve_with("geo.toml", "geo_allow = [\"US\"]\n");
    let r = sms_start(&s.addr, r#"{"phone":"+2348031234567","country":"US"}"#);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("geo_allow") && e.contains("NG")),
        "{r:?}"
    );
    let r = sms_start(&s.addr, r#"{"phone":"+14155550100","country":"US"}"#);
    assert_eq!(r.status, 202, "a US number still passes: {r:?}");
    assert!(r.json().get("country_ignored").is_none(), "{r:?}");

    // Without defences the send goes, billed where the number is, and the claim is reported.
    let plain = Serve::start(SECRET, &[]);
    let r = sms_start(&plain.addr, r#"{"phone":"+2348031234567","country":"US"}"#);
    assert_eq!(r.status, 202, "{r:?}");
    let v = r.json();
    assert_eq!(v["country"], "NG", "{v}");
    assert_eq!(v["country_ignored"], "US", "{v}");
    assert_eq!(v["usd"].as_f64(), Some(newest_price("NG")));
    assert_ne!(
        newest_price("NG"),
        newest_price("US"),
        "the test tells them apart"
    );
    // A malformed or unassigned `country` is still a mistake worth a 422.
    let r = sms_start(&plain.addr, r#"{"phone":"+447700900123","country":"UK"}"#);
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("country:") && e.contains("did you mean GB?")),
        "{r:?}"
    );
}

#[test]
fn naming_a_new_country_each_time_does_not_get_past_a_per_country_cap() {
    let s = serve_with(
        "cap.toml",
        "[[limit]]\non = \"country\"\nmax = 3\nwindow = \"1h\"\n",
    );
    let claims = ["US", "GB", "FR", "DE", "JP", "BR", "IN", "MX"];
    let mut sent = 0;
    for (i, claim) in claims.iter().enumerate() {
        let body = format!(r#"{{"phone":"+23480312345{i:02}","country":"{claim}"}}"#);
        let r = sms_start(&s.addr, &body);
        match r.status {
            202 => sent += 1,
            429 => assert!(
                r.json()["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("limit_country")),
                "{r:?}"
            ),
            other => panic!("unexpected {other}: {r:?}"),
        }
    }
    assert_eq!(sent, 3, "every send is to NG, whatever the request names");
}

#[test]
fn a_trunk_zero_after_the_calling_code_gets_no_allowance_of_its_own() {
    let s = serve_with("per_number.toml", "per_number = 1\n");
    let r = sms_start(&s.addr, r#"{"phone":"+447700900123"}"#);
    assert_eq!(r.status, 202, "{r:?}");
    for spelled in [
        "+44 0 7700 900123",
        "+44 00 7700 900123",
        "+44 (0)7700 900123",
    ] {
        let r = sms_start(&s.addr, &format!(r#"{{"phone":"{spelled}"}}"#));
        assert_eq!(r.status, 429, "{spelled}: {r:?}");
        assert!(
            r.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("per_number")),
            "{r:?}"
        );
    }
}

/// The same for trunk prefixes other than 0 (NANP's 1, Russia's 8, Hungary's 06): found by
/// probing issue 22.4's siblings; before the fix each spelling was a 202.
#[test]
fn other_trunk_prefixes_get_no_allowance_of_their_own() {
    let s = serve_with("per_number_trunk.toml", "per_number = 1\n");
    for (plain, spelled) in [
        ("+14155550100", "+1 1 415 555 0100"),
        ("+79123456789", "+7 8 912 345 6789"),
        ("+3612345678", "+36 06 1 234 5678"),
    ] {
        let r = sms_start(&s.addr, &format!(r#"{{"phone":"{plain}"}}"#));
        assert_eq!(r.status, 202, "{plain}: {r:?}");
        let r = sms_start(&s.addr, &format!(r#"{{"phone":"{spelled}"}}"#));
        assert_eq!(r.status, 429, "{spelled}: {r:?}");
    }
}

#[test]
fn a_defences_file_with_a_country_typo_is_refused_at_start() {
    let path = defences_file("uk.toml", "per_number = 3\ngeo_allow = [\"US\", \"UK\"]\n");
    let err = common::refused(
        std::process::Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--sms-defences"])
            .arg(&path)
            .env("MO2FA_WEBHOOK_SECRET", SECRET),
    );
    let shown = path.display().to_string();
    assert!(
        err.contains(&format!("{shown}:2:"))
            && err.contains("geo_allow")
            && err.contains("did you mean GB?"),
        "{err}"
    );
}

/// Issue 22.7: pending SMS codes are bounded like challenges: past the bound a start is
/// answered 503 with Retry-After (until the oldest code expires), and nothing is billed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_start_past_the_pending_bound_is_503_with_retry_after() {
    use mo2fa_core::clock::ManualClock;
    use mo2fa_core::sms_otp::{SmsOtp, SmsOtpConfig};
    use mo2fa_core::store::MemoryStoreConfig;
    use mo2fa_core::verifier::{Config, Verifier};
    use mo2fa_core::webhook::{Scheme, Secret};
    use mo2fa_server::http::{App, HttpConfig};
    use mo2fa_server::sms_gateway::SmsGateway;
    use std::sync::Arc;

    let secret = Secret::new(Scheme::Blooio, SECRET).expect("secret");
    let verifier = Verifier::in_memory(
        Config::default(),
        MemoryStoreConfig {
            shards: 8,
            max_pending: 100,
            retention_ms: 60_000,
        },
    )
    .expect("verifier");
    let clock = Arc::new(ManualClock::new(common::T0));
    let mut app = App::new(
        verifier,
        clock.clone(),
        HttpConfig::new("verify@example.com", secret),
    );
    let otp = SmsOtp::new(SmsOtpConfig::default()).expect("otp");
    app.sms = SmsGateway::with_otp(otp.with_max_pending(2), false);
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mo2fa_server::http::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let start = |n: u32| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            sms_start(&addr, &format!(r#"{{"phone":"+1415555{n:04}"}}"#))
        })
    };
    assert_eq!(start(1).await.expect("join").status, 202);
    clock.advance(10_000);
    assert_eq!(start(2).await.expect("join").status, 202);
    let r = start(3).await.expect("join");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.header("retry-after"),
        Some("290"),
        "the oldest expires in 290 s"
    );
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("SMS codes are pending")),
        "{r:?}"
    );
    assert_eq!(app.sms.sent(), 2, "a refused start is not billed");
    // Once the oldest code expires, a start gets in again.
    clock.advance(290_000);
    assert_eq!(start(4).await.expect("join").status, 202);
    let _ = stop.send(());
    let _ = task.await;
}

#[test]
fn no_sms_turns_the_sms_routes_off() {
    let s = Serve::start(SECRET, &["--no-sms"]);
    let r = sms_start(&s.addr, r#"{"phone":"+14155550100"}"#);
    assert_eq!(r.status, 404, "{r:?}");
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("--no-sms")),
        "{r:?}"
    );
    assert_eq!(s.metric("mo2fa_sms_sent_total"), 0);
    let err = common::refused(
        std::process::Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--no-sms", "--sms-outbox"])
            .env("MO2FA_WEBHOOK_SECRET", SECRET),
    );
    assert!(
        err.contains("--no-sms") || err.contains("--sms-outbox"),
        "{err}"
    );
}
