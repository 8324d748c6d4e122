//! Start limits and SMS defences enforced by the real `mo2fa serve` on port 0: per-client
//! buckets (behind a trusted proxy or not), 429 with Retry-After and a JSON error naming the
//! limit, `--sms-defences` on `/sms/start`, the counts in /metrics, and the simulator's guard
//! deciding a request sequence exactly as the server does.

use crate::common;

use common::{Reply, Serve, post};
use mo2fa_core::sms_defences::{Attempt, SmsDefences, SmsGuard};
use std::io::{Read, Write};
use std::net::TcpStream;

const SECRET: &str = "whsec_start_limits_test";
const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");

fn start(addr: &str, headers: &[(&str, &str)]) -> Reply {
    post(addr, "/2fa/start", headers, "{}")
}

/// The sample of `name` with `limit="label"` in /metrics.
fn limited(addr: &str, label: &str) -> u64 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let prefix = format!("mo2fa_rate_limited_total{{limit=\"{label}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
}

fn assert_limited(r: &Reply, status: u16, needle: &str) {
    r.assert_error(status, needle);
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
}

#[test]
fn one_client_is_limited_while_another_behind_the_proxy_still_starts() {
    // 1 start a minute, burst 3: the 4th is refused for about 20 s... rounded up in seconds.
    let s = Serve::start(
        SECRET,
        &[
            "--start-rate-per-client",
            "1",
            "--start-burst-per-client",
            "3",
            "--client-ip-header",
            "X-Forwarded-For",
            "--trusted-proxies",
            "1",
        ],
    );
    let a = [("X-Forwarded-For", "203.0.113.7")];
    // The client writes its own left part; only the entry our proxy appended counts.
    let b = [("X-Forwarded-For", "203.0.113.7, 198.51.100.9")];
    for _ in 0..3 {
        assert_eq!(start(&s.addr, &a).status, 201);
    }
    let r = start(&s.addr, &a);
    assert_limited(&r, 429, "per-client start limit");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(start(&s.addr, &b).status, 201, "another client address");
    assert_eq!(limited(&s.addr, "client"), 1);
}

#[test]
fn the_header_is_ignored_without_trusted_proxies() {
    let s = Serve::start(
        SECRET,
        &[
            "--start-rate-per-client",
            "1",
            "--start-burst-per-client",
            "2",
            "--client-ip-header",
            "X-Forwarded-For",
        ],
    );
    for i in 0..2 {
        let ip = format!("192.0.2.{i}");
        assert_eq!(start(&s.addr, &[("X-Forwarded-For", &ip)]).status, 201);
    }
    // A fresh forged address does not help: the client is the TCP peer.
    let r = start(&s.addr, &[("X-Forwarded-For", "192.0.2.99")]);
    assert_limited(&r, 429, "per-client");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn per_sender_and_global_limits_name_themselves() {
    let s = Serve::start(
        SECRET,
        &[
            "--start-rate-per-sender",
            "1",
            "--start-burst-per-sender",
            "1",
            "--start-rate-global",
            "1",
            "--start-burst-global",
            "3",
        ],
    );
    let bound = r#"{"expected_sender":"+15550001111"}"#;
    assert_eq!(post(&s.addr, "/2fa/start", &[], bound).status, 201);
    // The same number written differently is the same sender.
    let again = post(
        &s.addr,
        "/2fa/start",
        &[],
        r#"{"expected_sender":"+1 555 000 1111"}"#,
    );
    assert_limited(&again, 429, "per-sender");
    assert_eq!(start(&s.addr, &[]).status, 201);
    assert_eq!(start(&s.addr, &[]).status, 201);
    assert_limited(&start(&s.addr, &[]), 429, "global start limit");
    assert_eq!(limited(&s.addr, "sender"), 1);
    assert_eq!(limited(&s.addr, "global"), 1);
}

#[test]
fn without_limits_one_client_is_not_refused() {
    let s = Serve::start(SECRET, &[]);
    for _ in 0..30 {
        assert_eq!(start(&s.addr, &[]).status, 201);
    }
    assert_eq!(limited(&s.addr, "client"), 0);
}

const DEFENCES: &str = r#"
geo_allow = ["US", "GB"]
per_number = 2
per_ip = 100
window = "1h"
"#;

fn defences_file(name: &str, text: &str) -> std::path::PathBuf {
    common::temp_file("start-limits", name, text)
}

fn sms_start(addr: &str, phone: &str) -> Reply {
    post(
        addr,
        "/sms/start",
        &[],
        &format!(r#"{{"phone":"{phone}"}}"#),
    )
}

#[test]
fn sms_start_enforces_the_defences_file() {
    let path = defences_file("defences.toml", DEFENCES);
    let s = Serve::start(SECRET, &["--sms-defences", path.to_str().expect("utf-8")]);
    // Nigeria is not on the allow-list.
    assert_limited(&sms_start(&s.addr, "+2348031234567"), 403, "geo_allow");
    assert_eq!(sms_start(&s.addr, "+14155550100").status, 202);
    assert_eq!(sms_start(&s.addr, "+14155550100").status, 202);
    let r = sms_start(&s.addr, "+14155550100");
    assert_limited(&r, 429, "per_number");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert_eq!(sms_start(&s.addr, "+447700900123").status, 202);
    assert_eq!(limited(&s.addr, "sms_geo_allow"), 1);
    assert_eq!(limited(&s.addr, "sms_per_number"), 1);
    assert_eq!(
        s.metric("mo2fa_sms_sent_total"),
        3,
        "refused sends cost nothing"
    );
}

#[test]
fn a_bad_defences_file_is_refused_naming_file_line_and_key() {
    let path = defences_file("bad.toml", "per_number = 2\nper_nmber = 3\n");
    let err = common::refused(
        std::process::Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--sms-defences"])
            .arg(&path)
            .env("MO2FA_WEBHOOK_SECRET", SECRET),
    );
    let shown = path.display().to_string();
    assert!(
        err.contains(&format!("{shown}:2:")) && err.contains("per_nmber"),
        "{err}"
    );
    let err = common::refused(
        std::process::Command::new(BIN)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--start-rate-per-client",
                "0",
            ])
            .env("MO2FA_WEBHOOK_SECRET", SECRET),
    );
    assert!(err.contains("start-rate-per-client"), "{err}");
}

