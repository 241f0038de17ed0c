//! One WHIP publisher after the answer went out: wait for the connection, take the stream,
//! turn RTP into frames, keep keyframes coming, and end cleanly on DELETE, takeover, ICE failure
//! or shutdown.
//!
//! Timing: WebRTC tracks have independent RTP clocks with random offsets. Each track is anchored
//! at the arrival time of its first packet (relative to the session start) and advances by its
//! RTP clock from there, so audio and video line up to within the first packets' network jitter.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use oxcast_media::{AudioConfig, Codec, Frame, Timestamp, TrackConfig, VideoConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::h264_rtp::{AnnexBUnit, H264Depacketizer};
use super::peer::{Peer, PeerEvent, RemoteTrack};
use super::rtp::{Ordered, Reorder};
use crate::annexb::AvcAssembler;
use crate::timestamps::Unwrapper;
use crate::{PublishAuthority, PublishGrant, PublishRequest};

/// Longest wait for a missing packet before its frame is given up (NACK has this long to work).
const REORDER_WAIT: Duration = Duration::from_millis(80);
const REORDER_MAX_HELD: usize = 512;
/// Keyframe requests are not repeated faster than this.
const PLI_MIN_INTERVAL: Duration = Duration::from_millis(500);
/// A connection that stays disconnected this long is over (ICE may still recover before).
const DISCONNECTED_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(crate) struct SessionSettings {
    /// The publisher's encoder is asked for a keyframe when none came for this long (the
    /// segment target: browsers send keyframes only when asked).
    pub(crate) keyframe_interval: Duration,
    /// Time from the answer to an established connection.
    pub(crate) connect_timeout: Duration,
}

/// Media a track reader hands to the session.
enum TrackMedia {
    Video {
        unit: AnnexBUnit,
        arrived: Instant,
    },
    /// A video frame was lost: ask for a keyframe.
    VideoDamaged,
    Audio {
        rtp_timestamp: u32,
        payload: Bytes,
        arrived: Instant,
    },
}

/// Reads one track until it ends, depacketizing in order.
async fn read_track(track: Arc<RemoteTrack>, out: mpsc::Sender<TrackMedia>) {
    let mut reorder = Reorder::new(REORDER_WAIT, REORDER_MAX_HELD);
    let mut h264 = H264Depacketizer::default();
    let mut ordered = Vec::new();
    let mut units = Vec::new();
    loop {
        // While a gap is open, wake up to give up on it in time even if no packet comes.
        let packet = if reorder.is_waiting() {
            match tokio::time::timeout(REORDER_WAIT / 4, track.next_packet()).await {
                Ok(packet) => packet.map(Some),
                Err(_) => Some(None),
            }
        } else {
            track.next_packet().await.map(Some)
        };
        let Some(packet) = packet else { break };
        let now = Instant::now();
        match packet {
            Some(packet) => reorder.push(packet, now, &mut ordered),
            None => reorder.release(now, &mut ordered),
        }
        for item in ordered.drain(..) {
            let sent = match (item, track.video) {
                (Ordered::Lost(_), true) => {
                    h264.lost();
                    Ok(())
                }
                (Ordered::Lost(_), false) => Ok(()),
                (Ordered::Packet(p), true) => {
                    let damaged = h264.push(&p, &mut units);
                    let mut result = Ok(());
                    if damaged {
                        result = out.try_send(TrackMedia::VideoDamaged);
                    }
                    for unit in units.drain(..) {
                        result = result.and(out.try_send(TrackMedia::Video { unit, arrived: now }));
                    }
                    result
                }
                (Ordered::Packet(p), false) if !p.payload.is_empty() => {
                    out.try_send(TrackMedia::Audio { rtp_timestamp: p.timestamp, payload: p.payload, arrived: now })
                }
                (Ordered::Packet(_), false) => Ok(()),
            };
            match sent {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                // The session is behind: dropping here is like packet loss (video resyncs at the
                // next keyframe), and the network reader never stalls.
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if track.video {
                        h264.lost();
                    }
                }
            }
        }
    }
}

/// RTP clock → session timeline.
struct TrackClock {
    unwrap: Unwrapper,
    origin: Option<(i64, i64)>,
    clock_rate: i64,
}

impl TrackClock {
    fn new(clock_rate: u32) -> Self {
        Self { unwrap: Unwrapper::default(), origin: None, clock_rate: i64::from(clock_rate.max(1)) }
    }

