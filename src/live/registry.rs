//! The registry of live streams: authorizes publishers, hands them a hub, starts the session's
//! pipeline, takes streams over, and ends them after the offline grace period.
//!
//! Lifecycle of a stream's playlist: first publish → live; publisher leaves → interrupted
//! (open segments closed, no ENDLIST); a publisher returns within the grace period → the
//! same playlist continues after EXT-X-DISCONTINUITY; otherwise → EXT-X-ENDLIST.
//! A new publisher with the right key always wins: the old connection is told to close.
//!
//! Across nodes the same rule holds through the stream's publisher lease (`publisher_lease`):
//! a publish takes the lease wherever it lands, and the node that had the stream lets it go
//! (connection closed, broadcast ended, packager dropped) as soon as its renewal fails.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use oxcast_api::{LiveStatus, LiveView, RenditionStatus};
use oxcast_ingest::{Admission, Protocol, PublishAuthority, PublishGrant, PublishRejected, PublishRequest};
use oxcast_ll_hls::state::Phase;
use oxcast_ll_hls::{PackagerConfig, PackagerDirectory, StreamPackager, TrackKind};
use oxcast_media::{HubStats, hub};
use oxcast_store::{KeyedStream, Store};
use oxcast_transcode::{Ladder, LiveSession, LiveSessionConfig, SegmenterConfig, spawn_live_session};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::relay::LiveRelay;
use super::sink::PackagerSink;
use super::stats::{PartDelays, Recent};
use crate::node::NodeIdentity;

/// Live settings the registry needs (from the configuration).
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub part_duration: Duration,
    pub segment_duration: Duration,
    pub window: Duration,
    pub offline_grace: Duration,
    /// Transcoding profiles by name, and the one streams use unless they name another.
    pub profiles: std::collections::BTreeMap<String, Ladder>,
    pub default_profile: String,
    /// Whether streams that do not say record their broadcasts (`[live] record`).
    pub record_by_default: bool,
    /// Where recordings go (the media storage); `None`: nothing is recorded.
    pub recordings: Option<Arc<dyn oxcast_vod::Storage>>,
}

impl LiveSettings {
    /// The ladder for a profile name (the default profile when unknown or unset).
    pub fn ladder(&self, profile: Option<&str>) -> Ladder {
        let name = profile.unwrap_or(&self.default_profile);
        match self.profiles.get(name).or_else(|| self.profiles.get(&self.default_profile)) {
            Some(ladder) => ladder.clone(),
            None => Ladder::passthrough(),
        }
    }
}

/// The publisher currently on a stream.
pub(super) struct ActiveSession {
    protocol: Protocol,
    started: Instant,
    pub(super) ended: CancellationToken,
    hub: Arc<HubStats>,
    /// Recent ingest bitrate, updated by the sampler.
    bitrate: Option<u64>,
    last_sample: (Instant, u64),
}

#[derive(Default)]
pub(super) struct StreamInner {
    /// Bumped on every publish; a session's callbacks compare against it.
    pub(super) generation: u64,
    pub(super) session: Option<ActiveSession>,
    pub(super) last_protocol: Option<Protocol>,
    /// The transcode thread of the newest session, joined by the next one.
    pub(super) thread: Option<LiveSession>,
    pub(super) last_error: Option<String>,
    /// The broadcast under way (from the first publish until the stream ends).
    pub(super) broadcast: Option<OnAir>,
    /// The generation of the publisher lease this node holds on the stream (from the first
    /// publish until the stream ends or another node takes it).
    pub(super) lease: Option<i64>,
}

/// A broadcast under way, and its recording.
#[derive(Clone)]
pub(crate) struct OnAir {
    pub(crate) id: String,
    pub(crate) recorder: Option<Arc<oxcast_vod::Recorder>>,
}

pub(crate) struct LiveStream {
    pub(crate) name: String,
    pub(crate) packager: Arc<StreamPackager>,
    pub(crate) part_delay: PartDelays,
    pub(super) inner: Mutex<StreamInner>,
    grace: Duration,
    runtime: tokio::runtime::Handle,
    /// The server's tracker and token: the grace timer is one of its tasks and ends at shutdown.
    tracker: TaskTracker,
    shutdown: CancellationToken,
    pub(super) store: Store,
    pub(super) node: Arc<NodeIdentity>,
}

