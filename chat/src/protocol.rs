//! The chat wire protocol: every JSON frame a browser and the server exchange, in one place.
//!
//! Frames are serde internally tagged enums (`{"type": "send", ...}`) so the shape on the wire is
//! the shape in the code, and a protocol change is a diff to this file only. The protocol is
//! versioned by [`PROTOCOL_VERSION`]: a client says which version it speaks in `hello` and is
//! refused with a `bad_request` error when the server does not speak it. Unknown fields are
//! ignored (forward compatible); unknown frame types and garbage get an `error` frame, never a
//! panic ([`parse_client_frame`]).

use serde::{Deserialize, Serialize};

use crate::identity::Role;

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A frame sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame of a connection. `name` is the display name of a guest (ignored otherwise).
    Hello {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Post a message.
    Send { text: String },
    /// Moderation: delete a message by id.
    Delete { id: u64 },
    /// Moderation: refuse a user's messages for `seconds` (0 lifts a timeout).
    Timeout { user: String, seconds: u64 },
    /// Moderation: ban a user from the room (closes their connections).
    Ban { user: String },
    /// Moderation: lift a ban.
    Unban { user: String },
    /// Moderation: one message per user per `seconds` for non-moderators (0 = off).
    SlowMode { seconds: u32 },
    /// Application-level keepalive; answered by `pong`.
    Ping,
}

/// Who wrote a message, or who is connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// One chat message as stored in history and broadcast to a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Per-room, strictly increasing.
    pub id: u64,
    pub user: UserInfo,
    pub text: String,
    /// Unix time in milliseconds.
    pub at: u64,
}

/// Viewer counts of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewers {
    /// Distinct viewer keys present now.
    pub current: u64,
    /// Highest `current` seen for this room.
    pub peak: u64,
}

/// Machine-readable reason of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    RateLimited,
    TooLong,
    Banned,
    TimedOut,
    SlowMode,
    Forbidden,
    BadRequest,
    /// The shared backend (Redis) is unreachable; retry later.
    Unavailable,
}

/// A frame sent by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        v: u32,
        you: UserInfo,
        history: Vec<ChatMessage>,
        slow_mode: u32,
        viewers: Viewers,
    },
    Message(ChatMessage),
    Deleted {
        id: u64,
    },
    UserTimedOut {
        user: String,
        /// Unix ms; a value in the past (0) means the timeout was lifted.
        until: u64,
    },
    UserBanned {
        user: String,
    },
    UserUnbanned {
        user: String,
    },
    SlowMode {
        seconds: u32,
    },
    Viewers(Viewers),
    Error {
        code: ErrorCode,
        message: String,
        /// When retrying makes sense (rate limit, slow mode, timeout): milliseconds to wait.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// This connection fell behind the room and `skipped` events were dropped for it.
    Lagged {
        skipped: u64,
    },
    Pong,
}

impl ServerFrame {
    /// An `error` frame without retry hint.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error { code, message: message.into(), retry_after_ms: None }
    }

    /// Serializes to JSON. Our frames contain only strings, integers and derived structs, so
    /// serialization cannot fail; a fallback keeps this total without `unwrap`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            tracing::error!(error = %e, "server frame failed to serialize");
            r#"{"type":"error","code":"bad_request","message":"internal serialization error"}"#.to_owned()
        })
    }
}

/// Why a client frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Parses one text frame from a client, enforcing the byte limit first.
pub fn parse_client_frame(text: &str, max_bytes: usize) -> Result<ClientFrame, FrameError> {
    if text.len() > max_bytes {
        return Err(FrameError::TooLarge { len: text.len(), max: max_bytes });
    }
    serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_round_trip() {
        let frames = [
            ClientFrame::Hello { v: 1, name: Some("ann".into()) },
            ClientFrame::Hello { v: 1, name: None },
            ClientFrame::Send { text: "hi".into() },
            ClientFrame::Delete { id: 7 },
            ClientFrame::Timeout { user: "u".into(), seconds: 60 },
            ClientFrame::Ban { user: "u".into() },
            ClientFrame::Unban { user: "u".into() },
            ClientFrame::SlowMode { seconds: 0 },
            ClientFrame::Ping,
        ];
        for f in frames {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(parse_client_frame(&json, 4096).unwrap(), f, "{json}");
        }
    }

    #[test]
    fn wire_shapes_are_stable() {
        assert_eq!(
            parse_client_frame(r#"{"type":"slow_mode","seconds":5}"#, 4096).unwrap(),
            ClientFrame::SlowMode { seconds: 5 }
        );
        assert_eq!(parse_client_frame(r#"{"type":"ping","extra":true}"#, 4096).unwrap(), ClientFrame::Ping);
        let msg = ServerFrame::Message(ChatMessage {
            id: 3,
            user: UserInfo { id: "u1".into(), name: "Ann".into(), role: Role::Moderator },
            text: "hey".into(),
            at: 1_700_000_000_000,
        });
        assert_eq!(
            msg.to_json(),
            r#"{"type":"message","id":3,"user":{"id":"u1","name":"Ann","role":"moderator"},"text":"hey","at":1700000000000}"#
        );
        assert_eq!(
            ServerFrame::error(ErrorCode::RateLimited, "slow down").to_json(),
            r#"{"type":"error","code":"rate_limited","message":"slow down"}"#
        );
        assert_eq!(
            ServerFrame::Viewers(Viewers { current: 2, peak: 5 }).to_json(),
            r#"{"type":"viewers","current":2,"peak":5}"#
        );
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Welcome {
                v: PROTOCOL_VERSION,
                you: UserInfo { id: "g".into(), name: "guest-1".into(), role: Role::Guest },
                history: vec![],
                slow_mode: 0,
                viewers: Viewers::default(),
            },
            ServerFrame::Deleted { id: 1 },
            ServerFrame::UserTimedOut { user: "x".into(), until: 5 },
            ServerFrame::UserBanned { user: "x".into() },
            ServerFrame::UserUnbanned { user: "x".into() },
            ServerFrame::SlowMode { seconds: 3 },
            ServerFrame::Error { code: ErrorCode::SlowMode, message: "wait".into(), retry_after_ms: Some(1200) },
            ServerFrame::Lagged { skipped: 9 },
            ServerFrame::Pong,
        ];
        for f in frames {
            let back: ServerFrame = serde_json::from_str(&f.to_json()).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            "not json",
            r#"{"type":"nope"}"#,
            r#"{"type":"send"}"#,
            r#"{"type":"send","text":5}"#,
            r#"{"type":"delete","id":-1}"#,
            r#"{"type":"timeout","user":"x","seconds":1e99}"#,
            "\u{0}\u{ffff}",
        ] {
            assert!(matches!(parse_client_frame(bad, 4096), Err(FrameError::Malformed(_))), "{bad:?}");
        }
        let big = format!(r#"{{"type":"send","text":"{}"}}"#, "a".repeat(5000));
        assert!(matches!(parse_client_frame(&big, 4096), Err(FrameError::TooLarge { .. })));
    }
}
