//! The attackers' unit tests.

use super::super::legit::sms_start;
use super::super::time;
use super::super::world::tests::{drain, scenario, world};
use super::super::world::{Ev, PREMIUM_OFFSET, World};
use super::{attack, attack_rate, flood::flood, pumping::Pump, schedule_attack};
use crate::flow::Flow;
use crate::scenario::Attack;
use crate::trace::Action;

const LEGIT: &str = "duration = \"1h\"\n[legit]\nrate_per_s = 0.0\np_send = 1.0\n\
    send_delay_median = \"5s\"\n\
    countries.US = { weight = 1.0, imessage = 1.0, fallback = \"inbound_sms\" }\n\
    [emitter]\nlatency_median = \"300ms\"\n";

#[test]
fn a_burst_attacker_is_silent_between_bursts_and_outside_its_window() {
    let sc = scenario(&format!(
        "{LEGIT}[[attacker]]\nkind = \"start_flood\"\nstart = \"10m\"\nend = \"50m\"\n\
         shape = \"burst\"\nburst_on = \"1m\"\nburst_off = \"4m\"\nrate_per_s = 3.0\n"
    ));
    let m = 60_000;
    assert_eq!(
        attack_rate(&sc.attackers[0], 10 * m - 1),
        0.0,
        "before start"
    );
    assert_eq!(attack_rate(&sc.attackers[0], 10 * m), 3.0);
    assert_eq!(attack_rate(&sc.attackers[0], 11 * m - 1), 3.0);
    assert_eq!(attack_rate(&sc.attackers[0], 11 * m), 0.0, "off part");
    assert_eq!(attack_rate(&sc.attackers[0], 15 * m), 3.0, "next burst");
    assert_eq!(attack_rate(&sc.attackers[0], 50 * m), 0.0, "after end");
}

#[test]
fn the_next_attempt_after_a_burst_skips_to_the_next_burst() {
    let sc = scenario(&format!(
        "{LEGIT}[[attacker]]\nkind = \"start_flood\"\nstart = \"10m\"\nend = \"50m\"\n\
         shape = \"burst\"\nburst_on = \"1m\"\nburst_off = \"4m\"\nrate_per_s = 3.0\n"
    ));
    let mut w = world(&sc);
    w.attackers[0].clock_ms = 12.0 * 60_000.0; // in the off part
    w.run.clock.now_ms = 12 * 60_000;
    schedule_attack(&mut w.run, &mut w.attackers[0], 0);
    let evs = drain(&mut w);
    assert_eq!(evs.len(), 1);
    assert!(
        evs[0].0 >= 15 * 60_000,
        "{evs:?}: resumes at the next burst"
    );
    assert!(
        evs[0].0 < 16 * 60_000,
        "{evs:?}: a gap of seconds, not minutes"
    );
}

#[test]
fn attempts_arrive_at_the_attackers_rate() {
    let sc = scenario(&format!(
        "{LEGIT}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nrate_per_s = 2.0\n"
    ));
    let mut w = world(&sc);
    schedule_attack(&mut w.run, &mut w.attackers[0], 0);
    while let Some((t, ev)) = w.run.clock.queue.pop() {
        w.run.clock.now_ms = t;
        assert!(matches!(ev, Ev::Attack { a: 0 }));
        attack(&mut w, 0);
    }
    let n = w.run.acc.attackers[0].attempts as f64;
    let mean = 2.0 * 3_600.0;
    assert!(
        (n - mean).abs() < 5.0 * mean.sqrt(),
        "{n} attempts vs {mean}"
    );
    assert_eq!(
        w.run.acc.attackers[0].blocked,
        w.run.acc.attackers[0].attempts
    );
    assert_eq!(
        w.run
            .acc
            .rows
            .iter()
            .map(|r| r.webhook.forged_rejected)
            .sum::<u64>() as f64,
        n
    );
}

