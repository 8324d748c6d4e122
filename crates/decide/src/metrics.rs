//! The metric names of `docs/metrics.md`, compiled in, with their units; and a run's
//! `summary.json` (or any JSON report) flattened to leaves by dotted name.
//!
//! Names follow the page's notation, with list elements read by position: the page's
//! `attackers[].blocked` is `attackers[0].blocked` for the first attacker, and `<rule>` stands
//! for one rule name (`defences.sms_flow.blocked_by_rule.per_ip`).

use std::collections::BTreeMap;

/// The page the names come from; a test in tests/it/metrics_doc.rs keeps it complete.
const METRICS_MD: &str = include_str!("../../../docs/metrics.md");

/// The page naming the load reports' metrics (`bench http`, the live replay and their
/// merges), in its "Bench metrics" and "Live metrics" sections.
const EXPECT_MD: &str = include_str!("../../../docs/expect.md");

/// Which report an expectation reads, and so which names it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catalogue {
    /// A run's `summary.json` (docs/metrics.md): `run`, `sweep`, `sweep merge`.
    Run,
    /// `bench http` and `bench merge` (docs/expect.md, "Bench metrics").
    Bench,
    /// `run --live` and `live merge` (docs/expect.md, "Live metrics").
    Live,
}

impl Catalogue {
    /// Where its names are documented, for messages.
    pub fn page(self) -> &'static str {
        match self {
            Catalogue::Run => "docs/metrics.md",
            Catalogue::Bench => "docs/expect.md (Bench metrics)",
            Catalogue::Live => "docs/expect.md (Live metrics)",
        }
    }

    /// Every documented name, in the page's order.
    pub fn documented(self) -> &'static [Documented] {
        static LOAD: std::sync::OnceLock<[Vec<Documented>; 2]> = std::sync::OnceLock::new();
        match self {
            Catalogue::Run => documented(),
            Catalogue::Bench => &LOAD.get_or_init(load_catalogues)[0],
            Catalogue::Live => &LOAD.get_or_init(load_catalogues)[1],
        }
    }
}

/// docs/expect.md's two load sections: table rows, with `<endpoint>` written out for each
/// endpoint the section's `Endpoints:` line lists.
fn load_catalogues() -> [Vec<Documented>; 2] {
    ["## Bench metrics", "## Live metrics"].map(|head| {
        let section = EXPECT_MD
            .split_once(head)
            .map_or("", |(_, rest)| rest.split("\n## ").next().unwrap_or(""));
        let endpoints: Vec<&str> = section
            .lines()
            .find_map(|l| l.strip_prefix("Endpoints: "))
            .map(|l| l.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        rows(section)
            .flat_map(|d| match d.pattern.strip_prefix("<endpoint>") {
                Some(rest) => endpoints
                    .iter()
                    .map(|e| Documented {
                        pattern: format!("{e}{rest}"),
                        unit: d.unit,
                    })
                    .collect(),
                None => vec![d],
            })
            .collect()
    })
}

/// The `| \`name\` | unit | ... |` rows of a page.
fn rows(page: &str) -> impl Iterator<Item = Documented> + '_ {
    page.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once("` |")?;
            let unit = rest.split('|').next()?.trim();
            Some(Documented {
                pattern: name.to_string(),
                unit: Unit::of_column(unit),
            })
        })
}

/// What a metric's numbers are measured in, as the page's unit column says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Whole events.
    Count,
    /// Seconds of virtual time.
    Seconds,
    /// Milliseconds of wall time (load reports' latencies).
    Milliseconds,
    /// US dollars.
    Usd,
    /// A plain number: a fraction, factor, rate or an amount in the report currency.
    Number,
    /// Text, a flag, an object or a list: nothing to compare with a number.
    NotNumeric,
}

impl Unit {
    fn of_column(unit: &str) -> Unit {
        match unit {
            "count" => Unit::Count,
            "s" => Unit::Seconds,
            "ms" => Unit::Milliseconds,
            u if u.starts_with("USD") => Unit::Usd,
            "fraction" | "factor" | "rate" | "number" | "currency" => Unit::Number,
            _ => Unit::NotNumeric,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "a count",
            Unit::Seconds => "seconds",
            Unit::Milliseconds => "milliseconds",
            Unit::Usd => "USD",
            Unit::Number => "a plain number",
            Unit::NotNumeric => "not a number",
        }
    }
}

/// One row of docs/metrics.md.
#[derive(Clone, Debug)]
pub struct Documented {
    /// As the page writes it: `attackers[].blocked`, `defences.sms_flow.blocked_by_rule.<rule>`.
    pub pattern: String,
    pub unit: Unit,
}

/// Every documented name, in the page's order.
pub fn documented() -> &'static [Documented] {
    static DOC: std::sync::OnceLock<Vec<Documented>> = std::sync::OnceLock::new();
    DOC.get_or_init(|| rows(METRICS_MD).collect())
}

/// `name` with every list position `[3]` written as the page writes it, `[]`.
pub fn pattern_of(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '[' {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
        }
    }
    out
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once("<rule>") {
        None => pattern == name,
        Some((head, tail)) => name
            .strip_prefix(head)
            .and_then(|rest| rest.strip_suffix(tail))
            .is_some_and(|key| !key.is_empty() && !key.contains('.')),
    }
}

/// The documented metric `name` is an instance of, or an error naming the closest one.
pub fn lookup(name: &str) -> Result<&'static Documented, String> {
    lookup_in(Catalogue::Run, name)
}

