//! What a file holds, before anything is encoded: a short preroll through `decodebin` into
//! fakesinks, reading the decoded caps (size, pixel aspect, rate, channels), the tags (container,
//! codecs, orientation) and the duration. Errors are turned into reasons a person understands.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use super::source::SourceElement;
use super::{AudioStreamInfo, FileError, FileSource, SourceInfo, VideoStreamInfo};
use crate::pipeline::make;

/// How long the preroll may take (it reads the headers and decodes one frame per stream).
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Found {
    video: Option<gst::Caps>,
    audio: Option<gst::Caps>,
    /// decodebin's pads: stream tags (orientation, codecs) travel on them as sticky events and
    /// are not always posted on the bus.
    pads: Vec<gst::Pad>,
}

/// Probes `source` (see the module doc).
pub fn probe(source: Box<dyn FileSource>) -> Result<SourceInfo, FileError> {
    crate::init()?;
    let size = source.size();
    if size == 0 {
        return Err(FileError::NotMedia);
    }
    let pipeline = gst::Pipeline::with_name("probe");
    let src = SourceElement::new("probe_src", source);
    let decode = make("decodebin")?;
    pipeline.add_many([src.appsrc.upcast_ref(), &decode])?;
    src.appsrc.link(&decode)?;
    let found = Arc::new(Mutex::new(Found::default()));
    let pipeline_weak = pipeline.downgrade();
    let found_by_pad = found.clone();
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if let (Some(s), Ok(mut found)) = (caps.structure(0), found_by_pad.lock()) {
            if s.name().starts_with("video/") && found.video.is_none() {
                found.video = Some(caps.clone());
            } else if s.name().starts_with("audio/") && found.audio.is_none() {
                found.audio = Some(caps.clone());
            }
            found.pads.push(pad.clone());
        }
        if let Ok(sink) = make("fakesink") {
            let _ = pipeline.add(&sink);
            let _ = sink.sync_state_with_parent();
            if let Some(sink_pad) = sink.static_pad("sink") {
                let _ = pad.link(&sink_pad);
            }
        }
    });
    let result = preroll(&pipeline, &src);
    let outcome = result.and_then(|mut tags| {
        let duration = pipeline.query_duration::<gst::ClockTime>().map(|d| Duration::from_nanos(d.nseconds()));
        let found = found.lock().map_err(|_| FileError::Internal("probe state poisoned".into()))?;
        for pad in &found.pads {
            let mut index = 0;
            while let Some(event) = pad.sticky_event::<gst::event::Tag>(index) {
                tags = tags.merge(&event.tag_owned(), gst::TagMergeMode::Keep);
                index += 1;
            }
        }
        describe(size, duration, &tags, found.video.as_ref(), found.audio.as_ref())
    });
    let _ = pipeline.set_state(gst::State::Null);
    outcome
}

/// Runs the pipeline to PAUSED; returns the tags seen on the way.
fn preroll(pipeline: &gst::Pipeline, src: &SourceElement) -> Result<gst::TagList, FileError> {
    let bus = pipeline.bus().ok_or_else(|| FileError::Internal("pipeline without a bus".into()))?;
    pipeline.set_state(gst::State::Paused).map_err(|_| pipeline_error(&bus, src, Duration::ZERO))?;
    let mut tags = gst::TagList::new();
    let deadline = std::time::Instant::now() + PROBE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(FileError::Damaged("reading the file's headers did not finish".into()));
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else { continue };
        match msg.view() {
            gst::MessageView::AsyncDone(_) => return Ok(tags),
            gst::MessageView::Tag(t) => tags = tags.merge(&t.tags(), gst::TagMergeMode::Keep),
            gst::MessageView::Error(err) => {
                return Err(src.read_failure().unwrap_or_else(|| classify(&msg, err, Duration::ZERO)));
            }
            gst::MessageView::Element(_) if gst_pbutils::MissingPluginMessage::is(&msg) => {
                if let Ok(missing) = gst_pbutils::MissingPluginMessage::parse(&msg) {
                    return Err(FileError::Unsupported(missing.description().to_string()));
                }
            }
            _ => {}
        }
    }
}

/// The first error on the bus, as a [`FileError`].
pub(super) fn pipeline_error(bus: &gst::Bus, src: &SourceElement, at: Duration) -> FileError {
    if let Some(e) = src.read_failure() {
        return e;
    }
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(err) => return classify(&msg, err, at),
            gst::MessageView::Element(_) if gst_pbutils::MissingPluginMessage::is(&msg) => {
                if let Ok(missing) = gst_pbutils::MissingPluginMessage::parse(&msg) {
                    return FileError::Unsupported(missing.description().to_string());
                }
            }
            _ => {}
        }
    }
    FileError::NotMedia
}

