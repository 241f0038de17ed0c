//! Media timestamps in one unit (nanoseconds) whatever the wire used (RTMP ms, MPEG-TS and RTP 90 kHz).

use std::time::Duration;

/// A presentation or decode time in nanoseconds on the publisher's clock.
///
/// Signed because publishers' clocks start anywhere and composition offsets can make a PTS precede
/// the first DTS; pipelines rebase them before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const ZERO: Self = Self(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis.saturating_mul(1_000_000))
    }

    /// From a 90 kHz clock (MPEG-TS, RTP video).
    pub const fn from_90khz(ticks: i64) -> Self {
        Self(ticks.saturating_mul(100_000) / 9)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self - earlier` as a duration, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_agree() {
        assert_eq!(Timestamp::from_millis(1000), Timestamp::from_90khz(90_000));
        assert_eq!(Timestamp::from_millis(40).as_nanos(), 40_000_000);
        let a = Timestamp::from_millis(100);
        assert_eq!(a.saturating_duration_since(Timestamp::from_millis(40)), Duration::from_millis(60));
        assert_eq!(Timestamp::from_millis(40).saturating_duration_since(a), Duration::ZERO);
    }
}