#[test]
fn a_flood_client_is_capped_until_its_challenges_expire() {
    let sc = scenario(&format!(
        "{LEGIT}[verifier]\nttl = \"1m\"\n[defences.reverse]\nmax_pending_per_client = 2\n\
         [[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nrate_per_s = 1.0\nclients = 1\n"
    ));
    let mut w = world(&sc);
    for _ in 0..3 {
        flood(&mut w.run, &mut w.webhook, &mut w.attackers[0], 0);
    }
    assert_eq!(w.run.acc.rows[0].webhook.flood_starts, 2);
    assert_eq!(w.run.acc.rows[0].webhook.flood_refused, 1);
    w.run.clock.now_ms = 60_000;
    flood(&mut w.run, &mut w.webhook, &mut w.attackers[0], 0);
    assert_eq!(
        w.run.acc.rows[0].webhook.flood_starts, 3,
        "expired challenges free the client"
    );
}

#[test]
fn sequential_pumping_walks_the_premium_range() {
    let sc = scenario(&format!(
        "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
         end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ US = 1.0 }}\n\
         range_size = 3\n"
    ));
    let mut w = world(&sc);
    for _ in 0..4 {
        pump(&mut w);
    }
    assert_eq!(w.run.acc.countries[0].pumped_smsflow, 4);
    assert_eq!(w.run.acc.attackers[0].succeeded, 4);
    let base = w.pop.countries[0].base + PREMIUM_OFFSET;
    // A range of three: the fourth number is the first again.
    assert_eq!(w.flows.sms.otp.pending(), 3);
    assert_eq!(w.attackers[0].counter, 4);
    assert_eq!(base % 10_000_000_000, PREMIUM_OFFSET);
}

/// A pumping attacker (1/s for an hour at MA) with `keys` added, then `tables`.
fn pumper(keys: &str, tables: &str) -> crate::scenario::Scenario {
    scenario(&format!(
        "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
         end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n\
         {keys}{tables}"
    ))
}

/// One pumping request of attacker 0.
fn pump(w: &mut World<'_>) {
    let sc = w.run.sc;
    let Attack::Pumping(p) = &sc.attackers[0].attack else {
        panic!("attacker 0 pumps");
    };
    let World {
        run,
        pop,
        webhook,
        flows,
        attackers,
        ..
    } = w;
    super::pumping::pump(run, pop, flows, webhook, &mut attackers[0], 0, p);
}

/// Runs every queued event (attacks only in these worlds) to the end.
fn run_attacks(w: &mut World<'_>) {
    for (a, rt) in w.attackers.iter_mut().enumerate() {
        schedule_attack(&mut w.run, rt, a);
    }
    while let Some((t, ev)) = w.run.clock.queue.pop() {
        w.run.clock.now_ms = t;
        if let Ev::Attack { a } = ev {
            attack(w, usize::from(a));
        }
    }
}

/// Records requests, so tests can read the numbers pumped.
fn traced(w: &mut World<'_>) {
    w.run.trace = Some(crate::trace::Trace {
        max_steps: usize::MAX,
        ..Default::default()
    });
}

