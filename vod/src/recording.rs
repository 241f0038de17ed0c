//! Live to VOD: a broadcast's recording, kept from the segments the live path already makes (no
//! second encode), as a video in the catalog.
//!
//! The live sink hands every session start, init segment and LL-HLS part to a [`Recorder`]
//! (never blocking: parts go through a bounded queue, and a recording that cannot keep up loses
//! parts, never the live stream's time). Its task joins the parts of each segment and hands whole
//! segments to the same writer VOD processing uses: each is stored, then its rendition's EVENT
//! playlist is rewritten, so the recording is watchable (from the start) while the broadcast is
//! live, and a server that dies mid-stream has lost nothing already packaged. A reconnect within
//! the offline grace continues the recording with a new init segment after
//! EXT-X-DISCONTINUITY. When the broadcast ends the playlists become VOD, and only renditions
//! that cover the whole broadcast are kept: a rung shed during the broadcast (or missing after a
//! reconnect) is dropped, because a multivariant playlist cannot say that a variant exists for
//! part of the time. [`recover`] finishes a recording a crash left open, from what storage has.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use oxcast_media::MediaKind;
use oxcast_store::{Processed, Store};
use oxcast_transcode::{CmafPart, RenditionInfo, VideoDetails};
use tokio::sync::mpsc;

use crate::layout;
use crate::processing::writer::{Expected, Output, Writer};
use crate::storage::{Storage, StorageError};

/// Parts in flight between the live pipeline and storage: about 40 s of a four-rung ladder.
const QUEUE_PARTS: usize = 1024;
/// BANDWIDTH of the source rendition in the recording's multivariant before it is measured.
const SOURCE_BITRATE_GUESS: u64 = 6_000_000;

enum Event {
    Session(Vec<RenditionInfo>),
    Init { rendition: String, data: Bytes, video: Option<VideoDetails> },
    Part { rendition: String, data: Bytes, duration: Duration, segment_start: bool },
    SessionEnded,
    Finish,
}

/// The live side of a recording (cheap to call from GStreamer's threads).
#[derive(Debug)]
pub struct Recorder {
    video_id: String,
    events: mpsc::Sender<Event>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Recorder {
    /// Starts recording into video `video_id` (already in the catalog, `processing`); the task
    /// runs on `runtime` until [`Recorder::finish`].
    pub fn start(
        storage: Arc<dyn Storage>,
        store: Store,
        video_id: &str,
        segment_target: Duration,
        runtime: &tokio::runtime::Handle,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Arc<Self> {
        let (events, rx) = mpsc::channel(QUEUE_PARTS);
        let recorder = Arc::new(Self { video_id: video_id.to_owned(), events, dropped: Default::default() });
        let task = Task {
            storage,
            store,
            video_id: video_id.to_owned(),
            segment_target,
            writer: None,
            codecs: Vec::new(),
            open: Vec::new(),
        };
        tracker.spawn_on(task.run(rx), runtime);
        recorder
    }

    pub fn video_id(&self) -> &str {
        &self.video_id
    }

    fn send(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            let n = self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(video = %self.video_id, dropped = n, "the recording cannot keep up; parts dropped");
            }
        }
    }

    pub fn session_started(&self, renditions: &[RenditionInfo]) {
        self.send(Event::Session(renditions.to_vec()));
    }

    pub fn init_segment(&self, rendition: &str, data: Bytes, video: Option<VideoDetails>) {
        self.send(Event::Init { rendition: rendition.to_owned(), data, video });
    }

    pub fn part(&self, rendition: &str, part: &CmafPart) {
        self.send(Event::Part {
            rendition: rendition.to_owned(),
            data: part.data.clone(),
            duration: part.duration,
            segment_start: part.segment_start,
        });
    }

    pub fn session_ended(&self) {
        self.send(Event::SessionEnded);
    }

    /// The broadcast is over: the recording becomes a ready video. Waits for room in the queue
    /// (the end must not be lost); call from a task or a blocking thread, not a runtime worker
    /// in a hurry.
    pub async fn finish(&self) {
        let _ = self.events.send(Event::Finish).await;
    }
}

/// A segment being assembled from parts.
struct Open {
    rendition: String,
    data: BytesMut,
    duration: Duration,
}

struct Task {
    storage: Arc<dyn Storage>,
    store: Store,
    video_id: String,
    segment_target: Duration,
    /// Made at the first session, from its renditions.
    writer: Option<Writer>,
    /// Codec strings the session announced, for init segments whose caps do not say.
    codecs: Vec<(String, String)>,
    open: Vec<Open>,
}

