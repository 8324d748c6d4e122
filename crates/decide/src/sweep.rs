//! A sweep: every setting of a grid run with several seeds, in parallel, each run
//! deterministic. Its directory holds
//!
//! - `runs.jsonl`: one line per finished run (setting, seed, its numeric metrics), the raw
//!   data everything else is computed from;
//! - `sweep.csv`: one row per setting, each metric's mean and t-based 95 % interval across
//!   seeds (`stats`);
//! - `report.html`: the Pareto chart and the table (`pareto`);
//! - `sweep.json`: what was swept (scenario, axes, seeds, the sweep's id, which shard),
//!   written last, so its presence says the directory is complete.
//!
//! A shard (`--shard I/N`) runs every N-th run; `merge` checks that shards come from the same
//! sweep and together hold every run exactly once, and writes the same files from the union.
//! Both paths write through [`write`], which is why a merge is byte-identical to the
//! unsharded sweep.

use crate::grid::{Grid, Setting, Shard, show_value};
use crate::metrics;
use crate::source::{Source, run_summary};
use crate::stats::{Estimate, estimate};
use crate::{DecideError, pareto};
use mo2fa_sim::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `sweep.json`'s format; a merge refuses directories written in another.
pub const FORMAT: u32 = 1;

/// What a sweep directory holds (`sweep.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// A hash of everything that decides the runs' results: mo2fa's version, the scenario
    /// text (without `[expect]`), the axes and the seeds. Shards of one sweep share it.
    pub sweep_id: String,
    pub scenario: String,
    pub axes: Vec<AxisJson>,
    /// Each setting's label, by setting number.
    pub settings: Vec<String>,
    pub seeds: Vec<u64>,
    /// Runs of the whole sweep (settings × seeds).
    pub runs_total: usize,
    /// The slice this directory holds; absent for a whole sweep (run whole or merged).
    pub shard: Option<Shard>,
    /// Runs that finished and are in `runs.jsonl`.
    pub runs: usize,
    /// Ctrl-C stopped the sweep: `runs.jsonl` holds the runs that finished.
    pub interrupted: bool,
    /// The scenario's `[expect]` table as (name, expression), checked again by a merge.
    pub expect: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisJson {
    pub key: String,
    pub values: Vec<String>,
}

/// One finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub setting: usize,
    pub seed: u64,
    pub metrics: BTreeMap<String, f64>,
}

/// A sweep ready to run: every setting already checked by the simulator's parser.
pub struct Plan {
    pub manifest: Manifest,
    pub settings: Vec<Setting>,
    scenarios: Vec<Scenario>,
    /// This shard's runs as (setting, seed).
    pub runs: Vec<(usize, u64)>,
}

/// Runs one sweep may have at most (a named limit; see `grid::MAX_RUNS`).
pub use crate::grid::MAX_RUNS;

