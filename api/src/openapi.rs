//! The OpenAPI 3.1 document, generated from the code: every `/api` route is registered through
//! utoipa-axum's `OpenApiRouter` with its `#[utoipa::path]` (method, path, parameters, bodies,
//! responses, and the scope it needs as its `security`), so a route cannot exist without being
//! described. Served at `/api/openapi.json`; `/api/docs` renders it with Redoc.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

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
