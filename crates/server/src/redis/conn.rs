//! One connection type for a single Redis and for Redis Cluster, and the key layout that lets
//! every script run in one hash slot.
//!
//! # Store URLs
//! * `redis://[user:password@]HOST:PORT[/DB]`, or `redis+unix:///PATH[?db=N]` on the same host:
//!   one Redis (or a primary that replicas follow); one multiplexed connection, reconnected on
//!   its own. (`rediss://` needs the `redis` crate's TLS feature, which this build leaves out:
//!   it is refused when the store is made.)
//! * `redis-cluster://[user:password@]HOST:PORT[,HOST:PORT...]`: Redis Cluster, any nodes of it
//!   as seeds; the client learns the slot map from them and follows failovers.
//!
//! # Hash slots (cluster)
//! A script may only touch keys of one slot, so every key a script builds carries a hash tag:
//! * challenges are split into [`CLUSTER_BUCKETS`] buckets by their code. A bucket's keys
//!   (code keys, `done:` records, pending set, dedupe records and each instance's counts)
//!   share the tag `{bN}`, so an insert and a receive each run in the slot of the code. A
//!   challenge's id carries its bucket (the locator modulo the bucket count), so a status
//!   lookup goes to the same slot; a delivery's dedupe record lives in the bucket of the first
//!   code its message names (or of its delivery id when it names none).
//! * the SMS state (`{sms}`) and the start limits (`{lim}`) each stay in one slot: their bounds
//!   are global (one SMS pending set, one global bucket), so they are not sharded.
//!
//! With one Redis the tags are left out and the keys are those of earlier versions.

use ::redis::aio::{ConnectionLike, ConnectionManager};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, Value};
use mo2fa_core::store::ChallengeId;
use std::time::Duration;

/// Buckets challenges are spread over in a cluster (a power of two). Each bucket is one hash
/// slot, so 64 spread over any number of masters up to a few dozen; each instance's sweep runs
/// one script per bucket a second. A challenge id names its bucket, so whoever holds an id
/// knows which 1/64 of the code space its code is in (the id goes only to the client that
/// started the challenge, which was given the code itself).
pub const CLUSTER_BUCKETS: u32 = 64;

/// The scheme of a Redis Cluster store URL.
pub const CLUSTER_SCHEME: &str = "redis-cluster://";

/// A connection to one Redis or to a cluster; cheap to clone (both multiplex one socket per
/// node and pipeline the requests of every clone on it).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// In a cluster: waits up to `timeout` for the replica of the master holding `key`'s slot
    /// to acknowledge what this connection wrote to that master (`WAIT 1`), and answers how
    /// many did. One Redis: answers 1 at once (a single Redis has no failover to lose a write
    /// to). `WAIT` holds that master's connection for as long as it waits.
    pub async fn wait_replica(
        &mut self,
        key: &str,
        timeout: Duration,
    ) -> ::redis::RedisResult<u64> {
        use ::redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
        let Self::Cluster(c) = self else {
            return Ok(1);
        };
        let mut wait = ::redis::cmd("WAIT");
        wait.arg(1).arg(timeout.as_millis().max(1) as u64);
        let route = Route::with_key(key, SlotAddr::Master);
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
        let acked = c.route_command(wait, routing).await?;
        Ok(::redis::from_redis_value(acked)?)
    }
}

/// The seed nodes of a `redis-cluster://` URL as `redis://` URLs (the user and password, if
/// any, go to each); `None` for any other URL.
pub fn cluster_nodes(url: &str) -> Option<Result<Vec<String>, String>> {
    let rest = url.strip_prefix(CLUSTER_SCHEME)?;
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.trim_end_matches('/');
    let mut nodes = Vec::new();
    for host in hosts.split(',') {
        let port_ok = host
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Some(Err(format!(
                "{url:?}: {host:?} is not HOST:PORT (expected {CLUSTER_SCHEME}HOST:PORT[,HOST:PORT...])"
            )));
        }
        nodes.push(format!("redis://{auth}{host}"));
    }
    Some(Ok(nodes))
}

