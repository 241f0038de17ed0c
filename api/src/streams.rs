//! `/api/streams`: create streams (admin), report their live state (public).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::live_view::LiveStatus;
use crate::{AppError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/streams", post(create).get(list))
        .route("/api/streams/{name}", get(status))
        .route("/api/streams/{name}/rotate-key", post(rotate_key))
        .route("/api/streams/{name}/profile", put(set_profile))
        .route("/api/streams/{name}/srt-passphrase", put(set_srt_passphrase))
        .route("/api/chat/tokens", post(create_chat_token))
}

/// Constant-time comparison of the bearer token with the admin token.
fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AppError::Unauthorized)?;
    let expected = state.admin_token.as_bytes();
    let given = given.as_bytes();
    let same = given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same { Ok(()) } else { Err(AppError::Unauthorized) }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateStream {
    name: String,
    /// Transcoding profile; the server default when absent.
    #[serde(default)]
    profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetProfile {
    /// A profile name, or null for the server default.
    profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetSrtPassphrase {
    /// 10 to 79 characters, or null for unencrypted SRT.
    passphrase: Option<String>,
}

fn check_profile(state: &AppState, profile: Option<&str>) -> Result<(), AppError> {
    match profile {
        Some(p) if !state.profiles.iter().any(|known| known == p) => {
            Err(AppError::BadRequest(format!("unknown profile {p:?}; known: {}", state.profiles.join(", "))))
        }
        _ => Ok(()),
    }
}

#[derive(Debug, Serialize)]
struct CreatedStream {
    name: String,
    stream_key: String,
    rtmp_url: String,
    /// The whole SRT URL for OBS, streamid included; absent when SRT is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    srt_url: Option<String>,
    /// WHIP endpoint; the stream key is the bearer token.
    whip_url: String,
    player_url: String,
    playlist_url: String,
}

impl CreatedStream {
    fn new(state: &AppState, name: String, key: &str) -> Self {
        Self {
            rtmp_url: state.urls.rtmp.clone(),
            srt_url: state.urls.srt.as_ref().map(|srt| crate::srt_publish_url(srt, key)),
            whip_url: format!("{}/whip/{name}", state.urls.http),
            player_url: format!("{}/watch/{name}", state.urls.http),
            playlist_url: format!("{}/live/{name}/index.m3u8", state.urls.http),
            stream_key: key.to_owned(),
            name,
        }
    }
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateStream>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedStream>), AppError> {
    require_admin(&state, &headers)?;
    let Json(body) = body?;
    check_profile(&state, body.profile.as_deref())?;
    let created = state.store.create_with_profile(&body.name, body.profile.as_deref()).await?;
    tracing::info!(stream = %created.name, "stream created");
    Ok((StatusCode::CREATED, Json(CreatedStream::new(&state, created.name, created.key.as_str()))))
}

async fn rotate_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<CreatedStream>, AppError> {
    require_admin(&state, &headers)?;
    let key = state.store.rotate_key(&name).await?.ok_or(AppError::NotFound("stream"))?;
    Ok(Json(CreatedStream::new(&state, name, key.as_str())))
}

async fn set_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<SetProfile>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    require_admin(&state, &headers)?;
    let Json(body) = body?;
    check_profile(&state, body.profile.as_deref())?;
    if !state.store.set_profile(&name, body.profile.as_deref()).await? {
        return Err(AppError::NotFound("stream"));
    }
    let effective = body.profile.unwrap_or_else(|| state.default_profile.to_string());
    // A live session keeps the ladder it started with; the profile applies from the next publish.
    Ok(Json(serde_json::json!({ "name": name, "profile": effective, "applies": "next publish" })))
}

async fn set_srt_passphrase(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<SetSrtPassphrase>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    require_admin(&state, &headers)?;
    let Json(body) = body?;
    if !state.store.set_srt_passphrase(&name, body.passphrase.as_deref()).await? {
        return Err(AppError::NotFound("stream"));
    }
    // Checked when an SRT publisher connects: a live session is not interrupted.
    Ok(Json(serde_json::json!({ "name": name, "srt_encrypted": body.passphrase.is_some(), "applies": "next publish" })))
}

async fn viewers(state: &AppState, name: &str) -> Option<crate::ViewerCount> {
    match &state.viewers {
        Some(counts) => counts.viewers(name).await,
        None => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChatToken {
    /// Display name in chat.
    name: String,
    /// Makes the holder a moderator of this stream's chat (a viewer elsewhere).
    #[serde(default)]
    moderator_of: Option<String>,
}

async fn create_chat_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateChatToken>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    require_admin(&state, &headers)?;
    let Json(body) = body?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest("name must be 1 to 32 characters without control characters".into()));
    }
    let token = state.store.create_chat_token(name, body.moderator_of.as_deref()).await?;
    let role = if body.moderator_of.is_some() { "moderator" } else { "viewer" };
    Ok((
        StatusCode::CREATED,
        Json(
            serde_json::json!({ "name": name, "role": role, "moderator_of": body.moderator_of, "token": token.as_str() }),
        ),
    ))
}

#[derive(Debug, Serialize)]
struct StreamSummary {
    name: String,
    /// Transcoding profile in effect for the next publish.
    profile: String,
    /// SRT publishers must encrypt with the stream's passphrase.
    srt_encrypted: bool,
    /// Distinct viewers now and at the peak (absent when they cannot be counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    viewers: Option<crate::ViewerCount>,
    #[serde(flatten)]
    live: LiveStatus,
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<StreamSummary>>, AppError> {
    require_admin(&state, &headers)?;
    let mut out = Vec::new();
    for name in state.store.names().await? {
        let profile = state.store.profile(&name).await?.flatten();
        let profile = profile.unwrap_or_else(|| state.default_profile.to_string());
        let srt_encrypted = state.store.srt_encrypted(&name).await?.unwrap_or(false);
        let viewers = viewers(&state, &name).await;
        out.push(StreamSummary { live: state.live.status(&name), profile, srt_encrypted, viewers, name });
    }
    Ok(Json(out))
}

async fn status(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<StreamSummary>, AppError> {
    let profile = state.store.profile(&name).await?.ok_or(AppError::NotFound("stream"))?;
    let profile = profile.unwrap_or_else(|| state.default_profile.to_string());
    let srt_encrypted = state.store.srt_encrypted(&name).await?.unwrap_or(false);
    let viewers = viewers(&state, &name).await;
    Ok(Json(StreamSummary { live: state.live.status(&name), profile, srt_encrypted, viewers, name }))
}
