//! The HTTP adapter: hyper 1.x routes over the verifier core.
//!
//! This layer only translates: it reads and bounds bodies, checks content types and
//! signatures, turns JSON into core calls and core results into JSON. Every error is
//! `{"error": "..."}` with a 4xx status naming the problem; nothing here panics on input.
//! Time comes from the injected [`Clock`]; randomness from the thread-local CSPRNG.
//!
//! [`serve`] also guards the connections themselves: a deadline on reading each whole request
//! (headers and body together, so a stalled or trickling body is cut with 408), a cap on open
//! connections (past it new ones are closed at once), and optionally a second, private address
//! for `/metrics` and the probes.

use crate::backend::Backend;
use crate::sms_gateway::{CountrySource, SmsGateway};
use crate::wire;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::{
    ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
    RETRY_AFTER,
};
use hyper::{Method, Request, Response, StatusCode};
use mo2fa_core::clock::{Clock, Millis};
use mo2fa_core::dialing;
use mo2fa_core::limits::{self, Decision, LimitsConfig, StartLimiter};
use mo2fa_core::metrics::{self, Counters, LatencyHistogram};
use mo2fa_core::sender::Sender;
use mo2fa_core::sms_defences::{Blocked, SmsDefences, SmsGuard};
use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::store::Unavailable;
use mo2fa_core::timefmt::rfc3339_ms;
use mo2fa_core::verifier::{StartError, StartRequest};
use mo2fa_core::webhook::{self, DeliveryHeaders, Event, Secret, SignatureHeaders};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Largest request body accepted anywhere.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The iMessage handle users send their code to (the deep link's path).
    pub handle: String,
    pub secret: Secret,
    pub tolerance_secs: i64,
    /// How long a connection may wait for a request's headers (an idle keep-alive connection
    /// is closed after it); never longer than `request_timeout`.
    pub header_read_timeout: Duration,
    /// Deadline on reading one whole request, headers and body together, from its first
    /// byte. A body still unread then is answered 408 and the connection closed.
    pub request_timeout: Duration,
    /// Open connections on the main address; past it new ones are closed at once.
    pub max_connections: usize,
    pub sweep_interval: Duration,
    /// Serve `GET /sms/outbox/{phone}` (test and load use only: it reveals sent codes).
    pub sms_outbox: bool,
    /// Token buckets on `POST /2fa/start` (off unless set; see [`mo2fa_core::limits`]).
    pub start_limits: LimitsConfig,
    /// Header naming the client address behind `trusted_proxies` proxies (X-Forwarded-For
    /// style); read only if `trusted_proxies > 0`, else the TCP peer address is the client.
    pub client_ip_header: Option<HeaderName>,
    pub trusted_proxies: usize,
    /// The simulator's SMS-side defences, enforced on `/sms/start` (`serve --sms-defences`).
    pub sms_defences: Option<SmsDefences>,
}

impl HttpConfig {
    pub fn new(handle: impl Into<String>, secret: Secret) -> Self {
        Self {
            handle: handle.into(),
            secret,
            tolerance_secs: webhook::DEFAULT_TOLERANCE_SECS,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_connections: default_max_connections(),
            sweep_interval: Duration::from_secs(1),
            sms_outbox: false,
            start_limits: LimitsConfig::default(),
            client_ip_header: None,
            trusted_proxies: 0,
            sms_defences: None,
        }
    }
}

/// The TCP peer address of a connection, put into each request's extensions by [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub IpAddr);

/// The labels of `mo2fa_rate_limited_total`: start limits, then `/sms/start` rules.
const LIMITED: [&str; 10] = [
    "client",
    "sender",
    "global",
    "table_full",
    "sms_geo_allow",
    "sms_conversion",
    "sms_per_number",
    "sms_per_ip",
    "sms_per_prefix",
    "sms_max_keys",
];

fn limited_index(label: &str) -> usize {
    LIMITED.iter().position(|l| *l == label).unwrap_or(0)
}

/// The SMS guard's country space on the server: every two-letter code, then "unknown".
fn sms_country_index(iso: Option<&str>) -> usize {
    match iso.map(str::as_bytes) {
        Some([a @ b'A'..=b'Z', b @ b'A'..=b'Z']) => {
            usize::from(a - b'A') * 26 + usize::from(b - b'A')
        }
        _ => 26 * 26,
    }
}

