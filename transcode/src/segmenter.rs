//! Where parts and segments split, decided frame by frame on decode timestamps.
//!
//! Rules (passthrough, so keyframes are the source's):
//! - a segment starts at a video keyframe once the current segment has reached the segment
//!   target (minus half a frame, so a 1 s GOP against a 1 s target splits every GOP);
//! - a part ends before the frame that would make it longer than the part target, so every part
//!   is at most the declared PART-TARGET (LL-HLS requires it) and as close to it as frames allow;
//! - audio is cut into segments at its first frame at or after the presentation time of the
//!   video keyframe that started the segment, so msn N covers the same time on every rendition.
//!
//! With B-frames, a part may only start at a closed reorder boundary: a frame before which
//! exactly the frames displayed earlier have been decoded. cmafmux (0.14) writes each chunk's
//! `tfdt` as the chunk's earliest PTS and derives the rest from DTS deltas, so the timeline is
//! only consistent if every chunk's earliest PTS minus its first DTS equals the stream's reorder
//! delay, which holds exactly at such boundaries. With reorder delay `D` (the keyframe's PTS-DTS),
//! frame `f` is a boundary iff every PTS decoded before it is below `dts(f) + D`. Parts end at the
//! last boundary that keeps them within the target, expecting the next boundary as far away as the
//! widest of the last few gaps (encoders repeat their mini-GOP pattern). When boundaries come every
//! four frames at 30 fps, parts are 133 ms: the part target cannot be met more closely there. Without B-frames every frame is a boundary.
//!
//! With B-frames a part's presentation span is not its decode span: the last part of a GOP ends
//! at the next keyframe's PTS (one reorder delay after its DTS) and comes out up to a frame
//! longer than the target, the first part of the next GOP as much shorter. The packager clamps
//! the advertised part duration to PART-TARGET; EXTINF stays exact.

use std::time::Duration;

pub const DEFAULT_PART_TARGET: Duration = Duration::from_millis(200);
pub const DEFAULT_SEGMENT_TARGET: Duration = Duration::from_secs(2);

/// Tolerance for timestamp rounding (RTMP has millisecond timestamps).
const SLACK_NS: i64 = 1_500_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterConfig {
    pub part_target: Duration,
    pub segment_target: Duration,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self { part_target: DEFAULT_PART_TARGET, segment_target: DEFAULT_SEGMENT_TARGET }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The frame continues the current part.
    None,
    /// The frame starts a new part.
    Part,
    /// The frame starts a new segment (and part).
    Segment,
}

#[derive(Debug, Default)]
struct TrackState {
    part_start: Option<i64>,
    last_dts: Option<i64>,
    frame_ns: Option<i64>,
}

impl TrackState {
    /// Updates the frame duration estimate with a new decode time.
    fn observe(&mut self, dts: i64) {
        if let Some(last) = self.last_dts {
            let delta = dts - last;
            if delta > 0 {
                self.frame_ns = Some(delta.min(200_000_000));
            }
        }
        self.last_dts = Some(dts);
    }

    /// Whether a frame at `dts` would take the current part past `part_target`.
    fn part_full(&self, dts: i64, part_target: i64, default_frame_ns: i64) -> bool {
        let frame = self.frame_ns.unwrap_or(default_frame_ns);
        self.part_start.is_some_and(|start| dts + frame - start > part_target + SLACK_NS)
    }
}

/// Finds closed reorder boundaries and learns how far apart they are.
#[derive(Debug)]
struct Safety {
    frames_since_safe: u32,
    /// Distances, in frames, between the last few boundaries (1 without B-frames).
    recent_gaps: [u32; 4],
    next_gap_slot: usize,
    /// Highest PTS decoded so far.
    max_pts: Option<i64>,
    /// PTS - DTS of the last keyframe.
    reorder_delay: i64,
}

/// Safe frames further apart than this are treated as this far (bounds the look-ahead).
const MAX_SAFE_GAP: u32 = 8;

