//! Adapts a session's CMAF output to the stream's LL-HLS packager, and to the broadcast's
//! recording when there is one (the same parts: recordings are never encoded twice).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use oxcast_ll_hls::{PartIn, RenditionMeta, TrackKind};
use oxcast_media::MediaKind;
use oxcast_transcode::{CmafPart, CmafSink, RenditionInfo, VideoDetails};

use super::registry::LiveStream;

/// One per publish session; `generation` tells whether it is still the stream's current one.
pub(crate) struct PackagerSink {
    pub(crate) stream: Arc<LiveStream>,
    pub(crate) generation: u64,
    /// The broadcast's recording, when it is recorded: it gets everything the packager gets.
    pub(crate) recorder: Option<Arc<oxcast_vod::Recorder>>,
}

impl CmafSink for PackagerSink {
    fn session_started(&self, renditions: &[RenditionInfo]) {
        if let Some(r) = &self.recorder {
            r.session_started(renditions);
        }
        let metas = renditions
            .iter()
            .map(|r| RenditionMeta {
                id: r.id.clone(),
                kind: match r.kind {
                    MediaKind::Video => TrackKind::Video,
                    MediaKind::Audio => TrackKind::Audio,
                },
                codecs: r.codecs.clone(),
                bitrate: r.bitrate,
                resolution: None,
                frame_rate: None,
                channels: r.channels,
            })
            .collect();
        self.stream.packager.start_session(metas);
    }

    fn init_segment(&self, rendition: &str, data: Bytes, video: Option<VideoDetails>) {
        if let Some(r) = &self.recorder {
            r.init_segment(rendition, data.clone(), video.clone());
        }
        self.stream.packager.set_init(
            rendition,
            data,
            video.as_ref().map(|v| (v.width, v.height)),
            video.as_ref().and_then(|v| v.frame_rate),
            video.and_then(|v| v.codecs),
        );
    }

    fn part(&self, rendition: &str, part: CmafPart) {
        if let Some(r) = &self.recorder {
            r.part(rendition, &part);
        }
        let last_frame = part.last_frame_received;
        self.stream.packager.push_part(
            rendition,
            PartIn {
                data: part.data,
                duration: part.duration,
                independent: part.independent,
                segment_start: part.segment_start,
                program_date_time: part.program_date_time,
            },
        );
        if let Some(at) = last_frame {
            // Ingest of the part's last frame to the part being servable.
            if let Ok(delay) = SystemTime::now().duration_since(at) {
                self.stream.part_delay.record(rendition, delay);
            }
        }
    }

    fn session_ended(&self) {
        if let Some(r) = &self.recorder {
            r.session_ended();
        }
        self.stream.packager.interrupt();
    }

    fn pipeline_failed(&self, error: &str) {
        self.stream.set_error(error);
    }

    fn finished(&self) {
        self.stream.publisher_gone(self.generation);
    }
}
