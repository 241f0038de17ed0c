//! CORS for the tus routes: answered here, before routing, so pages on other sites can upload.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Uploads may come from pages on other sites (a creator's site handing a browser a
/// direct-upload URL), so the tus routes answer CORS preflights and let any origin read their
/// headers. Credentials are a bearer token or the URL's secret, never cookies across origins
/// (`*` cannot carry them), so this opens nothing a session could be abused through. Written
/// here rather than with tower-http's layer, which takes every OPTIONS for a preflight and would
/// swallow tus discovery.
pub(super) async fn cors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let preflight = request.method() == axum::http::Method::OPTIONS
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let cross_origin = request.headers().contains_key(header::ORIGIN);
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    if preflight || cross_origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(CORS_EXPOSED));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, PATCH, HEAD, DELETE, OPTIONS"),
            );
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_ALLOWED));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
        }
    }
    response
}

const CORS_ALLOWED: &str = "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Metadata, \
     Upload-Offset, Upload-Checksum, Upload-Defer-Length, Upload-Concat, X-Requested-With, X-HTTP-Method-Override";
const CORS_EXPOSED: &str = "Location, Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, Tus-Version, \
     Tus-Extension, Tus-Max-Size, Oxcast-Video-Id";
