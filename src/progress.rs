//! Progress shown on stderr: a bar on a terminal, hidden (or, for `soak`, a plain line every
//! 10 seconds, and for counted runs such as `incidents`', a plain line every tenth) otherwise.

/// A progress bar on a terminal (stderr), hidden otherwise.
pub(crate) fn bar(len: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// soak's progress: a bar with an ETA on a terminal; otherwise (a log file, CI) one plain
/// line every 10 seconds, so a long run still shows it is alive.
pub(crate) struct SoakProgress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
}

impl SoakProgress {
    pub(crate) fn new(total_secs: u64) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total_secs);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} s  ETA {eta}  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            total: total_secs,
        }
    }

    pub(crate) fn update(&self, secs: u64, counts: &mo2fa_harness::soak::Counts, pending: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let msg = format!(
            "flows {}, verified {}, pending {pending}, violations {}, errors {}",
            counts.flows.load(Relaxed),
            counts.verified.load(Relaxed),
            counts.violations.load(Relaxed),
            counts.errors.load(Relaxed)
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(secs.min(self.total));
                bar.set_message(msg);
            }
            None if secs > 0 && secs.is_multiple_of(10) => {
                eprintln!("soak: {secs}/{} s  {msg}", self.total);
            }
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Progress through a count of runs finished in any order (from several threads): a bar with an
/// ETA on a terminal; otherwise (a log file, CI) a plain line `LABEL: N/TOTAL UNIT` on stderr
/// each time another tenth of the runs is done, and at the last, so that a long run shows it
/// is alive without filling a log. The total may be learnt with the first tick.
pub(crate) struct Counted {
    bar: Option<indicatif::ProgressBar>,
    label: &'static str,
    unit: &'static str,
    /// Runs done, and the tenths already printed.
    plain: std::sync::Mutex<(u64, u64)>,
}

impl Counted {
    pub(crate) fn new(label: &'static str, unit: &'static str) -> Self {
        use std::io::IsTerminal;
        Self::with_terminal(label, unit, std::io::stderr().is_terminal())
    }

    fn with_terminal(label: &'static str, unit: &'static str, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            bar(
                0,
                &format!("{{bar:40}} {{pos}}/{{len}} {unit}  ETA {{eta}}"),
            )
        });
        Self {
            bar,
            label,
            unit,
            plain: std::sync::Mutex::new((0, 0)),
        }
    }

    /// One more run done, of `total`; returns the plain line it printed, if any.
    pub(crate) fn tick(&self, total: usize) -> Option<String> {
        let total = total as u64;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.inc(1);
            return None;
        }
        let mut plain = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        plain.0 += 1;
        let tenths = (plain.0 * 10).checked_div(total).unwrap_or(10);
        if tenths <= plain.1 && plain.0 < total {
            return None;
        }
        plain.1 = tenths;
        let line = format!("{}: {}/{total} {}", self.label, plain.0, self.unit);
        // Printed under the lock, so lines come out in order.
        eprintln!("{line}");
        Some(line)
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Counted;

    #[test]
    fn off_a_terminal_a_line_every_tenth_and_at_the_last() {
        let p = Counted::with_terminal("incidents", "runs", false);
        let lines: Vec<String> = (0..25).filter_map(|_| p.tick(25)).collect();
        // 25 runs: a new tenth at 3, 5, 8, 10, 13, 15, 18, 20, 23 and 25 done.
        assert_eq!(lines.len(), 10, "{lines:?}");
        assert_eq!(lines[0], "incidents: 3/25 runs");
        assert_eq!(lines[9], "incidents: 25/25 runs");
        // Fewer runs than tenths: one line each.
        let p = Counted::with_terminal("incidents", "runs", false);
        let lines: Vec<String> = (0..3).filter_map(|_| p.tick(3)).collect();
        assert_eq!(
            lines,
            [
                "incidents: 1/3 runs",
                "incidents: 2/3 runs",
                "incidents: 3/3 runs"
            ]
        );
    }

    #[test]
    fn on_a_terminal_the_bar_prints_no_line() {
        let p = Counted::with_terminal("incidents", "runs", true);
        assert!((0..4).all(|_| p.tick(4).is_none()));
        p.finish();
    }
}
