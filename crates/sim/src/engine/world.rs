//! A run's state in owned parts, by concern: the [`Run`] every step shares (the scenario, the
//! one random stream, virtual time and the event queue, the counters, the trace and SMS log),
//! the [`Population`] (countries, carriers, users), the [`Webhook`] (the reverse flow's core
//! and the provider in front of it), each flow's [`FlowSide`] (SMS OTP, defences, account)
//! and the attackers' state; with the small helpers on each part (scheduling, users'
//! lifetimes, recording).
//!
//! The engine's steps (`legit`, `provider`, `defences`, `billing`, `attackers`) are functions
//! that take the parts they touch, so their signatures say what each step reads and changes.

use super::accounting::Accounts;
use super::attackers::{AttackerRt, PumpingRt};
use super::queue::EventQueue;
use super::time;
use crate::flow::{Flow, PerFlow};
use crate::outcome::{AttackerStats, CarrierStats, CountryStats, Row};
use crate::scenario::{Attack, Fallback, OTHER_CARRIER, SHARE_EPS, Scenario};
use crate::trace::{Action, Answer, Step, Trace};
use crate::{SimError, costs};
use mo2fa_core::code::{Code, CodeSpec};
use mo2fa_core::sender::Sender;
use mo2fa_core::sms_defences::Attempt;
use mo2fa_core::sms_defences::SmsGuard;
use mo2fa_core::sms_otp::{SmsOtp, SmsOtpConfig};
use mo2fa_core::store::{ChallengeId, MemoryStoreConfig};
use mo2fa_core::verifier::StartRequest;
use mo2fa_core::verifier::{self, Protocol, Verifier};
use mo2fa_core::webhook::{Scheme, Secret};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use std::collections::VecDeque;

/// The webhook secret of simulated deliveries; attackers forging deliveries do not know it.
pub const SIM_SECRET: &str = "mo2fa-simulated-provider-secret";
/// What webhook forgers sign with.
pub const FORGER_SECRET: &str = "a guess at the secret";
/// How far a signature's timestamp may be from now, in seconds.
pub const TOLERANCE_S: i64 = 300;

/// What happens at a point in virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ev {
    Arrival,
    /// The user sends their code to the provider (reverse world).
    UserSend {
        user: u32,
        typo: bool,
    },
    /// The provider delivers a message to the webhook.
    /// `twice`: the provider will deliver (or has delivered) this message twice.
    Deliver {
        user: u32,
        msg: u32,
        typo: bool,
        twice: bool,
    },
    /// The user reads a code texted in `flow` (the reverse flow's: its SMS fallback) and
    /// types it.
    SmsRead {
        user: u32,
        flow: Flow,
    },
    /// The user's code has not arrived: they ask for a new one (`[sms] resend_after`).
    SmsResend {
        user: u32,
        flow: Flow,
    },
    /// A victim persuaded by a phisher sends the attacker's code.
    VictimSend {
        user: u32,
        a: u16,
    },
    /// A relay phisher's victim has handed over the code of `flow`: the attacker relays the
    /// texted code (sms), or the victim sends the page's code (reverse).
    Relay {
        user: u32,
        a: u16,
        flow: Flow,
    },
    Attack {
        a: u16,
    },
    Sweep,
}

/// A legit user (or a phisher's victim) while any of their events is pending.
#[derive(Clone, Copy, Default)]
pub(super) struct User {
    pub country: u16,
    pub number: u64,
    pub code: Code,
    /// Where the user stands in each flow.
    pub flows: PerFlow<UserFlow>,
    pub inbound_sms: bool,
    /// A legit user (not a phisher's victim): counted in time to verify.
    pub legit: bool,
    /// Virtual time the user arrived, ms.
    pub start_ms: u64,
    /// Pending events (and running handlers) that hold this user; freed at zero.
    pub refs: u16,
    /// Trace key of this user's challenge (0 when not tracing).
    pub key: u32,
    pub id: Option<ChallengeId>,
    /// The app account of the SMS sends (for the SMS defences).
    pub account: u64,
}

/// A user in one flow: the code texted, and how far they got.
#[derive(Clone, Copy, Default)]
pub(super) struct UserFlow {
    /// The code texted to this user in this flow.
    pub texted: Texted,
    /// The user verified.
    pub verified: bool,
    /// The rule that refused this user's code (what-each-defence-did accounting).
    pub refused_by: Option<&'static str>,
    /// Why the user has not verified yet, as far as known.
    pub unverified: crate::outcome::Unverified,
    /// The user already asked for a new code.
    pub resent: bool,
}

