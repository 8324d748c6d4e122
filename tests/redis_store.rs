//! The Redis store against a real redis-server and real `mo2fa serve` processes.
//!
//! Needs `redis-server` on PATH (`.ci/run` installs it). Shared-state tests use the server in
//! `MO2FA_TEST_REDIS` when set (CI starts one) and otherwise start their own; the kill/restart
//! test always runs its own. Each test uses a key prefix of its own, fresh on every run.

use mo2fa::webhook::{Scheme, Secret};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");
const SECRET: &str = "redis-test-secret";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Redis {
    url: String,
    port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Redis {
    /// `None` (after saying so) when redis-server is missing outside CI.
    fn start_own(port: u16, dir: &std::path::Path) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        // Append-only with fsync on every write: a SIGKILLed server comes back with its data.
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: redis-server could not be started ({e}); install redis-server");
                return None;
            }
            Err(e) => panic!("redis-server is required in CI: {e}"),
        };
        let r = Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        r.wait_ready();
        Some(r)
    }

    fn shared(name: &str) -> Option<Self> {
        match std::env::var("MO2FA_TEST_REDIS") {
            Ok(url) => Some(Self {
                port: url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0),
                url,
                child: None,
                dir: std::env::temp_dir(),
            }),
            Err(_) => Self::start_own(free_port(), &tmp(name)),
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"PING\r\n");
                let mut buf = [0u8; 7];
                if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        let again = Self::start_own(self.port, &self.dir.clone()).unwrap();
        *self = again;
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A key prefix of this test run's own: a shared Redis (CI's, or a developer's long-running
/// one) keeps earlier runs' keys (dedupe records live a day), so fixed prefixes would see them.
fn unique_prefix(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("test:{name}:{}:{nanos}:", std::process::id())
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mo2fa-redis-{name}-{}", std::process::id()))
}

struct Instance {
    addr: String,
    child: Child,
    /// The server's log (stderr).
    log: std::path::PathBuf,
}

