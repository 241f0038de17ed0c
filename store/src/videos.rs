//! The videos aggregate: the catalog entry of an upload (and, later, of a live recording) from
//! its first byte to ready or failed.
//!
//! What the store checks: the details a creator types (title, description, tags, category,
//! language), the privacy and status vocabularies, and the status transitions
//! (`uploading → processing → ready`, `failed` from either; a failed video may be processed
//! again). What it does not: the shape of the probed source and of the renditions, which the vod
//! crate writes as JSON and reads back.

use oxcast_media::display_name::validate_display_name;
use sqlx::{AnyPool, Row};

pub use crate::access::{PlaybackPolicy, Privacy};
use crate::catalog::{CatalogKind, note};
use crate::page::{NewestFirst, Page, PageRequest, newest_first};
use crate::text::{multi_line, one_line};
use crate::webhooks::{EventType, emit};
use crate::{Secret, StoreError};

pub const MAX_VIDEO_TITLE_CHARS: usize = 140;
pub const MAX_VIDEO_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_TAGS: usize = 30;

/// Where a video is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoStatus {
    Uploading,
    Processing,
    Ready,
    Failed,
}

impl VideoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VideoStatus::Uploading => "uploading",
            VideoStatus::Processing => "processing",
            VideoStatus::Ready => "ready",
            VideoStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "uploading" => VideoStatus::Uploading,
            "processing" => VideoStatus::Processing,
            "ready" => VideoStatus::Ready,
            "failed" => VideoStatus::Failed,
            other => return Err(StoreError::Invalid(format!("stored video status {other:?}"))),
        })
    }
}

/// What the creator says about a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoDetails {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub category: String,
    /// BCP 47 ("en", "pt-BR") or empty.
    pub language: String,
    pub privacy: Privacy,
    /// Whether a URL needs a signed playback token.
    pub playback: PlaybackPolicy,
}

impl Default for VideoDetails {
    fn default() -> Self {
        Self {
            title: String::new(),
            description: String::new(),
            tags: Vec::new(),
            category: String::new(),
            language: String::new(),
            privacy: Privacy::Private,
            playback: PlaybackPolicy::Public,
        }
    }
}

/// A BCP 47-looking language tag ("en", "pt-BR"): the one rule for video languages and caption
/// tracks.
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl VideoDetails {
    /// Trims and checks every field; tags are deduplicated (ignoring case), order kept.
    pub fn checked(self) -> Result<Self, StoreError> {
        let description = multi_line(&self.description, "description", MAX_VIDEO_DESCRIPTION_CHARS)?;
        let mut tags: Vec<String> = Vec::new();
        for tag in &self.tags {
            let tag = validate_display_name(tag).map_err(|e| StoreError::Invalid(format!("tag {tag:?}: {e}")))?;
            if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
                tags.push(tag);
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(StoreError::Invalid(format!("at most {MAX_TAGS} tags")));
        }
        let language = self.language.trim().to_owned();
        if !language.is_empty() && !is_language_tag(&language) {
            return Err(StoreError::Invalid(format!("language {language:?} is not a BCP 47 tag like en or pt-BR")));
        }
        Ok(Self {
            title: one_line(&self.title, "title", MAX_VIDEO_TITLE_CHARS)?,
            description,
            tags,
            category: one_line(&self.category, "category", crate::streams::MAX_CATEGORY_CHARS)?,
            language,
            privacy: self.privacy,
            playback: self.playback,
        })
    }
}

