//! Pictures taken from the decoded video on its way to the rungs: the poster (one JPEG) and the
//! storyboard (a thumbnail every few seconds, tiled into one sprite JPEG for seek-bar previews).
//!
//! Each is a branch on the decoded tee whose first pad drops every frame but the chosen ones, so
//! scaling and JPEG encoding cost a handful of frames, never the whole file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gst::prelude::*;

use crate::TranscodeError;
use crate::pipeline::{make, queue};

/// The poster is the frame at this time (or at half of a shorter video).
const POSTER_AT: Duration = Duration::from_secs(2);
/// Widest poster (larger sources are scaled down, keeping the aspect).
const POSTER_MAX_WIDTH: u32 = 1280;
/// Storyboard: at most this many tiles, at least this far apart, this wide.
const STORYBOARD_MAX_TILES: u64 = 100;
const STORYBOARD_MIN_INTERVAL: Duration = Duration::from_secs(2);
const TILE_WIDTH: u32 = 160;
const STORYBOARD_COLUMNS: u32 = 10;

/// The storyboard sprite and where each thumbnail is in it.
#[derive(Debug, Clone)]
pub struct Storyboard {
    pub jpeg: Bytes,
    pub tile_width: u32,
    pub tile_height: u32,
    pub tiles: Vec<StoryboardTile>,
}

/// One thumbnail: the time span it stands for and its place in the sprite.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryboardTile {
    pub start: Duration,
    pub end: Duration,
    pub x: u32,
    pub y: u32,
}

/// What the branches collected, read after EOS.
#[derive(Default)]
pub(super) struct Stills {
    poster: Mutex<Option<Bytes>>,
    /// (presentation time from the first frame, RGB pixels)
    thumbnails: Mutex<Vec<(Duration, Bytes)>>,
    tile: (u32, u32),
    interval: Duration,
}

/// An even size of at most `max_width` with the aspect of `width`x`height`.
fn fit(width: u32, height: u32, max_width: u32) -> (u32, u32) {
    let w = width.min(max_width).max(2) & !1;
    let h = (u64::from(height) * u64::from(w) / u64::from(width.max(1))) as u32 & !1;
    (w, h.max(2))
}

impl Stills {
    pub(super) fn new(display: (u32, u32), duration: Option<Duration>) -> Self {
        let interval = duration
            .map(|d| d / STORYBOARD_MAX_TILES as u32)
            .unwrap_or(Duration::from_secs(10))
            .max(STORYBOARD_MIN_INTERVAL);
        Self { tile: fit(display.0, display.1, TILE_WIDTH), interval, ..Self::default() }
    }

    /// Adds both branches after `decoded` (a tee). `first_pts` is shared with the segment
    /// grid: the first decoded frame's time.
    pub(super) fn add_branches(
        self: &Arc<Self>,
        pipeline: &gst::Pipeline,
        decoded: &gst::Element,
        display: (u32, u32),
        duration: Option<Duration>,
        first_pts: Arc<std::sync::OnceLock<u64>>,
    ) -> Result<(), TranscodeError> {
        let poster_at = duration.map_or(POSTER_AT, |d| POSTER_AT.min(d / 2));
        let (pw, ph) = fit(display.0, display.1, POSTER_MAX_WIDTH);
        let poster_caps = raw_caps(pw, ph, "I420");
        let jpeg = make("jpegenc")?;
        let stills = self.clone();
        let taken = std::sync::atomic::AtomicBool::new(false);
        let first = first_pts.clone();
        branch(
            pipeline,
            decoded,
            &poster_caps,
            Some(&jpeg),
            move |pts| {
                let at = Duration::from_nanos(pts.saturating_sub(*first.get().unwrap_or(&pts)));
                at >= poster_at && !taken.swap(true, std::sync::atomic::Ordering::Relaxed)
            },
            move |_, data| {
                if let Ok(mut poster) = stills.poster.lock() {
                    poster.get_or_insert(data);
                }
            },
        )?;

        let tile_caps = raw_caps(self.tile.0, self.tile.1, "RGB");
        let stills = self.clone();
        let next = Mutex::new(Duration::ZERO);
        let origin = first_pts.clone();
        let interval = self.interval;
        branch(
            pipeline,
            decoded,
            &tile_caps,
            None,
            move |pts| {
                let at = Duration::from_nanos(pts.saturating_sub(*first_pts.get().unwrap_or(&pts)));
                let Ok(mut next) = next.lock() else { return false };
                if at >= *next {
                    while *next <= at {
                        *next += interval;
                    }
                    return true;
                }
                false
            },
            move |pts, data| {
                let at = pts.saturating_sub(Duration::from_nanos(*origin.get().unwrap_or(&0)));
                if let Ok(mut thumbs) = stills.thumbnails.lock() {
                    thumbs.push((at, data));
                }
            },
        )?;
        Ok(())
    }

    pub(super) fn poster(&self) -> Option<Bytes> {
        self.poster.lock().ok()?.clone()
    }

