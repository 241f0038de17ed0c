//! FLV tag bodies (what RTMP audio/video messages carry) to canonical media.
//!
//! Pure functions over bytes: every malformed or unsupported input is a typed [`FlvError`], never
//! a panic. Only H.264 video and AAC audio are accepted; HEVC, AV1, VP9 and Enhanced-RTMP
//! ("ex header") tags are refused by name so the log tells the streamer what to change.

use bytes::Bytes;

/// A parsed video tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// AVCDecoderConfigurationRecord (sequence header).
    Config(Bytes),
    /// One access unit in AVCC form.
    Frame { keyframe: bool, composition_offset_ms: i32, data: Bytes },
    /// End of sequence, or an informational/command frame: nothing to forward.
    Ignore,
}

/// A parsed audio tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    /// AudioSpecificConfig (sequence header).
    Config(Bytes),
    /// One raw AAC access unit.
    Frame(Bytes),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("empty tag body")]
    Empty,
    #[error("tag body truncated")]
    Truncated,
    #[error("unsupported video codec {0} (send H.264)")]
    UnsupportedVideoCodec(&'static str),
    #[error("Enhanced RTMP video ({0}) is not supported (send H.264)")]
    EnhancedVideo(String),
    #[error("unsupported audio codec {0} (send AAC)")]
    UnsupportedAudioCodec(&'static str),
    #[error("H.264 access unit is not valid AVCC (bad NAL length prefixes)")]
    BadAvcc,
}

impl FlvError {
    /// True when the publisher is sending something we refuse on principle (vs. corrupt bytes).
    pub fn is_unsupported_codec(&self) -> bool {
        matches!(
            self,
            FlvError::UnsupportedVideoCodec(_) | FlvError::EnhancedVideo(_) | FlvError::UnsupportedAudioCodec(_)
        )
    }
}

pub fn parse_video(body: &Bytes) -> Result<VideoTag, FlvError> {
    let first = *body.first().ok_or(FlvError::Empty)?;
    if first & 0x80 != 0 {
        let fourcc = body.get(1..5).ok_or(FlvError::Truncated)?;
        return Err(FlvError::EnhancedVideo(String::from_utf8_lossy(fourcc).into_owned()));
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0f;
    match codec_id {
        7 => {}
        2 => return Err(FlvError::UnsupportedVideoCodec("Sorenson H.263")),
        4 | 5 => return Err(FlvError::UnsupportedVideoCodec("VP6")),
        12 => return Err(FlvError::UnsupportedVideoCodec("HEVC")),
        13 => return Err(FlvError::UnsupportedVideoCodec("AV1")),
        _ => return Err(FlvError::UnsupportedVideoCodec("unknown")),
    }
    if frame_type == 5 {
        return Ok(VideoTag::Ignore);
    }
    let header = body.get(1..5).ok_or(FlvError::Truncated)?;
    let packet_type = header[0];
    // SI24 composition time offset.
    let raw = (i32::from(header[1]) << 16) | (i32::from(header[2]) << 8) | i32::from(header[3]);
    let composition_offset_ms = (raw << 8) >> 8;
    let data = body.slice(5..);
    match packet_type {
        0 => {
            if data.len() < 7 || data[0] != 1 {
                return Err(FlvError::Truncated);
            }
            Ok(VideoTag::Config(data))
        }
        1 => {
            if !is_valid_avcc(&data) {
                return Err(FlvError::BadAvcc);
            }
            Ok(VideoTag::Frame { keyframe: frame_type == 1, composition_offset_ms, data })
        }
        _ => Ok(VideoTag::Ignore),
    }
}

pub fn parse_audio(body: &Bytes) -> Result<AudioTag, FlvError> {
    let first = *body.first().ok_or(FlvError::Empty)?;
    match first >> 4 {
        10 => {}
        2 | 14 => return Err(FlvError::UnsupportedAudioCodec("MP3")),
        9 => return Err(FlvError::UnsupportedAudioCodec("Enhanced RTMP audio")),
        11 => return Err(FlvError::UnsupportedAudioCodec("Speex")),
        0 | 3 => return Err(FlvError::UnsupportedAudioCodec("PCM")),
        _ => return Err(FlvError::UnsupportedAudioCodec("unknown")),
    }
    let packet_type = *body.get(1).ok_or(FlvError::Truncated)?;
    let data = body.slice(2..);
    match packet_type {
        0 if data.len() >= 2 => Ok(AudioTag::Config(data)),
        0 => Err(FlvError::Truncated),
        _ if data.is_empty() => Err(FlvError::Truncated),
        _ => Ok(AudioTag::Frame(data)),
    }
}

/// True when 4-byte big-endian NAL length prefixes tile `data` exactly and no NAL is empty.
fn is_valid_avcc(mut data: &[u8]) -> bool {
    if data.is_empty() {
        return false;
    }
    while !data.is_empty() {
        let Some(prefix) = data.get(..4) else {
            return false;
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len == 0 || data.len() - 4 < len {
            return false;
        }
        data = &data[4 + len..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[u8]) -> Bytes {
        Bytes::copy_from_slice(v)
    }

    #[test]
    fn avc_sequence_header_and_frames() {
        let config = b(&[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0]);
        assert!(matches!(parse_video(&config), Ok(VideoTag::Config(c)) if c[1] == 0x64));
        let key = b(&[0x17, 1, 0, 0, 0x42, 0, 0, 0, 2, 0x65, 0x88]);
        assert_eq!(
            parse_video(&key),
            Ok(VideoTag::Frame { keyframe: true, composition_offset_ms: 0x42, data: b(&[0, 0, 0, 2, 0x65, 0x88]) })
        );
        let inter_negative_cts = b(&[0x27, 1, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x41]);
        assert!(matches!(
            parse_video(&inter_negative_cts),
            Ok(VideoTag::Frame { keyframe: false, composition_offset_ms: -2, .. })
        ));
    }

    #[test]
    fn refuses_other_video_codecs_by_name() {
        assert_eq!(parse_video(&b(&[0x1c, 1, 0, 0, 0])), Err(FlvError::UnsupportedVideoCodec("HEVC")));
        let enhanced = b(&[0x90, b'h', b'v', b'c', b'1', 0]);
        assert_eq!(parse_video(&enhanced), Err(FlvError::EnhancedVideo("hvc1".into())));
        assert!(parse_video(&enhanced).err().is_some_and(|e| e.is_unsupported_codec()));
        assert_eq!(parse_video(&b(&[0x90, b'a'])), Err(FlvError::Truncated));
    }

    #[test]
    fn rejects_truncated_and_corrupt_video() {
        assert_eq!(parse_video(&Bytes::new()), Err(FlvError::Empty));
        assert_eq!(parse_video(&b(&[0x17, 1])), Err(FlvError::Truncated));
        // Length prefix claims 9 bytes, only 1 present.
        assert_eq!(parse_video(&b(&[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65])), Err(FlvError::BadAvcc));
        assert_eq!(parse_video(&b(&[0x17, 1, 0, 0, 0])), Err(FlvError::BadAvcc));
        assert_eq!(parse_video(&b(&[0x17, 1, 0, 0, 0, 0, 0])), Err(FlvError::BadAvcc));
    }

    #[test]
    fn aac_config_and_frames_other_audio_refused() {
        assert_eq!(parse_audio(&b(&[0xaf, 0, 0x11, 0x90])), Ok(AudioTag::Config(b(&[0x11, 0x90]))));
        assert_eq!(parse_audio(&b(&[0xaf, 1, 0x21, 0x10])), Ok(AudioTag::Frame(b(&[0x21, 0x10]))));
        assert_eq!(parse_audio(&b(&[0x2f, 1, 0])), Err(FlvError::UnsupportedAudioCodec("MP3")));
        assert_eq!(parse_audio(&b(&[0xaf])), Err(FlvError::Truncated));
        assert_eq!(parse_audio(&b(&[0xaf, 1])), Err(FlvError::Truncated));
    }
}
