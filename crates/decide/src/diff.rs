//! `mo2fa diff`: two runs' outputs compared metric by metric, largest changes first.
//!
//! An input is a run directory (`summary.json`), a sweep directory (`sweep.json`: each
//! setting's means, settings matched by label), a bench directory (`bench.json`), or one of
//! those JSON files itself. Both inputs must be of the same kind.

use crate::DecideError;
use crate::metrics::{self, Leaf, show};
use mo2fa_cost::report::html::{Block, Page, Section};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Run,
    Sweep,
    Bench,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Run => "a run (summary.json)",
            Kind::Sweep => "a sweep (sweep.json)",
            Kind::Bench => "a benchmark (bench.json)",
        }
    }
}

/// One input, flattened: numeric and text leaves by name (sweeps: `setting label: metric`).
pub struct Side {
    pub path: PathBuf,
    pub kind: Kind,
    pub leaves: BTreeMap<String, Leaf>,
}

fn read_json(path: &Path) -> Result<serde_json::Value, DecideError> {
    let text = std::fs::read_to_string(path).map_err(|e| DecideError::read(path, e))?;
    serde_json::from_str(&text).map_err(|e| DecideError::format(path, e.to_string()))
}

impl Side {
    pub fn read(path: &Path) -> Result<Side, DecideError> {
        let (kind, file) = if path.is_dir() {
            let has = |f: &str| path.join(f).is_file();
            if has("sweep.json") {
                (Kind::Sweep, path.join("sweep.json"))
            } else if has("summary.json") {
                (Kind::Run, path.join("summary.json"))
            } else if has("bench.json") {
                (Kind::Bench, path.join("bench.json"))
            } else {
                return Err(DecideError::format(
                    path,
                    "holds none of summary.json (a run), sweep.json (a sweep) or bench.json",
                ));
            }
        } else {
            match path.file_name().and_then(|f| f.to_str()) {
                Some("sweep.json") => (Kind::Sweep, path.to_path_buf()),
                Some("bench.json") => (Kind::Bench, path.to_path_buf()),
                Some(f) if f.ends_with(".json") => (Kind::Run, path.to_path_buf()),
                _ => {
                    return Err(DecideError::format(
                        path,
                        "not a run, sweep or bench directory, nor a .json file",
                    ));
                }
            }
        };
        let leaves = match kind {
            Kind::Sweep => {
                let dir = file.parent().unwrap_or(Path::new("."));
                let (m, records) = crate::sweep::read(dir)?;
                let (_, rows) = crate::sweep::aggregate(&m, &records);
                let mut leaves = BTreeMap::new();
                for r in rows {
                    for (k, v) in r.means() {
                        leaves.insert(format!("{}: {k}", r.label), v);
                    }
                }
                leaves
            }
            Kind::Run | Kind::Bench => metrics::flatten(&read_json(&file)?),
        };
        Ok(Side {
            path: path.to_path_buf(),
            kind,
            leaves,
        })
    }
}

/// One metric in both inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub name: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
}

impl Change {
    pub fn delta(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }

    /// (b − a) / |a|; infinite when a is 0 and b is not.
    pub fn relative(&self) -> Option<f64> {
        let (a, d) = (self.a?, self.delta()?);
        Some(if d == 0.0 {
            0.0
        } else if a == 0.0 {
            f64::INFINITY.copysign(d)
        } else {
            d / a.abs()
        })
    }
}

/// The comparison of two inputs.
#[derive(Debug)]
pub struct Diff {
    pub a: PathBuf,
    pub b: PathBuf,
    pub kind: Kind,
    /// Every numeric metric, changed ones first: largest relative change, then largest
    /// absolute change, then name; a metric only one side has comes right after the changes.
    pub changes: Vec<Change>,
    /// Text leaves that differ: (name, a, b).
    pub text: Vec<(String, String, String)>,
}

impl Diff {
    pub fn changed(&self) -> usize {
        self.changes.iter().filter(|c| c.a != c.b).count()
    }
}

pub fn diff(a: &Side, b: &Side) -> Result<Diff, DecideError> {
    if a.kind != b.kind {
        return Err(DecideError::Input(format!(
            "{} is {} but {} is {}: compare like with like",
            a.path.display(),
            a.kind.name(),
            b.path.display(),
            b.kind.name()
        )));
    }
    let names: BTreeSet<&String> = a.leaves.keys().chain(b.leaves.keys()).collect();
    let num = |s: &Side, n: &str| match s.leaves.get(n) {
        Some(Leaf::Num(x)) => Some(*x),
        _ => None,
    };
    let mut changes = Vec::new();
    let mut text = Vec::new();
    for n in names {
        let (x, y) = (num(a, n), num(b, n));
        if x.is_some() || y.is_some() {
            changes.push(Change {
                name: n.clone(),
                a: x,
                b: y,
            });
        } else {
            let show = |s: &Side| s.leaves.get(n).map_or("(absent)".into(), |l| l.to_string());
            let (sa, sb) = (show(a), show(b));
            if sa != sb {
                text.push((n.clone(), sa, sb));
            }
        }
    }
    // Changed (both sides) by |relative|, then |delta|; then one-sided; then unchanged.
    let rank = |c: &Change| match (c.a, c.b) {
        (Some(x), Some(y)) if x != y => 0,
        (Some(_), Some(_)) => 2,
        _ => 1,
    };
    changes.sort_by(|p, q| {
        rank(p)
            .cmp(&rank(q))
            .then_with(|| {
                let r = |c: &Change| c.relative().map_or(0.0, f64::abs);
                r(q).total_cmp(&r(p))
            })
            .then_with(|| {
                let d = |c: &Change| c.delta().map_or(0.0, f64::abs);
                d(q).total_cmp(&d(p))
            })
            .then_with(|| p.name.cmp(&q.name))
    });
    Ok(Diff {
        a: a.path.clone(),
        b: b.path.clone(),
        kind: a.kind,
        changes,
        text,
    })
}

