//! Chat limits and timings, with their defaults as `DEFAULT_*` constants.
//!
//! Every bound the chat enforces (message size, rates, history length, queue sizes) is a value
//! here, so the binary can expose them in its config file and tests can shrink them.

use std::time::Duration;

use crate::rate_limit::RateSpec;

/// Longest message text, in characters (Unicode scalar values).
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 500;
/// Largest text frame accepted from a client, in bytes. Bigger frames get an error and a close.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024;
/// Messages replayed in `welcome`.
pub const DEFAULT_HISTORY_LEN: usize = 50;
/// Per-connection send rate: 5 messages per 10 s (token bucket, burst 5).
pub const DEFAULT_CONNECTION_RATE: RateSpec = RateSpec::new(5, Duration::from_secs(10));
/// Per-user send rate across all of the user's connections (and nodes): 8 per 10 s.
pub const DEFAULT_USER_RATE: RateSpec = RateSpec::new(8, Duration::from_secs(10));
/// How often viewer counts are pushed to sockets (when changed, and at least every
/// [`DEFAULT_VIEWERS_FORCE_EVERY`] ticks).
pub const DEFAULT_VIEWERS_INTERVAL: Duration = Duration::from_secs(5);
/// Viewer counts are re-sent unchanged every this many ticks.
pub const DEFAULT_VIEWERS_FORCE_EVERY: u32 = 6;
/// A presence entry disappears this long after its last refresh (a crashed node's viewers too).
pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(30);
/// Server websocket ping interval.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);
/// A connection from which nothing (not even a pong) arrived for this long is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(50);
/// A client must send `hello` within this time.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A single websocket write that takes longer than this marks the connection dead.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Events buffered per room on each node; a connection further behind skips ahead (`lagged`).
pub const DEFAULT_ROOM_BUFFER: usize = 256;
/// Longest timeout a moderator may give (7 days).
pub const DEFAULT_MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// Longest slow-mode interval (1 hour).
pub const DEFAULT_MAX_SLOW_MODE_SECS: u32 = 3600;
/// Invalid frames tolerated per connection before it is closed.
pub const DEFAULT_MAX_BAD_FRAMES: u32 = 20;

/// Chat settings. Build with `ChatConfig::default()` and override fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatConfig {
    pub max_message_chars: usize,
    pub max_frame_bytes: usize,
    pub history_len: usize,
    pub connection_rate: RateSpec,
    pub user_rate: RateSpec,
    pub viewers_interval: Duration,
    pub viewers_force_every: u32,
    pub presence_ttl: Duration,
    pub heartbeat_interval: Duration,
    pub idle_timeout: Duration,
    pub hello_timeout: Duration,
    pub write_timeout: Duration,
    pub room_buffer: usize,
    pub max_timeout_secs: u64,
    pub max_slow_mode_secs: u32,
    pub max_bad_frames: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_message_chars: DEFAULT_MAX_MESSAGE_CHARS,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            history_len: DEFAULT_HISTORY_LEN,
            connection_rate: DEFAULT_CONNECTION_RATE,
            user_rate: DEFAULT_USER_RATE,
            viewers_interval: DEFAULT_VIEWERS_INTERVAL,
            viewers_force_every: DEFAULT_VIEWERS_FORCE_EVERY,
            presence_ttl: DEFAULT_PRESENCE_TTL,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            room_buffer: DEFAULT_ROOM_BUFFER,
            max_timeout_secs: DEFAULT_MAX_TIMEOUT_SECS,
            max_slow_mode_secs: DEFAULT_MAX_SLOW_MODE_SECS,
            max_bad_frames: DEFAULT_MAX_BAD_FRAMES,
        }
    }
}

/// A setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chat setting `{field}`: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl ChatConfig {
    /// Checks that every bound is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason| Err(ConfigError { field, reason });
        if self.max_message_chars == 0 {
            return err("max_message_chars", "must be at least 1");
        }
        // A message of max chars (up to 4 bytes each) must fit a frame, plus JSON framing.
        if self.max_frame_bytes < 256 {
            return err("max_frame_bytes", "must be at least 256");
        }
        if self.room_buffer == 0 {
            return err("room_buffer", "must be at least 1");
        }
        if !self.connection_rate.is_valid() {
            return err("connection_rate", "burst and period must be non-zero");
        }
        if !self.user_rate.is_valid() {
            return err("user_rate", "burst and period must be non-zero");
        }
        for (field, d) in [
            ("viewers_interval", self.viewers_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("hello_timeout", self.hello_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if d.is_zero() {
                return err(field, "must be non-zero");
            }
        }
        if self.presence_ttl < Duration::from_secs(1) {
            return err("presence_ttl", "must be at least 1 s");
        }
        if self.idle_timeout <= self.heartbeat_interval {
            return err("idle_timeout", "must be longer than heartbeat_interval");
        }
        Ok(())
    }

    /// Hard websocket message limit given to the websocket codec: frames between
    /// `max_frame_bytes` and this get a polite error frame, bigger ones a codec error.
    pub(crate) fn codec_limit(&self) -> usize {
        (self.max_frame_bytes * 16).max(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ChatConfig::default().validate().unwrap();
    }

    #[test]
    fn nonsense_is_refused() {
        let c = ChatConfig { room_buffer: 0, ..ChatConfig::default() };
        assert_eq!(c.validate().unwrap_err().field, "room_buffer");
        let c = ChatConfig { idle_timeout: Duration::from_secs(1), ..ChatConfig::default() };
        assert_eq!(c.validate().unwrap_err().field, "idle_timeout");
        let c = ChatConfig { user_rate: RateSpec::new(0, Duration::from_secs(1)), ..ChatConfig::default() };
        assert_eq!(c.validate().unwrap_err().field, "user_rate");
    }
}
