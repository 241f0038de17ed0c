//! The packager's data: renditions, their segments and parts, in a bounded window.
//!
//! Pure and synchronous: [`crate::StreamPackager`] wraps it in a lock and a change signal.
//! Media sequence numbers are shared across renditions (a new session starts every rendition at
//! the same number) and start from the Unix time at creation, so part and segment URLs are unique
//! across restarts of the server and CDNs may cache them for long.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::PackagerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
}

/// What the multivariant playlist says about a rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionMeta {
    pub id: String,
    pub kind: TrackKind,
    pub codecs: String,
    /// Nominal bitrate, used until enough media is measured.
    pub bitrate: Option<u64>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// Audio channel count (EXT-X-MEDIA CHANNELS).
    pub channels: Option<u8>,
}

/// A part as the pipeline delivers it.
#[derive(Debug, Clone)]
pub struct PartIn {
    pub data: Bytes,
    pub duration: Duration,
    pub independent: bool,
    pub segment_start: bool,
    pub program_date_time: SystemTime,
}

#[derive(Debug, Clone)]
pub struct Part {
    /// The part's number in its rendition, counted across segments and sessions: its URI
    /// (`part-SEQ.m4s`) is known before anyone knows which segment the part will open, so a
    /// preload hint always names the part that comes next.
    pub seq: u64,
    pub data: Bytes,
    pub duration: Duration,
    pub independent: bool,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub msn: u64,
    pub parts: Vec<Part>,
    pub duration: Duration,
    pub program_date_time: SystemTime,
    /// EXT-X-DISCONTINUITY before this segment.
    pub discontinuity: bool,
    /// Id of the init segment (EXT-X-MAP) this segment needs.
    pub init_id: u64,
    pub complete: bool,
    pub bytes: usize,
}

#[derive(Debug)]
pub struct Rendition {
    pub meta: RenditionMeta,
    /// Complete segments, then at most one open (incomplete) segment at the back.
    pub segments: VecDeque<Segment>,
    /// Init segments still referenced by the window, by id.
    pub inits: BTreeMap<u64, Bytes>,
    pub current_init: u64,
    pub discontinuity_sequence: u64,
    pending_discontinuity: bool,
    /// Msn of the next segment. Consecutive within a rendition: a playlist's numbers have no gaps.
    next_msn: u64,
    /// Number of the next part (see [`Part::seq`]).
    next_part_seq: u64,
}

/// Part numbers start at the first msn (a Unix time) times this, so they never repeat across
/// restarts either as long as a rendition makes fewer parts than this per second.
pub const PART_SEQ_PER_MSN: u64 = 1000;

impl Rendition {
    fn new(meta: RenditionMeta, first_msn: u64) -> Self {
        Self {
            meta,
            segments: VecDeque::new(),
            inits: BTreeMap::new(),
            current_init: first_msn,
            discontinuity_sequence: 0,
            pending_discontinuity: false,
            next_msn: first_msn,
            next_part_seq: first_msn.saturating_mul(PART_SEQ_PER_MSN),
        }
    }

    /// The number the next part will have (what the preload hint names).
    pub fn next_part_seq(&self) -> u64 {
        self.next_part_seq
    }

    /// The part numbered `seq`, if it is in the window.
    pub fn part_by_seq(&self, seq: u64) -> Option<&Part> {
        let first = self.segments.iter().find_map(|s| s.parts.first())?.seq;
        let mut offset = usize::try_from(seq.checked_sub(first)?).ok()?;
        for s in &self.segments {
            if offset < s.parts.len() {
                return s.parts.get(offset);
            }
            offset -= s.parts.len();
        }
        None
    }

    pub fn open_segment(&self) -> Option<&Segment> {
        self.segments.back().filter(|s| !s.complete)
    }

    pub fn complete_segments(&self) -> impl DoubleEndedIterator<Item = &Segment> {
        self.segments.iter().filter(|s| s.complete)
    }

