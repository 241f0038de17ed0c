//! What recommendations read and keep: co-watch counts, viewers' recent views, and recent views
//! for trending.
//!
//! Co-watch pairs are counted as views arrive: when a session becomes a view of V, every other
//! video its viewer counted a view of in the last [`COWATCH_DAYS`] (the newest
//! [`COWATCH_HISTORY`] of them) gains one in both directions, in the view's transaction. The
//! table is trimmed to the [`COWATCH_KEEP`] strongest pairs per video by [`Recommendations::trim`],
//! which the server runs periodically: memory and table size stay bounded however many views come.

use sqlx::{AnyConnection, AnyPool, Row};

use crate::StoreError;

/// Views this far apart still make a pair.
pub const COWATCH_DAYS: i64 = 30;
/// A view pairs with at most this many of the viewer's newest other views.
pub const COWATCH_HISTORY: i64 = 50;
/// Pairs kept per video.
pub const COWATCH_KEEP: i64 = 100;

/// Adds the pairs a new view of `video_id` by `viewer` makes (on the view's transaction).
pub(crate) async fn pair_new_view(
    conn: &mut AnyConnection,
    viewer: &str,
    video_id: &str,
    now_s: i64,
) -> Result<(), StoreError> {
    let others = sqlx::query(
        "SELECT video_id FROM playback_sessions WHERE viewer = $1 AND counted = 1 AND started_at > $2 \
         AND video_id <> $3 GROUP BY video_id ORDER BY MAX(started_at) DESC LIMIT $4",
    )
    .bind(viewer)
    .bind(now_s - COWATCH_DAYS * 86_400)
    .bind(video_id)
    .bind(COWATCH_HISTORY)
    .fetch_all(&mut *conn)
    .await?;
    for row in &others {
        let other: String = row.try_get("video_id")?;
        for (a, b) in [(video_id, other.as_str()), (other.as_str(), video_id)] {
            sqlx::query(
                "INSERT INTO cowatch (video_id, other_id, viewers) VALUES ($1, $2, 1) \
                 ON CONFLICT (video_id, other_id) DO UPDATE SET viewers = cowatch.viewers + 1",
            )
            .bind(a)
            .bind(b)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Recommendation inputs (see [`crate::Store::recommendations`]).
#[derive(Debug, Clone, Copy)]
pub struct Recommendations<'a> {
    pool: &'a AnyPool,
}

impl<'a> Recommendations<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// The videos most often watched with `video_id`: (video id, viewers of both, views of it),
    /// strongest first.
    pub async fn cowatched(&self, video_id: &str, limit: i64) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.other_id, c.viewers, v.view_count FROM cowatch c JOIN videos v ON v.id = c.other_id \
             WHERE c.video_id = $1 ORDER BY c.viewers DESC, c.other_id LIMIT $2",
        )
        .bind(video_id)
        .bind(limit)
        .fetch_all(self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("other_id")?, r.try_get("viewers")?, r.try_get("view_count")?))).collect()
    }

    /// The videos `viewer` counted views of, newest first.
    pub async fn history(&self, viewer: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT video_id FROM playback_sessions WHERE viewer = $1 AND counted = 1 \
             GROUP BY video_id ORDER BY MAX(started_at) DESC LIMIT $2",
        )
        .bind(viewer)
        .bind(limit)
        .fetch_all(self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("video_id")?)).collect()
    }

    /// Views per day since `since_day` of public, ready videos (the busiest rows first, at most
    /// `limit`), with each video's likes: (video id, day, views, likes).
    pub async fn recent_views(&self, since_day: i64, limit: i64) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.video_id, d.day, d.views, v.likes FROM video_daily d JOIN videos v ON v.id = d.video_id \
             WHERE d.day >= $1 AND d.views > 0 AND v.status = 'ready' AND v.privacy = 'public' \
             ORDER BY d.views DESC, d.video_id LIMIT $2",
        )
        .bind(since_day)
        .bind(limit)
        .fetch_all(self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("video_id")?, r.try_get("day")?, r.try_get("views")?, r.try_get("likes")?)))
            .collect()
    }

    /// Public, ready videos by views, most first (the popularity baseline): (video id, views).
    pub async fn most_viewed(&self, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, view_count FROM videos WHERE status = 'ready' AND privacy = 'public' \
             ORDER BY view_count DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("view_count")?))).collect()
    }

    /// Keeps only the [`COWATCH_KEEP`] strongest pairs of each video; returns how many went.
    pub async fn trim(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM cowatch WHERE (video_id, other_id) IN (SELECT video_id, other_id FROM \
             (SELECT video_id, other_id, ROW_NUMBER() OVER (PARTITION BY video_id ORDER BY viewers DESC, other_id) AS r \
             FROM cowatch) ranked WHERE r > $1)",
        )
        .bind(COWATCH_KEEP)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
