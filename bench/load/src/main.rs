//! `llhls-load`: many low-latency HLS viewers of one live stream, then their summary as JSON.
//!
//! ```sh
//! llhls-load --url http://127.0.0.1:6081/live/main/index.m3u8 --viewers 1000 --seconds 60 \
//!     --probe http://127.0.0.1:8080/live/main/index.m3u8
//! ```
//! `--url` may name the multivariant playlist (its first variant is watched, or `--rendition`;
//! `--spread` starts viewers on every variant in turn, `--audio` plays the audio rendition
//! alongside and `--switch-every` switches level by rendition reports) or a media playlist.

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
    /// Viewers start on each variant of the multivariant playlist in turn.
    #[arg(long)]
    spread: bool,
    /// Also play the multivariant playlist's audio rendition, as hls.js does.
    #[arg(long)]
    audio: bool,
    /// Switch level this often (seconds), to the next variant the playlist reports on.
    #[arg(long)]
    switch_every: Option<f64>,
    /// Worker threads of the load process (default: one).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// What a multivariant playlist offers, as URLs: its variants and its audio rendition.
#[derive(Default)]
struct Offer {
    variants: Vec<Url>,
    audio: Option<Url>,
}

/// The variants and audio behind `url`, or `url` itself when it is a media playlist.
async fn offer(url: &Url) -> anyhow::Result<Offer> {
    let text = reqwest::get(url.clone()).await?.error_for_status()?.text().await?;
    if !text.starts_with("#EXTM3U") {
        bail!("{url} is not a playlist");
    }
    let variants: Vec<Url> = playlist::variants(&text).iter().map(|v| url.join(v)).collect::<Result<_, _>>()?;
    if variants.is_empty() {
        return Ok(Offer { variants: vec![url.clone()], audio: None });
    }
    let audio = playlist::audio_rendition(&text).map(|a| url.join(&a)).transpose()?;
    Ok(Offer { variants, audio })
}

/// The media playlist to watch: `--rendition`'s, else the first variant.
fn chosen(url: &Url, offer: &Offer, rendition: Option<&str>) -> anyhow::Result<Url> {
    match rendition {
        Some(r) => Ok(url.join(&format!("{r}/index.m3u8"))?),
        None => offer.variants.first().cloned().context("no variant"),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    runtime.block_on(async {
        let offered = offer(&args.url).await.context("the stream's playlist")?;
        let playlist = chosen(&args.url, &offered, args.rendition.as_deref())?;
        let probe = match &args.probe {
            Some(p) => Some(chosen(p, &offer(p).await.context("the probe's playlist")?, args.rendition.as_deref())?),
            None => None,
        };
        eprintln!(
            "llhls-load: {} viewers of {}{}",
            args.viewers,
            if args.spread { format!("{} variants", offered.variants.len()) } else { playlist.to_string() },
            if args.audio && offered.audio.is_some() { ", with audio" } else { "" }
        );
        let options = RunOptions {
            viewer: ViewerOptions {
                playlist,
                fetch_hint: !args.no_hint,
                delta: args.delta,
                timeout: Duration::from_secs(15),
                audio: offered.audio.clone().filter(|_| args.audio),
                switch_every: args.switch_every.map(Duration::from_secs_f64),
                levels: offered.variants.clone(),
            },
            viewers: args.viewers,
            ramp: Duration::from_secs(args.ramp),
            measure: Duration::from_secs(args.seconds),
            http2: args.http2,
            probe,
            starts: if args.spread { offered.variants } else { Vec::new() },
        };
        let log = oxcast_bench_load::run(&options).await?;
        println!("{}", serde_json::to_string_pretty(&Summary::of(&log))?);
        Ok(())
    })
}
