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

/// `2026-11-21T13:40:11.123Z`
pub fn rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, since.subsec_millis())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