/// Names a GStreamer error the way an uploader can act on.
pub(super) fn classify(msg: &gst::Message, err: &gst::message::Error, at: Duration) -> FileError {
    let error = err.error();
    let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
    tracing::debug!(%from, error = %error, debug = ?err.debug(), "file pipeline error");
    if error.matches(gst::StreamError::TypeNotFound) || error.matches(gst::StreamError::WrongType) {
        FileError::NotMedia
    } else if error.matches(gst::CoreError::MissingPlugin) || error.matches(gst::StreamError::CodecNotFound) {
        FileError::Unsupported(error.message().trim_end_matches('.').to_owned())
    } else if error.matches(gst::StreamError::Demux) || error.matches(gst::StreamError::Format) {
        FileError::Damaged(error.message().trim_end_matches('.').to_owned())
    } else if error.matches(gst::StreamError::Decode) {
        FileError::DecodingFailed { at, detail: error.message().trim_end_matches('.').to_owned() }
    } else {
        FileError::Damaged(format!("{} ({from})", error.message().trim_end_matches('.')))
    }
}

fn describe(
    size: u64,
    duration: Option<Duration>,
    tags: &gst::TagList,
    video: Option<&gst::Caps>,
    audio: Option<&gst::Caps>,
) -> Result<SourceInfo, FileError> {
    let video_codec = tags.get::<gst::tags::VideoCodec>().map(|v| v.get().to_owned());
    let video = video.and_then(|caps| video_info(caps, tags, video_codec));
    let audio = audio.and_then(|caps| {
        let s = caps.structure(0)?;
        Some(AudioStreamInfo {
            codec: tags.get::<gst::tags::AudioCodec>().map(|v| v.get().to_owned()),
            sample_rate: u32::try_from(s.get::<i32>("rate").ok()?).ok()?,
            channels: u32::try_from(s.get::<i32>("channels").ok()?).ok()?,
        })
    });
    if video.is_none() && audio.is_none() {
        return Err(FileError::NoStreams);
    }
    let duration_ms = duration.filter(|d| !d.is_zero()).map(|d| d.as_millis() as u64);
    Ok(SourceInfo {
        container: tags.get::<gst::tags::ContainerFormat>().map(|v| v.get().to_owned()),
        size_bytes: size,
        duration_ms,
        bit_rate: duration_ms.filter(|ms| *ms > 0).map(|ms| size * 8 * 1000 / ms),
        video,
        audio,
    })
}

fn video_info(caps: &gst::Caps, tags: &gst::TagList, codec: Option<String>) -> Option<VideoStreamInfo> {
    let s = caps.structure(0)?;
    let width = u32::try_from(s.get::<i32>("width").ok()?).ok()?;
    let height = u32::try_from(s.get::<i32>("height").ok()?).ok()?;
    let par = s.get::<gst::Fraction>("pixel-aspect-ratio").ok().filter(|f| f.numer() > 0 && f.denom() > 0);
    let pixel_aspect = par.map_or((1, 1), |f| (f.numer() as u32, f.denom() as u32));
    let frame_rate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f64::from(f.numer()) / f64::from(f.denom()));
    let rotation = tags.get::<gst::tags::ImageOrientation>().map_or(0, |o| rotation_degrees(o.get()));
    let shown_width = (u64::from(width) * u64::from(pixel_aspect.0) / u64::from(pixel_aspect.1.max(1))) as u32;
    let (display_width, display_height) =
        if rotation % 180 == 90 { (height, shown_width) } else { (shown_width, height) };
    Some(VideoStreamInfo { codec, width, height, display_width, display_height, frame_rate, rotation, pixel_aspect })
}

/// `image-orientation` tag values ("rotate-90", "flip-rotate-270", ...) to clockwise degrees.
fn rotation_degrees(orientation: &str) -> u32 {
    orientation
        .rsplit('-')
        .next()
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| [90, 180, 270].contains(d))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::rotation_degrees;

    #[test]
    fn orientation_tags_become_degrees() {
        assert_eq!(rotation_degrees("rotate-0"), 0);
        assert_eq!(rotation_degrees("rotate-90"), 90);
        assert_eq!(rotation_degrees("flip-rotate-270"), 270);
        assert_eq!(rotation_degrees("rotate-45"), 0);
        assert_eq!(rotation_degrees(""), 0);
    }
}
