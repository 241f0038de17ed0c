//! The processing worker: takes `process_video` jobs from the store's queue and turns an upload
//! into HLS renditions with `oxcast_transcode::file`, writing them to storage as they come.
//!
//! One job at a time per worker (a file already uses every core: all rungs run in parallel).
//! A job: clear what an earlier attempt left, probe (the source's metadata goes into the
//! catalog), plan the rungs from the video's profile, encode while heartbeating the lease and
//! publishing progress and an ETA, then write the VOD playlists, poster and storyboard and mark
//! the video ready. Failure reasons are for the uploader ("no video or audio stream",
//! "decoding failed at 12.4 s: ..."); a file's fault fails the video at once, anything else
//! (storage, a stall, a lost lease, a shutdown) is retried with the queue's backoff until the
//! attempts run out. A job that makes no progress for `stall_timeout` is stopped and retried.
//! A worker that dies leaves its lease to expire; another worker (or the restarted server) takes
//! the job again and starts it over.

mod source;
pub(crate) mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use oxcast_media::MediaKind;
use oxcast_store::{FailOutcome, Job, Processed, Store, StoreError, Video, VideoStatus};
use oxcast_transcode::Ladder;
use oxcast_transcode::file::{self, FileError, FilePlan, SourceInfo, Storyboard};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

pub use writer::RenditionSummary;

use crate::layout;
use crate::storage::{Storage, StorageError};
use source::UploadSource;
use writer::{ChannelSink, Expected, Writer};

/// The job kind that turns a finished upload into renditions.
pub const PROCESS_VIDEO: &str = "process_video";
/// Attempts a processing job gets.
pub const PROCESS_ATTEMPTS: u32 = 3;

/// How processing runs.
#[derive(Debug, Clone)]
pub struct ProcessingConfig {
    /// Segment length of every rendition.
    pub segment: Duration,
    pub audio_bitrate_kbps: u32,
    /// The lease a job is claimed with, renewed every `heartbeat`.
    pub lease: Duration,
    pub heartbeat: Duration,
    /// A job whose progress does not move for this long is stopped and retried.
    pub stall_timeout: Duration,
    /// How often an idle worker looks for jobs (it is also woken when an upload completes).
    pub poll: Duration,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            segment: Duration::from_secs(4),
            audio_bitrate_kbps: 128,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(120),
            poll: Duration::from_secs(5),
        }
    }
}

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("processing made no progress for {} s", .0.as_secs())]
    Stalled(Duration),
    #[error("another worker took the job over")]
    LeaseLost,
    #[error("the video was deleted while it was processing")]
    Gone,
    #[error("the server stopped while processing")]
    Shutdown,
    #[error("internal processing error: {0}")]
    Internal(String),
}

impl ProcessError {
    fn is_retryable(&self) -> bool {
        match self {
            ProcessError::File(e) => e.is_retryable(),
            _ => true,
        }
    }
}

/// The worker. Cheap to clone; [`Processor::run`] is its loop.
#[derive(Clone)]
pub struct Processor {
    store: Store,
    storage: Arc<dyn Storage>,
    /// Profiles by name (the configuration's), and the one for videos without a profile.
    profiles: Arc<HashMap<String, Ladder>>,
    default_profile: Ladder,
    config: ProcessingConfig,
    wake: Arc<Notify>,
    worker_id: String,
}

impl Processor {
    pub fn new(
        store: Store,
        storage: Arc<dyn Storage>,
        profiles: HashMap<String, Ladder>,
        default_profile: Ladder,
        config: ProcessingConfig,
    ) -> Self {
        let worker_id = format!("vod-{}-{:08x}", std::process::id(), rand::random::<u32>());
        Self {
            store,
            storage,
            profiles: Arc::new(profiles),
            default_profile,
            config,
            wake: Arc::new(Notify::new()),
            worker_id,
        }
    }

