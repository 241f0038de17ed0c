//! One viewer, as hls.js plays a live stream in low-latency mode: it blocks on the next
//! playlist version (`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` when asked and the server
//! can), asks for the preload-hinted part at the same time, and fetches any part it missed
//! when it fell behind. Every request is logged with when it was sent and when its last byte
//! came, so a run can tell how many requests a cache let through and how late each object
//! reached a viewer.
//!
//! Not modelled yet: level switches by bandwidth (a viewer stays on its rendition) and the
//! player's buffer; a viewer fetches media as fast as it is published.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::playlist::{self, MediaPlaylist};

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The playlist without blocking parameters (joining, or after an error).
    Playlist,
    /// A blocking reload (`_HLS_msn`/`_HLS_part`).
    BlockingPlaylist,
    /// The preload-hinted part, asked for before it exists.
    HintedPart,
    /// A listed part the viewer had missed.
    Part,
    Init,
}

/// One request and its outcome.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Path and query: the same object has the same key through a cache and at the origin.
    pub key: String,
    pub kind: Kind,
    /// `None`: no answer (connection error or timeout).
    pub status: Option<u16>,
    /// Why there was no answer: `timeout`, `connect`, `closed` (the connection ended before
    /// the answer did) or `other`.
    pub error: Option<&'static str>,
    /// Sent a second time after a connection failed under the first, as a browser does.
    pub retried: bool,
    pub sent: Instant,
    pub done: Instant,
    pub done_wall: SystemTime,
    pub bytes: u64,
}

/// How a viewer behaves.
#[derive(Debug, Clone)]
pub struct ViewerOptions {
    /// The media playlist.
    pub playlist: Url,
    /// Ask for the preload-hinted part ahead (hls.js does when the server hints).
    pub fetch_hint: bool,
    /// Ask for delta updates (`_HLS_skip=YES`) when the server offers them.
    pub delta: bool,
    /// Longest wait for one answer (a blocking request is held up to three target durations).
    pub timeout: Duration,
}

/// Everything one viewer did.
#[derive(Debug, Default)]
pub struct ViewerLog {
    pub fetches: Vec<Fetch>,
    /// When each part's media ended at capture (from the playlists' PROGRAM-DATE-TIME), by key.
    pub part_ends: HashMap<String, SystemTime>,
}

fn key_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

fn error_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_request() || error.is_body() {
        "closed"
    } else {
        "other"
    }
}

/// Plays until `stop` (or the stream ends), with its own connections (`client`).
pub async fn watch(client: &reqwest::Client, options: &ViewerOptions, stop: &CancellationToken) -> ViewerLog {
    let mut viewer = Viewer { client, options, log: ViewerLog::default(), fetched: Recent::default() };
    tokio::select! {
        () = stop.cancelled() => {}
        () = viewer.play() => {}
    }
    viewer.log
}

struct Viewer<'a> {
    client: &'a reqwest::Client,
    options: &'a ViewerOptions,
    log: ViewerLog,
    fetched: Recent,
}

