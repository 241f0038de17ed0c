//! One live session's GStreamer pipeline.
//!
//! ```text
//! appsrc(video, avc) → h264parse ─┬→ cmafmux → appsink                        "video" (the source)
//!                                 └→ queue → avdec_h264 → tee ─┬→ rung 720p → cmafmux → appsink
//!                                                              └→ rung 480p → …       (see rung.rs)
//! appsrc(audio, aac) → aacparse  → cmafmux → appsink                           "audio"
//!   (Opus from WebRTC arrives here already re-encoded to AAC: see `opus_to_aac`)
//! ```
//! Without rungs the decoder is not built (passthrough). Splits are decided by the pump (see
//! `segmenter`) and sent in-band as `FMP4MuxSplitNow` events through the video appsrc, so they
//! reach the source muxer and, through the decoder and encoders, every rung's muxer before the
//! same frame; `GstForceKeyUnit` events injected after the decoder before each source keyframe
//! make every rung start a GOP there, so segment boundaries line up across renditions.

use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use oxcast_media::{AudioConfig, MediaKind, VideoConfig};

use crate::TranscodeError;
use crate::deliver::{Timeline, deliver};
use crate::ladder::PlannedRung;
use crate::output::{CmafSink, VideoDetails};
use crate::rung;
use crate::segmenter::SegmenterConfig;

/// Frames queued inside appsrc before a push blocks the pump (which then lags the hub, which
/// skips forward): the bound that keeps a stalled pipeline from buffering without limit.
const APPSRC_MAX_BUFFERS: u64 = 90;
/// Decoded-side queue: how much source the encoders may fall behind before backpressure.
const DECODE_QUEUE: Duration = Duration::from_secs(2);

pub(crate) const VIDEO_RENDITION: &str = "video";
pub(crate) const AUDIO_RENDITION: &str = "audio";

/// What the graph is built from.
pub(crate) struct PipelineSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) video: &'a VideoConfig,
    pub(crate) audio: Option<&'a AudioConfig>,
    pub(crate) rungs: &'a [PlannedRung],
    pub(crate) preset: &'a str,
    pub(crate) segmenter: SegmenterConfig,
    pub(crate) keyframes: Arc<KeyframeLog>,
}

/// Where outputs go, shared by every branch.
#[derive(Clone)]
pub(crate) struct Outputs {
    pub(crate) sink: Arc<dyn CmafSink>,
    pub(crate) timeline: Arc<Timeline>,
}

pub(crate) struct LivePipeline {
    pipeline: gst::Pipeline,
    video_src: gst_app::AppSrc,
    audio_src: Option<gst_app::AppSrc>,
    /// The queue in front of the decoder when transcoding: its fill level is how far encoding
    /// is behind the source.
    decode_queue: Option<gst::Element>,
}

impl LivePipeline {
    pub(crate) fn build(spec: &PipelineSpec<'_>, outputs: &Outputs) -> Result<Self, TranscodeError> {
        let pipeline = gst::Pipeline::with_name(&format!("live-{}", spec.name));
        let video_caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(spec.video.avcc.clone()))
            .build();
        let video_src = appsrc("video_src", &video_caps);
        let parser = make("h264parse")?;
        pipeline.add_many([video_src.upcast_ref(), &parser])?;
        video_src.link(&parser)?;
        let mut decode_queue = None;
        let source_out = if spec.rungs.is_empty() {
            parser.clone()
        } else {
            let tee = make("tee")?;
            pipeline.add(&tee)?;
            parser.link(&tee)?;
            let to_decoder = queue(DECODE_QUEUE)?;
            let decoder = make("avdec_h264")?;
            inject_decoder_failure(&decoder);
            let decoded = make("tee")?;
            pipeline.add_many([&to_decoder, &decoder, &decoded])?;
            gst::Element::link_many([&tee, &to_decoder, &decoder, &decoded])?;
            decode_queue = Some(to_decoder.clone());
            force_keyframes_at_source_keyframes(&decoded, spec.keyframes.clone());
            for r in spec.rungs {
                let encoded = rung::add(&pipeline, &decoded, r, spec.preset, rung::Tuning::Live)?;
                let parser = Some(encoded.parser.clone());
                add_output(&pipeline, &encoded.parser, &r.name, MediaKind::Video, spec.segmenter, outputs, parser)?;
            }
            let to_mux = queue(Duration::ZERO)?;
            pipeline.add(&to_mux)?;
            tee.link(&to_mux)?;
            to_mux
        };
        add_output(&pipeline, &source_out, VIDEO_RENDITION, MediaKind::Video, spec.segmenter, outputs, Some(parser))?;

