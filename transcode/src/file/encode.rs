//! The file pipeline (see the module doc of `file`): built as `decodebin` exposes the file's
//! streams, run to the end as fast as the machine allows, watched for errors and cancellation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use gst::prelude::*;
use oxcast_media::MediaKind;

use super::probe::{classify, pipeline_error};
use super::source::SourceElement;
use super::stills::{Stills, Storyboard};
use super::{FileError, FileSource, SourceInfo, VodSink, output};
use crate::ladder::PlannedRung;
use crate::pipeline::{make, queue};
use crate::rung::{self, Tuning};

/// The audio rendition's id.
pub const AUDIO_RENDITION: &str = "audio";
/// How often the bus is looked at for cancellation.
const POLL: Duration = Duration::from_millis(200);

/// What to make of a file.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// Video rungs (from `Ladder::plan_file`); empty for an audio-only file.
    pub rungs: Vec<PlannedRung>,
    /// x264 speed preset.
    pub preset: String,
    /// Segment length; every rendition is cut on the same grid.
    pub segment: Duration,
    pub audio_bitrate_kbps: u32,
}

/// What the encode produced besides the renditions.
#[derive(Debug, Clone)]
pub struct Transcoded {
    pub poster: Option<Bytes>,
    pub storyboard: Option<Storyboard>,
    /// The last presentation time reached, from the first picture (or sound).
    pub encoded: Duration,
}

/// Shared by the pad-added handler, the probes and the bus loop.
struct Context {
    pipeline: gst::glib::WeakRef<gst::Pipeline>,
    plan: FilePlan,
    info: SourceInfo,
    sink: Arc<dyn VodSink>,
    stills: Arc<Stills>,
    /// The first decoded time: the origin of the segment grid and of progress.
    first_pts: Arc<OnceLock<u64>>,
    /// Nanoseconds of the file decoded so far.
    progress: Arc<AtomicU64>,
    video_taken: AtomicBool,
    audio_taken: AtomicBool,
    build_error: Mutex<Option<String>>,
}

/// Encodes `source` (already [`probe`](super::probe)d as `info`) into `plan`'s renditions for
/// `sink`. `progress` is kept at the nanoseconds decoded so far; setting `cancel` stops the work
/// within a fraction of a second with [`FileError::Cancelled`].
pub fn transcode_file(
    source: Box<dyn FileSource>,
    info: &SourceInfo,
    plan: &FilePlan,
    sink: Arc<dyn VodSink>,
    progress: Arc<AtomicU64>,
    cancel: &AtomicBool,
) -> Result<Transcoded, FileError> {
    crate::init()?;
    let pipeline = gst::Pipeline::with_name("file");
    let src = SourceElement::new("file_src", source);
    let decode = make("decodebin")?;
    pipeline.add_many([src.appsrc.upcast_ref(), &decode])?;
    src.appsrc.link(&decode)?;
    let display = info.video.as_ref().map_or((0, 0), |v| (v.display_width, v.display_height));
    let context = Arc::new(Context {
        pipeline: pipeline.downgrade(),
        plan: plan.clone(),
        info: info.clone(),
        sink,
        stills: Arc::new(Stills::new(display, info.duration())),
        first_pts: Arc::new(OnceLock::new()),
        progress,
        video_taken: AtomicBool::new(false),
        audio_taken: AtomicBool::new(false),
        build_error: Mutex::new(None),
    });
    let on_pad = context.clone();
    decode.connect_pad_added(move |_, pad| {
        if let Err(e) = on_pad.add_stream(pad)
            && let Ok(mut slot) = on_pad.build_error.lock()
        {
            slot.get_or_insert(e.to_string());
        }
    });
    let outcome = run(&pipeline, &src, &context, cancel);
    let _ = pipeline.set_state(gst::State::Null);
    let encoded = Duration::from_nanos(context.progress.load(Ordering::Relaxed));
    outcome?;
    Ok(Transcoded {
        poster: context.stills.poster(),
        storyboard: context.stills.storyboard(encoded).map_err(FileError::from)?,
        encoded,
    })
}

fn run(pipeline: &gst::Pipeline, src: &SourceElement, context: &Context, cancel: &AtomicBool) -> Result<(), FileError> {
    let bus = pipeline.bus().ok_or_else(|| FileError::Internal("pipeline without a bus".into()))?;
    let at = || Duration::from_nanos(context.progress.load(Ordering::Relaxed));
    pipeline.set_state(gst::State::Playing).map_err(|_| pipeline_error(&bus, src, at()))?;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(FileError::Cancelled);
        }
        if let Some(e) = context.build_error.lock().ok().and_then(|e| e.clone()) {
            return Err(FileError::Internal(e));
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64)) else { continue };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(err) => {
                return Err(src.read_failure().unwrap_or_else(|| match classify(&msg, err, at()) {
                    // Past the headers, a damaged stream is a failure at a time.
                    FileError::Damaged(detail) if !at().is_zero() => FileError::DecodingFailed { at: at(), detail },
                    other => other,
                }));
            }
            _ => {}
        }
    }
}

