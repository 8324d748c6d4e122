//! The server's API on a loopback port, in process: one test binary (it links once), a module
//! per area. Servers run on port 0 with a manual clock, and nothing leaves 127.0.0.1. The
//! binary's own tests (`tests/it/` at the workspace root) cover `mo2fa serve` as deployed, the
//! Redis store and the CLI.

mod common;

mod hostile_input;
mod http_api;
mod interop_blooio;
mod provider_docs;
mod sms_state;
