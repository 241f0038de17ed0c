//! MPEG-TS (what SRT carries) → the canonical configs and frames.
//!
//! Layers, bottom up: [`TsFramer`] finds 188-byte packets in arbitrary chunks (resyncing on
//! garbage); `mpeg2ts-reader` follows PAT/PMT and reassembles PES packets per PID; the
//! collectors below turn PES into H.264 access units (emitted when the next one starts, since
//! encoders leave video PES lengths open) and AAC frames (emitted as soon as each ADTS frame is
//! complete, not when the PES ends: encoders pack several frames per PES); [`TsDemuxer`] then
//! converts those to AVCC/raw AAC with unwrapped timestamps.
//!
//! Nothing in here trusts the input: malformed packets are dropped and counted, a parser panic
//! resets the demuxer, and only a stream that never looks like MPEG-TS, or carries a codec the
//! pipelines cannot take, is an error.

use std::panic::AssertUnwindSafe;
use std::time::SystemTime;

use bytes::Bytes;
use mpeg2ts_reader::demultiplex::{self, DemuxContext, FilterChangeset, FilterRequest};
use mpeg2ts_reader::{StreamType, packet_filter_switch, pes, psi};
use oxcast_media::{AudioConfig, Codec, Frame, HubEvent, Timestamp, TrackConfig, VideoConfig};

use crate::adts::{self, AdtsError, AdtsHeader};
use crate::annexb::AvcAssembler;
use crate::timestamps::{Unwrapper33, delta_33};

const PACKET: usize = 188;
const SYNC: u8 = 0x47;
/// Input discarded without finding a packet: beyond this it is not MPEG-TS (any more).
const MAX_GARBAGE_RUN: usize = 64 * 1024;
/// Largest access unit accepted (a 4K keyframe at a high bitrate stays well below this).
const MAX_ACCESS_UNIT: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("not an MPEG-TS stream (no packet sync in {0} bytes)")]
    NotTransportStream(usize),
    #[error("unsupported {0} stream: send H.264 video and AAC audio")]
    UnsupportedCodec(String),
}

/// Demuxer counters, for logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TsStats {
    pub packets: u64,
    /// Bytes skipped while looking for packet sync.
    pub garbage_bytes: u64,
    /// Continuity-counter gaps (lost or corrupt packets).
    pub discontinuities: u64,
    /// Access units or audio frames dropped as malformed.
    pub dropped_units: u64,
}

/// Collects whole TS packets out of arbitrarily cut input.
///
/// Unlocked, it looks for three sync bytes 188 bytes apart (a lone 0x47 in noise is common);
/// locked, it takes each packet whose first byte is the sync byte without looking ahead (so the
/// newest packet is never held back), and drops the lock at the first one that is not.
#[derive(Debug, Default)]
struct TsFramer {
    pending: Vec<u8>,
    locked: bool,
    /// Bytes skipped since the last packet was taken.
    garbage_run: usize,
}

impl TsFramer {
    /// Appends `data` and returns the bytes of whole packets (a multiple of 188), dropping
    /// garbage in front of them (counted in `garbage`).
    fn push(&mut self, data: &[u8], garbage: &mut u64) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let buf = &self.pending;
        let mut out = Vec::with_capacity(buf.len());
        let mut at = 0;
        loop {
            if self.locked {
                if at + PACKET > buf.len() {
                    break;
                }
                if buf[at] == SYNC {
                    out.extend_from_slice(&buf[at..at + PACKET]);
                    at += PACKET;
                    self.garbage_run = 0;
                    continue;
                }
                self.locked = false;
            }
            if at + 3 * PACKET > buf.len() {
                break;
            }
            if buf[at] == SYNC && buf[at + PACKET] == SYNC && buf[at + 2 * PACKET] == SYNC {
                self.locked = true;
                continue;
            }
            at += 1;
            *garbage += 1;
            self.garbage_run += 1;
        }
        self.pending.drain(..at);
        out
    }
}

/// What the collectors hand up, in stream order.
enum EsEvent {
    Video {
        pts: u64,
        dts: u64,
        data: Vec<u8>,
    },
    /// One ADTS frame, `index` frames after the PES's timestamp.
    Audio {
        pes_pts: u64,
        index: u32,
        header: AdtsHeader,
        payload: Bytes,
    },
    /// Packets of this track were lost: its current unit was dropped.
    Lost {
        video: bool,
    },
    Dropped,
}

