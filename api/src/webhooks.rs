//! `/api/webhooks`: a user's webhook endpoints (URL, the events they want, the Standard Webhooks
//! secret), a "send test event" action, and each endpoint's delivery log. Destinations are
//! checked against the address rule here (literal addresses) and again on every delivery (the
//! addresses a name resolves to), see `oxcast_webhooks::destination`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use oxcast_store::{Attempt, Endpoint, EventType, NewEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, Caller, WebhooksWrite};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::pagination::{PageQuery, Paged};
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(send_test))
        .routes(routes!(deliveries))
}

/// An endpoint as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EndpointView {
    id: String,
    url: String,
    /// The event types it receives; absent: every type.
    events: Option<Vec<String>>,
    description: String,
    enabled: bool,
    /// The Standard Webhooks signing secret (`whsec_...`): verify `webhook-signature` with it.
    secret: String,
    /// Unix seconds.
    created_at: i64,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            events: e.events.map(|list| list.iter().map(|t| t.as_str().to_owned()).collect()),
            description: e.description,
            enabled: e.enabled,
            secret: e.secret,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEndpoint {
    /// An `http://` or `https://` URL the server POSTs events to.
    #[schema(max_length = 2000)]
    url: String,
    /// Among `stream.started`, `stream.ended`, `video.created`, `video.ready`, `video.failed`,
    /// `recording.ready`, `broadcast.ended`; left out: every type.
    #[serde(default)]
    #[schema(min_items = 1)]
    events: Option<Vec<String>>,
    /// A label, one line, up to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateEndpoint {
    #[serde(default)]
    #[schema(max_length = 2000)]
    url: Option<String>,
    /// The types to receive; `null` for every type.
    #[serde(default, deserialize_with = "serde_with_null::deserialize")]
    #[schema(value_type = Option<Vec<String>>)]
    events: Option<Option<Vec<String>>>,
    #[serde(default)]
    #[schema(max_length = 200)]
    description: Option<String>,
    /// A disabled endpoint receives nothing (queued deliveries to it are dropped).
    #[serde(default)]
    enabled: Option<bool>,
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)`.
mod serde_with_null {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

fn event_types(names: Option<Vec<String>>) -> Result<Option<Vec<EventType>>, AppError> {
    let Some(names) = names else { return Ok(None) };
    let mut types = Vec::new();
    for name in &names {
        let t = EventType::parse(name)?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(Some(types))
}

fn checked_url(state: &AppState, url: &str) -> Result<String, AppError> {
    let url = url.trim();
    oxcast_webhooks::check_url(url, state.webhooks_allow_private)
        .map_err(|e| AppError::BadRequest(format!("url: {e}")))?;
    Ok(url.to_owned())
}

/// Register an endpoint; its signing secret is in the response (and in `GET` of the endpoint).
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks",
    request_body = CreateEndpoint,
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 201, description = "Registered", body = EndpointView),
        (status = 400, description = "Not an http(s) URL, a refused address, an unknown event type, or too many endpoints", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>), AppError> {
    let url = checked_url(&state, &body.url)?;
    let events = event_types(body.events)?;
    let endpoint = state
        .store
        .webhooks()
        .create(NewEndpoint {
            owner_id: &caller.user.id,
            url: &url,
            events,
            description: body.description.as_deref().unwrap_or_default(),
        })
        .await?;
    tracing::info!(endpoint = %endpoint.id, user = %caller.user.name, "webhook endpoint registered");
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// My endpoints (admins: everyone's), newest first.
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks",
    params(PageQuery),
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 200, description = "A page of endpoints", body = Paged<EndpointView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<EndpointView>>, AppError> {
    let Query(page) = page?;
    let endpoints = state.store.webhooks().page(caller.owner_filter(), &page.into()).await?;
    Ok(Json(Paged {
        items: endpoints.items.into_iter().map(EndpointView::from).collect(),
        next_cursor: endpoints.next_cursor,
    }))
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Endpoint, AppError> {
    let endpoint = state.store.webhooks().get(id).await?.ok_or(AppError::NotFound("webhook endpoint"))?;
    if caller.can_see(Some(&endpoint.owner_id)) { Ok(endpoint) } else { Err(AppError::NotFound("webhook endpoint")) }
}

/// One of my endpoints, with its secret.
#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_one(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, AppError> {
    Ok(Json(owned(&state, &caller, &id).await?.into()))
}

/// Change an endpoint's URL, events, description, or turn it off (fields left out stay).
#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateEndpoint,
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 200, description = "The endpoint as it is now", body = EndpointView),
        (status = 400, description = "Not an http(s) URL, a refused address or an unknown event type", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateEndpoint>,
) -> Result<Json<EndpointView>, AppError> {
    let mut endpoint = owned(&state, &caller, &id).await?;
    if let Some(url) = body.url {
        endpoint.url = checked_url(&state, &url)?;
    }
    if let Some(events) = body.events {
        endpoint.events = event_types(events)?;
    }
    if let Some(description) = body.description {
        endpoint.description = description;
    }
    if let Some(enabled) = body.enabled {
        endpoint.enabled = enabled;
    }
    state.store.webhooks().update(&endpoint).await?;
    Ok(Json(owned(&state, &caller, &id).await?.into()))
}

/// Remove an endpoint; deliveries queued for it are dropped.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let endpoint = owned(&state, &caller, &id).await?;
    state.store.webhooks().delete(&endpoint.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A queued test event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestSent {
    /// The `webhook-id` it is delivered with.
    event_id: String,
}

/// Send a `webhook.test` event to this endpoint only (delivered like any other: signed,
/// retried, logged).
#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 202, description = "Queued", body = TestSent),
        (status = 404, description = "No such endpoint of mine", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is disabled", body = Problem, content_type = "application/problem+json"),
    ))]
async fn send_test(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestSent>), AppError> {
    let endpoint = owned(&state, &caller, &id).await?;
    if !endpoint.enabled {
        return Err(AppError::Conflict("the endpoint is disabled; enable it first".into()));
    }
    let data = serde_json::json!({"endpoint_id": endpoint.id, "message": "a test event from oxcast"});
    let event_id = state
        .store
        .webhooks()
        .emit(&endpoint.owner_id, EventType::Test, data, Some(&endpoint.id))
        .await?
        .ok_or(AppError::Conflict("the endpoint is disabled; enable it first".into()))?;
    Ok((StatusCode::ACCEPTED, Json(TestSent { event_id })))
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptView {
    id: String,
    /// The event's `webhook-id` and type.
    event_id: String,
    event_type: String,
    /// 1 for the first attempt of this event at this endpoint.
    attempt: i64,
    /// Unix milliseconds.
    started_at: i64,
    duration_ms: i64,
    /// The receiver's status code, when it answered.
    status_code: Option<i64>,
    /// Why it was not delivered (timeout, refused address, the status).
    error: Option<String>,
    delivered: bool,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id,
            event_id: a.event_id,
            event_type: a.event_type,
            attempt: a.attempt,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error,
            delivered: a.delivered,
        }
    }
}

/// The endpoint's delivery log, newest attempt first.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id"), PageQuery),
    security(("bearer" = ["webhooks:write"]), ("session" = ["webhooks:write"])),
    responses(
        (status = 200, description = "A page of attempts", body = Paged<AttemptView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn deliveries(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<WebhooksWrite>,
    Path(id): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<AttemptView>>, AppError> {
    let Query(page) = page?;
    let endpoint = owned(&state, &caller, &id).await?;
    let attempts = state.store.webhooks().attempts(&endpoint.id, &page.into()).await?;
    Ok(Json(Paged {
        items: attempts.items.into_iter().map(AttemptView::from).collect(),
        next_cursor: attempts.next_cursor,
    }))
}
