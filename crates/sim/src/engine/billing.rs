//! The engine's side of `[billing.balance]`: every paid outbound send asks its flow's account
//! first, with one call, [`World::billing_accepts`].

use super::world::World;
use crate::billing::balance::micros;
use crate::scenario::Flow;

impl World<'_> {
    /// Whether the provider sends (and bills) one SMS of `flow` costing `usd` (its carrier's
    /// price, all billed segments) now: always without `[billing.balance]`; otherwise the
    /// flow's account decides, and a refusal is counted as legit or pumped.
    pub(super) fn billing_accepts(&mut self, flow: Flow, usd: f64, legit: bool) -> bool {
        let accepted = self.account_accepts(flow, usd, legit);
        if let Some(log) = &mut self.sms_log {
            let segments = self.sc.billed_per_message().round().max(1.0) as u32;
            log.billed(flow, usd, segments, accepted);
        }
        accepted
    }

    fn account_accepts(&mut self, flow: Flow, usd: f64, legit: bool) -> bool {
        let Some(a) = self.flows[flow].account.as_mut() else {
            return true;
        };
        let cost = micros(usd);
        if a.account.charge(self.clock.now_ms, cost) {
            return true;
        }
        if legit {
            a.refused_legit += 1;
        } else {
            a.refused_pumped += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::world::tests::{scenario, world};
    use super::*;

    const PUMPED: &str = r#"
duration = "1h"
[legit]
rate_per_s = 1.0
p_send = 1.0
send_delay_median = "5s"
countries.US = { weight = 1.0, imessage = 0.0, fallback = "outbound_sms" }
[emitter]
latency_median = "300ms"
"#;

    #[test]
    fn without_a_balance_everything_is_sent() {
        let sc = scenario(PUMPED);
        let mut w = world(&sc);
        assert!((0..1000).all(|_| w.billing_accepts(Flow::Sms, w.pop.carriers[0].price, true)));
        assert!(w.flows.sms.account.is_none());
    }

    #[test]
    fn a_suspended_account_refuses_legit_and_pumped_sends_of_its_flow_only() {
        let sc = scenario(&format!(
            "{PUMPED}[billing.balance]\nstart_usd = 0.02\nrecharge_below_usd = 0\n\
             recharge_usd = 1\ncard_daily_limit_usd = 0\n"
        ));
        let mut w = world(&sc);
        // US at $0.0083: two sends, then the card (limit 0) declines and the account is
        // suspended.
        assert!(w.billing_accepts(Flow::Sms, w.pop.carriers[0].price, true));
        assert!(w.billing_accepts(Flow::Sms, w.pop.carriers[0].price, false));
        assert!(!w.billing_accepts(Flow::Sms, w.pop.carriers[0].price, false));
        assert!(!w.billing_accepts(Flow::Sms, w.pop.carriers[0].price, true));
        let a = w.flows.sms.account.as_ref().unwrap();
        assert_eq!((a.refused_legit, a.refused_pumped), (1, 1));
        assert!(a.account.suspended_at_ms().is_some());
        assert!(
            w.billing_accepts(Flow::Reverse, w.pop.carriers[0].price, true),
            "each flow has its own account"
        );
    }
}
