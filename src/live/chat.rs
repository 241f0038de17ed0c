//! The chat wired to the rest of the server: who may talk (stream keys and chat tokens from the
//! store), which rooms exist (the store's streams), and viewer counting from playback sessions.
//!
//! Viewer counting: the player page sends its browser's viewer id with every playlist request
//! (`X-Oxcast-Viewer`) and the same id as `?viewer=` on its chat socket, so the chat's presence
//! counts that browser once whether it plays, chats, or both. Players without the header (VLC,
//! Safari's native player) are counted by address and user agent. Presence expires by itself
//! (`presence_ttl`), so a player that stops requesting playlists stops counting.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use oxcast_api::{ViewerCount, ViewerCounts};
use oxcast_chat::{ChatAuth, ChatAuthError, ChatService, Identity, Role, RoomDirectory, viewer_presence_key};
use oxcast_ll_hls::{PackagerDirectory, PlaybackClient, StreamPackager};
use oxcast_store::{ChatRole, Store};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::LiveRegistry;

/// Chat identities from the store: a stream's key makes its owner, chat tokens make viewers or
/// (in their stream's room) moderators, no token makes a guest.
pub struct StoreChatAuth {
    pub store: Store,
}

impl ChatAuth for StoreChatAuth {
    fn identify(&self, stream: &str, token: Option<&str>) -> BoxFuture<'_, Result<Identity, ChatAuthError>> {
        let stream = stream.to_owned();
        let token = token.map(str::to_owned);
        Box::pin(async move {
            let Some(token) = token else { return Ok(Identity::guest()) };
            let unavailable = |e: oxcast_store::StoreError| ChatAuthError::Unavailable(e.to_string());
            if token.starts_with("sk_") {
                let found = self.store.streams().by_key(&token).await.map_err(unavailable)?;
                return match found {
                    Some(s) if s.name == stream => Ok(Identity::new(format!("owner:{stream}"), stream, Role::Owner)),
                    _ => Err(ChatAuthError::InvalidToken),
                };
            }
            let holder = self
                .store
                .chat_tokens()
                .holder(&token)
                .await
                .map_err(unavailable)?
                .ok_or(ChatAuthError::InvalidToken)?;
            let role = if holder.role == ChatRole::Moderator && holder.stream.as_deref() == Some(stream.as_str()) {
                Role::Moderator
            } else {
                Role::Viewer
            };
            Ok(Identity::new(holder.id, holder.name, role))
        })
    }
}

/// Every stream in the store has a chat room, live or not.
pub struct StoreRooms {
    pub store: Store,
}

impl RoomDirectory for StoreRooms {
    fn room_exists<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.store.streams().exists(stream).await.unwrap_or(false) })
    }
}

/// Viewer counts for the REST API.
pub struct ChatViewers(pub ChatService);

impl ViewerCounts for ChatViewers {
    fn viewers<'a>(&'a self, stream: &'a str) -> oxcast_api::BoxFuture<'a, Option<ViewerCount>> {
        Box::pin(async move {
            match self.0.viewers(stream).await {
                Ok(v) => Some(ViewerCount { current: v.current, peak: v.peak }),
                Err(e) => {
                    tracing::warn!(stream, error = %e, "viewer counts unavailable");
                    None
                }
            }
        })
    }
}

/// Turns playlist requests into chat presence, refreshing each viewer at most every `refresh`
/// (players ask every part; presence needs a touch every few seconds).
pub struct PlaybackPresence {
    chat: ChatService,
    refresh: Duration,
    last: Mutex<HashMap<(String, String), Instant>>,
    /// The server's: each touch is a tracked task that gives up at shutdown.
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// Entries kept before old ones are swept (bounds memory under many short sessions).
const MAX_TRACKED: usize = 100_000;

impl PlaybackPresence {
    pub fn new(chat: ChatService, tracker: TaskTracker, shutdown: CancellationToken) -> Arc<Self> {
        let refresh = chat.config().presence_ttl / 3;
        Arc::new(Self { chat, refresh, last: Mutex::default(), tracker, shutdown })
    }

    fn key(client: &PlaybackClient<'_>) -> String {
        if let Some(key) = client.viewer.and_then(viewer_presence_key) {
            return key;
        }
        let mut h = DefaultHasher::new();
        client.remote_ip.hash(&mut h);
        client.user_agent.hash(&mut h);
        format!("a:{:016x}", h.finish())
    }

    pub fn seen(&self, stream: &str, client: &PlaybackClient<'_>) {
        let key = Self::key(client);
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = (stream.to_owned(), key.clone());
            if last.get(&entry).is_some_and(|t| now.duration_since(*t) < self.refresh) {
                return;
            }
            if last.len() >= MAX_TRACKED {
                let horizon = self.refresh * 3;
                last.retain(|_, t| now.duration_since(*t) < horizon);
            }
            last.insert(entry, now);
        }
        let chat = self.chat.clone();
        let stream = stream.to_owned();
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                touched = chat.presence_touch(&stream, &key) => {
                    if let Err(e) = touched {
                        tracing::debug!(stream, error = %e, "playback presence not recorded");
                    }
                }
            }
        });
    }
}

/// The registry's packagers, plus playback presence when the chat runs.
pub struct PlaybackDirectory {
    pub registry: Arc<LiveRegistry>,
    pub presence: Option<Arc<PlaybackPresence>>,
}

impl PackagerDirectory for PlaybackDirectory {
    fn packager(&self, stream: &str) -> Option<Arc<StreamPackager>> {
        self.registry.packager(stream)
    }

    fn playback(&self, stream: &str, client: &PlaybackClient<'_>) {
        if let Some(presence) = &self.presence {
            presence.seen(stream, client);
        }
    }

    fn elsewhere<'a>(
        &'a self,
        stream: &'a str,
        path_and_query: &'a str,
        grant: &'a oxcast_ll_hls::PlaybackGrant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<axum::response::Response>> + Send + 'a>> {
        Box::pin(async move {
            match self.registry.relay() {
                Some(relay) => relay.relay(stream, path_and_query, grant).await,
                None => None,
            }
        })
    }
}
