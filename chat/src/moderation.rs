//! Moderation and posting rules, as pure functions and one in-memory state machine.
//!
//! Who may do what: only owners and moderators moderate; nobody times out or bans an owner, and
//! owners are immune to bans and timeouts even if one was recorded. Slow mode applies to
//! non-moderators. [`RoomRules`] is the per-room state the in-process backend keeps (bans,
//! timeouts, slow mode, per-user buckets); the Redis backend keeps the same state in Redis keys
//! and applies the same checks in the same order (ban, timeout, slow mode, user rate) in a Lua
//! script, so the rules here are the reference for both (`tests/scenarios.rs` runs every chat
//! scenario on both backends). The refusals' texts are shared too ([`Refusal::banned`] etc.).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::identity::{Identity, Role};
use crate::protocol::{ErrorCode, ServerFrame};
use crate::rate_limit::{RateSpec, TokenBucket};

/// A refused request, turned into an `error` frame for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }

    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    /// The post refusals of both backends (so the texts cannot differ between them either).
    pub fn banned() -> Self {
        Self::new(ErrorCode::Banned, "you are banned from this chat")
    }

    pub fn timed_out(wait: Duration) -> Self {
        Self::new(ErrorCode::TimedOut, "you are timed out").retry_after(wait)
    }

    pub fn slow_mode(seconds: u32, wait: Duration) -> Self {
        Self::new(ErrorCode::SlowMode, format!("slow mode: one message every {seconds} s")).retry_after(wait)
    }

    pub fn user_rate_limited(wait: Duration) -> Self {
        Self::new(ErrorCode::RateLimited, "you are sending messages too fast").retry_after(wait)
    }

    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::Error {
            code: self.code,
            message: self.message.clone(),
            retry_after_ms: self.retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
        }
    }
}

/// Refused unless the actor is an owner or a moderator.
pub fn require_moderator(actor: &Identity) -> Result<(), Refusal> {
    if actor.role.can_moderate() {
        Ok(())
    } else {
        Err(Refusal::new(ErrorCode::Forbidden, "only the owner and moderators can moderate"))
    }
}

/// Checks a timeout/ban target. `target_is_owner` comes from the backend's record of owners.
pub fn check_target(actor: &Identity, target: &str, target_is_owner: bool) -> Result<(), Refusal> {
    require_moderator(actor)?;
    if target.is_empty() || target.len() > 256 {
        return Err(Refusal::new(ErrorCode::BadRequest, "invalid user id"));
    }
    if target == actor.id {
        return Err(Refusal::new(ErrorCode::BadRequest, "cannot moderate yourself"));
    }
    if target_is_owner {
        return Err(Refusal::new(ErrorCode::Forbidden, "the owner cannot be timed out or banned"));
    }
    Ok(())
}

/// Validates a timeout duration (0 lifts the timeout).
pub fn check_timeout_secs(seconds: u64, max: u64) -> Result<(), Refusal> {
    if seconds > max {
        Err(Refusal::new(ErrorCode::BadRequest, format!("timeout is limited to {max} seconds")))
    } else {
        Ok(())
    }
}

/// Validates a slow mode interval (0 = off).
pub fn check_slow_mode_secs(seconds: u32, max: u32) -> Result<(), Refusal> {
    if seconds > max {
        Err(Refusal::new(ErrorCode::BadRequest, format!("slow mode is limited to {max} seconds")))
    } else {
        Ok(())
    }
}

/// Buckets (and slow-mode slots) kept before idle (full, expired) ones are forgotten.
pub(crate) const MAX_TRACKED_USERS: usize = 4096;

/// Per-room moderation and posting state of the in-process backend.
#[derive(Debug, Default)]
pub struct RoomRules {
    bans: HashSet<String>,
    /// user → unix ms until which they are timed out.
    timeouts: HashMap<String, u64>,
    slow_mode: u32,
    last_post: HashMap<String, Instant>,
    buckets: HashMap<String, TokenBucket>,
    owners: HashSet<String>,
}

impl RoomRules {
    pub fn note_owner(&mut self, user: &str) {
        self.owners.insert(user.to_owned());
    }

    pub fn is_owner(&self, user: &str) -> bool {
        self.owners.contains(user)
    }

    pub fn set_banned(&mut self, user: &str, banned: bool) {
        if banned {
            self.bans.insert(user.to_owned());
        } else {
            self.bans.remove(user);
        }
    }

    pub fn is_banned(&self, user: &str, role: Role) -> bool {
        role != Role::Owner && self.bans.contains(user)
    }

    /// `until_ms == 0` (or in the past) lifts the timeout.
    pub fn set_timeout(&mut self, user: &str, until_ms: u64, now_ms: u64) {
        self.timeouts.retain(|_, until| *until > now_ms);
        if until_ms > now_ms {
            self.timeouts.insert(user.to_owned(), until_ms);
        } else {
            self.timeouts.remove(user);
        }
    }

    pub fn timed_out_until(&self, user: &str, role: Role, now_ms: u64) -> Option<u64> {
        if role == Role::Owner {
            return None;
        }
        self.timeouts.get(user).copied().filter(|u| *u > now_ms)
    }

    pub fn slow_mode(&self) -> u32 {
        self.slow_mode
    }

    /// The interval in force counts from each user's last post, so a change applies at once;
    /// 0 turns slow mode off and forgets the last posts.
    pub fn set_slow_mode(&mut self, seconds: u32) {
        self.slow_mode = seconds;
        if seconds == 0 {
            self.last_post.clear();
        }
    }

