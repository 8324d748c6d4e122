//! Expectations: small expressions over the metric names of docs/metrics.md that a run must
//! meet, e.g. `cost_model_usd.sms_flow.pumped_sms < $500 and defences.sms_flow.legit_blocked
//! <= 10`. docs/expect.md is the language's reference:
//!
//! ```text
//! expectation := ["any:"] comparison ("and" comparison)*
//! comparison  := operand ("<" | "<=" | ">" | ">=" | "==" | "!=") operand
//! operand     := metric | number
//! number      := ["$"] decimal [unit]        unit: ms s m h d (seconds metrics), usd (USD), %
//! ```
//!
//! A name docs/metrics.md does not list is an error naming the closest one; a unit that does
//! not fit the metric is an error too. Nothing is silently false: a metric a run has no
//! number for (a flow that did not run, a `null`) fails the comparison and says so.

use crate::metrics::{self, Catalogue, Leaf, Unit};
use std::collections::BTreeMap;

/// One or more expectations failed. The binary exits with status 3 ("a check you asked for
/// failed") for this error and for a failed audit case, and for nothing else.
#[derive(Debug, thiserror::Error)]
#[error("{} expectation(s) failed:\n  {}", .0.len(), .0.join("\n  "))]
pub struct Failed(pub Vec<String>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Metric {
        name: String,
        unit: Unit,
    },
    /// A number in the metric's own unit (seconds, USD), as written.
    Value {
        value: f64,
        unit: Option<Unit>,
    },
}

#[derive(Clone, Debug, PartialEq)]
struct Comparison {
    left: Operand,
    op: Op,
    right: Operand,
    text: String,
}

/// A parsed expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The `[expect]` key, or the expression itself for `--expect`.
    pub name: String,
    pub text: String,
    /// `any:`: in a sweep, one setting meeting it is enough (else every setting must).
    pub any: bool,
    parts: Vec<Comparison>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Number {
        value: f64,
        unit: Option<Unit>,
        written: String,
    },
    Op(Op),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op = match two.as_str() {
            "<=" => Some((Op::Le, 2)),
            ">=" => Some((Op::Ge, 2)),
            "==" => Some((Op::Eq, 2)),
            "!=" => Some((Op::Ne, 2)),
            _ if c == '<' => Some((Op::Lt, 1)),
            _ if c == '>' => Some((Op::Gt, 1)),
            _ => None,
        };
        if let Some((op, len)) = op {
            out.push(Token::Op(op));
            i += len;
            continue;
        }
        if c == '$'
            || c.is_ascii_digit()
            || (c == '-' || c == '.') && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            let dollar = c == '$';
            let start = if dollar { i + 1 } else { i };
            let mut j = start;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || matches!(chars[j], '.' | '-' | '_')
                    || (chars[j] == 'e'
                        && chars
                            .get(j + 1)
                            .is_some_and(|d| d.is_ascii_digit() || *d == '-')))
            {
                j += 1;
            }
            let digits: String = chars[start..j].iter().filter(|c| **c != '_').collect();
            let mut k = j;
            while k < chars.len() && (chars[k].is_ascii_alphabetic() || chars[k] == '%') {
                k += 1;
            }
            let unit: String = chars[j..k].iter().collect();
            let written: String = chars[i..k].iter().collect();
            let value: f64 = digits
                .parse()
                .map_err(|_| format!("`{written}` is not a number"))?;
            let (value, unit) = match (dollar, unit.to_ascii_lowercase().as_str()) {
                (true, "") | (false, "usd") => (value, Some(Unit::Usd)),
                (false, "") => (value, None),
                (false, "%") => (value / 100.0, Some(Unit::Number)),
                (false, "ms") => (value / 1000.0, Some(Unit::Seconds)),
                (false, "s") => (value, Some(Unit::Seconds)),
                (false, "m") => (value * 60.0, Some(Unit::Seconds)),
                (false, "h") => (value * 3600.0, Some(Unit::Seconds)),
                (false, "d") => (value * 86_400.0, Some(Unit::Seconds)),
                _ => {
                    return Err(format!(
                        "`{written}`: unknown unit `{unit}` (units: ms, s, m, h, d; $ or usd; %)"
                    ));
                }
            };
            out.push(Token::Number {
                value,
                unit,
                written,
            });
            i = k;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric()
                    || matches!(chars[j], '_' | '.' | '[' | ']' | '-'))
            {
                j += 1;
            }
            out.push(Token::Word(chars[i..j].iter().collect()));
            i = j;
            continue;
        }
        return Err(format!("unexpected `{c}`"));
    }
    Ok(out)
}