/// A code texted to a user in one flow: the code, its trace key (0 when not tracing) and the
/// client address the send came from (for the SMS defences).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Texted {
    pub code: u32,
    pub key: u32,
    pub ip: u32,
}

pub(super) struct CountryRt {
    pub iso: String,
    pub cum_weight: f64,
    pub imessage: f64,
    pub fallback: Fallback,
    /// Start of this country's block of the synthetic numbering plan.
    pub base: u64,
    /// The country's carriers (indices into `World::carriers`), in block order; one, covering
    /// the whole block, when the scenario lists none for it.
    pub carriers: Vec<usize>,
    /// The scenario lists carriers for this country: each owns a block of 10^9 numbers.
    pub split: bool,
    /// SMS delivery to this country: median (ms) and loss (`[sms]`).
    pub sms_delivery_ms: u64,
    pub sms_loss: f64,
}

/// A mobile operator: its share of its country's numbers, its price and its numbers.
pub(super) struct CarrierRt {
    pub share: f64,
    /// Price of one message (all its segments).
    pub price: f64,
    /// Where legit numbers start, how many there are, and where premium ranges start.
    pub legit_start: u64,
    pub legit_span: u64,
    pub premium_start: u64,
}

/// A delivery an eavesdropper captured.
#[derive(Clone)]
pub(super) struct Capture {
    pub at_ms: u64,
    pub msg: u32,
    pub body: String,
    pub signature: String,
}

/// How a scenario configures the core: shared by the virtual run and the live servers, so
/// both answer by the same rules.
pub struct CoreConfig {
    pub verifier: verifier::Config,
    pub store: MemoryStoreConfig,
    pub sms: SmsOtpConfig,
}

pub fn core_config(sc: &Scenario) -> Result<CoreConfig, SimError> {
    let mut accepted = vec![Protocol::Imessage];
    if sc.verifier.accept_sms {
        accepted.push(Protocol::Sms);
    }
    let spec = CodeSpec::new(sc.verifier.code_len)
        .map_err(|e| SimError::Config(format!("verifier.code_len: {e}")))?;
    let ttl_ms = sc.verifier.ttl.ms();
    Ok(CoreConfig {
        verifier: verifier::Config {
            code: spec,
            default_ttl_ms: ttl_ms,
            min_ttl_ms: ttl_ms.min(10_000),
            max_ttl_ms: ttl_ms,
            max_candidates: sc.verifier.max_candidates,
            accepted_protocols: accepted,
            ..verifier::Config::default()
        },
        store: MemoryStoreConfig {
            shards: 8,
            max_pending: sc.verifier.max_pending,
            retention_ms: 60_000,
        },
        sms: SmsOtpConfig {
            digits: 6,
            ttl_ms: sc.sms.ttl.ms(),
            max_attempts: sc.sms.max_attempts,
        },
    })
}

/// A log-normal delay around `median_ms`, in fractional milliseconds.
pub(super) fn lognormal(median_ms: u64, sigma: f64) -> LogNormal<f64> {
    LogNormal::new(time::ms_f64(median_ms.max(1)).ln(), sigma.max(0.0))
        .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("valid"))
}

/// Synthetic numbering plan: country `i` owns numbers `(100 + i) * 10^10 ..`, which keeps
/// them valid E.164 lengths, distinct per country, and gives attackers ranges to walk.
pub(super) fn country_base(i: usize) -> u64 {
    u64::try_from(i)
        .ok()
        .and_then(|i| (100 + i).checked_mul(10_000_000_000))
        .unwrap_or(u64::MAX)
}

/// Numbers per carrier block, legit numbers in the lower half of a block, premium ranges from
/// its middle.
pub(super) const CARRIER_BLOCK: u64 = 1_000_000_000;
pub(super) const CARRIER_LEGIT_SPAN: u64 = 500_000_000;
/// Attackers rent premium ranges: in a country without carriers, their numbers start here.
pub(super) const PREMIUM_OFFSET: u64 = 5_000_000_000;
/// Attackers' accounts: attacker `a` owns ids `(a + 1) << 40 ..`; legit users count from 1.
pub(super) fn attacker_account_base(a: usize) -> u64 {
    u64::try_from(a + 1).unwrap_or(u64::MAX >> 24) << 40
}