impl Instance {
    fn spawn(redis: &Redis, prefix: &str, extra: &[&str]) -> Self {
        let log = tmp(&format!("log-{}", prefix.replace(':', "-")));
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--store", &redis.url])
            .args(["--redis-prefix", prefix])
            .args(extra)
            .env("MO2FA_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim()
            .strip_prefix("mo2fa listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        Self { addr, child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(&self, raw: &[u8]) -> Reply {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Reply {
            status: head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            head: head.to_ascii_lowercase(),
            body: serde_json::from_str(body).unwrap_or_default(),
        }
    }

    fn post(&self, path: &str, headers: &str, body: &str) -> Reply {
        self.request(
            format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    fn start(&self, body: &str) -> Reply {
        self.post("/2fa/start", "", body)
    }

    fn status(&self, id: &str) -> Reply {
        self.request(
            format!("GET /2fa/status/{id} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    fn deliver(&self, message_id: &str, sender: &str, text: &str) -> Reply {
        let body = serde_json::json!({
            "event": "message.received", "message_id": message_id,
            "sender": sender, "text": text, "protocol": "imessage",
        })
        .to_string();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let sig = Secret::new(Scheme::Blooio, SECRET)
            .unwrap()
            .sign_blooio(now, body.as_bytes());
        self.post(
            "/webhook/blooio",
            &format!("Blooio-Signature: {sig}\r\n"),
            &body,
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The answer the server gives while Redis is down or hung: 503, `Retry-After: 1`, a JSON
/// error naming the store, and never a verdict.
fn assert_store_unavailable(r: &Reply, what: &str) {
    assert_eq!(r.status, 503, "{what}: {r:?}");
    assert!(r.head.contains("retry-after: 1\r\n"), "{what}: {}", r.head);
    let error = r.body["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("store unavailable"), "{what}: {r:?}");
    assert!(r.body.get("result").is_none(), "{what}: {r:?}");
}

/// Sends a signal to a process (the test suite has no libc binding of its own).
fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {}", child.id());
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: serde_json::Value,
}

fn id_and_code(r: &Reply) -> (String, String) {
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["code"].as_str().unwrap().to_string(),
    )
}

const ALICE: &str = "+15551230001";

#[test]
fn two_instances_share_challenges() {
    let Some(redis) = Redis::shared("share") else {
        return;
    };
    let prefix = unique_prefix("share");
    let (a, b) = (
        Instance::spawn(&redis, &prefix, &[]),
        Instance::spawn(&redis, &prefix, &[]),
    );
    let (id, code) = id_and_code(&a.start(&format!(r#"{{"expected_sender":"{ALICE}"}}"#)));
    assert_eq!(b.status(&id).body["status"], "pending");
    // The wrong sender on B counts against the challenge A issued.
    let wrong = b.deliver("m0", "+15559990000", &code);
    assert_eq!(wrong.body["result"], "sender_mismatch", "{wrong:?}");
    let r = b.deliver("m1", ALICE, &format!("my code is {code}"));
    assert_eq!(r.body["result"], "verified", "{r:?}");
    assert_eq!(r.body["id"], id.as_str());
    let s = a.status(&id);
    assert_eq!(s.body["status"], "verified", "{s:?}");
    assert_eq!(s.body["sender"], ALICE);
    // A second instance with another prefix sees nothing.
    let other = Instance::spawn(&redis, &unique_prefix("elsewhere"), &[]);
    assert_eq!(other.status(&id).status, 404);
    assert_eq!(a.status("not-an-id").status, 404);
}

#[test]
fn racing_duplicate_webhooks_verify_once() {
    let Some(redis) = Redis::shared("race") else {
        return;
    };
    let prefix = unique_prefix("race");
    let instances = [
        Instance::spawn(&redis, &prefix, &[]),
        Instance::spawn(&redis, &prefix, &[]),
    ];
    for round in 0..5 {
        let (id, code) = id_and_code(&instances[round % 2].start(""));
        let answers: Vec<Reply> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let inst = &instances[i % 2];
                    let code = code.clone();
                    // Half redeliver one delivery id; half are distinct messages with the code.
                    let mid = if i % 4 < 2 {
                        format!("dup{round}")
                    } else {
                        format!("other{round}-{i}")
                    };
                    s.spawn(move || inst.deliver(&mid, ALICE, &code))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let first_verdicts: Vec<_> = answers
            .iter()
            .filter(|r| r.body["duplicate"] == false && r.body["result"] == "verified")
            .collect();
        assert_eq!(first_verdicts.len(), 1, "round {round}: {answers:?}");
        for r in &answers {
            assert_eq!(r.status, 200, "{r:?}");
            assert!(
                r.body["result"] == "verified" || r.body["result"] == "no_match",
                "{r:?}"
            );
        }
        // Every post of the one delivery id got the same answer; only the first was decided.
        let same_id: Vec<_> = answers
            .iter()
            .step_by(4)
            .chain(answers.iter().skip(1).step_by(4))
            .collect();
        assert!(
            same_id
                .iter()
                .all(|r| r.body["result"] == same_id[0].body["result"]),
            "{same_id:?}"
        );
        let dups = answers
            .iter()
            .filter(|r| r.body["duplicate"] == true)
            .count();
        assert_eq!(
            dups, 7,
            "round {round}: 8 posts of one delivery id, 7 repeats"
        );
        if same_id[0].body["result"] == "verified" {
            assert!(same_id.iter().all(|r| r.body["id"] == id.as_str()));
        }
        assert_eq!(instances[0].status(&id).body["status"], "verified");
    }
}

#[test]
fn max_pending_and_expiry_hold_across_instances() {
    let Some(redis) = Redis::shared("bounds") else {
        return;
    };
    let args = ["--max-pending", "3", "--min-ttl", "1"];
    let prefix = unique_prefix("bounds");
    let (a, b) = (
        Instance::spawn(&redis, &prefix, &args),
        Instance::spawn(&redis, &prefix, &args),
    );
    let short = a.start(r#"{"ttl_seconds": 1}"#);
    let (short_id, short_code) = id_and_code(&short);
    id_and_code(&a.start(""));
    id_and_code(&b.start(""));
    let full = b.start("");
    assert_eq!(full.status, 503, "{full:?}");
    assert!(
        full.body["error"]
            .as_str()
            .unwrap()
            .contains("max_pending = 3")
    );
    std::thread::sleep(Duration::from_millis(1300));
    // The short challenge expired: its code is free, it no longer counts, and it reads expired.
    assert_eq!(a.status(&short_id).body["status"], "expired");
    let late = b.deliver("late", ALICE, &short_code);
    assert_ne!(late.body["result"], "verified", "{late:?}");
    id_and_code(&b.start(""));
}

#[test]
fn redis_killed_and_restarted_mid_run() {
    let dir = tmp("kill");
    let _ = std::fs::remove_dir_all(&dir);
    let Some(mut redis) = Redis::start_own(free_port(), &dir) else {
        return;
    };
    let a = Instance::spawn(&redis, &unique_prefix("kill"), &[]);
    let (id, code) = id_and_code(&a.start(&format!(r#"{{"expected_sender":"{ALICE}"}}"#)));
    redis.kill();
    let down = Instant::now();
    assert_store_unavailable(&a.start(""), "start");
    // A delivery is never answered (let alone "verified") without Redis.
    assert_store_unavailable(&a.deliver("k1", ALICE, &code), "webhook");
    assert_store_unavailable(&a.status(&id), "status");
    for _ in 0..10 {
        assert_store_unavailable(&a.deliver("k1", ALICE, &code), "webhook");
    }
    // A clear line, rate-limited to one a second however many requests fail (13 here).
    let most = down.elapsed().as_secs() as usize + 1;
    let log = a.log_text();
    let warnings = log.matches("WARN").count();
    assert_eq!(
        log.matches("redis store unavailable").count(),
        warnings,
        "{log}"
    );
    assert!(
        (1..=most).contains(&warnings),
        "{warnings} warnings in:\n{log}"
    );

    redis.restart();
    // The verifier reconnects on its own; the provider's retry of the same delivery verifies.
    let deadline = Instant::now() + Duration::from_secs(10);
    let retry = loop {
        let r = a.deliver("k1", ALICE, &code);
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(retry.body["result"], "verified", "{retry:?}");
    assert_eq!(retry.body["duplicate"], false);
    let s = a.status(&id);
    assert_eq!(s.body["status"], "verified", "{s:?}");
    assert_eq!(s.body["sender"], ALICE);
    id_and_code(&a.start(""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pending_challenges_survive_a_verifier_restart() {
    let Some(redis) = Redis::shared("restart") else {
        return;
    };
    let prefix = unique_prefix("restart");
    let a = Instance::spawn(&redis, &prefix, &[]);
    let (id, code) = id_and_code(&a.start(""));
    drop(a);
    let again = Instance::spawn(&redis, &prefix, &[]);
    assert_eq!(again.status(&id).body["status"], "pending");
    let r = again.deliver("r1", ALICE, &code);
    assert_eq!(r.body["result"], "verified", "{r:?}");
}

#[test]
fn hung_redis_answers_503_quickly_then_recovers() {
    let dir = tmp("hung");
    let _ = std::fs::remove_dir_all(&dir);
    let Some(redis) = Redis::start_own(free_port(), &dir) else {
        return;
    };
    let a = Instance::spawn(&redis, &unique_prefix("hung"), &[]);
    let (id, code) = id_and_code(&a.start(&format!(r#"{{"expected_sender":"{ALICE}"}}"#)));
    let child = redis.child.as_ref().unwrap();
    // A stopped server accepts connections and never answers: "slow", not "down".
    signal(child, "-STOP");
    let t = Instant::now();
    assert_store_unavailable(&a.deliver("h1", ALICE, &code), "webhook");
    assert_store_unavailable(&a.status(&id), "status");
    assert_store_unavailable(&a.start(""), "start");
    // Three requests, each given up after the 500 ms command timeout (plus one retry).
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "503s took {:?}",
        t.elapsed()
    );
    signal(child, "-CONT");
    // Commands queued while Redis was stopped may run now; the delivery's record then answers
    // the provider's retry. Either way the challenge is verified exactly once, by ALICE.
    let deadline = Instant::now() + Duration::from_secs(10);
    let retry = loop {
        let r = a.deliver("h1", ALICE, &code);
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.body["result"], "verified", "{retry:?}");
    assert_eq!(retry.body["id"], id.as_str());
    let again = a.deliver("h2", ALICE, &code);
    assert_eq!(again.body["result"], "no_match", "{again:?}");
    let s = a.status(&id);
    assert_eq!(s.body["status"], "verified", "{s:?}");
    assert_eq!(s.body["sender"], ALICE);
    id_and_code(&a.start(""));
    drop(a);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
