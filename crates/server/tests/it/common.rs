//! Shared helpers for the server's tests: an in-process server on an OS-chosen loopback port,
//! and a deliberately raw HTTP/1.1 client so tests can send what a browser would not.
#![allow(dead_code)]

use mo2fa_core::clock::{Clock, ManualClock};
use mo2fa_core::store::{MemoryStore, MemoryStoreConfig};
use mo2fa_core::verifier::{Config, Verifier};
use mo2fa_core::webhook::{Scheme, Secret};
use mo2fa_server::http::{App, HttpConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub const SECRET: &str = "test-secret-please-rotate";
#[path = "http_reply.rs"]
mod http_reply;
pub use http_reply::*;

pub struct Server {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub app: Arc<App<mo2fa_core::verifier::Verifier<MemoryStore>, Arc<ManualClock>>>,
    pub secret: Secret,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Config::default(), 1000, Scheme::Blooio).await
    }

    pub async fn start_with(cfg: Config, max_pending: usize, scheme: Scheme) -> Self {
        Self::start_custom(cfg, max_pending, scheme, |h| h).await
    }

    /// Like [`Server::start_with`], with a hook to change the HTTP settings.
    pub async fn start_custom(
        cfg: Config,
        max_pending: usize,
        scheme: Scheme,
        http: impl FnOnce(HttpConfig) -> HttpConfig,
    ) -> Self {
        let secret_text = match scheme {
            Scheme::Blooio => SECRET.to_string(),
            Scheme::Standard => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
        };
        let secret = Secret::new(scheme, &secret_text).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let verifier = Verifier::in_memory(
            cfg,
            MemoryStoreConfig {
                shards: 8,
                max_pending,
                retention_ms: 60_000,
            },
        )
        .unwrap();
        let app = Arc::new(App::new(
            verifier,
            clock.clone(),
            http(HttpConfig {
                sms_outbox: true,
                ..HttpConfig::new("verify@example.com", secret.clone())
            }),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(mo2fa_server::http::serve(listener, app.clone(), async {
            let _ = rx.await;
        }));
        Self {
            addr,
            clock,
            app,
            secret,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn now_secs(&self) -> i64 {
        (self.clock.now_ms() / 1000) as i64
    }

    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> Reply {
        self.post(path, "application/json", &[], body.as_bytes())
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut raw = req.into_bytes();
        raw.extend_from_slice(body);
        self.send_bytes(&raw).await
    }

    /// A webhook delivery signed the way Blooio signs, at the server's current time.
    pub async fn deliver(&self, body: &str) -> Reply {
        self.deliver_with(body, &[]).await
    }

    /// [`Server::deliver`] with extra headers (`X-Blooio-Message-Id`, replay headers, …).
    pub async fn deliver_with(&self, body: &str, extra: &[(&str, &str)]) -> Reply {
        let sig = self.secret.sign_blooio(self.now_secs(), body.as_bytes());
        let mut headers = vec![("X-Blooio-Signature", sig.as_str())];
        headers.extend_from_slice(extra);
        self.post(
            "/webhook/blooio",
            "application/json",
            &headers,
            body.as_bytes(),
        )
        .await
    }

    pub async fn send(&self, raw: &str) -> Reply {
        self.send_bytes(raw.as_bytes()).await
    }

    pub async fn send_bytes(&self, raw: &[u8]) -> Reply {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        Reply::parse(&buf)
    }
}