/// The carriers of every country, in country order, and each country's list of them.
fn build_carriers(
    sc: &Scenario,
    isos: &[String],
    list_per_segment: &[f64],
    billed_per_message: f64,
    snapshot: mo2fa_cost::Date,
) -> (Vec<CarrierRt>, Vec<CarrierStats>, Vec<Vec<usize>>) {
    let mut rts = Vec::new();
    let mut stats = Vec::new();
    let mut per_country = Vec::with_capacity(isos.len());
    for (i, iso) in isos.iter().enumerate() {
        let base = country_base(i);
        let listed: Vec<_> = sc.carriers.iter().filter(|c| &c.country.0 == iso).collect();
        let mut mine = Vec::new();
        let mut push = |name: &str, share: f64, per_segment: f64, slot: Option<u64>| {
            mine.push(rts.len());
            let (legit_start, legit_span, premium_start) = match slot {
                // The legacy plan: the whole block, legit numbers from 10^9, premium from 5·10^9.
                None => (base + 1_000_000_000, 9_000_000_000, base + PREMIUM_OFFSET),
                Some(j) => {
                    let start = base + (j + 1) * CARRIER_BLOCK;
                    (start, CARRIER_LEGIT_SPAN, start + CARRIER_LEGIT_SPAN)
                }
            };
            rts.push(CarrierRt {
                share,
                price: per_segment * billed_per_message,
                legit_start,
                legit_span,
                premium_start,
            });
            stats.push(CarrierStats {
                iso: iso.clone(),
                name: name.to_string(),
                share,
                usd_per_segment: per_segment,
                ..Default::default()
            });
        };
        let list_price = list_per_segment[i];
        if listed.is_empty() {
            push(OTHER_CARRIER, 1.0, list_price, None);
        } else {
            let mut slot = 0u64;
            for c in &listed {
                let per_segment = c.price_usd.map(|p| p.0).unwrap_or_else(|| {
                    crate::carriers::listed_price(iso, &c.name, snapshot).unwrap_or(list_price)
                });
                push(&c.name, c.share.0, per_segment, Some(slot));
                slot += 1;
            }
            // Rounded, so 1 − 0.45 − 0.35 reads 0.2 in the summary.
            let rest = ((1.0 - listed.iter().map(|c| c.share.0).sum::<f64>()) * 1e9).round() / 1e9;
            if rest > SHARE_EPS {
                push(OTHER_CARRIER, rest, list_price, Some(slot));
            }
        }
        per_country.push(mine);
    }
    (rts, stats, per_country)
}

/// A country's index as events and traces carry it.
pub(super) fn country_u16(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// Virtual time and the events waiting for it.
pub(super) struct Clock {
    pub queue: EventQueue<Ev>,
    /// Virtual time of the event being handled.
    pub now_ms: u64,
    /// Arrivals and attacks stop here (the scenario's duration).
    pub end_ms: u64,
    /// Flows under way drain until here: one challenge lifetime after the end.
    pub drain_end_ms: u64,
}

/// Who is out there: countries and their carriers (the numbering plan), the legit users and
/// the phishers' victims while their events are pending, and the legit arrival process.
pub(super) struct Population {
    pub countries: Vec<CountryRt>,
    /// Every country's carriers; a guard call's `network` is an index into it.
    pub carriers: Vec<CarrierRt>,
    pub users: Vec<User>,
    pub free_users: Vec<u32>,
    /// Human delay before sending or typing a code.
    pub send_delay: LogNormal<f64>,
    /// The legit arrival rate's peak over the run, and the arrival process's own fractional
    /// clock: rounding every gap to whole milliseconds would distort high rates (a mean gap
    /// of 1 ms rounded up is 1.58 ms).
    pub max_legit_rate: f64,
    pub arrival_clock_ms: f64,
}

/// The reverse flow's core and the provider in front of it: the verifier, the code spec, the
/// webhook's secrets and per-sender window, message numbering, latency and the deliveries an
/// eavesdropper captured.
pub(super) struct Webhook {
    pub spec: CodeSpec,
    pub verifier: Verifier,
    pub secret: Secret,
    pub forger: Secret,
    /// The hour (virtual) the per-sender counts are for, and the counts.
    pub sender_window: (u64, rustc_hash::FxHashMap<u64, u32>),
    pub msg_seq: u32,
    pub latency: LogNormal<f64>,
    /// Someone replays deliveries: genuine ones are captured and go through the dedupe cache.
    pub replays: bool,
    pub captured: VecDeque<Capture>,
}

/// One flow's SMS side: whether the scenario runs it, its SMS OTP (the sms flow's codes, or
/// the reverse flow's outbound fallback), its SMS defences (with the alert counts last seen,
/// so each new alert is put down to the request that raised it) and its provider account
/// (`[billing.balance]`).
pub(super) struct FlowSide {
    pub runs: bool,
    pub otp: SmsOtp,
    pub guard: SmsGuard,
    pub seen_alerts: std::collections::BTreeMap<&'static str, u64>,
    pub account: Option<crate::billing::FlowAccount>,
}

/// What every step of a run shares: the scenario, the one random stream, virtual time, the
/// counters, and the records kept of the run (the trace for live replay, the SMS log).
pub(super) struct Run<'a> {
    pub sc: &'a Scenario,
    /// The one random stream: every draw of the run, in event order.
    pub rng: ChaCha8Rng,
    pub clock: Clock,
    /// Which flows the scenario runs.
    pub runs: PerFlow<bool>,
    /// The counters the reports are made of.
    pub acc: Accounts,
    pub trace: Option<Trace>,
    /// Every SMS attempt, when `run --emit-log` asks (`sms_log`).
    pub sms_log: Option<&'a mut super::sms_log::SmsLog>,
}

