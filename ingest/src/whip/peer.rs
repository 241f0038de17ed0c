//! The WebRTC side of a WHIP session, on webrtc-rs 0.21: codecs, host candidates, the answer.
//!
//! Everything webrtc-specific is in this file; the rest of `whip/` sees RTP packets and events.
//! The peer connection's callbacks run on its driver task and must not block, so they only
//! forward events into a channel that the session task drains.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MediaEngine};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

use super::rtp::RtpPacket;

/// How long ICE gathering may take before the answer goes out with what was gathered.
const GATHER_TIMEOUT: Duration = Duration::from_secs(2);

/// H.264 profiles accepted (packetization-mode 1): constrained baseline (both spellings browsers
/// use), main and high. webrtc-rs matches profile_idc plus constraint byte, not the level.
const H264_PROFILES: [(u8, &str); 4] = [(102, "42001f"), (106, "42e01f"), (127, "4d001f"), (112, "64001f")];

#[derive(Debug, thiserror::Error)]
#[error("webrtc: {0}")]
pub struct PeerError(String);

fn err(e: impl std::fmt::Display) -> PeerError {
    PeerError(e.to_string())
}

/// Events of one peer connection, in the order its driver saw them.
pub(crate) enum PeerEvent {
    State(RTCPeerConnectionState),
    Track(RemoteTrack),
}

/// A remote track, known once its first RTP packet arrived.
pub(crate) struct RemoteTrack {
    track: Arc<dyn TrackRemote>,
    pub(crate) video: bool,
    pub(crate) ssrc: u32,
    pub(crate) mime_type: String,
}

impl RemoteTrack {
    /// The next RTP packet; `None` when the track or connection ended.
    pub(crate) async fn next_packet(&self) -> Option<RtpPacket> {
        loop {
            match self.track.poll().await? {
                TrackRemoteEvent::OnRtpPacket(p) => {
                    return Some(RtpPacket {
                        sequence: p.header.sequence_number,
                        timestamp: p.header.timestamp,
                        marker: p.header.marker,
                        payload: p.payload,
                    });
                }
                TrackRemoteEvent::OnEnded => return None,
                _ => {}
            }
        }
    }

    /// Asks the publisher's encoder for a keyframe.
    pub(crate) async fn request_keyframe(&self) {
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: self.ssrc };
        if let Err(e) = self.track.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(error = %e, "PLI not sent");
        }
    }
}

struct Handler {
    events: mpsc::UnboundedSender<PeerEvent>,
    gathered: mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(ssrc) = track.ssrcs().await.first().copied() else { return };
        let video = track.kind().await == RtpCodecKind::Video;
        let codec = track.codec(ssrc).await;
        let mime_type = match codec {
            Some(c) => c.mime_type.to_ascii_lowercase(),
            None if video => MIME_TYPE_H264.to_ascii_lowercase(),
            None => MIME_TYPE_OPUS.to_ascii_lowercase(),
        };
        let _ = self.events.send(PeerEvent::Track(RemoteTrack { track, video, ssrc, mime_type }));
    }
}

fn codec(mime: &str, clock_rate: u32, channels: u16, fmtp: String, payload_type: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp,
            rtcp_feedback: vec![],
        },
        payload_type,
    }
}

/// H.264 (the profiles above) and Opus only, with NACK, RTCP reports and TWCC feedback.
fn media_engine() -> Result<(MediaEngine, Registry), PeerError> {
    let mut engine = MediaEngine::default();
    for (payload_type, profile) in H264_PROFILES {
        let fmtp = format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile}");
        engine
            .register_codec(codec(MIME_TYPE_H264, 90_000, 0, fmtp, payload_type), RtpCodecKind::Video)
            .map_err(err)?;
    }
    let opus = codec(MIME_TYPE_OPUS, 48_000, 2, "minptime=10;useinbandfec=1".into(), 111);
    engine.register_codec(opus, RtpCodecKind::Audio).map_err(err)?;
    // After the codecs: feedback is only added to codecs already registered.
    let registry = register_default_interceptors(Registry::new(), &mut engine).map_err(err)?;
    Ok((engine, registry))
}

/// An answered peer connection and the channel of its events.
pub(crate) struct Peer {
    pub(crate) connection: Arc<dyn PeerConnection>,
    pub(crate) events: mpsc::UnboundedReceiver<PeerEvent>,
    pub(crate) answer: String,
}

impl Peer {
    /// Builds a connection offering host candidates on `ice_addresses` only, applies the
    /// offer, and returns the answer with every gathered candidate in it (no trickle ICE).
    pub(crate) async fn answer(offer: String, ice_addresses: &[IpAddr]) -> Result<Peer, PeerError> {
        let (engine, registry) = media_engine()?;
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .with_ice_timeouts(
                Some(Duration::from_secs(5)),
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(2)),
            )
            .build();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (gathered_tx, mut gathered) = mpsc::channel(1);
        let addresses: Vec<SocketAddr> = ice_addresses.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
        let connection = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Handler { events: events_tx, gathered: gathered_tx }))
            .with_udp_addrs(addresses)
            .build()
            .await
            .map_err(err)?;
        let connection: Arc<dyn PeerConnection> = Arc::new(connection);
        let negotiated = async {
            let offer = RTCSessionDescription::offer(offer).map_err(err)?;
            connection.set_remote_description(offer).await.map_err(err)?;
            let answer = connection.create_answer(None).await.map_err(err)?;
            connection.set_local_description(answer).await.map_err(err)?;
            let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.recv()).await;
            connection.local_description().await.map(|d| d.sdp).ok_or_else(|| PeerError("no local description".into()))
        }
        .await;
        match negotiated {
            Ok(answer) => Ok(Peer { connection, events, answer }),
            Err(e) => {
                let _ = connection.close().await;
                Err(e)
            }
        }
    }
}
