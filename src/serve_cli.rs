//! `mo2fa serve`: its flags and the start-up that turns them into a running server (store,
//! limits, defences, listeners, runtime). Everything it configures is described in the README.

use crate::args::{self, ProtocolArg, RuntimeArg, SECRET_ENV, SchemeArg};
use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_core::code::CodeSpec;
use mo2fa_core::verifier;
use mo2fa_core::webhook::Secret;
use mo2fa_harness::serve::{self, Serve};
use mo2fa_harness::server::StoreUrl;
use mo2fa_server::http::{self, HttpConfig};
use std::io::Write;
use std::net::SocketAddr;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// iMessage handle users send their code to (phone number or e-mail).
    #[arg(long, default_value = "verify@example.com")]
    handle: String,
    /// Default challenge lifetime (e.g. `300s`, `5m`; a plain number is seconds), between
    /// --min-ttl and --max-ttl.
    #[arg(long = "ttl", value_name = "TTL", default_value = "5m", value_parser = args::positive_millis)]
    ttl_ms: u64,
    /// Longest lifetime a client may ask for (e.g. `1h`; a plain number is seconds).
    #[arg(long = "max-ttl", value_name = "MAX_TTL", default_value = "1h", value_parser = args::positive_millis)]
    max_ttl_ms: u64,
    /// Bound on pending challenges; new starts are refused (503) beyond it.
    #[arg(long, default_value_t = 1_000_000)]
    max_pending: usize,
    /// Code length in symbols (4..=12).
    #[arg(long, default_value_t = 6)]
    code_len: u8,
    /// Codes one inbound message may try (1..=16).
    #[arg(long, default_value_t = 1)]
    max_candidates: usize,
    /// Wrong-sender messages a bound challenge tolerates before it locks.
    #[arg(long, default_value_t = 5)]
    max_sender_failures: u8,
    /// Protocols accepted for verification; repeat the flag for several.
    #[arg(long = "accept-protocol", value_enum, default_values_t = [ProtocolArg::Imessage])]
    accept_protocols: Vec<ProtocolArg>,
    /// Webhook signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Blooio)]
    signature_scheme: SchemeArg,
    /// How long a finished challenge stays readable after it expires (e.g. `10m`; a plain
    /// number is seconds).
    #[arg(long = "retention", value_name = "RETENTION", default_value = "10m", value_parser = args::millis)]
    retention_ms: u64,
    /// How long a webhook delivery id is remembered for deduplication, longer than the
    /// provider's retry schedule (e.g. `1d`; a plain number is seconds).
    #[arg(long = "dedupe-retention", value_name = "DEDUPE_RETENTION", default_value = "1d", value_parser = args::millis)]
    dedupe_retention_ms: u64,
    /// Serve GET /sms/outbox/{phone} with the last code "texted" to a phone: for tests and load
    /// runs against the simulated SMS gateway only.
    #[arg(long)]
    sms_outbox: bool,
    /// Turn off /sms/* (the traditional SMS-OTP flow) on a verifier that does only reverse 2FA.
    #[arg(long, conflicts_with_all = ["sms_outbox", "sms_defences"])]
    no_sms: bool,
    /// Shortest lifetime a client may ask for (e.g. `10s`; a plain number is seconds).
    #[arg(long = "min-ttl", value_name = "MIN_TTL", default_value = "10s", value_parser = args::positive_millis)]
    min_ttl_ms: u64,
    /// Where challenges live: `memory` (this process) or a Redis URL such as
    /// `redis://127.0.0.1:6379` (or `redis+unix:///PATH`, its Unix socket on this host), shared
    /// by every instance pointed at it, or a Redis Cluster:
    /// `redis-cluster://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, default_value = "memory")]
    store: String,
    /// Key prefix in Redis (instances sharing challenges must use the same one).
    #[arg(long, default_value = "mo2fa:")]
    redis_prefix: String,
    /// Milliseconds a Redis command may take before the request is answered 503 (Redis is
    /// then treated as down until it answers again).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    redis_timeout_ms: u64,
    /// Runtime worker threads; default one per core (or TOKIO_WORKER_THREADS). Fewer than the
    /// cores when the machine is shared (a proxy, a load generator): an idle worker is parked
    /// and woken again for work another one found, which costs CPU on every request.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// How the --workers threads share the connections: `work-stealing`, one Tokio runtime
    /// whose threads take work from each other; `per-core`, a runtime and an SO_REUSEPORT
    /// listener per thread, each serving the connections the kernel hands it (no parking and
    /// waking, but few connections may leave a thread idle; on a single Redis, each thread has
    /// its own Redis connection too). docs/performance.md compares them.
    #[arg(long, value_enum, default_value_t = RuntimeArg::WorkStealing)]
    runtime: RuntimeArg,
    /// Deadline on reading one whole request, headers and body together (e.g. `10s`,
    /// `500ms`); a body still incomplete then is answered 408 and the connection closed.
    #[arg(long = "request-timeout", value_name = "REQUEST_TIMEOUT", default_value = "10s", value_parser = args::positive_millis)]
    request_timeout_ms: u64,
    /// Connections held open at once; past it new ones are closed as soon as they are
    /// accepted. Default: 10,000, or fewer if the descriptor limit (ulimit -n) needs it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_connections: Option<u64>,
    /// Load shedding: requests inside the routes that reach the store (/2fa/*, /webhook/*,
    /// /sms/*) at once. One that finds no room waits up to --shed-wait, then is answered 503
    /// with Retry-After: 1 without touching the store; 0 turns shedding off (requests queue
    /// for the store however long it takes). Counted in mo2fa_shed_total.
    #[arg(long, value_name = "N", default_value_t = http::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// How long a request waits for room under --max-in-flight before it is shed (e.g. `50ms`;
    /// `0` sheds at once).
    #[arg(long = "shed-wait", value_name = "DURATION", default_value = "50ms", value_parser = args::millis)]
    shed_wait_ms: u64,
    /// Serve /metrics (and /healthz, /readyz) on this address instead of --addr, so it need
    /// not be public; port 0 picks a free port (printed on the second stdout line).
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// POST /2fa/start limit per client address, in starts per minute (refilled continuously;
    /// fractions allowed); off unless given. Refused starts get 429 with Retry-After. Behind a
    /// proxy, set --client-ip-header and --trusted-proxies, or every user shares its address.
    #[arg(long, value_parser = parse_rate, help_heading = "Start limits")]
    start_rate_per_client: Option<f64>,
    /// Starts one client address may make at once after a quiet period.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Start limits")]
    start_burst_per_client: u32,
    /// POST /2fa/start limit per expected_sender, in starts per minute; off unless given.
    #[arg(long, value_parser = parse_rate, help_heading = "Start limits")]
    start_rate_per_sender: Option<f64>,
    /// Starts one expected_sender may get at once after a quiet period.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Start limits")]
    start_burst_per_sender: u32,
    /// POST /2fa/start limit for the whole instance, in starts per minute; off unless given.
    #[arg(long, value_parser = parse_rate, help_heading = "Start limits")]
    start_rate_global: Option<f64>,
    /// Starts the instance accepts at once after a quiet period.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Start limits")]
    start_burst_global: u32,
    /// Clients (and expected senders) tracked at once by the start limits; when all are
    /// still refilling, starts from new ones get 429 until one has refilled.
    #[arg(long, default_value_t = mo2fa_core::limits::DEFAULT_MAX_KEYS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000), help_heading = "Start limits")]
    start_limit_keys: usize,
    /// Request header with the client address list written by your proxies (e.g.
    /// X-Forwarded-For). Read only with --trusted-proxies; otherwise the TCP peer is the client.
    #[arg(long, help_heading = "Start limits")]
    client_ip_header: Option<String>,
    /// Proxies in front of this server that append to --client-ip-header: the client is the
    /// Nth address from the right. 0 (default) ignores the header.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=32), help_heading = "Start limits")]
    trusted_proxies: u8,
    /// TOML file with the simulator's SMS defences (the keys of a scenario's
    /// [defences.sms], e.g. preset = "twilio_fraud_guard_standard", geo_allow, per_number,
    /// limit, fraud_guard, backoff; see docs/defences.md), enforced on /sms/start.
    #[arg(long, help_heading = "Start limits")]
    sms_defences: Option<std::path::PathBuf>,
    /// TOML file with the account's SMS history before this server (keys daily_sends = {US =
    /// 1200, ...}, conversion, days, peak_hour_share: a scenario's [history]): the rules that
    /// learn from history start from it and block at once, instead of warming up.
    #[arg(long, requires = "sms_defences", help_heading = "Start limits")]
    sms_history: Option<std::path::PathBuf>,
    /// Without --sms-history, the rules that learn from history (Fraud Guard, Plivo caps,
    /// Authgear's country buckets, the high-risk auto-block) only alert for this long after
    /// the defences' first request (with Redis: the first on any instance), e.g. 15d; 0s
    /// blocks from the start.
    #[arg(long, default_value = "15d", value_parser = parse_warmup, requires = "sms_defences", help_heading = "Start limits")]
    sms_warmup: u64,
}

