//! A deliberately raw HTTP/1.1 client: one connection per request (`Connection: close`), the
//! request written byte for byte as built (header case, duplicate headers and all), so the
//! audit can send what a well-behaved client library would refuse to. Every send is bounded
//! in time; the answer is read while the request is still being written, so a target that
//! answers early (413 for a body it will not read) is heard even if it then resets the socket.

use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer kept (bytes); the rest is read and dropped.
const MAX_ANSWER: usize = 256 * 1024;
/// How much of a body the evidence keeps, in characters.
const PREVIEW: usize = 1500;
/// Chunk size when writing a large body.
const CHUNK: usize = 16 * 1024;

/// A request as it will be written.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Written in this order and spelling, after `Host`, `Connection` and `Content-Length`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    fn head(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
            self.method, self.path
        );
        if !self.body.is_empty() || self.method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// How a request is sent.
#[derive(Clone, Copy, Debug)]
pub enum Send {
    /// Write it and read the answer, within the connection's timeout.
    Normal,
    /// Write it all, wait this long, then close without reading (a provider that gave up).
    Abandon(Duration),
    /// Write the head, then one body byte per `every`, for at most `budget`.
    Trickle { every: Duration, budget: Duration },
}

/// An HTTP answer.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub status: u16,
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }
}

/// What came of one request.
#[derive(Clone, Debug)]
pub enum Outcome {
    Answered(Answer),
    /// Closed by us on purpose, unread ([`Send::Abandon`]).
    Abandoned,
    /// The target closed the connection without an answer.
    Closed {
        body_sent: bool,
    },
    /// No answer within the time allowed.
    TimedOut,
    /// Could not connect or write.
    Failed(String),
}

impl Outcome {
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Outcome::Answered(a) => Some(a),
            _ => None,
        }
    }

    /// One line for people: `200 {"ok":true}`, `closed without an answer`, …
    pub fn describe(&self) -> String {
        match self {
            Outcome::Answered(a) => format!("{} {}", a.status, preview(&a.body, 200)),
            Outcome::Abandoned => "abandoned unread (as a provider that timed out)".into(),
            Outcome::Closed { body_sent: true } => "closed without an answer".into(),
            Outcome::Closed { body_sent: false } => {
                "closed before the whole body was sent, without an answer".into()
            }
            Outcome::TimedOut => "no answer in time".into(),
            Outcome::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// One request and what came of it: the audit's evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_bytes: usize,
    pub body: String,
    pub outcome: String,
    pub status: Option<u16>,
    pub answer: Option<String>,
    pub elapsed_ms: u64,
    #[serde(skip)]
    pub result: Outcome,
}

impl Exchange {
    pub fn answer(&self) -> Option<&Answer> {
        self.result.answer()
    }
}

/// Text for the evidence: lossy UTF-8, cut at `max` characters.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    out
}

/// A pinned target address: every request goes to this socket address, never to a name
/// resolved again (the safety check resolved it once).
#[derive(Clone, Debug)]
pub struct Conn {
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Prefix of every path (the target URL's own path, without a trailing `/`).
    pub base: String,
    pub timeout: Duration,
}

impl Conn {
    pub async fn send(&self, req: &Request, how: Send) -> Exchange {
        let started = Instant::now();
        let mut req = req.clone();
        req.path = format!("{}{}", self.base, req.path);
        let result = match how {
            Send::Trickle { budget, .. } => {
                tokio::time::timeout(budget + Duration::from_secs(1), self.exchange(&req, how))
                    .await
                    .unwrap_or(Outcome::TimedOut)
            }
            _ => tokio::time::timeout(self.timeout, self.exchange(&req, how))
                .await
                .unwrap_or(Outcome::TimedOut),
        };
        let answer = result.answer();
        Exchange {
            method: req.method.clone(),
            path: req.path.clone(),
            headers: req.headers.clone(),
            body_bytes: req.body.len(),
            body: preview(&req.body, PREVIEW),
            outcome: result.describe(),
            status: answer.map(|a| a.status),
            answer: answer.map(|a| preview(&a.body, PREVIEW)),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            result,
        }
    }