packet_filter_switch! {
    TsFilter<TsContext> {
        Video: pes::PesPacketFilter<TsContext, VideoCollector>,
        Audio: pes::PesPacketFilter<TsContext, AudioCollector>,
        Pat: demultiplex::PatPacketFilter<TsContext>,
        Pmt: demultiplex::PmtPacketFilter<TsContext>,
        Null: demultiplex::NullPacketFilter<TsContext>,
    }
}

/// `pub` only because the filter enum the macro generates is; the module is private.
pub struct TsContext {
    changeset: FilterChangeset<TsFilter>,
    events: Vec<EsEvent>,
    unsupported: Option<String>,
    has_video: bool,
    has_audio: bool,
}

impl TsContext {
    fn new() -> Self {
        Self {
            changeset: FilterChangeset::default(),
            events: Vec::new(),
            unsupported: None,
            has_video: false,
            has_audio: false,
        }
    }
}

impl DemuxContext for TsContext {
    type F = TsFilter;

    fn filter_changeset(&mut self) -> &mut FilterChangeset<TsFilter> {
        &mut self.changeset
    }

    fn construct(&mut self, request: FilterRequest<'_, '_>) -> TsFilter {
        match request {
            FilterRequest::ByPid(psi::pat::PAT_PID) => TsFilter::Pat(demultiplex::PatPacketFilter::default()),
            FilterRequest::ByPid(_) | FilterRequest::Nit { .. } => {
                TsFilter::Null(demultiplex::NullPacketFilter::default())
            }
            FilterRequest::Pmt { pid, program_number } => {
                TsFilter::Pmt(demultiplex::PmtPacketFilter::new(pid, program_number))
            }
            // One track of each kind: the first one the PMT lists.
            FilterRequest::ByStream { stream_type: StreamType::H264, .. } if !self.has_video => {
                self.has_video = true;
                TsFilter::Video(pes::PesPacketFilter::new(VideoCollector::default()))
            }
            FilterRequest::ByStream { stream_type: StreamType::ADTS, .. } if !self.has_audio => {
                self.has_audio = true;
                TsFilter::Audio(pes::PesPacketFilter::new(AudioCollector::default()))
            }
            FilterRequest::ByStream { stream_type, .. } => {
                if let Some((name, video)) = unsupported_media(stream_type) {
                    let covered = if video { self.has_video } else { self.has_audio };
                    if !covered && self.unsupported.is_none() {
                        self.unsupported = Some(name.to_owned());
                    }
                }
                TsFilter::Null(demultiplex::NullPacketFilter::default())
            }
        }
    }
}

/// Audio and video types a publisher might send instead of H.264/AAC, and whether each is
/// video. A track of one of these is refused unless a usable track of its kind came first; data
/// and subtitle streams are ignored.
fn unsupported_media(t: StreamType) -> Option<(&'static str, bool)> {
    Some(match t {
        StreamType::H265 => ("HEVC video", true),
        StreamType::H262 => ("MPEG-2 video", true),
        StreamType::ISO_11172_VIDEO => ("MPEG-1 video", true),
        StreamType::ISO_14496_2_VISUAL => ("MPEG-4 Part 2 video", true),
        StreamType::ISO_11172_AUDIO | StreamType::ISO_138183_AUDIO => ("MPEG audio (MP2/MP3)", false),
        StreamType::LATM => ("AAC-LATM audio", false),
        StreamType::ATSC_DOLBY_DIGITAL_AUDIO => ("AC-3 audio", false),
        _ => return None,
    })
}

fn timestamps(header: &pes::PesHeader<'_>) -> (Option<(u64, u64)>, Vec<u8>) {
    match header.contents() {
        pes::PesContents::Parsed(Some(parsed)) => {
            let times = match parsed.pts_dts() {
                Ok(pes::PtsDts::PtsOnly(Ok(pts))) => Some((pts.value(), pts.value())),
                Ok(pes::PtsDts::Both { pts: Ok(pts), dts: Ok(dts) }) => Some((pts.value(), dts.value())),
                _ => None,
            };
            (times, parsed.payload().to_vec())
        }
        pes::PesContents::Parsed(None) => (None, Vec::new()),
        pes::PesContents::Payload(payload) => (None, payload.to_vec()),
    }
}

