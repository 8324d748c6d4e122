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
//! missing key only after every other key of the table parsed. It (and a key the file never
//! wrote) then gets a stand-in: the first of a few plain values, or the variant serde names,
//! that parses, so the table and the file stay whole and the checks that need several keys can
//! run on them; the key counts as failed ([`Collected::touches_removed`]), so a check that
//! reads it is left out. Only when no value parses is the table taken out.
//!
//! A value whose own check fails after the element parsed (a country code in a list) gives an
//! error at its array, not at the element; each element is then tried alone, every bad one is
//! reported at its line and replaced by a copy of a good one, so the indexes stay the file's.

use super::Problem;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;
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
    /// The document less the entries that failed (with stand-ins for the required ones),
    /// parsed; `None` when a syntax error, or a top-level key no value can stand in for,
    /// leaves nothing whole to parse.
    pub value: Option<T>,
    /// Every error found, in file order.
    pub problems: Vec<Problem>,
    pub keys: KeyLines,
    /// Paths of the entries taken out or stood in for because they failed or are missing:
    /// checks of the parsed value about (or reading) these keys would only repeat their errors
    /// or judge a stand-in.
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
    let mut run = Run {
        entries: &entries,
        lines: &lines,
        end: text.len(),
        fakes: 0,
        out,
    };
    run.rounds(doc);
    let mut out = run.out;
    out.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    out
}

/// The state of one [`collect`]: the document's entries and what has been learnt so far.
struct Run<'a, T> {
    entries: &'a [Entry],
    lines: &'a Lines,
    /// The text's length: placeholders get spans past it, so no entry contains them.
    end: usize,
    fakes: usize,
    out: Collected<T>,
}

/// Values tried, in order, for a required key that failed or is missing, until one parses;
/// an enum's first variant is tried next when serde names it.
const PLACEHOLDERS: [&str; 7] = ["0", "0.0", "false", "\"\"", "[]", "{}", "\"US\""];

fn parse<T: DeserializeOwned>(doc: &Spanned<DeTable<'_>>) -> Result<T, toml::de::Error> {
    T::deserialize(toml::de::Deserializer::from(doc.clone()))
}

