//! Broadcasts cut short: a node that is killed (or loses its machine) in the middle of a
//! broadcast never ends it, so another node, or the same one when it starts again, does: the
//! broadcast's end is stored and its recording, if any, is recovered into a video from what
//! reached the storage.
//!
//! With several nodes on one database, "unfinished" is not "cut": most unfinished broadcasts are
//! on the air on some node. A broadcast is cut when it is not on the air here and its stream's
//! publisher lease is free or expired (nobody carries the stream) or held by this node (this
//! node took the stream over from a node that died, so the old broadcast is nobody's). One that
//! started less than `min_age` ago is left for later: its node may be between taking the lease
//! and putting the broadcast on the air. Every node sweeps every [`SWEEP_EVERY`]; the store's
//! `end` succeeds for one of them only, and only that one recovers the recording.

use std::collections::HashSet;
use std::time::Duration;

use super::publisher_lease::lease_name;
use super::registry::LiveRegistry;

/// How often a running node looks for cut broadcasts.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How old a broadcast must be before a running node's sweep may call it cut.
pub const SWEEP_MIN_AGE: Duration = Duration::from_secs(30);

impl LiveRegistry {
    /// Ends the broadcasts that nobody carries on (see the module docs) and started at least
    /// `min_age` ago: zero when the node starts (nothing is on the air here yet and no publisher
    /// was let in), [`SWEEP_MIN_AGE`] afterwards.
    pub async fn finish_cut_broadcasts(&self, min_age: Duration) {
        let open = match self.store.broadcasts().unfinished().await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for broadcasts cut by a stop");
                return;
            }
        };
        if open.is_empty() {
            return;
        }
        let on_air_here: HashSet<String> =
            self.streams().values().filter_map(|s| s.on_air().map(|on_air| on_air.id)).collect();
        let newest =
            oxcast_media::clock::unix_seconds().saturating_sub(i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX));
        for b in open {
            if on_air_here.contains(&b.id) || b.started_at > newest {
                continue;
            }
            match self.store.leases().current(&lease_name(&b.stream_name)).await {
                Ok(Some(lease)) if lease.holder != self.node.id => continue, // on the air elsewhere
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read publisher leases; cut broadcasts wait");
                    return;
                }
            }
            // Only the node whose update ends it goes on (several may sweep at once).
            if !matches!(self.store.broadcasts().end(&b.id).await, Ok(true)) {
                continue;
            }
            if let (Some(video), Some(media)) = (&b.video_id, &self.settings.recordings)
                && let Err(e) = oxcast_vod::recording::recover(media, &self.store, video).await
            {
                tracing::warn!(broadcast = %b.id, %video, error = %e, "could not recover a recording");
            }
            tracing::info!(broadcast = %b.id, stream = %b.stream_name, "broadcast cut by a stop ended");
        }
    }
}
