//! Load generation against the HTTP verifier: a keep-alive client, an open-loop driver that
//! measures latency from scheduled send times, and `mo2fa bench http`.

pub mod bench;
pub mod client;
#[cfg(feature = "load")]
pub mod closed;
pub mod live;
pub mod openloop;
pub mod soak;

use mo2fa_core::clock::Clock;
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{self, App};
use std::sync::Arc;

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
        Self::start_with(|| Ok::<_, std::io::Error>(app))
    }

    /// Builds the app inside the server's runtime (a Redis backend needs one to exist).
    pub fn start_with<V: Backend, C: Clock + 'static, E: std::fmt::Display>(
        build: impl FnOnce() -> Result<Arc<App<V, C>>, E>,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Runtime::new()?;
        let app = {
            let _inside = runtime.enter();
            build().map_err(|e| std::io::Error::other(e.to_string()))?
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?.to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(http::serve(listener, app, async {
            let _ = stopped.await;
        }));
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
