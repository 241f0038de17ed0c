//! The API's rate limits, on the product's one limiter (`oxcast-limits`): `/api` requests count
//! against their client address (anonymous reads excepted, see [`per_address`]), every authenticated one also against its token (or user),
//! and login attempts against both the address and the name tried. A refusal is `429` with
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
    login_per_address: KeyedLimiter,
    login_per_name: KeyedLimiter,
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
            login_per_address: KeyedLimiter::new(login),
            login_per_name: KeyedLimiter::new(login),
        }
    }

    pub(crate) fn check_caller(&self, caller: &Caller) -> Result<(), AppError> {
        self.per_caller.check(&caller.limit_key()).map_err(refused)
    }

    pub(crate) fn check_login(&self, address: std::net::IpAddr, name: &str) -> Result<(), AppError> {
        self.login_per_address.check(&address.to_string()).map_err(refused)?;
        self.login_per_name.check(&name.trim().to_ascii_lowercase()).map_err(refused)
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
        if let Err(wait) = state.limits.per_address.check(&client.ip.to_string()) {
            return refused(wait).into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(request).await
}
