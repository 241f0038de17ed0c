//! The durable job queue, in the same database as everything else (so a job is queued in the
//! same place, and on the same two dialects, as the row it is about).
//!
//! Why not apalis: apalis-sqlite and apalis-postgres each bring their own storage type over a
//! concrete pool (a second pool beside the store's `Any` pool), their own tables and migrations
//! (outside `migrations/{sqlite,postgres}`), and a worker model built on tower services; what the
//! VOD jobs need besides a lease (progress, "no progress for a while → stop and retry", the
//! failure reason a person reads) would sit on top anyway. The queue is small enough to own.
//!
//! The model: [`Jobs::enqueue`] adds a queued job. A worker [`Jobs::claim`]s one of a kind: it
//! takes the lease (owner + expiry) and counts an attempt. It keeps the lease with
//! [`Jobs::heartbeat`] (also reporting progress) and ends with [`Jobs::complete`] or
//! [`Jobs::fail`] (retried after a backoff while attempts remain, else failed with the reason).
//! A job whose lease ran out (the worker died or hung) is claimable again; once it has used its
//! attempts that way, [`Jobs::reap`] fails it. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`
//! so workers on several nodes never take the same job; SQLite has a single writer.

use std::time::Duration;

use sqlx::{AnyPool, Row};

use crate::{Dialect, Secret, StoreError};

/// Delay before the second attempt; it doubles per attempt up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    /// What the kind's handler needs (JSON text it wrote itself).
    pub payload: String,
    pub state: JobState,
    /// Attempts started so far (the running one included).
    pub attempts: i64,
    pub max_attempts: i64,
    /// 0 to 1.
    pub progress: f64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub run_at: i64,
    pub lease_until: Option<i64>,
    pub created_at: i64,
}

/// What [`Jobs::fail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Queued again; it runs at this Unix millisecond.
    RetryAt(i64),
    /// No attempts left (or not retryable): failed for good.
    Failed,
    /// The caller no longer held the lease (another worker has the job now).
    LeaseLost,
}

fn now_ms() -> i64 {
    i64::try_from(oxcast_media::clock::unix_millis()).unwrap_or(i64::MAX)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The delay before attempt `attempts + 1`.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    (FIRST_BACKOFF * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

const COLUMNS: &str =
    "id, kind, payload, state, attempts, max_attempts, progress, last_error, run_at, lease_until, created_at";

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<Job, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        state: JobState::parse(&state).ok_or_else(|| StoreError::Invalid(format!("stored job state {state:?}")))?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        progress: row.try_get("progress")?,
        last_error: row.try_get("last_error")?,
        run_at: row.try_get("run_at")?,
        lease_until: row.try_get("lease_until")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Queues a job on `conn` (a transaction's, so a job is queued with the change it is about).
pub(crate) async fn enqueue_on(
    conn: &mut sqlx::AnyConnection,
    kind: &str,
    payload: &str,
    max_attempts: u32,
) -> Result<String, StoreError> {
    if kind.is_empty() || kind.len() > 64 {
        return Err(StoreError::Invalid("job kind must be 1 to 64 characters".into()));
    }
    let id = Secret::id("job_");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at) \
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6)",
    )
    .bind(&id)
    .bind(kind)
    .bind(payload)
    .bind(i64::from(max_attempts.max(1)))
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The queue (see [`crate::Store::jobs`]).
#[derive(Debug, Clone, Copy)]
pub struct Jobs<'a> {
    pool: &'a AnyPool,
    dialect: Dialect,
}

impl<'a> Jobs<'a> {
    pub(crate) fn new(pool: &'a AnyPool, dialect: Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Queues a job of `kind` to run now, with up to `max_attempts` attempts (at least 1).
    pub async fn enqueue(&self, kind: &str, payload: &str, max_attempts: u32) -> Result<Job, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let id = enqueue_on(&mut conn, kind, payload, max_attempts).await?;
        drop(conn);
        self.get(&id).await?.ok_or_else(|| StoreError::Invalid("job vanished after insert".into()))
    }

