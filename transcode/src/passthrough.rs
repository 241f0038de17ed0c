//! The passthrough pipeline: each source track is parsed and packaged as its own CMAF rendition.
//!
//! ```text
//! appsrc(video, avc) → h264parse → cmafmux(manual-split) → appsink ─┐
//! appsrc(audio, aac) → aacparse  → cmafmux(manual-split) → appsink ─┴→ CmafSink
//! ```
//! Splits are decided by the pump (see `segmenter`) and sent in-band as `FMP4MuxSplitNow`
//! events, serialized with the buffers through appsrc.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use gst::prelude::*;
use oxcast_media::{AudioConfig, MediaKind, VideoConfig};

use crate::TranscodeError;
use crate::output::{CmafPart, CmafSink, VideoDetails};
use crate::segmenter::SegmenterConfig;

/// Frames queued inside appsrc before a push blocks the pump (which then lags the hub, which
/// skips forward): the bound that keeps a stalled pipeline from buffering without limit.
const APPSRC_MAX_BUFFERS: u64 = 90;
/// How many recent frames per track remember their arrival time.
const ARRIVALS_KEPT: usize = 256;

pub(crate) const VIDEO_RENDITION: &str = "video";
pub(crate) const AUDIO_RENDITION: &str = "audio";

/// Shared between the pump thread and the appsink callbacks of one pipeline.
pub(crate) struct Timeline {
    /// Wall clock of pipeline time zero.
    pub(crate) wall_at_zero: SystemTime,
    arrivals: [Mutex<VecDeque<(u64, SystemTime)>>; 2],
}

impl Timeline {
    pub(crate) fn new(wall_at_zero: SystemTime) -> Self {
        Self {
            wall_at_zero,
            arrivals: [Mutex::new(VecDeque::new()), Mutex::new(VecDeque::new())],
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
        ring.iter()
            .filter(|(pts, _)| *pts >= start && *pts < end)
            .map(|(_, at)| *at)
            .max()
    }
}

pub(crate) struct Passthrough {
    pipeline: gst::Pipeline,
    video_src: gst_app::AppSrc,
    audio_src: Option<gst_app::AppSrc>,
}

impl Passthrough {
    pub(crate) fn build(
        name: &str,
        video: &VideoConfig,
        audio: Option<&AudioConfig>,
        segmenter: SegmenterConfig,
        sink: Arc<dyn CmafSink>,
        timeline: Arc<Timeline>,
    ) -> Result<Self, TranscodeError> {
        let pipeline = gst::Pipeline::with_name(&format!("live-{name}"));
        let video_caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(video.avcc.clone()))
            .build();
        let video_src = appsrc("video_src", &video_caps);
        let parser = gst::ElementFactory::make("h264parse").build()?;
        let parser_for_details = parser.clone();
        let details = move || video_details(&parser_for_details);
        add_branch(
            &pipeline,
            &video_src,
            &parser,
            segmenter,
            VIDEO_RENDITION,
            MediaKind::Video,
            sink.clone(),
            timeline.clone(),
            Some(Box::new(details)),
        )?;

        let audio_src = match audio {
            Some(audio) => {
                let caps = gst::Caps::builder("audio/mpeg")
                    .field("mpegversion", 4i32)
                    .field("stream-format", "raw")
                    .field("framed", true)
                    .field("rate", audio.sample_rate as i32)
                    .field("channels", i32::from(audio.channels.max(1)))
                    .field(
                        "codec_data",
                        gst::Buffer::from_slice(audio.specific_config.clone()),
                    )
                    .build();
                let src = appsrc("audio_src", &caps);
                let parser = gst::ElementFactory::make("aacparse").build()?;
                add_branch(
                    &pipeline,
                    &src,
                    &parser,
                    segmenter,
                    AUDIO_RENDITION,
                    MediaKind::Audio,
                    sink,
                    timeline,
                    None,
                )?;
                Some(src)
            }
            None => None,
        };
        pipeline.set_state(gst::State::Playing)?;
        Ok(Self {
            pipeline,
            video_src,
            audio_src,
        })
    }

    pub(crate) fn has_audio(&self) -> bool {
        self.audio_src.is_some()
    }

    fn src(&self, kind: MediaKind) -> Option<&gst_app::AppSrc> {
        match kind {
            MediaKind::Video => Some(&self.video_src),
            MediaKind::Audio => self.audio_src.as_ref(),
        }
    }

    /// Queues a split before the next buffer of `kind`: a part (`chunk`) or a whole segment.
    pub(crate) fn split(&self, kind: MediaKind, chunk: bool) {
        if let Some(src) = self.src(kind) {
            let event = gst::event::CustomDownstream::builder(
                gst::Structure::builder("FMP4MuxSplitNow")
                    .field("chunk", chunk)
                    .build(),
            )
            .build();
            src.send_event(event);
        }
    }

