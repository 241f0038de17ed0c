//! Low-latency HLS viewers for load runs (`bench/`) and for the cache tests: many viewers in one
//! process, each with its own connections, that play like hls.js in low-latency mode (see
//! [`viewer`]), and a summary of what they saw: requests by kind, failures, and how late
//! objects reached them, both after their capture (`EXT-X-PROGRAM-DATE-TIME`) and after a probe
//! viewer that asked the origin directly in the same run (the latency a cache in between adds).
//!
//! It lives in its own crate so that a load run is its own process, apart from the server.

pub mod playlist;
pub mod summary;
pub mod viewer;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use summary::{Percentiles, Summary};
pub use viewer::{Fetch, Kind, ViewerLog, ViewerOptions};

/// A load run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub viewer: ViewerOptions,
    pub viewers: usize,
    /// Viewers join evenly over this time.
    pub ramp: Duration,
    /// How long the run lasts once every viewer has joined.
    pub measure: Duration,
    /// HTTP/2 without TLS (prior knowledge), as to a proxy that speaks h2c; HTTP/1.1 otherwise.
    pub http2: bool,
    /// Also one viewer of this media playlist (the origin's, not the cache's).
    pub probe: Option<reqwest::Url>,
    /// Viewers start on these media playlists in turn (a spread over the levels); empty: all
    /// on `viewer.playlist`.
    pub starts: Vec<reqwest::Url>,
}

/// What every viewer did, and the probe.
#[derive(Debug, Default)]
pub struct RunLog {
    pub viewers: Vec<ViewerLog>,
    pub probe: Option<ViewerLog>,
    /// When every viewer had joined: the summary counts from here.
    pub measured_from: Option<std::time::Instant>,
}

/// A client of its own per viewer, as each browser has its own connections.
pub fn client(http2: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder().pool_max_idle_per_host(6).connect_timeout(Duration::from_secs(5));
    let builder = if http2 { builder.http2_prior_knowledge() } else { builder.http1_only() };
    builder.build()
}

/// Runs `options.viewers` viewers (and the probe) for the ramp and the measurement.
pub async fn run(options: &RunOptions) -> reqwest::Result<RunLog> {
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let probe = match &options.probe {
        Some(url) => {
            let client = client(false)?;
            // The probe stays on one level, without audio: it times the objects of that level.
            let viewer =
                ViewerOptions { playlist: url.clone(), audio: None, switch_every: None, ..options.viewer.clone() };
            let stop = stop.clone();
            Some(tokio::spawn(async move { viewer::watch(&client, &viewer, &stop).await }))
        }
        None => None,
    };
    let gap = options.ramp.checked_div(u32::try_from(options.viewers.max(1)).unwrap_or(u32::MAX)).unwrap_or_default();
    for i in 0..options.viewers {
        let client = client(options.http2)?;
        let mut viewer = options.viewer.clone();
        if !options.starts.is_empty() {
            viewer.playlist = options.starts[i % options.starts.len()].clone();
        }
        let stop = stop.clone();
        tasks.spawn(async move { viewer::watch(&client, &viewer, &stop).await });
        tokio::time::sleep(gap).await;
    }
    let measured_from = std::time::Instant::now();
    tokio::time::sleep(options.measure).await;
    stop.cancel();
    let mut log = RunLog { measured_from: Some(measured_from), ..RunLog::default() };
    while let Some(done) = tasks.join_next().await {
        if let Ok(viewer) = done {
            log.viewers.push(viewer);
        }
    }
    if let Some(probe) = probe {
        log.probe = probe.await.ok();
    }
    Ok(log)
}
