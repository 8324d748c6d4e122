//! Shared helpers for the binary's end-to-end tests: `mo2fa serve` children on OS-chosen
//! loopback ports, a parsed HTTP answer, and what a test does when a tool it needs is missing.
//! (The in-process server and its API tests are the server crate's: `crates/server/tests/`.)
#![allow(dead_code)]

/// 2023-11-14T22:13:20Z: the time the event bodies say they were received.
pub const T0: u64 = 1_700_000_000_000;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and that the body is a JSON error naming `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let msg = self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "error {msg:?} should mention {needle:?}"
        );
    }
}

/// A `message.received` body in Blooio's documented v2 shape (`external_id`).
pub fn message_event(message_id: &str, sender: &str, text: &str, protocol: &str) -> String {
    shaped_event(
        mo2fa_core::webhook::PayloadShape::V2,
        message_id,
        sender,
        text,
        protocol,
    )
}

/// A `message.received` body in `shape`, received at [`T0`].
pub fn shaped_event(
    shape: mo2fa_core::webhook::PayloadShape,
    message_id: &str,
    sender: &str,
    text: &str,
    protocol: &str,
) -> String {
    let m = mo2fa_core::webhook::Inbound {
        message_id,
        sender,
        text,
        protocol,
        received_at_ms: T0,
    };
    String::from_utf8(shape.body(&m)).unwrap()
}

/// The `host:port` a spawned `mo2fa serve` announces on its first stdout line (the port the OS
/// chose for `--addr 127.0.0.1:0`).
pub fn listening_addr(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut first)
        .expect("first line");
    first
        .trim()
        .strip_prefix("mo2fa listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string()
}

/// A `mo2fa serve` child on an OS-chosen loopback port, killed when dropped.
pub struct Serve {
    pub child: std::process::Child,
    /// The `host:port` it announced.
    pub addr: String,
}

impl Serve {
    /// Starts `mo2fa serve --addr 127.0.0.1:0` with the webhook `secret` and `extra` arguments.
    pub fn start(secret: &str, extra: &[&str]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mo2fa"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env("MO2FA_WEBHOOK_SECRET", secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary runs");
        let addr = listening_addr(&mut child);
        Self { child, addr }
    }

    pub fn metric(&self, name: &str) -> u64 {
        metric(&self.addr, name)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of an unlabelled counter or gauge in the `/metrics` of the server at `addr`.
pub fn metric(addr: &str, name: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Runs a `mo2fa` command that must be refused; returns its stderr (where the error is).
pub fn refused(cmd: &mut std::process::Command) -> String {
    refused_output(cmd.output().expect("the binary runs"))
}

/// The stderr of a finished command that must have failed.
pub fn refused_output(out: std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "accepted, printing:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether this run is CI's (`CI` set to anything but empty, `0` or `false`, as CI services and
/// `.ci/run` set it). There, a test may not skip for want of a tool.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// What a test does when something it needs (a redis-server, say) is missing: under CI it fails
/// with `why`; elsewhere it says `SKIPPED: <test>: <why>` on the process's stderr and the caller
/// returns. The line is written to stderr itself, not through `eprintln!`, which the test
/// harness captures and shows only for failing tests: a skipped test still reports `ok`, so the
/// line is the only sign, and it must be seen without `--nocapture`.
pub fn skip_or_fail(test: &str, why: &str) {
    let test = match std::thread::current().name() {
        // The harness names each test's thread after the test (except with one test thread).
        Some(name) if name != "main" => name.to_string(),
        _ => test.to_string(),
    };
    if in_ci() {
        panic!("{test}: {why} (CI is set, so this fails instead of skipping)");
    }
    // One write, so the line is not split by the harness's own output.
    use std::io::Write;
    let line = format!("SKIPPED: {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// `text` with every `from` replaced by `to`; panics if `from` is not there, so a test built on
/// a variant can never run on the unchanged original by mistake.
pub fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in {text:?}");
    text.replace(from, to)
}
