//! Guards on the connections themselves, and the accept loop: a deadline on reading each whole
//! request (headers and body together, from its first byte; a body past it is answered 408), a
//! deadline on each write and a bound on what is answered to a client that sends nothing (a
//! client that stops reading is closed, [`WriteGuard`]), a cap on open connections (past it new
//! ones are closed at once), and the optional private address for `/metrics` and the probes.

use super::drain::{Drain, Draining};
use super::wake::InlineWake;
use super::{App, PeerAddr};
use crate::backend::Backend;
use hyper::Request;
use hyper::body::Body;
use hyper_util::server::graceful::GracefulConnection;
use mo2fa_core::clock::Clock;
use mo2fa_core::metrics::Counters;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Connections on the private metrics address (`serve_with`'s second listener): scrapers and
/// probes, a handful at a time.
pub const MAX_METRICS_CONNECTIONS: usize = 64;

/// Descriptors kept free beyond the connection caps: listeners, the Redis connection, the
/// runtime's own, logs, and the one `accept` needs to take a connection it then refuses.
const FD_HEADROOM: u64 = 256;

/// Ceiling of the default cap: at about 83 KiB per connection stalled in a request, 10,000 of
/// them hold some 0.8 GiB; a deployment behind a proxy needs far fewer.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// Answer bytes written to one connection since its client last sent a byte, past which the
/// connection is closed: a client pipelining requests it never reads the answers to would
/// otherwise fill the kernel's socket buffers (megabytes) with them. 1 MiB is some 4,000 of
/// the largest API answers (`/2fa/start`'s, about 250 bytes; `mo2fa bench http` pipelines 256
/// starts at a time) or 70 copies of `/openapi.yaml`, one 40-byte request each.
pub const MAX_ANSWER_BYTES_UNREAD: usize = 1 << 20;

/// The descriptor limit (`RLIMIT_NOFILE`, soft), if it can be read and is finite.
pub fn fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Connections the main address holds open by default: 10,000, or fewer when the descriptor
/// limit would not leave `FD_HEADROOM` (256) plus the metrics address's share free (at least 1/8
/// of the limit is kept free either way), so that accepting and the probes keep working.
pub fn default_max_connections() -> usize {
    let Some(limit) = fd_limit() else {
        return DEFAULT_MAX_CONNECTIONS as usize;
    };
    let reserve = (FD_HEADROOM + MAX_METRICS_CONNECTIONS as u64).max(limit / 8);
    limit
        .saturating_sub(reserve)
        .clamp(1, DEFAULT_MAX_CONNECTIONS) as usize
}

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// Everything (one address).
    All,
    /// Everything but `/metrics`, which has an address of its own.
    Public,
    /// `/metrics`, `/healthz` and `/readyz` only: the private metrics address.
    Private,
}

impl Surface {
    pub(super) fn hides(self, path: &str) -> bool {
        match self {
            Surface::All => false,
            Surface::Public => path == "/metrics",
            Surface::Private => !matches!(path, "/metrics" | "/healthz" | "/readyz"),
        }
    }
}

/// Connection counts for `/metrics`, shared with every connection's task.
#[derive(Debug, Default)]
pub(super) struct ConnStats {
    pub(super) open: AtomicUsize,
    pub(super) open_private: AtomicUsize,
    pub(super) refused: AtomicU64,
    pub(super) timed_out: AtomicU64,
    /// Connections closed because their client stopped reading ([`WriteGuard`]).
    pub(super) slow_readers: AtomicU64,
}

/// One open connection's place under its cap, given back when the connection ends.
struct ConnSlot {
    stats: Arc<ConnStats>,
    private: bool,
}

