//! The audit's files: `audit.json` (every case with its evidence), `audit.md` (the table and
//! what could not be checked) and `report.html` (the same, self-contained, evidence folded).

use crate::audit::{Audit, Verdict};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file (or its directory) that could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("audit.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes the three files into `dir` (created if missing).
pub fn write(dir: &Path, audit: &Audit) -> Result<(), ReportError> {
    let cannot_write = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(cannot_write(dir))?;
    let json = serde_json::to_string_pretty(&summary_json(audit))?;
    for (name, text) in [
        ("audit.json", json),
        ("audit.md", markdown(audit)),
        ("report.html", html(audit)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(cannot_write(&p))?;
    }
    Ok(())
}

fn summary_json(a: &Audit) -> serde_json::Value {
    serde_json::json!({
        "tool": "mo2fa audit",
        "target": a.target,
        "profile": a.profile,
        "profile_source": a.profile_source,
        "summary": {
            "pass": a.count(Verdict::Pass),
            "fail": a.count(Verdict::Fail),
            "not_checkable": a.count(Verdict::NotCheckable),
        },
        "cannot_observe": a.cannot_observe,
        "cases": a.cases,
    })
}

/// One line per verdict count, for the terminal and the Markdown.
pub fn headline(a: &Audit) -> String {
    format!(
        "{} passed, {} failed, {} not checkable (profile {}, target {})",
        a.count(Verdict::Pass),
        a.count(Verdict::Fail),
        a.count(Verdict::NotCheckable),
        a.profile,
        a.target
    )
}

/// The case table as plain text, for the terminal.
pub fn table(a: &Audit) -> String {
    let mut out = String::new();
    for c in &a.cases {
        let _ = writeln!(
            out,
            "  {:<14} {:<30} {}",
            c.verdict.as_str(),
            c.case.id,
            c.detail
        );
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(a: &Audit) -> String {
    let mut out = format!("# Audit of {}\n\n{}\n\n", a.target, headline(a));
    out.push_str("| case | verdict | what was seen | why it matters |\n|---|---|---|---|\n");
    for c in &a.cases {
        let _ = writeln!(
            out,
            "| `{}` {} | **{}** | {} | {} |",
            c.case.id,
            md_cell(c.case.title),
            c.verdict.as_str(),
            md_cell(&c.detail),
            md_cell(c.case.why)
        );
    }
    let blind: Vec<_> = a
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::NotCheckable)
        .collect();
    if !blind.is_empty() {
        out.push_str("\n## Not checkable (neither a pass nor a failure)\n\n");
        for c in blind {
            let _ = writeln!(out, "- `{}`: {}", c.case.id, md_cell(&c.detail));
        }
    }
    if !a.cannot_observe.is_empty() {
        let _ = writeln!(
            out,
            "\n## What profile `{}` cannot observe\n",
            md_cell(&a.profile)
        );
        for b in &a.cannot_observe {
            let _ = writeln!(out, "- {}", md_cell(b));
        }
    }
    out.push_str(
        "\nEvery request and answer is in audit.json (`cases[].evidence`); docs/audit.md \
         explains each case and its reference.\n",
    );
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn html(a: &Audit) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mo2fa audit</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}\
         table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;\
         vertical-align:top;text-align:left}.pass{color:#070}.fail{color:#b00;font-weight:bold}\
         .not_checkable{color:#777}pre{white-space:pre-wrap;word-break:break-all;font-size:12px}\
         </style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>Audit of {}</h1><p>{}</p><table><tr><th>case</th><th>verdict</th>\
         <th>what was seen</th><th>why it matters</th><th>reference</th></tr>",
        esc(&a.target),
        esc(&headline(a))
    );
    for c in &a.cases {
        let class = match c.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotCheckable => "not_checkable",
        };
        let mut evidence = String::new();
        for e in &c.evidence {
            let headers: String = e
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect();
            let _ = write!(
                evidence,
                "{} {}\n{headers}({} bytes) {}\n→ {} ({} ms)\n\n",
                e.method, e.path, e.body_bytes, e.body, e.outcome, e.elapsed_ms
            );
        }
        let _ = write!(
            out,
            "<tr><td><code>{}</code><br>{}</td><td class=\"{class}\">{}</td><td>{}\
             <details><summary>{} requests</summary><pre>{}</pre></details></td><td>{}</td>\
             <td>{}</td></tr>",
            esc(c.case.id),
            esc(c.case.title),
            esc(c.verdict.as_str()),
            esc(&c.detail),
            c.evidence.len(),
            esc(&evidence),
            esc(c.case.why),
            esc(c.case.reference)
        );
    }
    out.push_str("</table>");
    if !a.cannot_observe.is_empty() {
        let _ = write!(
            out,
            "<h2>What profile {} cannot observe</h2><ul>",
            esc(&a.profile)
        );
        for b in &a.cannot_observe {
            let _ = write!(out, "<li>{}</li>", esc(b));
        }
        out.push_str("</ul>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_cannot_be_written_says_so_and_names_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // A file where the report's directory should be.
        let file = dir.join("a-file");
        std::fs::write(&file, "").unwrap();
        let audit = Audit {
            target: "http://127.0.0.1:1".into(),
            profile: "mo2fa".into(),
            profile_source: "built-in".into(),
            cannot_observe: Vec::new(),
            cases: Vec::new(),
        };
        let out = file.join("audit");
        let e = write(&out, &audit).unwrap_err().to_string();
        let want = format!("{}: cannot write: ", out.display());
        assert!(e.starts_with(&want), "{e}");
    }
}
