//! Wall-clock readings as Unix time, in the units the rest of the system stores and sends.
//!
//! Reading the clock is not the kind of I/O this crate avoids (no sockets, no files, no
//! GStreamer); keeping the conversions here gives the store, chat and packager one definition of
//! "now" instead of a copy each. A clock set before 1970 reads as 0 rather than panicking.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch; zero when the clock reads earlier than that.
pub fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

/// Whole seconds since the Unix epoch, now (what the database stores).
pub fn unix_seconds() -> i64 {
    i64::try_from(since_epoch(SystemTime::now()).as_secs()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch, now (what chat messages carry).
pub fn unix_millis() -> u64 {
    u64::try_from(since_epoch(SystemTime::now()).as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_agree_and_never_panic_before_the_epoch() {
        let (s, ms) = (unix_seconds(), unix_millis());
        assert!(s > 1_700_000_000, "{s}");
        assert!((ms / 1000).abs_diff(s as u64) <= 1, "{ms} vs {s}");
        assert_eq!(since_epoch(UNIX_EPOCH - Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(since_epoch(UNIX_EPOCH + Duration::from_millis(1500)), Duration::from_millis(1500));
    }
}