/// Everything a run holds, in its parts.
pub(super) struct World<'a> {
    pub run: Run<'a>,
    pub pop: Population,
    pub webhook: Webhook,
    pub flows: PerFlow<FlowSide>,
    pub attackers: Vec<AttackerRt>,
    /// The cost model of the scenario's population, loaded before the run so a bad price
    /// setting fails at once.
    pub cost_model: mo2fa_cost::PricedMix,
}

impl Population {
    /// The carrier (index into `carriers`) a number of `country` belongs to.
    pub fn carrier_of(&self, country: usize, number: u64) -> usize {
        let c = &self.countries[country];
        if !c.split || c.carriers.len() == 1 {
            return c.carriers[0];
        }
        let slot = number.saturating_sub(c.base) / CARRIER_BLOCK;
        let slot = usize::try_from(slot.saturating_sub(1)).unwrap_or(usize::MAX);
        c.carriers[slot.min(c.carriers.len() - 1)]
    }

    /// A number's carrier as the SMS defences see it (`Attempt::network`): its position among
    /// its country's carriers, so a country without `[[carrier]]` is network 0.
    pub fn network_in_country(&self, country: usize, number: u64) -> u32 {
        let k = self.carrier_of(country, number);
        let slot = self.countries[country]
            .carriers
            .iter()
            .position(|&c| c == k)
            .unwrap_or(0);
        u32::try_from(slot).unwrap_or(u32::MAX)
    }
}

/// The world's countries: the legit users' countries, then the pumping targets not among
/// them, in the order attackers name them.
fn country_isos(sc: &Scenario) -> Vec<String> {
    let mut isos: Vec<String> = sc.legit.countries.keys().map(|k| k.0.clone()).collect();
    for a in &sc.attackers {
        let Attack::Pumping(p) = &a.attack else {
            continue;
        };
        for iso in p.targets.keys() {
            if !isos.contains(&iso.0) {
                isos.push(iso.0.clone());
            }
        }
    }
    isos
}

/// Each country's weight (cumulative), iMessage share, fallback, number block and carriers.
fn build_countries(sc: &Scenario, isos: &[String], per_country: &[Vec<usize>]) -> Vec<CountryRt> {
    let mut cum = 0.0;
    isos.iter()
        .enumerate()
        .map(|(i, iso)| {
            let c = sc
                .legit
                .countries
                .iter()
                .find(|(k, _)| &k.0 == iso)
                .map(|(_, c)| c);
            cum += c.map_or(0.0, |c| c.weight.0);
            CountryRt {
                iso: iso.clone(),
                cum_weight: cum,
                imessage: c.map_or(0.0, |c| c.imessage.0),
                fallback: c.map_or(sc.legit.other_fallback, |c| c.fallback),
                base: country_base(i),
                carriers: per_country[i].clone(),
                split: sc.carriers.iter().any(|c| &c.country.0 == iso),
                sms_delivery_ms: sc
                    .sms
                    .delivery_by_country
                    .iter()
                    .find(|(k, _)| &k.0 == iso)
                    .map_or(sc.sms.delivery.ms(), |(_, d)| d.ms()),
                sms_loss: sc
                    .sms
                    .loss_by_country
                    .iter()
                    .find(|(k, _)| &k.0 == iso)
                    .map_or(sc.sms.loss.0, |(_, p)| p.0),
            }
        })
        .collect()
}

