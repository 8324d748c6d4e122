//! Where the audit may send: loopback, unless `--allow-host` names the host. The target URL's
//! host is resolved once, every address it resolves to must be allowed, and the connection is
//! pinned to the first of them, so a name cannot be re-resolved somewhere else mid-run.

use crate::wire::Conn;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SafetyError {
    #[error(
        "--target {0:?}: only http://HOST[:PORT][/PREFIX] is supported (https is not: audit a \
         plain-HTTP listener, e.g. on loopback behind your TLS proxy)"
    )]
    Url(String),
    #[error("--target {url:?}: cannot resolve {host:?}: {why}")]
    Resolve {
        url: String,
        host: String,
        why: String,
    },
    #[error(
        "--target {url:?}: {host} resolves to {addr}, which is not loopback{allowed}; the audit \
         sends attacks, so it only goes beyond loopback to a host named with --allow-host HOST"
    )]
    NotAllowed {
        url: String,
        host: String,
        addr: IpAddr,
        allowed: String,
    },
}

/// The target URL's parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// The path prefix, without a trailing `/` (empty for none).
    pub base: String,
}

pub fn parse_url(url: &str) -> Result<Url, SafetyError> {
    let bad = || SafetyError::Url(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty()
        || authority.contains('@')
        || path.contains(['?', '#'])
        || path.bytes().any(|b| b <= b' ')
    {
        return Err(bad());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 80,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (authority.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Url {
        host,
        port,
        base: path.trim_end_matches('/').to_string(),
    })
}

/// Resolves `url` and checks every address against loopback and `allow_hosts`; the answer is
/// a connection pinned to the first address.
pub fn resolve(url: &str, allow_hosts: &[String], timeout: Duration) -> Result<Conn, SafetyError> {
    let parsed = parse_url(url)?;
    let addrs: Vec<SocketAddr> = (parsed.host.as_str(), parsed.port)
        .to_socket_addrs()
        .map_err(|e| SafetyError::Resolve {
            url: url.to_string(),
            host: parsed.host.clone(),
            why: e.to_string(),
        })?
        .collect();
    let first = *addrs.first().ok_or_else(|| SafetyError::Resolve {
        url: url.to_string(),
        host: parsed.host.clone(),
        why: "no addresses".into(),
    })?;
    let named = allow_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&parsed.host));
    for a in &addrs {
        let ip = a.ip();
        let allowed_ip = allow_hosts
            .iter()
            .any(|h| h.parse::<IpAddr>().is_ok_and(|x| x == ip));
        if !(ip.is_loopback() || named || allowed_ip) {
            return Err(SafetyError::NotAllowed {
                url: url.to_string(),
                host: parsed.host.clone(),
                addr: ip,
                allowed: if allow_hosts.is_empty() {
                    String::new()
                } else {
                    format!(" and not among --allow-host {}", allow_hosts.join(", "))
                },
            });
        }
    }
    let host = if parsed.host.contains(':') {
        format!("[{}]:{}", parsed.host, parsed.port)
    } else {
        format!("{}:{}", parsed.host, parsed.port)
    };
    Ok(Conn {
        addr: first,
        host,
        base: parsed.base,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1);

    #[test]
    fn urls_parse_into_host_port_and_prefix() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/").unwrap(),
            Url {
                host: "127.0.0.1".into(),
                port: 8080,
                base: String::new()
            }
        );
        assert_eq!(parse_url("http://[::1]:9/api/").unwrap().base, "/api");
        assert_eq!(parse_url("http://localhost").unwrap().port, 80);
        for bad in [
            "https://127.0.0.1",
            "127.0.0.1:80",
            "http://",
            "http://u@127.0.0.1",
            "http://127.0.0.1:x",
            "http://127.0.0.1/a?b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_unless_the_host_is_allowed() {
        let c = resolve("http://127.0.0.1:1/p", &[], T).unwrap();
        assert_eq!((c.addr.port(), c.base.as_str()), (1, "/p"));
        assert!(resolve("http://[::1]:1", &[], T).is_ok());
        let e = resolve("http://10.1.2.3:1", &[], T).unwrap_err();
        assert!(
            matches!(&e, SafetyError::NotAllowed { addr, .. } if addr.to_string() == "10.1.2.3"),
            "{e}"
        );
        assert!(e.to_string().contains("--allow-host"));
        let other = vec!["10.9.9.9".to_string()];
        let e = resolve("http://10.1.2.3:1", &other, T).unwrap_err();
        assert!(
            e.to_string().contains("not among --allow-host 10.9.9.9"),
            "{e}"
        );
        let allowed = vec!["10.1.2.3".to_string()];
        assert_eq!(
            resolve("http://10.1.2.3:1", &allowed, T).unwrap().host,
            "10.1.2.3:1"
        );
    }
}
