//! One connection's protocol logic, without I/O: frames in, decisions out.
//!
//! [`Session::on_text`] turns a client text frame into a [`Step`]: a reply for this client
//! only, a close, "join the room now" (after a valid `hello`), or a [`Command`] for the service
//! to carry out against the room's shared state. Everything that can be decided from this
//! connection alone is decided here and unit tested on a paused clock: frame size, protocol
//! version, guest names, message length, the per-connection rate limit, the moderator role.
//! [`route_event`] decides what a room event means for this connection (skip a duplicate of
//! the history replay, forward, or forward and close because this user was banned).

use std::collections::HashSet;

use tokio::time::Instant;

use crate::config::ChatConfig;
use crate::identity::{Identity, Role, validate_display_name};
use crate::moderation::{self, Refusal};
use crate::protocol::{ClientFrame, ErrorCode, FrameError, PROTOCOL_VERSION, ServerFrame, parse_client_frame};
use crate::rate_limit::TokenBucket;

/// Something the service does against the room's shared state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Send { text: String },
    Delete { id: u64 },
    Timeout { user: String, seconds: u64 },
    Ban { user: String },
    Unban { user: String },
    SlowMode { seconds: u32 },
}

/// What to do after a client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this to the client and go on.
    Reply(ServerFrame),
    /// Send this to the client, then close the connection.
    Close(ServerFrame),
    /// `hello` accepted: join the room and send `welcome`.
    Join,
    /// Carry out a command; a refusal becomes an `error` frame.
    Command(Command),
}

/// Per-connection state.
#[derive(Debug)]
pub struct Session {
    identity: Identity,
    joined: bool,
    bucket: TokenBucket,
    bad_frames: u32,
    max_frame_bytes: usize,
    max_message_chars: usize,
    max_timeout_secs: u64,
    max_slow_mode_secs: u32,
    max_bad_frames: u32,
}