/// The parts fetched lately (a live window's worth), to know which ones were missed.
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    const KEEP: usize = 256;

    fn insert(&mut self, key: String) {
        if self.set.insert(key.clone()) {
            self.order.push_back(key);
            if self.order.len() > Self::KEEP
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

impl Viewer<'_> {
    async fn get(&mut self, url: Url, kind: Kind) -> Option<(u16, Vec<u8>)> {
        let key = key_of(&url);
        let sent = Instant::now();
        let mut answer = self.send(url.clone()).await;
        // Browsers send an idempotent request again when the connection under it failed
        // (typically a kept-alive one the server had just closed as idle); a timeout is not
        // retried, nor is a second failure.
        let retried = matches!(answer, Err(why) if why != "timeout");
        if retried {
            answer = self.send(url).await;
        }
        self.log.fetches.push(Fetch {
            key,
            kind,
            status: answer.as_ref().ok().map(|(s, _)| *s),
            error: answer.as_ref().err().copied(),
            retried,
            sent,
            done: Instant::now(),
            done_wall: SystemTime::now(),
            bytes: answer.as_ref().map_or(0, |(_, b)| b.len() as u64),
        });
        answer.ok()
    }

    async fn send(&self, url: Url) -> Result<(u16, Vec<u8>), &'static str> {
        let response = self.client.get(url).timeout(self.options.timeout).send().await.map_err(|e| error_kind(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| error_kind(&e))?;
        Ok((status, body.to_vec()))
    }

    /// The playlist at `url`, parsed, when it answered 200 with one.
    async fn playlist(&mut self, url: Url, kind: Kind) -> Option<(MediaPlaylist, u64)> {
        let (status, body) = self.get(url, kind).await?;
        let text = String::from_utf8(body).ok().filter(|_| status == 200)?;
        let parsed = MediaPlaylist::parse(&text).ok()?;
        Some((parsed, playlist::skipped_segments(&text)))
    }

    fn learn_dates(&mut self, p: &MediaPlaylist) {
        for part in &p.parts {
            if let (Some(end), Ok(url)) = (part.end, self.options.playlist.join(&part.uri)) {
                self.log.part_ends.entry(key_of(&url)).or_insert(end);
            }
        }
    }

    async fn play(&mut self) {
        let retry = Duration::from_millis(500);
        let base = self.options.playlist.clone();
        let (mut current, mut skipped) = loop {
            match self.playlist(base.clone(), Kind::Playlist).await {
                Some(found) => break found,
                None => tokio::time::sleep(retry).await,
            }
        };
        if let Some(init) = current.init.as_deref().and_then(|i| base.join(i).ok()) {
            self.get(init, Kind::Init).await;
        }
        self.learn_dates(&current);
        // Start at the edge: the parts already listed are history to this viewer.
        for part in &current.parts {
            if let Ok(url) = base.join(&part.uri) {
                self.fetched.insert(key_of(&url));
            }
        }
        while !current.ended {
            let (msn, part) = current.next_position(skipped);
            let mut url = base.clone();
            let skip = if self.options.delta && current.can_skip { "&_HLS_skip=YES" } else { "" };
            url.set_query(Some(&format!("_HLS_msn={msn}&_HLS_part={part}{skip}")));
            let hint = current
                .preload_hint
                .as_deref()
                .filter(|_| self.options.fetch_hint)
                .and_then(|h| base.join(h).ok())
                .filter(|h| !self.fetched.set.contains(&key_of(h)));
            let next = match hint {
                Some(hint) => {
                    self.fetched.insert(key_of(&hint));
                    // Two requests at once, as a player does: the reload and the hinted part.
                    let (client, options) = (self.client, self.options);
                    let mut side = Viewer { client, options, log: ViewerLog::default(), fetched: Recent::default() };
                    let (next, _) =
                        tokio::join!(self.playlist(url, Kind::BlockingPlaylist), side.get(hint, Kind::HintedPart));
                    self.log.fetches.append(&mut side.log.fetches);
                    next
                }
                None => self.playlist(url, Kind::BlockingPlaylist).await,
            };
            let Some((next, next_skipped)) = next else {
                // A 503 (held too long), an error or a stream that went away: start over.
                tokio::time::sleep(retry).await;
                match self.playlist(base.clone(), Kind::Playlist).await {
                    Some(found) => (current, skipped) = found,
                    None => continue,
                }
                continue;
            };
            self.learn_dates(&next);
            // Parts published while this viewer was busy: fetched in order, as a player would
            // (at most the newest three: further behind, a player jumps to the edge).
            let missed: Vec<Url> = next
                .parts
                .iter()
                .filter_map(|p| base.join(&p.uri).ok())
                .filter(|u| !self.fetched.set.contains(&key_of(u)))
                .collect();
            for url in missed.iter().skip(missed.len().saturating_sub(3)) {
                self.fetched.insert(key_of(url));
                self.get(url.clone(), Kind::Part).await;
            }
            for url in &missed {
                self.fetched.insert(key_of(url));
            }
            (current, skipped) = (next, next_skipped);
        }
    }
}
