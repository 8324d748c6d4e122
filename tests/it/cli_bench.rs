//! `mo2fa bench http` end to end at a small fixed rate: every request answered, table printed;
//! in-process and against a separately spawned `mo2fa serve` (`--target`).

use crate::common;

use common::Serve;

use std::io::{Read, Write};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");

/// `--runtime per-core`: the in-process server runs thread per core, as `serve --runtime
/// per-core` does. Every request is answered, the report says which runtime it measured, and
/// the serving threads' CPU counts as the verifier's (their names are not the work-stealing
/// runtime's).
#[test]
fn bench_http_measures_the_thread_per_core_runtime() {
    let dir = crate::common::scratch("cli-bench-per-core");
    let _ = std::fs::remove_dir_all(&dir);
    // A CPU budget as a gate (docs/expect.md): the verifier's figure is read.
    let args = "bench http --runtime per-core --endpoint webhook --rate 500 --duration 2 \
                --connections 8";
    let (stdout, json) = common::bench_json(
        Command::new(BIN)
            .args(args.split_whitespace())
            .args(["--expect", "webhook.cpu_verifier_us > 0"]),
        &dir,
    );
    assert_eq!(json["target"], "in-process (memory, per-core)", "{stdout}");
    let row = &json["endpoints"][0];
    assert_eq!(
        (&row["succeeded"], &row["errors"]),
        (&1000.into(), &0.into()),
        "{row}"
    );
    // 1,000 signed deliveries verified on the serving threads: more than a 10 ms CPU tick.
    let cpu = &row["cpu_us_per_request"];
    assert!(cpu["verifier"].as_f64().unwrap() > 0.0, "{cpu}");
    let _ = std::fs::remove_dir_all(&dir);
    // A memory-store run reads no redis-server: a budget on it fails, saying so.
    let out = Command::new(BIN)
        .args("bench http --endpoint webhook --rate 200 --duration 1 --connections 2".split(' '))
        .args(["--expect", "webhook.cpu_redis_us < 100"])
        .output()
        .unwrap();
    common::fails(&out, 3, "measured webhook.cpu_redis_us = null");
    // Only a server it starts itself has a runtime to choose.
    let err = common::refused(Command::new(BIN).args([
        "bench",
        "http",
        "--runtime",
        "per-core",
        "--target",
        "http://127.0.0.1:9",
    ]));
    assert!(err.contains("--target"), "{err}");
}

