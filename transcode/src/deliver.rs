//! Turns what cmafmux hands its appsink into init segments and LL-HLS parts for the sink.
//!
//! One BufferList per push: the init segment (ftyp+moov) comes first once, then one CMAF chunk
//! (styp?+moof+mdat). The header buffer carries the chunk's time span; a fragment start that
//! begins with a sync sample starts a new segment.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use oxcast_media::MediaKind;

use crate::output::{CmafPart, CmafSink, VideoDetails};

/// How many recent frames per track remember their arrival time.
const ARRIVALS_KEPT: usize = 256;

/// Shared between the pump thread and the appsink callbacks of one pipeline.
///
/// PROGRAM-DATE-TIME is pipeline time plus the wall clock of pipeline time zero. That anchor
/// starts at the first keyframe's arrival, and until the first part is delivered it moves to
/// earlier video arrivals: a first keyframe that arrives late (a large IDR paced over WebRTC,
/// a publisher that starts with a short burst) would otherwise date every part late by that
/// much. Once a part is out, the anchor is fixed, so PDT never jumps within a session.
pub(crate) struct Timeline {
    /// Wall clock of pipeline time zero, and whether it is fixed.
    anchor: Mutex<(SystemTime, bool)>,
    /// Composition offset of the first keyframe (PDT dates presentation times).
    first_cts: Duration,
    arrivals: [Mutex<VecDeque<(u64, SystemTime)>>; 2],
}

impl Timeline {
    /// `first_arrival` is when the first keyframe (decode time zero) arrived.
    pub(crate) fn new(first_arrival: SystemTime, first_cts: Duration) -> Self {
        Self {
            anchor: Mutex::new((first_arrival.checked_sub(first_cts).unwrap_or(first_arrival), false)),
            first_cts,
            arrivals: [Mutex::new(VecDeque::new()), Mutex::new(VecDeque::new())],
        }
    }

    /// A video frame with decode time `dts_ns` (pipeline time) arrived at `received`: if that
    /// puts time zero earlier than assumed, and no part is out yet, move the anchor.
    pub(crate) fn observe_video(&self, dts_ns: u64, received: SystemTime) {
        let Ok(mut anchor) = self.anchor.lock() else { return };
        if anchor.1 {
            return;
        }
        if let Some(zero) = received.checked_sub(Duration::from_nanos(dts_ns) + self.first_cts)
            && zero < anchor.0
        {
            anchor.0 = zero;
        }
    }

