//! Opus (what WebRTC publishers send) → AAC, before the session pipeline sees the audio.
//!
//! HLS players cannot be counted on for Opus in fMP4, so WHIP audio is re-encoded. This is done
//! in a small pipeline of its own, ahead of segmenting, rather than inside the session pipeline:
//! there the muxer's split events had to travel through the decoder and encoder, which hold and
//! reorder them around their own latency, and the audio rendition could stop being cut. Here the
//! session pipeline gets plain AAC frames with their own timestamps and treats them exactly like
//! AAC from RTMP or SRT.

use bytes::Bytes;
use gst::prelude::*;
use oxcast_media::{AudioConfig, Codec, Frame, Timestamp};

use crate::TranscodeError;
use crate::pipeline::make;

/// AAC-LC, 48 kHz, stereo: what the encoder below is told to produce.
const AAC_LC_48K_STEREO: [u8; 2] = [0x11, 0x90];
const AAC_BITRATE: i32 = 128_000;

/// The AAC configuration of the frames [`OpusToAac`] produces.
pub(crate) fn output_config() -> AudioConfig {
    AudioConfig {
        codec: Codec::Aac,
        specific_config: Bytes::from_static(&AAC_LC_48K_STEREO),
        sample_rate: 48_000,
        channels: 2,
    }
}

pub(crate) struct OpusToAac {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    /// First input timestamp: the pipeline runs from zero, frames come out on the input's clock.
    origin: Option<i64>,
}

impl OpusToAac {
    pub(crate) fn new(stream: &str, channels: u8) -> Result<Self, TranscodeError> {
        let pipeline = gst::Pipeline::with_name(&format!("opus-{stream}"));
        let caps = gst::Caps::builder("audio/x-opus")
            .field("channel-mapping-family", 0i32)
            .field("rate", 48_000i32)
            .field("channels", i32::from(channels.clamp(1, 2)))
            .build();
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(false)
            .max_buffers(0)
            .max_bytes(0)
            .max_time(None)
            .build();
        let raw = gst::Caps::builder("audio/x-raw").field("rate", 48_000i32).field("channels", 2i32).build();
        let decoder = make("opusdec")?;
        let convert = make("audioconvert")?;
        let resample = make("audioresample")?;
        let filter = make("capsfilter")?;
        filter.set_property("caps", &raw);
        let encoder = make("avenc_aac")?;
        encoder.set_property("bitrate", AAC_BITRATE);
        let sink = gst_app::AppSink::builder().sync(false).async_(false).build();
        let chain = [src.upcast_ref(), &decoder, &convert, &resample, &filter, &encoder, sink.upcast_ref()];
        pipeline.add_many(chain)?;
        gst::Element::link_many(chain)?;
        pipeline.set_state(gst::State::Playing)?;
        Ok(Self { pipeline, src, sink, origin: None })
    }

    /// Feeds one Opus packet; returns the AAC frames that are ready (usually the previous one's).
    pub(crate) fn push(&mut self, frame: &Frame) -> Result<Vec<Frame>, TranscodeError> {
        let origin = *self.origin.get_or_insert(frame.pts.as_nanos());
        let pts = (frame.pts.as_nanos() - origin).max(0) as u64;
        let mut buffer = gst::Buffer::from_slice(frame.payload.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts));
        }
        self.src.push_buffer(buffer).map_err(|e| TranscodeError::Pipeline(format!("opus push: {e:?}")))?;
        if let Some(error) = self.take_error() {
            return Err(TranscodeError::Pipeline(error));
        }
        Ok(self.ready(frame.received_at, gst::ClockTime::ZERO))
    }

    /// Everything still inside, at the end of the session.
    pub(crate) fn finish(self, received_at: std::time::SystemTime) -> Vec<Frame> {
        let _ = self.src.end_of_stream();
        let frames = self.ready(received_at, gst::ClockTime::from_mseconds(500));
        let _ = self.pipeline.set_state(gst::State::Null);
        frames
    }

    fn ready(&self, received_at: std::time::SystemTime, first_wait: gst::ClockTime) -> Vec<Frame> {
        let origin = self.origin.unwrap_or_default();
        let mut frames = Vec::new();
        let mut wait = first_wait;
        while let Some(sample) = self.sink.try_pull_sample(wait) {
            wait = gst::ClockTime::ZERO;
            let Some(buffer) = sample.buffer() else { continue };
            let Some(pts) = buffer.pts() else { continue };
            let Ok(map) = buffer.map_readable() else { continue };
            let ts = Timestamp::from_nanos(origin + pts.nseconds() as i64);
            frames.push(Frame {
                codec: Codec::Aac,
                dts: ts,
                pts: ts,
                keyframe: true,
                payload: Bytes::copy_from_slice(map.as_slice()),
                received_at,
            });
        }
        frames
    }

    fn take_error(&self) -> Option<String> {
        let msg = self.pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(format!("opus to aac: {}", err.error())),
            _ => None,
        }
    }
}

impl Drop for OpusToAac {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
