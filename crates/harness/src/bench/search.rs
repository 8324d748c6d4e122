//! The saturation search: the rule a step must pass ([`Step::kept_up`]), the search that
//! doubles the offered rate while steps pass, confirms a failing step before it stops doubling,
//! then bisects between the last rate that kept up and the first that did not ([`Search`]), and
//! the spread of the steps run more than once.

/// A search step fails below this share of the offered rate...
pub const KEPT_UP: f64 = 0.9;
/// ...or with its p99 above this many milliseconds.
pub const P99_LIMIT_MS: f64 = 50.0;
/// Failing steps in a row (at the same rate) that stop the search.
pub const FAILURES_TO_STOP: u32 = 2;
/// The bisection after the doubling stops once the rates that kept up and failed are within
/// this share of the failing one (four halvings of the last doubling: 1/32 of it).
pub const BISECT_RESOLUTION: f64 = 1.0 / 32.0;

/// What one step of the saturation search measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub offered: u64,
    /// 2xx answers per second.
    pub achieved: f64,
    pub p99_ms: f64,
}

impl Step {
    /// The server kept up: it achieved at least [`KEPT_UP`] of the offered rate with a p99 of
    /// at most [`P99_LIMIT_MS`].
    pub fn kept_up(&self) -> bool {
        self.achieved >= KEPT_UP * self.offered as f64 && self.p99_ms <= P99_LIMIT_MS
    }
}

/// The saturation search: offers `start`/s, doubling after every step that kept up, up to
/// `max_rate`. A step that did not keep up is run again at the same rate; [`FAILURES_TO_STOP`]
/// failing steps in a row end the doubling. One spike (a step failing once, then keeping up when
/// confirmed) therefore does not end it. Then, if some rate below kept up, the search bisects
/// between the highest rate that kept up and the lowest that failed twice, with the same rule
/// for each middle rate (kept up: the new lower bound; failed twice in a row: the new upper
/// one), until the two are within [`BISECT_RESOLUTION`] of the upper one. Doubling alone would
/// give the saturation only to within a factor of two, and so a ratio of two saturations only
/// in steps of 0.5, 0.25, ...
#[derive(Clone, Debug)]
pub struct Search {
    rate: u64,
    max_rate: u64,
    failures: u32,
    /// While bisecting: the highest rate that kept up and the lowest that failed twice.
    bounds: Option<(u64, u64)>,
    /// The doubling ended because a rate failed twice (not at `max_rate`).
    saturated: bool,
    /// Every step measured, in order.
    pub steps: Vec<Step>,
}

impl Search {
    pub fn new(start: u64, max_rate: u64) -> Self {
        Self {
            rate: start.max(1),
            max_rate,
            failures: 0,
            bounds: None,
            saturated: false,
            steps: Vec::new(),
        }
    }

    /// The rate of the next step, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<u64> {
        match self.bounds {
            Some((lo, hi)) => {
                let mid = lo + (hi - lo) / 2;
                let fine = (hi - lo) as f64 <= BISECT_RESOLUTION * hi as f64;
                (!fine && mid > lo && mid < hi).then_some(mid)
            }
            None => (!self.saturated && self.rate <= self.max_rate).then_some(self.rate),
        }
    }

    pub fn record(&mut self, step: Step) {
        self.steps.push(step);
        if step.kept_up() {
            self.failures = 0;
            match &mut self.bounds {
                Some((lo, _)) => *lo = step.offered,
                None => self.rate = self.rate.saturating_mul(2),
            }
            return;
        }
        self.failures += 1;
        if self.failures < FAILURES_TO_STOP {
            return;
        }
        self.failures = 0;
        match &mut self.bounds {
            Some((_, hi)) => *hi = step.offered,
            None => {
                self.saturated = true;
                // The highest rate below that kept up, if any: the bisection's lower bound.
                self.bounds = self
                    .steps
                    .iter()
                    .filter(|s| s.kept_up() && s.offered < step.offered)
                    .map(|s| s.offered)
                    .max()
                    .map(|lo| (lo, step.offered));
            }
        }
    }

    /// The saturation: the highest rate achieved by a step that kept up (passed the rule);
    /// `None` when no step did.
    pub fn saturation(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.kept_up())
            .map(|s| s.achieved)
            .reduce(f64::max)
    }

    /// The highest rate any step achieved, kept up or not.
    pub fn best_achieved(&self) -> f64 {
        self.steps.iter().map(|s| s.achieved).fold(0.0, f64::max)
    }

    /// Whether the doubling ended with a rate failing [`FAILURES_TO_STOP`] times in a row (the
    /// server stopped keeping up), rather than by reaching `max_rate`.
    pub fn saturated(&self) -> bool {
        self.saturated
    }

    /// The rates that kept up and failed twice when the bisection ended (`None` when there
    /// was none: the doubling reached `max_rate`, or its first rate failed).
    pub fn bracket(&self) -> Option<(u64, u64)> {
        self.bounds
    }

    /// How the steps of each rate offered more than once spread.
    pub fn spread(&self) -> Vec<Spread> {
        let mut out: Vec<Spread> = Vec::new();
        for s in &self.steps {
            if out.iter().any(|o| o.offered == s.offered) {
                continue;
            }
            let same: Vec<&Step> = self
                .steps
                .iter()
                .filter(|t| t.offered == s.offered)
                .collect();
            if same.len() < 2 {
                continue;
            }
            let range = |f: fn(&Step) -> f64| {
                same.iter()
                    .map(|t| f(t))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v), hi.max(v))
                    })
            };
            out.push(Spread {
                offered: s.offered,
                runs: same.len(),
                achieved: range(|t| t.achieved),
                p99_ms: range(|t| t.p99_ms),
            });
        }
        out
    }
}

/// The (min, max) of a rate's repeated steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub offered: u64,
    pub runs: usize,
    pub achieved: (f64, f64),
    pub p99_ms: (f64, f64),
}

/// Runs the search, measuring each step with `measure(rate)`.
pub fn search<E>(
    start: u64,
    max_rate: u64,
    mut measure: impl FnMut(u64) -> Result<Step, E>,
) -> Result<Search, E> {
    let mut s = Search::new(start, max_rate);
    while let Some(rate) = s.next_rate() {
        let step = measure(rate)?;
        s.record(step);
    }
    Ok(s)
}

/// "offered 8000/s ×2: achieved 7,912–8,000/s, p99 0.41–87.20 ms".
pub fn describe_spread(search: &Search) -> Vec<String> {
    search
        .spread()
        .into_iter()
        .map(|s| {
            let (rate, n, (a0, a1), (p0, p1)) = (s.offered, s.runs, s.achieved, s.p99_ms);
            format!("offered {rate}/s ×{n}: achieved {a0:.0}–{a1:.0}/s, p99 {p0:.2}–{p1:.2} ms")
        })
        .collect()
}