impl LiveStream {
    pub(super) fn lock(&self) -> MutexGuard<'_, StreamInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_error(&self, error: &str) {
        self.lock().last_error = Some(error.to_owned());
    }

    /// Called when session `generation`'s publisher left and its media is delivered.
    pub(crate) fn publisher_gone(self: &Arc<Self>, generation: u64) {
        {
            let mut inner = self.lock();
            if inner.generation != generation {
                return; // taken over: the new session owns the stream now
            }
            inner.session = None;
        }
        self.packager.interrupt();
        tracing::info!(stream = %self.name, grace = ?self.grace, "stream offline; waiting for the publisher to return");
        let stream = self.clone();
        self.tracker.spawn_on(
            async move {
                tokio::select! {
                    // Shutdown ends every stream itself (`LiveRegistry::end_all`).
                    () = stream.shutdown.cancelled() => {}
                    () = tokio::time::sleep(stream.grace) => {
                        let (on_air, lease) = {
                            let mut inner = stream.lock();
                            if inner.generation != generation {
                                return;
                            }
                            (inner.broadcast.take(), inner.lease.take())
                        };
                        stream.packager.end();
                        tracing::info!(stream = %stream.name, "stream ended");
                        if let Some(on_air) = on_air {
                            stream.end_broadcast(on_air).await;
                        }
                        if let Some(lease) = lease {
                            stream.release_lease(lease).await;
                        }
                    }
                }
            },
            &self.runtime,
        );
    }
}

impl LiveStream {
    /// The broadcast is over: its recording becomes a video, its end is stored.
    pub(crate) async fn end_broadcast(&self, on_air: OnAir) {
        if let Some(recorder) = &on_air.recorder {
            recorder.finish().await;
        }
        if let Err(e) = self.store.broadcasts().end(&on_air.id).await {
            tracing::warn!(stream = %self.name, error = %e, "could not store the end of the broadcast");
        }
        tracing::info!(stream = %self.name, broadcast = %on_air.id, recorded = on_air.recorder.is_some(), "broadcast ended");
    }

    /// The broadcast under way, for viewer sampling.
    pub(crate) fn on_air(&self) -> Option<OnAir> {
        self.lock().broadcast.clone()
    }
}

pub struct LiveRegistry {
    pub(super) store: Store,
    pub(super) settings: LiveSettings,
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    pub(super) node: Arc<NodeIdentity>,
    /// Plays here the streams live on other nodes (set once the HTTP side is wired).
    relay: std::sync::OnceLock<Arc<LiveRelay>>,
    /// The shared services' probes, shown on `/metrics` with the streams.
    health: std::sync::OnceLock<Arc<crate::health::ServiceHealth>>,
}

impl LiveRegistry {
    /// `shutdown` and `tracker` are the server's: timers the registry starts are tracked tasks.
    pub fn new(
        store: Store,
        settings: LiveSettings,
        node: NodeIdentity,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<Self> {
        let node = Arc::new(node);
        let relay = std::sync::OnceLock::new();
        let health = std::sync::OnceLock::new();
        Arc::new(Self { store, settings, streams: Mutex::new(HashMap::new()), shutdown, tracker, node, relay, health })
    }

    /// `/metrics` shows what `health`'s probes find from now on.
    pub fn set_health(&self, health: Arc<crate::health::ServiceHealth>) {
        let _ = self.health.set(health);
    }

    /// Streams live on other nodes play here through `relay` from now on.
    pub fn set_relay(&self, relay: Arc<LiveRelay>) {
        let _ = self.relay.set(relay);
    }

    pub fn relay(&self) -> Option<&Arc<LiveRelay>> {
        self.relay.get()
    }

    pub(super) fn streams(&self) -> MutexGuard<'_, HashMap<String, Arc<LiveStream>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stream(&self, name: &str) -> Arc<LiveStream> {
        let settings = &self.settings;
        self.streams()
            .entry(name.to_owned())
            .or_insert_with(|| {
                let config = PackagerConfig {
                    part_target: settings.part_duration,
                    segment_target: settings.segment_duration,
                    window: settings.window,
                };
                Arc::new(LiveStream {
                    name: name.to_owned(),
                    packager: Arc::new(StreamPackager::new(name, config)),
                    part_delay: PartDelays::default(),
                    inner: Mutex::new(StreamInner::default()),
                    grace: settings.offline_grace,
                    runtime: tokio::runtime::Handle::current(),
                    tracker: self.tracker.clone(),
                    shutdown: self.shutdown.clone(),
                    store: self.store.clone(),
                    node: self.node.clone(),
                })
            })
            .clone()
    }