        let audio_src = match spec.audio {
            Some(audio) => {
                let (src, out) = audio_branch(&pipeline, audio)?;
                add_output(&pipeline, &out, AUDIO_RENDITION, MediaKind::Audio, spec.segmenter, outputs, None)?;
                Some(src)
            }
            None => None,
        };
        pipeline.set_state(gst::State::Playing)?;
        Ok(Self { pipeline, video_src, audio_src, decode_queue })
    }

    pub(crate) fn has_audio(&self) -> bool {
        self.audio_src.is_some()
    }

    pub(crate) fn is_transcoding(&self) -> bool {
        self.decode_queue.is_some()
    }

    /// How much source is waiting for the decoder and encoders (zero without rungs).
    pub(crate) fn encoding_backlog(&self) -> Duration {
        self.decode_queue
            .as_ref()
            .map_or(Duration::ZERO, |q| Duration::from_nanos(q.property::<u64>("current-level-time")))
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
                gst::Structure::builder("FMP4MuxSplitNow").field("chunk", chunk).build(),
            )
            .build();
            src.send_event(event);
        }
    }

    pub(crate) fn push(&self, kind: MediaKind, buffer: gst::Buffer) -> Result<(), TranscodeError> {
        let Some(src) = self.src(kind) else {
            return Ok(());
        };
        src.push_buffer(buffer).map(|_| ()).map_err(|e| TranscodeError::Pipeline(format!("push: {e:?}")))
    }

    /// The first error the pipeline posted, if any.
    pub(crate) fn take_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(format!(
                "{} ({}; {})",
                err.error(),
                err.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                err.debug().map(|d| d.to_string()).unwrap_or_default()
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
            let _ = bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
        }
        self.abort();
    }

    /// Tears down without draining.
    pub(crate) fn abort(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        let transcoding = self.is_transcoding();
        drop(self);
        if transcoding {
            crate::allocator::return_freed_memory();
        }
    }
}

/// Chaos hook for the failure path: with `OXCAST_CHAOS_DECODER_ERROR_AFTER=N` the decoder posts
/// a real GStreamer decode error after N frames, exactly as a decoder that chokes does. (libav's
/// H.264 decoder conceals corrupt slices instead of failing; see tests/ladder.rs.) Unset in
/// production; read per pipeline so tests can start servers with it.
fn inject_decoder_failure(decoder: &gst::Element) {
    let Some(after) = std::env::var("OXCAST_CHAOS_DECODER_ERROR_AFTER").ok().and_then(|v| v.parse::<u64>().ok()) else {
        return;
    };
    let Some(pad) = decoder.static_pad("src") else { return };
    let element = decoder.downgrade();
    let frames = std::sync::atomic::AtomicU64::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == after
            && let Some(decoder) = element.upgrade()
        {
            gst::element_error!(
                decoder,
                gst::StreamError::Decode,
                ["injected decoder failure (OXCAST_CHAOS_DECODER_ERROR_AFTER)"]
            );
        }
        gst::PadProbeReturn::Ok
    });
}

/// `appsrc(aac) → aacparse`; returns the source and the parser (whose output is muxed). Opus
/// never gets here: the pump re-encodes it first (see `opus_to_aac`).
fn audio_branch(
    pipeline: &gst::Pipeline,
    audio: &AudioConfig,
) -> Result<(gst_app::AppSrc, gst::Element), TranscodeError> {
    let caps = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("framed", true)
        .field("rate", audio.sample_rate as i32)
        .field("channels", i32::from(audio.channels.max(1)))
        .field("codec_data", gst::Buffer::from_slice(audio.specific_config.clone()))
        .build();
    let src = appsrc("audio_src", &caps);
    let parser = make("aacparse")?;
    pipeline.add_many([src.upcast_ref(), &parser])?;
    src.link(&parser)?;
    Ok((src, parser))
}

pub(crate) fn make(factory: &str) -> Result<gst::Element, TranscodeError> {
    gst::ElementFactory::make(factory).build().map_err(|e| TranscodeError::Build(format!("{factory}: {e}")))
}

/// Presentation times of recent source keyframes, written by the pump before it pushes them and
/// read after the decoder (decoded frames carry no sync-point flag).
#[derive(Debug, Default)]
pub(crate) struct KeyframeLog(std::sync::Mutex<std::collections::VecDeque<u64>>);

