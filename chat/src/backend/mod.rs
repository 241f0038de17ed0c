//! Where room state lives and how events reach other nodes: one trait, two implementations.
//!
//! [`memory::MemoryBackend`] (the default) keeps everything in this process. [`redis::RedisBackend`]
//! keeps history, moderation state, per-user rate limits and presence in Redis so that every node
//! enforces the same rules, and carries events between nodes over pub/sub. Both deliver events
//! to sockets through the node-local [`RoomHub`](crate::room::RoomHub), and both make a posting
//! decision (ban, timeout, slow mode, per-user rate) and its effects (history, broadcast) one
//! step, so the session and websocket code above is identical for both.

pub mod memory;
pub mod redis;

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::identity::Identity;
use crate::moderation::Refusal;
use crate::protocol::{ChatMessage, UserInfo, Viewers};

/// A backend operation failed (Redis unreachable or holding unexpected data).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected data in backend: {0}")]
    Corrupt(String),
}

/// Result of a post attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// Stored in history and broadcast to the room.
    Posted(ChatMessage),
    /// Refused by the room's rules (ban, timeout, slow mode, per-user rate).
    Refused(Refusal),
}

/// What a joining socket needs to know about the room and itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinState {
    pub banned: bool,
    pub slow_mode: u32,
}

/// Room state and cross-node events. Every method that changes what clients see also broadcasts
/// the matching event to the room (on every node).
pub trait ChatBackend: Send + Sync + 'static {
    /// Makes sure events of `room` reach this node's hub before returning. Called after the
    /// socket subscribed to the hub and before history is read, so nothing falls in between.
    fn ensure_subscribed<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Stops receiving events for rooms without sockets on this node.
    fn release_unused(&self) -> BoxFuture<'_, ()>;

    /// Checks the room's rules for `user` and, if allowed, stores and broadcasts the message.
    fn post<'a>(
        &'a self,
        room: &'a str,
        user: &'a UserInfo,
        text: &'a str,
    ) -> BoxFuture<'a, Result<PostOutcome, BackendError>>;

    /// The last `limit` messages, oldest first.
    fn history<'a>(&'a self, room: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<ChatMessage>, BackendError>>;

    /// Removes a message from history and broadcasts `deleted`.
    fn delete_message<'a>(&'a self, room: &'a str, id: u64) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Bans (broadcast `user_banned`) or unbans (broadcast `user_unbanned`).
    fn set_banned<'a>(&'a self, room: &'a str, user: &'a str, banned: bool) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Times a user out until `until_ms` (unix ms; 0 lifts it) and broadcasts `user_timed_out`.
    fn set_timeout<'a>(
        &'a self,
        room: &'a str,
        user: &'a str,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Sets slow mode (0 = off) and broadcasts `slow_mode`.
    fn set_slow_mode<'a>(&'a self, room: &'a str, seconds: u32) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Ban status and slow mode for a joining identity; records owners (see `is_owner`).
    fn join_state<'a>(&'a self, room: &'a str, who: &'a Identity) -> BoxFuture<'a, Result<JoinState, BackendError>>;

    /// Whether `user` joined this room as its owner (owners cannot be timed out or banned).
    fn is_owner<'a>(&'a self, room: &'a str, user: &'a str) -> BoxFuture<'a, Result<bool, BackendError>>;

    /// Marks `keys` present in `room` for `ttl` from now.
    fn presence_touch<'a>(
        &'a self,
        room: &'a str,
        keys: &'a [String],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Removes a key now (its last socket on this node left).
    fn presence_remove<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Current distinct viewer keys and the room's peak.
    fn viewers<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Viewers, BackendError>>;

    /// Whether the backend answers now (Redis: a `PING`), for the server's health checks.
    fn ping(&self) -> BoxFuture<'_, Result<(), BackendError>>;
}

/// Wall-clock unix milliseconds.
pub(crate) fn unix_ms() -> u64 {
    oxcast_media::clock::unix_millis()
}
