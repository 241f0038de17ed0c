//! `/api/uploads`: resumable uploads, tus 1.0.0 (core, creation, creation-with-upload,
//! termination, expiration, checksum with sha1). Each upload is a video in `uploading`; its
//! bytes are `oxcast_vod::UploadParts` in storage, so the offset survives a restart and a cut
//! connection keeps every byte that arrived. When the last byte lands, the video goes to
//! `processing` and a `process_video` job is queued.
//!
//! Written here rather than taken from a tus crate: the protocol is a handful of headers, and
//! it has to sit on this crate's auth (`videos:write`), problem+json errors, the store's catalog
//! and the vod crate's part storage. The real clients (tus-js-client, tuspy) test it.

mod access;
mod cors;
mod lease;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::{StreamExt, TryStreamExt};
use oxcast_store::{NewVideo, Privacy, Video, VideoDetails, VideoStatus};
use oxcast_vod::{AppendError, UploadParts};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use access::UploadAccess;
pub use lease::UPLOAD_LEASE;

use crate::client::Client;
use crate::error::Problem;
use crate::{AppError, AppState};

pub const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
/// An upload nobody touched for this long is removed with its bytes.
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 3600);
pub use oxcast_vod::PROCESS_VIDEO;
/// Room kept free on the media disk beyond what an upload needs (renditions, the database).
pub const FREE_SPACE_RESERVE: u64 = 64 * 1024 * 1024;

/// What uploads need: where the bytes go and the size limit (which upload has a request running
/// is a lease in the database: [`lease`]).
#[derive(Debug)]
pub struct Uploads {
    pub parts: UploadParts,
    /// Largest upload accepted (config `vod.max_upload_bytes`).
    pub max_bytes: u64,
    /// Wakes the processing worker when an upload completes (so it does not wait for its poll).
    processing: Option<Arc<tokio::sync::Notify>>,
}

impl Uploads {
    pub fn new(parts: UploadParts, max_bytes: u64) -> Self {
        Self { parts, max_bytes, processing: None }
    }

    /// Completed uploads wake this processing worker.
    pub fn with_processing(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.processing = Some(wake);
        self
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, options))
        .routes(routes!(head, patch, terminate))
        // Upload bodies are the one thing larger than the API's 16 KiB limit.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(cors::cors))
}

fn uploads(state: &AppState) -> Result<&Arc<Uploads>, AppError> {
    state.uploads.as_ref().ok_or(AppError::NotFound("upload service"))
}

/// A tus response: `Tus-Resumable` and, when given, the offset and (while the upload is open)
/// its expiry. (Which headers browsers may read is the CORS layer's, see [`cors`].)
fn tus_response(status: StatusCode, offset: Option<u64>, video: Option<&Video>) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    if let Some(offset) = offset {
        h.insert("upload-offset", HeaderValue::from(offset));
    }
    if let Some(video) = video.filter(|v| v.status == VideoStatus::Uploading) {
        insert(h, HeaderName::from_static("upload-expires"), &expires_at(video));
    }
    response
}

/// The request speaks tus 1.0.0 (else 412, naming the version this server speaks).
fn check_resumable(headers: &HeaderMap) -> Result<(), AppError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(AppError::PreconditionFailed(format!("send Tus-Resumable: {TUS_VERSION}"))),
    }
}

fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| AppError::BadRequest(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

/// `Upload-Metadata`: `key base64,key base64,...` (a key may come without a value).
fn metadata(headers: &HeaderMap) -> Result<Vec<(String, String)>, AppError> {
    let Some(raw) = headers.get("upload-metadata") else { return Ok(Vec::new()) };
    let raw = raw.to_str().map_err(|_| AppError::BadRequest("Upload-Metadata is not ASCII".into()))?;
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| AppError::BadRequest(format!("Upload-Metadata value of {key:?} is not base64")))?;
        let value = String::from_utf8(decoded)
            .map_err(|_| AppError::BadRequest(format!("Upload-Metadata value of {key:?} is not UTF-8")))?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// The video's details from the metadata tus clients send (`filename` is the title's fallback).
fn details(meta: &[(String, String)]) -> Result<(VideoDetails, Option<String>), AppError> {
    let get = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let title = get("title").or(get("filename")).unwrap_or_default();
    let privacy = match get("privacy") {
        Some(p) => Privacy::parse(p)?,
        None => Privacy::Private,
    };
    let tags = get("tags").map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect());
    let details = VideoDetails {
        title: title.chars().take(oxcast_store::MAX_VIDEO_TITLE_CHARS).collect(),
        description: get("description").unwrap_or_default().to_owned(),
        tags: tags.unwrap_or_default(),
        category: get("category").unwrap_or_default().to_owned(),
        language: get("language").unwrap_or_default().to_owned(),
        privacy,
        playback: match get("playback_policy") {
            Some(p) => oxcast_store::PlaybackPolicy::parse(p)?,
            None => oxcast_store::PlaybackPolicy::Public,
        },
    };
    Ok((details, get("profile").map(str::to_owned)))
}

fn expires_at(video: &Video) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(video.updated_at).unwrap_or(0)) + UPLOAD_EXPIRY;
    httpdate(at)
}

/// An RFC 9110 IMF-fixdate.
fn httpdate(t: std::time::SystemTime) -> String {
    let secs = oxcast_media::clock::since_epoch(t).as_secs();
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month_name =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}

fn expired(video: &Video) -> bool {
    video.updated_at.saturating_add(i64::try_from(UPLOAD_EXPIRY.as_secs()).unwrap_or(i64::MAX))
        < oxcast_media::clock::unix_seconds()
}

/// The upload `id` if `access` reaches it, and not expired; else 404 (an expired one is
/// removed on the way).
async fn upload(state: &AppState, access: &UploadAccess, id: &str) -> Result<Video, AppError> {
    let video = state.store.videos().get(id).await?.ok_or(AppError::NotFound("upload"))?;
    let allowed = match access {
        UploadAccess::Caller(caller) => caller.can_see(Some(&video.owner_id)),
        UploadAccess::Direct(secret) => state.store.direct_uploads().authorizes(secret, &video.id).await?,
    };
    if !allowed {
        return Err(AppError::NotFound("upload"));
    }
    if video.status == VideoStatus::Uploading && expired(&video) {
        remove(state, &video.id).await?;
        return Err(AppError::NotFound("upload"));
    }
    Ok(video)
}

async fn remove(state: &AppState, id: &str) -> Result<(), AppError> {
    uploads(state)?.parts.discard(id).await?;
    state.store.videos().delete(id).await?;
    Ok(())
}

/// Errors of the part storage that are the server's, not the client's.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PartStorageError(#[from] AppendError);

impl From<AppendError> for AppError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::ChecksumMismatch => AppError::ChecksumMismatch,
            AppendError::Storage(oxcast_vod::StorageError::Full(_)) => {
                AppError::InsufficientStorage("the server's storage filled up while writing".into())
            }
            AppendError::InvalidId(_) => AppError::NotFound("upload"),
            AppendError::Storage(e @ oxcast_vod::StorageError::Io { .. }) => {
                tracing::warn!(error = %e, "media storage unavailable during an upload");
                AppError::StorageUnavailable
            }
            other => AppError::Internal(Box::new(PartStorageError(other))),
        }
    }
}