/// A video in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// `v_` + 32 hex (128 random bits): the link to an unlisted video must not be guessable.
    pub id: String,
    pub owner_id: String,
    pub details: VideoDetails,
    pub status: VideoStatus,
    /// Why processing failed.
    pub error: Option<String>,
    /// Transcoding profile; `None` for the VOD default.
    pub profile: Option<String>,
    pub upload_size: Option<i64>,
    pub bytes_received: i64,
    /// What processing is doing now ("probing", "encoding"...), and how far (0 to 1).
    pub stage: Option<String>,
    pub progress: f64,
    /// Probed source metadata and the renditions, as JSON the vod crate wrote.
    pub source: Option<String>,
    pub renditions: Option<String>,
    pub poster_key: Option<String>,
    pub storyboard_key: Option<String>,
    pub duration_ms: Option<i64>,
    /// The renditions made so far can be played (while processing: from the first segments on).
    pub playable: bool,
    /// Estimated seconds of processing left.
    pub eta_seconds: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
    /// Views counted so far.
    pub view_count: i64,
    /// Signed-in users' ratings.
    pub likes: i64,
    pub dislikes: i64,
}

/// A video to create (its upload is starting).
#[derive(Debug, Clone)]
pub struct NewVideo<'a> {
    pub owner_id: &'a str,
    pub details: VideoDetails,
    pub profile: Option<&'a crate::ProfileName>,
    pub upload_size: Option<i64>,
}

/// What processing found and made, when a video becomes ready.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    pub source: String,
    pub renditions: String,
    pub duration_ms: i64,
    pub poster_key: Option<String>,
    pub storyboard_key: Option<String>,
}

const COLUMNS: &str = "id, owner_id, title, description, tags, category, language, privacy, playback_policy, status, error, profile, \
     upload_size, bytes_received, stage, progress, source, renditions, poster_key, storyboard_key, duration_ms, \
     playable, eta_seconds, created_at, updated_at, published_at, view_count, likes, dislikes";

/// The details columns (`title`, `description`, `tags` one per line, `category`, `language`,
/// `privacy`, `playback_policy`) of a row; direct uploads store the same columns.
pub(crate) fn details_from_row(row: &sqlx::any::AnyRow) -> Result<VideoDetails, StoreError> {
    let tags: String = row.try_get("tags")?;
    Ok(VideoDetails {
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        tags: tags.lines().filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        category: row.try_get("category")?,
        language: row.try_get("language")?,
        privacy: Privacy::parse(&row.try_get::<String, _>("privacy")?)?,
        playback: PlaybackPolicy::parse(&row.try_get::<String, _>("playback_policy")?)?,
    })
}

fn video_from_row(row: &sqlx::any::AnyRow) -> Result<Video, StoreError> {
    Ok(Video {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        details: details_from_row(row)?,
        status: VideoStatus::parse(&row.try_get::<String, _>("status")?)?,
        error: row.try_get("error")?,
        profile: row.try_get("profile")?,
        upload_size: row.try_get("upload_size")?,
        bytes_received: row.try_get("bytes_received")?,
        stage: row.try_get("stage")?,
        progress: row.try_get("progress")?,
        source: row.try_get("source")?,
        renditions: row.try_get("renditions")?,
        poster_key: row.try_get("poster_key")?,
        storyboard_key: row.try_get("storyboard_key")?,
        duration_ms: row.try_get("duration_ms")?,
        playable: row.try_get::<i64, _>("playable")? != 0,
        eta_seconds: row.try_get("eta_seconds")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        published_at: row.try_get("published_at")?,
        view_count: row.try_get("view_count")?,
        likes: row.try_get("likes")?,
        dislikes: row.try_get("dislikes")?,
    })
}

async fn get_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<Video>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM videos WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(video_from_row).transpose()
}

impl Video {
    /// What a webhook event about the video says (`data`).
    fn event_data(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "title": self.details.title,
            "status": self.status.as_str(),
            "privacy": self.details.privacy.as_str(),
            "playback_policy": self.details.playback.as_str(),
            "duration_ms": self.duration_ms,
            "error": self.error,
            "created_at": self.created_at,
        })
    }
}

/// The catalog (see [`crate::Store::videos`]).
#[derive(Debug, Clone, Copy)]
pub struct Videos<'a> {
    pool: &'a AnyPool,
}

