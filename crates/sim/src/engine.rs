//! The discrete-event engine.
//!
//! Virtual time in milliseconds, one priority queue of small `Copy` events ordered by
//! (time, sequence number), and one ChaCha8 stream seeded from the scenario: the same scenario
//! and seed replay the same events in the same order, so reports are byte-identical.
//!
//! Two worlds run side by side on the same users and attackers: the **sms** world (outbound SMS
//! one-time codes through [`SmsOtp`]) and the **reverse** world (challenges through the real
//! [`Verifier`], messages through the simulated provider, each country's fallback for users
//! without iMessage). Every decision is made by the real core code; the engine only decides
//! who does what when.

use super::scenario::{AttackKind, Fallback, Flow, Numbering, Scenario, Shape};
use super::trace::{self, Action, Step, Text, Trace};
use mo2fa_core::code::{Code, CodeSpec};
use mo2fa_core::sender::Sender;
use mo2fa_core::sms_defences::SmsGuard;
use mo2fa_core::sms_otp::{CheckOutcome, SmsOtp, SmsOtpConfig};
use mo2fa_core::store::{ChallengeId, MemoryStoreConfig, Status, Store};
use mo2fa_core::verifier::{
    self, InboundMessage, Protocol, ReceiveOutcome, StartRequest, Verifier,
};
use mo2fa_core::webhook::{Inbound, Scheme, Secret, SignatureHeaders};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

/// The webhook secret of simulated deliveries; attackers forging deliveries do not know it.
pub const SIM_SECRET: &str = "mo2fa-simulated-provider-secret";
/// What webhook forgers sign with.
pub const FORGER_SECRET: &str = "a guess at the secret";
pub const TOLERANCE_S: i64 = 300;
/// Virtual epoch: 2026-01-01T00:00:00Z, so signature timestamps look like real ones.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// Counts per report interval. Field order is the CSV column order.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Row {
    pub legit_starts: u64,
    pub legit_verified_reverse: u64,
    pub legit_verified_sms: u64,
    pub legit_refused: u64,
    pub sms_legit_smsflow: u64,
    pub sms_legit_reverse: u64,
    pub pumped_sms_smsflow: u64,
    pub pumped_sms_reverse: u64,
    pub blocked_sms: u64,
    pub pumping_absorbed: u64,
    pub guess_messages: u64,
    pub guess_hits: u64,
    pub hijacks: u64,
    pub flood_starts: u64,
    pub flood_refused: u64,
    pub forged_rejected: u64,
    pub replays_rejected: u64,
    pub replays_deduped: u64,
    pub phishing_successes: u64,
    pub duplicate_deliveries: u64,
    pub usd_sms_flow: f64,
    pub usd_reverse_flow: f64,
}

impl Row {
    fn add(&mut self, o: &Row) {
        macro_rules! sum { ($($f:ident),*) => { $( self.$f += o.$f; )* } }
        sum!(
            legit_starts,
            legit_verified_reverse,
            legit_verified_sms,
            legit_refused,
            sms_legit_smsflow,
            sms_legit_reverse,
            pumped_sms_smsflow,
            pumped_sms_reverse,
            blocked_sms,
            pumping_absorbed,
            guess_messages,
            guess_hits,
            hijacks,
            flood_starts,
            flood_refused,
            forged_rejected,
            replays_rejected,
            replays_deduped,
            phishing_successes,
            duplicate_deliveries,
            usd_sms_flow,
            usd_reverse_flow
        );
    }
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AttackerStats {
    pub label: String,
    pub kind: &'static str,
    pub attempts: u64,
    pub blocked: u64,
    pub succeeded: u64,
    pub attacker_cost_usd: f64,
    pub attacker_revenue_usd: f64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CountryStats {
    pub iso: String,
    pub usd_per_segment: f64,
    pub sms_legit_smsflow: u64,
    pub sms_legit_reverse: u64,
    pub pumped_smsflow: u64,
    pub pumped_reverse: u64,
    /// Inbound-SMS fallback messages users sent (reverse flow).
    pub inbound_sms_reverse: u64,
}

pub struct Outcome {
    pub rows: Vec<Row>,
    pub totals: Row,
    pub attackers: Vec<AttackerStats>,
    pub countries: Vec<CountryStats>,
    /// Challenges that answered `verified` twice (must stay 0).
    pub double_verified: u64,
    pub legit_users: u64,
    pub legit_sent_reverse: u64,
    pub events: u64,
    pub interrupted: bool,
    /// (from, until, iso) of conversion-rule blocks, per world.
    pub blocks_sms: Vec<(u64, u64, String)>,
    pub blocks_reverse: Vec<(u64, u64, String)>,
    pub peak_pending: usize,
    /// Legit iMessage contacts per simulated day (they size the iMessage lines).
    pub imessage_per_day: Vec<u64>,
    /// Verifications through the reverse flow's outbound-SMS fallback.
    pub fallback_sms_verified: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
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
    /// The user reads a texted code and types it (`reverse`: the reverse world's SMS fallback).
    SmsRead {
        user: u32,
        reverse: bool,
    },
    /// A victim persuaded by a phisher sends the attacker's code.
    VictimSend {
        user: u32,
        a: u16,
    },
    Attack {
        a: u16,
    },
    Sweep,
}

#[derive(Clone, Copy, Default)]
struct User {
    country: u16,
    number: u64,
    code: Code,
    sms_code: u32,
    fallback_code: u32,
    inbound_sms: bool,
    verified_reverse: bool,
    refs: u16,
    /// Trace keys of this user's challenge and SMS codes (0 when not tracing).
    key: u32,
    sms_key: u32,
    fallback_key: u32,
    id: Option<ChallengeId>,
}

struct CountryRt {
    iso: String,
    cum_weight: f64,
    imessage: f64,
    fallback: Fallback,
    price: f64,
    /// Start of this country's block of the synthetic numbering plan.
    base: u64,
}

struct AttackerRt {
    cum_targets: Vec<(f64, usize)>,
    counter: u64,
    flood: Vec<VecDeque<u64>>,
    stats: AttackerStats,
}

/// Progress reporting and interruption, supplied by the caller.
pub struct Control<'a> {
    pub interrupt: &'a AtomicBool,
    pub progress: &'a dyn Fn(u64),
}

struct World<'a> {
    sc: &'a Scenario,
    rng: ChaCha8Rng,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    msg_seq: u32,
    spec: CodeSpec,
    verifier: Verifier,
    sms: SmsOtp,
    fallback_sms: SmsOtp,
    secret: Secret,
    forger: Secret,
    countries: Vec<CountryRt>,
    users: Vec<User>,
    free_users: Vec<u32>,
    rows: Vec<Row>,
    guard_sms: SmsGuard,
    guard_reverse: SmsGuard,
    sender_window: (u64, rustc_hash::FxHashMap<u64, u32>),
    /// Deliveries an eavesdropper captured: (time, message number, body, signature header).
    captured: VecDeque<(u64, u32, String, String)>,
    attackers: Vec<AttackerRt>,
    country_stats: Vec<CountryStats>,
    double_verified: u64,
    legit_users: u64,
    legit_sent_reverse: u64,
    peak_pending: usize,
    send_delay: LogNormal<f64>,
    latency: LogNormal<f64>,
    max_legit_rate: f64,
    world_sms: bool,
    world_reverse: bool,
    drain_end: u64,
    /// Each Poisson process keeps its own fractional clock: rounding every gap to whole
    /// milliseconds would distort high rates (a mean gap of 1 ms rounded up is 1.58 ms).
    arrival_clock: f64,
    attack_clocks: Vec<f64>,
    replays: bool,
    imessage_per_day: Vec<u64>,
    fallback_sms_verified: u64,
    trace: Option<Trace>,
}

