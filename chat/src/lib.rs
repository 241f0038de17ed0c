//! Live chat and presence (viewer counts) per stream (issue 5).
//!
//! Every live stream has a chat room at `GET /live/{name}/chat` (websocket). The binary builds a
//! [`ChatService`] from a [`ChatConfig`], a [`ChatAuth`] (token → [`Identity`]), a
//! [`RoomDirectory`] (which streams exist) and a [`BackendChoice`] (in-process, or Redis shared
//! by several nodes), mounts [`ChatService::router`], reports HLS viewers with
//! [`ChatService::presence_touch`], reads counts with [`ChatService::viewers`] and calls
//! [`ChatService::shutdown`] on exit.
//!
//! Module map: `protocol` (every JSON frame), `config`, `identity` (auth, roles, guest names),
//! `rate_limit` (token buckets), `moderation` (rules), `session` (sans-I/O per-connection
//! logic), `presence`, `room` (node-local fan-out), `backend` (trait + memory + redis),
//! `service` (the handle, background tasks), `ws` (axum glue).
//!
//! This crate knows no stream, user or session store and no REST JSON; it knows the chat
//! protocol and Redis.

pub mod backend;
pub mod config;
pub mod identity;
pub mod moderation;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod room;
pub mod service;
pub mod session;
pub mod ws;

pub use backend::{BackendError, ChatBackend};
pub use config::{ChatConfig, ConfigError};
pub use identity::{ChatAuth, ChatAuthError, Identity, Role, StaticAuth, validate_display_name};
pub use protocol::{ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame, Viewers};
pub use rate_limit::RateSpec;
pub use service::{BackendChoice, ChatError, ChatService, RoomDirectory, valid_room_name, viewer_presence_key};
pub use ws::router;
