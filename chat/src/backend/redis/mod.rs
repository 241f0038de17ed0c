//! The Redis backend: room state shared by every node, events carried over pub/sub.
//!
//! Files: `commands.rs` (the key layout and the plain commands), `scripts.rs` with `post.lua`
//! and `viewers.lua` (the two steps that must be atomic), `pubsub.rs` (the connection that brings
//! room events to this node). This file is the [`RedisBackend`] type: the connections, and the
//! [`ChatBackend`] implementation that calls the commands, scripts and pub/sub handle directly.
//!
//! A post is decided in one Lua script (ban, timeout, slow mode, user rate, id allocation) so
//! concurrent nodes cannot both let a user through; the script uses Redis' clock for the
//! rate limiter so node clocks do not matter there. Its rules are `moderation::RoomRules`', and
//! the chat scenario tests (`tests/scenarios.rs`) run on both backends so that they stay so.
//! Commands go through a `ConnectionManager`, which reconnects by itself; pub/sub reconnects
//! with backoff and re-subscribes every room this node still has sockets in. Events published
//! while Redis is down are lost (clients see `unavailable` errors for their own actions);
//! history, bans and the rest live as long as Redis keeps them.

mod commands;
mod pubsub;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::pubsub::PubSub;
use self::scripts::Scripts;
use super::{BackendError, ChatBackend, JoinState, PostOutcome};
use crate::identity::Identity;
use crate::protocol::{ChatMessage, UserInfo, Viewers};
use crate::rate_limit::RateSpec;
use crate::room::RoomHub;

/// Room state in Redis; see `commands.rs` for the key layout.
pub struct RedisBackend {
    conn: ConnectionManager,
    hub: Arc<RoomHub>,
    pubsub: PubSub,
    history_len: usize,
    user_rate: RateSpec,
    scripts: Scripts,
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
        let pubsub = PubSub::default();
        tracker.spawn(pubsub::run(client, Arc::clone(&hub), pubsub.clone(), cancel));
        Ok(Self { conn, hub, pubsub, history_len, user_rate, scripts: Scripts::new() })
    }
}

impl ChatBackend for RedisBackend {
    fn ensure_subscribed<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.pubsub.ensure_subscribed(room))
    }

    fn release_unused(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pubsub.release_unused(&self.hub))
    }

    fn post<'a>(
        &'a self,
        room: &'a str,
        user: &'a UserInfo,
        text: &'a str,
    ) -> BoxFuture<'a, Result<PostOutcome, BackendError>> {
        Box::pin(commands::post(self.conn.clone(), &self.scripts, room, user, text, self.history_len, self.user_rate))
    }

    fn history<'a>(&'a self, room: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<ChatMessage>, BackendError>> {
        Box::pin(commands::history(self.conn.clone(), room, limit))
    }

    fn delete_message<'a>(&'a self, room: &'a str, id: u64) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(commands::delete_message(self.conn.clone(), room, id))
    }

    fn set_banned<'a>(&'a self, room: &'a str, user: &'a str, banned: bool) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(commands::set_banned(self.conn.clone(), room, user, banned))
    }

    fn set_timeout<'a>(
        &'a self,
        room: &'a str,
        user: &'a str,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(commands::set_timeout(self.conn.clone(), room, user, until_ms))
    }

    fn set_slow_mode<'a>(&'a self, room: &'a str, seconds: u32) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(commands::set_slow_mode(self.conn.clone(), room, seconds))
    }

    fn join_state<'a>(&'a self, room: &'a str, who: &'a Identity) -> BoxFuture<'a, Result<JoinState, BackendError>> {
        Box::pin(commands::join_state(self.conn.clone(), room, who))
    }

    fn is_owner<'a>(&'a self, room: &'a str, user: &'a str) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(commands::is_owner(self.conn.clone(), room, user))
    }

    fn presence_touch<'a>(
        &'a self,
        room: &'a str,
        keys: &'a [String],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(commands::presence_touch(self.conn.clone(), room, keys, ttl))
    }

    fn presence_remove<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(commands::presence_remove(self.conn.clone(), room, key))
    }

    fn viewers<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Viewers, BackendError>> {
        Box::pin(self.scripts.viewers(self.conn.clone(), room))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let _: String = ::redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
    }
}
