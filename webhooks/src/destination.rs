//! Where a webhook may go. Receivers are other people's servers on the internet; a URL that
//! points into the server's own network (loopback, private ranges, link-local and cloud
//! metadata addresses...) would let any creator probe or poke it, so such destinations are
//! refused unless the configuration allows them (a single-machine setup, the tests).
//!
//! The rule is applied to the addresses actually connected to: literal IPs in the URL are
//! checked before sending, and names are resolved by [`GuardedResolver`], the HTTP client's
//! resolver, which returns only allowed addresses (and fails when none is).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("the URL is not an absolute http:// or https:// URL")]
    NotHttp,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("{0} is not a public address (loopback, private and link-local destinations are not allowed here)")]
    NotPublic(IpAddr),
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: would reach IPv4 inside
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // ::/96 v4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// The host of an http(s) URL, and whether it is a literal IP.
fn host_of(url: &str) -> Result<&str, DestinationError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or(DestinationError::NotHttp)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(DestinationError::Credentials);
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DestinationError::NotHttp);
    }
    Ok(host)
}

/// Checks a URL's form and, when its host is a literal address, the address rule (names are
/// checked when they are resolved, on every delivery).
pub fn check_url(url: &str, allow_private: bool) -> Result<(), DestinationError> {
    let host = host_of(url)?;
    if let Ok(ip) = host.parse::<IpAddr>()
        && !allow_private
        && !is_public(ip)
    {
        return Err(DestinationError::NotPublic(ip));
    }
    Ok(())
}

/// The HTTP client's resolver: the system's answers, without the addresses the rule refuses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| allow_private || is_public(a.ip())).collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = match found.first() {
                    Some(refused) => Box::new(DestinationError::NotPublic(refused.ip())),
                    None => format!("{host} has no address").into(),
                };
                return Err(err);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for allowed in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1", "100.128.0.1"] {
            assert!(is_public(allowed.parse().unwrap()), "{allowed}");
        }
    }

    #[test]
    fn urls_are_checked_for_form_and_literal_addresses() {
        assert_eq!(check_url("ftp://x", false), Err(DestinationError::NotHttp));
        assert_eq!(check_url("https://user:pw@example.com/", false), Err(DestinationError::Credentials));
        assert_eq!(
            check_url("http://127.0.0.1:9000/hook", false),
            Err(DestinationError::NotPublic([127, 0, 0, 1].into()))
        );
        assert!(matches!(check_url("http://[::1]:9000/", false), Err(DestinationError::NotPublic(_))));
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("https://hooks.example.com/oxcast?x=1", false).is_ok());
        assert_eq!(check_url("https:///nohost", false), Err(DestinationError::NotHttp));
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = GuardedResolver { allow_private: false }.resolve(name).await;
        assert!(refused.is_err(), "localhost resolves to loopback only");
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let allowed = GuardedResolver { allow_private: true }.resolve(name).await.unwrap();
        assert!(allowed.count() >= 1);
    }
}
