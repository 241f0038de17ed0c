//! The broadcasts aggregate: one live session of a stream as people think of it, from the first
//! publish until the stream ends after the offline grace (reconnects within the grace belong to
//! the same broadcast), with its viewers (sampled: peak and average) and its recording (a video
//! in the catalog). A broadcast without an end when the server starts was cut by a crash or a
//! kill: [`Broadcasts::unfinished`] finds them so their recordings can be finished.

use sqlx::{AnyPool, Row};

use crate::page::{NewestFirst, Page, PageRequest, newest_first};
use crate::{CatalogKind, Secret, StoreError};

/// A broadcast as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    pub id: String,
    pub stream_name: String,
    pub owner_id: Option<String>,
    /// Unix seconds.
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub peak_viewers: i64,
    /// Mean of the samples (0 without samples).
    pub average_viewers: f64,
    /// The recording, when the stream was recorded.
    pub video_id: Option<String>,
}

const COLUMNS: &str =
    "id, stream_name, owner_id, started_at, ended_at, peak_viewers, viewer_sum, viewer_samples, video_id";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Broadcast, StoreError> {
    let sum: i64 = row.try_get("viewer_sum")?;
    let samples: i64 = row.try_get("viewer_samples")?;
    Ok(Broadcast {
        id: row.try_get("id")?,
        stream_name: row.try_get("stream_name")?,
        owner_id: row.try_get("owner_id")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        peak_viewers: row.try_get("peak_viewers")?,
        average_viewers: if samples > 0 { sum as f64 / samples as f64 } else { 0.0 },
        video_id: row.try_get("video_id")?,
    })
}

/// Broadcasts (see [`crate::Store::broadcasts`]).
#[derive(Debug, Clone, Copy)]
pub struct Broadcasts<'a> {
    pool: &'a AnyPool,
}

impl<'a> Broadcasts<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// A broadcast of `stream` starts now, recorded into `video_id` when given; `stream.started`
    /// is recorded in the same transaction. (Reconnects within the offline grace are the same
    /// broadcast, so they start nothing.)
    pub async fn start(
        &self,
        stream: &str,
        owner_id: Option<&str>,
        video_id: Option<&str>,
    ) -> Result<Broadcast, StoreError> {
        let b = Broadcast {
            id: Secret::id("bc_"),
            stream_name: stream.to_owned(),
            owner_id: owner_id.map(str::to_owned),
            started_at: oxcast_media::clock::unix_seconds(),
            ended_at: None,
            peak_viewers: 0,
            average_viewers: 0.0,
            video_id: video_id.map(str::to_owned),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO broadcasts (id, stream_name, owner_id, started_at, video_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&b.id)
        .bind(&b.stream_name)
        .bind(b.owner_id.as_deref())
        .bind(b.started_at)
        .bind(b.video_id.as_deref())
        .execute(&mut *tx)
        .await?;
        if let Some(owner) = &b.owner_id {
            let data = serde_json::json!({
                "stream": b.stream_name,
                "broadcast_id": b.id,
                "started_at": b.started_at,
                "recording_video_id": b.video_id,
            });
            crate::webhooks::emit(&mut tx, owner, crate::EventType::StreamStarted, data, None).await?;
        }
        // Search puts live streams first.
        crate::catalog::note(&mut tx, CatalogKind::Stream, &b.stream_name).await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Counts `viewers` watching now.
    pub async fn sample_viewers(&self, id: &str, viewers: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE broadcasts SET peak_viewers = CASE WHEN peak_viewers < $1 THEN $2 ELSE peak_viewers END, \
             viewer_sum = viewer_sum + $3, viewer_samples = viewer_samples + 1 WHERE id = $4 AND ended_at IS NULL",
        )
        .bind(viewers)
        .bind(viewers)
        .bind(viewers)
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// The broadcast is over (the stream ended after its offline grace); `stream.ended` and
    /// `broadcast.ended` (the summary: viewers, the recording) are recorded in the same
    /// transaction.
    pub async fn end(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE broadcasts SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(oxcast_media::clock::unix_seconds())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let sql = format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&mut *tx).await?;
        let b = from_row(&row)?;
        if let Some(owner) = &b.owner_id {
            let data = serde_json::json!({
                "id": b.id,
                "stream": b.stream_name,
                "started_at": b.started_at,
                "ended_at": b.ended_at,
                "peak_viewers": b.peak_viewers,
                "average_viewers": b.average_viewers,
                "recording_video_id": b.video_id,
            });
            let ended = serde_json::json!({"stream": b.stream_name, "broadcast_id": b.id, "ended_at": b.ended_at});
            crate::webhooks::emit(&mut tx, owner, crate::EventType::StreamEnded, ended, None).await?;
            crate::webhooks::emit(&mut tx, owner, crate::EventType::BroadcastEnded, data, None).await?;
        }
        crate::catalog::note(&mut tx, CatalogKind::Stream, &b.stream_name).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Broadcast>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Broadcasts that never ended (the server stopped without ending them).
    pub async fn unfinished(&self) -> Result<Vec<Broadcast>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM broadcasts WHERE ended_at IS NULL ORDER BY started_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// A stream's broadcasts, newest first, a page at a time.
    pub async fn page(&self, stream: &str, page: &PageRequest) -> Result<Page<Broadcast>, StoreError> {
        let query = NewestFirst {
            table: "broadcasts",
            columns: COLUMNS,
            time_column: "started_at",
            filter: Some(("stream_name", stream)),
        };
        newest_first(self.pool, query, page, from_row, |b| (b.started_at, &b.id)).await
    }
}