    pub fn segment(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        self.segments.get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// (msn, part index) of the newest part, if any.
    pub fn last_part(&self) -> Option<(u64, usize)> {
        self.segments.iter().rev().find(|s| !s.parts.is_empty()).map(|s| (s.msn, s.parts.len() - 1))
    }

    /// Msn of the newest segment in the playlist, complete or not.
    pub fn last_msn(&self) -> Option<u64> {
        self.segments.back().map(|s| s.msn)
    }

    fn close_open(&mut self) {
        if let Some(last) = self.segments.back_mut() {
            if last.parts.is_empty() {
                self.segments.pop_back();
                self.next_msn -= 1;
            } else {
                last.complete = true;
            }
        }
    }

    fn trim(&mut self, window: Duration) {
        let mut total: Duration = self.segments.iter().filter(|s| s.complete).map(|s| s.duration).sum();
        while total > window && self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.complete) {
            let Some(gone) = self.segments.pop_front() else {
                break;
            };
            total -= gone.duration;
            if gone.discontinuity {
                self.discontinuity_sequence += 1;
            }
        }
        if let Some(first) = self.segments.front() {
            let still_used = first.init_id;
            self.inits.retain(|id, _| *id >= still_used);
        }
    }

    /// Bits per second: (peak over complete segments, average over the window).
    pub fn measured_bitrate(&self) -> Option<(u64, u64)> {
        let rate = |bytes: usize, d: Duration| (bytes as f64 * 8.0 / d.as_secs_f64().max(0.001)) as u64;
        let mut peak = 0;
        let (mut bytes, mut dur) = (0usize, Duration::ZERO);
        for s in &self.segments {
            if s.duration.is_zero() {
                continue;
            }
            if s.complete {
                peak = peak.max(rate(s.bytes, s.duration));
            }
            bytes += s.bytes;
            dur += s.duration;
        }
        if dur.is_zero() {
            return None;
        }
        let average = rate(bytes, dur);
        // With no complete segment yet, allow for a keyframe-heavy start.
        Some((if peak == 0 { average * 3 / 2 } else { peak.max(average) }, average))
    }
}

/// Lifecycle as the playlists show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Never published since the packager was created.
    Idle,
    /// A publisher is sending.
    Live,
    /// The publisher left; within the grace period a new session continues the playlist with a
    /// discontinuity.
    Interrupted,
    /// EXT-X-ENDLIST was written.
    Ended,
}

#[derive(Debug)]
pub struct StreamState {
    pub config: PackagerConfig,
    pub renditions: Vec<Rendition>,
    pub phase: Phase,
    /// Where a rendition that has no segments yet starts numbering.
    next_msn: u64,
}

impl StreamState {
    pub fn new(config: PackagerConfig, first_msn: u64) -> Self {
        Self { config, renditions: Vec::new(), phase: Phase::Idle, next_msn: first_msn }
    }

