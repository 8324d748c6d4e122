//! The grid of a sweep: `--set KEY=V1,V2,...` and `--set KEY=A..B:STEP` axes, their
//! cartesian product (the settings, the first axis outermost), how a setting edits the
//! scenario's TOML, and which runs a shard `I/N` makes.

use std::fmt::Write as _;

/// Values one axis may have, a named limit so a typo in a range cannot ask for millions.
pub const MAX_VALUES_PER_AXIS: usize = 10_000;
/// Runs (settings × seeds) one sweep may have.
pub const MAX_RUNS: usize = 1_000_000;

/// One `--set`: a scenario key and the values it takes, in order. `None` removes the key
/// (written `~`), e.g. to compare "no preset" with presets.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<Option<toml::Value>>,
}

/// A value as the tables show it: `~` for "left out", strings unquoted.
pub fn show_value(v: &Option<toml::Value>) -> String {
    match v {
        None => "~".into(),
        Some(toml::Value::String(s)) => s.clone(),
        Some(toml::Value::Float(f)) => crate::metrics::show(*f),
        Some(other) => other.to_string(),
    }
}

impl Axis {
    /// Parses `KEY=V1,V2,...` or `KEY=A..B:STEP`; the key is checked against the keys the
    /// scenario parser accepts.
    pub fn parse(spec: &str) -> Result<Axis, String> {
        let Some((key, values)) = spec.split_once('=') else {
            return Err(format!(
                "--set {spec:?}: expected KEY=V1,V2,... or KEY=A..B:STEP"
            ));
        };
        let key = key.trim();
        crate::keys::check(key)?;
        let values = values.trim();
        let parsed = if let Some(range) = parse_range(values) {
            range.map_err(|e| format!("--set {key}: {e}"))?
        } else {
            values
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(parse_value)
                .collect()
        };
        if parsed.is_empty() {
            return Err(format!("--set {key}: no values (the grid would be empty)"));
        }
        if parsed.len() > MAX_VALUES_PER_AXIS {
            return Err(format!(
                "--set {key}: {} values, more than the {MAX_VALUES_PER_AXIS} an axis may have",
                parsed.len()
            ));
        }
        Ok(Axis {
            key: key.to_string(),
            values: parsed,
        })
    }
}

/// A value as TOML would read it (`5`, `0.2`, `true`, `"x"`), else as a string (`1h`,
/// `authgear`); `~` leaves the key out.
fn parse_value(v: &str) -> Option<toml::Value> {
    if v == "~" {
        return None;
    }
    let parsed = format!("v = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    Some(parsed.unwrap_or_else(|| toml::Value::String(v.to_string())))
}

/// `A..B:STEP`, both ends included when B is on the grid; integers when all three are.
fn parse_range(v: &str) -> Option<Result<Vec<Option<toml::Value>>, String>> {
    let (a, rest) = v.split_once("..")?;
    let (b, step) = rest.split_once(':')?;
    let (a, b, step) = (a.trim(), b.trim(), step.trim());
    if let (Ok(a), Ok(b), Ok(step)) = (a.parse::<i64>(), b.parse::<i64>(), step.parse::<i64>()) {
        if step <= 0 || b < a {
            return Some(Err(format!("{v}: needs A <= B and STEP > 0")));
        }
        let n = (b - a) / step + 1;
        if n as usize > MAX_VALUES_PER_AXIS {
            return Some(Err(format!(
                "{v}: {n} values, more than {MAX_VALUES_PER_AXIS}"
            )));
        }
        return Some(Ok((0..n)
            .map(|i| Some(toml::Value::Integer(a + i * step)))
            .collect()));
    }
    let num = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
    let (Some(a), Some(b), Some(step)) = (num(a), num(b), num(step)) else {
        return Some(Err(format!("{v}: A, B and STEP must be numbers")));
    };
    if step <= 0.0 || b < a {
        return Some(Err(format!("{v}: needs A <= B and STEP > 0")));
    }
    let n = ((b - a) / step + 1e-9).floor() + 1.0;
    if n > MAX_VALUES_PER_AXIS as f64 {
        return Some(Err(format!(
            "{v}: {n} values, more than {MAX_VALUES_PER_AXIS}"
        )));
    }
    // a + i·step, rounded to 12 significant digits so 0.1 + 2·0.1 is written 0.3.
    let round = |x: f64| format!("{x:.12e}").parse::<f64>().unwrap_or(x);
    Some(Ok((0..n as i64)
        .map(|i| Some(toml::Value::Float(round(a + i as f64 * step))))
        .collect()))
}

/// The axes of a sweep, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

/// One point of the grid: a value for each axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub values: Vec<(String, Option<toml::Value>)>,
}

