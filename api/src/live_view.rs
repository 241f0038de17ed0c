//! What the API may ask the live side, and the JSON it reports.

use serde::Serialize;
use utoipa::ToSchema;

/// A stream's live state as `GET /api/streams/NAME` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct LiveStatus {
    /// "live" or "offline".
    pub state: &'static str,
    /// Ingest protocol of the current (or last) publisher.
    pub protocol: Option<String>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub renditions: Vec<RenditionStatus>,
    pub uptime_seconds: Option<u64>,
    /// Bits per second received from the publisher over the last few seconds.
    pub ingest_bitrate_bps: Option<u64>,
    /// Frames a lagging consumer never saw (should stay 0).
    pub frames_skipped: u64,
    /// The last pipeline error of this stream, if any.
    pub last_error: Option<String>,
}

impl LiveStatus {
    pub fn offline() -> Self {
        Self {
            state: "offline",
            protocol: None,
            video_codec: None,
            audio_codec: None,
            renditions: Vec::new(),
            uptime_seconds: None,
            ingest_bitrate_bps: None,
            frames_skipped: 0,
            last_error: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct RenditionStatus {
    pub id: String,
    /// "video" or "audio"
    pub kind: &'static str,
    pub codecs: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
    /// Measured over the playlist window.
    pub bitrate_bps: Option<u64>,
}

/// Implemented by the binary's live registry.
pub trait LiveView: Send + Sync + 'static {
    /// Live state of a stream the store knows.
    fn status(&self, stream: &str) -> LiveStatus;
    /// Appends Prometheus text-format metrics.
    fn render_metrics(&self, out: &mut String);
}

/// Viewer counts of a stream: distinct viewers now (players and chat sockets, each browser once)
/// and the highest count seen.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
pub struct ViewerCount {
    pub current: u64,
    pub peak: u64,
}

/// Implemented by the binary over its chat service (which keeps presence, on one node or many).
pub trait ViewerCounts: Send + Sync + 'static {
    /// `None` when the counts cannot be had right now (shared backend down).
    fn viewers<'a>(
        &'a self,
        stream: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<ViewerCount>> + Send + 'a>>;
}
