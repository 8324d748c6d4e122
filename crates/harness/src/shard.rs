//! Shards of load: one machine's part of a live replay (`run --live --shard I/N`) or of a
//! `bench http` run (`bench http --shard I/N`), and what each part writes beside its report so
//! that `mo2fa live merge` / `mo2fa bench merge` ([`crate::merge`]) can add the parts up.
//!
//! - A live replay's shard is the I-th of N slices of the trace **by user**: steps that act on
//!   the same state (a challenge's key, a delivery, a phone number: a user's start, the code
//!   they send, its redeliveries and replays, the status polls, their SMS) are one group, and a
//!   group goes to one shard whole, so every flow is replayed on one machine, in the virtual
//!   run's order. Groups are spread over shards by a hash of their first step, so the slices
//!   are deterministic and about equal.
//! - A bench's shard offers 1/N of each step's rate ([`Shard::part`]: the N parts of a rate add
//!   up to it exactly).
//!
//! Each part writes `shard.json` ([`Manifest`]: which run, which shard, which versions) and its
//! HdrHistograms in HdrHistogram's V2 binary format (`<endpoint>.hdr`, `.service.hdr`), so a
//! merge adds the histograms themselves, never their percentiles.

use crate::error::HarnessError;
use crate::live::{LiveOptions, LiveReport};
use crate::scenario_run::Run;
use hdrhistogram::Histogram;
use mo2fa_sim::trace::{Action, Text, Trace};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// The file every shard (and every merge) writes beside its report.
pub const MANIFEST: &str = "shard.json";

/// The version of [`MANIFEST`]'s layout and of the histogram files beside it.
pub const FORMAT: u32 = 1;

/// The version of what a live shard replays: the trace's steps and the answers they are
/// compared with. Bump it when a step's meaning or the slicing rule changes, so shards made by
/// binaries that disagree are refused by the merge.
pub const TRACE_VERSION: u32 = 1;

/// Shard `index` of `count` (index from 0 to count-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole run: no sharding.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; an index out of range is an error naming the range.
    pub fn new(index: usize, count: usize) -> Result<Shard, HarnessError> {
        if count == 0 || index >= count {
            return Err(HarnessError::Shard(format!(
                "--shard {index}/{count}: the shard index must be from 0 to N-1 (N at least 1)"
            )));
        }
        Ok(Shard { index, count })
    }

    /// This shard's part of `rate`: the N parts differ by at most one and add up to `rate`.
    /// At least 1, so a shard always sends something.
    pub fn part(self, rate: u64) -> u64 {
        let (n, i) = (self.count as u128, self.index as u128);
        let r = u128::from(rate);
        let part = r * (i + 1) / n - r * i / n;
        (part as u64).max(1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a directory holds: a live replay or a bench run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Live,
    Bench,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Live => "live replay",
            Kind::Bench => "bench http run",
        }
    }
}

/// `shard.json`: which run a directory is (a part of), so that a merge refuses parts of
/// different runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub kind: Kind,
    /// The mo2fa version that wrote it.
    pub mo2fa: String,
    /// [`TRACE_VERSION`] for a live replay; 0 for a bench.
    pub trace_version: u32,
    /// The run the parts belong to: a live replay's whole trace (a digest of every step and
    /// answer), or a bench's plan (its options but the shard and the output directory).
    pub run: String,
    /// N: how many shards the run was split into.
    pub count: usize,
    /// The shards this directory holds: one for a shard, all of them after a merge.
    pub shards: Vec<usize>,
    /// A live replay's speed (virtual seconds per wall second).
    pub speed: Option<f64>,
}

impl Manifest {
    fn new(kind: Kind, run: String, shard: Shard, speed: Option<f64>) -> Manifest {
        Manifest {
            format: FORMAT,
            kind,
            mo2fa: env!("CARGO_PKG_VERSION").to_string(),
            trace_version: if kind == Kind::Live { TRACE_VERSION } else { 0 },
            run,
            count: shard.count,
            shards: vec![shard.index],
            speed,
        }
    }