fn opt(x: Option<f64>) -> String {
    x.map_or("—".into(), show)
}

fn rel(c: &Change) -> String {
    match c.relative() {
        None => "—".into(),
        Some(r) if r.is_infinite() => if r > 0.0 { "+∞" } else { "−∞" }.into(),
        Some(r) => format!("{:+.1} %", r * 100.0),
    }
}

fn delta(c: &Change) -> String {
    c.delta().map_or("—".into(), |d| {
        if d > 0.0 {
            format!("+{}", show(d))
        } else {
            show(d)
        }
    })
}

/// The changed metrics as a text table (at most `limit` rows; the rest counted).
pub fn table(d: &Diff, limit: usize) -> String {
    let rows: Vec<&Change> = d.changes.iter().filter(|c| c.a != c.b).collect();
    let mut out = format!(
        "A = {}\nB = {}\n{} of {} metrics changed\n",
        d.a.display(),
        d.b.display(),
        rows.len(),
        d.changes.len()
    );
    if rows.is_empty() {
        return out;
    }
    let width = rows
        .iter()
        .take(limit)
        .map(|c| c.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&format!(
        "{:<width$}  {:>14}  {:>14}  {:>14}  {:>10}\n",
        "metric", "A", "B", "B − A", "relative"
    ));
    for c in rows.iter().take(limit) {
        out.push_str(&format!(
            "{:<width$}  {:>14}  {:>14}  {:>14}  {:>10}\n",
            c.name,
            opt(c.a),
            opt(c.b),
            delta(c),
            rel(c)
        ));
    }
    if rows.len() > limit {
        out.push_str(&format!(
            "… {} more changed (diff.csv has all)\n",
            rows.len() - limit
        ));
    }
    for (n, a, b) in &d.text {
        out.push_str(&format!("{n}: {a} → {b}\n"));
    }
    out
}

/// `diff.csv`: every numeric metric, in the order above.
pub fn csv(d: &Diff) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["metric", "a", "b", "delta", "relative"])?;
    for c in &d.changes {
        let cell = |x: Option<f64>| x.map(show).unwrap_or_default();
        let r = c.relative().map(|r| {
            if r.is_infinite() {
                if r > 0.0 { "inf".into() } else { "-inf".into() }
            } else {
                show(r)
            }
        });
        w.write_record([
            c.name.clone(),
            cell(c.a),
            cell(c.b),
            cell(c.delta()),
            r.unwrap_or_default(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `report.html`: the changed metrics in one table, largest first, and the text changes.
pub fn html(d: &Diff) -> String {
    let rows: Vec<Vec<String>> = d
        .changes
        .iter()
        .filter(|c| c.a != c.b)
        .map(|c| vec![c.name.clone(), opt(c.a), opt(c.b), delta(c), rel(c)])
        .collect();
    let mut section = Section::new("changes", "What changed").push(Block::Table {
        caption: format!(
            "{} of {} metrics changed, largest relative change first (then absolute)",
            rows.len(),
            d.changes.len()
        ),
        headers: ["metric", "A", "B", "B − A", "relative"]
            .map(String::from)
            .to_vec(),
        rows,
        numeric: vec![false, true, true, true, true],
        collapsed: false,
    });
    if !d.text.is_empty() {
        section = section.push(Block::List(
            d.text
                .iter()
                .map(|(n, a, b)| format!("{n}: {a} → {b}"))
                .collect(),
        ));
    }
    Page {
        title: "Two runs compared".into(),
        subtitle: format!("A = {}, B = {}", d.a.display(), d.b.display()),
        sections: vec![section],
        footer: vec![
            "Relative change is (B − A) / |A|; ∞ when A is 0. Metric names are docs/metrics.md's \
             (sweeps: setting label, then metric, each the mean across seeds)."
                .into(),
        ],
    }
    .to_html()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(kind: Kind, json: &str) -> Side {
        Side {
            path: PathBuf::from(format!("{kind:?}")),
            kind,
            leaves: metrics::flatten(&serde_json::from_str(json).unwrap()),
        }
    }

    #[test]
    fn largest_relative_change_first_then_absolute() {
        let a = side(
            Kind::Run,
            r#"{"x":100,"y":10,"z":0,"same":5,"p":"a","only_a":1,"w":1000}"#,
        );
        let b = side(
            Kind::Run,
            r#"{"x":150,"y":20,"z":3,"same":5,"p":"b","w":1500}"#,
        );
        let d = diff(&a, &b).unwrap();
        let order: Vec<&str> = d.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["z", "y", "w", "x", "only_a", "same"]);
        assert_eq!(d.changed(), 5);
        assert_eq!(d.text, [("p".into(), "a".into(), "b".into())]);
        let t = table(&d, 10);
        assert!(t.contains("+50.0 %") && t.contains("+∞"), "{t}");
        assert!(csv(&d).unwrap().contains("z,0,3,3,inf"));
        let e = diff(&a, &side(Kind::Sweep, "{}")).unwrap_err().to_string();
        assert!(e.contains("like with like"), "{e}");
    }
}