impl ConnSlot {
    /// Takes a place, or counts a refusal and answers `None` when `cap` are open.
    fn take(stats: &Arc<ConnStats>, private: bool, cap: usize) -> Option<Self> {
        let open = if private {
            &stats.open_private
        } else {
            &stats.open
        };
        // Only the accept loop adds, so nothing can slip in between the check and the add.
        if open.load(Ordering::Relaxed) >= cap {
            Counters::inc(&stats.refused);
            return None;
        }
        open.fetch_add(1, Ordering::Relaxed);
        Some(Self {
            stats: stats.clone(),
            private,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let open = if self.private {
            &self.stats.open_private
        } else {
            &self.stats.open
        };
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When the request being read began to arrive on one connection: the first bytes read after
/// the last response bytes were written (nanoseconds since `epoch`, plus one; 0 = none yet).
/// A pipelined request read together with the one before it has no mark of its own and is
/// timed from its dispatch instead, which only ever gives it more time, never less.
///
/// It also keeps since when the connection has been waiting for a request
/// ([`HeaderDeadline`]): from when it was accepted or its last answer was handed to hyper
/// (nanoseconds since `epoch`, plus one), 0 while a request is being served.
///
/// And whether a write is waiting for the client to read (the [`WriteGuard`]'s case, which
/// the header deadline then leaves to it).
struct ReadMark {
    epoch: Instant,
    began: AtomicU64,
    idle_since: AtomicU64,
    write_blocked: AtomicBool,
}

impl ReadMark {
    /// A mark for a connection accepted now.
    fn new(epoch: Instant) -> Self {
        let mark = Self {
            epoch,
            began: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
        };
        mark.answered(Instant::now());
        mark
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u64::MAX as u128 - 1) as u64
    }

    /// A request was dispatched: the connection is no longer waiting for one.
    fn dispatched(&self) {
        self.idle_since.store(0, Ordering::Relaxed);
    }

    /// The request being served was answered `at`: the connection waits for the next one.
    fn answered(&self, at: Instant) {
        self.idle_since.store(self.nanos(at) + 1, Ordering::Relaxed);
    }

    /// When a connection waiting for a request has waited `timeout`; `None` while a request is
    /// being served.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        match self.idle_since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.epoch + Duration::from_nanos(n - 1) + timeout),
        }
    }

    /// When the request dispatched now began, or now if that is not known.
    fn began(&self) -> Instant {
        match self.began.load(Ordering::Relaxed) {
            0 => Instant::now(),
            n => self.epoch + Duration::from_nanos(n - 1),
        }
    }

    fn read(&self) {
        if self.began.load(Ordering::Relaxed) == 0 {
            let n = self.nanos(Instant::now());
            self.began.store(n + 1, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.began.store(0, Ordering::Relaxed);
    }

    /// Whether the last write polled was blocked.
    fn write_blocked(&self) -> bool {
        self.write_blocked.load(Ordering::Relaxed)
    }

    /// Notes how a write was polled: blocked (the client's buffers are full) or not. Stored
    /// only on a change, so a reading client's writes leave the line alone.
    fn write_polled<T>(&self, polled: &Poll<T>) {
        let blocked = polled.is_pending();
        if self.write_blocked.load(Ordering::Relaxed) != blocked {
            self.write_blocked.store(blocked, Ordering::Relaxed);
        }
    }
}

/// Closes a connection whose client has stopped reading its answers, and counts it. Two
/// signs, either enough:
/// * a write makes no progress for `timeout` (the socket's buffers are full: the client reads
///   nothing; the timer is set up only when a write blocks, so a reading client pays nothing);
/// * more than `max_answer_bytes_unread` ([`MAX_ANSWER_BYTES_UNREAD`] by default) answer bytes
///   went out since the client last sent a byte (pipelined requests whose answers pile up
///   unread in the kernel).
///
/// Either fails the write, and hyper then drops the connection, freeing its place under the
/// cap. Without it, such a client held its connection (and megabytes of socket memory) for as
/// long as it liked, since the request deadline covers reading requests, not writing answers.
struct WriteGuard {
    timeout: Duration,
    max_unread: usize,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    written_unread: usize,
    stats: Arc<ConnStats>,
    tripped: bool,
}

impl WriteGuard {
    fn new(timeout: Duration, max_unread: usize, stats: Arc<ConnStats>) -> Self {
        Self {
            timeout,
            max_unread,
            stalled: None,
            written_unread: 0,
            stats,
            tripped: false,
        }
    }

    fn close(&mut self, why: String) -> std::io::Error {
        if !std::mem::replace(&mut self.tripped, true) {
            Counters::inc(&self.stats.slow_readers);
            tracing::debug!("closing a connection whose client does not read: {why}");
        }
        std::io::Error::new(std::io::ErrorKind::TimedOut, why)
    }

    /// Before a write: refuses once the client has left too much unread.
    fn before(&mut self) -> Result<(), std::io::Error> {
        if self.written_unread >= self.max_unread {
            return Err(self.close(format!(
                "{} answer bytes written since the client last sent anything",
                self.written_unread
            )));
        }
        Ok(())
    }

    /// After a write was polled: counts what went out, and times a write that blocks.
    fn after(
        &mut self,
        polled: Poll<std::io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                self.stalled = None;
                self.written_unread = self.written_unread.saturating_add(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    let why = format!("no write progress for {} ms", timeout.as_millis());
                    return Poll::Ready(Err(self.close(why)));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

/// A connection's socket that keeps its [`ReadMark`] and its [`WriteGuard`].
struct Marked<T> {
    io: T,
    mark: Arc<ReadMark>,
    guard: WriteGuard,
}

impl<T: AsyncRead + Unpin> AsyncRead for Marked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.mark.read();
            self.guard.written_unread = 0;
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Marked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.guard.before()?;
        let polled = this
            .guard
            .after(Pin::new(&mut this.io).poll_write(cx, buf), cx);
        this.mark.write_polled(&polled);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.mark.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.guard.before()?;
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        let polled = this.guard.after(polled, cx);
        this.mark.write_polled(&polled);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.mark.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A connection that is closed once it has waited `timeout` for a request's headers (the
/// slowloris defence; it also closes idle keep-alive connections): the timeout hyper's
/// `header_read_timeout` gives, kept with one timer per connection. Hyper's own arms a boxed
/// timer for every request and cancels it when the headers are in (an allocation, a clock
/// read and a timer-wheel insert and removal per request); this one only fires every
/// `timeout` and then looks at the connection's [`ReadMark`]: waiting for longer than
/// `timeout`, it is closed, else the timer is set for when it will have waited that long.
/// The wait counts from when the last answer was handed to hyper (hyper's from when that
/// answer was written out, microseconds later). While that answer's write is blocked, the
/// client is not sending too slowly but reading too slowly: that is the [`WriteGuard`]'s to
/// close (and count), so the deadline waits for it.
///
/// It also carries the connection's part in the graceful shutdown ([`Drain`]): once that has
/// begun, hyper is told to finish the request in flight and close.
struct HeaderDeadline<F> {
    conn: Pin<Box<F>>,
    mark: Arc<ReadMark>,
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The connection's own waker (hyper's body channel wakes it while it is polled).
    wake: InlineWake,
    /// Registered with `wake`'s waker, which the shutdown wakes.
    drain: Draining,
    /// `graceful_shutdown` has been called.
    closing: bool,
}

/// How a connection served under [`HeaderDeadline`] ended.
#[derive(Debug, thiserror::Error)]
enum ConnEnd {
    #[error(transparent)]
    Http(#[from] hyper::Error),
    #[error("no request headers within {} ms", .0.as_millis())]
    HeaderTimeout(Duration),
}

impl<F> HeaderDeadline<F> {
    fn new(conn: F, mark: Arc<ReadMark>, timeout: Duration, drain: &Arc<Drain>) -> Self {
        let first = mark
            .idle_deadline(timeout)
            .unwrap_or_else(|| Instant::now() + timeout);
        let wake = InlineWake::new();
        Self {
            conn: Box::pin(conn),
            mark,
            timeout,
            timer: Box::pin(tokio::time::sleep_until(first.into())),
            drain: drain.register(wake.waker().clone()),
            wake,
            closing: false,
        }
    }
}

impl<F: GracefulConnection<Error = hyper::Error>> Future for HeaderDeadline<F> {
    type Output = Result<(), ConnEnd>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (conn, drain, closing) = (&mut this.conn, &this.drain, &mut this.closing);
        // The flag is read inside the re-polled closure: a shutdown that wakes the connection
        // while it is being polled is seen by the poll that wake causes.
        let polled = this.wake.poll(cx, |cx| {
            if !*closing && drain.begun() {
                *closing = true;
                conn.as_mut().graceful_shutdown();
            }
            conn.as_mut().poll(cx)
        });
        if let Poll::Ready(done) = polled {
            return Poll::Ready(done.map_err(ConnEnd::from));
        }
        while this.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let next = match this.mark.idle_deadline(this.timeout) {
                Some(deadline) if deadline <= now && !this.mark.write_blocked() => {
                    return Poll::Ready(Err(ConnEnd::HeaderTimeout(this.timeout)));
                }
                Some(deadline) if deadline > now => deadline,
                // A request is being served (its body has a deadline of its own), or its
                // answer's write is blocked (the write guard's deadline).
                _ => now + this.timeout,
            };
            this.timer.as_mut().reset(next.into());
        }
        Poll::Pending
    }
}

/// Why a [`Deadlined`] body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    Read(Box<dyn std::error::Error + Send + Sync>),
    #[error("the request was not received within {} ms", .0.as_millis())]
    TimedOut(Duration),
}

/// A request body that fails with [`BodyError::TimedOut`] once its request's deadline has
/// passed. The timer is only set up when a frame is not ready at once: a body that arrived
/// with its headers costs nothing.
pub struct Deadlined<B> {
    inner: B,
    deadline: Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> Deadlined<B> {
    /// `timeout` is what the deadline allowed from the request's start (for the message).
    pub fn new(inner: B, deadline: Instant, timeout: Duration) -> Self {
        Self {
            inner,
            deadline,
            timeout,
            sleep: None,
        }
    }
}

impl<B> Body for Deadlined<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(|e| BodyError::Read(e.into()))));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TimedOut(this.timeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish
/// (up to 10 s). Also runs the once-a-second expiry sweep.
pub async fn serve<V, C>(
    listener: TcpListener,
    app: Arc<App<V, C>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    V: Backend,
    C: Clock + 'static,
{
    serve_with(listener, None, app, shutdown).await
}

/// Like [`serve`]; with a `metrics` listener, `/metrics` is served there (with `/healthz` and
/// `/readyz`, at most [`MAX_METRICS_CONNECTIONS`] at a time) and no longer on `listener`.
///
/// Each request must be read whole, headers and body, within `request_timeout` of its first
/// byte; a body still incomplete then is answered 408 and the connection closed. A write that
/// makes no progress for `request_timeout`, or more than [`MAX_ANSWER_BYTES_UNREAD`] answered
/// while the client sends nothing, closes the connection (the client is not reading). Past
/// `max_connections` open connections, a new one is closed as soon as it is accepted (and
/// counted), so those already open keep being served.
pub async fn serve_with<V, C>(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    app: Arc<App<V, C>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    V: Backend,
    C: Clock + 'static,
{
    accept_loop(listener, metrics, app, shutdown, true).await
}

/// Expires due challenges and SMS codes every `sweep_interval`, until aborted.
async fn sweep_forever<V, C>(app: Arc<App<V, C>>)
where
    V: Backend,
    C: Clock + 'static,
{
    let mut tick = tokio::time::interval(app.cfg.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        app.verifier.sweep(app.now());
        app.sms.otp.sweep(app.now());
    }
}

/// Hyper's HTTP/1 settings for every connection.
fn http1_builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        // The headers are timed by `HeaderDeadline` (one timer per connection, not one per
        // request), the body by `Deadlined`.
        .header_read_timeout(None)
        .max_buf_size(32 * 1024)
        // Request line and headers together; larger ones get 431 and the connection closes.
        .max_header_size(16 * 1024);
    builder
}

/// [`serve_with`]'s loop; `sweep`: this loop also runs the expiry sweep (one loop of a
/// thread-per-core server does).
pub(super) async fn accept_loop<V, C>(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    app: Arc<App<V, C>>,
    shutdown: impl Future<Output = ()>,
    sweep: bool,
) -> std::io::Result<()>
where
    V: Backend,
    C: Clock + 'static,
{
    let sweeper = sweep.then(|| tokio::spawn(sweep_forever(app.clone())));
    let drain = Arc::new(Drain::default());
    let builder = http1_builder();
    let epoch = Instant::now();
    // Hyper's clock ran from when a connection starts waiting for a request, so it also closed
    // idle keep-alive connections; `HeaderDeadline` keeps that.
    let header_timeout = app.cfg.header_read_timeout.min(app.cfg.request_timeout);
    let public = if metrics.is_some() {
        Surface::Public
    } else {
        Surface::All
    };
    let accept_metrics = async |l: &Option<TcpListener>| match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    };
    tokio::pin!(shutdown);
    loop {
        let (accepted, surface) = tokio::select! {
            a = listener.accept() => (a, public),
            a = accept_metrics(&metrics) => (a, Surface::Private),
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let private = surface == Surface::Private;
        let cap = if private {
            MAX_METRICS_CONNECTIONS
        } else {
            app.cfg.max_connections
        };
        // Past the cap the connection is closed here and now: accepting goes on, and the
        // connections already open are not slowed down.
        let Some(slot) = ConnSlot::take(&app.conns, private, cap) else {
            drop(stream);
            continue;
        };
        let peer = PeerAddr(peer.ip());
        let mark = Arc::new(ReadMark::new(epoch));
        let conn = connection(&builder, stream, peer, app.clone(), surface, mark.clone());
        let conn = HeaderDeadline::new(conn, mark, header_timeout, &drain);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended with error: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    drop(metrics);
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    drain.begin();
    if tokio::time::timeout(Duration::from_secs(10), drain.closed())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
    Ok(())
}

/// One accepted connection from `peer`, served by `app`, each request's body under its
/// deadline.
fn connection<V, C>(
    builder: &hyper::server::conn::http1::Builder,
    stream: TcpStream,
    peer: PeerAddr,
    app: Arc<App<V, C>>,
    surface: Surface,
    mark: Arc<ReadMark>,
) -> impl GracefulConnection<Error = hyper::Error> + Send + 'static
where
    V: Backend,
    C: Clock + 'static,
{
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let _ = stream.set_nodelay(true);
    let timeout = app.cfg.request_timeout;
    let io = Marked {
        io: stream,
        mark: mark.clone(),
        guard: WriteGuard::new(timeout, app.cfg.max_answer_bytes_unread, app.conns.clone()),
    };
    // Only the start limits and the SMS defences read the peer; inserting it costs an
    // allocation per request, so it is skipped when neither is configured.
    let wants_peer = app.limiter.is_some() || app.sms_guard.is_some();
    // Each request's future holds a reference to the app. Counted on the shared `Arc`, every
    // request on every core would write the same counter (a cache line bouncing between the
    // cores twice a request); this connection's own `Arc` around it stays with the core that
    // serves the connection.
    // The mark rides in the same `Arc`: one reference counted per request, not two.
    let conn = Arc::new((app, mark.clone()));
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let conn = conn.clone();
        let (mut parts, body) = req.into_parts();
        if wants_peer {
            parts.extensions.insert(peer);
        }
        let mark = &conn.1;
        let deadline = mark.began() + timeout;
        mark.dispatched();
        async move {
            // Held here once; the handler borrows them (see `App::handle_timed`).
            let mut body = Deadlined::new(body, deadline, timeout);
            let (resp, answered) = conn.0.handle_timed(&parts, &mut body, surface).await;
            conn.1.answered(answered);
            Ok::<_, Infallible>(resp)
        }
    });
    builder.serve_connection(TokioIo::new(io), service)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal sent as soon as the server says it is listening is not
/// lost (call it before announcing the address). Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (interrupt, terminate) = (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        );
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests;