    fn at(&mut self, rtp: u32, arrived: Instant, session_start: Instant) -> Timestamp {
        let ticks = self.unwrap.unwrap(rtp);
        let (first_ticks, offset_ns) =
            *self.origin.get_or_insert((ticks, arrived.saturating_duration_since(session_start).as_nanos() as i64));
        Timestamp::from_nanos(offset_ns + (ticks - first_ticks) * 1_000_000_000 / self.clock_rate)
    }
}

/// State of a publishing session.
struct Publishing {
    grant: PublishGrant,
    started: Instant,
    video_track: Option<Arc<RemoteTrack>>,
    video_clock: TrackClock,
    audio_clock: TrackClock,
    avc: AvcAssembler,
    last_keyframe: Option<Instant>,
    last_pli: Option<Instant>,
    /// After a lost frame, frames are dropped until the next keyframe.
    need_keyframe: bool,
}

impl Publishing {
    /// Sends a PLI unless one went out recently (an `urgent` one, after loss, sooner).
    async fn request_keyframe(&mut self, now: Instant, urgent: bool) {
        let spacing = if urgent { PLI_MIN_INTERVAL / 5 } else { PLI_MIN_INTERVAL };
        if let Some(track) = &self.video_track
            && self.last_pli.is_none_or(|t| now.duration_since(t) >= spacing)
        {
            track.request_keyframe().await;
            self.last_pli = Some(now);
        }
    }

    fn on_media(&mut self, media: TrackMedia) -> bool {
        match media {
            TrackMedia::VideoDamaged => {
                self.need_keyframe = true;
                true
            }
            TrackMedia::Video { unit, arrived } => {
                let Some(avc) = self.avc.push(&unit.data) else { return false };
                if let Some(avcc) = avc.new_config {
                    self.grant.publisher.send_config(TrackConfig::Video(VideoConfig { codec: Codec::H264, avcc }));
                }
                if avc.keyframe {
                    self.need_keyframe = false;
                    self.last_keyframe = Some(arrived);
                } else if self.need_keyframe {
                    return false;
                }
                let ts = self.video_clock.at(unit.rtp_timestamp, arrived, self.started);
                self.grant.publisher.send_frame(Frame {
                    codec: Codec::H264,
                    dts: ts,
                    pts: ts, // WebRTC encoders send no B-frames
                    keyframe: avc.keyframe,
                    payload: avc.payload,
                    received_at: SystemTime::now(),
                });
                false
            }
            TrackMedia::Audio { rtp_timestamp, payload, arrived } => {
                let ts = self.audio_clock.at(rtp_timestamp, arrived, self.started);
                self.grant.publisher.send_frame(Frame {
                    codec: Codec::Opus,
                    dts: ts,
                    pts: ts,
                    keyframe: true,
                    payload,
                    received_at: SystemTime::now(),
                });
                false
            }
        }
    }
}

/// Everything the session task owns.
pub(crate) struct Session {
    pub(crate) peer: Peer,
    pub(crate) request: PublishRequest,
    pub(crate) authority: Arc<dyn PublishAuthority>,
    pub(crate) has_audio: bool,
    pub(crate) settings: SessionSettings,
    /// Cancelled by DELETE on the session URL.
    pub(crate) stop: CancellationToken,
    pub(crate) shutdown: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("the publisher ended the session (DELETE)")]
    Deleted,
    #[error("the connection was not established in time")]
    ConnectTimeout,
    #[error("the connection failed or closed ({0})")]
    Connection(String),
    #[error("taken over by another publisher, or server shutdown")]
    Ended,
    #[error("publish rejected: {0}")]
    Rejected(String),
}

impl Session {
    pub(crate) async fn run(mut self) {
        let remote = self.request.remote;
        let connection = self.peer.connection.clone();
        let result = self.drive().await;
        let _ = connection.close().await;
        match result {
            Ok(stream) => tracing::info!(%remote, %stream, "whip publisher left"),
            Err((stream, reason)) => tracing::info!(%remote, stream = %stream, %reason, "whip session closed"),
        }
    }

