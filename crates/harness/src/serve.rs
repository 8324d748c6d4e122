//! `mo2fa serve`'s start-up: the runtime, the listeners, the store the flags chose, and the
//! server until a shutdown signal. The binary turns its flags into a [`Serve`].

use crate::error::HarnessError;
use crate::server::{Runtime, StoreUrl};
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
    /// Runtime worker threads; `None`: Tokio's default (one per core).
    pub workers: Option<usize>,
    /// Thread per core (one current-thread runtime and `SO_REUSEPORT` listener on each of
    /// `workers` threads) or one work-stealing runtime.
    pub runtime: Runtime,
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
    // Thread per core: this runtime only waits for the signal; the serving threads run runtimes
    // of their own, and on Redis each its own connection for its calls and status reads.
    let per_core = s.runtime == Runtime::PerCore;
    let workers = if per_core { Some(1) } else { s.workers };
    let rt = match workers {
        None => tokio::runtime::Runtime::new(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(|e| HarnessError::Runtime(e.to_string()))?;
    rt.block_on(async move {
        let listeners = bind(&s)?;
        match &s.store {
            StoreUrl::Memory => {
                let store = MemoryStoreConfig {
                    max_pending: s.max_pending,
                    retention_ms: s.retention_ms,
                    ..MemoryStoreConfig::default()
                };
                let verifier = Verifier::in_memory(s.verifier, store)?;
                serve_app(
                    listeners,
                    per_core,
                    App::new(verifier, SystemClock, s.http),
                    on_bound,
                )
                .await
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
                serve_app(
                    listeners,
                    per_core,
                    App::new(verifier, SystemClock, s.http),
                    on_bound,
                )
                .await
            }
        }
    })
}

/// The bound listeners: one for the work-stealing runtime, one per serving thread for thread
/// per core; then the metrics one, if any.
type Listeners = (Vec<std::net::TcpListener>, Option<std::net::TcpListener>);

fn bind(s: &Serve) -> Result<Listeners, HarnessError> {
    let listen = |option, addr| {
        move |source| HarnessError::Listen {
            option,
            addr,
            source,
        }
    };
    let main = if s.runtime == Runtime::PerCore {
        http::bind_per_core(s.addr, Runtime::per_core_threads(s.workers))
    } else {
        std::net::TcpListener::bind(s.addr).map(|l| vec![l])
    }
    .map_err(listen("--addr", s.addr))?;
    let metrics = match s.metrics_addr {
        None => None,
        Some(addr) => {
            Some(std::net::TcpListener::bind(addr).map_err(listen("--metrics-addr", addr))?)
        }
    };
    for l in main.iter().chain(&metrics) {
        l.set_nonblocking(true)?;
    }
    Ok((main, metrics))
}

async fn serve_app<V: Backend>(
    (mut main, metrics): Listeners,
    per_core: bool,
    app: App<V, SystemClock>,
    on_bound: impl FnOnce(&Bound) -> std::io::Result<()>,
) -> Result<(), HarnessError> {
    let bound = Bound {
        addr: main[0].local_addr()?,
        metrics: metrics.as_ref().map(|m| m.local_addr()).transpose()?,
    };
    // Installed before the address is announced: a SIGTERM sent right after is not lost.
    let shutdown = http::shutdown_signal();
    on_bound(&bound)?;
    if per_core {
        http::serve_per_core(main, metrics, Arc::new(app), shutdown).await?;
    } else {
        let listener = tokio::net::TcpListener::from_std(main.remove(0))?;
        let metrics = metrics.map(tokio::net::TcpListener::from_std).transpose()?;
        http::serve_with(listener, metrics, Arc::new(app), shutdown).await?;
    }
    tracing::info!("shut down cleanly");
    Ok(())
}