    /// Ends `worker`'s attempt with `reason`, to run again at `at_ms` (Unix milliseconds): for
    /// handlers with their own retry schedule. False when the worker had lost the job.
    pub async fn retry_at(&self, id: &str, worker: &str, reason: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(at_ms)
        .bind(reason)
        .bind(id)
        .bind(worker)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives `worker`'s job back untried, to run at `at_ms`: the claim does not count as an
    /// attempt (a worker that is busy with the job's neighbours defers it).
    pub async fn put_back(&self, id: &str, worker: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $1, attempts = attempts - 1, lease_owner = NULL, \
             lease_until = NULL WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(at_ms)
        .bind(id)
        .bind(worker)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Takes the next runnable job of `kind` for `worker`, holding it for `lease`: a queued job
    /// whose time has come, or a running one whose lease ran out. `None` when there is none.
    pub async fn claim(&self, kind: &str, worker: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        let now = now_ms();
        let lock = match self.dialect {
            // Concurrent claimers on other connections skip the row this one is taking.
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite serializes writers: the subquery and the update are one atomic statement.
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             progress_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE kind = $4 AND attempts < max_attempts \
               AND ((state = 'queued' AND run_at <= $5) OR (state = 'running' AND lease_until < $6)) \
               ORDER BY run_at, id LIMIT 1 {lock}) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(now.saturating_add(ms(lease)))
            .bind(now)
            .bind(kind)
            .bind(now)
            .bind(now)
            .fetch_optional(self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Keeps `worker`'s lease for another `lease` and records `progress` (0 to 1; it only moves
    /// forward). False when the worker lost the job: it must stop working on it.
    pub async fn heartbeat(&self, id: &str, worker: &str, lease: Duration, progress: f64) -> Result<bool, StoreError> {
        let now = now_ms();
        let progress = if progress.is_finite() { progress.clamp(0.0, 1.0) } else { 0.0 };
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1, \
             progress_at = CASE WHEN $2 > progress THEN $3 ELSE progress_at END, \
             progress = CASE WHEN $4 > progress THEN $5 ELSE progress END \
             WHERE id = $6 AND lease_owner = $7 AND state = 'running'",
        )
        .bind(now.saturating_add(ms(lease)))
        .bind(progress)
        .bind(now)
        .bind(progress)
        .bind(progress)
        .bind(id)
        .bind(worker)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When the job's progress last moved (Unix milliseconds), for stall detection.
    pub async fn progress_at(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT progress_at FROM jobs WHERE id = $1").bind(id).fetch_optional(self.pool).await?;
        Ok(match row {
            Some(r) => r.try_get("progress_at")?,
            None => None,
        })
    }

    /// Marks `worker`'s job done. False when the worker had lost it.
    pub async fn complete(&self, id: &str, worker: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', progress = 1, finished_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now_ms())
        .bind(id)
        .bind(worker)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends `worker`'s attempt with `reason`: queued again after [`backoff`] when `retry` and
    /// attempts remain, else failed for good. The reason is kept either way.
    pub async fn fail(&self, id: &str, worker: &str, reason: &str, retry: bool) -> Result<FailOutcome, StoreError> {
        let Some(job) = self.get(id).await? else { return Ok(FailOutcome::LeaseLost) };
        let now = now_ms();
        let (sql, outcome) = if retry && job.attempts < job.max_attempts {
            let at = now.saturating_add(ms(backoff(job.attempts)));
            (
                "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
                (at, FailOutcome::RetryAt(at)),
            )
        } else {
            (
                "UPDATE jobs SET state = 'failed', finished_at = $1, last_error = $2, lease_owner = NULL, \
                 lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
                (now, FailOutcome::Failed),
            )
        };
        let done = sqlx::query(sql).bind(outcome.0).bind(reason).bind(id).bind(worker).execute(self.pool).await?;
        Ok(if done.rows_affected() == 1 { outcome.1 } else { FailOutcome::LeaseLost })
    }

    /// Fails the jobs of `kind` whose lease ran out with no attempts left (their worker kept
    /// dying or hanging) and returns them, so their owners can be told why.
    pub async fn reap(&self, kind: &str) -> Result<Vec<Job>, StoreError> {
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET state = 'failed', finished_at = $1, lease_owner = NULL, lease_until = NULL, \
             last_error = COALESCE(last_error, 'the worker stopped responding') \
             WHERE kind = $2 AND state = 'running' AND lease_until < $3 AND attempts >= max_attempts \
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(kind).bind(now).fetch_all(self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }
}
