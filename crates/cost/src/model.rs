//! The monthly cost of each verification method as a function of volume and fraud share.
//!
//! Definitions (also in `docs/cost.md`):
//!
//! * `V`, **monthly verifications**: legitimate verification attempts a month (one per user
//!   sign-in or sign-up that needs a code). Resends are not extra verifications.
//! * `f`, **fraud share**: the fraction of all OTP SMS an SMS-OTP deployment sends that are
//!   pumped. Legitimate OTP SMS are `L = V × (1 + resend_rate)`; pumped SMS are
//!   `P = L × f / (1 − f)`, so `P / (L + P) = f`. The attacker's volume is therefore fixed by the
//!   SMS world and is the same attack under both methods. Pumped SMS go to the pumping
//!   destination mix and never succeed (no per-success fee).
//! * **SMS OTP** cost: legitimate SMS to the mix countries at their all-in segment price
//!   (list + carrier fee) × segments × (1 + resend) + verify fee × successful verifications +
//!   pumped SMS at the pumping mix's price + fixed fees of the countries it sends to.
//! * **Reverse iMessage** cost: `lines × line price` with
//!   `lines = ceil(peak daily inbound contacts / capacity per line)` and
//!   `peak daily = V × Σ(share × iMessage share) × contacts per verification / days × peak factor`;
//!   inbound iMessage costs $0. Users without iMessage take their country's fallback: inbound SMS
//!   at the inbound price, or an outbound SMS OTP priced as in the SMS method. The same attack
//!   costs money only for pumped destinations whose fallback is outbound SMS (a country outside
//!   the mix gets `fallback.other_countries`).
//!
//! Both costs are affine in `V` apart from the line count, which steps up by one each time the
//! peak day outgrows the lines; [`CostCurve`] keeps that exact structure so the break-even can be
//! solved exactly instead of read off a grid.

use super::config::{FallbackKind, PricedMix};
use super::error::CostError;

/// Largest fraud share accepted; at `f → 1` the pumped volume `f / (1 − f)` diverges.
pub const MAX_FRAUD_SHARE: f64 = 0.99;

/// Relative slack when turning a peak day into whole lines, so that a peak of exactly `n` lines'
/// capacity, computed with rounding error, still needs `n` lines and not `n + 1`.
const LINE_SLACK: f64 = 1e-12;

/// Line steps the exact break-even search walks at most; beyond it the input is unrealistic
/// (e.g. capacity of one contact a day at a billion verifications).
const MAX_STEPS: f64 = 1e8;

/// Lines needed for `demand` units when one line carries `capacity`: `ceil`, with slack for
/// rounding error. Zero demand needs no line.
pub fn lines_needed(demand: f64, capacity: f64) -> u64 {
    if demand <= 0.0 || capacity <= 0.0 || !demand.is_finite() {
        return 0;
    }
    let exact = demand / capacity;
    // `as` saturates on overflow; the caller bounds volumes long before that matters.
    (exact * (1.0 - LINE_SLACK)).ceil().max(1.0) as u64
}

/// Part of a cost that steps: `ceil(V / verifications_per_line)` lines at `usd_per_line`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineStep {
    pub usd_per_line: f64,
    /// Monthly verifications one line serves at the peak day; > 0.
    pub verifications_per_line: f64,
}

/// Monthly cost as a function of monthly verifications `V`:
/// `fixed_usd + per_verification_usd × V + lines(V) × usd_per_line`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostCurve {
    pub fixed_usd: f64,
    pub per_verification_usd: f64,
    pub lines: Option<LineStep>,
}

impl CostCurve {
    /// Lines needed at volume `v` (0 for a curve without lines).
    pub fn lines_at(&self, v: f64) -> u64 {
        self.lines
            .map_or(0, |l| lines_needed(v, l.verifications_per_line))
    }

    /// Monthly cost at volume `v`.
    pub fn at(&self, v: f64) -> f64 {
        let lines = self
            .lines
            .map_or(0.0, |l| self.lines_at(v) as f64 * l.usd_per_line);
        self.fixed_usd + self.per_verification_usd * v + lines
    }
}

