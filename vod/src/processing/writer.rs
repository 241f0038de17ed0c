//! Where a file's renditions go as they are encoded: each init segment and segment is put in
//! storage, then the rendition's EVENT playlist is rewritten to list it (an object is always
//! stored before a playlist names it). Once every rendition has its init segment and a first
//! segment, the multivariant playlist is written with the profile's target bit rates and the
//! video is marked playable; at the end every playlist becomes VOD and the multivariant carries
//! bit rates measured from the output.
//!
//! The pipeline's threads hand output over a bounded channel ([`ChannelSink`]): a slow storage
//! slows the encode instead of filling memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use oxcast_media::MediaKind;
use oxcast_store::Store;
use oxcast_transcode::VideoDetails;
use oxcast_transcode::file::VodSink;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::hls::{self, AudioEntry, SegmentEntry, VariantEntry};
use crate::layout;
use crate::storage::{Storage, StorageError};

/// Outputs in flight between the pipeline and storage (each at most a segment).
pub(crate) const CHANNEL_DEPTH: usize = 8;

pub(crate) enum Output {
    Init { rendition: String, data: Bytes, codecs: Option<String>, video: Option<VideoDetails> },
    Segment { rendition: String, data: Bytes, duration: Duration },
}

/// The pipeline side: blocks while the channel is full.
pub(crate) struct ChannelSink(pub(crate) mpsc::Sender<Output>);

impl VodSink for ChannelSink {
    fn init_segment(&self, rendition: &str, data: Bytes, codecs: Option<String>, video: Option<VideoDetails>) {
        let _ = self.0.blocking_send(Output::Init { rendition: rendition.to_owned(), data, codecs, video });
    }

    fn segment(&self, rendition: &str, data: Bytes, _start: Duration, duration: Duration) {
        let _ = self.0.blocking_send(Output::Segment { rendition: rendition.to_owned(), data, duration });
    }
}

/// A rendition the plan expects.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub(crate) id: String,
    pub(crate) kind: MediaKind,
    /// The profile's target (bits/s), the BANDWIDTH until it is measured.
    pub(crate) target_bitrate: u64,
    pub(crate) channels: u32,
}

struct Rendition {
    expected: Expected,
    codecs: Option<String>,
    video: Option<VideoDetails>,
    /// Init segments stored so far (a recording gets one per publish session).
    inits: usize,
    /// A new init segment arrived: the next segment starts a discontinuity with it.
    pending_map: Option<String>,
    segments: Vec<(SegmentEntry, u64)>,
}

impl Rendition {
    fn measured(&self, segment_secs: f64) -> (u64, u64) {
        let rate = |bytes: u64, secs: f64| if secs > 0.0 { (bytes as f64 * 8.0 / secs) as u64 } else { 0 };
        // A last segment of a few frames would make a misleading peak: only segments of at least
        // half the target count, unless there are no others.
        let full: Vec<&(SegmentEntry, u64)> =
            self.segments.iter().filter(|(s, _)| s.duration_secs >= segment_secs / 2.0).collect();
        let counted = if full.is_empty() { self.segments.iter().collect() } else { full };
        let peak = counted.iter().map(|(s, bytes)| rate(*bytes, s.duration_secs)).max().unwrap_or(0);
        let bytes: u64 = self.segments.iter().map(|(_, b)| b).sum();
        let secs: f64 = self.segments.iter().map(|(s, _)| s.duration_secs).sum();
        let average = rate(bytes, secs);
        (peak.max(average), average)
    }
}

/// What a rendition became, kept in the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct RenditionSummary {
    pub id: String,
    /// `video` or `audio`.
    pub kind: &'static str,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
    pub codecs: Option<String>,
    /// Peak and average bit rate (bits/s), measured.
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub segments: usize,
    pub duration_ms: u64,
    pub bytes: u64,
}

pub(crate) struct Writer {
    storage: Arc<dyn Storage>,
    store: Store,
    video_id: String,
    segment_secs: f64,
    renditions: Vec<Rendition>,
    playable: bool,
}