fn parse_warmup(s: &str) -> Result<u64, String> {
    mo2fa_core::conf::parse_duration(s)
}

/// The lifetime flags in their own terms: the verifier would refuse the same settings, but in
/// milliseconds and without naming a flag.
fn check_ttls(args: &ServeArgs) -> Result<()> {
    let s = args::show_secs;
    let (min, ttl, max) = (args.min_ttl_ms, args.ttl_ms, args.max_ttl_ms);
    if ttl < min {
        bail!(
            "--ttl ({}) is shorter than --min-ttl ({}): the default lifetime must be one a client \
             may ask for; lower --min-ttl or raise --ttl",
            s(ttl),
            s(min)
        );
    }
    if ttl > max {
        bail!(
            "--ttl ({}) is longer than --max-ttl ({}): the default lifetime must be one a client \
             may ask for; raise --max-ttl or lower --ttl",
            s(ttl),
            s(max)
        );
    }
    let limit = mo2fa_core::store::MAX_TTL_MS;
    if max > limit {
        bail!(
            "--max-ttl ({}) is longer than the store can hold ({}, about 49 days)",
            s(max),
            s(limit - limit % 1000)
        );
    }
    Ok(())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate = mo2fa_core::limits::Rate {
        per_minute: s
            .parse()
            .map_err(|_| format!("{s:?} is not a number of starts per minute"))?,
        burst: 1,
    };
    rate.check().map_err(|e| e.to_string())?;
    Ok(rate.per_minute)
}

