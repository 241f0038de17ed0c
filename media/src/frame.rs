//! The one media unit that crosses from a protocol adapter into the pipelines.

use std::time::SystemTime;

use bytes::Bytes;

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Video,
    Audio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264; frame payloads are AVCC (4-byte length-prefixed NAL units), never Annex B.
    H264,
    /// AAC; payloads are raw access units (no ADTS header).
    Aac,
    /// Opus; payloads are raw Opus packets.
    Opus,
}

impl Codec {
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::H264 => MediaKind::Video,
            Codec::Aac | Codec::Opus => MediaKind::Audio,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Aac => "aac",
            Codec::Opus => "opus",
        }
    }
}

/// One access unit (a whole video picture, or one audio frame), as received from a publisher.
#[derive(Debug, Clone)]
pub struct Frame {
    pub codec: Codec,
    pub dts: Timestamp,
    pub pts: Timestamp,
    /// A video frame a decoder can start from (IDR). Always true for audio.
    pub keyframe: bool,
    pub payload: Bytes,
    /// Wall clock when the adapter finished receiving this frame; drives EXT-X-PROGRAM-DATE-TIME
    /// and latency measurements.
    pub received_at: SystemTime,
}

impl Frame {
    pub fn kind(&self) -> MediaKind {
        self.codec.kind()
    }
}