#[derive(Default)]
pub struct VideoCollector {
    /// (pts, dts) of the unit being collected, and its bytes.
    current: Option<((u64, u64), Vec<u8>)>,
}

impl pes::ElementaryStreamConsumer<TsContext> for VideoCollector {
    fn start_stream(&mut self, _ctx: &mut TsContext) {}

    fn begin_packet(&mut self, ctx: &mut TsContext, header: pes::PesHeader<'_>) {
        let (times, data) = timestamps(&header);
        match times {
            Some(times) => self.current = Some((times, data)),
            None => {
                // A video PES without a timestamp cannot be placed on the timeline.
                self.current = None;
                ctx.events.push(EsEvent::Dropped);
            }
        }
    }

    fn continue_packet(&mut self, ctx: &mut TsContext, data: &[u8]) {
        if let Some((_, buf)) = &mut self.current {
            if buf.len() + data.len() > MAX_ACCESS_UNIT {
                self.current = None;
                ctx.events.push(EsEvent::Dropped);
            } else {
                buf.extend_from_slice(data);
            }
        }
    }

    fn end_packet(&mut self, ctx: &mut TsContext) {
        if let Some(((pts, dts), data)) = self.current.take() {
            ctx.events.push(EsEvent::Video { pts, dts, data });
        }
    }

    fn continuity_error(&mut self, ctx: &mut TsContext) {
        self.current = None;
        ctx.events.push(EsEvent::Lost { video: true });
    }
}

#[derive(Default)]
pub struct AudioCollector {
    pes_pts: Option<u64>,
    index: u32,
    buf: Vec<u8>,
}

