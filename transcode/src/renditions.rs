//! What a session announces to the sink before its pipeline produces anything: one
//! [`RenditionInfo`] per CMAF track, in the order the packager lists them (source video, the
//! encoded rungs highest first, audio).
//!
//! Codec strings come from the configuration, never from literals:
//! - the source video's from its AVC decoder record (profile, constraint flags and level of its
//!   SPS, `VideoConfig::rfc6381_codec`);
//! - an encoded rung's from the profile and level its x264 encoder is configured with
//!   (`rung::codec_string`: High, and the level x264 chooses for the rung's size, frame rate cap,
//!   bitrate and preset). The encoder's actual output caps would be better still, but they do not
//!   exist yet where the renditions are announced: `CmafSink::session_started` precedes building
//!   the pipeline, and an encoder writes its SPS only with its first frame. When the rung's init
//!   segment arrives, its parser's `codec_data` replaces the announced string
//!   (`VideoDetails::codecs`), so an estimate that is off (a source slower than the rung's frame
//!   rate cap can get a lower level) lasts until then;
//! - the audio's from its AAC AudioSpecificConfig's object type ("mp4a.40.N"). The pipeline only
//!   ever sees AAC: Opus from WebRTC is re-encoded ahead of it (`opus_to_aac`), and the pump passes
//!   the re-encoder's AAC configuration here.
//!
//! Picture size and frame rate are not part of the announcement: they are reported with each
//! video rendition's init segment (`VideoDetails`), from its parser's negotiated caps.

use oxcast_media::{AudioConfig, MediaKind, VideoConfig};

use crate::ladder::PlannedRung;
use crate::output::RenditionInfo;
use crate::pipeline::{AUDIO_RENDITION, VIDEO_RENDITION};
use crate::rung;

/// RFC 6381's bare sample entry, for a decoder record too short to carry a profile and level
/// (the pipeline will then fail on it anyway, and the session restarts at the next keyframe).
const AVC_SAMPLE_ENTRY: &str = "avc1";

/// The renditions of a session of `video` (and `audio`, if any), encoding `rungs` with x264
/// preset `preset`.
pub(crate) fn session_renditions(
    video: &VideoConfig,
    rungs: &[PlannedRung],
    preset: &str,
    audio: Option<&AudioConfig>,
) -> Vec<RenditionInfo> {
    let source = RenditionInfo {
        id: VIDEO_RENDITION.into(),
        kind: MediaKind::Video,
        codecs: video.rfc6381_codec().unwrap_or_else(|| AVC_SAMPLE_ENTRY.into()),
        bitrate: None,
        channels: None,
    };
    let encoded = rungs.iter().map(|r| RenditionInfo {
        id: r.name.clone(),
        kind: MediaKind::Video,
        codecs: rung::codec_string(r, preset),
        bitrate: Some(u64::from(r.bitrate_kbps) * 1000),
        channels: None,
    });
    let audio = audio.map(|a| RenditionInfo {
        id: AUDIO_RENDITION.into(),
        kind: MediaKind::Audio,
        codecs: a.rfc6381_codec(),
        bitrate: None,
        channels: Some(a.channels),
    });
    std::iter::once(source).chain(encoded).chain(audio).collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use oxcast_media::Codec;

    use super::*;
    use crate::Ladder;

    /// A Main profile level 3.1 record (profile, constraint flags, level are bytes 1..4).
    fn main_31() -> VideoConfig {
        VideoConfig { codec: Codec::H264, avcc: Bytes::from_static(&[1, 0x4d, 0x40, 0x1f, 0xff, 0xe0]) }
    }

    fn aac(asc: &'static [u8]) -> AudioConfig {
        AudioConfig::from_aac_asc(Bytes::from_static(asc)).expect("valid asc")
    }

    #[test]
    fn passthrough_announces_the_source_codecs() {
        let renditions = session_renditions(&main_31(), &[], "veryfast", Some(&aac(&[0x11, 0x90])));
        assert_eq!(
            renditions,
            [
                RenditionInfo {
                    id: "video".into(),
                    kind: MediaKind::Video,
                    codecs: "avc1.4d401f".into(),
                    bitrate: None,
                    channels: None
                },
                RenditionInfo {
                    id: "audio".into(),
                    kind: MediaKind::Audio,
                    codecs: "mp4a.40.2".into(),
                    bitrate: None,
                    channels: Some(2)
                },
            ]
        );
        // Other sources, other strings.
        let high = VideoConfig { codec: Codec::H264, avcc: Bytes::from_static(&[1, 0x64, 0x00, 0x28, 0xff]) };
        let he_aac_mono = aac(&[0x2b, 0x88]);
        let renditions = session_renditions(&high, &[], "veryfast", Some(&he_aac_mono));
        assert_eq!(renditions[0].codecs, "avc1.640028");
        assert_eq!((renditions[1].codecs.as_str(), renditions[1].channels), ("mp4a.40.5", Some(1)));
    }

    #[test]
    fn without_audio_there_is_no_audio_rendition() {
        let renditions = session_renditions(&main_31(), &[], "veryfast", None);
        assert_eq!(renditions.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["video"]);
    }

    #[test]
    fn rungs_come_between_source_and_audio_with_their_encoder_codecs() {
        let rungs = Ladder::standard().plan(1920, 1080);
        let renditions = session_renditions(&main_31(), &rungs, "veryfast", Some(&aac(&[0x12, 0x10])));
        let shape: Vec<(&str, MediaKind, &str, Option<u64>)> =
            renditions.iter().map(|r| (r.id.as_str(), r.kind, r.codecs.as_str(), r.bitrate)).collect();
        assert_eq!(
            shape,
            [
                ("video", MediaKind::Video, "avc1.4d401f", None),
                ("720p", MediaKind::Video, "avc1.64001f", Some(2_800_000)),
                ("480p", MediaKind::Video, "avc1.64001f", Some(1_400_000)),
                ("360p", MediaKind::Video, "avc1.64001e", Some(800_000)),
                ("audio", MediaKind::Audio, "mp4a.40.2", None),
            ]
        );
        assert!(renditions[1..4].iter().all(|r| r.channels.is_none()));
        // A slower preset keeps more reference frames, which can take a higher level.
        let slow = session_renditions(&main_31(), &rungs, "veryslow", None);
        assert_eq!(slow[1].codecs, "avc1.640032");
    }

    #[test]
    fn a_truncated_decoder_record_still_names_the_codec() {
        let broken = VideoConfig { codec: Codec::H264, avcc: Bytes::from_static(&[1, 0x64]) };
        assert_eq!(session_renditions(&broken, &[], "veryfast", None)[0].codecs, "avc1");
    }
}