fn operand(catalogue: Catalogue, t: &Token) -> Result<Operand, String> {
    match t {
        Token::Number { value, unit, .. } => Ok(Operand::Value {
            value: *value,
            unit: *unit,
        }),
        Token::Word(w) if w == "and" => Err("`and` where a metric or number belongs".into()),
        Token::Word(w) => {
            let doc = metrics::lookup_in(catalogue, w)?;
            if doc.unit == Unit::NotNumeric {
                return Err(format!(
                    "`{w}` is not a number ({}: `{}`)",
                    catalogue.page(),
                    doc.pattern
                ));
            }
            Ok(Operand::Metric {
                name: w.clone(),
                unit: doc.unit,
            })
        }
        Token::Op(_) => Err("two comparison operators in a row".into()),
    }
}

/// Whether a number written with `unit` may be compared with a metric in `metric`.
fn fits(metric: Unit, unit: Option<Unit>) -> bool {
    match unit {
        None => true,
        Some(Unit::Number) => !matches!(metric, Unit::Usd | Unit::Seconds | Unit::Milliseconds),
        // A duration (`2ms`, `1s`) fits a milliseconds metric: see [`in_unit_of`].
        Some(Unit::Seconds) => matches!(metric, Unit::Seconds | Unit::Milliseconds),
        Some(u) => u == metric,
    }
}

/// `value` in the unit of the metric it is compared with: durations are read in seconds, so a
/// milliseconds metric gets them times 1,000.
fn in_unit_of(value: Operand, other: &Operand) -> Operand {
    match (value, other) {
        (
            Operand::Value {
                value,
                unit: Some(Unit::Seconds),
            },
            Operand::Metric {
                unit: Unit::Milliseconds,
                ..
            },
        ) => Operand::Value {
            value: value * 1000.0,
            unit: Some(Unit::Milliseconds),
        },
        (v, _) => v,
    }
}

fn show_token(t: &Token) -> String {
    match t {
        Token::Word(w) => w.clone(),
        Token::Number { written, .. } => written.clone(),
        Token::Op(op) => match op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
        .into(),
    }
}

impl Expectation {
    /// Parses `text`; `name` labels it in messages. Errors name the problem and the
    /// expectation.
    pub fn parse(name: &str, text: &str) -> Result<Expectation, String> {
        Expectation::parse_in(Catalogue::Run, name, text)
    }