    /// A bench run's manifest: `plan` names its options (see [`crate::bench`]).
    pub fn bench(plan: &str, shard: Shard) -> Manifest {
        Manifest::new(Kind::Bench, digest_str(plan), shard, None)
    }

    pub fn write(&self, dir: &Path) -> Result<(), HarnessError> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(&path, text).map_err(HarnessError::write(path))
    }

    pub fn read(dir: &Path) -> Result<Manifest, HarnessError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(HarnessError::read(&path))?;
        serde_json::from_str(&text).map_err(|e| {
            HarnessError::Merge(format!(
                "{}: not a shard manifest of this mo2fa: {e}",
                path.display()
            ))
        })
    }
}

/// A bench run's plan: every option that shapes the load, but the shard index and where the
/// reports go. Shards of one run have the same plan.
pub fn bench_plan(opts: &crate::bench::BenchOptions) -> String {
    let target = match &opts.server {
        crate::bench::Server::InProcess { store, runtime } => match runtime {
            crate::server::Runtime::WorkStealing => format!("in-process {store}"),
            crate::server::Runtime::PerCore => format!("in-process {store} per-core"),
        },
        crate::bench::Server::Remote { addr, .. } => format!("http://{addr}"),
    };
    let endpoints: Vec<&str> = opts.endpoints.iter().map(|e| e.name()).collect();
    format!(
        "endpoints={endpoints:?} connections={} step={:?} measure={:?} fraction={} rate={:?} \
         max_rate={} target={target} scheme={:?} shape={:?} shards={}",
        opts.connections,
        opts.step,
        opts.measure,
        opts.fraction,
        opts.rate_per_s,
        opts.max_rate_per_s,
        opts.scheme,
        opts.shape,
        opts.shard.count
    )
}

/// FNV-1a, 64 bits: a stable digest (the same on every machine and build), for telling runs
/// apart, not for security.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

fn digest_str(s: &str) -> String {
    let mut h = Fnv::new();
    h.bytes(s.as_bytes());
    format!("{:016x}", h.0)
}

/// A digest of the whole trace: every step (time, request, virtual answer) and its tables.
pub fn trace_digest(trace: &Trace) -> String {
    use std::fmt::Write;
    let mut h = Fnv::new();
    let _ = write!(
        h,
        "{}|{}|{:?}|{}",
        trace.keys,
        trace.messages,
        trace.countries,
        trace.steps.len()
    );
    for s in &trace.steps {
        let _ = write!(h, "|{}:{:?}={}", s.at_ms, s.action, s.expect);
    }
    format!("{:016x}", h.0)
}

/// The state a step acts on, for grouping steps by user.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum State {
    Key(u32),
    Delivery(u32),
    Phone(u64),
}

/// The parts of a step's state (at most three).
fn states(action: &Action) -> [Option<State>; 3] {
    match action {
        Action::Start {
            key,
            expected_sender,
        } => [key.map(State::Key), expected_sender.map(State::Phone), None],
        Action::Webhook {
            msg, sender, text, ..
        } => {
            let key = match text {
                Text::Code(k) | Text::Typo(k) => Some(State::Key(*k)),
                Text::Literal(_) => None,
            };
            [
                Some(State::Delivery(*msg)),
                Some(State::Phone(*sender)),
                key,
            ]
        }
        Action::Replay { msg } => [Some(State::Delivery(*msg)), None, None],
        // A poll is sent once delivery `after` is answered: it goes where that delivery goes.
        Action::Poll { key, after } => {
            [Some(State::Key(*key)), Some(State::Delivery(*after)), None]
        }
        Action::SmsStart { key, number, .. } => {
            [key.map(State::Key), Some(State::Phone(*number)), None]
        }
        Action::SmsRead { key, number, .. } => {
            [Some(State::Key(*key)), Some(State::Phone(*number)), None]
        }
        Action::Forged { .. } => [None, None, None],
    }
}

