//! What a pipeline hands to the packager, and the trait it hands it through.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use oxcast_media::MediaKind;

/// One rendition (CMAF track) of a session, known before its first byte is produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionInfo {
    /// Path-safe id, unique within the stream ("video", "audio", "720p").
    pub id: String,
    pub kind: MediaKind,
    /// RFC 6381 codec string.
    pub codecs: String,
    /// Nominal bitrate when the pipeline sets one (encoded rungs); passthrough leaves it to measurement.
    pub bitrate: Option<u64>,
    /// Audio channel count.
    pub channels: Option<u8>,
}

/// Facts about a video rendition that are only known once its parser has seen the bitstream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoDetails {
    pub width: u32,
    pub height: u32,
    pub frame_rate: Option<f64>,
    /// RFC 6381 codec string from the SPS actually produced.
    pub codecs: Option<String>,
}

/// One CMAF chunk (an LL-HLS partial segment).
#[derive(Debug, Clone)]
pub struct CmafPart {
    /// `styp`+`moof`+`mdat` for the first part of a segment, `moof`+`mdat` for the others.
    pub data: Bytes,
    /// Presentation time of the first sample on the session's timeline.
    pub start: Duration,
    pub duration: Duration,
    /// Starts with a sync sample (a player can begin decoding here).
    pub independent: bool,
    /// First part of a new segment.
    pub segment_start: bool,
    /// Wall clock of `start`, mapped from the time its frames reached ingest.
    pub program_date_time: SystemTime,
    /// When the last frame in this part reached ingest (for the ingest-to-servable measurement).
    pub last_frame_received: Option<SystemTime>,
}

/// Receives a session's output. Called from GStreamer streaming threads: implementations must be
/// quick and must not block.
pub trait CmafSink: Send + Sync + 'static {
    /// A new session (first publish, reconnect, takeover, or codec change) is about to produce
    /// these renditions. Everything after belongs to a new discontinuity.
    fn session_started(&self, renditions: &[RenditionInfo]);
    fn init_segment(&self, rendition: &str, data: Bytes, video: Option<VideoDetails>);
    fn part(&self, rendition: &str, part: CmafPart);
    /// The session's last part has been delivered.
    fn session_ended(&self);
    /// The pipeline failed; the session will try to restart at the next keyframe.
    fn pipeline_failed(&self, error: &str);
    /// The publisher is gone and everything it sent has been delivered: the session is over.
    fn finished(&self) {}
}