/// Cost of one method at one volume, split the way a finance reader asks about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodCost {
    pub total_usd: f64,
    /// Legitimate outbound OTP SMS (SMS method, or outbound fallback).
    pub legit_sms_usd: f64,
    pub pumped_sms_usd: f64,
    pub verify_fees_usd: f64,
    pub inbound_sms_usd: f64,
    pub lines: u64,
    pub lines_usd: f64,
    pub fixed_usd: f64,
    /// Legitimate cost per mix country (SMS, fees, fallback, and lines allocated by each
    /// country's share of inbound iMessage contacts), in the priced mix's country order.
    pub by_country: Vec<f64>,
    /// Pumped cost per pumping destination, in the priced mix's pumping order.
    pub pumped_by_destination: Vec<f64>,
}

/// Message counts behind a [`MethodCost`], for a month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Volumes {
    pub legit_sms: f64,
    pub pumped_sms: f64,
    pub inbound_imessage: f64,
    pub inbound_sms: f64,
    pub peak_daily_inbound_imessage: f64,
}

/// Both methods at one volume and fraud share.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub monthly_verifications: f64,
    pub fraud_share: f64,
    pub sms: MethodCost,
    pub sms_volumes: Volumes,
    pub reverse: MethodCost,
    pub reverse_volumes: Volumes,
}

/// Costs per monthly verification, per component. Everything except fixed fees and lines scales
/// linearly with `V`, so these are the slopes of the two curves.
struct Unit {
    sms_by_country: Vec<f64>,
    sms_legit_sms: f64,
    sms_verify: f64,
    sms_pumped_by_dest: Vec<f64>,
    rev_by_country: Vec<f64>,
    rev_legit_sms: f64,
    rev_verify: f64,
    rev_inbound_sms: f64,
    rev_pumped_by_dest: Vec<f64>,
    /// Inbound iMessage contacts per verification, per country (for allocating line cost).
    imessage_contacts_by_country: Vec<f64>,
    legit_sms_msgs: f64,
    pumped_msgs: f64,
    rev_legit_sms_msgs: f64,
    rev_pumped_msgs: f64,
    rev_inbound_sms_msgs: f64,
    sms_fixed: f64,
    rev_fixed: f64,
}

fn check_fraud_share(f: f64) -> Result<(), CostError> {
    if (0.0..=MAX_FRAUD_SHARE).contains(&f) {
        Ok(())
    } else {
        Err(CostError::argument(
            "fraud-share",
            format!("must be in [0, {MAX_FRAUD_SHARE}], got {f}"),
        ))
    }
}

