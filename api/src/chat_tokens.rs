//! `/api/chat/tokens` (admin): names for the chat, as viewers everywhere or as the moderator of
//! one stream's room. The name follows the product's display-name rule (checked by the store).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AdminOnly, Authorized};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateChatToken {
    /// Display name in chat: 1 to 32 characters, no control, zero-width or bidi characters.
    name: String,
    /// Makes the holder a moderator of this stream's chat (a viewer elsewhere).
    #[serde(default)]
    moderator_of: Option<String>,
}

/// A chat token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChatToken {
    name: String,
    /// `viewer` or `moderator`.
    role: String,
    moderator_of: Option<String>,
    /// Pass as `?token=` on the chat websocket, or `?chat_token=` on the player page.
    token: String,
}

/// Make a chat token.
#[utoipa::path(post, path = "/api/chat/tokens", tag = "chat",
    request_body = CreateChatToken,
    security(("bearer" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = ChatToken),
        (status = 400, description = "Bad name or unknown stream", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    _admin: Authorized<AdminOnly>,
    JsonBody(body): JsonBody<CreateChatToken>,
) -> Result<(StatusCode, Json<ChatToken>), AppError> {
    let made = state.store.chat_tokens().create(&body.name, body.moderator_of.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ChatToken {
            name: made.name,
            role: made.role.as_str().into(),
            moderator_of: made.moderator_of,
            token: made.token.as_str().into(),
        }),
    ))
}
