//! `mo2fa audit`: the attack suite of `mo2fa-target` against any reverse-2FA verifier, through
//! a profile. Prints the plan before anything is sent (`--dry-run` stops there), writes
//! audit.json, audit.md and report.html, and exits 3 when a case fails (status 3: a check
//! you asked for failed, as for `--expect`; `expect_cli::CHECK_FAILED`).

use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_target::audit::{self, Options};
use mo2fa_target::client::Target;
use mo2fa_target::profile::Profile;
use mo2fa_target::{report, safety};
use std::path::PathBuf;
use std::time::Duration;

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
#[command(after_help = crate::expect_cli::EXIT_STATUS)]
pub(crate) struct AuditArgs {
    /// Base URL of the verifier under test, http://HOST[:PORT][/PREFIX]. Loopback only,
    /// unless --allow-host names the host.
    #[arg(long, value_name = "URL")]
    target: String,
    /// A built-in profile (mo2fa, blooio-demo) or a profile file (TOML; docs/audit.md).
    #[arg(long, default_value = "mo2fa", value_name = "NAME|FILE")]
    profile: String,
    /// Output directory for audit.json, audit.md and report.html.
    #[arg(long, default_value = "reports/audit")]
    out: PathBuf,
    /// A host beyond loopback the audit may send to (repeat for several). Every address the
    /// target's host resolves to must be loopback or allowed.
    #[arg(long, value_name = "HOST")]
    allow_host: Vec<String>,
    /// Environment variable holding the target's webhook secret (deliveries are signed with it
    /// unless the profile's webhook.signature is "none").
    #[arg(long, default_value = "MO2FA_WEBHOOK_SECRET")]
    secret_env: String,
    /// Print the plan and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Starts sent by the start-flood case (at most 20,000).
    #[arg(long, default_value_t = 300)]
    flood: usize,
    /// Wrong codes sent by the guessing case (at most 10,000).
    #[arg(long, default_value_t = 120)]
    guesses: usize,
    /// Guesses per second (at most 1,000).
    #[arg(long, default_value_t = 40.0)]
    guess_rate: f64,
    /// Seconds the slow-body case trickles before calling the target stuck (1 to 120).
    #[arg(long, default_value_t = 15)]
    slow_budget: u64,
    /// Run only cases whose id starts with this (e.g. `signatures.`); repeat for several.
    #[arg(long = "case", value_name = "PREFIX")]
    cases: Vec<String>,
}

pub(crate) fn run(args: AuditArgs) -> Result<()> {
    let profile = Profile::resolve(&args.profile).context("--profile")?;
    let opts = Options {
        flood: args.flood,
        guesses: args.guesses,
        guess_rate_per_s: args.guess_rate,
        slow_budget: Duration::from_secs(args.slow_budget),
        only: args.cases.clone(),
    };
    if let Err(e) = opts.check() {
        bail!("{e}");
    }
    let known = audit::all_cases();
    for prefix in &opts.only {
        if !known.iter().any(|c| c.id.starts_with(prefix.as_str())) {
            bail!("--case {prefix:?} matches no case (see docs/audit.md for the ids)");
        }
    }
    let conn = safety::resolve(&args.target, &args.allow_host, REQUEST_TIMEOUT)?;
    print!("{}", audit::plan(&args.target, &profile, &opts));
    println!("  every request goes to {} only", conn.addr);
    if args.dry_run {
        println!("dry run: nothing was sent");
        return Ok(());
    }
    let secret = match profile.webhook.signature.core() {
        None => None,
        Some(_) => Some(std::env::var(&args.secret_env).with_context(|| {
            format!(
                "{} is not set: profile {} signs deliveries ({}), so the audit needs the \
                 target's webhook secret",
                args.secret_env,
                profile.name,
                profile.webhook.signature.as_str()
            )
        })?),
    };
    // Ids and senders unique to this run: the target may remember earlier runs.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_micros()));
    let target = Target::new(conn, profile, secret.as_deref(), nonce)?;
    let result =
        audit::run_blocking(&args.target, &target, &opts).context("starting the async runtime")?;
    report::write(&args.out, &result)?;
    print!("{}", report::table(&result));
    println!("{}", report::headline(&result));
    println!(
        "wrote {}/{{audit.json,audit.md,report.html}}",
        args.out.display()
    );
    if result.failed() {
        let failed = result.count(mo2fa_target::audit::Verdict::Fail);
        return Err(crate::expect_cli::AuditFailed { failed }.into());
    }
    Ok(())
}
