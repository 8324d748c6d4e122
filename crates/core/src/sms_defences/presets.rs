//! Vendor presets: compiled-in `[defences.sms]` tables (`presets/*.toml`, each citing its
//! sources in a comment header). A file's own keys are merged over the preset's
//! ([`super::SmsDefences::resolve`]); docs/defences.md explains each one.

use super::SmsDefences;

/// Every preset name a scenario or `--sms-defences` file may select.
pub const PRESET_NAMES: &[&str] = &[
    "twilio_fraud_guard_basic",
    "twilio_fraud_guard_standard",
    "twilio_fraud_guard_max",
    "twilio_messaging_pumping_protection",
    "vonage_verify",
    "plivo_fraud_shield_low",
    "plivo_fraud_shield_medium",
    "plivo_fraud_shield_high",
    "aws_protect_monitor",
    "aws_protect_filter",
    "authgear",
    "authgear_deny",
    "auth0_backoff",
    "auth0_static",
];

/// The preset's TOML text, as compiled in.
pub fn text(name: &str) -> Option<&'static str> {
    Some(match name {
        "twilio_fraud_guard_basic" => include_str!("presets/twilio_fraud_guard_basic.toml"),
        "twilio_fraud_guard_standard" => include_str!("presets/twilio_fraud_guard_standard.toml"),
        "twilio_fraud_guard_max" => include_str!("presets/twilio_fraud_guard_max.toml"),
        "twilio_messaging_pumping_protection" => {
            include_str!("presets/twilio_messaging_pumping_protection.toml")
        }
        "vonage_verify" => include_str!("presets/vonage_verify.toml"),
        "plivo_fraud_shield_low" => include_str!("presets/plivo_fraud_shield_low.toml"),
        "plivo_fraud_shield_medium" => include_str!("presets/plivo_fraud_shield_medium.toml"),
        "plivo_fraud_shield_high" => include_str!("presets/plivo_fraud_shield_high.toml"),
        "aws_protect_monitor" => include_str!("presets/aws_protect_monitor.toml"),
        "aws_protect_filter" => include_str!("presets/aws_protect_filter.toml"),
        "authgear" => include_str!("presets/authgear.toml"),
        "authgear_deny" => include_str!("presets/authgear_deny.toml"),
        "auth0_backoff" => include_str!("presets/auth0_backoff.toml"),
        "auth0_static" => include_str!("presets/auth0_static.toml"),
        _ => return None,
    })
}

/// The preset's table, parsed (a preset never names another preset).
pub(crate) fn load(name: &str) -> Option<SmsDefences> {
    let text = text(name)?;
    let parsed: Result<SmsDefences, _> = crate::conf::parse_toml(name, text);
    // The presets are compiled in and parsed by a unit test, so this cannot fail.
    parsed.ok().map(|mut d| {
        d.preset = None;
        d
    })
}
