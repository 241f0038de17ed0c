//! The Redis keys of a room and the plain commands (no scripts) the backend sends.
//!
//! Layout (all per room; `{room}` is a validated stream name):
//! - `oxcast:chat:{room}` — pub/sub channel of the room's events (JSON server frames).
//! - `oxcast:chat:{room}:history` — list of message JSON, newest first, capped with LTRIM.
//! - `oxcast:chat:{room}:seq` — message id counter.
//! - `oxcast:chat:{room}:bans` / `:owners` — sets of user ids.
//! - `oxcast:chat:{room}:timeout:{user}` — exists while the user is timed out (TTL = timeout).
//! - `oxcast:chat:{room}:slow` — slow-mode seconds; `:slow_last` — hash user → unix ms of their
//!   last post under slow mode (deleted when slow mode is turned off).
//! - `oxcast:chat:{room}:rate:{user}` — per-user token bucket (hash, expires when idle).
//! - `oxcast:presence:{room}` — sorted set viewer key → expiry (unix ms); `…:peak` — the peak.
//!
//! Every change that clients see is published on the room's channel after it is made, so every
//! node's sockets hear of it (`pubsub` delivers it to this node's hub like anyone else's).

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::scripts::{PostDecision, Scripts};
use crate::backend::{BackendError, JoinState, PostOutcome, unix_ms};
use crate::identity::{Identity, Role};
use crate::protocol::{ChatMessage, ServerFrame, UserInfo};
use crate::rate_limit::RateSpec;

pub(super) const CHANNEL_PREFIX: &str = "oxcast:chat:";
/// Idle room data (history, counter) expires after a week without posts.
pub(super) const ROOM_DATA_TTL_SECS: i64 = 7 * 24 * 3600;

pub(super) fn channel(room: &str) -> String {
    format!("{CHANNEL_PREFIX}{room}")
}

pub(super) fn key(room: &str, what: &str) -> String {
    format!("{CHANNEL_PREFIX}{room}:{what}")
}

pub(super) fn presence_key(room: &str) -> String {
    format!("oxcast:presence:{room}")
}

async fn publish(conn: &mut ConnectionManager, room: &str, frame: &ServerFrame) -> Result<(), BackendError> {
    let _: i64 = conn.publish(channel(room), frame.to_json()).await?;
    Ok(())
}

/// Decides the post (`post.lua`) and, if allowed, stores it in the capped history and publishes
/// it, in one pipeline.
pub(super) async fn post(
    mut conn: ConnectionManager,
    scripts: &Scripts,
    room: &str,
    user: &UserInfo,
    text: &str,
    history_len: usize,
    user_rate: RateSpec,
) -> Result<PostOutcome, BackendError> {
    let (id, at) = match scripts.decide_post(&mut conn, room, user, user_rate).await? {
        PostDecision::Allowed { id, now_ms } => (id, now_ms),
        PostDecision::Refused(refusal) => return Ok(PostOutcome::Refused(refusal)),
    };
    let msg = ChatMessage { id, user: user.clone(), text: text.to_owned(), at };
    let stored =
        serde_json::to_string(&msg).map_err(|e| BackendError::Corrupt(format!("message serialization: {e}")))?;
    let history = key(room, "history");
    let cap = isize::try_from(history_len).unwrap_or(isize::MAX);
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

/// The last `limit` messages, oldest first (unreadable entries skipped).
pub(super) async fn history(
    mut conn: ConnectionManager,
    room: &str,
    limit: usize,
) -> Result<Vec<ChatMessage>, BackendError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let end = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
    let raw: Vec<String> = conn.lrange(key(room, "history"), 0, end).await?;
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

pub(super) async fn delete_message(mut conn: ConnectionManager, room: &str, id: u64) -> Result<(), BackendError> {
    let history = key(room, "history");
    let raw: Vec<String> = conn.lrange(&history, 0, -1).await?;
    for s in raw {
        if serde_json::from_str::<ChatMessage>(&s).is_ok_and(|m| m.id == id) {
            let _: i64 = conn.lrem(&history, 1, s).await?;
        }
    }
    publish(&mut conn, room, &ServerFrame::Deleted { id }).await
}

pub(super) async fn set_banned(
    mut conn: ConnectionManager,
    room: &str,
    user: &str,
    banned: bool,
) -> Result<(), BackendError> {
    let bans = key(room, "bans");
    let user = user.to_owned();
    let frame = if banned {
        let _: i64 = conn.sadd(bans, &user).await?;
        ServerFrame::UserBanned { user }
    } else {
        let _: i64 = conn.srem(bans, &user).await?;
        ServerFrame::UserUnbanned { user }
    };
    publish(&mut conn, room, &frame).await
}

/// The timeout key lives until `until` (unix ms); a time not in the future deletes it.
pub(super) async fn set_timeout(
    mut conn: ConnectionManager,
    room: &str,
    user: &str,
    until: u64,
) -> Result<(), BackendError> {
    let k = key(room, &format!("timeout:{user}"));
    let now = unix_ms();
    if until > now {
        let _: () = conn.pset_ex(k, until, until - now).await?;
    } else {
        let _: i64 = conn.del(k).await?;
    }
    publish(&mut conn, room, &ServerFrame::UserTimedOut { user: user.to_owned(), until }).await
}

/// Sets the interval (the users' last posts are kept: a new interval counts from them); 0 turns
/// slow mode off and forgets the last posts, as `RoomRules::set_slow_mode` does.
pub(super) async fn set_slow_mode(mut conn: ConnectionManager, room: &str, seconds: u32) -> Result<(), BackendError> {
    let k = key(room, "slow");
    if seconds > 0 {
        let _: () = conn.set(k, seconds).await?;
    } else {
        let _: i64 = conn.del(&[k, key(room, "slow_last")]).await?;
    }
    publish(&mut conn, room, &ServerFrame::SlowMode { seconds }).await
}

/// Records an owner (see [`is_owner`]) and reads ban status and slow mode, in one pipeline.
pub(super) async fn join_state(
    mut conn: ConnectionManager,
    room: &str,
    who: &Identity,
) -> Result<JoinState, BackendError> {
    let mut pipe = redis::pipe();
    if who.role == Role::Owner {
        pipe.sadd(key(room, "owners"), &who.id).ignore();
    }
    pipe.sismember(key(room, "bans"), &who.id).get(key(room, "slow"));
    let (banned, slow): (bool, Option<u32>) = pipe.query_async(&mut conn).await?;
    Ok(JoinState { banned: banned && who.role != Role::Owner, slow_mode: slow.unwrap_or(0) })
}

pub(super) async fn is_owner(mut conn: ConnectionManager, room: &str, user: &str) -> Result<bool, BackendError> {
    Ok(conn.sismember(key(room, "owners"), user).await?)
}

/// Marks `keys` present until `ttl` from now; the set itself expires after twice that.
pub(super) async fn presence_touch(
    mut conn: ConnectionManager,
    room: &str,
    keys: &[String],
    ttl: Duration,
) -> Result<(), BackendError> {
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
        .exec_async(&mut conn)
        .await?;
    Ok(())
}

pub(super) async fn presence_remove(mut conn: ConnectionManager, room: &str, key: &str) -> Result<(), BackendError> {
    let _: i64 = conn.zrem(presence_key(room), key).await?;
    Ok(())
}