/// Every attacker's state and statistics before the run.
fn build_attackers(
    sc: &Scenario,
    isos: &[String],
    carrier_stats: &[CarrierStats],
) -> (Vec<AttackerRt>, Vec<AttackerStats>) {
    let stats = sc
        .attackers
        .iter()
        .enumerate()
        .map(|(i, a)| AttackerStats {
            label: a.label(i),
            kind: a.kind().name(),
            ..Default::default()
        })
        .collect();
    let rts = sc
        .attackers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let pumping = match &a.attack {
                Attack::Pumping(p) => PumpingRt::new(i, p, isos, carrier_stats),
                _ => PumpingRt::default(),
            };
            AttackerRt::new(a, pumping)
        })
        .collect();
    (rts, stats)
}

impl FlowSide {
    /// `flow`'s side before the run: an account only when the flow runs under
    /// `[billing.balance]`.
    fn new(
        sc: &Scenario,
        flow: Flow,
        sms: SmsOtpConfig,
        isos: &[String],
    ) -> Result<Self, SimError> {
        let runs = sc.run.flows.contains(&flow);
        let balance = sc.money.billing.as_ref().and_then(|b| b.balance.as_ref());
        Ok(Self {
            runs,
            otp: SmsOtp::new(sms).map_err(|e| SimError::Config(e.to_string()))?,
            guard: SmsGuard::new(&sc.defences.sms, isos),
            seen_alerts: Default::default(),
            account: balance
                .filter(|_| runs)
                .map(crate::billing::FlowAccount::new),
        })
    }
}

impl<'a> World<'a> {
    pub fn new(sc: &'a Scenario, seed: u64) -> Result<Self, SimError> {
        let cost_model = costs::model(sc)?;
        let snapshot = &cost_model.snapshot;
        let isos = country_isos(sc);
        let billed_per_message = sc.billed_per_message();
        let list_per_segment: Vec<f64> = isos
            .iter()
            .map(|iso| snapshot.quote(iso).usd_per_segment)
            .collect();
        let (carriers, carrier_stats, per_country) = build_carriers(
            sc,
            &isos,
            &list_per_segment,
            billed_per_message,
            snapshot.date(),
        );
        let countries = build_countries(sc, &isos, &per_country);
        let country_stats = countries
            .iter()
            .map(|c| CountryStats {
                iso: c.iso.clone(),
                usd_per_segment: snapshot.quote(&c.iso).usd_per_segment,
                ..Default::default()
            })
            .collect();
        let core = core_config(sc)?;
        let spec = core.verifier.code;
        let verifier = Verifier::in_memory(core.verifier, core.store)
            .map_err(|e| SimError::Config(e.to_string()))?;
        let flows = PerFlow {
            sms: FlowSide::new(sc, Flow::Sms, core.sms, &isos)?,
            reverse: FlowSide::new(sc, Flow::Reverse, core.sms, &isos)?,
        };
        let (attackers, attacker_stats) = build_attackers(sc, &isos, &carrier_stats);
        let duration_ms = sc.run.duration.ms();
        let l = &sc.legit;
        let mut world = Self {
            run: Run {
                sc,
                rng: ChaCha8Rng::seed_from_u64(seed),
                clock: Clock {
                    queue: EventQueue::default(),
                    now_ms: 0,
                    end_ms: duration_ms,
                    drain_end_ms: duration_ms
                        .saturating_add(sc.verifier.ttl.ms().max(sc.sms.ttl.ms())),
                },
                runs: PerFlow::new(|flow| flows[flow].runs),
                acc: Accounts::new(
                    duration_ms,
                    sc.run.interval.ms(),
                    country_stats,
                    carrier_stats,
                    attacker_stats,
                ),
                trace: None,
                sms_log: None,
            },
            pop: Population {
                countries,
                carriers,
                users: Vec::new(),
                free_users: Vec::new(),
                send_delay: lognormal(l.send_delay_median.ms(), l.send_delay_sigma.0),
                max_legit_rate: l.rate_per_s.0
                    * (1.0 + l.diurnal_amplitude.0)
                    * (1.0 + l.growth_per_day.0 * time::days(duration_ms)),
                arrival_clock_ms: 0.0,
            },
            webhook: Webhook {
                spec,
                verifier,
                secret: Secret::new(Scheme::Blooio, SIM_SECRET)
                    .map_err(|e| SimError::Config(e.to_string()))?,
                forger: Secret::new(Scheme::Blooio, FORGER_SECRET)
                    .map_err(|e| SimError::Config(e.to_string()))?,
                sender_window: (u64::MAX, Default::default()),
                msg_seq: 0,
                latency: lognormal(sc.emitter.latency_median.ms(), sc.emitter.latency_sigma.0),
                replays: sc
                    .attackers
                    .iter()
                    .any(|a| matches!(a.attack, Attack::Replay(_))),
                captured: VecDeque::new(),
            },
            flows,
            attackers,
            cost_model,
        };
        super::warmup::warm_up(&mut world.run, &world.pop, &mut world.flows, seed);
        Ok(world)
    }
}

