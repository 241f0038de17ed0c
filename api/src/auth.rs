//! Who is calling and what they may do: decided here, once, for every route.
//!
//! A handler that acts for someone takes [`Authorized<S>`] as an argument, where `S` names the
//! scope the route needs (`Authorized<StreamsWrite>`). The extractor resolves the caller from
//! the request and refuses it before the handler runs; there is no other way for a handler to get
//! a [`Caller`], so it cannot act without the check. The route's OpenAPI `security` entry names
//! the same scope, and the auth matrix in `api/src/tests/auth.rs` calls every documented route without credentials
//! and with a token lacking that scope, so the statement and the enforcement cannot drift.
//!
//! Credentials, in order:
//! - `Authorization: Bearer ADMIN_TOKEN`: the bootstrap admin token acts for the first admin with
//!   every scope.
//! - `Authorization: Bearer oxt_...`: a user's API token, with the token's scopes.
//! - the `oxcast_session` cookie (set by `/login`): the user, with every scope their role has.
//!   Requests that change something must also carry the session's CSRF token in `X-CSRF-Token`.
//!
//! A wrong bearer token is a 401 (a typo must not silently act as nobody); public routes take no
//! `Authorized` and ignore credentials. Ownership is checked by the handler with [`Caller::can_see`], which answers 404 for
//! another user's resource, so ids cannot be probed.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use oxcast_store::{Role, Scope, Scopes, User};

use crate::{AppError, AppState};

/// The cookie that carries a web session.
pub const SESSION_COOKIE: &str = "oxcast_session";
/// The header pages send the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    AdminToken,
    ApiToken { id: String },
    Session { csrf_token: String },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub scopes: Scopes,
    pub credential: Credential,
}

impl Caller {
    /// Admins acting with the admin scope see and change everyone's resources.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin && self.scopes.contains(Scope::Admin)
    }

    /// Whether a resource owned by `owner_id` exists for this caller (else it answers 404).
    pub fn can_see(&self, owner_id: Option<&str>) -> bool {
        self.is_admin() || owner_id == Some(self.user.id.as_str())
    }

    /// The owner filter for lists: `None` (everyone's) for admins, else the caller's id.
    pub fn owner_filter(&self) -> Option<&str> {
        (!self.is_admin()).then_some(self.user.id.as_str())
    }

    /// A key for rate limits: the token, or the user for sessions and the admin token.
    pub fn limit_key(&self) -> String {
        match &self.credential {
            Credential::ApiToken { id } => format!("token:{id}"),
            _ => format!("user:{}", self.user.id),
        }
    }
}

/// A scope a route requires, as a type (see the marker types below).
pub trait RequiredScope: Send + Sync + 'static {
    /// `None`: any authenticated caller.
    const SCOPE: Option<Scope>;
    /// Only people (a session or the admin token), never an API token: for managing tokens, so
    /// a leaked token cannot mint a sibling that outlives its revocation.
    const PEOPLE_ONLY: bool = false;
}

macro_rules! scope_marker {
    ($($name:ident => $scope:expr),* $(,)?) => {
        $(
            #[doc = concat!("Routes that need `", stringify!($scope), "`.")]
            #[derive(Debug)]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Option<Scope> = $scope;
            }
        )*
    };
}

scope_marker! {
    StreamsRead => Some(Scope::StreamsRead),
    StreamsWrite => Some(Scope::StreamsWrite),
    VideosRead => Some(Scope::VideosRead),
    VideosWrite => Some(Scope::VideosWrite),
    KeysWrite => Some(Scope::KeysWrite),
    WebhooksWrite => Some(Scope::WebhooksWrite),
    AdminOnly => Some(Scope::Admin),
    AnyCaller => None,
}

/// Routes only a person may call (see [`RequiredScope::PEOPLE_ONLY`]).
#[derive(Debug)]
pub struct PersonOnly;

impl RequiredScope for PersonOnly {
    const SCOPE: Option<Scope> = None;
    const PEOPLE_ONLY: bool = true;
}

/// The caller of a route that needs scope `S`; extracting it is the check (and the only way to
/// get one: the marker field is private). Destructure as `Authorized { caller, .. }`.
#[derive(Debug)]
pub struct Authorized<S: RequiredScope> {
    pub caller: Caller,
    scope: PhantomData<S>,
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller = authenticate(parts, state).await?.ok_or(AppError::Unauthorized)?;
        if let Some(scope) = S::SCOPE
            && !caller.scopes.contains(scope)
        {
            return Err(AppError::Forbidden(format!("this credential lacks the {scope} scope")));
        }
        if S::PEOPLE_ONLY && matches!(caller.credential, Credential::ApiToken { .. }) {
            return Err(AppError::Forbidden(
                "this is done from a login session (the studio) or with the admin token, not with an API token".into(),
            ));
        }
        if let Credential::Session { csrf_token } = &caller.credential
            && !is_safe(&parts.method)
        {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), csrf_token.as_bytes()) {
                return Err(AppError::Forbidden(format!("missing or wrong {CSRF_HEADER} header")));
            }
        }
        state.limits.check_caller(&caller)?;
        Ok(Self { caller, scope: PhantomData })
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The caller the request's credentials name; `None` when it carries none.
pub(crate) async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>, AppError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        // The scheme is case-insensitive (RFC 9110).
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(AppError::Unauthorized)?;
        if constant_time_eq(bearer.as_bytes(), state.admin_token.as_bytes()) {
            let user = state.store.users().first_admin().await?.ok_or(AppError::Unauthorized)?;
            return Ok(Some(Caller { user, scopes: Scopes::all(), credential: Credential::AdminToken }));
        }
        let (token, user) = state.store.api_tokens().authenticate(bearer).await?.ok_or(AppError::Unauthorized)?;
        let mut scopes = token.scopes;
        if user.role != Role::Admin && scopes.contains(Scope::Admin) {
            // A creator never acts as admin, whatever a stored token says.
            scopes = Scopes::parse(scopes.iter().filter(|s| *s != Scope::Admin).map(Scope::as_str))?;
        }
        return Ok(Some(Caller { user, scopes, credential: Credential::ApiToken { id: token.id } }));
    }
    let Some(cookie) = session_cookie_value(&parts.headers) else { return Ok(None) };
    let Some((session, user)) = state.store.sessions().authenticate(&cookie).await? else { return Ok(None) };
    let scopes = match user.role {
        Role::Admin => Scopes::all(),
        Role::Creator => Scopes::creator(),
    };
    Ok(Some(Caller { user, scopes, credential: Credential::Session { csrf_token: session.csrf_token } }))
}

/// The session cookie's value, if the request has one.
pub(crate) fn session_cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_is() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