/// A vendor preset works on the server as in a scenario: `preset = "..."` plus overrides,
/// per-account rules keyed by the optional `account` of `/sms/start`.
#[test]
fn sms_start_runs_a_preset_file() {
    let text = "preset = \"auth0_backoff\"\n[backoff]\nfree = 0\n\
                [pumping_protection]\nmax_unverified_number = 2\n";
    let path = defences_file("preset.toml", text);
    let s = Serve::start(SECRET, &["--sms-defences", path.to_str().expect("utf-8")]);
    let with_account = |phone: &str, account: &str| {
        post(
            &s.addr,
            "/sms/start",
            &[],
            &format!(r#"{{"phone":"{phone}","account":"{account}"}}"#),
        )
    };
    assert_eq!(with_account("+14155550100", "alice").status, 202);
    let r = with_account("+14155550101", "alice");
    assert_limited(&r, 429, "backoff");
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After");
    assert!((40..=80).contains(&wait), "about a minute: {wait}");
    assert_eq!(with_account("+14155550101", "bob").status, 202);
    // The override: a second unverified code to one number is the last (other accounts, so
    // the backoff, keyed on the account or else the number, does not answer first).
    assert_eq!(with_account("+14155550100", "carol").status, 202);
    assert_limited(
        &with_account("+14155550100", "dave"),
        429,
        "pumping_protection",
    );
    assert_eq!(limited(&s.addr, "sms_backoff"), 1);
    assert_eq!(limited(&s.addr, "sms_pumping_protection"), 1);
    // An unknown preset is refused at start, listing the known ones.
    let path = defences_file("unknown.toml", "preset = \"twilio_fraud_guard_ultra\"\n");
    let err = common::refused(
        std::process::Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--sms-defences"])
            .arg(&path)
            .env("MO2FA_WEBHOOK_SECRET", SECRET),
    );
    assert!(
        err.contains("preset") && err.contains("twilio_fraud_guard_standard"),
        "{err}"
    );
}

/// `/sms/check` reports a verification under the attempt its code was sent for, so Authgear's
/// per-country count of unverified codes goes down for GB and one more GB send is allowed.
#[test]
fn sms_check_feeds_the_rules_with_the_sends_attempt() {
    let path = defences_file("authgear.toml", "preset = \"authgear_deny\"\n");
    let s = Serve::start(
        SECRET,
        &[
            "--sms-outbox",
            "--sms-defences",
            path.to_str().expect("utf-8"),
            // Block from the first request, as a server with no history would only after its
            // warm-up (issue 22.5).
            "--sms-warmup",
            "0s",
        ],
    );
    let to_gb = |phone: &str| {
        post(
            &s.addr,
            "/sms/start",
            &[],
            &format!(r#"{{"phone":"{phone}"}}"#),
        )
    };
    for n in 0..3 {
        assert_eq!(to_gb(&format!("+44770090010{n}")).status, 202);
    }
    // Authgear's hourly floor: a 4th unverified code to GB this hour is refused.
    assert_limited(&to_gb("+447700900103"), 429, "authgear_country_hourly");
    let mut conn = TcpStream::connect(&s.addr).expect("connect");
    conn.write_all(
        b"GET /sms/outbox/+447700900100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let mut buf = Vec::new();
    conn.read_to_end(&mut buf).expect("read");
    let code = Reply::parse(&buf).json()["code"]
        .as_str()
        .expect("a code")
        .to_string();
    let r = post(
        &s.addr,
        "/sms/check",
        &[],
        &format!(r#"{{"phone":"+447700900100","code":"{code}"}}"#),
    );
    assert_eq!(r.json()["result"], "verified", "{r:?}");
    assert_eq!(
        to_gb("+447700900103").status,
        202,
        "GB has one unverified code less"
    );
}

/// The simulator's guard and the server run one implementation: the same `SmsDefences` and
/// the same sends get the same decisions.
#[test]
fn the_simulator_guard_and_the_server_decide_alike() {
    let text = "geo_allow = [\"US\", \"GB\", \"FR\"]\nper_number = 2\nper_prefix = 3\n";
    let path = defences_file("shared.toml", text);
    let s = Serve::start(SECRET, &["--sms-defences", path.to_str().expect("utf-8")]);
    let cfg = SmsDefences::parse("shared.toml", text).expect("valid");
    let countries = vec!["US".to_string(), "GB".into(), "NG".into()];
    let mut guard = SmsGuard::new(&cfg, &countries);
    let sends: [(&str, usize, u64); 9] = [
        ("+14155550100", 0, 14_155_550_100),
        ("+14155550100", 0, 14_155_550_100),
        ("+14155550100", 0, 14_155_550_100),
        ("+14155550101", 0, 14_155_550_101),
        ("+14155550102", 0, 14_155_550_102),
        ("+2348031234567", 2, 2_348_031_234_567),
        ("+447700900123", 1, 447_700_900_123),
        ("+447700900124", 1, 447_700_900_124),
        ("+14155560000", 0, 14_155_560_000),
    ];
    let mut decisions = Vec::new();
    for (phone, country, number) in sends {
        let attempt = Attempt {
            country,
            number,
            ip: 1,
            ..Attempt::default()
        };
        let sim = guard.check(&attempt).map_err(|b| b.name());
        let r = sms_start(&s.addr, phone);
        let server = match r.status {
            202 => Ok(()),
            _ => Err(r.json()["error"].as_str().unwrap_or_default().to_string()),
        };
        match (&sim, &server) {
            (Ok(()), Ok(())) => {}
            (Err(rule), Err(msg)) => assert!(msg.contains(rule), "{phone}: {rule} vs {msg}"),
            _ => panic!("{phone}: simulator {sim:?}, server {server:?}"),
        }
        decisions.push(sim.is_ok());
    }
    assert_eq!(
        decisions,
        [true, true, false, true, false, false, true, true, true],
        "numbers, ranges and countries all decided"
    );
}

/// A start refused as invalid (422: a TTL out of range, an unusable sender) spends no token:
/// with a burst of one, the valid start after three invalid ones still gets its challenge.
#[test]
fn invalid_starts_spend_no_token() {
    let s = Serve::start(
        SECRET,
        &[
            "--start-rate-per-client",
            "1",
            "--start-burst-per-client",
            "1",
        ],
    );
    for body in [
        r#"{"ttl_seconds": 0}"#,
        r#"{"expected_sender": "not a sender"}"#,
        r#"{"ttl_seconds": 999999999}"#,
    ] {
        let r = post(&s.addr, "/2fa/start", &[], body);
        assert_eq!(r.status, 422, "{body}: {r:?}");
    }
    assert_eq!(start(&s.addr, &[]).status, 201);
    assert_limited(&start(&s.addr, &[]), 429, "per-client");
}