impl Session {
    pub fn new(identity: Identity, config: &ChatConfig, now: Instant) -> Self {
        Self {
            identity,
            joined: false,
            bucket: TokenBucket::new(config.connection_rate, now),
            bad_frames: 0,
            max_frame_bytes: config.max_frame_bytes,
            max_message_chars: config.max_message_chars,
            max_timeout_secs: config.max_timeout_secs,
            max_slow_mode_secs: config.max_slow_mode_secs,
            max_bad_frames: config.max_bad_frames,
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Called once the room was joined and `welcome` is on its way.
    pub fn set_joined(&mut self) {
        self.joined = true;
    }

    /// Refuses a frame; too many refusals close the connection.
    fn bad(&mut self, code: ErrorCode, message: impl Into<String>) -> Step {
        self.bad_frames += 1;
        let frame = ServerFrame::error(code, message);
        if self.bad_frames > self.max_bad_frames {
            Step::Close(ServerFrame::error(ErrorCode::BadRequest, "too many invalid frames"))
        } else {
            Step::Reply(frame)
        }
    }

    fn refuse(r: Refusal) -> Step {
        Step::Reply(r.to_frame())
    }

    /// A binary frame: the protocol is text only.
    pub fn on_binary(&mut self) -> Step {
        self.bad(ErrorCode::BadRequest, "binary frames are not supported")
    }

    /// Handles one text frame.
    pub fn on_text(&mut self, text: &str, now: Instant) -> Step {
        let frame = match parse_client_frame(text, self.max_frame_bytes) {
            Ok(f) => f,
            Err(e @ FrameError::TooLarge { .. }) => {
                return Step::Close(ServerFrame::error(ErrorCode::TooLong, e.to_string()));
            }
            Err(FrameError::Malformed(e)) => {
                return self.bad(ErrorCode::BadRequest, format!("malformed frame: {e}"));
            }
        };
        match frame {
            ClientFrame::Ping => Step::Reply(ServerFrame::Pong),
            ClientFrame::Hello { v, name } => self.on_hello(v, name),
            _ if !self.joined => self.bad(ErrorCode::BadRequest, "send hello first"),
            ClientFrame::Send { text } => self.on_send(text, now),
            ClientFrame::Delete { id } => self.moderate(Command::Delete { id }),
            ClientFrame::Timeout { user, seconds } => {
                match moderation::check_timeout_secs(seconds, self.max_timeout_secs) {
                    Ok(()) => self.moderate(Command::Timeout { user, seconds }),
                    Err(r) => Self::refuse(r),
                }
            }
            ClientFrame::Ban { user } => self.moderate(Command::Ban { user }),
            ClientFrame::Unban { user } => self.moderate(Command::Unban { user }),
            ClientFrame::SlowMode { seconds } => {
                match moderation::check_slow_mode_secs(seconds, self.max_slow_mode_secs) {
                    Ok(()) => self.moderate(Command::SlowMode { seconds }),
                    Err(r) => Self::refuse(r),
                }
            }
        }
    }

    fn on_hello(&mut self, v: u32, name: Option<String>) -> Step {
        if self.joined {
            return self.bad(ErrorCode::BadRequest, "already joined");
        }
        if v != PROTOCOL_VERSION {
            return Step::Close(ServerFrame::error(
                ErrorCode::BadRequest,
                format!("unsupported protocol version {v}; this server speaks {PROTOCOL_VERSION}"),
            ));
        }
        if self.identity.role == Role::Guest
            && let Some(raw) = name
        {
            match validate_display_name(&raw) {
                Ok(name) => self.identity.name = name,
                Err(e) => return self.bad(ErrorCode::BadRequest, format!("invalid name: {e}")),
            }
        }
        Step::Join
    }

    fn on_send(&mut self, text: String, now: Instant) -> Step {
        if text.trim().is_empty() {
            return self.bad(ErrorCode::BadRequest, "empty message");
        }
        let chars = text.chars().count();
        if chars > self.max_message_chars {
            return Step::Reply(ServerFrame::error(
                ErrorCode::TooLong,
                format!("message has {chars} characters; the limit is {}", self.max_message_chars),
            ));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return self.bad(ErrorCode::BadRequest, "message contains control characters");
        }
        if let Err(wait) = self.bucket.try_take(now) {
            return Self::refuse(
                Refusal::new(ErrorCode::RateLimited, "this connection is sending too fast").retry_after(wait),
            );
        }
        Step::Command(Command::Send { text })
    }

    fn moderate(&mut self, cmd: Command) -> Step {
        match moderation::require_moderator(&self.identity) {
            Ok(()) => Step::Command(cmd),
            Err(r) => Self::refuse(r),
        }
    }
}

/// What a room event means for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Already seen (in the `welcome` history).
    Skip,
    Forward,
    /// This connection's user was banned: forward the event, then close.
    ForwardThenClose,
}

/// Routes a room event; `history_ids` are the ids replayed in `welcome` not yet seen live.
pub fn route_event(frame: &ServerFrame, me: &Identity, history_ids: &mut HashSet<u64>) -> Route {
    match frame {
        ServerFrame::Message(m) if history_ids.remove(&m.id) => Route::Skip,
        ServerFrame::UserBanned { user } if *user == me.id && me.role != Role::Owner => Route::ForwardThenClose,
        _ => Route::Forward,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::{ChatMessage, UserInfo};
    use crate::rate_limit::RateSpec;

    fn cfg() -> ChatConfig {
        ChatConfig {
            connection_rate: RateSpec::new(2, Duration::from_secs(10)),
            max_message_chars: 10,
            max_bad_frames: 3,
            ..ChatConfig::default()
        }
    }

    fn joined(role: Role) -> Session {
        let mut s = Session::new(Identity::new("me", "Me", role), &cfg(), Instant::now());
        assert_eq!(s.on_text(r#"{"type":"hello","v":1}"#, Instant::now()), Step::Join);
        s.set_joined();
        s
    }

    fn code(step: Step) -> ErrorCode {
        match step {
            Step::Reply(ServerFrame::Error { code, .. }) | Step::Close(ServerFrame::Error { code, .. }) => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hello_first_version_and_guest_name() {
        let mut s = Session::new(Identity::guest(), &cfg(), Instant::now());
        assert_eq!(code(s.on_text(r#"{"type":"send","text":"hi"}"#, Instant::now())), ErrorCode::BadRequest);
        assert_eq!(s.on_text(r#"{"type":"ping"}"#, Instant::now()), Step::Reply(ServerFrame::Pong));
        assert_eq!(code(s.on_text(r#"{"type":"hello","v":1,"name":"  "}"#, Instant::now())), ErrorCode::BadRequest);
        assert_eq!(s.on_text(r#"{"type":"hello","v":1,"name":" Ann "}"#, Instant::now()), Step::Join);
        assert_eq!(s.identity().name, "Ann");
        s.set_joined();
        assert_eq!(code(s.on_text(r#"{"type":"hello","v":1}"#, Instant::now())), ErrorCode::BadRequest);

        let mut old = Session::new(Identity::guest(), &cfg(), Instant::now());
        assert!(matches!(old.on_text(r#"{"type":"hello","v":2}"#, Instant::now()), Step::Close(_)));

        // Named users keep the name their token gave them.
        let mut v = Session::new(Identity::new("u", "Real", Role::Viewer), &cfg(), Instant::now());
        assert_eq!(v.on_text(r#"{"type":"hello","v":1,"name":"Fake"}"#, Instant::now()), Step::Join);
        assert_eq!(v.identity().name, "Real");
    }

    #[tokio::test(start_paused = true)]
    async fn send_limits_and_connection_rate() {
        let mut s = joined(Role::Viewer);
        let now = Instant::now();
        assert_eq!(code(s.on_text(r#"{"type":"send","text":"01234567890"}"#, now)), ErrorCode::TooLong);
        // 10 characters (not bytes) is fine.
        assert_eq!(
            s.on_text(r#"{"type":"send","text":"éééééééééé"}"#, now),
            Step::Command(Command::Send { text: "éééééééééé".into() })
        );
        assert!(matches!(s.on_text(r#"{"type":"send","text":"b"}"#, now), Step::Command(_)));
        let limited = s.on_text(r#"{"type":"send","text":"c"}"#, now);
        assert!(matches!(
            limited,
            Step::Reply(ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms: Some(5000), .. })
        ));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(matches!(s.on_text(r#"{"type":"send","text":"d"}"#, Instant::now()), Step::Command(_)));
        assert_eq!(code(s.on_text(r#"{"type":"send","text":"  "}"#, now)), ErrorCode::BadRequest);
    }

    #[tokio::test(start_paused = true)]
    async fn moderation_needs_a_moderator() {
        let mut v = joined(Role::Viewer);
        for f in [
            r#"{"type":"delete","id":1}"#,
            r#"{"type":"timeout","user":"x","seconds":5}"#,
            r#"{"type":"ban","user":"x"}"#,
            r#"{"type":"unban","user":"x"}"#,
            r#"{"type":"slow_mode","seconds":5}"#,
        ] {
            assert_eq!(code(v.on_text(f, Instant::now())), ErrorCode::Forbidden, "{f}");
        }
        let mut m = joined(Role::Moderator);
        assert_eq!(
            m.on_text(r#"{"type":"ban","user":"x"}"#, Instant::now()),
            Step::Command(Command::Ban { user: "x".into() })
        );
        assert_eq!(code(m.on_text(r#"{"type":"slow_mode","seconds":99999}"#, Instant::now())), ErrorCode::BadRequest);
    }

    #[tokio::test(start_paused = true)]
    async fn garbage_and_oversized_frames() {
        let mut s = joined(Role::Viewer);
        assert!(matches!(s.on_text("{nope", Instant::now()), Step::Reply(_)));
        assert!(matches!(s.on_binary(), Step::Reply(_)));
        assert!(matches!(s.on_text(r#"{"type":"x"}"#, Instant::now()), Step::Reply(_)));
        // The fourth bad frame (limit 3) closes.
        assert!(matches!(s.on_text("[]", Instant::now()), Step::Close(_)));

        let mut s = joined(Role::Viewer);
        let big = "x".repeat(5000);
        assert_eq!(code(s.on_text(&big, Instant::now())), ErrorCode::TooLong);
        assert!(matches!(s.on_text(&big, Instant::now()), Step::Close(_)));
    }

    #[test]
    fn routing_skips_replayed_messages_and_closes_the_banned() {
        let me = Identity::new("me", "Me", Role::Viewer);
        let msg = |id| {
            ServerFrame::Message(ChatMessage {
                id,
                user: UserInfo { id: "o".into(), name: "O".into(), role: Role::Viewer },
                text: "t".into(),
                at: 0,
            })
        };
        let mut seen: HashSet<u64> = [1, 2].into();
        assert_eq!(route_event(&msg(2), &me, &mut seen), Route::Skip);
        assert_eq!(route_event(&msg(3), &me, &mut seen), Route::Forward);
        let ban = |u: &str| ServerFrame::UserBanned { user: u.into() };
        assert_eq!(route_event(&ban("other"), &me, &mut seen), Route::Forward);
        assert_eq!(route_event(&ban("me"), &me, &mut seen), Route::ForwardThenClose);
        let owner = Identity::new("me", "Me", Role::Owner);
        assert_eq!(route_event(&ban("me"), &owner, &mut seen), Route::Forward);
    }
}
