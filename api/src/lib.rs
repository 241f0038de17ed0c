//! The HTTP application: REST API, web pages, metrics, and every other crate's routes mounted
//! beside them on one listener.
//!
//! [`app`] is the one place the HTTP surface is assembled: this crate's routes, the LL-HLS
//! origin (from `ll-hls`), WHIP (from `ingest`) and the chat websocket (from `chat`). Only this
//! crate knows the JSON shapes of the REST API. Live state comes in through the [`LiveView`]
//! trait (implemented by the binary's registry), persistent state through `oxcast_store::Store`
//! (this crate owns no SQL). Who may call what is decided by route layers (`auth`), not inside
//! handlers.

mod auth;
mod chat_tokens;
mod error;
pub mod live_view;
mod metrics;
mod pages;
mod streams;
pub mod web_assets;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use oxcast_ll_hls::PackagerDirectory;
use oxcast_store::{KnownProfiles, Store};

pub use error::AppError;
pub use live_view::{LiveStatus, LiveView, RenditionStatus, ViewerCount, ViewerCounts};

/// Request bodies larger than this are refused with 413 (the API only takes small JSON).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Where the outside world reaches this server, for URLs in responses.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// e.g. `http://localhost:8080`
    pub http: String,
    /// e.g. `rtmp://localhost:1935/live`
    pub rtmp: String,
    /// e.g. `srt://localhost:8890`; `None` when SRT is off.
    pub srt: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Transcoding profile names streams may use, and the default one (from the configuration).
    pub profiles: KnownProfiles,
    pub live: Arc<dyn LiveView>,
    pub admin_token: Arc<str>,
    pub urls: PublicUrls,
    /// Viewer counts (`None` when chat/presence is off).
    pub viewers: Option<Arc<dyn ViewerCounts>>,
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

/// The whole HTTP surface.
pub fn app(state: AppState, mounts: Mounts) -> Router {
    let admin = Router::new()
        .merge(streams::admin_routes())
        .merge(chat_tokens::admin_routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_admin));
    let mut router = Router::new()
        .merge(admin)
        .merge(streams::public_routes())
        .merge(pages::routes())
        .merge(metrics::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(oxcast_ll_hls::router(mounts.packagers));
    if let Some(whip) = mounts.whip {
        router = router.merge(whip);
    }
    if let Some(chat) = mounts.chat {
        router = router.merge(chat);
    }
    router
}

#[cfg(test)]
mod tests;
