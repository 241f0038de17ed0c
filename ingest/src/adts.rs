//! AAC in ADTS framing (what MPEG-TS carries): the header that precedes each raw AAC frame.

/// What one ADTS header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdtsHeader {
    /// Two-byte AudioSpecificConfig built from the header (object type, rate index, channels).
    pub(crate) specific_config: [u8; 2],
    pub(crate) sample_rate: u32,
    /// Bytes of header (7, or 9 with a CRC).
    pub(crate) header_length: usize,
    /// Bytes of header plus raw frame.
    pub(crate) frame_length: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AdtsError {
    #[error("need more bytes")]
    Incomplete,
    #[error("no ADTS sync word")]
    NoSync,
    #[error("invalid ADTS header: {0}")]
    Invalid(&'static str),
}

const RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// Reads the header at the start of `h`. `Incomplete` when fewer than 7 bytes are there.
pub(crate) fn parse_header(h: &[u8]) -> Result<AdtsHeader, AdtsError> {
    if h.len() >= 2 && (h[0] != 0xff || h[1] & 0xf0 != 0xf0) {
        return Err(AdtsError::NoSync);
    }
    if h.len() < 7 {
        return Err(AdtsError::Incomplete);
    }
    let protection_absent = h[1] & 1 == 1;
    let object_type = (h[2] >> 6) + 1;
    let rate_index = (h[2] >> 2) & 0x0f;
    let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
    let frame_length = (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    let raw_blocks = h[6] & 0x03;
    let header_length = if protection_absent { 7 } else { 9 };
    let sample_rate = *RATES.get(usize::from(rate_index)).ok_or(AdtsError::Invalid("sampling frequency index"))?;
    if channels == 0 {
        // The layout would be in a program config element: not something live encoders send.
        return Err(AdtsError::Invalid("channel configuration 0"));
    }
    if raw_blocks != 0 {
        return Err(AdtsError::Invalid("more than one raw data block per frame"));
    }
    if frame_length <= header_length {
        return Err(AdtsError::Invalid("frame length not longer than its header"));
    }
    let asc = (u16::from(object_type) << 11) | (u16::from(rate_index) << 7) | (u16::from(channels) << 3);
    Ok(AdtsHeader { specific_config: asc.to_be_bytes(), sample_rate, header_length, frame_length })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ADTS frame for AAC-LC 48 kHz stereo around `payload`.
    pub(crate) fn adts(payload: &[u8]) -> Vec<u8> {
        let len = payload.len() + 7;
        let mut out = vec![
            0xff,
            0xf1,
            (1 << 6) | (3 << 2), // LC, 48 kHz
            (2 << 6) | ((len >> 11) as u8 & 0x03),
            (len >> 3) as u8,
            (((len & 7) as u8) << 5) | 0x1f,
            0xfc,
        ];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_lc_48k_stereo() {
        let h = parse_header(&adts(&[1, 2, 3])).expect("valid");
        assert_eq!(h.specific_config, [0x11, 0x90], "AAC-LC, 48 kHz, stereo");
        assert_eq!((h.sample_rate, h.header_length, h.frame_length), (48000, 7, 10));
    }

    #[test]
    fn tells_incomplete_from_garbage() {
        assert_eq!(parse_header(&[0xff, 0xf1, 0x4c]), Err(AdtsError::Incomplete));
        assert_eq!(parse_header(&[0x00, 0x11, 0x22, 0, 0, 0, 0]), Err(AdtsError::NoSync));
        let mut bad_rate = adts(&[1]);
        bad_rate[2] |= 0x0f << 2;
        assert!(matches!(parse_header(&bad_rate), Err(AdtsError::Invalid(_))));
    }
}
