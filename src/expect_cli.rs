//! Expectations for `mo2fa run`: the scenario's `[expect]` table (taken out before the
//! simulator parses the rest) and `--expect` flags, checked against the run's summary.json.
//! Exit status 3 means "a check you asked for failed": a failed expectation (of `run`,
//! `sweep`, `sweep merge`, `bench http`, `bench merge`, `live merge`) or a failed `audit`
//! case. [`exit_code`] is the only place that chooses it; every other error exits 1 (clap's
//! usage errors 2).

use anyhow::{Context, Result};
use mo2fa_decide::expect::{self, Expectation, Failed};
use mo2fa_decide::source::Source;
use mo2fa_sim::scenario::Scenario;
use std::path::Path;

/// Exit status when a check the user asked for failed: an expectation or an audit case.
/// Used for nothing else.
pub const CHECK_FAILED: u8 = 3;

/// The exit statuses, as `mo2fa --help` and `mo2fa audit --help` print them.
pub const EXIT_STATUS: &str = "Exit status: 0 done; 1 an error; 2 a command line clap refuses; 3 a check you asked \
for failed (an --expect or [expect] expectation of run, sweep, sweep merge, bench http, bench \
merge or live merge, or an audit case). Nothing else exits 3.";

/// `mo2fa audit` found failing cases (its report is written): exits [`CHECK_FAILED`], as a
/// failed expectation does (issue #29).
#[derive(Debug)]
pub struct AuditFailed {
    pub failed: usize,
}

impl std::fmt::Display for AuditFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} audit case(s) failed (audit.md lists them)",
            self.failed
        )
    }
}

impl std::error::Error for AuditFailed {}

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

/// The process's exit status for an error: [`CHECK_FAILED`] when expectations or audit cases
/// failed, else 1.
pub fn exit_code(e: &anyhow::Error) -> std::process::ExitCode {
    if e.downcast_ref::<Failed>().is_some() || e.downcast_ref::<AuditFailed>().is_some() {
        std::process::ExitCode::from(CHECK_FAILED)
    } else {
        std::process::ExitCode::FAILURE
    }
}
