//! Bounded fan-out from one publish session to its consumers.
//!
//! The publisher side never waits: events go into a fixed-size ring (`tokio::sync::broadcast`).
//! A consumer that falls a whole ring behind loses the oldest events; its [`Subscriber`] then
//! skips forward to the next video keyframe (so a decoder never sees a broken GOP) and counts
//! what it skipped. Nothing here grows with a slow reader.
//!
//! A hub lives as long as one publish session: when the [`Publisher`] is dropped (the
//! connection closed or was taken over), subscribers drain what is left and then see the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{Frame, MediaKind, TrackConfig};

/// Default ring size: about 4 s of 30 fps video plus 48 kHz AAC.
pub const DEFAULT_CAPACITY: usize = 512;

#[derive(Debug, Clone)]
pub enum HubEvent {
    Config(TrackConfig),
    Frame(Frame),
}

/// Counters a session exposes to status pages and metrics.
#[derive(Debug, Default)]
pub struct HubStats {
    pub frames_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Events a subscriber never saw because it lagged, plus frames it dropped while waiting for
    /// the next keyframe.
    pub frames_skipped: AtomicU64,
    /// How many times a subscriber had to skip forward.
    pub lag_events: AtomicU64,
}

/// The sending half, owned by a protocol adapter for the length of one publish session.
#[derive(Debug)]
pub struct Publisher {
    tx: broadcast::Sender<HubEvent>,
    stats: Arc<HubStats>,
}

/// Creates a hub with room for `capacity` events per subscriber.
pub fn hub(capacity: usize) -> Publisher {
    let (tx, _) = broadcast::channel(capacity.max(16));
    Publisher { tx, stats: Arc::new(HubStats::default()) }
}

impl Publisher {
    /// Announces (or changes) a track's decoder configuration.
    pub fn send_config(&self, config: TrackConfig) {
        // No subscriber is not an error: frames of a session nobody consumes are simply dropped.
        let _ = self.tx.send(HubEvent::Config(config));
    }

    /// Hands a frame to every subscriber without waiting for any of them.
    pub fn send_frame(&self, frame: Frame) {
        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_in.fetch_add(frame.payload.len() as u64, Ordering::Relaxed);
        let _ = self.tx.send(HubEvent::Frame(frame));
    }

    pub fn subscribe(&self) -> Subscriber {
        Subscriber { rx: self.tx.subscribe(), stats: self.stats.clone(), waiting_for_keyframe: false }
    }

    pub fn stats(&self) -> Arc<HubStats> {
        self.stats.clone()
    }
}

/// The receiving half; see the module docs for its skip-forward rule.
#[derive(Debug)]
pub struct Subscriber {
    rx: broadcast::Receiver<HubEvent>,
    stats: Arc<HubStats>,
    waiting_for_keyframe: bool,
}

impl Subscriber {
    /// Next event, or `None` once the publisher is gone and everything was delivered.
    pub async fn recv(&mut self) -> Option<HubEvent> {
        loop {
            let received = self.rx.recv().await;
            if let Some(out) = self.admit(received)? {
                return Some(out);
            }
        }
    }

    /// Blocking form of [`Subscriber::recv`] for pipeline threads. Never call it on a runtime thread.
    pub fn blocking_recv(&mut self) -> Option<HubEvent> {
        loop {
            let received = self.rx.blocking_recv();
            if let Some(out) = self.admit(received)? {
                return Some(out);
            }
        }
    }

    /// Applies the lag rule. Outer `None`: channel closed; inner `None`: event swallowed.
    fn admit(&mut self, received: Result<HubEvent, RecvError>) -> Option<Option<HubEvent>> {
        match received {
            Err(RecvError::Closed) => None,
            Err(RecvError::Lagged(missed)) => {
                self.stats.frames_skipped.fetch_add(missed, Ordering::Relaxed);
                self.stats.lag_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(missed, "consumer fell behind the publisher; skipping to the next keyframe");
                self.waiting_for_keyframe = true;
                Some(None)
            }
            Ok(HubEvent::Frame(frame)) if self.waiting_for_keyframe => {
                if frame.kind() == MediaKind::Video && frame.keyframe {
                    self.waiting_for_keyframe = false;
                    Some(Some(HubEvent::Frame(frame)))
                } else {
                    self.stats.frames_skipped.fetch_add(1, Ordering::Relaxed);
                    Some(None)
                }
            }
            Ok(event) => Some(Some(event)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;
    use crate::{Codec, Timestamp};

    fn video(ms: i64, keyframe: bool) -> Frame {
        Frame {
            codec: Codec::H264,
            dts: Timestamp::from_millis(ms),
            pts: Timestamp::from_millis(ms),
            keyframe,
            payload: Bytes::from_static(b"x"),
            received_at: SystemTime::now(),
        }
    }

    fn frame_ms(event: HubEvent) -> i64 {
        match event {
            HubEvent::Frame(f) => f.dts.as_nanos() / 1_000_000,
            HubEvent::Config(_) => -1,
        }
    }

    #[tokio::test]
    async fn in_order_delivery_then_end() {
        let publisher = hub(16);
        let mut sub = publisher.subscribe();
        publisher.send_frame(video(0, true));
        publisher.send_frame(video(33, false));
        drop(publisher);
        assert_eq!(sub.recv().await.map(frame_ms), Some(0));
        assert_eq!(sub.recv().await.map(frame_ms), Some(33));
        assert!(sub.recv().await.is_none());
    }

    #[tokio::test]
    async fn slow_subscriber_skips_to_next_keyframe_and_publisher_never_blocks() {
        let publisher = hub(16);
        let mut sub = publisher.subscribe();
        // 100 frames into a 16-slot ring with nobody reading: must not block or grow.
        for i in 0..100 {
            publisher.send_frame(video(i * 33, i % 30 == 0));
        }
        // The first event delivered after the lag is a keyframe (frame 90).
        assert_eq!(sub.recv().await.map(frame_ms), Some(90 * 33));
        let stats = publisher.stats();
        assert_eq!(stats.lag_events.load(Ordering::Relaxed), 1);
        // 84 lost in the ring + the frames 84..90 dropped while waiting for the keyframe.
        assert_eq!(stats.frames_skipped.load(Ordering::Relaxed), 90);
        assert_eq!(stats.frames_in.load(Ordering::Relaxed), 100);
        for i in 91..100 {
            assert_eq!(sub.recv().await.map(frame_ms), Some(i * 33));
        }
    }

    #[test]
    fn blocking_recv_works_off_runtime() {
        let publisher = hub(16);
        let mut sub = publisher.subscribe();
        let t = std::thread::spawn(move || sub.blocking_recv().map(frame_ms));
        publisher.send_frame(video(7, true));
        assert_eq!(t.join().ok().flatten(), Some(7));
    }
}
