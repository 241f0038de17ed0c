//! `ChatService`: the one handle the binary holds. It owns the backend, the node-local hub,
//! this node's presence, the background tasks, and carries out session commands.
//!
//! Background tasks (presence refresh, viewer-count pushes, Redis pub/sub) and every websocket
//! connection run on one `TaskTracker` under one `CancellationToken`. In the server those are the
//! server's own ([`ChatService::start_on`]): its shutdown cancels the chat with everything else
//! (sockets get a 1001 close) and waits for the chat's tasks with the rest. A chat started alone
//! ([`ChatService::start`]) has its own, and [`ChatService::shutdown`] waits for them.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::memory::MemoryBackend;
use crate::backend::redis::RedisBackend;
use crate::backend::{BackendError, ChatBackend, PostOutcome, unix_ms};
use crate::config::{ChatConfig, ConfigError};
use crate::identity::{ChatAuth, Identity};
use crate::moderation::{self, Refusal};
use crate::presence::LocalPresence;
use crate::protocol::{ErrorCode, PROTOCOL_VERSION, ServerFrame, UserInfo, Viewers};
use crate::room::{RoomEvent, RoomHub, RoomSubscription, lock};
use crate::session::Command;

/// Which streams have a chat room. Unknown streams get 404 before the websocket upgrade.
pub trait RoomDirectory: Send + Sync + 'static {
    fn room_exists<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, bool>;
}

/// Any `Fn(&str) -> bool` is a directory.
impl<F> RoomDirectory for F
where
    F: Fn(&str) -> bool + Send + Sync + 'static,
{
    fn room_exists<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, bool> {
        let exists = self(stream);
        Box::pin(std::future::ready(exists))
    }
}

/// Where room state lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// In this process only (one node).
    #[default]
    InProcess,
    /// Shared through Redis (several nodes), e.g. `redis://127.0.0.1:6379`.
    Redis { url: String },
}

/// Starting the chat failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("chat backend: {0}")]
    Backend(#[from] BackendError),
}

/// The presence key of a browser's viewer id (`?viewer=` on the chat socket, the player's
/// playback sessions); `None` for an id that is not 8 to 64 of `[A-Za-z0-9_-]`.
pub fn viewer_presence_key(viewer: &str) -> Option<String> {
    let ok =
        (8..=64).contains(&viewer.len()) && viewer.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| format!("v:{viewer}"))
}

/// Stream names usable as room names (they end up in Redis keys): 1..=128 of `[A-Za-z0-9_.-]`.
pub fn valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(crate) struct Inner {
    pub(crate) config: ChatConfig,
    pub(crate) auth: Arc<dyn ChatAuth>,
    pub(crate) rooms: Arc<dyn RoomDirectory>,
    backend: Arc<dyn ChatBackend>,
    hub: Arc<RoomHub>,
    presence: Mutex<LocalPresence>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// Whether `tracker` is this chat's alone (then `shutdown` waits for it).
    owns_tracker: bool,
}

/// The chat of this node. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// A socket that joined its room.
pub(crate) struct Joined {
    pub(crate) subscription: RoomSubscription,
    pub(crate) welcome: ServerFrame,
    pub(crate) history_ids: HashSet<u64>,
}

pub(crate) enum JoinOutcome {
    Joined(Box<Joined>),
    Banned,
}

impl ChatService {
    /// Validates the config, connects the backend and starts the background tasks on a tracker
    /// and token of the chat's own (a chat that runs alone, as in this crate's tests).
    pub async fn start(
        config: ChatConfig,
        auth: impl ChatAuth,
        rooms: impl RoomDirectory,
        backend: BackendChoice,
    ) -> Result<Self, ChatError> {
        Self::start_with(config, auth, rooms, backend, CancellationToken::new(), TaskTracker::new(), true).await
    }

