//! `mo2fa run` (a scenario in virtual time, and with `--live` over real HTTP) and `mo2fa new
//! scenario`: their flags, and the calls into the simulator and the harness.

use crate::args::{self, ShapeArg};
use crate::progress;
use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_harness::live::{self, Behind, LiveOptions};
use mo2fa_harness::scenario_run::{Run, RunOptions, Simulated};
use mo2fa_import::emit::{LogFormat, Record};
use mo2fa_sim::engine::Control;
use mo2fa_sim::engine::{SmsFate, SmsLog};
use mo2fa_sim::flow::Flow;
use mo2fa_sim::trace::Trace;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Scenario file (see scenarios/README.md).
    scenario: std::path::PathBuf,
    /// Only check the scenario: print OK and a one-line summary, or the error with its
    /// file:line:key, and exit without running it.
    #[arg(long, conflicts_with = "live")]
    check: bool,
    /// Replace the reports in the output directory even if another run (another scenario,
    /// seed or duration) wrote them; without it such a run stops before it starts.
    #[arg(long)]
    force: bool,
    /// Override the scenario's seed (an unsigned integer).
    #[arg(long, allow_hyphen_values = true, value_parser = args::seed)]
    seed: Option<u64>,
    /// Output directory; default reports/<scenario name>.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Override the scenario's duration (e.g. `2h`, `30m`; a plain number is seconds).
    #[arg(long = "duration", value_name = "DURATION", value_parser = args::positive_millis)]
    duration_ms: Option<u64>,
    /// After the virtual run, replay its requests over real HTTP against in-process servers
    /// on 127.0.0.1, open loop, and compare every answer; writes <out>/live/. Exits non-zero
    /// when the verifications differ or the replay fell behind schedule (it then stops).
    #[arg(long)]
    live: bool,
    /// Virtual seconds per wall second in the live replay; required with --live (a day at
    /// 1x would take a day): e.g. 1000 replays a day in about 90 s. Too high and the replay
    /// falls behind, stops and names a speed the servers sustained.
    #[arg(long, requires = "live", value_parser = args::speed)]
    speed: Option<f64>,
    /// Keep-alive connections per live server.
    #[arg(long, default_value_t = 64, requires = "live")]
    connections: usize,
    /// Body shape of the live replay's deliveries (default: the scenario's emitter.shape,
    /// itself v2 unless set).
    #[arg(long, value_enum, requires = "live")]
    payload_shape: Option<ShapeArg>,
    /// Replay the reverse flow against this running verifier (http://HOST:PORT) instead of an
    /// in-process server, speaking to it as --profile says; deliveries are signed with the
    /// secret in MO2FA_WEBHOOK_SECRET. The SMS flow is then not replayed, and what the
    /// profile cannot see is listed, never counted as agreeing.
    #[arg(long, value_name = "URL", requires = "live")]
    target: Option<String>,
    /// How to talk to the --target: a built-in profile (mo2fa, blooio-demo) or a TOML file
    /// (docs/audit.md lists its keys).
    #[arg(
        long,
        value_name = "NAME|FILE",
        default_value = "mo2fa",
        requires = "target"
    )]
    profile: String,
    /// An expectation the run must meet, e.g. 'cost_model_usd.sms_flow.pumped_sms < $500'
    /// (docs/expect.md); repeatable, besides the scenario's [expect]. Exits 3 when one fails.
    #[arg(long)]
    expect: Vec<String>,
    /// With --live: replay only the I-th of N slices of the trace (I from 0 to N-1), split by
    /// user so every flow stays on one shard; `mo2fa live merge` adds up the shards' outputs.
    #[arg(long, value_name = "I/N", requires = "live")]
    shard: Option<mo2fa_decide::grid::Shard>,
    /// Also write the run's simulated SMS traffic as a log `mo2fa import` reads, in FORMAT:
    /// twilio-verify-attempts, twilio-messaging (console CSV), twilio-bulkexport,
    /// aws-sms-events, csv, or all; repeatable or a comma list. Files: <out>/traffic.* (the
    /// sms flow), <out>/traffic-reverse.* (the reverse flow's outbound fallback); see
    /// docs/import.md.
    #[arg(
        long = "emit-log",
        value_name = "FORMAT",
        value_delimiter = ',',
        conflicts_with = "live"
    )]
    emit_log: Vec<String>,
}

