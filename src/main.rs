//! The `mo2fa` command line: each subcommand's handler (in its `*_cli` module) parses its
//! flags, calls one crate function and prints. Errors become `anyhow` reports here and nowhere
//! else.

#![forbid(unsafe_code)]

mod args;
mod audit_cli;
mod cost_cli;
mod diff_cli;
mod expect_cli;
mod import_cli;
mod incidents_cli;
mod load_cli;
mod merge_cli;
mod progress;
mod run_cli;
mod serve_cli;
mod sign_cli;
mod sweep_cli;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use load_cli::{BenchHttpArgs, LoadArgs, SoakArgs};
use run_cli::{NewScenarioArgs, RunArgs};
use serve_cli::ServeArgs;
use sign_cli::SignArgs;

#[derive(Parser)]
#[command(
    name = "mo2fa",
    version,
    about = "Reverse (mobile-originated) 2FA verifier and fraud-simulation harness",
    after_help = expect_cli::EXIT_STATUS
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
    /// Attack suite against any reverse-2FA verifier through a profile (docs/audit.md);
    /// writes audit.json, audit.md and report.html; exits 3 when a case fails (3: a check you
    /// asked for failed, as for --expect).
    Audit(crate::audit_cli::AuditArgs),
    /// Read real OTP send logs; writes summary.json, summary.md and report.html (docs/import.md).
    Import(Box<import_cli::ImportArgs>),
    /// Fit a scenario (legit traffic, attacks as attackers) to a real OTP send log.
    Fit(import_cli::FitArgs),
    /// Run a scenario's grid of settings × seeds on every core: sweep.csv (means and 95 %
    /// intervals), report.html (Pareto chart: pumped USD against legit users blocked).
    Sweep(crate::sweep_cli::SweepArgs),
    /// Compare two runs' outputs (run, sweep or bench directories), largest changes first.
    Diff(crate::diff_cli::DiffArgs),
    /// Live replays (`run --live`) from several machines.
    #[command(subcommand)]
    Live(LiveCommand),
}

#[derive(Subcommand)]
enum LiveCommand {
    /// Merge the shards of one live replay (`run --live --shard I/N`): histograms added,
    /// counts summed; writes live.json, live.md, latency.html.
    Merge(merge_cli::LiveMergeArgs),
}

#[derive(Subcommand)]
enum NewCommand {
    /// A scenario file with every section and key, commented; check it with `run --check`.
    Scenario(NewScenarioArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Saturation throughput of each endpoint (of an in-process server on loopback, or of
    /// --target), then open-loop latency percentiles (measured from scheduled send times) at a
    /// fraction of it or at a fixed rate.
    Http(Box<BenchHttpArgs>),
    /// Merge the shards of one `bench http --shard I/N` run: histograms added, counts summed;
    /// writes bench.json and latency.html.
    Merge(merge_cli::BenchMergeArgs),
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
    // A file with several mistakes gives one `file:line: key: message` line each.
    for l in line.lines() {
        eprintln!("error: {l}");
    }
    expect_cli::exit_code(&e)
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    init_logging(&cli);
    check_worker_threads_env()?;
    match cli.command {
        Command::Serve(args) => serve_cli::serve(*args),
        Command::Cost(args) => {
            print!("{}", crate::cost_cli::run(&args)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Http(args)) => load_cli::bench_http(*args),
        Command::Bench(BenchCommand::Merge(args)) => merge_cli::bench_merge(args),
        Command::Live(LiveCommand::Merge(args)) => merge_cli::live_merge(args),
        Command::Run(args) => run_cli::run(args),
        Command::Incidents(args) => incidents_cli::run(args),
        Command::Sign(args) => sign_cli::sign(args),
        Command::New(NewCommand::Scenario(args)) => run_cli::new_scenario(args),
        Command::Soak(args) => load_cli::soak(args),
        Command::Load(args) => load_cli::load(args),
        Command::Audit(args) => audit_cli::run(args),
        Command::Import(args) => import_cli::import(*args),
        Command::Fit(args) => import_cli::fit(args),
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