fn sms_countries() -> Vec<String> {
    let mut all: Vec<String> = (b'A'..=b'Z')
        .flat_map(|a| (b'A'..=b'Z').map(move |b| String::from_utf8_lossy(&[a, b]).into_owned()))
        .collect();
    all.push(String::new());
    all
}

/// 429 with `Retry-After` in whole seconds, rounded up.
fn too_many(msg: String, retry_ms: u64) -> Resp {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, msg);
    let secs = retry_ms.div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}

/// Connections on the private metrics address (`serve_with`'s second listener): scrapers and
/// probes, a handful at a time.
pub const MAX_METRICS_CONNECTIONS: usize = 64;

/// Descriptors kept free beyond the connection caps: listeners, the Redis connection, the
/// runtime's own, logs, and the one `accept` needs to take a connection it then refuses.
const FD_HEADROOM: u64 = 256;

/// Ceiling of the default cap: at about 83 KiB per connection stalled in a request, 10,000 of
/// them hold some 0.8 GiB; a deployment behind a proxy needs far fewer.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// The descriptor limit (`RLIMIT_NOFILE`, soft), if it can be read.
pub fn fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live, owned value.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur as u64)
}

/// Connections the main address holds open by default: 10,000, or fewer when the descriptor
/// limit would not leave [`FD_HEADROOM`] plus the metrics address's share free (at least 1/8
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
    fn hides(self, path: &str) -> bool {
        match self {
            Surface::All => false,
            Surface::Public => path == "/metrics",
            Surface::Private => !matches!(path, "/metrics" | "/healthz" | "/readyz"),
        }
    }
}

