//! Drives the real `mo2fa` binary: start-up checks, serving on port 0, clean shutdown.

use crate::common;

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

/// The signal handlers are in place before the address is announced: a SIGTERM sent the moment
/// the address is read shuts the server down cleanly (exit 0) instead of killing it.
#[test]
fn a_sigterm_right_after_the_announcement_shuts_down_cleanly() {
    for _ in 0..5 {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("MO2FA_WEBHOOK_SECRET", "integration-secret")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        common::listening_addr(&mut child);
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
}

/// Resident memory of a process, in KiB.
#[cfg(target_os = "linux")]
fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Sends `raw` on a fresh connection and returns the whole answer (the server closes).
fn answer(addr: &str, raw: &str) -> common::Reply {
    common::Reply::parse(http(addr, raw).as_bytes())
}

/// Stalled request bodies (headers sent, body never finished: no secret needed, since the
/// body is read before the signature is checked) neither stop a normal client nor stay open
/// past the request timeout, and cost bounded memory.
#[cfg(target_os = "linux")]
#[test]
fn stalled_bodies_do_not_stop_service_and_are_closed_at_the_deadline() {
    use mo2fa_core::webhook::{Scheme, Secret};
    const SECRET: &str = "stall-secret";
    const STALLED: usize = 200;
    let server = common::Serve::start(SECRET, &["--request-timeout", "3s"]);
    let rss_before = vm_rss_kib(server.child.id());
    let t0 = std::time::Instant::now();
    let mut stalled = Vec::new();
    for i in 0..STALLED {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        let path = if i % 2 == 0 {
            "/webhook/blooio"
        } else {
            "/2fa/start"
        };
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"event\":"
        )
        .unwrap();
        stalled.push(s);
    }
    // Wait until the server holds all of them (the /metrics request is one more).
    let deadline = t0 + Duration::from_secs(20);
    while server.metric("mo2fa_open_connections") < STALLED as u64 + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "stalled connections not accepted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let held = t0.elapsed();

    // A normal client starts a challenge and verifies it through a signed webhook, at once.
    let t = std::time::Instant::now();
    let started = answer(
        &server.addr,
        "POST /2fa/start HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(started.status, 201, "{started:?}");
    let code = started.json()["code"].as_str().unwrap().to_string();
    let body = common::message_event("m-stall", "+15550100001", &code, "imessage");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = Secret::new(Scheme::Blooio, SECRET)
        .unwrap()
        .sign_blooio(now, body.as_bytes());
    let verified = answer(
        &server.addr,
        &format!(
            "POST /webhook/blooio HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nBlooio-Signature: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let took = t.elapsed();
    assert_eq!(verified.json()["result"], "verified", "{verified:?}");
    assert!(
        took < Duration::from_secs(1),
        "a normal client took {took:?} beside {STALLED} stalled bodies"
    );
    assert!(
        held < Duration::from_secs(3),
        "setting up took {held:?}: the stalled ones may have timed out before the client ran"
    );

    let rss_after = vm_rss_kib(server.child.id());
    eprintln!("VmRSS {rss_before} KiB before, {rss_after} KiB with {STALLED} stalled bodies");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB with {STALLED} stalled bodies"
    );

    // Each stalled request is answered 408 with a JSON error and closed, at the deadline.
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let r = common::Reply::parse(&out);
        r.assert_error(408, "not received within 3000 ms");
        assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    }
    assert!(t0.elapsed() < Duration::from_secs(25));
    assert_eq!(
        server.metric("mo2fa_request_timeouts_total"),
        STALLED as u64
    );
    // Each task gives its place back just after closing its socket: wait for the last ones.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.metric("mo2fa_open_connections") != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "connections still counted open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn refuses_a_bad_request_timeout_by_name() {
    for value in ["10y", "0s", "0", "soon"] {
        let err = common::refused(
            Command::new(BIN)
                .args(["serve", "--addr", "127.0.0.1:0", "--request-timeout", value])
                .env("MO2FA_WEBHOOK_SECRET", "s"),
        );
        assert!(err.contains("--request-timeout"), "{value}: {err}");
    }
    let err = common::refused(
        Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--max-connections", "0"])
            .env("MO2FA_WEBHOOK_SECRET", "s"),
    );
    assert!(err.contains("--max-connections"), "{err}");
}

/// With --metrics-addr, /metrics is served there (with the probes) and not on the main
/// address; /readyz is ready with the memory store on both.
#[test]
fn metrics_addr_moves_metrics_off_the_main_address() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("MO2FA_WEBHOOK_SECRET", "s")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr_after = |prefix: &str| {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_string()
    };
    let main = addr_after("mo2fa listening on http://");
    let metrics = addr_after("mo2fa metrics on http://");
    // Killed when dropped, also when an assertion fails.
    let _server = common::Serve {
        child,
        addr: main.clone(),
    };
    let get = |addr: &str, path: &str| {
        answer(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    get(&main, "/metrics").assert_error(404, "no route for /metrics");
    let scraped = get(&metrics, "/metrics");
    assert_eq!(scraped.status, 200, "{scraped:?}");
    assert!(
        scraped
            .body
            .contains("\nmo2fa_connections_refused_total 0\n"),
        "{}",
        scraped.body
    );
    // The API stays on the main address only.
    get(&metrics, "/2fa/status/x").assert_error(404, "no route");
    get(&metrics, "/openapi.yaml").assert_error(404, "no route");
    assert_eq!(get(&main, "/openapi.yaml").status, 200);
    assert_eq!(
        get(&main, "/2fa/status/x").json()["error"],
        "unknown challenge id"
    );
    for addr in [&main, &metrics] {
        assert_eq!(get(addr, "/healthz").status, 200);
        let ready = get(addr, "/readyz");
        assert_eq!(ready.status, 200, "{ready:?}");
        assert_eq!(ready.json()["status"], "ready");
    }
}

/// `--runtime per-core`: one serving thread per worker, each with its own listener on the one
/// port; connections spread over them all see one store (a challenge started through one
/// connection is read through others), and SIGTERM stops every thread cleanly.
#[cfg(target_os = "linux")]
#[test]
fn per_core_runtime_serves_one_store_from_every_thread_and_stops_on_sigterm() {
    let mut server = common::Serve::start("s", &["--runtime", "per-core", "--workers", "3"]);
    let count = || {
        std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim().starts_with("mo2fa-core-"))
            .count()
    };
    // The threads start once the address is announced (the listeners are bound before).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut threads = count();
    while threads < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        threads = count();
    }
    assert_eq!(threads, 3);
    let start =
        "POST /2fa/start HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    for _ in 0..24 {
        let reply = http(&server.addr, start);
        assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
        let body: serde_json::Value =
            serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let status = http(
            &server.addr,
            &format!(
                "GET /2fa/status/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                body["id"].as_str().unwrap()
            ),
        );
        assert!(status.contains("\"status\":\"pending\""), "{status}");
    }
    assert_eq!(server.metric("mo2fa_starts_total"), 24);
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

#[test]
fn serve_shows_its_in_flight_bound_and_checks_the_shed_flags() {
    let serve = common::Serve::start("shed-secret", &["--max-in-flight", "7", "--shed-wait", "0"]);
    assert_eq!(serve.metric("mo2fa_max_in_flight_requests"), 7);
    assert_eq!(serve.metric("mo2fa_in_flight_requests"), 0);
    let off = common::Serve::start("shed-secret", &["--max-in-flight", "0"]);
    assert_eq!(off.metric("mo2fa_max_in_flight_requests"), 0);
    let out = Command::new(BIN)
        .args(["serve", "--shed-wait", "soon"])
        .env("MO2FA_WEBHOOK_SECRET", "x")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--shed-wait"),
        "{stderr}"
    );
}
