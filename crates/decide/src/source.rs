//! A scenario file as the decision commands read it: the `[expect]` table is read here, in
//! file order and checked to be one table of strings, and taken out before the rest goes to
//! the simulator (whose parser keeps it as opaque text and ignores it). Its lines are
//! blanked, not deleted, so the simulator's errors keep their line numbers.
//! Also one run from TOML text to `summary.json`, on the simulator's public API.

use crate::DecideError;
use mo2fa_sim::engine::{self, Control};
use mo2fa_sim::scenario::Scenario;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// A scenario file split into what the simulator reads and its expectations.
#[derive(Clone, Debug)]
pub struct Source {
    /// The file as named on the command line.
    pub file: String,
    /// Its name in reports: the file name without `.toml`.
    pub name: String,
    /// The text with the `[expect]` table's lines blanked.
    pub text: String,
    /// `[expect]`'s entries in file order: (name, expression).
    pub expect: Vec<(String, String)>,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, DecideError> {
        // The simulator's own read error: `FILE: cannot read: why`.
        let text = std::fs::read_to_string(path).map_err(|source| {
            DecideError::Scenario(mo2fa_sim::scenario::ScenarioError::Read {
                file: path.display().to_string(),
                source,
            })
        })?;
        let name = path
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        Source::from_text(&path.display().to_string(), &name, &text)
    }

    pub fn from_text(file: &str, name: &str, text: &str) -> Result<Source, DecideError> {
        let (text, expect) = split_expect(file, text)?;
        Ok(Source {
            file: file.to_string(),
            name: name.to_string(),
            text,
            expect,
        })
    }

    /// The scenario, checked by the simulator's parser.
    pub fn scenario(&self) -> Result<Scenario, DecideError> {
        Ok(Scenario::parse(&self.file, &self.text)?)
    }
}

/// `text` without its `[expect]` table, and that table's entries in file order.
pub fn split_expect(
    file: &str,
    text: &str,
) -> Result<(String, Vec<(String, String)>), DecideError> {
    // Text that is not TOML goes to the simulator as it is: its parser names the line.
    let Ok(table) = text.parse::<toml::Table>() else {
        return Ok((text.to_string(), Vec::new()));
    };
    let Some(expect) = table.get("expect") else {
        return Ok((text.to_string(), Vec::new()));
    };
    let invalid = |message: String| DecideError::Input(format!("{file}: expect: {message}"));
    let Some(expect) = expect.as_table() else {
        return Err(invalid(
            "must be a table of name = \"expression\" lines".into(),
        ));
    };
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| {
            let l = l.trim();
            l == "[expect]" || l.starts_with("[expect]") && l[8..].trim_start().starts_with('#')
        })
        .ok_or_else(|| invalid("write expectations as an [expect] table".into()))?;
    let end = lines[header + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |p| header + 1 + p);
    let mut order = Vec::new();
    for line in &lines[header + 1..end] {
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if !key.is_empty() && !key.starts_with('#') && expect.contains_key(key) {
            order.push(key.to_string());
        }
    }
    for l in &mut lines[header..end] {
        *l = "";
    }
    let mut rest: String = lines.join("\n");
    rest.push('\n');
    // The blanked text must be the file without `expect`, nothing more and nothing less.
    let mut without = table.clone();
    without.remove("expect");
    if rest.parse::<toml::Table>().ok() != Some(without) || order.len() != expect.len() {
        return Err(invalid(
            "write expectations as one [expect] table of name = \"expression\" lines, each on \
             its own line"
                .into(),
        ));
    }
    let mut entries = Vec::new();
    for name in order {
        match &expect[&name] {
            toml::Value::String(e) => entries.push((name, e.clone())),
            _ => {
                return Err(invalid(format!(
                    "{name}: must be a string holding an expression"
                )));
            }
        }
    }
    Ok((rest, entries))
}

/// Runs `sc` with `seed` and returns its `summary.json`, or `None` when `interrupt` stopped it
/// before the end (a partial run is not a result).
pub fn run_summary(
    sc: &Scenario,
    name: &str,
    seed: u64,
    interrupt: &AtomicBool,
) -> Result<Option<String>, DecideError> {
    let control = Control {
        interrupt,
        progress: &|_| {},
    };
    let outcome = engine::simulate(sc, seed, &control)?;
    if outcome.interrupted {
        return Ok(None);
    }
    Ok(Some(mo2fa_sim::report::summary_json(
        sc, name, seed, &outcome,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "seed = 1\n[expect]\nlow = \"legit.users > 1\"\n# note\nb = \"events < 5\"\n\n[legit]\nrate_per_s = 1.0\n";

    #[test]
    fn expect_is_taken_out_and_lines_keep_their_numbers() {
        let (rest, expect) = split_expect("f.toml", FILE).unwrap();
        assert_eq!(
            expect,
            [
                ("low".to_string(), "legit.users > 1".to_string()),
                ("b".to_string(), "events < 5".to_string())
            ]
        );
        assert_eq!(rest.lines().count(), FILE.lines().count());
        assert_eq!(rest.lines().nth(6), Some("[legit]"));
        assert!(!rest.contains("expect"));
    }

    #[test]
    fn expect_in_another_form_is_an_error() {
        let e = split_expect("f.toml", "expect = { a = \"x < 1\" }\n").unwrap_err();
        assert!(e.to_string().contains("[expect] table"), "{e}");
        let e = split_expect("f.toml", "[expect]\na = 3\n").unwrap_err();
        assert!(e.to_string().contains("a: must be a string"), "{e}");
        let (rest, none) = split_expect("f.toml", "seed = 1\n").unwrap();
        assert_eq!((rest.as_str(), none.len()), ("seed = 1\n", 0));
    }
}