    /// The stream `request`'s key unlocks, if it matches the stream the publisher named.
    async fn lookup(&self, request: &PublishRequest) -> Result<KeyedStream, PublishRejected> {
        let found = match self.store.streams().by_key(&request.stream_key).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(PublishRejected::InvalidKey),
            Err(e) => {
                tracing::error!(error = %e, "stream store unavailable");
                return Err(PublishRejected::Unavailable("stream store unavailable".into()));
            }
        };
        if request.stream.as_ref().is_some_and(|named| *named != found.name) {
            // A valid key for another stream: same answer as a wrong key, so keys cannot be probed.
            return Err(PublishRejected::InvalidKey);
        }
        Ok(found)
    }

    /// A new broadcast of `found` (its first publish since it last ended), recorded when the
    /// stream (or the server's default) says so. Failures to record are logged: the stream
    /// goes live regardless.
    async fn start_broadcast(&self, found: &KeyedStream) -> OnAir {
        let mut recorder = None;
        let mut video_id = None;
        if found.record.unwrap_or(self.settings.record_by_default)
            && let (Some(storage), Some(owner)) = (&self.settings.recordings, found.owner_id.as_deref())
        {
            let title = if found.title.is_empty() { found.name.clone() } else { found.title.clone() };
            // The recording is as findable and as signed as the stream it records.
            let details = oxcast_store::VideoDetails {
                title,
                privacy: found.privacy,
                playback: found.playback,
                ..oxcast_store::VideoDetails::default()
            };
            let made = self
                .store
                .videos()
                .create(oxcast_store::NewVideo { owner_id: owner, details, profile: None, upload_size: None })
                .await;
            match made {
                Ok(video) => {
                    let _ = self.store.videos().start_processing(&video.id).await;
                    let _ = self.store.videos().set_progress(&video.id, "recording", 0.0, None).await;
                    recorder = Some(oxcast_vod::Recorder::start(
                        storage.clone(),
                        self.store.clone(),
                        &video.id,
                        self.settings.segment_duration,
                        &tokio::runtime::Handle::current(),
                        &self.tracker,
                    ));
                    video_id = Some(video.id);
                }
                Err(e) => tracing::warn!(stream = %found.name, error = %e, "cannot create the recording's video"),
            }
        }
        let id = match self.store.broadcasts().start(&found.name, found.owner_id.as_deref(), video_id.as_deref()).await
        {
            Ok(b) => b.id,
            Err(e) => {
                tracing::warn!(stream = %found.name, error = %e, "cannot store the broadcast");
                String::new()
            }
        };
        tracing::info!(stream = %found.name, broadcast = %id, recording = ?video_id, "broadcast started");
        OnAir { id, recorder }
    }

    async fn grant(&self, request: PublishRequest) -> Result<PublishGrant, PublishRejected> {
        let found = self.lookup(&request).await?;
        // Taken before anything starts: wherever the stream was live, it is live here now.
        let lease = self.take_publisher_lease(&found.name).await?;
        let stream = self.stream(&found.name);
        let new_broadcast =
            if stream.lock().broadcast.is_none() { Some(self.start_broadcast(&found).await) } else { None };
        let KeyedStream { name, profile, .. } = found;
        let publisher = hub(oxcast_media::hub::DEFAULT_CAPACITY);
        let subscriber = publisher.subscribe();
        let ended = self.shutdown.child_token();
        let mut inner = stream.lock();
        if let Some(on_air) = new_broadcast
            && inner.broadcast.is_none()
        {
            inner.broadcast = Some(on_air);
        }
        inner.generation += 1;
        let generation = inner.generation;
        inner.lease = Some(lease);
        if let Some(old) = inner.session.take() {
            tracing::info!(stream = %name, old = %old.protocol, new = %request.protocol, remote = %request.remote, "publisher takes the stream over");
            old.ended.cancel();
        }
        let recorder = inner.broadcast.as_ref().and_then(|b| b.recorder.clone());
        let sink = Arc::new(PackagerSink { stream: stream.clone(), generation, recorder });
        let config = LiveSessionConfig {
            stream: name.clone(),
            segmenter: SegmenterConfig {
                part_target: self.settings.part_duration,
                segment_target: self.settings.segment_duration,
            },
            ladder: self.settings.ladder(profile.as_deref()),
        };
        let previous = inner.thread.take();
        let thread = spawn_live_session(config, subscriber, sink, previous).map_err(|e| {
            tracing::error!(error = %e, "cannot start a session thread");
            PublishRejected::Unavailable("server cannot start a session".into())
        })?;
        inner.thread = Some(thread);
        inner.last_error = None;
        inner.last_protocol = Some(request.protocol);
        inner.session = Some(ActiveSession {
            protocol: request.protocol,
            started: Instant::now(),
            ended: ended.clone(),
            hub: publisher.stats(),
            bitrate: None,
            last_sample: (Instant::now(), 0),
        });
        drop(inner);
        Ok(PublishGrant { stream_name: name, publisher, ended })
    }

    /// Counts who watches each broadcast under way; run every few seconds.
    pub async fn sample_viewers(&self, viewers: &dyn oxcast_api::ViewerCounts) {
        let streams: Vec<Arc<LiveStream>> = self.streams().values().cloned().collect();
        for stream in streams {
            let Some(on_air) = stream.on_air() else { continue };
            if let Some(count) = viewers.viewers(&stream.name).await {
                let _ = self.store.broadcasts().sample_viewers(&on_air.id, count.current as i64).await;
            }
        }
    }

    /// Updates each live session's ingest bitrate; run about once a second.
    pub fn sample_bitrates(&self) {
        for stream in self.streams().values() {
            let mut inner = stream.lock();
            if let Some(s) = inner.session.as_mut() {
                let now = Instant::now();
                let bytes = s.hub.bytes_in.load(Ordering::Relaxed);
                let (then, before) = s.last_sample;
                let secs = now.duration_since(then).as_secs_f64();
                if secs >= 0.5 {
                    let rate = ((bytes - before) as f64 * 8.0 / secs) as u64;
                    // Smooth over a few seconds.
                    s.bitrate = Some(s.bitrate.map_or(rate, |old| (old * 3 + rate) / 4));
                    s.last_sample = (now, bytes);
                }
            }
        }
    }

    /// Ends every stream (EXT-X-ENDLIST) and waits for the session threads: for shutdown.
    /// Returns the streams whose playlist is now ended, by name.
    pub fn end_all(&self) -> Vec<String> {
        let streams: Vec<Arc<LiveStream>> = self.streams().values().cloned().collect();
        let mut ended = Vec::new();
        for stream in streams {
            let (thread, on_air, lease) = {
                let mut inner = stream.lock();
                if let Some(s) = inner.session.take() {
                    s.ended.cancel();
                }
                inner.generation += 1;
                (inner.thread.take(), inner.broadcast.take(), inner.lease.take())
            };
            if let Some(thread) = thread {
                thread.join();
            }
            stream.packager.end();
            if let Some(on_air) = on_air {
                // Called on a blocking thread (see `serve`): the recording's end is awaited here.
                stream.runtime.block_on(stream.end_broadcast(on_air));
            }
            if let Some(lease) = lease {
                // Freed now rather than at its expiry, so other nodes stop relaying to this one.
                stream.runtime.block_on(stream.release_lease(lease));
            }
            if stream.packager.with_state(|state| state.phase == Phase::Ended) {
                ended.push(stream.name.clone());
            }
        }
        ended.sort();
        ended
    }
}

