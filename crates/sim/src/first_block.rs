//! One definition of **time to first block**, for every report that prints it (run reports,
//! `mo2fa incidents`): [`since`], from an attack's start to a first refusal. A flow's figure
//! runs from the start of the scenario's first SMS pumping attack (the run's start without
//! one) to the first send the flow's SMS defences refused, legit or not; it is negative when
//! a defence refused a legit send before the attack began (a false positive, which the
//! reports then say). An attacker's figure runs from its own start to the first refusal of
//! one of its own requests (never negative: it makes none before it starts).

use crate::flow::Flow;
use crate::outcome::{AttackerStats, FlowDefences};
use crate::scenario::{AttackKind, Scenario};

/// The name reports give the figure.
pub const NAME: &str = "time to first block";
/// What it measures, for report headers and docs.
pub const DEFINITION: &str = "from the start of the first SMS pumping attack (the run's start \
    without one) to the first send a defence refused; negative when a legit send was refused \
    before the attack began";

/// Virtual time (ms) the first SMS pumping attack starts; 0 without one.
pub fn attack_start_ms(sc: &Scenario) -> u64 {
    sc.attackers
        .iter()
        .filter(|a| a.kind() == AttackKind::SmsPumping)
        .map(|a| a.start.ms())
        .min()
        .unwrap_or(0)
}

/// Time to first block (ms): from `start_ms` to `first_block_ms` (virtual ms since the run's
/// start), negative when the block came first; `None` if nothing was refused.
pub fn since(start_ms: u64, first_block_ms: Option<u64>) -> Option<i64> {
    let start = i64::try_from(start_ms).unwrap_or(i64::MAX);
    first_block_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX).saturating_sub(start))
}

/// Time to first block (ms) of a flow's defences in a run of `sc`; `None` if nothing was
/// refused.
pub fn time_to_first_block_ms(sc: &Scenario, d: &FlowDefences) -> Option<i64> {
    since(attack_start_ms(sc), d.first_block_ms)
}

/// Time to first block (ms) of attacker `i`'s requests in `flow`, from its own start
/// (never negative: the attacker makes no request before it starts).
pub fn attacker_time_to_first_block_ms(
    sc: &Scenario,
    stats: &AttackerStats,
    i: usize,
    flow: Flow,
) -> Option<u64> {
    let start = sc.attackers.get(i).map_or(0, |a| a.start.ms());
    since(start, stats.first_block_ms[flow.index()]).map(|ms| u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_runs_from_the_first_pumping_attacks_start() {
        let text = format!(
            "{}{}",
            crate::scenario::tests::MINIMAL,
            "[[attacker]]\nkind = \"sms_pumping\"\nstart = \"30m\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
             targets = { LY = 1.0 }\nnumbers = \"random\"\n"
        );
        let sc = Scenario::parse("x.toml", &text).unwrap();
        assert_eq!(attack_start_ms(&sc), 1_800_000);
        let d = |t: Option<u64>| FlowDefences {
            first_block_ms: t,
            ..FlowDefences::default()
        };
        assert_eq!(
            time_to_first_block_ms(&sc, &d(Some(2_000_000))),
            Some(200_000)
        );
        assert_eq!(time_to_first_block_ms(&sc, &d(Some(0))), Some(-1_800_000));
        assert_eq!(time_to_first_block_ms(&sc, &d(None)), None);
        let a = AttackerStats {
            first_block_ms: [Some(1_900_000), None],
            ..AttackerStats::default()
        };
        let pumper = attacker_time_to_first_block_ms;
        assert_eq!(pumper(&sc, &a, 0, Flow::Sms), Some(100_000));
        assert_eq!(pumper(&sc, &a, 0, Flow::Reverse), None);
    }
}
