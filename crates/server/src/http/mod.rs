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

mod answer;
mod conn;
mod drain;
mod per_core;
mod rejected;
mod shed;
mod sms;
mod wake;

pub use conn::{
    BodyError, Deadlined, MAX_ANSWER_BYTES_UNREAD, MAX_METRICS_CONNECTIONS, Surface,
    default_max_connections, fd_limit, serve, serve_with, shutdown_signal,
};
pub use per_core::{PER_CORE_THREAD, bind_per_core, serve_per_core};
pub use shed::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_WAIT, ShedConfig};

use answer::{
    ApiError, Resp, WEBHOOK_ID, WebhookHeaders, X_BLOOIO_MESSAGE_ID, header, is_json, json_bytes,
    json_response, openapi, parse_object, read_body,
};
use conn::ConnStats;
use rejected::{Reason, Rejections};

use crate::backend::Backend;
use crate::sms_gateway::SmsGateway;
use crate::wire;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use mo2fa_core::clock::{Clock, Millis};
use mo2fa_core::limits::{self, Decision, LimitsConfig, StartLimiter};
use mo2fa_core::metrics::{self, Counters, LatencyHistogram, Sharded};
use mo2fa_core::sms_defences::SmsDefences;
use mo2fa_core::verifier::{InboundMessage, ReceiveOutcome, StartError, StartRequest};
use mo2fa_core::webhook::{
    self, Delivery, DeliveryHeaders, Event, Scheme, Secret, SignatureHeaders,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Answer bytes written to a connection while its client sends nothing, past which the
    /// client counts as not reading and the connection is closed
    /// ([`MAX_ANSWER_BYTES_UNREAD`] by default).
    pub max_answer_bytes_unread: usize,
    pub sweep_interval: Duration,
    /// Serve `GET /sms/outbox/{phone}` (test and load use only: it reveals sent codes).
    pub sms_outbox: bool,
    /// Serve `/sms/*` at all (`serve --no-sms` turns them off: a verifier that does only
    /// reverse 2FA answers them 404 and keeps no SMS state).
    pub sms_routes: bool,
    /// Token buckets on `POST /2fa/start` (off unless set; see [`mo2fa_core::limits`]).
    pub start_limits: LimitsConfig,
    /// Header naming the client address behind `trusted_proxies` proxies (X-Forwarded-For
    /// style); read only if `trusted_proxies > 0`, else the TCP peer address is the client.
    pub client_ip_header: Option<HeaderName>,
    pub trusted_proxies: usize,
    /// The simulator's SMS-side defences, enforced on `/sms/start` (`serve --sms-defences`).
    pub sms_defences: Option<SmsDefences>,
    /// How the defences' learning rules start: from a history, or warming up in monitor
    /// mode (`serve --sms-history`, `--sms-warmup`; `sms_defences::state`).
    pub sms_start: mo2fa_core::sms_defences::state::Start,
    /// The bound on requests inside the store routes, past which they are shed with 503
    /// (`serve --max-in-flight`, `--shed-wait`; [`ShedConfig`]).
    pub shed: ShedConfig,
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
            max_answer_bytes_unread: MAX_ANSWER_BYTES_UNREAD,
            sweep_interval: Duration::from_secs(1),
            sms_outbox: false,
            sms_routes: true,
            start_limits: LimitsConfig::default(),
            client_ip_header: None,
            trusted_proxies: 0,
            sms_defences: None,
            sms_start: Default::default(),
            shed: ShedConfig::default(),
        }
    }
}

/// The TCP peer address of a connection, put into each request's extensions by [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub IpAddr);

/// The labels of `mo2fa_rate_limited_total`: start limits, then `/sms/start` rules.
const LIMITED: [&str; 31] = [
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
    "sms_limit_number",
    "sms_limit_ip",
    "sms_limit_prefix",
    "sms_limit_country",
    "sms_limit_account",
    "sms_limit_global",
    "sms_fraud_guard",
    "sms_pumping_protection",
    "sms_network_conversion",
    "sms_country_caps",
    "sms_country_rules",
    "sms_authgear_ip_countries",
    "sms_authgear_country_daily",
    "sms_authgear_country_hourly",
    "sms_backoff",
    "sms_verify_send_limit",
    "sms_high_risk_country",
    "sms_known_bad_range",
    "sms_aws_filter",
    "sms_authgear_ip_daily",
    "sms_authgear_ip_hourly",
];

