//! The `mo2fa` command line. Errors become `anyhow` reports here and nowhere else.

mod args;
mod cost_cli;
mod diff_cli;
mod expect_cli;
mod incidents_cli;
mod serve_cli;
mod sweep_cli;

use serve_cli::{ServeArgs, serve};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use mo2fa_core::verifier::Protocol;
use mo2fa_core::webhook::{PayloadShape, Scheme, Secret};
use mo2fa_harness::bench::{self, BenchOptions, Endpoint};

/// Environment variable holding the webhook signing secret.
const SECRET_ENV: &str = "MO2FA_WEBHOOK_SECRET";

#[derive(Parser)]
#[command(
    name = "mo2fa",
    version,
    about = "Reverse (mobile-originated) 2FA verifier and fraud-simulation harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the verifier's HTTP server (webhook secret from MO2FA_WEBHOOK_SECRET).
    Serve(Box<ServeArgs>),
    /// Monthly cost of SMS OTP vs reverse iMessage by volume; writes CSV, summary and report.
    Cost(crate::cost_cli::CostArgs),
    /// Replay a scenario in virtual time through the real verifier; writes summary.json,
    /// timeline.csv, summary.md and report.html.
    Run(RunArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// A bounded steady-rate run over real HTTP with challenges expiring all the time: checks
    /// flat memory and exactly-once verification; exits non-zero on a violation.
    Soak(SoakArgs),
    /// Closed-loop load with goose: users run a weighted mix of transactions (full
    /// verification flow, webhook flood, start flood, status polling) against the in-process
    /// server or --target; writes goose.html, load.json and load.md.
    Load(LoadArgs),
    /// Write a starting point: `new scenario NAME` writes NAME.toml, a commented template
    /// with every section and key.
    #[command(subcommand)]
    New(NewCommand),
    /// Replay the incident library (scenarios/incidents/) as written, with each vendor
    /// defence preset and through the reverse flow with each fallback; one Markdown table per
    /// incident (docs/incidents.md); exits non-zero when a replay misses a documented figure.
    Incidents(crate::incidents_cli::IncidentsArgs),
    /// Print the signature headers for a webhook body (secret from MO2FA_WEBHOOK_SECRET), e.g.
    /// to post a hand-made delivery with curl.
    Sign(SignArgs),
    /// Run a scenario's grid of settings × seeds on every core: sweep.csv (means and 95 %
    /// intervals), report.html (Pareto chart: pumped USD against legit users blocked).
    Sweep(crate::sweep_cli::SweepArgs),
    /// Compare two runs' outputs (run, sweep or bench directories), largest changes first.
    Diff(crate::diff_cli::DiffArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// How long to run (e.g. `90s`, `2h`; a plain number is seconds), at most `1d`.
    #[arg(long, default_value = "60s", value_parser = args::seconds)]
    duration: f64,
    /// Flows started per second.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Challenge lifetime, whole seconds (short, so they expire constantly; e.g. `5s`).
    #[arg(long, default_value = "5s", value_parser = args::positive_millis)]
    ttl: u64,
    /// Concurrent client connections (the load generator's, not server threads).
    #[arg(long, default_value_t = 32, alias = "workers")]
    connections: usize,
    /// Body shape of the webhook deliveries: v2 (Blooio's documented event, with its
    /// X-Blooio-Event and X-Blooio-Message-Id headers), legacy (`sender`) or v4 (envelope).
    #[arg(long, value_enum, default_value_t = ShapeArg::V2)]
    payload_shape: ShapeArg,
}

#[derive(Args)]
struct LoadArgs {
    /// Base URL of a running server (e.g. http://127.0.0.1:8080); default: start one
    /// in-process on 127.0.0.1 with a secret of its own.
    #[arg(long)]
    target: Option<String>,
    /// Concurrent users, each running one transaction at a time.
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Users started per second.
    #[arg(long, default_value_t = 10.0)]
    hatch_rate: f64,
    /// How long to run once all users have started, whole seconds (e.g. `30s`, `10m`; a plain
    /// number is seconds; `--run-time` is an old name for it).
    #[arg(long, default_value = "30s", value_parser = args::positive_millis, alias = "run-time")]
    duration: u64,
    /// Show goose's own log lines (users launched, run phases); -vv adds its debug lines.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Transaction weights: flow, webhook_flood, start_flood, status_poll (names left out
    /// weigh 0).
    #[arg(
        long,
        default_value = "flow=4,webhook_flood=2,start_flood=1,status_poll=3"
    )]
    mix: String,
    /// Output directory; default reports/load-<UTC time>.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Environment variable holding the target's webhook secret; only read with --target.
    #[arg(long, default_value = SECRET_ENV)]
    secret_env: String,
    /// Webhook signature scheme of the deliveries (the target's --signature-scheme).
    #[arg(long, value_enum, default_value_t = SchemeArg::Blooio)]
    signature_scheme: SchemeArg,
    /// Body shape of the webhook deliveries: v2 (Blooio's documented event, with its
    /// X-Blooio-Event and X-Blooio-Message-Id headers), legacy (`sender`) or v4 (envelope).
    #[arg(long, value_enum, default_value_t = ShapeArg::V2)]
    payload_shape: ShapeArg,
}

