//! One stream's packager: the state behind a lock, plus a change signal for blocked requests.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::watch;

use crate::PackagerConfig;
use crate::state::{PartIn, Phase, RenditionMeta, StreamState};

#[derive(Debug)]
pub struct StreamPackager {
    name: String,
    state: Mutex<StreamState>,
    /// Bumped after every change; blocked requests wait on it.
    changed: watch::Sender<u64>,
}

impl StreamPackager {
    pub fn new(name: impl Into<String>, config: PackagerConfig) -> Self {
        let first_msn = oxcast_media::clock::since_epoch(SystemTime::now()).as_secs();
        Self::with_first_msn(name, config, first_msn)
    }

    pub fn with_first_msn(name: impl Into<String>, config: PackagerConfig, first_msn: u64) -> Self {
        Self { name: name.into(), state: Mutex::new(StreamState::new(config, first_msn)), changed: watch::channel(0).0 }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // State mutations cannot panic half-way in a way that breaks invariants we rely on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mutate<R>(&self, f: impl FnOnce(&mut StreamState) -> R) -> R {
        let out = f(&mut self.lock());
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }

    pub fn start_session(&self, renditions: Vec<RenditionMeta>) {
        self.mutate(|s| s.start_session(renditions));
    }

    pub fn set_init(
        &self,
        rendition: &str,
        data: Bytes,
        resolution: Option<(u32, u32)>,
        frame_rate: Option<f64>,
        codecs: Option<String>,
    ) {
        self.mutate(|s| s.set_init(rendition, data, resolution, frame_rate, codecs));
    }

    pub fn push_part(&self, rendition: &str, part: PartIn) -> bool {
        self.mutate(|s| s.push_part(rendition, part))
    }

    /// The publisher left; a reconnect within the grace period continues the playlist.
    pub fn interrupt(&self) {
        self.mutate(StreamState::interrupt);
    }

    /// Writes EXT-X-ENDLIST.
    pub fn end(&self) {
        self.mutate(StreamState::end);
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// Reads the state under the lock. Keep `f` short: part producers wait for it.
    pub fn with_state<R>(&self, f: impl FnOnce(&StreamState) -> R) -> R {
        f(&self.lock())
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
