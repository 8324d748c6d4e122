//! One definition of **time to first block**, for every report that prints it (run reports,
//! `mo2fa incidents`): from the start of the scenario's first SMS pumping attack to the first
//! send a flow's SMS defences refused, legit or not. Without a pumping attacker it runs from
//! the run's start. It is negative when a defence refused a legit send before the attack
//! began (a false positive, which the reports then say).

use crate::outcome::FlowDefences;
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

/// Time to first block (ms) of a flow's defences in a run of `sc`; `None` if nothing was
/// refused.
pub fn time_to_first_block_ms(sc: &Scenario, d: &FlowDefences) -> Option<i64> {
    let start = i64::try_from(attack_start_ms(sc)).unwrap_or(i64::MAX);
    d.first_block_ms
        .map(|t| i64::try_from(t).unwrap_or(i64::MAX).saturating_sub(start))
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
    }
}
