//! One RTMP publisher: handshake, `connect`, `publish`, then the file's tags paced by their
//! timestamps, looped until the run ends, as `ffmpeg -re -stream_loop -1 -c copy` would send
//! them. The session is rml_rtmp's; this file only moves its bytes over a tokio socket and
//! keeps time. What the server sends back (acknowledgements, pings) is read and answered
//! throughout, so a long run never fills the socket's receive side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

use crate::flv::{Tag, TagKind};

/// Where to publish and for how long.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub address: String,
    pub app: String,
    pub key: String,
    /// When the run ends (every publisher stops then).
    pub until: Instant,
}

/// How one publisher's run went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// `publish` was accepted.
    pub published: bool,
    /// Still publishing when the run ended.
    pub held: bool,
    /// Why it stopped early (or never started).
    pub error: Option<String>,
    pub tags_sent: u64,
    pub bytes_sent: u64,
    /// The most a tag was sent after its due time: how far this publisher fell behind real
    /// time (the socket pushed back, or the machine was too busy).
    pub max_lag_ms: u64,
    /// Seconds of media sent.
    pub media_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
enum PublishError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("rtmp: {0}")]
    Rtmp(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

fn rtmp<E: std::fmt::Debug>(e: E) -> PublishError {
    PublishError::Rtmp(format!("{e:?}"))
}

/// Publishes `tags` to `target` until `target.until`.
pub async fn publish(tags: Arc<Vec<Tag>>, target: Target) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(e) = run(&tags, &target, &mut outcome).await {
        outcome.error = Some(e.to_string());
    }
    outcome
}

async fn run(tags: &[Tag], target: &Target, outcome: &mut Outcome) -> Result<(), PublishError> {
    let socket = TcpStream::connect(&target.address).await.map_err(PublishError::Connect)?;
    socket.set_nodelay(true)?;
    let (mut reader, mut writer) = socket.into_split();
    let leftover = handshake(&mut reader, &mut writer).await?;
    let (session, initial) = ClientSession::new(ClientSessionConfig::new()).map_err(rtmp)?;
    let session = Arc::new(Mutex::new(session));
    send(&mut writer, initial).await?;
    let mut pending = Vec::new();
    if !leftover.is_empty() {
        pending = session.lock().await.handle_input(&leftover).map_err(rtmp)?;
    }
    send(&mut writer, std::mem::take(&mut pending)).await?;
    let connect = session.lock().await.request_connection(target.app.clone()).map_err(rtmp)?;
    send(&mut writer, vec![connect]).await?;
    wait_for(&session, &mut reader, &mut writer, "connect", |e| {
        matches!(e, ClientSessionEvent::ConnectionRequestAccepted)
    })
    .await?;
    let publish =
        session.lock().await.request_publishing(target.key.clone(), PublishRequestType::Live).map_err(rtmp)?;
    send(&mut writer, vec![publish]).await?;
    wait_for(&session, &mut reader, &mut writer, "publish", |e| {
        matches!(e, ClientSessionEvent::PublishRequestAccepted)
    })
    .await?;
    outcome.published = true;

    // From here the reader runs on its own, answering what the server sends.
    let writer = Arc::new(Mutex::new(writer));
    let listening = tokio::spawn(listen(session.clone(), reader, writer.clone()));
    let sending = pace(tags, target, &session, &writer, outcome);
    let result = tokio::select! {
        r = sending => r,
        r = listening => match r {
            Ok(Err(e)) => Err(e),
            _ => Err(PublishError::Closed),
        },
    };
    outcome.held = result.is_ok();
    result
}

async fn handshake(reader: &mut OwnedReadHalf, writer: &mut OwnedWriteHalf) -> Result<Vec<u8>, PublishError> {
    let mut handshake = Handshake::new(PeerType::Client);
    writer.write_all(&handshake.generate_outbound_p0_and_p1().map_err(rtmp)?).await?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf))
            .await
            .map_err(|_| PublishError::Timeout("the handshake"))??;
        if n == 0 {
            return Err(PublishError::Closed);
        }
        match handshake.process_bytes(&buf[..n]).map_err(rtmp)? {
            HandshakeProcessResult::InProgress { response_bytes } => writer.write_all(&response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                writer.write_all(&response_bytes).await?;
                return Ok(remaining_bytes);
            }
        }
    }
}

