//! The HTTP application: REST API, web pages, metrics, and the LL-HLS origin mounted beside them.
//!
//! Only this crate knows the JSON shapes of the REST API. Live state comes in through the
//! [`LiveView`] trait (implemented by the binary's registry), persistent state through
//! [`StreamStore`] (sqlx; SQLite by default).

mod error;
pub mod live_view;
mod metrics;
mod pages;
pub mod store;
mod streams;
pub mod web_assets;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use oxcast_ll_hls::PackagerDirectory;

pub use error::AppError;
pub use live_view::{LiveStatus, LiveView, RenditionStatus, ViewerCount, ViewerCounts};
pub use store::{ChatTokenHolder, KeyedStream, NewStream, StoreError, StreamKey, StreamStore};

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

/// What OBS's Server field takes for SRT: the listener plus the streamid carrying the key.
pub fn srt_publish_url(srt: &str, key: &str) -> String {
    format!("{srt}?streamid=#!::r={key},m=publish")
}

#[derive(Clone)]
pub struct AppState {
    pub store: StreamStore,
    /// Transcoding profile names streams may use, and the default one.
    pub profiles: Arc<[String]>,
    pub default_profile: Arc<str>,
    pub live: Arc<dyn LiveView>,
    pub admin_token: Arc<str>,
    pub urls: PublicUrls,
    /// Viewer counts (`None` when chat/presence is off).
    pub viewers: Option<Arc<dyn ViewerCounts>>,
}

/// The whole HTTP surface.
pub fn app(state: AppState, packagers: Arc<dyn PackagerDirectory>) -> Router {
    Router::new()
        .merge(streams::routes())
        .merge(pages::routes())
        .merge(metrics::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(oxcast_ll_hls::router(packagers))
}
