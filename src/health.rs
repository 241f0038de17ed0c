//! Whether the services this node depends on answer: the database, the media storage and (when
//! chat is shared) Redis. Each is probed every [`PROBE_EVERY`] with a [`PROBE_TIMEOUT`]; a change
//! is logged once (a warning naming the error when a service goes away, the outage's length when
//! it is back) and `/metrics` shows it: `oxcast_service_up`, `oxcast_service_outages_total` and
//! `oxcast_service_down_seconds_total` per service.
//!
//! Why probes and not counting failed requests: a quiet node has no requests to fail, and an
//! operator who restarts PostgreSQL wants to see the node notice and recover without traffic.
//! The probes only observe: reconnecting is each client's own business (sqlx's pool opens new
//! connections, redis's connection manager and the chat's pub/sub loop reconnect, object_store
//! makes a request per call), so what the probes report is what the node's real work meets.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use oxcast_chat::ChatService;
use oxcast_store::Store;
use oxcast_vod::{ObjectKey, Storage};
use tokio_util::sync::CancellationToken;

/// How often each service is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a probe may take before the service counts as away.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One probe: `Ok` when the service answered.
type Probe = Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Debug, Default, Clone)]
struct State {
    up: bool,
    since: Option<Instant>,
    outages: u64,
    down_before: Duration,
}

struct Service {
    name: &'static str,
    probe: Probe,
    state: Mutex<State>,
}

/// The services of this node and what their probes found.
pub struct ServiceHealth {
    services: Vec<Service>,
}

impl ServiceHealth {
    /// The database, the media storage, and Redis when `chat` shares rooms through it.
    pub fn new(store: &Store, media: &Arc<dyn Storage>, redis_chat: Option<&ChatService>) -> Arc<Self> {
        let mut services = vec![
            service("database", {
                let store = store.clone();
                move || {
                    let store = store.clone();
                    Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
                }
            }),
            service("storage", {
                let media = media.clone();
                move || {
                    let media = media.clone();
                    Box::pin(async move {
                        // Any answer, "no such object" included, means the storage is there.
                        let key = ObjectKey::new("health-probe").map_err(|e| e.to_string())?;
                        media.head(&key).await.map(|_| ()).map_err(|e| e.to_string())
                    })
                }
            }),
        ];
        if let Some(chat) = redis_chat {
            let chat = chat.clone();
            services.push(service("redis", move || {
                let chat = chat.clone();
                Box::pin(async move { chat.ping().await.map_err(|e| e.to_string()) })
            }));
        }
        Arc::new(Self { services })
    }

    /// Probes every service once and records (and logs) what changed.
    pub async fn probe_all(&self) {
        let results = futures_util::future::join_all(self.services.iter().map(|s| async move {
            match tokio::time::timeout(PROBE_TIMEOUT, (s.probe)()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
            }
        }))
        .await;
        let now = Instant::now();
        for (service, result) in self.services.iter().zip(results) {
            let mut state = service.state.lock().unwrap_or_else(PoisonError::into_inner);
            let name = service.name;
            match (result, state.since.is_some(), state.up) {
                (Ok(()), false, _) => {
                    tracing::info!(service = name, "service answers");
                    (state.up, state.since) = (true, Some(now));
                }
                (Ok(()), true, false) => {
                    let down = state.since.map_or(Duration::ZERO, |t| now - t);
                    state.down_before += down;
                    tracing::warn!(service = name, down_seconds = down.as_secs_f64(), "service reachable again");
                    (state.up, state.since) = (true, Some(now));
                }
                (Err(error), known, up) if up || !known => {
                    state.outages += 1;
                    tracing::error!(service = name, %error, "service unreachable; work that needs it waits and retries");
                    (state.up, state.since) = (false, Some(now));
                }
                _ => {}
            }
        }
    }

    /// Whether `service` answered its last probe (`None` for a service this node does not use).
    #[cfg(test)]
    fn is_up(&self, service: &str) -> Option<bool> {
        self.services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.state.lock().unwrap_or_else(PoisonError::into_inner).up)
    }

    /// The Prometheus lines for every service.
    pub fn render_metrics(&self, out: &mut String) {
        let now = Instant::now();
        let _ = writeln!(out, "# TYPE oxcast_service_up gauge");
        let states: Vec<(&str, State)> = self
            .services
            .iter()
            .map(|s| (s.name, s.state.lock().unwrap_or_else(PoisonError::into_inner).clone()))
            .collect();
        for (name, state) in &states {
            let _ = writeln!(out, "oxcast_service_up{{service=\"{name}\"}} {}", u8::from(state.up));
        }
        let _ = writeln!(out, "# TYPE oxcast_service_outages_total counter");
        for (name, state) in &states {
            let _ = writeln!(out, "oxcast_service_outages_total{{service=\"{name}\"}} {}", state.outages);
        }
        let _ = writeln!(out, "# TYPE oxcast_service_down_seconds_total counter");
        for (name, state) in &states {
            let ongoing = match (state.up, state.since) {
                (false, Some(since)) => now - since,
                _ => Duration::ZERO,
            };
            let total = (state.down_before + ongoing).as_secs_f64();
            let _ = writeln!(out, "oxcast_service_down_seconds_total{{service=\"{name}\"}} {total:.3}");
        }
    }
}

fn service(
    name: &'static str,
    probe: impl Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
) -> Service {
    Service { name, probe: Box::new(probe), state: Mutex::new(State::default()) }
}

/// Probes every [`PROBE_EVERY`] until shutdown.
pub async fn watch(health: Arc<ServiceHealth>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => health.probe_all().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn health_with(flag: Arc<AtomicBool>) -> ServiceHealth {
        let probe = service("database", move || {
            let up = flag.load(Ordering::SeqCst);
            Box::pin(async move { if up { Ok(()) } else { Err("connection refused".into()) } })
        });
        ServiceHealth { services: vec![probe] }
    }

    #[tokio::test]
    async fn an_outage_is_counted_once_and_its_length_kept() {
        let flag = Arc::new(AtomicBool::new(true));
        let health = health_with(flag.clone());
        health.probe_all().await;
        assert_eq!(health.is_up("database"), Some(true));
        assert_eq!(health.is_up("redis"), None);
        flag.store(false, Ordering::SeqCst);
        health.probe_all().await;
        health.probe_all().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(health.is_up("database"), Some(false));
        flag.store(true, Ordering::SeqCst);
        health.probe_all().await;
        let mut out = String::new();
        health.render_metrics(&mut out);
        assert!(out.contains("oxcast_service_up{service=\"database\"} 1"), "{out}");
        assert!(out.contains("oxcast_service_outages_total{service=\"database\"} 1"), "{out}");
        let down: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("oxcast_service_down_seconds_total{service=\"database\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(down >= 0.03, "{out}");
    }

    #[tokio::test]
    async fn a_service_away_at_start_is_an_outage() {
        let flag = Arc::new(AtomicBool::new(false));
        let health = health_with(flag);
        health.probe_all().await;
        let mut out = String::new();
        health.render_metrics(&mut out);
        assert!(out.contains("oxcast_service_up{service=\"database\"} 0"), "{out}");
        assert!(out.contains("oxcast_service_outages_total{service=\"database\"} 1"), "{out}");
    }
}
