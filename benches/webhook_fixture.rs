//! Prepares a load test of the webhook endpoint: starts `--count` challenges on a running
//! verifier over HTTP and writes, one per line, a signed `message.received` delivery for each
//! (`<X-Blooio-Signature>\t<body>`), so a load generator without HMAC (wrk's Lua) can replay
//! deliveries that pass the signature check and match a pending code.
//!
//! Run: `cargo bench --bench webhook_fixture -- http://127.0.0.1:8080 20000 out.tsv`
//! with `MO2FA_WEBHOOK_SECRET` set to the server's secret.

use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [url, count, out] = args.as_slice() else {
        return Err("usage: webhook_fixture <http://host:port> <count> <out.tsv>".into());
    };
    let host = url
        .strip_prefix("http://")
        .ok_or("the URL must start with http://")?;
    let count: usize = count.parse()?;
    let secret =
        std::env::var("MO2FA_WEBHOOK_SECRET").map_err(|_| "MO2FA_WEBHOOK_SECRET is not set")?;
    let secret = Secret::new(Scheme::Blooio, &secret)?;
    let stream = TcpStream::connect(host)?;
    // Whole requests in one write, sent at once: otherwise Nagle and delayed ACKs cost 40 ms.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut out = BufWriter::new(std::fs::File::create(out)?);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let request = format!("POST /2fa/start HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    // Pipelined: a batch of starts in one write, then their answers in order (HTTP/1.1 keeps
    // them in order). One round trip per batch instead of per challenge.
    const BATCH: usize = 256;
    let mut i = 0;
    while i < count {
        let n = BATCH.min(count - i);
        writer.write_all(request.repeat(n).as_bytes())?;
        for _ in 0..n {
            let body = read_response(&mut reader)?;
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let code = v["code"].as_str().ok_or("no code in the start answer")?;
            // Blooio's documented v2 body, as production receives it.
            let (message_id, sender) = (
                format!("load_{now}_{i}"),
                format!("+1555{:07}", i % 10_000_000),
            );
            let event = String::from_utf8(PayloadShape::V2.body(&Inbound {
                message_id: &message_id,
                sender: &sender,
                text: code,
                protocol: "imessage",
                received_at_ms: now as u64 * 1000,
            }))?;
            writeln!(
                out,
                "{}\t{}",
                secret.sign_blooio(now, event.as_bytes()),
                event
            )?;
            i += 1;
        }
    }
    out.flush()?;
    eprintln!("wrote {count} signed deliveries");
    Ok(())
}

/// Reads one keep-alive HTTP/1.1 response with a Content-Length body.
fn read_response(r: &mut impl BufRead) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut len = 0usize;
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.contains(" 201 ") {
        return Err(format!("start failed: {line}").into());
    }
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(body)
}
