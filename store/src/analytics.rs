//! View analytics: playback sessions and what they watched, views counted by rules that one
//! client cannot game, daily aggregates, the retention curve, and likes.
//!
//! The rules, all applied in one transaction per batch of player events:
//! - **Watched time is credited, not claimed.** A heartbeat says how much was watched since the
//!   last one; a session's credit never exceeds the wall time since it started (plus a few
//!   seconds of slack, once), and one batch credits at most [`MAX_CREDIT_MS`], so a client can
//!   neither report an hour in a second nor gain by sending more often.
//! - **A view** is a session that was credited [`VIEW_AFTER_MS`] (or, for a shorter video, all of
//!   it but half a second), counted once; at most one per viewer id per video per
//!   [`VIEW_WINDOW_SECONDS`], and at most [`VIEWS_PER_ADDRESS`] per address per video in that
//!   window (a household shares an address; a script that makes new viewer ids does too).
//! - **Retention**: each counted session marks the twentieths of the video it watched; the curve
//!   at 5 % steps is the share of counted views that reached each one.
//! - **Likes**: one rating per signed-in user per video, changeable and idempotent; the video's
//!   counts are recounted in the same transaction.
//!
//! Rate limits on how often a player may send (per viewer id and per address) are the API's.

use sqlx::{AnyConnection, AnyPool, Row};

use crate::StoreError;
use crate::catalog::{CatalogKind, note};

/// A session counts as a view after this much watching.
pub const VIEW_AFTER_MS: i64 = 10_000;
/// One view per viewer per video per this window.
pub const VIEW_WINDOW_SECONDS: i64 = 24 * 3600;
/// Views per address per video per window.
pub const VIEWS_PER_ADDRESS: i64 = 5;
/// The most watching one batch may credit.
pub const MAX_CREDIT_MS: i64 = 60_000;
/// Slack over a session's age (clocks, network, the first batch arriving late).
const CREDIT_SLACK_MS: i64 = 5_000;
/// Twentieths: the retention curve's 5 % steps.
pub const BUCKETS: usize = 20;

/// One thing a player reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlayerEvent {
    /// Playback started at `position_ms`.
    Start { position_ms: i64 },
    /// Still watching: `watched_ms` of real playback since the previous event, now at
    /// `position_ms`.
    Heartbeat { position_ms: i64, watched_ms: i64 },
    /// Playback ended (paused for good, page hidden, video over).
    End { position_ms: i64, watched_ms: i64 },
}

/// A batch from one player.
#[derive(Debug, Clone)]
pub struct PlayerReport<'a> {
    pub video_id: &'a str,
    /// The video's duration (0 when unknown: no view threshold by duration, no retention).
    pub duration_ms: i64,
    pub session_id: &'a str,
    pub viewer: &'a str,
    pub address: &'a str,
    pub events: &'a [PlayerEvent],
    /// Milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Watching credited by this batch.
    pub credited_ms: i64,
    /// This batch made the session a view.
    pub counted_now: bool,
    /// The session is a view (now or before).
    pub counted: bool,
}

/// A like or a dislike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    Like,
    Dislike,
}

/// What the owner sees of a video's audience.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStats {
    pub views: i64,
    pub watch_ms: i64,
    pub likes: i64,
    pub dislikes: i64,
    /// (UTC day as days since 1970-01-01, views, milliseconds watched), oldest first.
    pub daily: Vec<(i64, i64, i64)>,
    /// Counted views that reached each twentieth of the video.
    pub retention: [i64; BUCKETS],
}

/// Analytics (see [`crate::Store::analytics`]).
#[derive(Debug, Clone, Copy)]
pub struct Analytics<'a> {
    pool: &'a AnyPool,
}

