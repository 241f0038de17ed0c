//! One encoded rung: `queue → videoscale → videorate → caps → x264enc → h264parse`.
//!
//! x264 runs with `tune=zerolatency` (no B-frames, no lookahead) and `scenecut=0`, and its own
//! keyframe interval far beyond any segment: keyframes come only from the force-key-unit events
//! the pump sends at the source's keyframes, so every rung's GOPs match the source's.
//!
//! The encoder is capped at the High profile and left to choose its profile and level;
//! [`codec_string`] says which codec string that yields for a rung (see there), so a rung is
//! announced with the profile and level it will actually carry.

use std::time::Duration;

use gst::prelude::*;

use crate::TranscodeError;
use crate::ladder::PlannedRung;
use crate::pipeline::{make, queue};

/// x264's own keyframe interval: effectively never (forced keyframes only).
const KEY_INT_MAX: u32 = 3000;
/// The highest H.264 profile a rung may use (the capsfilter after x264enc asks for it).
const MAX_PROFILE: &str = "high";
/// x264enc's `vbv-buf-capacity` default (ms): its VBV buffer is this much of the bitrate.
const VBV_BUFFER_MS: u64 = 600;

/// How a rung's encoder is tuned: for a live stream (no latency) or for a file (compression).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tuning {
    /// `tune=zerolatency`: no B-frames, no lookahead, sliced threads (a frame out per frame in).
    Live,
    /// x264's preset defaults (B-frames, lookahead, frame threads): better pictures per bit and
    /// more throughput, at a latency a file does not care about.
    File,
}

pub(crate) struct EncodedRung {
    /// The encoder, for the force-key-unit events a file's fixed segment grid needs.
    pub(crate) encoder: gst::Element,
    /// The branch's last element (h264parse), to be linked to the muxer.
    pub(crate) parser: gst::Element,
}

pub(crate) fn add(
    pipeline: &gst::Pipeline,
    decoded: &gst::Element,
    rung: &PlannedRung,
    preset: &str,
    tuning: Tuning,
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
    if tuning == Tuning::Live {
        enc.set_property_from_str("tune", "zerolatency");
    }
    enc.set_property_from_str("speed-preset", preset);
    enc.set_property("bitrate", rung.bitrate_kbps);
    enc.set_property("key-int-max", KEY_INT_MAX);
    enc.set_property("option-string", "scenecut=0");
    let profile = make("capsfilter")?;
    profile.set_property("caps", gst::Caps::builder("video/x-h264").field("profile", MAX_PROFILE).build());
    let parser = make("h264parse")?;
    let chain = [&q, &scale, &rate, &convert, &caps, &enc, &profile, &parser];
    pipeline.add_many(chain)?;
    decoded.link(&q)?;
    gst::Element::link_many(chain)?;
    Ok(EncodedRung { encoder: enc, parser })
}

/// The RFC 6381 codec string of what [`add`] encodes for `rung` with x264 preset `preset`.
///
/// The profile is what x264 writes under the [`MAX_PROFILE`] cap: the lowest profile that covers
/// the coding tools the preset uses (see [`x264_profile`]). The level is left to x264, which
/// picks the lowest level of H.264 Table A-1 that the stream fits: frame size, decoded picture
/// buffer (the preset's reference frames; no B-frames with `tune=zerolatency`), VBV bitrate and
/// buffer (x264enc's CBR: the rung's bitrate, [`VBV_BUFFER_MS`] of buffer) and macroblock rate.
/// The rate used is the rung's `max_fps`, which is what the encoder gets from a source at or
/// above that rate; from a slower source x264 may pick a lower level than announced here, which
/// the encoder's own SPS corrects when the rung's init segment arrives (`VideoDetails::codecs`).
/// Progressive video is assumed.
pub(crate) fn codec_string(rung: &PlannedRung, preset: &str) -> String {
    let profile = x264_profile(preset);
    let level = x264_auto_level(&profile, rung, preset_ref_frames(preset));
    match (profile.idc, level) {
        // Level 1b: Baseline and Main signal it as 1.1 with constraint_set3_flag.
        (PROFILE_BASELINE, 9) => oxcast_media::h264::avc1_codec(profile.idc, profile.constraint_flags | 0x10, 11),
        _ => oxcast_media::h264::avc1_codec(profile.idc, profile.constraint_flags, level),
    }
}

const PROFILE_BASELINE: u8 = 66;

/// A profile as x264 writes it in the SPS.
struct Profile {
    idc: u8,
    constraint_flags: u8,
    /// How far the profile may exceed Table A-1's bitrate and buffer limits, in quarters
    /// (High: 5/4, Baseline and Main: 4/4).
    bitrate_quarters: u64,
}