fn unit(s: &PricedMix, f: f64) -> Result<Unit, CostError> {
    check_fraud_share(f)?;
    let sms = &s.sms;
    let sends = 1.0 + sms.resend_rate;
    let seg = sms.segments_per_otp;
    let per_success = sms.success_rate * sms.verify_fee_usd;
    let pumped_msgs = sends * f / (1.0 - f);

    let mut u = Unit {
        sms_by_country: Vec::with_capacity(s.countries.len()),
        sms_legit_sms: 0.0,
        sms_verify: 0.0,
        sms_pumped_by_dest: Vec::with_capacity(s.pumping.len()),
        rev_by_country: Vec::with_capacity(s.countries.len()),
        rev_legit_sms: 0.0,
        rev_verify: 0.0,
        rev_inbound_sms: 0.0,
        rev_pumped_by_dest: Vec::with_capacity(s.pumping.len()),
        imessage_contacts_by_country: Vec::with_capacity(s.countries.len()),
        legit_sms_msgs: sends,
        pumped_msgs,
        rev_legit_sms_msgs: 0.0,
        rev_pumped_msgs: 0.0,
        rev_inbound_sms_msgs: 0.0,
        sms_fixed: 0.0,
        rev_fixed: 0.0,
    };
    let mut sms_countries: Vec<&str> = Vec::new();
    let mut rev_countries: Vec<&str> = Vec::new();
    for c in &s.countries {
        let share = c.dest.share;
        let sms_cost = share * sends * seg * c.dest.usd_per_segment();
        u.sms_legit_sms += sms_cost;
        u.sms_verify += share * per_success;
        u.sms_by_country.push(sms_cost + share * per_success);
        if share > 0.0 {
            sms_countries.push(&c.dest.iso);
        }

        let without = share * (1.0 - c.imessage_share);
        u.imessage_contacts_by_country
            .push(share * c.imessage_share * s.imessage.contacts_per_verification);
        let fallback = match c.fallback {
            FallbackKind::InboundSms => {
                let msgs = without * s.imessage.contacts_per_verification;
                u.rev_inbound_sms_msgs += msgs;
                let cost = msgs * c.inbound_usd_per_message;
                u.rev_inbound_sms += cost;
                cost
            }
            FallbackKind::OutboundSms => {
                let msgs = without * sends;
                u.rev_legit_sms_msgs += msgs;
                let sms_cost = msgs * seg * c.dest.usd_per_segment();
                u.rev_legit_sms += sms_cost;
                u.rev_verify += without * per_success;
                if without > 0.0 {
                    rev_countries.push(&c.dest.iso);
                }
                sms_cost + without * per_success
            }
        };
        u.rev_by_country.push(fallback);
    }
    for p in &s.pumping {
        let cost = pumped_msgs * p.share * seg * p.usd_per_segment();
        u.sms_pumped_by_dest.push(cost);
        if s.fallback_for(&p.iso) == FallbackKind::OutboundSms {
            u.rev_pumped_by_dest.push(cost);
            u.rev_pumped_msgs += pumped_msgs * p.share;
        } else {
            u.rev_pumped_by_dest.push(0.0);
        }
    }
    // A fixed fee is due when the method sends legitimate outbound SMS to its country; a fee
    // without a country is due whenever the method sends outbound SMS at all.
    let due = |countries: &[&str], country: &Option<String>| match country {
        Some(c) => countries.contains(&c.as_str()),
        None => !countries.is_empty(),
    };
    for fee in &sms.fixed_fees {
        if due(&sms_countries, &fee.country) {
            u.sms_fixed += fee.monthly_usd;
        }
        if due(&rev_countries, &fee.country) {
            u.rev_fixed += fee.monthly_usd;
        }
    }
    Ok(u)
}

/// Inbound iMessage contacts per monthly verification, summed over the mix.
fn imessage_contacts_per_verification(s: &PricedMix) -> f64 {
    s.countries
        .iter()
        .map(|c| c.dest.share * c.imessage_share * s.imessage.contacts_per_verification)
        .sum()
}

/// Peak-day inbound iMessage contacts at monthly volume `v`.
pub fn peak_daily_inbound(s: &PricedMix, v: f64) -> f64 {
    v * imessage_contacts_per_verification(s) / s.imessage.days_per_month * s.imessage.peak_factor
}

/// The two cost curves (SMS OTP, reverse iMessage) at fraud share `f`.
pub fn curves(s: &PricedMix, f: f64) -> Result<(CostCurve, CostCurve), CostError> {
    let u = unit(s, f)?;
    let sms = CostCurve {
        fixed_usd: u.sms_fixed,
        per_verification_usd: u.sms_legit_sms
            + u.sms_verify
            + u.sms_pumped_by_dest.iter().sum::<f64>(),
        lines: None,
    };
    let contacts = imessage_contacts_per_verification(s);
    let im = &s.imessage;
    let lines = (contacts > 0.0).then(|| LineStep {
        usd_per_line: im.line_usd_per_month,
        verifications_per_line: im.capacity_per_line_per_day * im.days_per_month
            / (im.peak_factor * contacts),
    });
    let rev = CostCurve {
        fixed_usd: u.rev_fixed,
        per_verification_usd: u.rev_legit_sms
            + u.rev_verify
            + u.rev_inbound_sms
            + u.rev_pumped_by_dest.iter().sum::<f64>(),
        lines,
    };
    Ok((sms, rev))
}

fn check_volume(v: f64) -> Result<(), CostError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(CostError::argument(
            "volumes",
            format!("a volume must be finite and >= 0, got {v}"),
        ))
    }
}