#[derive(Subcommand)]
enum NewCommand {
    /// A scenario file with every section and key, commented; check it with `run --check`.
    Scenario(NewScenarioArgs),
}

#[derive(Args)]
struct NewScenarioArgs {
    /// Name of the scenario: writes NAME.toml in the current directory (a name ending in
    /// .toml is used as it is).
    name: String,
    /// Write here instead (an existing file is never overwritten).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct SignArgs {
    /// File holding the exact body bytes; `-` reads standard input.
    body: std::path::PathBuf,
    #[arg(long, value_enum, default_value_t = SchemeArg::Blooio)]
    scheme: SchemeArg,
    /// Delivery id (standard scheme).
    #[arg(long, default_value = "msg_manual")]
    id: String,
    /// Unix seconds; default now.
    #[arg(long)]
    timestamp: Option<i64>,
}

#[derive(Args)]
struct RunArgs {
    /// Scenario file (see scenarios/README.md).
    scenario: std::path::PathBuf,
    /// Only check the scenario: print OK and a one-line summary, or the error with its
    /// file:line:key, and exit without running it.
    #[arg(long, conflicts_with = "live")]
    check: bool,
    /// Override the scenario's seed (an unsigned integer).
    #[arg(long, allow_hyphen_values = true, value_parser = args::seed)]
    seed: Option<u64>,
    /// Output directory; default reports/<scenario name>.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Override the scenario's duration (e.g. `2h`, `30m`; a plain number is seconds).
    #[arg(long, value_parser = parse_dur)]
    duration: Option<u64>,
    /// After the virtual run, replay its requests over real HTTP against in-process servers
    /// on 127.0.0.1, open loop, and compare every answer; writes <out>/live/. Exits non-zero
    /// when the verifications differ or the replay fell behind schedule (it then stops).
    #[arg(long)]
    live: bool,
    /// Virtual seconds per wall second in the live replay.
    #[arg(long, default_value_t = 1.0, requires = "live", value_parser = parse_speed)]
    speed: f64,
    /// Keep-alive connections per live server.
    #[arg(long, default_value_t = 64, requires = "live")]
    connections: usize,
    /// Body shape of the live replay's deliveries (default: the scenario's emitter.shape,
    /// itself v2 unless set).
    #[arg(long, value_enum, requires = "live")]
    payload_shape: Option<ShapeArg>,
    /// An expectation the run must meet, e.g. 'cost_model_usd.sms_flow.pumped_sms < $500'
    /// (docs/expect.md); repeatable, besides the scenario's [expect]. Exits 3 when one fails.
    #[arg(long)]
    expect: Vec<String>,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("--speed must be a positive number, got {s:?}")),
    }
}

