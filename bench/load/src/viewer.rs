//! One viewer, as hls.js plays a live stream in low-latency mode: it blocks on the next
//! playlist version (`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` when asked and the server
//! can), asks for the preload-hinted part at the same time, and fetches any part it missed
//! when it fell behind. Every request is logged with when it was sent and when its last byte
//! came, so a run can tell how many requests a cache let through and how late each object
//! reached a viewer.
//!
//! With an alternate audio rendition it plays that playlist alongside, as hls.js does (a
//! second blocking loop). It can switch level every so often: the first request on the new
//! level blocks on the position the old level's `EXT-X-RENDITION-REPORT` gave for it, as the
//! LL-HLS spec has players do, so a switch costs no unblocked playlist fetch.
//!
//! Not modelled: why a player switches (bandwidth estimates; here it is a fixed period) and
//! the player's buffer; a viewer fetches media as fast as it is published.

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
    /// The first (blocking) request on another level, at its rendition report's position.
    SwitchPlaylist,
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
    /// An audio media playlist played alongside (an alternate audio rendition).
    pub audio: Option<Url>,
    /// Switch to the next level the playlist reports on this often.
    pub switch_every: Option<Duration>,
    /// The levels (video media playlists) a switch may go to; a report of anything else (the
    /// audio rendition) is not a level. Empty: every reported rendition.
    pub levels: Vec<Url>,
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

/// Plays until `stop` (or the stream ends), with its own connections (`client`): the video
/// playlist and, when there is one, the audio playlist, each in its own loop.
pub async fn watch(client: &reqwest::Client, options: &ViewerOptions, stop: &CancellationToken) -> ViewerLog {
    let mut video = Viewer::new(client, options);
    let mut audio = Viewer::new(client, options);
    let both = async {
        match options.audio.clone() {
            Some(url) => {
                tokio::join!(video.play(options.playlist.clone(), options.switch_every), audio.play(url, None));
            }
            None => video.play(options.playlist.clone(), options.switch_every).await,
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = both => {}
    }
    let mut log = video.log;
    log.fetches.append(&mut audio.log.fetches);
    log.part_ends.extend(audio.log.part_ends);
    log
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

impl<'a> Viewer<'a> {
    fn new(client: &'a reqwest::Client, options: &'a ViewerOptions) -> Self {
        Viewer { client, options, log: ViewerLog::default(), fetched: Recent::default() }
    }

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

    fn learn_dates(&mut self, base: &Url, p: &MediaPlaylist) {
        for part in &p.parts {
            if let (Some(end), Ok(url)) = (part.end, base.join(&part.uri)) {
                self.log.part_ends.entry(key_of(&url)).or_insert(end);
            }
        }
    }

    /// Joins `base` at its live edge and plays it; with `switch_every`, moves to the next
    /// reported level that often.
    async fn play(&mut self, mut base: Url, switch_every: Option<Duration>) {
        let retry = Duration::from_millis(500);
        let (mut current, mut skipped) = loop {
            match self.playlist(base.clone(), Kind::Playlist).await {
                Some(found) => break found,
                None => tokio::time::sleep(retry).await,
            }
        };
        if let Some(init) = current.init.as_deref().and_then(|i| base.join(i).ok()) {
            self.get(init, Kind::Init).await;
        }
        self.learn_dates(&base, &current);
        // Start at the edge: the parts already listed are history to this viewer.
        self.mark_listed(&base, &current);
        let mut switches = 0usize;
        let mut next_switch = switch_every.map(|every| Instant::now() + every);
        while !current.ended {
            if let (Some(at), Some(every)) = (next_switch, switch_every)
                && Instant::now() >= at
            {
                next_switch = Some(at + every);
                let levels: Vec<_> = current.rendition_reports.iter().filter(|r| self.is_level(&base, &r.0)).collect();
                let Some(report) = levels.get(switches % levels.len().max(1)).map(|r| (*r).clone()) else {
                    continue;
                };
                switches += 1;
                if let Some((level, found)) = self.switch_to(&base, &report).await {
                    (base, (current, skipped)) = (level, found);
                }
                continue;
            }
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
                    let mut side = Viewer::new(client, options);
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
            self.learn_dates(&base, &next);
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

    fn is_level(&self, base: &Url, uri: &str) -> bool {
        let Ok(mut url) = base.join(uri) else { return false };
        url.set_query(None);
        self.options.levels.is_empty() || self.options.levels.iter().any(|l| l.path() == url.path())
    }

    fn mark_listed(&mut self, base: &Url, p: &MediaPlaylist) {
        for part in &p.parts {
            if let Ok(url) = base.join(&part.uri) {
                self.fetched.insert(key_of(&url));
            }
        }
    }

    /// A level switch: blocks on the new level at the part after the one its rendition report
    /// names, takes its init segment, and the part at that position, as a player needs both
    /// before it can play on. `None` leaves the viewer where it was.
    async fn switch_to(
        &mut self,
        base: &Url,
        report: &(String, u64, Option<u64>),
    ) -> Option<(Url, (MediaPlaylist, u64))> {
        let (uri, msn, part) = report;
        let level = base.join(uri).ok()?;
        let (msn, part) = match part {
            Some(part) => (*msn, part + 1),
            None => (msn + 1, 0),
        };
        let mut url = level.clone();
        url.set_query(Some(&format!("_HLS_msn={msn}&_HLS_part={part}")));
        let (found, skipped) = self.playlist(url, Kind::SwitchPlaylist).await?;
        if let Some(init) = found.init.as_deref().and_then(|i| level.join(i).ok()) {
            self.get(init, Kind::Init).await;
        }
        self.learn_dates(&level, &found);
        self.mark_listed(&level, &found);
        if let Some(newest) = found.parts.last().and_then(|p| level.join(&p.uri).ok()) {
            self.get(newest, Kind::Part).await;
        }
        Some((level, (found, skipped)))
    }
}
