//! `mo2fa run`: a scenario from its file to its reports. The virtual run, the reports it
//! writes and what is printed about it, and (with `--live`) the replay of its trace against
//! real servers ([`crate::live`]), whose reports go to `<out>/live/`.

use crate::error::HarnessError;
use crate::live::{self, Behind, LiveOptions, LiveReport};
use mo2fa_sim::engine::{self, Control, Outcome};
use mo2fa_sim::report;
use mo2fa_sim::scenario::{Dur, Flow, Scenario};
use mo2fa_sim::trace::{self, Trace};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What the command line says about a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub scenario: PathBuf,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Overrides the scenario's duration.
    pub duration_ms: Option<u64>,
    /// Default `reports/<scenario name>`.
    pub out: Option<PathBuf>,
}

/// A scenario loaded with the command line's overrides, ready to run.
pub struct Run {
    pub sc: Scenario,
    pub path: PathBuf,
    /// The file's stem.
    pub name: String,
    pub seed: u64,
    pub out: PathBuf,
    /// Attacks a `--duration` override cuts short or leaves out, one line each.
    pub cuts: Vec<String>,
}

/// The virtual run's result.
pub struct Simulated {
    pub outcome: Outcome,
    /// The requests it made, when asked for (for `--live`).
    pub trace: Option<Trace>,
    pub elapsed_s: f64,
}

impl Run {
    pub fn load(opts: &RunOptions) -> Result<Self, HarnessError> {
        let sc = Scenario::load(&opts.scenario).map_err(mo2fa_sim::SimError::from)?;
        Ok(Self::with_scenario(sc, opts))
    }

    /// A scenario already parsed from `opts.scenario` (e.g. with its `[expect]` table taken
    /// out), with the command line's overrides.
    pub fn with_scenario(mut sc: Scenario, opts: &RunOptions) -> Self {
        let mut cuts = Vec::new();
        if let Some(ms) = opts.duration_ms {
            cuts = cut_attacks(&sc, ms);
            sc.run.duration = Dur(ms);
        }
        let name = opts
            .scenario
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let out = opts
            .out
            .clone()
            .unwrap_or_else(|| Path::new("reports").join(&name));
        Self {
            seed: opts.seed.unwrap_or(sc.run.seed),
            sc,
            path: opts.scenario.clone(),
            name,
            out,
            cuts,
        }
    }

    /// `run --check`'s line: "OK <file>: <what it simulates>".
    pub fn check_line(&self) -> String {
        format!(
            "OK {}: {}",
            self.path.display(),
            summary(&self.sc, self.seed)
        )
    }

    /// The virtual run; with `traced`, it records its requests for a live replay.
    pub fn simulate(&self, control: &Control<'_>, traced: bool) -> Result<Simulated, HarnessError> {
        let started = std::time::Instant::now();
        let (outcome, trace) = if traced {
            let (outcome, trace) =
                engine::simulate_traced(&self.sc, self.seed, control, trace::MAX_STEPS)?;
            (outcome, Some(trace))
        } else {
            (engine::simulate(&self.sc, self.seed, control)?, None)
        };
        Ok(Simulated {
            outcome,
            trace,
            elapsed_s: started.elapsed().as_secs_f64(),
        })
    }

    /// Refuses to replace a report that another run (another scenario, seed or duration)
    /// wrote to `out`; a report of this same run is replaced, since it would be the same.
    pub fn check_replace(&self) -> Result<(), HarnessError> {
        #[derive(serde::Deserialize)]
        struct Made {
            scenario: String,
            seed: u64,
            duration_s: u64,
        }
        let Ok(text) = std::fs::read(self.out.join("summary.json")) else {
            return Ok(());
        };
        let ours = format!(
            "{}, seed {}, {}",
            self.name,
            self.seed,
            span(self.sc.run.duration.ms())
        );
        let theirs = match serde_json::from_slice::<Made>(&text) {
            Ok(m)
                if (m.scenario.as_str(), m.seed, m.duration_s)
                    == (
                        self.name.as_str(),
                        self.seed,
                        self.sc.run.duration.ms() / 1000,
                    ) =>
            {
                return Ok(());
            }
            Ok(m) => format!(
                "{}, seed {}, {}",
                m.scenario,
                m.seed,
                span(m.duration_s * 1000)
            ),
            Err(_) => "a summary.json this version cannot read".to_string(),
        };
        Err(HarnessError::OtherReport {
            dir: self.out.clone(),
            theirs,
            ours,
        })
    }

    /// Writes summary.json, timeline.csv, summary.md and report.html to `out`.
    pub fn write(&self, outcome: &Outcome) -> Result<(), HarnessError> {
        Ok(report::write_all(
            &self.out, &self.sc, &self.name, self.seed, outcome,
        )?)
    }

    /// What is printed after the virtual run: the table, the cost lines, the speed and where
    /// the reports are.
    pub fn summary(&self, s: &Simulated) -> String {
        let mut text = format!(
            "scenario {} (seed {}): {}\n",
            self.name, self.seed, self.sc.run.description
        );
        text.push_str(&report::table(&s.outcome));
        let _ = writeln!(
            text,
            "events: {} in {:.2} s ({:.2} M events/s)",
            s.outcome.events,
            s.elapsed_s,
            s.outcome.events as f64 / s.elapsed_s.max(1e-9) / 1e6
        );
        let _ = writeln!(
            text,
            "wrote {}/{{summary.json,timeline.csv,summary.md,report.html}}",
            self.out.display()
        );
        text
    }

    /// Replays `trace` against live servers and writes `<out>/live/`.
    pub fn live(
        &self,
        trace: Trace,
        opts: LiveOptions,
        interrupt: &AtomicBool,
        progress: &(dyn Fn(u64) + Sync),
        on_behind: &(dyn Fn(&Behind) + Sync),
    ) -> Result<LiveReport, HarnessError> {
        let live = live::replay(&self.sc, trace, opts, interrupt, progress, on_behind)?;
        live::write(&self.out.join("live"), &live)?;
        Ok(live)
    }
}

/// One line per attack that ends after `duration_ms` (cut short) or starts at or after it
/// (left out).
fn cut_attacks(sc: &Scenario, duration_ms: u64) -> Vec<String> {
    let show = |ms: u64| span(ms);
    sc.attackers
        .iter()
        .enumerate()
        .filter(|(_, a)| a.end.ms() > duration_ms)
        .map(|(i, a)| {
            let (start, end) = (a.start.ms(), a.end.ms());
            if start >= duration_ms {
                format!(
                    "--duration {} leaves out attack {} ({}–{}): it starts after the run ends",
                    show(duration_ms),
                    a.label(i),
                    show(start),
                    show(end)
                )
            } else {
                format!(
                    "--duration {} cuts attack {} ({}–{}) short at {}",
                    show(duration_ms),
                    a.label(i),
                    show(start),
                    show(end),
                    show(duration_ms)
                )
            }
        })
        .collect()
}

/// One line on what a scenario simulates, for `run --check`.
fn summary(sc: &Scenario, seed: u64) -> String {
    let flows: Vec<&str> = sc
        .run
        .flows
        .iter()
        .map(|f| match f {
            Flow::Reverse => "reverse",
            Flow::Sms => "sms",
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
        span(sc.run.duration.ms()),
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
pub fn span(ms: u64) -> String {
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
