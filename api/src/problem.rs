//! Makes every error under `/api` a problem+json document with the request id, including the
//! ones no handler wrote: unknown routes (404), wrong methods (405), bodies over the limit (413),
//! refused query strings. Non-API paths (pages, LL-HLS) keep their own error bodies.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{PROBLEM_JSON, Problem};
use crate::request_id::RequestId;

/// Error bodies are small; anything larger is replaced rather than buffered.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub(crate) async fn api_problems(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone());
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let is_problem = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let bytes = to_bytes(body, MAX_ERROR_BODY).await.unwrap_or_default();
    let mut problem: serde_json::Value = if is_problem {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| serde_json::json!(Problem::new(status, "")))
    } else {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        let detail = if text.is_empty() { default_detail(status) } else { text };
        serde_json::json!(Problem::new(status, detail))
    };
    if let (Some(id), Some(map)) = (request_id, problem.as_object_mut()) {
        map.insert("request_id".into(), id.into());
    }
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(problem.to_string()))
}

fn default_detail(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "no such API route; see /api/docs".into(),
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method; see /api/docs".into(),
        other => other.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
    }
}

/// The fallback for unknown `/api` paths (other paths get a plain 404).
pub(crate) async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        Problem::new(StatusCode::NOT_FOUND, default_detail(StatusCode::NOT_FOUND))
            .into_response_with(StatusCode::NOT_FOUND)
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}
