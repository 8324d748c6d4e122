//! Reports a person would rather look at than read: hand-written SVG charts and a
//! self-contained HTML page (inline CSS, no scripts, no external resources), plus Markdown.
//!
//! * [`svg`]: generic charts that take plain series and labels (line chart with log or linear
//!   axes and markers, grouped horizontal bars, stacked time-series panels, timeline, latency
//!   percentile distributions).
//! * [`html`]: a page of titled sections holding paragraphs, key figures, charts and tables.
//! * [`cost`]: the `mo2fa cost` report built from a [`crate::sweep::Sweep`].
//! * [`currency`]: a second currency shown beside USD on the pages people read.
//!
//! All text placed in HTML or SVG goes through [`escape`]; chart SVG is produced only by this
//! module, which is why [`html::Block::Svg`] may embed it verbatim.

pub mod cost;
pub mod currency;
pub mod html;
pub mod svg;

/// Escapes text for HTML and XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; drop them.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Groups the integer part with commas: 1234567.8 → "1,234,568" (rounded).
pub fn group_thousands(v: f64) -> String {
    if !v.is_finite() {
        return String::from("n/a");
    }
    let neg = v < 0.0;
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if neg && digits != "0" {
        format!("-{out}")
    } else {
        out
    }
}

/// Short count: 950, 1.2k, 35k, 1.5M, 2B. Stable formatting for axis ticks and labels.
pub fn short_count(v: f64) -> String {
    let a = v.abs();
    let (div, suffix) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / div;
    let body = if x.abs() >= 100.0 || (x.fract() == 0.0 && suffix.is_empty()) {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        trim_zeros(&format!("{x:.1}"))
    } else {
        trim_zeros(&format!("{x:.2}"))
    };
    format!("{body}{suffix}")
}

/// Money for labels: $0.05, $12.30, $1,234, $1.2M.
pub fn usd_label(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    if a >= 1e6 {
        format!("{sign}${}", short_count(a))
    } else if a >= 1000.0 {
        format!("{sign}${}", group_thousands(a))
    } else if a >= 1.0 || a == 0.0 {
        format!("{sign}${a:.2}")
    } else {
        // Sub-dollar prices keep up to four decimals (carrier fees are $0.0045) but at least two.
        let mut body = format!("{a:.4}");
        while body.ends_with('0') && body.len() > 4 {
            body.pop();
        }
        format!("{sign}${body}")
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("bell\u{7}"), "bell");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(group_thousands(1_234_567.8), "1,234,568");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(-1000.0), "-1,000");
        assert_eq!(short_count(1_000.0), "1k");
        assert_eq!(short_count(34_782.6), "34.8k");
        assert_eq!(short_count(1e9), "1B");
        assert_eq!(short_count(2_500_000.0), "2.5M");
        assert_eq!(short_count(950.0), "950");
        assert_eq!(usd_label(0.05), "$0.05");
        assert_eq!(usd_label(0.0045), "$0.0045");
        assert_eq!(usd_label(12.3), "$12.30");
        assert_eq!(usd_label(12_345.0), "$12,345");
        assert_eq!(usd_label(1.5e6), "$1.5M");
    }
}
