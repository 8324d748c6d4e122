//! Attackers: the `[[attacker]]` table as written ([`RawAttacker`] in `raw`, checked in `check`), and
//! the checked [`Attacker`] the engine runs: its window, its [`Pace`], and its kind as one
//! type per kind with that kind's own settings, every default resolved here.

use super::{DEFAULT_RANGE_SIZE, Defences, Dur, Iso, NonNeg};
use serde::Deserialize;
use std::collections::BTreeMap;

mod raw;
pub use raw::*;

/// Who solves an attacker's CAPTCHAs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    Bot,
    HumanFarm,
}

/// One point of a `ramp` shape: the rate `at` this long after the attacker's start.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RampPoint {
    pub at: Dur,
    pub per_s: NonNeg,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    SmsPumping,
    StartFlood,
    CodeGuessing,
    WebhookForgery,
    Replay,
    ReverseOtpPhishing,
    SimSwap,
    RelayPhishing,
    SpoofedSender,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Sustained,
    /// On/off: `burst_on` at the rate, then `burst_off` silent.
    Burst,
    /// Low rate, spread thin: numbers drawn at random across the targets.
    LowAndSlow,
    /// Piecewise linear between the `ramp` points (times from the attacker's start).
    Ramp,
    /// `rate_per_s` × (1 + `amplitude`·cos(2π(hour − `peak_hour`)/24)).
    Diurnal,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Numbering {
    Sequential,
    Random,
}

impl AttackKind {
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::SmsPumping => "sms_pumping",
            AttackKind::StartFlood => "start_flood",
            AttackKind::CodeGuessing => "code_guessing",
            AttackKind::WebhookForgery => "webhook_forgery",
            AttackKind::Replay => "replay",
            AttackKind::ReverseOtpPhishing => "reverse_otp_phishing",
            AttackKind::SimSwap => "sim_swap",
            AttackKind::RelayPhishing => "relay_phishing",
            AttackKind::SpoofedSender => "spoofed_sender",
        }
    }
}

/// One attacker, checked: when it attacks, at what pace, and what it does.
#[derive(Clone, Debug)]
pub struct Attacker {
    pub name: Option<String>,
    pub start: Dur,
    pub end: Dur,
    pub pace: Pace,
    pub attack: Attack,
}

impl Attacker {
    /// The attacker's name in reports: its `name`, or its kind and position.
    pub fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}#{}", self.kind().name(), index + 1))
    }

    pub fn kind(&self) -> AttackKind {
        match self.attack {
            Attack::Pumping(_) => AttackKind::SmsPumping,
            Attack::Guessing(_) => AttackKind::CodeGuessing,
            Attack::StartFlood(_) => AttackKind::StartFlood,
            Attack::Forgery(_) => AttackKind::WebhookForgery,
            Attack::Replay(_) => AttackKind::Replay,
            Attack::Phishing(_) => AttackKind::ReverseOtpPhishing,
            Attack::SimSwap(_) => AttackKind::SimSwap,
            Attack::Relay(_) => AttackKind::RelayPhishing,
            Attack::Spoof(_) => AttackKind::SpoofedSender,
        }
    }

    /// `raw`, already checked, with every default resolved (`defences`: for the CAPTCHA pass
    /// rate of a pumping attacker's solver).
    pub(super) fn from_raw(raw: RawAttacker, defences: &Defences) -> Self {
        let pace = Pace::from_raw(&raw.pace);
        let attack = match raw.kind {
            AttackKind::SmsPumping => Attack::Pumping(Box::new(Pumping::from_raw(
                &raw.pumping,
                raw.pace.shape,
                defences,
            ))),
            AttackKind::CodeGuessing => Attack::Guessing(Guessing {
                sender_accounts: raw.reverse.sender_accounts.unwrap_or(1).max(1),
                candidates_per_message: raw.reverse.candidates_per_message.unwrap_or(1).max(1),
            }),
            AttackKind::StartFlood => Attack::StartFlood(StartFlood {
                clients: raw.reverse.clients.unwrap_or(1).max(1),
            }),
            AttackKind::WebhookForgery => Attack::Forgery(Forgery),
            AttackKind::Replay => Attack::Replay(Replay {
                capture_age_ms: raw.reverse.capture_age.map_or(0, |d| d.ms()),
            }),
            AttackKind::ReverseOtpPhishing => Attack::Phishing(Phishing {
                success: raw.reverse.success.map_or(0.0, |p| p.0),
            }),
            AttackKind::SimSwap => Attack::SimSwap(SimSwap {
                swap_success: raw.takeover.swap_success.map_or(SWAP_SUCCESS, |p| p.0),
                apple_id: raw.takeover.apple_id.map_or(0.0, |p| p.0),
            }),
            AttackKind::RelayPhishing => Attack::Relay(Relay {
                success: raw.reverse.success.map_or(RELAY_SUCCESS, |p| p.0),
                relay_ms: raw.takeover.relay_delay.map_or(RELAY_DELAY_MS, |d| d.ms()),
            }),
            AttackKind::SpoofedSender => Attack::Spoof(Spoof {
                success: raw.reverse.success.map_or(SPOOF_LURE_SUCCESS, |p| p.0),
                spoof_delivery: raw.takeover.spoof_delivery.map_or(SPOOF_DELIVERY, |p| p.0),
            }),
        };
        Self {
            name: raw.name,
            start: raw.start,
            end: raw.end,
            pace,
            attack,
        }
    }
}