/// The bytes of a PATCH (or creation-with-upload) body go to the parts; a finished upload is
/// handed to processing. Returns the new offset.
async fn receive(state: &AppState, video: &Video, headers: &HeaderMap, body: Body) -> Result<u64, AppError> {
    let uploads = uploads(state)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type != "application/offset+octet-stream" {
        return Err(AppError::UnsupportedMediaType(
            "send upload bytes as Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let sha1 = match headers.get("upload-checksum").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => {
            let (algorithm, digest) = value.split_once(' ').unwrap_or((value, ""));
            if !algorithm.eq_ignore_ascii_case("sha1") {
                return Err(AppError::BadRequest(format!(
                    "checksum algorithm {algorithm:?} is not supported; use sha1"
                )));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(digest.trim())
                .ok()
                .and_then(|b| <[u8; 20]>::try_from(b).ok())
                .ok_or_else(|| AppError::BadRequest("Upload-Checksum: sha1 needs a base64 SHA-1 digest".into()))?;
            Some(bytes)
        }
    };
    let Some(_running) = lease::take(&state.store, &video.id).await? else {
        return Err(AppError::Locked("another request is uploading to this upload right now".into()));
    };
    let (offset, _) = uploads.parts.offset(&video.id).await?;
    if let Some(claimed) = number(headers, "upload-offset")?
        && claimed != offset
    {
        return Err(AppError::Conflict(format!("Upload-Offset {claimed} is not the upload's offset {offset}")));
    }
    let length = video.upload_size.and_then(|l| u64::try_from(l).ok()).unwrap_or(uploads.max_bytes);
    let room = length.saturating_sub(offset);
    check_room(uploads, room).await?;
    let stream = body.into_data_stream().map_err(std::io::Error::other).boxed();
    let appended = uploads.parts.append(&video.id, stream, room, sha1).await?;
    let now = offset + appended.bytes;
    state.store.videos().set_received(&video.id, i64::try_from(now).unwrap_or(i64::MAX), None).await?;
    if appended.overflowed {
        return Err(AppError::PayloadTooLarge);
    }
    if now == length {
        complete(state, video, now).await?;
    }
    Ok(now)
}

/// The last byte is in: the video goes to processing and its job is queued.
async fn complete(state: &AppState, video: &Video, bytes: u64) -> Result<(), AppError> {
    state.store.videos().start_processing(&video.id).await?;
    let payload = serde_json::json!({ "video": video.id }).to_string();
    let job = state.store.jobs().enqueue(PROCESS_VIDEO, &payload, oxcast_vod::PROCESS_ATTEMPTS).await?;
    tracing::info!(video = %video.id, bytes, job = %job.id, "upload complete; processing queued");
    if let Some(wake) = state.uploads.as_ref().and_then(|u| u.processing.as_ref()) {
        wake.notify_one();
    }
    Ok(())
}

/// 507 when the media storage cannot take `bytes` more (plus the reserve), where it can tell.
async fn check_room(uploads: &Uploads, bytes: u64) -> Result<(), AppError> {
    let free = uploads.parts.storage().available_bytes().await.map_err(AppendError::from)?;
    match free {
        Some(free) if bytes.saturating_add(FREE_SPACE_RESERVE) > free => Err(AppError::InsufficientStorage(format!(
            "the server has room for {} more bytes, not {bytes}",
            free.saturating_sub(FREE_SPACE_RESERVE)
        ))),
        _ => Ok(()),
    }
}

/// tus discovery: version, extensions, size limit, checksum algorithm.
#[utoipa::path(options, path = "/api/uploads", tag = "uploads",
    responses((status = 204, description = "What this tus server supports (Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm)")))]
async fn options(State(state): State<AppState>) -> Response {
    let mut response = tus_response(StatusCode::NO_CONTENT, None, None);
    let h = response.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static("sha1"));
    if let Some(u) = &state.uploads {
        h.insert("tus-max-size", HeaderValue::from(u.max_bytes));
    }
    response
}

