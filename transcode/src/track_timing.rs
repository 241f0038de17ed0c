//! The timing arithmetic of one session's tracks, apart from GStreamer so it can be tested alone.
//!
//! A publisher's clock starts anywhere (RTMP at its connect time, RTP at a random offset) and is
//! not always well behaved; the muxers need a timeline that starts at zero and, per track, decode
//! times that strictly increase, with a duration on every buffer. [`TrackTiming`] turns a frame's
//! publisher timestamps into that:
//!
//! - **rebasing**: the first video keyframe's decode time becomes zero for every track; frames
//!   before it (audio captured just ahead of the keyframe) are not part of the session;
//! - **nudging**: a decode time at or before the track's previous one is moved to 1 ms after it
//!   (the presentation time moves with it). The parsers treat a repeated timestamp as "none" and
//!   cmafmux then rejects the buffer; some publishers repeat one under load;
//! - **cadence**: a buffer's duration is the track's current frame interval (the last decode time
//!   delta, at most 200 ms), because cmafmux gives the last sample of a part the buffer's duration
//!   and a frame's true duration is only known when the next one arrives. It is exact at a
//!   constant frame rate. Until a track has two frames the interval is a default: 30 fps for video,
//!   one AAC frame (1024 samples) for audio;
//! - **keyframe interval**: the distance between video keyframes, reported once when it exceeds
//!   twice the segment target (segments can only start at keyframes).
//!
//! All times are nanoseconds on the publisher's clock in, on the session's timeline out.

use std::time::Duration;

use oxcast_media::MediaKind;

/// How far a repeated (or decreasing) decode time is moved past the previous one.
const NUDGE_NS: i64 = 1_000_000;
/// Longest frame interval used as a buffer duration (a gap in the input is not one long frame).
const MAX_FRAME_NS: i64 = 200_000_000;
/// Video frame interval assumed until the second frame: 30 fps.
const DEFAULT_VIDEO_FRAME_NS: i64 = 33_333_333;
/// Samples in one AAC frame (AAC-LC; HE-AAC signals its core rate, where this holds too).
const AAC_FRAME_SAMPLES: i64 = 1024;
/// Audio frame interval assumed when the sample rate is unknown.
const FALLBACK_AUDIO_FRAME_NS: i64 = 20_000_000;

/// Duration of one AAC frame at `sample_rate` Hz (the audio cadence until its second frame). The
/// session pipeline only ever sees AAC: Opus is re-encoded first (see `opus_to_aac`).
pub(crate) fn aac_frame_ns(sample_rate: u32) -> i64 {
    if sample_rate == 0 {
        return FALLBACK_AUDIO_FRAME_NS;
    }
    AAC_FRAME_SAMPLES * 1_000_000_000 / i64::from(sample_rate)
}

/// Composition offset (PTS − DTS) of a frame, zero if its PTS is before its DTS.
pub(crate) fn composition_offset(dts_ns: i64, pts_ns: i64) -> Duration {
    Duration::from_nanos((pts_ns - dts_ns).max(0) as u64)
}

/// A frame's place on the session's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    pub(crate) dts: i64,
    pub(crate) pts: i64,
    /// Buffer duration: the track's current frame interval.
    pub(crate) duration: i64,
    /// The publisher's decode time did not increase; it was moved forward.
    pub(crate) nudged: bool,
}

#[derive(Debug, Clone, Copy)]
struct TrackClock {
    last_dts: Option<i64>,
    frame_ns: i64,
}

/// Timing state of one running pipeline (both tracks).
#[derive(Debug, Clone)]
pub(crate) struct TrackTiming {
    /// Publisher decode time that maps to pipeline time zero.
    base_ns: i64,
    /// Video, audio.
    tracks: [TrackClock; 2],
    last_keyframe_dts: Option<i64>,
    long_keyframe_interval_reported: bool,
}

impl TrackTiming {
    /// `base_ns`: the first keyframe's decode time; `audio_frame_ns`: the audio cadence to start with.
    pub(crate) fn new(base_ns: i64, audio_frame_ns: i64) -> Self {
        Self {
            base_ns,
            tracks: [
                TrackClock { last_dts: None, frame_ns: DEFAULT_VIDEO_FRAME_NS },
                TrackClock { last_dts: None, frame_ns: audio_frame_ns },
            ],
            last_keyframe_dts: None,
            long_keyframe_interval_reported: false,
        }
    }