/// The numbers of the SMS flow's sends, in order.
fn sms_numbers(w: &World<'_>) -> Vec<u64> {
    w.run
        .trace
        .as_ref()
        .map(|t| {
            t.steps
                .iter()
                .filter_map(|s| match s.action {
                    Action::SmsStart {
                        world: Flow::Sms,
                        number,
                        ..
                    } => Some(number),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn accounts_get_their_requests_and_a_capped_attacker_stops() {
    let sc = pumper("sms_per_account = 5\n", "");
    let mut w = world(&sc);
    for _ in 0..12 {
        pump(&mut w);
    }
    assert_eq!(w.run.acc.attackers[0].accounts, 3, "5 + 5 + 2 requests");
    let sc = pumper("", "");
    let mut w = world(&sc);
    for _ in 0..12 {
        pump(&mut w);
    }
    assert_eq!(
        w.run.acc.attackers[0].accounts, 0,
        "without the knob: no account"
    );
    let sc = pumper("sms_per_account = 5\naccounts = 2\n", "");
    let mut w = world(&sc);
    run_attacks(&mut w);
    assert_eq!(w.run.acc.attackers[0].attempts, 10, "two accounts of five");
    assert_eq!(w.run.acc.attackers[0].accounts, 2);
}

#[test]
fn sms_per_number_repeats_each_number() {
    let sc = pumper("sms_per_number = 2\n", "");
    let mut w = world(&sc);
    traced(&mut w);
    for _ in 0..6 {
        pump(&mut w);
    }
    let n = sms_numbers(&w);
    let b = n[0];
    assert_eq!(n, [b, b, b + 1, b + 1, b + 2, b + 2]);
    let sc = pumper("numbers = \"random\"\nsms_per_number = 3\n", "");
    let mut w = world(&sc);
    traced(&mut w);
    for _ in 0..6 {
        pump(&mut w);
    }
    let n = sms_numbers(&w);
    assert!(
        n[0] == n[1] && n[1] == n[2] && n[3] == n[4] && n[4] == n[5],
        "{n:?}"
    );
    assert_ne!(n[0], n[3], "a new number after three");
    // Over several countries and carriers the number (country, carrier and all) is held.
    let sc = scenario(&format!(
        "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
         end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
         targets = {{ MA = 1.0, KG = 1.0 }}\nsms_per_number = 3\n{TWO_CARRIERS}"
    ));
    let mut w = world(&sc);
    traced(&mut w);
    for _ in 0..30 {
        pump(&mut w);
    }
    let n = sms_numbers(&w);
    assert!(n.chunks(3).all(|c| c[0] == c[1] && c[1] == c[2]), "{n:?}");
    let distinct: std::collections::BTreeSet<u64> = n.iter().map(|x| x / 1_000_000_000).collect();
    assert!(
        distinct.len() > 2,
        "several countries and carriers: {distinct:?}"
    );
}

#[test]
fn ranges_are_separate_prefixes_walked_in_turn_or_drawn() {
    let sc = pumper("range_size = 2\nranges = 3\n", "");
    let mut w = world(&sc);
    traced(&mut w);
    for _ in 0..7 {
        pump(&mut w);
    }
    let n = sms_numbers(&w);
    let (b, stride) = (n[0], crate::scenario::range_stride(2));
    assert_eq!(
        n,
        [
            b,
            b + 1,
            b + stride,
            b + stride + 1,
            b + 2 * stride,
            b + 2 * stride + 1,
            b
        ]
    );
    let prefixes: std::collections::BTreeSet<u64> = n.iter().map(|x| x / 10_000).collect();
    assert_eq!(prefixes.len(), 3, "one prefix per range");
    let sc = pumper("numbers = \"random\"\nrange_size = 10\nranges = 4\n", "");
    let mut w = world(&sc);
    traced(&mut w);
    for _ in 0..200 {
        pump(&mut w);
    }
    let ma = w.pop.countries[1].carriers[0]; // US is country 0
    let start = w.pop.carriers[ma].premium_start;
    let stride = crate::scenario::range_stride(10);
    let used: std::collections::BTreeSet<u64> = sms_numbers(&w)
        .iter()
        .map(|x| {
            assert!((x - start) % stride < 10, "{x} outside its range");
            (x - start) / stride
        })
        .collect();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
fn a_ramp_is_linear_between_its_points_and_holds_outside() {
    let sc = scenario(&format!(
        "{LEGIT}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"10m\"\nend = \"1h\"\n\
         shape = \"ramp\"\nramp = [{{ at = \"10m\", per_s = 1.0 }}, {{ at = \"30m\", per_s = 3.0 }}]\n"
    ));
    let w = world(&sc);
    let m = 60_000;
    assert_eq!(
        attack_rate(&sc.attackers[0], 10 * m - 1),
        0.0,
        "before start"
    );
    assert_eq!(
        attack_rate(&sc.attackers[0], 10 * m),
        1.0,
        "the first point's rate holds before it"
    );
    assert_eq!(attack_rate(&sc.attackers[0], 20 * m), 1.0);
    assert!(
        (attack_rate(&sc.attackers[0], 30 * m) - 2.0).abs() < 1e-12,
        "half way"
    );
    assert_eq!(attack_rate(&sc.attackers[0], 40 * m), 3.0);
    assert_eq!(
        attack_rate(&sc.attackers[0], 59 * m),
        3.0,
        "the last point's rate holds"
    );
    assert_eq!(w.attackers[0].thinned, Some(3.0), "candidates at the peak");
}

#[test]
fn ramp_attempts_follow_the_integral_of_the_rate() {
    // 0 → 2/s over the hour: 3,600 attempts expected, not the 7,200 of the peak rate.
    let sc = scenario(&format!(
        "{LEGIT}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"ramp\"\nramp = [{{ at = \"0s\", per_s = 0.0 }}, {{ at = \"1h\", per_s = 2.0 }}]\n"
    ));
    let mut w = world(&sc);
    run_attacks(&mut w);
    let n = w.run.acc.attackers[0].attempts as f64;
    assert!((n - 3_600.0).abs() < 5.0 * 60.0, "{n} attempts");
    let rows: Vec<u64> = w
        .run
        .acc
        .rows
        .iter()
        .map(|r| r.webhook.forged_rejected)
        .collect();
    assert!(
        rows[5] > 3 * rows[0],
        "more at the end than at the start: {rows:?}"
    );
}

#[test]
fn a_diurnal_attacker_peaks_at_its_hour() {
    let sc = scenario(&format!(
        "duration = \"1d\"\n{}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\n\
         end = \"1d\"\nshape = \"diurnal\"\nrate_per_s = 0.2\namplitude = 0.8\npeak_hour = 3\n",
        LEGIT.replace("duration = \"1h\"\n", "")
    ));
    let mut w = world(&sc);
    let h = time::MS_PER_HOUR;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(
        close(attack_rate(&sc.attackers[0], 3 * h), 0.2 * 1.8),
        "peak"
    );
    assert!(
        close(attack_rate(&sc.attackers[0], 15 * h), 0.2 * 0.2),
        "trough"
    );
    assert!(
        close(attack_rate(&sc.attackers[0], 9 * h), 0.2),
        "a quarter day off: the mean"
    );
    run_attacks(&mut w);
    let n = w.run.acc.attackers[0].attempts as f64;
    let mean = 0.2 * 86_400.0; // the cosine averages out over a day
    assert!((n - mean).abs() < 5.0 * mean.sqrt(), "{n} vs {mean}");
    // Rows are 10 minutes: the hours around 03:00 against those around 15:00.
    let around = |hour: usize| -> u64 {
        w.run.acc.rows[hour * 6 - 6..hour * 6 + 6]
            .iter()
            .map(|r| r.webhook.forged_rejected)
            .sum()
    };
    assert!(
        around(3) > 4 * around(15),
        "{} vs {}",
        around(3),
        around(15)
    );
}

const TWO_CARRIERS: &str = "[[carrier]]\ncountry = \"MA\"\nname = \"A\"\nshare = 0.3\n\
    [[carrier]]\ncountry = \"MA\"\nname = \"B\"\nshare = 0.5\nprice_usd = 1.0\n";

#[test]
fn carriers_own_number_blocks_legit_users_follow_shares_and_attackers_pick_theirs() {
    let sc = scenario(&format!(
        "flows = [\"sms\"]\nduration = \"1h\"\n[legit]\nrate_per_s = 0.0\np_send = 1.0\n\
         send_delay_median = \"5s\"\n\
         countries.MA = {{ weight = 1.0, imessage = 0.0, fallback = \"outbound_sms\" }}\n\
         [emitter]\nlatency_median = \"300ms\"\n[[attacker]]\nkind = \"sms_pumping\"\n\
         start = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
         targets = {{ MA = 1.0 }}\ncarriers = [\"B\"]\n{TWO_CARRIERS}"
    ));
    let mut w = world(&sc);
    let names: Vec<&str> = w.run.acc.carriers.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["A", "B", "(other)"],
        "the rest of the shares is (other)"
    );
    let mut per = [0u32; 3];
    for _ in 0..10_000 {
        let number = w.pop.legit_number(&mut w.run.rng, 0);
        per[w.pop.carrier_of(0, number)] += 1;
    }
    for (got, share) in per.iter().zip([0.3f64, 0.5, 0.2]) {
        let mean = 10_000.0 * share;
        let sd = (mean * (1.0 - share)).sqrt();
        assert!((f64::from(*got) - mean).abs() < 5.0 * sd, "{per:?}");
    }
    traced(&mut w);
    for _ in 0..50 {
        pump(&mut w);
    }
    assert!(sms_numbers(&w).iter().all(|&n| w.pop.carrier_of(0, n) == 1));
    let pumped: Vec<u64> = w
        .run
        .acc
        .carriers
        .iter()
        .map(|k| k.pumped_smsflow)
        .collect();
    assert_eq!(pumped, [0, 50, 0]);
    assert_eq!(
        w.run.acc.rows[0].usd.usd_sms_flow, 50.0,
        "billed at B's $1.00"
    );
    assert_eq!(w.run.acc.countries[0].pumped_smsflow, 50);
}

#[test]
fn a_carrier_without_a_price_takes_the_table_price_or_the_list_price() {
    let sc = scenario(&format!(
        "flows = [\"sms\"]\n{LEGIT}[[carrier]]\ncountry = \"US\"\nname = \"AT&T\"\nshare = 0.5\n\
         [[carrier]]\ncountry = \"US\"\nname = \"Unlisted\"\nshare = 0.5\nprice_usd = 0.02\n"
    ));
    let w = world(&sc);
    assert_eq!(w.pop.carriers[0].price, 0.0083, "carrier_prices.csv");
    assert_eq!(w.pop.carriers[1].price, 0.02, "price_usd");
    assert_eq!(w.run.acc.carriers.len(), 2, "shares sum to 1: no (other)");
}

#[test]
fn submitted_codes_verify_through_the_real_check() {
    let sc = pumper("submit_codes = 1.0\n", "");
    let mut w = world(&sc);
    traced(&mut w);
    for _ in 0..20 {
        pump(&mut w);
    }
    // The trace pairs each send with its read, so a live replay submits the same codes.
    let steps = &w.run.trace.as_ref().unwrap().steps;
    let (mut started, mut read) = (Vec::new(), Vec::new());
    for s in steps {
        match s.action {
            Action::SmsStart { key: Some(k), .. } => started.push(k),
            Action::SmsRead { key, .. } if s.expect == "verified" => read.push(key),
            _ => {}
        }
    }
    assert_eq!(started.len(), 20);
    assert_eq!(started, read);
    assert_eq!(w.run.acc.rows[0].pumping.pumped_verified_smsflow, 20);
    let ma = w.pop.countries[1].carriers[0];
    assert_eq!(w.run.acc.carriers[ma].verified_smsflow, 20);
    assert_eq!(w.flows.sms.otp.pending(), 0, "every code was used");
    let sc = pumper("camouflage = 1.0\n", "");
    let mut w = world(&sc);
    for _ in 0..20 {
        pump(&mut w);
    }
    assert_eq!(
        w.run.acc.rows[0].pumping.pumped_verified_smsflow, 0,
        "camouflage verifies nothing"
    );
}

#[test]
fn next_range_moves_past_a_prefix_limit() {
    let tables = "[defences.sms]\nper_prefix = 5\n";
    let pumps = |keys: &str| {
        let sc = pumper(&format!("range_size = 100\nranges = 3\n{keys}"), tables);
        let mut w = world(&sc);
        for _ in 0..30 {
            pump(&mut w);
        }
        (
            w.run.acc.attackers[0].succeeded,
            w.run.acc.attackers[0].adaptations,
        )
    };
    assert_eq!(pumps(""), (5, 0), "stuck in the first range");
    let (succeeded, adaptations) = pumps("adapt = { after_blocks = 2, action = \"next_range\" }\n");
    assert_eq!(succeeded, 15, "five in each of three ranges");
    assert!(adaptations >= 3, "{adaptations}");
}

#[test]
fn next_country_leaves_a_blocked_destination() {
    let tables = "[defences.sms]\ngeo_allow = [\"KG\"]\n";
    let sc = |keys: &str| {
        scenario(&format!(
            "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
             end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
             targets = {{ MA = 1.0, KG = 1.0 }}\n{keys}{tables}"
        ))
    };
    let plain = sc("");
    let mut w = world(&plain);
    for _ in 0..100 {
        pump(&mut w);
    }
    assert!(w.run.acc.attackers[0].blocked > 30, "half go to MA");
    let adaptive = sc("adapt = { after_blocks = 3, action = \"next_country\" }\n");
    let mut w = world(&adaptive);
    while w.run.acc.attackers[0].adaptations == 0 {
        pump(&mut w);
    }
    assert_eq!(
        w.attackers[0].pumping.left_targets,
        [false, true],
        "KG, MA: MA left"
    );
    let blocked = w.run.acc.attackers[0].blocked;
    for _ in 0..100 {
        pump(&mut w);
    }
    assert_eq!(
        w.run.acc.attackers[0].blocked, blocked,
        "KG only from then on"
    );
    assert_eq!(w.run.acc.attackers[0].adaptations, 1);
}

#[test]
fn next_carrier_leaves_the_carrier_of_the_refusals() {
    let sc = pumper(
        "adapt = { after_blocks = 1, action = \"next_carrier\" }\n",
        &format!("[defences.sms]\nper_prefix = 1\n{TWO_CARRIERS}"),
    );
    let mut w = world(&sc);
    traced(&mut w);
    // Pump until the first refusal.
    while w.run.acc.attackers[0].blocked == 0 {
        pump(&mut w);
    }
    let ma = w.pop.countries[1].carriers.clone(); // US is country 0
    assert_eq!(ma.len(), 3, "A, B, (other)");
    let left: Vec<usize> = ma
        .iter()
        .copied()
        .filter(|&k| w.attackers[0].pumping.left_carriers[k])
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    for _ in 0..20 {
        let Attack::Pumping(p) = &sc.attackers[0].attack else {
            panic!("attacker 0 pumps");
        };
        let mut pump = Pump {
            run: &mut w.run,
            pop: &w.pop,
            rt: &mut w.attackers[0],
            a: 0,
            p,
        };
        assert_ne!(pump.pick_carrier(1), left[0], "never the carrier it left");
    }
}

#[test]
fn back_off_silences_the_attacker() {
    let tables = "[defences.sms]\ngeo_allow = [\"US\"]\n";
    let attempts = |keys: &str| {
        let sc = pumper(keys, tables);
        let mut w = world(&sc);
        run_attacks(&mut w);
        (
            w.run.acc.attackers[0].attempts,
            w.run.acc.attackers[0].adaptations,
        )
    };
    assert!(attempts("").0 > 3_000, "refused all hour long");
    let (n, adaptations) =
        attempts("adapt = { after_blocks = 5, action = \"back_off\", back_off = \"25m\" }\n");
    // 5 refusals and 25 minutes of silence, three times: the hour is over.
    assert_eq!((n, adaptations), (15, 3));
}

#[test]
fn a_captcha_stops_bots_not_human_farms_and_bills_each_check() {
    let captcha = "[defences.captcha]\npass_bot = 0.0\npass_human_farm = 1.0\n\
        pass_legit = 0.5\nusd_per_check = 0.01\n";
    let pumps = |solver: &str| {
        let sc = pumper(&format!("solver = \"{solver}\"\n"), captcha);
        let mut w = world(&sc);
        for _ in 0..20 {
            pump(&mut w);
        }
        let r = w.run.acc.rows[0].clone();
        (
            r.pumping.pumped_sms_smsflow,
            r.pumping.captcha_blocked_pumping,
            r.usd.usd_captcha_sms_flow,
        )
    };
    let (sent, failed, usd) = pumps("bot");
    assert_eq!((sent, failed), (0, 20));
    assert!((usd - 0.2).abs() < 1e-9, "{usd}");
    assert_eq!(pumps("human_farm").0, 20);
    // Legit users fail it half the time: counted, and they get no code.
    let sc = pumper("", captcha);
    let mut w = world(&sc);
    for _ in 0..2_000 {
        let u = w.pop.new_user(0, w.pop.countries[0].base + 1_000_000_000);
        w.pop.users[u as usize].refs = 1;
        sms_start(
            &mut w.run,
            &mut w.pop,
            &mut w.flows.sms,
            Flow::Sms,
            u,
            (false, 0),
        );
        w.pop.release(&mut w.run, u);
    }
    let r = &w.run.acc.rows[0];
    assert_eq!(
        r.legit.captcha_blocked_legit + r.legit.sms_legit_smsflow,
        2_000
    );
    assert!(
        (900..1_100).contains(&r.legit.captcha_blocked_legit),
        "{r:?}"
    );
}
