//! H.264 in Annex B form (start codes, parameter sets in band) → the canonical AVCC form.
//!
//! RTMP delivers AVCC plus a decoder record; MPEG-TS (SRT) and RTP (WHIP) deliver Annex B with
//! SPS/PPS somewhere in the stream. Both of those adapters go through [`AvcAssembler`], which
//! keeps the newest SPS/PPS, builds an `avcC` record whenever they change, and rewrites each
//! access unit with 4-byte length prefixes, so the pipelines see one shape from every protocol.

use bytes::{BufMut, Bytes, BytesMut};

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// One access unit in AVCC form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvcAccessUnit {
    /// A new `avcC` record, when this unit carried parameter sets that differ from the last ones.
    pub(crate) new_config: Option<Bytes>,
    /// 4-byte length-prefixed NAL units (parameter sets and delimiters removed).
    pub(crate) payload: Bytes,
    /// Contains an IDR slice.
    pub(crate) keyframe: bool,
}

/// Keeps the parameter sets seen so far and converts access units.
#[derive(Debug, Default)]
pub(crate) struct AvcAssembler {
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    /// The record last announced; `None` until both parameter sets have been seen.
    announced: Option<Bytes>,
}

impl AvcAssembler {
    /// Converts one Annex B access unit. Returns `None` for a unit with no slice (only parameter
    /// sets, delimiters or SEI: those are remembered) or before the first SPS and PPS.
    pub(crate) fn push(&mut self, annexb: &[u8]) -> Option<AvcAccessUnit> {
        let mut payload = BytesMut::with_capacity(annexb.len() + 16);
        let mut keyframe = false;
        let mut has_slice = false;
        for nal in nal_units(annexb) {
            let Some(&header) = nal.first() else { continue };
            match header & 0x1f {
                NAL_SPS => self.sps = Some(Bytes::copy_from_slice(nal)),
                NAL_PPS => self.pps = Some(Bytes::copy_from_slice(nal)),
                NAL_AUD => {}
                kind => {
                    if kind == NAL_IDR {
                        keyframe = true;
                    }
                    if (1..=5).contains(&kind) {
                        has_slice = true;
                    }
                    payload.put_u32(nal.len() as u32);
                    payload.put_slice(nal);
                }
            }
        }
        if !has_slice {
            return None;
        }
        // Announced together with the first picture that follows it, so it is never lost.
        let record = decoder_record(self.sps.as_ref()?, self.pps.as_ref()?)?;
        let new_config = (self.announced.as_ref() != Some(&record)).then(|| {
            self.announced = Some(record.clone());
            record
        });
        Some(AvcAccessUnit { new_config, payload: payload.freeze(), keyframe })
    }
}

/// The NAL units of an Annex B byte stream (3- or 4-byte start codes), without start codes and
/// without the trailing zero bytes that precede the next start code.
pub(crate) fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut next = after_start_code(data, 0);
    std::iter::from_fn(move || {
        let start = next?;
        next = after_start_code(data, start);
        let mut end = next.map_or(data.len(), |n| n - 3);
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        Some(&data[start..end])
    })
}

/// The index just after the next `00 00 01` at or after `from`.
fn after_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?.windows(3).position(|w| w == [0, 0, 1]).map(|i| from + i + 3)
}

/// An AVCDecoderConfigurationRecord with one SPS and one PPS (ISO/IEC 14496-15 5.3.3.1).
fn decoder_record(sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    if sps.len() < 4 || sps.len() > usize::from(u16::MAX) || pps.is_empty() || pps.len() > usize::from(u16::MAX) {
        return None;
    }
    let mut record = BytesMut::with_capacity(11 + sps.len() + pps.len());
    record.put_u8(1); // configurationVersion
    record.put_slice(&sps[1..4]); // profile, compatibility, level
    record.put_u8(0xfc | 3); // lengthSizeMinusOne = 3
    record.put_u8(0xe0 | 1); // one SPS
    record.put_u16(sps.len() as u16);
    record.put_slice(sps);
    record.put_u8(1); // one PPS
    record.put_u16(pps.len() as u16);
    record.put_slice(pps);
    Some(record.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    const PPS: &[u8] = &[0x68, 0xeb, 0xe3];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x21];
    const SLICE: &[u8] = &[0x41, 0x9a, 0x02];

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, nal) in nals.iter().enumerate() {
            // Mix 4- and 3-byte start codes, as encoders do.
            out.extend_from_slice(if i == 0 { &[0, 0, 0, 1] } else { &[0, 0, 1] });
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn splits_on_both_start_code_lengths() {
        let data = annexb(&[&[9, 0xf0], SPS, PPS, IDR]);
        let nals: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(nals, vec![&[9u8, 0xf0][..], SPS, PPS, IDR]);
    }

    #[test]
    fn keyframe_with_parameter_sets_announces_a_record() {
        let mut asm = AvcAssembler::default();
        let unit = asm.push(&annexb(&[&[9, 0xf0], SPS, PPS, IDR])).expect("a picture");
        assert!(unit.keyframe);
        let record = unit.new_config.expect("first record");
        assert_eq!(&record[..5], &[1, 0x64, 0x00, 0x1f, 0xff]);
        assert_eq!(oxcast_media::h264::avc_codec_string(&record).as_deref(), Some("avc1.64001f"));
        // Only the IDR remains, length-prefixed.
        assert_eq!(&unit.payload[..], &[0, 0, 0, 4, 0x65, 0x88, 0x84, 0x21]);
    }

    #[test]
    fn repeated_parameter_sets_are_announced_once() {
        let mut asm = AvcAssembler::default();
        assert!(asm.push(&annexb(&[SPS, PPS, IDR])).and_then(|u| u.new_config).is_some());
        let again = asm.push(&annexb(&[SPS, PPS, IDR])).expect("a picture");
        assert!(again.new_config.is_none());
        let delta = asm.push(&annexb(&[SLICE])).expect("a picture");
        assert!(!delta.keyframe);
    }

    #[test]
    fn pictures_before_parameter_sets_are_dropped() {
        let mut asm = AvcAssembler::default();
        assert!(asm.push(&annexb(&[SLICE])).is_none());
        assert!(asm.push(&annexb(&[SPS, PPS])).is_none(), "no picture in this unit");
        let unit = asm.push(&annexb(&[IDR])).expect("a picture");
        assert!(unit.new_config.is_some(), "the record seen without a picture is announced with the next one");
    }

    #[test]
    fn garbage_is_not_a_picture() {
        let mut asm = AvcAssembler::default();
        assert!(asm.push(&[0xff; 64]).is_none());
        assert!(asm.push(&[]).is_none());
        assert!(asm.push(&[0, 0, 1]).is_none());
    }
}
