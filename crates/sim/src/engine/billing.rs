//! The engine's side of `[billing.balance]`: every paid outbound send asks its flow's account
//! first, with one call, [`FlowSide::billing_accepts`].

use super::world::{FlowSide, Run};
use crate::billing::balance::micros;
use crate::scenario::Flow;

impl FlowSide {
    /// Whether the provider sends (and bills) one SMS of `flow` (this side's) costing `usd`
    /// (its carrier's price, all billed segments) now: always without `[billing.balance]`;
    /// otherwise the flow's account decides, and a refusal is counted as legit or pumped.
    pub(super) fn billing_accepts(
        &mut self,
        run: &mut Run<'_>,
        flow: Flow,
        usd: f64,
        legit: bool,
    ) -> bool {
        let accepted = self.account_accepts(run.clock.now_ms, usd, legit);
        if let Some(log) = &mut run.sms_log {
            let segments = run.sc.billed_per_message().round().max(1.0) as u32;
            log.billed(flow, usd, segments, accepted);
        }
        accepted
    }

    fn account_accepts(&mut self, now_ms: u64, usd: f64, legit: bool) -> bool {
        let Some(a) = self.account.as_mut() else {
            return true;
        };
        let cost = micros(usd);
        if a.account.charge(now_ms, cost) {
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
        let price = w.pop.carriers[0].price;
        let sms = &mut w.flows.sms;
        assert!((0..1000).all(|_| sms.billing_accepts(&mut w.run, Flow::Sms, price, true)));
        assert!(w.flows.sms.account.is_none());
    }

    #[test]
    fn a_suspended_account_refuses_legit_and_pumped_sends_of_its_flow_only() {
        let sc = scenario(&format!(
            "{PUMPED}[billing.balance]\nstart_usd = 0.02\nrecharge_below_usd = 0\n\
             recharge_usd = 1\ncard_daily_limit_usd = 0\n"
        ));
        let mut w = world(&sc);
        let price = w.pop.carriers[0].price;
        let (run, flows) = (&mut w.run, &mut w.flows);
        // US at $0.0083: two sends, then the card (limit 0) declines and the account is
        // suspended.
        assert!(flows.sms.billing_accepts(run, Flow::Sms, price, true));
        assert!(flows.sms.billing_accepts(run, Flow::Sms, price, false));
        assert!(!flows.sms.billing_accepts(run, Flow::Sms, price, false));
        assert!(!flows.sms.billing_accepts(run, Flow::Sms, price, true));
        let a = flows.sms.account.as_ref().unwrap();
        assert_eq!((a.refused_legit, a.refused_pumped), (1, 1));
        assert!(a.account.suspended_at_ms().is_some());
        assert!(
            flows
                .reverse
                .billing_accepts(run, Flow::Reverse, price, true),
            "each flow has its own account"
        );
    }
}
