//! `mo2fa sign`: the signature headers of a hand-made webhook body.

use crate::args::{SECRET_ENV, SchemeArg};
use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_core::webhook::Secret;

#[derive(Args)]
pub(crate) struct SignArgs {
    /// File holding the exact body bytes; `-` reads standard input.
    body: std::path::PathBuf,
    #[arg(long, value_enum, default_value_t = SchemeArg::Blooio)]
    scheme: SchemeArg,
    /// Delivery id (standard scheme).
    #[arg(long, default_value = "msg_manual")]
    id: String,
    /// Unix seconds; default now.
    #[arg(long)]
    timestamp: Option<i64>,
}

pub(crate) fn sign(args: SignArgs) -> Result<()> {
    use std::io::Read;
    let Ok(secret) = std::env::var(SECRET_ENV) else {
        bail!("{SECRET_ENV} is not set: it holds the secret to sign with");
    };
    let secret = Secret::new(args.scheme.into(), &secret)
        .with_context(|| format!("{SECRET_ENV} is not a usable secret"))?;
    let mut body = Vec::new();
    if args.body.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body)?;
    } else {
        body = std::fs::read(&args.body)
            .with_context(|| format!("{}: cannot read", args.body.display()))?;
    }
    let t = args.timestamp.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    for (name, value) in secret.signature_headers(&args.id, t, &body) {
        println!("{name}: {value}");
    }
    Ok(())
}
