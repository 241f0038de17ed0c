//! `/api/signing-keys`: the creator's playback signing keys (made here, the private key
//! returned once, only the public key kept; rotation gives the old key a grace period,
//! revocation refuses it at once), and the convenience endpoints that mint a playback token
//! for a token holder (`POST /api/videos/{id}/playback-tokens`,
//! `POST /api/streams/{name}/playback-tokens`), signed with the server's own key.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use oxcast_signing::{Algorithm, Audience, Claims};
use oxcast_store::SigningKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, Caller, KeysWrite, StreamsRead, VideosRead};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::pagination::{PageQuery, Paged};
use crate::playback_access::MAX_MINTED_SECONDS;
use crate::{AppError, AppState};

/// How long a rotated-out key keeps working by default.
const DEFAULT_GRACE_SECONDS: i64 = 24 * 3600;
const MAX_GRACE_SECONDS: i64 = 30 * 24 * 3600;
const DEFAULT_TOKEN_SECONDS: i64 = 3600;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(rotate))
        .routes(routes!(revoke))
        .routes(routes!(mint_for_video))
        .routes(routes!(mint_for_stream))
}

/// A signing key as its owner sees it (never the private key).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyView {
    /// The `kid` to put in the header of tokens signed with it.
    id: String,
    /// `EdDSA` or `RS256`.
    algorithm: String,
    name: String,
    /// SubjectPublicKeyInfo PEM.
    public_key: String,
    /// `active`, `expiring` (rotated out, still accepted until `expires_at`), `expired` or `revoked`.
    state: String,
    /// Unix seconds.
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<SigningKey> for KeyView {
    fn from(k: SigningKey) -> Self {
        let now = oxcast_media::clock::unix_seconds();
        let state = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(t)) if t <= now => "expired",
            (None, Some(_)) => "expiring",
            (None, None) => "active",
        };
        Self {
            id: k.id,
            algorithm: k.algorithm,
            name: k.name,
            public_key: k.public_key,
            state: state.into(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new key: `private_key` is shown here only; keep it in your backend to sign playback tokens.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    #[serde(flatten)]
    key: KeyView,
    /// PKCS#8 PEM.
    private_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    /// `EdDSA` (the default: Ed25519, short tokens) or `RS256` (RSA 2048).
    #[serde(default)]
    #[schema(pattern = "^(EdDSA|RS256)$")]
    algorithm: Option<String>,
    /// A label ("web backend"), one line, up to 64 characters.
    #[serde(default)]
    #[schema(max_length = 64)]
    name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateKey {
    /// How long the old key keeps working, in seconds (default 86400, at most 30 days; 0 ends it now).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2592000)]
    grace_seconds: Option<i64>,
    /// The new key's algorithm; the old key's when left out.
    #[serde(default)]
    #[schema(pattern = "^(EdDSA|RS256)$")]
    algorithm: Option<String>,
    #[serde(default)]
    #[schema(max_length = 64)]
    name: Option<String>,
}

fn algorithm(name: Option<&str>, default: Algorithm) -> Result<Algorithm, AppError> {
    match name {
        None => Ok(default),
        Some(a) => {
            Algorithm::parse(a).ok_or_else(|| AppError::BadRequest(format!("algorithm {a:?} is not EdDSA or RS256")))
        }
    }
}

async fn make_key(state: &AppState, caller: &Caller, algorithm: Algorithm, name: &str) -> Result<CreatedKey, AppError> {
    let pair = tokio::task::spawn_blocking(move || oxcast_signing::generate(algorithm))
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(|e| AppError::Internal(Box::new(e)))?;
    let stored = state.store.signing_keys().create(&caller.user.id, algorithm.as_str(), name, &pair.public_pem).await?;
    tracing::info!(key = %stored.id, user = %caller.user.name, algorithm = algorithm.as_str(), "signing key created");
    Ok(CreatedKey { key: stored.into(), private_key: pair.private_pem })
}

/// Create a signing key. The response holds the private key, and only this response.
#[utoipa::path(post, path = "/api/signing-keys", tag = "signed playback",
    request_body = CreateKey,
    security(("bearer" = ["keys:write"]), ("session" = ["keys:write"])),
    responses(
        (status = 201, description = "Created; `private_key` is not shown again", body = CreatedKey),
        (status = 400, description = "Unknown algorithm or a bad name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<KeysWrite>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), AppError> {
    let algorithm = algorithm(body.algorithm.as_deref(), Algorithm::EdDsa)?;
    let created = make_key(&state, &caller, algorithm, body.name.as_deref().unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// My signing keys (admins: everyone's), newest first, including rotated-out and revoked ones.
#[utoipa::path(get, path = "/api/signing-keys", tag = "signed playback",
    params(PageQuery),
    security(("bearer" = ["keys:write"]), ("session" = ["keys:write"])),
    responses(
        (status = 200, description = "A page of keys", body = Paged<KeyView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<KeysWrite>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<KeyView>>, AppError> {
    let Query(page) = page?;
    let keys = state.store.signing_keys().page(caller.owner_filter(), &page.into()).await?;
    Ok(Json(Paged { items: keys.items.into_iter().map(KeyView::from).collect(), next_cursor: keys.next_cursor }))
}

async fn owned_key(state: &AppState, caller: &Caller, id: &str) -> Result<SigningKey, AppError> {
    let key = state.store.signing_keys().get(id).await?.ok_or(AppError::NotFound("signing key"))?;
    if caller.can_see(Some(&key.owner_id)) { Ok(key) } else { Err(AppError::NotFound("signing key")) }
}

/// Rotate a key: a new key now (private key in the response), the old one accepted until the
/// grace period ends, so tokens already handed out keep playing.
#[utoipa::path(post, path = "/api/signing-keys/{id}/rotate", tag = "signed playback",
    params(("id" = String, Path, description = "Key id (kid)")),
    request_body = RotateKey,
    security(("bearer" = ["keys:write"]), ("session" = ["keys:write"])),
    responses(
        (status = 201, description = "The new key; `private_key` is not shown again", body = CreatedKey),
        (status = 400, description = "Bad grace period, algorithm or name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key of mine", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<KeysWrite>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RotateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), AppError> {
    let old = owned_key(&state, &caller, &id).await?;
    if old.revoked_at.is_some() {
        return Err(AppError::Conflict("a revoked key cannot be rotated; create a new one".into()));
    }
    let grace = body.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(AppError::BadRequest(format!("grace_seconds must be 0 to {MAX_GRACE_SECONDS}")));
    }
    let default = Algorithm::parse(&old.algorithm).unwrap_or(Algorithm::EdDsa);
    let algorithm = algorithm(body.algorithm.as_deref(), default)?;
    let name = body.name.unwrap_or_else(|| old.name.clone());
    let created = make_key(&state, &caller, algorithm, &name).await?;
    state.store.signing_keys().expire_at(&old.id, oxcast_media::clock::unix_seconds() + grace).await?;
    tracing::info!(old = %old.id, new = %created.key.id, grace, "signing key rotated");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke a key: tokens signed with it are refused from now on.
#[utoipa::path(delete, path = "/api/signing-keys/{id}", tag = "signed playback",
    params(("id" = String, Path, description = "Key id (kid)")),
    security(("bearer" = ["keys:write"]), ("session" = ["keys:write"])),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 404, description = "No such key of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<KeysWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let key = owned_key(&state, &caller, &id).await?;
    state.store.signing_keys().revoke(&key.id).await?;
    tracing::info!(key = %key.id, user = %caller.user.name, "signing key revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MintToken {
    /// `playback` (the default: playlists and media), `thumbnail` (the poster) or `storyboard`.
    #[serde(default)]
    #[schema(pattern = "^(playback|thumbnail|storyboard)$")]
    audience: Option<String>,
    /// Lifetime in seconds (default 3600, at most 7 days).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 604800)]
    ttl_seconds: Option<i64>,
    /// Not valid before this Unix time.
    #[serde(default)]
    #[schema(minimum = 0)]
    not_before: Option<i64>,
}

/// A playback token and the URL it opens.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MintedToken {
    /// A JWT (EdDSA, signed with the server's key); put it in the URL as `?token=`.
    token: String,
    audience: String,
    /// Unix seconds.
    expires_at: i64,
    /// The URL with the token (the multivariant playlist, poster or storyboard track).
    url: String,
}

fn mint(
    state: &AppState,
    sub: &str,
    body: &MintToken,
    url_of: impl Fn(Audience) -> String,
) -> Result<MintedToken, AppError> {
    let audience = match body.audience.as_deref() {
        None => Audience::Playback,
        Some(a) => Audience::parse(a)
            .ok_or_else(|| AppError::BadRequest(format!("audience {a:?} is not playback, thumbnail or storyboard")))?,
    };
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS);
    if !(1..=MAX_MINTED_SECONDS).contains(&ttl) {
        return Err(AppError::BadRequest(format!("ttl_seconds must be 1 to {MAX_MINTED_SECONDS}")));
    }
    if body.not_before.is_some_and(|t| t < 0) {
        return Err(AppError::BadRequest("not_before must be a Unix time".into()));
    }
    let expires_at = oxcast_media::clock::unix_seconds() + ttl;
    let nbf = body.not_before.map(|t| t.unsigned_abs());
    let token = state.playback.mint(&Claims::new(sub, audience, expires_at.unsigned_abs(), nbf));
    Ok(MintedToken {
        url: format!("{}?token={token}", url_of(audience)),
        token,
        audience: audience.as_str().into(),
        expires_at,
    })
}

/// Mint a playback token for one of my videos (signed with the server's key).
#[utoipa::path(post, path = "/api/videos/{id}/playback-tokens", tag = "signed playback",
    params(("id" = String, Path, description = "Video id")),
    request_body = MintToken,
    security(("bearer" = ["videos:read"]), ("session" = ["videos:read"])),
    responses(
        (status = 201, description = "A token", body = MintedToken),
        (status = 400, description = "Bad audience, lifetime or start", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such video of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mint_for_video(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosRead>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MintToken>,
) -> Result<(StatusCode, Json<MintedToken>), AppError> {
    let video = crate::videos::owned(&state, &caller, &id).await?;
    let minted = mint(&state, &video.id, &body, |audience| {
        let file = match audience {
            Audience::Playback => oxcast_vod::layout::MULTIVARIANT,
            Audience::Thumbnail => oxcast_vod::layout::POSTER,
            Audience::Storyboard => oxcast_vod::layout::STORYBOARD_TRACK,
        };
        format!("/vod/{}/{file}", video.id)
    })?;
    Ok((StatusCode::CREATED, Json(minted)))
}

/// Mint a playback token for one of my streams (signed with the server's key).
#[utoipa::path(post, path = "/api/streams/{name}/playback-tokens", tag = "signed playback",
    params(("name" = String, Path, description = "Stream name")),
    request_body = MintToken,
    security(("bearer" = ["streams:read"]), ("session" = ["streams:read"])),
    responses(
        (status = 201, description = "A token", body = MintedToken),
        (status = 400, description = "Bad audience, lifetime or start", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my streams", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mint_for_stream(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<StreamsRead>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<MintToken>,
) -> Result<(StatusCode, Json<MintedToken>), AppError> {
    let stream = crate::streams::owned(&state, &caller, &name).await?;
    if body.audience.as_deref().is_some_and(|a| a != "playback") {
        return Err(AppError::BadRequest("streams only have the playback audience".into()));
    }
    let minted = mint(&state, &stream.name, &body, |_| format!("/live/{}/index.m3u8", stream.name))?;
    Ok((StatusCode::CREATED, Json(minted)))
}