/// For every step, the first step of its group (steps linked through shared state).
fn groups(trace: &Trace) -> Vec<u32> {
    fn find(parent: &mut [u32], mut i: u32) -> u32 {
        while parent[i as usize] != i {
            let up = parent[parent[i as usize] as usize];
            parent[i as usize] = up;
            i = up;
        }
        i
    }
    let n = trace.steps.len();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut first: FxHashMap<State, u32> = FxHashMap::default();
    for (i, step) in trace.steps.iter().enumerate() {
        for s in states(&step.action).into_iter().flatten() {
            let other = *first.entry(s).or_insert(i as u32);
            let (a, b) = (find(&mut parent, i as u32), find(&mut parent, other));
            // The earlier step is the root, so a group's root is its first step.
            if a != b {
                let (lo, hi) = (a.min(b), a.max(b));
                parent[hi as usize] = lo;
            }
        }
    }
    (0..n as u32).map(|i| find(&mut parent, i)).collect()
}

/// splitmix64: spreads group roots evenly over the shards.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shard's slice of `trace`: the steps of the groups it owns, at their own times, with
/// keys and message numbers as in the whole trace.
pub fn slice(mut trace: Trace, shard: Shard) -> Trace {
    if shard.count <= 1 {
        return trace;
    }
    let roots = groups(&trace);
    let mut i = 0;
    trace.steps.retain(|_| {
        let mine = owns(shard, roots[i]);
        i += 1;
        mine
    });
    trace
}

/// How many steps of `trace` [`slice`] gives `shard`.
pub fn slice_len(trace: &Trace, shard: Shard) -> usize {
    if shard.count <= 1 {
        return trace.steps.len();
    }
    groups(trace)
        .into_iter()
        .filter(|&r| owns(shard, r))
        .count()
}

/// Whether `shard` replays the group whose first step is `root`.
fn owns(shard: Shard, root: u32) -> bool {
    mix(u64::from(root)) % shard.count as u64 == shard.index as u64
}

/// `<name>.hdr` and `<name>.service.hdr`: the histograms in HdrHistogram's V2 format.
pub fn write_histograms(
    dir: &Path,
    name: &str,
    latency: &Histogram<u64>,
    service: &Histogram<u64>,
) -> Result<(), HarnessError> {
    use hdrhistogram::serialization::{Serializer, V2Serializer};
    for (file, h) in [
        (format!("{name}.hdr"), latency),
        (format!("{name}.service.hdr"), service),
    ] {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(h, &mut bytes)
            .map_err(|e| HarnessError::Io(std::io::Error::other(format!("{e:?}"))))?;
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(HarnessError::write(path))?;
    }
    Ok(())
}

/// Reads a histogram [`write_histograms`] wrote; the error names the file.
pub fn read_histogram(path: &Path) -> Result<Histogram<u64>, HarnessError> {
    use hdrhistogram::serialization::Deserializer;
    let bytes = std::fs::read(path).map_err(HarnessError::read(path))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| {
            HarnessError::Merge(format!("{}: not a V2 HdrHistogram: {e:?}", path.display()))
        })
}

/// `run --live --shard I/N`: replays this shard's slice of `trace` (the whole trace for
/// [`Shard::WHOLE`]), writes `<out>/live/` as [`Run::live`] does, then `shard.json` and the
/// V2 histograms beside it.
pub fn live(
    run: &Run,
    trace: Trace,
    shard: Shard,
    opts: LiveOptions,
    interrupt: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
    on_behind: &(dyn Fn(&crate::live::Behind) + Sync),
) -> Result<LiveReport, HarnessError> {
    let manifest = Manifest::new(Kind::Live, trace_digest(&trace), shard, Some(opts.speed));
    let part = slice(trace, shard);
    let live = run.live(part, opts, interrupt, progress, on_behind)?;
    let dir = run.out.join("live");
    write_live_histograms(&dir, &live)?;
    manifest.write(&dir)?;
    Ok(live)
}

/// Every endpoint's histograms of a live replay (also the endpoints that saw nothing, so that
/// every shard has the same files).
fn write_live_histograms(dir: &Path, live: &LiveReport) -> Result<(), HarnessError> {
    for e in &live.load.endpoints {
        write_histograms(dir, &e.name, &e.latency, &e.service)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
