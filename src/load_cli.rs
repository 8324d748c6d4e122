//! The load commands: `bench http` (open-loop saturation and latency), `soak` (a steady run
//! checking exactly-once and flat memory) and `load` (goose's closed loop): their flags, and
//! the call into the harness.

use crate::args::{self, EndpointArg, RuntimeArg, SECRET_ENV, TargetArgs};
use crate::progress;
use anyhow::{Result, bail};
use clap::Args;
use mo2fa_harness::bench::{self, BenchOptions, Endpoint};
use mo2fa_harness::server::StoreUrl;
use mo2fa_harness::target::TargetUrl;

#[derive(Args)]
pub(crate) struct SoakArgs {
    /// How long to run (e.g. `90s`, `2h`; a plain number is seconds), at most `1d`.
    #[arg(long = "duration", value_name = "DURATION", default_value = "60s", value_parser = args::seconds)]
    duration_s: f64,
    /// Flows started per second.
    #[arg(long = "rate", value_name = "RATE", default_value_t = 2000.0)]
    rate_per_s: f64,
    /// Challenge lifetime, whole seconds (short, so they expire constantly); default 5 s in
    /// process, and with --target the profile's short lifetime (mo2fa's: 10 s, serve's
    /// shortest --min-ttl), else its lifetime.
    #[arg(long = "ttl", value_name = "TTL", value_parser = args::positive_millis)]
    ttl_ms: Option<u64>,
    /// Concurrent client connections (the load generator's, not server threads).
    #[arg(long, default_value_t = 32, alias = "workers")]
    connections: usize,
    /// Soak an already running verifier at http://HOST:PORT instead of an in-process server,
    /// as its --profile says (deliveries signed with the secret in MO2FA_WEBHOOK_SECRET).
    /// Checks the profile cannot see, and the target's memory, are listed as not checked.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    #[command(flatten)]
    to: TargetArgs,
}

#[derive(Args)]
pub(crate) struct LoadArgs {
    /// Base URL of a running server (e.g. http://127.0.0.1:8080); default: start one
    /// in-process on 127.0.0.1 with a secret of its own.
    #[arg(long)]
    target: Option<String>,
    /// Concurrent users, each running one transaction at a time.
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Users started per second.
    #[arg(long = "hatch-rate", value_name = "HATCH_RATE", default_value_t = 10.0)]
    hatch_rate_per_s: f64,
    /// How long to run once all users have started, whole seconds (e.g. `30s`, `10m`; a plain
    /// number is seconds; `--run-time` is an old name for it).
    #[arg(long = "duration", value_name = "DURATION", default_value = "30s", value_parser = args::positive_millis, alias = "run-time")]
    duration_ms: u64,
    /// Show goose's own log lines (users launched, run phases) and print its tables (also in
    /// goose.md) after the summary; -vv adds its debug lines.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
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
    #[command(flatten)]
    to: TargetArgs,
}

