//! The audit suite: named attack cases against any reverse-2FA verifier, each recording the
//! requests it sent and the answers it got. docs/audit.md explains every case, what a pass
//! means and where the rule comes from.
//!
//! A case ends in one of three verdicts. **Pass** and **fail** are only given on what was
//! seen; when the profile gives no way to see what a case is about (no status route, an
//! answer that says nothing, no sender binding), the case is **not checkable** and says why.
//! Every loop is bounded in count, and every request in time ([`Options`]).

mod codes;
mod delivery;
mod resources;
mod sender;
mod signatures;

use crate::client::{StartFailed, Started, Target};
use crate::profile::Profile;
use crate::wire::{Exchange, Outcome};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The audit's bounds.
#[derive(Clone, Debug)]
pub struct Options {
    /// Starts in the start-flood case.
    pub flood: usize,
    /// Wrong codes sent in the guessing case, and the rate they are sent at.
    pub guesses: usize,
    pub guess_rate_per_s: f64,
    /// How long the slow-body case trickles before it calls the target stuck.
    pub slow_budget: Duration,
    /// Only cases whose id starts with one of these (all when empty).
    pub only: Vec<String>,
}

/// Upper bounds on the options, so no flag can make a loop unbounded.
pub const MAX_FLOOD: usize = 20_000;
pub const MAX_GUESSES: usize = 10_000;
pub const MAX_GUESS_RATE: f64 = 1_000.0;
pub const MAX_SLOW_BUDGET: Duration = Duration::from_secs(120);

impl Default for Options {
    fn default() -> Self {
        Self {
            flood: 300,
            guesses: 120,
            guess_rate_per_s: 40.0,
            slow_budget: Duration::from_secs(15),
            only: Vec::new(),
        }
    }
}

impl Options {
    /// Checks the bounds; the error names the option.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_FLOOD).contains(&self.flood) {
            return Err(format!("--flood must be 1 to {MAX_FLOOD}"));
        }
        if !(1..=MAX_GUESSES).contains(&self.guesses) {
            return Err(format!("--guesses must be 1 to {MAX_GUESSES}"));
        }
        if !(self.guess_rate_per_s > 0.0 && self.guess_rate_per_s <= MAX_GUESS_RATE) {
            return Err(format!(
                "--guess-rate must be above 0 and at most {MAX_GUESS_RATE} per second"
            ));
        }
        if self.slow_budget < Duration::from_secs(1) || self.slow_budget > MAX_SLOW_BUDGET {
            return Err(format!(
                "--slow-budget must be 1 s to {} s",
                MAX_SLOW_BUDGET.as_secs()
            ));
        }
        Ok(())
    }

    fn wants(&self, id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| id.starts_with(p.as_str()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NotCheckable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::NotCheckable => "not checkable",
        }
    }
}

/// A case as documented: what it does, why it matters, what a pass means, and its source.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Case {
    pub id: &'static str,
    pub title: &'static str,
    pub why: &'static str,
    pub pass_means: &'static str,
    pub reference: &'static str,
}

/// The outcome of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    #[serde(flatten)]
    pub case: Case,
    pub verdict: Verdict,
    pub detail: String,
    pub elapsed_ms: u64,
    pub evidence: Vec<Exchange>,
}

/// What a case function returns: its verdict and why.
pub(crate) type Found = (Verdict, String);

pub(crate) fn pass(d: impl Into<String>) -> Found {
    (Verdict::Pass, d.into())
}
pub(crate) fn fail(d: impl Into<String>) -> Found {
    (Verdict::Fail, d.into())
}
pub(crate) fn unknown(d: impl Into<String>) -> Found {
    (Verdict::NotCheckable, d.into())
}

/// The verdict of a case whose start failed: it cannot go on.
pub(crate) fn no_start(e: StartFailed) -> Found {
    unknown(format!("could not start a challenge: {}", e.0))
}

/// A started challenge, or the case returns not checkable.
macro_rules! started {
    ($e:expr) => {
        match $e {
            Ok(s) => s,
            Err(e) => return $crate::audit::no_start(e),
        }
    };
}
pub(crate) use started;

/// State the cases share: the codes handed out (for the code space) and what stuffing found.
pub(crate) struct Ctx<'a> {
    pub t: &'a Target,
    pub opts: &'a Options,
    pub codes: Vec<String>,
    /// Candidates one message was seen to try (stuffing's finding, none when it could not
    /// see), for the guessing odds.
    pub candidates_per_message: Option<usize>,
    /// Whether a genuine delivery was accepted (else the signature cases prove nothing).
    pub genuine_accepted: bool,
}

impl Ctx<'_> {
    pub async fn start(&mut self, ev: &mut Vec<Exchange>) -> Result<Started, StartFailed> {
        let s = self.t.start(ev, None).await?;
        self.codes.push(s.code.clone());
        Ok(s)
    }
}

/// Every case, in the order it runs (the flood last: it may fill the target's store).
pub const CASES: [Case; 23] = [
    signatures::GENUINE,
    signatures::UNSIGNED,
    signatures::FORGED,
    signatures::STALE,
    signatures::FUTURE,
    signatures::OTHER_BODY,
    signatures::DUPLICATE_HEADER,
    signatures::HEADER_CASE,
    delivery::TWICE,
    delivery::RACE,
    delivery::RETRY,
    delivery::REPLAY,
    sender::BINDING,
    sender::EXTERNAL_ID,
    codes::STUFFING,
    codes::GUESSING,
    codes::VARIANTS,
    codes::LOOKALIKE,
    codes::EXPIRED,
    resources::SLOW_BODY,
    resources::OVERSIZED_BODY,
    resources::MALFORMED,
    resources::FLOOD,
];