/// Opens `url` lazily: nothing is connected until the first command, so a verifier starts while
/// its store is down. Must be called inside a Tokio runtime.
pub fn open(url: &str, timeout: Duration) -> Result<Conn, String> {
    if let Some(nodes) = cluster_nodes(url) {
        let client = ::redis::cluster::ClusterClientBuilder::new(nodes?)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(20)
            .max_retry_wait(200)
            .tcp_settings(tcp_settings())
            .build()
            .map_err(|e| e.to_string())?;
        let config = ::redis::cluster::ClusterConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        return Ok(Conn::Cluster(
            client.get_pending_async_connection_with_config(config),
        ));
    }
    let info = ::redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| e.to_string())?
        .set_tcp_settings(tcp_settings());
    let client = ::redis::Client::open(info).map_err(|e| e.to_string())?;
    let manager = ::redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, manager)
        .map(Conn::Single)
        .map_err(|e| e.to_string())
}

/// `TCP_NODELAY`, which the `redis` crate leaves off by default. With Nagle's algorithm on, a
/// write waits while an earlier one is unacknowledged, and Redis acknowledges with its answer:
/// the calls pipelined on the multiplexed connection (concurrent requests, batches in flight)
/// can go a round trip apart. (On loopback the change measured within noise: docs/performance.md,
/// Redis round five.)
fn tcp_settings() -> ::redis::io::tcp::TcpSettings {
    ::redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Where the keys of one store live: their prefixes, per bucket in a cluster.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Per bucket: the prefix every challenge key of the bucket starts with (the verifier's
    /// prefix, and in a cluster the bucket's hash tag).
    pub buckets: Vec<String>,
    /// Prefix of the SMS state's keys.
    pub sms: String,
    /// Prefix of the start limits' keys.
    pub limits: String,
    pub cluster: bool,
}

impl Layout {
    /// One Redis: one bucket, no tags. A cluster: `buckets` buckets (1 puts every challenge in
    /// one slot, as the parity tests do to keep `max_pending` exact).
    pub fn new(prefix: &str, cluster: bool, buckets: u32) -> Result<Self, String> {
        if !cluster {
            return Ok(Self {
                buckets: vec![prefix.to_string()],
                sms: prefix.to_string(),
                limits: prefix.to_string(),
                cluster,
            });
        }
        if prefix.contains('{') || prefix.contains('}') {
            return Err(format!(
                "the key prefix {prefix:?} has a brace: in a cluster the store adds hash tags itself"
            ));
        }
        if buckets == 0 || !buckets.is_power_of_two() {
            return Err(format!("{buckets} buckets: must be a power of two"));
        }
        Ok(Self {
            buckets: (0..buckets).map(|b| format!("{prefix}{{b{b}}}")).collect(),
            sms: format!("{prefix}{{sms}}"),
            limits: format!("{prefix}{{lim}}"),
            cluster,
        })
    }

    fn mask(&self) -> u64 {
        self.buckets.len() as u64 - 1
    }

    /// The bucket of a code (a fixed mix of it, so the codes of one run spread evenly).
    pub fn of_code(&self, code: u64) -> usize {
        ((code.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) & self.mask()) as usize
    }

    /// The bucket a delivery id that names no code is recorded in.
    pub fn of_text(&self, text: &str) -> usize {
        let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        self.of_code(h)
    }

    /// The bucket an id names.
    pub fn of_id(&self, id: &ChallengeId) -> usize {
        (u64::from(id.locator) & self.mask()) as usize
    }

    /// A random locator that names `bucket`.
    pub fn locator(&self, random: u32, bucket: usize) -> u32 {
        (random & !(self.mask() as u32)) | bucket as u32
    }
}

/// The process id the one Redis at `url` reports (`INFO server`), if it runs on this host: a
/// Unix socket or a loopback address. `None` for a cluster, another host, or no answer within
/// `timeout`. (Redis in a container reports the id of its own pid namespace: check the process
/// before reading it.)
pub async fn local_process_id(url: &str, timeout: Duration) -> Option<u32> {
    use ::redis::{ConnectionAddr, IntoConnectionInfo};
    if cluster_nodes(url).is_some() {
        return None;
    }
    let local = match url.into_connection_info().ok()?.addr() {
        ConnectionAddr::Unix(_) => true,
        ConnectionAddr::Tcp(host, _) => {
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    };
    if !local {
        return None;
    }
    let ask = async {
        let mut conn = open(url, timeout).ok()?;
        let info: String = ::redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    };
    tokio::time::timeout(timeout, ask).await.ok().flatten()
}