impl Task {
    async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        while let Some(event) = events.recv().await {
            let finish = matches!(event, Event::Finish);
            if let Err(e) = self.take(event).await {
                tracing::warn!(video = %self.video_id, error = %e, "recording: storing failed");
            }
            if finish {
                break;
            }
        }
    }

    async fn take(&mut self, event: Event) -> Result<(), StorageError> {
        match event {
            Event::Session(renditions) => {
                self.flush_all().await?;
                if self.writer.is_none() {
                    let expected = renditions
                        .iter()
                        .map(|r| Expected {
                            id: r.id.clone(),
                            kind: r.kind,
                            target_bitrate: r.bitrate.unwrap_or(match r.kind {
                                MediaKind::Video => SOURCE_BITRATE_GUESS,
                                MediaKind::Audio => 128_000,
                            }),
                            channels: u32::from(r.channels.unwrap_or(2)),
                        })
                        .collect();
                    self.writer = Some(Writer::new(
                        self.storage.clone(),
                        self.store.clone(),
                        &self.video_id,
                        self.segment_target,
                        expected,
                    ));
                    self.codecs = renditions.iter().map(|r| (r.id.clone(), r.codecs.clone())).collect();
                }
            }
            Event::Init { rendition, data, video } => {
                self.flush(&rendition).await?;
                let codecs = video
                    .as_ref()
                    .and_then(|v| v.codecs.clone())
                    .or_else(|| self.codecs.iter().find(|(id, _)| *id == rendition).map(|(_, c)| c.clone()));
                if let Some(writer) = self.writer.as_mut() {
                    writer.take(Output::Init { rendition, data, codecs, video }).await?;
                }
            }
            Event::Part { rendition, data, duration, segment_start } => {
                if segment_start {
                    self.flush(&rendition).await?;
                }
                match self.open.iter_mut().find(|o| o.rendition == rendition) {
                    Some(open) => {
                        open.data.extend_from_slice(&data);
                        open.duration += duration;
                    }
                    None if segment_start => {
                        self.open.push(Open { rendition, data: BytesMut::from(&data[..]), duration })
                    }
                    // The tail of a segment whose start was lost: not playable on its own.
                    None => {}
                }
            }
            Event::SessionEnded => self.flush_all().await?,
            Event::Finish => {
                self.flush_all().await?;
                self.finish().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, rendition: &str) -> Result<(), StorageError> {
        let Some(at) = self.open.iter().position(|o| o.rendition == rendition) else { return Ok(()) };
        let open = self.open.swap_remove(at);
        if let Some(writer) = self.writer.as_mut() {
            writer
                .take(Output::Segment { rendition: open.rendition, data: open.data.freeze(), duration: open.duration })
                .await?;
        }
        Ok(())
    }

    async fn flush_all(&mut self) -> Result<(), StorageError> {
        let names: Vec<String> = self.open.iter().map(|o| o.rendition.clone()).collect();
        for name in names {
            self.flush(&name).await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), StorageError> {
        let mut writer = self.writer.take();
        if let Some(writer) = writer.as_mut() {
            let dropped = writer.keep_complete(self.segment_target * 3 / 2).await?;
            if !dropped.is_empty() {
                tracing::info!(video = %self.video_id, ?dropped, "recording: renditions that did not last the whole broadcast left out");
            }
        }
        let Some(writer) = writer.filter(|w| !w.is_empty() && w.missing().is_empty()) else {
            let reason = "the broadcast ended before anything was recorded";
            let _ = self.store.videos().set_failed(&self.video_id, reason).await;
            return Ok(());
        };
        let renditions = writer.finish().await?;
        let duration_ms = renditions.iter().map(|r| r.duration_ms).max().unwrap_or(0);
        let processed = Processed {
            source: serde_json::json!({ "live_recording": true }).to_string(),
            renditions: serde_json::to_string(&renditions).unwrap_or_else(|_| "[]".into()),
            duration_ms: duration_ms as i64,
            poster_key: None,
            storyboard_key: None,
        };
        if let Err(e) = self.store.videos().set_ready(&self.video_id, &processed).await {
            tracing::warn!(video = %self.video_id, error = %e, "recording: could not mark the video ready");
        } else {
            tracing::info!(video = %self.video_id, duration_ms, "recording ready");
        }
        Ok(())
    }
}

/// Finishes a recording that a crash or a kill left open: every rendition's EVENT playlist (all
/// its segments are stored: a playlist only ever names stored objects) becomes a VOD playlist,
/// and the video becomes ready; without playlists it fails with the reason.
pub async fn recover(storage: &Arc<dyn Storage>, store: &Store, video_id: &str) -> Result<(), StorageError> {
    let prefix = layout::video_prefix(video_id);
    let objects = storage.list(&prefix).await?;
    let mut longest = 0f64;
    let mut recovered = 0;
    for object in objects.iter().filter(|o| o.key.as_str().ends_with(&format!("/{}", layout::MEDIA_PLAYLIST))) {
        let rel = &object.key.as_str()[prefix.len()..];
        if !rel.contains('/') {
            continue; // the multivariant
        }
        let text = String::from_utf8_lossy(&storage.get_bytes(&object.key).await?.unwrap_or_default()).into_owned();
        let duration: f64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .filter_map(|l| l.trim_end_matches(',').parse::<f64>().ok())
            .sum();
        longest = longest.max(duration);
        let vod: String = text
            .lines()
            .filter(|l| !l.starts_with("#EXT-X-START") && !l.starts_with("#EXT-X-ENDLIST"))
            .map(|l| if l.starts_with("#EXT-X-PLAYLIST-TYPE") { "#EXT-X-PLAYLIST-TYPE:VOD" } else { l })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n#EXT-X-ENDLIST\n";
        storage.put_bytes(&object.key, Bytes::from(vod)).await?;
        recovered += 1;
    }
    let multivariant = layout::object(video_id, layout::MULTIVARIANT)?;
    if recovered == 0 || storage.head(&multivariant).await?.is_none() {
        let _ = store
            .videos()
            .set_failed(video_id, "the server stopped before anything of the broadcast was recorded")
            .await;
        return Ok(());
    }
    let processed = Processed {
        source: serde_json::json!({ "live_recording": true, "recovered": true }).to_string(),
        renditions: "[]".into(),
        duration_ms: (longest * 1000.0) as i64,
        poster_key: None,
        storyboard_key: None,
    };
    let _ = store.videos().set_ready(video_id, &processed).await;
    tracing::info!(video = %video_id, duration_ms = processed.duration_ms, "recording recovered after a restart");
    Ok(())
}
