//! The WHIP endpoint's state: admission, live sessions by id, and their limits.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::RngCore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::offer::{self, OfferError};
use super::peer::Peer;
use super::session::{Session, SessionSettings};
use crate::{Protocol, PublishAuthority, PublishRejected, PublishRequest};

#[derive(Debug, Clone)]
pub struct WhipConfig {
    /// Addresses offered as ICE host candidates (one UDP port each per session).
    pub ice_addresses: Vec<IpAddr>,
    /// Keyframes are requested from the publisher when none came for this long.
    pub keyframe_interval: Duration,
    pub max_sessions: usize,
    /// Time from the answer to an established connection.
    pub connect_timeout: Duration,
}

impl Default for WhipConfig {
    fn default() -> Self {
        Self {
            ice_addresses: vec![IpAddr::from([127, 0, 0, 1])],
            keyframe_interval: Duration::from_secs(2),
            max_sessions: 256,
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a WHIP request was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    #[error("missing or invalid bearer token (the stream key)")]
    Unauthorized,
    #[error("{0}")]
    BadOffer(#[from] OfferError),
    #[error("too many WebRTC sessions")]
    TooManySessions,
    #[error("publishing is unavailable: {0}")]
    Unavailable(String),
    #[error("WebRTC negotiation failed: {0}")]
    Negotiation(String),
}

/// The answer to an accepted offer.
#[derive(Debug)]
pub struct WhipAnswer {
    /// Unguessable id of the session resource (`/whip/NAME/ID`).
    pub session_id: String,
    pub sdp: String,
}

struct Entry {
    stream: String,
    stop: CancellationToken,
}

pub struct WhipService {
    authority: Arc<dyn PublishAuthority>,
    config: WhipConfig,
    sessions: Arc<Mutex<HashMap<String, Entry>>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl WhipService {
    pub fn new(
        authority: Arc<dyn PublishAuthority>,
        config: WhipConfig,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<Self> {
        Arc::new(Self { authority, config, sessions: Arc::default(), shutdown, tracker })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the key and the offer, answers it, and starts the session task.
    pub async fn offer(
        &self,
        stream: &str,
        key: &str,
        sdp: String,
        remote: SocketAddr,
    ) -> Result<WhipAnswer, WhipError> {
        let request = PublishRequest {
            protocol: Protocol::Whip,
            stream_key: key.to_owned(),
            remote,
            stream: Some(stream.to_owned()),
        };
        match self.authority.admit(&request).await {
            Ok(_) => {}
            Err(PublishRejected::InvalidKey | PublishRejected::Disabled) => return Err(WhipError::Unauthorized),
            Err(PublishRejected::Unavailable(why)) => return Err(WhipError::Unavailable(why)),
        }
        let summary = offer::check(&sdp)?;
        if self.sessions().len() >= self.config.max_sessions {
            return Err(WhipError::TooManySessions);
        }
        let peer =
            Peer::answer(sdp, &self.config.ice_addresses).await.map_err(|e| WhipError::Negotiation(e.to_string()))?;
        let answer = peer.answer.clone();
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let session_id = hex::encode(id);
        let stop = CancellationToken::new();
        self.sessions().insert(session_id.clone(), Entry { stream: stream.to_owned(), stop: stop.clone() });
        let session = Session {
            peer,
            request,
            authority: self.authority.clone(),
            has_audio: summary.has_audio,
            settings: SessionSettings {
                keyframe_interval: self.config.keyframe_interval,
                connect_timeout: self.config.connect_timeout,
            },
            stop,
            shutdown: self.shutdown.clone(),
        };
        let sessions = self.sessions.clone();
        let id = session_id.clone();
        self.tracker.spawn(async move {
            session.run().await;
            sessions.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        });
        tracing::info!(%remote, stream, session = %session_id, "whip offer answered");
        Ok(WhipAnswer { session_id, sdp: answer })
    }

    /// Ends the session `id` of `stream` (WHIP DELETE); false if there is none.
    pub fn delete(&self, stream: &str, id: &str) -> bool {
        match self.sessions().get(id) {
            Some(entry) if entry.stream == stream => {
                entry.stop.cancel();
                true
            }
            _ => false,
        }
    }
}
