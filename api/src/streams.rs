//! `/api/streams`: create and configure streams (admin), report their live state (public).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use oxcast_store::StreamRecord;
use serde::{Deserialize, Serialize};

use crate::live_view::LiveStatus;
use crate::{AppError, AppState};

/// Routes behind the admin check (see `auth`).
pub(crate) fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/streams", post(create).get(list))
        .route("/api/streams/{name}/rotate-key", post(rotate_key))
        .route("/api/streams/{name}/profile", put(set_profile))
        .route("/api/streams/{name}/srt-passphrase", put(set_srt_passphrase))
}

/// Routes anyone may call.
pub(crate) fn public_routes() -> Router<AppState> {
    Router::new().route("/api/streams/{name}", get(status))
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
        let http = &state.urls.http;
        Self {
            rtmp_url: state.urls.rtmp.clone(),
            srt_url: state.urls.srt.as_ref().map(|srt| oxcast_ingest::srt::publish_url(srt, key)),
            whip_url: format!("{http}{}", oxcast_ingest::whip::endpoint_path(&name)),
            player_url: format!("{http}/watch/{name}"),
            playlist_url: format!("{http}/live/{name}/index.m3u8"),
            stream_key: key.to_owned(),
            name,
        }
    }
}

async fn create(
    State(state): State<AppState>,
    body: Result<Json<CreateStream>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedStream>), AppError> {
    let Json(body) = body?;
    let profile = state.profiles.check_optional(body.profile.as_deref())?;
    let created = state.store.streams().create(&body.name, profile.as_ref()).await?;
    tracing::info!(stream = %created.name, "stream created");
    Ok((StatusCode::CREATED, Json(CreatedStream::new(&state, created.name, created.key.as_str()))))
}

async fn rotate_key(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<CreatedStream>, AppError> {
    let key = state.store.streams().rotate_key(&name).await?.ok_or(AppError::NotFound("stream"))?;
    Ok(Json(CreatedStream::new(&state, name, key.as_str())))
}

async fn set_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<SetProfile>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    let profile = state.profiles.check_optional(body.profile.as_deref())?;
    if !state.store.streams().set_profile(&name, profile.as_ref()).await? {
        return Err(AppError::NotFound("stream"));
    }
    let effective = state.profiles.effective(body.profile.as_deref());
    // A live session keeps the ladder it started with; the profile applies from the next publish.
    Ok(Json(serde_json::json!({ "name": name, "profile": effective, "applies": "next publish" })))
}

async fn set_srt_passphrase(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<SetSrtPassphrase>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    if !state.store.streams().set_srt_passphrase(&name, body.passphrase.as_deref()).await? {
        return Err(AppError::NotFound("stream"));
    }
    // Checked when an SRT publisher connects: a live session is not interrupted.
    Ok(Json(serde_json::json!({ "name": name, "srt_encrypted": body.passphrase.is_some(), "applies": "next publish" })))
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

impl StreamSummary {
    async fn of(state: &AppState, record: StreamRecord) -> Self {
        let viewers = match &state.viewers {
            Some(counts) => counts.viewers(&record.name).await,
            None => None,
        };
        Self {
            live: state.live.status(&record.name),
            profile: state.profiles.effective(record.profile.as_deref()).to_owned(),
            srt_encrypted: record.srt_encrypted,
            viewers,
            name: record.name,
        }
    }
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<StreamSummary>>, AppError> {
    let mut out = Vec::new();
    for record in state.store.streams().list().await? {
        out.push(StreamSummary::of(&state, record).await);
    }
    Ok(Json(out))
}

async fn status(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<StreamSummary>, AppError> {
    let record = state.store.streams().get(&name).await?.ok_or(AppError::NotFound("stream"))?;
    Ok(Json(StreamSummary::of(&state, record).await))
}