/// [`lookup`] in `catalogue`.
pub fn lookup_in(catalogue: Catalogue, name: &str) -> Result<&'static Documented, String> {
    let pattern = pattern_of(name);
    let doc = catalogue.documented();
    if let Some(d) = doc.iter().find(|d| matches(&d.pattern, &pattern)) {
        return Ok(d);
    }
    let near = crate::closest(&pattern, doc.iter().map(|d| d.pattern.as_str())).unwrap_or("(none)");
    Err(format!(
        "unknown metric `{name}`: the closest name in {} is `{near}`",
        catalogue.page()
    ))
}

/// A leaf of a JSON report.
#[derive(Clone, Debug, PartialEq)]
pub enum Leaf {
    /// A number, or a string holding one (money is written as `"12.50"`).
    Num(f64),
    /// `null`: the page says when (nothing refused yet, a flow that did not run).
    Null,
    /// Text or a flag.
    Other(String),
}

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leaf::Num(x) => write!(f, "{}", show(*x)),
            Leaf::Null => f.write_str("null"),
            Leaf::Other(s) => f.write_str(s),
        }
    }
}

/// A number as a person reads it: whole numbers without a fraction, others to 6 significant
/// digits at most.
pub fn show(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Every leaf of `v` by dotted name (`a.b`, list elements `a[0]`); empty lists and objects
/// have none.
pub fn flatten(v: &serde_json::Value) -> BTreeMap<String, Leaf> {
    fn walk(v: &serde_json::Value, path: &str, out: &mut BTreeMap<String, Leaf>) {
        use serde_json::Value as J;
        match v {
            J::Object(m) => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, &p, out);
                }
            }
            J::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, &format!("{path}[{i}]"), out);
                }
            }
            J::Null => {
                out.insert(path.into(), Leaf::Null);
            }
            J::Number(n) => {
                out.insert(path.into(), n.as_f64().map_or(Leaf::Null, Leaf::Num));
            }
            J::String(s) => {
                let leaf = match s.parse::<f64>() {
                    Ok(x)
                        if x.is_finite()
                            && s.bytes()
                                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
                    {
                        Leaf::Num(x)
                    }
                    _ => Leaf::Other(s.clone()),
                };
                out.insert(path.into(), leaf);
            }
            J::Bool(b) => {
                out.insert(path.into(), Leaf::Other(b.to_string()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", &mut out);
    out
}

/// The numeric leaves of a run's summary that a sweep averages: every number except the seed
/// (which differs by design) and the conversion rule's block list (times, not amounts).
pub fn numeric(summary: &BTreeMap<String, Leaf>) -> BTreeMap<String, f64> {
    summary
        .iter()
        .filter(|(k, _)| k.as_str() != "seed" && !k.starts_with("blocks."))
        .filter_map(|(k, v)| match v {
            Leaf::Num(x) => Some((k.clone(), *x)),
            _ => None,
        })
        .collect()
}

/// The two axes of a sweep's Pareto chart, from one run's numbers.
pub mod pareto_axes {
    use std::collections::BTreeMap;

    /// Pumped SMS that got through, priced by the cost model, both flows.
    pub const PUMPED_USD: [&str; 2] = [
        "cost_model_usd.sms_flow.pumped_sms",
        "cost_model_usd.reverse_flow.pumped_sms",
    ];
    /// Legit requests refused an SMS: by a defence, by the CAPTCHA, or by a suspended or
    /// empty prepaid account, both flows.
    pub const LEGIT_BLOCKED: [&str; 5] = [
        "defences.sms_flow.legit_blocked",
        "defences.reverse_flow.legit_blocked",
        "sms.captcha_blocked_legit",
        "billing.sms_flow.balance.legit_sms_refused",
        "billing.reverse_flow.balance.legit_sms_refused",
    ];

    /// The sum of `names` in `m` (a missing or null one counts 0: its flow did not run).
    pub fn sum(m: &BTreeMap<String, f64>, names: &[&str]) -> f64 {
        names.iter().filter_map(|n| m.get(*n)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_the_names_with_their_units() {
        let doc = documented();
        assert!(doc.len() > 100, "{}", doc.len());
        let unit = |n: &str| lookup(n).unwrap().unit;
        assert_eq!(unit("legit.users"), Unit::Count);
        assert_eq!(unit("cost_model_usd.sms_flow.pumped_sms"), Unit::Usd);
        assert_eq!(
            unit("defences.sms_flow.time_to_first_block_s"),
            Unit::Seconds
        );
        assert_eq!(unit("attackers[1].blocked"), Unit::Count);
        assert_eq!(
            unit("defences.sms_flow.blocked_by_rule.per_ip"),
            Unit::Count
        );
        assert_eq!(unit("scenario"), Unit::NotNumeric);
        for p in super::pareto_axes::PUMPED_USD
            .iter()
            .chain(&super::pareto_axes::LEGIT_BLOCKED)
        {
            assert!(lookup(p).is_ok(), "{p} is not on the page");
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_the_closest_one() {
        let e = lookup("defences.sms_flow.legit_blockd").unwrap_err();
        assert!(e.contains("`defences.sms_flow.legit_blocked`"), "{e}");
        assert!(lookup("defences.sms_flow.blocked_by_rule.a.b").is_err());
    }

    #[test]
    fn flatten_names_leaves_as_the_page_does() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"a":{"b":1,"c":"12.50","d":null,"e":"US"},"l":[{"x":2},{"x":3}],"t":true}"#,
        )
        .unwrap();
        let f = flatten(&v);
        assert_eq!(f["a.b"], Leaf::Num(1.0));
        assert_eq!(f["a.c"], Leaf::Num(12.5));
        assert_eq!(f["a.d"], Leaf::Null);
        assert_eq!(f["a.e"], Leaf::Other("US".into()));
        assert_eq!(f["l[1].x"], Leaf::Num(3.0));
        assert_eq!(f["t"], Leaf::Other("true".into()));
        assert_eq!(pattern_of("l[12].x[3]"), "l[].x[]");
    }
}