fn fnv64(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Plan {
    /// Checks the sweep of `source` over `grid` with `seeds` seeds (the scenario's seed and
    /// the ones after it), of which `shard` runs its slice.
    pub fn new(
        source: &Source,
        grid: &Grid,
        seeds: usize,
        shard: Shard,
    ) -> Result<Plan, DecideError> {
        let input = |m: String| DecideError::Input(m);
        if seeds == 0 {
            return Err(input("--seeds must be at least 1".into()));
        }
        let base_sc = source.scenario()?;
        let base: toml::Table = source
            .text
            .parse()
            .map_err(|e| input(format!("{}: {e}", source.file)))?;
        let settings = grid.settings();
        let total = settings.len().saturating_mul(seeds);
        if settings.is_empty() {
            return Err(input("the grid is empty: no setting to run".into()));
        }
        if total > MAX_RUNS {
            return Err(input(format!(
                "{} settings × {seeds} seeds = {total} runs, more than the {MAX_RUNS} a sweep may have",
                settings.len()
            )));
        }
        let mut scenarios = Vec::with_capacity(settings.len());
        for s in &settings {
            let label = s.label();
            let table = s
                .apply(&base)
                .map_err(|e| input(format!("{}: {e}", source.file)))?;
            let text = toml::to_string(&table).map_err(|e| input(format!("{label}: {e}")))?;
            scenarios.push(Scenario::parse(
                &format!("{} ({label})", source.file),
                &text,
            )?);
        }
        let seed_list: Vec<u64> = (0..seeds as u64)
            .map(|i| base_sc.run.seed.wrapping_add(i))
            .collect();
        let axes: Vec<AxisJson> = grid
            .axes
            .iter()
            .map(|a| AxisJson {
                key: a.key.clone(),
                values: a.values.iter().map(show_value).collect(),
            })
            .collect();
        let axes_text = serde_json::to_string(&axes).unwrap_or_default();
        let seeds_text = serde_json::to_string(&seed_list).unwrap_or_default();
        let sweep_id = fnv64(&[
            env!("CARGO_PKG_VERSION"),
            &source.text,
            &axes_text,
            &seeds_text,
        ]);
        let runs: Vec<(usize, u64)> = (0..total)
            .filter(|k| shard.owns(*k))
            .map(|k| (k / seeds, seed_list[k % seeds]))
            .collect();
        let manifest = Manifest {
            format: FORMAT,
            sweep_id,
            scenario: source.name.clone(),
            axes,
            settings: settings.iter().map(Setting::label).collect(),
            seeds: seed_list,
            runs_total: total,
            shard: (shard.count > 1).then_some(shard),
            runs: 0,
            interrupted: false,
            expect: source.expect.clone(),
        };
        Ok(Plan {
            manifest,
            settings,
            scenarios,
            runs,
        })
    }

    /// Runs this plan's runs on `jobs` threads. A run stopped by `interrupt` is dropped; the
    /// others are returned in order. `done` is called after each finished run.
    pub fn execute(
        &self,
        jobs: usize,
        interrupt: &AtomicBool,
        done: &(dyn Fn() + Sync),
    ) -> Result<Vec<Record>, DecideError> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<Record, DecideError>>>> =
            Mutex::new((0..self.runs.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..jobs.clamp(1, self.runs.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(setting, seed)) = self.runs.get(i) else {
                            break;
                        };
                        if interrupt.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let sc = &self.scenarios[setting];
                        let result = match run_summary(sc, &self.manifest.scenario, seed, interrupt)
                        {
                            Ok(None) => continue,
                            Ok(Some(json)) => record(setting, seed, &json),
                            Err(e) => Err(e),
                        };
                        if result.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut r) = results.lock() {
                            r[i] = Some(result);
                        }
                        done();
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .map_err(|_| DecideError::Input("a sweep worker panicked".into()))?;
        results.into_iter().flatten().collect()
    }
}

fn record(setting: usize, seed: u64, summary_json: &str) -> Result<Record, DecideError> {
    let v: serde_json::Value = serde_json::from_str(summary_json)
        .map_err(|e| DecideError::Input(format!("summary.json of setting {setting}: {e}")))?;
    Ok(Record {
        setting,
        seed,
        metrics: metrics::numeric(&metrics::flatten(&v)),
    })
}

/// One setting's aggregates.
#[derive(Clone, Debug)]
pub struct Row {
    pub setting: usize,
    pub label: String,
    pub values: Vec<String>,
    pub runs: usize,
    pub stats: BTreeMap<String, Estimate>,
    /// The Pareto chart's axes (`metrics::pareto_axes`).
    pub pumped_usd: Option<Estimate>,
    pub legit_blocked: Option<Estimate>,
    pub optimal: bool,
}

impl Row {
    /// The setting's means by metric name, for expectations.
    pub fn means(&self) -> BTreeMap<String, metrics::Leaf> {
        self.stats
            .iter()
            .map(|(k, e)| (k.clone(), metrics::Leaf::Num(e.mean)))
            .collect()
    }
}

/// Per-setting aggregates of `records` (sorted by setting, then seed), with the union of
/// metric names in order. A rule count a run lacks (`*_by_rule.<rule>`, listed only once a
/// rule fired somewhere) counts 0; any other missing or null metric is left out of that
/// setting's mean, so its `n` may be smaller.
pub fn aggregate(manifest: &Manifest, records: &[Record]) -> (Vec<String>, Vec<Row>) {
    let names: BTreeSet<&String> = records.iter().flat_map(|r| r.metrics.keys()).collect();
    let names: Vec<String> = names.into_iter().cloned().collect();
    let mut rows = Vec::with_capacity(manifest.settings.len());
    for (setting, label) in manifest.settings.iter().enumerate() {
        let runs: Vec<&Record> = records.iter().filter(|r| r.setting == setting).collect();
        let mut stats = BTreeMap::new();
        for name in &names {
            let by_rule = name.contains("_by_rule.");
            let xs: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.metrics.get(name).copied().or(by_rule.then_some(0.0)))
                .collect();
            if let Some(e) = estimate(&xs) {
                stats.insert(name.clone(), e);
            }
        }
        let axis = |names: &[&str]| {
            let xs: Vec<f64> = runs
                .iter()
                .map(|r| metrics::pareto_axes::sum(&r.metrics, names))
                .collect();
            estimate(&xs)
        };
        let values = manifest
            .axes
            .iter()
            .enumerate()
            .map(|(a, _)| value_of(manifest, setting, a).unwrap_or_default())
            .collect();
        rows.push(Row {
            setting,
            label: label.clone(),
            values,
            runs: runs.len(),
            stats,
            pumped_usd: axis(&metrics::pareto_axes::PUMPED_USD),
            legit_blocked: axis(&metrics::pareto_axes::LEGIT_BLOCKED),
            optimal: false,
        });
    }
    pareto::mark_optimal(&mut rows);
    (names, rows)
}