#[derive(Args)]
pub(crate) struct BenchHttpArgs {
    /// Endpoints to measure; repeat for several.
    #[arg(long = "endpoint", value_enum, default_values_t = [EndpointArg::Healthz, EndpointArg::Start, EndpointArg::Status, EndpointArg::Webhook])]
    endpoints: Vec<EndpointArg>,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of each step of the saturation search (e.g. `2s`; a plain number is seconds).
    /// The search starts at 4,000/s and doubles the offered rate while a step keeps up
    /// (achieves at least 90 % of it with p99 at most 50 ms); a step that does not is run again
    /// at the same rate, and two failing steps in a row stop the doubling; it then bisects
    /// between the last rate that kept up and the first that failed, to within 1/32 of it.
    /// Repeated steps print their spread. The saturation (the table's saturation/s) is the highest rate a step reached
    /// while keeping up.
    #[arg(long = "step", value_name = "STEP", default_value = "2s", value_parser = args::seconds)]
    step_s: f64,
    /// Length of the latency measurement (e.g. `5s`; a plain number is seconds).
    #[arg(long = "duration", value_name = "DURATION", default_value = "5s", value_parser = args::seconds)]
    duration_s: f64,
    /// Measure latency at this fraction of the saturation throughput.
    #[arg(long, default_value_t = 0.5)]
    fraction: f64,
    /// Measure latency at this offered rate (requests/s) instead; skips the search.
    #[arg(long = "rate", value_name = "RATE")]
    rate_per_s: Option<u64>,
    /// Highest rate the search offers (requests/s).
    #[arg(long = "max-rate", value_name = "MAX_RATE", default_value_t = 256_000)]
    max_rate_per_s: u64,
    /// Challenge store of the server under test: `memory` or a Redis URL.
    #[arg(long, default_value = "memory", conflicts_with = "target")]
    store: String,
    /// How the server under test's threads share its connections, as `serve --runtime` (one
    /// thread per core either way).
    #[arg(long, value_enum, default_value_t = RuntimeArg::WorkStealing, conflicts_with = "target")]
    runtime: RuntimeArg,
    /// Benchmark an already running server at http://HOST:PORT instead of starting one; only
    /// that address is sent requests. Challenges are made on it as its --profile says, and
    /// webhook deliveries are signed with the secret in MO2FA_WEBHOOK_SECRET (the target's).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// The --target's process id, when it runs on this host: its CPU per request is printed
    /// beside the load generator's.
    #[arg(long = "target-pid", value_name = "PID", requires = "target")]
    target_pid: Option<u32>,
    #[command(flatten)]
    to: TargetArgs,
    /// Write <endpoint>.hgrm percentile tables, .hlog interval logs, latency.html (the
    /// percentile plot) and bench.json (with the time, git commit, host and cores) here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Run the I-th of N shards (I from 0 to N-1): offer 1/N of each step's rate, e.g. from
    /// N machines at one --target; `bench merge` adds up their --out directories.
    #[arg(long, value_name = "I/N", requires = "out")]
    shard: Option<mo2fa_decide::grid::Shard>,
    /// An expectation the run must meet, e.g. 'webhook.p99_ms < 2' (docs/expect.md, "Bench
    /// metrics"); repeatable; exits 3 when one fails. A shard checks none: give them to
    /// `bench merge`.
    #[arg(long)]
    expect: Vec<String>,
}

/// The server `bench http` measures: one started in process, or `--target` with its profile.
fn bench_server(args: &BenchHttpArgs, endpoints: &[Endpoint]) -> Result<bench::Server> {
    Ok(match &args.target {
        None => bench::Server::InProcess {
            store: StoreUrl::parse("--store", &args.store)?,
            runtime: args.runtime.into(),
        },
        Some(url) => {
            let addr = TargetUrl::parse(url, false)?.authority;
            let profile = args.to.profile()?;
            let secret = std::env::var(SECRET_ENV).ok();
            let signed = profile.webhook.signature.core().is_some();
            if secret.is_none() && signed && endpoints.contains(&Endpoint::Webhook) {
                bail!(
                    "{SECRET_ENV} is not set: with --target, webhook deliveries are signed with \
                     the secret the target checks them with"
                );
            }
            if let Some(pid) = args.target_pid
                && mo2fa_harness::cpu::process_ticks(pid).is_none()
            {
                bail!("--target-pid {pid}: no such process on this host (read from /proc)");
            }
            bench::Server::Remote {
                addr,
                secret,
                profile: Box::new(profile),
                pid: args.target_pid,
            }
        }
    })
}