fn limited_index(label: &str) -> usize {
    LIMITED.iter().position(|l| *l == label).unwrap_or(0)
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

const _: () = {
    // `handle_timed` indexes `ROUTES` by the route's discriminant.
    let mut i = 0;
    while i < ROUTES.len() {
        assert!(ROUTES[i].0 as usize == i, "ROUTES out of declaration order");
        i += 1;
    }
};

/// Status classes of `mo2fa_responses_total`, by the status's first digit.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

const ROUTES: [(Route, &str); 7] = [
    (Route::Start, "start"),
    (Route::Status, "status"),
    (Route::Webhook, "webhook"),
    (Route::Health, "healthz"),
    (Route::Metrics, "metrics"),
    (Route::Sms, "sms"),
    (Route::Other, "other"),
];

/// `/healthz` and `/readyz` when they answer 200.
fn health(status: wire::Health) -> Resp {
    json_response(StatusCode::OK, &wire::HealthAnswer { status })
}

/// What a refusal by each start limit says (the flag that sets it).
fn limit_text(limit: limits::Limit) -> &'static str {
    match limit {
        limits::Limit::Client => "per-client start limit reached (--start-rate-per-client)",
        limits::Limit::Sender => {
            "per-sender start limit reached for this expected_sender (--start-rate-per-sender)"
        }
        limits::Limit::Global => "global start limit reached (--start-rate-global)",
        limits::Limit::Table => "start limit table full of active clients; retry later",
    }
}

/// A start the verifier refused: 422 for a value out of range, 503 when the store is full or
/// down.
fn start_error(e: StartError) -> ApiError {
    match e {
        StartError::Sender(_) | StartError::Ttl { .. } => ApiError::Invalid(e.to_string()),
        StartError::Store(_) | StartError::CodeSpace(_) => ApiError::Full(e.to_string()),
        StartError::Unavailable(e) => ApiError::Unavailable(e),
    }
}

/// Everything a request handler needs; shared by all connections.
pub struct App<V: Backend, C: Clock> {
    pub verifier: V,
    pub sms: SmsGateway,
    clock: C,
    cfg: HttpConfig,
    latency: [LatencyHistogram; ROUTES.len()],
    /// Answers by route and status class (`STATUS_CLASSES`), for 4xx/5xx rates; one set per
    /// serving thread, added up by `/metrics`.
    responses: Sharded<[[AtomicU64; STATUS_CLASSES.len()]; ROUTES.len()]>,
    limiter: Option<parking_lot::Mutex<StartLimiter>>,
    sms_guard: Option<sms::SmsDefence>,
    limited: [AtomicU64; LIMITED.len()],
    conns: Arc<ConnStats>,
    rejected: Rejections,
    shed: shed::Shedder,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    expected_sender: Option<String>,
    ttl_seconds: Option<u64>,
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
            .map(|d| sms::SmsDefence::new(d, cfg.sms_start.clone()));
        let shedder = shed::Shedder::new(cfg.shed);
        Self {
            verifier,
            sms: SmsGateway::new(cfg.sms_outbox),
            clock,
            cfg,
            latency: Default::default(),
            responses: Default::default(),
            limiter,
            sms_guard,
            limited: Default::default(),
            conns: Arc::default(),
            rejected: Rejections::default(),
            shed: shedder,
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
        let (parts, body) = req.into_parts();
        let mut body = std::pin::pin!(body);
        self.handle_timed(&parts, &mut body, surface).await.0
    }

