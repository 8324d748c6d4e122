//! Value parsers shared by the subcommands' flags, so that every command reads a duration and
//! a seed the same way. A duration is a number with a unit (`250ms`, `30s`, `15m`, `2h`, `1d`,
//! `1h30m`) or a plain number, which means seconds, as in every file (mo2fa_core::timefmt).
//! clap prefixes each error with the flag it concerns.
//! Also the clap twins of the core's enums, which have no command-line dependency.

use mo2fa_core::verifier::Protocol;
use mo2fa_core::webhook::{PayloadShape, Scheme};
use mo2fa_harness::bench::Endpoint;
use mo2fa_harness::server::Runtime;

/// Environment variable holding the webhook signing secret.
pub(crate) const SECRET_ENV: &str = "MO2FA_WEBHOOK_SECRET";

/// A duration in milliseconds; zero allowed (e.g. a retention that keeps nothing). The one
/// syntax of every file and flag (mo2fa_core::timefmt).
pub(crate) fn millis(s: &str) -> Result<u64, String> {
    mo2fa_core::timefmt::parse_duration(s)
}

/// A positive duration in milliseconds.
pub(crate) fn positive_millis(s: &str) -> Result<u64, String> {
    match millis(s)? {
        0 => Err(format!("{s:?}: the duration must be positive")),
        ms => Ok(ms),
    }
}

/// A positive duration in seconds, fractions allowed (for options kept as `f64` seconds).
pub(crate) fn seconds(s: &str) -> Result<f64, String> {
    positive_millis(s).map(|ms| ms as f64 / 1000.0)
}

/// A seed: clap would otherwise take `-1` for a flag and suggest `-- -1`.
pub(crate) fn seed(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| {
        format!(
            "{s:?} is not a seed: a seed is an unsigned integer, 0 to {}",
            u64::MAX
        )
    })
}

/// Milliseconds as seconds for messages: `5 s`, `0.5 s`.
pub(crate) fn show_secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

/// clap's names for the core's enums: the core has no command-line dependency, so each gets a
/// twin here and a conversion.
macro_rules! value_enum {
    ($(#[$doc:meta])* $arg:ident => $core:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub(crate) enum $arg {
            $($variant),+
        }

        impl From<$arg> for $core {
            fn from(a: $arg) -> Self {
                match a {
                    $($arg::$variant => $core::$variant),+
                }
            }
        }
    };
}

value_enum!(
    /// How webhook deliveries are signed.
    SchemeArg => Scheme { Blooio, Standard }
);
value_enum!(
    /// The body shape of emitted deliveries (docs/provider.md).
    ShapeArg => PayloadShape { V2, Legacy, V4 }
);
value_enum!(
    /// A protocol accepted for verification; `unknown` is a missing or unrecognised one.
    ProtocolArg => Protocol { Imessage, Sms, Rcs, NonImessage, Unknown }
);
value_enum!(
    /// An endpoint `bench http` measures.
    EndpointArg => Endpoint { Healthz, Start, Status, Webhook }
);
value_enum!(
    /// How the server's threads share its connections (`serve --runtime`).
    RuntimeArg => Runtime { WorkStealing, PerCore }
);

/// `--speed`: a positive number of virtual seconds per wall second.
pub(crate) fn speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("--speed must be a positive number, got {s:?}")),
    }
}

/// What `bench http`, `soak` and `load` share: how they talk to the server under test (its
/// profile, the deliveries' signature scheme and body shape) and how the "provider" retries
/// deliveries.
#[derive(clap::Args)]
pub(crate) struct TargetArgs {
    /// How to talk to the --target: a built-in profile (mo2fa, blooio-demo) or a TOML file
    /// (docs/audit.md lists its keys). What the profile cannot see is listed as not checked
    /// (`bench http`: endpoints it has no route for are not measured).
    #[arg(
        long,
        value_name = "NAME|FILE",
        default_value = "mo2fa",
        requires = "target"
    )]
    profile: String,
    /// Webhook signature scheme of the deliveries (the server's --signature-scheme; default
    /// blooio, or the --target's profile's).
    #[arg(long, value_enum)]
    signature_scheme: Option<SchemeArg>,
    /// Body shape of the webhook deliveries: v2 (Blooio's documented event, with its
    /// X-Blooio-Event and X-Blooio-Message-Id headers), legacy (`sender`) or v4 (envelope);
    /// default v2, or the --target's profile's.
    #[arg(long, value_enum)]
    payload_shape: Option<ShapeArg>,
    /// The provider's timeout on each delivery attempt (on every request in `bench http`): an
    /// attempt not answered within it is abandoned and its connection closed, as the provider
    /// closes it. Assumed default (Blooio publishes none; docs/performance.md, "Retry storms").
    #[arg(long = "timeout", value_name = "DURATION", default_value = "10s", value_parser = positive_millis)]
    timeout_ms: u64,
    /// How many times the provider sends a delivery again after a timeout, a broken
    /// connection or any answer outside 2xx: the same delivery (same message id), so the
    /// verifier's dedupe applies. 0 (the default): never, so the figures measure the server
    /// alone.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=20))]
    retries: u32,
    /// The delay before the first retry; each further one doubles it, up to --max-backoff.
    /// The delay waited is drawn between half of it and all of it, from --retry-seed.
    #[arg(long = "backoff", value_name = "DURATION", default_value = "1s", value_parser = positive_millis)]
    backoff_ms: u64,
    /// The longest delay between two attempts of a delivery.
    #[arg(long = "max-backoff", value_name = "DURATION", default_value = "60s", value_parser = positive_millis)]
    max_backoff_ms: u64,
    /// Seeds the retries' jitter: the same seed gives the same delays.
    #[arg(long = "retry-seed", value_name = "SEED", default_value = "0", value_parser = seed)]
    retry_seed: u64,
}

