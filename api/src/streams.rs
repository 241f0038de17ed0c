//! `/api/streams`: create streams (admin), report their live state (public).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::live_view::LiveStatus;
use crate::{AppError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/streams", post(create).get(list))
        .route("/api/streams/{name}", get(status))
        .route("/api/streams/{name}/rotate-key", post(rotate_key))
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
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateStream {
    name: String,
}

#[derive(Debug, Serialize)]
struct CreatedStream {
    name: String,
    stream_key: String,
    rtmp_url: String,
    player_url: String,
    playlist_url: String,
}

impl CreatedStream {
    fn new(state: &AppState, name: String, key: &str) -> Self {
        Self {
            rtmp_url: state.urls.rtmp.clone(),
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
    let created = state.store.create(&body.name).await?;
    tracing::info!(stream = %created.name, "stream created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedStream::new(
            &state,
            created.name,
            created.key.as_str(),
        )),
    ))
}

async fn rotate_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<CreatedStream>, AppError> {
    require_admin(&state, &headers)?;
    let key = state
        .store
        .rotate_key(&name)
        .await?
        .ok_or(AppError::NotFound("stream"))?;
    Ok(Json(CreatedStream::new(&state, name, key.as_str())))
}

#[derive(Debug, Serialize)]
struct StreamSummary {
    name: String,
    #[serde(flatten)]
    live: LiveStatus,
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<StreamSummary>>, AppError> {
    require_admin(&state, &headers)?;
    let names = state.store.names().await?;
    Ok(Json(
        names
            .into_iter()
            .map(|name| StreamSummary {
                live: state.live.status(&name),
                name,
            })
            .collect(),
    ))
}

async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<StreamSummary>, AppError> {
    if !state.store.exists(&name).await? {
        return Err(AppError::NotFound("stream"));
    }
    Ok(Json(StreamSummary {
        live: state.live.status(&name),
        name,
    }))
}