/// Both methods at monthly volume `v` and fraud share `f`, with the breakdown.
pub fn evaluate(s: &PricedMix, v: f64, f: f64) -> Result<Evaluation, CostError> {
    check_volume(v)?;
    let u = unit(s, f)?;
    let peak = peak_daily_inbound(s, v);
    let lines = lines_needed(peak, s.imessage.capacity_per_line_per_day);
    let lines_usd = lines as f64 * s.imessage.line_usd_per_month;
    let contacts_total: f64 = u.imessage_contacts_by_country.iter().sum();

    let scale = |xs: &[f64]| xs.iter().map(|x| x * v).collect::<Vec<_>>();
    let sms_pumped = scale(&u.sms_pumped_by_dest);
    let sms = MethodCost {
        legit_sms_usd: u.sms_legit_sms * v,
        pumped_sms_usd: sms_pumped.iter().sum(),
        verify_fees_usd: u.sms_verify * v,
        inbound_sms_usd: 0.0,
        lines: 0,
        lines_usd: 0.0,
        fixed_usd: u.sms_fixed,
        by_country: scale(&u.sms_by_country),
        pumped_by_destination: sms_pumped,
        total_usd: 0.0,
    };
    let rev_pumped = scale(&u.rev_pumped_by_dest);
    let rev_by_country = u
        .rev_by_country
        .iter()
        .zip(&u.imessage_contacts_by_country)
        .map(|(fallback, contacts)| {
            let share = if contacts_total > 0.0 {
                contacts / contacts_total
            } else {
                0.0
            };
            fallback * v + share * lines_usd
        })
        .collect();
    let reverse = MethodCost {
        legit_sms_usd: u.rev_legit_sms * v,
        pumped_sms_usd: rev_pumped.iter().sum(),
        verify_fees_usd: u.rev_verify * v,
        inbound_sms_usd: u.rev_inbound_sms * v,
        lines,
        lines_usd,
        fixed_usd: u.rev_fixed,
        by_country: rev_by_country,
        pumped_by_destination: rev_pumped,
        total_usd: 0.0,
    };
    let total = |m: &MethodCost| {
        m.legit_sms_usd
            + m.pumped_sms_usd
            + m.verify_fees_usd
            + m.inbound_sms_usd
            + m.lines_usd
            + m.fixed_usd
    };
    let sms = MethodCost {
        total_usd: total(&sms),
        ..sms
    };
    let reverse = MethodCost {
        total_usd: total(&reverse),
        ..reverse
    };
    Ok(Evaluation {
        monthly_verifications: v,
        fraud_share: f,
        sms_volumes: Volumes {
            legit_sms: u.legit_sms_msgs * v,
            pumped_sms: u.pumped_msgs * v,
            ..Volumes::default()
        },
        reverse_volumes: Volumes {
            legit_sms: u.rev_legit_sms_msgs * v,
            pumped_sms: u.rev_pumped_msgs * v,
            inbound_imessage: contacts_total * v,
            inbound_sms: u.rev_inbound_sms_msgs * v,
            peak_daily_inbound_imessage: peak,
        },
        sms,
        reverse,
    })
}

/// A volume where the cheaper method changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crossing {
    pub volume: f64,
    /// `true`: reverse iMessage is strictly cheaper just above `volume` (it was not just below).
    /// `false`: SMS OTP becomes at least as cheap again above `volume`.
    pub reverse_cheaper_above: bool,
}

/// Where the cheaper method changes within a volume range.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossingScan {
    pub lo: f64,
    pub hi: f64,
    /// Reverse iMessage strictly cheaper at `lo` / at `hi`.
    pub reverse_cheaper_at_lo: bool,
    pub reverse_cheaper_at_hi: bool,
    /// The first crossings in increasing volume (at most [`CrossingScan::KEEP`]).
    pub crossings: Vec<Crossing>,
    /// All crossings found, including those not kept.
    pub total_crossings: usize,
    /// The last crossing in the range, kept or not.
    pub last: Option<Crossing>,
}

/// The answer finance asks for: from which volume is reverse iMessage cheaper?
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BreakEven {
    /// Reverse iMessage is cheaper over the whole range.
    Always,
    /// Reverse iMessage is never cheaper in the range.
    Never,
    /// Reverse iMessage first becomes cheaper just above `first`, and is cheaper at every volume
    /// above `stays_from` up to the range end (`None`: SMS is cheaper again at the range end).
    At { first: f64, stays_from: Option<f64> },
    /// Reverse iMessage is cheaper at the start of the range but not at its end; SMS OTP is
    /// cheaper from `sms_from` on.
    SmsFrom { sms_from: f64 },
}