    /// Decides whether `user` may post now; on success, consumes their slow-mode slot and a
    /// token of their per-user bucket. Checks run in the order ban, timeout, slow mode, rate.
    pub fn check_post(
        &mut self,
        user: &str,
        role: Role,
        user_rate: RateSpec,
        now: Instant,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        if self.is_banned(user, role) {
            return Err(Refusal::banned());
        }
        if let Some(until) = self.timed_out_until(user, role, now_ms) {
            return Err(Refusal::timed_out(Duration::from_millis(until - now_ms)));
        }
        let slow = Duration::from_secs(u64::from(self.slow_mode));
        let slow_applies = self.slow_mode > 0 && !role.can_moderate();
        if slow_applies && let Some(last) = self.last_post.get(user) {
            let next = *last + slow;
            if next > now {
                return Err(Refusal::slow_mode(self.slow_mode, next - now));
            }
        }
        if self.buckets.len() >= MAX_TRACKED_USERS {
            self.buckets.retain(|_, b| !b.is_full(now));
        }
        let bucket = self.buckets.entry(user.to_owned()).or_insert_with(|| TokenBucket::new(user_rate, now));
        bucket.try_take(now).map_err(Refusal::user_rate_limited)?;
        if slow_applies {
            if self.last_post.len() >= MAX_TRACKED_USERS {
                self.last_post.retain(|_, t| *t + slow > now);
            }
            self.last_post.insert(user.to_owned(), now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str, role: Role) -> Identity {
        Identity::new(id, id, role)
    }

    const RATE: RateSpec = RateSpec::new(3, Duration::from_secs(10));

    #[test]
    fn only_moderators_moderate_and_never_the_owner() {
        assert_eq!(require_moderator(&id("v", Role::Viewer)).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(require_moderator(&id("g", Role::Guest)).unwrap_err().code, ErrorCode::Forbidden);
        require_moderator(&id("m", Role::Moderator)).unwrap();
        require_moderator(&id("o", Role::Owner)).unwrap();
        let m = id("m", Role::Moderator);
        check_target(&m, "v", false).unwrap();
        assert_eq!(check_target(&m, "o", true).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(check_target(&m, "m", false).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(check_target(&m, "", false).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(check_target(&id("v", Role::Viewer), "x", false).unwrap_err().code, ErrorCode::Forbidden);
        check_timeout_secs(60, 3600).unwrap();
        assert!(check_timeout_secs(3601, 3600).is_err());
        check_slow_mode_secs(0, 10).unwrap();
        assert!(check_slow_mode_secs(11, 10).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn bans_and_timeouts_refuse_posts_but_not_owners() {
        let mut r = RoomRules::default();
        let now = Instant::now();
        r.set_banned("bob", true);
        r.set_banned("own", true);
        assert_eq!(r.check_post("bob", Role::Viewer, RATE, now, 1000).unwrap_err().code, ErrorCode::Banned);
        r.check_post("own", Role::Owner, RATE, now, 1000).unwrap();
        r.set_banned("bob", false);
        r.check_post("bob", Role::Viewer, RATE, now, 1000).unwrap();

        r.set_timeout("bob", 5000, 1000);
        let e = r.check_post("bob", Role::Viewer, RATE, now, 2000).unwrap_err();
        assert_eq!(e.code, ErrorCode::TimedOut);
        assert_eq!(e.retry_after, Some(Duration::from_millis(3000)));
        r.check_post("bob", Role::Viewer, RATE, now, 5000).unwrap();
        r.set_timeout("bob", 9000, 5000);
        r.set_timeout("bob", 0, 5000);
        r.check_post("bob", Role::Viewer, RATE, now, 5001).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn slow_mode_spares_moderators() {
        let mut r = RoomRules::default();
        r.set_slow_mode(10);
        let t0 = Instant::now();
        r.check_post("v", Role::Viewer, RATE, t0, 0).unwrap();
        let e = r.check_post("v", Role::Viewer, RATE, t0 + Duration::from_secs(4), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::SlowMode);
        assert_eq!(e.retry_after, Some(Duration::from_secs(6)));
        // Refused posts do not restart the slow-mode clock.
        r.check_post("v", Role::Viewer, RATE, t0 + Duration::from_secs(10), 0).unwrap();
        r.check_post("m", Role::Moderator, RATE, t0, 0).unwrap();
        r.check_post("m", Role::Moderator, RATE, t0, 0).unwrap();
        r.set_slow_mode(0);
        r.check_post("v", Role::Viewer, RATE, t0 + Duration::from_secs(10), 0).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn per_user_rate_is_shared_by_all_of_a_users_posts() {
        let mut r = RoomRules::default();
        let now = Instant::now();
        for _ in 0..3 {
            r.check_post("u", Role::Viewer, RATE, now, 0).unwrap();
        }
        let e = r.check_post("u", Role::Viewer, RATE, now, 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(e.retry_after.is_some());
        r.check_post("other", Role::Viewer, RATE, now, 0).unwrap();
        tokio::time::advance(Duration::from_secs(4)).await;
        r.check_post("u", Role::Viewer, RATE, Instant::now(), 0).unwrap();
    }

    #[test]
    fn refusal_frame_carries_retry_hint() {
        let f = Refusal::new(ErrorCode::SlowMode, "x").retry_after(Duration::from_millis(1500)).to_frame();
        assert_eq!(
            f,
            ServerFrame::Error { code: ErrorCode::SlowMode, message: "x".into(), retry_after_ms: Some(1500) }
        );
    }
}
