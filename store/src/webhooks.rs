//! Webhooks: endpoints, the events they receive, and the log of every delivery attempt.
//!
//! An event is a Standard Webhooks message (`id` = the `webhook-id` header, the JSON body
//! `{"type", "timestamp", "data"}`), stored once with its exact body, and fanned out to one
//! delivery job (kind [`DELIVERY_JOB`] in the job queue) per enabled endpoint of the owner that
//! wants its type. [`emit`] does both on the connection it is given, so the store's own
//! transitions (a video created, ready or failed, a broadcast ended) record their event in the
//! same transaction as the change: the event exists if and only if the change does. Events with
//! no endpoint to go to are not stored. The payload's JSON is written here because it has to be
//! fixed when the transaction commits (the signature covers it byte for byte).

use sqlx::{AnyPool, Row};

use crate::page::{NewestFirst, Page, PageRequest, newest_first};
use crate::{Secret, StoreError};

/// The job kind of a delivery; its payload is `{"event": ID, "endpoint": ID}`.
pub const DELIVERY_JOB: &str = "webhook";
/// Deliveries end by age (the worker's retry window), not by count: this is only a backstop.
const DELIVERY_MAX_ATTEMPTS: u32 = 1000;
pub const MAX_ENDPOINT_URL_CHARS: usize = 2000;
pub const MAX_ENDPOINTS_PER_USER: i64 = 50;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    StreamStarted,
    StreamEnded,
    VideoCreated,
    VideoReady,
    VideoFailed,
    RecordingReady,
    BroadcastEnded,
    /// Sent only by "send test event", only to the endpoint it is sent to.
    Test,
}

impl EventType {
    /// The types an endpoint can subscribe to.
    pub const ALL: [EventType; 7] = [
        EventType::StreamStarted,
        EventType::StreamEnded,
        EventType::VideoCreated,
        EventType::VideoReady,
        EventType::VideoFailed,
        EventType::RecordingReady,
        EventType::BroadcastEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StreamStarted => "stream.started",
            EventType::StreamEnded => "stream.ended",
            EventType::VideoCreated => "video.created",
            EventType::VideoReady => "video.ready",
            EventType::VideoFailed => "video.failed",
            EventType::RecordingReady => "recording.ready",
            EventType::BroadcastEnded => "broadcast.ended",
            EventType::Test => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            StoreError::Invalid(format!("unknown event type {s:?}; known: {}", known.join(", ")))
        })
    }
}

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `wh_` + 16 hex.
    pub id: String,
    pub owner_id: String,
    pub url: String,
    /// The types it receives; `None`: every type.
    pub events: Option<Vec<EventType>>,
    /// `whsec_` + base64 of 24 random bytes.
    pub secret: String,
    pub description: String,
    pub enabled: bool,
    pub created_at: i64,
}

impl Endpoint {
    pub fn wants(&self, event: EventType) -> bool {
        event == EventType::Test || self.events.as_ref().is_none_or(|list| list.contains(&event))
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `msg_` + 32 hex: the `webhook-id`, the same on every attempt (receivers deduplicate by it).
    pub id: String,
    pub owner_id: String,
    pub kind: String,
    /// The body, exactly as sent.
    pub payload: String,
    /// Unix seconds: the `webhook-timestamp` base (each attempt sends its own time).
    pub created_at: i64,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    /// The event's type (joined from the event).
    pub event_type: String,
    /// 1 for the first attempt of this event at this endpoint.
    pub attempt: i64,
    /// Unix milliseconds.
    pub started_at: i64,
    pub duration_ms: i64,
    /// The receiver's answer, when there was one.
    pub status_code: Option<i64>,
    /// Why there was no 2xx (a timeout, a refused address, the status).
    pub error: Option<String>,
    pub delivered: bool,
}

/// What an endpoint is registered with (checked by the caller: URL syntax and the address rule
/// are the HTTP side's; the store checks lengths and event names).
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    pub owner_id: &'a str,
    pub url: &'a str,
    pub events: Option<Vec<EventType>>,
    pub description: &'a str,
}

fn events_column(events: &Option<Vec<EventType>>) -> String {
    match events {
        None => " * ".to_owned(),
        Some(list) => format!(" {} ", list.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" ")),
    }
}

