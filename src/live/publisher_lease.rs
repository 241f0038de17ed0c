//! A stream is live on one node at a time: the node a publisher reaches takes the stream's
//! lease (`stream:NAME` in the shared database, with this node's URL), renews it every
//! [`RENEW_EVERY`] while the stream is on (live or in its offline grace), and frees it when the
//! stream ends. A publisher that reconnects to another node takes the lease over there, as a
//! reconnect does on one node; the node that had the stream finds out at its next renewal and
//! lets the stream go: its publisher connection is closed, its broadcast ended (with its
//! recording), and its packager dropped, so its own viewers are relayed from the new node.
//!
//! Other nodes read the lease to find where to relay the stream from (`relay`). A node that
//! dies stops renewing: within [`STREAM_LEASE`] the lease is free, and a publisher that
//! reconnects anywhere takes the stream.

use std::sync::Arc;
use std::time::Duration;

use oxcast_ingest::PublishRejected;
use tokio_util::sync::CancellationToken;

use super::cut_broadcasts::{SWEEP_EVERY, SWEEP_MIN_AGE};
use super::registry::{LiveRegistry, LiveStream};

/// How long an unrenewed publisher lease lasts.
pub const STREAM_LEASE: Duration = Duration::from_secs(5);
/// How often the node renews the leases of its streams (and so how soon a node that lost one
/// lets its stream go).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

/// The lease's name for stream `name`.
pub fn lease_name(stream: &str) -> String {
    format!("stream:{stream}")
}

impl LiveRegistry {
    /// Takes stream `name`'s lease for this node, from whoever holds it.
    pub(super) async fn take_publisher_lease(&self, name: &str) -> Result<i64, PublishRejected> {
        let node = &self.node;
        match self.store.leases().take_over(&lease_name(name), &node.id, Some(&node.url), STREAM_LEASE).await {
            Ok(generation) => Ok(generation),
            Err(e) => {
                tracing::error!(stream = %name, error = %e, "cannot take the stream's publisher lease");
                Err(PublishRejected::Unavailable("stream store unavailable".into()))
            }
        }
    }

    /// Renews every lease this node holds; lets go of the streams whose lease another node took.
    pub async fn renew_publisher_leases(&self) {
        let held: Vec<(Arc<LiveStream>, i64)> =
            self.streams().values().filter_map(|s| s.lock().lease.map(|g| (s.clone(), g))).collect();
        for (stream, generation) in held {
            match self.store.leases().renew(&lease_name(&stream.name), &self.node.id, generation, STREAM_LEASE).await {
                Ok(true) => {}
                Ok(false) => self.let_go(&stream, generation).await,
                // The database is away: keep the stream; if it stays away past the lease, another
                // node may take the stream, and this one lets go once it can tell.
                Err(e) => tracing::warn!(stream = %stream.name, error = %e, "cannot renew the publisher lease"),
            }
        }
    }

    /// Another node took `stream` (this node held lease `generation`): close the publisher, end
    /// the broadcast and drop the packager, so the stream is served from where it is now.
    async fn let_go(&self, stream: &Arc<LiveStream>, generation: i64) {
        let (session, on_air, thread) = {
            let mut inner = stream.lock();
            if inner.lease != Some(generation) {
                return; // taken again on this node meanwhile: the new generation is renewed next
            }
            inner.lease = None;
            // Callbacks of the session that is ending (its sink, its grace timer) see a newer
            // generation and do nothing.
            inner.generation += 1;
            (inner.session.take(), inner.broadcast.take(), inner.thread.take())
        };
        tracing::warn!(stream = %stream.name, "another node took the stream over; letting it go here");
        if let Some(session) = session {
            session.ended.cancel();
        }
        {
            let mut streams = self.streams();
            if streams.get(&stream.name).is_some_and(|s| Arc::ptr_eq(s, stream)) {
                streams.remove(&stream.name);
            }
        }
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Some(on_air) = on_air {
            stream.end_broadcast(on_air).await;
        }
    }
}

impl LiveStream {
    /// Frees this node's lease `generation` on the stream (it ended here).
    pub(super) async fn release_lease(&self, generation: i64) {
        if let Err(e) = self.store.leases().release(&lease_name(&self.name), &self.node.id, generation).await {
            tracing::warn!(stream = %self.name, error = %e, "cannot free the publisher lease; it expires by itself");
        }
    }
}

/// Renews this node's publisher leases every [`RENEW_EVERY`], and ends the broadcasts nobody
/// carries on every [`SWEEP_EVERY`], until shutdown.
pub async fn keep_publisher_leases(registry: Arc<LiveRegistry>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => registry.renew_publisher_leases().await,
            // Broadcasts of nodes that died (or of a stream this node took over from one).
            _ = sweep.tick() => registry.finish_cut_broadcasts(SWEEP_MIN_AGE).await,
        }
    }
}
