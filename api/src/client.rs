//! Where a request comes from: the socket's peer address, unless that peer is one of the
//! configured `trusted_proxies`, whose `X-Forwarded-For` (the nearest address that is not itself
//! a trusted proxy), `X-Forwarded-Proto` and `X-Forwarded-Host` are then believed. Rate limits
//! key on this address; the session cookie gets `Secure` when the client's scheme is https; the
//! HTTP URLs the API hands out (player, playlist, WHIP) and the login's same-origin check use the
//! forwarded host, so they name the proxy the client sees. A request that came in on the HTTPS
//! listener itself (marked [`OverTls`] by the accept loop) is https without any header.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// An address or network (`10.0.0.0/8`, `::1`), as `trusted_proxies` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: bad prefix length"))?
            }
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Marks a request that arrived on the server's own HTTPS listener (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// What the request says about its client, after the proxy rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// The client's scheme was https (directly, or per a trusted proxy).
    pub https: bool,
    /// The host the client asked for, per a trusted proxy's `X-Forwarded-Host`.
    pub forwarded_host: Option<String>,
}

/// Applies the proxy rules to a peer address and the request's headers.
/// The last value of a comma-separated header: the one the nearest (trusted) proxy appended.
fn last_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).next_back()
}

pub fn client_info(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientInfo {
    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return ClientInfo { ip: peer, https: false, forwarded_host: None };
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    // Walk from the nearest hop back; the first untrusted address is the client. An entry that is
    // no address ends the walk there: what lies beyond it is the client's own say.
    let mut ip = peer;
    for hop in hops.iter().rev() {
        let Ok(hop) = hop.parse::<IpAddr>().map(|a| a.to_canonical()) else { break };
        ip = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    let https = last_value(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let forwarded_host = last_value(headers, "x-forwarded-host")
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
        .map(str::to_owned);
    ClientInfo { ip, https, forwarded_host }
}

impl ClientInfo {
    /// The base of HTTP URLs for this client: the forwarded host (with its scheme) behind a
    /// trusted proxy, else the configured public URL.
    /// (`https` when the request came over TLS and the server has an HTTPS listener).
    pub fn http_base(&self, configured: &crate::PublicUrls) -> String {
        match (&self.forwarded_host, &configured.https) {
            (Some(host), _) => format!("{}://{host}", if self.https { "https" } else { "http" }),
            (None, Some(https)) if self.https => https.clone(),
            (None, _) => configured.http.clone(),
        }
    }
}

/// The client of a request (`0.0.0.0` when the server runs without connect info, as in tests).
pub fn from_parts(parts: &Parts, trusted: &[IpNet]) -> ClientInfo {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let mut info = client_info(peer, &parts.headers, trusted);
    // Over our own TLS the client's scheme is https, unless a trusted proxy says otherwise.
    let proxy_said = trusted.iter().any(|n| n.contains(peer.to_canonical()))
        && last_value(&parts.headers, "x-forwarded-proto").is_some();
    if parts.extensions.get::<OverTls>().is_some() && !proxy_said {
        info.https = true;
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_headers_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3"), ("x-forwarded-proto", "https")]);
        let direct = client_info("198.51.100.7".parse().unwrap(), &h, &trusted);
        assert_eq!(
            direct,
            ClientInfo { ip: "198.51.100.7".parse().unwrap(), https: false, forwarded_host: None },
            "spoofed headers ignored"
        );
        let proxied = client_info("10.0.0.5".parse().unwrap(), &h, &trusted);
        assert_eq!(proxied, ClientInfo { ip: "203.0.113.9".parse().unwrap(), https: true, forwarded_host: None });
        let mut with_host = h.clone();
        with_host.insert("x-forwarded-host", "tv.example.org".parse().unwrap());
        let proxied = client_info("10.0.0.5".parse().unwrap(), &with_host, &trusted);
        let urls = crate::PublicUrls {
            http: "http://localhost:8080".into(),
            https: Some("https://localhost:8443".into()),
            rtmp: String::new(),
            srt: None,
        };
        assert_eq!(proxied.http_base(&urls), "https://tv.example.org");
        let spoofed = client_info("198.51.100.7".parse().unwrap(), &with_host, &trusted);
        assert_eq!(spoofed.http_base(&urls), "http://localhost:8080");
        let direct_tls = ClientInfo { https: true, ..spoofed };
        assert_eq!(direct_tls.http_base(&urls), "https://localhost:8443");
        with_host.insert("x-forwarded-host", "evil.example/<script>".parse().unwrap());
        assert_eq!(client_info("10.0.0.5".parse().unwrap(), &with_host, &trusted).forwarded_host, None);
        let v6 = client_info("::1".parse().unwrap(), &headers(&[("x-forwarded-for", "2001:db8::1")]), &trusted);
        assert_eq!(v6.ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        let mapped = client_info("::ffff:10.0.0.5".parse().unwrap(), &h, &trusted);
        assert_eq!(mapped.ip, "203.0.113.9".parse::<IpAddr>().unwrap(), "a v4-mapped proxy is still the proxy");
        let garbage =
            headers(&[("x-forwarded-for", "6.6.6.6, not-an-address, 10.1.1.1"), ("x-forwarded-proto", "https, http")]);
        let walked = client_info("10.0.0.5".parse().unwrap(), &garbage, &trusted);
        assert_eq!(walked.ip, "10.1.1.1".parse::<IpAddr>().unwrap(), "the walk stops at what no proxy wrote");
        assert!(!walked.https, "the nearest proxy's scheme counts");
        assert!("10.0.0.0/33".parse::<IpNet>().is_err() && "nonsense".parse::<IpNet>().is_err());
        assert!("0.0.0.0/0".parse::<IpNet>().unwrap().contains("8.8.8.8".parse().unwrap()));
    }
}

/// The request's client, as an extractor (after the `trusted_proxies` rules).
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl axum::extract::FromRequestParts<crate::AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::AppState) -> Result<Self, Self::Rejection> {
        Ok(Client(from_parts(parts, &state.trusted_proxies)))
    }
}
