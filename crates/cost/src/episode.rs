//! An illustrative pumping episode priced with a [`PricedMix`], so a cost report can show "what an
//! attack looks like on the bill" before a full simulation exists.
//!
//! The default shape is the documented Healthchecks.io incident (research §1.4: ~8,000 SMS over
//! ~12 h, "started slow but later ramped up", to Morocco) and the defence is a Fraud-Guard-like
//! block that engages after a number of pumped sends (≈2,500 in the K-Optional anecdote, research
//! §4). It is deterministic arithmetic, not a simulation: a linear ramp, a hard block.

use super::config::{FallbackKind, PricedMix};
use super::error::CostError;
use super::model::evaluate;

/// The attack and defence to illustrate.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeSpec {
    /// Short description with its source, shown in reports.
    pub name: String,
    pub horizon_hours: u32,
    pub attack_start_hour: f64,
    pub attack_hours: f64,
    /// Pumping requests over the whole attack (each would cost one OTP SMS).
    pub pumped_total: f64,
    /// ISO code of the pumped numbers.
    pub destination: String,
    /// Pumped sends after which the defence blocks the destination; `None` = no defence.
    pub block_after: Option<f64>,
    /// Legitimate monthly verifications running alongside.
    pub monthly_verifications: f64,
}

impl EpisodeSpec {
    /// The Healthchecks.io shape with a block after 2,500 sends, at `monthly_verifications`.
    pub fn healthchecks(monthly_verifications: f64) -> Self {
        EpisodeSpec {
            name: String::from(
                "Healthchecks.io, May 2026: ~8,000 pumped SMS to Morocco over 12 h, ramping up",
            ),
            horizon_hours: 48,
            attack_start_hour: 12.0,
            attack_hours: 12.0,
            pumped_total: 8_000.0,
            destination: String::from("MA"),
            block_after: Some(2_500.0),
            monthly_verifications,
        }
    }
}

/// Hourly series of the episode; index `i` covers hour `[i, i + 1)`, cumulative values are at
/// the end of the hour.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    pub spec: EpisodeSpec,
    /// Pumped SMS billed per hour: SMS OTP without defence, with the block, reverse iMessage.
    pub pumped_sms_open: Vec<f64>,
    pub pumped_sms_blocked: Vec<f64>,
    pub pumped_reverse: Vec<f64>,
    /// Cumulative spend (legitimate traffic + pumping) in USD.
    pub spend_sms_open: Vec<f64>,
    pub spend_sms_blocked: Vec<f64>,
    pub spend_reverse: Vec<f64>,
    /// Hour at which the block engages (`None` if it never does).
    pub block_hour: Option<f64>,
    /// Whether pumped numbers reach an outbound SMS under reverse iMessage (their fallback).
    pub reverse_exposed: bool,
    /// All-in price of one pumped segment.
    pub usd_per_pumped_sms: f64,
}

/// Computes the episode for a priced mix.
pub fn episode(s: &PricedMix, spec: &EpisodeSpec) -> Result<Episode, CostError> {
    let ok = spec.horizon_hours > 0
        && spec.horizon_hours <= 24 * 366
        && spec.attack_start_hour.is_finite()
        && spec.attack_start_hour >= 0.0
        && spec.attack_hours.is_finite()
        && spec.attack_hours > 0.0
        && spec.pumped_total.is_finite()
        && spec.pumped_total >= 0.0
        && spec.block_after.is_none_or(|n| n.is_finite() && n >= 0.0);
    if !ok {
        return Err(CostError::Model(format!("invalid episode: {spec:?}")));
    }
    let base = evaluate(s, spec.monthly_verifications, 0.0)?;
    let hours_per_month = s.imessage.days_per_month * 24.0;
    let sms_hourly = base.sms.total_usd / hours_per_month;
    let rev_hourly = base.reverse.total_usd / hours_per_month;
    let price = s.outbound_usd_per_segment(&spec.destination) * s.sms.segments_per_otp;
    let reverse_exposed = s.fallback_for(&spec.destination) == FallbackKind::OutboundSms;

    // Linear ramp from 0: rate(t) = c·(t − start), cumulative P(t) = c·(t − start)² / 2.
    let h = spec.attack_hours;
    let c = 2.0 * spec.pumped_total / (h * h);
    let cumulative = |t: f64| {
        let d = (t - spec.attack_start_hour).clamp(0.0, h);
        c * d * d / 2.0
    };
    let block_hour = spec
        .block_after
        .filter(|n| *n < spec.pumped_total)
        .map(|n| spec.attack_start_hour + (2.0 * n / c).sqrt());
    let capped = |t: f64| {
        let p = cumulative(t);
        spec.block_after.map_or(p, |n| p.min(n))
    };

    let n = spec.horizon_hours as usize;
    let mut e = Episode {
        spec: spec.clone(),
        pumped_sms_open: Vec::with_capacity(n),
        pumped_sms_blocked: Vec::with_capacity(n),
        pumped_reverse: Vec::with_capacity(n),
        spend_sms_open: Vec::with_capacity(n),
        spend_sms_blocked: Vec::with_capacity(n),
        spend_reverse: Vec::with_capacity(n),
        block_hour,
        reverse_exposed,
        usd_per_pumped_sms: price,
    };
    let (mut so, mut sb, mut sr) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (t0, t1) = (i as f64, i as f64 + 1.0);
        let open = cumulative(t1) - cumulative(t0);
        let blocked = capped(t1) - capped(t0);
        // Under reverse iMessage the same requests only cost money through an outbound
        // fallback, where the same defence applies.
        let rev = if reverse_exposed { blocked } else { 0.0 };
        so += sms_hourly + open * price;
        sb += sms_hourly + blocked * price;
        sr += rev_hourly + rev * price;
        e.pumped_sms_open.push(open);
        e.pumped_sms_blocked.push(blocked);
        e.pumped_reverse.push(rev);
        e.spend_sms_open.push(so);
        e.spend_sms_blocked.push(sb);
        e.spend_reverse.push(sr);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;

    #[test]
    fn ramp_sums_to_the_total_and_the_block_caps_it() {
        let text = crate::test_files::shipped("scenarios/mixes/two-country.toml");
        let s =
            PricedMix::from_mix_text("t.toml", &text, None, &LoadOptions::default()).expect("mix");
        let e = episode(&s, &EpisodeSpec::healthchecks(1e5)).expect("episode");
        let open: f64 = e.pumped_sms_open.iter().sum();
        let blocked: f64 = e.pumped_sms_blocked.iter().sum();
        assert!((open - 8_000.0).abs() < 1e-6, "{open}");
        assert!((blocked - 2_500.0).abs() < 1e-6, "{blocked}");
        let bh = e.block_hour.expect("block engages");
        // c = 2·8000/144; 2500 = c·d²/2 → d = sqrt(5000/c) = 6.708 h.
        assert!((bh - (12.0 + (5_000.0 * 144.0 / 16_000.0f64).sqrt())).abs() < 1e-9);
        assert!(
            !e.reverse_exposed,
            "MA is outside the mix: inbound fallback"
        );
        assert!(e.pumped_reverse.iter().all(|v| *v == 0.0));
        let extra = e.spend_sms_open[47] - e.spend_sms_blocked[47];
        assert!((extra - 5_500.0 * e.usd_per_pumped_sms).abs() < 1e-6);
        assert!(e.spend_reverse.windows(2).all(|w| w[1] >= w[0]));
    }
}