/// The profile x264 writes for a preset: High when the 8x8 transform is on (every preset but
/// ultrafast), else Main if CABAC, B-frames or weighted prediction are used, else Baseline with
/// constraint_set0 and constraint_set1 (Constrained Baseline). With `tune=zerolatency` (no
/// B-frames) ultrafast, which turns off the 8x8 transform, CABAC and weighted prediction, is
/// the one preset that yields Constrained Baseline.
fn x264_profile(preset: &str) -> Profile {
    match preset {
        "ultrafast" => Profile { idc: PROFILE_BASELINE, constraint_flags: 0xc0, bitrate_quarters: 4 },
        _ => Profile { idc: oxcast_media::h264::PROFILE_HIGH, constraint_flags: 0, bitrate_quarters: 5 },
    }
}

/// Reference frames of x264's speed presets (`--ref`).
fn preset_ref_frames(preset: &str) -> u64 {
    match preset {
        "ultrafast" | "superfast" | "veryfast" => 1,
        "faster" | "fast" => 2,
        "slow" => 5,
        "slower" => 8,
        "veryslow" | "placebo" => 16,
        _ => 3, // "medium", x264's default
    }
}

/// One row of H.264 Table A-1, as x264 lists it.
struct Level {
    idc: u8,
    /// Max macroblocks per second.
    mbps: u64,
    /// Max frame size in macroblocks.
    frame_size: u64,
    /// Max decoded picture buffer in macroblocks.
    dpb: u64,
    /// Max video bitrate (kbit/s) and coded picture buffer (kbit) for Baseline/Main.
    bitrate: u64,
    cpb: u64,
}

const fn level(idc: u8, mbps: u64, frame_size: u64, dpb: u64, bitrate: u64, cpb: u64) -> Level {
    Level { idc, mbps, frame_size, dpb, bitrate, cpb }
}

/// In x264's order of preference (level 1b, `level_idc` 9 outside Baseline/Main, comes after 1).
const LEVELS: [Level; 20] = [
    level(10, 1_485, 99, 396, 64, 175),
    level(9, 1_485, 99, 396, 128, 350),
    level(11, 3_000, 396, 900, 192, 500),
    level(12, 6_000, 396, 2_376, 384, 1_000),
    level(13, 11_880, 396, 2_376, 768, 2_000),
    level(20, 11_880, 396, 2_376, 2_000, 2_000),
    level(21, 19_800, 792, 4_752, 4_000, 4_000),
    level(22, 20_250, 1_620, 8_100, 4_000, 4_000),
    level(30, 40_500, 1_620, 8_100, 10_000, 10_000),
    level(31, 108_000, 3_600, 18_000, 14_000, 14_000),
    level(32, 216_000, 5_120, 20_480, 20_000, 20_000),
    level(40, 245_760, 8_192, 32_768, 20_000, 25_000),
    level(41, 245_760, 8_192, 32_768, 50_000, 62_500),
    level(42, 522_240, 8_704, 34_816, 50_000, 62_500),
    level(50, 589_824, 22_080, 110_400, 135_000, 135_000),
    level(51, 983_040, 36_864, 184_320, 240_000, 240_000),
    level(52, 2_073_600, 36_864, 184_320, 240_000, 240_000),
    level(60, 4_177_920, 139_264, 696_320, 240_000, 240_000),
    level(61, 8_355_840, 139_264, 696_320, 480_000, 480_000),
    level(62, 16_711_680, 139_264, 696_320, 800_000, 800_000),
];

