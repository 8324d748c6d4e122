//! Open-loop load with latency measured the honest way.
//!
//! A closed-loop generator waits for each answer before sending the next request, so when the
//! server stalls it simply stops sending, and the stall vanishes from its percentiles
//! ("coordinated omission"). Here every request has a *scheduled* time; a dispatcher releases it
//! at that time whatever the server is doing, a fixed pool of connections takes released
//! requests in order, and latency is measured from the scheduled time. A stall therefore
//! shows up in full: every request scheduled during it waits, and is charged for waiting.
//! The time from the actual send (service time) is recorded too, to show the difference.
//!
//! With a [`RetryPolicy`] the run plays the provider: each attempt is bounded by the policy's
//! timeout (a timed-out connection is replaced), and a request answered outside 2xx or not at
//! all is released again, the same bytes, after its backoff, until its retries run out. Every
//! attempt is a sample of its own, timed from its own release; the report counts the retries,
//! the timeouts and the requests given up.

use super::client::Conn;
use super::pace::Pacer;
use super::retry::RetryPolicy;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use std::time::Instant;
use tokio::sync::{Mutex, mpsc};

/// One request of a plan.
#[derive(Clone, Debug)]
pub struct Planned {
    /// When to send, from the start of the run.
    pub at: Duration,
    /// Index into the run's endpoint names.
    pub endpoint: usize,
    pub request: Arc<[u8]>,
}

/// Latencies are recorded in microseconds from 1 µs to 100 s with 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("static bounds are valid")
}

/// What one endpoint saw.
pub struct EndpointReport {
    pub name: String,
    /// From the scheduled time: the figure to quote.
    pub latency: Histogram<u64>,
    /// From the moment the request was actually written.
    pub service: Histogram<u64>,
    /// One histogram per interval (from the scheduled time), for the interval log.
    pub intervals: Vec<Histogram<u64>>,
    pub ok: u64,
    pub non_2xx: u64,
    /// `non_2xx` by status code, so a report can say what went wrong (401: wrong secret).
    pub statuses: BTreeMap<u16, u64>,
    pub errors: u64,
    /// Requests of the plan for this endpoint (each sent once, plus its retries).
    pub planned: u64,
    /// Attempts sent again under the retry policy.
    pub retries: u64,
    /// Attempts that got no answer within the policy's timeout.
    pub timeouts: u64,
    /// Requests whose last attempt failed with no retry left.
    pub gave_up: u64,
}

impl EndpointReport {
    /// Requests sent per request of the plan: 1 without retries.
    pub fn amplification(&self) -> f64 {
        (self.planned + self.retries) as f64 / self.planned.max(1) as f64
    }
}

pub struct Report {
    pub endpoints: Vec<EndpointReport>,
    pub interval: Duration,
    /// Completed requests per interval (by completion time), all endpoints.
    pub throughput: Vec<u64>,
    pub elapsed: Duration,
}

impl Report {
    pub fn completed(&self) -> u64 {
        self.endpoints.iter().map(|e| e.ok + e.non_2xx).sum()
    }
}

/// One finished request, as the recorder needs it.
pub struct Sample {
    pub endpoint: usize,
    /// Scheduled send time, from the start of the run.
    pub scheduled: Duration,
    /// Completion time, from the start of the run.
    pub finished: Duration,
    /// From the scheduled time.
    pub latency_us: u64,
    /// From the actual send.
    pub service_us: u64,
    /// `None`: no answer (connection error).
    pub status: Option<u16>,
}

/// Folds samples into per-endpoint histograms (overall and per interval of scheduled time) and
/// completions per interval. Shared by every open-loop driver so they report alike.
pub struct Recorder {
    endpoints: Vec<EndpointReport>,
    throughput: Vec<u64>,
    interval: Duration,
}

impl Recorder {
    pub fn new(endpoints: &[&str], interval: Duration) -> Self {
        Self {
            endpoints: endpoints
                .iter()
                .map(|name| EndpointReport {
                    name: name.to_string(),
                    latency: histogram(),
                    service: histogram(),
                    intervals: Vec::new(),
                    ok: 0,
                    non_2xx: 0,
                    statuses: BTreeMap::new(),
                    errors: 0,
                    planned: 0,
                    retries: 0,
                    timeouts: 0,
                    gave_up: 0,
                })
                .collect(),
            throughput: Vec::new(),
            interval,
        }
    }