/// Start an upload (tus creation; with a body, creation-with-upload). `Upload-Metadata` may carry
/// `filename`, `title`, `description`, `tags` (comma-separated), `category`, `language`,
/// `privacy` and `profile`. The video exists at once: `Oxcast-Video-Id`, `GET /api/videos/ID`.
#[utoipa::path(post, path = "/api/uploads", tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "Size of the whole upload in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: key base64,..."),
        ("direct" = Option<String>, Query, description = "A direct-upload URL's secret (instead of a token): the URL `POST /api/videos/direct-uploads` returned"),
    ),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 201, description = "Created; Location names the upload, Oxcast-Video-Id the video"),
        (status = 400, description = "Missing or bad Upload-Length or metadata", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Upload-Offset other than 0 with a body", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The direct-upload URL was already used or has expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not tus 1.0.0", body = Problem, content_type = "application/problem+json"),
        (status = 460, description = "Checksum mismatch (creation-with-upload)", body = Problem, content_type = "application/problem+json"),
        (status = 507, description = "Not enough free space on the server", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    access: UploadAccess,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    check_resumable(&headers)?;
    let uploads = uploads(&state)?;
    let length = number(&headers, "upload-length")?
        .ok_or_else(|| AppError::BadRequest("Upload-Length is required (deferred lengths are not supported)".into()))?;
    if length > uploads.max_bytes {
        return Err(AppError::PayloadTooLarge);
    }
    check_room(uploads, length).await?;
    // A direct-upload URL brings the owner and the details it was minted with (and its own
    // size limit); it is taken now, so it creates one upload only.
    let (owner, details, profile, direct) = match &access {
        UploadAccess::Caller(caller) => {
            let (details, profile) = details(&metadata(&headers)?)?;
            (caller.user.id.clone(), details, profile, None)
        }
        UploadAccess::Direct(secret) => {
            let gone = || AppError::Gone("this upload URL was already used or has expired".into());
            let usable = state.store.direct_uploads().usable(secret).await?.ok_or_else(gone)?;
            // Checked before the URL is taken: a refused file does not use it up.
            if i64::try_from(length).unwrap_or(i64::MAX) > usable.max_bytes {
                return Err(AppError::PayloadTooLarge);
            }
            let minted = state.store.direct_uploads().redeem(secret).await?.ok_or_else(gone)?;
            let mut details = minted.details.clone();
            if details.title.is_empty() {
                details.title = self::details(&metadata(&headers)?)?.0.title;
            }
            (minted.owner_id.clone(), details, minted.profile.clone(), Some((minted.id, secret.clone())))
        }
    };
    let profile = state.profiles.check_optional(profile.as_deref())?;
    let video = state
        .store
        .videos()
        .create(NewVideo {
            owner_id: &owner,
            details,
            profile: profile.as_ref(),
            upload_size: Some(i64::try_from(length).unwrap_or(i64::MAX)),
        })
        .await?;
    let mut location = format!("{}/api/uploads/{}", client.http_base(&state.urls), video.id);
    if let Some((direct_id, secret)) = &direct {
        state.store.direct_uploads().set_video(direct_id, &video.id).await?;
        location = format!("{location}?direct={secret}");
    }
    tracing::info!(video = %video.id, owner = %owner, direct = direct.is_some(), bytes = length, "upload created");
    let with_body =
        headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == b"application/offset+octet-stream");
    let offset = if with_body {
        Some(receive(&state, &video, &headers, body).await?)
    } else {
        if length == 0 {
            complete(&state, &video, 0).await?;
        }
        None
    };
    let mut response = tus_response(StatusCode::CREATED, offset, Some(&video));
    let h = response.headers_mut();
    insert(h, header::LOCATION, &location);
    insert(h, HeaderName::from_static("oxcast-video-id"), &video.id);
    Ok(response)
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Where an upload stands: `Upload-Offset` is where to resume.
#[utoipa::path(head, path = "/api/uploads/{id}", tag = "uploads",
    params(
        ("id" = String, Path, description = "Upload (video) id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("direct" = Option<String>, Query, description = "The direct-upload secret that created this upload, if it was made that way"),
    ),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Expires"),
        (status = 404, description = "No such upload of mine (or it expired)"),
        (status = 412, description = "Not tus 1.0.0"),
    ))]
