//! Just enough H.264 bitstream parsing to learn a stream's picture size from its SPS.
//!
//! Every ingest protocol delivers the SPS (in the AVC decoder record), but not all of them say the
//! picture size elsewhere; the ladder must know it before the first frame is decoded.

/// `profile_idc` of the High profile (ISO 14496-10 A.2.4).
pub const PROFILE_HIGH: u8 = 100;

/// RFC 6381 codec string ("avc1.64001f") from an AVCDecoderConfigurationRecord's profile,
/// compatibility and level bytes.
pub fn avc_codec_string(avcc: &[u8]) -> Option<String> {
    let b = avcc.get(1..4)?;
    Some(avc1_codec(b[0], b[1], b[2]))
}

/// RFC 6381 codec string for `avc1` from the SPS's `profile_idc`, constraint flags byte and
/// `level_idc` (the same three bytes an AVCDecoderConfigurationRecord repeats).
pub fn avc1_codec(profile_idc: u8, constraint_flags: u8, level_idc: u8) -> String {
    format!("avc1.{profile_idc:02x}{constraint_flags:02x}{level_idc:02x}")
}

/// Coded picture size after cropping, from an AVCDecoderConfigurationRecord's first SPS.
pub fn avcc_dimensions(avcc: &[u8]) -> Option<(u32, u32)> {
    // version, profile, compat, level, lengthSizeMinusOne, numOfSPS, then u16 length + SPS.
    if avcc.first() != Some(&1) || avcc.get(5)? & 0x1f == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*avcc.get(6)?, *avcc.get(7)?]));
    sps_dimensions(avcc.get(8..8 + len)?)
}

/// Picture size from a sequence parameter set NAL unit (with its one-byte header).
pub fn sps_dimensions(nal: &[u8]) -> Option<(u32, u32)> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape(nal.get(1..)?);
    let mut r = BitReader { data: &rbsp, pos: 0 };
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bits(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bits(1)? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bits(1)?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bits(1)?;
    if frame_mbs_only == 0 {
        r.bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bits(1)? == 1 {
        (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
    }
    let (sub_width, sub_height) = match chroma_format_idc {
        0 => (1, 1),
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = sub_width;
    let crop_y = sub_height * (2 - frame_mbs_only);
    let width = (width_mbs * 16).checked_sub((left + right) * crop_x)?;
    let height = ((2 - frame_mbs_only) * height_map_units * 16).checked_sub((top + bottom) * crop_y)?;
    (width > 0 && height > 0).then_some((width, height))
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        last = if next == 0 { last } else { next };
    }
    Some(())
}

/// Removes emulation-prevention bytes (00 00 03 → 00 00).
fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    /// Exp-Golomb unsigned.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Exp-Golomb signed.
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0)).collect()
    }

    #[test]
    fn x264_sps_sizes_including_cropping_and_444() {
        // SPS written by libx264 for these sizes (1080 needs cropping from 1088).
        let cases = [
            ("67640028acd940780227e5c044000003000400000300f03c60c658", (1920, 1080)),
            ("6764001facd9405005bb0110000003001000000303c0f1831960", (1280, 720)),
            ("6764001facd940d83de6f0110000030001000003003c0f183196", (854, 480)),
            ("67f4001f919b280a00b76022000003000200000300641e30632c", (1280, 720)),
        ];
        for (sps, size) in cases {
            assert_eq!(sps_dimensions(&hex(sps)), Some(size), "{sps}");
        }
    }

    #[test]
    fn avc1_codec_strings_are_hex_of_profile_flags_level() {
        assert_eq!(avc1_codec(PROFILE_HIGH, 0, 31), "avc1.64001f");
        assert_eq!(avc1_codec(77, 0x40, 30), "avc1.4d401e");
        assert_eq!(avc1_codec(66, 0xc0, 9), "avc1.42c009");
        let sps = hex("67640028acd940780227e5c044000003000400000300f03c60c658");
        let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1, 0, sps.len() as u8];
        avcc.extend(&sps);
        assert_eq!(avc_codec_string(&avcc).as_deref(), Some("avc1.640028"));
        assert_eq!(avc_codec_string(&avcc[..3]), None);
    }

    #[test]
    fn avcc_wrapper_and_garbage() {
        let sps = hex("6764001facd9405005bb0110000003001000000303c0f1831960");
        let mut avcc = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, sps.len() as u8];
        avcc.extend(&sps);
        assert_eq!(avcc_dimensions(&avcc), Some((1280, 720)));
        assert_eq!(avcc_dimensions(&avcc[..10]), None);
        assert_eq!(avcc_dimensions(&[]), None);
        assert_eq!(sps_dimensions(&[0x68, 1, 2]), None);
        assert_eq!(sps_dimensions(&[0x67, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
