//! The Redis store against a real redis-server and real `mo2fa serve` processes.
//!
//! Needs `redis-server` on PATH (`.ci/run` installs it). Shared-state tests use the server in
//! `MO2FA_TEST_REDIS` when set (CI starts one) and otherwise start their own; the kill/restart,
//! hung and fault-run tests always run their own. Each test uses a key prefix of its own, fresh
//! on every run. A test that can neither start nor reach a redis-server fails under `CI=true`
//! and otherwise skips, saying `SKIPPED: <test>: ...` on stderr (`common::skip_or_fail`).
//! `parity` drives the library directly: the memory and Redis backends must answer alike.

use crate::common;

use mo2fa_core::webhook::{Scheme, Secret};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_mo2fa");
const SECRET: &str = "redis-test-secret";

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Unix socket a redis-server of the test's own listens on too, in its directory.
const UNIX_SOCKET: &str = "redis.sock";

pub(crate) struct Redis {
    pub(crate) url: String,
    /// Where `url` points (`host:port`).
    addr: String,
    port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Redis {
    /// A redis-server of the test's own; `None` (after saying so) when it cannot be started
    /// outside CI, where that fails the test instead.
    fn start_own(port: u16, dir: &std::path::Path) -> Option<Self> {
        match Self::spawn(port, dir) {
            Ok(r) => Some(r),
            Err(why) => {
                common::skip_or_fail("redis", &why);
                None
            }
        }
    }

    fn spawn(port: u16, dir: &std::path::Path) -> Result<Self, String> {
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
            // Also on a Unix socket in its directory, for the `redis+unix://` store URL.
            .arg("--unixsocket")
            .arg(dir.join(UNIX_SOCKET))
            .args(["--unixsocketperm", "700"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = child.map_err(|e| {
            format!("redis-server could not be started ({e}); install redis-server")
        })?;
        // Dropped (killed, its directory removed) if it never answers.
        let r = Self {
            url: format!("redis://127.0.0.1:{port}"),
            addr: format!("127.0.0.1:{port}"),
            port,
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        r.wait_ready()?;
        Ok(r)
    }

    /// The server in `MO2FA_TEST_REDIS` (which must answer), else one of the test's own.
    pub(crate) fn shared(name: &str) -> Option<Self> {
        let Ok(url) = std::env::var("MO2FA_TEST_REDIS") else {
            return Self::start_own(free_port(), &tmp(name));
        };
        // redis://[user:password@]host:port[/db]
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let addr = rest.split('/').next().unwrap_or_default().to_string();
        let r = Self {
            port: addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            addr,
            url,
            child: None,
            dir: crate::common::scratch_root(),
        };
        match r.wait_ready() {
            Ok(()) => Some(r),
            Err(why) => {
                common::skip_or_fail(name, &format!("MO2FA_TEST_REDIS={}: {why}", r.url));
                None
            }
        }
    }

    /// A store at `url` that is none of this test's to start or stop (a Redis Cluster's URL).
    pub(crate) fn at(url: &str) -> Self {
        Self {
            url: url.to_string(),
            addr: String::new(),
            port: 0,
            child: None,
            dir: crate::common::scratch_root(),
        }
    }

    /// Waits up to 10 s for `PING` to be answered on the server's port.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let _ = s.write_all(b"PING\r\n");
                let mut buf = [0u8; 7];
                if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "no redis-server answered PING on {} within 10 s",
            self.addr
        ))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        let again = Self::spawn(self.port, &self.dir.clone())
            .unwrap_or_else(|why| panic!("redis-server did not come back: {why}"));
        *self = again;
    }
}

impl Drop for Redis {
    /// Stops a server of the test's own and removes its data directory (also when the test
    /// failed). `restart` kills first, so the replaced value owns nothing and keeps the data.
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A key prefix of this test run's own: a shared Redis (CI's, or a developer's long-running
/// one) keeps earlier runs' keys (dedupe records live a day), so fixed prefixes would see them.
pub(crate) fn unique_prefix(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("test:{name}:{}:{nanos}:", std::process::id())
}

pub(crate) fn tmp(name: &str) -> std::path::PathBuf {
    crate::common::scratch(&format!("redis-{name}"))
}

pub(crate) struct Instance {
    pub(crate) addr: String,
    child: Child,
    /// The server's log (stderr).
    log: std::path::PathBuf,
}

impl Instance {
    pub(crate) fn spawn(redis: &Redis, prefix: &str, extra: &[&str]) -> Self {
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
        let addr = common::listening_addr(&mut child);
        Self { addr, child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(&self, raw: &[u8]) -> Reply {
        send(&self.addr, raw)
    }

    pub(crate) fn post(&self, path: &str, headers: &str, body: &str) -> Reply {
        self.request(
            format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    pub(crate) fn start(&self, body: &str) -> Reply {
        self.post("/2fa/start", "", body)
    }

    pub(crate) fn status(&self, id: &str) -> Reply {
        self.request(
            format!("GET /2fa/status/{id} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    /// Blooio's documented v2 event, signed now.
    pub(crate) fn deliver(&self, message_id: &str, sender: &str, text: &str) -> Reply {
        self.deliver_body(
            &common::message_event(message_id, sender, text, "imessage"),
            "",
        )
    }

    /// Posts `body` signed now, with `headers` (each `Name: value\r\n`) besides the signature.
    fn deliver_body(&self, body: &str, headers: &str) -> Reply {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let sig = Secret::new(Scheme::Blooio, SECRET)
            .unwrap()
            .sign_blooio(now, body.as_bytes());
        self.post(
            "/webhook/blooio",
            &format!("X-Blooio-Signature: {sig}\r\n{headers}"),
            body,
        )
    }

    /// Delivers as the provider retries: again every 100 ms while the answer is 503, for up to
    /// 10 s; returns the last answer.
    pub(crate) fn deliver_until_served(&self, message_id: &str, sender: &str, text: &str) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.deliver(message_id, sender, text);
            if r.status != 503 || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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

/// Sends `raw` on a fresh connection to `addr` and reads the whole answer (the server closes).
pub(crate) fn send(addr: &str, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
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

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: serde_json::Value,
}

pub(crate) fn id_and_code(r: &Reply) -> (String, String) {
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["code"].as_str().unwrap().to_string(),
    )
}

pub(crate) const ALICE: &str = "+15551230001";

/// With Redis too, an empty delivery id is refused before any store sees it (its receive script
/// would skip dedupe for "" and let a retried wrong-sender message lock the challenge), and a
/// replay answered on another instance gets the first answer without a second effect.
#[test]
fn empty_ids_are_refused_and_replays_change_nothing_across_instances() {
    let Some(redis) = Redis::shared("replay") else {
        return;
    };
    let prefix = unique_prefix("replay");
    let (a, b) = (
        Instance::spawn(&redis, &prefix, &["--max-sender-failures", "2"]),
        Instance::spawn(&redis, &prefix, &["--max-sender-failures", "2"]),
    );
    let (id, code) = id_and_code(&a.start(&format!(r#"{{"expected_sender":"{ALICE}"}}"#)));
    let v2 = |mid: &str, sender: &str| {
        format!(
            r#"{{"event":"message.received","message_id":"{mid}","external_id":"{sender}","text":"{code}","protocol":"imessage"}}"#
        )
    };
    for _ in 0..3 {
        let r = b.deliver_body(&v2("", "+15559990000"), "");
        assert_eq!(r.status, 400, "{r:?}");
        assert!(
            r.body["error"].as_str().unwrap().contains("message_id"),
            "{r:?}"
        );
    }
    let envelope = |evt: &str, sender: &str| {
        format!(
            r#"{{"id":"{evt}","type":"message.received","data":{{"message_id":"m_{evt}","external_id":"{sender}","text":"{code}","protocol":"imessage"}}}}"#
        )
    };
    let wrong = a.deliver_body(&envelope("evt_a", "+15559990000"), "");
    assert_eq!(wrong.body["result"], "sender_mismatch", "{wrong:?}");
    let replay = "X-Blooio-Replay: true\r\nX-Original-Event-Id: evt_a\r\n";
    for _ in 0..3 {
        let r = b.deliver_body(&envelope("evt_b", "+15559990000"), replay);
        assert_eq!(r.body["result"], "sender_mismatch", "{r:?}");
        assert_eq!(r.body["duplicate"], true, "{r:?}");
    }
    // One failure counted of the two allowed: the real user still verifies.
    let ok = b.deliver_body(&envelope("evt_c", ALICE), "");
    assert_eq!(ok.body["result"], "verified", "{ok:?}");
    assert_eq!(a.status(&id).body["status"], "verified");
}

#[test]
fn two_instances_share_challenges() {
    let Some(redis) = Redis::shared("share") else {
        return;
    };
    share_challenges(&redis);
}

/// Two instances on `redis` (one Redis or a cluster) answer for each other's challenges.
pub(crate) fn share_challenges(redis: &Redis) {
    let prefix = unique_prefix("share");
    let (a, b) = (
        Instance::spawn(redis, &prefix, &[]),
        Instance::spawn(redis, &prefix, &[]),
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
    let other = Instance::spawn(redis, &unique_prefix("elsewhere"), &[]);
    assert_eq!(other.status(&id).status, 404);
    assert_eq!(a.status("not-an-id").status, 404);
}

/// `redis+unix://PATH` reaches the same store as `redis://HOST:PORT`: a challenge started
/// through one instance on the TCP port is verified through another on the Unix socket.
#[test]
fn an_instance_on_the_unix_socket_shares_the_store_with_one_on_tcp() {
    let Some(redis) = Redis::start_own(free_port(), &tmp("unix")) else {
        return;
    };
    let socket = redis.dir.join(UNIX_SOCKET);
    let on_socket = Redis::at(&format!("redis+unix://{}", socket.display()));
    let prefix = unique_prefix("unix");
    let (tcp, unix) = (
        Instance::spawn(&redis, &prefix, &[]),
        Instance::spawn(&on_socket, &prefix, &[]),
    );
    let (id, code) = id_and_code(&tcp.start(&format!(r#"{{"expected_sender":"{ALICE}"}}"#)));
    assert_eq!(unix.status(&id).body["status"], "pending");
    let r = unix.deliver("u1", ALICE, &code);
    assert_eq!(r.body["result"], "verified", "{r:?}");
    assert_eq!(tcp.status(&id).body["status"], "verified");
    // The same delivery again, through the TCP instance: the recorded answer, marked as a
    // repeat, not a second verification.
    let again = tcp.deliver("u1", ALICE, &code);
    assert_eq!(again.body["duplicate"], true, "{again:?}");
    assert_eq!(
        (&again.body["result"], &again.body["id"]),
        (&r.body["result"], &r.body["id"])
    );
}

/// A thread-per-core instance (`--runtime per-core`, whose serving threads each batch their
/// Redis calls over a connection of their own) and a work-stealing one share the store:
/// challenges started on either verify through the other, each exactly once. Each request
/// is a connection of its own, so the kernel spreads them over both serving threads.
#[test]
fn a_thread_per_core_instance_shares_the_store() {
    let Some(redis) = Redis::shared("per-core") else {
        return;
    };
    let prefix = unique_prefix("per-core");
    let per_core = Instance::spawn(
        &redis,
        &prefix,
        &["--runtime", "per-core", "--workers", "2"],
    );
    let stealing = Instance::spawn(&redis, &prefix, &[]);
    for (from, to) in [(&per_core, &stealing), (&stealing, &per_core)] {
        for n in 0..8 {
            let (id, code) = id_and_code(&from.start("{}"));
            assert_eq!(to.status(&id).body["status"], "pending");
            let delivery = format!("pc{}-{n}", from.addr);
            let r = to.deliver(&delivery, ALICE, &code);
            assert_eq!(
                (&r.body["result"], &r.body["id"]),
                (&"verified".into(), &id.as_str().into()),
                "{r:?}"
            );
            let again = from.deliver(&delivery, ALICE, &code);
            assert_eq!(again.body["duplicate"], true, "{again:?}");
            assert_eq!(from.status(&id).body["status"], "verified");
        }
    }
}

/// `bench http --store redis://…` on a Redis of this host reads redis-server's CPU too.
#[test]
fn bench_http_on_redis_says_what_redis_server_spent() {
    let Some(redis) = Redis::shared("bench-cpu") else {
        return;
    };
    let dir = tmp("bench-cpu");
    let (stdout, json) = common::bench_json(
        Command::new(env!("CARGO_BIN_EXE_mo2fa"))
            .args([
                "bench",
                "http",
                "--endpoint",
                "start",
                "--store",
                &redis.url,
            ])
            .args(["--rate", "1000", "--duration", "1", "--connections", "4"]),
        &dir,
    );
    let cpu = &json["endpoints"][0]["cpu_us_per_request"];
    // 1,000 starts, each a few µs of redis-server's time: the field is read, not left out.
    assert!(cpu["redis_server"].as_f64().is_some(), "{json}");
    assert!(cpu["verifier"].as_f64().unwrap() > 0.0, "{json}");
    assert!(
        stdout.contains("redis-server ") && stdout.contains(" µs"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn racing_duplicate_webhooks_verify_once() {
    let Some(redis) = Redis::shared("race") else {
        return;
    };
    race_duplicates(&redis);
}

/// Racing duplicates on two instances on `redis` verify once.
pub(crate) fn race_duplicates(redis: &Redis) {
    let prefix = unique_prefix("race");
    let instances = [
        Instance::spawn(redis, &prefix, &[]),
        Instance::spawn(redis, &prefix, &[]),
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
    // The short challenge expired: it reads expired and a late message cannot verify it. As in
    // the memory store, its place is given back by the sweep (once a second on each instance),
    // so a start succeeds within a sweep period, not necessarily at once.
    assert_eq!(a.status(&short_id).body["status"], "expired");
    let late = b.deliver("late", ALICE, &short_code);
    assert_ne!(late.body["result"], "verified", "{late:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut started = b.start("");
    while started.status == 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        started = b.start("");
    }
    id_and_code(&started);
    // Whichever instance's start or sweep came upon the expiry counted it, and only one did.
    std::thread::sleep(Duration::from_millis(1100));
    let expired = |i: &Instance| common::metric(&i.addr, "mo2fa_expired_total");
    assert_eq!(expired(&a) + expired(&b), 1);
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
    let retry = a.deliver_until_served("k1", ALICE, &code);
    assert_eq!(retry.body["result"], "verified", "{retry:?}");
    assert_eq!(retry.body["duplicate"], false);
    let s = a.status(&id);
    assert_eq!(s.body["status"], "verified", "{s:?}");
    assert_eq!(s.body["sender"], ALICE);
    id_and_code(&a.start(""));
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
    let quick = Instance::spawn(
        &redis,
        &unique_prefix("hung-quick"),
        &["--redis-timeout-ms", "100"],
    );
    let (id, code) = id_and_code(&a.start(&format!(r#"{{"expected_sender":"{ALICE}"}}"#)));
    id_and_code(&quick.start(""));
    let child = redis.child.as_ref().unwrap();
    // A stopped server accepts connections and never answers: "slow", not "down".
    signal(child, "-STOP");
    let t = Instant::now();
    assert_store_unavailable(&a.deliver("h1", ALICE, &code), "webhook");
    assert_store_unavailable(&a.status(&id), "status");
    assert_store_unavailable(&a.start(""), "start");
    let slow = t.elapsed();
    // Three requests, each given up after the 500 ms command timeout (plus one retry).
    assert!(slow < Duration::from_secs(6), "503s took {slow:?}");
    let t = Instant::now();
    for _ in 0..3 {
        assert_store_unavailable(&quick.start(""), "start with --redis-timeout-ms 100");
    }
    let fast = t.elapsed();
    eprintln!("three 503s: {slow:?} at the default timeout, {fast:?} at 100 ms");
    assert!(
        fast * 2 < slow,
        "{fast:?} with 100 ms vs {slow:?} with 500 ms"
    );
    signal(child, "-CONT");
    // Commands queued while Redis was stopped may run now; the delivery's record then answers
    // the provider's retry. Either way the challenge is verified exactly once, by ALICE.
    let retry = a.deliver_until_served("h1", ALICE, &code);
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.body["result"], "verified", "{retry:?}");
    assert_eq!(retry.body["id"], id.as_str());
    let again = a.deliver("h2", ALICE, &code);
    assert_eq!(again.body["result"], "no_match", "{again:?}");
    let s = a.status(&id);
    assert_eq!(s.body["status"], "verified", "{s:?}");
    assert_eq!(s.body["sender"], ALICE);
    id_and_code(&a.start(""));
}

/// Challenges under `prefix` whose status in Redis is `verified`, read with plain commands.
fn verified_in_redis(redis: &Redis, prefix: &str) -> u64 {
    let mut conn = ::redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut cursor = 0u64;
    let mut verified = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}done:*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .unwrap();
        for key in keys {
            let record: Option<String> = ::redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
            verified += u64::from(record.is_some_and(|r| r.starts_with("verified ")));
        }
        if next == 0 {
            return verified;
        }
        cursor = next;
    }
}

/// Issue 14 item 6: deliveries answered 503 while Redis was paused may have been applied once
/// it resumed; the provider's retry then gets `duplicate: true`, and the counters must still
/// count each verification once, by the instance whose script decided it.
#[test]
fn counters_after_a_fault_run_match_redis() {
    const N: usize = 24;
    let dir = tmp("fault");
    let _ = std::fs::remove_dir_all(&dir);
    let Some(redis) = Redis::start_own(free_port(), &dir) else {
        return;
    };
    let prefix = unique_prefix("fault");
    let args = ["--redis-timeout-ms", "200"];
    let instances = [
        Instance::spawn(&redis, &prefix, &args),
        Instance::spawn(&redis, &prefix, &args),
    ];
    let challenges: Vec<(String, String)> = (0..N)
        .map(|i| id_and_code(&instances[i % 2].start("")))
        .collect();
    // Redis has run every script once (it caches them), as in any server that has been up a while.
    for (i, inst) in instances.iter().enumerate() {
        let hello = inst.deliver(&format!("warm{i}"), ALICE, "hello");
        assert_eq!(hello.body["result"], "no_code", "{hello:?}");
    }

    let child = redis.child.as_ref().unwrap();
    signal(child, "-STOP");
    // Every delivery times out: sent to Redis, never answered.
    std::thread::scope(|s| {
        for (i, (_, code)) in challenges.iter().enumerate() {
            let inst = &instances[i % 2];
            s.spawn(move || {
                let r = inst.deliver(&format!("f{i}"), ALICE, &format!("code {code}"));
                assert_store_unavailable(&r, "delivery while Redis is paused");
            });
        }
    });
    signal(child, "-CONT");

    // The provider retries each delivery until it is served: each verifies its challenge, and
    // those whose first attempt took effect say so with `duplicate: true`.
    let mut took_effect = 0;
    for (i, (id, code)) in challenges.iter().enumerate() {
        let r =
            instances[i % 2].deliver_until_served(&format!("f{i}"), ALICE, &format!("code {code}"));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["result"], "verified", "{r:?}");
        assert_eq!(r.body["id"], id.as_str(), "{r:?}");
        took_effect += usize::from(r.body["duplicate"] == true);
    }
    // Otherwise this run tested nothing: no 503 took effect.
    assert!(
        took_effect > 0,
        "no 503 delivery was applied after Redis resumed"
    );
    let verified = verified_in_redis(&redis, &prefix);
    assert_eq!(verified, N as u64);

    // Each instance takes Redis' record of its own scripts in at its next sweep (once a second).
    let sum = |name: &str| -> u64 {
        instances
            .iter()
            .map(|i| common::metric(&i.addr, name))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while sum("mo2fa_verifications_total") != verified && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{took_effect} of {N} deliveries answered 503 had taken effect");
    assert_eq!(sum("mo2fa_verifications_total"), verified);
    // Each delivery decided once (plus the two warm-ups), every challenge started once.
    assert_eq!(sum("mo2fa_messages_total"), N as u64 + 2);
    assert_eq!(sum("mo2fa_starts_total"), N as u64);
    assert!(sum("mo2fa_duplicate_deliveries_total") >= took_effect as u64);
    assert!(sum("mo2fa_store_unavailable_total") >= N as u64);

    // Redis' record: one counts hash per instance, each with a lifetime, together the same total.
    let mut conn = ::redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{prefix}counts:*"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut recorded = 0;
    for key in &keys {
        let ttl: i64 = ::redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
        assert!(ttl > 0 && ttl <= 86_400_000, "{key}: PTTL {ttl}");
        let n: u64 = ::redis::cmd("HGET")
            .arg(key)
            .arg("verifications")
            .query(&mut conn)
            .unwrap();
        recorded += n;
    }
    assert_eq!(recorded, verified);
}

pub(crate) mod parity {
    //! The memory verifier and the Redis one, driven through `Backend` with the same script and
    //! an injected clock, give the same answers (challenges named by key, since the two draw
    //! different codes). This is what the receive script promises: `Verifier::match_message`'s
    //! rules, in Lua.

    use super::{Redis, unique_prefix};
    use mo2fa_core::clock::{Clock, Millis, SystemClock};
    use mo2fa_core::code::Code;
    use mo2fa_core::metrics::Counters;
    use mo2fa_core::store::{ChallengeId, MemoryStoreConfig, Status};
    use mo2fa_core::verifier::{
        Config, InboundMessage, ReceiveOutcome, StartError, StartRequest, Started, StatusView,
        Verifier,
    };
    use mo2fa_server::backend::Backend;
    use mo2fa_server::redis::{RedisConfig, RedisVerifier};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;
    use std::sync::atomic::Ordering;

    const ALICE: &str = "+15551230001";
    const BOB: &str = "bob@example.com";
    const MALLORY: &str = "+15559990666";
    const MAX_PENDING: usize = 8;

    /// One backend under the script: its challenges by key, and a delivery counter.
    pub(super) struct Side<B: Backend> {
        backend: B,
        rng: ChaCha8Rng,
        by_key: HashMap<&'static str, (String, String)>,
        pub(super) deliveries: u32,
        /// Each delivery's message (sender, text, protocol), for its replays.
        sent: HashMap<u32, (String, String, String)>,
        /// A repeat carries its first delivery's message, as a provider's redelivery does
        /// (a cluster finds a delivery's record by the code its message names).
        pub(super) same_body_repeats: bool,
    }

    /// An outcome with the challenge id replaced by the script's key for it.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum Seen {
        Verified(String),
        Mismatch(String, bool),
        Expired(String),
        NoMatch(usize),
        NoCode,
        Ignored(String),
    }

    /// A status with the absolute times made relative to the script's start.
    pub(super) type SeenStatus = Option<(Status, Option<String>, Option<Millis>, Millis)>;

    impl<B: Backend> Side<B> {
        pub(super) fn new(backend: B) -> Self {
            Self {
                backend,
                rng: ChaCha8Rng::seed_from_u64(6),
                by_key: HashMap::new(),
                deliveries: 0,
                sent: HashMap::new(),
                same_body_repeats: false,
            }
        }

        fn key_of(&self, id: &mo2fa_core::store::ChallengeId) -> String {
            let id = id.encode();
            self.by_key
                .iter()
                .find(|(_, (i, _))| *i == id)
                .map_or_else(|| format!("unknown {id}"), |(k, _)| k.to_string())
        }

        pub(super) async fn start(
            &mut self,
            key: &'static str,
            sender: Option<&str>,
            ttl_ms: Millis,
            now: Millis,
        ) -> Result<(), StartError> {
            let req = StartRequest {
                expected_sender: sender.map(str::to_string),
                ttl_ms: Some(ttl_ms),
            };
            let s = self.backend.start(&req, now, &mut self.rng).await?;
            let code = self.backend.config().code.format(s.code).to_string();
            assert_eq!(s.expires_at, now + ttl_ms);
            self.by_key.insert(key, (s.id.encode(), code));
            Ok(())
        }

        /// Delivers `text` (with `{key}` replaced by that challenge's code) as a new delivery,
        /// or as a repeat of delivery `repeat`.
        pub(super) async fn deliver(
            &mut self,
            sender: &str,
            text: &str,
            protocol: &str,
            repeat: Option<u32>,
            now: Millis,
        ) -> (Seen, bool) {
            let mut text = text.to_string();
            for (key, (_, code)) in &self.by_key {
                text = text.replace(&format!("{{{key}}}"), code);
            }
            let first = repeat.and_then(|n| self.sent.get(&n)).cloned();
            let (sender, text, protocol) = match first {
                Some((s, t, p)) if self.same_body_repeats => (s, t, p),
                _ => (sender.to_string(), text, protocol.to_string()),
            };
            let (sender, protocol) = (sender.as_str(), protocol.as_str());
            let delivery = repeat.unwrap_or_else(|| {
                self.deliveries += 1;
                self.deliveries
            });
            self.sent
                .entry(delivery)
                .or_insert_with(|| (sender.to_string(), text.clone(), protocol.to_string()));
            let msg = InboundMessage {
                sender,
                text: &text,
                protocol: Some(protocol),
            };
            let (outcome, repeat) = self
                .backend
                .receive_once(&format!("d{delivery}"), &msg, now)
                .await
                .unwrap();
            (self.seen(outcome), repeat)
        }

        pub(super) async fn status(&self, key: &str, t0: Millis, now: Millis) -> SeenStatus {
            let id = self.by_key.get(key).map_or(key, |(id, _)| id.as_str());
            let view: Option<StatusView> = self.backend.status(id, now).await.unwrap();
            view.map(|v| {
                (
                    v.status,
                    v.sender,
                    v.verified_at.map(|t| t - t0),
                    v.expires_at - t0,
                )
            })
        }

        pub(super) fn backend(&self) -> &B {
            &self.backend
        }

        pub(super) fn counts(&self) -> [u64; 12] {
            counts(self.backend.counters())
        }

        /// A replay's lookup of delivery `n`: its first answer, or `None` if never made.
        pub(super) async fn replay(&self, n: u32) -> Option<Seen> {
            let (sender, text, protocol) = self.sent.get(&n).cloned().unwrap_or_default();
            let msg = InboundMessage {
                sender: &sender,
                text: &text,
                protocol: Some(&protocol),
            };
            let outcome = self
                .backend
                .recorded(&format!("d{n}"), &msg)
                .await
                .unwrap()?;
            Some(self.seen(outcome))
        }

        fn seen(&self, outcome: ReceiveOutcome) -> Seen {
            match outcome {
                ReceiveOutcome::Verified { id } => Seen::Verified(self.key_of(&id)),
                ReceiveOutcome::SenderMismatch { id, locked } => {
                    Seen::Mismatch(self.key_of(&id), locked)
                }
                ReceiveOutcome::Expired { id } => Seen::Expired(self.key_of(&id)),
                ReceiveOutcome::NoMatch { candidates_tried } => Seen::NoMatch(candidates_tried),
                ReceiveOutcome::NoCode => Seen::NoCode,
                ReceiveOutcome::Ignored { reason } => Seen::Ignored(reason),
            }
        }
    }

    /// Every counter the verifier decides (not `bad_signatures`, the HTTP adapter's).
    pub(super) fn counts(c: &Counters) -> [u64; 12] {
        [
            &c.expired,
            &c.starts,
            &c.starts_refused,
            &c.messages,
            &c.verifications,
            &c.sender_mismatches,
            &c.locked,
            &c.no_match,
            &c.no_code,
            &c.stuffed,
            &c.duplicates,
            &c.ignored,
        ]
        .map(|a| a.load(Ordering::Relaxed))
    }

    /// Runs the same step on both sides and insists on the same answer.
    macro_rules! both {
        ($m:ident, $r:ident, |$s:ident| $step:expr) => {{
            let a = {
                let $s = &mut $m;
                $step.await
            };
            let b = {
                let $s = &mut $r;
                $step.await
            };
            assert_eq!(a, b, "memory vs redis: {}", stringify!($step));
            a
        }};
    }

    #[tokio::test]
    async fn redis_answers_like_memory() {
        let Some(redis) = Redis::shared("parity") else {
            return;
        };
        answers_like_memory(&redis.url, 1).await;
        // And with every call on its own, as in a cluster (the scripts' single-call form).
        answers_like_memory_with(&redis.url, 1, false).await;
    }

    /// The fixed script against the store at `url` (`buckets`: a cluster's, see
    /// `RedisConfig::buckets`).
    pub(crate) async fn answers_like_memory(url: &str, buckets: u32) {
        answers_like_memory_with(url, buckets, true).await;
    }

    /// The fixed script, with or without batching (`RedisConfig::batch`).
    async fn answers_like_memory_with(url: &str, buckets: u32, batch: bool) {
        let cfg = Config {
            max_candidates: 3,
            max_sender_failures: 2,
            min_ttl_ms: 1_000,
            ..Config::default()
        };
        let store = MemoryStoreConfig {
            shards: 2,
            max_pending: MAX_PENDING,
            retention_ms: 600_000,
        };
        let mut mem = Side::new(Verifier::in_memory(cfg.clone(), store).unwrap());
        let redis_cfg = RedisConfig {
            prefix: unique_prefix("parity"),
            max_pending: MAX_PENDING,
            retention_ms: store.retention_ms,
            buckets,
            batch,
            ..RedisConfig::new(url)
        };
        let mut red = Side::new(RedisVerifier::new(cfg.clone(), redis_cfg.clone()).unwrap());
        // Redis' own TTLs follow the wall clock, so the script starts now and only moves its
        // clock forward: keys never vanish under it before the script says they expire.
        let t0 = SystemClock.now_ms();
        let minute = 60_000;

        both!(mem, red, |s| s.start("a", Some(ALICE), minute, t0)).unwrap();
        both!(mem, red, |s| s.start("b", None, minute, t0)).unwrap();
        both!(mem, red, |s| s.start("c", Some(BOB), 2 * minute, t0)).unwrap();
        both!(mem, red, |s| s.start("d", None, 2 * minute, t0)).unwrap();

        // The binding: a stranger's tries count, the limit locks and frees the code.
        let (seen, _) = both!(mem, red, |s| s.deliver(
            MALLORY,
            "{a}",
            "imessage",
            None,
            t0 + 1
        ));
        assert_eq!(seen, Seen::Mismatch("a".into(), false));
        let (seen, _) = both!(mem, red, |s| s.deliver(
            MALLORY,
            "{a}",
            "imessage",
            None,
            t0 + 2
        ));
        assert_eq!(seen, Seen::Mismatch("a".into(), true));
        let locked = both!(mem, red, |s| s.status("a", t0, t0 + 3));
        assert_eq!(locked.map(|s| s.0), Some(Status::Locked));
        let (seen, _) = both!(mem, red, |s| s.deliver(
            ALICE,
            "{a}",
            "imessage",
            None,
            t0 + 4
        ));
        assert_eq!(seen, Seen::NoMatch(1));

        // Decided before the store, and still deduplicated.
        let (seen, _) = both!(mem, red, |s| s.deliver(
            ALICE,
            "hi there",
            "imessage",
            None,
            t0 + 5
        ));
        assert_eq!(seen, Seen::NoCode);
        both!(mem, red, |s| s.deliver(ALICE, "{b}", "sms", None, t0 + 6));
        let (seen, _) = both!(mem, red, |s| s.deliver(
            "not a sender",
            "{b}",
            "imessage",
            None,
            t0 + 7
        ));
        assert!(matches!(seen, Seen::Ignored(_)), "{seen:?}");
        let (_, repeat) = both!(mem, red, |s| s.deliver(
            ALICE,
            "{b}",
            "imessage",
            Some(5),
            t0 + 8
        ));
        assert!(repeat, "delivery 5 (the SMS) was seen before");
        assert_eq!(
            mem.status("b", t0, t0 + 9).await.map(|s| s.0),
            Some(Status::Pending)
        );

        // Several candidates: tried in order, the first pending one decides.
        let (seen, _) = both!(mem, red, |s| s.deliver(
            BOB,
            "{a} or {c} or {d}",
            "imessage",
            None,
            t0 + 10
        ));
        assert_eq!(seen, Seen::Verified("c".into()));
        let verified = both!(mem, red, |s| s.status("c", t0, t0 + 11));
        assert_eq!(
            verified,
            Some((Status::Verified, Some(BOB.into()), Some(10), 2 * minute))
        );
        let (seen, repeat) = both!(mem, red, |s| s.deliver(
            BOB,
            "{d}",
            "imessage",
            Some(7),
            t0 + 12
        ));
        assert_eq!((seen, repeat), (Seen::Verified("c".into()), true));
        // More candidates than may be tried: counted as stuffed once, not again on a repeat.
        let stuffed = "{a} {c} 2345ZZ 2345YY 2345XX";
        both!(mem, red, |s| s.deliver(
            BOB,
            stuffed,
            "imessage",
            None,
            t0 + 13
        ));
        let (_, repeat) = both!(mem, red, |s| s.deliver(
            BOB,
            stuffed,
            "imessage",
            Some(8),
            t0 + 14
        ));
        assert!(repeat);

        // Fill up to max_pending (b and d are still pending), then one more is refused.
        for key in ["e", "f", "g", "h", "i", "j"] {
            both!(mem, red, |s| s.start(key, None, minute, t0 + 20)).unwrap();
        }
        let full = both!(mem, red, |s| s.start("k", None, minute, t0 + 21));
        assert!(matches!(full, Err(StartError::Store(_))), "{full:?}");

        // Past b's expiry by the injected clock: b reads and matches as expired, its place is
        // free again, and d (two minutes) is untouched.
        let later = t0 + minute + 1;
        let expired = both!(mem, red, |s| s.status("b", t0, later));
        assert_eq!(expired.map(|s| s.0), Some(Status::Expired));
        let (seen, _) = both!(mem, red, |s| s
            .deliver(ALICE, "{b}", "imessage", None, later));
        assert_eq!(seen, Seen::Expired("b".into()));
        let (seen, _) = both!(mem, red, |s| s.deliver(
            ALICE,
            "{b}",
            "imessage",
            None,
            later + 1
        ));
        assert_eq!(seen, Seen::NoMatch(1));
        both!(mem, red, |s| s.start("k", None, minute, later + 2)).unwrap();
        let (seen, _) = both!(mem, red, |s| s.deliver(
            MALLORY,
            "{d}",
            "imessage",
            None,
            later + 3
        ));
        assert_eq!(seen, Seen::Verified("d".into()));

        // Unknown and malformed ids.
        assert_eq!(
            both!(mem, red, |s| s.status(
                "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
                t0,
                later
            )),
            None
        );
        assert_eq!(both!(mem, red, |s| s.status("../etc", t0, later)), None);

        // The sweep: e..j (one minute from t0 + 20) are due, k is not. Redis' own key TTLs have
        // not run out (its clock is near t0): the sweep alone must free the codes, as in memory.
        // The memory store's wheel turns in whole seconds, so the sweep comes a second later.
        let sweep_at = t0 + minute + 1_100;
        mem.backend.sweep(sweep_at);
        red.backend.sweep(sweep_at); // runs in a task of its own
        assert_eq!(
            mem.counts()[0],
            7,
            "b by its late message, e..j by the sweep"
        );
        for _ in 0..500 {
            if red.counts()[0] == mem.counts()[0] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let (seen, _) = both!(mem, red, |s| s.deliver(
            ALICE,
            "{e}",
            "imessage",
            None,
            sweep_at + 1
        ));
        assert_eq!(seen, Seen::NoMatch(1));
        let swept = both!(mem, red, |s| s.status("e", t0, sweep_at + 2));
        assert_eq!(swept.map(|s| s.0), Some(Status::Expired));
        both!(mem, red, |s| s.start("l", None, minute, sweep_at + 3)).unwrap();

        assert_eq!(mem.counts(), red.counts(), "counters");
        // Redis' own record of what this instance's scripts decided says the same, so taking it
        // in changes nothing; and it alone holds every count: a verifier reading it under the
        // same instance name, without an answer of its own, reports them all.
        red.backend.sync_counters().await.unwrap();
        assert_eq!(
            mem.counts(),
            red.counts(),
            "counters after taking in Redis' record"
        );
        let reader = RedisVerifier::new(cfg, redis_cfg).unwrap();
        assert_eq!(counts(reader.counters()), [0; 12]);
        reader.sync_counters().await.unwrap();
        assert_eq!(
            mem.counts(),
            counts(reader.counters()),
            "Redis' record alone"
        );
        assert!(mem.counts().iter().all(|&n| n > 0), "{:?}", mem.counts());
    }

    /// Only live challenges count against `max_pending`, whether or not a sweep has come: the
    /// Redis sweep frees at most 1,000 a call, and used to leave starts refused while the
    /// challenges holding the bound had all expired.
    #[tokio::test]
    async fn expired_challenges_hold_no_place_before_the_sweep() {
        let Some(redis) = Redis::shared("live-bound") else {
            return;
        };
        let cfg = Config {
            min_ttl_ms: 1_000,
            ..Config::default()
        };
        let store = MemoryStoreConfig {
            shards: 2,
            max_pending: 3,
            retention_ms: 600_000,
        };
        let mut mem = Side::new(Verifier::in_memory(cfg.clone(), store).unwrap());
        let redis_cfg = RedisConfig {
            prefix: unique_prefix("live-bound"),
            max_pending: 3,
            retention_ms: store.retention_ms,
            ..RedisConfig::new(redis.url.clone())
        };
        let mut red = Side::new(RedisVerifier::new(cfg, redis_cfg).unwrap());
        let t0 = SystemClock.now_ms();
        both!(mem, red, |s| s.start("a", None, 1_000, t0)).unwrap();
        both!(mem, red, |s| s.start("b", None, 1_000, t0)).unwrap();
        both!(mem, red, |s| s.start("c", None, 60_000, t0)).unwrap();
        let full = both!(mem, red, |s| s.start("d", None, 60_000, t0 + 999));
        assert!(
            matches!(full, Err(StartError::Store(_))),
            "three live: {full:?}"
        );
        // a and b are due (at t0 + 1000 exactly, and within the current second: the memory
        // store's wheel has not reached them); nobody swept.
        both!(mem, red, |s| s.start("d", None, 60_000, t0 + 1_000)).unwrap();
        both!(mem, red, |s| s.start("e", None, 60_000, t0 + 1_001)).unwrap();
        let full = both!(mem, red, |s| s.start("f", None, 60_000, t0 + 1_002));
        assert!(
            matches!(full, Err(StartError::Store(_))),
            "c, d, e live: {full:?}"
        );
        let expired = both!(mem, red, |s| s.status("a", t0, t0 + 1_003));
        assert_eq!(expired.map(|s| s.0), Some(Status::Expired));
        // Each expiry is counted once: by the insert that found it, not again by the sweep.
        let end = t0 + 120_000;
        mem.backend().sweep(end);
        red.backend().sweep(end);
        for _ in 0..500 {
            if red.counts() == mem.counts() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(mem.counts(), red.counts());
        assert_eq!(mem.counts()[0], 5, "a, b, c, d, e expired once each");
    }

    /// A verifier on `redis` that batches (a single Redis), on a fresh prefix named after
    /// `name`, and that prefix.
    fn batching(
        redis: &Redis,
        name: &str,
        max_pending: usize,
    ) -> (std::sync::Arc<RedisVerifier>, String) {
        let redis_cfg = RedisConfig {
            prefix: unique_prefix(name),
            max_pending,
            // Generous: a loaded test machine must not turn a slow answer into a failure.
            timeout: std::time::Duration::from_secs(10),
            ..RedisConfig::new(redis.url.clone())
        };
        let prefix = redis_cfg.prefix.clone();
        let red = RedisVerifier::new(Config::default(), redis_cfg).unwrap();
        (std::sync::Arc::new(red), prefix)
    }

    /// A verifier with `cfg` on `redis` under `prefix`, otherwise with the defaults.
    fn on_prefix(redis: &Redis, cfg: Config, prefix: &str) -> RedisVerifier {
        let redis_cfg = RedisConfig {
            prefix: prefix.to_string(),
            ..RedisConfig::new(redis.url.clone())
        };
        RedisVerifier::new(cfg, redis_cfg).unwrap()
    }

    /// `n` starts at `now`, all at once (each its own task, seeded by its index), answered in
    /// that order.
    async fn start_at_once(
        red: &std::sync::Arc<RedisVerifier>,
        n: usize,
        now: Millis,
    ) -> Vec<Result<Started, StartError>> {
        let mut starts = tokio::task::JoinSet::new();
        for i in 0..n {
            let red = red.clone();
            starts.spawn(async move {
                let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
                (i, red.start(&StartRequest::default(), now, &mut rng).await)
            });
        }
        let mut answers = starts.join_all().await;
        answers.sort_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, a)| a).collect()
    }

    /// With a single Redis, calls made at once go to Redis in batches (one script call runs
    /// several inserts or receives in turn). Many starts, then for each code a delivery, its
    /// repeat and a second delivery of the same message, all at once on a multi-thread
    /// runtime: each code is verified exactly once, the repeat gets the first answer, the
    /// second delivery finds the code used, and the counts Redis recorded (added up per batch)
    /// are exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn batched_calls_decide_as_one_by_one() {
        const N: usize = 200;
        let Some(redis) = Redis::shared("batched") else {
            return;
        };
        let (red, _) = batching(&redis, "batched", RedisConfig::new("").max_pending);
        let now = SystemClock.now_ms();
        let started: Vec<(String, String)> = start_at_once(&red, N, now)
            .await
            .into_iter()
            .map(|s| {
                let s = s.unwrap();
                (s.id.encode(), red.config().code.format(s.code).to_string())
            })
            .collect();
        let ids: std::collections::HashSet<&String> = started.iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), N, "every start made its own challenge");
        let mut deliveries = tokio::task::JoinSet::new();
        for (n, (id, code)) in started.iter().enumerate() {
            // Delivery `a{n}` twice (a repeat), and `b{n}` with the same message.
            for delivery in [format!("a{n}"), format!("a{n}"), format!("b{n}")] {
                let (red, id, code) = (red.clone(), id.clone(), code.clone());
                deliveries.spawn(async move {
                    let msg = InboundMessage {
                        sender: ALICE,
                        text: &code,
                        protocol: Some("imessage"),
                    };
                    let answer = red.receive_once(&delivery, &msg, now + 1).await.unwrap();
                    (n, id, delivery, answer)
                });
            }
        }
        let mut verified = vec![0; N];
        let mut first: HashMap<String, ReceiveOutcome> = HashMap::new();
        for (n, id, delivery, (outcome, repeat)) in deliveries.join_all().await {
            if let ReceiveOutcome::Verified { id: got } = &outcome {
                assert_eq!(got.encode(), id);
                if !repeat {
                    verified[n] += 1;
                }
            } else {
                assert!(
                    matches!(outcome, ReceiveOutcome::NoMatch { .. }),
                    "{delivery}: {outcome:?}"
                );
            }
            // Both answers to delivery `a{n}` are the same, whichever came first.
            if let Some(seen) = first.insert(delivery.clone(), outcome.clone()) {
                assert_eq!(seen, outcome, "{delivery}");
            }
        }
        assert!(verified.iter().all(|&v| v == 1), "{verified:?}");
        let (calls, batches) = red.batch_stats().expect("a single Redis batches");
        assert_eq!(calls as usize, 4 * N, "{N} inserts and {} receives", 3 * N);
        assert!(batches < calls, "{batches} batches for {calls} calls");
        red.sync_counters().await.unwrap();
        let c = red.counters();
        let get = |a: &mo2fa_core::metrics::Count| a.load(Ordering::Relaxed);
        assert_eq!(get(&c.starts), N as u64);
        assert_eq!(get(&c.verifications), N as u64);
        assert_eq!(get(&c.duplicates), N as u64);
        assert_eq!(get(&c.no_match), N as u64);
        assert_eq!(get(&c.messages), 2 * N as u64);
    }

    /// `max_pending` holds within a batch: the insert script reads the pending set's size once
    /// per batch and counts each insert's `ZADD` itself, so many starts at once against a bound
    /// of `LIMIT` make exactly `LIMIT` challenges, refuse the rest as full, and Redis holds
    /// exactly `LIMIT` pending.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn max_pending_holds_within_a_batch() {
        const N: usize = 300;
        const LIMIT: usize = 70;
        let Some(redis) = Redis::shared("batched-bound") else {
            return;
        };
        let (red, prefix) = batching(&redis, "batched-bound", LIMIT);
        let answers = start_at_once(&red, N, SystemClock.now_ms()).await;
        let made = answers.iter().filter(|a| a.is_ok()).count();
        let full = answers
            .iter()
            .filter(|a| matches!(a, Err(StartError::Store(_))))
            .count();
        assert_eq!((made, full), (LIMIT, N - LIMIT), "made and refused as full");
        let (calls, batches) = red.batch_stats().expect("a single Redis batches");
        assert!(batches < calls, "{batches} batches for {calls} calls");
        let mut conn = ::redis::Client::open(redis.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let pending: usize = ::redis::cmd("ZCARD")
            .arg(format!("{prefix}pending"))
            .query(&mut conn)
            .unwrap();
        assert_eq!(pending, LIMIT);
    }

    /// Thread per core (`serve --runtime per-core`): the verifier is made on one runtime and
    /// called from serving threads that each run a current-thread runtime of their own. Each
    /// such thread batches its calls on its own runtime, over a connection of its own, so no
    /// call needs the verifier's runtime: here that one is never driven after the verifier is
    /// made (calls through its batchers or connection would wait out their 10 s timeout and
    /// fail). One
    /// thread starts challenges, a second verifies them, a third repeats the deliveries and
    /// gets the recorded answers, a fourth reads their status; every thread's batches count in
    /// the verifier's stats.
    #[test]
    fn threads_with_runtimes_of_their_own_batch_on_them() {
        const N: usize = 40;
        let Some(redis) = Redis::shared("per-thread") else {
            return;
        };
        fn current() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        }
        /// Runs `work` on a new thread's own current-thread runtime.
        fn on_own_thread<T: Send + 'static>(
            work: impl std::future::Future<Output = T> + Send + 'static,
        ) -> T {
            std::thread::spawn(move || current().block_on(work))
                .join()
                .unwrap()
        }
        async fn deliver(
            red: std::sync::Arc<RedisVerifier>,
            codes: Vec<String>,
            now: Millis,
        ) -> Vec<(ReceiveOutcome, bool)> {
            let mut answers = Vec::new();
            for (i, code) in codes.iter().enumerate() {
                let msg = InboundMessage {
                    sender: ALICE,
                    text: code,
                    protocol: Some("imessage"),
                };
                let delivery = format!("d{i}");
                answers.push(red.receive_once(&delivery, &msg, now + 1).await.unwrap());
            }
            answers
        }
        let home = current();
        let (red, _) = home
            .block_on(async { batching(&redis, "per-thread", RedisConfig::new("").max_pending) });
        // The verifier's own connection is driven by the runtime that first uses it: this one,
        // which from here on is not driven, so nothing the threads do may need that connection.
        home.block_on(red.sync_counters()).unwrap();
        let now = SystemClock.now_ms();
        let starter = red.clone();
        let codes: Vec<String> = on_own_thread(async move {
            let started = start_at_once(&starter, N, now).await;
            let code = |s: Started| starter.config().code.format(s.code).to_string();
            started.into_iter().map(|s| code(s.unwrap())).collect()
        });
        let first = on_own_thread(deliver(red.clone(), codes.clone(), now));
        for (outcome, repeat) in &first {
            assert!(
                matches!(outcome, ReceiveOutcome::Verified { .. }),
                "{outcome:?}"
            );
            assert!(!repeat);
        }
        let again = on_own_thread(deliver(red.clone(), codes, now));
        for ((outcome, repeat), (was, _)) in again.iter().zip(&first) {
            assert_eq!(outcome, was);
            assert!(repeat);
        }
        // Status reads go over the thread's own connection too.
        let ids: Vec<String> = first
            .iter()
            .filter_map(|(o, _)| match o {
                ReceiveOutcome::Verified { id } => Some(id.encode()),
                _ => None,
            })
            .collect();
        let reader = red.clone();
        let statuses = on_own_thread(async move {
            let mut statuses = Vec::new();
            for id in &ids {
                statuses.push(reader.status(id, now + 2).await.unwrap().map(|v| v.status));
            }
            statuses
        });
        assert_eq!(statuses, vec![Some(Status::Verified); N]);
        assert_eq!(red.thread_batchers(), 4, "one per serving thread");
        let (calls, _) = red.batch_stats().expect("a single Redis batches");
        assert_eq!(
            calls as usize,
            3 * N,
            "{N} inserts, {N} receives, {N} repeats"
        );
        drop(home);
    }

    /// A code already in Redis: held by a challenge still pending by the caller's clock it is
    /// not taken (the next draw is), held by one whose time is up by the caller's clock (Redis'
    /// own TTL not yet run out) it is taken over. The code to plant is learned from a verifier
    /// on another prefix, given the same seed: it draws the same code.
    #[tokio::test]
    async fn a_held_code_is_taken_only_when_its_holder_is_due() {
        let Some(redis) = Redis::shared("held-code") else {
            return;
        };
        let mut conn = ::redis::Client::open(redis.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let cfg = Config {
            code_attempts: 2,
            ..Config::default()
        };
        let now = SystemClock.now_ms();
        let start = |prefix: &str| {
            let red = on_prefix(&redis, cfg.clone(), prefix);
            async move {
                let mut rng = ChaCha8Rng::seed_from_u64(42);
                red.start(&StartRequest::default(), now, &mut rng)
                    .await
                    .unwrap()
            }
        };
        let scratch = start(&unique_prefix("held-scratch")).await;
        for (holder_expires, taken_over) in [(now + 60_000, false), (now, true)] {
            let prefix = unique_prefix("held-code");
            let code_key = format!("{prefix}code:{}", scratch.code.0);
            // Another challenge holds the code; Redis keeps the key a minute either way.
            let _: () = ::redis::cmd("SET")
                .arg(&code_key)
                .arg(format!("AAAAAAAAAAAA {holder_expires} "))
                .arg("PX")
                .arg(60_000)
                .query(&mut conn)
                .unwrap();
            let started = start(&prefix).await;
            let held: String = ::redis::cmd("GET").arg(&code_key).query(&mut conn).unwrap();
            let ours = held.starts_with(&started.id.encode());
            assert_eq!(started.code == scratch.code, taken_over, "{started:?}");
            assert_eq!(ours, taken_over, "{held}");
            if !taken_over {
                let other = format!("{prefix}code:{}", started.code.0);
                let held: String = ::redis::cmd("GET").arg(&other).query(&mut conn).unwrap();
                assert!(held.starts_with(&started.id.encode()), "{held}");
            }
        }
    }

    /// Challenges a version before `done:` records left (a hash per challenge, written at the
    /// start) are read, verified and expired by this one: pending ones through their code
    /// keys and the pending set, as before; ended ones from their hash.
    #[tokio::test]
    async fn challenges_of_the_hash_layout_verify_expire_and_read() {
        let Some(redis) = Redis::shared("hash-layout") else {
            return;
        };
        let prefix = unique_prefix("hash-layout");
        let mut conn = ::redis::Client::open(redis.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let cfg = Config::default();
        let red = on_prefix(&redis, cfg.clone(), &prefix);
        let t0 = SystemClock.now_ms();
        let id = |tag: u128| ChallengeId { locator: 0, tag }.encode();
        let mut hash = |id: &str, fields: &[(&str, String)]| {
            let mut cmd = ::redis::cmd("HSET");
            cmd.arg(format!("{prefix}ch:{id}"));
            for (k, v) in fields {
                cmd.arg(*k).arg(v);
            }
            let _: () = cmd.query(&mut conn).unwrap();
        };
        // As the earlier insert left a pending challenge: its hash, its code key (`id expires
        // expected`, or in the earliest version only the id) and its place in the pending set.
        let pending = [
            (id(1), 111_111, t0 + 60_000, "", false),
            (id(2), 222_222, t0 + 60_000, ALICE, true),
            (id(3), 333_333, t0 + 1_000, "", false),
            (id(7), 444_444, t0 + 1_000, "", false),
        ];
        for (id, code, expires, expected, _) in &pending {
            hash(
                id,
                &[
                    ("code", code.to_string()),
                    ("status", "pending".into()),
                    ("expires", expires.to_string()),
                    ("expected", expected.to_string()),
                ],
            );
        }
        hash(
            &id(4),
            &[
                ("status", "verified".into()),
                ("expires", (t0 + 5_000).to_string()),
                ("sender", BOB.into()),
                ("verified_at", (t0 - 1).to_string()),
            ],
        );
        hash(
            &id(5),
            &[
                ("status", "locked".into()),
                ("expires", (t0 + 5_000).to_string()),
            ],
        );
        for (id, code, expires, expected, id_only) in &pending {
            let held = if *id_only {
                id.clone()
            } else {
                format!("{id} {expires} {expected}")
            };
            let _: () = ::redis::pipe()
                .cmd("SET")
                .arg(format!("{prefix}code:{code}"))
                .arg(held)
                .arg("PX")
                .arg(60_000)
                .cmd("ZADD")
                .arg(format!("{prefix}pending"))
                .arg(*expires)
                .arg(id)
                .query(&mut conn)
                .unwrap();
        }

        let status = |n: u128, now: Millis| {
            let red = &red;
            async move {
                let v = red.status(&id(n), now).await.unwrap().unwrap();
                (v.status, v.sender, v.verified_at, v.expires_at)
            }
        };
        assert_eq!(
            status(1, t0).await,
            (Status::Pending, None, None, t0 + 60_000)
        );
        assert_eq!(
            status(4, t0).await,
            (Status::Verified, Some(BOB.into()), Some(t0 - 1), t0 + 5_000)
        );
        assert_eq!(status(5, t0).await.0, Status::Locked);

        let deliver = |delivery: &'static str, sender: &'static str, code: u64, now: Millis| {
            let (red, text) = (&red, cfg.code.format(Code(code)).to_string());
            async move {
                let msg = InboundMessage {
                    sender,
                    text: &text,
                    protocol: Some("imessage"),
                };
                red.receive_once(delivery, &msg, now).await.unwrap().0
            }
        };
        let parse = |n: u128| ChallengeId::parse(&id(n)).unwrap();
        assert_eq!(
            deliver("d1", BOB, 111_111, t0 + 10).await,
            ReceiveOutcome::Verified { id: parse(1) }
        );
        assert_eq!(
            status(1, t0 + 20).await,
            (
                Status::Verified,
                Some(BOB.into()),
                Some(t0 + 10),
                t0 + 60_000
            )
        );
        // The earliest form binds its sender through the hash.
        assert_eq!(
            deliver("d2", MALLORY, 222_222, t0 + 10).await,
            ReceiveOutcome::SenderMismatch {
                id: parse(2),
                locked: false
            }
        );
        assert_eq!(
            deliver("d3", ALICE, 222_222, t0 + 20).await,
            ReceiveOutcome::Verified { id: parse(2) }
        );
        // Expired by the caller's clock and swept while Redis still keeps their code keys: a
        // late message finds nothing, as with the memory store, even from an instance whose
        // clock is behind the sweeper's.
        assert_eq!(red.sweep_now(t0 + 2_000).await.unwrap(), 2);
        assert_eq!(status(3, t0 + 2_000).await.0, Status::Expired);
        let code_key: bool = ::redis::cmd("EXISTS")
            .arg(format!("{prefix}code:333333"))
            .query(&mut conn)
            .unwrap();
        assert!(code_key, "the code key outlives the sweep (Redis' TTL)");
        assert_eq!(
            deliver("d4", BOB, 333_333, t0 + 2_001).await,
            ReceiveOutcome::NoMatch {
                candidates_tried: 1
            }
        );
        assert_eq!(
            deliver("d5", BOB, 444_444, t0 + 500).await,
            ReceiveOutcome::NoMatch {
                candidates_tried: 1
            }
        );
        assert!(red.status(&id(6), t0).await.unwrap().is_none());
    }
}

/// The model-based test the memory store has (random operations against a model), run with the
/// Redis backend as the second implementation: random sequences of starts, deliveries (new,
/// repeated, replay lookups), status reads and clock steps, where every answer and the final
/// counters must be the same on both. The fixed script in `parity` covers the cases one by one;
/// this looks for the orders nobody wrote down.
pub(crate) mod model {
    use super::parity::{Seen, Side};
    use super::{Redis, unique_prefix};
    use mo2fa_core::clock::{Clock, SystemClock};
    use mo2fa_core::store::MemoryStoreConfig;
    use mo2fa_core::verifier::{Config, StartError, Verifier};
    use mo2fa_server::backend::Backend;
    use mo2fa_server::redis::{RedisConfig, RedisVerifier};
    use proptest::prelude::*;

    const KEYS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];
    const SENDERS: [&str; 3] = ["+15551230001", "bob@example.com", "+15559990666"];

    #[derive(Clone, Debug)]
    pub(crate) enum Op {
        Start {
            key: usize,
            bound: Option<usize>,
            ttl_s: u64,
        },
        /// `text` names challenges by index; `again` repeats an earlier delivery.
        Deliver {
            sender: usize,
            keys: Vec<usize>,
            sms: bool,
            again: Option<u32>,
        },
        Replay {
            delivery: u32,
        },
        Status {
            key: usize,
        },
        Wait {
            ms: u64,
        },
        /// Both sweeps at `now` (Redis' at the memory wheel's last whole second, which is what
        /// the wheel expires by). Sweeps are rare here, so the bound is usually reached with due
        /// challenges that no sweep has freed yet: the sweep has fallen behind.
        Sweep,
    }

    pub(crate) fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (
                0..KEYS.len(),
                proptest::option::of(0..SENDERS.len()),
                prop_oneof![1u64..3, 1u64..90],
            )
                .prop_map(|(key, bound, ttl_s)| Op::Start { key, bound, ttl_s }),
            4 => (
                0..SENDERS.len(),
                proptest::collection::vec(0..KEYS.len(), 0..4),
                proptest::bool::weighted(0.1),
                proptest::option::weighted(0.2, 1u32..8),
            )
                .prop_map(|(sender, keys, sms, again)| Op::Deliver { sender, keys, sms, again }),
            1 => (1u32..8).prop_map(|delivery| Op::Replay { delivery }),
            2 => (0..KEYS.len()).prop_map(|key| Op::Status { key }),
            1 => (1u64..40_000).prop_map(|ms| Op::Wait { ms }),
            1 => (1u64..2_500).prop_map(|ms| Op::Wait { ms }),
            1 => Just(Op::Sweep),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn random_operations_answer_alike(ops in proptest::collection::vec(op(), 1..40)) {
            let Some(redis) = Redis::shared("model") else {
                return Ok(());
            };
            run(&redis.url, 1, 3, &ops)?;
        }
    }

    /// Runs `ops` on both sides, the Redis one at `url` (`buckets`: a cluster's), both bounded
    /// by `max_pending`.
    pub(crate) fn run(
        url: &str,
        buckets: u32,
        max_pending: usize,
        ops: &[Op],
    ) -> Result<(), TestCaseError> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let cfg = Config {
                max_candidates: 2,
                max_sender_failures: 2,
                min_ttl_ms: 1_000,
                ..Config::default()
            };
            let store = MemoryStoreConfig {
                shards: 2,
                max_pending,
                retention_ms: 600_000,
            };
            let mut mem = Side::new(Verifier::in_memory(cfg.clone(), store).unwrap());
            let redis_cfg = RedisConfig {
                prefix: unique_prefix("model"),
                max_pending: store.max_pending,
                retention_ms: store.retention_ms,
                buckets,
                // Half the cases through the batch scripts, half with each call on its own.
                batch: ops.len().is_multiple_of(2),
                ..RedisConfig::new(url)
            };
            let mut red = Side::new(RedisVerifier::new(cfg, redis_cfg).unwrap());
            mem.same_body_repeats = buckets > 1;
            red.same_body_repeats = buckets > 1;
            // Only forward from the wall clock: Redis' own key TTLs never run out first.
            let t0 = SystemClock.now_ms();
            let mut now = t0;
            // Each key names one challenge for the whole run (answers name challenges by key).
            let mut used = [false; KEYS.len()];
            // The model of the bound: each started key's expiry, and whether it left
            // `Pending` by a message (verified, locked, or found expired).
            let mut model: [Option<(u64, bool)>; KEYS.len()] = [None; KEYS.len()];
            for (i, op) in ops.iter().enumerate() {
                now += 1;
                match op {
                    Op::Start { key, .. } if used[*key] => {}
                    Op::Start { key, bound, ttl_s } => {
                        let sender = bound.map(|b| SENDERS[b]);
                        let (a, b) = (
                            mem.start(KEYS[*key], sender, ttl_s * 1000, now).await,
                            red.start(KEYS[*key], sender, ttl_s * 1000, now).await,
                        );
                        // Only live challenges hold a place, swept or not.
                        let live = model
                            .iter()
                            .flatten()
                            .filter(|(expires, done)| !done && *expires > now)
                            .count();
                        let full = matches!(a, Err(StartError::Store(_)));
                        prop_assert_eq!(
                            full,
                            live >= store.max_pending,
                            "step {}: {:?}, {} live: {:?}",
                            i,
                            op,
                            live,
                            a
                        );
                        if a.is_ok() {
                            used[*key] = true;
                            model[*key] = Some((now + ttl_s * 1000, false));
                        }
                        prop_assert_eq!(
                            a.map_err(|e| e.to_string()),
                            b.map_err(|e| e.to_string()),
                            "step {}: {:?}",
                            i,
                            op
                        );
                    }
                    Op::Deliver {
                        sender,
                        keys,
                        sms,
                        again,
                    } => {
                        let text: Vec<String> =
                            keys.iter().map(|k| format!("{{{}}}", KEYS[*k])).collect();
                        let text = if text.is_empty() {
                            "hello".to_string()
                        } else {
                            text.join(" ")
                        };
                        let protocol = if *sms { "sms" } else { "imessage" };
                        // A repeat names a delivery both sides have made.
                        let again = again.filter(|d| *d <= mem.deliveries);
                        let a = mem
                            .deliver(SENDERS[*sender], &text, protocol, again, now)
                            .await;
                        let b = red
                            .deliver(SENDERS[*sender], &text, protocol, again, now)
                            .await;
                        let left = match &a.0 {
                            Seen::Verified(k) | Seen::Mismatch(k, true) | Seen::Expired(k) => {
                                Some(k)
                            }
                            _ => None,
                        };
                        if let Some(k) = left.and_then(|k| KEYS.iter().position(|x| x == k))
                            && let Some((_, done)) = &mut model[k]
                        {
                            *done = true;
                        }
                        prop_assert_eq!(a, b, "step {}: {:?}", i, op);
                    }
                    Op::Replay { delivery } => {
                        let a = mem.replay(*delivery).await;
                        let b = red.replay(*delivery).await;
                        prop_assert_eq!(a, b, "step {}: {:?}", i, op);
                    }
                    Op::Status { key } => {
                        let a = mem.status(KEYS[*key], t0, now).await;
                        let b = red.status(KEYS[*key], t0, now).await;
                        prop_assert_eq!(a, b, "step {}: {:?}", i, op);
                    }
                    Op::Wait { ms } => now += ms,
                    Op::Sweep => {
                        mem.backend().sweep(now);
                        red.backend().sweep_now(now / 1000 * 1000).await.unwrap();
                    }
                }
            }
            // Both count an expiry when they sweep it, the memory store by a wheel of whole
            // seconds: counters agree once both have swept past every challenge's end (TTLs
            // are at most 90 s here). Redis' sweep runs as a task.
            let end = now + 100_000;
            mem.backend().sweep(end);
            red.backend().sweep(end);
            for _ in 0..500 {
                if red.counts() == mem.counts() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            prop_assert_eq!(mem.counts(), red.counts(), "counters after {:?}", ops);
            Ok(())
        })
    }
}

// ---- Readiness (/readyz) against Redis: kept apart from the tests above. ----

/// `GET path` on a fresh connection to `addr`.
fn get(addr: &str, path: &str) -> Reply {
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Nothing listens where --store points: alive (/healthz 200) but not ready (/readyz 503
/// naming the store), like every start. Needs no redis-server.
#[test]
fn readyz_is_503_while_redis_is_unreachable() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(["--store", &format!("redis://127.0.0.1:{port}")])
        .args(["--redis-timeout-ms", "200"])
        .env("MO2FA_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child);
    let _server = common::Serve {
        child,
        addr: addr.clone(),
    };
    assert_eq!(get(&addr, "/healthz").status, 200);
    let t = Instant::now();
    let ready = get(&addr, "/readyz");
    assert_store_unavailable(&ready, "readyz");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// A real Redis: ready; killed, not ready (while alive); back, ready again.
#[test]
fn readyz_follows_redis_down_and_back() {
    let dir = tmp("readyz");
    let _ = std::fs::remove_dir_all(&dir);
    let Some(mut redis) = Redis::start_own(free_port(), &dir) else {
        return;
    };
    let a = Instance::spawn(
        &redis,
        &unique_prefix("readyz"),
        &["--redis-timeout-ms", "200"],
    );
    let ready = get(&a.addr, "/readyz");
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body["status"], "ready");
    redis.kill();
    assert_store_unavailable(&get(&a.addr, "/readyz"), "readyz with Redis down");
    assert_eq!(get(&a.addr, "/healthz").status, 200);
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&a.addr, "/readyz").status != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready again after Redis came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    id_and_code(&a.start(""));
}