    /// Notifying this makes an idle worker look for jobs at once (an upload just completed).
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Takes and runs jobs until `cancel`. Each running clone is a worker of its own.
    pub async fn run(mut self, cancel: CancellationToken) {
        self.worker_id = format!("{}-{:04x}", self.worker_id, rand::random::<u16>());
        tracing::info!(worker = %self.worker_id, "video processing worker started");
        while !cancel.is_cancelled() {
            self.reap().await;
            match self.store.jobs().claim(PROCESS_VIDEO, &self.worker_id, self.config.lease).await {
                Ok(Some(job)) => self.process(job, &cancel).await,
                Ok(None) => {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a processing job failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(self.config.poll) => {}
                    }
                }
            }
        }
    }

    /// Fails the videos whose jobs ran out of attempts with their worker gone.
    async fn reap(&self) {
        let Ok(jobs) = self.store.jobs().reap(PROCESS_VIDEO).await else { return };
        for job in jobs {
            if let Some(id) = video_of(&job) {
                let reason = job.last_error.unwrap_or_else(|| "processing kept stopping".into());
                let _ = self.store.videos().set_failed(&id, &reason).await;
                tracing::warn!(video = %id, %reason, "processing gave up");
            }
        }
    }

    async fn process(&self, job: Job, cancel: &CancellationToken) {
        let Some(id) = video_of(&job) else {
            let _ = self.store.jobs().fail(&job.id, &self.worker_id, "the job names no video", false).await;
            return;
        };
        let video = match self.store.videos().get(&id).await {
            Ok(Some(video)) if video.status == VideoStatus::Processing => video,
            Ok(_) => {
                // Deleted, or already done: nothing to do.
                let _ = self.store.jobs().complete(&job.id, &self.worker_id).await;
                return;
            }
            Err(e) => {
                let _ = self.store.jobs().fail(&job.id, &self.worker_id, &e.to_string(), true).await;
                return;
            }
        };
        tracing::info!(video = %id, job = %job.id, attempt = job.attempts, "processing");
        let started = Instant::now();
        let mut outcome = self.process_video(&video, &job, cancel).await;
        if outcome.is_err() && matches!(self.store.videos().get(&id).await, Ok(None)) {
            // Deleted meanwhile: whatever failed (its upload's parts vanished, say) does not matter.
            outcome = Err(ProcessError::Gone);
        }
        match outcome {
            Ok(processed) => {
                match self.store.videos().set_ready(&id, &processed).await {
                    Ok(true) => {}
                    // Deleted at the very end: its renditions go with it.
                    Ok(false) => {
                        let _ = self.storage.delete_prefix(&layout::video_prefix(&id)).await;
                    }
                    Err(e) => tracing::warn!(video = %id, error = %e, "could not mark the video ready"),
                }
                let _ = self.store.jobs().complete(&job.id, &self.worker_id).await;
                tracing::info!(video = %id, took_ms = started.elapsed().as_millis() as u64, "video ready");
            }
            Err(ProcessError::Gone) => {
                // What this attempt wrote after the delete removed the rest goes too.
                let _ = self.storage.delete_prefix(&layout::video_prefix(&id)).await;
                let _ = self.store.jobs().complete(&job.id, &self.worker_id).await;
                tracing::info!(video = %id, "video deleted while processing; stopped");
            }
            Err(e) => {
                let reason = e.to_string();
                let retry = e.is_retryable();
                let outcome = self.store.jobs().fail(&job.id, &self.worker_id, &reason, retry).await;
                match outcome {
                    Ok(FailOutcome::RetryAt(at)) => {
                        tracing::warn!(video = %id, %reason, retry_at_ms = at, "processing failed; will retry");
                        let _ = self.store.videos().set_progress(&id, "queued", 0.0, None).await;
                    }
                    Ok(FailOutcome::LeaseLost) => tracing::warn!(video = %id, %reason, "processing lost its job"),
                    Ok(FailOutcome::Failed) | Err(_) => {
                        tracing::warn!(video = %id, %reason, "processing failed");
                        let _ = self.store.videos().set_failed(&id, &reason).await;
                    }
                }
            }
        }
    }

    async fn process_video(
        &self,
        video: &Video,
        job: &Job,
        cancel: &CancellationToken,
    ) -> Result<Processed, ProcessError> {
        let id = video.id.as_str();
        // An earlier attempt may have left renditions: start clean.
        self.storage.delete_prefix(&layout::video_prefix(id)).await?;
        self.store.videos().set_progress(id, "probing", 0.0, None).await?;
        let source = UploadSource::open(self.storage.clone(), id).await?;
        let info = tokio::task::spawn_blocking(move || file::probe(Box::new(source)))
            .await
            .map_err(|e| ProcessError::Internal(e.to_string()))??;
        let source_json = serde_json::to_string(&info).map_err(|e| ProcessError::Internal(e.to_string()))?;
        self.store.videos().set_source(id, &source_json, info.duration_ms.map(|d| d as i64)).await?;
        let plan = self.plan(video, &info);
        tracing::info!(video = %id, container = ?info.container, duration_ms = ?info.duration_ms,
            rungs = ?plan.rungs.iter().map(|r| format!("{}x{}", r.width, r.height)).collect::<Vec<_>>(),
            audio = info.audio.is_some(), "probed");

        let expected = self.expected(&plan, &info);
        let (tx, rx) = mpsc::channel(writer::CHANNEL_DEPTH);
        let writer = Writer::new(self.storage.clone(), self.store.clone(), id, plan.segment, expected);
        let writing = tokio::spawn(writer.run(rx));
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let source = UploadSource::open(self.storage.clone(), id).await?;
        let encoding = {
            let (info, plan, progress, stop, tx) =
                (info.clone(), plan.clone(), progress.clone(), stop.clone(), tx.clone());
            tokio::task::spawn_blocking(move || {
                let sink = Arc::new(ChannelSink(tx));
                file::transcode_file(Box::new(source), &info, &plan, sink, progress, &stop)
            })
        };
        drop(tx);
        let watched = self.watch(job, id, &info, &progress, &stop, cancel, encoding).await;
        // The pipeline is gone once the encode returned, and with it the last sender.
        let writer = tokio::time::timeout(Duration::from_secs(60), writing)
            .await
            .map_err(|_| ProcessError::Internal("storing the renditions did not finish".into()))?
            .map_err(|e| ProcessError::Internal(e.to_string()))??;
        let transcoded = watched?;
        let missing = writer.missing();
        if !missing.is_empty() {
            return Err(FileError::Damaged(format!("nothing could be decoded for {}", missing.join(", "))).into());
        }
        self.store.videos().set_progress(id, "finishing", 1.0, Some(0)).await?;
        let renditions = writer.finish().await?;
        let poster_key = match transcoded.poster {
            Some(jpeg) => Some(self.put(id, layout::POSTER, jpeg).await?),
            None => None,
        };
        let storyboard_key = match &transcoded.storyboard {
            Some(board) => {
                self.put(id, layout::STORYBOARD_IMAGE, board.jpeg.clone()).await?;
                Some(self.put(id, layout::STORYBOARD_TRACK, Bytes::from(storyboard_vtt(board))).await?)
            }
            None => None,
        };
        let duration_ms =
            renditions.iter().map(|r| r.duration_ms).max().unwrap_or(transcoded.encoded.as_millis() as u64);
        Ok(Processed {
            source: source_json,
            renditions: serde_json::to_string(&renditions).map_err(|e| ProcessError::Internal(e.to_string()))?,
            duration_ms: duration_ms as i64,
            poster_key,
            storyboard_key,
        })
    }

    /// Heartbeats, progress and stall detection while the encode runs.
    #[allow(clippy::too_many_arguments)]
    async fn watch(
        &self,
        job: &Job,
        id: &str,
        info: &SourceInfo,
        progress: &AtomicU64,
        stop: &AtomicBool,
        cancel: &CancellationToken,
        mut encoding: tokio::task::JoinHandle<Result<file::Transcoded, FileError>>,
    ) -> Result<file::Transcoded, ProcessError> {
        let started = Instant::now();
        let total = info.duration().unwrap_or_default().as_nanos() as f64;
        let (mut last, mut moved_at) = (0u64, Instant::now());
        let mut stopped_because = None;
        let mut tick = tokio::time::interval(self.config.heartbeat);
        loop {
            tokio::select! {
                result = &mut encoding => {
                    let result = result.map_err(|e| ProcessError::Internal(e.to_string()))?;
                    return match (stopped_because, result) {
                        (Some(reason), Err(FileError::Cancelled)) => Err(reason),
                        (_, result) => result.map_err(ProcessError::from),
                    };
                }
                _ = tick.tick() => {}
                _ = cancel.cancelled(), if stopped_because.is_none() => {
                    stopped_because = Some(ProcessError::Shutdown);
                    stop.store(true, Ordering::Relaxed);
                    continue;
                }
            }
            if stopped_because.is_some() {
                continue;
            }
            let done = progress.load(Ordering::Relaxed);
            if done != last {
                (last, moved_at) = (done, Instant::now());
            } else if moved_at.elapsed() >= self.config.stall_timeout {
                stopped_because = Some(ProcessError::Stalled(self.config.stall_timeout));
                stop.store(true, Ordering::Relaxed);
                continue;
            }
            let fraction = if total > 0.0 { (done as f64 / total).clamp(0.0, 0.999) } else { 0.0 };
            let eta = (fraction > 0.01)
                .then(|| (started.elapsed().as_secs_f64() / fraction * (1.0 - fraction)).ceil() as i64);
            match self.store.jobs().heartbeat(&job.id, &self.worker_id, self.config.lease, fraction).await {
                Ok(true) => {}
                Ok(false) => {
                    stopped_because = Some(ProcessError::LeaseLost);
                    stop.store(true, Ordering::Relaxed);
                    continue;
                }
                Err(e) => tracing::warn!(video = %id, error = %e, "heartbeat failed"),
            }
            if let Ok(false) = self.store.videos().set_progress(id, "encoding", fraction, eta).await {
                // Deleted (or no longer processing) while it was being encoded.
                stopped_because = Some(ProcessError::Gone);
                stop.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The rungs for this video: its profile's (the default for files when it has none, or
    /// when its profile has no rungs: a file has no passthrough).
    fn plan(&self, video: &Video, info: &SourceInfo) -> FilePlan {
        let ladder = video
            .profile
            .as_deref()
            .and_then(|name| self.profiles.get(name))
            .filter(|l| !l.rungs.is_empty())
            .unwrap_or(&self.default_profile);
        let rungs = info.video.as_ref().map_or_else(Vec::new, |v| {
            let planned = ladder.plan_file(v.display_width, v.display_height);
            if planned.is_empty() { Ladder::vod().plan_file(v.display_width, v.display_height) } else { planned }
        });
        FilePlan {
            rungs,
            preset: ladder.preset.clone(),
            segment: self.config.segment,
            audio_bitrate_kbps: self.config.audio_bitrate_kbps,
        }
    }

    fn expected(&self, plan: &FilePlan, info: &SourceInfo) -> Vec<Expected> {
        let mut expected: Vec<Expected> = plan
            .rungs
            .iter()
            .map(|r| Expected {
                id: r.name.clone(),
                kind: MediaKind::Video,
                target_bitrate: u64::from(r.bitrate_kbps) * 1000,
                channels: 0,
            })
            .collect();
        if let Some(audio) = &info.audio {
            expected.push(Expected {
                id: file::AUDIO_RENDITION.into(),
                kind: MediaKind::Audio,
                target_bitrate: u64::from(plan.audio_bitrate_kbps) * 1000,
                channels: audio.channels.clamp(1, 2),
            });
        }
        expected
    }

    async fn put(&self, id: &str, path: &str, data: Bytes) -> Result<String, StorageError> {
        let key = layout::object(id, path)?;
        self.storage.put_bytes(&key, data).await?;
        Ok(key.as_str().to_owned())
    }
}

fn video_of(job: &Job) -> Option<String> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload).ok()?;
    payload.get("video")?.as_str().map(str::to_owned)
}