    async fn exchange(&self, req: &Request, how: Send) -> Outcome {
        let stream = match TcpStream::connect(self.addr).await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("connect {}: {e}", self.addr)),
        };
        let (mut rd, mut wr) = stream.into_split();
        // The reader runs while the request is written: an early answer is not lost.
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return buf,
                    Ok(n) => {
                        if buf.len() < MAX_ANSWER {
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        if parse(&buf).is_some_and(|(_, complete)| complete) {
                            return buf;
                        }
                    }
                }
            }
        });
        let body_sent = write(&mut wr, req, &self.host, how, &reader).await;
        if let Send::Abandon(wait) = how {
            tokio::time::sleep(wait).await;
            reader.abort();
            return Outcome::Abandoned;
        }
        let buf = match &how {
            // The budget ran out with the target still waiting for the body.
            Send::Trickle { .. } if body_sent == Written::Stalled => {
                reader.abort();
                return Outcome::TimedOut;
            }
            _ => reader.await.unwrap_or_default(),
        };
        match parse(&buf) {
            Some((answer, _)) => Outcome::Answered(answer),
            None => Outcome::Closed {
                body_sent: body_sent == Written::All,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Written {
    All,
    /// The target stopped reading (closed, reset, or answered first).
    Cut,
    /// A trickle whose budget ran out with the target still reading.
    Stalled,
}

async fn write(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    req: &Request,
    host: &str,
    how: Send,
    reader: &tokio::task::JoinHandle<Vec<u8>>,
) -> Written {
    if wr.write_all(&req.head(host)).await.is_err() {
        return Written::Cut;
    }
    match how {
        Send::Trickle { every, budget } => {
            let until = Instant::now() + budget;
            for b in &req.body {
                if reader.is_finished() {
                    return Written::Cut;
                }
                if Instant::now() >= until {
                    return Written::Stalled;
                }
                if wr.write_all(std::slice::from_ref(b)).await.is_err() {
                    return Written::Cut;
                }
                tokio::time::sleep(every).await;
            }
        }
        Send::Normal | Send::Abandon(_) => {
            for chunk in req.body.chunks(CHUNK) {
                if reader.is_finished() || wr.write_all(chunk).await.is_err() {
                    return Written::Cut;
                }
            }
        }
    }
    let _ = wr.flush().await;
    Written::All
}

/// Parses an answer; the flag says whether its body is complete. `None` until the head is in.
fn parse(buf: &[u8]) -> Option<(Answer, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let (body, complete) = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        (rest[..rest.len().min(len)].to_vec(), rest.len() >= len)
    } else {
        (rest.to_vec(), false)
    };
    Some((
        Answer {
            status,
            headers,
            body,
        },
        complete,
    ))
}

/// Decodes a chunked body as far as it goes; the flag says whether the last chunk was seen.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        if size == 0 {
            return (out, true);
        }
        let data = &rest[eol + 2..];
        if data.len() < size {
            out.extend_from_slice(data);
            return (out, false);
        }
        out.extend_from_slice(&data[..size]);
        rest = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_by_length_chunks_or_close() {
        let (a, done) =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}").unwrap();
        assert_eq!(
            (a.status, done, a.body.as_slice()),
            (200, true, &b"{\"ok\":true}"[..])
        );
        let (_, done) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\"").unwrap();
        assert!(!done);
        let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let (a, done) = parse(chunked).unwrap();
        assert_eq!((a.status, done), (201, true));
        assert_eq!(a.json().unwrap()["a"], 1);
        assert_eq!(a.header("Transfer-Encoding"), Some("chunked"));
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_none());
    }

    #[test]
    fn requests_are_written_as_built() {
        let r = Request::new("POST", "/w")
            .header("x-A", "1")
            .header("X-a", "2")
            .body(b"{}".to_vec());
        let head = String::from_utf8(r.head("h:1")).unwrap();
        assert_eq!(
            head,
            "POST /w HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\nContent-Length: 2\r\nx-A: 1\r\nX-a: 2\r\n\r\n"
        );
        assert_eq!(preview("é".repeat(3).as_bytes(), 2), "éé… (6 bytes)");
    }
}
