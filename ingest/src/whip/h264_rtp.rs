//! H.264 over RTP (RFC 6184) → Annex B access units.
//!
//! Handles single NAL unit packets, STAP-A aggregates and FU-A fragments (what browsers and OBS
//! send in packetization-mode 1). An access unit is all NAL units with one RTP timestamp; it is
//! complete at the marker bit (or, if the marker was lost, when the timestamp changes). A gap
//! reported by the reorder buffer poisons the unit being assembled: it is dropped, never passed
//! on half-decodable.

use bytes::Bytes;

use super::rtp::RtpPacket;

const START_CODE: [u8; 4] = [0, 0, 0, 1];
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// A complete access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnnexBUnit {
    pub(crate) rtp_timestamp: u32,
    pub(crate) data: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct H264Depacketizer {
    timestamp: Option<u32>,
    unit: Vec<u8>,
    /// A fragmented NAL unit being collected.
    fragment: Option<Vec<u8>>,
    damaged: bool,
    /// Packets this depacketizer could not use (unsupported or malformed).
    pub(crate) malformed: u64,
}

impl H264Depacketizer {
    /// Packets were lost before the next one: the unit in progress cannot be trusted.
    pub(crate) fn lost(&mut self) {
        self.damaged = true;
        self.fragment = None;
    }

    /// Adds one in-order packet; appends any completed unit to `out`. Returns whether a unit was
    /// dropped as damaged (so the caller can ask for a keyframe).
    pub(crate) fn push(&mut self, packet: &RtpPacket, out: &mut Vec<AnnexBUnit>) -> bool {
        let mut dropped = false;
        if self.timestamp.is_some_and(|t| t != packet.timestamp) {
            // The marker of the previous unit was lost with its last packet.
            dropped |= self.finish(out);
        }
        self.timestamp = Some(packet.timestamp);
        if self.depacketize(&packet.payload).is_err() {
            self.malformed += 1;
            self.damaged = true;
        }
        if packet.marker {
            dropped |= self.finish(out);
        }
        dropped
    }

    fn finish(&mut self, out: &mut Vec<AnnexBUnit>) -> bool {
        let data = std::mem::take(&mut self.unit);
        let timestamp = self.timestamp.take();
        let damaged = std::mem::replace(&mut self.damaged, false) || self.fragment.take().is_some();
        match timestamp {
            Some(rtp_timestamp) if !damaged && !data.is_empty() => {
                out.push(AnnexBUnit { rtp_timestamp, data });
                false
            }
            _ => damaged,
        }
    }

    fn nal(&mut self, nal: &[u8]) {
        self.unit.extend_from_slice(&START_CODE);
        self.unit.extend_from_slice(nal);
    }

    fn depacketize(&mut self, payload: &Bytes) -> Result<(), ()> {
        let (&indicator, rest) = payload.split_first().ok_or(())?;
        match indicator & 0x1f {
            1..=23 => {
                if self.fragment.is_some() {
                    return Err(()); // a fragment's end never came
                }
                self.nal(payload);
            }
            STAP_A => {
                let mut rest = rest;
                while !rest.is_empty() {
                    if rest.len() < 2 {
                        return Err(());
                    }
                    let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                    if size == 0 || rest.len() < 2 + size {
                        return Err(());
                    }
                    self.nal(&rest[2..2 + size]);
                    rest = &rest[2 + size..];
                }
            }
            FU_A => {
                let (&header, data) = rest.split_first().ok_or(())?;
                let (start, end) = (header & 0x80 != 0, header & 0x40 != 0);
                if start {
                    if self.fragment.is_some() {
                        self.fragment = None;
                        return Err(());
                    }
                    let mut nal = Vec::with_capacity(data.len() * 8);
                    nal.push((indicator & 0xe0) | (header & 0x1f));
                    self.fragment = Some(nal);
                }
                let fragment = self.fragment.as_mut().ok_or(())?;
                fragment.extend_from_slice(data);
                if end {
                    let nal = self.fragment.take().unwrap_or_default();
                    self.nal(&nal);
                }
            }
            _ => return Err(()), // STAP-B, MTAP, FU-B: not used in packetization-mode 1
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
        RtpPacket { sequence: 0, timestamp, marker, payload: Bytes::copy_from_slice(payload) }
    }

    #[test]
    fn stap_a_and_fu_a_make_one_access_unit() {
        let mut d = H264Depacketizer::default();
        let mut out = Vec::new();
        // SPS + PPS aggregated, then an IDR split in three fragments.
        d.push(&pkt(90, false, &[24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce]), &mut out);
        d.push(&pkt(90, false, &[0x7c, 0x85, 0xaa]), &mut out);
        d.push(&pkt(90, false, &[0x7c, 0x05, 0xbb]), &mut out);
        assert!(out.is_empty());
        d.push(&pkt(90, true, &[0x7c, 0x45, 0xcc]), &mut out);
        let expected: Vec<u8> =
            [&[0, 0, 0, 1, 0x67, 0x42][..], &[0, 0, 0, 1, 0x68, 0xce], &[0, 0, 0, 1, 0x65, 0xaa, 0xbb, 0xcc]].concat();
        assert_eq!(out, vec![AnnexBUnit { rtp_timestamp: 90, data: expected }]);
    }

    #[test]
    fn a_lost_marker_is_recovered_from_the_timestamp_change() {
        let mut d = H264Depacketizer::default();
        let mut out = Vec::new();
        d.push(&pkt(0, false, &[0x41, 1]), &mut out);
        d.push(&pkt(3000, true, &[0x41, 2]), &mut out);
        assert_eq!(out.iter().map(|u| u.rtp_timestamp).collect::<Vec<_>>(), [0, 3000]);
    }

    #[test]
    fn damaged_units_are_dropped_and_reported() {
        let mut d = H264Depacketizer::default();
        let mut out = Vec::new();
        d.push(&pkt(0, false, &[0x7c, 0x85, 0xaa]), &mut out);
        d.lost();
        assert!(d.push(&pkt(0, true, &[0x7c, 0x45, 0xcc]), &mut out), "reported");
        assert!(out.is_empty());
        // Garbage: an FU-A end without a start, a truncated STAP-A, an FU-B, an empty payload.
        for bad in [&[0x7c, 0x45, 1][..], &[24, 0, 9, 0x67], &[29, 0x85, 1], &[]] {
            assert!(d.push(&pkt(1, true, bad), &mut out));
        }
        assert!(out.is_empty());
        assert_eq!(d.malformed, 5, "the orphaned fragment end, then the four");
        d.push(&pkt(2, true, &[0x65, 7]), &mut out);
        assert_eq!(out.len(), 1, "the next clean unit comes through");
    }
}
