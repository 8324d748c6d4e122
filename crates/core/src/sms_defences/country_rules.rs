//! AWS End User Messaging protect configurations: each destination country is Allow, Block or
//! Monitor. Monitor lets the send go and records an alert (AWS adds its model's blocking
//! recommendation to metrics; mo2fa has no such model, so every send to a monitored country is
//! reported as one a Block rule would have stopped). Filter (AWS's AIT model) is not modelled.

use super::{Action, Attempt, Blocked, CountryRules, Mode, Rule, Span};

/// The countries of one action: the guard builds one rule for `block` (in block mode) and
/// one for `monitor` (in monitor mode).
pub struct CountryRuleSet {
    actions: Vec<Action>,
    which: Action,
}

impl CountryRuleSet {
    pub fn new(cfg: &CountryRules, countries: &[String], which: Action) -> Self {
        let default = cfg.default.unwrap_or(Action::Allow);
        let actions = countries
            .iter()
            .map(|c| {
                cfg.countries
                    .as_ref()
                    .and_then(|m| m.iter().find(|(k, _)| &k.0 == c).map(|(_, a)| *a))
                    .unwrap_or(default)
            })
            .collect();
        Self { actions, which }
    }

    /// The action for `country` (unknown indices follow the default of the list's last
    /// entry, which the server reserves for "unknown").
    pub fn action(&self, country: usize) -> Action {
        self.actions
            .get(country)
            .or(self.actions.last())
            .copied()
            .unwrap_or(Action::Allow)
    }
}

impl Rule for CountryRuleSet {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        (self.action(a.country) == self.which).then_some(Blocked::CountryRule)
    }

    fn sent(&mut self, _: &Attempt) {}

    fn retry_after(&self, _: Blocked, _: &Attempt) -> Option<u64> {
        None
    }

    fn mode(&self) -> Mode {
        if self.which == Action::Monitor {
            Mode::Monitor
        } else {
            Mode::Block
        }
    }

    fn keys(&self) -> usize {
        0
    }
}