    pub fn record(&mut self, s: &Sample) {
        let slot = |d: Duration| (d.as_nanos() / self.interval.as_nanos().max(1)) as usize;
        let (i, j) = (slot(s.scheduled), slot(s.finished));
        let Some(e) = self.endpoints.get_mut(s.endpoint) else {
            return;
        };
        match s.status {
            Some(200..=299) => e.ok += 1,
            Some(code) => {
                e.non_2xx += 1;
                *e.statuses.entry(code).or_default() += 1;
            }
            None => {
                e.errors += 1;
                return;
            }
        }
        e.latency.saturating_record(s.latency_us.max(1));
        e.service.saturating_record(s.service_us.max(1));
        while e.intervals.len() <= i {
            e.intervals.push(histogram());
        }
        e.intervals[i].saturating_record(s.latency_us.max(1));
        if self.throughput.len() <= j {
            self.throughput.resize(j + 1, 0);
        }
        self.throughput[j] += 1;
    }

    pub fn finish(self, elapsed: Duration) -> Report {
        Report {
            endpoints: self.endpoints,
            interval: self.interval,
            throughput: self.throughput,
            elapsed,
        }
    }
}

/// Runs `plan` (sorted by `at`) against `addr` over `connections` keep-alive connections,
/// without retries (each attempt still bounded by the default timeout).
pub async fn run(
    addr: &str,
    connections: usize,
    endpoints: &[&str],
    plan: Vec<Planned>,
    interval: Duration,
) -> std::io::Result<Report> {
    let retry = RetryPolicy::default();
    run_with(addr, connections, endpoints, plan, interval, &retry).await
}

/// One attempt of a planned request, released at `due`.
struct Job {
    due: Instant,
    planned: Planned,
    /// The request's index in the plan: its key for the retry jitter.
    key: u64,
    /// Attempts made before this one.
    retry: u32,
}

/// Retry counts of one endpoint, kept by the workers.
#[derive(Default)]
struct RetryCounts {
    retries: AtomicU64,
    timeouts: AtomicU64,
    gave_up: AtomicU64,
}

/// What every connection's worker shares.
struct Workers {
    addr: String,
    jobs: Mutex<mpsc::UnboundedReceiver<Option<Job>>>,
    /// Releases retries; a `None` stops one worker.
    again: mpsc::UnboundedSender<Option<Job>>,
    samples: mpsc::UnboundedSender<Sample>,
    start: Instant,
    retry: RetryPolicy,
    counts: Arc<Vec<RetryCounts>>,
    /// Requests of the plan not yet finished (answered, or given up).
    outstanding: AtomicUsize,
    connections: usize,
}

impl Workers {
    /// Takes jobs until told to stop.
    async fn work(self: Arc<Self>, mut conn: Conn) {
        loop {
            let Some(Some(job)) = self.jobs.lock().await.recv().await else {
                break;
            };
            let sent = Instant::now();
            let status =
                match tokio::time::timeout(self.retry.timeout, conn.send(&job.planned.request))
                    .await
                {
                    Ok(Ok(s)) => Some(s),
                    Ok(Err(_)) => None,
                    Err(_) => {
                        self.count(job.planned.endpoint, |c| &c.timeouts);
                        None
                    }
                };
            if status.is_none() {
                // The server dropped the connection, or the attempt timed out and the
                // connection is closed as a provider closes it: count an error, reconnect.
                if let Ok(c) = Conn::connect(&self.addr).await {
                    conn = c;
                }
            }
            let done = Instant::now();
            let _ = self.samples.send(Sample {
                endpoint: job.planned.endpoint,
                scheduled: job.planned.at,
                finished: done.saturating_duration_since(self.start),
                latency_us: done.saturating_duration_since(job.due).as_micros() as u64,
                service_us: done.saturating_duration_since(sent).as_micros() as u64,
                status,
            });
            self.next(job, status, done);
        }
    }

