//! WHIP over HTTP: `POST /whip/NAME` (offer in, 201 + answer + Location out), `DELETE` on the
//! session URL, `OPTIONS`/CORS for browsers, `405` for trickle ICE (`PATCH`), which oxcast does
//! not need: its answer already carries every candidate.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower_http::cors::{Any, CorsLayer};

use super::paths;
use super::service::{WhipError, WhipService};

/// SDP offers are a few KiB; anything near this is not one.
const MAX_OFFER_BYTES: usize = 64 * 1024;

impl WhipService {
    /// The WHIP routes; needs `into_make_service_with_connect_info::<SocketAddr>()` for the
    /// publisher's address (falls back to 0.0.0.0:0 without it).
    pub fn router(self: Arc<Self>) -> Router {
        let cors = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::POST, Method::DELETE, Method::PATCH, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MATCH])
            .expose_headers([header::LOCATION, header::ETAG, header::LINK]);
        Router::new()
            .route(paths::ENDPOINT_ROUTE, post(offer))
            .route(paths::SESSION_ROUTE, axum::routing::delete(delete).patch(no_trickle))
            .layer(DefaultBodyLimit::max(MAX_OFFER_BYTES))
            .layer(cors)
            .with_state(self)
    }
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", message.into())).into_response()
}

fn unauthorized(message: impl Into<String>) -> Response {
    let mut response = text(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

async fn offer(
    State(service): State<Arc<WhipService>>,
    Path(name): Path<String>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("application/sdp") {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the SDP offer as Content-Type: application/sdp");
    }
    let Some(key) = bearer(&headers) else {
        return unauthorized("missing Authorization: Bearer STREAM_KEY");
    };
    let Ok(sdp) = String::from_utf8(body.to_vec()) else {
        return text(StatusCode::BAD_REQUEST, "the offer is not UTF-8 text");
    };
    let remote = connect.map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0.0);
    match service.offer(&name, key, sdp, remote).await {
        Ok(answer) => {
            let location = paths::session_path(&name, &answer.session_id);
            let mut response = (StatusCode::CREATED, answer.sdp).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
            if let Ok(v) = HeaderValue::from_str(&location) {
                h.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", answer.session_id)) {
                h.insert(header::ETAG, v);
            }
            response
        }
        Err(err) => {
            let status = match &err {
                WhipError::Unauthorized => StatusCode::UNAUTHORIZED,
                WhipError::BadOffer(_) => StatusCode::BAD_REQUEST,
                WhipError::TooManySessions | WhipError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                WhipError::Negotiation(_) => StatusCode::BAD_REQUEST,
            };
            tracing::warn!(%remote, stream = %name, error = %err, "whip offer refused");
            if status == StatusCode::UNAUTHORIZED {
                unauthorized(err.to_string())
            } else {
                text(status, err.to_string())
            }
        }
    }
}

async fn delete(State(service): State<Arc<WhipService>>, Path((name, id)): Path<(String, String)>) -> Response {
    if service.delete(&name, &id) {
        // A body, not an empty 200: ffmpeg's WHIP muxer reports an empty one as a failed read.
        text(StatusCode::OK, "session ended")
    } else {
        text(StatusCode::NOT_FOUND, "no such WHIP session")
    }
}

async fn no_trickle() -> Response {
    let mut response =
        text(StatusCode::METHOD_NOT_ALLOWED, "trickle ICE is not needed: the answer has every candidate");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
    response
}