#[test]
fn bench_http_at_a_fixed_rate() {
    let dir = crate::common::scratch("cli-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, json) = common::bench_json(
        Command::new(BIN)
            .args([
                "bench",
                "http",
                "--endpoint",
                "webhook",
                "--endpoint",
                "status",
            ])
            .args(["--rate", "500", "--duration", "1", "--connections", "4"]),
        &dir,
    );
    for endpoint in ["webhook", "status"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(endpoint))
            .unwrap_or_else(|| panic!("no {endpoint} row in\n{stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[2], "500", "offered: {row}");
        assert_eq!(cols[3], "500", "achieved: {row}");
        assert_eq!(cols.last(), Some(&"0"), "errors: {row}");
    }
    // It says where its files went.
    assert!(
        stdout.contains(&format!(
            "wrote {}/{{bench.json,latency.html,",
            dir.display()
        )),
        "{stdout}"
    );
    // The same rows as JSON, beside each endpoint's histograms.
    assert_eq!(json["target"], "in-process (memory)");
    let rows = json["endpoints"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // Where the CPU went, by party: this process's load generator and verifier, no Redis.
    let mut cpu_us = 0.0;
    for row in rows {
        let cpu = &row["cpu_us_per_request"];
        cpu_us += cpu["load_generator"].as_f64().unwrap() + cpu["verifier"].as_f64().unwrap();
        assert!(cpu["redis_server"].is_null(), "{cpu}");
        let name = row["endpoint"].as_str().unwrap();
        assert!(
            stdout.contains(&format!(
                "{name} CPU per answered request in the measured step: load generator "
            )),
            "{stdout}"
        );
    }
    // 1,000 requests of some tens of µs each: well over the 10 ms a CPU tick counts.
    assert!(cpu_us > 0.0, "{json}");
    for (row, name) in rows.iter().zip(["webhook", "status"]) {
        assert_eq!(row["endpoint"], name);
        assert_eq!(row["offered_per_s"], 500);
        assert_eq!(row["succeeded"], 500);
        assert_eq!(row["errors"], 0);
        assert!(row["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{row}");
        assert!(dir.join(format!("{name}.hgrm")).is_file());
    }
    // When, where and from which commit, for tracking runs over time.
    let run = &json["run"];
    let t = run["timestamp"].as_str().unwrap();
    assert!(
        t.starts_with("20") && t.ends_with('Z') && t.contains('T'),
        "{t}"
    );
    let commit = run["git_commit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(!run["host"].as_str().unwrap().is_empty(), "{run}");
    assert!(run["cores"].as_u64().unwrap() >= 1, "{run}");
    // The percentile plot beside the .hgrm tables, both endpoints on it.
    let html = std::fs::read_to_string(dir.join("latency.html")).unwrap();
    assert!(html.contains("<svg"), "{html}");
    for label in [
        ">0%<",
        ">90%<",
        ">99%<",
        ">99.9%<",
        ">99.99%<",
        ">99.999%<",
        "1/(1-p)",
    ] {
        assert!(html.contains(label), "no {label} in latency.html");
    }
    assert!(html.contains(">webhook<") && html.contains(">status<"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_http_rejects_bad_options() {
    let err = common::refused(Command::new(BIN).args(["bench", "http", "--fraction", "1.5"]));
    assert!(err.contains("--fraction"), "{err}");
}

/// A `mo2fa serve` on an OS-chosen loopback port, killed when dropped.
/// `bench http --target` at 300/s for 1 s over 4 connections, with `secret` in the environment.
fn bench_target(addr: &str, secret: &str, endpoints: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["bench", "http", "--target", &format!("http://{addr}")]);
    for e in endpoints {
        cmd.args(["--endpoint", e]);
    }
    cmd.args(["--rate", "300", "--duration", "1", "--connections", "4"])
        .env("MO2FA_WEBHOOK_SECRET", secret)
        .output()
        .unwrap()
}

/// The table's columns for `endpoint`: name, saturation, offered, achieved, ..., errors.
fn row<'a>(stdout: &'a str, endpoint: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .find(|l| l.starts_with(endpoint))
        .unwrap_or_else(|| panic!("no {endpoint} row in\n{stdout}"))
        .split_whitespace()
        .collect()
}

#[test]
fn bench_http_against_a_running_server_verifies_every_delivery() {
    let server = Serve::start("target-secret", &[]);
    let out = bench_target(&server.addr, "target-secret", &["webhook", "status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for endpoint in ["webhook", "status"] {
        let cols = row(&stdout, endpoint);
        assert_eq!(cols[2], "300", "offered: {cols:?}");
        assert_eq!(cols[3], "300", "achieved: {cols:?}");
        assert_eq!(cols.last(), Some(&"0"), "errors: {cols:?}");
    }
    // Every delivery matched a challenge the bench made on this server: 300/s for 1 s.
    assert_eq!(server.metric("mo2fa_verifications_total"), 300);
    // The verifier is another process: only the load generator's CPU is read.
    assert!(
        stdout.contains("webhook CPU per answered request in the measured step: load generator ")
            && stdout.contains("verifier -, redis-server -"),
        "{stdout}"
    );
}

/// `--target-pid` reads the target's CPU too; a pid that is no process here is refused.
#[test]
fn bench_http_reads_the_cpu_of_a_target_named_by_its_pid() {
    let server = Serve::start("pid-secret", &[]);
    let pid = server.child.id().to_string();
    let target = format!("http://{}", server.addr);
    // `bench http` at the server, naming the server's process as `pid`.
    let bench = |pid: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["bench", "http", "--target", &target, "--target-pid", pid])
            .env("MO2FA_WEBHOOK_SECRET", "pid-secret");
        cmd
    };
    let dir = crate::common::scratch("cli-bench-pid");
    let (_, json) = common::bench_json(
        bench(&pid)
            .args(["--endpoint", "webhook", "--rate", "500", "--duration", "2"])
            .args(["--connections", "4"]),
        &dir,
    );
    let cpu = &json["endpoints"][0]["cpu_us_per_request"];
    // 1,000 signed deliveries verified: more than the 10 ms a CPU tick counts.
    assert!(cpu["verifier"].as_f64().unwrap() > 0.0, "{json}");
    assert!(cpu["redis_server"].is_null(), "{json}");
    let _ = std::fs::remove_dir_all(&dir);

    let err = common::refused(&mut bench("4294967295"));
    assert!(
        err.contains("--target-pid 4294967295: no such process"),
        "{err}"
    );
    // Without --target there is nothing to name.
    let err = common::refused(Command::new(BIN).args(["bench", "http", "--target-pid", &pid]));
    assert!(err.contains("--target"), "{err}");
}

#[test]
fn bench_http_against_a_target_with_another_secret_fails_and_says_why() {
    let server = Serve::start("target-secret", &[]);
    let out = bench_target(&server.addr, "not-the-target-secret", &["webhook"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The table is still printed, but a run that measured only refusals is a failed run.
    let stderr = common::refused_output(out);
    assert!(
        stderr.contains("no request succeeded on webhook (300 answered 401)"),
        "{stderr}"
    );
    let cols = row(&stdout, "webhook");
    assert_eq!(cols[3], "0", "achieved: {cols:?}");
    assert_eq!(cols.last(), Some(&"300"), "errors: {cols:?}");
    assert!(
        stdout.contains("webhook errors: 300 answered 401"),
        "the table says what the errors were:\n{stdout}"
    );
    assert_eq!(server.metric("mo2fa_bad_signatures_total"), 300);
    assert_eq!(server.metric("mo2fa_verifications_total"), 0);
}

#[test]
fn bench_http_refuses_a_bad_target_before_sending_anything() {
    for url in [
        "https://127.0.0.1:8080",
        "127.0.0.1:8080",
        "http://127.0.0.1",
    ] {
        let err = common::refused(Command::new(BIN).args(["bench", "http", "--target", url]));
        assert!(err.contains("error: --target: "), "{url}: {err}");
    }
}

#[test]
fn bench_http_target_webhook_needs_the_secret() {
    let err = common::refused(
        Command::new(BIN)
            .args(["bench", "http", "--target", "http://127.0.0.1:9"])
            .args(["--endpoint", "webhook"])
            .env_remove("MO2FA_WEBHOOK_SECRET"),
    );
    assert!(err.contains("MO2FA_WEBHOOK_SECRET is not set"), "{err}");
}

#[test]
fn bench_http_target_and_store_conflict() {
    let err = common::refused(
        Command::new(BIN)
            .args(["bench", "http", "--target", "http://127.0.0.1:9"])
            .args(["--store", "redis://127.0.0.1:6379"]),
    );
    assert!(err.contains("--target") && err.contains("--store"), "{err}");
}

#[test]
fn bench_http_names_the_target_and_its_answer_when_starts_fail() {
    // Not a verifier: answers 404 to whatever it is sent, on one connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let not_a_verifier = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n");
        // Drained until the bench exits: closing with unread requests would reset the
        // connection, and the 404 could be lost with it.
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    });
    let out = bench_target(&addr, "s", &["webhook"]);
    not_a_verifier.join().unwrap();
    let err = common::refused_output(out);
    assert!(
        err.contains(&format!("--target {addr}"))
            && err.contains("POST /2fa/start answered 404")
            && err.contains("not here"),
        "{err}"
    );
}

/// The provider's retry policy through the CLI: a target that refuses every delivery (its
/// secret is not the bench's) gets each one three times, and the table and bench.json say so.
#[test]
fn bench_http_retries_refused_deliveries_as_the_provider_would() {
    let serve = Serve::start("the-targets-secret", &[]);
    let dir = crate::common::scratch("cli-bench-retry");
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(BIN)
        .env("MO2FA_WEBHOOK_SECRET", "not-the-targets-secret")
        .args(["bench", "http", "--endpoint", "webhook", "--target"])
        .arg(format!("http://{}", serve.addr))
        .args(["--rate", "100", "--duration", "1", "--connections", "4"])
        .args([
            "--retries",
            "2",
            "--backoff",
            "10ms",
            "--max-backoff",
            "20ms",
        ])
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Not one delivery succeeded: the run fails, after printing what it saw.
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no request succeeded on webhook"),
        "{stderr}"
    );
    assert!(
        stdout.contains(
            "webhook retries: 3.00 requests sent per request planned (100 planned, 200 sent \
             again, 0 timed out, 100 given up)"
        ),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bench.json")).unwrap()).unwrap();
    assert_eq!(json["retry"]["retries"], 2);
    let retried = &json["endpoints"][0]["retried"];
    assert_eq!(retried["planned"], 100);
    assert_eq!(retried["retries"], 200);
    assert_eq!(retried["gave_up"], 100);
    assert_eq!(json["endpoints"][0]["errors_by_status"]["401"], 300);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_retry_flags_are_checked_before_anything_runs() {
    for (args, says) in [
        (
            &["--backoff", "2s", "--max-backoff", "1s"][..],
            "--max-backoff (1 s) is shorter than --backoff (2 s)",
        ),
        (&["--retries", "21"][..], "--retries"),
        (&["--timeout", "0s"][..], "--timeout"),
    ] {
        let out = Command::new(BIN)
            .args(["bench", "http", "--endpoint", "healthz", "--rate", "10"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
}
