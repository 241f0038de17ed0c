//! `/api/chat/tokens` (admin): names for the chat, as viewers everywhere or as the moderator of
//! one stream's room. The name follows the product's display-name rule (checked by the store).

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::{AppError, AppState};

/// Routes behind the admin check (see `auth`).
pub(crate) fn admin_routes() -> Router<AppState> {
    Router::new().route("/api/chat/tokens", post(create))
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

async fn create(
    State(state): State<AppState>,
    body: Result<Json<CreateChatToken>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let Json(body) = body?;
    let made = state.store.chat_tokens().create(&body.name, body.moderator_of.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "name": made.name,
            "role": made.role.as_str(),
            "moderator_of": made.moderator_of,
            "token": made.token.as_str(),
        })),
    ))
}
