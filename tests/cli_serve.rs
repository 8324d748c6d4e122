//! Drives the real `mo2fa` binary: start-up checks, serving on port 0, clean shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");

#[test]
fn refuses_to_start_without_a_secret() {
    let err = common::refused(
        Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env_remove("MO2FA_WEBHOOK_SECRET"),
    );
    assert!(err.contains("MO2FA_WEBHOOK_SECRET is not set"), "{err}");
}

#[test]
fn refuses_bad_settings_with_a_clear_message() {
    for (flag, value, why) in [
        ("--code-len", "3", "between 4 and 12"),
        ("--workers", "0", "not in 1..=1024"),
    ] {
        let err = common::refused(
            Command::new(BIN)
                .args(["serve", "--addr", "127.0.0.1:0", flag, value])
                .env("MO2FA_WEBHOOK_SECRET", "s"),
        );
        assert!(err.contains(flag) && err.contains(why), "{err}");
    }
}

#[test]
fn a_bad_tokio_worker_count_in_the_environment_is_an_error_not_a_panic() {
    for value in ["", "0", "two"] {
        let err = common::refused(
            Command::new(BIN)
                .args(["serve", "--addr", "127.0.0.1:0"])
                .env("MO2FA_WEBHOOK_SECRET", "s")
                .env("TOKIO_WORKER_THREADS", value),
        );
        assert_eq!(
            err.trim(),
            format!(
                "error: TOKIO_WORKER_THREADS must be a positive number of worker threads, got {value:?}"
            ),
        );
    }
}

/// `--workers` sizes the runtime: its worker threads are the ones Linux lists by tokio's
/// thread name.
#[cfg(target_os = "linux")]
#[test]
fn workers_sets_the_runtime_threads() {
    let server = common::Serve::start("s", &["--workers", "3"]);
    let count = || {
        std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "tokio-rt-worker")
            .count()
    };
    // A worker thread names itself once it runs, which on a loaded machine can be a moment
    // after the server announced its address: wait for the names (never for more than 3).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut workers = count();
    while workers < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        workers = count();
    }
    assert_eq!(workers, 3);
}

fn http(addr: &str, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_on_port_zero_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--handle", "+15550001111"])
        .env("MO2FA_WEBHOOK_SECRET", "integration-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child);

    let reply = http(
        &addr,
        "POST /2fa/start HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let body: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let link = body["link"].as_str().unwrap();
    assert!(
        link.starts_with("https://start.msg.new/%2B15550001111?text="),
        "{link}"
    );

    let status = http(
        &addr,
        &format!(
            "GET /2fa/status/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            body["id"].as_str().unwrap()
        ),
    );
    assert!(status.contains("\"status\":\"pending\""), "{status}");

    // The simulated SMS outbox reveals codes, so it is off unless asked for.
    let outbox = http(
        &addr,
        "GET /sms/outbox/+15550100001 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        outbox.starts_with("HTTP/1.1 404") && outbox.contains("no route"),
        "{outbox}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}