pub(crate) fn bench_http(args: BenchHttpArgs) -> Result<()> {
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
    if args.rate_per_s == Some(0) || args.connections == 0 {
        bail!("--rate and --connections must be positive");
    }
    let expect =
        crate::merge_cli::expectations(mo2fa_decide::metrics::Catalogue::Bench, &args.expect)?;
    let shard = crate::merge_cli::shard(args.shard)?;
    let endpoints: Vec<Endpoint> = args.endpoints.iter().copied().map(Into::into).collect();
    let server = bench_server(&args, &endpoints)?;
    let opts = BenchOptions {
        endpoints,
        connections: args.connections,
        step: secs("step", args.step_s)?,
        measure: secs("duration", args.duration_s)?,
        fraction: args.fraction,
        rate_per_s: args.rate_per_s,
        max_rate_per_s: args.max_rate_per_s,
        out: args.out,
        server,
        scheme: args.to.scheme(),
        shape: args.to.shape(),
        shard,
        retry: args.to.retry()?,
    };
    for (endpoint, why) in bench::not_measured(&opts) {
        eprintln!("  {:8} not measured: {why}", endpoint.name());
    }
    let rows = bench::run(&opts)?;
    print!("{}", bench::table(&rows));
    if let Some(dir) = &opts.out {
        println!(
            "wrote {}/{{bench.json,latency.html,<endpoint>.hgrm,<endpoint>.service.hgrm,<endpoint>.hlog}}",
            dir.display()
        );
    }
    if let Some(failed) = bench::failed_endpoints(&rows) {
        bail!("no request succeeded on {failed}: the figures above time error answers");
    }
    if shard.count > 1 {
        if !expect.is_empty() {
            println!("shard {shard}: expectations are checked on the whole run: `bench merge`");
        }
        return Ok(());
    }
    let metrics = mo2fa_harness::merge::bench::metrics(&bench::summary(&opts, &rows));
    crate::merge_cli::report(mo2fa_decide::expect::check_run(&expect, &metrics))
}

/// The soak's flags that clap cannot check alone.
fn check_soak(args: &SoakArgs) -> Result<()> {
    if args.duration_s > 86_400.0 {
        bail!("--duration must be at most 1d, got {} s", args.duration_s);
    }
    if !(args.rate_per_s.is_finite() && args.rate_per_s > 0.0) {
        bail!("--rate must be a positive number of flows per second");
    }
    if args.connections == 0 {
        bail!("--connections must be positive");
    }
    if let Some(ttl_ms) = args.ttl_ms
        && !ttl_ms.is_multiple_of(1000)
    {
        bail!(
            "--ttl must be a whole number of seconds, got {}",
            args::show_secs(ttl_ms)
        );
    }
    Ok(())
}

/// The soak's `--target`, with its profile and the secret its deliveries are signed with.
fn soak_target(args: &SoakArgs) -> Result<Option<mo2fa_harness::soak::SoakTarget>> {
    Ok(match &args.target {
        None => None,
        Some(url) => {
            let addr = TargetUrl::parse(url, false)?.authority;
            let profile = args.to.profile()?;
            let secret = match profile.webhook.signature.core() {
                None => None,
                Some(scheme) => {
                    let Ok(s) = std::env::var(SECRET_ENV) else {
                        bail!(
                            "{SECRET_ENV} is not set: profile {} signs deliveries, so --target \
                             needs the secret the target checks them with",
                            profile.name
                        );
                    };
                    Some(mo2fa_core::webhook::Secret::new(scheme, &s)?)
                }
            };
            Some(mo2fa_harness::soak::SoakTarget {
                addr,
                profile,
                secret,
            })
        }
    })
}