    /// [`App::handle_on`] of a request taken apart, and when the answer was ready (the clock
    /// read that timed it, reused by the connection's header deadline).
    ///
    /// The request is borrowed, and each route's future borrows it in turn: hyper moves every
    /// request's future into place, and a future holding the request by value at each level
    /// (here, the route, the handler, the body reader) was 2.8 KB, copied several times per
    /// request.
    pub(super) async fn handle_timed<B>(
        &self,
        parts: &hyper::http::request::Parts,
        body: &mut B,
        surface: Surface,
    ) -> (Resp, Instant)
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        // Load shedding: the one place requests enter (`shed`). Room found at once costs no
        // future; waiting for room (past `--max-in-flight`) is boxed, off the common path.
        let admitted = match self.shed.try_admit(parts.uri.path()) {
            shed::Admission::In(room) => Ok(room),
            shed::Admission::Wait(i) => Box::pin(self.shed.admit_waiting(i)).await,
            shed::Admission::Shed(shed) => Err(shed),
        };
        let (route, resp) = match admitted {
            Ok(_room) => self.route(parts, body, surface).await,
            Err(shed) => shed,
        };
        if resp.status() == StatusCode::REQUEST_TIMEOUT {
            Counters::inc(&self.conns.timed_out);
        }
        // `ROUTES` lists the routes in their declaration order.
        let idx = route as usize;
        let answered = Instant::now();
        self.latency[idx].record(answered.saturating_duration_since(started));
        let class = usize::from(resp.status().as_u16() / 100).clamp(1, STATUS_CLASSES.len()) - 1;
        Counters::inc(&self.responses.local()[idx][class]);
        (resp, answered)
    }

    async fn route<B>(
        &self,
        parts: &hyper::http::request::Parts,
        body: B,
        surface: Surface,
    ) -> (Route, Resp)
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = parts.uri.path();
        let m = &parts.method;
        let not_found = || ApiError::NotFound(format!("no route for {path}"));
        if surface.hides(path) {
            return (Route::Other, not_found().response());
        }
        if !self.cfg.sms_routes && path.starts_with("/sms/") {
            let off = format!("no route for {path}: the SMS routes are off (serve --no-sms)");
            return (Route::Sms, ApiError::NotFound(off).response());
        }
        let get = m == Method::GET || m == Method::HEAD;
        let (route, answer) = match path {
            "/2fa/start" if m == Method::POST => {
                (Route::Start, Box::pin(self.start(parts, body)).await)
            }
            "/2fa/start" => (Route::Start, Err(ApiError::MethodNotAllowed("POST"))),
            "/webhook/blooio" if m == Method::POST => {
                (Route::Webhook, self.webhook(&parts.headers, body).await)
            }
            "/webhook/blooio" => (Route::Webhook, Err(ApiError::MethodNotAllowed("POST"))),
            "/healthz" if get => (Route::Health, Ok(health(wire::Health::Ok))),
            "/readyz" if get => (Route::Health, Box::pin(self.ready()).await),
            "/healthz" | "/readyz" => (Route::Health, Err(ApiError::MethodNotAllowed("GET"))),
            "/openapi.yaml" if m == Method::GET => (Route::Other, Ok(openapi())),
            "/openapi.yaml" => (Route::Other, Err(ApiError::MethodNotAllowed("GET"))),
            "/metrics" if m == Method::GET => (Route::Metrics, Ok(self.metrics())),
            "/metrics" => (Route::Metrics, Err(ApiError::MethodNotAllowed("GET"))),
            "/sms/start" if m == Method::POST => {
                (Route::Sms, Ok(Box::pin(self.sms_start(parts, body)).await))
            }
            "/sms/check" if m == Method::POST => (
                Route::Sms,
                Ok(Box::pin(self.sms_check(&parts.headers, body)).await),
            ),
            "/sms/start" | "/sms/check" => (Route::Sms, Err(ApiError::MethodNotAllowed("POST"))),
            _ if self.cfg.sms_outbox && path.starts_with("/sms/outbox/") && m == Method::GET => (
                Route::Sms,
                Ok(self.sms_outbox(&path["/sms/outbox/".len()..])),
            ),
            _ => match path.strip_prefix("/2fa/status/") {
                Some(id) if m == Method::GET => (Route::Status, self.status(id).await),
                Some(_) => (Route::Status, Err(ApiError::MethodNotAllowed("GET"))),
                None => (Route::Other, Err(not_found())),
            },
        };
        (route, answer.unwrap_or_else(ApiError::response))
    }

    async fn start<B>(&self, parts: &hyper::http::request::Parts, body: B) -> Result<Resp, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let headers = &parts.headers;
        let bytes = read_body(headers, body).await?;
        let mut req = StartRequest::default();
        if !bytes.is_empty() {
            if !is_json(headers) {
                return Err(ApiError::NotJson);
            }
            let parsed: StartBody = parse_object(&bytes)?;
            req.expected_sender = parsed.expected_sender;
            if let Some(secs) = parsed.ttl_seconds {
                // An overflowing TTL is out of range; let the core name the range.
                req.ttl_ms = Some(secs.checked_mul(1000).unwrap_or(Millis::MAX));
            }
        }
        let now = self.now();
        // Checked before the limits, so a request refused as invalid spends no token; the
        // sender is then the one the verifier will bind.
        let checked = self
            .verifier
            .config()
            .check_start(&req, now)
            .map_err(|e| ApiError::Invalid(e.to_string()))?;
        // The tokens taken, to give back if the start is not made after all.
        let mut charged = None;
        if let Some(limiter) = &self.limiter {
            let sender = checked.expected_sender.as_ref().map(ToString::to_string);
            let client = limits::client_key(self.client_ip(parts));
            let decision = match self.verifier.shared() {
                Some(shared) => {
                    let limits = &self.cfg.start_limits;
                    shared
                        .limit(limits, client, sender.as_deref(), now, true)
                        .await?
                }
                None => limiter.lock().check(client, sender.as_deref(), now),
            };
            if let Decision::RetryAfter { limit, ms } = decision {
                self.count_limited(limit.name());
                return Err(ApiError::RateLimited {
                    message: format!("rate limited: {}", limit_text(limit)),
                    retry_ms: ms,
                });
            }
            charged = Some((limiter, client, sender));
        }
        // The RNG is used before the future is made: it must not live across the await.
        let start = self.verifier.start(&req, now, &mut rand::rng());
        let started = match start.await {
            Ok(s) => s,
            Err(e) => {
                // A store that is full or down refused, not the limits: charge nothing.
                if let Some((limiter, client, sender)) = charged {
                    match self.verifier.shared() {
                        Some(shared) => {
                            let limits = &self.cfg.start_limits;
                            let refund =
                                shared.limit(limits, client, sender.as_deref(), now, false);
                            if let Err(e) = refund.await {
                                tracing::warn!("start limits: a refund was lost: {e}");
                            }
                        }
                        None => limiter.lock().refund(client, sender.as_deref(), now),
                    }
                }
                return Err(start_error(e));
            }
        };
        let code = self.verifier.config().code.format(started.code);
        let answer = wire::StartAnswer::new(&started, code.as_str(), self.link(code.as_str()));
        Ok(json_response(StatusCode::CREATED, &answer))
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
        async {
            if !is_json(headers) {
                return Err(ApiError::NotJson);
            }
            parse_object(&read_body(headers, body).await?)
        }
        .await
        .map_err(ApiError::response)
    }

    async fn status(&self, id: &str) -> Result<Resp, ApiError> {
        match self.verifier.status(id, self.now()).await? {
            Some(v) => Ok(json_response(StatusCode::OK, &wire::StatusAnswer::from(v))),
            None => Err(ApiError::NotFound("unknown challenge id".into())),
        }
    }

    async fn webhook<B>(&self, headers: &HeaderMap, body: B) -> Result<Resp, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if !is_json(headers) {
            return Err(self.reject(headers, Reason::NotJson, None, ApiError::NotJson));
        }
        let bytes = match read_body(headers, body).await {
            Ok(bytes) => bytes,
            Err(e) => return Err(self.reject(headers, Reason::Body, None, e)),
        };
        let now = self.now();
        // The checks run in plain functions: what they need for a moment (the headers found,
        // the signature's) stays on the stack, out of this future, which hyper moves into place
        // for every request. Only the event (which the message borrows) is kept in it.
        let event;
        let (msg, delivery) = {
            // Scoped: not held across the awaits below.
            let found = WebhookHeaders::scan(headers);
            event = self.signed_event(headers, &found, &bytes, now)?;
            match self.delivery_of(headers, &found, &event)? {
                Ok(accepted) => accepted,
                Err(ignored) => return Ok(ignored),
            }
        };
        // The provider retries on 5xx (`ApiError::Unavailable`); the retry is decided then (or
        // answered from the dedupe record if this attempt got through after all).
        let (outcome, duplicate) = match delivery.replay_of {
            // A replay of a delivery already decided gets that answer; one never seen before
            // is handled under its own (signed) id.
            Some(original) => match self.verifier.recorded(original, &msg).await? {
                Some(outcome) => (outcome, true),
                None => self.verifier.receive_once(delivery.id, &msg, now).await?,
            },
            None => self.verifier.receive_once(delivery.id, &msg, now).await?,
        };
        Ok(json_bytes(
            StatusCode::OK,
            wire::receive_answer(&outcome, duplicate),
        ))
    }

    /// Counts and logs a refused delivery; without a signed id, the log names the one the
    /// request claims (looked up only on this path: it costs the hot path nothing).
    fn reject(
        &self,
        headers: &HeaderMap,
        reason: Reason,
        id: Option<&str>,
        e: ApiError,
    ) -> ApiError {
        let claimed = id
            .or_else(|| header(headers, &WEBHOOK_ID))
            .or_else(|| header(headers, &X_BLOOIO_MESSAGE_ID));
        self.rejected.record(reason, claimed, self.now());
        e
    }

    /// The delivery's event, once its signature (from the headers `found`) is checked.
    fn signed_event<'a>(
        &self,
        headers: &HeaderMap,
        found: &WebhookHeaders<'_>,
        bytes: &'a [u8],
        now: Millis,
    ) -> Result<Event<'a>, ApiError> {
        let sig_headers = match self.cfg.secret.scheme() {
            Scheme::Blooio => SignatureHeaders {
                blooio_signature: found.x_blooio_signature.or(found.blooio_signature),
                ..SignatureHeaders::default()
            },
            Scheme::Standard => SignatureHeaders {
                blooio_signature: None,
                webhook_id: found.webhook_id,
                webhook_timestamp: found.webhook_timestamp,
                webhook_signature: found.webhook_signature,
            },
        };
        let now_secs = (now / 1000) as i64;
        if let Err(e) =
            self.cfg
                .secret
                .verify(&sig_headers, bytes, now_secs, self.cfg.tolerance_secs)
        {
            Counters::inc(&self.verifier.counters().bad_signatures);
            let error = ApiError::Unauthorized(format!("signature: {e}"));
            return Err(self.reject(headers, Reason::of_signature(&e), None, error));
        }
        Event::parse(bytes).map_err(|e| {
            let bad = ApiError::BadRequest(e.to_string());
            self.reject(headers, Reason::Event, None, bad)
        })
    }

    /// The message a signed event carries and the delivery it is remembered by, checked
    /// against the request's headers `found`; `Ok(Err(answer))` for an event this server ignores.
    fn delivery_of<'a>(
        &self,
        headers: &HeaderMap,
        found: &WebhookHeaders<'a>,
        event: &'a Event<'_>,
    ) -> Result<Result<(InboundMessage<'a>, Delivery<'a>), Resp>, ApiError> {
        let signed_id = event.event_id.as_deref().or(event.message_id.as_deref());
        let bad = |e: webhook::EventError| ApiError::BadRequest(e.to_string());
        if !event.is_message_received() {
            let ignored = ReceiveOutcome::Ignored {
                reason: format!("event {:?} is not handled", event.kind),
            };
            let answer = wire::receive_answer(&ignored, false);
            return Ok(Err(json_bytes(StatusCode::OK, answer)));
        }
        let msg = event
            .message()
            .map_err(|e| self.reject(headers, Reason::Message, signed_id, bad(e)))?;
        let delivery_headers = DeliveryHeaders {
            event: found.x_blooio_event,
            message_id: found.x_blooio_message_id,
            replay: found
                .x_blooio_replay
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            original_event_id: found.x_original_event_id,
            // Signed only under the Standard scheme.
            webhook_id: match self.cfg.secret.scheme() {
                Scheme::Standard => found.webhook_id,
                Scheme::Blooio => None,
            },
        };
        let delivery = event
            .delivery(self.cfg.secret.scheme(), &delivery_headers)
            .map_err(|e| self.reject(headers, Reason::Delivery, signed_id, bad(e)))?;
        Ok(Ok((msg, delivery)))
    }

    /// Readiness: 200 when the store answers, else 503 naming why (liveness is `/healthz`).
    async fn ready(&self) -> Result<Resp, ApiError> {
        self.verifier.ready().await?;
        Ok(health(wire::Health::Ready))
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
        self.render_sms(&mut out);
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
        self.rejected.render(&mut out);
        self.shed.render(&mut out);
        self.render_connections(&mut out);
        self.render_routes(&mut out);
        let mut r = Response::new(Full::new(Bytes::from(out)));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        r
    }

    /// What the simulated SMS gateway sent and would have cost, in total and by country.
    fn render_sms(&self, out: &mut String) {
        metrics::render_counter(
            out,
            "mo2fa_sms_sent_total",
            "Outbound SMS codes billed by the simulated gateway.",
            self.sms.sent() as f64,
        );
        metrics::render_counter(
            out,
            "mo2fa_sms_country_ignored_total",
            "SMS codes sent whose request named a country the number's calling code disagrees with (answered with country_ignored; the number's country was billed).",
            self.sms.country_ignored() as f64,
        );
        metrics::render_gauge(
            out,
            "mo2fa_sms_spend_usd",
            "What those SMS would cost at list prices.",
            self.sms.spend_usd(),
        );
        // Pumping shows as sends piling up on a few premium destinations.
        let billed = self.sms.billed();
        let country = |c: &Option<String>| c.clone().unwrap_or_else(|| "unknown".into());
        metrics::render_labelled(
            out,
            "mo2fa_sms_sent_by_country_total",
            "counter",
            "Outbound SMS codes by billed country (ISO code; unknown: billed at the fallback price).",
            "country",
            billed.iter().map(|(c, b)| (country(c), b.sent as f64)),
        );
        metrics::render_labelled(
            out,
            "mo2fa_sms_spend_by_country_usd",
            "gauge",
            "What the SMS to each billed country would cost at list prices.",
            "country",
            billed.iter().map(|(c, b)| (country(c), b.usd())),
        );
        // With the sends above, each destination's conversion: pumped codes are never entered.
        metrics::render_labelled(
            out,
            "mo2fa_sms_verified_by_country_total",
            "counter",
            "SMS codes checked correct (/sms/check) by the number's country, as billed above.",
            "country",
            billed.iter().map(|(c, b)| (country(c), b.verified as f64)),
        );
    }

    /// The connection guards: open connections, the cap, and what each guard closed.
    fn render_connections(&self, out: &mut String) {
        let conns = &self.conns;
        metrics::render_gauge(
            out,
            "mo2fa_open_connections",
            "Connections open on the main address.",
            conns.open.load(Ordering::Relaxed) as f64,
        );
        metrics::render_gauge(
            out,
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
            (
                "mo2fa_slow_readers_closed_total",
                "Connections closed because the client stopped reading: a write made no progress for the request timeout, or 1 MiB was answered while the client sent nothing.",
                &conns.slow_readers,
            ),
        ] {
            let v = c.load(Ordering::Relaxed);
            let _ = std::fmt::Write::write_fmt(
                out,
                format_args!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"),
            );
        }
    }

    /// Answers by route and status class, and the latency histogram of each route.
    fn render_routes(&self, out: &mut String) {
        out.push_str("# HELP mo2fa_responses_total Answers by route and status class.\n");
        out.push_str("# TYPE mo2fa_responses_total counter\n");
        for (i, (_, route)) in ROUTES.iter().enumerate() {
            for (j, class) in STATUS_CLASSES.iter().enumerate() {
                let n = self.responses.sum(|r| &r[i][j]);
                out.push_str(&format!(
                    "mo2fa_responses_total{{route=\"{route}\",class=\"{class}\"}} {n}\n"
                ));
            }
        }
        out.push_str("# HELP mo2fa_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE mo2fa_request_duration_seconds histogram\n");
        for (i, (_, name)) in ROUTES.iter().enumerate() {
            self.latency[i].render(
                out,
                "mo2fa_request_duration_seconds",
                &format!("route=\"{name}\""),
            );
        }
    }
}
