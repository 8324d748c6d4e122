//! Load shards for several machines: `mo2fa live merge` and `mo2fa bench merge` (the shards of
//! one live replay or bench run added up, `mo2fa_harness::merge`), the `--shard I/N` flag of
//! `run --live` and `bench http`, and the load reports' `--expect` (docs/expect.md's bench and
//! live names; exit status 3 as for a run).

use anyhow::{Context, Result};
use clap::Args;
use mo2fa_decide::expect::{self, Expectation};
use mo2fa_decide::metrics::Catalogue;
use mo2fa_harness::merge;
use mo2fa_harness::shard::Shard;
use std::path::{Path, PathBuf};

const LIVE_EXAMPLE: &str = "Example (two machines, then one merge):
  mo2fa run S.toml --live --speed 1000 --shard 0/2 --out out/shard-0
  mo2fa run S.toml --live --speed 1000 --shard 1/2 --out out/shard-1
  mo2fa live merge out/shard-0 out/shard-1 --out out/live --expect 'webhook.p99_ms < 5'";

const BENCH_EXAMPLE: &str = "Example (two machines, then one merge):
  mo2fa bench http --target http://10.0.0.5:8080 --rate 20000 --shard 0/2 --out out/shard-0
  mo2fa bench http --target http://10.0.0.5:8080 --rate 20000 --shard 1/2 --out out/shard-1
  mo2fa bench merge out/shard-0 out/shard-1 --out out/bench --expect 'webhook.p99_ms < 2'";

#[derive(Args)]
#[command(after_help = LIVE_EXAMPLE)]
pub(crate) struct LiveMergeArgs {
    /// The shards' directories: each a `run --live --shard I/N` output directory (or its
    /// live/), or an earlier merge. Every shard of one replay, each once.
    dirs: Vec<PathBuf>,
    /// Where the merged live.json, live.md, latency.html and histograms go.
    #[arg(long)]
    out: PathBuf,
    /// An expectation the merged replay must meet, e.g. 'webhook.p99_ms < 5' or
    /// 'agreement >= 99%' (docs/expect.md, "Live metrics"); repeatable; exits 3 when one fails.
    #[arg(long)]
    expect: Vec<String>,
}

#[derive(Args)]
#[command(after_help = BENCH_EXAMPLE)]
pub(crate) struct BenchMergeArgs {
    /// The shards' `bench http --shard I/N --out` directories (or earlier merges). Every shard
    /// of one run, each once.
    dirs: Vec<PathBuf>,
    /// Where the merged bench.json, latency.html and histograms go.
    #[arg(long)]
    out: PathBuf,
    /// An expectation the merged run must meet, e.g. 'webhook.p99_ms < 2' (docs/expect.md,
    /// "Bench metrics"); repeatable; exits 3 when one fails.
    #[arg(long)]
    expect: Vec<String>,
}

/// `--shard I/N` as the harness takes it (the flag's text is checked by the sweep's parser,
/// the one reader of `I/N`).
pub(crate) fn shard(flag: Option<mo2fa_decide::grid::Shard>) -> Result<Shard> {
    Ok(flag.map_or(Ok(Shard::WHOLE), |s| Shard::new(s.index, s.count))?)
}

/// The `--expect` flags of a load command, parsed against `catalogue`'s names before anything
/// runs.
pub(crate) fn expectations(catalogue: Catalogue, flags: &[String]) -> Result<Vec<Expectation>> {
    expect::parse_all_in(catalogue, &[], flags)
        .map_err(anyhow::Error::msg)
        .context("--expect")
}

/// Prints each expectation met; a failure is [`expect::Failed`] (exit status 3).
pub(crate) fn report(checked: Result<Vec<String>, expect::Failed>) -> Result<()> {
    for line in checked? {
        println!("{line}");
    }
    Ok(())
}

pub(crate) fn live_merge(args: LiveMergeArgs) -> Result<()> {
    let expect = expectations(Catalogue::Live, &args.expect)?;
    let json = merge::live::merge(&args.dirs, &args.out)?;
    print!("{}", read(&args.out.join("live.md"))?);
    println!(
        "wrote {}/{{live.json,live.md,latency.html,<endpoint>.hgrm,<endpoint>.hdr,throughput.csv,shard.json}}",
        args.out.display()
    );
    report(expect::check_run(&expect, &merge::live::metrics(&json)))
}

pub(crate) fn bench_merge(args: BenchMergeArgs) -> Result<()> {
    let expect = expectations(Catalogue::Bench, &args.expect)?;
    let json = merge::bench::merge(&args.dirs, &args.out)?;
    print!("{}", merge::bench::table(&json));
    println!(
        "{} shards merged (latency: their histograms added); wrote {}/{{bench.json,latency.html,<endpoint>.hgrm,<endpoint>.hdr,shard.json}}",
        json["shards"]["count"],
        args.out.display()
    );
    report(expect::check_run(&expect, &merge::bench::metrics(&json)))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}