    /// After an attempt: release the retry after its delay, or finish the request.
    fn next(self: &Arc<Self>, job: Job, status: Option<u16>, done: Instant) {
        if RetryPolicy::retries_on(status) {
            if job.retry < self.retry.retries {
                self.count(job.planned.endpoint, |c| &c.retries);
                let due = done + self.retry.delay(job.key, job.retry + 1);
                let again = self.again.clone();
                let job = Job {
                    due,
                    retry: job.retry + 1,
                    ..job
                };
                tokio::spawn(async move {
                    tokio::time::sleep_until(due.into()).await;
                    let _ = again.send(Some(job));
                });
                return;
            }
            self.count(job.planned.endpoint, |c| &c.gave_up);
        }
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stop();
        }
    }

    fn count(&self, endpoint: usize, which: impl Fn(&RetryCounts) -> &AtomicU64) {
        if let Some(c) = self.counts.get(endpoint) {
            which(c).fetch_add(1, Ordering::Relaxed);
        }
    }

    fn stop(&self) {
        for _ in 0..self.connections {
            let _ = self.again.send(None);
        }
    }
}

/// Runs `plan` (sorted by `at`) against `addr` over `connections` keep-alive connections,
/// playing the provider's `retry` policy.
pub async fn run_with(
    addr: &str,
    connections: usize,
    endpoints: &[&str],
    plan: Vec<Planned>,
    interval: Duration,
    retry: &RetryPolicy,
) -> std::io::Result<Report> {
    // Made before any worker starts, as the connections below are, so that a failure leaves
    // none waiting.
    let pacer = Pacer::new()?;
    let (job_tx, job_rx) = mpsc::unbounded_channel::<Option<Job>>();
    let (sample_tx, mut sample_rx) = mpsc::unbounded_channel::<Sample>();
    let start = Instant::now() + Duration::from_millis(20);
    let connections = connections.max(1);
    let mut planned = vec![0u64; endpoints.len()];
    for p in &plan {
        if let Some(n) = planned.get_mut(p.endpoint) {
            *n += 1;
        }
    }
    let counts: Arc<Vec<RetryCounts>> = Arc::new(
        (0..endpoints.len())
            .map(|_| RetryCounts::default())
            .collect(),
    );
    let shared = Arc::new(Workers {
        addr: addr.to_string(),
        jobs: Mutex::new(job_rx),
        again: job_tx.clone(),
        samples: sample_tx,
        start,
        retry: *retry,
        counts: counts.clone(),
        outstanding: AtomicUsize::new(plan.len()),
        connections,
    });
    if plan.is_empty() {
        shared.stop();
    }
    // Every connection is made before any worker starts: one that fails leaves none waiting.
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(addr).await?);
    }
    let workers: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(shared.clone().work(conn)))
        .collect();

    // The dispatcher is a task on this runtime that sleeps on a precise timer (`Pacer`):
    // Tokio's own ticks in whole milliseconds and would release requests up to 1 ms late,
    // which the latency (from the scheduled time) would then wrongly charge to the server.
    let dispatcher = tokio::spawn(async move {
        for (key, job) in plan.into_iter().enumerate() {
            let when = start + job.at;
            if let Err(e) = pacer.until(when).await {
                // The rest of the plan is never released: stop every worker, or they would
                // wait for it.
                for _ in 0..connections {
                    let _ = job_tx.send(None);
                }
                return Err(e);
            }
            let job = Job {
                due: when,
                planned: job,
                key: key as u64,
                retry: 0,
            };
            if job_tx.send(Some(job)).is_err() {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    });

    // The workers hold the only sample senders now: the samples end when the last one stops.
    drop(shared);
    let mut recorder = Recorder::new(endpoints, interval);
    while let Some(s) = sample_rx.recv().await {
        recorder.record(&s);
    }
    dispatcher.await.map_err(std::io::Error::other)??;
    for w in workers {
        let _ = w.await;
    }
    let mut report = recorder.finish(Instant::now().saturating_duration_since(start));
    for ((e, c), n) in report.endpoints.iter_mut().zip(counts.iter()).zip(planned) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        e.planned = n;
        e.retries = get(&c.retries);
        e.timeouts = get(&c.timeouts);
        e.gave_up = get(&c.gave_up);
    }
    Ok(report)
}