    async fn drive(&mut self) -> Result<String, (String, SessionEnd)> {
        let name = self.request.stream.clone().unwrap_or_default();
        let fail = |reason| Err((name.clone(), reason));
        // 1. Wait for ICE + DTLS; only then take the stream (a failed handshake takes nothing).
        let connected = tokio::time::timeout(self.settings.connect_timeout, async {
            loop {
                tokio::select! {
                    () = self.stop.cancelled() => return Err(SessionEnd::Deleted),
                    () = self.shutdown.cancelled() => return Err(SessionEnd::Ended),
                    event = self.peer.events.recv() => match event {
                        Some(PeerEvent::State(RTCPeerConnectionState::Connected)) => return Ok(Vec::new()),
                        Some(PeerEvent::State(s @ (RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed))) => {
                            return Err(SessionEnd::Connection(s.to_string()));
                        }
                        Some(PeerEvent::State(_)) => {}
                        // Media may race the state event: keep the track for later.
                        Some(PeerEvent::Track(track)) => return Ok(vec![track]),
                        None => return Err(SessionEnd::Connection("closed".into())),
                    },
                }
            }
        })
        .await;
        let early_tracks = match connected {
            Ok(Ok(tracks)) => tracks,
            Ok(Err(reason)) => return fail(reason),
            Err(_) => return fail(SessionEnd::ConnectTimeout),
        };
        let grant = match self.authority.publish(self.request.clone()).await {
            Ok(grant) => grant,
            Err(rejected) => return fail(SessionEnd::Rejected(rejected.to_string())),
        };
        tracing::info!(remote = %self.request.remote, stream = %grant.stream_name, "whip publish accepted");
        if self.has_audio {
            // Opus over WebRTC is always 48 kHz in RTP; the decoder takes mono or stereo.
            grant.publisher.send_config(TrackConfig::Audio(AudioConfig {
                codec: Codec::Opus,
                specific_config: Bytes::new(),
                sample_rate: 48_000,
                channels: 2,
            }));
        }
        let started = Instant::now();
        let mut p = Publishing {
            grant,
            started,
            video_track: None,
            // RTP clock rates are fixed by the payload formats (RFC 6184, RFC 7587).
            video_clock: TrackClock::new(90_000),
            audio_clock: TrackClock::new(48_000),
            avc: AvcAssembler::default(),
            last_keyframe: None,
            last_pli: None,
            need_keyframe: true,
        };
        let (media_tx, mut media) = mpsc::channel(1024);
        let mut readers = tokio::task::JoinSet::new();
        for track in early_tracks {
            self.add_track(&mut p, track, &media_tx, &mut readers).await;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut disconnected_since: Option<Instant> = None;
        let end = loop {
            tokio::select! {
                () = self.stop.cancelled() => break SessionEnd::Deleted,
                () = self.shutdown.cancelled() => break SessionEnd::Ended,
                () = p.grant.ended.cancelled() => break SessionEnd::Ended,
                event = self.peer.events.recv() => match event {
                    Some(PeerEvent::Track(track)) => self.add_track(&mut p, track, &media_tx, &mut readers).await,
                    Some(PeerEvent::State(RTCPeerConnectionState::Connected)) => disconnected_since = None,
                    Some(PeerEvent::State(RTCPeerConnectionState::Disconnected)) => {
                        disconnected_since.get_or_insert_with(Instant::now);
                    }
                    Some(PeerEvent::State(s @ (RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed))) => {
                        break SessionEnd::Connection(s.to_string());
                    }
                    Some(PeerEvent::State(_)) => {}
                    None => break SessionEnd::Connection("closed".into()),
                },
                Some(m) = media.recv() => {
                    if p.on_media(m) {
                        p.request_keyframe(Instant::now(), true).await;
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if disconnected_since.is_some_and(|t| now.duration_since(t) >= DISCONNECTED_GRACE) {
                        break SessionEnd::Connection("disconnected".into());
                    }
                    let stale = p.last_keyframe.is_none_or(|t| now.duration_since(t) >= self.settings.keyframe_interval);
                    if stale || p.need_keyframe {
                        p.request_keyframe(now, false).await;
                    }
                }
            }
        };
        readers.abort_all();
        let stream = p.grant.stream_name.clone();
        match end {
            SessionEnd::Deleted | SessionEnd::Connection(_) => Ok(stream),
            other => Err((stream, other)),
        }
    }

    async fn add_track(
        &self,
        p: &mut Publishing,
        track: RemoteTrack,
        media: &mpsc::Sender<TrackMedia>,
        readers: &mut tokio::task::JoinSet<()>,
    ) {
        let expected = if track.video { "video/h264" } else { "audio/opus" };
        if track.mime_type != expected {
            tracing::warn!(remote = %self.request.remote, mime = %track.mime_type, "ignoring a track oxcast cannot use");
            return;
        }
        let track = Arc::new(track);
        if track.video {
            if p.video_track.is_some() {
                tracing::warn!(remote = %self.request.remote, "ignoring a second video track");
                return;
            }
            p.video_track = Some(track.clone());
            p.request_keyframe(Instant::now(), true).await;
        }
        readers.spawn(read_track(track, media.clone()));
    }
}
