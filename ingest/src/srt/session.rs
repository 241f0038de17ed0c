//! One established SRT publisher: messages in, MPEG-TS demuxed, configs and frames to the hub.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use oxcast_media::HubEvent;
use srt_tokio::SrtSocket;
use tokio_util::sync::CancellationToken;

use crate::PublishGrant;
use crate::{TsDemuxer, TsError};

#[derive(Debug, thiserror::Error)]
pub(super) enum SrtSessionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("nothing received for {0:?}")]
    Idle(Duration),
    #[error("refused media: {0}")]
    Media(#[from] TsError),
    #[error("session ended: taken over by another publisher or server shutdown")]
    Ended,
}

/// Runs until the publisher disconnects (Ok), misbehaves, or the grant ends.
pub(super) async fn pump(
    mut socket: SrtSocket,
    grant: &PublishGrant,
    idle_timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<(), SrtSessionError> {
    let mut demuxer = TsDemuxer::new();
    let mut events = Vec::new();
    let result = loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break Err(SrtSessionError::Ended),
            () = grant.ended.cancelled() => break Err(SrtSessionError::Ended),
            next = tokio::time::timeout(idle_timeout, socket.next()) => next,
        };
        let message = match next {
            Err(_) => break Err(SrtSessionError::Idle(idle_timeout)),
            Ok(None) => break Ok(()),
            Ok(Some(Err(err))) => break Err(err.into()),
            Ok(Some(Ok((_, message)))) => message,
        };
        if let Err(err) = demuxer.push(&message, SystemTime::now(), &mut events) {
            break Err(err.into());
        }
        for event in events.drain(..) {
            match event {
                HubEvent::Config(config) => grant.publisher.send_config(config),
                HubEvent::Frame(frame) => grant.publisher.send_frame(frame),
            }
        }
    };
    let stats = demuxer.stats();
    if stats.garbage_bytes > 0 || stats.discontinuities > 0 || stats.dropped_units > 0 {
        tracing::info!(stream = %grant.stream_name, ?stats, "srt session had damaged input");
    }
    let _ = socket.close_and_finish().await;
    result
}