impl<'a> Videos<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Adds a video in `uploading`.
    pub async fn create(&self, new: NewVideo<'_>) -> Result<Video, StoreError> {
        let d = new.details.checked()?;
        if new.upload_size.is_some_and(|s| s < 0) {
            return Err(StoreError::Invalid("upload size cannot be negative".into()));
        }
        let id = Secret::long_id("v_");
        let mut tx = self.pool.begin().await?;
        let now = oxcast_media::clock::unix_seconds();
        sqlx::query(
            "INSERT INTO videos (id, owner_id, title, description, tags, category, language, privacy, playback_policy, \
             status, profile, upload_size, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'uploading', $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(new.owner_id)
        .bind(&d.title)
        .bind(&d.description)
        .bind(d.tags.join("\n"))
        .bind(&d.category)
        .bind(&d.language)
        .bind(d.privacy.as_str())
        .bind(d.playback.as_str())
        .bind(new.profile.map(crate::ProfileName::as_str))
        .bind(new.upload_size)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let video =
            get_on(&mut tx, &id).await?.ok_or_else(|| StoreError::Invalid("video vanished after insert".into()))?;
        emit(&mut tx, &video.owner_id, EventType::VideoCreated, video.event_data(), None).await?;
        note(&mut tx, CatalogKind::Video, &id).await?;
        tx.commit().await?;
        Ok(video)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Video>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        get_on(&mut conn, id).await
    }

    /// Videos newest first, a page at a time: `owner`'s only, or everyone's with `None`.
    pub async fn page(&self, owner: Option<&str>, page: &PageRequest) -> Result<Page<Video>, StoreError> {
        let query = NewestFirst {
            table: "videos",
            columns: COLUMNS,
            time_column: "created_at",
            filter: owner.map(|o| ("owner_id", o)),
        };
        newest_first(self.pool, query, page, video_from_row, |v| (v.created_at, &v.id)).await
    }

    /// Replaces the creator's details (checked); false if there is no such video.
    pub async fn set_details(&self, id: &str, details: VideoDetails) -> Result<bool, StoreError> {
        let d = details.checked()?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE videos SET title = $1, description = $2, tags = $3, category = $4, language = $5, privacy = $6, \
             playback_policy = $7, updated_at = $8 WHERE id = $9",
        )
        .bind(&d.title)
        .bind(&d.description)
        .bind(d.tags.join("\n"))
        .bind(&d.category)
        .bind(&d.language)
        .bind(d.privacy.as_str())
        .bind(d.playback.as_str())
        .bind(oxcast_media::clock::unix_seconds())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        note(&mut tx, CatalogKind::Video, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records how many bytes of the upload have arrived (and its size once announced).
    pub async fn set_received(&self, id: &str, bytes: i64, upload_size: Option<i64>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE videos SET bytes_received = $1, upload_size = COALESCE($2, upload_size), updated_at = $3 \
             WHERE id = $4 AND status = 'uploading'",
        )
        .bind(bytes)
        .bind(upload_size)
        .bind(oxcast_media::clock::unix_seconds())
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The upload is complete (or a failed video is tried again): `processing`, from the start.
    pub async fn start_processing(&self, id: &str) -> Result<bool, StoreError> {
        self.transition(
            id,
            "status IN ('uploading', 'failed')",
            "status = 'processing', error = NULL, progress = 0, stage = 'queued', playable = 0, eta_seconds = NULL",
        )
        .await
    }

    /// Processing reports where it is: the stage, how far (0 to 1), and the seconds it expects
    /// to need still.
    pub async fn set_progress(
        &self,
        id: &str,
        stage: &str,
        progress: f64,
        eta_seconds: Option<i64>,
    ) -> Result<bool, StoreError> {
        let progress = if progress.is_finite() { progress.clamp(0.0, 1.0) } else { 0.0 };
        let done = sqlx::query(
            "UPDATE videos SET stage = $1, progress = $2, eta_seconds = $3, updated_at = $4 \
             WHERE id = $5 AND status = 'processing'",
        )
        .bind(stage)
        .bind(progress)
        .bind(eta_seconds)
        .bind(oxcast_media::clock::unix_seconds())
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// What probing found (JSON the vod crate wrote) and the duration, before encoding starts.
    pub async fn set_source(&self, id: &str, source: &str, duration_ms: Option<i64>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE videos SET source = $1, duration_ms = $2, updated_at = $3 WHERE id = $4 AND status = 'processing'",
        )
        .bind(source)
        .bind(duration_ms)
        .bind(oxcast_media::clock::unix_seconds())
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The first segments of every rendition are stored: the video can be played while the
    /// rest is processed.
    pub async fn set_playable(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE videos SET playable = 1, updated_at = $1 WHERE id = $2 AND status = 'processing'")
                .bind(oxcast_media::clock::unix_seconds())
                .bind(id)
                .execute(self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Processing finished: `ready`, published now.
    /// Its `video.ready` event (and `recording.ready` for a broadcast's recording) is recorded
    /// in the same transaction.
    pub async fn set_ready(&self, id: &str, processed: &Processed) -> Result<bool, StoreError> {
        let now = oxcast_media::clock::unix_seconds();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE videos SET status = 'ready', error = NULL, stage = NULL, progress = 1, playable = 1, eta_seconds = NULL, \
             source = $1, renditions = $2, \
             duration_ms = $3, poster_key = $4, storyboard_key = $5, updated_at = $6, published_at = $7 \
             WHERE id = $8 AND status = 'processing'",
        )
        .bind(&processed.source)
        .bind(&processed.renditions)
        .bind(processed.duration_ms)
        .bind(processed.poster_key.as_deref())
        .bind(processed.storyboard_key.as_deref())
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(video) = get_on(&mut tx, id).await? {
            emit(&mut tx, &video.owner_id, EventType::VideoReady, video.event_data(), None).await?;
            let broadcast = sqlx::query("SELECT id, stream_name FROM broadcasts WHERE video_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(b) = broadcast {
                let mut data = video.event_data();
                data["broadcast_id"] = b.try_get::<String, _>("id")?.into();
                data["stream"] = b.try_get::<String, _>("stream_name")?.into();
                emit(&mut tx, &video.owner_id, EventType::RecordingReady, data, None).await?;
            }
        }
        note(&mut tx, CatalogKind::Video, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Processing (or the upload) failed, with a reason a person understands; `video.failed` is
    /// recorded in the same transaction.
    pub async fn set_failed(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE videos SET status = 'failed', error = $1, stage = NULL, playable = 0, eta_seconds = NULL, updated_at = $2 \
             WHERE id = $3 AND status IN ('uploading', 'processing')",
        )
        .bind(reason)
        .bind(oxcast_media::clock::unix_seconds())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(video) = get_on(&mut tx, id).await? {
            emit(&mut tx, &video.owner_id, EventType::VideoFailed, video.event_data(), None).await?;
        }
        note(&mut tx, CatalogKind::Video, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Uploads nobody touched since `updated_before` (Unix seconds): expired, to be removed.
    pub async fn stale_uploads(&self, updated_before: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM videos WHERE status = 'uploading' AND updated_at < $1")
            .bind(updated_before)
            .fetch_all(self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>("id")?)).collect()
    }

    /// Moves a video's last activity `seconds` into the past (tests of expiry).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn age_for_tests(&self, id: &str, seconds: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE videos SET updated_at = updated_at - $1 WHERE id = $2")
            .bind(seconds)
            .bind(id)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// Sets when a video was published and how often it was viewed (tests of sorting), as a
    /// change of the catalog.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn set_published_and_views_for_tests(
        &self,
        id: &str,
        published_at: i64,
        views: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE videos SET published_at = $1, view_count = $2 WHERE id = $3")
            .bind(published_at)
            .bind(views)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        note(&mut tx, CatalogKind::Video, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the catalog entry (its media objects are the vod crate's to delete first).
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM videos WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        note(&mut tx, CatalogKind::Video, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn transition(&self, id: &str, from: &str, set: &str) -> Result<bool, StoreError> {
        let sql = format!("UPDATE videos SET {set}, updated_at = $1 WHERE id = $2 AND {from}");
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(oxcast_media::clock::unix_seconds())
            .bind(id)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