impl PublishAuthority for LiveRegistry {
    fn admit<'a>(
        &'a self,
        request: &'a PublishRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Admission, PublishRejected>> + Send + 'a>> {
        Box::pin(async move {
            let found = self.lookup(request).await?;
            Ok(Admission { stream_name: found.name, srt_passphrase: found.srt_passphrase })
        })
    }

    fn publish<'a>(
        &'a self,
        request: PublishRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<PublishGrant, PublishRejected>> + Send + 'a>> {
        Box::pin(self.grant(request))
    }
}

impl PackagerDirectory for LiveRegistry {
    fn packager(&self, stream: &str) -> Option<Arc<StreamPackager>> {
        self.streams().get(stream).map(|s| s.packager.clone())
    }
}

impl LiveRegistry {
    /// The state of `name` when this node has it (live, or in its offline grace).
    fn local_status(&self, name: &str) -> Option<LiveStatus> {
        let stream = self.streams().get(name).cloned()?;
        let mut status = LiveStatus::offline();
        {
            let inner = stream.lock();
            status.last_error = inner.last_error.clone();
            status.protocol = inner.last_protocol.map(|p| p.to_string());
            if let Some(s) = &inner.session {
                status.state = "live";
                status.uptime_seconds = Some(s.started.elapsed().as_secs());
                status.ingest_bitrate_bps = s.bitrate;
                status.frames_skipped = s.hub.frames_skipped.load(Ordering::Relaxed);
            }
        }
        stream.packager.with_state(|state| {
            if state.phase != Phase::Live {
                return;
            }
            for r in &state.renditions {
                let kind = match r.meta.kind {
                    TrackKind::Video => "video",
                    TrackKind::Audio => "audio",
                };
                if kind == "video" && status.video_codec.is_none() {
                    status.video_codec = Some(r.meta.codecs.clone());
                }
                if kind == "audio" && status.audio_codec.is_none() {
                    status.audio_codec = Some(r.meta.codecs.clone());
                }
                status.renditions.push(RenditionStatus {
                    id: r.meta.id.clone(),
                    kind,
                    codecs: r.meta.codecs.clone(),
                    width: r.meta.resolution.map(|(w, _)| w),
                    height: r.meta.resolution.map(|(_, h)| h),
                    frame_rate: r.meta.frame_rate,
                    bitrate_bps: r.measured_bitrate().map(|(_, avg)| avg),
                });
            }
        });
        Some(status)
    }
}