/// Connection counts for `/metrics`, shared with every connection's task.
#[derive(Debug, Default)]
struct ConnStats {
    open: AtomicUsize,
    open_private: AtomicUsize,
    refused: AtomicU64,
    timed_out: AtomicU64,
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
struct ReadMark {
    epoch: Instant,
    began: AtomicU64,
}

impl ReadMark {
    fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            began: AtomicU64::new(0),
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
            let n = self.epoch.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
            self.began.store(n + 1, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.began.store(0, Ordering::Relaxed);
    }
}

/// A connection's socket that keeps its [`ReadMark`].
struct Marked<T> {
    io: T,
    mark: Arc<ReadMark>,
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
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.mark.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.mark.wrote();
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

/// The routes, for latency accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Start,
    Status,
    Webhook,
    Health,
    Metrics,
    Sms,
    Other,
}

const ROUTES: [(Route, &str); 7] = [
    (Route::Start, "start"),
    (Route::Status, "status"),
    (Route::Webhook, "webhook"),
    (Route::Health, "healthz"),
    (Route::Metrics, "metrics"),
    (Route::Sms, "sms"),
    (Route::Other, "other"),
];

/// Everything a request handler needs; shared by all connections.
pub struct App<V: Backend, C: Clock> {
    pub verifier: V,
    pub sms: SmsGateway,
    clock: C,
    cfg: HttpConfig,
    latency: [LatencyHistogram; ROUTES.len()],
    limiter: Option<parking_lot::Mutex<StartLimiter>>,
    sms_guard: Option<parking_lot::Mutex<SmsGuard>>,
    limited: [AtomicU64; LIMITED.len()],
    conns: Arc<ConnStats>,
}

type Resp = Response<Full<Bytes>>;

fn json_response(status: StatusCode, body: &serde_json::Value) -> Resp {
    json_bytes(status, body.to_string().into_bytes())
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Resp {
    json_response(status, &json!({ "error": msg.to_string() }))
}

fn method_not_allowed(allow: &'static str) -> Resp {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; use {allow}"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// The API description, checked in at the repository root.
const OPENAPI: &str = include_str!("../../../openapi.yaml");

fn openapi() -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(OPENAPI.as_bytes())));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    r
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Takes a parsed name: looking up by `&str` would parse and lower-case the name on every
/// request, which showed up in the webhook's profile.
fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

static BLOOIO_SIGNATURE: HeaderName = HeaderName::from_static("blooio-signature");
static X_BLOOIO_SIGNATURE: HeaderName = HeaderName::from_static("x-blooio-signature");
static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
static WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
static WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
static X_BLOOIO_EVENT: HeaderName = HeaderName::from_static("x-blooio-event");
static X_BLOOIO_MESSAGE_ID: HeaderName = HeaderName::from_static("x-blooio-message-id");
static X_BLOOIO_REPLAY: HeaderName = HeaderName::from_static("x-blooio-replay");
static X_ORIGINAL_EVENT_ID: HeaderName = HeaderName::from_static("x-original-event-id");

/// Parses a JSON object. serde would also fill a struct from an array, positionally; an API
/// that documents objects must not accept `[null, null]`.
/// The error is the message for a 400 answer.
fn parse_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("invalid JSON: the body must be a JSON object".into());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

/// Reads a body of at most [`MAX_BODY`] bytes, refusing early on a declared larger length.
///
/// Stops as soon as the body says it has ended (a `Content-Length` body is complete after its
/// last byte, without another poll), and a body that arrives as one chunk is returned as that
/// chunk, uncopied: the common webhook is a single small frame. A body past its request's
/// deadline ([`Deadlined`]) is answered 408 and the connection closed.
async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, Resp>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + 'static,
{
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {MAX_BODY} bytes"),
        )
    };
    let declared = header(headers, &CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|e| {
            if let Some(BodyError::TimedOut(_)) = (&e as &dyn std::error::Error).downcast_ref() {
                let mut r = error(StatusCode::REQUEST_TIMEOUT, &e);
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
            error(StatusCode::BAD_REQUEST, format!("could not read body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing this API reads
        };
        let so_far = joined.as_ref().map_or(first.len(), BytesMut::len);
        if so_far + data.len() > MAX_BODY {
            return Err(too_large());
        }
        match &mut joined {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut all = BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                joined = Some(all);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsStartBody {
    phone: String,
    /// Destination country for billing; without it the country of the number's calling code
    /// is billed, or the fallback price if the code is unlisted.
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsCheckBody {
    phone: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    expected_sender: Option<String>,
    ttl_seconds: Option<u64>,
}

/// 503 with `Retry-After`: the store is down or slow; no decision is known (see [`Unavailable`]).
fn unavailable(e: &Unavailable, retry_after: &'static str) -> Resp {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(retry_after));
    r
}

impl<V: Backend, C: Clock> App<V, C> {
    /// Panics if `cfg.start_limits` holds an invalid rate: check it first with
    /// [`StartLimiter::new`] (the CLI does, so a bad flag is an error naming the flag).
    pub fn new(verifier: V, clock: C, cfg: HttpConfig) -> Self {
        let limiter = (!cfg.start_limits.is_off()).then(|| {
            parking_lot::Mutex::new(
                StartLimiter::new(&cfg.start_limits).expect("start limits checked by the caller"),
            )
        });
        let sms_guard = cfg
            .sms_defences
            .as_ref()
            .map(|d| parking_lot::Mutex::new(SmsGuard::new(d, &sms_countries())));
        Self {
            verifier,
            sms: SmsGateway::new(cfg.sms_outbox),
            clock,
            cfg,
            latency: Default::default(),
            limiter,
            sms_guard,
            limited: Default::default(),
            conns: Arc::default(),
        }
    }

    /// The client's address: the TCP peer, or behind `trusted_proxies` proxies the entry they
    /// vouch for in `client_ip_header` (the peer if that entry is missing or malformed). A
    /// request handed to [`App::handle`] without a peer counts as 0.0.0.0.
    fn client_ip(&self, parts: &hyper::http::request::Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0);
        let Some(name) = self.cfg.client_ip_header.as_ref() else {
            return peer;
        };
        if self.cfg.trusted_proxies == 0 {
            return peer;
        }
        // Proxies may append a header line instead of extending the list: read them in order.
        let lines: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        limits::forwarded_client(&lines.join(","), self.cfg.trusted_proxies).unwrap_or(peer)
    }

    fn count_limited(&self, label: &str) {
        self.limited[limited_index(label)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// The deep link that pre-fills the code in the user's Messages app.
    pub fn link(&self, code: &str) -> String {
        format!(
            "https://start.msg.new/{}?text={}",
            utf8_percent_encode(&self.cfg.handle, NON_ALPHANUMERIC),
            utf8_percent_encode(code, NON_ALPHANUMERIC)
        )
    }

    /// Handles one request. Generic over the body so benches and tests can call it directly.
    pub async fn handle<B>(&self, req: Request<B>) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        self.handle_on(req, Surface::All).await
    }

    /// Handles one request arriving on a listener that serves `surface`.
    pub async fn handle_on<B>(&self, req: Request<B>, surface: Surface) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        let (route, resp) = self.route(req, surface).await;
        if resp.status() == StatusCode::REQUEST_TIMEOUT {
            Counters::inc(&self.conns.timed_out);
        }
        let idx = ROUTES.iter().position(|(r, _)| *r == route).unwrap_or(0);
        self.latency[idx].record(started.elapsed());
        resp
    }

    async fn route<B>(&self, req: Request<B>, surface: Surface) -> (Route, Resp)
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        let m = &parts.method;
        if surface.hides(path) {
            return (
                Route::Other,
                error(StatusCode::NOT_FOUND, format!("no route for {path}")),
            );
        }
        match path {
            "/2fa/start" if m == Method::POST => (Route::Start, self.start(&parts, body).await),
            "/2fa/start" => (Route::Start, method_not_allowed("POST")),
            "/webhook/blooio" if m == Method::POST => {
                (Route::Webhook, self.webhook(&parts.headers, body).await)
            }
            "/webhook/blooio" => (Route::Webhook, method_not_allowed("POST")),
            "/healthz" if m == Method::GET || m == Method::HEAD => (
                Route::Health,
                json_response(StatusCode::OK, &json!({"status": "ok"})),
            ),
            "/healthz" => (Route::Health, method_not_allowed("GET")),
            "/readyz" if m == Method::GET || m == Method::HEAD => {
                (Route::Health, self.ready().await)
            }
            "/readyz" => (Route::Health, method_not_allowed("GET")),
            "/openapi.yaml" if m == Method::GET => (Route::Other, openapi()),
            "/openapi.yaml" => (Route::Other, method_not_allowed("GET")),
            "/metrics" if m == Method::GET => (Route::Metrics, self.metrics()),
            "/metrics" => (Route::Metrics, method_not_allowed("GET")),
            "/sms/start" if m == Method::POST => (Route::Sms, self.sms_start(&parts, body).await),
            "/sms/check" if m == Method::POST => {
                (Route::Sms, self.sms_check(&parts.headers, body).await)
            }
            "/sms/start" | "/sms/check" => (Route::Sms, method_not_allowed("POST")),
            _ if self.cfg.sms_outbox && path.starts_with("/sms/outbox/") && m == Method::GET => {
                (Route::Sms, self.sms_outbox(&path["/sms/outbox/".len()..]))
            }
            _ => match path.strip_prefix("/2fa/status/") {
                Some(id) if m == Method::GET => (Route::Status, self.status(id).await),
                Some(_) => (Route::Status, method_not_allowed("GET")),
                None => (
                    Route::Other,
                    error(StatusCode::NOT_FOUND, format!("no route for {path}")),
                ),
            },
        }
    }

    async fn start<B>(&self, parts: &hyper::http::request::Parts, body: B) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let headers = &parts.headers;
        let bytes = match read_body(headers, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let mut req = StartRequest::default();
        if !bytes.is_empty() {
            if !is_json(headers) {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "content-type must be application/json",
                );
            }
            let parsed: StartBody = match parse_object(&bytes) {
                Ok(p) => p,
                Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
            };
            req.expected_sender = parsed.expected_sender;
            if let Some(secs) = parsed.ttl_seconds {
                // An overflowing TTL is out of range; let the core name the range.
                req.ttl_ms = Some(secs.checked_mul(1000).unwrap_or(Millis::MAX));
            }
        }
        let now = self.now();
        if let Some(limiter) = &self.limiter {
            // The sender as the verifier will bind it; an unparsable one is refused below.
            let sender = req
                .expected_sender
                .as_deref()
                .and_then(|s| Sender::parse(s).ok())
                .map(|s| s.to_string());
            let client = limits::client_key(self.client_ip(parts));
            let decision = limiter.lock().check(client, sender.as_deref(), now);
            if let Decision::RetryAfter { limit, ms } = decision {
                self.count_limited(limit.name());
                let what = match limit {
                    limits::Limit::Client => {
                        "per-client start limit reached (--start-rate-per-client)"
                    }
                    limits::Limit::Sender => {
                        "per-sender start limit reached for this expected_sender (--start-rate-per-sender)"
                    }
                    limits::Limit::Global => "global start limit reached (--start-rate-global)",
                    limits::Limit::Table => "start limit table full of active clients; retry later",
                };
                return too_many(format!("rate limited: {what}"), ms);
            }
        }
        let started = self.verifier.start(&req, now, &mut rand::rng());
        match started.await {
            Ok(s) => {
                let code = self.verifier.config().code.format(s.code);
                json_response(
                    StatusCode::CREATED,
                    &json!({
                        "id": s.id.encode(),
                        "code": code.as_str(),
                        "link": self.link(code.as_str()),
                        "expires_at": rfc3339_ms(s.expires_at),
                    }),
                )
            }
            Err(e @ (StartError::Sender(_) | StartError::Ttl { .. })) => {
                error(StatusCode::UNPROCESSABLE_ENTITY, e)
            }
            Err(e @ (StartError::Store(_) | StartError::CodeSpace(_))) => {
                let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e);
                r.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            Err(StartError::Unavailable(e)) => unavailable(&e, "1"),
        }
    }

    /// Reads a JSON body of type `T`; the error is the ready answer.
    async fn json_body<T: serde::de::DeserializeOwned, B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> Result<T, Resp>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if !is_json(headers) {
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type must be application/json",
            ));
        }
        parse_object(&read_body(headers, body).await?)
            .map_err(|m| error(StatusCode::BAD_REQUEST, m))
    }

    async fn sms_start<B>(&self, parts: &hyper::http::request::Parts, body: B) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let headers = &parts.headers;
        let req: SmsStartBody = match self.json_body(headers, body).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        if let Some(c) = &req.country
            && !mo2fa_cost::prices::is_iso_code(c)
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "country: must be an ISO 3166-1 alpha-2 code like \"US\"",
            );
        }
        let phone = match Sender::parse(&req.phone) {
            Ok(p @ Sender::Phone(_)) => p,
            Ok(_) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "phone: must be a phone number",
                );
            }
            Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("phone: {e}")),
        };
        if let Some(guard) = &self.sms_guard
            && let Some(r) = self.sms_defend(guard, &phone, req.country.as_deref(), parts)
        {
            return r;
        }
        match self
            .sms
            .send(&phone, req.country.as_deref(), self.now(), &mut rand::rng())
        {
            Ok(sent) => {
                let mut answer = json!({
                    "status": "sent",
                    "country": sent.country,
                    "usd": sent.usd,
                    "country_source": sent.source.as_str(),
                });
                if sent.source == (CountrySource::CallingCode { shared: true }) {
                    answer["country_shared"] = true.into();
                }
                json_response(StatusCode::ACCEPTED, &answer)
            }
            Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        }
    }

    async fn sms_check<B>(&self, headers: &HeaderMap, body: B) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let req: SmsCheckBody = match self.json_body(headers, body).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        let phone = match Sender::parse(&req.phone) {
            Ok(p) => p,
            Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("phone: {e}")),
        };
        let now = self.now();
        let outcome = self.sms.check(&phone, &req.code, now);
        if let (CheckOutcome::Verified, Some(guard), Sender::Phone(n)) =
            (outcome, &self.sms_guard, &phone)
        {
            // Feeds the conversion rule, for the country the send was counted under.
            let iso = dialing::country_of_number(*n).map(|i| i.country);
            guard.lock().verified(sms_country_index(iso), now);
        }
        json_response(StatusCode::OK, &wire::check_answer(outcome))
    }

    /// Runs the `--sms-defences` guard on one send: 403 for the geo allow-list, 429 for the
    /// rest, each naming the rule (the TOML key) that refused it; `None` if the send may go.
    fn sms_defend(
        &self,
        guard: &parking_lot::Mutex<SmsGuard>,
        phone: &Sender,
        country: Option<&str>,
        parts: &hyper::http::request::Parts,
    ) -> Option<Resp> {
        let Sender::Phone(number) = *phone else {
            return None;
        };
        // The destination as billed: the named country, else the calling code's.
        let iso = country.or_else(|| dialing::country_of_number(number).map(|i| i.country));
        let ip = match self.client_ip(parts) {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => limits::client_key(IpAddr::V6(v6)),
        };
        let now = self.now();
        let verdict = {
            let mut g = guard.lock();
            let v = g.check(sms_country_index(iso), number, ip, now);
            g.blocks.clear(); // the timeline is the simulator's; the server keeps no history
            v
        };
        let Err(blocked) = verdict else {
            return None;
        };
        self.count_limited(&format!("sms_{}", blocked.name()));
        let dest = iso.unwrap_or("unknown");
        Some(match blocked {
            Blocked::Geo => error(
                StatusCode::FORBIDDEN,
                format!("sms defences: geo_allow: destination {dest} is not on the allow-list"),
            ),
            Blocked::Country => too_many(
                format!(
                    "sms defences: conversion: destination {dest} is blocked for low conversion"
                ),
                guard.lock().blocked_for(sms_country_index(iso), now),
            ),
            other => too_many(
                format!(
                    "sms defences: {}: limit reached for this window",
                    other.name()
                ),
                guard.lock().window_left(now),
            ),
        })
    }

    fn sms_outbox(&self, phone: &str) -> Resp {
        let decoded = percent_encoding::percent_decode_str(phone).decode_utf8_lossy();
        match Sender::parse(&decoded)
            .ok()
            .and_then(|p| self.sms.outbox(&p))
            .flatten()
        {
            Some(code) => json_response(StatusCode::OK, &json!({"code": code})),
            None => error(StatusCode::NOT_FOUND, "no code was sent to that phone"),
        }
    }

    async fn status(&self, id: &str) -> Resp {
        match self.verifier.status(id, self.now()).await {
            Err(e) => unavailable(&e, "1"),
            Ok(Some(v)) => json_response(
                StatusCode::OK,
                &json!({
                    "status": wire::status(v.status),
                    "sender": v.sender,
                    "verified_at": v.verified_at.map(rfc3339_ms),
                    "expires_at": rfc3339_ms(v.expires_at),
                }),
            ),
            Ok(None) => error(StatusCode::NOT_FOUND, "unknown challenge id"),
        }
    }

    async fn webhook<B>(&self, headers: &HeaderMap, body: B) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if !is_json(headers) {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type must be application/json",
            );
        }
        let bytes = match read_body(headers, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let sig_headers = SignatureHeaders {
            blooio_signature: header(headers, &X_BLOOIO_SIGNATURE)
                .or_else(|| header(headers, &BLOOIO_SIGNATURE)),
            webhook_id: header(headers, &WEBHOOK_ID),
            webhook_timestamp: header(headers, &WEBHOOK_TIMESTAMP),
            webhook_signature: header(headers, &WEBHOOK_SIGNATURE),
        };
        let now = self.now();
        let now_secs = (now / 1000) as i64;
        if let Err(e) =
            self.cfg
                .secret
                .verify(&sig_headers, &bytes, now_secs, self.cfg.tolerance_secs)
        {
            Counters::inc(&self.verifier.counters().bad_signatures);
            return error(StatusCode::UNAUTHORIZED, format!("signature: {e}"));
        }
        let event = match Event::parse(&bytes) {
            Ok(e) => e,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        let delivery_headers = DeliveryHeaders {
            event: header(headers, &X_BLOOIO_EVENT),
            message_id: header(headers, &X_BLOOIO_MESSAGE_ID),
            replay: header(headers, &X_BLOOIO_REPLAY)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            original_event_id: header(headers, &X_ORIGINAL_EVENT_ID),
            webhook_id: sig_headers.webhook_id,
        };
        if !event.is_message_received() {
            return json_response(
                StatusCode::OK,
                &json!({"result": "ignored", "reason": format!("event {:?} is not handled", event.kind)}),
            );
        }
        let (msg, delivery) = match event.message().and_then(|m| {
            Ok((
                m,
                event.delivery(self.cfg.secret.scheme(), &delivery_headers)?,
            ))
        }) {
            Ok(both) => both,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        let answer = match delivery.replay_of {
            // A replay of a delivery already decided gets that answer; one never seen before
            // is handled under its own (signed) id.
            Some(original) => match self.verifier.recorded(original).await {
                Ok(Some(outcome)) => Ok((outcome, true)),
                Ok(None) => self.verifier.receive_once(delivery.id, &msg, now).await,
                Err(e) => Err(e),
            },
            None => self.verifier.receive_once(delivery.id, &msg, now).await,
        };
        let (outcome, duplicate) = match answer {
            Ok(answer) => answer,
            // The provider retries on 5xx; the retry is decided then (or answered from the
            // dedupe record if this attempt got through after all).
            Err(e) => return unavailable(&e, "1"),
        };
        json_bytes(StatusCode::OK, wire::receive_answer(&outcome, duplicate))
    }

    /// Readiness: 200 when the store answers, else 503 naming why (liveness is `/healthz`).
    async fn ready(&self) -> Resp {
        match self.verifier.ready().await {
            Ok(()) => json_response(StatusCode::OK, &json!({"status": "ready"})),
            Err(e) => unavailable(&e, "1"),
        }
    }

    fn metrics(&self) -> Resp {
        let mut out = String::with_capacity(8 * 1024);
        metrics::render_counters(&mut out, self.verifier.counters());
        let store = &self.verifier;
        metrics::render_gauge(
            &mut out,
            "mo2fa_pending_challenges",
            "Challenges waiting for their code.",
            store.pending() as f64,
        );
        metrics::render_gauge(
            &mut out,
            "mo2fa_sms_sent_total",
            "Outbound SMS codes billed by the simulated gateway.",
            self.sms.sent() as f64,
        );
        metrics::render_gauge(
            &mut out,
            "mo2fa_sms_spend_usd",
            "What those SMS would cost at list prices.",
            self.sms.spend_usd(),
        );
        // Pumping shows as sends piling up on a few premium destinations.
        let billed = self.sms.billed();
        let country = |c: &Option<String>| c.clone().unwrap_or_else(|| "unknown".into());
        metrics::render_labelled(
            &mut out,
            "mo2fa_sms_sent_by_country_total",
            "counter",
            "Outbound SMS codes by billed country (ISO code; unknown: billed at the fallback price).",
            "country",
            billed.iter().map(|(c, b)| (country(c), b.sent as f64)),
        );
        metrics::render_labelled(
            &mut out,
            "mo2fa_sms_spend_by_country_usd",
            "gauge",
            "What the SMS to each billed country would cost at list prices.",
            "country",
            billed.iter().map(|(c, b)| (country(c), b.usd())),
        );
        metrics::render_labelled(
            &mut out,
            "mo2fa_rate_limited_total",
            "counter",
            "Requests refused by a limit: start limits (client, sender, global, table_full) and --sms-defences rules (sms_*).",
            "limit",
            LIMITED
                .iter()
                .zip(&self.limited)
                .map(|(l, n)| ((*l).to_string(), n.load(Ordering::Relaxed) as f64)),
        );
        metrics::render_gauge(
            &mut out,
            "mo2fa_max_pending_challenges",
            "Bound on pending challenges.",
            store.max_pending() as f64,
        );
        let conns = &self.conns;
        metrics::render_gauge(
            &mut out,
            "mo2fa_open_connections",
            "Connections open on the main address.",
            conns.open.load(Ordering::Relaxed) as f64,
        );
        metrics::render_gauge(
            &mut out,
            "mo2fa_max_connections",
            "Bound on connections open on the main address.",
            self.cfg.max_connections as f64,
        );
        for (name, help, c) in [
            (
                "mo2fa_connections_refused_total",
                "Connections closed at once because the connection cap was reached.",
                &conns.refused,
            ),
            (
                "mo2fa_request_timeouts_total",
                "Requests whose body was not received within the request timeout (answered 408).",
                &conns.timed_out,
            ),
        ] {
            let v = c.load(Ordering::Relaxed);
            let _ = std::fmt::Write::write_fmt(
                &mut out,
                format_args!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"),
            );
        }
        out.push_str("# HELP mo2fa_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE mo2fa_request_duration_seconds histogram\n");
        for (i, (_, name)) in ROUTES.iter().enumerate() {
            self.latency[i].render(
                &mut out,
                "mo2fa_request_duration_seconds",
                &format!("route=\"{name}\""),
            );
        }
        let mut r = Response::new(Full::new(Bytes::from(out)));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        r
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
/// byte; a body still incomplete then is answered 408 and the connection closed. Past
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
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioTimer;
    use hyper_util::server::graceful::GracefulShutdown;

    let sweeper = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(app.cfg.sweep_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                app.verifier.sweep(app.now());
                app.sms.otp.sweep(app.now());
            }
        })
    };
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Hyper's own clock runs from when a connection starts waiting for a request, so it
        // also closes idle keep-alive connections; the body is timed by `Deadlined`.
        .header_read_timeout(app.cfg.header_read_timeout.min(app.cfg.request_timeout))
        .max_buf_size(32 * 1024)
        // Request line and headers together; larger ones get 431 and the connection closes.
        .max_header_size(16 * 1024);
    let epoch = Instant::now();
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
        let conn = connection(&builder, stream, peer, app.clone(), surface, epoch);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended with error: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    drop(metrics);
    sweeper.abort();
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
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
    epoch: Instant,
) -> impl hyper_util::server::graceful::GracefulConnection<Error = hyper::Error> + Send + 'static
where
    V: Backend,
    C: Clock + 'static,
{
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let _ = stream.set_nodelay(true);
    let mark = Arc::new(ReadMark::new(epoch));
    let io = Marked {
        io: stream,
        mark: mark.clone(),
    };
    let timeout = app.cfg.request_timeout;
    let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let app = app.clone();
        req.extensions_mut().insert(peer);
        let deadline = mark.began() + timeout;
        async move {
            let req = req.map(|b| Deadlined::new(b, deadline, timeout));
            Ok::<_, Infallible>(app.handle_on(req, surface).await)
        }
    });
    builder.serve_connection(TokioIo::new(io), service)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Frame;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that yields the given frames (or an error in their place), then ends, and
    /// does not know its end in advance: `read_body` must then stop on `None`.
    struct Frames(VecDeque<Result<Frame<Bytes>, std::io::Error>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    fn data(chunks: &[&[u8]]) -> Frames {
        Frames(
            chunks
                .iter()
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect(),
        )
    }

    /// The body read, or the error answer's status and text.
    fn read(body: Frames) -> Result<Bytes, (StatusCode, String)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            match read_body(&HeaderMap::new(), body).await {
                Ok(b) => Ok(b),
                Err(r) => {
                    let status = r.status();
                    let text = r.into_body().collect().await.expect("full").to_bytes();
                    Err((status, String::from_utf8_lossy(&text).into_owned()))
                }
            }
        })
    }

    #[test]
    fn chunks_are_joined_in_order_and_trailers_skipped() {
        let mut body = data(&[b"{\"a\":", b"", b"1", b"}"]);
        body.0.push_back(Ok(Frame::trailers(HeaderMap::new())));
        assert_eq!(read(body).expect("read"), Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(read(data(&[])).expect("read"), Bytes::new());
    }

    #[test]
    fn a_single_chunk_is_passed_on_uncopied() {
        let chunk = Bytes::from_static(b"{\"event\":\"message.received\"}");
        let body = Frames(VecDeque::from([Ok(Frame::data(chunk.clone()))]));
        assert_eq!(read(body).expect("read").as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn the_limit_counts_all_chunks() {
        let half = vec![b'x'; MAX_BODY / 2];
        assert_eq!(
            read(data(&[&half, &half]))
                .expect("exactly the limit")
                .len(),
            MAX_BODY
        );
        let (status, text) = read(data(&[&half, &half, b"y"])).expect_err("over");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(text.contains("exceeds 65536 bytes"), "{text}");
    }

    #[test]
    fn a_failing_body_is_a_400_naming_the_cause() {
        let body = Frames(VecDeque::from([
            Ok(Frame::data(Bytes::from_static(b"{"))),
            Err(std::io::Error::other("connection reset")),
        ]));
        let (status, text) = read(body).expect_err("failed");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            text.contains("could not read body: connection reset"),
            "{text}"
        );
    }

    /// A body that never yields a frame: a client that sent its headers and stalled.
    struct Stalled;

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[test]
    fn a_body_past_its_deadline_is_a_408_that_closes_the_connection() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        let r = rt.block_on(async {
            let timeout = Duration::from_millis(30);
            let body = Deadlined::new(Stalled, Instant::now() + timeout, timeout);
            read_body(&HeaderMap::new(), body)
                .await
                .expect_err("timed out")
        });
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers().get(CONNECTION).unwrap(), "close");
        // A body that is ready is read whatever the deadline (no timer is even set up).
        let read = rt.block_on(async {
            let past = Instant::now() - Duration::from_millis(1);
            let body = Deadlined::new(data(&[b"{}"]), past, Duration::ZERO);
            read_body(&HeaderMap::new(), body).await
        });
        assert_eq!(read.expect("ready body"), Bytes::from_static(b"{}"));
    }

    #[test]
    fn the_read_mark_is_set_by_the_first_bytes_after_a_write() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (client, server) = tokio::io::duplex(64);
            let (mut client, epoch) = (client, Instant::now());
            let mark = Arc::new(ReadMark::new(epoch));
            let mut io = Marked {
                io: server,
                mark: mark.clone(),
            };
            let mut buf = [0u8; 8];
            client.write_all(b"GET").await.unwrap();
            io.read_exact(&mut buf[..3]).await.unwrap();
            let first = mark.began();
            client.write_all(b" /").await.unwrap();
            io.read_exact(&mut buf[..2]).await.unwrap();
            assert_eq!(
                mark.began(),
                first,
                "later bytes of one request keep its start"
            );
            io.write_all(b"HTTP/1.1 200").await.unwrap();
            assert_eq!(mark.began.load(Ordering::Relaxed), 0, "a response ends it");
            std::thread::sleep(Duration::from_millis(2));
            client.write_all(b"GET").await.unwrap();
            io.read_exact(&mut buf[..3]).await.unwrap();
            assert!(mark.began() > first, "the next request starts anew");
        });
    }
}