async fn head(
    State(state): State<AppState>,
    access: UploadAccess,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    check_resumable(&headers)?;
    let video = upload(&state, &access, &id).await?;
    let (offset, _) = uploads(&state)?.parts.offset(&video.id).await?;
    let mut response = tus_response(StatusCode::OK, Some(offset), Some(&video));
    let h = response.headers_mut();
    if let Some(length) = video.upload_size {
        h.insert("upload-length", HeaderValue::from(length));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Send bytes from `Upload-Offset` on (`Content-Type: application/offset+octet-stream`,
/// optional `Upload-Checksum: sha1 BASE64`).
#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "uploads",
    params(
        ("id" = String, Path, description = "Upload (video) id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes start: the offset HEAD reported"),
        ("Upload-Checksum" = Option<String>, Header, description = "sha1 BASE64 of this request's body"),
        ("direct" = Option<String>, Query, description = "The direct-upload secret that created this upload, if it was made that way"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 204, description = "Stored; Upload-Offset is the new offset"),
        (status = 400, description = "Bad header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such upload of mine (or it expired)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Upload-Offset is not the upload's offset, or the upload is complete", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not tus 1.0.0", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Another request is uploading to it right now", body = Problem, content_type = "application/problem+json"),
        (status = 460, description = "Checksum mismatch: this request's bytes were dropped", body = Problem, content_type = "application/problem+json"),
        (status = 507, description = "Not enough free space on the server", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    access: UploadAccess,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    check_resumable(&headers)?;
    let video = upload(&state, &access, &id).await?;
    if video.status != VideoStatus::Uploading {
        return Err(AppError::Conflict("this upload is complete".into()));
    }
    if number(&headers, "upload-offset")?.is_none() {
        return Err(AppError::BadRequest("Upload-Offset is required".into()));
    }
    let offset = receive(&state, &video, &headers, body).await?;
    let video = state.store.videos().get(&id).await?.ok_or(AppError::NotFound("upload"))?;
    Ok(tus_response(StatusCode::NO_CONTENT, Some(offset), Some(&video)))
}

/// Abandon an upload (tus termination): its bytes and its video go.
#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "uploads",
    params(
        ("id" = String, Path, description = "Upload (video) id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("direct" = Option<String>, Query, description = "The direct-upload secret that created this upload, if it was made that way"),
    ),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 204, description = "Terminated"),
        (status = 404, description = "No such upload of mine", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The upload is complete: delete the video instead", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not tus 1.0.0", body = Problem, content_type = "application/problem+json"),
    ))]
async fn terminate(
    State(state): State<AppState>,
    access: UploadAccess,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    check_resumable(&headers)?;
    let video = upload(&state, &access, &id).await?;
    if video.status != VideoStatus::Uploading {
        return Err(AppError::Conflict("this upload is complete: delete the video instead".into()));
    }
    delete_video(&state, &video.id).await?;
    tracing::info!(video = %video.id, "upload terminated");
    Ok(tus_response(StatusCode::NO_CONTENT, None, None))
}

/// Deletes a video with every object it has in storage (its upload's parts, and the renditions,
/// poster and storyboard under `videos/ID/`); 423 while its upload is receiving bytes.
pub(crate) async fn delete_video(state: &AppState, id: &str) -> Result<(), AppError> {
    let uploads = uploads(state)?;
    let Some(_running) = lease::take(&state.store, id).await? else {
        return Err(AppError::Locked("its upload is receiving bytes right now".into()));
    };
    uploads.parts.discard(id).await?;
    uploads.parts.storage().delete_prefix(&format!("videos/{id}/")).await.map_err(AppendError::from)?;
    state.store.videos().delete(id).await?;
    Ok(())
}

/// Removes uploads nobody touched for [`UPLOAD_EXPIRY`], with their bytes; returns how many.
pub async fn sweep_expired(state: &AppState) -> Result<usize, AppError> {
    let before = oxcast_media::clock::unix_seconds() - i64::try_from(UPLOAD_EXPIRY.as_secs()).unwrap_or(i64::MAX);
    let stale = state.store.videos().stale_uploads(before).await?;
    for id in &stale {
        remove(state, id).await?;
        tracing::info!(video = %id, "expired upload removed");
    }
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        assert_eq!(httpdate(t), "Tue, 01 Dec 2026 00:00:00 GMT");
        assert_eq!(httpdate(std::time::UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(httpdate(std::time::UNIX_EPOCH + Duration::from_secs(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn metadata_pairs_are_base64_and_feed_the_details() {
        let mut h = HeaderMap::new();
        h.insert(
            "upload-metadata",
            "filename aG9saWRheS5tcDQ=,tags YSwgYiAsYQ==,privacy dW5saXN0ZWQ=,is_confidential".parse().unwrap(),
        );
        let meta = metadata(&h).unwrap();
        let (d, profile) = details(&meta).unwrap();
        assert_eq!((d.title.as_str(), d.privacy, profile), ("holiday.mp4", Privacy::Unlisted, None));
        assert_eq!(d.tags, ["a", "b", "a"], "the store dedupes");
        h.insert("upload-metadata", "title !!!".parse().unwrap());
        assert!(metadata(&h).is_err());
    }
}