fn parse_dur(s: &str) -> Result<u64, String> {
    args::positive_millis(s)
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Saturation throughput of each endpoint (of an in-process server on loopback, or of
    /// --target), then open-loop latency percentiles (measured from scheduled send times) at a
    /// fraction of it or at a fixed rate.
    Http(BenchHttpArgs),
}

#[derive(Args)]
struct BenchHttpArgs {
    /// Endpoints to measure; repeat for several.
    #[arg(long = "endpoint", value_enum, default_values_t = [Endpoint::Healthz, Endpoint::Start, Endpoint::Status, Endpoint::Webhook])]
    endpoints: Vec<Endpoint>,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of each step of the saturation search (e.g. `2s`; a plain number is seconds).
    /// The search starts at 4,000/s and doubles the offered rate while a step keeps up
    /// (achieves at least 90 % of it with p99 at most 50 ms); a step that does not is run again
    /// at the same rate, and two failing steps in a row stop it. Repeated steps print their
    /// spread.
    #[arg(long, default_value = "2s", value_parser = args::seconds)]
    step: f64,
    /// Length of the latency measurement (e.g. `5s`; a plain number is seconds).
    #[arg(long, default_value = "5s", value_parser = args::seconds)]
    duration: f64,
    /// Measure latency at this fraction of the saturation throughput.
    #[arg(long, default_value_t = 0.5)]
    fraction: f64,
    /// Measure latency at this offered rate (requests/s) instead; skips the search.
    #[arg(long)]
    rate: Option<u64>,
    /// Highest rate the search offers.
    #[arg(long, default_value_t = 256_000)]
    max_rate: u64,
    /// Challenge store of the server under test: `memory` or a Redis URL.
    #[arg(long, default_value = "memory", conflicts_with = "target")]
    store: String,
    /// Benchmark an already running server at http://HOST:PORT instead of starting one; only
    /// that address is sent requests. Challenges are made with POST /2fa/start, and webhook
    /// deliveries are signed with the secret in MO2FA_WEBHOOK_SECRET (the target's).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Webhook signature scheme of the deliveries (the server's --signature-scheme).
    #[arg(long, value_enum, default_value_t = SchemeArg::Blooio)]
    signature_scheme: SchemeArg,
    /// Body shape of the webhook deliveries: v2 (Blooio's documented event, with its
    /// X-Blooio-Event and X-Blooio-Message-Id headers), legacy (`sender`) or v4 (envelope).
    #[arg(long, value_enum, default_value_t = ShapeArg::V2)]
    payload_shape: ShapeArg,
    /// Write <endpoint>.hgrm percentile tables, .hlog interval logs, latency.html (the
    /// percentile plot) and bench.json (with the time, git commit, host and cores) here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// Tokio reads `TOKIO_WORKER_THREADS` whenever a runtime is built, here and in the library,
/// and panics on a value that is not a positive integer: refuse it once, up front, instead.
fn check_worker_threads_env() -> Result<()> {
    const VAR: &str = "TOKIO_WORKER_THREADS";
    match std::env::var_os(VAR) {
        None => Ok(()),
        Some(v)
            if v.to_str()
                .and_then(|s| s.parse::<usize>().ok())
                .is_some_and(|n| n > 0) =>
        {
            Ok(())
        }
        Some(v) => bail!("{VAR} must be a positive number of worker threads, got {v:?}"),
    }
}

/// Errors are printed as one line of causes, `error: <what>: <why>`, never as a backtrace
/// (returning the error from `main` would print one whenever `RUST_BACKTRACE` is set). A
/// cause the message above it already quotes is not repeated.
fn main() -> std::process::ExitCode {
    let Err(e) = run() else {
        return std::process::ExitCode::SUCCESS;
    };
    let mut line = e.to_string();
    for cause in e.chain().skip(1).map(|c| c.to_string()) {
        if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    eprintln!("error: {line}");
    expect_cli::exit_code(&e)
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    init_logging(&cli);
    check_worker_threads_env()?;
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Cost(args) => {
            print!("{}", crate::cost_cli::run(&args)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Http(args)) => bench_http(args),
        Command::Run(args) => run_scenario(args),
        Command::Incidents(args) => incidents_cli::run(args),
        Command::Sign(args) => sign(args),
        Command::New(NewCommand::Scenario(args)) => new_scenario(args),
        Command::Soak(args) => soak(args),
        Command::Load(args) => load(args),
        Command::Sweep(args) => sweep_cli::run(args),
        Command::Diff(args) => diff_cli::run(args),
    }
}

/// Log lines go to stderr, coloured only on a terminal (and never with NO_COLOR set). goose
/// logs every phase of a run through `log` at info; those lines show only with `load -v`.
/// RUST_LOG, when set, overrides both.
fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
    // goose::config only reports its own logger set-up, which always fails beside this one.
    let goose = match &cli.command {
        Command::Load(a) if a.verbose >= 2 => "goose=debug",
        Command::Load(a) if a.verbose == 1 => "goose=info,goose::config=warn",
        _ => "goose=warn",
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| format!("mo2fa=info,{goose}").into()),
        )
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

/// A progress bar on a terminal (stderr), hidden otherwise.
pub(crate) fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn run_scenario(args: RunArgs) -> Result<()> {
    use mo2fa_sim::{engine, report};
    use std::sync::atomic::{AtomicBool, Ordering};

    let (mut sc, expect) = expect_cli::load(&args.scenario, &args.expect)?;
    if let Some(ms) = args.duration {
        sc.duration = mo2fa_sim::scenario::Dur(ms);
    }
    let name = args
        .scenario
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    let seed = args.seed.unwrap_or(sc.seed);
    if args.check {
        println!(
            "OK {}: {}",
            args.scenario.display(),
            scenario_summary(&sc, seed)
        );
        return Ok(());
    }
    let out = args
        .out
        .unwrap_or_else(|| std::path::Path::new("reports").join(&name));
    static INTERRUPT: AtomicBool = AtomicBool::new(false);
    // A second Ctrl-C while the first is being honoured is ignored; the run stops at the next
    // check (every 65,536 events) and still writes its partial reports.
    let _ = ctrlc::set_handler(|| INTERRUPT.store(true, Ordering::Relaxed));
    let bar = progress_bar(
        sc.duration.ms() / 1000,
        "{bar:40} {pos}/{len} virtual s  ETA {eta}  {msg}",
    );
    let progress = |t: u64| bar.set_position(t / 1000);
    let control = engine::Control {
        interrupt: &INTERRUPT,
        progress: &progress,
    };
    let started = std::time::Instant::now();
    let (outcome, trace) = if args.live {
        let (outcome, trace) =
            engine::simulate_traced(&sc, seed, &control, mo2fa_sim::trace::MAX_STEPS)?;
        (outcome, Some(trace))
    } else {
        (engine::simulate(&sc, seed, &control)?, None)
    };
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    report::write_all(&out, &sc, &name, seed, &outcome)
        .with_context(|| format!("writing reports to {}", out.display()))?;
    println!("scenario {name} (seed {seed}): {}", sc.description);
    print!("{}", report::table(&outcome));
    let costs = &outcome.costs;
    for (flow, c) in [
        ("SMS OTP flow", &costs.sms),
        ("reverse flow", &costs.reverse),
    ] {
        if let Some(c) = c {
            println!(
                "  cost model, {flow:<13} total ${:.2} (pumped ${:.2}, lines {}, fees ${:.2})",
                c.total_usd,
                c.pumped_sms_usd,
                c.lines,
                c.verify_fees_usd + c.fixed_usd
            );
        }
    }
    println!(
        "events: {} in {:.2} s ({:.2} M events/s)",
        outcome.events,
        elapsed,
        outcome.events as f64 / elapsed.max(1e-9) / 1e6
    );
    println!(
        "wrote {}/{{summary.json,timeline.csv,summary.md,report.html}}",
        out.display()
    );
    if let Some(trace) = trace
        && !outcome.interrupted
    {
        use mo2fa_harness::live;
        let wall_s = sc.duration.ms() as f64 / 1000.0 / args.speed;
        eprintln!(
            "live replay: {} requests over ~{wall_s:.0} s of wall time at {}x",
            trace.steps.len(),
            args.speed
        );
        bar.reset();
        let opts = live::LiveOptions {
            speed: args.speed,
            connections: args.connections,
            shape: args.payload_shape.map(Into::into),
        };
        let behind = |b: &live::Behind| bar.suspend(|| eprintln!("{b}"));
        let live = live::replay(&sc, trace, opts, &INTERRUPT, &progress, &behind)?;
        bar.finish_and_clear();
        let dir = out.join("live");
        live::write(&dir, &live).with_context(|| format!("writing {}", dir.display()))?;
        print!("\n{}", live::table(&live));
        println!(
            "wrote {}/{{live.json,live.md,latency.html,<endpoint>.hgrm,latency.hlog,throughput.csv}}",
            dir.display()
        );
        if let Some(problem) = live.problem() {
            bail!(problem);
        }
        if live.released < live.steps {
            bail!("interrupted: the live reports hold the partial replay");
        }
    }
    if outcome.interrupted {
        bail!("interrupted: the reports hold the partial run");
    }
    expect_cli::check_run(&expect, &out)
}

/// One line on what a scenario simulates, for `run --check`.
fn scenario_summary(sc: &mo2fa_sim::scenario::Scenario, seed: u64) -> String {
    let flows: Vec<&str> = sc
        .flows
        .iter()
        .map(|f| match f {
            mo2fa_sim::scenario::Flow::Reverse => "reverse",
            mo2fa_sim::scenario::Flow::Sms => "sms",
        })
        .collect();
    let attackers: Vec<String> = sc
        .attackers
        .iter()
        .enumerate()
        .map(|(i, a)| a.label(i))
        .collect();
    format!(
        "{} virtual, flows {}, {} legit/s from {} countries, {} attacker(s){}, seed {seed}",
        span(sc.duration.ms()),
        flows.join("+"),
        sc.legit.rate_per_s.0,
        sc.legit.countries.len(),
        attackers.len(),
        if attackers.is_empty() {
            String::new()
        } else {
            format!(" ({})", attackers.join(", "))
        }
    )
}

/// A duration in its largest whole unit: `1d`, `36h`, `90s`, `250ms`.
fn span(ms: u64) -> String {
    [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ]
    .into_iter()
    .find(|(unit, _)| ms.is_multiple_of(*unit) && ms >= *unit)
    .map_or_else(
        || format!("{ms}ms"),
        |(unit, name)| format!("{}{name}", ms / unit),
    )
}

fn new_scenario(args: NewScenarioArgs) -> Result<()> {
    use std::io::Write;
    let path = args.out.unwrap_or_else(|| {
        if args.name.ends_with(".toml") {
            args.name.clone().into()
        } else {
            format!("{}.toml", args.name).into()
        }
    });
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists: not overwriting it (remove it, or give another name or --out)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot create", path.display())),
    };
    file.write_all(mo2fa_sim::scenario::TEMPLATE.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    println!(
        "wrote {0}: check it with `mo2fa run --check {0}`, run it with `mo2fa run {0}`",
        path.display()
    );
    Ok(())
}

fn soak(args: SoakArgs) -> Result<()> {
    if args.duration > 86_400.0 {
        bail!("--duration must be at most 1d, got {} s", args.duration);
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of flows per second");
    }
    if args.connections == 0 {
        bail!("--connections must be positive");
    }
    if !args.ttl.is_multiple_of(1000) {
        bail!(
            "--ttl must be a whole number of seconds, got {}",
            args::show_secs(args.ttl)
        );
    }
    let opts = mo2fa_harness::soak::SoakOptions {
        duration: std::time::Duration::from_secs_f64(args.duration),
        rate: args.rate,
        ttl_secs: args.ttl / 1000,
        connections: args.connections,
        shape: args.payload_shape.into(),
    };
    let line = SoakProgress::new(args.duration.ceil() as u64);
    let report = mo2fa_harness::soak::run(&opts, &|secs, counts, pending| {
        line.update(secs, counts, pending)
    });
    line.finish();
    let report = report?;
    print!("{}", report.table());
    if !report.ok() {
        bail!("soak found {} problem(s)", report.problems.len());
    }
    Ok(())
}

/// soak's progress: a bar with an ETA on a terminal; otherwise (a log file, CI) one plain
/// line every 10 seconds, so a long run still shows it is alive.
struct SoakProgress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
}

impl SoakProgress {
    fn new(total_secs: u64) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total_secs);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} s  ETA {eta}  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            total: total_secs,
        }
    }

    fn update(&self, secs: u64, counts: &mo2fa_harness::soak::Counts, pending: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let msg = format!(
            "flows {}, verified {}, pending {pending}, violations {}, errors {}",
            counts.flows.load(Relaxed),
            counts.verified.load(Relaxed),
            counts.violations.load(Relaxed),
            counts.errors.load(Relaxed)
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(secs.min(self.total));
                bar.set_message(msg);
            }
            None if secs > 0 && secs.is_multiple_of(10) => {
                eprintln!("soak: {secs}/{} s  {msg}", self.total);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(not(feature = "load"))]
fn load(_: LoadArgs) -> Result<()> {
    bail!(
        "this mo2fa was built without goose: `load` needs `cargo build --release --features load` \
         (left out by default because its TLS stack takes minutes to compile)"
    )
}

#[cfg(feature = "load")]
fn load(args: LoadArgs) -> Result<()> {
    use mo2fa_harness::closed::{self, LoadOptions, Mix, Target};
    let mix: Mix = args
        .mix
        .parse()
        .map_err(|e| anyhow::anyhow!("--mix: {e}"))?;
    if args.users == 0 || args.users > 100_000 {
        bail!("--users must be between 1 and 100000, got {}", args.users);
    }
    if !(args.hatch_rate.is_finite() && args.hatch_rate > 0.0) {
        bail!("--hatch-rate must be a positive number of users per second");
    }
    if !args.duration.is_multiple_of(1000) || args.duration > 86_400_000 {
        bail!(
            "--duration must be a whole number of seconds up to 1d (goose counts in seconds), \
             got {}",
            args::show_secs(args.duration)
        );
    }
    let target = match args.target {
        None => Target::InProcess,
        Some(base) => {
            let Ok(secret) = std::env::var(&args.secret_env) else {
                bail!(
                    "{} is not set: with --target it holds the secret the server checks \
                     webhooks with",
                    args.secret_env
                );
            };
            Target::Url { base, secret }
        }
    };
    let in_process = matches!(target, Target::InProcess);
    let out = args.out.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // 2025-01-02T03:04:05.678Z -> 20250102-030405
        let stamp: String = mo2fa_core::timefmt::rfc3339_ms(now)[..19]
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .map(|c| if c == 'T' { '-' } else { c })
            .collect();
        std::path::Path::new("reports").join(format!("load-{stamp}"))
    });
    let report = closed::run(&LoadOptions {
        target,
        users: args.users,
        hatch_rate: args.hatch_rate,
        run_time_secs: (args.duration / 1000) as usize,
        mix,
        out: out.clone(),
        scheme: args.signature_scheme.into(),
        shape: args.payload_shape.into(),
    })
    .with_context(|| format!("load run (reports in {})", out.display()))?;
    print!("{}", report.table());
    println!("wrote {}/{{goose.html,load.json,load.md}}", out.display());
    if report.interrupted {
        bail!("interrupted: the reports hold the partial run");
    }
    if !report.ok() {
        if in_process {
            bail!("load run found {} problem(s)", report.problems.len());
        }
        eprintln!("note: the target may serve other traffic, so the checks above are not enforced");
    }
    Ok(())
}

