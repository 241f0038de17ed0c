//! Web login: `GET /login` (the form), `POST /login` (name + password → session cookie),
//! `POST /logout`. The cookie is HttpOnly, SameSite=Lax, and Secure when the client came over
//! https (directly or through a trusted proxy). Login attempts are rate limited per client
//! address and per name; a cross-site `Origin` is refused (login CSRF); logout needs the
//! session's CSRF token. Pages then send that token in `X-CSRF-Token` (see `auth`).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;

use crate::auth::{SESSION_COOKIE, constant_time_eq, session_cookie_value};
use crate::client::Client;
use crate::layout::{self, PageParts};
use crate::{AppError, AppState};

/// How long a login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

const LOGIN_HTML: &str = include_str!("../web/login.html");

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/login", get(login_page).post(login)).route("/logout", post(logout))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only paths on this server: no `//host`, `https://` or `/\t/host` open redirects (browsers drop
/// tabs and newlines while parsing, so a loose check can be walked around). Anything but a plain
/// path and query goes to the studio.
fn safe_next(next: Option<&str>) -> &str {
    let plain = |n: &str| n.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_.-?=&%~".contains(&b));
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.len() <= 512 && plain(n) => n,
        _ => "/studio",
    }
}

fn login_html(next: &str, error: &str) -> String {
    let main = layout::fill(LOGIN_HTML, &[("NEXT", &layout::escape(next)), ("ERROR", &layout::escape(error))]);
    layout::render(&PageParts { title: "Log in", current: "/login", user: None, main: &main })
}

async fn login_page(Query(q): Query<NextQuery>) -> Html<String> {
    Html(login_html(safe_next(q.next.as_deref()), ""))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// A request from another site's page (its `Origin` is not this host, or the host a trusted proxy
/// forwarded) must not log anyone in.
fn cross_site(headers: &HeaderMap, forwarded_host: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let host = forwarded_host.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok())).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("oxcast_session=; Max-Age=0"))
}

async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let json = wants_json(&headers);
    if cross_site(&headers, client.forwarded_host.as_deref()) {
        return Err(AppError::Forbidden("log in from this server's own page".into()));
    }
    state.limits.check_login(client.ip, &form.name)?;
    let next = safe_next(form.next.as_deref()).to_owned();
    // A name that cannot exist is refused before any password hashing (same answer as a wrong pair).
    let user = match oxcast_store::validate_name(&form.name.trim().to_ascii_lowercase()) {
        Ok(()) => state.store.users().verify_password(&form.name, &form.password).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.limits.login_failed(client.ip, &form.name);
        tracing::info!(name = ?form.name, client = %client.ip, "login refused");
        return if json {
            Err(AppError::WrongLogin)
        } else {
            Ok((StatusCode::UNAUTHORIZED, Html(login_html(&next, &AppError::WrongLogin.to_string()))).into_response())
        };
    };
    let (secret, _) = state.store.sessions().create(&user, SESSION_TTL).await?;
    tracing::info!(user = %user.name, client = %client.ip, "logged in");
    let set_cookie = cookie(secret.as_str(), SESSION_TTL.as_secs(), client.https);
    let mut response = if json {
        Json(serde_json::json!({ "next": next })).into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response()
    };
    response.headers_mut().insert(header::SET_COOKIE, set_cookie);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    if let Some(value) = session_cookie_value(&headers)
        && let Some((session, user)) = state.store.sessions().authenticate(&value).await?
    {
        if !constant_time_eq(form.csrf.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(AppError::Forbidden("missing or wrong CSRF token".into()));
        }
        state.store.sessions().end(&value).await?;
        tracing::info!(user = %user.name, "logged out");
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0, client.https));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_server() {
        assert_eq!(safe_next(Some("/studio?x=1")), "/studio?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "studio",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/studio", "{bad}");
        }
        assert_eq!(safe_next(None), "/studio");
    }

    #[test]
    fn only_same_origin_or_no_origin_may_log_in() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "tv.example:8080".parse().unwrap());
        assert!(!cross_site(&h, None));
        h.insert(header::ORIGIN, "http://tv.example:8080".parse().unwrap());
        assert!(!cross_site(&h, None));
        assert!(cross_site(&h, Some("tv.example.org")), "behind a proxy the forwarded host counts");
        h.insert(header::ORIGIN, "https://tv.example.org".parse().unwrap());
        assert!(!cross_site(&h, Some("tv.example.org")));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(cross_site(&h, None));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_site(&h, None));
    }
}
