//! The adaptive-bitrate ladder: which encoded renditions a live stream gets besides its source.
//!
//! A rung is only made when it is smaller than the source (no upscaling); widths keep the
//! source's aspect ratio and are rounded to even numbers (4:2:0 chroma). Frame rate is capped
//! per rung (a 60 fps source still yields 30 fps rungs by default).

use serde::Deserialize;

pub const DEFAULT_PRESET: &str = "veryfast";
pub const DEFAULT_MAX_FPS: u32 = 30;

/// One encoded rendition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Rendition id and label, e.g. "720p" (letters, digits, `-`, `_`).
    pub name: String,
    pub height: u32,
    pub video_bitrate_kbps: u32,
    #[serde(default = "default_max_fps")]
    pub max_fps: u32,
}

fn default_max_fps() -> u32 {
    DEFAULT_MAX_FPS
}

/// A named transcoding profile: passthrough plus zero or more rungs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// x264 speed preset ("ultrafast" .. "veryslow").
    #[serde(default = "default_preset")]
    pub preset: String,
    #[serde(default)]
    pub rungs: Vec<Rung>,
}

fn default_preset() -> String {
    DEFAULT_PRESET.to_owned()
}

/// A rung resolved against an actual source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRung {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub max_fps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LadderError {
    #[error("rung name {0:?} must be 1-16 letters, digits, '-' or '_' and not \"video\"/\"audio\"")]
    BadName(String),
    #[error("rung {0}: height must be an even number from 90 to 4320")]
    BadHeight(String),
    #[error("rung {0}: bitrate must be 100 to 50000 kbit/s")]
    BadBitrate(String),
    #[error("rung {0}: max_fps must be 1 to 120")]
    BadFps(String),
    #[error("unknown x264 preset {0:?}")]
    BadPreset(String),
    #[error("two rungs are named {0}")]
    Duplicate(String),
}

const PRESETS: [&str; 10] =
    ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

impl Ladder {
    /// No encoded rungs: the source only.
    pub fn passthrough() -> Self {
        Self { preset: default_preset(), rungs: Vec::new() }
    }

    /// 720p, 480p and 360p at up to 30 fps.
    pub fn standard() -> Self {
        let rung = |name: &str, height, kbps| Rung {
            name: name.into(),
            height,
            video_bitrate_kbps: kbps,
            max_fps: DEFAULT_MAX_FPS,
        };
        Self {
            preset: default_preset(),
            rungs: vec![rung("720p", 720, 2800), rung("480p", 480, 1400), rung("360p", 360, 800)],
        }
    }

    /// The default for files: 1080p and 720p at up to 60 fps, 480p and 360p at up to 30.
    pub fn vod() -> Self {
        let rung =
            |name: &str, height, kbps, max_fps| Rung { name: name.into(), height, video_bitrate_kbps: kbps, max_fps };
        Self {
            preset: default_preset(),
            rungs: vec![
                rung("1080p", 1080, 5000, 60),
                rung("720p", 720, 2800, 60),
                rung("480p", 480, 1400, 30),
                rung("360p", 360, 800, 30),
            ],
        }
    }

    pub fn validate(&self) -> Result<(), LadderError> {
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(LadderError::BadPreset(self.preset.clone()));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.rungs {
            let name_ok = !r.name.is_empty()
                && r.name.len() <= 16
                && r.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && r.name != "video"
                && r.name != "audio";
            if !name_ok {
                return Err(LadderError::BadName(r.name.clone()));
            }
            if !(90..=4320).contains(&r.height) || r.height % 2 != 0 {
                return Err(LadderError::BadHeight(r.name.clone()));
            }
            if !(100..=50_000).contains(&r.video_bitrate_kbps) {
                return Err(LadderError::BadBitrate(r.name.clone()));
            }
            if !(1..=120).contains(&r.max_fps) {
                return Err(LadderError::BadFps(r.name.clone()));
            }
            if !seen.insert(r.name.as_str()) {
                return Err(LadderError::Duplicate(r.name.clone()));
            }
        }
        Ok(())
    }

    /// The rungs to encode for a `width`x`height` source: only those below its height, highest
    /// first, keeping its aspect ratio.
    pub fn plan(&self, width: u32, height: u32) -> Vec<PlannedRung> {
        let mut planned: Vec<PlannedRung> = self
            .rungs
            .iter()
            .filter(|r| r.height < height && width > 0)
            .map(|r| {
                let w = (u64::from(width) * u64::from(r.height) / u64::from(height)) as u32;
                PlannedRung {
                    name: r.name.clone(),
                    width: (w + 1) & !1,
                    height: r.height,
                    bitrate_kbps: r.video_bitrate_kbps,
                    max_fps: r.max_fps,
                }
            })
            .collect();
        planned.sort_by_key(|r| std::cmp::Reverse(r.height));
        planned
    }