    /// [`Expectation::parse`] over the names of `catalogue`.
    pub fn parse_in(catalogue: Catalogue, name: &str, text: &str) -> Result<Expectation, String> {
        let err = |e: String| format!("expectation {name:?} ({text}): {e}");
        let (any, body) = match text.trim_start().strip_prefix("any:") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let toks = tokens(body).map_err(err)?;
        let mut parts = Vec::new();
        for chunk in toks.split(|t| *t == Token::Word("and".into())) {
            let [a, Token::Op(op), b] = chunk else {
                let got: Vec<String> = chunk.iter().map(show_token).collect();
                return Err(err(format!(
                    "expected `METRIC OP VALUE` between `and`s, got `{}` (docs/expect.md)",
                    got.join(" ")
                )));
            };
            let (left, right) = (
                operand(catalogue, a).map_err(err)?,
                operand(catalogue, b).map_err(err)?,
            );
            let unit_of = |o: &Operand| match o {
                Operand::Metric { unit, .. } => Some(*unit),
                Operand::Value { .. } => None,
            };
            match (&left, &right) {
                (Operand::Value { .. }, Operand::Value { .. }) => {
                    return Err(err("a comparison needs at least one metric".into()));
                }
                (Operand::Metric { name: n, unit: u }, Operand::Value { unit, .. })
                | (Operand::Value { unit, .. }, Operand::Metric { name: n, unit: u }) => {
                    if !fits(*u, *unit) {
                        return Err(err(format!(
                            "`{n}` is {}, compared with a number in {}",
                            u.name(),
                            unit.map_or("no unit", Unit::name)
                        )));
                    }
                }
                _ => {
                    if unit_of(&left) != unit_of(&right) {
                        return Err(err("the two metrics are in different units".into()));
                    }
                }
            }
            let converted = in_unit_of(left.clone(), &right);
            let right = in_unit_of(right, &left);
            let left = converted;
            parts.push(Comparison {
                left,
                op: *op,
                right,
                text: chunk.iter().map(show_token).collect::<Vec<_>>().join(" "),
            });
        }
        Ok(Expectation {
            name: name.to_string(),
            text: text.trim().to_string(),
            any,
            parts,
        })
    }

    /// Whether `run` (a flattened summary, or a sweep setting's means) meets this; on failure,
    /// the comparisons that failed with the measured values.
    pub fn check(&self, run: &BTreeMap<String, Leaf>) -> Result<(), String> {
        let mut failed = Vec::new();
        for c in &self.parts {
            let mut measured = Vec::new();
            let mut value = |o: &Operand| match o {
                Operand::Value { value, .. } => Some(*value),
                Operand::Metric { name, unit } => match run.get(name) {
                    Some(Leaf::Num(x)) => {
                        measured.push(format!("{name} = {}{}", metrics::show(*x), suffix(*unit)));
                        Some(*x)
                    }
                    Some(other) => {
                        measured.push(format!("{name} = {other}"));
                        None
                    }
                    None => {
                        measured.push(format!("{name} has no value in this run"));
                        None
                    }
                },
            };
            let (a, b) = (value(&c.left), value(&c.right));
            let holds = matches!((a, b), (Some(a), Some(b)) if c.op.holds(a, b));
            if !holds {
                failed.push(format!("{} (measured {})", c.text, measured.join(", ")));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }
}

fn suffix(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => " s",
        Unit::Usd => " USD",
        Unit::Milliseconds => " ms",
        _ => "",
    }
}

/// `[expect]` entries and `--expect` expressions, parsed (every error at once).
pub fn parse_all(table: &[(String, String)], flags: &[String]) -> Result<Vec<Expectation>, String> {
    parse_all_in(Catalogue::Run, table, flags)
}

/// [`parse_all`] over the names of `catalogue`.
pub fn parse_all_in(
    catalogue: Catalogue,
    table: &[(String, String)],
    flags: &[String],
) -> Result<Vec<Expectation>, String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let named = table.iter().map(|(n, t)| (n.clone(), t.clone())).chain(
        flags
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("--expect #{}", i + 1), t.clone())),
    );
    for (name, text) in named {
        match Expectation::parse_in(catalogue, &name, &text) {
            Ok(e) => out.push(e),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("\n"))
    }
}

/// `dir/summary.json`, parsed; the error names the file.
pub fn read_summary(dir: &std::path::Path) -> Result<serde_json::Value, String> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks one run's `summary.json` against `expect`: `Ok` with a line per expectation met,
/// or [`Failed`] naming each one that was not and what was measured.
pub fn check_run(
    expect: &[Expectation],
    summary: &serde_json::Value,
) -> Result<Vec<String>, Failed> {
    let leaves = metrics::flatten(summary);
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for e in expect {
        match e.check(&leaves) {
            Ok(()) => ok.push(format!("expectation met: {}: {}", e.name, e.text)),
            Err(why) => failed.push(format!("{}: {}", e.name, why)),
        }
    }
    if failed.is_empty() {
        Ok(ok)
    } else {
        Err(Failed(failed))
    }
}

#[cfg(test)]
mod tests;
