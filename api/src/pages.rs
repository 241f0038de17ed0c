//! Pages served by the binary itself: the player and its script.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::AppState;
use crate::web_assets::{HLS_JS, render_player};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/watch/{name}", get(watch))
        .route("/assets/hls.min.js", get(hls_js))
        .route("/healthz", get(|| async { "ok\n" }))
}

async fn watch(Path(name): Path<String>) -> Html<String> {
    Html(render_player(&name))
}

async fn hls_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript"), (header::CACHE_CONTROL, "public, max-age=86400")], HLS_JS)
}