impl<T: DeserializeOwned> Run<'_, T> {
    /// Parses, takes out (or stands in for) the entry each error names, and parses again.
    fn rounds<'i>(&mut self, mut doc: Spanned<DeTable<'i>>) {
        // Each round takes an entry out, stands in for a key or fixes an array's elements,
        // so this bounds the rounds.
        for _ in 0..=3 * self.entries.len() + MAX_PROBLEMS {
            if self.out.problems.len() >= MAX_PROBLEMS {
                self.out.problems.push(Problem {
                    line: None,
                    key: String::new(),
                    message: format!("more errors may follow: fix these {MAX_PROBLEMS} first"),
                });
                return;
            }
            let err = match parse::<T>(&doc) {
                Ok(v) => {
                    self.out.value = Some(v);
                    return;
                }
                Err(e) => e,
            };
            // An error at a stand-in: nothing more can be learnt.
            if err.span().is_some_and(|s| s.start > self.end) {
                return;
            }
            let entry = err.span().and_then(|s| find(self.entries, &s));
            let message = err.message().trim().to_string();
            let next = match missing_field(&message) {
                Some(field) => self.missing(&doc, entry, field),
                None => self.failed(&doc, entry, &message, err.span()),
            };
            match next {
                Some(d) => doc = d,
                None => return,
            }
        }
    }

    /// `field` of the table `entry` (the top when `None`) is missing: said once, then a
    /// stand-in keeps the table, so the checks of its other keys still run.
    fn missing<'i>(
        &mut self,
        doc: &Spanned<DeTable<'i>>,
        entry: Option<&Entry>,
        field: &str,
    ) -> Option<Spanned<DeTable<'i>>> {
        let key = join(entry.map_or("", |e| e.path.as_str()), field);
        if !self.out.removed.contains(&key) {
            self.out.problems.push(Problem {
                line: entry.map(|e| e.line),
                key: key.clone(),
                message: "required key is missing".into(),
            });
            self.out.removed.push(key);
        }
        let table = entry.map(|e| e.value.clone());
        if let Some(d) = self.stand_in(doc, table.as_ref(), field, 0) {
            return Some(d);
        }
        // No value parses: take the table out; at the top, nothing is left.
        self.take_out(doc, entry?)
    }

    /// The entry (or the top) an error other than a missing key names.
    fn failed<'i>(
        &mut self,
        doc: &Spanned<DeTable<'i>>,
        entry: Option<&Entry>,
        message: &str,
        span: Option<Range<usize>>,
    ) -> Option<Spanned<DeTable<'i>>> {
        if let Some(e) = entry
            && let Some(d) = self.elements(doc, e)
        {
            return Some(d);
        }
        self.out.problems.push(Problem {
            line: span.map(|s| self.lines.line(s.start)),
            key: entry.map_or_else(String::new, |e| e.path.clone()),
            message: with_suggestion(message),
        });
        self.take_out(doc, entry?)
    }

    fn take_out<'i>(
        &mut self,
        doc: &Spanned<DeTable<'i>>,
        entry: &Entry,
    ) -> Option<Spanned<DeTable<'i>>> {
        let mut doc = doc.clone();
        if !remove(doc.get_mut(), entry) {
            return None;
        }
        if !self.out.removed.contains(&entry.path) {
            self.out.removed.push(entry.path.clone());
        }
        self.out.renumbered |= entry.key.is_none();
        Some(doc)
    }

    /// A span past the text, new each time.
    fn fake(&mut self) -> Range<usize> {
        self.fakes += 1;
        let at = self.end + 2 * self.fakes;
        at..at
    }

    /// The document with a value for `field` in the table at `table` (the top when `None`)
    /// that parses, if one of [`PLACEHOLDERS`] (or a value serde names) does. A table that
    /// misses keys of its own gets stand-ins for them too (at most three levels down).
    fn stand_in<'i>(
        &mut self,
        doc: &Spanned<DeTable<'i>>,
        table: Option<&Range<usize>>,
        field: &str,
        depth: usize,
    ) -> Option<Spanned<DeTable<'i>>> {
        let mut tried: Vec<DeValue<'static>> = PLACEHOLDERS
            .iter()
            .filter_map(|t| DeValue::parse(t).ok().map(Spanned::into_inner))
            .collect();
        let mut i = 0;
        while i < tried.len() && i < 12 {
            let fake = self.fake();
            let mut trial = doc.clone();
            let value = Spanned::new(fake.clone(), tried[i].clone());
            i += 1;
            if !insert(trial.get_mut(), table, field, value) {
                return None;
            }
            // Completes a stand-in table, key by key.
            for _ in 0..16 {
                let err = match parse::<T>(&trial) {
                    Ok(_) => return Some(trial),
                    Err(e) => e,
                };
                if err.span() != Some(fake.clone()) {
                    return Some(trial);
                }
                let message = err.message();
                match missing_field(message) {
                    Some(inner) if depth < 3 => {
                        match self.stand_in(&trial, Some(&fake), inner, depth + 1) {
                            Some(t) => trial = t,
                            None => break,
                        }
                    }
                    _ => {
                        if let Some(word) = expected_word(message)
                            && tried.len() < 12
                        {
                            tried.push(DeValue::String(word.into()));
                        }
                        break;
                    }
                }
            }
        }
        None
    }

    /// When `e` is an array that failed as a whole (a value's own check does not say which
    /// element), each of its elements tried alone: every one that fails is reported at its
    /// line and replaced by a copy of one that parses, so the indexes stay the file's. `None`
    /// when `e` is no such array or no element fails alone.
    fn elements<'i>(
        &mut self,
        doc: &Spanned<DeTable<'i>>,
        e: &Entry,
    ) -> Option<Spanned<DeTable<'i>>> {
        let items: Vec<Spanned<DeValue<'i>>> = match value_at(doc.get_ref(), &e.value)? {
            DeValue::Array(a) if e.key.is_some() && !a.is_empty() && a.len() <= 64 => a.to_vec(),
            _ => return None,
        };
        if items.iter().any(|v| v.get_ref().is_table()) {
            return None;
        }
        let mut bad = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut trial = doc.clone();
            fill_array(trial.get_mut(), &e.value, |_| item.get_ref().clone());
            if let Err(err) = parse::<T>(&trial)
                && err.span() == Some(e.value.clone())
            {
                bad.push((i, err.message().trim().to_string()));
            }
        }
        if bad.is_empty() {
            return None;
        }
        for (i, message) in &bad {
            let path = format!("{}[{}]", e.path, i + 1);
            self.out.problems.push(Problem {
                line: Some(self.lines.line(items[*i].span().start)),
                key: path.clone(),
                message: with_suggestion(message),
            });
            self.out.removed.push(path);
        }
        let good = (0..items.len()).find(|i| !bad.iter().any(|(b, _)| b == i));
        let Some(good) = good else {
            // No element parses: take the array out (a required one gets a stand-in).
            return self.take_out(doc, e);
        };
        let mut doc = doc.clone();
        fill_array(doc.get_mut(), &e.value, |i| {
            if bad.iter().any(|(b, _)| *b == i) {
                items[good].get_ref().clone()
            } else {
                items[i].get_ref().clone()
            }
        });
        Some(doc)
    }
}