impl Run<'_> {
    /// Schedules `ev` at `t_ms`. Arrivals and attacks stop at the scenario's end; flows already
    /// under way drain for one challenge lifetime more, so no flow is cut off half-way (their
    /// counts go to the last row).
    pub fn at(&mut self, t_ms: u64, ev: Ev) {
        debug_assert!(t_ms >= self.clock.now_ms, "{ev:?} scheduled in the past");
        let end_ms = match ev {
            Ev::Arrival | Ev::Attack { .. } => self.clock.end_ms,
            _ => self.clock.drain_end_ms,
        };
        if t_ms < end_ms {
            self.clock.queue.push(t_ms, ev);
        }
    }

    /// `now_ms + delay_ms`, saturating (a saturated time is past the drain and never runs).
    pub fn after(&self, delay_ms: u64) -> u64 {
        self.clock.now_ms.saturating_add(delay_ms)
    }

    /// The timeline row of now.
    pub fn row(&mut self) -> &mut Row {
        self.acc.row(self.clock.now_ms)
    }

    /// Records a request for live replay; `action` is only built when tracing.
    pub fn record(&mut self, answer: Answer, action: impl FnOnce() -> Action) {
        if let Some(t) = &mut self.trace {
            if t.steps.len() >= t.max_steps {
                t.truncated = true;
                return;
            }
            t.steps.push(Step {
                at_ms: self.clock.now_ms,
                action: action(),
                expect: answer.name(),
            });
        }
    }

    pub fn new_key(&mut self) -> u32 {
        self.trace.as_mut().map_or(0, |t| {
            t.keys += 1;
            t.keys - 1
        })
    }

    /// The time the core sees: epoch time, for the verifier and the SMS OTP alike.
    pub fn wall_ms(&self) -> u64 {
        time::wall_ms(self.clock.now_ms)
    }

    /// An exponential gap in (fractional) milliseconds; `None` for a rate of zero.
    pub fn exp_ms(&mut self, rate_per_s: f64) -> Option<f64> {
        if rate_per_s <= 0.0 {
            return None;
        }
        Exp::new(rate_per_s / 1000.0)
            .ok()
            .map(|d| d.sample(&mut self.rng))
    }

    /// A legit user's last event has run: each flow where they never verified counts them
    /// in time to verify (by cause), and one legit user lost to the rule that refused them.
    pub fn user_finished(&mut self, u: &User) {
        for flow in Flow::ALL {
            let verified = u.flows[flow].verified;
            if u.legit && self.runs[flow] && !verified {
                self.acc.time_to_verify[usize::from(u.country)][flow.index()]
                    .unverified(u.flows[flow].unverified);
            }
            if let (Some(rule), false) = (u.flows[flow].refused_by, verified) {
                let d = &mut self.acc.defences[flow.index()];
                d.rules.entry(rule).or_default().legit_users_lost += 1;
            }
        }
    }

    /// A legit user verified in `flow` now: their time from start to verified.
    pub fn verified_in(&mut self, u: &mut User, flow: Flow) {
        u.flows[flow].verified = true;
        if u.legit {
            let ms = self.clock.now_ms.saturating_sub(u.start_ms);
            self.acc.time_to_verify[usize::from(u.country)][flow.index()].record(ms);
        }
    }

    /// A CAPTCHA in front of a send, passed with probability `pass`; the defender pays for
    /// the check in the flow's column.
    pub fn captcha_passes(&mut self, pass: f64, flow: Flow) -> bool {
        let usd = self
            .sc
            .defences
            .captcha
            .as_ref()
            .map_or(0.0, |c| c.usd_per_check.0);
        *self.row().usd_captcha_in(flow) += usd;
        self.rng.random::<f64>() < pass
    }

    /// Records a start made for `number` under a new key.
    pub fn record_start(&mut self, ok: bool, req: &StartRequest, number: u64) -> u32 {
        let key = self.new_key();
        let bound = req.expected_sender.is_some();
        self.record(Answer::created(ok), || Action::Start {
            key: Some(key),
            expected_sender: bound.then_some(number),
        });
        key
    }

    /// Records a start nobody follows up.
    pub fn record_unkeyed_start(&mut self, ok: bool) {
        self.record(Answer::created(ok), || Action::Start {
            key: None,
            expected_sender: None,
        });
    }

    /// A start request on behalf of `number`: bound to it when the binding defence is on.
    pub fn start_request_for(&self, number: u64) -> StartRequest {
        StartRequest {
            expected_sender: self
                .sc
                .defences
                .reverse
                .expected_sender
                .then(|| sender(number).to_string()),
            ttl_ms: None,
        }
    }
}

