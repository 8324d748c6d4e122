//! The verifier's HTTP server started in this process, the one way every command starts one
//! (`bench http`, `soak`, `load`, `run --live`), and the one rule that reads a store URL
//! (`mo2fa serve` uses it too).

use crate::error::HarnessError;
use mo2fa_core::clock::Clock;
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier::{self, Verifier};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{self, App, HttpConfig};
use mo2fa_server::redis::{RedisConfig, RedisVerifier};
use mo2fa_server::sms_gateway::SmsGateway;
use std::sync::Arc;

/// Where challenges live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    Memory,
    /// A Redis URL ([`mo2fa_core::store::REDIS_URL_SCHEMES`]).
    Redis(String),
}

impl StoreUrl {
    /// `memory`, or a Redis URL; `key` names the option or scenario key in
    /// the error.
    pub fn parse(key: &'static str, url: &str) -> Result<Self, HarnessError> {
        if url == "memory" {
            Ok(Self::Memory)
        } else if mo2fa_core::store::is_redis_url(url) {
            Ok(Self::Redis(url.to_string()))
        } else {
            Err(HarnessError::StoreUrl {
                key,
                url: url.to_string(),
            })
        }
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis(url) => f.write_str(url),
        }
    }
}

/// How a server's threads share its connections (`serve --runtime`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Runtime {
    /// One work-stealing Tokio runtime.
    #[default]
    WorkStealing,
    /// Thread per core: a current-thread runtime and `SO_REUSEPORT` listener on each thread
    /// (`mo2fa_server::http::serve_per_core`).
    PerCore,
}

impl Runtime {
    /// Serving threads of thread per core: `workers` if given, else one per core.
    pub fn per_core_threads(workers: Option<usize>) -> usize {
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// The name `serve --runtime` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::WorkStealing => "work-stealing",
            Self::PerCore => "per-core",
        }
    }
}

/// Everything an in-process server is made of.
pub struct ServerSpec<C> {
    pub store: StoreUrl,
    /// How its threads (one per core) share the connections.
    pub runtime: Runtime,
    pub verifier: verifier::Config,
    /// The memory store's settings; a Redis store takes `max_pending` from it (and keeps its
    /// own retention).
    pub memory: MemoryStoreConfig,
    /// Key prefix in Redis: a run's own, so old runs' keys just expire.
    pub redis_prefix: String,
    pub clock: C,
    pub http: HttpConfig,
    /// The `/sms/*` gateway; `None`: the server's default.
    pub sms: Option<SmsGateway>,
}

/// What to do with the started server, whichever backend it has.
pub trait WithServer<C: Clock + 'static> {
    type Output;
    fn with<V: Backend>(self, app: Arc<App<V, C>>, server: InProcess) -> Self::Output;
}

/// Only the server is wanted.
pub struct JustTheServer;

impl<C: Clock + 'static> WithServer<C> for JustTheServer {
    type Output = InProcess;
    fn with<V: Backend>(self, _: Arc<App<V, C>>, server: InProcess) -> InProcess {
        server
    }
}

/// Starts the server `spec` describes on 127.0.0.1 (an OS-chosen port) and hands it, with its
/// app, to `then`.
pub fn start<C: Clock + 'static, W: WithServer<C>>(
    spec: ServerSpec<C>,
    then: W,
) -> Result<W::Output, HarnessError> {
    let ServerSpec {
        store,
        runtime,
        verifier,
        memory,
        redis_prefix,
        clock,
        http,
        sms,
    } = spec;
    match store {
        StoreUrl::Memory => {
            let app = app(Verifier::in_memory(verifier, memory)?, clock, http, sms);
            let server = InProcess::start_with(runtime, || Ok::<_, std::io::Error>(app.clone()))?;
            Ok(then.with(app, server))
        }
        StoreUrl::Redis(url) => {
            let redis = RedisConfig {
                prefix: redis_prefix,
                max_pending: memory.max_pending,
                ..RedisConfig::new(url)
            };
            // Made inside the server's runtime: the store's batch tasks run on it.
            let mut made = None;
            let server = InProcess::start_with(runtime, || {
                let made_app = app(RedisVerifier::new(verifier, redis)?, clock, http, sms);
                made = Some(made_app.clone());
                Ok::<_, mo2fa_server::redis::RedisStoreError>(made_app)
            })
            .map_err(|e| HarnessError::Store(e.to_string()))?;
            let app = made.ok_or_else(|| HarnessError::Store("server did not start".into()))?;
            Ok(then.with(app, server))
        }
    }
}

