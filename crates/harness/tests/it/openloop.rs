//! The open-loop recorder must not hide a stalled server (coordinated omission).

use mo2fa_harness::client;
use mo2fa_harness::openloop::{self, Planned};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// A keep-alive server answering `ok` at once, except that 300 ms after the first request it
/// stops answering anything for `pause`.
async fn pausing_server(pause: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let first = first.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let t0 = *first.lock().await.get_or_insert_with(Instant::now);
                        let stall_from = t0 + Duration::from_millis(300);
                        let now = Instant::now();
                        if now >= stall_from && now < stall_from + pause {
                            tokio::time::sleep_until((stall_from + pause).into()).await;
                        }
                        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn plan(rate: u64, secs: u64) -> Vec<Planned> {
    let req: Arc<[u8]> = client::request("127.0.0.1", "GET", "/x", &[], b"").into();
    (0..rate * secs)
        .map(|i| Planned {
            at: Duration::from_secs_f64(i as f64 / rate as f64),
            endpoint: 0,
            request: req.clone(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_latency_but_not_in_service_time() {
    let addr = pausing_server(Duration::from_millis(250)).await;
    let report = openloop::run(&addr, 8, &["x"], plan(1000, 1), Duration::from_millis(100))
        .await
        .unwrap();
    let e = &report.endpoints[0];
    assert_eq!(e.ok, 1000, "every request completes");
    assert_eq!(e.errors + e.non_2xx, 0);
    // A quarter of the requests were scheduled during the 250 ms pause and waited for it.
    let p95_ms = e.latency.value_at_quantile(0.95) as f64 / 1000.0;
    let max_ms = e.latency.max() as f64 / 1000.0;
    assert!(p95_ms >= 50.0, "p95 {p95_ms} ms hides the stall");
    assert!(max_ms >= 200.0, "max {max_ms} ms hides the stall");
    // Measured from the actual send, as a closed-loop tool would, most of it disappears.
    let service_p90_ms = e.service.value_at_quantile(0.90) as f64 / 1000.0;
    assert!(
        service_p90_ms < p95_ms / 2.0,
        "service p90 {service_p90_ms} ms vs latency p95 {p95_ms} ms"
    );
    // The interval log and the percentile table carry the same counts.
    let intervals: u64 = e.intervals.iter().map(|h| h.len()).sum();
    assert_eq!(intervals, 1000);
    assert!(!openloop::interval_log(&report).unwrap().is_empty());
    assert!(openloop::hgrm(&e.latency).contains("Total count    =         1000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_server_shows_low_latency() {
    let addr = pausing_server(Duration::ZERO).await;
    let report = openloop::run(&addr, 4, &["x"], plan(500, 1), Duration::from_secs(1))
        .await
        .unwrap();
    let e = &report.endpoints[0];
    assert_eq!(e.ok, 500);
    // Generous: only a stall of the order of the one above could reach this.
    assert!(
        e.latency.value_at_quantile(0.5) < 50_000,
        "p50 {} µs",
        e.latency.value_at_quantile(0.5)
    );
    assert_eq!(report.completed(), 500);
}

/// A keep-alive server answering 503 to the first `refusals` attempts of each path, 200 after.
async fn refusing_server(refusals: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                        let n = {
                            let mut seen = seen.lock().await;
                            let n = seen.entry(path).or_default();
                            *n += 1;
                            *n
                        };
                        let answer: &[u8] = if n <= refusals {
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                        };
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// `n` requests to distinct paths at 2,000/s.
fn distinct(n: u64) -> Vec<Planned> {
    (0..n)
        .map(|i| Planned {
            at: Duration::from_micros(500 * i),
            endpoint: 0,
            request: client::request("127.0.0.1", "GET", &format!("/d/{i}"), &[], b"").into(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_sent_again_until_their_retries_run_out() {
    use mo2fa_harness::retry::RetryPolicy;
    let addr = refusing_server(2).await;
    let policy = |retries| RetryPolicy {
        retries,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        seed: 9,
        ..RetryPolicy::default()
    };
    // Two refusals, two retries: every request gets through on its third attempt.
    let r = openloop::run_with(
        &addr,
        4,
        &["x"],
        distinct(200),
        Duration::from_secs(1),
        &policy(2),
    )
    .await
    .unwrap();
    let e = &r.endpoints[0];
    assert_eq!((e.planned, e.ok, e.retries, e.gave_up), (200, 200, 400, 0));
    assert_eq!(e.statuses.get(&503), Some(&400));
    assert_eq!(e.amplification(), 3.0);
    // One retry is not enough (a fresh server refuses every path twice again): every request
    // is given up after its second 503.
    let addr = refusing_server(2).await;
    let r = openloop::run_with(
        &addr,
        4,
        &["x"],
        distinct(200),
        Duration::from_secs(1),
        &policy(1),
    )
    .await
    .unwrap();
    let e = &r.endpoints[0];
    assert_eq!((e.ok, e.retries, e.gave_up), (0, 200, 200));
    assert_eq!(e.amplification(), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_past_the_timeout_is_abandoned_and_sent_again() {
    use mo2fa_harness::retry::RetryPolicy;
    // The server stalls 300 ms after its first answer, for 400 ms: attempts in the stall time
    // out at 100 ms and are sent again on a fresh connection.
    let addr = pausing_server(Duration::from_millis(400)).await;
    let policy = RetryPolicy {
        timeout: Duration::from_millis(100),
        retries: 20,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(100),
        seed: 1,
    };
    let r = openloop::run_with(
        &addr,
        4,
        &["x"],
        plan(200, 1),
        Duration::from_secs(1),
        &policy,
    )
    .await
    .unwrap();
    let e = &r.endpoints[0];
    assert_eq!(
        (e.planned, e.ok, e.gave_up),
        (200, 200, 0),
        "all got through in the end"
    );
    assert!(
        e.timeouts > 0 && e.retries >= e.timeouts,
        "{} timeouts",
        e.timeouts
    );
    assert_eq!(e.errors, e.timeouts, "every failed attempt was a timeout");
}
