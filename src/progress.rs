//! Progress shown on stderr: a bar on a terminal, hidden (or, for `soak`, a plain line every
//! 10 seconds) otherwise.

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
