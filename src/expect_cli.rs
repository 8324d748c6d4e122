//! Expectations for `mo2fa run`: the scenario's `[expect]` table (taken out before the
//! simulator parses the rest) and `--expect` flags, checked against the run's summary.json.
//! A failed expectation is the one error that exits with status 3.

use anyhow::{Context, Result};
use mo2fa_decide::expect::{self, Expectation, Failed};
use mo2fa_decide::source::Source;
use mo2fa_sim::scenario::Scenario;
use std::path::Path;

/// Exit status of a run, sweep or merge whose expectations failed; used for nothing else.
pub const EXPECT_FAILED: u8 = 3;

/// The scenario at `path` without its `[expect]` table, and every expectation (the table's
/// and `flags`), parsed: a typo in a metric name fails here, before anything runs.
pub fn load(path: &Path, flags: &[String]) -> Result<(Scenario, Vec<Expectation>)> {
    let source = Source::read(path)?;
    let sc = source.scenario()?;
    let expect = expect::parse_all(&source.expect, flags)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{}: expectations", path.display()))?;
    Ok((sc, expect))
}

/// Checks `expect` against `out/summary.json`, printing each one met.
pub fn check_run(expect: &[Expectation], out: &Path) -> Result<()> {
    if expect.is_empty() {
        return Ok(());
    }
    let summary = expect::read_summary(out).map_err(anyhow::Error::msg)?;
    for line in expect::check_run(expect, &summary)? {
        println!("{line}");
    }
    Ok(())
}

/// The process's exit status for an error: 3 when expectations failed, else 1.
pub fn exit_code(e: &anyhow::Error) -> std::process::ExitCode {
    if e.downcast_ref::<Failed>().is_some() {
        std::process::ExitCode::from(EXPECT_FAILED)
    } else {
        std::process::ExitCode::FAILURE
    }
}
