//! `upstream → cmafmux → appsink` for a file's rendition: whole segments (no parts), cut at GOP
//! ends once the segment length is reached, handed to the [`VodSink`] through the live path's
//! `deliver` (so init segments and fragments are split from cmafmux's output in one place).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gst::prelude::*;
use oxcast_media::MediaKind;

use super::VodSink;
use crate::TranscodeError;
use crate::deliver::{Timeline, deliver};
use crate::output::{CmafPart, CmafSink, RenditionInfo, VideoDetails};
use crate::pipeline::{cmaf_appsink, video_details};

/// Adds the muxer and sink after `parser` (h264parse or aacparse), delivering as `rendition`.
pub(super) fn add(
    pipeline: &gst::Pipeline,
    parser: &gst::Element,
    rendition: &str,
    kind: MediaKind,
    segment: Duration,
    sink: Arc<dyn VodSink>,
) -> Result<(), TranscodeError> {
    let mux = gst::ElementFactory::make("cmafmux")
        .property("fragment-duration", segment.as_nanos() as u64)
        .property_from_str("header-update-mode", "none")
        .property("write-mfra", false)
        .property("write-mehd", false)
        .property("send-force-keyunit", false)
        .build()?;
    let adapter = Adapter { sink, parser: parser.clone(), kind };
    // PROGRAM-DATE-TIME has no meaning for a file; the timeline is only there for `deliver`.
    let timeline = Timeline::new(SystemTime::UNIX_EPOCH, Duration::ZERO);
    let rendition = rendition.to_owned();
    let appsink = cmaf_appsink(move |sample| deliver(sample, &rendition, kind, &adapter, &timeline, &|| None));
    pipeline.add_many([&mux, appsink.upcast_ref()])?;
    gst::Element::link_many([parser, &mux, appsink.upcast_ref()])?;
    for element in [&mux, appsink.upcast_ref()] {
        element.sync_state_with_parent()?;
    }
    Ok(())
}

/// Turns `deliver`'s calls into [`VodSink`] calls, reading codec strings from the parser's caps.
struct Adapter {
    sink: Arc<dyn VodSink>,
    parser: gst::Element,
    kind: MediaKind,
}

impl CmafSink for Adapter {
    fn session_started(&self, _renditions: &[RenditionInfo]) {}

    fn init_segment(&self, rendition: &str, data: Bytes, _video: Option<VideoDetails>) {
        let (codecs, video) = match self.kind {
            MediaKind::Video => {
                let video = video_details(&self.parser);
                (video.as_ref().and_then(|v| v.codecs.clone()), video)
            }
            MediaKind::Audio => {
                let caps = self.parser.static_pad("src").and_then(|p| p.current_caps());
                let config = caps
                    .as_ref()
                    .and_then(|c| c.structure(0))
                    .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
                    .and_then(|b| {
                        b.map_readable().ok().and_then(|m| oxcast_media::tracks::aac_codec_string(m.as_slice()))
                    });
                (config, None)
            }
        };
        self.sink.init_segment(rendition, data, codecs, video);
    }

    fn part(&self, rendition: &str, part: CmafPart) {
        self.sink.segment(rendition, part.data, part.start, part.duration);
    }

    fn session_ended(&self) {}

    fn pipeline_failed(&self, _error: &str) {}
}
