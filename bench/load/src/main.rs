//! `llhls-load`: many low-latency HLS viewers of one live stream, then their summary as JSON.
//!
//! ```sh
//! llhls-load --url http://127.0.0.1:6081/live/main/index.m3u8 --viewers 1000 --seconds 60 \
//!     --probe http://127.0.0.1:8080/live/main/index.m3u8
//! ```
//! `--url` may name the multivariant playlist (its first variant is watched, or `--rendition`)
//! or a media playlist.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use oxcast_bench_load::{RunOptions, Summary, ViewerOptions, playlist};
use reqwest::Url;

#[derive(Parser, Debug)]
#[command(about = "LL-HLS viewers that play like hls.js in low-latency mode")]
struct Args {
    /// The stream's multivariant or media playlist, as viewers reach it (through a cache, say).
    #[arg(long)]
    url: Url,
    /// Also watch this playlist (the origin's) with one viewer, to tell what the path adds.
    #[arg(long)]
    probe: Option<Url>,
    #[arg(long, default_value_t = 100)]
    viewers: usize,
    /// Seconds of measurement once every viewer joined.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds over which viewers join.
    #[arg(long, default_value_t = 10)]
    ramp: u64,
    /// The rendition (media playlist directory) to watch when `--url` is a multivariant playlist.
    #[arg(long)]
    rendition: Option<String>,
    /// HTTP/2 over cleartext (prior knowledge) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
    /// Do not ask for preload-hinted parts ahead.
    #[arg(long)]
    no_hint: bool,
    /// Ask for delta playlist updates (`_HLS_skip=YES`).
    #[arg(long)]
    delta: bool,
    /// Worker threads of the load process (default: one).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The media playlist behind `url`: itself, or the chosen variant of a multivariant playlist.
async fn media_playlist(url: &Url, rendition: Option<&str>) -> anyhow::Result<Url> {
    if let Some(r) = rendition {
        return Ok(url.join(&format!("{r}/index.m3u8"))?);
    }
    let text = reqwest::get(url.clone()).await?.error_for_status()?.text().await?;
    if !text.starts_with("#EXTM3U") {
        bail!("{url} is not a playlist");
    }
    match playlist::first_variant(&text) {
        Some(variant) => Ok(url.join(&variant)?),
        None => Ok(url.clone()),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    runtime.block_on(async {
        let playlist = media_playlist(&args.url, args.rendition.as_deref()).await.context("the stream's playlist")?;
        let probe = match &args.probe {
            Some(p) => Some(media_playlist(p, args.rendition.as_deref()).await.context("the probe's playlist")?),
            None => None,
        };
        eprintln!("llhls-load: {} viewers of {playlist}", args.viewers);
        let options = RunOptions {
            viewer: ViewerOptions {
                playlist,
                fetch_hint: !args.no_hint,
                delta: args.delta,
                timeout: Duration::from_secs(15),
            },
            viewers: args.viewers,
            ramp: Duration::from_secs(args.ramp),
            measure: Duration::from_secs(args.seconds),
            http2: args.http2,
            probe,
        };
        let log = oxcast_bench_load::run(&options).await?;
        println!("{}", serde_json::to_string_pretty(&Summary::of(&log))?);
        Ok(())
    })
}