/// Set by Ctrl-C: the run stops at its next check and still writes its partial reports.
static INTERRUPT: AtomicBool = AtomicBool::new(false);

pub(crate) fn run(args: RunArgs) -> Result<()> {
    let emit = emit_formats(&args.emit_log)?;
    let (sc, expect) = crate::expect_cli::load(&args.scenario, &args.expect)?;
    let run = Run::with_scenario(
        sc,
        &RunOptions {
            scenario: args.scenario.clone(),
            seed: args.seed,
            duration_ms: args.duration_ms,
            out: args.out.clone(),
        },
    );
    for cut in &run.cuts {
        eprintln!("warning: {cut}");
    }
    if args.check {
        println!("{}", run.check_line());
        return Ok(());
    }
    let speed = match (args.live, args.speed) {
        (true, None) => bail!(
            "--live needs --speed, the virtual seconds per wall second (e.g. --speed 1000 \
             replays a day in about 90 s)"
        ),
        (_, speed) => speed.unwrap_or(1.0),
    };
    if !args.force {
        run.check_replace()?;
    }
    // A second Ctrl-C while the first is being honoured is ignored; the run stops at the next
    // check (every 65,536 events) and still writes its partial reports.
    let _ = ctrlc::set_handler(|| INTERRUPT.store(true, Ordering::Relaxed));
    let bar = progress::bar(
        run.sc.run.duration.ms() / 1000,
        "{bar:40} {pos}/{len} virtual s  ETA {eta}  {msg}",
    );
    let on_progress = |t: u64| bar.set_position(t / 1000);
    let control = Control {
        interrupt: &INTERRUPT,
        progress: &on_progress,
    };
    let (simulated, log) = if emit.is_empty() {
        (run.simulate(&control, args.live)?, None)
    } else {
        let started = std::time::Instant::now();
        let (outcome, log) = mo2fa_sim::engine::simulate_logged(&run.sc, run.seed, &control)?;
        let elapsed_s = started.elapsed().as_secs_f64();
        let simulated = Simulated {
            outcome,
            trace: None,
            elapsed_s,
        };
        (simulated, Some(log))
    };
    bar.finish_and_clear();
    run.write(&simulated.outcome)?;
    if let Some(log) = log {
        emit_logs(&run, &log, &emit)?;
    }
    print!("{}", run.summary(&simulated));
    if let Some(trace) = simulated.trace
        && !simulated.outcome.interrupted
    {
        replay_live(&run, trace, &args, speed, &bar)?;
    }
    if simulated.outcome.interrupted {
        bail!("interrupted: the reports hold the partial run");
    }
    crate::expect_cli::check_run(&expect, &run.out)
}

/// `--live`: the trace replayed against real servers, its table printed.
fn replay_live(
    run: &Run,
    trace: Trace,
    args: &RunArgs,
    speed: f64,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let wall_s = run.sc.run.duration.ms() as f64 / 1000.0 / speed;
    let shard = crate::merge_cli::shard(args.shard)?;
    eprintln!(
        "{} over ~{wall_s:.0} s of wall time at {speed}x",
        live_requests(&trace, shard)
    );
    bar.reset();
    let opts = LiveOptions {
        speed,
        connections: args.connections,
        shape: args.payload_shape.map(Into::into),
        target: args
            .target
            .as_deref()
            .map(|url| live_target(url, args))
            .transpose()?,
    };
    let on_progress = |t: u64| bar.set_position(t / 1000);
    let behind = |b: &Behind| bar.suspend(|| eprintln!("{b}"));
    let live =
        mo2fa_harness::shard::live(run, trace, shard, opts, &INTERRUPT, &on_progress, &behind)?;
    bar.finish_and_clear();
    print!("\n{}", live::table(&live));
    println!(
        "wrote {}/{{live.json,live.md,latency.html,<endpoint>.hgrm,latency.hlog,throughput.csv}}",
        run.out.join("live").display()
    );
    if let Some(problem) = live.problem() {
        bail!(problem);
    }
    if live.released < live.steps {
        bail!("interrupted: the live reports hold the partial replay");
    }
    Ok(())
}

/// The requests a live replay sends: the shard's, of the whole trace's, when sharded.
fn live_requests(trace: &Trace, shard: mo2fa_harness::shard::Shard) -> String {
    if shard.count <= 1 {
        return format!("live replay: {} requests", trace.steps.len());
    }
    format!(
        "live replay: shard {shard}: {} of the trace's {} requests",
        mo2fa_harness::shard::slice_len(trace, shard),
        trace.steps.len()
    )
}

