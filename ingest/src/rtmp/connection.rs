//! One RTMP connection: handshake, then rml_rtmp's session driven by socket bytes.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use oxcast_media::{AudioConfig, Codec, Frame, Timestamp, TrackConfig, VideoConfig};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::flv::{self, AudioTag, FlvError, VideoTag};
use super::server::RtmpConfig;
use crate::timestamps::Unwrapper;
use crate::{Protocol, PublishAuthority, PublishGrant, PublishRejected, PublishRequest};

const READ_BUFFER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("idle for too long")]
    Idle,
    #[error("malformed RTMP: {0}")]
    Protocol(String),
    #[error("publish rejected: {0}")]
    Rejected(#[from] PublishRejected),
    #[error("refused media: {0}")]
    Media(#[from] FlvError),
    #[error("media sent before publish was accepted")]
    NotPublishing,
    #[error("session ended: taken over by another publisher or server shutdown")]
    Ended,
}

pub(super) struct Connection {
    socket: TcpStream,
    remote: SocketAddr,
    authority: Arc<dyn PublishAuthority>,
    config: RtmpConfig,
    shutdown: CancellationToken,
}

/// Per-publish state: the grant plus the clocks of its two tracks.
struct Publishing {
    grant: PublishGrant,
    video_clock: Unwrapper,
    audio_clock: Unwrapper,
    video_config: Option<Bytes>,
    audio_config: Option<Bytes>,
}

impl Connection {
    pub(super) fn new(
        socket: TcpStream,
        remote: SocketAddr,
        authority: Arc<dyn PublishAuthority>,
        config: RtmpConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self { socket, remote, authority, config, shutdown }
    }

    pub(super) async fn serve(mut self) -> Result<(), RtmpError> {
        let leftover = tokio::time::timeout(self.config.handshake_timeout, self.handshake())
            .await
            .map_err(|_| RtmpError::HandshakeTimeout)??;

        let (mut session, initial) =
            ServerSession::new(ServerSessionConfig::new()).map_err(|e| RtmpError::Protocol(e.to_string()))?;
        let mut publishing: Option<Publishing> = None;
        let result = async {
            self.handle_results(&mut session, initial, &mut publishing).await?;
            if !leftover.is_empty() {
                let results = feed(&mut session, &leftover)?;
                self.handle_results(&mut session, results, &mut publishing).await?;
            }
            let mut buf = vec![0u8; READ_BUFFER];
            loop {
                let ended = publishing.as_ref().map(|p| p.grant.ended.clone()).unwrap_or_default();
                let read = tokio::select! {
                    () = self.shutdown.cancelled() => return Err(RtmpError::Ended),
                    () = ended.cancelled() => return Err(RtmpError::Ended),
                    read = tokio::time::timeout(self.config.idle_timeout, self.socket.read(&mut buf)) => read,
                };
                let n = read.map_err(|_| RtmpError::Idle)??;
                if n == 0 {
                    return Ok(());
                }
                let results = feed(&mut session, &buf[..n])?;
                self.handle_results(&mut session, results, &mut publishing).await?;
            }
        }
        .await;
        if let Some(p) = &publishing {
            tracing::info!(remote = %self.remote, stream = %p.grant.stream_name, "rtmp publisher left");
        }
        let _ = self.socket.shutdown().await;
        result
    }

    async fn handshake(&mut self) -> Result<Vec<u8>, RtmpError> {
        let mut handshake = Handshake::new(PeerType::Server);
        let mut buf = vec![0u8; 4096];
        loop {
            let n = self.socket.read(&mut buf).await?;
            if n == 0 {
                return Err(RtmpError::Handshake("peer closed during handshake".into()));
            }
            match handshake.process_bytes(&buf[..n]).map_err(|e| RtmpError::Handshake(format!("{e:?}")))? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.socket.write_all(&response_bytes).await?;
                }
                HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                    self.socket.write_all(&response_bytes).await?;
                    return Ok(remaining_bytes);
                }
            }
        }
    }

    async fn handle_results(
        &mut self,
        session: &mut ServerSession,
        results: Vec<ServerSessionResult>,
        publishing: &mut Option<Publishing>,
    ) -> Result<(), RtmpError> {
        let mut pending = std::collections::VecDeque::from(results);
        while let Some(result) = pending.pop_front() {
            match result {
                ServerSessionResult::OutboundResponse(packet) => self.socket.write_all(&packet.bytes).await?,
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
                ServerSessionResult::RaisedEvent(event) => {
                    let more = self.handle_event(session, event, publishing).await?;
                    pending.extend(more);
                }
            }
        }
        Ok(())
    }

    async fn handle_event(
        &mut self,
        session: &mut ServerSession,
        event: ServerSessionEvent,
        publishing: &mut Option<Publishing>,
    ) -> Result<Vec<ServerSessionResult>, RtmpError> {
        match event {
            ServerSessionEvent::ConnectionRequested { request_id, app_name } => {
                tracing::debug!(remote = %self.remote, app = %app_name, "rtmp connect");
                session.accept_request(request_id).map_err(|e| RtmpError::Protocol(e.to_string()))
            }
            ServerSessionEvent::PublishStreamRequested { request_id, stream_key, .. } => {
                // Some clients append "?query" to the key; the secret is what precedes it.
                let key = stream_key.split('?').next().unwrap_or_default().to_owned();
                let request =
                    PublishRequest { protocol: Protocol::Rtmp, stream_key: key, remote: self.remote, stream: None };
                match self.authority.publish(request).await {
                    Ok(grant) => {
                        tracing::info!(remote = %self.remote, stream = %grant.stream_name, "rtmp publish accepted");
                        *publishing = Some(Publishing {
                            grant,
                            video_clock: Unwrapper::default(),
                            audio_clock: Unwrapper::default(),
                            video_config: None,
                            audio_config: None,
                        });
                        session.accept_request(request_id).map_err(|e| RtmpError::Protocol(e.to_string()))
                    }
                    Err(rejected) => {
                        tracing::warn!(remote = %self.remote, %rejected, "rtmp publish rejected");
                        let results = session
                            .reject_request(request_id, "NetStream.Publish.BadName", &rejected.to_string())
                            .map_err(|e| RtmpError::Protocol(e.to_string()))?;
                        for result in results {
                            if let ServerSessionResult::OutboundResponse(packet) = result {
                                self.socket.write_all(&packet.bytes).await?;
                            }
                        }
                        Err(RtmpError::Rejected(rejected))
                    }
                }
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                // Dropping the grant ends the session's hub; the pipeline finishes its last part.
                if let Some(p) = publishing.take() {
                    tracing::info!(remote = %self.remote, stream = %p.grant.stream_name, "rtmp unpublish");
                }
                Ok(Vec::new())
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                tracing::debug!(remote = %self.remote, ?metadata, "rtmp metadata");
                Ok(Vec::new())
            }
            ServerSessionEvent::VideoDataReceived { data, timestamp, .. } => {
                let p = publishing.as_mut().ok_or(RtmpError::NotPublishing)?;
                self.on_video(p, &data, timestamp.value)?;
                Ok(Vec::new())
            }
            ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
                let p = publishing.as_mut().ok_or(RtmpError::NotPublishing)?;
                self.on_audio(p, &data, timestamp.value)?;
                Ok(Vec::new())
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => session
                .reject_request(request_id, "NetStream.Play.Failed", "playback over RTMP is not offered: use HLS")
                .map_err(|e| RtmpError::Protocol(e.to_string())),
            _ => Ok(Vec::new()),
        }
    }

    fn on_video(&self, p: &mut Publishing, body: &Bytes, raw_ts: u32) -> Result<(), RtmpError> {
        let tag = match flv::parse_video(body) {
            Ok(tag) => tag,
            Err(err) if err.is_unsupported_codec() => {
                tracing::error!(remote = %self.remote, stream = %p.grant.stream_name, %err, "refusing publisher");
                return Err(err.into());
            }
            Err(err) => {
                // One corrupt frame is dropped; the decoder resyncs at the next keyframe.
                tracing::warn!(remote = %self.remote, stream = %p.grant.stream_name, %err, "dropping video frame");
                return Ok(());
            }
        };
        match tag {
            VideoTag::Config(avcc) => {
                // OBS and GStreamer's flvmux repeat headers: forward only real changes.
                if p.video_config.as_ref() != Some(&avcc) {
                    p.video_config = Some(avcc.clone());
                    p.grant.publisher.send_config(TrackConfig::Video(VideoConfig { codec: Codec::H264, avcc }));
                }
            }
            VideoTag::Frame { keyframe, composition_offset_ms, data } => {
                let dts = p.video_clock.unwrap(raw_ts);
                p.grant.publisher.send_frame(Frame {
                    codec: Codec::H264,
                    dts: Timestamp::from_millis(dts),
                    pts: Timestamp::from_millis(dts + i64::from(composition_offset_ms)),
                    keyframe,
                    payload: data,
                    received_at: SystemTime::now(),
                });
            }
            VideoTag::Ignore => {}
        }
        Ok(())
    }

    fn on_audio(&self, p: &mut Publishing, body: &Bytes, raw_ts: u32) -> Result<(), RtmpError> {
        let tag = match flv::parse_audio(body) {
            Ok(tag) => tag,
            Err(err) if err.is_unsupported_codec() => {
                tracing::error!(remote = %self.remote, stream = %p.grant.stream_name, %err, "refusing publisher");
                return Err(err.into());
            }
            Err(err) => {
                tracing::warn!(remote = %self.remote, stream = %p.grant.stream_name, %err, "dropping audio frame");
                return Ok(());
            }
        };
        match tag {
            AudioTag::Config(asc) => {
                if p.audio_config.as_ref() == Some(&asc) {
                    return Ok(());
                }
                match AudioConfig::from_aac_asc(asc.clone()) {
                    Some(config) => {
                        p.audio_config = Some(asc);
                        p.grant.publisher.send_config(TrackConfig::Audio(config));
                    }
                    None => {
                        tracing::warn!(remote = %self.remote, "ignoring invalid AAC AudioSpecificConfig")
                    }
                }
            }
            AudioTag::Frame(data) => {
                if p.audio_config.is_none() {
                    return Ok(());
                }
                let ts = Timestamp::from_millis(p.audio_clock.unwrap(raw_ts));
                p.grant.publisher.send_frame(Frame {
                    codec: Codec::Aac,
                    dts: ts,
                    pts: ts,
                    keyframe: true,
                    payload: data,
                    received_at: SystemTime::now(),
                });
            }
        }
        Ok(())
    }
}

/// Feeds bytes to rml_rtmp, turning its errors, and any panic on hostile input, into `RtmpError`.
fn feed(session: &mut ServerSession, bytes: &[u8]) -> Result<Vec<ServerSessionResult>, RtmpError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| session.handle_input(bytes))) {
        Ok(Ok(results)) => Ok(results),
        Ok(Err(err)) => Err(RtmpError::Protocol(err.to_string())),
        Err(_) => Err(RtmpError::Protocol("input the RTMP parser could not handle".into())),
    }
}
