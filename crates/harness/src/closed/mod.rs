//! `mo2fa load`: closed-loop load driven by goose. Each simulated user runs one request chain
//! at a time, back to back, so the offered load follows the server's answers (unlike the
//! open-loop `bench`, which keeps a schedule whatever the server does).
//!
//! The users run a weighted mix of four transactions:
//! * `flow`: start a challenge bound to the user's own sender, deliver the code in a signed
//!   webhook from that sender, read the status; anything but "verified" fails the transaction.
//! * `webhook_flood`: signed deliveries of random codes from a sender nobody is bound to.
//! * `start_flood`: starts bound to the user's sender, never answered.
//! * `status_poll`: the status of the last challenge this user created.
//!
//! Every start in the run is bound to a user's sender and flood deliveries come from a sender
//! outside that range, so a flood code that happens to hit a pending challenge is a sender
//! mismatch, never a verification. Hence, on a server that sees no other traffic, the server's
//! verification counter equals the number of successful `flow` transactions exactly; the run
//! checks that for the in-process server.
//!
//! Goose keeps its own console summary and HTML report; we add `load.json` and `load.md` with
//! per-transaction figures and the server's counters, scraped from `/metrics` before and after.
//!
//! Requests follow the target's profile (`--profile`; mo2fa's own for the in-process server):
//! its start route and body, its webhook path, signature and shape, its status route. A check
//! the profile cannot see (a verification without a status route or a telling answer) does
//! not fail the transaction; it is counted in `not_seen` and listed, never passed.

mod report;
use report::rows;
pub use report::{LoadReport, RequestRow, ServerCounters, TransactionRow};

use crate::error::HarnessError;
use crate::retry::RetryPolicy;
use crate::server::{self, JustTheServer, ServerSpec, StoreUrl};
use crate::target::TargetUrl;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{
    GooseMethod, GooseRequest, GooseResponse, GooseUser, Scenario, Transaction, TransactionError,
    TransactionResult,
};
use goose::metrics::GooseRequestMetric;
use goose::{GooseAttack, GooseError};
use mo2fa_core::clock::SystemClock;
use mo2fa_core::code::{ALPHABET, CodeSpec};
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier;
use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret};
use mo2fa_server::http::HttpConfig;
use mo2fa_target::profile::{Issued, Profile, Seen};
use rand::Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The secret the in-process server is started with; only this process knows the server.
const IN_PROCESS_SECRET: &str = "load-secret";

/// Highest weight accepted for one transaction. Goose expands weights into a schedule vector,
/// so the bound keeps that vector small; ratios finer than 1:1000 mean nothing here anyway.
pub const MAX_WEIGHT: usize = 1000;

/// The transactions, in the order they appear in reports and in `--mix`.
pub const TRANSACTIONS: [&str; 4] = ["flow", "webhook_flood", "start_flood", "status_poll"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MixError {
    #[error("unknown transaction {0:?} (known: flow, webhook_flood, start_flood, status_poll)")]
    Unknown(String),
    #[error("{0:?} is not name=weight")]
    Syntax(String),
    #[error("weight of {name} must be an integer between 0 and {MAX_WEIGHT}, got {value:?}")]
    Weight { name: String, value: String },
    #[error("{0} is given twice")]
    Duplicate(String),
    #[error("at least one weight must be greater than 0")]
    AllZero,
}

/// Relative weights of the four transactions. Invariant: every weight ≤ [`MAX_WEIGHT`] and at
/// least one is positive (only [`FromStr`] and [`Default`] build one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Mix {
    pub flow: usize,
    pub webhook_flood: usize,
    pub start_flood: usize,
    pub status_poll: usize,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            flow: 4,
            webhook_flood: 2,
            start_flood: 1,
            status_poll: 3,
        }
    }
}