/// The first name serde gives after "expected" (an enum's first variant), to try as a value.
fn expected_word(message: &str) -> Option<String> {
    let (_, after) = message.split_once("expected")?;
    let (_, rest) = after.split_once('`')?;
    let (word, _) = rest.split_once('`')?;
    Some(word.to_string())
}

/// The value whose span is `span`, anywhere in the tree: the deepest, as an array of tables
/// has the span of its first table.
fn value_at<'t, 'i>(t: &'t DeTable<'i>, span: &Range<usize>) -> Option<&'t DeValue<'i>> {
    t.iter().find_map(|(_, v)| in_value(v, span))
}

fn in_value<'t, 'i>(v: &'t Spanned<DeValue<'i>>, span: &Range<usize>) -> Option<&'t DeValue<'i>> {
    let inner = match v.get_ref() {
        DeValue::Table(t) => value_at(t, span),
        DeValue::Array(items) => items.iter().find_map(|i| in_value(i, span)),
        _ => None,
    };
    inner.or_else(|| (v.span() == *span).then(|| v.get_ref()))
}

/// [`value_at`], to change.
fn value_at_mut<'t, 'i>(
    t: &'t mut DeTable<'i>,
    span: &Range<usize>,
) -> Option<&'t mut DeValue<'i>> {
    fn in_value_mut<'t, 'i>(
        v: &'t mut Spanned<DeValue<'i>>,
        span: &Range<usize>,
    ) -> Option<&'t mut DeValue<'i>> {
        let deeper = match v.get_ref() {
            DeValue::Table(t) => value_at(t, span).is_some(),
            DeValue::Array(items) => items.iter().any(|i| in_value(i, span).is_some()),
            _ => false,
        };
        if v.span() == *span && !deeper {
            return Some(v.get_mut());
        }
        match v.get_mut() {
            DeValue::Table(t) => value_at_mut(t, span),
            DeValue::Array(items) => items.iter_mut().find_map(|i| in_value_mut(i, span)),
            _ => None,
        }
    }
    t.iter_mut().find_map(|(_, v)| in_value_mut(v, span))
}

/// Sets each element `i` of the array at `span` to `value(i)`, keeping its span.
fn fill_array<'i>(t: &mut DeTable<'i>, span: &Range<usize>, value: impl Fn(usize) -> DeValue<'i>) {
    if let Some(DeValue::Array(items)) = value_at_mut(t, span) {
        for (i, item) in items.iter_mut().enumerate() {
            *item.get_mut() = value(i);
        }
    }
}

/// Puts `key = value` in the table at `table` (the top when `None`); false when there is no
/// table there.
fn insert<'i>(
    t: &mut DeTable<'i>,
    table: Option<&Range<usize>>,
    key: &str,
    value: Spanned<DeValue<'i>>,
) -> bool {
    let target = match table {
        None => t,
        Some(span) => match value_at_mut(t, span) {
            Some(DeValue::Table(inner)) => inner,
            _ => return false,
        },
    };
    let name = Spanned::new(value.span(), std::borrow::Cow::Owned(key.to_string()));
    target.insert(name, value);
    true
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