/// The value axis `a` has in `setting` (the last axis varies fastest).
fn value_of(m: &Manifest, setting: usize, a: usize) -> Option<String> {
    let stride: usize = m.axes[a + 1..].iter().map(|x| x.values.len()).product();
    let values = &m.axes[a].values;
    values
        .get((setting / stride.max(1)) % values.len().max(1))
        .cloned()
}

fn cell(x: Option<f64>) -> String {
    x.map(metrics::show).unwrap_or_default()
}

/// `sweep.csv`: one row per setting; per metric its mean and 95 % interval bounds.
pub fn csv(manifest: &Manifest, names: &[String], rows: &[Row]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["setting".into()];
    header.extend(manifest.axes.iter().map(|a| a.key.clone()));
    header.extend(["runs".into(), "pareto_optimal".into()]);
    let stat_cols = |name: &str| {
        [
            format!("{name}.mean"),
            format!("{name}.ci95_low"),
            format!("{name}.ci95_high"),
        ]
    };
    header.extend(stat_cols("pareto.pumped_usd"));
    header.extend(stat_cols("pareto.legit_blocked"));
    for n in names {
        header.extend(stat_cols(n));
    }
    w.write_record(&header)?;
    let est = |e: Option<&Estimate>| {
        [
            cell(e.map(|e| e.mean)),
            cell(e.and_then(|e| e.ci95.map(|c| c.0))),
            cell(e.and_then(|e| e.ci95.map(|c| c.1))),
        ]
    };
    for r in rows {
        let mut rec: Vec<String> = vec![r.setting.to_string()];
        rec.extend(r.values.iter().cloned());
        rec.extend([r.runs.to_string(), r.optimal.to_string()]);
        rec.extend(est(r.pumped_usd.as_ref()));
        rec.extend(est(r.legit_blocked.as_ref()));
        for n in names {
            rec.extend(est(r.stats.get(n)));
        }
        w.write_record(&rec)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes a sweep directory from `records` (any order): runs.jsonl, sweep.csv, report.html,
/// then sweep.json. Returns the rows, for expectations and the printed table.
pub fn write(dir: &Path, manifest: &Manifest, records: &[Record]) -> Result<Vec<Row>, DecideError> {
    let mut records = records.to_vec();
    records.sort_by_key(|r| (r.setting, manifest.seeds.iter().position(|s| *s == r.seed)));
    std::fs::create_dir_all(dir).map_err(|e| DecideError::write(dir, e))?;
    let put = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| DecideError::write(&p, e))
    };
    let mut jsonl = String::new();
    for r in &records {
        jsonl.push_str(&serde_json::to_string(r).unwrap_or_default());
        jsonl.push('\n');
    }
    put("runs.jsonl", &jsonl)?;
    let (names, rows) = aggregate(manifest, &records);
    let table = csv(manifest, &names, &rows)
        .map_err(|e| DecideError::format(&dir.join("sweep.csv"), e.to_string()))?;
    put("sweep.csv", &table)?;
    put("report.html", &pareto::html(manifest, &rows))?;
    let mut m = serde_json::to_string_pretty(manifest).unwrap_or_default();
    m.push('\n');
    put("sweep.json", &m)?;
    Ok(rows)
}