/// Bits of the twentieths that `[from_ms, to_ms]` touches.
fn buckets_between(from_ms: i64, to_ms: i64, duration_ms: i64) -> i64 {
    if duration_ms <= 0 {
        return 0;
    }
    let (from, to) = (from_ms.clamp(0, duration_ms), to_ms.clamp(0, duration_ms));
    let (from, to) = (from.min(to), from.max(to));
    let bucket = |ms: i64| ((ms * BUCKETS as i64) / duration_ms).min(BUCKETS as i64 - 1);
    // The range ends before `to`: watching up to 11 s of 20 s is not watching the twelfth second.
    let last = if to > from { bucket(to - 1) } else { bucket(to) };
    (bucket(from)..=last).fold(0, |bits, b| bits | (1 << b))
}

/// Views of the video counted since `since` whose `column` (`viewer` or `address`) is `value`.
async fn counted_views(
    conn: &mut AnyConnection,
    video_id: &str,
    column: &'static str,
    value: &str,
    since: i64,
) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM playback_sessions WHERE video_id = $1 AND {column} = $2 AND counted = 1 \
         AND started_at > $3"
    );
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(video_id).bind(value).bind(since).fetch_one(&mut *conn).await?;
    Ok(row.try_get("n")?)
}

impl<'a> Analytics<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Applies a batch of a player's events; see the module doc for the rules.
    pub async fn record(&self, report: &PlayerReport<'_>) -> Result<Recorded, StoreError> {
        let now_s = report.now_ms.div_euclid(1000);
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query(
            "SELECT video_id, viewer, started_at, watched_ms, buckets, counted FROM playback_sessions WHERE id = $1",
        )
        .bind(report.session_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (started_ms, mut watched, mut buckets, mut counted) = match existing {
            Some(row) => {
                let video: String = row.try_get("video_id")?;
                let viewer: String = row.try_get("viewer")?;
                if video != report.video_id || viewer != report.viewer {
                    return Err(StoreError::Invalid("that playback session belongs to another video or viewer".into()));
                }
                (
                    row.try_get::<i64, _>("started_at")? * 1000,
                    row.try_get::<i64, _>("watched_ms")?,
                    row.try_get::<i64, _>("buckets")?,
                    row.try_get::<i64, _>("counted")? != 0,
                )
            }
            None => {
                sqlx::query(
                    "INSERT INTO playback_sessions (id, video_id, viewer, address, started_at, last_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(report.session_id)
                .bind(report.video_id)
                .bind(report.viewer)
                .bind(report.address)
                .bind(now_s)
                .bind(now_s)
                .execute(&mut *tx)
                .await?;
                (report.now_ms, 0, 0, false)
            }
        };
        // The credit this batch may give: what the session's age leaves, bounded per batch.
        let mut allowance = (report.now_ms - started_ms + CREDIT_SLACK_MS - watched).clamp(0, MAX_CREDIT_MS);
        let mut credited = 0;
        let mut touched = 0;
        let mut last_position = 0;
        for event in report.events {
            let (position, claimed) = match *event {
                PlayerEvent::Start { position_ms } => (position_ms, 0),
                PlayerEvent::Heartbeat { position_ms, watched_ms } | PlayerEvent::End { position_ms, watched_ms } => {
                    (position_ms, watched_ms)
                }
            };
            last_position = position.clamp(0, report.duration_ms.max(position));
            let credit = claimed.clamp(0, allowance);
            allowance -= credit;
            credited += credit;
            if credit > 0 {
                touched |= buckets_between(position - credit, position, report.duration_ms);
            }
        }
        watched += credited;
        let before = buckets;
        buckets |= touched;
        let threshold =
            if report.duration_ms > 0 { VIEW_AFTER_MS.min((report.duration_ms - 500).max(1)) } else { VIEW_AFTER_MS };
        let mut counted_now = false;
        if !counted && watched >= threshold && self.may_count(&mut tx, report, now_s).await? {
            counted = true;
            counted_now = true;
        }
        sqlx::query(
            "UPDATE playback_sessions SET last_at = $1, watched_ms = $2, buckets = $3, counted = $4, position_ms = $5 \
             WHERE id = $6",
        )
        .bind(now_s)
        .bind(watched)
        .bind(buckets)
        .bind(i64::from(counted))
        .bind(last_position)
        .bind(report.session_id)
        .execute(&mut *tx)
        .await?;
        let day = now_s.div_euclid(86_400);
        if credited > 0 || counted_now {
            sqlx::query(
                "INSERT INTO video_daily (video_id, day, views, watch_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (video_id, day) DO UPDATE SET views = video_daily.views + $5, \
                 watch_ms = video_daily.watch_ms + $6",
            )
            .bind(report.video_id)
            .bind(day)
            .bind(i64::from(counted_now))
            .bind(credited)
            .bind(i64::from(counted_now))
            .bind(credited)
            .execute(&mut *tx)
            .await?;
        }
        if counted {
            // A new view brings all its twentieths; a counted session later only its new ones.
            let new_bits = if counted_now { buckets } else { buckets & !before };
            for bucket in (0..BUCKETS).filter(|b| new_bits & (1 << b) != 0) {
                sqlx::query(
                    "INSERT INTO video_retention (video_id, bucket, views) VALUES ($1, $2, 1) \
                     ON CONFLICT (video_id, bucket) DO UPDATE SET views = video_retention.views + 1",
                )
                .bind(report.video_id)
                .bind(bucket as i64)
                .execute(&mut *tx)
                .await?;
            }
        }
        if counted_now {
            crate::recommendations::pair_new_view(&mut tx, report.viewer, report.video_id, now_s).await?;
            sqlx::query("UPDATE videos SET view_count = view_count + 1 WHERE id = $1")
                .bind(report.video_id)
                .execute(&mut *tx)
                .await?;
            note(&mut tx, CatalogKind::Video, report.video_id).await?;
        }
        tx.commit().await?;
        Ok(Recorded { credited_ms: credited, counted_now, counted })
    }

    /// Whether another view of this video may count for this viewer and address now.
    async fn may_count(&self, conn: &mut AnyConnection, r: &PlayerReport<'_>, now_s: i64) -> Result<bool, StoreError> {
        let since = now_s - VIEW_WINDOW_SECONDS;
        Ok(counted_views(conn, r.video_id, "viewer", r.viewer, since).await? == 0
            && counted_views(conn, r.video_id, "address", r.address, since).await? < VIEWS_PER_ADDRESS)
    }

    /// Sets (or with `None` removes) `user_id`'s rating of the video; returns the video's
    /// (likes, dislikes) after it.
    pub async fn rate(&self, video_id: &str, user_id: &str, rating: Option<Rating>) -> Result<(i64, i64), StoreError> {
        let mut tx = self.pool.begin().await?;
        match rating {
            Some(r) => {
                let value: i64 = if r == Rating::Like { 1 } else { -1 };
                sqlx::query(
                    "INSERT INTO video_ratings (video_id, user_id, rating, rated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (video_id, user_id) DO UPDATE SET rating = $5, rated_at = $6",
                )
                .bind(video_id)
                .bind(user_id)
                .bind(value)
                .bind(oxcast_media::clock::unix_seconds())
                .bind(value)
                .bind(oxcast_media::clock::unix_seconds())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM video_ratings WHERE video_id = $1 AND user_id = $2")
                    .bind(video_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN rating = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS likes, \
             CAST(COALESCE(SUM(CASE WHEN rating = -1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS dislikes \
             FROM video_ratings WHERE video_id = $1",
        )
        .bind(video_id)
        .fetch_one(&mut *tx)
        .await?;
        let (likes, dislikes): (i64, i64) = (row.try_get("likes")?, row.try_get("dislikes")?);
        sqlx::query("UPDATE videos SET likes = $1, dislikes = $2 WHERE id = $3")
            .bind(likes)
            .bind(dislikes)
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
        note(&mut tx, CatalogKind::Video, video_id).await?;
        tx.commit().await?;
        Ok((likes, dislikes))
    }

    /// `user_id`'s rating of the video, if any.
    pub async fn rating_of(&self, video_id: &str, user_id: &str) -> Result<Option<Rating>, StoreError> {
        let row = sqlx::query("SELECT rating FROM video_ratings WHERE video_id = $1 AND user_id = $2")
            .bind(video_id)
            .bind(user_id)
            .fetch_optional(self.pool)
            .await?;
        Ok(match row.map(|r| r.try_get::<i64, _>("rating")).transpose()? {
            Some(1) => Some(Rating::Like),
            Some(_) => Some(Rating::Dislike),
            None => None,
        })
    }

    /// Totals, the last `days` days, and the retention counts of a video.
    pub async fn stats(&self, video_id: &str, days: i64, today: i64) -> Result<VideoStats, StoreError> {
        let totals = sqlx::query("SELECT view_count, likes, dislikes FROM videos WHERE id = $1")
            .bind(video_id)
            .fetch_optional(self.pool)
            .await?
            .ok_or_else(|| StoreError::Invalid("no such video".into()))?;
        let watch =
            sqlx::query("SELECT CAST(COALESCE(SUM(watch_ms), 0) AS BIGINT) AS ms FROM video_daily WHERE video_id = $1")
                .bind(video_id)
                .fetch_one(self.pool)
                .await?;
        let rows =
            sqlx::query("SELECT day, views, watch_ms FROM video_daily WHERE video_id = $1 AND day > $2 ORDER BY day")
                .bind(video_id)
                .bind(today - days)
                .fetch_all(self.pool)
                .await?;
        let daily = rows
            .iter()
            .map(|r| Ok((r.try_get("day")?, r.try_get("views")?, r.try_get("watch_ms")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut retention = [0; BUCKETS];
        let rows = sqlx::query("SELECT bucket, views FROM video_retention WHERE video_id = $1")
            .bind(video_id)
            .fetch_all(self.pool)
            .await?;
        for r in &rows {
            let bucket: i64 = r.try_get("bucket")?;
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| retention.get_mut(b)) {
                *slot = r.try_get("views")?;
            }
        }
        Ok(VideoStats {
            views: totals.try_get("view_count")?,
            watch_ms: watch.try_get("ms")?,
            likes: totals.try_get("likes")?,
            dislikes: totals.try_get("dislikes")?,
            daily,
            retention,
        })
    }

    /// Videos `viewer` started and left before the end, newest first, one entry per video:
    /// (video id, where they left it in milliseconds). "Started" is past 5 s, "before the end" is
    /// before 95 % of the video; a video watched to the end since is not listed.
    pub async fn unfinished(&self, viewer: &str, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.video_id, s.position_ms, v.duration_ms FROM playback_sessions s \
             JOIN videos v ON v.id = s.video_id WHERE s.viewer = $1 AND v.status = 'ready' \
             ORDER BY s.last_at DESC, s.id LIMIT 200",
        )
        .bind(viewer)
        .fetch_all(self.pool)
        .await?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in &rows {
            let video: String = row.try_get("video_id")?;
            let position: i64 = row.try_get("position_ms")?;
            let duration: i64 = row.try_get::<Option<i64>, _>("duration_ms")?.unwrap_or(0);
            // The newest session of each video decides.
            if !seen.insert(video.clone()) {
                continue;
            }
            if position > 5_000 && position < duration * 95 / 100 {
                out.push((video, position));
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Forgets playback sessions idle since before `before` (Unix seconds): aggregates stay, and
    /// a session older than the view window no longer matters for counting.
    pub async fn prune_sessions(&self, before: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM playback_sessions WHERE last_at < $1").bind(before).execute(self.pool).await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::buckets_between;

    #[test]
    fn watched_ranges_mark_their_twentieths() {
        assert_eq!(buckets_between(0, 999, 20_000), 0b1, "the first twentieth");
        assert_eq!(buckets_between(9_000, 11_000, 20_000), (1 << 9) | (1 << 10), "two across 50 %");
        assert_eq!(buckets_between(19_000, 25_000, 20_000), 1 << 19, "clamped at the end");
        assert_eq!(buckets_between(0, 20_000, 20_000), (1 << 20) - 1, "everything");
        assert_eq!(buckets_between(0, 5_000, 0), 0, "no duration, no curve");
    }
}