/// The `level_idc` x264 chooses for a progressive rung at its `max_fps` (the limits of its
/// `x264_validate_levels`; the first level that passes, the highest if none does).
fn x264_auto_level(profile: &Profile, rung: &PlannedRung, ref_frames: u64) -> u8 {
    let (mb_width, mb_height) = (u64::from(rung.width).div_ceil(16), u64::from(rung.height).div_ceil(16));
    let mbs = mb_width * mb_height;
    let bitrate = u64::from(rung.bitrate_kbps);
    let vbv_buffer = bitrate * VBV_BUFFER_MS / 1000;
    let fits = |l: &Level| {
        l.frame_size >= mbs
            && l.frame_size * 8 >= mb_width * mb_width
            && l.frame_size * 8 >= mb_height * mb_height
            && l.dpb >= mbs * ref_frames
            && l.bitrate * profile.bitrate_quarters / 4 >= bitrate
            && l.cpb * profile.bitrate_quarters / 4 >= vbv_buffer
            && l.mbps >= mbs * u64::from(rung.max_fps)
    };
    LEVELS.iter().find(|l| fits(l)).unwrap_or(&LEVELS[LEVELS.len() - 1]).idc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(width: u32, height: u32, bitrate_kbps: u32, max_fps: u32) -> PlannedRung {
        PlannedRung { name: format!("{height}p"), width, height, bitrate_kbps, max_fps }
    }

    #[test]
    fn levels_follow_size_rate_bitrate_and_references() {
        // The standard ladder on a 1080p source (what x264 writes for these: see the test below).
        assert_eq!(codec_string(&planned(1280, 720, 2800, 30), "veryfast"), "avc1.64001f");
        assert_eq!(codec_string(&planned(854, 480, 1400, 30), "veryfast"), "avc1.64001f");
        assert_eq!(codec_string(&planned(640, 360, 800, 30), "veryfast"), "avc1.64001e");
        // Frame rate: 720p60 needs 3.2, 1080p30 4.0, 1080p60 4.2.
        assert_eq!(codec_string(&planned(1280, 720, 2800, 60), "veryfast"), "avc1.640020");
        assert_eq!(codec_string(&planned(1920, 1080, 6000, 30), "veryfast"), "avc1.640028");
        assert_eq!(codec_string(&planned(1920, 1080, 6000, 60), "veryfast"), "avc1.64002a");
        // Bitrate: 360p at 30 Mbit/s is beyond 4.0's 25 Mbit/s (High: 20 * 5/4).
        assert_eq!(codec_string(&planned(640, 360, 30_000, 30), "veryfast"), "avc1.640029");
        // References: 16 frames of 720p do not fit 3.1's picture buffer (nor 4.2's).
        assert_eq!(codec_string(&planned(1280, 720, 2800, 30), "veryslow"), "avc1.640032");
        assert_eq!(codec_string(&planned(1280, 720, 2800, 30), "medium"), "avc1.64001f");
        // Tiny and slow: level 1b, which High signals as 9.
        assert_eq!(codec_string(&planned(160, 90, 100, 15), "veryfast"), "avc1.640009");
        assert_eq!(codec_string(&planned(160, 90, 100, 30), "veryfast"), "avc1.64000b");
        // Beyond every level: the highest.
        assert_eq!(codec_string(&planned(16_384, 16_384, 50_000, 120), "veryfast"), "avc1.64003e");
    }

    #[test]
    fn ultrafast_is_constrained_baseline() {
        assert_eq!(codec_string(&planned(854, 480, 1400, 30), "ultrafast"), "avc1.42c01f");
        // Without High's extra quarter: 360p at 12 Mbit/s exceeds 3.0's 10 Mbit/s.
        assert_eq!(codec_string(&planned(640, 360, 12_000, 30), "ultrafast"), "avc1.42c01f");
        assert_eq!(codec_string(&planned(640, 360, 12_000, 30), "superfast"), "avc1.64001e");
        // Level 1b in Baseline: 1.1 with constraint_set3.
        assert_eq!(codec_string(&planned(160, 90, 100, 15), "ultrafast"), "avc1.42d00b");
    }

    /// Encodes a few frames through the real rung branch and compares its SPS with the estimate.
    #[test]
    fn announced_codec_strings_match_what_x264_writes() {
        crate::init().expect("GStreamer");
        let cases = [
            (1920, 1080, 30, planned(1280, 720, 2800, 30), "veryfast"),
            (1920, 1080, 30, planned(854, 480, 1400, 30), "veryfast"),
            (1920, 1080, 30, planned(640, 360, 800, 30), "veryfast"),
            (1920, 1080, 60, planned(1280, 720, 2800, 60), "veryfast"),
            (1920, 1080, 60, planned(854, 480, 1400, 30), "ultrafast"),
            (1280, 720, 30, planned(640, 360, 12_000, 30), "ultrafast"),
            (1280, 720, 30, planned(640, 360, 12_000, 30), "superfast"),
            (320, 180, 15, planned(160, 90, 100, 15), "veryfast"),
            (1280, 720, 30, planned(640, 360, 30_000, 30), "veryfast"),
            (1920, 1080, 30, planned(1280, 720, 2800, 30), "veryslow"),
            (1920, 1080, 30, planned(1280, 720, 2800, 30), "medium"),
        ];
        for (src_w, src_h, src_fps, rung, preset) in cases {
            let written = encoded_codec_string(src_w, src_h, src_fps, &rung, preset);
            assert_eq!(written, codec_string(&rung, preset), "{rung:?} {preset} from {src_w}x{src_h}@{src_fps}");
        }
    }

    fn encoded_codec_string(width: i32, height: i32, fps: i32, rung: &PlannedRung, preset: &str) -> String {
        let pipeline = gst::Pipeline::new();
        let src = make("videotestsrc").expect("videotestsrc");
        src.set_property("num-buffers", 3i32);
        let raw = make("capsfilter").expect("capsfilter");
        raw.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", width)
                .field("height", height)
                .field("framerate", gst::Fraction::new(fps, 1))
                .build(),
        );
        pipeline.add_many([&src, &raw]).expect("add");
        src.link(&raw).expect("link");
        let encoded = add(&pipeline, &raw, rung, preset, Tuning::Live).expect("rung");
        let sink = make("fakesink").expect("fakesink");
        pipeline.add(&sink).expect("add");
        encoded.parser.link(&sink).expect("link");
        pipeline.set_state(gst::State::Playing).expect("playing");
        let bus = pipeline.bus().expect("bus");
        let msg =
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
        assert!(matches!(msg.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(_))), "{msg:?}");
        let caps = encoded.parser.static_pad("src").and_then(|p| p.current_caps()).expect("negotiated caps");
        let _ = pipeline.set_state(gst::State::Null);
        let codec_data = caps.structure(0).and_then(|s| s.get::<gst::Buffer>("codec_data").ok()).expect("codec_data");
        let map = codec_data.map_readable().expect("readable");
        oxcast_media::h264::avc_codec_string(map.as_slice()).expect("avcC")
    }
}