    pub fn rendition(&self, id: &str) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.meta.id == id)
    }

    fn rendition_mut(&mut self, id: &str) -> Option<&mut Rendition> {
        self.renditions.iter_mut().find(|r| r.meta.id == id)
    }

    /// A publish session begins with these renditions.
    pub fn start_session(&mut self, metas: Vec<RenditionMeta>) {
        for r in &mut self.renditions {
            r.close_open();
        }
        let fresh_window = self.phase == Phase::Ended;
        // Renditions that continue keep consecutive numbers; an emptied or new one joins at the
        // highest, so a session's first segment has the same msn everywhere whenever possible.
        self.next_msn = self.renditions.iter().map(|r| r.next_msn).fold(self.next_msn, u64::max);
        let aligned = self.next_msn;
        let mut kept = Vec::with_capacity(metas.len());
        for meta in metas {
            let mut rendition = match self.renditions.iter().position(|r| r.meta.id == meta.id) {
                Some(i) => {
                    let mut r = self.renditions.swap_remove(i);
                    r.meta = meta;
                    if fresh_window {
                        // A new broadcast: players that saw ENDLIST are done; start a fresh window.
                        r.segments.clear();
                        r.inits.clear();
                        r.pending_discontinuity = false;
                    } else {
                        r.pending_discontinuity = !r.segments.is_empty();
                    }
                    if r.segments.is_empty() {
                        r.next_msn = aligned;
                    }
                    r
                }
                None => Rendition::new(meta, aligned),
            };
            // Init ids only need to be unique and increasing: the session's first msn is both.
            rendition.current_init = rendition.next_msn;
            kept.push(rendition);
        }
        self.renditions = kept;
        self.phase = Phase::Live;
    }

    pub fn set_init(
        &mut self,
        id: &str,
        data: Bytes,
        resolution: Option<(u32, u32)>,
        frame_rate: Option<f64>,
        codecs: Option<String>,
    ) {
        if let Some(r) = self.rendition_mut(id) {
            r.inits.insert(r.current_init, data);
            if let Some(codecs) = codecs {
                r.meta.codecs = codecs;
            }
            if resolution.is_some() {
                r.meta.resolution = resolution;
            }
            if frame_rate.is_some() {
                r.meta.frame_rate = frame_rate;
            }
        }
    }

    /// Adds a part; returns false if the rendition is unknown.
    pub fn push_part(&mut self, id: &str, part: PartIn) -> bool {
        let window = self.config.window;
        let Some(r) = self.rendition_mut(id) else {
            return false;
        };
        let need_new = part.segment_start || r.open_segment().is_none();
        if need_new {
            r.close_open();
            let msn = r.next_msn;
            r.next_msn += 1;
            let discontinuity = std::mem::take(&mut r.pending_discontinuity);
            r.segments.push_back(Segment {
                msn,
                parts: Vec::new(),
                duration: Duration::ZERO,
                program_date_time: part.program_date_time,
                discontinuity,
                init_id: r.current_init,
                complete: false,
                bytes: 0,
            });
        }
        if let Some(open) = r.segments.back_mut() {
            open.duration += part.duration;
            open.bytes += part.data.len();
            let seq = r.next_part_seq;
            r.next_part_seq += 1;
            open.parts.push(Part { seq, data: part.data, duration: part.duration, independent: part.independent });
        }
        r.trim(window);
        true
    }

    /// The publisher left: close open segments, keep the playlist for a possible reconnect.
    pub fn interrupt(&mut self) {
        for r in &mut self.renditions {
            r.close_open();
        }
        if self.phase == Phase::Live {
            self.phase = Phase::Interrupted;
        }
    }

    /// The stream is over: EXT-X-ENDLIST.
    pub fn end(&mut self) {
        for r in &mut self.renditions {
            r.close_open();
        }
        if self.phase != Phase::Idle {
            self.phase = Phase::Ended;
        }
    }

    /// EXT-X-TARGETDURATION in whole seconds.
    pub fn target_duration(&self) -> u64 {
        let longest = self
            .renditions
            .iter()
            .flat_map(|r| r.segments.iter())
            .map(|s| s.duration.as_secs_f64().round() as u64)
            .max()
            .unwrap_or(0);
        (self.config.segment_target.as_secs_f64().ceil() as u64).max(longest).max(1)
    }

    /// True when the multivariant playlist can be served: every rendition has its init segment
    /// and some media.
    pub fn playable(&self) -> bool {
        self.phase != Phase::Idle
            && !self.renditions.is_empty()
            && self.renditions.iter().all(|r| !r.inits.is_empty() && r.last_part().is_some())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn meta(id: &str, kind: TrackKind) -> RenditionMeta {
        RenditionMeta {
            id: id.into(),
            kind,
            codecs: if kind == TrackKind::Video { "avc1.64001f".into() } else { "mp4a.40.2".into() },
            bitrate: None,
            resolution: None,
            frame_rate: None,
            channels: (kind == TrackKind::Audio).then_some(2),
        }
    }

    pub(crate) fn part(ms: u64, segment_start: bool) -> PartIn {
        PartIn {
            data: Bytes::from(vec![0u8; 1000]),
            duration: Duration::from_millis(ms),
            independent: segment_start,
            segment_start,
            program_date_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    /// A live stream with `segments` complete 1 s segments of five 200 ms parts plus `open_parts`.
    pub(crate) fn live_state(segments: usize, open_parts: usize) -> StreamState {
        let config = PackagerConfig {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(1),
            window: Duration::from_secs(30),
        };
        let mut s = StreamState::new(config, 100);
        s.start_session(vec![meta("video", TrackKind::Video), meta("audio", TrackKind::Audio)]);
        for id in ["video", "audio"] {
            s.set_init(id, Bytes::from_static(b"init"), None, None, None);
        }
        for seg in 0..=segments {
            let parts = if seg == segments { open_parts } else { 5 };
            for i in 0..parts {
                for id in ["video", "audio"] {
                    assert!(s.push_part(id, part(200, i == 0)));
                }
            }
        }
        s
    }

    #[test]
    fn parts_build_segments_with_shared_msns() {
        let s = live_state(3, 2);
        let v = s.rendition("video").unwrap();
        let a = s.rendition("audio").unwrap();
        assert_eq!(v.complete_segments().count(), 3);
        assert_eq!(v.segments.front().unwrap().msn, 100);
        assert_eq!(v.last_part(), Some((103, 1)));
        assert_eq!(a.last_part(), Some((103, 1)));
        assert_eq!(v.segment(101).unwrap().duration, Duration::from_secs(1));
        assert!(s.playable());
    }

    #[test]
    fn window_is_bounded_and_counts_discontinuities() {
        let mut s = live_state(3, 0);
        s.interrupt();
        assert_eq!(s.phase, Phase::Interrupted);
        s.start_session(vec![meta("video", TrackKind::Video), meta("audio", TrackKind::Audio)]);
        for _ in 0..100 {
            for i in 0..5 {
                s.push_part("video", part(200, i == 0));
            }
        }
        let v = s.rendition("video").unwrap();
        let total: Duration = v.complete_segments().map(|s| s.duration).sum();
        assert!(total <= Duration::from_secs(30));
        assert!(v.segments.len() <= 31);
        // The discontinuity segment (msn 103) slid out of the window.
        assert_eq!(v.discontinuity_sequence, 1);
        // Only the init still referenced is kept.
        assert_eq!(v.inits.len(), 0, "the new session's init was never set");
    }

    #[test]
    fn reconnect_continues_numbering_with_discontinuity() {
        let mut s = live_state(2, 3);
        s.interrupt();
        s.start_session(vec![meta("video", TrackKind::Video), meta("audio", TrackKind::Audio)]);
        s.push_part("video", part(200, true));
        let v = s.rendition("video").unwrap();
        let last = v.segments.back().unwrap();
        assert_eq!(last.msn, 103);
        assert!(last.discontinuity);
        assert_eq!(last.init_id, 103);
    }

    #[test]
    fn ended_then_new_broadcast_starts_fresh_window() {
        let mut s = live_state(2, 1);
        s.end();
        assert_eq!(s.phase, Phase::Ended);
        s.start_session(vec![meta("video", TrackKind::Video)]);
        assert!(s.rendition("audio").is_none());
        s.push_part("video", part(200, true));
        let v = s.rendition("video").unwrap();
        assert_eq!(v.segments.len(), 1);
        assert_eq!(v.segments[0].msn, 103);
        assert!(!v.segments[0].discontinuity);
    }

    #[test]
    fn target_duration_grows_with_long_gops() {
        let mut s = live_state(1, 0);
        assert_eq!(s.target_duration(), 1);
        for i in 0..20 {
            s.push_part("video", part(200, i == 0));
        }
        s.push_part("video", part(200, true));
        assert_eq!(s.target_duration(), 4);
    }
}