/// How an attacker's attempt rate runs over its window.
#[derive(Clone, Debug, PartialEq)]
pub enum Pace {
    Sustained {
        per_s: f64,
    },
    /// Like sustained, but every number and address is drawn at random.
    LowAndSlow {
        per_s: f64,
    },
    /// `on_ms` at the rate (at least 1 ms), then `off_ms` silent.
    Burst {
        per_s: f64,
        on_ms: u64,
        off_ms: u64,
    },
    /// Piecewise linear between the points (times from the attacker's start).
    Ramp(Vec<RampPoint>),
    /// `per_s` × (1 + `amplitude`·cos(2π(hour − `peak_hour`)/24)).
    Diurnal {
        per_s: f64,
        amplitude: f64,
        peak_hour: f64,
    },
}

impl Pace {
    /// Defaults: a diurnal amplitude of 0.5 peaking at noon.
    fn from_raw(raw: &RawPace) -> Self {
        let per_s = raw.rate_per_s.map_or(0.0, |r| r.0);
        match raw.shape {
            Shape::Sustained => Pace::Sustained { per_s },
            Shape::LowAndSlow => Pace::LowAndSlow { per_s },
            Shape::Burst => Pace::Burst {
                per_s,
                on_ms: raw.burst_on.map_or(1, |d| d.ms().max(1)),
                off_ms: raw.burst_off.map_or(0, |d| d.ms()),
            },
            Shape::Ramp => Pace::Ramp(raw.ramp.clone().unwrap_or_default()),
            Shape::Diurnal => Pace::Diurnal {
                per_s,
                amplitude: raw.amplitude.map_or(0.5, |p| p.0),
                peak_hour: raw.peak_hour.unwrap_or(12.0),
            },
        }
    }

    pub fn shape(&self) -> Shape {
        match self {
            Pace::Sustained { .. } => Shape::Sustained,
            Pace::LowAndSlow { .. } => Shape::LowAndSlow,
            Pace::Burst { .. } => Shape::Burst,
            Pace::Ramp(_) => Shape::Ramp,
            Pace::Diurnal { .. } => Shape::Diurnal,
        }
    }

    /// The highest rate of a shape drawn by thinning (`ramp`, `diurnal`); `None` for the
    /// others, whose rate is constant while they are on.
    pub fn thinned_peak(&self) -> Option<f64> {
        match self {
            Pace::Ramp(points) => Some(points.iter().map(|p| p.per_s.0).fold(0.0, f64::max)),
            Pace::Diurnal {
                per_s, amplitude, ..
            } => Some(per_s * (1.0 + amplitude)),
            _ => None,
        }
    }

    /// The rate while on, for every shape but `ramp` (0 for a ramp).
    pub fn per_s(&self) -> f64 {
        match self {
            Pace::Sustained { per_s }
            | Pace::LowAndSlow { per_s }
            | Pace::Burst { per_s, .. }
            | Pace::Diurnal { per_s, .. } => *per_s,
            Pace::Ramp(_) => 0.0,
        }
    }
}

/// What an attacker does on each attempt: one type per kind, with that kind's settings.
#[derive(Clone, Debug)]
pub enum Attack {
    Pumping(Box<Pumping>),
    Guessing(Guessing),
    StartFlood(StartFlood),
    Forgery(Forgery),
    Replay(Replay),
    Phishing(Phishing),
    SimSwap(SimSwap),
    Relay(Relay),
    Spoof(Spoof),
}

