//! `mo2fa audit` against reference targets: `mo2fa serve` with default flags passes every case;
//! the Hono baseline (benches/hono/) passes the signature and dedupe cases; the article-shaped
//! demo (benches/hono-demo/) fails exactly where it has holes. The Node targets need `node` and
//! their `node_modules` (`npm ci` in each directory; `.ci/run` does it): without them the tests
//! skip, except under CI, where they fail.

use super::common::{Serve, skip_or_fail};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SECRET: &str = "audit-test-secret";

fn out_dir(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("audit-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn audit(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mo2fa"));
    c.arg("audit")
        .args(args)
        .env("MO2FA_WEBHOOK_SECRET", SECRET);
    c
}

/// Runs an audit writing to `out`; returns its exit code and audit.json.
fn run_audit(target: &str, out: &Path, extra: &[&str]) -> (i32, Value) {
    let o = audit(&["--target", target, "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.starts_with("audit plan:"),
        "the plan comes first:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json = std::fs::read_to_string(out.join("audit.json"))
        .unwrap_or_else(|e| panic!("audit.json ({e}); stdout:\n{stdout}"));
    for f in ["audit.md", "report.html"] {
        assert!(out.join(f).exists(), "{f}");
    }
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_str(&json).unwrap(),
    )
}

/// Case id → verdict.
fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn verdict(report: &Value, id: &str) -> String {
    verdicts(report)
        .into_iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .1
}

/// A Node server from `dir` on an OS-chosen port, killed when dropped.
pub(super) struct Node {
    child: Child,
    pub(super) url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `benches/<dir>/server.mjs` on port 0, or says why it cannot (then the caller skips).
pub(super) fn node(dir: &str) -> Option<Node> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(dir);
    if !root.join("node_modules").join("hono").exists() {
        skip_or_fail(
            dir,
            &format!("benches/{dir}/node_modules is missing (run npm ci there)"),
        );
        return None;
    }
    let Ok(mut child) = Command::new("node")
        .arg(root.join("server.mjs"))
        .arg("0")
        .env("MO2FA_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        skip_or_fail(dir, "node is not installed");
        return None;
    };
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    // Keep reading what it logs: a closed pipe would kill it at its next log line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = line
        .trim()
        .split_once(" listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .1
        .to_string();
    Some(Node { child, url })
}

#[test]
fn mo2fa_serve_with_default_flags_passes_every_case() {
    let serve = Serve::start(SECRET, &[]);
    let out = out_dir("serve");
    let (code, report) = run_audit(&format!("http://{}", serve.addr), &out, &[]);
    let all = verdicts(&report);
    assert_eq!(all.len(), 23, "{all:?}");
    let not_passed: Vec<_> = all.iter().filter(|(_, v)| v != "pass").collect();
    assert!(not_passed.is_empty(), "{not_passed:?}\n{report:#}");
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["pass"], 23);
    // Each case carries its evidence: the requests it sent and the answers.
    let forged = &report["cases"][2];
    assert_eq!(forged["id"], "signatures.forged");
    assert!(
        forged["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == 401)
    );
    let md = std::fs::read_to_string(out.join("audit.md")).unwrap();
    assert!(md.contains("23 passed, 0 failed, 0 not checkable"), "{md}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn the_article_demo_fails_where_it_has_holes() {
    let Some(demo) = node("hono-demo") else {
        return;
    };
    let out = out_dir("demo");
    let (code, report) = run_audit(
        &demo.url,
        &out,
        &["--profile", "blooio-demo", "--slow-budget", "3"],
    );
    assert_eq!(code, 3, "a failing case exits 3");
    // No signature check: every forgery is accepted.
    for id in [
        "signatures.unsigned",
        "signatures.forged",
        "signatures.stale_timestamp",
        "signatures.future_timestamp",
        "signatures.other_body",
        "signatures.duplicate_header",
        "signatures.header_case",
        // No body limits, no request deadline, JSON.parse errors become 500s.
        "resources.slow_body",
        "resources.oversized_body",
        "resources.malformed_json",
    ] {
        assert_eq!(verdict(&report, id), "fail", "{id}");
    }
    // No status route and an answer that says nothing: what depends on seeing a verification
    // is listed as not checkable, never passed.
    for id in [
        "signatures.genuine",
        "delivery.twice",
        "delivery.race",
        "delivery.retry_after_timeout",
        "delivery.replay_headers",
        "sender.binding",
        "sender.external_id",
        "codes.stuffing",
        "codes.expired",
    ] {
        assert_eq!(verdict(&report, id), "not_checkable", "{id}");
    }
    let md = std::fs::read_to_string(out.join("audit.md")).unwrap();
    assert!(md.contains("## Not checkable"), "{md}");
    assert!(md.contains("cannot observe"), "{md}");
    let _ = std::fs::remove_dir_all(out);
}

const HONO_PROFILE: &str = r#"
name = "hono-baseline"
[start]
path = "/2fa/start"
code = "/code"
id = "/id"
[status]
path = "/2fa/status/{id}"
pointer = "/status"
verified = "verified"
sender = "/sender"
[webhook]
path = "/webhook/blooio"
signature = "blooio"
answer_pointer = "/result"
answer_verified = "verified"
"#;

#[test]
fn the_hono_baseline_passes_the_signature_and_dedupe_cases() {
    let Some(hono) = node("hono") else {
        return;
    };
    let out = out_dir("hono");
    std::fs::create_dir_all(&out).unwrap();
    let profile = out.join("hono.toml");
    std::fs::write(&profile, HONO_PROFILE).unwrap();
    let (code, report) = run_audit(
        &hono.url,
        &out,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "--case",
            "signatures.",
            "--case",
            "delivery.",
        ],
    );
    let all = verdicts(&report);
    assert_eq!(all.len(), 12, "{all:?}");
    assert!(all.iter().all(|(_, v)| v == "pass"), "{all:?}");
    assert_eq!(code, 0);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn the_audit_stays_on_loopback_and_a_dry_run_sends_nothing() {
    let err = super::common::refused(
        audit(&["--target", "http://10.1.2.3:9", "--dry-run"])
            .arg("--out")
            .arg(out_dir("refused")),
    );
    assert!(
        err.contains("not loopback") && err.contains("--allow-host"),
        "{err}"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    for extra in [&[][..], &["--allow-host", "10.1.2.3"][..]] {
        let o = audit(&["--target", &url, "--dry-run"])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{stdout}");
        assert!(
            stdout.starts_with("audit plan:") && stdout.contains("dry run: nothing was sent"),
            "{stdout}"
        );
    }
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "a dry run connected"
    );
    let o = audit(&[
        "--target",
        "http://10.1.2.3:9",
        "--allow-host",
        "10.1.2.3",
        "--dry-run",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A bad profile file is named with its key.
    let dir = out_dir("bad-profile");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("p.toml");
    std::fs::write(&bad, HONO_PROFILE.replace("\"/code\"", "\"code\"")).unwrap();
    let err = super::common::refused(&mut audit(&[
        "--target",
        &url,
        "--dry-run",
        "--profile",
        bad.to_str().unwrap(),
    ]));
    assert!(err.contains("p.toml: start.code"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn standard_webhooks_deliveries_pass_the_signature_and_dedupe_cases() {
    let serve = Serve::start(SECRET, &["--signature-scheme", "standard"]);
    let out = out_dir("standard");
    std::fs::create_dir_all(&out).unwrap();
    let profile = out.join("standard.toml");
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/target/profiles/mo2fa.toml"),
    )
    .unwrap();
    std::fs::write(
        &profile,
        super::common::replaced(
            &builtin,
            "signature = \"blooio\"",
            "signature = \"standard\"",
        ),
    )
    .unwrap();
    let (code, report) = run_audit(
        &format!("http://{}", serve.addr),
        &out,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "--case",
            "signatures.",
            "--case",
            "delivery.",
        ],
    );
    let all = verdicts(&report);
    assert_eq!(all.len(), 12, "{all:?}");
    assert!(all.iter().all(|(_, v)| v == "pass"), "{report:#}");
    assert_eq!(code, 0);
    // The attacks were Standard Webhooks deliveries: webhook-id, -timestamp and -signature.
    let stale = &report["cases"][3]["evidence"];
    let text = stale.to_string();
    assert!(
        text.contains("webhook-signature") && !text.contains("X-Blooio-Signature"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(out);
}