impl AudioCollector {
    /// Emits every complete ADTS frame at the front of the buffer.
    fn drain_frames(&mut self, ctx: &mut TsContext) {
        let Some(pes_pts) = self.pes_pts else {
            self.buf.clear();
            return;
        };
        let mut at = 0;
        loop {
            match adts::parse_header(&self.buf[at..]) {
                Ok(header) if self.buf.len() - at >= header.frame_length => {
                    let payload =
                        Bytes::copy_from_slice(&self.buf[at + header.header_length..at + header.frame_length]);
                    ctx.events.push(EsEvent::Audio { pes_pts, index: self.index, header, payload });
                    self.index += 1;
                    at += header.frame_length;
                }
                Ok(_) | Err(AdtsError::Incomplete) => break,
                Err(AdtsError::NoSync | AdtsError::Invalid(_)) => {
                    // The rest of this PES is unusable; the next one starts clean.
                    ctx.events.push(EsEvent::Dropped);
                    self.pes_pts = None;
                    at = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..at);
        if self.buf.len() > MAX_ACCESS_UNIT {
            self.buf.clear();
        }
    }
}

impl pes::ElementaryStreamConsumer<TsContext> for AudioCollector {
    fn start_stream(&mut self, _ctx: &mut TsContext) {}

    fn begin_packet(&mut self, ctx: &mut TsContext, header: pes::PesHeader<'_>) {
        let (times, data) = timestamps(&header);
        self.buf.clear();
        self.index = 0;
        self.pes_pts = times.map(|(pts, _)| pts);
        if self.pes_pts.is_none() {
            ctx.events.push(EsEvent::Dropped);
        }
        self.buf = data;
        self.drain_frames(ctx);
    }

    fn continue_packet(&mut self, ctx: &mut TsContext, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.drain_frames(ctx);
    }

    fn end_packet(&mut self, ctx: &mut TsContext) {
        if !self.buf.is_empty() && self.pes_pts.is_some() {
            ctx.events.push(EsEvent::Dropped); // a truncated last frame
        }
        self.buf.clear();
    }

    fn continuity_error(&mut self, ctx: &mut TsContext) {
        self.buf.clear();
        self.pes_pts = None;
        ctx.events.push(EsEvent::Lost { video: false });
    }
}

/// MPEG-TS bytes in, hub events out. One per publish session.
pub struct TsDemuxer {
    framer: TsFramer,
    context: TsContext,
    demux: demultiplex::Demultiplex<TsContext>,
    avc: AvcAssembler,
    video_clock: Unwrapper33,
    audio_clock: Unwrapper33,
    audio_config: Option<[u8; 2]>,
    /// After lost video packets, frames are dropped until the next keyframe.
    video_needs_keyframe: bool,
    stats: TsStats,
    /// Events held until every track the PMT announced has its configuration (see `prime`).
    priming: Option<Vec<HubEvent>>,
}

/// Frames held at most while waiting for the other track's configuration.
const MAX_PRIMING_FRAMES: usize = 120;

impl Default for TsDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl TsDemuxer {
    pub fn new() -> Self {
        let mut context = TsContext::new();
        let demux = demultiplex::Demultiplex::new(&mut context);
        Self {
            framer: TsFramer::default(),
            context,
            demux,
            avc: AvcAssembler::default(),
            video_clock: Unwrapper33::default(),
            audio_clock: Unwrapper33::default(),
            audio_config: None,
            video_needs_keyframe: false,
            stats: TsStats::default(),
            priming: Some(Vec::new()),
        }
    }

    pub fn stats(&self) -> TsStats {
        self.stats
    }

    /// Feeds received bytes; configs and frames they complete are appended to `out`.
    pub fn push(&mut self, data: &[u8], received_at: SystemTime, out: &mut Vec<HubEvent>) -> Result<(), TsError> {
        let packets = self.framer.push(data, &mut self.stats.garbage_bytes);
        if self.framer.garbage_run > MAX_GARBAGE_RUN {
            return Err(TsError::NotTransportStream(MAX_GARBAGE_RUN));
        }
        if packets.is_empty() {
            return Ok(());
        }
        self.stats.packets += (packets.len() / PACKET) as u64;
        let (demux, context) = (&mut self.demux, &mut self.context);
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| demux.push(context, &packets)));
        if parsed.is_err() {
            // The parser's state is unknown: start over from the next PAT.
            tracing::warn!("MPEG-TS parser failed on malformed input; resetting the demuxer");
            self.context = TsContext::new();
            self.demux = demultiplex::Demultiplex::new(&mut self.context);
            self.video_needs_keyframe = true;
            self.stats.dropped_units += 1;
        }
        if let Some(codec) = self.context.unsupported.take() {
            return Err(TsError::UnsupportedCodec(codec));
        }
        let mut converted = Vec::new();
        for event in std::mem::take(&mut self.context.events) {
            self.convert(event, received_at, &mut converted);
        }
        self.prime(converted, out);
        Ok(())
    }

    /// MPEG-TS has no up-front track configuration: audio's first frame often comes after
    /// video's first keyframe. Packaging that started without audio would restart (with a
    /// discontinuity) when it appears, so the first events are held until every announced track
    /// is configured (or a few seconds of frames have piled up), then released configs first.
    fn prime(&mut self, converted: Vec<HubEvent>, out: &mut Vec<HubEvent>) {
        let Some(held) = &mut self.priming else {
            out.extend(converted);
            return;
        };
        held.extend(converted);
        let video_configured = held.iter().any(|e| matches!(e, HubEvent::Config(TrackConfig::Video(_))));
        let audio_configured = held.iter().any(|e| matches!(e, HubEvent::Config(TrackConfig::Audio(_))));
        let ready = (!self.context.has_video || video_configured) && (!self.context.has_audio || audio_configured);
        let frames = held.iter().filter(|e| matches!(e, HubEvent::Frame(_))).count();
        if (ready && (self.context.has_video || self.context.has_audio)) || frames > MAX_PRIMING_FRAMES {
            let held = self.priming.take().unwrap_or_default();
            let (configs, frames): (Vec<HubEvent>, Vec<HubEvent>) =
                held.into_iter().partition(|e| matches!(e, HubEvent::Config(_)));
            out.extend(configs);
            out.extend(frames);
        }
    }

