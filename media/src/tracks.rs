//! Decoder configuration announced by a publisher before (and sometimes between) its frames.

use bytes::Bytes;

use crate::Codec;

/// H.264 decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    pub codec: Codec,
    /// AVCDecoderConfigurationRecord ("avcC" box payload).
    pub avcc: Bytes,
}

impl VideoConfig {
    /// RFC 6381 codec string ("avc1.64001f") read from the record's profile/compat/level bytes.
    pub fn rfc6381_codec(&self) -> Option<String> {
        crate::h264::avc_codec_string(&self.avcc)
    }
}

/// Audio decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    pub codec: Codec,
    /// AAC AudioSpecificConfig; empty for codecs that need none.
    pub specific_config: Bytes,
    pub sample_rate: u32,
    pub channels: u8,
}

impl AudioConfig {
    /// Parses the AAC AudioSpecificConfig's object type, rate and channel fields.
    pub fn from_aac_asc(asc: Bytes) -> Option<Self> {
        const RATES: [u32; 13] =
            [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
        if asc.len() < 2 {
            return None;
        }
        let object_type = asc[0] >> 3;
        let freq_index = ((asc[0] & 0x07) << 1) | (asc[1] >> 7);
        if object_type == 0 || object_type == 31 {
            return None;
        }
        let (sample_rate, channel_bits_at) = if freq_index == 15 {
            if asc.len() < 5 {
                return None;
            }
            let rate = ((u32::from(asc[1]) & 0x7f) << 17)
                | (u32::from(asc[2]) << 9)
                | (u32::from(asc[3]) << 1)
                | (u32::from(asc[4]) >> 7);
            (rate, None)
        } else {
            (*RATES.get(usize::from(freq_index))?, Some(()))
        };
        let channels = match channel_bits_at {
            Some(()) => (asc[1] >> 3) & 0x0f,
            None => (asc[4] >> 3) & 0x0f,
        };
        Some(Self { codec: Codec::Aac, specific_config: asc, sample_rate, channels })
    }

    /// RFC 6381 codec string: for AAC "mp4a.40.N" with N the AudioSpecificConfig's Audio Object
    /// Type (2 for AAC-LC, 5 for HE-AAC), AAC-LC when there is no AudioSpecificConfig.
    pub fn rfc6381_codec(&self) -> String {
        match self.codec {
            Codec::Aac => aac_codec_string(&self.specific_config).unwrap_or_else(|| format!("mp4a.40.{AAC_LC}")),
            Codec::Opus => "opus".to_owned(),
            Codec::H264 => "avc1".to_owned(),
        }
    }
}

/// Audio Object Type of AAC-LC, the profile assumed when an AudioSpecificConfig is missing.
pub const AAC_LC: u8 = 2;

/// The Audio Object Type an AudioSpecificConfig starts with (ISO 14496-3 1.6.2.1): five bits,
/// where 31 escapes to 32 plus the next six bits.
pub fn aac_object_type(asc: &[u8]) -> Option<u8> {
    let first = *asc.first()?;
    match first >> 3 {
        0 => None,
        31 => {
            let second = *asc.get(1)?;
            Some(32 + (((first & 0x07) << 3) | (second >> 5)))
        }
        object_type => Some(object_type),
    }
}

/// RFC 6381 codec string ("mp4a.40.N", N the Audio Object Type) from an AudioSpecificConfig.
pub fn aac_codec_string(asc: &[u8]) -> Option<String> {
    aac_object_type(asc).map(|object_type| format!("mp4a.40.{object_type}"))
}

/// A configuration event on a publish session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackConfig {
    Video(VideoConfig),
    Audio(AudioConfig),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aac_lc_48k_stereo() {
        let asc = AudioConfig::from_aac_asc(Bytes::from_static(&[0x11, 0x90])).expect("valid asc");
        assert_eq!(asc.sample_rate, 48000);
        assert_eq!(asc.channels, 2);
        assert_eq!(asc.rfc6381_codec(), "mp4a.40.2");
    }

    #[test]
    fn rejects_short_or_reserved_asc() {
        assert!(AudioConfig::from_aac_asc(Bytes::from_static(&[0x11])).is_none());
        assert!(AudioConfig::from_aac_asc(Bytes::from_static(&[0x00, 0x00])).is_none());
        assert!(AudioConfig::from_aac_asc(Bytes::from_static(&[0x17, 0x80])).is_none());
    }

    #[test]
    fn aac_codec_string_follows_the_object_type() {
        // AAC-LC 44.1 kHz stereo, HE-AAC (SBR) 24 kHz, HE-AACv2 (PS), and an escaped type (AAC ELD, 39).
        assert_eq!(aac_codec_string(&[0x12, 0x10]).as_deref(), Some("mp4a.40.2"));
        assert_eq!(aac_codec_string(&[0x2b, 0x10]).as_deref(), Some("mp4a.40.5"));
        assert_eq!(aac_codec_string(&[0xeb, 0x10]).as_deref(), Some("mp4a.40.29"));
        assert_eq!(aac_object_type(&[0xf8, 0xe0]), Some(39));
        assert_eq!(aac_object_type(&[0xf8]), None);
        assert_eq!(aac_object_type(&[]), None);
        assert_eq!(aac_object_type(&[0x00, 0x10]), None);
        let he = AudioConfig::from_aac_asc(Bytes::from_static(&[0x2b, 0x10])).expect("valid asc");
        assert_eq!(he.rfc6381_codec(), "mp4a.40.5");
        let empty = AudioConfig { specific_config: Bytes::new(), ..he };
        assert_eq!(empty.rfc6381_codec(), "mp4a.40.2");
    }

    #[test]
    fn avc_codec_string_from_record() {
        let v = VideoConfig { codec: Codec::H264, avcc: Bytes::from_static(&[1, 0x64, 0x00, 0x1f, 0xff]) };
        assert_eq!(v.rfc6381_codec().as_deref(), Some("avc1.64001f"));
    }
}