impl Setting {
    /// `key=value, key=value` (`as written` for a sweep with no `--set`).
    pub fn label(&self) -> String {
        if self.values.is_empty() {
            return "as written".into();
        }
        let mut s = String::new();
        for (i, (k, v)) in self.values.iter().enumerate() {
            let _ = write!(s, "{}{k}={}", if i > 0 { ", " } else { "" }, show_value(v));
        }
        s
    }

    /// The scenario `base` with this setting's keys set (tables on the way created where
    /// missing, `~` removing a key).
    pub fn apply(&self, base: &toml::Table) -> Result<toml::Table, String> {
        let mut t = base.clone();
        for (key, value) in &self.values {
            set(&mut t, key, value.clone())?;
        }
        Ok(t)
    }
}

fn set(t: &mut toml::Table, key: &str, value: Option<toml::Value>) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    set_at(t, &parts, key, value)
}

/// Sets `parts` (the rest of `key`) below `t`; a number after a list's name picks an element.
fn set_at(
    t: &mut toml::Table,
    parts: &[&str],
    key: &str,
    value: Option<toml::Value>,
) -> Result<(), String> {
    let index = |p: &str| p.parse::<usize>().ok();
    let Some((first, rest)) = parts.split_first() else {
        return Err(format!("{key}: a key must end in a name"));
    };
    if index(first).is_some() {
        return Err(format!("{key}: a position must follow a list's name"));
    }
    if rest.is_empty() {
        match value {
            Some(v) => t.insert(first.to_string(), v),
            None => t.remove(*first),
        };
        return Ok(());
    }
    let slot = t
        .entry(first.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match (slot, index(rest[0])) {
        (toml::Value::Array(items), Some(i)) => {
            let len = items.len();
            let item = items
                .get_mut(i)
                .ok_or_else(|| {
                    format!("{key}: the scenario's `{first}` has {len} element(s), no {i}")
                })?
                .as_table_mut()
                .ok_or_else(|| format!("{key}: `{first}` is not a list of tables"))?;
            set_at(item, &rest[1..], key, value)
        }
        (toml::Value::Table(sub), None) => set_at(sub, rest, key, value),
        (_, Some(_)) => Err(format!("{key}: `{first}` is not a list in the scenario")),
        (_, None) => Err(format!("{key}: `{first}` is not a table in the scenario")),
    }
}

impl Grid {
    pub fn new(axes: Vec<Axis>) -> Result<Grid, String> {
        for (i, a) in axes.iter().enumerate() {
            if axes[..i].iter().any(|b| b.key == a.key) {
                return Err(format!("--set {}: given twice", a.key));
            }
        }
        Ok(Grid { axes })
    }

    /// Every setting, the last axis varying fastest.
    pub fn settings(&self) -> Vec<Setting> {
        let mut out = vec![Setting { values: Vec::new() }];
        for axis in &self.axes {
            out = out
                .into_iter()
                .flat_map(|s| {
                    axis.values.iter().map(move |v| {
                        let mut values = s.values.clone();
                        values.push((axis.key.clone(), v.clone()));
                        Setting { values }
                    })
                })
                .collect();
        }
        out
    }
}

/// `--shard I/N`: the I-th of N slices of a sweep's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: expected I/N, e.g. 0/4 (I from 0 to N-1)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 {
            return Err(format!("--shard {s}: N must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "--shard {s}: shard index {index} is out of range: {count} shard(s) are numbered \
                 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether run `k` (setting × seeds + seed position) is this shard's: every N-th run,
    /// so each shard gets a share of every part of the grid.
    pub fn owns(self, k: usize) -> bool {
        k % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(spec: &str) -> Vec<String> {
        Axis::parse(spec)
            .unwrap()
            .values
            .iter()
            .map(show_value)
            .collect()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(values("defences.sms.per_ip=5,10, 30"), ["5", "10", "30"]);
        assert_eq!(
            values("defences.sms.per_ip=5..20:5"),
            ["5", "10", "15", "20"]
        );
        assert_eq!(values("defences.sms.per_ip=5..19:5"), ["5", "10", "15"]);
        assert_eq!(
            values("defences.sms.conversion.threshold=0.1..0.5:0.1"),
            ["0.1", "0.2", "0.3", "0.4", "0.5"]
        );
        assert_eq!(values("defences.sms.preset=~,authgear"), ["~", "authgear"]);
        assert_eq!(values("defences.sms.window=1h,30m"), ["1h", "30m"]);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert!(
            Axis::parse("defences.sms.per_ip")
                .unwrap_err()
                .contains("KEY=V1")
        );
        assert!(
            Axis::parse("defences.sms.per_ip=")
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            Axis::parse("defences.sms.per_ip=9..1:1")
                .unwrap_err()
                .contains("A <= B")
        );
        assert!(
            Axis::parse("defences.sms.per_ip=1..9:0")
                .unwrap_err()
                .contains("STEP > 0")
        );
        assert!(
            Axis::parse("defences.sms.per_ip=0..1e9:1")
                .unwrap_err()
                .contains("more than")
        );
        let e = Axis::parse("defences.sms.perip=1").unwrap_err();
        assert!(e.contains("defences.sms.per_ip"), "{e}");
        let a = Axis::parse("defences.sms.per_ip=1").unwrap();
        assert!(Grid::new(vec![a.clone(), a]).unwrap_err().contains("twice"));
    }

    #[test]
    fn the_grid_is_the_product_and_settings_edit_the_toml() {
        let g = Grid::new(vec![
            Axis::parse("defences.sms.per_ip=5,10").unwrap(),
            Axis::parse("defences.sms.preset=~,authgear,x").unwrap(),
        ])
        .unwrap();
        let s = g.settings();
        assert_eq!(s.len(), 6);
        assert_eq!(
            s[1].label(),
            "defences.sms.per_ip=5, defences.sms.preset=authgear"
        );
        let base: toml::Table = "[defences.sms]\npreset = \"y\"\n[[attacker]]\nrate_per_s = 1.0\n"
            .parse()
            .unwrap();
        let t = s[0].apply(&base).unwrap();
        assert_eq!(t["defences"]["sms"]["per_ip"].as_integer(), Some(5));
        assert!(
            t["defences"]["sms"].get("preset").is_none(),
            "~ removes the key"
        );
        let one = Setting {
            values: vec![(
                "attacker.0.rate_per_s".into(),
                Some(toml::Value::Float(2.0)),
            )],
        };
        let t = one.apply(&base).unwrap();
        assert_eq!(t["attacker"][0]["rate_per_s"].as_float(), Some(2.0));
        let past = Setting {
            values: vec![(
                "attacker.3.rate_per_s".into(),
                Some(toml::Value::Float(2.0)),
            )],
        };
        assert!(past.apply(&base).unwrap_err().contains("no 3"));
    }

    #[test]
    fn shards_split_the_runs_and_refuse_an_index_out_of_range() {
        let s: Shard = "1/3".parse().unwrap();
        let mine: Vec<usize> = (0..7).filter(|k| s.owns(*k)).collect();
        assert_eq!(mine, [1, 4]);
        assert!("3/3".parse::<Shard>().unwrap_err().contains("out of range"));
        assert!("0/0".parse::<Shard>().is_err());
        assert!("a/3".parse::<Shard>().is_err());
    }
}
