//! End-to-end tests of the `mo2fa` binary and of the server as it is deployed: one test binary
//! (it links once), a module per area. Servers run on port 0 (`mo2fa serve` children; the Redis
//! parity and model tests drive the library), Redis tests start their own redis-server
//! processes, and nothing leaves 127.0.0.1. The server's API tests, in process, are the server
//! crate's own (`crates/server/tests/it/`).

mod common;

mod architecture;
mod audit;
mod cli_bench;
mod cli_consistency;
mod cli_dashboard;
mod cli_incidents;
mod cli_load;
mod cli_serve;
mod cli_soak;
mod cost_cli;
mod decide;
mod emit_log;
mod import;
mod load_shards;
mod metrics_doc;
mod profiles;
mod redis_cluster;
mod redis_sms;
mod redis_store;
mod sim_cli;
mod sim_live;
mod sms_country;
mod start_limits;