/// The percentile distribution in the `.hgrm` text format HdrHistogram tools plot, in ms.
pub fn hgrm(h: &Histogram<u64>) -> String {
    use std::fmt::Write;
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            1.0 / (1.0 - q)
        } else {
            f64::INFINITY
        };
        let _ = writeln!(
            out,
            "{:12.3} {:14.12} {:10} {:14.2}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
    out
}

/// An HdrHistogram interval log (one histogram per endpoint per interval, tagged by endpoint).
pub fn interval_log(report: &Report) -> std::io::Result<Vec<u8>> {
    use hdrhistogram::serialization::V2Serializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    let mut out = Vec::new();
    let mut ser = V2Serializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("mo2fa open-loop latency from scheduled send time, microseconds")
        .with_base_time(std::time::UNIX_EPOCH)
        .begin_log_with(&mut out, &mut ser)?;
    for e in &report.endpoints {
        for (i, h) in e.intervals.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            let tag = Tag::new(&e.name);
            log.write_histogram(h, report.interval * i as u32, report.interval, tag)
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    drop(log);
    Ok(out)
}

/// A histogram's percentile distribution as `(percentile 0..=100, ms)` points, one per
/// HdrHistogram quantile step (the rows of its `.hgrm` table).
fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(1)
        .map(|v| {
            (
                100.0 * v.quantile_iterated_to(),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

/// One endpoint's curves on the latency page.
pub struct Curve<'a> {
    pub name: &'a str,
    /// From the scheduled time.
    pub latency: &'a Histogram<u64>,
    /// From the actual send.
    pub service: &'a Histogram<u64>,
}

/// `latency.html`: a self-contained page with the percentile distribution of every curve
/// (HdrHistogram's plot: latency over a log `1/(1-p)` axis, 0 % to 99.999 %), solid from the
/// scheduled time, dashed from the actual send, and a table of the same percentiles.
pub fn latency_html(title: &str, subtitle: &str, curves: &[Curve<'_>]) -> String {
    use mo2fa_cost::report::html::{Block, Page, Section};
    use mo2fa_cost::report::svg::{Distribution, PALETTE, PercentileChart};
    let curves: Vec<&Curve<'_>> = curves.iter().filter(|c| !c.latency.is_empty()).collect();
    let mut lines = Vec::new();
    for (i, c) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        lines.push(Distribution {
            name: c.name.to_string(),
            color: color.into(),
            dashed: false,
            points: distribution(c.latency),
        });
        lines.push(Distribution {
            name: format!("{} (service time)", c.name),
            color: color.into(),
            dashed: true,
            points: distribution(c.service),
        });
    }
    let chart = PercentileChart {
        id: "latency".into(),
        title: "Latency by percentile".into(),
        description: "Latency in milliseconds at each percentile from 0 % to 99.999 %, solid \
                      from each request's scheduled send time, dashed from its actual send."
            .into(),
        y_label: "latency (ms)".into(),
        curves: lines,
    };
    let quantiles = [0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999];
    let mut headers = vec!["endpoint".to_string(), "requests".to_string()];
    headers.extend(
        ["p50", "p90", "p99", "p99.9", "p99.99", "p99.999", "max"].map(|h| format!("{h} ms")),
    );
    let rows = curves
        .iter()
        .map(|c| {
            let mut row = vec![c.name.to_string(), c.latency.len().to_string()];
            row.extend(
                quantiles
                    .iter()
                    .map(|&q| format!("{:.3}", c.latency.value_at_quantile(q) as f64 / 1000.0)),
            );
            row.push(format!("{:.3}", c.latency.max() as f64 / 1000.0));
            row
        })
        .collect();
    let numeric = (0..headers.len()).map(|i| i > 0).collect();
    Page {
        title: title.to_string(),
        subtitle: subtitle.to_string(),
        sections: vec![
            Section::new("latency", "Latency percentile distribution")
                .push(Block::Svg(chart.to_svg()))
                .push(Block::Table {
                    caption: "From the scheduled send time (open loop: no coordinated omission)"
                        .into(),
                    headers,
                    rows,
                    numeric,
                    collapsed: false,
                }),
        ],
        footer: vec![
            "Latency is measured from each request's scheduled send time, so a stall is charged \
             to every request scheduled during it; the dashed curves count from the actual send."
                .into(),
            "The .hgrm files beside this page hold the same distributions as text.".into(),
        ],
    }
    .to_html()
}
