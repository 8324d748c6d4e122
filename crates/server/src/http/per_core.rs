//! The thread-per-core serve loop (`serve --runtime per-core`): one OS thread per core, each
//! running a current-thread Tokio runtime that accepts on a listener of its own and serves the
//! connections it accepted to their end. The listeners share one port through `SO_REUSEPORT`,
//! and the kernel spreads new connections among them by a hash of their addresses. A request
//! never changes thread, and no idle worker is parked and woken for work another found, which
//! is the cost of the work-stealing runtime (docs/performance.md).
//!
//! The trade: a connection stays on the thread the kernel's hash chose, so with few
//! connections some threads may get none (a provider may hold only two or three open).

use super::App;
use super::conn::accept_loop;
use crate::backend::Backend;
use mo2fa_core::clock::Clock;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The serving threads' names: this and their index (`mo2fa-core-0`, ...).
pub const PER_CORE_THREAD: &str = "mo2fa-core-";

/// `threads` (at least one) listening sockets on `addr` with `SO_REUSEPORT`; the first picks
/// the port when `addr`'s is 0, the others take the same. Another process of the same user can
/// join the group by binding the port with `SO_REUSEPORT` too: use a port nothing else does.
pub fn bind_per_core(
    addr: SocketAddr,
    threads: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Socket, Type};
    let mut out = Vec::with_capacity(threads.max(1));
    let mut at = addr;
    for _ in 0..threads.max(1) {
        let s = Socket::new(Domain::for_address(at), Type::STREAM, None)?;
        // As tokio's TcpListener::bind does: a restarted server rebinds at once.
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        s.set_nonblocking(true)?;
        s.bind(&at.into())?;
        s.listen(1024)?;
        let l: std::net::TcpListener = s.into();
        at = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// Serves `app` on `listeners` ([`bind_per_core`]'s), one thread and current-thread runtime
/// each, until `shutdown` resolves; then each lets its open requests finish (up to 10 s). The
/// first thread also serves `metrics` and runs the expiry sweep. Call it from a runtime that
/// stays up meanwhile: it waits for `shutdown` there, and a Redis connection made there is
/// driven there.
pub async fn serve_per_core<V, C>(
    listeners: Vec<std::net::TcpListener>,
    metrics: Option<std::net::TcpListener>,
    app: Arc<App<V, C>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    V: Backend,
    C: Clock + 'static,
{
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut metrics = metrics;
    let mut threads = Vec::with_capacity(listeners.len());
    for (i, listener) in listeners.into_iter().enumerate() {
        let app = app.clone();
        let mut stopped = stopped.clone();
        let metrics = metrics.take();
        let thread = std::thread::Builder::new()
            .name(format!("{PER_CORE_THREAD}{i}"))
            .spawn(move || -> std::io::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener)?;
                    let metrics = metrics.map(TcpListener::from_std).transpose()?;
                    let stop = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    accept_loop(listener, metrics, app, stop, i == 0).await
                })
            })?;
        threads.push(thread);
    }
    shutdown.await;
    let _ = stop.send(true);
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a serving thread panicked")))
            })
            .collect::<std::io::Result<Vec<()>>>()
    })
    .await
    .map_err(std::io::Error::other)?;
    joined.map(|_| ())
}