impl Population {
    /// A sampled human send delay, whole milliseconds.
    pub fn send_delay_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        time::whole_ms(self.send_delay.sample(rng))
    }

    pub fn new_user(&mut self, country: usize, number: u64) -> u32 {
        let u = User {
            country: country_u16(country),
            number,
            ..User::default()
        };
        match self.free_users.pop() {
            Some(i) => {
                self.users[i as usize] = u;
                i
            }
            None => {
                self.users.push(u);
                u32::try_from(self.users.len() - 1).expect("fewer than 2^32 live users")
            }
        }
    }

    /// Schedules `ev` for `user` at `t_ms`, keeping the user alive until it has run.
    pub fn hold(&mut self, run: &mut Run<'_>, user: u32, t_ms: u64, ev: Ev) {
        if t_ms < run.clock.drain_end_ms {
            self.users[user as usize].refs += 1;
            run.at(t_ms, ev);
        }
    }

    /// `user`'s pending event (or running handler) is done; at the last one the user is
    /// finished and its slot freed.
    pub fn release(&mut self, run: &mut Run<'_>, user: u32) {
        let u = &mut self.users[user as usize];
        u.refs = u.refs.saturating_sub(1);
        if u.refs == 0 {
            let u = *u;
            run.user_finished(&u);
            self.free_users.push(user);
        }
    }

    pub fn pick_country(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self
            .countries
            .iter()
            .map(|c| c.cum_weight)
            .fold(0.0, f64::max);
        let x = rng.random::<f64>() * total;
        self.countries
            .iter()
            .position(|c| x < c.cum_weight)
            .unwrap_or(0)
    }

    /// A legit user's number in `country`: on a carrier drawn by share when the country lists
    /// carriers (the legacy plan otherwise, with the draws it always made).
    pub fn legit_number(&self, rng: &mut ChaCha8Rng, country: usize) -> u64 {
        let c = &self.countries[country];
        if !c.split {
            return c.base + rng.random_range(1_000_000_000..10_000_000_000u64);
        }
        let x = rng.random::<f64>();
        let mut cum = 0.0;
        let mut pick = *c.carriers.last().unwrap_or(&0);
        for &k in &c.carriers {
            cum += self.carriers[k].share;
            if x < cum {
                pick = k;
                break;
            }
        }
        let k = &self.carriers[pick];
        k.legit_start + rng.random_range(0..k.legit_span)
    }

    /// The attempt the SMS defences judge for a send now (`now_ms`).
    pub fn attempt(
        &self,
        now_ms: u64,
        country: usize,
        number: u64,
        ip: u32,
        account: u64,
    ) -> Attempt {
        Attempt {
            country,
            network: self.network_in_country(country, number),
            number,
            ip: u128::from(ip),
            account,
            now: now_ms,
        }
    }
}

impl Webhook {
    /// A sampled provider latency, whole milliseconds.
    pub fn latency_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        time::whole_ms(self.latency.sample(rng))
    }
}

/// A phone number as the core's sender.
pub(super) fn sender(number: u64) -> Sender {
    Sender::Phone(number)
}

#[cfg(test)]
pub(super) mod tests;
