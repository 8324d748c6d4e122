//! Unit tests of the world's parts, and the helpers other engine tests build worlds with.

use super::*;

/// A world for unit tests of the flows, from scenario text.
pub fn world(sc: &Scenario) -> World<'_> {
    World::new(sc, 1).expect("test scenario builds")
}

/// A scenario from `text`, which sets everything but the seed, the interval and (unless it
/// sets them) the flows.
pub fn scenario(text: &str) -> Scenario {
    let flows = if text.contains("flows =") {
        ""
    } else {
        "flows = [\"reverse\", \"sms\"]\n"
    };
    let text = format!("seed = 1\ninterval = \"10m\"\n{flows}{text}");
    Scenario::parse("unit.toml", &text).expect("test scenario parses")
}

/// Pops every queued event.
pub fn drain(w: &mut World<'_>) -> Vec<(u64, Ev)> {
    std::iter::from_fn(|| w.run.clock.queue.pop()).collect()
}

const TWO: &str = r#"
duration = "1h"
[legit]
rate_per_s = 1.0
p_send = 1.0
send_delay_median = "5s"
countries.US = { weight = 1.0, imessage = 1.0, fallback = "inbound_sms" }
countries.DE = { weight = 3.0, imessage = 0.0, fallback = "outbound_sms" }
[emitter]
latency_median = "300ms"
"#;

#[test]
fn every_shipped_scenario_builds_its_world_and_cost_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for dir in [root.clone(), root.join("threats"), root.join("examples")] {
        for entry in std::fs::read_dir(&dir).expect("scenarios directory") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let sc = Scenario::load(&path).expect("shipped scenario loads");
                let w = World::new(&sc, sc.run.seed);
                assert!(w.is_ok(), "{}: {:?}", path.display(), w.err());
                n += 1;
            }
        }
    }
    assert!(n >= 8, "found {n} scenarios");
}

#[test]
fn countries_get_disjoint_number_blocks_and_cumulative_weights() {
    let sc = scenario(TWO);
    let w = world(&sc);
    assert_eq!(w.pop.countries.len(), 2);
    assert_eq!(country_base(0), 1_000_000_000_000);
    assert_eq!(
        w.pop.countries[1].base - w.pop.countries[0].base,
        10_000_000_000
    );
    let cum: Vec<f64> = w.pop.countries.iter().map(|c| c.cum_weight).collect();
    assert!(cum == [1.0, 4.0] || cum == [3.0, 4.0], "{cum:?}");
}

#[test]
fn arrivals_stop_at_the_end_and_flows_drain_after_it() {
    let sc = scenario(TWO);
    let mut w = world(&sc);
    let end = sc.run.duration.ms();
    w.run.at(end - 1, Ev::Arrival);
    w.run.at(end, Ev::Arrival);
    w.run.at(end, Ev::Sweep);
    w.run.at(w.run.clock.drain_end_ms, Ev::Sweep);
    assert_eq!(
        drain(&mut w),
        [(end - 1, Ev::Arrival), (end, Ev::Sweep)],
        "arrivals end with the scenario, other events with the drain"
    );
}

#[test]
fn a_user_is_freed_when_its_last_event_ran() {
    let sc = scenario(TWO);
    let mut w = world(&sc);
    let u = w.pop.new_user(0, 42);
    w.pop.users[u as usize].refs = 1;
    w.pop.hold(
        &mut w.run,
        u,
        10,
        Ev::SmsRead {
            user: u,
            flow: Flow::Sms,
        },
    );
    let drain_end_ms = w.run.clock.drain_end_ms;
    w.pop.hold(
        &mut w.run,
        u,
        drain_end_ms,
        Ev::SmsRead {
            user: u,
            flow: Flow::Sms,
        },
    );
    assert_eq!(
        w.pop.users[u as usize].refs, 2,
        "an event past the drain holds nothing"
    );
    w.pop.release(&mut w.run, u);
    assert!(w.pop.free_users.is_empty());
    w.pop.release(&mut w.run, u);
    assert_eq!(w.pop.free_users, [u]);
    assert_eq!(w.pop.new_user(1, 7), u, "slots are reused");
    assert_eq!(w.pop.users[u as usize].number, 7);
}
