//! The catalog's change log: what derived data (the search index on every node) follows.
//!
//! Each change to what search shows writes a row in `catalog_changes` in the same transaction
//! ([`note`]), so a follower never misses a committed change and never sees one that rolled back.
//! A row names only the item (`video` + id, `stream` + name); the follower reads the item as it is
//! now, which makes applying a change idempotent and lets it skip to the newest state.
//!
//! One subtlety on PostgreSQL: sequence numbers are taken when a row is inserted, not when its
//! transaction commits, so a follower can see seq 11 before seq 10 commits. [`CatalogChanges::after`]
//! returns the rows past a position, and [`safe_position`] says how far a follower may move its
//! position: to the end of the rows it saw, except that it stops before a gap younger than
//! [`GAP_GRACE_SECONDS`] (a transaction still in flight); an older gap is a rolled-back
//! transaction's and is passed. Rows past the position are read again next time, which is
//! harmless because applying is idempotent. (SQLite has one writer at a time: no gaps.)

use sqlx::{AnyConnection, AnyPool, Row};

use crate::StoreError;

/// A gap in the sequence younger than this may still be filled by a committing transaction.
pub const GAP_GRACE_SECONDS: i64 = 30;

/// What kind of item changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogKind {
    Video,
    Stream,
}

impl CatalogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Stream => "stream",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "video" => Ok(Self::Video),
            "stream" => Ok(Self::Stream),
            other => Err(StoreError::Invalid(format!("unknown catalog kind {other:?}"))),
        }
    }
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChange {
    pub seq: i64,
    pub kind: CatalogKind,
    /// The video's id or the stream's name.
    pub item: String,
    /// Unix seconds.
    pub changed_at: i64,
}

/// Records that `item` changed, on the connection (transaction) of the change itself.
pub(crate) async fn note(conn: &mut AnyConnection, kind: CatalogKind, item: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO catalog_changes (kind, item, changed_at) VALUES ($1, $2, $3)")
        .bind(kind.as_str())
        .bind(item)
        .bind(oxcast_media::clock::unix_seconds())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How far a follower that was at `position` and read `rows` (ascending) may move, at `now`.
pub fn safe_position(position: i64, rows: &[CatalogChange], now: i64) -> i64 {
    let mut safe = position;
    for row in rows {
        if row.seq != safe + 1 && row.changed_at > now - GAP_GRACE_SECONDS {
            break;
        }
        safe = row.seq;
    }
    safe
}

/// The change log (see [`crate::Store::catalog_changes`]).
#[derive(Debug, Clone, Copy)]
pub struct CatalogChanges<'a> {
    pool: &'a AnyPool,
}

impl<'a> CatalogChanges<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Up to `limit` rows after `position`, oldest first.
    pub async fn after(&self, position: i64, limit: i64) -> Result<Vec<CatalogChange>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, kind, item, changed_at FROM catalog_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(position)
                .bind(limit)
                .fetch_all(self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(CatalogChange {
                    seq: r.try_get("seq")?,
                    kind: CatalogKind::parse(&r.try_get::<String, _>("kind")?)?,
                    item: r.try_get("item")?,
                    changed_at: r.try_get("changed_at")?,
                })
            })
            .collect()
    }

    /// The newest seq (0 when the log is empty): where a rebuild that reads every table after
    /// asking starts following.
    pub async fn newest(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS n FROM catalog_changes").fetch_one(self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>("n")?.unwrap_or(0))
    }

    /// The oldest seq still kept (`None` when the log is empty): a follower whose position is
    /// older than the one before it missed pruned rows and must rebuild.
    pub async fn oldest(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MIN(seq) AS n FROM catalog_changes").fetch_one(self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Removes rows older than `before` (Unix seconds), keeping the newest row whatever its age
    /// (so the log's position survives a quiet week); returns how many went.
    pub async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM catalog_changes WHERE changed_at < $1 AND seq < (SELECT MAX(seq) FROM catalog_changes)",
        )
        .bind(before)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, changed_at: i64) -> CatalogChange {
        CatalogChange { seq, kind: CatalogKind::Video, item: format!("v{seq}"), changed_at }
    }

    #[test]
    fn the_position_stops_before_a_young_gap_and_passes_an_old_one() {
        let now = 1_000;
        assert_eq!(safe_position(4, &[row(5, now), row(6, now)], now), 6, "no gap");
        assert_eq!(safe_position(4, &[row(5, now), row(7, now)], now), 5, "seq 6 may still commit");
        assert_eq!(safe_position(4, &[row(6, now)], now), 4);
        assert_eq!(safe_position(4, &[row(5, now), row(7, now - 60), row(8, now)], now), 8, "6 rolled back long ago");
        assert_eq!(safe_position(4, &[], now), 4);
    }
}
