//! `/api/streams`: a user's streams (create, list, describe, configure, rotate keys) and every
//! stream's public live state. Another user's stream answers 404 to everything but the public
//! status, so names cannot be probed for ownership.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use oxcast_store::{StreamDetails, StreamRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, Caller, StreamsRead, StreamsWrite};
use crate::client::{Client, ClientInfo};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::live_view::LiveStatus;
use crate::pagination::{PageQuery, Paged};
use crate::{AppError, AppState, ViewerCount};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(status, update))
        .routes(routes!(rotate_key))
        .routes(routes!(set_profile))
        .routes(routes!(set_srt_passphrase))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateStream {
    /// Letters, digits, `-` and `_`; 1 to 64. One namespace for all users, like channel names.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    name: String,
    /// Transcoding profile; the server default when absent.
    #[serde(default)]
    profile: Option<String>,
    /// Admins only: create the stream for this user (by login name) instead of themselves.
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateStream {
    /// One line, up to 140 characters.
    #[serde(default)]
    #[schema(max_length = 140)]
    title: Option<String>,
    /// Up to 5000 characters.
    #[serde(default)]
    description: Option<String>,
    /// One line, up to 64 characters.
    #[serde(default)]
    category: Option<String>,
    /// `public` (listed), `unlisted` (by URL only) or `private` (only me).
    #[serde(default)]
    #[schema(pattern = "^(public|unlisted|private)$")]
    privacy: Option<String>,
    /// `public` (the URL is enough) or `signed` (the URL needs a playback token).
    #[serde(default)]
    #[schema(pattern = "^(public|signed)$")]
    playback_policy: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetProfile {
    /// A profile name, or null for the server default.
    profile: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetSrtPassphrase {
    /// 10 to 79 characters, or null for unencrypted SRT.
    #[schema(min_length = 10, max_length = 79)]
    passphrase: Option<String>,
}

/// A stream's key and where to publish with it (shown at creation and rotation only).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedStream {
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
    fn new(state: &AppState, client: &ClientInfo, name: String, key: &str) -> Self {
        let http = &client.http_base(&state.urls);
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

/// A profile change, and when it applies.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProfileSet {
    name: String,
    /// The profile in effect from the next publish.
    profile: String,
    /// Always `next publish`: a live session keeps the ladder it started with.
    applies: String,
}

/// An SRT encryption change, and when it applies.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PassphraseSet {
    name: String,
    srt_encrypted: bool,
    /// Always `next publish`: a connected publisher is not interrupted.
    applies: String,
}

/// A stream: what it is, how it is configured, and its live state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamSummary {
    name: String,
    title: String,
    description: String,
    category: String,
    /// Transcoding profile in effect for the next publish.
    profile: String,
    /// SRT publishers must encrypt with the stream's passphrase.
    srt_encrypted: bool,
    /// `public`, `unlisted` or `private`.
    privacy: String,
    /// `public` or `signed` (playback URLs need `?token=`).
    playback_policy: String,
    /// Broadcasts are recorded: `true`, `false`, or `null` for the server's default.
    record: Option<bool>,
    /// Where OBS publishes (the key is shown only at creation and rotation).
    rtmp_url: String,
    /// Distinct viewers now and at the peak (absent when they cannot be counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    viewers: Option<ViewerCount>,
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
            live: state.live.status(&record.name).await,
            profile: state.profiles.effective(record.profile.as_deref()).to_owned(),
            srt_encrypted: record.srt_encrypted,
            privacy: record.privacy.as_str().into(),
            playback_policy: record.playback.as_str().into(),
            record: record.record,
            rtmp_url: state.urls.rtmp.clone(),
            viewers,
            title: record.details.title,
            description: record.details.description,
            category: record.details.category,
            name: record.name,
        }
    }
}

/// The caller's stream `name`, or 404 (also for someone else's).
pub(crate) async fn owned(state: &AppState, caller: &Caller, name: &str) -> Result<StreamRecord, AppError> {
    let record = state.store.streams().get(name).await?.ok_or(AppError::NotFound("stream"))?;
    if caller.can_see(record.owner_id.as_deref()) { Ok(record) } else { Err(AppError::NotFound("stream")) }
}

/// Create a stream; its key is in the response, and only there.
#[utoipa::path(post, path = "/api/streams", tag = "streams",
    request_body = CreateStream,
    security(("bearer" = ["streams:write"]), ("session" = ["streams:write"])),
    responses(
        (status = 201, description = "Created", body = CreatedStream),
        (status = 400, description = "Invalid name, profile or owner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    Authorized { caller, .. }: Authorized<StreamsWrite>,
    JsonBody(body): JsonBody<CreateStream>,
) -> Result<(StatusCode, Json<CreatedStream>), AppError> {
    let profile = state.profiles.check_optional(body.profile.as_deref())?;
    let owner = match &body.owner {
        Some(name) if caller.is_admin() => state
            .store
            .users()
            .by_name(name)
            .await?
            .ok_or_else(|| AppError::BadRequest(format!("no user named {name}")))?,
        Some(_) => return Err(AppError::Forbidden("only admins create streams for others".into())),
        None => caller.user.clone(),
    };
    let details = StreamDetails {
        title: body.title.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
        category: body.category.unwrap_or_default(),
    }
    .checked()?;
    let created = state.store.streams().create(&body.name, &owner.id, profile.as_ref()).await?;
    state.store.streams().set_details(&created.name, details).await?;
    tracing::info!(stream = %created.name, owner = %owner.name, "stream created");
    Ok((StatusCode::CREATED, Json(CreatedStream::new(&state, &client, created.name, created.key.as_str()))))
}

/// List my streams (admins: everyone's), by name, a page at a time.
#[utoipa::path(get, path = "/api/streams", tag = "streams",
    params(PageQuery),
    security(("bearer" = ["streams:read"]), ("session" = ["streams:read"])),
    responses(
        (status = 200, description = "A page of streams", body = Paged<StreamSummary>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsRead>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<StreamSummary>>, AppError> {
    let Query(page) = page?;
    let records = state.store.streams().page(caller.owner_filter(), &page.into()).await?;
    let mut items = Vec::with_capacity(records.items.len());
    for record in records.items {
        items.push(StreamSummary::of(&state, record).await);
    }
    Ok(Json(Paged { items, next_cursor: records.next_cursor }))
}

/// A stream's public state: title, live or offline, renditions, viewers. Anyone may ask,
/// but a private stream answers 404 to everyone but its owner.
#[utoipa::path(get, path = "/api/streams/{name}", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses(
        (status = 200, description = "The stream", body = StreamSummary),
        (status = 404, description = "No such stream", body = Problem, content_type = "application/problem+json"),
    ))]
