//! The in-process backend: all room state in this process, events straight into the hub.
//!
//! One mutex per backend guards a small state per room; a post is decided, stored and
//! broadcast under it, so history order equals broadcast order. Broadcasting is a
//! non-blocking `broadcast::send`, so the lock is never held while waiting on a socket.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::{BackendError, ChatBackend, JoinState, PostOutcome, unix_ms};
use crate::identity::{Identity, Role};
use crate::moderation::RoomRules;
use crate::presence::PresenceTable;
use crate::protocol::{ChatMessage, ServerFrame, UserInfo, Viewers};
use crate::rate_limit::RateSpec;
use crate::room::{RoomEvent, RoomHub, lock};

#[derive(Debug, Default)]
struct RoomState {
    rules: RoomRules,
    history: VecDeque<ChatMessage>,
    last_id: u64,
    presence: PresenceTable,
}

/// All rooms of this process.
#[derive(Debug)]
pub struct MemoryBackend {
    hub: Arc<RoomHub>,
    history_len: usize,
    user_rate: RateSpec,
    rooms: Mutex<HashMap<String, RoomState>>,
}

impl MemoryBackend {
    pub fn new(hub: Arc<RoomHub>, history_len: usize, user_rate: RateSpec) -> Self {
        Self { hub, history_len, user_rate, rooms: Mutex::new(HashMap::new()) }
    }

    fn with_room<T>(&self, room: &str, f: impl FnOnce(&mut RoomState) -> T) -> T {
        let mut rooms = lock(&self.rooms);
        f(rooms.entry(room.to_owned()).or_default())
    }

    fn broadcast(&self, room: &str, frame: ServerFrame) {
        self.hub.send(room, RoomEvent::new(frame));
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl ChatBackend for MemoryBackend {
    fn ensure_subscribed<'a>(&'a self, _room: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        ready(Ok(()))
    }

    fn release_unused(&self) -> BoxFuture<'_, ()> {
        ready(())
    }

    fn post<'a>(
        &'a self,
        room: &'a str,
        user: &'a UserInfo,
        text: &'a str,
    ) -> BoxFuture<'a, Result<PostOutcome, BackendError>> {
        let now_ms = unix_ms();
        let outcome = self.with_room(room, |st| {
            if let Err(refusal) = st.rules.check_post(&user.id, user.role, self.user_rate, Instant::now(), now_ms) {
                return PostOutcome::Refused(refusal);
            }
            st.last_id += 1;
            let msg = ChatMessage { id: st.last_id, user: user.clone(), text: text.to_owned(), at: now_ms };
            st.history.push_back(msg.clone());
            while st.history.len() > self.history_len {
                st.history.pop_front();
            }
            // Under the room lock, so broadcast order is id order.
            self.broadcast(room, ServerFrame::Message(msg.clone()));
            PostOutcome::Posted(msg)
        });
        ready(Ok(outcome))
    }

    fn history<'a>(&'a self, room: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<ChatMessage>, BackendError>> {
        let h = self.with_room(room, |st| {
            let skip = st.history.len().saturating_sub(limit);
            st.history.iter().skip(skip).cloned().collect()
        });
        ready(Ok(h))
    }

    fn delete_message<'a>(&'a self, room: &'a str, id: u64) -> BoxFuture<'a, Result<(), BackendError>> {
        self.with_room(room, |st| st.history.retain(|m| m.id != id));
        self.broadcast(room, ServerFrame::Deleted { id });
        ready(Ok(()))
    }

    fn set_banned<'a>(&'a self, room: &'a str, user: &'a str, banned: bool) -> BoxFuture<'a, Result<(), BackendError>> {
        self.with_room(room, |st| st.rules.set_banned(user, banned));
        let user = user.to_owned();
        self.broadcast(
            room,
            if banned { ServerFrame::UserBanned { user } } else { ServerFrame::UserUnbanned { user } },
        );
        ready(Ok(()))
    }

    fn set_timeout<'a>(
        &'a self,
        room: &'a str,
        user: &'a str,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.with_room(room, |st| st.rules.set_timeout(user, until_ms, unix_ms()));
        self.broadcast(room, ServerFrame::UserTimedOut { user: user.to_owned(), until: until_ms });
        ready(Ok(()))
    }

    fn set_slow_mode<'a>(&'a self, room: &'a str, seconds: u32) -> BoxFuture<'a, Result<(), BackendError>> {
        self.with_room(room, |st| st.rules.set_slow_mode(seconds));
        self.broadcast(room, ServerFrame::SlowMode { seconds });
        ready(Ok(()))
    }

    fn join_state<'a>(&'a self, room: &'a str, who: &'a Identity) -> BoxFuture<'a, Result<JoinState, BackendError>> {
        let state = self.with_room(room, |st| {
            if who.role == Role::Owner {
                st.rules.note_owner(&who.id);
            }
            JoinState { banned: st.rules.is_banned(&who.id, who.role), slow_mode: st.rules.slow_mode() }
        });
        ready(Ok(state))
    }

    fn is_owner<'a>(&'a self, room: &'a str, user: &'a str) -> BoxFuture<'a, Result<bool, BackendError>> {
        ready(Ok(self.with_room(room, |st| st.rules.is_owner(user))))
    }

    fn presence_touch<'a>(
        &'a self,
        room: &'a str,
        keys: &'a [String],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        let expires = Instant::now() + ttl;
        self.with_room(room, |st| {
            for k in keys {
                st.presence.touch(k, expires);
            }
        });
        ready(Ok(()))
    }

    fn presence_remove<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        self.with_room(room, |st| st.presence.remove(key));
        ready(Ok(()))
    }

    fn viewers<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Viewers, BackendError>> {
        let now = Instant::now();
        ready(Ok(self.with_room(room, |st| st.presence.count(now))))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        ready(Ok(()))
    }
}
