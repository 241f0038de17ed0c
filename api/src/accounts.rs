//! Users and their API tokens: `/api/users` (admins make and list accounts), `/api/me` (who am
//! I, with what scopes), `/api/tokens` (my tokens: create, list, revoke). Tokens are managed by a
//! person (a login session, or the admin token), never by another token: a leaked token must not
//! be able to mint a sibling that outlives its revocation, or revoke its owner's other tokens. A
//! new token's scopes must be among the caller's own.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use oxcast_store::{ApiToken, NewUser, Role, Scopes, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AdminOnly, AnyCaller, Authorized, Credential, PersonOnly};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::pagination::{PageQuery, Paged};
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(me))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// A user as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    id: String,
    name: String,
    display_name: String,
    /// `admin` or `creator`.
    role: String,
    /// Whether they can log in on the web.
    has_password: bool,
    /// Unix seconds.
    created_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            name: u.name,
            display_name: u.display_name,
            role: u.role.as_str().into(),
            has_password: u.has_password,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    /// Login name: letters, digits, `-` and `_`; stored lowercase.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    /// 8 to 256 characters; without one the user has no web login (tokens only).
    #[serde(default)]
    #[schema(min_length = 8, max_length = 256)]
    password: Option<String>,
    /// `creator` (default) or `admin`.
    #[serde(default)]
    #[schema(pattern = "^(admin|creator)$")]
    role: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/api/users", tag = "accounts",
    request_body = CreateUser,
    security(("bearer" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Bad name, password or role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_user(
    State(state): State<AppState>,
    _admin: Authorized<AdminOnly>,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), AppError> {
    let role = match body.role.as_deref() {
        None | Some("creator") => Role::Creator,
        Some("admin") => Role::Admin,
        Some(other) => return Err(AppError::BadRequest(format!("role {other:?} is neither admin nor creator"))),
    };
    let user = state
        .store
        .users()
        .create(NewUser {
            name: &body.name,
            display_name: body.display_name.as_deref(),
            password: body.password.as_deref(),
            role,
        })
        .await?;
    tracing::info!(user = %user.name, role = role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// List users by name, a page at a time.
#[utoipa::path(get, path = "/api/users", tag = "accounts",
    params(PageQuery),
    security(("bearer" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 200, description = "A page of users", body = Paged<UserView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_users(
    State(state): State<AppState>,
    _admin: Authorized<AdminOnly>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<UserView>>, AppError> {
    let Query(page) = page?;
    let users = state.store.users().list(&page.into()).await?;
    Ok(Json(Paged { items: users.items.into_iter().map(UserView::from).collect(), next_cursor: users.next_cursor }))
}

/// Who the credentials belong to and what they may do.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    user: UserView,
    scopes: Vec<String>,
    /// `admin_token`, `api_token` or `session`.
    credential: String,
    /// With a session: the CSRF token to send in `X-CSRF-Token` with every change.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// Who am I?
#[utoipa::path(get, path = "/api/me", tag = "accounts",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
    ))]
async fn me(Authorized { caller, .. }: Authorized<AnyCaller>) -> Json<Me> {
    let (credential, csrf_token) = match &caller.credential {
        Credential::AdminToken => ("admin_token", None),
        Credential::ApiToken { .. } => ("api_token", None),
        Credential::Session { csrf_token } => ("session", Some(csrf_token.clone())),
    };
    Json(Me {
        scopes: caller.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        user: caller.user.into(),
        credential: credential.into(),
        csrf_token,
    })
}

/// An API token as its owner sees it (the secret is shown once, at creation).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// `tok_...`: names the token for revocation.
    id: String,
    name: String,
    scopes: Vec<String>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds, to the minute; null if never used.
    last_used_at: Option<i64>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            scopes: t.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// A label for the owner ("CI uploads").
    name: String,
    /// Among `streams:read`, `streams:write`, `videos:read`, `videos:write`, `webhooks:write`, `keys:write`,
    /// `admin`; each must be one the caller holds.
    scopes: Vec<String>,
}

/// A new token: `token` is the secret, shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    view: TokenView,
    /// Send as `Authorization: Bearer oxt_...`.
    token: String,
}

/// Create an API token for myself.
#[utoipa::path(post, path = "/api/tokens", tag = "accounts",
    request_body = CreateToken,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Bad name or scopes", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_token(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<PersonOnly>,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    let scopes = Scopes::parse(body.scopes.iter().map(String::as_str))?;
    if let Some(missing) = scopes.iter().find(|s| !caller.scopes.contains(*s)) {
        return Err(AppError::Forbidden(format!("cannot grant {missing}: this credential does not hold it")));
    }
    let (token, secret) = state.store.api_tokens().create(&caller.user, &body.name, &scopes).await?;
    tracing::info!(user = %caller.user.name, token = %token.id, scopes = %token.scopes.to_stored(), "API token created");
    Ok((StatusCode::CREATED, Json(CreatedToken { view: token.into(), token: secret.as_str().to_owned() })))
}

/// List my API tokens, oldest first.
#[utoipa::path(get, path = "/api/tokens", tag = "accounts",
    params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of tokens", body = Paged<TokenView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_tokens(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<PersonOnly>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<TokenView>>, AppError> {
    let Query(page) = page?;
    let tokens = state.store.api_tokens().list(&caller.user.id, &page.into()).await?;
    Ok(Json(Paged { items: tokens.items.into_iter().map(TokenView::from).collect(), next_cursor: tokens.next_cursor }))
}

/// Revoke one of my API tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Token id (tok_...)")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "Not one of my tokens", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_token(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<PersonOnly>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if state.store.api_tokens().revoke(&caller.user.id, &id).await? {
        tracing::info!(user = %caller.user.name, token = %id, "API token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("token"))
    }
}