pub(crate) fn soak(args: SoakArgs) -> Result<()> {
    check_soak(&args)?;
    let target = soak_target(&args)?;
    // In process the soak's server takes any lifetime; a target takes what its profile asks.
    let ttl_secs = match (args.ttl_ms, &target) {
        (Some(ms), _) => ms / 1000,
        (None, None) => 5,
        (None, Some(t)) => t
            .profile
            .start
            .short_ttl_seconds
            .unwrap_or(t.profile.start.ttl_seconds),
    };
    let opts = mo2fa_harness::soak::SoakOptions {
        duration: std::time::Duration::from_secs_f64(args.duration_s),
        rate_per_s: args.rate_per_s,
        ttl_secs,
        connections: args.connections,
        shape: args.to.shape(),
        scheme: args.to.scheme(),
        retry: args.to.retry()?,
        target,
    };
    let line = progress::SoakProgress::new(args.duration_s.ceil() as u64);
    let report = mo2fa_harness::soak::run(&opts, &|secs, counts, pending| {
        line.update(secs, counts, pending)
    });
    line.finish();
    let report = report?;
    print!("{}", report.table());
    if !report.ok() {
        println!(
            "FAIL: {} problem(s) (listed above as PROBLEM)",
            report.problems.len()
        );
        bail!("soak found {} problem(s)", report.problems.len());
    }
    if !report.not_checked.is_empty() {
        println!(
            "PASS for what could be seen: no check that could be made failed; the NOT CHECKED \
             lines above were not checked"
        );
        return Ok(());
    }
    println!("PASS: every flow that sent its code verified exactly once; memory stayed bounded");
    Ok(())
}

#[cfg(not(feature = "load"))]
pub(crate) fn load(_: LoadArgs) -> Result<()> {
    bail!(
        "this mo2fa was built without goose: `load` needs `cargo build --release --features load` \
         (left out by default because its TLS stack takes minutes to compile)"
    )
}

#[cfg(feature = "load")]
/// `load`'s `--target`: a base URL with its profile and the secret deliveries are signed with.
fn load_target(args: &LoadArgs) -> Result<mo2fa_harness::closed::Target> {
    use mo2fa_harness::closed::Target;
    Ok(match args.target.clone() {
        None => Target::InProcess,
        Some(base) => {
            let profile = args.to.profile()?;
            let secret = std::env::var(&args.secret_env).ok();
            if secret.is_none() && profile.webhook.signature.core().is_some() {
                bail!(
                    "{} is not set: with --target it holds the secret the server checks \
                     webhooks with",
                    args.secret_env
                );
            }
            Target::Url {
                base,
                secret,
                profile: Box::new(profile),
            }
        }
    })
}

#[cfg(feature = "load")]
/// `reports/load-<UTC date and time>`, where `load` writes without `--out`.
fn default_load_dir() -> std::path::PathBuf {
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
}

#[cfg(feature = "load")]
pub(crate) fn load(args: LoadArgs) -> Result<()> {
    use anyhow::Context as _;
    use mo2fa_harness::closed::{self, LoadOptions, Mix, Target};
    let mix: Mix = args
        .mix
        .parse()
        .map_err(|e| anyhow::anyhow!("--mix: {e}"))?;
    if args.users == 0 || args.users > 100_000 {
        bail!("--users must be between 1 and 100000, got {}", args.users);
    }
    if !(args.hatch_rate_per_s.is_finite() && args.hatch_rate_per_s > 0.0) {
        bail!("--hatch-rate must be a positive number of users per second");
    }
    if !args.duration_ms.is_multiple_of(1000) || args.duration_ms > 86_400_000 {
        bail!(
            "--duration must be a whole number of seconds up to 1d (goose counts in seconds), \
             got {}",
            args::show_secs(args.duration_ms)
        );
    }
    let target = load_target(&args)?;
    let in_process = matches!(target, Target::InProcess);
    let out = args.out.clone().unwrap_or_else(default_load_dir);
    let report = closed::run(&LoadOptions {
        target,
        users: args.users,
        hatch_rate: args.hatch_rate_per_s,
        run_time_secs: (args.duration_ms / 1000) as usize,
        mix,
        out: out.clone(),
        scheme: args.to.scheme(),
        shape: args.to.shape(),
        retry: args.to.retry()?,
    })
    .with_context(|| format!("load run (reports in {})", out.display()))?;
    print!("{}", report.table());
    println!(
        "wrote {}/{{goose.html,goose.md,load.json,load.md}}",
        out.display()
    );
    if args.verbose > 0 {
        let tables = out.join("goose.md");
        let text = std::fs::read_to_string(&tables)
            .with_context(|| format!("{}: cannot read", tables.display()))?;
        print!("\ngoose's tables ({}):\n\n{text}", tables.display());
    }
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