impl Mix {
    /// (name, weight) in [`TRANSACTIONS`] order.
    pub fn weights(&self) -> [(&'static str, usize); 4] {
        [
            (TRANSACTIONS[0], self.flow),
            (TRANSACTIONS[1], self.webhook_flood),
            (TRANSACTIONS[2], self.start_flood),
            (TRANSACTIONS[3], self.status_poll),
        ]
    }
}

/// `flow=4,webhook_flood=2,...`; names left out weigh 0, so `--mix flow=1` runs flows only.
impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Self, MixError> {
        let mut w: [Option<usize>; 4] = [None; 4];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| MixError::Syntax(part.to_string()))?;
            let (name, value) = (name.trim(), value.trim());
            let slot = TRANSACTIONS
                .iter()
                .position(|t| *t == name)
                .ok_or_else(|| MixError::Unknown(name.to_string()))?;
            let weight = value
                .parse::<usize>()
                .ok()
                .filter(|v| *v <= MAX_WEIGHT)
                .ok_or_else(|| MixError::Weight {
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
            if w[slot].replace(weight).is_some() {
                return Err(MixError::Duplicate(name.to_string()));
            }
        }
        let [flow, webhook_flood, start_flood, status_poll] = w.map(|x| x.unwrap_or(0));
        let mix = Self {
            flow,
            webhook_flood,
            start_flood,
            status_poll,
        };
        if mix.weights().iter().all(|(_, v)| *v == 0) {
            return Err(MixError::AllZero);
        }
        Ok(mix)
    }
}

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// A fresh verifier on 127.0.0.1 in this process, with a secret of our own.
    InProcess,
    /// A running server, spoken to as `profile` says; `secret` must be the one it checks
    /// webhooks with (`None` when the profile's deliveries are unsigned).
    Url {
        base: String,
        secret: Option<String>,
        profile: Box<Profile>,
    },
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub target: Target,
    pub users: usize,
    /// Users started per second.
    pub hatch_rate: f64,
    /// Seconds all users keep running once started.
    pub run_time_secs: usize,
    pub mix: Mix,
    /// Gets goose.html, load.json and load.md.
    pub out: PathBuf,
    /// How deliveries are signed: the target's `--signature-scheme`.
    pub scheme: Scheme,
    /// The body shape of deliveries.
    pub shape: PayloadShape,
    /// The provider's retry policy for deliveries (each attempt's timeout; a retry is the
    /// same delivery, so dedupe applies).
    pub retry: RetryPolicy,
}

/// Shared by every user: what signs deliveries and makes delivery ids unique across runs.
struct Shared {
    profile: Profile,
    secret: Option<Secret>,
    shape: PayloadShape,
    /// Checks the profile could not see.
    not_seen: AtomicU64,
    /// Random per run, so a long-lived target's dedupe cache never mistakes a new delivery for
    /// one from an earlier run.
    run_id: u64,
    deliveries: AtomicU64,
    retry: RetryPolicy,
    /// Delivery attempts sent again.
    retries: AtomicU64,
}

/// One user's memory between transactions.
#[derive(Clone)]
struct UserState {
    /// The phone this user's challenges are bound to and its code messages come from.
    sender: String,
    /// The last challenge this user created, for `status_poll`.
    last: Option<Issued>,
    /// Length of the codes the server issues, learnt from its answers; flood codes match it.
    code_len: usize,
}

/// Senders of users are +1555 0xxxxxx; flood deliveries come from +1555 9xxxxxx, a range no
/// challenge is bound to (see the module comment).
fn user_sender(index: usize) -> String {
    format!("+15550{:06}", index % 1_000_000)
}

const FLOOD_SENDER_BASE: u64 = 15_559_000_000;

fn state(user: &mut GooseUser) -> &mut UserState {
    if user.get_session_data::<UserState>().is_none() {
        let sender = user_sender(user.weighted_users_index);
        user.set_session_data(UserState {
            sender,
            last: None,
            code_len: CodeSpec::default().len(),
        });
    }
    user.get_session_data_unchecked_mut::<UserState>()
}

/// Marks an answered request failed, so goose counts it among its errors, and returns the
/// error that fails the transaction.
fn fail(
    user: &mut GooseUser,
    tag: &str,
    request: &mut GooseRequestMetric,
    answer: Option<&str>,
) -> Box<TransactionError> {
    match user.set_failure(tag, request, None, answer) {
        Err(e) => e,
        // set_failure always answers Err; keep the tag should that ever change.
        Ok(()) => Box::new(TransactionError::Custom(tag.to_string())),
    }
}