fn sign(args: SignArgs) -> Result<()> {
    use std::io::Read;
    let Ok(secret) = std::env::var(SECRET_ENV) else {
        bail!("{SECRET_ENV} is not set: it holds the secret to sign with");
    };
    let secret = Secret::new(args.scheme.into(), &secret)
        .with_context(|| format!("{SECRET_ENV} is not a usable secret"))?;
    let mut body = Vec::new();
    if args.body.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body)?;
    } else {
        body = std::fs::read(&args.body)
            .with_context(|| format!("{}: cannot read", args.body.display()))?;
    }
    let t = args.timestamp.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    for (name, value) in secret.signature_headers(&args.id, t, &body) {
        println!("{name}: {value}");
    }
    Ok(())
}

fn bench_http(args: BenchHttpArgs) -> Result<()> {
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v < 86_400.0 {
            Ok(std::time::Duration::from_secs_f64(v))
        } else {
            bail!("--{name} must be a positive number of seconds, got {v}")
        }
    };
    if !(args.fraction > 0.0 && args.fraction <= 1.0) {
        bail!("--fraction must be in (0, 1], got {}", args.fraction);
    }
    if args.rate == Some(0) || args.connections == 0 {
        bail!("--rate and --connections must be positive");
    }
    let server = match args.target {
        None => bench::Server::InProcess { store: args.store },
        Some(url) => {
            let addr = bench::target_addr(&url)?;
            let secret = std::env::var(SECRET_ENV).ok();
            if secret.is_none() && args.endpoints.contains(&Endpoint::Webhook) {
                bail!(
                    "{SECRET_ENV} is not set: with --target, webhook deliveries are signed with \
                     the secret the target checks them with"
                );
            }
            bench::Server::Remote { addr, secret }
        }
    };
    let opts = BenchOptions {
        endpoints: args.endpoints,
        connections: args.connections,
        step: secs("step", args.step)?,
        measure: secs("duration", args.duration)?,
        fraction: args.fraction,
        rate: args.rate,
        max_rate: args.max_rate,
        out: args.out,
        server,
        scheme: args.signature_scheme.into(),
        shape: args.payload_shape.into(),
    };
    let rows = bench::run(&opts)?;
    print!("{}", bench::table(&rows));
    if let Some(failed) = bench::failed_endpoints(&rows) {
        bail!("no request succeeded on {failed}: the figures above time error answers");
    }
    Ok(())
}

/// clap's names for the core's enums: the core has no command-line dependency, so each gets a
/// twin here and a conversion.
macro_rules! value_enum {
    ($(#[$doc:meta])* $arg:ident => $core:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        enum $arg {
            $($variant),+
        }

        impl From<$arg> for $core {
            fn from(a: $arg) -> Self {
                match a {
                    $($arg::$variant => $core::$variant),+
                }
            }
        }
    };
}

value_enum!(
    /// How webhook deliveries are signed.
    SchemeArg => Scheme { Blooio, Standard }
);
value_enum!(
    /// The body shape of emitted deliveries (docs/provider.md).
    ShapeArg => PayloadShape { V2, Legacy, V4 }
);
value_enum!(
    /// A protocol accepted for verification; `unknown` is a missing or unrecognised one.
    ProtocolArg => Protocol { Imessage, Sms, Rcs, NonImessage, Unknown }
);
