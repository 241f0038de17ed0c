//! Who may send an upload's bytes: a token or session with `videos:write`, or the secret of the
//! one-time direct-upload URL that created it.

use crate::auth::{Authorized, Caller, VideosWrite};
use crate::{AppError, AppState};

/// Who is uploading: a token holder or session (`Authorized<VideosWrite>`, the usual way), or a
/// browser holding a one-time direct-upload URL (`?direct=SECRET`, minted by
/// `POST /api/videos/direct-uploads`), which reaches only the one upload it created.
pub(crate) enum UploadAccess {
    Caller(Caller),
    Direct(String),
}

impl axum::extract::FromRequestParts<AppState> for UploadAccess {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, AppError> {
        let direct = parts
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("direct=")).map(str::to_owned));
        match direct {
            Some(secret) if !secret.is_empty() => Ok(UploadAccess::Direct(secret)),
            _ => Ok(UploadAccess::Caller(Authorized::<VideosWrite>::from_request_parts(parts, state).await?.caller)),
        }
    }
}
