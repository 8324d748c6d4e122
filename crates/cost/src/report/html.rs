//! A self-contained HTML page: inline CSS, inline SVG, no scripts, no fonts or images from
//! elsewhere, so the file opens offline and can be attached to an e-mail as it is.

use super::escape;
use std::fmt::Write as _;

/// A piece of content inside a section.
#[derive(Clone, Debug)]
pub enum Block {
    /// A paragraph of plain text (escaped).
    Paragraph(String),
    /// Label/value pairs shown as large figures.
    KeyFigures(Vec<(String, String)>),
    /// An SVG element produced by [`super::svg`]; embedded verbatim. Never pass text from users
    /// here: chart builders escape their input, this variant does not.
    Svg(String),
    /// A table; `numeric` columns are right-aligned.
    Table {
        caption: String,
        headers: Vec<String>,
        rows: Vec<Vec<String>>,
        numeric: Vec<bool>,
        /// Show collapsed behind a "details" toggle (works without scripts).
        collapsed: bool,
    },
    /// A bulleted list (escaped).
    List(Vec<String>),
}

/// A titled section; it gets an anchor in the table of contents.
#[derive(Clone, Debug)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(id: &str, title: &str) -> Self {
        Section {
            id: id.to_string(),
            title: title.to_string(),
            blocks: Vec::new(),
        }
    }

    pub fn push(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    /// Appends any number of blocks (e.g. an optional chart).
    pub fn push_all(mut self, blocks: impl IntoIterator<Item = Block>) -> Self {
        self.blocks.extend(blocks);
        self
    }
}

/// A report page.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub title: String,
    /// A line under the title, e.g. the scenario and price snapshot.
    pub subtitle: String,
    pub sections: Vec<Section>,
    /// Small print at the bottom (sources, definitions).
    pub footer: Vec<String>,
}

const CSS: &str = "
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1a1a1a;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 860px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 0 0 8px; }
.subtitle { color: #555; margin: 0 0 16px; }
nav ol { margin: 0; padding-left: 20px; columns: 2; }
section, nav { background: #fff; border: 1px solid #e1e4e8; border-radius: 8px; padding: 16px 20px;
  margin: 16px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.figure { flex: 1 1 180px; background: #f1f5f9; border-radius: 6px; padding: 10px 12px; }
.figure .v { font-size: 22px; font-weight: 650; }
.figure .l { color: #555; font-size: 13px; }
svg { max-width: 100%; height: auto; display: block; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0; }
caption { text-align: left; color: #555; padding-bottom: 4px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 5px; text-align: left; }
th { background: #f1f5f9; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.n { white-space: nowrap; }
td.none { color: #555; font-style: italic; }
.table { overflow-x: auto; }
details summary { cursor: pointer; color: #0b5cad; }
footer { color: #555; font-size: 13px; }
footer p { margin: 4px 0; }
";

impl Page {
    /// The complete document. Deterministic for the same page.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        if !self.subtitle.is_empty() {
            let _ = writeln!(out, "<p class=\"subtitle\">{}</p>", escape(&self.subtitle));
        }
        if self.sections.len() > 1 {
            out.push_str("<nav aria-label=\"Contents\"><ol>\n");
            for s in &self.sections {
                let _ = writeln!(
                    out,
                    "<li><a href=\"#{}\">{}</a></li>",
                    escape(&s.id),
                    escape(&s.title)
                );
            }
            out.push_str("</ol></nav>\n");
        }
        for s in &self.sections {
            let _ = writeln!(
                out,
                "<section id=\"{}\" aria-labelledby=\"{}-h\">\n<h2 id=\"{}-h\">{}</h2>",
                escape(&s.id),
                escape(&s.id),
                escape(&s.id),
                escape(&s.title)
            );
            for b in &s.blocks {
                block(&mut out, b);
            }
            out.push_str("</section>\n");
        }
        if !self.footer.is_empty() {
            out.push_str("<footer>\n");
            for f in &self.footer {
                let _ = writeln!(out, "<p>{}</p>", escape(f));
            }
            out.push_str("</footer>\n");
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Paragraph(t) => {
            let _ = writeln!(out, "<p>{}</p>", escape(t));
        }
        Block::KeyFigures(items) => {
            out.push_str("<div class=\"figures\">\n");
            for (label, value) in items {
                let _ = writeln!(
                    out,
                    "<div class=\"figure\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
                    escape(value),
                    escape(label)
                );
            }
            out.push_str("</div>\n");
        }
        Block::Svg(svg) => {
            out.push_str("<figure style=\"margin:0\">\n");
            out.push_str(svg);
            out.push_str("</figure>\n");
        }
        Block::Table {
            caption,
            headers,
            rows,
            numeric,
            collapsed,
        } => {
            let is_num = |i: usize| numeric.get(i).copied().unwrap_or(false);
            if *collapsed {
                let _ = writeln!(out, "<details><summary>{}</summary>", escape(caption));
            }
            // Wide tables scroll inside their section rather than squeezing numbers apart
            // from their units.
            out.push_str("<div class=\"table\"><table>\n");
            if !*collapsed {
                let _ = writeln!(out, "<caption>{}</caption>", escape(caption));
            }
            out.push_str("<thead><tr>");
            for (i, h) in headers.iter().enumerate() {
                let class = if is_num(i) { " class=\"n\"" } else { "" };
                let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", escape(h));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            if rows.is_empty() {
                // A table of headers alone reads as a rendering fault; say it is empty.
                let _ = writeln!(
                    out,
                    "<tr><td class=\"none\" colspan=\"{}\">none in this run</td></tr>",
                    headers.len().max(1)
                );
            }
            for row in rows {
                out.push_str("<tr>");
                for (i, cell) in row.iter().enumerate() {
                    let class = if is_num(i) { " class=\"n\"" } else { "" };
                    let _ = write!(out, "<td{class}>{}</td>", escape(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody></table></div>\n");
            if *collapsed {
                out.push_str("</details>\n");
            }
        }
        Block::List(items) => {
            out.push_str("<ul>\n");
            for i in items {
                let _ = writeln!(out, "<li>{}</li>", escape(i));
            }
            out.push_str("</ul>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_says_so() {
        let page = Page {
            sections: vec![Section::new("one", "First").push(Block::Table {
                caption: "Per rule".into(),
                headers: vec!["rule".into(), "blocked".into(), "first".into()],
                rows: Vec::new(),
                numeric: vec![false, true, true],
                collapsed: false,
            })],
            ..Page::default()
        };
        let html = page.to_html();
        assert!(
            html.contains("<td class=\"none\" colspan=\"3\">none in this run</td>"),
            "{html}"
        );
    }

    #[test]
    fn page_escapes_text_and_has_no_external_references() {
        let page = Page {
            title: "Costs <script>alert(1)</script>".into(),
            subtitle: "a & b".into(),
            sections: vec![
                Section::new("one", "First").push(Block::Paragraph("x < y".into())),
                Section::new("two", "Second").push(Block::Table {
                    caption: "cap".into(),
                    headers: vec!["a".into(), "b".into()],
                    rows: vec![vec!["1".into(), "<b>".into()]],
                    numeric: vec![true, false],
                    collapsed: true,
                }),
            ],
            footer: vec!["https://example.com is text, not a link".into()],
        };
        let html = page.to_html();
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<td>&lt;b&gt;</td>"));
        assert!(html.contains("<div class=\"table\"><table>"));
        assert!(html.contains("<a href=\"#two\">Second</a>"));
        assert!(!html.contains("href=\"http"));
        assert!(!html.contains("src="));
    }
}