impl CrossingScan {
    /// Crossings kept in [`CrossingScan::crossings`]; with ordinary prices there are one or two.
    pub const KEEP: usize = 32;

    /// Summarises the scan as a break-even.
    pub fn break_even(&self) -> BreakEven {
        let first_up = self
            .crossings
            .iter()
            .find(|c| c.reverse_cheaper_above)
            .map_or(self.lo, |c| c.volume);
        let last = self.last.map_or(self.lo, |c| c.volume);
        match (self.reverse_cheaper_at_lo, self.reverse_cheaper_at_hi) {
            (true, true) if self.total_crossings == 0 => BreakEven::Always,
            (false, false) if self.total_crossings == 0 => BreakEven::Never,
            (true, false) => BreakEven::SmsFrom { sms_from: last },
            (true, true) => BreakEven::At {
                first: self.lo,
                stays_from: Some(last),
            },
            (false, true) => BreakEven::At {
                first: first_up,
                stays_from: Some(last),
            },
            (false, false) => BreakEven::At {
                first: first_up,
                stays_from: None,
            },
        }
    }
}

/// Finds every volume in `[lo, hi]` where the sign of `sms(V) − reverse(V)` changes.
///
/// Exact, not sampled: between two line steps both curves are affine, so the difference has at
/// most one root there, found in closed form; at a step the reverse curve jumps up by one line
/// price, which can hand the lead back to SMS. The walk visits every step in the range.
pub fn crossings(
    sms: &CostCurve,
    reverse: &CostCurve,
    lo: f64,
    hi: f64,
) -> Result<CrossingScan, CostError> {
    check_scan(sms, reverse, lo, hi)?;
    // Lines valid on the current interval, for each curve.
    let mut k = [sms.lines_at(lo), reverse.lines_at(lo)];
    let end_of = |c: &CostCurve, k: u64| {
        c.lines
            .map_or(f64::INFINITY, |l| k as f64 * l.verifications_per_line)
    };
    let line_usd = |c: &CostCurve| c.lines.map_or(0.0, |l| l.usd_per_line);
    // d(V) = a + b·V on the interval: positive means reverse is strictly cheaper.
    let coeffs = |k: &[u64; 2]| {
        let a = (sms.fixed_usd + k[0] as f64 * line_usd(sms))
            - (reverse.fixed_usd + k[1] as f64 * line_usd(reverse));
        (a, sms.per_verification_usd - reverse.per_verification_usd)
    };
    let mut found = Found::default();
    let mut push = |volume: f64, up: bool| {
        found.push(Crossing {
            volume,
            reverse_cheaper_above: up,
        })
    };

    let (a0, b0) = coeffs(&k);
    let at_lo = a0 + b0 * lo > 0.0;
    let mut positive = at_lo;
    let mut start = lo;
    loop {
        let ends = [end_of(sms, k[0]), end_of(reverse, k[1])];
        let end = ends[0].min(ends[1]).min(hi);
        let (a, b) = coeffs(&k);
        // Sign just above `start`: a line step may have made reverse jump, or d may leave 0.
        let d0 = a + b * start;
        let above = d0 > 0.0 || (d0 == 0.0 && b > 0.0);
        if above != positive && end > start {
            push(start, above);
            positive = above;
        }
        if b != 0.0 {
            let root = -a / b;
            if root > start && root < end {
                let after = b > 0.0;
                if after != positive {
                    push(root, after);
                    positive = after;
                }
            }
        }
        let at_end = a + b * end > 0.0;
        if at_end != positive {
            // Only when the root falls exactly on the end point.
            push(end, at_end);
            positive = at_end;
        }
        if end >= hi {
            break;
        }
        for (i, e) in ends.iter().enumerate() {
            if *e <= end {
                k[i] += 1;
            }
        }
        start = end;
    }
    Ok(CrossingScan {
        lo,
        hi,
        reverse_cheaper_at_lo: at_lo,
        reverse_cheaper_at_hi: positive,
        crossings: found.kept,
        total_crossings: found.total,
        last: found.last,
    })
}

