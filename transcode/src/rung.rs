//! One encoded rung: `queue → videoscale → videorate → caps → x264enc → h264parse`.
//!
//! x264 runs with `tune=zerolatency` (no B-frames, no lookahead) and `scenecut=0`, and its own
//! keyframe interval far beyond any segment: keyframes come only from the force-key-unit events
//! the pump sends at the source's keyframes, so every rung's GOPs match the source's.

use std::time::Duration;

use gst::prelude::*;

use crate::TranscodeError;
use crate::ladder::PlannedRung;
use crate::pipeline::{make, queue};

/// x264's own keyframe interval: effectively never (forced keyframes only).
const KEY_INT_MAX: u32 = 3000;

pub(crate) struct EncodedRung {
    /// The branch's last element (h264parse), to be linked to the muxer.
    pub(crate) parser: gst::Element,
}

pub(crate) fn add(
    pipeline: &gst::Pipeline,
    decoded: &gst::Element,
    rung: &PlannedRung,
    preset: &str,
) -> Result<EncodedRung, TranscodeError> {
    let q = queue(Duration::from_millis(500))?;
    let scale = make("videoscale")?;
    let rate = make("videorate")?;
    rate.set_property("drop-only", true);
    rate.set_property("max-rate", rung.max_fps as i32);
    let convert = make("videoconvert")?;
    let caps = make("capsfilter")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", rung.width as i32)
            .field("height", rung.height as i32)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .field("format", "I420")
            .build(),
    );
    let enc = make("x264enc")?;
    enc.set_property_from_str("tune", "zerolatency");
    enc.set_property_from_str("speed-preset", preset);
    enc.set_property("bitrate", rung.bitrate_kbps);
    enc.set_property("key-int-max", KEY_INT_MAX);
    enc.set_property("option-string", "scenecut=0");
    let profile = make("capsfilter")?;
    profile.set_property("caps", gst::Caps::builder("video/x-h264").field("profile", "high").build());
    let parser = make("h264parse")?;
    let chain = [&q, &scale, &rate, &convert, &caps, &enc, &profile, &parser];
    pipeline.add_many(chain)?;
    decoded.link(&q)?;
    gst::Element::link_many(chain)?;
    Ok(EncodedRung { parser })
}