/// `--target URL --profile …` of `run --live`: the address and how to reach it.
fn live_target(url: &str, args: &RunArgs) -> Result<(String, live::Foreign)> {
    use mo2fa_core::webhook::Secret;
    let addr = mo2fa_harness::target::TargetUrl::parse(url, false)?.authority;
    let profile = args::profile(&args.profile, None, args.payload_shape.map(Into::into))?;
    let (secret, forger) = match profile.webhook.signature.core() {
        None => (None, None),
        Some(scheme) => {
            let Ok(secret) = std::env::var(args::SECRET_ENV) else {
                bail!(
                    "{} is not set: profile {} signs deliveries ({}), so --target needs the \
                     secret the target checks them with",
                    args::SECRET_ENV,
                    profile.name,
                    profile.webhook.signature.as_str()
                );
            };
            let forger = Secret::new(scheme, mo2fa_sim::engine::FORGER_SECRET)?;
            (Some(Secret::new(scheme, &secret)?), Some(forger))
        }
    };
    Ok((
        addr,
        live::Foreign {
            profile,
            secret,
            forger,
        },
    ))
}

#[derive(Args)]
pub(crate) struct NewScenarioArgs {
    /// Name of the scenario: writes NAME.toml in the current directory (a name ending in
    /// .toml is used as it is).
    name: String,
    /// Write here instead (an existing file is never overwritten).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

pub(crate) fn new_scenario(args: NewScenarioArgs) -> Result<()> {
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
        Err(e) => return Err(e).with_context(|| format!("{}: cannot write", path.display())),
    };
    file.write_all(mo2fa_sim::scenario::TEMPLATE.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    println!(
        "wrote {0}: check it with `mo2fa run --check {0}`, run it with `mo2fa run {0}`",
        path.display()
    );
    Ok(())
}

/// `--emit-log`'s formats (`all`: every one), each once, in the order given.
fn emit_formats(names: &[String]) -> Result<Vec<LogFormat>> {
    let mut out = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let add: Vec<LogFormat> = if name == "all" {
            LogFormat::ALL.to_vec()
        } else {
            let Some(f) = LogFormat::parse(name) else {
                let known: Vec<&str> = LogFormat::ALL.iter().map(|f| f.name()).collect();
                bail!(
                    "--emit-log {name}: unknown format (known: {}, all)",
                    known.join(", ")
                );
            };
            vec![f]
        };
        for f in add {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// One flow's attempts as the import crate's records (wall time, ISO codes).
fn records(log: &SmsLog, flow: Flow) -> Vec<Record> {
    use mo2fa_sim::time::wall_ms;
    log.records
        .iter()
        .filter(|r| r.flow == flow)
        .map(|r| {
            let iso = log
                .countries
                .get(usize::from(r.country))
                .map(String::as_bytes);
            let sent = r.fate == SmsFate::Sent;
            Record {
                ts_ms: wall_ms(r.at_ms),
                number: r.number,
                country: match iso {
                    Some(&[a, b]) => [a, b],
                    _ => *b"ZZ",
                },
                ip: Some(r.ip),
                account: r.account,
                verified: Some(sent && r.verified_ms.is_some()),
                verified_ms: r.verified_ms.filter(|_| sent).map(wall_ms),
                price_usd: r.usd,
                segments: r.segments,
                refused: !sent,
            }
        })
        .collect()
}

/// Writes each format's log for each flow the scenario runs, and says where.
fn emit_logs(run: &Run, log: &SmsLog, formats: &[LogFormat]) -> Result<()> {
    for flow in Flow::ALL {
        if !run.sc.run.flows.contains(&flow) {
            continue;
        }
        let stem = match flow {
            Flow::Sms => "traffic",
            Flow::Reverse => "traffic-reverse",
        };
        let rows = records(log, flow);
        for f in formats {
            let path = f.write_file(&run.out, stem, &rows).with_context(|| {
                format!(
                    "{}: cannot write",
                    run.out.join(f.file_name(stem)).display()
                )
            })?;
            println!(
                "wrote {} ({} attempts, {} format)",
                path.display(),
                rows.len(),
                f.name()
            );
        }
    }
    Ok(())
}