#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    safety: Safety,
    segment_start: Option<i64>,
    video: TrackState,
    audio: TrackState,
    /// Presentation time of the keyframe that started the current video segment, until audio
    /// has split there too.
    audio_segment_at: Option<i64>,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            config,
            safety: Safety {
                frames_since_safe: 0,
                recent_gaps: [1; 4],
                next_gap_slot: 0,
                max_pts: None,
                reorder_delay: 0,
            },
            segment_start: None,
            video: TrackState::default(),
            audio: TrackState::default(),
            audio_segment_at: None,
        }
    }

    fn part_target_ns(&self) -> i64 {
        self.config.part_target.as_nanos() as i64
    }

    /// Decision for a video frame with decode time `dts` and presentation time `pts` (ns). The
    /// first frame must be a keyframe.
    pub fn on_video(&mut self, dts: i64, pts: i64, keyframe: bool) -> Split {
        let part_target = self.part_target_ns();
        self.video.observe(dts);
        let frame = self.video.frame_ns.unwrap_or(33_333_333);
        if keyframe {
            self.safety.reorder_delay = (pts - dts).max(0);
        }
        let safe = keyframe || self.safety.max_pts.is_none_or(|max| max + frame / 2 <= dts + self.safety.reorder_delay);
        self.safety.max_pts = Some(self.safety.max_pts.map_or(pts, |m| m.max(pts)));
        if safe {
            let gap = (self.safety.frames_since_safe + 1).min(MAX_SAFE_GAP);
            if self.segment_start.is_some() {
                self.safety.recent_gaps[self.safety.next_gap_slot] = gap;
                self.safety.next_gap_slot = (self.safety.next_gap_slot + 1) % self.safety.recent_gaps.len();
            }
            self.safety.frames_since_safe = 0;
        } else {
            self.safety.frames_since_safe += 1;
        }
        let Some(segment_start) = self.segment_start else {
            self.segment_start = Some(dts);
            self.video.part_start = Some(dts);
            return Split::None;
        };
        let segment_target = self.config.segment_target.as_nanos() as i64;
        let part_start = self.video.part_start.unwrap_or(dts);
        // Waiting for the next safe frame would take the part to about here:
        let gap = self.safety.recent_gaps.iter().copied().max().unwrap_or(1);
        let next_safe_end = dts + i64::from(gap) * frame;
        if keyframe && dts - segment_start >= segment_target - frame / 2 {
            self.segment_start = Some(dts);
            self.video.part_start = Some(dts);
            self.audio_segment_at = Some(pts);
            Split::Segment
        } else if safe && dts > part_start && next_safe_end - part_start > part_target + SLACK_NS {
            self.video.part_start = Some(dts);
            Split::Part
        } else {
            Split::None
        }
    }

    /// Decision for an audio frame. Audio before the first video frame is the caller's to drop.
    pub fn on_audio(&mut self, dts: i64) -> Split {
        let part_target = self.part_target_ns();
        self.audio.observe(dts);
        let full = self.audio.part_full(dts, part_target, 21_333_333);
        if self.audio.part_start.is_none() {
            self.audio.part_start = Some(dts);
            self.audio_segment_at = None;
            return Split::None;
        }
        if self.audio_segment_at.is_some_and(|at| dts >= at) {
            self.audio_segment_at = None;
            self.audio.part_start = Some(dts);
            Split::Segment
        } else if full {
            self.audio.part_start = Some(dts);
            Split::Part
        } else {
            Split::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn video_30fps_parts_of_six_frames_segments_on_keyframes() {
        let mut s = Segmenter::new(SegmenterConfig::default());
        let mut splits = Vec::new();
        for i in 0..120i64 {
            // 30 fps with RTMP's millisecond rounding, keyframe every second.
            let dts = (i * 1000 / 30) * MS;
            splits.push(s.on_video(dts, dts, i % 30 == 0));
        }
        let segments: Vec<usize> =
            splits.iter().enumerate().filter(|(_, s)| **s == Split::Segment).map(|(i, _)| i).collect();
        assert_eq!(segments, vec![60]);
        let parts: Vec<usize> = splits.iter().enumerate().filter(|(_, s)| **s != Split::None).map(|(i, _)| i).collect();
        // Every 6 frames (200 ms) a new part.
        assert_eq!(parts, (1..20).map(|k| k * 6).collect::<Vec<_>>());
    }

    #[test]
    fn ntsc_rate_never_exceeds_part_target() {
        let mut s = Segmenter::new(SegmenterConfig::default());
        let mut part_start = 0i64;
        let frame = 1_001_000_000 / 30_000 * 1000; // 33.366 ms in ns (rounded to us)
        for i in 0..300i64 {
            let dts = i * frame;
            if s.on_video(dts, dts, i == 0) != Split::None {
                assert!(dts - part_start <= 200 * MS + SLACK_NS, "part of {} ns", dts - part_start);
                assert!(dts - part_start >= 160 * MS);
                part_start = dts;
            }
        }
    }

    /// Decode order of an x264-like stream (I, then mini-GOPs P B B, reorder delay 2 frames),
    /// as (display index, keyframe) per decoded frame.
    fn ibbp_decode_order(frames: usize) -> Vec<(i64, bool)> {
        let mut out = vec![(0i64, true)];
        let mut n = 1i64;
        while out.len() < frames {
            // P n+2 is decoded before the two B-frames it follows in display order.
            out.extend([(n + 2, false), (n, false), (n + 1, false)]);
            n += 3;
        }
        out.truncate(frames);
        out
    }

    #[test]
    fn b_frame_streams_split_only_at_closed_reorder_boundaries() {
        let f = 33_333_333i64;
        let order = ibbp_decode_order(120);
        let mut s = Segmenter::new(SegmenterConfig {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(10),
        });
        let mut splits = Vec::new();
        for (i, (display, key)) in order.iter().enumerate() {
            let dts = i as i64 * f;
            let pts = (display + 2) * f;
            if s.on_video(dts, pts, *key) != Split::None {
                // Frames decoded before i are exactly those displayed before it.
                let before: Vec<i64> = order[..i].iter().map(|(d, _)| *d).collect();
                let after_min = order[i..].iter().map(|(d, _)| *d).min().unwrap();
                assert!(before.iter().all(|d| *d < after_min), "split at decode index {i} is not a boundary");
                splits.push(i);
            }
        }
        let lengths: Vec<usize> = splits.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(splits.len() >= 15, "{splits:?}");
        // Boundaries every 3 frames: parts of 6 frames (200 ms), never more.
        assert!(lengths.iter().all(|l| *l <= 6), "{lengths:?}");
        assert!(lengths.iter().filter(|l| **l == 6).count() >= lengths.len() - 2, "{lengths:?}");
    }

    #[test]
    fn long_gop_makes_long_segment_but_parts_stay_small() {
        let mut s = Segmenter::new(SegmenterConfig::default());
        let decisions: Vec<Split> = (0..150i64).map(|i| s.on_video(i * 33 * MS, i * 33 * MS, i % 120 == 0)).collect();
        assert_eq!(decisions.iter().filter(|d| **d == Split::Segment).count(), 1);
        assert_eq!(decisions[120], Split::Segment);
    }

    #[test]
    fn audio_follows_video_segment_split() {
        let mut s = Segmenter::new(SegmenterConfig {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(1),
        });
        assert_eq!(s.on_video(0, 0, true), Split::None);
        assert_eq!(s.on_audio(0), Split::None);
        let mut audio_splits = Vec::new();
        let mut v = 1i64;
        let mut a = 1i64;
        // Interleave by time, as publishers do.
        while v < 40 {
            let vt = v * 1000 / 30 * MS;
            let at = a * 21_333_333;
            if at < vt {
                audio_splits.push((a, s.on_audio(at)));
                a += 1;
            } else {
                s.on_video(vt, vt, v % 30 == 0);
                v += 1;
            }
        }
        let seg: Vec<i64> = audio_splits.iter().filter(|(_, d)| *d == Split::Segment).map(|(i, _)| *i).collect();
        // Video splits at 1000 ms; the first audio frame after that is #47 (1002.7 ms).
        assert_eq!(seg, vec![47]);
        // Audio parts: 9 frames (192 ms) each.
        let parts: Vec<i64> = audio_splits.iter().filter(|(_, d)| *d == Split::Part).map(|(i, _)| *i).collect();
        assert_eq!(&parts[..3], &[9, 18, 27]);
    }
}
