//! The OpenAPI 3.1 document, generated from the code: every `/api` route is registered through
//! utoipa-axum's `OpenApiRouter` with its `#[utoipa::path]` (method, path, parameters, bodies,
//! responses, and the scope it needs as its `security`), so a route cannot exist without being
//! described. Served at `/api/openapi.json`; `/api/docs` renders it with Redoc.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, ResponseBuilder};

use crate::auth::SESSION_COOKIE;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "oxcast API",
        description = "Streams, accounts and tokens of an oxcast server. Authenticate with \
            `Authorization: Bearer TOKEN` (an API token from `POST /api/tokens`, or the admin token) \
            or, from the web pages, the session cookie plus `X-CSRF-Token` on changes. Every error is \
            `application/problem+json` (RFC 9457) with the request id; lists page with `limit` and \
            `cursor`; every response carries `X-Request-Id`; too many requests get 429 and `Retry-After`."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "streams", description = "Live streams: keys, settings, live state"),
        (name = "accounts", description = "Users, who am I, API tokens"),
        (name = "chat", description = "Chat identities"),
        (name = "uploads", description = "Resumable uploads (tus 1.0.0)"),
        (name = "videos", description = "The video catalog"),
        (name = "webhooks", description = "Webhook endpoints, test events and the delivery log"),
        (name = "analytics", description = "Playback reports, views, watch time, retention and likes"),
        (name = "recommendations", description = "Up next and home feeds, each item with its reason"),
        (name = "search", description = "Full-text search over videos and live streams, and suggestions as you type"),
        (name = "signed playback", description = "Signing keys and playback tokens for signed streams and videos"),
    )
)]
pub(crate) struct ApiDoc;

/// `bearer` (API token or admin token) and `session` (the login cookie).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (oxt_...) with the scopes the route lists, or the admin token."))
                    .build(),
            ),
        );
        components
            .add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))));
    }
}

/// Answers every route can give, added to each operation (after the routes joined the document)
/// rather than repeated in each `#[utoipa::path]`: 429 (rate limits) everywhere; 401 and 403
/// wherever credentials are required; 413 and 415 where a body is taken.
pub(crate) struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(crate::error::PROBLEM_JSON, Content::new(Some(Ref::from_schema_name("Problem"))))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.entry("429".into()).or_insert_with(|| problem("Too many requests; see Retry-After").into());
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.entry("401".into()).or_insert_with(|| problem("No or invalid credentials").into());
                    responses.entry("403".into()).or_insert_with(|| {
                        problem("The credential lacks the scope, or a session sent no CSRF token").into()
                    });
                }
                if operation.request_body.is_some() {
                    responses.entry("413".into()).or_insert_with(|| problem("Body over 16 KiB").into());
                    responses.entry("415".into()).or_insert_with(|| problem("Body is not application/json").into());
                }
            }
        }
    }
}
