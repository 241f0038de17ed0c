//! One thread per live publish session: hub events in, pipeline pushes, CMAF out.
//!
//! The thread blocks on the hub (never on the publisher) and on appsrc when the pipeline is full;
//! in that case the hub ring overflows and the subscriber skips forward to a keyframe. A session
//! that starts waits for the previous session of the same stream to finish first, so the sink
//! sees one session at a time, in order.
//!
//! Degradation, in order: when encoded renditions fall behind real time the top rung is shed
//! (the pipeline restarts at the next keyframe without it); when the pipeline fails the session
//! drops to passthrough; after repeated failures it stops packaging. Each step is logged and
//! reported through `CmafSink::pipeline_failed`.
//!
//! This file is the orchestration only: what a frame's timestamps become is `track_timing`'s
//! arithmetic, what a session announces is `renditions`', where it splits is the `segmenter`'s.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use oxcast_media::{AudioConfig, Frame, HubEvent, MediaKind, Subscriber, TrackConfig, VideoConfig};

use crate::deliver::Timeline;
use crate::ladder::{Ladder, PlannedRung};
use crate::opus_to_aac::OpusToAac;
use crate::output::CmafSink;
use crate::pipeline::{KeyframeLog, LivePipeline, Outputs, PipelineSpec};
use crate::renditions::session_renditions;
use crate::segmenter::{Segmenter, SegmenterConfig, Split};
use crate::track_timing::{self, TrackTiming};

/// Time the muxers get to flush the last parts after the publisher left.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Source waiting for the encoders beyond this means they cannot keep up with real time.
const MAX_ENCODING_BACKLOG: Duration = Duration::from_millis(1000);
/// A session whose pipeline fails more often than this stops transcoding until it ends.
const MAX_PIPELINE_FAILURES: u32 = 5;

#[derive(Debug, Clone)]
pub struct LiveSessionConfig {
    /// Stream name, for logs and GStreamer object names.
    pub stream: String,
    pub segmenter: SegmenterConfig,
    /// Encoded renditions besides the source (empty: passthrough).
    pub ladder: Ladder,
}

/// A running session thread.
#[derive(Debug)]
pub struct LiveSession {
    thread: JoinHandle<()>,
}