impl KeyframeLog {
    const KEPT: usize = 32;

    pub(crate) fn record(&self, pts_ns: u64) {
        if let Ok(mut log) = self.0.lock() {
            if log.len() == Self::KEPT {
                log.pop_front();
            }
            log.push_back(pts_ns);
        }
    }

    fn contains(&self, pts_ns: u64) -> bool {
        self.0.lock().is_ok_and(|log| log.contains(&pts_ns))
    }
}

/// Makes every encoder start a GOP where the source does: before each decoded frame that was a
/// source keyframe, a `GstForceKeyUnit` event is sent into the tee that feeds the rungs. (Sent
/// through appsrc it does not survive the decoder.)
fn force_keyframes_at_source_keyframes(decoded_tee: &gst::Element, keyframes: Arc<KeyframeLog>) {
    let Some(pad) = decoded_tee.static_pad("sink") else { return };
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
            && let Some(pts) = buffer.pts()
            && keyframes.contains(pts.nseconds())
        {
            // No running time: "the next frame", which is this one. (Encoders measure running
            // time on their own offset timeline and drop requests that look older.)
            let event = gst_video::DownstreamForceKeyUnitEvent::builder().all_headers(true).build();
            pad.send_event(event);
        }
        gst::PadProbeReturn::Ok
    });
}

/// A thread boundary holding at most `time` of media (unbounded in buffers/bytes), or a small
/// buffer-count bound when `time` is zero.
pub(crate) fn queue(time: Duration) -> Result<gst::Element, TranscodeError> {
    let q = make("queue")?;
    q.set_property("max-size-bytes", 0u32);
    if time.is_zero() {
        q.set_property("max-size-buffers", 30u32);
        q.set_property("max-size-time", 0u64);
    } else {
        q.set_property("max-size-buffers", 0u32);
        q.set_property("max-size-time", time.as_nanos() as u64);
    }
    Ok(q)
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

/// `upstream → cmafmux → appsink`, delivering to the sink as `rendition`.
fn add_output(
    pipeline: &gst::Pipeline,
    upstream: &gst::Element,
    rendition: &str,
    kind: MediaKind,
    segmenter: SegmenterConfig,
    outputs: &Outputs,
    video_parser: Option<gst::Element>,
) -> Result<(), TranscodeError> {
    let mux = gst::ElementFactory::make("cmafmux")
        .property("fragment-duration", segmenter.segment_target.as_nanos() as u64)
        .property("chunk-duration", segmenter.part_target.as_nanos() as u64)
        .property("manual-split", true)
        .property_from_str("header-update-mode", "none")
        .property("write-mfra", false)
        .property("write-mehd", false)
        .property("send-force-keyunit", false)
        .build()?;
    let rendition = rendition.to_owned();
    let outputs = outputs.clone();
    let appsink = cmaf_appsink(move |sample| {
        let details = || video_parser.as_ref().and_then(video_details);
        deliver(sample, &rendition, kind, outputs.sink.as_ref(), &outputs.timeline, &details);
    });
    pipeline.add_many([&mux, appsink.upcast_ref()])?;
    gst::Element::link_many([upstream, &mux, appsink.upcast_ref()])?;
    Ok(())
}

/// The appsink after a cmafmux: one BufferList per push, handed to `on_sample`. `async=false`:
/// no preroll (in a non-live pipeline a prerolled sink blocks until every sink has prerolled,
/// and with one thread pushing several tracks that is a deadlock).
pub(crate) fn cmaf_appsink(on_sample: impl Fn(&gst::Sample) + Send + 'static) -> gst_app::AppSink {
    gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .buffer_list(true)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    on_sample(&sample);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build()
}

/// Size, frame rate and RFC 6381 codec string from a parser's negotiated caps.
pub(crate) fn video_details(parser: &gst::Element) -> Option<VideoDetails> {
    let caps = parser.static_pad("src")?.current_caps()?;
    let s = caps.structure(0)?;
    let width = u32::try_from(s.get::<i32>("width").ok()?).ok()?;
    let height = u32::try_from(s.get::<i32>("height").ok()?).ok()?;
    let frame_rate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f64::from(f.numer()) / f64::from(f.denom()));
    let codecs = s
        .get::<gst::Buffer>("codec_data")
        .ok()
        .and_then(|b| b.map_readable().ok().and_then(|m| oxcast_media::h264::avc_codec_string(m.as_slice())));
    Some(VideoDetails { width, height, frame_rate, codecs })
}
