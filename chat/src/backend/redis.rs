//! The Redis backend: room state shared by every node, events carried over pub/sub.
//!
//! Layout (all per room; `{room}` is a validated stream name):
//! - `oxcast:chat:{room}` — pub/sub channel of the room's events (JSON server frames).
//! - `oxcast:chat:{room}:history` — list of message JSON, newest first, capped with LTRIM.
//! - `oxcast:chat:{room}:seq` — message id counter.
//! - `oxcast:chat:{room}:bans` / `:owners` — sets of user ids.
//! - `oxcast:chat:{room}:timeout:{user}` — exists while the user is timed out (TTL = timeout).
//! - `oxcast:chat:{room}:slow` — slow-mode seconds; `:last:{user}` — TTL = slow-mode interval.
//! - `oxcast:chat:{room}:rate:{user}` — per-user token bucket (hash, expires when idle).
//! - `oxcast:presence:{room}` — sorted set viewer key → expiry (unix ms); `…:peak` — the peak.
//!
//! A post is decided in one Lua script (ban, timeout, slow mode, user rate, id allocation) so
//! concurrent nodes cannot both let a user through; the script uses Redis' clock for the
//! rate limiter so node clocks do not matter there. Commands go through a
//! `ConnectionManager`, which reconnects by itself; pub/sub runs in [`pubsub_loop`], which
//! reconnects with backoff and re-subscribes every room this node still has sockets in.
//! Events published while Redis is down are lost (clients see `unavailable` errors for their
//! own actions); history, bans and the rest live as long as Redis keeps them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use redis::{AsyncCommands, Script};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{BackendError, ChatBackend, JoinState, PostOutcome, unix_ms};
use crate::identity::{Identity, Role};
use crate::moderation::Refusal;
use crate::protocol::{ChatMessage, ErrorCode, ServerFrame, UserInfo, Viewers};
use crate::rate_limit::RateSpec;
use crate::room::{RoomEvent, RoomHub};

const CHANNEL_PREFIX: &str = "oxcast:chat:";
/// Idle room data (history, counter) expires after a week without posts.
const ROOM_DATA_TTL_SECS: i64 = 7 * 24 * 3600;
/// Bound on any single pub/sub control command.
const PUBSUB_OP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the pub/sub connection is pinged to detect a silent death.
const PUBSUB_PING_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

fn channel(room: &str) -> String {
    format!("{CHANNEL_PREFIX}{room}")
}

fn key(room: &str, what: &str) -> String {
    format!("{CHANNEL_PREFIX}{room}:{what}")
}

fn presence_key(room: &str) -> String {
    format!("oxcast:presence:{room}")
}

/// Decides a post; returns {status, value, now_ms}. See `moderation::RoomRules::check_post`
/// for the reference semantics.
const POST_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '0' then
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'banned', 0, now} end
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return {'timed_out', ttl, now} end
end
local slow = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
local slow_applies = slow > 0 and ARGV[3] == '0'
if slow_applies then
  local ttl = redis.call('PTTL', KEYS[4])
  if ttl > 0 then return {'slow_mode', ttl, now} end
end
local burst = tonumber(ARGV[4])
local period = tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[5], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * burst / period)
  ts = now
end
if tokens < 1 then
  return {'rate_limited', math.ceil((1 - tokens) * period / burst), now}
end
redis.call('HSET', KEYS[5], 'tokens', tostring(tokens - 1), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[5], period * 2)
if slow_applies then redis.call('SET', KEYS[4], '1', 'PX', slow * 1000) end
local id = redis.call('INCR', KEYS[6])
redis.call('EXPIRE', KEYS[6], ARGV[6])
return {'ok', id, now}
";

/// Drops expired presence, returns {current, peak} and raises the peak.
const VIEWERS_SCRIPT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local c = redis.call('ZCARD', KEYS[1])
local p = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if c > p then
  p = c
  redis.call('SET', KEYS[2], p)
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {c, p}
";

#[derive(Default)]
struct Subscriptions {
    /// Sink of the live pub/sub connection, `None` while reconnecting.
    sink: Option<PubSubSink>,
    /// Rooms this node wants events of.
    wanted: HashSet<String>,
    /// Rooms subscribed on the current connection.
    active: HashSet<String>,
}