    /// The rungs to encode for a file whose picture shows as `width`x`height` (after rotation
    /// and pixel aspect). A rung's height names the picture's short side, as players label
    /// them: "1080p" is 1920x1080 for a landscape file and 1080x1920 for a portrait one. Every
    /// rung at or below the file's short side is made (a file has no passthrough, so the top
    /// rung may be the file's own size), highest first; a file smaller than every rung gets one
    /// rung at its own size with the lowest rung's settings, so nothing is ever upscaled. Sizes
    /// are even (4:2:0 chroma). Empty only for a profile without rungs or a 0-sized picture.
    pub fn plan_file(&self, width: u32, height: u32) -> Vec<PlannedRung> {
        let (width, height) = (width & !1, height & !1);
        if width == 0 || height == 0 {
            return Vec::new();
        }
        let portrait = height > width;
        let (short, long) = if portrait { (width, height) } else { (height, width) };
        let resolve = |r: &Rung, side: u32| {
            let other = (u64::from(long) * u64::from(side)).div_ceil(u64::from(short)) as u32;
            let other = ((other + 1) & !1).max(2);
            let (w, h) = if portrait { (side, other) } else { (other, side) };
            PlannedRung {
                name: r.name.clone(),
                width: w,
                height: h,
                bitrate_kbps: r.video_bitrate_kbps,
                max_fps: r.max_fps,
            }
        };
        let mut planned: Vec<PlannedRung> =
            self.rungs.iter().filter(|r| r.height <= short).map(|r| resolve(r, r.height)).collect();
        if planned.is_empty()
            && let Some(lowest) = self.rungs.iter().min_by_key(|r| r.height)
        {
            let mut own = resolve(lowest, short);
            own.name = format!("{short}p");
            planned.push(own);
        }
        planned.sort_by_key(|r| std::cmp::Reverse(r.width.min(r.height)));
        planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rungs_below_the_source_keeping_aspect() {
        let ladder = Ladder::standard();
        let plan = ladder.plan(1920, 1080);
        let shape: Vec<(&str, u32, u32)> = plan.iter().map(|r| (r.name.as_str(), r.width, r.height)).collect();
        assert_eq!(shape, [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]);
        let plan = ladder.plan(1280, 720);
        assert_eq!(plan.iter().map(|r| r.height).collect::<Vec<_>>(), [480, 360]);
        assert!(ladder.plan(640, 360).is_empty());
        // 4:3 source: widths follow, rounded to even.
        assert_eq!(ladder.plan(1440, 1080)[2].width, 480);
        assert_eq!(ladder.plan(1000, 750)[0].width, 960);
    }

    #[test]
    fn files_get_every_rung_up_to_their_height_and_never_an_upscale() {
        let vod = Ladder::vod();
        assert!(vod.validate().is_ok());
        let shape = |w, h| -> Vec<(String, u32, u32)> {
            vod.plan_file(w, h).into_iter().map(|r| (r.name, r.width, r.height)).collect()
        };
        assert_eq!(shape(1920, 1080).iter().map(|r| r.2).collect::<Vec<_>>(), [1080, 720, 480, 360]);
        assert_eq!(shape(1920, 1080)[0].1, 1920);
        // Portrait: a rung names the short side, as for landscape.
        assert_eq!(
            shape(1080, 1920),
            [
                ("1080p".into(), 1080, 1920),
                ("720p".into(), 720, 1280),
                ("480p".into(), 480, 854),
                ("360p".into(), 360, 640)
            ]
        );
        // Odd sizes: even widths and heights, nothing above the source.
        assert_eq!(shape(853, 479), [("360p".into(), 642, 360)]);
        assert_eq!(shape(1920, 1080)[1], ("720p".into(), 1280, 720));
        // Smaller than every rung: one rung at its own height.
        assert_eq!(shape(320, 240), [("240p".into(), 320, 240)]);
        assert_eq!(shape(161, 91), [("90p".into(), 160, 90)]);
        assert!(vod.plan_file(0, 0).is_empty());
        assert!(Ladder::passthrough().plan_file(1920, 1080).is_empty());
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(Ladder::standard().validate().is_ok());
        let mut bad = Ladder::standard();
        bad.rungs[0].height = 721;
        assert_eq!(bad.validate(), Err(LadderError::BadHeight("720p".into())));
        let mut bad = Ladder::standard();
        bad.rungs[1].name = "video".into();
        assert!(matches!(bad.validate(), Err(LadderError::BadName(_))));
        let mut bad = Ladder::standard();
        bad.preset = "warp".into();
        assert!(matches!(bad.validate(), Err(LadderError::BadPreset(_))));
        let mut bad = Ladder::standard();
        bad.rungs[2].name = "720p".into();
        assert_eq!(bad.validate(), Err(LadderError::Duplicate("720p".into())));
    }

    #[test]
    fn deserializes_from_toml_shape() {
        let ladder: Ladder = serde_json::from_str(
            r#"{"preset":"faster","rungs":[{"name":"540p","height":540,"video_bitrate_kbps":2000}]}"#,
        )
        .expect("valid");
        assert_eq!(ladder.rungs[0].max_fps, 30);
    }
}
