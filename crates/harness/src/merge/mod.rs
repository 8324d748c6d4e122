//! `mo2fa live merge` and `mo2fa bench merge`: the shards of one live replay or one bench run
//! (each a directory with [`shard.json`](crate::shard::MANIFEST) and V2 HdrHistograms), added
//! up into one report.
//!
//! Latency is merged by adding the histograms, never their percentiles: the merged p99 is the
//! p99 of every request of every shard, so it lies between the shards' own p99s and is pulled
//! towards the shard that sent more. Counts (requests, errors, answers by kind, agreement with
//! the virtual run) are summed. A merge refuses an empty list, directories of different runs
//! (another trace, another bench plan), of different mo2fa or trace versions, a shard given
//! twice and a missing shard; merged directories can be merged again.
//!
//! - `live`: `live.json`, `live.md`, `latency.html`, the tables and histograms, throughput;
//! - `bench`: `bench.json`, `latency.html`, the tables and histograms.
//!
//! Each also gives the metrics expectations are checked against ([`live::metrics`],
//! [`bench::metrics`]; docs/expect.md names them).

pub mod bench;
pub mod live;

use crate::error::HarnessError;
use crate::shard::{FORMAT, Kind, MANIFEST, Manifest};
use hdrhistogram::Histogram;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One shard's directory and its manifest.
pub struct Part {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// The parts in `dirs`, checked to be every shard of one run exactly once.
pub fn parts(dirs: &[PathBuf], kind: Kind) -> Result<Vec<Part>, HarnessError> {
    let merge = |m: String| Err(HarnessError::Merge(m));
    if dirs.is_empty() {
        return merge(format!(
            "nothing to merge: give the directories of every shard of one {}",
            kind.name()
        ));
    }
    let mut parts: Vec<Part> = Vec::new();
    for dir in dirs {
        // A run's output directory holds its live replay in live/.
        let dir = match kind {
            Kind::Live
                if !dir.join(MANIFEST).exists() && dir.join("live").join(MANIFEST).exists() =>
            {
                dir.join("live")
            }
            _ => dir.clone(),
        };
        if !dir.join(MANIFEST).exists() {
            return merge(format!(
                "{}: has no {MANIFEST}: not the output of a {} by this mo2fa",
                dir.display(),
                kind.name()
            ));
        }
        let manifest = Manifest::read(&dir)?;
        if let Some(first) = parts.first() {
            check_same(first, &dir, &manifest)?;
        } else if manifest.kind != kind {
            return merge(format!(
                "{}: holds a {}, not a {}",
                dir.display(),
                manifest.kind.name(),
                kind.name()
            ));
        } else if manifest.format != FORMAT {
            return merge(format!(
                "{}: {MANIFEST} format {} (this mo2fa reads format {FORMAT})",
                dir.display(),
                manifest.format
            ));
        }
        for p in &parts {
            if let Some(s) = p
                .manifest
                .shards
                .iter()
                .find(|s| manifest.shards.contains(s))
            {
                return merge(format!(
                    "shard {s}/{} is in both {} and {}: give each shard once",
                    manifest.count,
                    p.dir.display(),
                    dir.display()
                ));
            }
        }
        parts.push(Part { dir, manifest });
    }
    let have: BTreeSet<usize> = parts
        .iter()
        .flat_map(|p| p.manifest.shards.iter().copied())
        .collect();
    let count = parts[0].manifest.count;
    let missing: Vec<String> = (0..count)
        .filter(|s| !have.contains(s))
        .map(|s| format!("{s}/{count}"))
        .collect();
    if !missing.is_empty() {
        return merge(format!(
            "missing shard(s) {} of this {}: merge every shard of it",
            missing.join(", "),
            kind.name()
        ));
    }
    Ok(parts)
}

/// `manifest` (of `dir`) belongs to the same run as `first`.
fn check_same(first: &Part, dir: &Path, manifest: &Manifest) -> Result<(), HarnessError> {
    let (a, b) = (&first.manifest, manifest);
    let (fd, d) = (first.dir.display(), dir.display());
    let problem = if a.kind != b.kind {
        Some(format!(
            "{d} holds a {} and {fd} a {}",
            b.kind.name(),
            a.kind.name()
        ))
    } else if a.format != b.format || a.mo2fa != b.mo2fa {
        Some(format!(
            "{d} was written by mo2fa {} and {fd} by mo2fa {}: run every shard with the same \
             mo2fa",
            b.mo2fa, a.mo2fa
        ))
    } else if a.trace_version != b.trace_version {
        Some(format!(
            "mismatched trace versions: {d} replayed trace version {} and {fd} trace version {}",
            b.trace_version, a.trace_version
        ))
    } else if a.run != b.run {
        Some(match a.kind {
            Kind::Live => format!(
                "{d} and {fd} replayed different traces ({} and {}): every shard must run the same \
                 scenario file with the same seed and duration",
                b.run, a.run
            ),
            Kind::Bench => format!(
                "{d} and {fd} are shards of different bench runs ({} and {}): every shard must \
                 run with the same options (endpoints, rate, durations, connections, target)",
                b.run, a.run
            ),
        })
    } else if a.count != b.count {
        Some(format!(
            "{d} is a shard of {} and {fd} of {}: every shard must use the same N in --shard I/N",
            b.count, a.count
        ))
    } else if a.speed != b.speed {
        Some(format!(
            "{d} replayed at speed {:?} and {fd} at {:?}: every shard must use the same --speed",
            b.speed, a.speed
        ))
    } else {
        None
    };
    problem.map_or(Ok(()), |p| {
        Err(HarnessError::Merge(format!("different runs: {p}")))
    })
}

/// The sum of `<name>.hdr` (or `<name>.service.hdr` with `service`) over the parts.
fn added(parts: &[Part], name: &str, service: bool) -> Result<Histogram<u64>, HarnessError> {
    let file = if service {
        format!("{name}.service.hdr")
    } else {
        format!("{name}.hdr")
    };
    let mut sum: Option<Histogram<u64>> = None;
    for p in parts {
        let h = crate::shard::read_histogram(&p.dir.join(&file))?;
        match &mut sum {
            None => sum = Some(h),
            Some(s) => s.add(&h).map_err(|e| {
                HarnessError::Merge(format!(
                    "{}: cannot add: {e:?}",
                    p.dir.join(&file).display()
                ))
            })?,
        }
    }
    sum.ok_or_else(|| HarnessError::Merge("nothing to merge".into()))
}

/// One endpoint's merged histograms: from the scheduled time, and service time.
pub struct Merged {
    pub name: String,
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
}

/// The parts of one sharded run in `dirs`, each part's `file` (`bench.json`, `live.json`)
/// parsed, and their endpoints' histograms added (endpoints named by the first part's
/// `endpoints[].endpoint`).
struct Loaded {
    parts: Vec<Part>,
    jsons: Vec<serde_json::Value>,
    merged: Vec<Merged>,
}

fn load(dirs: &[PathBuf], kind: Kind, file: &str) -> Result<Loaded, HarnessError> {
    let parts = parts(dirs, kind)?;
    let jsons: Vec<serde_json::Value> = parts
        .iter()
        .map(|p| read_json(&p.dir.join(file)))
        .collect::<Result<_, _>>()?;
    let names: Vec<String> = jsons[0]["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["endpoint"].as_str().map(String::from))
        .collect();
    let merged = histograms(&parts, &names)?;
    Ok(Loaded {
        parts,
        jsons,
        merged,
    })
}

fn histograms(parts: &[Part], names: &[String]) -> Result<Vec<Merged>, HarnessError> {
    names
        .iter()
        .map(|n| {
            Ok(Merged {
                name: n.clone(),
                latency: added(parts, n, false)?,
                service: added(parts, n, true)?,
            })
        })
        .collect()
}

/// A JSON file of a part, parsed; the error names it.
fn read_json(path: &Path) -> Result<serde_json::Value, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(HarnessError::read(path))?;
    serde_json::from_str(&text).map_err(|e| HarnessError::Merge(format!("{}: {e}", path.display())))
}

/// Writes `dir/name`; an error names the file.
fn put(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> Result<(), HarnessError> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(HarnessError::write(path))
}

/// The merged directory: the histograms (V2 and `.hgrm`), `latency.html` and `shard.json`
/// naming every shard, so it can be merged again.
fn write_common(
    out: &Path,
    parts: &[Part],
    merged: &[Merged],
    title: &str,
    subtitle: &str,
) -> Result<(), HarnessError> {
    std::fs::create_dir_all(out).map_err(HarnessError::write(out))?;
    for m in merged {
        crate::shard::write_histograms(out, &m.name, &m.latency, &m.service)?;
        if !m.latency.is_empty() {
            put(
                out,
                &format!("{}.hgrm", m.name),
                crate::openloop::hgrm(&m.latency),
            )?;
            put(
                out,
                &format!("{}.service.hgrm", m.name),
                crate::openloop::hgrm(&m.service),
            )?;
        }
    }
    let curves: Vec<crate::openloop::Curve<'_>> = merged
        .iter()
        .map(|m| crate::openloop::Curve {
            name: &m.name,
            latency: &m.latency,
            service: &m.service,
        })
        .collect();
    put(
        out,
        "latency.html",
        crate::openloop::latency_html(title, subtitle, &curves),
    )?;
    let mut manifest = parts[0].manifest.clone();
    manifest.shards = (0..manifest.count).collect();
    manifest.write(out)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The figures of one merged histogram every report gives, in ms.
fn percentiles(h: &Histogram<u64>) -> [f64; 4] {
    [
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

#[cfg(test)]
mod tests;
