//! What the API may ask the live side, and the JSON it reports.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde_json::Value;
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

    /// The live state in the JSON of `GET /api/streams/NAME` (as another node answered it):
    /// the inverse of the serialization, with anything missing or unknown left out.
    pub fn from_json(v: &Value) -> Self {
        let text = |k: &str| v[k].as_str().map(str::to_owned);
        let renditions = v["renditions"].as_array().map(|rs| rs.iter().map(RenditionStatus::from_json).collect());
        Self {
            state: if v["state"] == "live" { "live" } else { "offline" },
            protocol: text("protocol"),
            video_codec: text("video_codec"),
            audio_codec: text("audio_codec"),
            renditions: renditions.unwrap_or_default(),
            uptime_seconds: v["uptime_seconds"].as_u64(),
            ingest_bitrate_bps: v["ingest_bitrate_bps"].as_u64(),
            frames_skipped: v["frames_skipped"].as_u64().unwrap_or(0),
            last_error: text("last_error"),
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

impl RenditionStatus {
    fn from_json(v: &Value) -> Self {
        let dimension = |k: &str| v[k].as_u64().and_then(|n| u32::try_from(n).ok());
        Self {
            id: v["id"].as_str().unwrap_or_default().to_owned(),
            kind: if v["kind"] == "audio" { "audio" } else { "video" },
            codecs: v["codecs"].as_str().unwrap_or_default().to_owned(),
            width: dimension("width"),
            height: dimension("height"),
            frame_rate: v["frame_rate"].as_f64(),
            bitrate_bps: v["bitrate_bps"].as_u64(),
        }
    }
}

/// The future of an async method of these traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Implemented by the binary's live registry.
pub trait LiveView: Send + Sync + 'static {
    /// Live state of a stream the store knows, wherever among the nodes it is live.
    fn status<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, LiveStatus>;
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
    fn viewers<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, Option<ViewerCount>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_read_back_from_its_json_is_the_same_status() {
        let mut live = LiveStatus::offline();
        live.state = "live";
        live.protocol = Some("srt".into());
        live.video_codec = Some("avc1.64001f".into());
        live.audio_codec = Some("mp4a.40.2".into());
        live.uptime_seconds = Some(42);
        live.ingest_bitrate_bps = Some(2_000_000);
        live.frames_skipped = 3;
        live.last_error = Some("rung 720p fell behind".into());
        for (id, kind, resolution) in [("720p", "video", Some((1280, 720))), ("audio", "audio", None)] {
            live.renditions.push(RenditionStatus {
                id: id.into(),
                kind,
                codecs: "c".into(),
                width: resolution.map(|(w, _)| w),
                height: resolution.map(|(_, h)| h),
                frame_rate: resolution.map(|_| 29.97),
                bitrate_bps: Some(128_000),
            });
        }
        for status in [live, LiveStatus::offline()] {
            let json = serde_json::to_value(&status).unwrap();
            assert_eq!(LiveStatus::from_json(&json), status, "{json}");
        }
    }
}