    pub(crate) fn push(&self, kind: MediaKind, buffer: gst::Buffer) -> Result<(), TranscodeError> {
        let Some(src) = self.src(kind) else {
            return Ok(());
        };
        src.push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| TranscodeError::Pipeline(format!("push: {e:?}")))
    }

    /// The first error the pipeline posted, if any.
    pub(crate) fn take_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(format!(
                "{} ({})",
                err.error(),
                err.src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default()
            )),
            _ => None,
        }
    }

    /// Drains: EOS into every source, waits (bounded) for the last parts, then tears down.
    pub(crate) fn finish(self, timeout: Duration) {
        let _ = self.video_src.end_of_stream();
        if let Some(audio) = &self.audio_src {
            let _ = audio.end_of_stream();
        }
        if let Some(bus) = self.pipeline.bus() {
            let deadline = std::time::Instant::now() + timeout;
            while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                let Some(msg) = bus.timed_pop_filtered(
                    gst::ClockTime::from_nseconds(left.as_nanos() as u64),
                    &[gst::MessageType::Eos, gst::MessageType::Error],
                ) else {
                    break;
                };
                if matches!(
                    msg.view(),
                    gst::MessageView::Eos(_) | gst::MessageView::Error(_)
                ) {
                    break;
                }
            }
        }
        self.abort();
    }

    /// Tears down without draining.
    pub(crate) fn abort(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn appsrc(name: &str, caps: &gst::Caps) -> gst_app::AppSrc {
    gst_app::AppSrc::builder()
        .name(name)
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        .block(true)
        .max_buffers(APPSRC_MAX_BUFFERS)
        .max_bytes(0)
        .build()
}

type DetailsFn = Box<dyn Fn() -> Option<VideoDetails> + Send + Sync>;

#[allow(clippy::too_many_arguments)]
fn add_branch(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    parser: &gst::Element,
    segmenter: SegmenterConfig,
    rendition: &'static str,
    kind: MediaKind,
    sink: Arc<dyn CmafSink>,
    timeline: Arc<Timeline>,
    details: Option<DetailsFn>,
) -> Result<(), TranscodeError> {
    let mux = gst::ElementFactory::make("cmafmux")
        .property(
            "fragment-duration",
            segmenter.segment_target.as_nanos() as u64,
        )
        .property("chunk-duration", segmenter.part_target.as_nanos() as u64)
        .property("manual-split", true)
        .property_from_str("header-update-mode", "none")
        .property("write-mfra", false)
        .property("write-mehd", false)
        .property("send-force-keyunit", false)
        .build()?;
    // async=false: no preroll. In a non-live pipeline a prerolled sink blocks until every sink
    // has prerolled, and with one thread pushing both tracks that is a deadlock.
    let appsink = gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .buffer_list(true)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    deliver(
                        &sample,
                        rendition,
                        kind,
                        sink.as_ref(),
                        &timeline,
                        details.as_deref(),
                    );
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build();
    pipeline.add_many([src.upcast_ref(), parser, &mux, appsink.upcast_ref()])?;
    gst::Element::link_many([src.upcast_ref(), parser, &mux, appsink.upcast_ref()])?;
    Ok(())
}

fn video_details(parser: &gst::Element) -> Option<VideoDetails> {
    let caps = parser.static_pad("src")?.current_caps()?;
    let s = caps.structure(0)?;
    let width = u32::try_from(s.get::<i32>("width").ok()?).ok()?;
    let height = u32::try_from(s.get::<i32>("height").ok()?).ok()?;
    let frame_rate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f64::from(f.numer()) / f64::from(f.denom()));
    Some(VideoDetails {
        width,
        height,
        frame_rate,
    })
}

/// Turns one appsink sample (one BufferList per push) into an init segment and/or a part.
fn deliver(
    sample: &gst::Sample,
    rendition: &str,
    kind: MediaKind,
    sink: &dyn CmafSink,
    timeline: &Timeline,
    details: Option<&(dyn Fn() -> Option<VideoDetails> + Send + Sync)>,
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
        sink.init_segment(rendition, init, details.and_then(|d| d()));
    }
    if data.is_empty() {
        return;
    }
    let Some(&(_, pts, duration, delta)) = starts.iter().find(|(offset, ..)| *offset == init_len)
    else {
        tracing::warn!(
            rendition,
            "cmafmux output without a header buffer; dropping it"
        );
        return;
    };
    let start = pts.map(|p| p.nseconds()).unwrap_or_default();
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
        program_date_time: timeline.wall_at_zero + Duration::from_nanos(start),
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
        if size < 8
            || !kinds.iter().any(|k| k.as_slice() == &header[4..8])
            || offset + size > data.len()
        {
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
