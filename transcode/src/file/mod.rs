//! Files in, VOD renditions out: the same rung code as live, driven by a file instead of a hub.
//!
//! ```text
//! FileSource → appsrc (random access) → decodebin ─┬→ videoflip(auto) → tee ─┬→ rung 1080p → cmafmux → appsink
//!                                                  │                         ├→ rung 720p  → …     (rung.rs, Tuning::File)
//!                                                  │                         ├→ poster: one frame → jpegenc
//!                                                  │                         └→ storyboard: a frame every N s → tiles
//!                                                  └→ audioconvert → audioresample → avenc_aac → cmafmux → appsink
//! ```
//! Why this shape:
//! - **Whatever GStreamer decodes**: `decodebin` picks the demuxer and decoders (MP4/MOV, MKV/WebM,
//!   MPEG-TS, FLV; H.264, HEVC, VP8/VP9, AV1, AAC, Opus, MP3, Vorbis), so a new format is a
//!   plugin, not code. [`probe`] asks it first what the file holds (a short preroll) so the
//!   rungs can be planned (`Ladder::plan_file`: no upscaling, rotation and pixel aspect applied)
//!   before the encode starts.
//! - **One decode, every rung**: the decoded picture is teed into every rung, so the file is
//!   read and decoded once, and all renditions advance together (which is what lets a video
//!   play while it is still processing).
//! - **As fast as the machine allows, memory bounded**: nothing is live or synchronised to a
//!   clock; bounded queues between branches and a [`VodSink`] that may block give backpressure
//!   all the way back to the reads, so memory does not grow with the file.
//! - **Aligned segments**: each rung's encoder is told to start a GOP at every multiple of the
//!   segment length (measured from the first picture), and cmafmux cuts fragments at GOP ends,
//!   so every rendition has its segment boundaries on the same pictures.
//! - **Storage-agnostic input**: the file is a [`FileSource`] (sized, random-access reads), not a
//!   path, so it can live in object storage; reads are batched into 1 MiB windows.

mod encode;
mod output;
mod probe;
mod source;
mod stills;

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

pub use encode::{AUDIO_RENDITION, FilePlan, Transcoded, transcode_file};
pub use probe::probe;
pub use stills::{Storyboard, StoryboardTile};

/// A file to read: its size and reads at any offset. Called from GStreamer's threads, so reads
/// block (an implementation over async storage blocks on its runtime handle).
pub trait FileSource: Send + 'static {
    fn size(&self) -> u64;
    /// Up to `len` bytes at `offset` (fewer only at the end of the file).
    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes>;
}

/// What a file holds, as probed before encoding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceInfo {
    /// Container as GStreamer names it ("ISO MP4/M4A", "Matroska", ...).
    pub container: Option<String>,
    pub size_bytes: u64,
    pub duration_ms: Option<u64>,
    /// Overall bit rate (bits per second): size over duration.
    pub bit_rate: Option<u64>,
    pub video: Option<VideoStreamInfo>,
    pub audio: Option<AudioStreamInfo>,
}

impl SourceInfo {
    pub fn duration(&self) -> Option<Duration> {
        self.duration_ms.map(Duration::from_millis)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoStreamInfo {
    /// Codec as GStreamer describes it ("H.264 (High Profile)", "VP9", ...).
    pub codec: Option<String>,
    /// Coded size.
    pub width: u32,
    pub height: u32,
    /// Size as shown: rotation and pixel aspect ratio applied.
    pub display_width: u32,
    pub display_height: u32,
    /// Frames per second, when the container states a constant rate.
    pub frame_rate: Option<f64>,
    /// Clockwise degrees the picture is turned when shown (0, 90, 180, 270).
    pub rotation: u32,
    /// Pixel aspect ratio (1:1 is square).
    pub pixel_aspect: (u32, u32),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioStreamInfo {
    pub codec: Option<String>,
    pub sample_rate: u32,
    pub channels: u32,
}

/// Why a file could not be turned into renditions: each message is for the person who uploaded it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileError {
    #[error("the file is not a video or audio format oxcast can read")]
    NotMedia,
    #[error("no video or audio stream")]
    NoStreams,
    #[error("the file uses {0}, which this server cannot decode")]
    Unsupported(String),
    #[error("the file is damaged or incomplete: {0}")]
    Damaged(String),
    #[error("decoding failed at {at:.1} s: {detail}", at = .at.as_secs_f64())]
    DecodingFailed { at: Duration, detail: String },
    #[error("reading the upload failed: {0}")]
    Read(String),
    #[error("processing was stopped")]
    Cancelled,
    /// Not the file's fault (a missing element, a pipeline that would not build).
    #[error("internal processing error: {0}")]
    Internal(String),
}

impl FileError {
    /// Whether another attempt could succeed (the file itself is not the problem).
    pub fn is_retryable(&self) -> bool {
        matches!(self, FileError::Read(_) | FileError::Cancelled | FileError::Internal(_))
    }
}

impl From<crate::TranscodeError> for FileError {
    fn from(e: crate::TranscodeError) -> Self {
        FileError::Internal(e.to_string())
    }
}

impl From<gst::glib::BoolError> for FileError {
    fn from(e: gst::glib::BoolError) -> Self {
        FileError::Internal(e.to_string())
    }
}

/// Receives a file's renditions. Called from GStreamer's threads; may block (that is the
/// backpressure), must not call back into the pipeline.
pub trait VodSink: Send + Sync + 'static {
    /// A rendition's init segment (ftyp+moov), before its first segment. `codecs` is the RFC
    /// 6381 string read from the encoded stream; `video` its size and rate.
    fn init_segment(&self, rendition: &str, data: Bytes, codecs: Option<String>, video: Option<crate::VideoDetails>);
    /// One whole segment (styp+moof+mdat) starting at `start` on the file's timeline.
    fn segment(&self, rendition: &str, data: Bytes, start: Duration, duration: Duration);
}
