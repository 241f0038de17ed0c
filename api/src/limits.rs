//! The API's rate limits, on the product's one limiter (`oxcast-limits`): `/api` requests count
//! against their client address (anonymous reads excepted, see [`per_address`]; IPv6 by /64),
//! every authenticated one also against its token (or user), and logins against the address
//! (every attempt) and the name tried (failed attempts only, so nobody is locked out by others'
//! successes, and one address alone cannot lock a name for everyone). A refusal is `429` with
//! `Retry-After`.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use oxcast_limits::{KeyedLimiter, RateSpec};

use crate::auth::Caller;
use crate::{AppError, AppState};

/// How much each client may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// `/api` requests per minute, per client address and per token (or user).
    pub api_requests_per_minute: u32,
    /// Login attempts per ten minutes, per client address and per login name.
    pub login_attempts_per_ten_minutes: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self { api_requests_per_minute: 600, login_attempts_per_ten_minutes: 10 }
    }
}

#[derive(Debug)]
pub struct ApiLimits {
    per_address: KeyedLimiter,
    per_caller: KeyedLimiter,
    /// Every login attempt of an address.
    login_per_address: KeyedLimiter,
    /// Failed attempts at one name from one address (the strict one).
    login_failures_per_name_and_address: KeyedLimiter,
    /// Failed attempts at one name from anywhere: ten times looser, so one address cannot lock
    /// someone out and a botnet still cannot guess freely.
    login_failures_per_name: KeyedLimiter,
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 (one subscriber's whole prefix).
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn refused(wait: Duration) -> AppError {
    AppError::TooManyRequests { retry_after: wait }
}

impl ApiLimits {
    pub fn new(settings: LimitSettings) -> Self {
        let api = RateSpec::new(settings.api_requests_per_minute.max(1), Duration::from_secs(60));
        let login = RateSpec::new(settings.login_attempts_per_ten_minutes.max(1), Duration::from_secs(600));
        Self {
            per_address: KeyedLimiter::new(api),
            per_caller: KeyedLimiter::new(api),
            login_per_address: KeyedLimiter::new(RateSpec::new(login.burst.saturating_mul(3), login.period)),
            login_failures_per_name_and_address: KeyedLimiter::new(login),
            login_failures_per_name: KeyedLimiter::new(RateSpec::new(login.burst.saturating_mul(10), login.period)),
        }
    }

    pub(crate) fn check_caller(&self, caller: &Caller) -> Result<(), AppError> {
        self.per_caller.check(&caller.limit_key()).map_err(refused)
    }

    /// Before a login attempt: counts it against the address, and refuses when the name has
    /// used up its failures (from this address, or from everywhere).
    pub(crate) fn check_login(&self, address: std::net::IpAddr, name: &str) -> Result<(), AppError> {
        let address = address_key(address);
        self.login_per_address.check(&address).map_err(refused)?;
        let name = name.trim().to_ascii_lowercase();
        self.login_failures_per_name_and_address.peek(&format!("{name} {address}")).map_err(refused)?;
        self.login_failures_per_name.peek(&name).map_err(refused)
    }

    /// After a wrong password: counts the failure against the name.
    pub(crate) fn login_failed(&self, address: std::net::IpAddr, name: &str) {
        let name = name.trim().to_ascii_lowercase();
        let _ = self.login_failures_per_name_and_address.check(&format!("{name} {}", address_key(address)));
        let _ = self.login_failures_per_name.check(&name);
    }
}

/// Counts `/api` requests against their client address. Anonymous reads (the player pages'
/// status polls, the document) are left out: many viewers share one address behind a NAT, and
/// those reads are cheap; everything with credentials or a body counts.
pub(crate) async fn per_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let anonymous_read = request.method() == axum::http::Method::GET
        && !request.headers().contains_key(axum::http::header::AUTHORIZATION)
        && !request.headers().contains_key(axum::http::header::COOKIE);
    if request.uri().path().starts_with("/api/") && !anonymous_read {
        let (parts, body) = request.into_parts();
        let client = crate::client::from_parts(&parts, &state.trusted_proxies);
        if let Err(wait) = state.limits.per_address.check(&address_key(client.ip)) {
            return refused(wait).into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(request).await
}