    /// Like [`ChatService::start`], but every task and connection runs on the server's `tracker`
    /// and ends when `cancel` (the server's token or a child of it) is cancelled.
    pub async fn start_on(
        config: ChatConfig,
        auth: impl ChatAuth,
        rooms: impl RoomDirectory,
        backend: BackendChoice,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<Self, ChatError> {
        Self::start_with(config, auth, rooms, backend, cancel, tracker, false).await
    }

    async fn start_with(
        config: ChatConfig,
        auth: impl ChatAuth,
        rooms: impl RoomDirectory,
        backend: BackendChoice,
        cancel: CancellationToken,
        tracker: TaskTracker,
        owns_tracker: bool,
    ) -> Result<Self, ChatError> {
        config.validate()?;
        let hub = RoomHub::new(config.room_buffer);
        let backend: Arc<dyn ChatBackend> = match backend {
            BackendChoice::InProcess => {
                Arc::new(MemoryBackend::new(Arc::clone(&hub), config.history_len, config.user_rate))
            }
            BackendChoice::Redis { url } => Arc::new(
                RedisBackend::connect(
                    &url,
                    Arc::clone(&hub),
                    config.history_len,
                    config.user_rate,
                    cancel.clone(),
                    &tracker,
                )
                .await?,
            ),
        };
        let service = ChatService {
            inner: Arc::new(Inner {
                config,
                auth: Arc::new(auth),
                rooms: Arc::new(rooms),
                backend,
                hub,
                presence: Mutex::new(LocalPresence::default()),
                cancel,
                tracker,
                owns_tracker,
            }),
        };
        service.inner.tracker.spawn(presence_refresh_loop(service.clone()));
        service.inner.tracker.spawn(viewers_loop(service.clone()));
        Ok(service)
    }

    /// The websocket routes (`GET /live/{name}/chat`), state applied.
    pub fn router(&self) -> Router {
        crate::ws::router(self.clone())
    }

    pub fn config(&self) -> &ChatConfig {
        &self.inner.config
    }

    /// Marks `viewer_key` present in `room` for `presence_ttl` (an HLS playback session). Pass
    /// [`viewer_presence_key`] of the player's viewer id: a chat socket opened with the same
    /// `?viewer=` counts under the same key, so a viewer with player and chat counts once.
    pub async fn presence_touch(&self, room: &str, viewer_key: &str) -> Result<(), ChatError> {
        let keys = [viewer_key.to_owned()];
        self.inner.backend.presence_touch(room, &keys, self.inner.config.presence_ttl).await?;
        Ok(())
    }

    /// Current distinct viewers and the room's peak (for the REST API).
    pub async fn viewers(&self, room: &str) -> Result<Viewers, ChatError> {
        Ok(self.inner.backend.viewers(room).await?)
    }

    /// Whether the chat's backend answers (Redis: a `PING`; in process: always).
    pub async fn ping(&self) -> Result<(), ChatError> {
        Ok(self.inner.backend.ping().await?)
    }

    /// Cancels every connection and background task; waits for them when the chat has its own
    /// tracker (on the server's, the server waits for them with its other tasks).
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        if self.inner.owns_tracker {
            self.inner.tracker.close();
            self.inner.tracker.wait().await;
        }
    }

    /// Joins `room` as `who`: subscribe (before reading history, so nothing falls in between),
    /// check the ban, mark presence under `presence_key`, build `welcome`.
    pub(crate) async fn join(
        &self,
        room: &str,
        who: &Identity,
        presence_key: &str,
    ) -> Result<JoinOutcome, BackendError> {
        let inner = &self.inner;
        let (subscription, _new) = inner.hub.subscribe(room);
        inner.backend.ensure_subscribed(room).await?;
        let state = inner.backend.join_state(room, who).await?;
        if state.banned {
            return Ok(JoinOutcome::Banned);
        }
        let history = inner.backend.history(room, inner.config.history_len).await?;
        lock(&inner.presence).join(room, presence_key);
        let keys = [presence_key.to_owned()];
        let touched = inner.backend.presence_touch(room, &keys, inner.config.presence_ttl).await;
        let viewers = match touched {
            Ok(()) => inner.backend.viewers(room).await,
            Err(e) => Err(e),
        };
        let viewers = match viewers {
            Ok(v) => v,
            Err(e) => {
                self.leave(room, presence_key).await;
                return Err(e);
            }
        };
        let history_ids = history.iter().map(|m| m.id).collect();
        Ok(JoinOutcome::Joined(Box::new(Joined {
            subscription,
            welcome: ServerFrame::Welcome {
                v: PROTOCOL_VERSION,
                you: UserInfo { id: who.id.clone(), name: who.name.clone(), role: who.role },
                history,
                slow_mode: state.slow_mode,
                viewers,
            },
            history_ids,
        })))
    }