    /// Places a frame with publisher timestamps `dts_ns`/`pts_ns` on the timeline: rebased, its
    /// decode time made to follow the track's previous one, with a duration. `None` for a frame
    /// from before the session's first keyframe (it is dropped, and changes nothing).
    pub(crate) fn place(&mut self, kind: MediaKind, dts_ns: i64, pts_ns: i64) -> Option<Placed> {
        let mut dts = dts_ns - self.base_ns;
        let mut pts = pts_ns - self.base_ns;
        if dts < 0 || pts < 0 {
            return None;
        }
        let track = &mut self.tracks[usize::from(kind == MediaKind::Audio)];
        let mut nudged = false;
        if let Some(last) = track.last_dts {
            if dts <= last {
                let shift = last + NUDGE_NS - dts;
                dts += shift;
                pts += shift;
                nudged = true;
            }
            track.frame_ns = (dts - last).min(MAX_FRAME_NS);
        }
        track.last_dts = Some(dts);
        Some(Placed { dts, pts, duration: track.frame_ns, nudged })
    }

    /// Notes a video keyframe at `dts` (session timeline). Returns the interval since the previous
    /// keyframe the first time one exceeds twice `segment_target`, `None` otherwise.
    pub(crate) fn long_keyframe_interval(&mut self, dts: i64, segment_target: Duration) -> Option<Duration> {
        let last = self.last_keyframe_dts.replace(dts)?;
        let interval = Duration::from_nanos((dts - last).max(0) as u64);
        if self.long_keyframe_interval_reported || interval <= segment_target * 2 {
            return None;
        }
        self.long_keyframe_interval_reported = true;
        Some(interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn placed(t: &mut TrackTiming, kind: MediaKind, dts_ms: i64, pts_ms: i64) -> Placed {
        t.place(kind, dts_ms * MS, pts_ms * MS).expect("frame after the base")
    }

    #[test]
    fn rebases_on_the_first_keyframe_and_drops_what_came_before() {
        // A publisher clock at 5 s when the first keyframe arrives, with a 66 ms reorder delay.
        let mut t = TrackTiming::new(5_000 * MS, aac_frame_ns(48_000));
        let first = placed(&mut t, MediaKind::Video, 5_000, 5_066);
        assert_eq!((first.dts, first.pts), (0, 66 * MS));
        let second = placed(&mut t, MediaKind::Video, 5_033, 5_166);
        assert_eq!((second.dts, second.pts), (33 * MS, 166 * MS));
        // Audio captured before the keyframe is not on this session's timeline, whichever clock is behind.
        assert_eq!(t.place(MediaKind::Audio, 4_990 * MS, 4_990 * MS), None);
        assert_eq!(t.place(MediaKind::Audio, 5_010 * MS, 4_999 * MS), None);
        // ... and does not count as the track's previous frame.
        let audio = placed(&mut t, MediaKind::Audio, 5_000, 5_000);
        assert_eq!((audio.dts, audio.nudged), (0, false));
        // A publisher clock below zero works the same.
        let mut t = TrackTiming::new(-40 * MS, aac_frame_ns(48_000));
        assert_eq!(placed(&mut t, MediaKind::Video, -40, -40).dts, 0);
        assert_eq!(placed(&mut t, MediaKind::Video, -7, -7).dts, 33 * MS);
    }

    #[test]
    fn repeated_and_decreasing_decode_times_are_nudged_forward() {
        let mut t = TrackTiming::new(0, aac_frame_ns(48_000));
        assert!(!placed(&mut t, MediaKind::Video, 0, 0).nudged);
        assert!(!placed(&mut t, MediaKind::Video, 33, 66).nudged);
        // Repeated: 1 ms after the previous one; the presentation time keeps its offset.
        let repeated = placed(&mut t, MediaKind::Video, 33, 100);
        assert_eq!((repeated.dts, repeated.pts, repeated.nudged), (34 * MS, 101 * MS, true));
        // Decreasing (and still at or before the nudged one): again 1 ms after the last.
        let back = placed(&mut t, MediaKind::Video, 20, 20);
        assert_eq!((back.dts, back.pts, back.nudged), (35 * MS, 35 * MS, true));
        // Back on track: untouched.
        let next = placed(&mut t, MediaKind::Video, 66, 66);
        assert_eq!((next.dts, next.pts, next.nudged), (66 * MS, 66 * MS, false));
        // Strictly increasing over the whole run.
        let mut t = TrackTiming::new(0, aac_frame_ns(48_000));
        let mut last = -1;
        for dts in [0, 10, 10, 10, 5, 30, 30, 29, 31] {
            let p = placed(&mut t, MediaKind::Video, dts, dts);
            assert!(p.dts > last, "{dts}: {} after {last}", p.dts);
            last = p.dts;
        }
    }

    #[test]
    fn tracks_are_nudged_independently() {
        let mut t = TrackTiming::new(0, aac_frame_ns(48_000));
        placed(&mut t, MediaKind::Video, 0, 0);
        // Audio at the same decode time as video is not a repeat.
        let audio = placed(&mut t, MediaKind::Audio, 0, 0);
        assert_eq!((audio.dts, audio.nudged), (0, false));
        let audio = placed(&mut t, MediaKind::Audio, 0, 0);
        assert_eq!((audio.dts, audio.nudged), (MS, true));
        let video = placed(&mut t, MediaKind::Video, 33, 33);
        assert_eq!((video.dts, video.nudged), (33 * MS, false));
    }

    #[test]
    fn durations_follow_the_frame_interval() {
        let mut t = TrackTiming::new(0, aac_frame_ns(44_100));
        // Before a track's second frame: the defaults.
        assert_eq!(placed(&mut t, MediaKind::Video, 0, 0).duration, DEFAULT_VIDEO_FRAME_NS);
        assert_eq!(placed(&mut t, MediaKind::Audio, 0, 0).duration, 23_219_954);
        // Then the last interval, per track.
        assert_eq!(placed(&mut t, MediaKind::Video, 40, 40).duration, 40 * MS);
        assert_eq!(placed(&mut t, MediaKind::Video, 80, 80).duration, 40 * MS);
        assert_eq!(placed(&mut t, MediaKind::Audio, 23, 23).duration, 23 * MS);
        assert_eq!(placed(&mut t, MediaKind::Video, 100, 100).duration, 20 * MS);
        // A gap in the input is capped.
        assert_eq!(placed(&mut t, MediaKind::Video, 2_100, 2_100).duration, MAX_FRAME_NS);
        // A nudged frame's interval is the nudge.
        assert_eq!(placed(&mut t, MediaKind::Video, 2_100, 2_100).duration, NUDGE_NS);
        assert_eq!(placed(&mut t, MediaKind::Video, 2_140, 2_140).duration, 39 * MS);
    }

    #[test]
    fn aac_cadence_is_1024_samples() {
        assert_eq!(aac_frame_ns(48_000), 21_333_333);
        assert_eq!(aac_frame_ns(44_100), 23_219_954);
        assert_eq!(aac_frame_ns(24_000), 42_666_666);
        assert_eq!(aac_frame_ns(0), FALLBACK_AUDIO_FRAME_NS);
        // 375 frames at 48 kHz are 8 s; the truncation stays below a microsecond over them.
        assert!((8_000_000_000 - aac_frame_ns(48_000) * 375).abs() < 1_000);
    }

    #[test]
    fn composition_offset_is_never_negative() {
        assert_eq!(composition_offset(1_000, 67_666_000), Duration::from_nanos(67_665_000));
        assert_eq!(composition_offset(5_000, 4_000), Duration::ZERO);
    }

    #[test]
    fn a_long_keyframe_interval_is_reported_once() {
        let target = Duration::from_secs(2);
        let mut t = TrackTiming::new(0, aac_frame_ns(48_000));
        assert_eq!(t.long_keyframe_interval(0, target), None, "the first keyframe has no interval");
        assert_eq!(t.long_keyframe_interval(2_000 * MS, target), None);
        assert_eq!(t.long_keyframe_interval(6_000 * MS, target), None, "exactly twice the target is fine");
        assert_eq!(t.long_keyframe_interval(10_001 * MS, target), Some(Duration::from_millis(4_001)));
        assert_eq!(t.long_keyframe_interval(20_000 * MS, target), None, "reported once");
    }
}