/// Every case, in run order.
pub fn all_cases() -> Vec<Case> {
    CASES.to_vec()
}

/// The plan printed before anything is sent: each case with its request bound, and which
/// cases the profile already makes not checkable.
pub fn plan(target: &str, profile: &Profile, opts: &Options) -> String {
    let mut out = format!(
        "audit plan: {} cases against {target} (profile {}, from {})\n",
        all_cases().iter().filter(|c| opts.wants(c.id)).count(),
        profile.name,
        profile.source
    );
    let mut total = 0usize;
    for c in all_cases().iter().filter(|c| opts.wants(c.id)) {
        let n = max_requests(c.id, opts);
        total += n;
        out.push_str(&format!(
            "  {:<28} at most {n:>5} requests  {}\n",
            c.id, c.title
        ));
    }
    let wait = |id: &str, secs: u64| if opts.wants(id) { secs } else { 0 };
    let secs = wait(resources::SLOW_BODY.id, opts.slow_budget.as_secs())
        + wait(codes::EXPIRED.id, profile.short_ttl().map_or(0, |s| s + 2))
        + wait(
            codes::GUESSING.id,
            (opts.guesses as f64 / opts.guess_rate_per_s).ceil() as u64,
        );
    out.push_str(&format!(
        "  total: at most {total} requests; waits of about {secs} s (slow body, expiry, paced guesses); \
         each request times out\n"
    ));
    let blind = profile.unobservable();
    if !blind.is_empty() {
        out.push_str("  this profile cannot observe:\n");
        for b in blind {
            out.push_str(&format!("    - {b}\n"));
        }
    }
    out
}

/// The most requests a case sends (starts, deliveries, status reads).
fn max_requests(id: &str, opts: &Options) -> usize {
    match id {
        "codes.guessing" => opts.guesses + 1,
        "resources.start_flood" => opts.flood + 2,
        "delivery.race" => delivery::RACE_PAIRS * 4,
        "codes.variants" | "codes.lookalike" => 3 * codes::VARIANT_TRIES,
        _ => 8,
    }
}

/// The audit's result.
#[derive(Debug, Serialize)]
pub struct Audit {
    pub target: String,
    pub profile: String,
    pub profile_source: String,
    pub cannot_observe: Vec<String>,
    pub cases: Vec<CaseResult>,
}

impl Audit {
    pub fn count(&self, v: Verdict) -> usize {
        self.cases.iter().filter(|c| c.verdict == v).count()
    }

    pub fn failed(&self) -> bool {
        self.count(Verdict::Fail) > 0
    }
}

/// [`run`] on a runtime of its own, for callers that are not async.
pub fn run_blocking(target_url: &str, t: &Target, opts: &Options) -> std::io::Result<Audit> {
    let rt = tokio::runtime::Runtime::new()?;
    Ok(rt.block_on(run(target_url, t, opts)))
}

/// Runs every case `opts` selects against `t`, in order, and collects the results.
pub async fn run(target_url: &str, t: &Target, opts: &Options) -> Audit {
    let mut ctx = Ctx {
        t,
        opts,
        codes: Vec::new(),
        candidates_per_message: None,
        genuine_accepted: false,
    };
    let mut results: Vec<CaseResult> = Vec::new();
    // Once the target stops taking connections, later cases would only measure that.
    let mut down: Option<&'static str> = None;
    for case in all_cases() {
        if !opts.wants(case.id) {
            continue;
        }
        let started = Instant::now();
        let mut ev = Vec::new();
        let (verdict, mut detail) = match down {
            Some(after) => unknown(format!(
                "not run: the target stopped accepting connections during {after}"
            )),
            None => run_case(&mut ctx, case.id, &mut ev).await,
        };
        if down.is_none() && ev.iter().any(|e| matches!(&e.result, Outcome::Failed(_))) {
            down = Some(case.id);
            detail.push_str(" (the target then stopped accepting connections)");
        }
        results.push(CaseResult {
            case,
            verdict,
            detail,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            evidence: ev,
        });
    }
    Audit {
        target: target_url.to_string(),
        profile: t.profile.name.clone(),
        profile_source: t.profile.source.clone(),
        cannot_observe: t.profile.unobservable(),
        cases: results,
    }
}

async fn run_case(ctx: &mut Ctx<'_>, id: &str, ev: &mut Vec<Exchange>) -> Found {
    match id {
        "signatures.genuine" => signatures::genuine(ctx, ev).await,
        "delivery.twice" => delivery::twice(ctx, ev).await,
        "delivery.race" => delivery::race(ctx, ev).await,
        "delivery.retry_after_timeout" => delivery::retry(ctx, ev).await,
        "delivery.replay_headers" => delivery::replay(ctx, ev).await,
        "sender.binding" => sender::binding(ctx, ev).await,
        "sender.external_id" => sender::external_id(ctx, ev).await,
        "codes.stuffing" => codes::stuffing(ctx, ev).await,
        "codes.guessing" => codes::guessing(ctx, ev).await,
        "codes.variants" => codes::variants(ctx, ev).await,
        "codes.lookalike" => codes::lookalike(ctx, ev).await,
        "codes.expired" => codes::expired(ctx, ev).await,
        "resources.slow_body" => resources::slow_body(ctx, ev).await,
        "resources.oversized_body" => resources::oversized(ctx, ev).await,
        "resources.malformed_json" => resources::malformed(ctx, ev).await,
        "resources.start_flood" => resources::flood(ctx, ev).await,
        other => signatures::attack(ctx, other, ev).await,
    }
}