    /// A joined socket left.
    pub(crate) async fn leave(&self, room: &str, key: &str) {
        let last = lock(&self.inner.presence).leave(room, key);
        if last && let Err(e) = self.inner.backend.presence_remove(room, key).await {
            tracing::debug!(room, error = %e, "presence removal failed; it will expire");
        }
    }

    /// Carries out a session command for `actor` in `room`.
    pub(crate) async fn execute(&self, room: &str, actor: &Identity, cmd: Command) -> Result<(), Refusal> {
        self.try_execute(room, actor, cmd).await.unwrap_or_else(|e| {
            tracing::warn!(room, error = %e, "chat backend failed");
            Err(Refusal::new(ErrorCode::Unavailable, "chat is temporarily unavailable, try again"))
        })
    }

    async fn try_execute(
        &self,
        room: &str,
        actor: &Identity,
        cmd: Command,
    ) -> Result<Result<(), Refusal>, BackendError> {
        let backend = &self.inner.backend;
        // The session already refused non-moderators; this keeps the service safe on its own.
        if !matches!(cmd, Command::Send { .. })
            && let Err(r) = moderation::require_moderator(actor)
        {
            return Ok(Err(r));
        }
        match cmd {
            Command::Send { text } => {
                let user = UserInfo { id: actor.id.clone(), name: actor.name.clone(), role: actor.role };
                Ok(match backend.post(room, &user, &text).await? {
                    PostOutcome::Posted(_) => Ok(()),
                    PostOutcome::Refused(r) => Err(r),
                })
            }
            Command::Delete { id } => {
                backend.delete_message(room, id).await?;
                Ok(Ok(()))
            }
            Command::Timeout { user, seconds } => {
                if let Err(r) = self.check_target(room, actor, &user).await? {
                    return Ok(Err(r));
                }
                let until = if seconds == 0 { 0 } else { unix_ms().saturating_add(seconds.saturating_mul(1000)) };
                backend.set_timeout(room, &user, until).await?;
                Ok(Ok(()))
            }
            Command::Ban { user } => {
                if let Err(r) = self.check_target(room, actor, &user).await? {
                    return Ok(Err(r));
                }
                backend.set_banned(room, &user, true).await?;
                Ok(Ok(()))
            }
            Command::Unban { user } => {
                backend.set_banned(room, &user, false).await?;
                Ok(Ok(()))
            }
            Command::SlowMode { seconds } => {
                backend.set_slow_mode(room, seconds).await?;
                Ok(Ok(()))
            }
        }
    }

    async fn check_target(
        &self,
        room: &str,
        actor: &Identity,
        user: &str,
    ) -> Result<Result<(), Refusal>, BackendError> {
        let owner = self.inner.backend.is_owner(room, user).await?;
        Ok(moderation::check_target(actor, user, owner))
    }
}

/// Refreshes this node's socket presence well within the TTL, and drops pub/sub subscriptions
/// of rooms that lost their last local socket.
async fn presence_refresh_loop(service: ChatService) {
    let inner = &service.inner;
    let period = inner.config.presence_ttl / 3;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = inner.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let snapshot = lock(&inner.presence).snapshot();
        for (room, keys) in snapshot {
            if let Err(e) = inner.backend.presence_touch(&room, &keys, inner.config.presence_ttl).await {
                tracing::warn!(room, error = %e, "presence refresh failed");
            }
        }
        inner.backend.release_unused().await;
    }
}

/// Pushes `viewers` to this node's sockets when the count changed, and every few ticks anyway.
async fn viewers_loop(service: ChatService) {
    let inner = &service.inner;
    let mut tick = tokio::time::interval(inner.config.viewers_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: HashMap<String, (Viewers, u32)> = HashMap::new();
    loop {
        tokio::select! {
            () = inner.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let rooms = inner.hub.rooms();
        last.retain(|room, _| rooms.contains(room));
        for room in rooms {
            let v = match inner.backend.viewers(&room).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(room, error = %e, "viewer count failed");
                    continue;
                }
            };
            let entry = last.entry(room.clone()).or_insert((Viewers::default(), 0));
            entry.1 += 1;
            if entry.0 != v || entry.1 >= inner.config.viewers_force_every {
                *entry = (v, 0);
                inner.hub.send(&room, RoomEvent::new(ServerFrame::Viewers(v)));
            }
        }
    }
}
