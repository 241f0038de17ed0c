//! Packager settings.

use std::time::Duration;

pub const DEFAULT_PART_TARGET: Duration = Duration::from_millis(200);
pub const DEFAULT_TARGET_DURATION: Duration = Duration::from_secs(2);
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackagerConfig {
    /// PART-TARGET: no advertised part is longer.
    pub part_target: Duration,
    /// Intended segment length. EXT-X-TARGETDURATION is this rounded up, or the longest segment
    /// in the window if a publisher's keyframe interval is longer.
    pub segment_target: Duration,
    /// How much media the playlist keeps (bounds memory per rendition).
    pub window: Duration,
}

impl Default for PackagerConfig {
    fn default() -> Self {
        Self { part_target: DEFAULT_PART_TARGET, segment_target: DEFAULT_TARGET_DURATION, window: DEFAULT_WINDOW }
    }
}

impl PackagerConfig {
    /// PART-HOLD-BACK: three part targets, the spec's recommendation (and at least 2x).
    pub fn part_hold_back(&self) -> Duration {
        self.part_target * 3
    }
}