    fn convert(&mut self, event: EsEvent, received_at: SystemTime, out: &mut Vec<HubEvent>) {
        match event {
            EsEvent::Video { pts, dts, data } => {
                let Some(unit) = self.avc.push(&data) else { return };
                if let Some(avcc) = unit.new_config {
                    out.push(HubEvent::Config(TrackConfig::Video(VideoConfig { codec: Codec::H264, avcc })));
                }
                if self.video_needs_keyframe && !unit.keyframe {
                    self.stats.dropped_units += 1;
                    return;
                }
                self.video_needs_keyframe = false;
                let dts = self.video_clock.unwrap(dts);
                // PTS relative to DTS within one wrap period.
                let offset = delta_33(dts as u64, pts);
                out.push(HubEvent::Frame(Frame {
                    codec: Codec::H264,
                    dts: Timestamp::from_90khz(dts),
                    pts: Timestamp::from_90khz(dts + offset),
                    keyframe: unit.keyframe,
                    payload: unit.payload,
                    received_at,
                }));
            }
            EsEvent::Audio { pes_pts, index, header, payload } => {
                if self.audio_config != Some(header.specific_config) {
                    let asc = Bytes::copy_from_slice(&header.specific_config);
                    let Some(config) = AudioConfig::from_aac_asc(asc) else {
                        self.stats.dropped_units += 1;
                        return;
                    };
                    self.audio_config = Some(header.specific_config);
                    out.push(HubEvent::Config(TrackConfig::Audio(config)));
                }
                let base = Timestamp::from_90khz(self.audio_clock.unwrap(pes_pts)).as_nanos();
                let ts = base + i64::from(index) * 1024 * 1_000_000_000 / i64::from(header.sample_rate);
                out.push(HubEvent::Frame(Frame {
                    codec: Codec::Aac,
                    dts: Timestamp::from_nanos(ts),
                    pts: Timestamp::from_nanos(ts),
                    keyframe: true,
                    payload,
                    received_at,
                }));
            }
            EsEvent::Lost { video } => {
                self.stats.discontinuities += 1;
                if video {
                    self.video_needs_keyframe = true;
                }
            }
            EsEvent::Dropped => self.stats.dropped_units += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| std::iter::once(SYNC).chain(std::iter::repeat_n(i as u8, PACKET - 1))).collect()
    }

    #[test]
    fn framer_resyncs_after_garbage_and_keeps_partial_packets() {
        let mut framer = TsFramer::default();
        let mut garbage = 0;
        let stream = packets(6);
        let mut input = vec![SYNC, 2, 3];
        input.extend_from_slice(&stream[..3 * PACKET + 100]);
        let out = framer.push(&input, &mut garbage);
        assert_eq!(out, stream[..3 * PACKET], "three packets once sync is confirmed; the partial fourth waits");
        assert_eq!(garbage, 3);
        let out = framer.push(&stream[3 * PACKET + 100..], &mut garbage);
        assert_eq!(out, stream[3 * PACKET..], "locked: the rest comes out without waiting for more");
        // Lost sync: a corrupt packet start drops the lock and it is found again later.
        let mut damaged = packets(1);
        damaged[0] = 0;
        damaged.extend(packets(3));
        let out = framer.push(&damaged, &mut garbage);
        assert_eq!(out.len(), 3 * PACKET);
        assert_eq!(garbage, 3 + PACKET as u64);
    }

    #[test]
    fn a_lone_sync_byte_in_noise_is_not_a_packet() {
        let mut framer = TsFramer::default();
        let mut garbage = 0;
        let mut noise = vec![0u8; 4 * PACKET];
        noise[10] = SYNC;
        noise[10 + PACKET] = SYNC;
        assert!(framer.push(&noise, &mut garbage).is_empty());
    }

    #[test]
    fn garbage_alone_is_refused() {
        let mut demuxer = TsDemuxer::new();
        let mut out = Vec::new();
        let noise: Vec<u8> = (0..MAX_GARBAGE_RUN + 4096).map(|i| (i * 7 % 251) as u8 & 0x3f).collect();
        let err = demuxer.push(&noise, SystemTime::now(), &mut out).expect_err("not TS");
        assert_eq!(err, TsError::NotTransportStream(MAX_GARBAGE_RUN));
        assert!(out.is_empty());
    }
}