fn app<V: Backend, C: Clock + 'static>(
    verifier: V,
    clock: C,
    http: HttpConfig,
    sms: Option<SmsGateway>,
) -> Arc<App<V, C>> {
    let mut app = App::new(verifier, clock, http);
    if let Some(sms) = sms {
        app.sms = sms;
    }
    Arc::new(app)
}

/// The verifier's HTTP server on 127.0.0.1 (an OS-chosen port) on a runtime of its own, so
/// a load generator on another thread measures it like an external client would.
pub struct InProcess {
    pub addr: String,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl InProcess {
    pub fn start<V: Backend, C: Clock + 'static>(app: Arc<App<V, C>>) -> std::io::Result<Self> {
        Self::start_with(Runtime::WorkStealing, || Ok::<_, std::io::Error>(app))
    }

    /// Builds the app inside the server's runtime (a Redis backend needs one to exist). Thread
    /// per core, that runtime has one worker, which waits for the stop (as `serve`'s does), and
    /// the serving threads one per core.
    pub fn start_with<V: Backend, C: Clock + 'static, E: std::fmt::Display>(
        kind: Runtime,
        build: impl FnOnce() -> Result<Arc<App<V, C>>, E>,
    ) -> std::io::Result<Self> {
        // Named, so that `cpu` can tell the verifier's CPU from the load generator's (the
        // serving threads of thread per core are named by `serve_per_core`).
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if kind == Runtime::PerCore {
            builder.worker_threads(1);
        }
        let runtime = builder
            .enable_all()
            .thread_name(crate::cpu::SERVER_THREAD)
            .build()?;
        let app = {
            let _inside = runtime.enter();
            build().map_err(|e| std::io::Error::other(e.to_string()))?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let (addr, task) = match kind {
            Runtime::WorkStealing => {
                let listener = runtime.block_on(tokio::net::TcpListener::bind(loopback))?;
                let addr = listener.local_addr()?;
                (addr, runtime.spawn(http::serve(listener, app, stopped)))
            }
            Runtime::PerCore => {
                let listeners = http::bind_per_core(loopback, Runtime::per_core_threads(None))?;
                let addr = listeners[0].local_addr()?;
                let serve = http::serve_per_core(listeners, None, app, stopped);
                (addr, runtime.spawn(serve))
            }
        };
        let addr = addr.to_string();
        Ok(Self {
            addr,
            runtime,
            stop,
            task,
        })
    }

    /// Shuts the server down gracefully and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.runtime.block_on(self.task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_memory_or_a_redis_url() {
        assert_eq!(
            StoreUrl::parse("--store", "memory").unwrap(),
            StoreUrl::Memory
        );
        for url in [
            "redis://127.0.0.1:6379",
            "rediss://cache.internal:6380/2",
            "redis+unix:///run/redis/redis.sock",
            "redis-cluster://10.0.0.1:7000,10.0.0.2:7000",
        ] {
            let s = StoreUrl::parse("--store", url).unwrap();
            assert_eq!(s, StoreUrl::Redis(url.into()));
            assert_eq!(s.to_string(), url);
        }
        for url in [
            "",
            "Memory",
            "redis:/x",
            "unix:///run/redis.sock",
            "http://127.0.0.1:6379",
        ] {
            let e = StoreUrl::parse("store.url", url).unwrap_err().to_string();
            assert!(
                e.starts_with("store.url: ") && e.contains("redis+unix://"),
                "{e}"
            );
        }
    }
}