impl LiveSession {
    /// Waits for the session to deliver its last part.
    pub fn join(self) {
        let _ = self.thread.join();
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Starts the thread that turns `subscriber`'s events into CMAF for `sink`.
pub fn spawn_live_session(
    config: LiveSessionConfig,
    subscriber: Subscriber,
    sink: Arc<dyn CmafSink>,
    previous: Option<LiveSession>,
) -> std::io::Result<LiveSession> {
    let thread = std::thread::Builder::new().name(format!("live-{}", config.stream)).spawn(move || {
        if let Some(previous) = previous {
            previous.join();
        }
        Pump::new(config, sink).run(subscriber);
    })?;
    Ok(LiveSession { thread })
}

struct Running {
    pipeline: LivePipeline,
    keyframes: Arc<KeyframeLog>,
    timeline: Arc<Timeline>,
    segmenter: Segmenter,
    timing: TrackTiming,
    warned_timestamps: bool,
}

struct Pump {
    config: LiveSessionConfig,
    sink: Arc<dyn CmafSink>,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    running: Option<Running>,
    failures: u32,
    /// Rungs removed from the top because encoding fell behind real time.
    shed: usize,
    /// The pipeline failed: no more encoding in this session.
    passthrough_only: bool,
    /// Re-encodes a WebRTC publisher's Opus to AAC ahead of the pipeline.
    opus: Option<OpusToAac>,
}

impl Pump {
    fn new(config: LiveSessionConfig, sink: Arc<dyn CmafSink>) -> Self {
        Self {
            config,
            sink,
            video: None,
            audio: None,
            running: None,
            failures: 0,
            shed: 0,
            passthrough_only: false,
            opus: None,
        }
    }

    fn run(mut self, mut subscriber: Subscriber) {
        while let Some(event) = subscriber.blocking_recv() {
            match event {
                HubEvent::Config(TrackConfig::Video(video)) => {
                    if self.video.as_ref() != Some(&video) {
                        if self.running.is_some() {
                            tracing::info!(stream = %self.config.stream, "video configuration changed; restarting packaging at the next keyframe");
                            self.stop(true);
                        }
                        self.video = Some(video);
                    }
                }
                HubEvent::Config(TrackConfig::Audio(audio)) => {
                    let audio = match self.opus_config(audio) {
                        Some(audio) => audio,
                        None => continue,
                    };
                    if self.audio.as_ref() != Some(&audio) {
                        if self.running.is_some() {
                            tracing::info!(stream = %self.config.stream, "audio configuration changed; restarting packaging at the next keyframe");
                            self.stop(true);
                        }
                        self.audio = Some(audio);
                    }
                }
                HubEvent::Frame(frame) if frame.codec == oxcast_media::Codec::Opus => self.on_opus(&frame),
                HubEvent::Frame(frame) => self.on_frame(frame),
            }
        }
        if let Some(opus) = self.opus.take() {
            for frame in opus.finish(std::time::SystemTime::now()) {
                self.on_frame(frame);
            }
        }
        self.stop(true);
        self.sink.finished();
    }

    /// An Opus configuration starts the re-encoder; the pipeline is told about AAC instead.
    /// `None` when the audio cannot be handled (the session continues without audio).
    fn opus_config(&mut self, audio: AudioConfig) -> Option<AudioConfig> {
        if audio.codec != oxcast_media::Codec::Opus {
            self.opus = None;
            return Some(audio);
        }
        if self.opus.is_none() {
            match OpusToAac::new(&self.config.stream, audio.channels) {
                Ok(opus) => self.opus = Some(opus),
                Err(err) => {
                    tracing::error!(stream = %self.config.stream, %err, "cannot re-encode Opus to AAC; continuing without audio");
                    return None;
                }
            }
        }
        Some(crate::opus_to_aac::output_config())
    }

    fn on_opus(&mut self, frame: &Frame) {
        let Some(opus) = self.opus.as_mut() else { return };
        match opus.push(frame) {
            Ok(frames) => {
                for frame in frames {
                    self.on_frame(frame);
                }
            }
            Err(err) => {
                tracing::error!(stream = %self.config.stream, %err, "Opus re-encoding failed; continuing without audio");
                self.sink.pipeline_failed(&format!("{err}; audio dropped"));
                self.opus = None;
            }
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        if self.running.is_none() && !self.try_start(&frame) {
            return;
        }
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let kind = frame.kind();
        if kind == MediaKind::Audio && !running.pipeline.has_audio() {
            return;
        }
        // Audio captured just before the first keyframe is not part of this session's timeline.
        let Some(placed) = running.timing.place(kind, frame.dts.as_nanos(), frame.pts.as_nanos()) else {
            return;
        };
        let (dts, pts) = (placed.dts, placed.pts);
        if placed.nudged && !running.warned_timestamps {
            running.warned_timestamps = true;
            tracing::warn!(stream = %self.config.stream, ?kind, "publisher sent non-increasing timestamps; nudging them forward");
        }
        // Segments can only start at keyframes: tell the streamer once if theirs are too sparse.
        if kind == MediaKind::Video
            && frame.keyframe
            && let Some(interval) = running.timing.long_keyframe_interval(dts, self.config.segmenter.segment_target)
        {
            tracing::warn!(
                stream = %self.config.stream,
                keyframe_interval = ?interval,
                segment_target = ?self.config.segmenter.segment_target,
                "keyframes are too far apart: segments grow to the keyframe interval; set the encoder's keyframe interval to 1 or 2 s"
            );
        }
        let split = match kind {
            MediaKind::Video => running.segmenter.on_video(dts, pts, frame.keyframe),
            MediaKind::Audio => running.segmenter.on_audio(dts),
        };
        if split != Split::None {
            running.pipeline.split(kind, split == Split::Part);
        }
        running.timeline.record_arrival(kind, pts as u64, frame.received_at);
        if kind == MediaKind::Video {
            running.timeline.observe_video(dts as u64, frame.received_at);
        }
        // cmafmux gives the last sample of a part the buffer's duration: without one it writes 0
        // and the next sample repeats a DTS (see `track_timing` for the cadence).
        let mut buffer = gst::Buffer::from_slice(frame.payload);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts as u64));
            b.set_dts(gst::ClockTime::from_nseconds(dts as u64));
            b.set_duration(gst::ClockTime::from_nseconds(placed.duration as u64));
            if !frame.keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if kind == MediaKind::Video && frame.keyframe {
            running.keyframes.record(pts as u64);
        }
        let pushed = running.pipeline.push(kind, buffer);
        if running.pipeline.encoding_backlog() > MAX_ENCODING_BACKLOG {
            self.shed_top_rung();
            return;
        }
        let error = running.pipeline.take_error().or_else(|| pushed.err().map(|e| e.to_string()));
        if let Some(error) = error {
            self.fail(&error);
        }
    }

    /// Starts a pipeline if `frame` is a video keyframe and the video configuration is known.
    fn try_start(&mut self, frame: &Frame) -> bool {
        if frame.kind() != MediaKind::Video || !frame.keyframe || self.failures >= MAX_PIPELINE_FAILURES {
            return false;
        }
        let Some(video) = self.video.clone() else {
            tracing::debug!(stream = %self.config.stream, "keyframe before the video configuration; waiting");
            return false;
        };
        let rungs = self.planned_rungs(&video);
        let renditions = session_renditions(&video, &rungs, &self.config.ladder.preset, self.audio.as_ref());
        let timeline = Arc::new(Timeline::new(
            frame.received_at,
            track_timing::composition_offset(frame.dts.as_nanos(), frame.pts.as_nanos()),
        ));
        self.sink.session_started(&renditions);
        let spec = PipelineSpec {
            name: &self.config.stream,
            video: &video,
            audio: self.audio.as_ref(),
            rungs: &rungs,
            preset: &self.config.ladder.preset,
            segmenter: self.config.segmenter,
            keyframes: Arc::new(KeyframeLog::default()),
        };
        let outputs = Outputs { sink: self.sink.clone(), timeline: timeline.clone() };
        match LivePipeline::build(&spec, &outputs) {
            Ok(pipeline) => {
                self.running = Some(Running {
                    pipeline,
                    keyframes: spec.keyframes.clone(),
                    timeline,
                    segmenter: Segmenter::new(self.config.segmenter),
                    timing: TrackTiming::new(frame.dts.as_nanos(), self.audio_frame_ns()),
                    warned_timestamps: false,
                });
                let names: Vec<&str> = renditions.iter().map(|r| r.id.as_str()).collect();
                tracing::info!(stream = %self.config.stream, renditions = ?names, "packaging started");
                true
            }
            Err(err) => {
                self.sink.session_ended();
                self.fail(&err.to_string());
                false
            }
        }
    }

    /// The ladder for this source, minus shed rungs; nothing after a pipeline failure.
    fn planned_rungs(&self, video: &VideoConfig) -> Vec<PlannedRung> {
        if self.passthrough_only {
            return Vec::new();
        }
        let Some((width, height)) = oxcast_media::h264::avcc_dimensions(&video.avcc) else {
            tracing::warn!(stream = %self.config.stream, "cannot read the picture size from the SPS; passthrough only");
            return Vec::new();
        };
        self.config.ladder.plan(width, height).into_iter().skip(self.shed).collect()
    }

    /// Encoding fell behind real time: restart at the next keyframe without the top rung.
    fn shed_top_rung(&mut self) {
        let dropped =
            self.video.as_ref().and_then(|v| self.planned_rungs(v).first().map(|r| r.name.clone())).unwrap_or_default();
        self.shed += 1;
        let message = format!("encoding fell behind real time: dropped the {dropped} rendition");
        tracing::warn!(stream = %self.config.stream, "{message}");
        self.sink.pipeline_failed(&message);
        self.stop(false);
    }

    /// Duration of one audio frame, the audio cadence until its second frame. `self.audio` is
    /// always AAC (Opus is re-encoded first); without audio the value is never used.
    fn audio_frame_ns(&self) -> i64 {
        track_timing::aac_frame_ns(self.audio.as_ref().map_or(0, |a| a.sample_rate))
    }

    fn fail(&mut self, error: &str) {
        self.failures += 1;
        let transcoding = self.running.as_ref().is_some_and(|r| r.pipeline.is_transcoding());
        tracing::error!(stream = %self.config.stream, error, failures = self.failures, "pipeline failed");
        if transcoding {
            self.passthrough_only = true;
            tracing::warn!(stream = %self.config.stream, "continuing with the source rendition only");
            self.sink.pipeline_failed(&format!("{error}; transcoding stopped, serving the source only"));
        } else {
            self.sink.pipeline_failed(error);
        }
        self.stop(false);
        if self.failures >= MAX_PIPELINE_FAILURES {
            tracing::error!(stream = %self.config.stream, "too many pipeline failures; not packaging this session any more");
        }
    }

    fn stop(&mut self, drain: bool) {
        if let Some(running) = self.running.take() {
            if drain {
                running.pipeline.finish(DRAIN_TIMEOUT);
            } else {
                running.pipeline.abort();
            }
            self.sink.session_ended();
        }
    }
}
