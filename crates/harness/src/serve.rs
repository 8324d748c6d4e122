//! `mo2fa serve`'s start-up: the runtime, the listeners, the store the flags chose, and the
//! server until a shutdown signal. The binary turns its flags into a [`Serve`].

use crate::error::HarnessError;
use crate::server::StoreUrl;
use mo2fa_core::clock::{Millis, SystemClock};
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier::{self, Verifier};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{self, App, HttpConfig};
use mo2fa_server::redis::{RedisConfig, RedisVerifier};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything `serve` runs with.
pub struct Serve {
    pub addr: SocketAddr,
    /// `/metrics` (and `/healthz`, `/readyz`) on an address of their own.
    pub metrics_addr: Option<SocketAddr>,
    /// Runtime worker threads; `None`: Tokio's default.
    pub workers: Option<usize>,
    pub store: StoreUrl,
    pub verifier: verifier::Config,
    pub max_pending: usize,
    /// How long a finished challenge stays readable.
    pub retention_ms: Millis,
    pub redis_prefix: String,
    pub redis_timeout: Duration,
    pub http: HttpConfig,
}

/// Where the server listens, once it does.
pub struct Bound {
    pub addr: SocketAddr,
    pub metrics: Option<SocketAddr>,
}

/// Runs the server until SIGINT or SIGTERM. `on_bound` is called once both listeners are
/// bound and the signal handlers installed (a signal sent right after is not lost).
pub fn run(
    s: Serve,
    on_bound: impl FnOnce(&Bound) -> std::io::Result<()>,
) -> Result<(), HarnessError> {
    let rt = match s.workers {
        None => tokio::runtime::Runtime::new(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(|e| HarnessError::Runtime(e.to_string()))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(s.addr)
            .await
            .map_err(|source| HarnessError::Listen {
                option: "--addr",
                addr: s.addr,
                source,
            })?;
        let metrics =
            match s.metrics_addr {
                None => None,
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(
                    |source| HarnessError::Listen {
                        option: "--metrics-addr",
                        addr,
                        source,
                    },
                )?),
            };
        let listeners = (listener, metrics);
        match &s.store {
            StoreUrl::Memory => {
                let store = MemoryStoreConfig {
                    max_pending: s.max_pending,
                    retention_ms: s.retention_ms,
                    ..MemoryStoreConfig::default()
                };
                let verifier = Verifier::in_memory(s.verifier, store)?;
                serve_app(listeners, App::new(verifier, SystemClock, s.http), on_bound).await
            }
            StoreUrl::Redis(url) => {
                let redis = RedisConfig {
                    prefix: s.redis_prefix,
                    max_pending: s.max_pending,
                    retention_ms: s.retention_ms,
                    timeout: s.redis_timeout,
                    ..RedisConfig::new(url)
                };
                let verifier = RedisVerifier::new(s.verifier, redis)
                    .map_err(|e| HarnessError::Store(e.to_string()))?;
                tracing::info!("challenges live in {url}");
                serve_app(listeners, App::new(verifier, SystemClock, s.http), on_bound).await
            }
        }
    })
}

async fn serve_app<V: Backend>(
    (listener, metrics): (tokio::net::TcpListener, Option<tokio::net::TcpListener>),
    app: App<V, SystemClock>,
    on_bound: impl FnOnce(&Bound) -> std::io::Result<()>,
) -> Result<(), HarnessError> {
    let bound = Bound {
        addr: listener.local_addr()?,
        metrics: metrics.as_ref().map(|m| m.local_addr()).transpose()?,
    };
    // Installed before the address is announced: a SIGTERM sent right after is not lost.
    let shutdown = http::shutdown_signal();
    on_bound(&bound)?;
    http::serve_with(listener, metrics, Arc::new(app), shutdown).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}