pub(crate) fn serve(args: ServeArgs) -> Result<()> {
    let Ok(secret) = std::env::var(SECRET_ENV) else {
        bail!(
            "{SECRET_ENV} is not set: the verifier needs the webhook signing secret to check \
             that deliveries come from the provider. Set it and start again."
        );
    };
    let secret = Secret::new(args.signature_scheme.into(), &secret)
        .with_context(|| format!("{SECRET_ENV} is not a usable secret"))?;
    check_ttls(&args)?;
    let verifier = verifier::Config {
        code: CodeSpec::new(args.code_len).context("--code-len")?,
        default_ttl_ms: args.ttl_ms,
        min_ttl_ms: args.min_ttl_ms,
        max_ttl_ms: args.max_ttl_ms,
        max_candidates: args.max_candidates,
        max_sender_failures: args.max_sender_failures,
        accepted_protocols: args.accept_protocols.iter().map(|&p| p.into()).collect(),
        dedupe_retention_ms: args.dedupe_retention_ms,
        // Keyed from the OS CSPRNG here, at the edge: the core never draws randomness itself.
        dedupe_keys: rand::random(),
        ..verifier::Config::default()
    };
    let http = http_config(&args, secret)?;
    let settings = Serve {
        addr: args.addr,
        metrics_addr: args.metrics_addr,
        workers: args.workers.map(usize::from),
        runtime: args.runtime.into(),
        store: StoreUrl::parse("--store", &args.store)?,
        verifier,
        max_pending: args.max_pending,
        retention_ms: args.retention_ms,
        redis_prefix: args.redis_prefix,
        redis_timeout: std::time::Duration::from_millis(args.redis_timeout_ms),
        http,
    };
    // The first stdout line is the contract tests and scripts read the port from; the
    // metrics address, if any, is the second.
    serve::run(settings, |bound| {
        println!("mo2fa listening on http://{}", bound.addr);
        if let Some(m) = bound.metrics {
            println!("mo2fa metrics on http://{m}");
        }
        std::io::stdout().flush()
    })?;
    Ok(())
}