impl Writer {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        store: Store,
        video_id: &str,
        segment: Duration,
        expected: Vec<Expected>,
    ) -> Self {
        let renditions = expected
            .into_iter()
            .map(|expected| Rendition {
                expected,
                codecs: None,
                video: None,
                inits: 0,
                pending_map: None,
                segments: Vec::new(),
            })
            .collect();
        Self {
            storage,
            store,
            video_id: video_id.to_owned(),
            segment_secs: segment.as_secs_f64(),
            renditions,
            playable: false,
        }
    }

    /// Stores outputs until the pipeline side hangs up.
    pub(crate) async fn run(mut self, mut outputs: mpsc::Receiver<Output>) -> Result<Self, StorageError> {
        while let Some(output) = outputs.recv().await {
            self.take(output).await?;
        }
        Ok(self)
    }

    pub(crate) async fn take(&mut self, output: Output) -> Result<(), StorageError> {
        let (rendition, file, data) = match output {
            Output::Init { rendition, data, codecs, video } => {
                let Some(r) = self.renditions.iter_mut().find(|r| r.expected.id == rendition) else { return Ok(()) };
                r.codecs = codecs.or(r.codecs.take());
                r.video = video.or(r.video.take());
                r.inits += 1;
                let name = layout::init_name(r.inits);
                r.pending_map = Some(name.clone());
                (rendition, name, data)
            }
            Output::Segment { rendition, data, duration } => {
                let Some(r) = self.renditions.iter_mut().find(|r| r.expected.id == rendition) else { return Ok(()) };
                if r.inits == 0 {
                    return Ok(()); // a segment without its init segment cannot be played
                }
                let name = layout::segment_name(r.segments.len() + 1);
                let map = r.pending_map.take();
                let entry = SegmentEntry {
                    uri: name.clone(),
                    duration_secs: duration.as_secs_f64(),
                    discontinuity: map.is_some() && !r.segments.is_empty(),
                    map,
                };
                r.segments.push((entry, data.len() as u64));
                (rendition, name, data)
            }
        };
        let is_init = file.starts_with("init");
        self.put(&layout::in_rendition(&rendition, &file), data).await?;
        if !is_init {
            self.write_media_playlist(&rendition, false).await?;
            if !self.playable && self.renditions.iter().all(|r| !r.segments.is_empty()) {
                self.write_multivariant(false).await?;
                self.playable = true;
                if let Err(e) = self.store.videos().set_playable(&self.video_id).await {
                    tracing::warn!(video = %self.video_id, error = %e, "could not mark the video playable");
                }
            }
        }
        Ok(())
    }

    /// No rendition left (a recording whose renditions all ended early).
    pub(crate) fn is_empty(&self) -> bool {
        self.renditions.is_empty()
    }

    /// Every rendition that should exist, does, with at least one segment.
    pub(crate) fn missing(&self) -> Vec<String> {
        self.renditions.iter().filter(|r| r.segments.is_empty()).map(|r| r.expected.id.clone()).collect()
    }

    /// Keeps only the renditions that cover the whole recording (within `slack`): a rung shed
    /// during a broadcast, or missing from a reconnect, ends early, and a multivariant cannot
    /// say a variant exists for part of the time only. The dropped ones' objects are removed.
    pub(crate) async fn keep_complete(&mut self, slack: Duration) -> Result<Vec<String>, StorageError> {
        let total = |r: &Rendition| r.segments.iter().map(|(s, _)| s.duration_secs).sum::<f64>();
        let longest = self.renditions.iter().map(total).fold(0.0, f64::max);
        let (keep, drop): (Vec<Rendition>, Vec<Rendition>) = self
            .renditions
            .drain(..)
            .partition(|r| !r.segments.is_empty() && total(r) + slack.as_secs_f64() >= longest);
        self.renditions = keep;
        let mut dropped = Vec::new();
        for r in drop {
            self.storage.delete_prefix(&format!("{}{}/", layout::video_prefix(&self.video_id), r.expected.id)).await?;
            dropped.push(r.expected.id);
        }
        Ok(dropped)
    }

    /// VOD playlists and the measured multivariant; returns what each rendition became.
    pub(crate) async fn finish(&self) -> Result<Vec<RenditionSummary>, StorageError> {
        for r in &self.renditions {
            self.write_media_playlist(&r.expected.id, true).await?;
        }
        self.write_multivariant(true).await?;
        Ok(self
            .renditions
            .iter()
            .map(|r| {
                let (bandwidth, average_bandwidth) = r.measured(self.segment_secs);
                RenditionSummary {
                    id: r.expected.id.clone(),
                    kind: match r.expected.kind {
                        MediaKind::Video => "video",
                        MediaKind::Audio => "audio",
                    },
                    width: r.video.as_ref().map(|v| v.width),
                    height: r.video.as_ref().map(|v| v.height),
                    frame_rate: r.video.as_ref().and_then(|v| v.frame_rate),
                    codecs: r.codecs.clone(),
                    bandwidth,
                    average_bandwidth,
                    segments: r.segments.len(),
                    duration_ms: (r.segments.iter().map(|(s, _)| s.duration_secs).sum::<f64>() * 1000.0) as u64,
                    bytes: r.segments.iter().map(|(_, b)| b).sum(),
                }
            })
            .collect())
    }

    async fn write_media_playlist(&self, rendition: &str, finished: bool) -> Result<(), StorageError> {
        let Some(r) = self.renditions.iter().find(|r| r.expected.id == rendition) else { return Ok(()) };
        let segments: Vec<SegmentEntry> = r.segments.iter().map(|(s, _)| s.clone()).collect();
        let text = hls::media_playlist(&layout::init_name(1), &segments, self.segment_secs, finished);
        self.put(&layout::in_rendition(rendition, layout::MEDIA_PLAYLIST), Bytes::from(text)).await
    }

    /// The multivariant: target bit rates while processing, measured ones when `finished`.
    async fn write_multivariant(&self, finished: bool) -> Result<(), StorageError> {
        let rates = |r: &Rendition| {
            if finished { r.measured(self.segment_secs) } else { (r.expected.target_bitrate, 0) }
        };
        let audio = self.renditions.iter().find(|r| r.expected.kind == MediaKind::Audio);
        let audio_entry = audio.map(|a| {
            let (peak, average) = rates(a);
            AudioEntry {
                uri: layout::in_rendition(&a.expected.id, layout::MEDIA_PLAYLIST),
                channels: a.expected.channels,
                codecs: a.codecs.clone().unwrap_or_else(|| "mp4a.40.2".into()),
                bandwidth: peak,
                average_bandwidth: finished.then_some(average),
            }
        });
        let variants: Vec<VariantEntry> = self
            .renditions
            .iter()
            .filter(|r| r.expected.kind == MediaKind::Video)
            .map(|v| {
                let (peak, average) = rates(v);
                let (audio_peak, audio_average) = audio.map_or((0, 0), rates);
                let mut codecs = v.codecs.clone().unwrap_or_else(|| "avc1.640028".into());
                if let Some(a) = &audio_entry {
                    codecs = format!("{codecs},{}", a.codecs);
                }
                VariantEntry {
                    uri: layout::in_rendition(&v.expected.id, layout::MEDIA_PLAYLIST),
                    bandwidth: peak + audio_peak,
                    average_bandwidth: finished.then_some(average + audio_average),
                    codecs,
                    resolution: v.video.as_ref().map(|d| (d.width, d.height)),
                    frame_rate: v.video.as_ref().and_then(|d| d.frame_rate),
                }
            })
            .collect();
        let text = hls::multivariant(&variants, audio_entry.as_ref(), &[]);
        self.put(layout::MULTIVARIANT, Bytes::from(text)).await?;
        // Captions uploaded before this multivariant existed join it now.
        crate::captions::stored::apply(&self.storage, &self.video_id).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        let key = layout::object(&self.video_id, path)?;
        self.storage.put_bytes(&key, data).await.map(|_| ())
    }
}
