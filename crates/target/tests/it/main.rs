//! The audit's cases against a small fake verifier whose holes can be switched on one by one:
//! with none, each case below passes; with all, each fails. So every case can tell a verifier
//! with the hole from one without it (the binary's tests audit real servers:
//! tests/it/audit.rs at the workspace root).

use mo2fa_core::webhook::{Scheme, Secret, SignatureHeaders};
use mo2fa_target::audit::{self, Options, Verdict};
use mo2fa_target::client::Target;
use mo2fa_target::profile::Profile;
use mo2fa_target::safety;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "fake-verifier-secret";

const PROFILE: &str = r#"
name = "fake"
[start]
path = "/start"
body = '{"expected_sender":"{sender}","ttl_seconds":{ttl_seconds}}'
code = "/code"
id = "/id"
short_ttl_seconds = 1
[status]
path = "/status/{id}"
pointer = "/status"
verified = "verified"
sender = "/sender"
[webhook]
path = "/hook"
signature = "blooio"
answer_pointer = "/result"
answer_verified = "verified"
"#;

/// What the fake verifier gets right (true) or wrong (false).
#[derive(Clone, Copy)]
struct Rules {
    dedupe: bool,
    binding: bool,
    reads_external_id: bool,
    one_candidate: bool,
    expires: bool,
    atomic: bool,
}

const HONEST: Rules = Rules {
    dedupe: true,
    binding: true,
    reads_external_id: true,
    one_candidate: true,
    expires: true,
    atomic: true,
};
const HOLES: Rules = Rules {
    dedupe: false,
    binding: false,
    reads_external_id: false,
    one_candidate: false,
    expires: false,
    atomic: false,
};

struct Challenge {
    id: String,
    status: &'static str,
    expected: String,
    sender: Option<String>,
    expires_at: Instant,
}

#[derive(Default)]
struct State {
    by_code: HashMap<String, Challenge>,
    seen: HashMap<String, Value>,
    n: u64,
}

type Shared = Arc<Mutex<State>>;

async fn serve(rules: Rules) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Shared::default();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(connection(s, state.clone(), rules));
        }
    });
    format!("http://{addr}")
}

async fn connection(mut s: TcpStream, state: Shared, rules: Rules) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let Ok(n) = s.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break (head, buf[end + 4..end + 4 + len].to_vec());
            }
        }
    };
    let (status, answer) = handle(&head, &body, &state, rules).await;
    let text = answer.to_string();
    let out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = s.write_all(out.as_bytes()).await;
}