/// `sms_pumping`: premium-range numbers through both flows' SMS paths.
#[derive(Clone, Debug)]
pub struct Pumping {
    /// Target countries and their weights.
    pub targets: BTreeMap<Iso, NonNeg>,
    /// The numbers it asks for: ranges, their size, their order, requests per number.
    pub numbers: NumberPlan,
    /// The client addresses requests come from.
    pub addresses: Addresses,
    /// Defaults 0.
    pub captcha_usd: f64,
    pub revenue_share: f64,
    pub camouflage: f64,
    /// Signed-up accounts; `None`: requests without an account.
    pub accounts: Option<AccountUse>,
    /// The carriers the attacker may use.
    pub carriers: CarrierChoice,
    /// Share of received codes typed back into the app; `None`: none are, and no trace keys
    /// are kept for them.
    pub submit_codes: Option<f64>,
    /// How the attacker changes course after refusals; `None`: it does not.
    pub adapt: Option<Adaptation>,
    /// The chance a request passes the scenario's CAPTCHA with this attacker's solver
    /// (`None`: the scenario has no CAPTCHA).
    pub captcha_pass: Option<f64>,
}

impl Pumping {
    fn from_raw(raw: &RawPumping, shape: Shape, defences: &Defences) -> Self {
        let low_and_slow = shape == Shape::LowAndSlow;
        let (plan, client) = (&raw.plan, &raw.client);
        let pool = client.ip_pool.unwrap_or(1).max(1);
        let solver = client.solver.unwrap_or(Solver::Bot);
        Self {
            targets: raw.targets.clone().unwrap_or_default(),
            numbers: NumberPlan {
                order: if low_and_slow {
                    Numbering::Random
                } else {
                    plan.numbers.unwrap_or(Numbering::Sequential)
                },
                range_size: plan.range_size.unwrap_or(DEFAULT_RANGE_SIZE).max(1),
                ranges: plan.ranges.unwrap_or(1),
                per_number: plan.sms_per_number.unwrap_or(1),
            },
            addresses: if low_and_slow {
                Addresses::Random { pool }
            } else {
                Addresses::Rotate {
                    pool,
                    every: client.rotate_every.unwrap_or(1).max(1),
                }
            },
            captcha_usd: client.captcha_usd.map_or(0.0, |c| c.0),
            revenue_share: raw.revenue_share.map_or(0.0, |s| s.0),
            camouflage: raw.camouflage.map_or(0.0, |c| c.0),
            accounts: client.sms_per_account.map(|sms_per_account| AccountUse {
                sms_per_account,
                accounts: client.accounts,
            }),
            carriers: match &plan.carriers {
                Some(names) => CarrierChoice::Only(names.clone()),
                None => CarrierChoice::Any,
            },
            submit_codes: raw.submit_codes.map(|p| p.0),
            adapt: raw.adapt.as_ref().map(|a| Adaptation {
                after_blocks: a.after_blocks,
                action: match a.action {
                    AdaptAction::NextRange => Adapt::NextRange,
                    AdaptAction::NextCarrier => Adapt::NextCarrier,
                    AdaptAction::NextCountry => Adapt::NextCountry,
                    AdaptAction::BackOff => Adapt::BackOff {
                        ms: a.back_off.map_or(0, |d| d.ms()),
                    },
                },
            }),
            captcha_pass: defences.captcha.as_ref().map(|c| match solver {
                Solver::HumanFarm => c.pass_human_farm.0,
                Solver::Bot => c.pass_bot.0,
            }),
        }
    }
}

/// The premium numbers a pumping attacker asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberPlan {
    /// How numbers are chosen in a range (`random` under `low_and_slow`).
    pub order: Numbering,
    /// Numbers per range (at least 1) and ranges (default 1).
    pub range_size: u32,
    pub ranges: u32,
    /// Requests per number before a new one (default 1).
    pub per_number: u32,
}

/// Where a pumping attacker's requests come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addresses {
    /// Request `n` from address `(n / every) % pool`.
    Rotate { pool: u32, every: u32 },
    /// Each request from an address drawn from `pool` (`low_and_slow`).
    Random { pool: u32 },
}

/// A pumping attacker's accounts: `sms_per_account` requests each, and at most `accounts`
/// of them (`None`: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountUse {
    pub sms_per_account: u32,
    pub accounts: Option<u32>,
}