impl Context {
    /// A stream `decodebin` decoded: the first video and the first audio get branches, the rest
    /// a fakesink.
    fn add_stream(&self, pad: &gst::Pad) -> Result<(), FileError> {
        let pipeline = self.pipeline.upgrade().ok_or(FileError::Cancelled)?;
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        let head = if name.starts_with("video/")
            && !self.plan.rungs.is_empty()
            && !self.video_taken.swap(true, Ordering::SeqCst)
        {
            self.video_branch(&pipeline)?
        } else if name.starts_with("audio/")
            && self.info.audio.is_some()
            && !self.audio_taken.swap(true, Ordering::SeqCst)
        {
            self.audio_branch(&pipeline)?
        } else {
            let sink = make("fakesink")?;
            sink.set_property("sync", false);
            pipeline.add(&sink)?;
            sink
        };
        for element in pipeline.children() {
            element.sync_state_with_parent()?;
        }
        let sink_pad =
            head.static_pad("sink").ok_or_else(|| FileError::Internal("branch without a sink pad".into()))?;
        pad.link(&sink_pad).map_err(|e| FileError::Internal(format!("linking the {name} stream: {e:?}")))?;
        Ok(())
    }

    /// `videoconvert → videoflip(auto) → tee → rungs + stills`; returns the first element.
    fn video_branch(&self, pipeline: &gst::Pipeline) -> Result<gst::Element, FileError> {
        let head = queue(Duration::from_secs(1))?;
        let convert = make("videoconvert")?;
        let flip = make("videoflip")?;
        flip.set_property_from_str("video-direction", "auto");
        let decoded = make("tee")?;
        pipeline.add_many([&head, &convert, &flip, &decoded])?;
        gst::Element::link_many([&head, &convert, &flip, &decoded])?;
        self.track_progress(&decoded);
        for planned in &self.plan.rungs {
            let encoded = rung::add(pipeline, &decoded, planned, &self.plan.preset, Tuning::File)?;
            force_keyframes_on_grid(&encoded.encoder, self.first_pts.clone(), self.plan.segment);
            output::add(
                pipeline,
                &encoded.parser,
                &planned.name,
                MediaKind::Video,
                self.plan.segment,
                self.sink.clone(),
            )?;
        }
        if let Some(video) = &self.info.video {
            let display = (video.display_width, video.display_height);
            self.stills.add_branches(pipeline, &decoded, display, self.info.duration(), self.first_pts.clone())?;
        }
        Ok(head)
    }

    /// `audioconvert → audioresample → AAC → aacparse`; returns the first element.
    fn audio_branch(&self, pipeline: &gst::Pipeline) -> Result<gst::Element, FileError> {
        let head = queue(Duration::from_secs(1))?;
        let convert = make("audioconvert")?;
        let resample = make("audioresample")?;
        let caps = make("capsfilter")?;
        let channels = self.info.audio.as_ref().map_or(2, |a| a.channels.clamp(1, 2));
        caps.set_property(
            "caps",
            gst::Caps::builder("audio/x-raw").field("rate", 48_000i32).field("channels", channels as i32).build(),
        );
        let encoder = make("avenc_aac")?;
        encoder.set_property("bitrate", i32::try_from(self.plan.audio_bitrate_kbps * 1000).unwrap_or(128_000));
        let parser = make("aacparse")?;
        pipeline.add_many([&head, &convert, &resample, &caps, &encoder, &parser])?;
        gst::Element::link_many([&head, &convert, &resample, &caps, &encoder, &parser])?;
        if self.plan.rungs.is_empty() {
            self.track_progress(&convert);
        }
        output::add(pipeline, &parser, AUDIO_RENDITION, MediaKind::Audio, self.plan.segment, self.sink.clone())?;
        Ok(head)
    }

    /// Records the first decoded time and how far decoding is, from buffers entering `element`.
    fn track_progress(&self, element: &gst::Element) {
        let Some(pad) = element.static_pad("sink") else { return };
        let first = self.first_pts.clone();
        let progress = self.progress.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
                && let Some(pts) = buffer.pts()
            {
                let origin = *first.get_or_init(|| pts.nseconds());
                let end = pts.nseconds() + buffer.duration().map_or(0, |d| d.nseconds());
                progress.fetch_max(end.saturating_sub(origin), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// Makes `encoder` start a GOP at the first frame at or after every multiple of `segment`
/// (from the first decoded picture), so each rung's segments start on the same pictures.
fn force_keyframes_on_grid(encoder: &gst::Element, first_pts: Arc<OnceLock<u64>>, segment: Duration) {
    let Some(pad) = encoder.static_pad("sink") else { return };
    let step = segment.as_nanos() as u64;
    let next = AtomicU64::new(step);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
            && let Some(pts) = buffer.pts()
            && let Some(origin) = first_pts.get()
        {
            let at = pts.nseconds().saturating_sub(*origin);
            let due = next.load(Ordering::Relaxed);
            if at >= due {
                // The grid point, not this frame's time: a late frame does not shift the grid.
                next.store((at / step + 1) * step, Ordering::Relaxed);
                let event = gst_video::DownstreamForceKeyUnitEvent::builder().all_headers(true).build();
                pad.send_event(event);
            }
        }
        gst::PadProbeReturn::Ok
    });
}