async fn handle(head: &str, body: &[u8], state: &Shared, rules: Rules) -> (u16, Value) {
    let first = head.lines().next().unwrap_or_default().to_string();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if first.starts_with("POST /start ") {
        let req: Value = serde_json::from_slice(body).unwrap_or_default();
        let ttl = req["ttl_seconds"].as_u64().unwrap_or(300);
        let mut st = state.lock().unwrap();
        st.n += 1;
        let n = st.n;
        let alphabet: Vec<char> = "23456789ABCDEFGHJKMNPQRSTUVWXYZ".chars().collect();
        let code: String = (0..6)
            .map(|i| alphabet[((n * 7919 + 13) / 31u64.pow(i) % 31) as usize])
            .collect();
        let id = format!("c{n}");
        st.by_code.insert(
            code.clone(),
            Challenge {
                id: id.clone(),
                status: "pending",
                expected: req["expected_sender"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                sender: None,
                expires_at: Instant::now() + Duration::from_secs(ttl),
            },
        );
        return (201, json!({"id": id, "code": code}));
    }
    if let Some(id) = first.strip_prefix("GET /status/") {
        let id = id.split(' ').next().unwrap_or_default();
        let st = state.lock().unwrap();
        return match st.by_code.values().find(|c| c.id == id) {
            Some(c) => (200, json!({"status": c.status, "sender": c.sender})),
            None => (404, json!({"error": "unknown"})),
        };
    }
    if !first.starts_with("POST /hook ") {
        return (404, json!({"error": "no route"}));
    }
    let secret = Secret::new(Scheme::Blooio, SECRET).unwrap();
    let sig = header("x-blooio-signature");
    let headers = SignatureHeaders {
        blooio_signature: sig.as_deref(),
        ..Default::default()
    };
    if secret
        .verify(&headers, body, mo2fa_target::client::now_secs(), 300)
        .is_err()
    {
        return (401, json!({"error": "signature"}));
    }
    let Ok(ev) = serde_json::from_slice::<Value>(body) else {
        return (400, json!({"error": "json"}));
    };
    let mid = ev["message_id"].as_str().unwrap_or_default().to_string();
    if rules.dedupe
        && let Some(prior) = state.lock().unwrap().seen.get(&mid)
    {
        return (200, prior.clone());
    }
    let sender = ev[if rules.reads_external_id {
        "external_id"
    } else {
        "sender"
    }]
    .as_str()
    .map(str::to_string);
    let text = ev["text"].as_str().unwrap_or_default().to_uppercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    let tried = if rules.one_candidate {
        &words[..words.len().min(1)]
    } else {
        &words[..]
    };
    let mut answer = json!({"result": "no_match"});
    for w in tried {
        let pending = {
            let st = state.lock().unwrap();
            st.by_code.get(*w).is_some_and(|c| {
                c.status == "pending" && (!rules.expires || Instant::now() < c.expires_at)
            })
        };
        if !pending {
            continue;
        }
        if !rules.atomic {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut st = state.lock().unwrap();
        let c = st.by_code.get_mut(*w).unwrap();
        if rules.atomic && c.status != "pending" {
            continue;
        }
        if rules.binding && sender.as_deref() != Some(c.expected.as_str()) {
            answer = json!({"result": "sender_mismatch"});
            break;
        }
        c.status = "verified";
        c.sender = sender.clone();
        answer = json!({"result": "verified", "id": c.id});
        break;
    }
    state.lock().unwrap().seen.insert(mid, answer.clone());
    (200, answer)
}

const CASES: [&str; 10] = [
    "signatures.genuine",
    "signatures.forged",
    "delivery.twice",
    "delivery.race",
    "delivery.retry_after_timeout",
    "delivery.replay_headers",
    "sender.binding",
    "sender.external_id",
    "codes.stuffing",
    "codes.expired",
];

async fn audit_fake(rules: Rules) -> Vec<(String, Verdict, String)> {
    let url = serve(rules).await;
    let conn = safety::resolve(&url, &[], Duration::from_secs(5)).unwrap();
    let profile = Profile::parse("fake.toml", PROFILE).unwrap();
    let target = Target::new(conn, profile, Some(SECRET), 7).unwrap();
    let opts = Options {
        only: CASES.iter().map(|c| c.to_string()).collect(),
        ..Options::default()
    };
    audit::run(&url, &target, &opts)
        .await
        .cases
        .into_iter()
        .map(|c| (c.case.id.to_string(), c.verdict, c.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_passes_a_verifier_without_the_hole_and_fails_one_with_it() {
    let (honest, holed) = tokio::join!(audit_fake(HONEST), audit_fake(HOLES));
    assert_eq!((honest.len(), holed.len()), (CASES.len(), CASES.len()));
    for (id, verdict, detail) in &honest {
        assert_eq!(*verdict, Verdict::Pass, "{id} on the honest fake: {detail}");
    }
    for (id, verdict, detail) in &holed {
        let want = match id.as_str() {
            // The holes are not in the signature check.
            "signatures.genuine" | "signatures.forged" => Verdict::Pass,
            _ => Verdict::Fail,
        };
        assert_eq!(*verdict, want, "{id} on the fake with holes: {detail}");
    }
}

#[tokio::test]
async fn a_target_that_takes_no_connections_gets_no_verdict() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let conn = safety::resolve(&url, &[], Duration::from_secs(2)).unwrap();
    let profile = Profile::parse("fake.toml", PROFILE).unwrap();
    let target = Target::new(conn, profile, Some(SECRET), 7).unwrap();
    let opts = Options {
        only: vec!["signatures.".into(), "resources.".into()],
        ..Options::default()
    };
    let audit = audit::run(&url, &target, &opts).await;
    assert_eq!(audit.cases.len(), 12);
    for c in &audit.cases {
        assert_eq!(
            c.verdict,
            Verdict::NotCheckable,
            "{}: {}",
            c.case.id,
            c.detail
        );
    }
    assert!(
        audit.cases[0]
            .detail
            .contains("stopped accepting connections")
    );
    assert!(audit.cases[11].detail.starts_with("not run"));
}