    /// Tiles the thumbnails into one sprite (JPEG) and says where each is.
    pub(super) fn storyboard(&self, duration: Duration) -> Result<Option<Storyboard>, TranscodeError> {
        let thumbs = self.thumbnails.lock().map(|t| t.clone()).unwrap_or_default();
        if thumbs.is_empty() {
            return Ok(None);
        }
        let (tw, th) = self.tile;
        let stride = (tw * 3) as usize;
        let count = thumbs.len() as u32;
        let columns = count.min(STORYBOARD_COLUMNS);
        let rows = count.div_ceil(STORYBOARD_COLUMNS);
        let (sw, sh) = (columns * tw, rows * th);
        let mut sheet = vec![0u8; (sw * sh * 3) as usize];
        let mut tiles = Vec::with_capacity(thumbs.len());
        for (i, (start, pixels)) in thumbs.iter().enumerate() {
            let (x, y) = ((i as u32 % columns) * tw, (i as u32 / columns) * th);
            for row in 0..th as usize {
                let from = row * stride;
                let Some(line) = pixels.get(from..from + stride) else { break };
                let to = ((y as usize + row) * sw as usize + x as usize) * 3;
                sheet[to..to + stride].copy_from_slice(line);
            }
            let end = thumbs.get(i + 1).map_or(duration.max(*start), |(next, _)| *next);
            tiles.push(StoryboardTile { start: *start, end, x, y });
        }
        let jpeg = encode_jpeg(sheet, sw, sh)?;
        Ok(Some(Storyboard { jpeg, tile_width: tw, tile_height: th, tiles }))
    }
}

fn raw_caps(width: u32, height: u32, format: &str) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", width as i32)
        .field("height", height as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// `decoded → [keep?] queue → videoscale → videoconvert → caps → (encoder) → appsink`.
fn branch(
    pipeline: &gst::Pipeline,
    decoded: &gst::Element,
    caps: &gst::Caps,
    encoder: Option<&gst::Element>,
    keep: impl Fn(u64) -> bool + Send + Sync + 'static,
    take: impl Fn(Duration, Bytes) + Send + Sync + 'static,
) -> Result<(), TranscodeError> {
    let q = queue(Duration::from_secs(5))?;
    let scale = make("videoscale")?;
    let convert = make("videoconvert")?;
    let filter = make("capsfilter")?;
    filter.set_property("caps", caps);
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(buffer) = sample.buffer()
                        && let Ok(map) = buffer.map_readable()
                    {
                        let at = Duration::from_nanos(buffer.pts().map_or(0, |p| p.nseconds()));
                        take(at, Bytes::copy_from_slice(map.as_slice()));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build();
    let mut chain: Vec<&gst::Element> = vec![&q, &scale, &convert, &filter];
    if let Some(encoder) = encoder {
        chain.push(encoder);
    }
    chain.push(sink.upcast_ref());
    pipeline.add_many(chain.iter().copied())?;
    gst::Element::link_many(chain.iter().copied())?;
    for element in &chain {
        element.sync_state_with_parent()?;
    }
    let tee_pad = decoded.request_pad_simple("src_%u").ok_or_else(|| TranscodeError::Build("tee pad".into()))?;
    let sink_pad = q.static_pad("sink").ok_or_else(|| TranscodeError::Build("queue pad".into()))?;
    tee_pad.link(&sink_pad).map_err(|e| TranscodeError::Build(format!("stills branch: {e:?}")))?;
    sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let keep_it = match &info.data {
            Some(gst::PadProbeData::Buffer(b)) => b.pts().is_some_and(|p| keep(p.nseconds())),
            _ => true,
        };
        if keep_it {
            gst::PadProbeReturn::Ok
        } else {
            // Taken and released here: returning `Drop` for an untaken buffer makes
            // GStreamer 1.22 unref a null pointer (a CRITICAL per frame) through gstreamer-rs.
            drop(info.data.take());
            gst::PadProbeReturn::Handled
        }
    });
    Ok(())
}

/// RGB pixels → JPEG, through a one-buffer pipeline.
fn encode_jpeg(pixels: Vec<u8>, width: u32, height: u32) -> Result<Bytes, TranscodeError> {
    let pipeline = gst::Pipeline::with_name("storyboard-jpeg");
    let src =
        gst_app::AppSrc::builder().caps(&raw_caps(width, height, "RGB").to_owned()).format(gst::Format::Time).build();
    let convert = make("videoconvert")?;
    let jpeg = make("jpegenc")?;
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([src.upcast_ref(), &convert, &jpeg, sink.upcast_ref()])?;
    gst::Element::link_many([src.upcast_ref(), &convert, &jpeg, sink.upcast_ref()])?;
    pipeline.set_state(gst::State::Playing)?;
    let mut buffer = gst::Buffer::from_mut_slice(pixels);
    if let Some(b) = buffer.get_mut() {
        b.set_pts(gst::ClockTime::ZERO);
        b.set_duration(gst::ClockTime::from_seconds(1));
    }
    let pushed = src.push_buffer(buffer).is_ok() && src.end_of_stream().is_ok();
    let sample = if pushed { sink.try_pull_sample(gst::ClockTime::from_seconds(30)) } else { None };
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.ok_or_else(|| TranscodeError::Pipeline("storyboard JPEG was not encoded".into()))?;
    let buffer = sample.buffer().ok_or_else(|| TranscodeError::Pipeline("storyboard JPEG is empty".into()))?;
    let map = buffer.map_readable().map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    Ok(Bytes::copy_from_slice(map.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn sizes_keep_the_aspect_and_stay_even() {
        assert_eq!(fit(1920, 1080, 160), (160, 90));
        assert_eq!(fit(1080, 1920, 160), (160, 284));
        assert_eq!(fit(640, 360, 1280), (640, 360));
        // Never larger than the source.
        assert_eq!(fit(853, 479, 1280), (852, 478));
    }
}
