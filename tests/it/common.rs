//! Shared helpers for the binary's end-to-end tests: `mo2fa serve` children on OS-chosen
//! loopback ports, a parsed HTTP answer, and what a test does when a tool it needs is missing.
//! (The in-process server and its API tests are the server crate's: `crates/server/tests/`.)
#![allow(dead_code)]

#[path = "../../crates/server/tests/it/http_reply.rs"]
mod http_reply;
pub use http_reply::*;

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

/// Asserts that a finished command exited with `code` and said `needle` on stderr.
pub fn fails(o: &std::process::Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
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

/// A `POST` of a JSON `body` with extra `headers` to a server at `addr`, on a connection of
/// its own, and the answer.
pub fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    use std::io::{Read, Write};
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    Reply::parse(&buf)
}

/// Where the tests write their files: Cargo's scratch directory for integration tests
/// (`target/tmp`), so that nothing is left behind in the system's temporary directory.
pub fn scratch_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// This process's scratch directory named after `tag` (the path only: nothing is made).
pub fn scratch(tag: &str) -> std::path::PathBuf {
    scratch_root().join(format!("mo2fa-{tag}-{}", std::process::id()))
}

/// Writes `text` to `name` in a scratch directory of this process named after `tag`.
pub fn temp_file(tag: &str, name: &str, text: &str) -> std::path::PathBuf {
    let dir = scratch(tag);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// Runs a `bench http` command with `--out dir`, which must succeed; its stdout and the
/// `bench.json` it wrote.
pub fn bench_json(
    cmd: &mut std::process::Command,
    dir: &std::path::Path,
) -> (String, serde_json::Value) {
    let out = cmd.arg("--out").arg(dir).output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read(dir.join("bench.json")).expect("bench.json written");
    (
        stdout,
        serde_json::from_slice(&json).expect("bench.json is JSON"),
    )
}