impl LiveView for LiveRegistry {
    fn status<'a>(&'a self, name: &'a str) -> oxcast_api::BoxFuture<'a, LiveStatus> {
        Box::pin(async move {
            if let Some(status) = self.local_status(name) {
                return status;
            }
            // Live on another node: as that node reports it.
            match self.relay() {
                Some(relay) => relay.status(name).await.unwrap_or_else(LiveStatus::offline),
                None => LiveStatus::offline(),
            }
        })
    }

    fn render_metrics(&self, out: &mut String) {
        let streams: Vec<Arc<LiveStream>> = self.streams().values().cloned().collect();
        let live = streams.iter().filter(|s| s.lock().session.is_some()).count();
        let _ = writeln!(out, "# TYPE oxcast_live_streams gauge\noxcast_live_streams {live}");
        let _ = writeln!(out, "# TYPE oxcast_part_ready_seconds summary");
        for s in &streams {
            let name = &s.name;
            write_part_ready(out, &format!("stream=\"{name}\""), s.part_delay.all());
            for (rendition, recent) in s.part_delay.by_rendition() {
                write_part_ready(out, &format!("stream=\"{name}\",rendition=\"{rendition}\""), &recent);
            }
        }
        let _ = writeln!(
            out,
            "# TYPE oxcast_ingest_frames_total counter\n# TYPE oxcast_ingest_frames_skipped_total counter"
        );
        for s in &streams {
            if let Some(session) = &s.lock().session {
                let name = &s.name;
                let _ = writeln!(
                    out,
                    "oxcast_ingest_frames_total{{stream=\"{name}\"}} {}",
                    session.hub.frames_in.load(Ordering::Relaxed)
                );
                let _ = writeln!(
                    out,
                    "oxcast_ingest_frames_skipped_total{{stream=\"{name}\"}} {}",
                    session.hub.frames_skipped.load(Ordering::Relaxed)
                );
            }
        }
        if let Some(relay) = self.relay() {
            relay.render_metrics(out);
        }
        if let Some(health) = self.health.get() {
            health.render_metrics(out);
        }
    }
}

/// One `oxcast_part_ready_seconds` summary (p50, p99, count) under the given labels.
fn write_part_ready(out: &mut String, labels: &str, recent: &Recent) {
    let (q, n) = recent.quantiles(&[0.5, 0.99]);
    if let [p50, p99] = q[..] {
        let _ = writeln!(out, "oxcast_part_ready_seconds{{{labels},quantile=\"0.5\"}} {:.6}", p50.as_secs_f64());
        let _ = writeln!(out, "oxcast_part_ready_seconds{{{labels},quantile=\"0.99\"}} {:.6}", p99.as_secs_f64());
        let _ = writeln!(out, "oxcast_part_ready_seconds_count{{{labels}}} {n}");
    }
}