/// The HTTP adapter's settings: connection cap, start limits, client address, SMS defences.
fn http_config(args: &ServeArgs, secret: Secret) -> Result<HttpConfig> {
    let max_connections = match args.max_connections {
        None => http::default_max_connections(),
        Some(n) => {
            if let Some(limit) = http::fd_limit().filter(|l| n >= *l) {
                tracing::warn!(
                    "--max-connections {n} is not below the descriptor limit ({limit}, ulimit -n): \
                     when it runs out, new connections wait in the backlog instead of being refused"
                );
            }
            usize::try_from(n).unwrap_or(usize::MAX)
        }
    };
    let rate = |per_minute: Option<f64>, burst: u32| {
        per_minute.map(|per_minute| mo2fa_core::limits::Rate { per_minute, burst })
    };
    let start_limits = mo2fa_core::limits::LimitsConfig {
        per_client: rate(args.start_rate_per_client, args.start_burst_per_client),
        per_sender: rate(args.start_rate_per_sender, args.start_burst_per_sender),
        global: rate(args.start_rate_global, args.start_burst_global),
        max_keys: args.start_limit_keys,
    };
    mo2fa_core::limits::StartLimiter::new(&start_limits).context("--start-rate-*")?;
    let client_ip_header = match &args.client_ip_header {
        None => None,
        Some(h) => Some(
            h.parse::<hyper::header::HeaderName>()
                .map_err(|_| anyhow::anyhow!("--client-ip-header: {h:?} is not a header name"))?,
        ),
    };
    if client_ip_header.is_some() && args.trusted_proxies == 0 {
        eprintln!(
            "warning: --client-ip-header is ignored without --trusted-proxies: anyone can write \
             that header, so the TCP peer address is the client"
        );
    }
    let sms_defences = match &args.sms_defences {
        None => None,
        Some(path) => {
            Some(mo2fa_core::sms_defences::SmsDefences::load(path).context("--sms-defences")?)
        }
    };
    let history = match &args.sms_history {
        None => None,
        Some(path) => {
            let (file, text) = mo2fa_core::conf::read(path).context("--sms-history")?;
            let h: mo2fa_core::sms_defences::History =
                mo2fa_core::conf::parse_toml(&file, &text).context("--sms-history")?;
            Some(h)
        }
    };
    let sms_start = mo2fa_core::sms_defences::state::Start {
        history,
        warmup_ms: args.sms_warmup,
    };
    Ok(HttpConfig {
        sms_start,
        sms_outbox: args.sms_outbox,
        sms_routes: !args.no_sms,
        start_limits,
        client_ip_header,
        trusted_proxies: usize::from(args.trusted_proxies),
        sms_defences,
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms),
        max_connections,
        shed: http::ShedConfig {
            max_in_flight: args.max_in_flight,
            max_wait: std::time::Duration::from_millis(args.shed_wait_ms),
        },
        ..HttpConfig::new(args.handle.clone(), secret)
    })
}
