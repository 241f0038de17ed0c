//! The delivery worker: claims `webhook` jobs from the durable queue, sends each as a signed
//! POST, logs the attempt, and completes, retries or gives up.
//!
//! Isolation: at most `concurrency` deliveries run at once and at most `per_endpoint` of them
//! for one endpoint (a job claimed for an endpoint already at its share is put back untried for
//! a moment), every attempt has a timeout, and redirects are not followed. A receiver that
//! hangs costs its own slots for the timeout, never another receiver's delivery or anything
//! else the server does.
//!
//! Retries: after attempt `n` the next comes `first_retry × [1, 6, 24, 120, 360, 720, 1440,
//! 2880, 4320]` later (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 6 h with the default
//! 5 s; then every 6 h), until the retry window after the event has passed: then the delivery
//! fails for good (the attempts stay in the log). A job survives restarts (it is a row); a
//! worker that died mid-attempt leaves a lease that runs out, and another claim takes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use oxcast_store::{DELIVERY_JOB, Job, Store, StoreError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::destination::{self, GuardedResolver};
use crate::signature;

/// How deliveries behave (the `[webhooks]` configuration).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Deliveries in flight at once on this node.
    pub concurrency: usize,
    /// Of those, at most this many to one endpoint.
    pub per_endpoint: usize,
    /// Each attempt (connect, send, first byte of the answer).
    pub timeout: Duration,
    /// How long after the event retries go on.
    pub retry_window: Duration,
    /// The first retry's delay; later ones follow the schedule in the module doc.
    pub first_retry: Duration,
    /// Deliver to loopback and private addresses too.
    pub allow_private: bool,
    /// How often an idle worker looks for new deliveries.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            concurrency: 32,
            per_endpoint: 4,
            timeout: Duration::from_secs(10),
            retry_window: Duration::from_secs(24 * 3600),
            first_retry: Duration::from_secs(5),
            allow_private: false,
            poll: Duration::from_millis(500),
        }
    }
}

/// Multiples of the first retry delay, per attempt.
const SCHEDULE: [u32; 9] = [1, 6, 24, 120, 360, 720, 1440, 2880, 4320];

/// The delay after failed attempt `attempt` (1-based).
pub fn retry_delay(first_retry: Duration, attempt: i64) -> Duration {
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(SCHEDULE.len() - 1);
    first_retry * SCHEDULE[index]
}

/// Runs deliveries (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    settings: WebhookSettings,
    client: reqwest::Client,
    worker: String,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("worker", &self.worker).field("settings", &self.settings).finish()
    }
}

/// The job's payload.
struct Delivery {
    event: String,
    endpoint: String,
}

fn parse_job(job: &Job) -> Option<Delivery> {
    let v: serde_json::Value = serde_json::from_str(&job.payload).ok()?;
    Some(Delivery { event: v["event"].as_str()?.to_owned(), endpoint: v["endpoint"].as_str()?.to_owned() })
}

fn now_ms() -> i64 {
    i64::try_from(oxcast_media::clock::unix_millis()).unwrap_or(i64::MAX)
}

/// How one attempt went.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
}