fn endpoint_from_row(row: &sqlx::any::AnyRow) -> Result<Endpoint, StoreError> {
    let events: String = row.try_get("events")?;
    let events = if events.trim() == "*" {
        None
    } else {
        Some(events.split_whitespace().map(EventType::parse).collect::<Result<Vec<_>, _>>()?)
    };
    Ok(Endpoint {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        url: row.try_get("url")?,
        events,
        secret: row.try_get("secret")?,
        description: row.try_get("description")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

const ENDPOINT_COLUMNS: &str = "id, owner_id, url, events, secret, description, enabled, created_at";

fn attempt_from_row(row: &sqlx::any::AnyRow) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        id: row.try_get("id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("type")?,
        attempt: row.try_get("attempt")?,
        started_at: row.try_get("started_at")?,
        duration_ms: row.try_get("duration_ms")?,
        status_code: row.try_get("status_code")?,
        error: row.try_get("error")?,
        delivered: row.try_get::<i64, _>("delivered")? != 0,
    })
}

/// What the store checks of an endpoint (the URL's form and address are the HTTP side's):
/// lengths and a non-empty event list; returns the trimmed description.
fn checked(url: &str, events: &Option<Vec<EventType>>, description: &str) -> Result<String, StoreError> {
    if url.is_empty() || url.chars().count() > MAX_ENDPOINT_URL_CHARS {
        return Err(StoreError::Invalid(format!("url must be 1 to {MAX_ENDPOINT_URL_CHARS} characters")));
    }
    if events.as_ref().is_some_and(Vec::is_empty) {
        return Err(StoreError::Invalid("events must name at least one type (or be left out for all)".into()));
    }
    crate::text::one_line(description, "description", 200)
}

/// A new secret in the Standard Webhooks form.
fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Records `event` for `owner_id` on `conn` (a transaction's, where there is one) and queues a
/// delivery to each of the owner's enabled endpoints that wants it (`only`: to that endpoint
/// alone). Returns the event id, or `None` when no endpoint wants it (nothing is stored).
pub(crate) async fn emit(
    conn: &mut sqlx::AnyConnection,
    owner_id: &str,
    event: EventType,
    data: serde_json::Value,
    only: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let rows = sqlx::query("SELECT id, events FROM webhook_endpoints WHERE owner_id = $1 AND enabled = 1")
        .bind(owner_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut targets = Vec::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        let events: String = row.try_get("events")?;
        let wanted = match only {
            Some(endpoint) => endpoint == id,
            None => events.contains(" * ") || events.contains(&format!(" {} ", event.as_str())),
        };
        if wanted {
            targets.push(id);
        }
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let id = Secret::long_id("msg_");
    let now = oxcast_media::clock::unix_seconds();
    let timestamp = oxcast_media::clock::rfc3339_millis(std::time::SystemTime::now());
    let payload = serde_json::json!({"type": event.as_str(), "timestamp": timestamp, "data": data}).to_string();
    sqlx::query("INSERT INTO webhook_events (id, owner_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(owner_id)
        .bind(event.as_str())
        .bind(&payload)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    for endpoint in targets {
        // Both ids are [a-z0-9_]: no escaping needed.
        let job = format!("{{\"event\":\"{id}\",\"endpoint\":\"{endpoint}\"}}");
        crate::jobs::enqueue_on(&mut *conn, DELIVERY_JOB, &job, DELIVERY_MAX_ATTEMPTS).await?;
    }
    Ok(Some(id))
}

/// Webhook endpoints, events and attempts (see [`crate::Store::webhooks`]).
#[derive(Debug, Clone, Copy)]
pub struct Webhooks<'a> {
    pool: &'a AnyPool,
}

impl<'a> Webhooks<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Registers an endpoint with a new secret.
    pub async fn create(&self, new: NewEndpoint<'_>) -> Result<Endpoint, StoreError> {
        let description = checked(new.url, &new.events, new.description)?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE owner_id = $1")
            .bind(new.owner_id)
            .fetch_one(self.pool)
            .await?
            .try_get("n")?;
        if count >= MAX_ENDPOINTS_PER_USER {
            return Err(StoreError::Invalid(format!("at most {MAX_ENDPOINTS_PER_USER} webhook endpoints per user")));
        }
        let endpoint = Endpoint {
            id: Secret::id("wh_"),
            owner_id: new.owner_id.to_owned(),
            url: new.url.to_owned(),
            events: new.events,
            secret: new_secret(),
            description,
            enabled: true,
            created_at: oxcast_media::clock::unix_seconds(),
        };
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, owner_id, url, events, secret, description, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.owner_id)
        .bind(&endpoint.url)
        .bind(events_column(&endpoint.events))
        .bind(&endpoint.secret)
        .bind(&endpoint.description)
        .bind(endpoint.created_at)
        .execute(self.pool)
        .await?;
        Ok(endpoint)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Endpoints newest first: `owner`'s, or everyone's with `None`.
    pub async fn page(&self, owner: Option<&str>, page: &PageRequest) -> Result<Page<Endpoint>, StoreError> {
        let query = NewestFirst {
            table: "webhook_endpoints",
            columns: ENDPOINT_COLUMNS,
            time_column: "created_at",
            filter: owner.map(|o| ("owner_id", o)),
        };
        newest_first(self.pool, query, page, endpoint_from_row, |e| (e.created_at, &e.id)).await
    }

    /// Replaces what is set; false if there is no such endpoint.
    pub async fn update(&self, endpoint: &Endpoint) -> Result<bool, StoreError> {
        let description = checked(&endpoint.url, &endpoint.events, &endpoint.description)?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, events = $2, description = $3, enabled = $4 WHERE id = $5",
        )
        .bind(&endpoint.url)
        .bind(events_column(&endpoint.events))
        .bind(description)
        .bind(i64::from(endpoint.enabled))
        .bind(&endpoint.id)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes an endpoint; its queued deliveries find it gone and end. False if there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id).execute(self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records `event` (outside any other change: live sessions, test events); see [`emit`].
    pub async fn emit(
        &self,
        owner_id: &str,
        event: EventType,
        data: serde_json::Value,
        only: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        emit(&mut conn, owner_id, event, data, only).await
    }

    pub async fn event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        let row = sqlx::query("SELECT id, owner_id, type, payload, created_at FROM webhook_events WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Event {
            id: r.try_get("id")?,
            owner_id: r.try_get("owner_id")?,
            kind: r.try_get("type")?,
            payload: r.try_get("payload")?,
            created_at: r.try_get("created_at")?,
        }))
    }

    /// Logs one attempt; returns its number (1 for the first at this endpoint for this event).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_attempt(
        &self,
        endpoint_id: &str,
        event_id: &str,
        started_at_ms: i64,
        duration_ms: i64,
        status_code: Option<u16>,
        error: Option<&str>,
        delivered: bool,
    ) -> Result<i64, StoreError> {
        let previous: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM webhook_attempts WHERE endpoint_id = $1 AND event_id = $2")
                .bind(endpoint_id)
                .bind(event_id)
                .fetch_one(self.pool)
                .await?
                .try_get("n")?;
        sqlx::query(
            "INSERT INTO webhook_attempts (id, endpoint_id, event_id, attempt, started_at, duration_ms, status_code, \
             error, delivered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Secret::id("wha_"))
        .bind(endpoint_id)
        .bind(event_id)
        .bind(previous + 1)
        .bind(started_at_ms)
        .bind(duration_ms)
        .bind(status_code.map(i64::from))
        .bind(error)
        .bind(i64::from(delivered))
        .execute(self.pool)
        .await?;
        Ok(previous + 1)
    }

    /// Forgets events and attempts from before `before` (Unix seconds), and the finished
    /// delivery jobs of that age: the log is kept for a while, not forever. (A delivery still
    /// queued for a forgotten event finds nothing to send and ends.) Returns how many events
    /// and attempts went.
    pub async fn prune(&self, before: i64) -> Result<(u64, u64), StoreError> {
        let attempts = sqlx::query("DELETE FROM webhook_attempts WHERE started_at < $1")
            .bind(before.saturating_mul(1000))
            .execute(self.pool)
            .await?
            .rows_affected();
        let events = sqlx::query("DELETE FROM webhook_events WHERE created_at < $1")
            .bind(before)
            .execute(self.pool)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM jobs WHERE kind = $1 AND state IN ('done', 'failed') AND finished_at < $2")
            .bind(DELIVERY_JOB)
            .bind(before.saturating_mul(1000))
            .execute(self.pool)
            .await?;
        Ok((events, attempts))
    }

    /// An endpoint's attempts, newest first.
    pub async fn attempts(&self, endpoint_id: &str, page: &PageRequest) -> Result<Page<Attempt>, StoreError> {
        let query = NewestFirst {
            table: "webhook_attempts a JOIN webhook_events e ON e.id = a.event_id",
            columns: "a.id AS id, a.endpoint_id AS endpoint_id, a.event_id AS event_id, e.type AS type, \
                      a.attempt AS attempt, a.started_at AS started_at, a.duration_ms AS duration_ms, \
                      a.status_code AS status_code, a.error AS error, a.delivered AS delivered",
            time_column: "a.started_at",
            filter: Some(("a.endpoint_id", endpoint_id)),
        };
        newest_first(self.pool, query, page, attempt_from_row, |a| (a.started_at, &a.id)).await
    }
}
