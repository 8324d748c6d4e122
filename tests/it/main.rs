//! End-to-end tests of the `mo2fa` binary and of the server as it is deployed: one test binary
//! (it links once), a module per area. Servers run on port 0 (in-process, or `mo2fa serve`
//! children), Redis tests start their own redis-server processes, and nothing leaves 127.0.0.1.

mod common;

mod cli_bench;
mod cli_consistency;
mod cli_dashboard;
mod cli_load;
mod cli_serve;
mod cli_soak;
mod cost_cli;
mod hostile_input;
mod http_api;
mod interop_blooio;
mod provider_docs;
mod redis_store;
mod sim_cli;
mod sim_live;
mod sms_country;
mod start_limits;