    /// The wall clock of pipeline time zero; fixed from the first call on.
    pub(crate) fn wall_at_zero(&self) -> SystemTime {
        match self.anchor.lock() {
            Ok(mut anchor) => {
                anchor.1 = true;
                anchor.0
            }
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    fn slot(kind: MediaKind) -> usize {
        match kind {
            MediaKind::Video => 0,
            MediaKind::Audio => 1,
        }
    }

    pub(crate) fn record_arrival(&self, kind: MediaKind, pts_ns: u64, received: SystemTime) {
        let Ok(mut ring) = self.arrivals[Self::slot(kind)].lock() else {
            return;
        };
        if ring.len() == ARRIVALS_KEPT {
            ring.pop_front();
        }
        ring.push_back((pts_ns, received));
    }

    /// Latest arrival among frames presented in `[start, end)`.
    fn last_arrival(&self, kind: MediaKind, start: u64, end: u64) -> Option<SystemTime> {
        let ring = self.arrivals[Self::slot(kind)].lock().ok()?;
        ring.iter().filter(|(pts, _)| *pts >= start && *pts < end).map(|(_, at)| *at).max()
    }
}

/// Turns one appsink sample (one BufferList per push) into an init segment and/or a part.
pub(crate) fn deliver(
    sample: &gst::Sample,
    rendition: &str,
    kind: MediaKind,
    sink: &dyn CmafSink,
    timeline: &Timeline,
    details: &dyn Fn() -> Option<VideoDetails>,
) {
    let mut bytes = BytesMut::new();
    // (offset where the buffer starts, pts, duration, delta_unit)
    let mut starts = Vec::new();
    let mut visit = |buffer: &gst::BufferRef| {
        if let Ok(map) = buffer.map_readable() {
            starts.push((
                bytes.len(),
                buffer.pts(),
                buffer.duration(),
                buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
            ));
            bytes.extend_from_slice(map.as_slice());
        }
    };
    if let Some(list) = sample.buffer_list() {
        list.iter().for_each(&mut visit);
    } else if let Some(buffer) = sample.buffer() {
        visit(buffer);
    }
    let mut data = bytes.freeze();
    let init_len = leading_boxes_len(&data, &[*b"ftyp", *b"moov"]);
    if init_len > 0 {
        let init = data.split_to(init_len);
        sink.init_segment(rendition, init, details());
    }
    if data.is_empty() {
        return;
    }
    let Some(&(_, pts, duration, delta)) = starts.iter().find(|(offset, ..)| *offset == init_len) else {
        tracing::warn!(rendition, "cmafmux output without a header buffer; dropping it");
        return;
    };
    // On the session timeline: encoders put their output 1000 h ahead (their segment says so),
    // so a rung's raw PTS would date its parts 1000 h in the future.
    let segment = sample.segment().and_then(|s| s.downcast_ref::<gst::format::Time>());
    let start =
        pts.and_then(|p| segment.map_or(Some(p), |s| s.to_running_time(p))).map(|p| p.nseconds()).unwrap_or_default();
    let duration = duration.map(|d| d.nseconds()).unwrap_or_default();
    // At EOS cmafmux writes the remainder as a fragment (styp) even when it does not start on a
    // keyframe; only a fragment that starts with a sync sample begins a new segment.
    let segment_start = data.starts_with_box(b"styp") && !delta;
    let independent = kind == MediaKind::Audio || !delta;
    let part = CmafPart {
        data,
        start: Duration::from_nanos(start),
        duration: Duration::from_nanos(duration),
        independent,
        segment_start,
        program_date_time: timeline.wall_at_zero() + Duration::from_nanos(start),
        last_frame_received: timeline.last_arrival(kind, start, start + duration),
    };
    sink.part(rendition, part);
}

trait BoxPeek {
    fn starts_with_box(&self, kind: &[u8; 4]) -> bool;
}

impl BoxPeek for Bytes {
    fn starts_with_box(&self, kind: &[u8; 4]) -> bool {
        self.get(4..8) == Some(kind.as_slice())
    }
}

/// Length of the run of top-level ISO BMFF boxes at the start of `data` whose types are in `kinds`.
fn leading_boxes_len(data: &[u8], kinds: &[[u8; 4]]) -> usize {
    let mut offset = 0;
    while let Some(header) = data.get(offset..offset + 8) {
        let size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if size < 8 || !kinds.iter().any(|k| k.as_slice() == &header[4..8]) || offset + size > data.len() {
            break;
        }
        offset += size;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: usize) -> Vec<u8> {
        let mut v = ((body + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend(std::iter::repeat_n(0u8, body));
        v
    }

    #[test]
    fn finds_init_prefix() {
        let mut data = boxed(b"ftyp", 12);
        data.extend(boxed(b"moov", 30));
        let init = data.len();
        data.extend(boxed(b"styp", 4));
        data.extend(boxed(b"moof", 40));
        assert_eq!(leading_boxes_len(&data, &[*b"ftyp", *b"moov"]), init);
        assert_eq!(leading_boxes_len(&data[init..], &[*b"ftyp", *b"moov"]), 0);
        // A truncated box is not counted.
        assert_eq!(leading_boxes_len(&data[..10], &[*b"ftyp", *b"moov"]), 0);
    }
}

#[cfg(test)]
mod timeline_tests {
    use super::*;

    #[test]
    fn a_late_first_keyframe_is_corrected_until_the_first_part_is_out() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        // The keyframe (dts 0) completes 400 ms late; the next frame (dts 33 ms) arrives on time.
        let timeline = Timeline::new(t0 + Duration::from_millis(400), Duration::ZERO);
        timeline.observe_video(33_000_000, t0 + Duration::from_millis(33));
        assert_eq!(timeline.wall_at_zero(), t0);
        // Fixed once read: later arrivals never move it (no PDT jumps within a session).
        timeline.observe_video(66_000_000, t0 - Duration::from_millis(500));
        assert_eq!(timeline.wall_at_zero(), t0);
    }

    #[test]
    fn later_arrivals_never_move_the_anchor_later() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let timeline = Timeline::new(t0, Duration::from_millis(66));
        timeline.observe_video(33_000_000, t0 + Duration::from_millis(500));
        assert_eq!(timeline.wall_at_zero(), t0 - Duration::from_millis(66), "anchor is the keyframe's presentation");
    }
}
