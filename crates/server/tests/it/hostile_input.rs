//! Hostile input against the real server on a loopback port: nothing crashes, nothing is
//! corrupted, and every refusal names the problem. (The basic 400/401/404/405/413/415/422
//! cases are in http_api.rs.)

use crate::common;

use common::{Server, message_event};
use mo2fa_core::verifier::Config;
use mo2fa_core::webhook::Scheme;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn code_and_id(s: &Server) -> (String, String) {
    let c = s.post_json("/2fa/start", "").await.json();
    (
        c["code"].as_str().unwrap().to_string(),
        c["id"].as_str().unwrap().to_string(),
    )
}

/// Posts `body` with a valid signature, whatever it contains.
async fn signed(s: &Server, body: &[u8]) -> common::Reply {
    let sig = s.secret.sign_blooio(s.now_secs(), body);
    s.post(
        "/webhook/blooio",
        "application/json",
        &[("Blooio-Signature", &sig)],
        body,
    )
    .await
}

#[tokio::test]
async fn deeply_nested_json_is_refused_not_overflowed() {
    let s = Server::start().await;
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    s.post_json("/2fa/start", &deep)
        .await
        .assert_error(400, "invalid JSON");
    // Inside a known field the parser's depth limit answers; inside an ignored one the value
    // is skipped. Either way: a 400 naming the problem, and the server lives on.
    let deep_text = format!(r#"{{"event":"message.received","text":{deep}}}"#);
    signed(&s, deep_text.as_bytes())
        .await
        .assert_error(400, "invalid JSON");
    let deep_extra = format!(r#"{{"event":"message.received","x":{deep}}}"#);
    signed(&s, deep_extra.as_bytes())
        .await
        .assert_error(400, "sender");
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn invalid_utf8_and_nul_bytes() {
    let s = Server::start().await;
    let mut body =
        br#"{"event":"message.received","message_id":"m1","sender":"+15550100001","text":""#
            .to_vec();
    body.extend_from_slice(b"\xff\xfe\xfd");
    body.extend_from_slice(br#"","protocol":"imessage"}"#);
    signed(&s, &body).await.assert_error(400, "invalid JSON");
    // NUL inside the text is just a separator: the code around it is still found.
    let (code, id) = code_and_id(&s).await;
    let text = format!("\u{0}{code}\u{0}");
    let r = signed(
        &s,
        message_event("m2", "+15550100001", &text, "imessage").as_bytes(),
    )
    .await;
    assert_eq!(r.json()["result"], "verified", "{r:?}");
    assert_eq!(
        s.get(&format!("/2fa/status/{id}")).await.json()["status"],
        "verified"
    );
    // NUL in a header is refused by the HTTP parser before any handler runs.
    let r = s
        .send_bytes(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Bad: a\x00b\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert!(r.status == 400 || r.status == 0, "{r:?}");
}

#[tokio::test]
async fn sixty_kib_of_candidate_codes_tries_one() {
    let s = Server::start().await;
    let (code, id) = code_and_id(&s).await;
    // Thousands of valid-looking codes, the real one last.
    let mut text = String::new();
    for i in 0..20_000u64 {
        let spec = mo2fa_core::code::CodeSpec::default();
        text.push_str(
            spec.format(mo2fa_core::code::Code(i * 104_729 + 7))
                .as_str(),
        );
        text.push(' ');
        if text.len() > 60 * 1024 - 20 {
            break;
        }
    }
    text.push_str(&code);
    let body = message_event("stuffed", "+15550100666", &text, "imessage");
    assert!(
        body.len() > 60 * 1024 && body.len() <= 64 * 1024,
        "{}",
        body.len()
    );
    let r = signed(&s, body.as_bytes()).await.json();
    assert_eq!(r["result"], "no_match", "{r}");
    assert_eq!(r["candidates_tried"], 1);
    assert_eq!(
        s.get(&format!("/2fa/status/{id}")).await.json()["status"],
        "pending"
    );
    let m = s.get("/metrics").await.body;
    assert!(m.contains("\nmo2fa_stuffed_messages_total 1\n"), "{m}");
}

#[tokio::test]
async fn fullwidth_matches_but_look_alikes_do_not() {
    let s = Server::start().await;
    let (code, id) = code_and_id(&s).await;
    // Cyrillic and Greek capitals that look like Latin ones are different characters.
    let lookalike: String = code
        .chars()
        .map(|c| match c {
            'A' => 'А',
            'B' => 'В',
            'E' => 'Е',
            'K' => 'К',
            'M' => 'М',
            'H' => 'Н',
            'P' => 'Р',
            'C' => 'С',
            'T' => 'Т',
            'X' => 'Х',
            'Z' => 'Ζ',
            other => other,
        })
        .collect();
    if lookalike != code {
        let r = signed(
            &s,
            message_event("m1", "+15550100001", &lookalike, "imessage").as_bytes(),
        )
        .await;
        assert_ne!(r.json()["result"], "verified");
        assert_eq!(
            s.get(&format!("/2fa/status/{id}")).await.json()["status"],
            "pending"
        );
    }
    let fullwidth: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    let r = signed(
        &s,
        message_event("m2", "+15550100001", &fullwidth, "imessage").as_bytes(),
    )
    .await;
    assert_eq!(r.json()["result"], "verified");
}

#[tokio::test]
async fn headers_too_large_get_431() {
    let s = Server::start().await;
    let raw = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let r = s.send(&raw).await;
    assert_eq!(r.status, 431, "{r:?}");
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_timeout() {
    let s = Server::start_custom(Config::default(), 100, Scheme::Blooio, |mut h| {
        h.header_read_timeout = Duration::from_millis(200);
        h
    })
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server kept a stalled half-header connection open"
    );
    assert!(t.elapsed() < Duration::from_secs(4));
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn many_idle_connections_do_not_block_service() {
    let s = Server::start().await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    let t = Instant::now();
    let r = s.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (code, _) = code_and_id(&s).await;
    let r = signed(
        &s,
        message_event("m1", "+15550100001", &code, "imessage").as_bytes(),
    )
    .await;
    assert_eq!(r.json()["result"], "verified");
    drop(idle);
}

/// A request with a chunked body of `len` bytes, all in one write.
fn chunked_start(len: usize) -> Vec<u8> {
    let body = format!(r#"{{"ttl_seconds":300,"pad":"{}"}}"#, "a".repeat(len - 28));
    assert_eq!(body.len(), len);
    let mut raw = b"POST /2fa/start HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in body.as_bytes().chunks(4096) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

#[tokio::test]
async fn the_body_limit_is_exact_with_or_without_a_length() {
    let s = Server::start().await;
    let limit = mo2fa_server::http::MAX_BODY;
    let padded = |len: usize| format!(r#"{{"ttl_seconds":300,"pad":"{}"}}"#, "a".repeat(len - 28));
    // At the limit the body is read and judged on its content (an unknown field)...
    s.post_json("/2fa/start", &padded(limit))
        .await
        .assert_error(400, "unknown field `pad`");
    s.send_bytes(&chunked_start(limit))
        .await
        .assert_error(400, "unknown field `pad`");
    // ...one byte over, it is refused for its size, declared or not.
    s.post_json("/2fa/start", &padded(limit + 1))
        .await
        .assert_error(413, "exceeds 65536 bytes");
    s.send_bytes(&chunked_start(limit + 1))
        .await
        .assert_error(413, "exceeds 65536 bytes");
    assert_eq!(s.app.verifier.pending(), 0);
    let chunked_ok = b"POST /2fa/start HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ttl\r\nd\r\n_seconds\":60}\r\n0\r\n\r\n";
    assert_eq!(s.send_bytes(chunked_ok).await.status, 201);
}

#[tokio::test]
async fn a_body_shorter_than_its_declared_length_changes_nothing() {
    let s = Server::start().await;
    let (code, id) = code_and_id(&s).await;
    let body = message_event("m1", "+15550100001", &code, "imessage");
    let sig = s.secret.sign_blooio(s.now_secs(), body.as_bytes());
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /webhook/blooio HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nBlooio-Signature: {sig}\r\nContent-Length: {}\r\n\r\n",
        body.len() + 10
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(body.as_bytes()).await.unwrap();
    c.shutdown().await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf)).await;
    let answer = String::from_utf8_lossy(&buf);
    assert!(
        buf.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    let status = s.get(&format!("/2fa/status/{id}")).await.json();
    assert_eq!(status["status"], "pending", "a truncated delivery verified");
}

#[tokio::test]
async fn ttl_extremes_are_refused_by_name() {
    let s = Server::start().await;
    for (ttl, status, needle) in [
        ("-1", 400, "invalid JSON"),
        ("1e30", 400, "invalid JSON"),
        ("60.5", 400, "invalid JSON"),
        ("\"60\"", 400, "invalid JSON"),
        ("null", 201, ""),
        ("0", 422, "ttl_seconds must be between"),
        ("9", 422, "ttl_seconds must be between"),
        ("3601", 422, "ttl_seconds must be between"),
        ("18446744073709551615", 422, "ttl_seconds must be between"),
        ("18446744073709551616", 400, "invalid JSON"),
        ("10", 201, ""),
        ("3600", 201, ""),
    ] {
        let r = s
            .post_json("/2fa/start", &format!(r#"{{"ttl_seconds":{ttl}}}"#))
            .await;
        if status == 201 {
            assert_eq!(r.status, 201, "ttl {ttl}: {r:?}");
        } else {
            r.assert_error(status, needle);
        }
    }
    assert_eq!(s.app.verifier.pending(), 3);
}

#[tokio::test]
async fn thousands_of_small_headers_are_refused_cleanly() {
    let s = Server::start().await;
    let mut raw = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for i in 0..2000 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    let r = s.send(&raw).await;
    assert_eq!(r.status, 431, "{r:?}");
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn more_look_alikes_never_verify() {
    let s = Server::start().await;
    let (code, id) = code_and_id(&s).await;
    let shift = |base_digit: u32, base_letter: Option<u32>| -> String {
        code.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(base_digit + c as u32 - '0' as u32).unwrap(),
                'A'..='Z' => {
                    base_letter.map_or(c, |b| char::from_u32(b + c as u32 - 'A' as u32).unwrap())
                }
                other => other,
            })
            .collect()
    };
    let mut variants = vec![
        // Mathematical bold digits and capitals.
        shift(0x1D7CE, Some(0x1D400)),
        // Arabic-Indic digits (letters unchanged).
        shift(0x0660, None),
        // Circled digits (② is U+2461) and circled capitals.
        shift(0x2460 - 1, Some(0x24B6)),
    ];
    // A zero-width space inside the code.
    let (head, tail) = code.split_at(3);
    variants.push(format!("{head}\u{200B}{tail}"));
    for (i, text) in variants.into_iter().filter(|t| *t != code).enumerate() {
        let r = signed(
            &s,
            message_event(&format!("la{i}"), "+15550100001", &text, "imessage").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{text}: {r:?}");
        assert_ne!(r.json()["result"], "verified", "{text} verified");
    }
    let status = s.get(&format!("/2fa/status/{id}")).await.json();
    assert_eq!(status["status"], "pending");
}

/// Reads what the server sends until it closes the connection, for at most `limit`; `None` if
/// the connection was still open then.
async fn read_until_closed(c: &mut TcpStream, limit: Duration) -> Option<common::Reply> {
    let mut buf = Vec::new();
    match tokio::time::timeout(limit, c.read_to_end(&mut buf)).await {
        Ok(Ok(_)) => Some(common::Reply::parse(&buf)),
        // A reset after the answer still ends the connection.
        Ok(Err(_)) => Some(common::Reply::parse(&buf)),
        Err(_) => None,
    }
}

fn with_request_timeout(
    ms: u64,
) -> impl FnOnce(mo2fa_server::http::HttpConfig) -> mo2fa_server::http::HttpConfig {
    move |mut h| {
        h.request_timeout = Duration::from_millis(ms);
        h
    }
}

#[tokio::test]
async fn a_trickling_body_is_cut_with_408_and_the_connection_closed() {
    let s = Server::start_custom(
        Config::default(),
        100,
        Scheme::Blooio,
        with_request_timeout(800),
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // A body of 200 bytes at a byte every 100 ms would take 20 s; every read brings a byte,
    // so no idle timeout would ever fire. Only a deadline on the whole request does.
    c.write_all(
        b"POST /2fa/start HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = c.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut buf)).await;
    trickle.abort();
    assert!(read.is_ok(), "the trickling body was not cut off");
    let r = common::Reply::parse(&buf);
    r.assert_error(408, "not received within 800 ms");
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    assert_eq!(s.app.verifier.pending(), 0);
    let m = s.get("/metrics").await.body;
    assert!(m.contains("\nmo2fa_request_timeouts_total 1\n"), "{m}");
}

/// The deadline runs from the request's first byte: headers that took most of it leave the
/// body only the rest, not a fresh allowance.
#[tokio::test]
async fn headers_and_body_share_one_deadline() {
    let s = Server::start_custom(
        Config::default(),
        100,
        Scheme::Blooio,
        with_request_timeout(2000),
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = b"POST /2fa/start HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n";
    let t = Instant::now();
    // The headers take about 1.6 s (in 16 pieces), then the body never comes.
    for piece in head.chunks(head.len().div_ceil(16)) {
        c.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = read_until_closed(&mut c, Duration::from_secs(10))
        .await
        .expect("the stalled body was not cut off");
    let took = t.elapsed();
    r.assert_error(408, "not received within 2000 ms");
    // A deadline counted from the headers' end would answer only after 3.6 s.
    assert!(
        took < Duration::from_millis(3300),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn past_max_connections_new_ones_are_closed_and_open_ones_served() {
    let s = Server::start_custom(Config::default(), 100, Scheme::Blooio, |mut h| {
        h.max_connections = 3;
        h
    })
    .await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    /// One keep-alive answer: its head and a body of the declared length.
    async fn answer(c: &mut TcpStream) -> common::Reply {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut chunk))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
            let r = common::Reply::parse(&buf);
            let len: usize = r.header("content-length").map_or(0, |v| v.parse().unwrap());
            if r.status != 0 && r.body.len() >= len {
                return r;
            }
        }
    }
    // Three keep-alive connections, each answered once, so each was accepted and counted.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(get("/healthz").as_bytes()).await.unwrap();
        assert_eq!(answer(&mut c).await.status, 200);
        open.push(c);
    }
    // The fourth is closed without an answer.
    let mut extra = TcpStream::connect(s.addr).await.unwrap();
    let _ = extra.write_all(get("/healthz").as_bytes()).await;
    let r = read_until_closed(&mut extra, Duration::from_secs(10))
        .await
        .expect("the connection past the cap was left open");
    assert_eq!(r.status, 0, "answered past the cap: {r:?}");
    // The open ones are still served, and /metrics counts the refusal.
    open[0].write_all(get("/metrics").as_bytes()).await.unwrap();
    let m = answer(&mut open[0]).await.body;
    assert!(m.contains("\nmo2fa_connections_refused_total 1\n"), "{m}");
    assert!(m.contains("\nmo2fa_open_connections 3\n"), "{m}");
    assert!(m.contains("\nmo2fa_max_connections 3\n"), "{m}");
    open[2].write_all(get("/healthz").as_bytes()).await.unwrap();
    assert_eq!(answer(&mut open[2]).await.status, 200);
    // A closed connection frees its place (once the server has seen it close).
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let _ = c.write_all(get("/healthz").as_bytes()).await;
        let mut buf = [0u8; 16];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await
            && buf[..n].starts_with(b"HTTP/1.1 200")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was never given again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stalled_body_on_a_route_that_does_not_read_it_closes_the_connection() {
    let s = Server::start_custom(
        Config::default(),
        100,
        Scheme::Blooio,
        with_request_timeout(60_000),
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let r = read_until_closed(&mut c, Duration::from_secs(10))
        .await
        .expect("a body nobody reads kept the connection open");
    assert_eq!(r.status, 200, "{r:?}");
}

/// Waits until a fresh connection is answered `GET /healthz` 200 (the cap had a free place),
/// for at most `limit`; answers how long that took, or `None`.
async fn served_within(s: &Server, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(mut c) = TcpStream::connect(s.addr).await {
            let _ = c
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = [0u8; 16];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), c.read(&mut buf)).await
                && buf[..n].starts_with(b"HTTP/1.1 200")
            {
                return Some(t.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A client that pipelines requests and never reads the answers used to hold its connection
/// (and megabytes of socket memory) forever: the request deadline covers reading requests, not
/// writing answers. With one connection allowed, it shut everyone else out. Now it is closed,
/// and counted, by whichever comes first: the bound on what is answered while it sends
/// nothing (here, at once), or a write blocked for the request timeout (here, with the bound
/// lifted, after 1 s).
#[tokio::test]
async fn clients_that_stop_reading_are_closed_and_free_the_cap() {
    for (max_unread, within) in [
        (mo2fa_server::http::MAX_ANSWER_BYTES_UNREAD, 900),
        (usize::MAX, 3_000),
    ] {
        let s = Server::start_custom(Config::default(), 100, Scheme::Blooio, |mut h| {
            h.request_timeout = Duration::from_millis(1000);
            h.max_connections = 1;
            h.max_answer_bytes_unread = max_unread;
            h
        })
        .await;
        // About 12 KB of requests whose answers come to some 4.5 MB.
        let get = "GET /openapi.yaml HTTP/1.1\r\nHost: t\r\n\r\n";
        let mut slow = TcpStream::connect(s.addr).await.unwrap();
        slow.write_all(get.repeat(300).as_bytes()).await.unwrap();
        let took = served_within(&s, Duration::from_secs(8)).await;
        eprintln!("bound {max_unread}: the cap was free again after {took:?}");
        assert!(
            took.is_some_and(|t| t < Duration::from_millis(within)),
            "bound {max_unread}: the reader that does not read still held the cap: {took:?}"
        );
        let m = s.get("/metrics").await.body;
        assert!(m.contains("\nmo2fa_slow_readers_closed_total 1\n"), "{m}");
        // The socket is still open on this side: the server closed it.
        drop(slow);
    }
}
