//! The only crate that knows GStreamer.
//!
//! A live publish session's frames come in through a [`oxcast_media::Subscriber`]; CMAF init
//! segments and parts go out through a [`CmafSink`]. In between, one pipeline per session: the
//! source passed through as CMAF, plus an encoded [`Ladder`] of smaller renditions. The [`segmenter`] decides where
//! parts and segments split (pure logic, tested without GStreamer); `cmafmux` runs in manual-split
//! mode so the audio and video renditions are cut at the same instants.
//!
//! Files (uploads) go through [`file`]: any format GStreamer decodes, probed, then decoded once
//! into the same rungs (`rung.rs`, tuned for files), cut into aligned CMAF segments for a
//! [`file::VodSink`], with a poster and a storyboard taken on the way.

mod allocator;
mod deliver;
mod error;
pub mod file;
pub mod ladder;
mod opus_to_aac;
mod output;
mod pipeline;
mod pump;
mod renditions;
mod rung;
pub mod segmenter;
mod track_timing;

use std::sync::OnceLock;

pub use error::TranscodeError;
pub use ladder::{Ladder, LadderError, Rung};
pub use output::{CmafPart, CmafSink, RenditionInfo, VideoDetails};
pub use pump::{LiveSession, LiveSessionConfig, spawn_live_session};
pub use segmenter::SegmenterConfig;

/// Initialises GStreamer and registers the statically linked fMP4 muxers. Idempotent.
pub fn init() -> Result<(), TranscodeError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        gstfmp4::plugin_register_static().map_err(|e| e.to_string())?;
        for element in [
            "appsrc",
            "appsink",
            "h264parse",
            "aacparse",
            "cmafmux",
            "tee",
            "queue",
            "avdec_h264",
            "videoscale",
            "videorate",
            "videoconvert",
            "x264enc",
            // Files (see `file`).
            "decodebin",
            "videoflip",
            "jpegenc",
            "audioconvert",
            "audioresample",
            "avenc_aac",
        ] {
            if gst::ElementFactory::find(element).is_none() {
                return Err(format!("GStreamer element {element} is missing (install the packages in the README)"));
            }
        }
        Ok(())
    })
    .clone()
    .map_err(TranscodeError::Init)
}