/// The carriers a pumping attacker may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CarrierChoice {
    Any,
    /// Only these `[[carrier]]` names.
    Only(Vec<String>),
}

impl CarrierChoice {
    pub fn allows(&self, name: &str) -> bool {
        match self {
            CarrierChoice::Any => true,
            CarrierChoice::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// After `after_blocks` refusals in a row, the attacker does `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptation {
    pub after_blocks: u32,
    pub action: Adapt,
}

/// What an adaptive attacker does ([`AdaptAction`] with its settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapt {
    NextRange,
    NextCarrier,
    NextCountry,
    /// Stops for this long, then carries on as before.
    BackOff {
        ms: u64,
    },
}

/// `code_guessing`: messages full of random codes from the attacker's own accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guessing {
    /// Defaults 1.
    pub sender_accounts: u32,
    pub candidates_per_message: u32,
}

/// `start_flood`: challenges per client up to the pending cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartFlood {
    /// Default 1.
    pub clients: u32,
}

/// `webhook_forgery`: deliveries signed with a guessed secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forgery;

/// `replay`: captured deliveries sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The newest capture at least this old is replayed (default 0).
    pub capture_age_ms: u64,
}

/// `reverse_otp_phishing`: a persuaded victim sends the attacker's code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phishing {
    /// Chance a victim is persuaded (default 0).
    pub success: f64,
}

/// `sim_swap`'s default chance that the carrier moves a number to the attacker's SIM:
/// published, 39 of 50 attempts at five US prepaid carriers (Lee, Kaiser, Mayer, Narayanan,
/// "An Empirical Study of Wireless Carrier Authentication for SIM Swaps", SOUPS 2020).
pub const SWAP_SUCCESS: f64 = 0.78;
/// `relay_phishing`'s default chance a lured victim hands over a code in time: published as
/// the complement of "SMS codes blocked 96 % of bulk phishing attacks" (Google, NYU and UCSD,
/// "How effective is basic account hygiene at preventing hijacking", 2019).
pub const RELAY_SUCCESS: f64 = 0.04;
/// `relay_phishing`'s default time from the victim's entry to the attacker's relay: assumed
/// (a scripted kit relays within seconds; 30 s leaves room for a human operator).
pub const RELAY_DELAY_MS: u64 = 30_000;
/// `spoofed_sender`'s default chance a victim answers a lure sent under the app's spoofed
/// sender ID with their code: assumed (the bulk-phishing rate of [`RELAY_SUCCESS`]).
pub const SPOOF_LURE_SUCCESS: f64 = 0.04;
/// `spoofed_sender`'s default share of SMS with a forged From number that reach the
/// provider's inbound number as from the victim: assumed (no published delivery rate for
/// spoofed originators; operators filter some of them).
pub const SPOOF_DELIVERY: f64 = 0.5;

/// `sim_swap`: the attacker has a victim's number moved to its SIM, then logs in as the victim.
/// Under SMS OTP the code comes to the attacker's SIM; under the reverse flow it needs the
/// victim's Apple ID (`apple_id`) or the country's SMS fallback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimSwap {
    /// Chance the carrier grants a swap (default [`SWAP_SUCCESS`], published).
    pub swap_success: f64,
    /// Chance the attacker also holds the victim's Apple ID (default 0, assumed).
    pub apple_id: f64,
}

/// `relay_phishing`: a lured victim logs in on the attacker's page, which relays in real time.
/// SMS OTP: the victim types the texted code into the page and the attacker relays it; reverse
/// flow: the page shows the attacker's code and the victim sends it (the mirror relay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relay {
    /// Chance a lured victim hands over the code (default [`RELAY_SUCCESS`], published).
    pub success: f64,
    /// Time from the victim's entry to the attacker's relay, ms (default [`RELAY_DELAY_MS`]).
    pub relay_ms: u64,
}

/// `spoofed_sender`: messages under a forged sender against each flow's check. SMS OTP: a lure
/// under the app's sender ID asks for the texted code; reverse flow: the attacker sends the
/// code of a login it started as the victim "from" the victim's number (to the webhook without
/// the secret, by SMS with a forged From, or from its own iMessage, which Apple attests).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spoof {
    /// Chance a victim answers the lure with the code (default [`SPOOF_LURE_SUCCESS`]).
    pub success: f64,
    /// Share of forged-From SMS that reach the provider as from the victim (default
    /// [`SPOOF_DELIVERY`], assumed).
    pub spoof_delivery: f64,
}
