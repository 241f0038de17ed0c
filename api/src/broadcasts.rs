//! A stream's broadcasts and its recording setting: `PUT /api/streams/{name}/recording` (record
//! broadcasts into the catalog: on, off, or the server's default) and
//! `GET /api/streams/{name}/broadcasts` (each live session: start, end, peak and average viewers,
//! the recording's video).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use oxcast_store::Broadcast;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, StreamsRead, StreamsWrite};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::pagination::{PageQuery, Paged};
use crate::streams::owned;
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_recording)).routes(routes!(list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetRecording {
    /// `true` record, `false` do not, `null` the server's default (`[live] record`).
    record: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordingSet {
    name: String,
    /// As set: `null` means the server's default.
    record: Option<bool>,
    /// From the next broadcast on (one under way keeps what it started with).
    applies: &'static str,
}

/// Record a stream's broadcasts into the video catalog (or not, or as the server does by default).
#[utoipa::path(put, path = "/api/streams/{name}/recording", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = SetRecording,
    security(("bearer" = ["streams:write"]), ("session" = ["streams:write"])),
    responses(
        (status = 200, description = "Set", body = RecordingSet),
        (status = 400, description = "Not an object with `record` true, false or null", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_recording(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsWrite>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SetRecording>,
) -> Result<Json<RecordingSet>, AppError> {
    owned(&state, &caller, &name).await?;
    if !state.store.streams().set_record(&name, body.record).await? {
        return Err(AppError::NotFound("stream"));
    }
    Ok(Json(RecordingSet { name, record: body.record, applies: "next broadcast" }))
}

/// One live session of a stream, from its first publish until it ended after the offline grace.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BroadcastView {
    id: String,
    /// Unix seconds; `ended_at` is null while it is on air.
    started_at: i64,
    ended_at: Option<i64>,
    peak_viewers: i64,
    average_viewers: f64,
    /// The recording (`GET /api/videos/{id}`), when the broadcast was recorded.
    video_id: Option<String>,
}

impl From<Broadcast> for BroadcastView {
    fn from(b: Broadcast) -> Self {
        Self {
            id: b.id,
            started_at: b.started_at,
            ended_at: b.ended_at,
            peak_viewers: b.peak_viewers,
            average_viewers: (b.average_viewers * 10.0).round() / 10.0,
            video_id: b.video_id,
        }
    }
}

/// My stream's broadcasts, newest first.
#[utoipa::path(get, path = "/api/streams/{name}/broadcasts", tag = "streams",
    params(("name" = String, Path, description = "Stream name"), PageQuery),
    security(("bearer" = ["streams:read"]), ("session" = ["streams:read"])),
    responses(
        (status = 200, description = "A page of broadcasts", body = Paged<BroadcastView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsRead>,
    Path(name): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<BroadcastView>>, AppError> {
    let Query(page) = page?;
    owned(&state, &caller, &name).await?;
    let found = state.store.broadcasts().page(&name, &page.into()).await?;
    Ok(Json(Paged {
        items: found.items.into_iter().map(BroadcastView::from).collect(),
        next_cursor: found.next_cursor,
    }))
}