/// The crossings a scan found: the first [`CrossingScan::KEEP`], how many, and the last.
#[derive(Default)]
struct Found {
    kept: Vec<Crossing>,
    total: usize,
    last: Option<Crossing>,
}

impl Found {
    fn push(&mut self, c: Crossing) {
        self.total += 1;
        self.last = Some(c);
        if self.kept.len() < CrossingScan::KEEP {
            self.kept.push(c);
        }
    }
}

/// A scan needs `0 < lo <= hi` and a bounded number of line steps up to `hi`.
fn check_scan(sms: &CostCurve, reverse: &CostCurve, lo: f64, hi: f64) -> Result<(), CostError> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
        return Err(CostError::argument(
            "volumes",
            format!("need 0 < lo <= hi, got {lo}..{hi}"),
        ));
    }
    for c in [sms, reverse] {
        if let Some(l) = c.lines
            && hi / l.verifications_per_line > MAX_STEPS
        {
            return Err(CostError::Model(format!(
                "{:.0} line steps up to {hi:.0} verifications; capacity per line is unrealistically small",
                hi / l.verifications_per_line
            )));
        }
    }
    Ok(())
}

/// Crossings of the two methods' curves for `s` at fraud share `f`, over `[lo, hi]`.
pub fn break_even(s: &PricedMix, f: f64, lo: f64, hi: f64) -> Result<CrossingScan, CostError> {
    let (sms, rev) = curves(s, f)?;
    crossings(&sms, &rev, lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;

    use crate::test_files::{replaced, shipped};

    fn two_text() -> String {
        shipped("scenarios/mixes/two-country.toml")
    }

    fn two() -> PricedMix {
        PricedMix::from_mix_text(
            "two-country.toml",
            &two_text(),
            None,
            &LoadOptions::default(),
        )
        .expect("test mix loads")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    // Hand computation for the two-country mix (shares US 0.75, GB 0.25; sends 1.1 per
    // verification; US all-in $0.0124, GB $0.0463, RU $0.7096 per segment):
    //   SMS per verification  = .75·1.1·.0124 + .25·1.1·.0463 + .8·.05 = 0.0629625, fixed $10
    //   pumped at f = 0.2     = 1.1·(.2/.8)·.7096 = 0.19514
    //   reverse per verif.    = .75·.4·.01 (inbound) + .25·.5·(1.1·.0463 + .8·.05) = 0.01436625
    //   iMessage contacts     = .75·.6 + .25·.5 = 0.575 per verification
    //   verifications / line  = 1000·30 / (1.5·0.575) = 34782.608…
    const SMS_SLOPE: f64 = 0.0629625;
    const PUMP_SLOPE: f64 = 0.19514;
    const REV_SLOPE: f64 = 0.01436625;
    const PER_LINE: f64 = 30_000.0 / 0.8625;

    #[test]
    fn curves_match_hand_computed_values() {
        let s = two();
        let (sms, rev) = curves(&s, 0.0).expect("curves");
        assert!(close(sms.per_verification_usd, SMS_SLOPE), "{sms:?}");
        assert!(close(sms.fixed_usd, 10.0));
        assert!(close(rev.per_verification_usd, REV_SLOPE), "{rev:?}");
        assert!(
            close(rev.fixed_usd, 0.0),
            "no outbound fallback to the US: no 10DLC fee"
        );
        let step = rev.lines.expect("reverse has lines");
        assert!(close(step.verifications_per_line, PER_LINE));

        let e = evaluate(&s, 10_000.0, 0.0).expect("evaluate");
        assert!(
            close(e.sms.total_usd, 10.0 + 629.625),
            "{}",
            e.sms.total_usd
        );
        assert!(
            close(e.reverse.total_usd, 143.6625 + 100.0),
            "{}",
            e.reverse.total_usd
        );
        assert_eq!(e.reverse.lines, 1);
        assert!(close(e.reverse_volumes.peak_daily_inbound_imessage, 287.5));
        assert!(close(e.sms_volumes.legit_sms, 11_000.0));
        assert!(close(e.reverse_volumes.inbound_sms, 3_000.0));
        // The per-country split adds up to the total.
        let parts: f64 = e.reverse.by_country.iter().sum::<f64>() + e.reverse.fixed_usd;
        assert!(close(parts, e.reverse.total_usd));
        let parts: f64 = e.sms.by_country.iter().sum::<f64>() + e.sms.fixed_usd;
        assert!(close(parts, e.sms.total_usd));

        let e = evaluate(&s, 10_000.0, 0.2).expect("evaluate");
        assert!(close(e.sms.pumped_sms_usd, PUMP_SLOPE * 10_000.0));
        assert!(close(e.sms_volumes.pumped_sms, 2_750.0));
        assert!(
            close(
                e.sms_volumes.pumped_sms / (e.sms_volumes.pumped_sms + e.sms_volumes.legit_sms),
                0.2
            ),
            "fraud share is the pumped fraction of all OTP SMS"
        );
        assert!(
            close(e.reverse.pumped_sms_usd, 0.0),
            "RU has no outbound fallback"
        );
        assert!(close(e.reverse.total_usd, 243.6625));
    }

    #[test]
    fn evaluate_agrees_with_the_curves_everywhere() {
        let s = two();
        for f in [0.0, 0.1, 0.5] {
            let (sms, rev) = curves(&s, f).expect("curves");
            for v in [1.0, 999.0, 34_782.0, 34_783.0, 1e6, 3.3e8] {
                let e = evaluate(&s, v, f).expect("evaluate");
                assert!(close(e.sms.total_usd, sms.at(v)), "sms at {v}");
                assert!(close(e.reverse.total_usd, rev.at(v)), "reverse at {v}");
                assert_eq!(e.reverse.lines, rev.lines_at(v));
            }
        }
    }

    #[test]
    fn lines_step_up_when_capacity_is_exceeded() {
        let s = two();
        // 34,782 verifications: peak day 999.98 contacts → 1 line; one more → 2 lines.
        assert_eq!(evaluate(&s, 34_782.0, 0.0).expect("eval").reverse.lines, 1);
        assert_eq!(evaluate(&s, 34_783.0, 0.0).expect("eval").reverse.lines, 2);
        assert_eq!(evaluate(&s, 0.0, 0.0).expect("eval").reverse.lines, 0);
        assert_eq!(lines_needed(1000.0, 1000.0), 1, "exactly full is one line");
        assert_eq!(lines_needed(1_000.000_001, 1000.0), 2);
        assert_eq!(
            lines_needed(3.0 * 0.1 * 10_000.0, 3000.0),
            1,
            "rounding error is absorbed"
        );
    }

    fn straddles(s: &PricedMix, f: f64, v: f64) {
        let (sms, rev) = curves(s, f).expect("curves");
        let eps = 1e-6 * v;
        assert!(
            rev.at(v - eps) >= sms.at(v - eps),
            "reverse not cheaper below {v}"
        );
        assert!(
            rev.at(v + eps) < sms.at(v + eps),
            "reverse cheaper above {v}"
        );
    }

    #[test]
    fn break_even_is_where_the_curves_cross() {
        let s = two();
        // f = 0: d(V) = 10 + (0.0629625 − 0.01436625)·V − 100 on the first line.
        let scan = break_even(&s, 0.0, 1e3, 1e9).expect("scan");
        let want = 90.0 / (SMS_SLOPE - REV_SLOPE);
        assert!(!scan.reverse_cheaper_at_lo);
        let BreakEven::At { first, stays_from } = scan.break_even() else {
            panic!("expected a break-even, got {:?}", scan.break_even());
        };
        // The first crossing lies below the 1e3 grid start at f = 0.2, but not at f = 0.
        assert!(close(first, want), "{first} vs {want}");
        assert_eq!(stays_from, Some(first));
        assert_eq!(scan.total_crossings, 1);
        straddles(&s, 0.0, first);

        let scan = break_even(&s, 0.2, 100.0, 1e9).expect("scan");
        let BreakEven::At { first, .. } = scan.break_even() else {
            panic!("expected a break-even");
        };
        assert!(
            close(first, 90.0 / (SMS_SLOPE + PUMP_SLOPE - REV_SLOPE)),
            "{first}"
        );
        straddles(&s, 0.2, first);

        assert_eq!(
            break_even(&s, 0.2, 1e3, 1e9).expect("scan").break_even(),
            BreakEven::Always
        );
        assert_eq!(
            break_even(&s, 0.0, 10.0, 1e3).expect("scan").break_even(),
            BreakEven::Never
        );
    }

    #[test]
    fn crossings_are_exact_on_a_sawtooth() {
        // d(V) = V − 100·ceil(V / 110): reverse wins mid-interval, loses at each step, until
        // ten lines' worth of headroom accumulate.
        let sms = CostCurve {
            fixed_usd: 0.0,
            per_verification_usd: 1.0,
            lines: None,
        };
        let rev = CostCurve {
            fixed_usd: 0.0,
            per_verification_usd: 0.0,
            lines: Some(LineStep {
                usd_per_line: 100.0,
                verifications_per_line: 110.0,
            }),
        };
        let scan = crossings(&sms, &rev, 1.0, 5_000.0).expect("scan");
        let ups: Vec<f64> = scan
            .crossings
            .iter()
            .filter(|c| c.reverse_cheaper_above)
            .map(|c| c.volume)
            .collect();
        let downs: Vec<f64> = scan
            .crossings
            .iter()
            .filter(|c| !c.reverse_cheaper_above)
            .map(|c| c.volume)
            .collect();
        let want_ups: Vec<f64> = (1..=10).map(|k| 100.0 * f64::from(k)).collect();
        let want_downs: Vec<f64> = (1..=9).map(|k| 110.0 * f64::from(k)).collect();
        assert_eq!(ups.len(), want_ups.len(), "{:?}", scan.crossings);
        for (a, b) in ups.iter().zip(&want_ups) {
            assert!(close(*a, *b), "{a} vs {b}");
        }
        for (a, b) in downs.iter().zip(&want_downs) {
            assert!(close(*a, *b), "{a} vs {b}");
        }
        assert_eq!(
            scan.break_even(),
            BreakEven::At {
                first: 100.0,
                stays_from: Some(1000.0)
            }
        );
        // Brute force agrees: the sign of d between crossings matches the scan.
        for i in 1..5_000 {
            let v = f64::from(i) + 0.5;
            let cheaper = rev.at(v) < sms.at(v);
            let mut state = scan.reverse_cheaper_at_lo;
            for c in &scan.crossings {
                if c.volume < v {
                    state = c.reverse_cheaper_above;
                }
            }
            assert_eq!(cheaper, state, "at {v}");
        }
    }

    #[test]
    fn outbound_fallback_carries_pumping_and_fees() {
        let mix = replaced(
            &two_text(),
            "other_countries = \"inbound_sms\"",
            "other_countries = \"outbound_sms\"",
        );
        let s = PricedMix::from_mix_text("m.toml", &mix, None, &LoadOptions::default())
            .expect("mix loads");
        let e = evaluate(&s, 10_000.0, 0.2).expect("evaluate");
        assert!(close(e.reverse.pumped_sms_usd, e.sms.pumped_sms_usd));
        let mix = replaced(
            &two_text(),
            "fallback = \"inbound_sms\"",
            "fallback = \"outbound_sms\"",
        );
        let s = PricedMix::from_mix_text("m.toml", &mix, None, &LoadOptions::default())
            .expect("mix loads");
        let e = evaluate(&s, 10_000.0, 0.0).expect("evaluate");
        assert!(
            close(e.reverse.fixed_usd, 10.0),
            "US outbound fallback needs 10DLC"
        );
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let s = two();
        assert!(evaluate(&s, -1.0, 0.0).is_err());
        assert!(evaluate(&s, f64::NAN, 0.0).is_err());
        assert!(evaluate(&s, 1.0, 1.0).is_err());
        assert!(curves(&s, -0.1).is_err());
        assert!(break_even(&s, 0.0, 0.0, 1e3).is_err());
        assert!(break_even(&s, 0.0, 1e4, 1e3).is_err());
    }
}
