//! The two Lua scripts of the Redis backend, each kept in a `.lua` file next to this one and
//! compiled in with `include_str!`, and the typed calls that run them.
//!
//! A script runs atomically in Redis, which is why these two steps are scripts and not plain
//! commands: `post.lua` decides a post (ban, timeout, slow mode, per-user rate, message id) so
//! that two nodes cannot both let a user through, and `viewers.lua` expires presence and raises
//! the peak in one step. Each file's header lists its KEYS and ARGV.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::commands::{ROOM_DATA_TTL_SECS, key, presence_key};
use crate::backend::{BackendError, unix_ms};
use crate::identity::Role;
use crate::moderation::Refusal;
use crate::protocol::{ErrorCode, UserInfo, Viewers};
use crate::rate_limit::RateSpec;

/// What `post.lua` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PostDecision {
    /// Allowed: the message gets `id`, stamped with Redis' clock.
    Allowed {
        id: u64,
        now_ms: u64,
    },
    Refused(Refusal),
}

/// The scripts, hashed once (`EVALSHA`, loading them again after a Redis restart).
pub(super) struct Scripts {
    post: Script,
    viewers: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self { post: Script::new(include_str!("post.lua")), viewers: Script::new(include_str!("viewers.lua")) }
    }

    /// Runs `post.lua` for `user` in `room`; on `Allowed` the slow-mode slot, a rate token and a
    /// message id are taken.
    pub(super) async fn decide_post(
        &self,
        conn: &mut ConnectionManager,
        room: &str,
        user: &UserInfo,
        user_rate: RateSpec,
    ) -> Result<PostDecision, BackendError> {
        let period_ms = u64::try_from(user_rate.period.as_millis()).unwrap_or(u64::MAX);
        let (status, value, now_ms): (String, u64, u64) = self
            .post
            .key(key(room, "bans"))
            .key(key(room, &format!("timeout:{}", user.id)))
            .key(key(room, "slow"))
            .key(key(room, &format!("last:{}", user.id)))
            .key(key(room, &format!("rate:{}", user.id)))
            .key(key(room, "seq"))
            .arg(&user.id)
            .arg(if user.role == Role::Owner { "1" } else { "0" })
            .arg(if user.role.can_moderate() { "1" } else { "0" })
            .arg(user_rate.burst)
            .arg(period_ms)
            .arg(ROOM_DATA_TTL_SECS)
            .invoke_async(conn)
            .await?;
        let wait = Duration::from_millis(value);
        let refusal = match status.as_str() {
            "ok" => return Ok(PostDecision::Allowed { id: value, now_ms }),
            "banned" => Refusal::new(ErrorCode::Banned, "you are banned from this chat"),
            "timed_out" => Refusal::new(ErrorCode::TimedOut, "you are timed out").retry_after(wait),
            "slow_mode" => Refusal::new(ErrorCode::SlowMode, "slow mode is on").retry_after(wait),
            "rate_limited" => {
                Refusal::new(ErrorCode::RateLimited, "you are sending messages too fast").retry_after(wait)
            }
            other => return Err(BackendError::Corrupt(format!("post script said {other}"))),
        };
        Ok(PostDecision::Refused(refusal))
    }

    /// Runs `viewers.lua`: the room's distinct present keys now, and its peak.
    pub(super) async fn viewers(&self, mut conn: ConnectionManager, room: &str) -> Result<Viewers, BackendError> {
        let pk = presence_key(room);
        let (current, peak): (u64, u64) = self
            .viewers
            .key(&pk)
            .key(format!("{pk}:peak"))
            .arg(unix_ms())
            .arg(ROOM_DATA_TTL_SECS)
            .invoke_async(&mut conn)
            .await?;
        Ok(Viewers { current, peak })
    }
}
