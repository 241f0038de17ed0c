//! One stream's packager: the state behind a lock, plus a change signal for blocked requests,
//! and the media playlists rendered since the last change.
//!
//! Why the rendered playlists are kept: when a part is published, every viewer blocked on it
//! wakes at once and asks for the same text (a few hundred viewers of one rendition, one
//! playlist version). Rendering it once per version instead of once per viewer takes the
//! formatting off the per-request cost; a change drops them all.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::watch;

use crate::PackagerConfig;
use crate::state::{PartIn, Phase, Rendition, RenditionMeta, StreamState};

#[derive(Debug)]
pub struct StreamPackager {
    name: String,
    state: Mutex<StreamState>,
    /// Bumped after every change; blocked requests wait on it.
    changed: watch::Sender<u64>,
    /// Media playlists rendered from the current state: (rendition, delta update, text).
    /// Read and filled only under the state lock, emptied by every change.
    rendered: Mutex<Vec<(String, bool, Bytes)>>,
}

impl StreamPackager {
    pub fn new(name: impl Into<String>, config: PackagerConfig) -> Self {
        let first_msn = oxcast_media::clock::since_epoch(SystemTime::now()).as_secs();
        Self::with_first_msn(name, config, first_msn)
    }

    pub fn with_first_msn(name: impl Into<String>, config: PackagerConfig, first_msn: u64) -> Self {
        Self {
            name: name.into(),
            state: Mutex::new(StreamState::new(config, first_msn)),
            changed: watch::channel(0).0,
            rendered: Mutex::new(Vec::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // State mutations cannot panic half-way in a way that breaks invariants we rely on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mutate<R>(&self, f: impl FnOnce(&mut StreamState) -> R) -> R {
        let mut state = self.lock();
        let out = f(&mut state);
        // Still under the state lock: no reader can render from the new state and find the
        // old text.
        self.rendered.lock().unwrap_or_else(PoisonError::into_inner).clear();
        drop(state);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }

    /// The media playlist of `rendition` in `state` (which must be this packager's, read
    /// through [`Self::with_state`]): rendered once per change of the state.
    pub fn media_playlist(&self, state: &StreamState, rendition: &Rendition, skip: bool) -> Bytes {
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, text)) = rendered.iter().find(|(id, s, _)| *id == rendition.meta.id && *s == skip) {
            return text.clone();
        }
        let text = Bytes::from(crate::playlist::media(state, rendition, skip));
        rendered.push((rendition.meta.id.clone(), skip, text.clone()));
        text
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::TrackKind;
    use crate::state::tests::{meta, part};

    #[test]
    fn a_playlist_is_rendered_once_per_change_and_never_served_stale() {
        let config = PackagerConfig {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(1),
            window: Duration::from_secs(30),
        };
        let p = StreamPackager::with_first_msn("main", config, 100);
        p.start_session(vec![meta("video", TrackKind::Video), meta("audio", TrackKind::Audio)]);
        for id in ["video", "audio"] {
            p.set_init(id, Bytes::from_static(b"init"), None, None, None);
            assert!(p.push_part(id, part(200, true)));
        }
        let render = |skip| p.with_state(|s| p.media_playlist(s, s.rendition("video").expect("video"), skip));
        let first = render(false);
        let again = render(false);
        assert_eq!(first.as_ptr(), again.as_ptr(), "the same version is one shared text");
        assert_eq!(first, p.with_state(|s| crate::playlist::media(s, s.rendition("video").expect("video"), false)));
        assert_ne!(render(true).as_ptr(), first.as_ptr(), "a delta update is its own text");
        // A new part, in any rendition (the reports list the others), drops the old text.
        assert!(p.push_part("audio", part(200, false)));
        let after_audio = render(false);
        assert_ne!(after_audio, first);
        assert_eq!(
            after_audio,
            p.with_state(|s| crate::playlist::media(s, s.rendition("video").expect("video"), false))
        );
        assert!(p.push_part("video", part(200, false)));
        assert!(render(false).len() > after_audio.len());
    }
}