impl TargetArgs {
    /// The --target's profile with --signature-scheme and --payload-shape applied.
    pub(crate) fn profile(&self) -> anyhow::Result<mo2fa_target::profile::Profile> {
        profile(
            &self.profile,
            self.signature_scheme.map(Into::into),
            self.payload_shape.map(Into::into),
        )
    }

    /// How deliveries to an in-process server are signed.
    pub(crate) fn scheme(&self) -> Scheme {
        self.signature_scheme.unwrap_or(SchemeArg::Blooio).into()
    }

    /// The body shape of deliveries to an in-process server.
    pub(crate) fn shape(&self) -> PayloadShape {
        self.payload_shape.unwrap_or(ShapeArg::V2).into()
    }

    /// The provider's retry policy.
    pub(crate) fn retry(&self) -> anyhow::Result<mo2fa_harness::retry::RetryPolicy> {
        if self.max_backoff_ms < self.backoff_ms {
            anyhow::bail!(
                "--max-backoff ({}) is shorter than --backoff ({})",
                show_secs(self.max_backoff_ms),
                show_secs(self.backoff_ms)
            );
        }
        let ms = std::time::Duration::from_millis;
        Ok(mo2fa_harness::retry::RetryPolicy {
            timeout: ms(self.timeout_ms),
            retries: self.retries,
            backoff: ms(self.backoff_ms),
            max_backoff: ms(self.max_backoff_ms),
            seed: self.retry_seed,
        })
    }
}

/// `--profile NAME|FILE` for the load tools, with `--signature-scheme` and `--payload-shape`
/// (when given) taking the place of the profile's own.
pub(crate) fn profile(
    name_or_file: &str,
    scheme: Option<Scheme>,
    shape: Option<PayloadShape>,
) -> anyhow::Result<mo2fa_target::profile::Profile> {
    use anyhow::Context as _;
    use mo2fa_target::profile::{Profile, SignatureScheme};
    let mut p = Profile::resolve(name_or_file).context("--profile")?;
    if let Some(scheme) = scheme {
        p.webhook.signature = match scheme {
            Scheme::Blooio => SignatureScheme::Blooio,
            Scheme::Standard => SignatureScheme::Standard,
        };
    }
    if let Some(shape) = shape {
        p.webhook.shape = shape;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_plain_seconds_read_the_same() {
        assert_eq!(millis("30s"), Ok(30_000));
        assert_eq!(millis("30"), Ok(30_000));
        assert_eq!(millis("1.5"), Ok(1_500));
        assert_eq!(millis("2h"), Ok(7_200_000));
        assert_eq!(millis("1d"), Ok(86_400_000));
        assert_eq!(millis("250ms"), Ok(250));
        assert_eq!(millis("0"), Ok(0));
        assert!(positive_millis("0s").is_err());
        assert!(millis("1y").is_err());
        assert!(millis("-1").is_err());
        assert!(millis("1e3").is_err());
        assert!(millis("401d").is_err());
        assert!(millis("").is_err());
        assert_eq!(seconds("1h"), Ok(3600.0));
        assert_eq!(seconds("0.25"), Ok(0.25));
    }

    #[test]
    fn seeds_are_unsigned() {
        assert_eq!(seed("42"), Ok(42));
        assert_eq!(seed(&u64::MAX.to_string()), Ok(u64::MAX));
        let e = seed("-1").unwrap_err();
        assert!(e.contains("unsigned integer"), "{e}");
        assert!(seed("1.5").is_err());
    }

    #[test]
    fn seconds_are_shown_in_seconds() {
        assert_eq!(show_secs(5_000), "5 s");
        assert_eq!(show_secs(500), "0.5 s");
    }
}