/// How a scenario configures the core: shared by the virtual run and the live servers, so
/// both answer by the same rules.
pub struct CoreConfig {
    pub verifier: verifier::Config,
    pub store: MemoryStoreConfig,
    pub sms: SmsOtpConfig,
}

pub fn core_config(sc: &Scenario) -> Result<CoreConfig, super::SimError> {
    let mut accepted = vec![Protocol::Imessage];
    if sc.verifier.accept_sms {
        accepted.push(Protocol::Sms);
    }
    let spec = CodeSpec::new(sc.verifier.code_len)
        .map_err(|e| super::SimError::Config(format!("verifier.code_len: {e}")))?;
    let ttl = sc.verifier.ttl.ms();
    Ok(CoreConfig {
        verifier: verifier::Config {
            code: spec,
            default_ttl_ms: ttl,
            min_ttl_ms: ttl.min(10_000),
            max_ttl_ms: ttl,
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

fn lognormal(median_ms: u64, sigma: f64) -> LogNormal<f64> {
    LogNormal::new((median_ms.max(1) as f64).ln(), sigma.max(0.0))
        .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("valid"))
}

/// Synthetic numbering plan: country `i` owns numbers `(100 + i) * 10^10 ..`, which keeps
/// them valid E.164 lengths, distinct per country, and gives attackers ranges to walk.
fn country_base(i: usize) -> u64 {
    (100 + i as u64) * 10_000_000_000
}

impl<'a> World<'a> {
    fn new(sc: &'a Scenario, seed: u64) -> Result<Self, super::SimError> {
        let table = mo2fa_cost::prices::PriceTable::builtin()?;
        let date = sc
            .sms
            .price_date
            .as_deref()
            .map(|d| {
                d.parse::<mo2fa_cost::prices::Date>().map_err(|_| {
                    super::SimError::Config(format!("sms.price_date: {d:?} is not YYYY-MM-DD"))
                })
            })
            .transpose()?;
        let snapshot = table.snapshot(date)?;
        let mut isos: Vec<String> = sc.legit.countries.keys().map(|k| k.0.clone()).collect();
        for a in &sc.attackers {
            for iso in a.targets.iter().flat_map(|t| t.keys()) {
                if !isos.contains(&iso.0) {
                    isos.push(iso.0.clone());
                }
            }
        }
        let mut cum = 0.0;
        let countries: Vec<CountryRt> = isos
            .iter()
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
                    price: snapshot.quote(iso).usd_per_segment * f64::from(sc.sms.segments),
                    base: country_base(i),
                }
            })
            .collect();
        let country_stats = countries
            .iter()
            .map(|c| CountryStats {
                iso: c.iso.clone(),
                usd_per_segment: c.price / f64::from(sc.sms.segments),
                ..Default::default()
            })
            .collect();
        let core = core_config(sc)?;
        let spec = core.verifier.code;
        let verifier = Verifier::in_memory(core.verifier, core.store)
            .map_err(|e| super::SimError::Config(e.to_string()))?;
        let sms = SmsOtp::new(core.sms).map_err(|e| super::SimError::Config(e.to_string()))?;
        let fallback_sms =
            SmsOtp::new(core.sms).map_err(|e| super::SimError::Config(e.to_string()))?;
        let attackers = sc
            .attackers
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut cum = 0.0;
                let cum_targets = a
                    .targets
                    .iter()
                    .flatten()
                    .map(|(iso, w)| {
                        cum += w.0;
                        (cum, isos.iter().position(|x| x == &iso.0).unwrap_or(0))
                    })
                    .collect();
                AttackerRt {
                    cum_targets,
                    counter: 0,
                    flood: vec![VecDeque::new(); a.clients.unwrap_or(1).max(1) as usize],
                    stats: AttackerStats {
                        label: a.label(i),
                        kind: a.kind.name(),
                        ..Default::default()
                    },
                }
            })
            .collect();
        let rows = (sc.duration.ms().div_ceil(sc.interval.ms())) as usize;
        let l = &sc.legit;
        Ok(Self {
            sc,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            msg_seq: 0,
            spec,
            verifier,
            sms,
            fallback_sms,
            secret: Secret::new(Scheme::Blooio, SIM_SECRET)
                .map_err(|e| super::SimError::Config(e.to_string()))?,
            forger: Secret::new(Scheme::Blooio, FORGER_SECRET)
                .map_err(|e| super::SimError::Config(e.to_string()))?,
            guard_sms: SmsGuard::new(&sc.defences.sms, &isos),
            guard_reverse: SmsGuard::new(&sc.defences.sms, &isos),
            countries,
            users: Vec::new(),
            free_users: Vec::new(),
            rows: vec![Row::default(); rows.max(1)],
            sender_window: (u64::MAX, Default::default()),
            captured: VecDeque::new(),
            attackers,
            country_stats,
            double_verified: 0,
            legit_users: 0,
            legit_sent_reverse: 0,
            peak_pending: 0,
            send_delay: lognormal(l.send_delay_median.ms(), l.send_delay_sigma.0),
            latency: lognormal(sc.emitter.latency_median.ms(), sc.emitter.latency_sigma.0),
            max_legit_rate: l.rate_per_s.0
                * (1.0 + l.diurnal_amplitude.0)
                * (1.0 + l.growth_per_day.0 * sc.duration.ms() as f64 / 86_400_000.0),
            world_sms: sc.flows.contains(&Flow::Sms),
            world_reverse: sc.flows.contains(&Flow::Reverse),
            drain_end: sc.duration.ms() + sc.verifier.ttl.ms().max(sc.sms.ttl.ms()),
            arrival_clock: 0.0,
            attack_clocks: vec![0.0; sc.attackers.len()],
            replays: sc.attackers.iter().any(|a| a.kind == AttackKind::Replay),
            imessage_per_day: vec![0; sc.duration.ms().div_ceil(86_400_000).max(1) as usize],
            fallback_sms_verified: 0,
            trace: None,
        })
    }

    /// Arrivals and attacks stop at the scenario's end; flows already under way drain for one
    /// challenge lifetime more, so no flow is cut off half-way (their counts go to the last row).
    fn at(&mut self, t: u64, ev: Ev) {
        let end = match ev {
            Ev::Arrival | Ev::Attack { .. } => self.sc.duration.ms(),
            _ => self.drain_end,
        };
        if t < end {
            self.seq += 1;
            self.queue.push(Reverse((t, self.seq, ev)));
        }
    }

    fn row(&mut self) -> &mut Row {
        let i = ((self.now / self.sc.interval.ms()) as usize).min(self.rows.len() - 1);
        &mut self.rows[i]
    }

    /// Records a request for live replay; `action` is only built when tracing.
    fn record(&mut self, expect: &'static str, action: impl FnOnce() -> Action) {
        if let Some(t) = &mut self.trace {
            if t.steps.len() >= t.max_steps {
                t.truncated = true;
                return;
            }
            t.steps.push(Step {
                at_ms: self.now,
                action: action(),
                expect,
            });
        }
    }

    fn new_key(&mut self) -> u32 {
        self.trace.as_mut().map_or(0, |t| {
            t.keys += 1;
            t.keys - 1
        })
    }

    fn wall_ms(&self) -> u64 {
        EPOCH_MS + self.now
    }

    fn legit_rate(&self, t: u64) -> f64 {
        let l = &self.sc.legit;
        let day = t as f64 / 86_400_000.0;
        let diurnal =
            1.0 + l.diurnal_amplitude.0 * (std::f64::consts::TAU * (day.fract() - 0.25)).sin();
        l.rate_per_s.0 * diurnal * (1.0 + l.growth_per_day.0 * day)
    }

    /// An exponential gap in (fractional) milliseconds; `None` for a rate of zero.
    fn exp_ms(&mut self, rate_per_s: f64) -> Option<f64> {
        if rate_per_s <= 0.0 {
            return None;
        }
        Exp::new(rate_per_s / 1000.0)
            .ok()
            .map(|d| d.sample(&mut self.rng))
    }

    fn new_user(&mut self, country: usize, number: u64) -> u32 {
        let u = User {
            country: country as u16,
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
                (self.users.len() - 1) as u32
            }
        }
    }

    fn hold(&mut self, user: u32, t: u64, ev: Ev) {
        if t < self.drain_end {
            self.users[user as usize].refs += 1;
            self.at(t, ev);
        }
    }

    fn release(&mut self, user: u32) {
        let u = &mut self.users[user as usize];
        u.refs = u.refs.saturating_sub(1);
        if u.refs == 0 {
            self.free_users.push(user);
        }
    }

    fn pick_country(&mut self) -> usize {
        let total = self
            .countries
            .iter()
            .map(|c| c.cum_weight)
            .fold(0.0, f64::max);
        let x = self.rng.random::<f64>() * total;
        self.countries
            .iter()
            .position(|c| x < c.cum_weight)
            .unwrap_or(0)
    }

    fn sender(number: u64) -> Sender {
        Sender::Phone(number)
    }

    // ----- legit users -------------------------------------------------------------------

    fn arrival(&mut self) {
        // Thinning: candidates at the peak rate, accepted in proportion to the rate now.
        if let Some(gap) = self.exp_ms(self.max_legit_rate) {
            self.arrival_clock += gap;
            self.at(self.arrival_clock as u64, Ev::Arrival);
        }
        if self.rng.random::<f64>() * self.max_legit_rate > self.legit_rate(self.now) {
            return;
        }
        self.legit_users += 1;
        let country = self.pick_country();
        let number =
            self.countries[country].base + self.rng.random_range(1_000_000_000..10_000_000_000u64);
        let user = self.new_user(country, number);
        let sends = self.rng.random::<f64>() < self.sc.legit.p_send.0;
        let delay = self.send_delay.sample(&mut self.rng) as u64;
        self.users[user as usize].refs = 1; // held by this function until the end
        if self.world_sms {
            self.sms_start(user, false, sends, delay);
        }
        if self.world_reverse {
            self.row().legit_starts += 1;
            let c = &self.countries[country];
            let has_imessage = self.rng.random::<f64>() < c.imessage;
            match (has_imessage, c.fallback) {
                (false, Fallback::OutboundSms) => self.sms_start(user, true, sends, delay),
                (imessage, _) => {
                    self.users[user as usize].inbound_sms = !imessage;
                    self.reverse_start(user, sends, delay);
                }
            }
        }
        self.release(user);
    }

    /// A start request on behalf of `number`: bound to it when the binding defence is on.
    fn start_request_for(&self, number: u64) -> StartRequest {
        StartRequest {
            expected_sender: self
                .sc
                .defences
                .reverse
                .expected_sender
                .then(|| Self::sender(number).to_string()),
            ttl_ms: None,
        }
    }

    fn reverse_start(&mut self, user: u32, sends: bool, delay: u64) {
        let number = self.users[user as usize].number;
        let req = self.start_request_for(number);
        let started = self.verifier.start(&req, self.wall_ms(), &mut self.rng);
        self.peak_pending = self.peak_pending.max(self.verifier.pending());
        let key = self.record_start(started.is_ok(), &req, number);
        let u = &mut self.users[user as usize];
        u.key = key;
        u.id = started.as_ref().ok().map(|s| s.id);
        let Ok(s) = started else {
            self.row().legit_refused += 1;
            return;
        };
        self.users[user as usize].code = s.code;
        if sends {
            self.legit_sent_reverse += 1;
            let typo = self.rng.random::<f64>() < self.sc.legit.typo_rate.0;
            self.hold(user, self.now + delay, Ev::UserSend { user, typo });
            if typo {
                // Seeing no confirmation, the user retypes it correctly.
                let again = self.now + delay + self.send_delay.sample(&mut self.rng) as u64;
                self.hold(user, again, Ev::UserSend { user, typo: false });
            }
            if self.rng.random::<f64>() < self.sc.legit.double_send.0 {
                let again = self.now + delay + 1_000;
                self.hold(user, again, Ev::UserSend { user, typo: false });
            }
        }
    }

    /// Records a start made for `number` under a new key.
    fn record_start(&mut self, ok: bool, req: &StartRequest, number: u64) -> u32 {
        let key = self.new_key();
        let bound = req.expected_sender.is_some();
        self.record(if ok { "created" } else { "refused" }, || Action::Start {
            key: Some(key),
            expected_sender: bound.then_some(number),
        });
        key
    }

    /// Records a start nobody follows up.
    fn record_unkeyed_start(&mut self, ok: bool) {
        self.record(if ok { "created" } else { "refused" }, || Action::Start {
            key: None,
            expected_sender: None,
        });
    }

    /// Outbound SMS code: the sms world, or the reverse world's outbound fallback.
    fn sms_start(&mut self, user: u32, reverse: bool, sends: bool, delay: u64) {
        let u = self.users[user as usize];
        let c = u.country as usize;
        let guard = if reverse {
            &mut self.guard_reverse
        } else {
            &mut self.guard_sms
        };
        let ip = self.rng.random::<u32>();
        if guard.check(c, u.number, u128::from(ip), self.now).is_err() {
            self.row().blocked_sms += 1;
            return;
        }
        let otp = if reverse {
            &self.fallback_sms
        } else {
            &self.sms
        };
        let started = otp.start(&Self::sender(u.number), self.now, &mut self.rng);
        let key = self.new_key();
        let world = if reverse { Flow::Reverse } else { Flow::Sms };
        self.record(if started.is_ok() { "sent" } else { "refused" }, || {
            Action::SmsStart {
                world,
                key: Some(key),
                number: u.number,
                country: c as u16,
            }
        });
        let Ok(code) = started else {
            return;
        };
        let price = self.countries[c].price;
        let row = self.row();
        if reverse {
            row.sms_legit_reverse += 1;
            row.usd_reverse_flow += price;
        } else {
            row.sms_legit_smsflow += 1;
            row.usd_sms_flow += price;
        }
        let cs = &mut self.country_stats[c];
        let u = &mut self.users[user as usize];
        if reverse {
            cs.sms_legit_reverse += 1;
            u.fallback_code = code.code;
            u.fallback_key = key;
        } else {
            cs.sms_legit_smsflow += 1;
            u.sms_code = code.code;
            u.sms_key = key;
        }
        if sends {
            let t = self.now + self.sc.sms.delivery.ms() + delay;
            self.hold(user, t, Ev::SmsRead { user, reverse });
        }
    }

    fn sms_read(&mut self, user: u32, reverse: bool) {
        let u = self.users[user as usize];
        let (otp, code) = if reverse {
            (&self.fallback_sms, u.fallback_code)
        } else {
            (&self.sms, u.sms_code)
        };
        let text = otp.format(code);
        let checked = otp.check(&Self::sender(u.number), &text, self.now);
        let (world, key) = if reverse {
            (Flow::Reverse, u.fallback_key)
        } else {
            (Flow::Sms, u.sms_key)
        };
        let expect = match checked {
            CheckOutcome::Verified => "verified",
            CheckOutcome::WrongCode { .. } => "wrong_code",
            CheckOutcome::NoChallenge => "no_challenge",
        };
        self.record(expect, || Action::SmsRead {
            world,
            key,
            number: u.number,
        });
        if checked == CheckOutcome::Verified {
            let guard = if reverse {
                &mut self.guard_reverse
            } else {
                &mut self.guard_sms
            };
            guard.verified(u.country as usize, self.now);
            if reverse {
                self.fallback_sms_verified += 1;
            }
            let row = self.row();
            if reverse {
                row.legit_verified_reverse += 1;
            } else {
                row.legit_verified_sms += 1;
            }
        }
        self.release(user);
    }

    fn user_send(&mut self, user: u32, typo: bool) {
        self.msg_seq += 1;
        let msg = self.msg_seq;
        let e = &self.sc.emitter;
        if self.rng.random::<f64>() >= e.drop_rate.0 {
            // A message the provider received: an inbound SMS to pay for, or an iMessage
            // contact that counts towards the lines.
            let u = self.users[user as usize];
            if u.inbound_sms {
                self.country_stats[u.country as usize].inbound_sms_reverse += 1;
            } else {
                let day = ((self.now / 86_400_000) as usize).min(self.imessage_per_day.len() - 1);
                self.imessage_per_day[day] += 1;
            }
            let t = self.now + self.latency.sample(&mut self.rng) as u64;
            let twice = self.rng.random::<f64>() < e.duplicate_rate.0;
            self.hold(
                user,
                t,
                Ev::Deliver {
                    user,
                    msg,
                    typo,
                    twice,
                },
            );
            if twice {
                // The provider retries as if our answer had been lost.
                let retry = t + 5_000 + self.latency.sample(&mut self.rng) as u64;
                self.hold(
                    user,
                    retry,
                    Ev::Deliver {
                        user,
                        msg,
                        typo,
                        twice,
                    },
                );
            }
        }
        self.release(user);
    }

    /// Whether the webhook's real signature check accepts `header` for `body` right now.
    /// A delivery's body in the scenario's emitter shape.
    fn emitted(&self, m: &Inbound<'_>) -> String {
        String::from_utf8(self.sc.emitter.shape.body(m)).unwrap_or_default()
    }

    fn signature_ok(&self, header: &str, body: &[u8]) -> bool {
        let h = SignatureHeaders {
            blooio_signature: Some(header),
            ..Default::default()
        };
        let now_s = (self.wall_ms() / 1000) as i64;
        self.secret.verify(&h, body, now_s, TOLERANCE_S).is_ok()
    }

    /// Per-sender rate limit on inbound messages; true if this message may be processed.
    fn sender_allowed(&mut self, number: u64) -> bool {
        let limit = self.sc.defences.reverse.per_sender_per_hour;
        if limit == 0 {
            return true;
        }
        let hour = self.now / 3_600_000;
        if self.sender_window.0 != hour {
            self.sender_window = (hour, Default::default());
        }
        let n = self.sender_window.1.entry(number).or_default();
        *n += 1;
        *n <= limit
    }

    /// One delivery through the real signature check and verifier. `None` if it was refused,
    /// or was a redelivery answered from the dedupe cache (by design, no second effect).
    /// `text_ref` says, for the trace, where `text` came from.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        number: u64,
        text: &str,
        text_ref: impl FnOnce() -> Text,
        protocol: &'static str,
        msg: u32,
        legit: bool,
        twice: bool,
    ) -> Option<ReceiveOutcome> {
        let id = format!("m{msg}");
        let sender = Self::sender(number).to_string();
        let webhook = || Action::Webhook {
            msg,
            sender: number,
            text: text_ref(),
            protocol,
        };
        if let Some(t) = &mut self.trace {
            t.messages = t.messages.max(msg);
        }
        if self.sc.emitter.sign {
            let body = self.emitted(&Inbound {
                message_id: &id,
                sender: &sender,
                text,
                protocol,
                received_at_ms: self.wall_ms(),
            });
            let t = (self.wall_ms() / 1000) as i64;
            let header = self.secret.sign_blooio(t, body.as_bytes());
            if !self.signature_ok(&header, body.as_bytes()) {
                self.record("rejected", webhook);
                return None;
            }
            if legit && self.replays {
                self.captured.push_back((self.now, msg, body, header));
                if self.captured.len() > 4096 {
                    self.captured.pop_front();
                }
            }
        }
        let m = InboundMessage {
            sender: &sender,
            text,
            protocol: Some(protocol),
        };
        let now = self.wall_ms();
        // Only a message the provider delivers twice (or any, once someone replays captured
        // deliveries) can come back, so only those need the dedupe cache; the answer for the
        // rest is the same either way, and the cache is the costliest step at a month's scale.
        let (outcome, duplicate) = if twice || self.replays {
            self.verifier.receive_once(&id, &m, now)
        } else {
            (self.verifier.receive(&m, now), false)
        };
        if duplicate {
            self.record("duplicate", webhook);
            self.row().duplicate_deliveries += 1;
            return None;
        }
        self.record(trace::result_name(&outcome), webhook);
        Some(outcome)
    }

    fn on_deliver(&mut self, user: u32, msg: u32, typo: bool, twice: bool) {
        let u = self.users[user as usize];
        let code = self.spec.format(u.code);
        let (text, text_ref) = if typo {
            (trace::typo(code.as_str()), Text::Typo(u.key))
        } else {
            (code.to_string(), Text::Code(u.key))
        };
        let protocol = if u.inbound_sms { "sms" } else { "imessage" };
        if !self.sender_allowed(u.number) {
            self.release(user);
            return;
        }
        let outcome = self.deliver(u.number, &text, || text_ref, protocol, msg, true, twice);
        if self.trace.is_some()
            && let Some(id) = u.id
        {
            let status = self.verifier.store().get(&id, self.wall_ms());
            let expect = match status.map(|v| v.status) {
                Some(Status::Pending) => "pending",
                Some(Status::Verified) => "verified",
                Some(Status::Expired) => "expired",
                Some(Status::Locked) => "locked",
                None => "unknown",
            };
            self.record(expect, || Action::Poll {
                key: u.key,
                after: msg,
            });
        }
        if let Some(ReceiveOutcome::Verified { .. }) = outcome {
            if self.users[user as usize].verified_reverse {
                self.double_verified += 1;
            } else {
                self.users[user as usize].verified_reverse = true;
                self.row().legit_verified_reverse += 1;
            }
        }
        self.release(user);
    }

    // ----- attackers ---------------------------------------------------------------------

    /// The attacker's rate at `t`, after its shape.
    fn attack_rate(&self, a: usize, t: u64) -> f64 {
        let cfg = &self.sc.attackers[a];
        if t < cfg.start.ms() || t >= cfg.end.ms() {
            return 0.0;
        }
        match cfg.shape {
            Shape::Sustained | Shape::LowAndSlow => cfg.rate_per_s.0,
            Shape::Burst => {
                let on = cfg.burst_on.map_or(1, |d| d.ms().max(1));
                let off = cfg.burst_off.map_or(0, |d| d.ms());
                if (t - cfg.start.ms()) % (on + off) < on {
                    cfg.rate_per_s.0
                } else {
                    0.0
                }
            }
        }
    }

    fn schedule_attack(&mut self, a: usize) {
        let cfg = &self.sc.attackers[a];
        let mut t = self.attack_clocks[a].max(cfg.start.ms() as f64);
        if cfg.shape == Shape::Burst && self.attack_rate(a, t as u64) == 0.0 {
            // Skip the silent part: resume at the start of the next burst.
            let on = cfg.burst_on.map_or(1, |d| d.ms().max(1));
            let period = on + cfg.burst_off.map_or(0, |d| d.ms());
            let since = t as u64 - cfg.start.ms();
            t = (cfg.start.ms() + (since / period + 1) * period) as f64;
        }
        let end = cfg.end.ms() as f64;
        let Some(gap) = self.exp_ms(cfg.rate_per_s.0) else {
            return;
        };
        self.attack_clocks[a] = t + gap;
        if t + gap < end {
            self.at((t + gap) as u64, Ev::Attack { a: a as u16 });
        }
    }

    fn attack(&mut self, a: usize) {
        self.schedule_attack(a);
        if self.attack_rate(a, self.now) == 0.0 {
            return;
        }
        self.attackers[a].stats.attempts += 1;
        match self.sc.attackers[a].kind {
            AttackKind::SmsPumping => self.pump(a),
            AttackKind::CodeGuessing => self.guess(a),
            AttackKind::StartFlood => self.flood(a),
            AttackKind::WebhookForgery => self.forge(a),
            AttackKind::Replay => self.replay(a),
            AttackKind::ReverseOtpPhishing => self.phish(a),
        }
    }

    fn pump(&mut self, a: usize) {
        let cfg = &self.sc.attackers[a];
        let (range, numbering) = (
            u64::from(cfg.range_size.unwrap_or(10_000).max(1)),
            cfg.numbers.unwrap_or(Numbering::Sequential),
        );
        let (pool, rotate) = (
            cfg.ip_pool.unwrap_or(1).max(1),
            cfg.rotate_every.unwrap_or(1).max(1),
        );
        let (captcha, share, camouflage) = (
            cfg.captcha_usd.map_or(0.0, |c| c.0),
            cfg.revenue_share.map_or(0.0, |s| s.0),
            cfg.camouflage.map_or(0.0, |c| c.0),
        );
        let low_and_slow = cfg.shape == Shape::LowAndSlow;
        let total = self.attackers[a].cum_targets.last().map_or(0.0, |t| t.0);
        let x = self.rng.random::<f64>() * total;
        let country = self.attackers[a]
            .cum_targets
            .iter()
            .find(|(c, _)| x < *c)
            .map_or(0, |(_, i)| *i);
        let n = self.attackers[a].counter;
        self.attackers[a].counter += 1;
        let offset = match numbering {
            Numbering::Sequential if !low_and_slow => n % range,
            _ => self.rng.random_range(0..range),
        };
        // Attackers rent premium ranges: numbers start at 5_000_000_000 within the country.
        let number = self.countries[country].base + 5_000_000_000 + offset;
        let ip = if low_and_slow {
            self.rng.random_range(0..pool)
        } else {
            ((n / u64::from(rotate)) % u64::from(pool)) as u32
        };
        self.attackers[a].stats.attacker_cost_usd += captcha;
        let price = self.countries[country].price;
        let mut any_sent = false;
        let mut any_blocked = false;
        if self.world_sms {
            match self
                .guard_sms
                .check(country, number, u128::from(ip), self.now)
            {
                Ok(()) => {
                    let sent = self
                        .sms
                        .start(&Self::sender(number), self.now, &mut self.rng);
                    let expect = if sent.is_ok() { "sent" } else { "refused" };
                    self.record(expect, || Action::SmsStart {
                        world: Flow::Sms,
                        key: None,
                        number,
                        country: country as u16,
                    });
                    let row = self.row();
                    row.pumped_sms_smsflow += 1;
                    row.usd_sms_flow += price;
                    self.country_stats[country].pumped_smsflow += 1;
                    self.attackers[a].stats.attacker_revenue_usd += price * share;
                    any_sent = true;
                    if self.rng.random::<f64>() < camouflage {
                        self.guard_sms.verified(country, self.now);
                    }
                }
                Err(_) => {
                    self.row().blocked_sms += 1;
                    any_blocked = true;
                }
            }
        }
        if self.world_reverse {
            if self.countries[country].fallback == Fallback::OutboundSms {
                // The attacker says "no iMessage, text me": the fallback is pumpable.
                match self
                    .guard_reverse
                    .check(country, number, u128::from(ip), self.now)
                {
                    Ok(()) => {
                        self.record("sent", || Action::SmsStart {
                            world: Flow::Reverse,
                            key: None,
                            number,
                            country: country as u16,
                        });
                        let row = self.row();
                        row.pumped_sms_reverse += 1;
                        row.usd_reverse_flow += price;
                        self.country_stats[country].pumped_reverse += 1;
                        self.attackers[a].stats.attacker_revenue_usd += price * share;
                        any_sent = true;
                    }
                    Err(_) => {
                        self.row().blocked_sms += 1;
                        any_blocked = true;
                    }
                }
            } else {
                // Inbound fallback: the request only creates a challenge nobody answers.
                let started =
                    self.verifier
                        .start(&StartRequest::default(), self.wall_ms(), &mut self.rng);
                self.record_unkeyed_start(started.is_ok());
                self.row().pumping_absorbed += 1;
            }
        }
        if any_sent {
            self.attackers[a].stats.succeeded += 1;
        } else if any_blocked {
            self.attackers[a].stats.blocked += 1;
        }
    }

    fn guess(&mut self, a: usize) {
        let cfg = &self.sc.attackers[a];
        let accounts = u64::from(cfg.sender_accounts.unwrap_or(1).max(1));
        let k = cfg.candidates_per_message.unwrap_or(1).max(1);
        // Attackers' own accounts live in a range no legit user has.
        let number = 99 * 10_000_000_000 + self.rng.random_range(0..accounts);
        let text: Vec<String> = (0..k)
            .map(|_| {
                self.spec
                    .format(self.spec.random(&mut self.rng))
                    .to_string()
            })
            .collect();
        let text = text.join(" ");
        self.row().guess_messages += 1;
        if !self.sender_allowed(number) {
            self.attackers[a].stats.blocked += 1;
            return;
        }
        self.msg_seq += 1;
        let msg = self.msg_seq;
        let literal = || Text::Literal(text.as_str().into());
        match self.deliver(number, &text, literal, "imessage", msg, false, false) {
            Some(ReceiveOutcome::Verified { .. }) => {
                let row = self.row();
                row.guess_hits += 1;
                row.hijacks += 1;
                self.attackers[a].stats.succeeded += 1;
            }
            Some(ReceiveOutcome::SenderMismatch { .. }) => {
                self.row().guess_hits += 1;
                self.attackers[a].stats.blocked += 1;
            }
            _ => {}
        }
    }

    fn flood(&mut self, a: usize) {
        let cap = self.sc.defences.reverse.max_pending_per_client as usize;
        let clients = self.attackers[a].flood.len();
        let client = self.rng.random_range(0..clients);
        let now = self.now;
        let q = &mut self.attackers[a].flood[client];
        while q.front().is_some_and(|&t| t <= now) {
            q.pop_front();
        }
        if cap > 0 && q.len() >= cap {
            self.row().flood_refused += 1;
            self.attackers[a].stats.blocked += 1;
            return;
        }
        let started = self
            .verifier
            .start(&StartRequest::default(), self.wall_ms(), &mut self.rng);
        self.record_unkeyed_start(started.is_ok());
        match started {
            Ok(_) => {
                let ttl = self.sc.verifier.ttl.ms();
                self.attackers[a].flood[client].push_back(now + ttl);
                self.row().flood_starts += 1;
                self.attackers[a].stats.succeeded += 1;
                self.peak_pending = self.peak_pending.max(self.verifier.pending());
            }
            Err(_) => {
                self.row().flood_refused += 1;
                self.attackers[a].stats.blocked += 1;
            }
        }
    }

    fn forge(&mut self, a: usize) {
        let code = self
            .spec
            .format(self.spec.random(&mut self.rng))
            .to_string();
        let body = self.emitted(&Inbound {
            message_id: &format!("forged{}", self.attackers[a].counter),
            sender: "+15550000000",
            text: &code,
            protocol: "imessage",
            received_at_ms: self.wall_ms(),
        });
        self.attackers[a].counter += 1;
        let t = (self.wall_ms() / 1000) as i64;
        let header = self.forger.sign_blooio(t, body.as_bytes());
        let n = self.attackers[a].counter - 1;
        let accepted = self.signature_ok(&header, body.as_bytes());
        // Accepted forgeries are not processed further here: they are counted as successes.
        self.record(if accepted { "accepted" } else { "rejected" }, || {
            Action::Forged {
                n,
                code: code.as_str().into(),
            }
        });
        if !accepted {
            self.row().forged_rejected += 1;
            self.attackers[a].stats.blocked += 1;
        } else {
            self.attackers[a].stats.succeeded += 1;
        }
    }

    fn replay(&mut self, a: usize) {
        let age = self.sc.attackers[a].capture_age.map_or(0, |d| d.ms());
        let cutoff = self.now.saturating_sub(age);
        // The newest capture at least `capture_age` old.
        let Some(pos) = self.captured.iter().rposition(|(t, ..)| *t <= cutoff) else {
            return;
        };
        let (_, msg, body, header) = self.captured[pos].clone();
        if !self.signature_ok(&header, body.as_bytes()) {
            self.record("rejected", || Action::Replay { msg });
            self.row().replays_rejected += 1;
            self.attackers[a].stats.blocked += 1;
            return;
        }
        // Inside the tolerance: the dedupe cache answers, nothing changes.
        let m = InboundMessage {
            sender: "+15550000000",
            text: "",
            protocol: Some("imessage"),
        };
        let (outcome, duplicate) =
            self.verifier
                .receive_once(&format!("m{msg}"), &m, self.wall_ms());
        let expect = if duplicate {
            "duplicate"
        } else {
            trace::result_name(&outcome)
        };
        self.record(expect, || Action::Replay { msg });
        if duplicate {
            self.row().replays_deduped += 1;
            self.attackers[a].stats.blocked += 1;
        } else {
            self.attackers[a].stats.succeeded += 1;
        }
    }

    fn phish(&mut self, a: usize) {
        let success = self.sc.attackers[a].success.map_or(0.0, |p| p.0);
        let country = self.pick_country();
        let number =
            self.countries[country].base + self.rng.random_range(1_000_000_000..10_000_000_000u64);
        let victim = self.new_user(country, number);
        self.users[victim as usize].refs = 1;
        // The attacker logs in as the victim: the challenge is bound to the victim's number.
        let req = self.start_request_for(number);
        let started = self.verifier.start(&req, self.wall_ms(), &mut self.rng);
        let key = self.record_start(started.is_ok(), &req, number);
        self.users[victim as usize].key = key;
        if let Ok(s) = started {
            self.users[victim as usize].code = s.code;
            if self.rng.random::<f64>() < success {
                let t = self.now + self.send_delay.sample(&mut self.rng) as u64;
                let a = a as u16;
                self.hold(victim, t, Ev::VictimSend { user: victim, a });
            }
        }
        self.release(victim);
    }

    fn victim_send(&mut self, user: u32, a: usize) {
        let u = self.users[user as usize];
        self.msg_seq += 1;
        let msg = self.msg_seq;
        let text = self.spec.format(u.code).to_string();
        let code = || Text::Code(u.key);
        if let Some(ReceiveOutcome::Verified { .. }) =
            self.deliver(u.number, &text, code, "imessage", msg, false, false)
        {
            self.row().phishing_successes += 1;
            self.attackers[a].stats.succeeded += 1;
        }
        self.release(user);
    }

    fn run(mut self, control: &Control<'_>) -> (Outcome, Option<Trace>) {
        if let Some(gap) = self.exp_ms(self.max_legit_rate) {
            self.arrival_clock = gap;
            self.at(gap as u64, Ev::Arrival);
        }
        self.at(1_000, Ev::Sweep);
        for a in 0..self.sc.attackers.len() {
            self.schedule_attack(a);
        }
        let mut events = 0u64;
        let mut interrupted = false;
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
            self.now = t;
            events += 1;
            if events & 0xFFFF == 0 {
                (control.progress)(t);
                if control.interrupt.load(Ordering::Relaxed) {
                    interrupted = true;
                    break;
                }
            }
            match ev {
                Ev::Arrival => self.arrival(),
                Ev::UserSend { user, typo } => self.user_send(user, typo),
                Ev::Deliver {
                    user,
                    msg,
                    typo,
                    twice,
                } => self.on_deliver(user, msg, typo, twice),
                Ev::SmsRead { user, reverse } => self.sms_read(user, reverse),
                Ev::VictimSend { user, a } => self.victim_send(user, a as usize),
                Ev::Attack { a } => self.attack(a as usize),
                Ev::Sweep => {
                    self.verifier.sweep(self.wall_ms());
                    self.sms.sweep(self.now);
                    self.fallback_sms.sweep(self.now);
                    self.at(self.now + 1_000, Ev::Sweep);
                }
            }
        }
        let mut totals = Row::default();
        for r in &self.rows {
            totals.add(r);
        }
        let name = |v: Vec<(u64, u64, usize)>, c: &[CountryRt]| {
            v.into_iter()
                .map(|(f, u, i)| (f, u, c[i].iso.clone()))
                .collect()
        };
        let outcome = Outcome {
            totals,
            rows: self.rows,
            attackers: self.attackers.into_iter().map(|a| a.stats).collect(),
            blocks_sms: name(std::mem::take(&mut self.guard_sms.blocks), &self.countries),
            blocks_reverse: name(
                std::mem::take(&mut self.guard_reverse.blocks),
                &self.countries,
            ),
            countries: self.country_stats,
            double_verified: self.double_verified,
            legit_users: self.legit_users,
            legit_sent_reverse: self.legit_sent_reverse,
            events,
            interrupted,
            peak_pending: self.peak_pending,
            imessage_per_day: self.imessage_per_day,
            fallback_sms_verified: self.fallback_sms_verified,
        };
        (outcome, self.trace)
    }
}

/// Runs a scenario with `seed`.
pub fn simulate(
    sc: &Scenario,
    seed: u64,
    control: &Control<'_>,
) -> Result<Outcome, super::SimError> {
    Ok(World::new(sc, seed)?.run(control).0)
}

/// Runs a scenario with `seed` and records every request a real deployment would have served,
/// for [`super::live`]. The outcome is the same as [`simulate`]'s: tracing draws no randomness.
pub fn simulate_traced(
    sc: &Scenario,
    seed: u64,
    control: &Control<'_>,
    max_steps: usize,
) -> Result<(Outcome, Trace), super::SimError> {
    let mut world = World::new(sc, seed)?;
    world.trace = Some(Trace {
        countries: world.countries.iter().map(|c| c.iso.clone()).collect(),
        max_steps,
        ..Trace::default()
    });
    let (outcome, trace) = world.run(control);
    Ok((outcome, trace.unwrap_or_default()))
}