/// The storyboard as a WebVTT thumbnails track: one cue per tile, `storyboard.jpg#xywh=...`.
fn storyboard_vtt(board: &Storyboard) -> String {
    use std::fmt::Write;
    let stamp = |d: Duration| crate::captions::vtt_timestamp(d.as_secs_f64());
    let mut out = String::from("WEBVTT\n");
    for tile in &board.tiles {
        let _ = write!(
            out,
            "\n{} --> {}\n{}#xywh={},{},{},{}\n",
            stamp(tile.start),
            stamp(tile.end),
            layout::STORYBOARD_IMAGE,
            tile.x,
            tile.y,
            board.tile_width,
            board.tile_height
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcast_transcode::file::StoryboardTile;

    #[test]
    fn storyboard_track_has_one_cue_per_tile() {
        let board = Storyboard {
            jpeg: Bytes::new(),
            tile_width: 160,
            tile_height: 90,
            tiles: vec![
                StoryboardTile { start: Duration::ZERO, end: Duration::from_secs(2), x: 0, y: 0 },
                StoryboardTile { start: Duration::from_secs(2), end: Duration::from_millis(3_661_500), x: 160, y: 0 },
            ],
        };
        assert_eq!(
            storyboard_vtt(&board),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90\n\n\
             00:00:02.000 --> 01:01:01.500\nstoryboard.jpg#xywh=160,0,160,90\n"
        );
    }
}
