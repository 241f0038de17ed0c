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
use crate::moderation::{MAX_TRACKED_USERS, Refusal};
use crate::protocol::{UserInfo, Viewers};
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
        let (status, value, now_ms, slow_mode): (String, u64, u64, u32) = self
            .post
            .key(key(room, "bans"))
            .key(key(room, &format!("timeout:{}", user.id)))
            .key(key(room, "slow"))
            .key(key(room, "slow_last"))
            .key(key(room, &format!("rate:{}", user.id)))
            .key(key(room, "seq"))
            .arg(&user.id)
            .arg(if user.role == Role::Owner { "1" } else { "0" })
            .arg(if user.role.can_moderate() { "1" } else { "0" })
            .arg(user_rate.burst)
            .arg(period_ms)
            .arg(ROOM_DATA_TTL_SECS)
            .arg(MAX_TRACKED_USERS)
            .invoke_async(conn)
            .await?;
        let wait = Duration::from_millis(value);
        let refusal = match status.as_str() {
            "ok" => return Ok(PostDecision::Allowed { id: value, now_ms }),
            "banned" => Refusal::banned(),
            "timed_out" => Refusal::timed_out(wait),
            "slow_mode" => Refusal::slow_mode(slow_mode, wait),
            "rate_limited" => Refusal::user_rate_limited(wait),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use redis::AsyncCommands;

    use super::*;

    /// `post.lua` against the test Redis (`OXCAST_TEST_REDIS_URL`), with a tiny slot limit.
    #[tokio::test]
    async fn post_script_forgets_expired_slow_mode_slots_when_full() {
        let url = std::env::var("OXCAST_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let room = format!("t-script-{:016x}", rand::random::<u64>());
        let script = Script::new(include_str!("post.lua"));
        let post = |user: &str| {
            let mut invocation = script.prepare_invoke();
            invocation
                .key(key(&room, "bans"))
                .key(key(&room, &format!("timeout:{user}")))
                .key(key(&room, "slow"))
                .key(key(&room, "slow_last"))
                .key(key(&room, &format!("rate:{user}")))
                .key(key(&room, "seq"))
                .arg(user)
                .arg("0")
                .arg("0")
                .arg(100)
                .arg(1000)
                .arg(60)
                .arg(3);
            invocation
        };
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        let now = secs * 1000 + micros / 1000;
        let slots = key(&room, "slow_last");
        let _: () = conn.set(key(&room, "slow"), 1).await.unwrap();
        let _: () =
            conn.hset_multiple(&slots, &[("old-1", now - 5000), ("old-2", now - 5000), ("fresh", now)]).await.unwrap();

        // Three slots kept: the expired ones go before the fourth is added.
        let (status, id, _, slow): (String, u64, u64, u32) = post("u").invoke_async(&mut conn).await.unwrap();
        assert_eq!((status.as_str(), id, slow), ("ok", 1, 1));
        let mut kept: Vec<String> = conn.hkeys(&slots).await.unwrap();
        kept.sort();
        assert_eq!(kept, ["fresh", "u"]);
        // A kept slot still refuses, with the interval in force.
        let (status, wait, _, slow): (String, u64, u64, u32) = post("fresh").invoke_async(&mut conn).await.unwrap();
        assert_eq!((status.as_str(), slow), ("slow_mode", 1));
        assert!(wait > 0 && wait <= 1000, "{wait}");

        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("oxcast:chat:{room}*")).query_async(&mut conn).await.unwrap();
        let _: () = conn.del(keys).await.unwrap();
    }
}