async fn status(
    State(state): State<AppState>,
    crate::playback::Head(parts): crate::playback::Head,
    Path(name): Path<String>,
) -> Result<Json<StreamSummary>, AppError> {
    let record = state.store.streams().get(&name).await?.ok_or(AppError::NotFound("stream"))?;
    if record.privacy == oxcast_store::Privacy::Private {
        let caller = crate::auth::authenticate(&parts, &state).await.ok().flatten();
        if !caller.is_some_and(|c| c.can_see(record.owner_id.as_deref())) {
            return Err(AppError::NotFound("stream"));
        }
    }
    Ok(Json(StreamSummary::of(&state, record).await))
}

/// Change a stream's title, description, category, privacy or playback policy (fields left out
/// stay as they are). Access changes apply to the next request on this node, within seconds on
/// others.
#[utoipa::path(patch, path = "/api/streams/{name}", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = UpdateStream,
    security(("bearer" = ["streams:write"]), ("session" = ["streams:write"])),
    responses(
        (status = 200, description = "The stream as it is now", body = StreamSummary),
        (status = 400, description = "A field is too long, has control characters, or is not one of the allowed values", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsWrite>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UpdateStream>,
) -> Result<Json<StreamSummary>, AppError> {
    let record = owned(&state, &caller, &name).await?;
    let current = record.details;
    let details = StreamDetails {
        title: body.title.unwrap_or(current.title),
        description: body.description.unwrap_or(current.description),
        category: body.category.unwrap_or(current.category),
    };
    let privacy = match body.privacy {
        Some(p) => oxcast_store::Privacy::parse(&p)?,
        None => record.privacy,
    };
    let playback = match body.playback_policy {
        Some(p) => oxcast_store::PlaybackPolicy::parse(&p)?,
        None => record.playback,
    };
    state.store.streams().set_details(&name, details).await?;
    if (privacy, playback) != (record.privacy, record.playback) {
        state.store.streams().set_access(&name, privacy, playback).await?;
        state.playback.forget_stream(&name);
        tracing::info!(stream = %name, privacy = privacy.as_str(), playback = playback.as_str(), "stream access changed");
    }
    let record = owned(&state, &caller, &name).await?;
    Ok(Json(StreamSummary::of(&state, record).await))
}

/// Replace a stream's key; the old one stops working for new publishers at once.
#[utoipa::path(post, path = "/api/streams/{name}/rotate-key", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    security(("bearer" = ["streams:write"]), ("session" = ["streams:write"])),
    responses(
        (status = 200, description = "The new key", body = CreatedStream),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate_key(
    State(state): State<AppState>,
    Client(client): Client,
    Authorized { caller, .. }: Authorized<StreamsWrite>,
    Path(name): Path<String>,
) -> Result<Json<CreatedStream>, AppError> {
    owned(&state, &caller, &name).await?;
    let key = state.store.streams().rotate_key(&name).await?.ok_or(AppError::NotFound("stream"))?;
    Ok(Json(CreatedStream::new(&state, &client, name, key.as_str())))
}

/// Choose a stream's transcoding profile (applies from the next publish).
#[utoipa::path(put, path = "/api/streams/{name}/profile", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = SetProfile,
    security(("bearer" = ["streams:write"]), ("session" = ["streams:write"])),
    responses(
        (status = 200, description = "Set", body = ProfileSet),
        (status = 400, description = "Unknown profile", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_profile(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsWrite>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SetProfile>,
) -> Result<Json<ProfileSet>, AppError> {
    owned(&state, &caller, &name).await?;
    let profile = state.profiles.check_optional(body.profile.as_deref())?;
    if !state.store.streams().set_profile(&name, profile.as_ref()).await? {
        return Err(AppError::NotFound("stream"));
    }
    let effective = state.profiles.effective(body.profile.as_deref()).to_owned();
    Ok(Json(ProfileSet { name, profile: effective, applies: "next publish".into() }))
}

/// Require SRT publishers to encrypt with a passphrase (null: unencrypted).
#[utoipa::path(put, path = "/api/streams/{name}/srt-passphrase", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = SetSrtPassphrase,
    security(("bearer" = ["streams:write"]), ("session" = ["streams:write"])),
    responses(
        (status = 200, description = "Set", body = PassphraseSet),
        (status = 400, description = "Not 10 to 79 characters", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_srt_passphrase(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsWrite>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SetSrtPassphrase>,
) -> Result<Json<PassphraseSet>, AppError> {
    owned(&state, &caller, &name).await?;
    if !state.store.streams().set_srt_passphrase(&name, body.passphrase.as_deref()).await? {
        return Err(AppError::NotFound("stream"));
    }
    Ok(Json(PassphraseSet { name, srt_encrypted: body.passphrase.is_some(), applies: "next publish".into() }))
}