/// Room state in Redis; see the module doc for the key layout.
pub struct RedisBackend {
    conn: ConnectionManager,
    hub: Arc<RoomHub>,
    subs: Arc<tokio::sync::Mutex<Subscriptions>>,
    history_len: usize,
    user_rate: RateSpec,
    post_script: Script,
    viewers_script: Script,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects (commands must work now) and starts the pub/sub loop on `tracker`.
    pub async fn connect(
        url: &str,
        hub: Arc<RoomHub>,
        history_len: usize,
        user_rate: RateSpec,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, BackendError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = client.get_connection_manager_with_config(config).await?;
        let subs = Arc::new(tokio::sync::Mutex::new(Subscriptions::default()));
        tracker.spawn(pubsub_loop(client, Arc::clone(&hub), Arc::clone(&subs), cancel));
        Ok(Self {
            conn,
            hub,
            subs,
            history_len,
            user_rate,
            post_script: Script::new(POST_SCRIPT),
            viewers_script: Script::new(VIEWERS_SCRIPT),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn publish(&self, room: &str, frame: &ServerFrame) -> Result<(), BackendError> {
        let _: i64 = self.conn().publish(channel(room), frame.to_json()).await?;
        Ok(())
    }

    async fn do_post(&self, room: &str, user: &UserInfo, text: &str) -> Result<PostOutcome, BackendError> {
        let mut conn = self.conn();
        let period_ms = u64::try_from(self.user_rate.period.as_millis()).unwrap_or(u64::MAX);
        let (status, value, now): (String, u64, u64) = self
            .post_script
            .key(key(room, "bans"))
            .key(key(room, &format!("timeout:{}", user.id)))
            .key(key(room, "slow"))
            .key(key(room, &format!("last:{}", user.id)))
            .key(key(room, &format!("rate:{}", user.id)))
            .key(key(room, "seq"))
            .arg(&user.id)
            .arg(if user.role == Role::Owner { "1" } else { "0" })
            .arg(if user.role.can_moderate() { "1" } else { "0" })
            .arg(self.user_rate.burst)
            .arg(period_ms)
            .arg(ROOM_DATA_TTL_SECS)
            .invoke_async(&mut conn)
            .await?;
        let wait = Duration::from_millis(value);
        let refusal = match status.as_str() {
            "ok" => None,
            "banned" => Some(Refusal::new(ErrorCode::Banned, "you are banned from this chat")),
            "timed_out" => Some(Refusal::new(ErrorCode::TimedOut, "you are timed out").retry_after(wait)),
            "slow_mode" => Some(Refusal::new(ErrorCode::SlowMode, "slow mode is on").retry_after(wait)),
            "rate_limited" => {
                Some(Refusal::new(ErrorCode::RateLimited, "you are sending messages too fast").retry_after(wait))
            }
            other => return Err(BackendError::Corrupt(format!("post script said {other}"))),
        };
        if let Some(r) = refusal {
            return Ok(PostOutcome::Refused(r));
        }
        let msg = ChatMessage { id: value, user: user.clone(), text: text.to_owned(), at: now };
        let stored =
            serde_json::to_string(&msg).map_err(|e| BackendError::Corrupt(format!("message serialization: {e}")))?;
        let history = key(room, "history");
        let cap = isize::try_from(self.history_len).unwrap_or(isize::MAX);
        redis::pipe()
            .lpush(&history, stored)
            .ignore()
            .ltrim(&history, 0, cap - 1)
            .ignore()
            .expire(&history, ROOM_DATA_TTL_SECS)
            .ignore()
            .publish(channel(room), ServerFrame::Message(msg.clone()).to_json())
            .ignore()
            .exec_async(&mut conn)
            .await?;
        Ok(PostOutcome::Posted(msg))
    }

    async fn do_history(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, BackendError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let end = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let raw: Vec<String> = self.conn().lrange(key(room, "history"), 0, end).await?;
        let mut msgs: Vec<ChatMessage> = raw
            .iter()
            .filter_map(|s| match serde_json::from_str(s) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(room, error = %e, "skipping unreadable history entry");
                    None
                }
            })
            .collect();
        // Concurrent posts may push slightly out of id order; clients expect id order.
        msgs.sort_by_key(|m: &ChatMessage| m.id);
        Ok(msgs)
    }

    async fn do_delete(&self, room: &str, id: u64) -> Result<(), BackendError> {
        let history = key(room, "history");
        let raw: Vec<String> = self.conn().lrange(&history, 0, -1).await?;
        for s in raw {
            if serde_json::from_str::<ChatMessage>(&s).is_ok_and(|m| m.id == id) {
                let _: i64 = self.conn().lrem(&history, 1, s).await?;
            }
        }
        self.publish(room, &ServerFrame::Deleted { id }).await
    }

    async fn do_set_banned(&self, room: &str, user: &str, banned: bool) -> Result<(), BackendError> {
        let bans = key(room, "bans");
        let user = user.to_owned();
        let frame = if banned {
            let _: i64 = self.conn().sadd(bans, &user).await?;
            ServerFrame::UserBanned { user }
        } else {
            let _: i64 = self.conn().srem(bans, &user).await?;
            ServerFrame::UserUnbanned { user }
        };
        self.publish(room, &frame).await
    }

    async fn do_set_timeout(&self, room: &str, user: &str, until: u64) -> Result<(), BackendError> {
        let k = key(room, &format!("timeout:{user}"));
        let now = unix_ms();
        if until > now {
            let _: () = self.conn().pset_ex(k, until, until - now).await?;
        } else {
            let _: i64 = self.conn().del(k).await?;
        }
        self.publish(room, &ServerFrame::UserTimedOut { user: user.to_owned(), until }).await
    }

    async fn do_set_slow_mode(&self, room: &str, seconds: u32) -> Result<(), BackendError> {
        let k = key(room, "slow");
        if seconds > 0 {
            let _: () = self.conn().set(k, seconds).await?;
        } else {
            let _: i64 = self.conn().del(k).await?;
        }
        self.publish(room, &ServerFrame::SlowMode { seconds }).await
    }

    async fn do_join_state(&self, room: &str, who: &Identity) -> Result<JoinState, BackendError> {
        let mut pipe = redis::pipe();
        if who.role == Role::Owner {
            pipe.sadd(key(room, "owners"), &who.id).ignore();
        }
        pipe.sismember(key(room, "bans"), &who.id).get(key(room, "slow"));
        let (banned, slow): (bool, Option<u32>) = pipe.query_async(&mut self.conn()).await?;
        Ok(JoinState { banned: banned && who.role != Role::Owner, slow_mode: slow.unwrap_or(0) })
    }

    async fn do_ensure_subscribed(&self, room: &str) -> Result<(), BackendError> {
        // The first join may race the pub/sub loop's first connection: give it a moment.
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

    async fn do_release_unused(&self) {
        let mut subs = self.subs.lock().await;
        let stale: Vec<String> = subs.wanted.iter().filter(|r| !self.hub.has_room(r)).cloned().collect();
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

impl ChatBackend for RedisBackend {
    fn ensure_subscribed<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.do_ensure_subscribed(room))
    }

    fn release_unused(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.do_release_unused())
    }

    fn post<'a>(
        &'a self,
        room: &'a str,
        user: &'a UserInfo,
        text: &'a str,
    ) -> BoxFuture<'a, Result<PostOutcome, BackendError>> {
        Box::pin(self.do_post(room, user, text))
    }

    fn history<'a>(&'a self, room: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<ChatMessage>, BackendError>> {
        Box::pin(self.do_history(room, limit))
    }

    fn delete_message<'a>(&'a self, room: &'a str, id: u64) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.do_delete(room, id))
    }

    fn set_banned<'a>(&'a self, room: &'a str, user: &'a str, banned: bool) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.do_set_banned(room, user, banned))
    }

    fn set_timeout<'a>(
        &'a self,
        room: &'a str,
        user: &'a str,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.do_set_timeout(room, user, until_ms))
    }

    fn set_slow_mode<'a>(&'a self, room: &'a str, seconds: u32) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.do_set_slow_mode(room, seconds))
    }

    fn join_state<'a>(&'a self, room: &'a str, who: &'a Identity) -> BoxFuture<'a, Result<JoinState, BackendError>> {
        Box::pin(self.do_join_state(room, who))
    }

    fn is_owner<'a>(&'a self, room: &'a str, user: &'a str) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            let owner: bool = self.conn().sismember(key(room, "owners"), user).await?;
            Ok(owner)
        })
    }

    fn presence_touch<'a>(
        &'a self,
        room: &'a str,
        keys: &'a [String],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(());
            }
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            let expires = unix_ms().saturating_add(ttl_ms);
            let items: Vec<(u64, &str)> = keys.iter().map(|k| (expires, k.as_str())).collect();
            let pk = presence_key(room);
            redis::pipe()
                .zadd_multiple(&pk, &items)
                .ignore()
                .pexpire(&pk, i64::try_from(ttl_ms.saturating_mul(2)).unwrap_or(i64::MAX))
                .ignore()
                .exec_async(&mut self.conn())
                .await?;
            Ok(())
        })
    }

    fn presence_remove<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let _: i64 = self.conn().zrem(presence_key(room), key).await?;
            Ok(())
        })
    }

    fn viewers<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Viewers, BackendError>> {
        Box::pin(async move {
            let pk = presence_key(room);
            let (current, peak): (u64, u64) = self
                .viewers_script
                .key(&pk)
                .key(format!("{pk}:peak"))
                .arg(unix_ms())
                .arg(ROOM_DATA_TTL_SECS)
                .invoke_async(&mut self.conn())
                .await?;
            Ok(Viewers { current, peak })
        })
    }
}

/// Keeps one pub/sub connection alive: connect, re-subscribe every wanted room, forward
/// messages into the hub, ping now and then; on any failure start over with backoff.
async fn pubsub_loop(
    client: redis::Client,
    hub: Arc<RoomHub>,
    subs: Arc<tokio::sync::Mutex<Subscriptions>>,
    cancel: CancellationToken,
) {
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
