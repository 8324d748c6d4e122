//! `--target`: the one reader of a running server's URL, for `bench http` and `load`.
//!
//! A target is `http://HOST:PORT` (or, where the command speaks TLS, `https://HOST[:PORT]`)
//! with nothing after the authority but an optional `/`. Any host is accepted; a command only
//! ever connects to this one.

use crate::error::HarnessError;

/// A checked `--target` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetUrl {
    pub https: bool,
    /// `host:port` (an IPv6 host in brackets); the port is absent only for `https`.
    pub authority: String,
}

impl TargetUrl {
    /// Reads `url`; `https` says whether the command can speak TLS.
    pub fn parse(url: &str, https: bool) -> Result<Self, HarnessError> {
        let bad = |why: &str| Err(HarnessError::TargetUrl(format!("{url:?}: {why}")));
        let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) if https => (true, rest),
            _ if https => return bad("must start with http:// or https://"),
            _ => return bad("must start with http:// (the bench speaks plain HTTP/1.1)"),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) || authority.contains(char::is_whitespace) {
            return bad("expected http://HOST:PORT with nothing after the port");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, Some(port)),
            _ if tls => (authority, None),
            _ => return bad("the port is missing (http://HOST:PORT)"),
        };
        let host_ok = match host.strip_prefix('[') {
            Some(v6) => v6
                .strip_suffix(']')
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
            None => !host.is_empty() && !host.contains([':', '[', ']']),
        };
        if !host_ok {
            return bad("the host is missing or malformed");
        }
        match port.map(str::parse::<u16>) {
            None | Some(Ok(1..)) => Ok(Self {
                https: tls,
                authority: authority.to_string(),
            }),
            _ => bad("the port must be a number from 1 to 65535"),
        }
    }

    /// `http://host:port`, without a trailing `/`.
    pub fn base(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_give_their_host_and_port() {
        for (url, addr) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
            ("http://verifier.internal:80", "verifier.internal:80"),
            ("http://[::1]:9000", "[::1]:9000"),
        ] {
            let t = TargetUrl::parse(url, false).unwrap();
            assert_eq!(t.authority, addr, "{url}");
            assert_eq!(t.base(), format!("http://{addr}"));
        }
        let tls = TargetUrl::parse("https://verifier.example.com/", true).unwrap();
        assert_eq!(tls.base(), "https://verifier.example.com");
        let tls = TargetUrl::parse("https://[::1]", true).unwrap();
        assert_eq!(tls.authority, "[::1]");
    }

    #[test]
    fn target_urls_are_refused_naming_the_option() {
        for url in [
            "",
            "127.0.0.1:8080",
            "https://127.0.0.1:8080",
            "http://",
            "http://127.0.0.1",
            "http://:8080",
            "http://127.0.0.1:0",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:http",
            "http://127.0.0.1:8080/2fa",
            "http://127.0.0.1:8080?x=1",
            "http://user@127.0.0.1:8080",
            "http://exa mple:8080",
            "http://::1:8080",
            "http://[::1:8080",
            "http://[nope]:8080",
        ] {
            let e = TargetUrl::parse(url, false).expect_err(url).to_string();
            assert!(e.starts_with("--target: "), "{url}: {e}");
        }
        for url in ["ftp://x:1", "https://x:0", "https://x/path", "http://x"] {
            let e = TargetUrl::parse(url, true).expect_err(url).to_string();
            assert!(e.starts_with("--target: "), "{url}: {e}");
        }
    }
}
