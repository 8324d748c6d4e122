//! A minimal HTTP/1.1 keep-alive client for load generation.
//!
//! Load generators must not be slower than the server they measure, so this sends
//! pre-serialised requests in one write (TCP_NODELAY, no Nagle stalls) and reads responses
//! that carry a `Content-Length`, which is all the verifier (and hyper with a full body) sends.

use mo2fa_core::webhook::{Inbound, PayloadShape, Secret};
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    stream: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends one complete request and reads its response; returns the status code. The body is
    /// available from [`Conn::body`] until the next call.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<u16> {
        self.write(request).await?;
        self.read().await
    }

    /// Writes requests without waiting for answers; with several at once (pipelining) their
    /// answers come back in order, one [`Conn::read`] each.
    pub async fn write(&mut self, requests: &[u8]) -> io::Result<()> {
        self.stream.get_mut().write_all(requests).await
    }

    /// Reads the next response; returns the status code. The body is available from
    /// [`Conn::body`] until the next call.
    pub async fn read(&mut self) -> io::Result<u16> {
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
        let mut len = None;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let len = len.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "response without Content-Length",
            )
        })?;
        self.body.resize(len, 0);
        self.stream.read_exact(&mut self.body).await?;
        Ok(status)
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// A webhook delivery of `m` to `path` as the provider posts it: written in `shape`, with that
/// shape's headers, signed at `t` (Unix seconds) under the secret's scheme, or unsigned when
/// there is no secret (a target whose profile says deliveries are not signed).
pub fn delivery(
    host: &str,
    path: &str,
    secret: Option<&Secret>,
    shape: PayloadShape,
    m: &Inbound<'_>,
    t: i64,
) -> Vec<u8> {
    let (body, headers) = match secret {
        Some(secret) => shape.signed(secret, m, t),
        None => (shape.body(m), shape.headers(m)),
    };
    let headers: Vec<(&str, &str)> = std::iter::once(("Content-Type", "application/json"))
        .chain(headers.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    request(host, "POST", path, &headers, &body)
}

/// Serialises a request with the headers every load request carries. `host` is the server's
/// `host:port` as the load generator dialled it: a proxy in front of a `--target` routes by it.
pub fn request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