/// Reads a JSON answer (with its text, for failure reports); a failed request or a body that
/// is not JSON fails the transaction.
async fn json_of(
    user: &mut GooseUser,
    goose: GooseResponse,
) -> Result<(serde_json::Value, String, GooseRequestMetric), Box<TransactionError>> {
    let mut request = goose.request;
    let text = match goose.response {
        Ok(r) => r
            .text()
            .await
            .map_err(|e| Box::new(TransactionError::Reqwest(e)))?,
        Err(e) => return Err(Box::new(TransactionError::Reqwest(e))),
    };
    if !request.success {
        return Err(Box::new(TransactionError::RequestFailed {
            raw_request: Box::new(request),
        }));
    }
    match serde_json::from_str(&text) {
        Ok(v) => Ok((v, text, request)),
        Err(_) => Err(fail(user, "answer is not JSON", &mut request, Some(&text))),
    }
}

/// Whether a seen outcome passes: `Unseen` is counted, not failed and not passed.
fn judge_seen(
    user: &mut GooseUser,
    shared: &Shared,
    seen: Seen,
    want_verified: bool,
    text: &str,
    request: GooseRequestMetric,
    tag: &str,
) -> Result<(), Box<TransactionError>> {
    match seen {
        Seen::Unseen => {
            shared.not_seen.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        seen => expect(user, seen.verified() == want_verified, text, request, tag),
    }
}

/// Fails the transaction with `tag` unless `ok`; `text` is the answer it read.
fn expect(
    user: &mut GooseUser,
    ok: bool,
    text: &str,
    mut request: GooseRequestMetric,
    tag: &str,
) -> Result<(), Box<TransactionError>> {
    if ok {
        return Ok(());
    }
    Err(fail(user, tag, &mut request, Some(text)))
}

/// The profile's start, bound to this user's sender; returns the challenge and remembers it.
async fn start(user: &mut GooseUser, shared: &Shared) -> Result<Issued, Box<TransactionError>> {
    let sender = state(user).sender.clone();
    let p = &shared.profile.start;
    let method = match p.method.as_str() {
        "GET" => GooseMethod::Get,
        "PUT" => GooseMethod::Put,
        _ => GooseMethod::Post,
    };
    let mut builder = user.get_request_builder(&method, &p.path)?;
    if let Some(body) = shared.profile.start_body(&sender, p.ttl_seconds) {
        builder = builder
            .header("Content-Type", p.content_type.as_str())
            .body(body);
    }
    let goose = user
        .request(
            GooseRequest::builder()
                .method(method)
                .path(p.path.as_str())
                .set_request_builder(builder)
                .build(),
        )
        .await?;
    let (json, text, mut request) = json_of(user, goose).await?;
    match shared.profile.read_start(&json) {
        Ok(issued) => {
            let st = state(user);
            st.last = Some(issued.clone());
            st.code_len = issued.code.len();
            Ok(issued)
        }
        Err(why) => Err(fail(user, &why, &mut request, Some(&text))),
    }
}

/// A signed `message.received` delivery, exactly as the provider would post it: sent again
/// under the retry policy while it times out or is answered outside 2xx.
async fn deliver(
    user: &mut GooseUser,
    shared: &Shared,
    sender: &str,
    text: &str,
) -> Result<GooseResponse, Box<TransactionError>> {
    let n = shared.deliveries.fetch_add(1, Ordering::Relaxed);
    let id = format!("load_{:016x}_{n}", shared.run_id);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let m = Inbound {
        message_id: &id,
        sender,
        text,
        protocol: "imessage",
        received_at_ms: (now as u64).saturating_mul(1000),
    };
    let (body, headers) = match &shared.secret {
        Some(secret) => shared.shape.signed(secret, &m, now),
        None => (shared.shape.body(&m), shared.shape.headers(&m)),
    };
    let path = shared.profile.webhook.path.as_str();
    let mut retry = 0;
    loop {
        let mut builder = user
            .get_request_builder(&GooseMethod::Post, path)?
            .timeout(shared.retry.timeout)
            .header("Content-Type", "application/json");
        for (name, value) in &headers {
            builder = builder.header(*name, value.as_str());
        }
        let builder = builder.body(body.clone());
        let goose = user
            .request(
                GooseRequest::builder()
                    .method(GooseMethod::Post)
                    .path(path)
                    .set_request_builder(builder)
                    .build(),
            )
            .await?;
        let status = goose.response.is_ok().then_some(goose.request.status_code);
        if retry >= shared.retry.retries || !RetryPolicy::retries_on(status) {
            return Ok(goose);
        }
        retry += 1;
        shared.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(shared.retry.delay(n, retry)).await;
    }
}

/// The status of `issued` on the profile's status route; `None` without one.
async fn status(
    user: &mut GooseUser,
    shared: &Shared,
    issued: &Issued,
) -> Result<Option<GooseResponse>, Box<TransactionError>> {
    let Some(path) = shared.profile.status_path(issued) else {
        return Ok(None);
    };
    let path = path.map_err(|why| Box::new(TransactionError::Custom(why)))?;
    let named = shared
        .profile
        .status
        .as_ref()
        .map_or("", |s| s.path.as_str());
    Ok(Some(user.get_named(&path, named).await?))
}

async fn flow(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    let issued = start(user, shared).await?;
    let sender = state(user).sender.clone();
    let goose = deliver(user, shared, &sender, &issued.code).await?;
    let status_code = goose.request.status_code;
    let (_, text, request) = json_of(user, goose).await?;
    let said = shared
        .profile
        .read_webhook_answer(status_code, text.as_bytes());
    let tag = "code delivery did not verify";
    judge_seen(user, shared, said, true, &text, request, tag)?;
    let Some(goose) = status(user, shared, &issued).await? else {
        shared.not_seen.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let (json, text, request) = json_of(user, goose).await?;
    let seen = shared.profile.read_status(&json).0;
    judge_seen(
        user,
        shared,
        seen,
        true,
        &text,
        request,
        "status is not verified",
    )
}

/// A code in the server's alphabet, as long as the codes it issues, so the delivery reaches
/// the code index (a no_match) instead of failing extraction.
fn random_code(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

async fn webhook_flood(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    let sender = format!(
        "+{}",
        FLOOD_SENDER_BASE + rand::rng().random_range(0..1_000_000)
    );
    let code = random_code(state(user).code_len);
    let goose = deliver(user, shared, &sender, &code).await?;
    let status_code = goose.request.status_code;
    let (_, text, request) = json_of(user, goose).await?;
    let said = shared
        .profile
        .read_webhook_answer(status_code, text.as_bytes());
    judge_seen(
        user,
        shared,
        said,
        false,
        &text,
        request,
        "a flood code verified",
    )
}

async fn start_flood(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    start(user, shared).await.map(|_| ())
}

async fn status_poll(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    let issued = match state(user).last.clone() {
        Some(issued) => issued,
        None => start(user, shared).await?,
    };
    match status(user, shared, &issued).await? {
        Some(goose) => json_of(user, goose).await.map(|_| ()),
        None => Ok(()),
    }
}

fn transaction<F>(
    name: &str,
    weight: usize,
    shared: &Arc<Shared>,
    f: F,
) -> Result<Transaction, GooseError>
where
    F: for<'r> Fn(
            &'r mut GooseUser,
            Arc<Shared>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = TransactionResult> + Send + 'r>>
        + Send
        + Sync
        + 'static,
{
    let shared = shared.clone();
    Transaction::new(Arc::new(move |user| f(user, shared.clone())))
        .set_name(name)
        .set_weight(weight)
}

async fn scrape(base: &str) -> Result<ServerCounters, HarnessError> {
    let url = format!("{}/metrics", base.trim_end_matches('/'));
    let fail = |e: reqwest::Error| HarnessError::Scrape {
        url: url.clone(),
        reason: e.to_string(),
    };
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(fail)?
        .get(&url)
        .send()
        .await
        .map_err(fail)?;
    if !response.status().is_success() {
        return Err(HarnessError::Scrape {
            url: url.clone(),
            reason: format!("answered {}", response.status()),
        });
    }
    let text = response.text().await.map_err(fail)?;
    Ok(ServerCounters::parse(&text))
}

fn attack(opts: &LoadOptions, host: &str, shared: &Arc<Shared>) -> Result<GooseAttack, GooseError> {
    // No arguments: everything comes from our own flags through set_default, and goose's
    // parser never sees the process's command line.
    let mut config = GooseConfiguration::parse_args_default::<&str>(&[])?;
    // Goose's tables go to files, not before our summary: goose.html and goose.md (which
    // `load -v` prints after the summary).
    config.report_file = ["goose.html", "goose.md"]
        .map(|f| opts.out.join(f).to_string_lossy().into_owned())
        .to_vec();
    config.no_print_metrics = true;
    let mut scenario = Scenario::new("mo2fa");
    for (name, weight) in opts.mix.weights() {
        if weight == 0 {
            continue;
        }
        let t = match name {
            "flow" => transaction(name, weight, shared, |u, s| {
                Box::pin(async move { flow(u, &s).await })
            })?,
            "webhook_flood" => transaction(name, weight, shared, |u, s| {
                Box::pin(async move { webhook_flood(u, &s).await })
            })?,
            "start_flood" => transaction(name, weight, shared, |u, s| {
                Box::pin(async move { start_flood(u, &s).await })
            })?,
            _ => transaction(name, weight, shared, |u, s| {
                Box::pin(async move { status_poll(u, &s).await })
            })?,
        };
        scenario = scenario.register_transaction(t);
    }
    GooseAttack::initialize_with_config(config)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, host)?
        .set_default(GooseDefault::Users, opts.users)?
        .set_default(
            GooseDefault::IncreaseRate,
            opts.hatch_rate.to_string().as_str(),
        )?
        .set_default(GooseDefault::RunTime, opts.run_time_secs)?
        // Count the hatching phase too: the server's counters cover it.
        .set_default(GooseDefault::NoResetMetrics, true)?
        // No telnet controller (goose's only one on by default): two runs on one machine,
        // parallel tests for instance, would fight over its port.
        .set_default(GooseDefault::NoTelnet, true)
        .map(|boxed| *boxed)
}

/// Runs the load and writes the reports. Goose handles Ctrl-C: the first stops the users
/// after their current transaction and the run still reports; a second exits at once.
pub fn run(opts: &LoadOptions) -> Result<LoadReport, HarnessError> {
    std::fs::create_dir_all(&opts.out).map_err(HarnessError::write(&opts.out))?;
    let (base, shared, server) = setup(opts)?;
    let in_process = server.is_some();
    let rt = tokio::runtime::Runtime::new()?;
    let outcome = rt.block_on(async {
        // mo2fa's counters; a target without mo2fa's /metrics has none to compare.
        let before = scrape(&base).await;
        if in_process {
            before.as_ref().map_err(|e| HarnessError::Scrape {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        }
        let started = Instant::now();
        let metrics = attack(opts, &base, &shared)?.execute().await?;
        let wall = started.elapsed().as_secs_f64();
        let counters = match (before, scrape(&base).await) {
            (Ok(before), Ok(after)) => Ok(after.since(&before)),
            (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
        };
        Ok::<_, HarnessError>((metrics, wall, counters))
    });
    if let Some(server) = server {
        server.stop();
    }
    let (metrics, wall, counters) = outcome?;
    // From the first user's start to the last one's stop, which the unreset counts cover;
    // goose's own `duration` is whole seconds of the steady phase only.
    let span = match (metrics.history.first(), metrics.history.last()) {
        (Some(a), Some(b)) => (b.timestamp - a.timestamp).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    };
    let duration = if span > 0.0 { span } else { wall };
    let (transactions, requests) = rows(&metrics, &opts.mix, duration);
    let report = judge(opts, &shared, transactions, requests, duration, counters);
    write_reports(&opts.out, &report)?;
    Ok(report)
}

/// The target's address, what every user shares, and the in-process server if there is one.
fn setup(
    opts: &LoadOptions,
) -> Result<(String, Arc<Shared>, Option<crate::InProcess>), HarnessError> {
    let (base, profile, secret, server) = match &opts.target {
        Target::InProcess => {
            let secret = Secret::new(opts.scheme, IN_PROCESS_SECRET)?;
            let spec = ServerSpec {
                store: StoreUrl::Memory,
                runtime: Default::default(),
                verifier: verifier::Config::default(),
                memory: MemoryStoreConfig::default(),
                redis_prefix: String::new(),
                clock: SystemClock,
                http: HttpConfig::new("load@example.com", secret.clone()),
                sms: None,
            };
            let server = server::start(spec, JustTheServer)?;
            let profile = Profile::builtin("mo2fa").ok_or(HarnessError::NoBuiltinProfile)?;
            let base = format!("http://{}", server.addr);
            (base, profile, Some(secret), Some(server))
        }
        Target::Url {
            base,
            secret,
            profile,
        } => {
            let base = TargetUrl::parse(base, true)?.base();
            let secret = match (profile.webhook.signature.core(), secret) {
                (None, _) => None,
                (Some(scheme), Some(s)) => Some(Secret::new(scheme, s)?),
                (Some(_), None) => return Err(HarnessError::NoSecret),
            };
            (base, (**profile).clone(), secret, None)
        }
    };
    let shape = match opts.target {
        Target::InProcess => opts.shape,
        Target::Url { .. } => profile.webhook.shape,
    };
    let shared = Arc::new(Shared {
        profile,
        secret,
        shape,
        not_seen: AtomicU64::new(0),
        run_id: rand::rng().random(),
        deliveries: AtomicU64::new(0),
        retry: opts.retry,
        retries: AtomicU64::new(0),
    });
    Ok((base, shared, server))
}

/// The report: the checks that could be made, and what could not be checked.
fn judge(
    opts: &LoadOptions,
    shared: &Shared,
    transactions: Vec<TransactionRow>,
    requests: Vec<RequestRow>,
    duration: f64,
    counters: Result<ServerCounters, String>,
) -> LoadReport {
    let flow = &transactions[0];
    let flows_verified = flow.count - flow.failures;
    let not_seen = shared.not_seen.load(Ordering::Relaxed);
    let mut problems = Vec::new();
    let mut not_checked = Vec::new();
    if flow.failures > 0 {
        problems.push(format!("{} flow transactions failed", flow.failures));
    }
    if not_seen > 0 {
        not_checked.push(format!(
            "{not_seen} checks could not be seen through profile {} (a verification with no \
             status route or telling webhook answer): they neither passed nor failed",
            shared.profile.name
        ));
    }
    match &counters {
        Ok(c) if not_seen == 0 && flows_verified as u64 != c.verifications => {
            problems.push(format!(
                "{flows_verified} flows verified but the server counted {} verifications",
                c.verifications
            ));
        }
        Ok(_) => {}
        Err(why) => not_checked.push(format!(
            "the server's counters (mo2fa's GET /metrics): {why}"
        )),
    }
    if let Ok(c) = &counters
        && c.bad_signatures > 0
    {
        problems.push(format!(
            "the server rejected {} signatures",
            c.bad_signatures
        ));
    }
    LoadReport {
        target: match &opts.target {
            Target::InProcess => "in-process".into(),
            Target::Url { base, .. } => base.clone(),
        },
        profile: match &opts.target {
            Target::InProcess => None,
            Target::Url { profile, .. } => Some(profile.name.clone()),
        },
        users: opts.users,
        hatch_rate: opts.hatch_rate,
        run_time_secs: opts.run_time_secs,
        mix: opts.mix,
        duration_secs: duration,
        transactions,
        requests,
        server: counters.ok(),
        flows_verified,
        delivery_retries: shared.retries.load(Ordering::Relaxed),
        interrupted: goose::is_killswitch_triggered(),
        problems,
        not_checked,
    }
}

fn write_reports(out: &Path, report: &LoadReport) -> Result<(), HarnessError> {
    let json = out.join("load.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .map_err(HarnessError::write(json))?;
    let md = format!(
        "# mo2fa load\n\nGoose's own report: [goose.html](goose.html).\n\n```\n{}```\n",
        report.table()
    );
    let md_path = out.join("load.md");
    std::fs::write(&md_path, md).map_err(HarnessError::write(md_path))?;
    Ok(())
}

#[cfg(test)]
mod tests;
