//! The HTTP application: the REST API, web pages, metrics, and every other crate's routes mounted
//! beside them on one listener.
//!
//! [`app`] is the one place the HTTP surface is assembled: this crate's routes, the LL-HLS
//! origin (from `ll-hls`), WHIP (from `ingest`) and the chat websocket (from `chat`), under one
//! set of layers (request ids, problem+json errors under `/api`, per-address rate limits, body
//! limit). Only this crate knows the JSON shapes of the REST API, and every `/api` route is
//! described by the OpenAPI document it serves (`openapi`). Who may call what is decided by the
//! `auth` extractor each handler takes; live state comes in through the [`LiveView`] trait,
//! persistent state through `oxcast_store::Store` (this crate owns no SQL).

mod accounts;
pub mod analytics;
pub mod auth;
mod broadcasts;
mod captions;
mod chat_tokens;
pub mod client;
mod direct_uploads;
mod error;
mod json_body;
mod layout;
pub mod limits;
pub mod listener_metrics;
pub mod live_view;
mod metrics;
mod openapi;
mod pages;
mod pagination;
mod playback;
pub mod playback_access;
mod problem;
mod recommend;
pub mod request_id;
mod search;
mod sessions;
mod signing_keys;
mod streams;
pub mod uploads;
mod videos;
pub mod web_assets;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use oxcast_ll_hls::PackagerDirectory;
use oxcast_store::{KnownProfiles, Store};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use client::IpNet;
pub use error::{AppError, Problem};
pub use limits::{ApiLimits, LimitSettings};
pub use live_view::{BoxFuture, LiveStatus, LiveView, RenditionStatus, ViewerCount, ViewerCounts};

/// Request bodies larger than this are refused with 413 (the API only takes small JSON).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Where the outside world reaches this server, for URLs in responses. Responses to a request
/// use [`client::ClientInfo::http_base`] (the scheme and host that client used); URLs meant to be
/// shared (oEmbed, canonical links) use [`PublicUrls::canonical`].
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// e.g. `http://localhost:8080`
    pub http: String,
    /// e.g. `https://localhost:8443`; `None` when the server has no HTTPS listener.
    pub https: Option<String>,
    /// e.g. `rtmp://localhost:1935/live`
    pub rtmp: String,
    /// e.g. `srt://localhost:8890`; `None` when SRT is off.
    pub srt: Option<String>,
}

impl PublicUrls {
    /// The HTTPS base when there is one, else the HTTP base.
    pub fn canonical(&self) -> &str {
        self.https.as_deref().unwrap_or(&self.http)
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Transcoding profile names streams may use, and the default one (from the configuration).
    pub profiles: KnownProfiles,
    pub live: Arc<dyn LiveView>,
    /// The bootstrap admin token: acts for the first admin with every scope.
    pub admin_token: Arc<str>,
    pub urls: PublicUrls,
    /// Viewer counts (`None` when chat/presence is off).
    pub viewers: Option<Arc<dyn ViewerCounts>>,
    pub limits: Arc<ApiLimits>,
    /// Proxies whose `X-Forwarded-For` / `-Proto` are believed.
    pub trusted_proxies: Arc<[IpNet]>,
    /// Resumable uploads (`None`: uploads are off and `/api/uploads` answers 404).
    pub uploads: Option<Arc<uploads::Uploads>>,
    /// Signed playback: the server's signing key, the media-token secret, cached stream access.
    pub playback: playback_access::Signing,
    /// Webhook endpoints may be loopback or private addresses (`[webhooks] allow_private_destinations`).
    pub webhooks_allow_private: bool,
    /// How often players may report playback (per viewer id and per address).
    pub reports: Arc<analytics::ReportLimits>,
    /// This node's search index (`None`: search is off here and `/api/search` answers 503).
    pub search: Option<Arc<oxcast_search::SearchIndex>>,
    /// The HTTP listeners' connection and request counts (kept by the accept loop).
    pub listeners: Arc<listener_metrics::ListenerMetrics>,
    /// Media objects other than playlists are answered with a redirect to a URL of the storage
    /// valid this long (S3 presigned), once access is decided; `None`: served through oxcast.
    pub media_redirect: Option<std::time::Duration>,
    /// Where a CDN serves media objects by key (no trailing `/`): public, unsigned videos'
    /// media other than playlists answer a redirect there.
    pub media_public_base: Option<Arc<str>>,
}

/// The routes other crates serve on the same listener, each with its own state applied.
pub struct Mounts {
    /// Which streams the LL-HLS origin serves (and who watches them).
    pub packagers: Arc<dyn PackagerDirectory>,
    /// `ingest`'s WHIP endpoint, when WebRTC ingest runs.
    pub whip: Option<Router>,
    /// `chat`'s websocket routes, when the chat runs.
    pub chat: Option<Router>,
}

/// Every `/api` route with its OpenAPI document.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(streams::routes())
        .merge(broadcasts::routes())
        .merge(accounts::routes())
        .merge(chat_tokens::routes())
        .merge(uploads::routes())
        .merge(videos::routes())
        .merge(direct_uploads::routes())
        .merge(captions::routes())
        .merge(signing_keys::routes())
        .merge(webhooks::routes())
        .merge(search::routes())
        .merge(analytics::routes())
        .merge(recommend::routes())
        .split_for_parts();
    utoipa::Modify::modify(&openapi::CommonResponses, &mut document);
    (router, document)
}

/// The OpenAPI document of every `/api` route (what `/api/openapi.json` serves).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole HTTP surface.
pub fn app(state: AppState, mounts: Mounts) -> Router {
    let trusted = state.trusted_proxies.clone();
    let (api, document) = api();
    let document = Arc::new(document);
    let state_for_live = state.clone();
    let mut router = Router::new()
        .merge(api)
        .route("/api/openapi.json", get(move || async move { axum::Json(document.as_ref().clone()) }))
        .merge(pages::routes())
        .merge(playback::routes())
        .merge(sessions::routes())
        .merge(metrics::routes())
        .fallback(problem::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::per_address))
        .with_state(state)
        .merge(
            oxcast_ll_hls::router(mounts.packagers)
                .layer(axum::middleware::from_fn_with_state(state_for_live, playback_access::live)),
        );
    if let Some(whip) = mounts.whip {
        router = router.merge(whip);
    }
    if let Some(chat) = mounts.chat {
        router = router.merge(chat);
    }
    router
        .layer(axum::middleware::from_fn(problem::api_problems))
        .layer(axum::middleware::from_fn_with_state(trusted, request_id::assign))
}

#[cfg(test)]
mod tests;