async fn send(writer: &mut OwnedWriteHalf, results: Vec<ClientSessionResult>) -> Result<(), PublishError> {
    for r in results {
        if let ClientSessionResult::OutboundResponse(packet) = r {
            writer.write_all(&packet.bytes).await?;
        }
    }
    Ok(())
}

async fn wait_for(
    session: &Mutex<ClientSession>,
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    what: &'static str,
    wanted: impl Fn(&ClientSessionEvent) -> bool,
) -> Result<(), PublishError> {
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline, reader.read(&mut buf))
            .await
            .map_err(|_| PublishError::Timeout(what))??;
        if n == 0 {
            return Err(PublishError::Closed);
        }
        let results = session.lock().await.handle_input(&buf[..n]).map_err(rtmp)?;
        let mut found = false;
        let mut out = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::RaisedEvent(e) if wanted(&e) => found = true,
                other => out.push(other),
            }
        }
        send(writer, out).await?;
        if found {
            return Ok(());
        }
    }
}

/// Reads and answers the server until it closes.
async fn listen(
    session: Arc<Mutex<ClientSession>>,
    mut reader: OwnedReadHalf,
    writer: Arc<Mutex<OwnedWriteHalf>>,
) -> Result<(), PublishError> {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Err(PublishError::Closed);
        }
        let results = session.lock().await.handle_input(&buf[..n]).map_err(rtmp)?;
        send(&mut *writer.lock().await, results).await?;
    }
}

/// Sends the tags at their times, the file looped, until `target.until`.
async fn pace(
    tags: &[Tag],
    target: &Target,
    session: &Mutex<ClientSession>,
    writer: &Mutex<OwnedWriteHalf>,
    outcome: &mut Outcome,
) -> Result<(), PublishError> {
    let media: Vec<&Tag> = tags.iter().filter(|t| t.kind != TagKind::Script).collect();
    let length = media.last().map_or(0, |t| t.timestamp_ms) + frame_gap(&media);
    let start = Instant::now();
    let mut pass = 0u32;
    loop {
        for tag in &media {
            // Sequence headers once: a loop of the file continues the same stream.
            if pass > 0 && tag.is_sequence_header() {
                continue;
            }
            let at = u64::from(pass) * u64::from(length) + u64::from(tag.timestamp_ms);
            let due = start + Duration::from_millis(at);
            if due >= target.until {
                outcome.media_seconds = at as f64 / 1000.0;
                return Ok(());
            }
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due.into()).await;
            } else {
                outcome.max_lag_ms = outcome.max_lag_ms.max((now - due).as_millis() as u64);
            }
            let timestamp = RtmpTimestamp::new(u32::try_from(at).unwrap_or(u32::MAX));
            let body: Bytes = tag.body.clone();
            let packet = {
                let mut session = session.lock().await;
                match tag.kind {
                    TagKind::Video => session.publish_video_data(body, timestamp, false),
                    _ => session.publish_audio_data(body, timestamp, false),
                }
                .map_err(rtmp)?
            };
            let bytes = match &packet {
                ClientSessionResult::OutboundResponse(p) => p.bytes.len() as u64,
                _ => 0,
            };
            let mut w = writer.lock().await;
            send(&mut w, vec![packet]).await?;
            drop(w);
            outcome.tags_sent += 1;
            outcome.bytes_sent += bytes;
        }
        pass += 1;
    }
}

/// The video frame interval of the file (what follows its last frame before it loops).
fn frame_gap(media: &[&Tag]) -> u32 {
    let video: Vec<u32> = media.iter().filter(|t| t.kind == TagKind::Video).map(|t| t.timestamp_ms).collect();
    video.windows(2).map(|w| w[1].saturating_sub(w[0])).filter(|d| *d > 0).min().unwrap_or(33)
}