/// Checks `expect` against each setting's means: every setting that finished a run must meet
/// an expectation, or one setting for `any:`. `Ok` holds a line per expectation met.
pub fn check(
    expect: &[crate::expect::Expectation],
    rows: &[Row],
) -> Result<Vec<String>, crate::expect::Failed> {
    /// Failing settings named per expectation before the rest are counted.
    const SHOWN: usize = 5;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for e in expect {
        let results: Vec<(&Row, Result<(), String>)> = rows
            .iter()
            .filter(|r| r.runs > 0)
            .map(|r| (r, e.check(&r.means())))
            .collect();
        let passed = results.iter().filter(|(_, r)| r.is_ok()).count();
        let met = if e.any {
            passed > 0
        } else {
            passed == results.len()
        };
        if met {
            ok.push(format!(
                "expectation met: {}: {} ({passed} of {} settings)",
                e.name,
                e.text,
                results.len()
            ));
            continue;
        }
        let fails: Vec<String> = results
            .iter()
            .filter_map(|(r, res)| {
                res.as_ref()
                    .err()
                    .map(|why| format!("#{} {}: {why}", r.setting, r.label))
            })
            .collect();
        let mut msg = format!(
            "{}: {} ({}; {} of {} settings met it)",
            e.name,
            e.text,
            if e.any {
                "no setting met it"
            } else {
                "every setting must meet it"
            },
            passed,
            results.len()
        );
        for f in fails.iter().take(SHOWN) {
            msg.push_str(&format!("\n    {f}"));
        }
        if fails.len() > SHOWN {
            msg.push_str(&format!("\n    … {} more settings", fails.len() - SHOWN));
        }
        failed.push(msg);
    }
    if failed.is_empty() {
        Ok(ok)
    } else {
        Err(crate::expect::Failed(failed))
    }
}

/// Reads a sweep directory back: its manifest and runs.
pub fn read(dir: &Path) -> Result<(Manifest, Vec<Record>), DecideError> {
    let mpath = dir.join("sweep.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DecideError::format(
                dir,
                "no sweep.json: not a sweep directory, or its sweep has not finished",
            )
        } else {
            DecideError::read(&mpath, e)
        }
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| DecideError::format(&mpath, e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(DecideError::format(
            &mpath,
            format!("format {} (this mo2fa reads {FORMAT})", manifest.format),
        ));
    }
    let rpath = dir.join("runs.jsonl");
    let text = std::fs::read_to_string(&rpath).map_err(|e| DecideError::read(&rpath, e))?;
    let mut records = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: Record = serde_json::from_str(line)
            .map_err(|e| DecideError::format(&rpath, format!("line {}: {e}", i + 1)))?;
        if r.setting >= manifest.settings.len() || !manifest.seeds.contains(&r.seed) {
            return Err(DecideError::format(
                &rpath,
                format!(
                    "line {}: a run outside the sweep's settings and seeds",
                    i + 1
                ),
            ));
        }
        records.push(r);
    }
    Ok((manifest, records))
}

/// Merges shard directories of one sweep into `out`; the result is the unsharded sweep's.
pub fn merge(dirs: &[&Path], out: &Path) -> Result<Vec<Row>, DecideError> {
    let Some(first) = dirs.first() else {
        return Err(DecideError::Input("merge: no directories given".into()));
    };
    let (m0, mut all) = read(first)?;
    let mut seen: BTreeMap<(usize, u64), &Path> =
        all.iter().map(|r| ((r.setting, r.seed), *first)).collect();
    for dir in &dirs[1..] {
        let (m, records) = read(dir)?;
        if m.sweep_id != m0.sweep_id {
            return Err(DecideError::Input(format!(
                "{} and {} are from different sweeps (ids {} and {}: scenario {:?} vs {:?}, \
                 {} vs {} settings, seeds {:?} vs {:?}, or another mo2fa version)",
                first.display(),
                dir.display(),
                m0.sweep_id,
                m.sweep_id,
                m0.scenario,
                m.scenario,
                m0.settings.len(),
                m.settings.len(),
                m0.seeds,
                m.seeds
            )));
        }
        for r in records {
            if let Some(other) = seen.insert((r.setting, r.seed), dir) {
                return Err(DecideError::Input(format!(
                    "setting {} seed {} is in both {} and {}: the same shard given twice?",
                    r.setting,
                    r.seed,
                    other.display(),
                    dir.display()
                )));
            }
            all.push(r);
        }
    }
    if all.len() != m0.runs_total {
        let counts: BTreeSet<usize> = dirs
            .iter()
            .filter_map(|d| read(d).ok().and_then(|(m, _)| m.shard.map(|s| s.count)))
            .collect();
        return Err(DecideError::Input(format!(
            "{} of the sweep's {} runs are missing: give every shard{} (an interrupted shard \
             holds only the runs it finished; run it again)",
            m0.runs_total - all.len(),
            m0.runs_total,
            match counts.iter().next() {
                Some(n) => format!(" 0..{n}"),
                None => String::new(),
            }
        )));
    }
    let manifest = Manifest {
        shard: None,
        runs: all.len(),
        interrupted: false,
        ..m0
    };
    write(out, &manifest, &all)
}
