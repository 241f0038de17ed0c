//! RTP packets as the WHIP session sees them, and their reordering.
//!
//! WebRTC runs over UDP: packets arrive late, twice or out of order, and the NACK interceptor
//! asks for lost ones again. [`Reorder`] hands packets on in sequence order, waits a bounded
//! time for a missing one, and then reports the gap so the depacketizer can drop the damaged
//! frame. Only a gap costs waiting: in-order packets pass straight through.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The fields of an RTP packet the depacketizers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RtpPacket {
    pub(crate) sequence: u16,
    pub(crate) timestamp: u32,
    pub(crate) marker: bool,
    pub(crate) payload: Bytes,
}

/// What comes out of the reorder buffer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ordered {
    Packet(RtpPacket),
    /// This many packets were given up on before the next one.
    Lost(u64),
}

#[derive(Debug)]
pub(crate) struct Reorder {
    /// Extended sequence number expected next.
    next: Option<u64>,
    last_extended: Option<u64>,
    held: BTreeMap<u64, (Instant, RtpPacket)>,
    max_wait: Duration,
    max_held: usize,
}

impl Reorder {
    pub(crate) fn new(max_wait: Duration, max_held: usize) -> Self {
        Self { next: None, last_extended: None, held: BTreeMap::new(), max_wait, max_held }
    }

    /// 16-bit sequence number → monotonic 64-bit one (nearest to the last seen).
    fn extend(&mut self, sequence: u16) -> u64 {
        let extended = match self.last_extended {
            None => u64::from(sequence) + (1 << 16), // headroom for packets from just before the first
            Some(last) => {
                let delta = i64::from(sequence.wrapping_sub(last as u16) as i16);
                last.saturating_add_signed(delta)
            }
        };
        if self.last_extended.is_none_or(|last| extended > last) {
            self.last_extended = Some(extended);
        }
        extended
    }

    pub(crate) fn push(&mut self, packet: RtpPacket, now: Instant, out: &mut Vec<Ordered>) {
        let extended = self.extend(packet.sequence);
        let next = *self.next.get_or_insert(extended);
        if extended < next {
            return; // late (already skipped) or a duplicate
        }
        self.held.entry(extended).or_insert((now, packet));
        self.release(now, out);
    }

    /// Gives up on gaps that waited too long; call this periodically while packets are held.
    pub(crate) fn release(&mut self, now: Instant, out: &mut Vec<Ordered>) {
        loop {
            let Some(next) = self.next else { return };
            if let Some((_, packet)) = self.held.remove(&next) {
                out.push(Ordered::Packet(packet));
                self.next = Some(next + 1);
                continue;
            }
            let Some((&first, (arrived, _))) = self.held.first_key_value() else { return };
            if self.held.len() > self.max_held || now.duration_since(*arrived) >= self.max_wait {
                out.push(Ordered::Lost(first - next));
                self.next = Some(first);
                continue;
            }
            return;
        }
    }

    /// Whether a gap is being waited on (the caller should then call `release` on a timer).
    pub(crate) fn is_waiting(&self) -> bool {
        !self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(sequence: u16) -> RtpPacket {
        RtpPacket { sequence, timestamp: 0, marker: false, payload: Bytes::new() }
    }

    fn seqs(out: &[Ordered]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Ordered::Packet(p) => p.sequence.to_string(),
                Ordered::Lost(n) => format!("lost{n}"),
            })
            .collect()
    }

    #[test]
    fn in_order_passes_through_and_swaps_are_fixed() {
        let mut r = Reorder::new(Duration::from_millis(50), 64);
        let now = Instant::now();
        let mut out = Vec::new();
        for s in [65534, 65535, 1, 0, 2, 2, 1] {
            r.push(pkt(s), now, &mut out);
        }
        assert_eq!(seqs(&out), ["65534", "65535", "0", "1", "2"], "wrap, swap, duplicates");
        assert!(!r.is_waiting());
    }

    #[test]
    fn a_gap_is_waited_for_then_reported() {
        let mut r = Reorder::new(Duration::from_millis(50), 64);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.push(pkt(10), t0, &mut out);
        r.push(pkt(13), t0, &mut out);
        r.push(pkt(14), t0, &mut out);
        assert_eq!(seqs(&out), ["10"]);
        assert!(r.is_waiting());
        r.push(pkt(11), t0 + Duration::from_millis(20), &mut out);
        assert_eq!(seqs(&out), ["10", "11"], "a retransmission fills part of the gap");
        r.release(t0 + Duration::from_millis(60), &mut out);
        assert_eq!(seqs(&out), ["10", "11", "lost1", "13", "14"]);
        r.push(pkt(12), t0 + Duration::from_millis(70), &mut out);
        assert_eq!(out.len(), 5, "too late: dropped");
    }

    #[test]
    fn too_many_held_packets_skip_the_gap_at_once() {
        let mut r = Reorder::new(Duration::from_secs(10), 3);
        let now = Instant::now();
        let mut out = Vec::new();
        for s in [0, 5, 6, 7, 8] {
            r.push(pkt(s), now, &mut out);
        }
        assert_eq!(seqs(&out), ["0", "lost4", "5", "6", "7", "8"]);
    }
}
