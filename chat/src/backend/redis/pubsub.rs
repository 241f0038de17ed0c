//! The node's one pub/sub connection: room events from Redis into this node's hub.
//!
//! [`run`] keeps the connection alive: connect, re-subscribe every room this node still wants,
//! forward messages, ping now and then to notice a silent death, and on any failure start over
//! with backoff. [`PubSub`] is the handle the backend keeps: it subscribes a room before a socket
//! reads history (so no event falls in between) and drops rooms without sockets. Events published
//! while the connection is down are lost; clients see `unavailable` for their own actions.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::PubSubSink;
use tokio_util::sync::CancellationToken;

use super::commands::{CHANNEL_PREFIX, channel};
use crate::backend::BackendError;
use crate::room::{RoomEvent, RoomHub};

/// Bound on any single pub/sub control command.
const PUBSUB_OP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the pub/sub connection is pinged to detect a silent death.
const PUBSUB_PING_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Subscriptions {
    /// Sink of the live pub/sub connection, `None` while reconnecting.
    sink: Option<PubSubSink>,
    /// Rooms this node wants events of.
    wanted: HashSet<String>,
    /// Rooms subscribed on the current connection.
    active: HashSet<String>,
}

/// Shared between the backend and the [`run`] loop.
#[derive(Clone, Default)]
pub(super) struct PubSub {
    subs: Arc<tokio::sync::Mutex<Subscriptions>>,
}

impl PubSub {
    /// Subscribes `room` on the current connection (and on every later one). The first join may
    /// race the loop's first connection: it waits up to 2 s for one.
    pub(super) async fn ensure_subscribed(&self, room: &str) -> Result<(), BackendError> {
        for _ in 0..20 {
            let mut subs = self.subs.lock().await;
            subs.wanted.insert(room.to_owned());
            if subs.active.contains(room) {
                return Ok(());
            }
            if let Some(mut sink) = subs.sink.clone() {
                return match tokio::time::timeout(PUBSUB_OP_TIMEOUT, sink.subscribe(channel(room))).await {
                    Ok(Ok(())) => {
                        subs.active.insert(room.to_owned());
                        Ok(())
                    }
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(BackendError::Unavailable("subscribe timed out".into())),
                };
            }
            drop(subs);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(BackendError::Unavailable("redis pub/sub is reconnecting".into()))
    }

    /// Unsubscribes every room that has no sockets in `hub` any more.
    pub(super) async fn release_unused(&self, hub: &RoomHub) {
        let mut subs = self.subs.lock().await;
        let stale: Vec<String> = subs.wanted.iter().filter(|r| !hub.has_room(r)).cloned().collect();
        for room in stale {
            subs.wanted.remove(&room);
            if subs.active.remove(&room)
                && let Some(mut sink) = subs.sink.clone()
            {
                let r = tokio::time::timeout(PUBSUB_OP_TIMEOUT, sink.unsubscribe(channel(&room))).await;
                if !matches!(r, Ok(Ok(()))) {
                    tracing::debug!(room, "unsubscribe failed; the connection will be replaced");
                }
            }
        }
    }
}

/// Keeps one pub/sub connection alive until `cancel`: connect, re-subscribe every wanted room,
/// forward messages into the hub, ping now and then; on any failure start over with backoff.
pub(super) async fn run(client: redis::Client, hub: Arc<RoomHub>, pubsub: PubSub, cancel: CancellationToken) {
    let subs = pubsub.subs;
    let mut backoff = BACKOFF_MIN;
    while !cancel.is_cancelled() {
        let connected = tokio::select! {
            () = cancel.cancelled() => return,
            r = tokio::time::timeout(PUBSUB_OP_TIMEOUT, client.get_async_pubsub()) => r,
        };
        let pubsub = match connected {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, ?backoff, "redis pub/sub connect failed; retrying");
                sleep_or_cancel(backoff, &cancel).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            Err(_) => {
                tracing::warn!(?backoff, "redis pub/sub connect timed out; retrying");
                sleep_or_cancel(backoff, &cancel).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let resubscribed = {
            let mut s = subs.lock().await;
            s.active.clear();
            let rooms: Vec<String> = s.wanted.iter().cloned().collect();
            let mut ok = true;
            for room in rooms {
                match tokio::time::timeout(PUBSUB_OP_TIMEOUT, sink.subscribe(channel(&room))).await {
                    Ok(Ok(())) => {
                        s.active.insert(room);
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                s.sink = Some(sink.clone());
            }
            ok
        };
        if !resubscribed {
            tracing::warn!("redis pub/sub re-subscribe failed; reconnecting");
            sleep_or_cancel(backoff, &cancel).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        tracing::info!("redis pub/sub connected");
        backoff = BACKOFF_MIN;
        let mut ping = tokio::time::interval(PUBSUB_PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                msg = stream.next() => match msg {
                    Some(msg) => dispatch(&hub, &msg),
                    None => break,
                },
                _ = ping.tick() => {
                    let alive = tokio::time::timeout(PUBSUB_OP_TIMEOUT, sink.ping::<String>()).await;
                    if !matches!(alive, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        {
            let mut s = subs.lock().await;
            s.sink = None;
            s.active.clear();
        }
        tracing::warn!("redis pub/sub connection lost; reconnecting");
        sleep_or_cancel(BACKOFF_MIN, &cancel).await;
    }
}

/// One message from a room's channel → that room's sockets on this node.
fn dispatch(hub: &RoomHub, msg: &redis::Msg) {
    let Some(room) = msg.get_channel_name().strip_prefix(CHANNEL_PREFIX) else {
        return;
    };
    let payload: String = match msg.get_payload() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(room, error = %e, "unreadable pub/sub payload");
            return;
        }
    };
    match RoomEvent::from_json(payload) {
        Ok(ev) => {
            hub.send(room, ev);
        }
        Err(e) => tracing::warn!(room, error = %e, "unknown event on room channel"),
    }
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) {
    tokio::select! {
        () = cancel.cancelled() => {}
        () = tokio::time::sleep(d) => {}
    }
}
