//! Every error of a TOML file at once, each with its line and key path.
//!
//! serde stops at the first error, so a file with five mistakes would take five rounds. Here
//! the typed parse runs on the document's spanned tree ([`DeTable`]), and after each error the
//! entry it points at is taken out of the tree and the parse runs again, until the rest parses
//! or nothing more can be learnt. The known keys, the types and the checked values (durations,
//! countries, probabilities) are therefore the serde structs' own: there is no second list of
//! keys to keep in step when a key is added.
//!
//! A required key that failed is taken out too, so its table then misses it; serde reports a
//! missing key only after every other key of the table parsed, so the table itself is taken
//! out next (and at the top level the search ends: everything else parsed).

use super::Problem;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::de::{DeArray, DeTable, DeValue};

/// Errors one file may report: each costs a parse of the whole document, so a generated
/// file with an error in each of thousands of tables stops here.
pub const MAX_PROBLEMS: usize = 100;

/// Where each key of a document is: its path (`legit.countries.US`, `attacker[2].end`, array
/// elements counted from 1) and the 1-based line it is written on.
#[derive(Clone, Debug, Default)]
pub struct KeyLines {
    lines: BTreeMap<String, usize>,
}

impl KeyLines {
    /// The line of `path`, or of its nearest enclosing key that the file writes (an error about
    /// a key that is absent points at its table).
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// A problem about `key`, at its line.
    pub fn problem(&self, key: impl Into<String>, message: impl Into<String>) -> Problem {
        let key = key.into();
        Problem {
            line: self.line(&key),
            key,
            message: message.into(),
        }
    }
}

/// What [`collect`] learnt of a document.
#[derive(Debug)]
pub struct Collected<T> {
    /// The document less the entries that failed, parsed; `None` when a syntax error, or a
    /// top-level key that failed or is missing, leaves nothing whole to parse.
    pub value: Option<T>,
    /// Every error found, in file order.
    pub problems: Vec<Problem>,
    pub keys: KeyLines,
    /// Paths of the entries taken out because they failed: checks of the parsed value about
    /// these keys would only repeat their errors.
    pub removed: Vec<String>,
    /// An array element was taken out, so the indexes of `value`'s arrays are not the file's.
    pub renumbered: bool,
}

impl<T> Collected<T> {
    /// Whether `key` is, is inside, or holds an entry that was taken out.
    pub fn touches_removed(&self, key: &str) -> bool {
        let within = |inner: &str, outer: &str| {
            inner == outer
                || inner
                    .strip_prefix(outer)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        };
        self.removed
            .iter()
            .any(|r| within(key, r) || within(r, key))
    }
}

/// One key or array element of the document, as written.
struct Entry {
    path: String,
    /// The key's span; `None` for an array element.
    key: Option<Range<usize>>,
    value: Range<usize>,
    line: usize,
}

/// Parses `text` into `T`, collecting every error (see the module header).
pub fn collect<T: DeserializeOwned>(text: &str) -> Collected<T> {
    let (doc, syntax) = DeTable::parse_recoverable(text);
    let lines = Lines::of(text);
    let mut out = Collected {
        value: None,
        problems: Vec::new(),
        keys: KeyLines::default(),
        removed: Vec::new(),
        renumbered: false,
    };
    if !syntax.is_empty() {
        out.problems = syntax
            .iter()
            .map(|e| Problem {
                line: e.span().map(|s| lines.line(s.start)),
                key: String::new(),
                message: e.message().trim().to_string(),
            })
            .collect();
        out.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        return out;
    }
    let mut entries = Vec::new();
    index(doc.get_ref(), "", &lines, &mut entries);
    for e in &entries {
        out.keys.lines.entry(e.path.clone()).or_insert(e.line);
    }
    let mut doc = doc;
    // Each round takes one entry out, so this bounds the rounds.
    for _ in 0..=entries.len() {
        if out.problems.len() >= MAX_PROBLEMS {
            out.problems.push(Problem {
                line: None,
                key: String::new(),
                message: format!("more errors may follow: fix these {MAX_PROBLEMS} first"),
            });
            break;
        }
        let err = match T::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(v) => {
                out.value = Some(v);
                break;
            }
            Err(e) => e,
        };
        let entry = err.span().and_then(|s| find(&entries, &s));
        let message = err.message().trim();
        if let Some(field) = missing_field(message) {
            let key = join(entry.map_or("", |e| e.path.as_str()), field);
            if !out.removed.contains(&key) {
                out.problems.push(Problem {
                    line: entry.map(|e| e.line),
                    key,
                    message: "required key is missing".into(),
                });
            }
        } else {
            out.problems.push(Problem {
                line: err.span().map(|s| lines.line(s.start)),
                key: entry.map_or_else(String::new, |e| e.path.clone()),
                message: with_suggestion(message),
            });
        }
        // Take the entry out and parse the rest; at the top level (no entry) nothing is left.
        let Some(entry) = entry else { break };
        if !remove(doc.get_mut(), entry) {
            break;
        }
        out.removed.push(entry.path.clone());
        out.renumbered |= entry.key.is_none();
    }
    out.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    out
}