impl Dispatcher {
    pub fn new(store: Store, settings: WebhookSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { allow_private: settings.allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("oxcast-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let worker = format!("webhooks-{:08x}", rand::random::<u32>());
        Ok(Self { store, settings, client, worker, in_flight: Arc::new(Mutex::new(HashMap::new())) })
    }

    /// Delivers until `shutdown`; deliveries run as tasks on `tracker`.
    pub async fn run(self, shutdown: CancellationToken, tracker: TaskTracker) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        // Longer than an attempt can take; a worker killed mid-attempt frees its job after this.
        let lease = self.settings.timeout + Duration::from_secs(5);
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => return,
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            };
            let job = match self.store.jobs().claim(DELIVERY_JOB, &self.worker, lease).await {
                Ok(Some(job)) => job,
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(self.settings.poll) => continue,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot claim deliveries");
                    drop(permit);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(self.settings.poll * 4) => continue,
                    }
                }
            };
            let Some(delivery) = parse_job(&job) else {
                let _ = self.store.jobs().fail(&job.id, &self.worker, "not a webhook delivery", false).await;
                continue;
            };
            if !self.take_slot(&delivery.endpoint) {
                // This endpoint has its share in flight: try it again in a moment, untried.
                let _ = self.store.jobs().put_back(&job.id, &self.worker, now_ms() + 250).await;
                drop(permit);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let this = self.clone();
            tracker.spawn(async move {
                let endpoint = delivery.endpoint.clone();
                if let Err(e) = this.deliver(&job, &delivery).await {
                    tracing::warn!(job = %job.id, error = %e, "webhooks: delivery bookkeeping failed");
                }
                this.release_slot(&endpoint);
                drop(permit);
            });
        }
    }

    fn take_slot(&self, endpoint: &str) -> bool {
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(endpoint.to_owned()).or_insert(0);
        if *n >= self.settings.per_endpoint.max(1) {
            return false;
        }
        *n += 1;
        true
    }

    fn release_slot(&self, endpoint: &str) {
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(endpoint) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(endpoint);
            }
        }
    }

    /// One attempt of one delivery, and what follows from it.
    async fn deliver(&self, job: &Job, delivery: &Delivery) -> Result<(), StoreError> {
        let jobs = self.store.jobs();
        let webhooks = self.store.webhooks();
        let (Some(event), Some(endpoint)) =
            (webhooks.event(&delivery.event).await?, webhooks.get(&delivery.endpoint).await?)
        else {
            // The endpoint (or its owner) was deleted: nothing to deliver to.
            jobs.complete(&job.id, &self.worker).await?;
            return Ok(());
        };
        if !endpoint.enabled {
            jobs.complete(&job.id, &self.worker).await?;
            return Ok(());
        }
        let started_ms = now_ms();
        let started = Instant::now();
        let outcome = self.send(&endpoint.url, &endpoint.secret, &event.id, &event.payload).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let delivered = outcome.status.is_some_and(|s| (200..300).contains(&s));
        let error = match (&outcome.error, outcome.status) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(s)) if !delivered => Some(format!("the receiver answered {s}")),
            _ => None,
        };
        let attempt = webhooks
            .record_attempt(
                &endpoint.id,
                &event.id,
                started_ms,
                duration_ms,
                outcome.status,
                error.as_deref(),
                delivered,
            )
            .await?;
        if delivered {
            jobs.complete(&job.id, &self.worker).await?;
            tracing::info!(endpoint = %endpoint.id, event = %event.id, kind = %event.kind, attempt, duration_ms, "webhook delivered");
            return Ok(());
        }
        let reason = error.unwrap_or_default();
        let next =
            now_ms() + i64::try_from(retry_delay(self.settings.first_retry, attempt).as_millis()).unwrap_or(i64::MAX);
        let window_end = event.created_at.saturating_mul(1000)
            + i64::try_from(self.settings.retry_window.as_millis()).unwrap_or(i64::MAX);
        if next > window_end {
            jobs.fail(&job.id, &self.worker, &reason, false).await?;
            tracing::warn!(endpoint = %endpoint.id, event = %event.id, attempt, %reason, "webhook given up after its retry window");
        } else {
            jobs.retry_at(&job.id, &self.worker, &reason, next).await?;
            tracing::info!(endpoint = %endpoint.id, event = %event.id, attempt, %reason, retry_in_ms = next - now_ms(), "webhook attempt failed; will retry");
        }
        Ok(())
    }

    async fn send(&self, url: &str, secret: &str, id: &str, body: &str) -> Outcome {
        if let Err(e) = destination::check_url(url, self.settings.allow_private) {
            return Outcome { status: None, error: Some(e.to_string()) };
        }
        let timestamp = oxcast_media::clock::unix_seconds();
        let signature = match signature::sign(secret, id, timestamp, body) {
            Ok(s) => s,
            Err(e) => return Outcome { status: None, error: Some(e.to_string()) },
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) => Outcome { status: Some(response.status().as_u16()), error: None },
            Err(e) => Outcome { status: None, error: Some(describe(&e)) },
        }
    }
}

/// A transport error as a person reads it, with its innermost cause (the refused address, the
/// timeout, the refused connection).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the receiver did not answer in time".to_owned();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_connect() { "could not connect" } else { "the request failed" };
    format!("{what}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_on_the_schedule() {
        let first = Duration::from_secs(5);
        let delays: Vec<u64> = (1..=11).map(|n| retry_delay(first, n).as_secs()).collect();
        assert_eq!(delays, [5, 30, 120, 600, 1800, 3600, 7200, 14400, 21600, 21600, 21600]);
        assert_eq!(retry_delay(first, 0), first);
    }
}