/// `a.b`, or `b` at the top.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The byte offset where each line starts, to number the lines of many entries quickly.
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Self {
        let starts = std::iter::once(0).chain(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines(starts.collect())
    }

    /// 1-based line of byte offset `at`.
    fn line(&self, at: usize) -> usize {
        self.0.partition_point(|&start| start <= at)
    }
}

fn index(t: &DeTable<'_>, prefix: &str, text: &Lines, out: &mut Vec<Entry>) {
    for (k, v) in t.iter() {
        let path = join(prefix, k.get_ref());
        out.push(Entry {
            path: path.clone(),
            key: Some(k.span()),
            value: v.span(),
            line: text.line(k.span().start),
        });
        index_value(v.get_ref(), &path, text, out);
    }
}

fn index_value(v: &DeValue<'_>, path: &str, text: &Lines, out: &mut Vec<Entry>) {
    match v {
        DeValue::Table(t) => index(t, path, text, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{path}[{}]", i + 1);
                out.push(Entry {
                    path: at.clone(),
                    key: None,
                    value: item.span(),
                    line: text.line(item.span().start),
                });
                index_value(item.get_ref(), &at, text, out);
            }
        }
        _ => {}
    }
}

/// The entry an error's span names: the deepest whose key or value is exactly that span (an
/// array of tables has the span of its first element, which is meant), else the narrowest
/// that contains it.
fn find<'e>(entries: &'e [Entry], span: &Range<usize>) -> Option<&'e Entry> {
    let depth = |e: &Entry| e.path.matches(['.', '[']).count();
    entries
        .iter()
        .filter(|e| e.key.as_ref() == Some(span) || e.value == *span)
        .max_by_key(|e| depth(e))
        .or_else(|| {
            entries
                .iter()
                .filter(|e| e.value.start <= span.start && span.end <= e.value.end)
                .filter(|e| e.value != (0..0))
                .min_by_key(|e| (e.value.len(), std::cmp::Reverse(depth(e))))
        })
}

/// Takes `entry` out of the tree; false when it is not there (already gone).
fn remove(t: &mut DeTable<'_>, entry: &Entry) -> bool {
    if let Some(key_span) = &entry.key {
        let hit = t.iter().find(|(k, _)| k.span() == *key_span);
        if let Some((k, _)) = hit {
            let k = k.clone();
            return t.remove(&k).is_some();
        }
    }
    t.iter_mut()
        .any(|(_, v)| remove_in_value(v.get_mut(), entry))
}

fn remove_in_value(v: &mut DeValue<'_>, entry: &Entry) -> bool {
    match v {
        DeValue::Table(t) => remove(t, entry),
        DeValue::Array(items) => {
            if entry.key.is_none()
                && let Some(i) = items.iter().position(|e| e.span() == entry.value)
            {
                let mut kept = DeArray::new();
                for (j, item) in items.iter().enumerate() {
                    if j != i {
                        kept.push(item.clone());
                    }
                }
                *items = kept;
                return true;
            }
            items
                .iter_mut()
                .any(|item| remove_in_value(item.get_mut(), entry))
        }
        _ => false,
    }
}

/// The field of serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with the closest known key named
/// first: "unknown field `x` (did you mean `a`?), expected one of ...". The list stays last,
/// as serde writes it, for the tests that read the known keys from it.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    let known: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    match closest(field, &known) {
        Some(k) => format!("unknown field `{field}` (did you mean `{k}`?){tail}"),
        None => message.to_string(),
    }
}

/// The known key nearest `field` by edit distance, if near enough to be a typo.
pub fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (field.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(field, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
