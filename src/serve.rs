//! `oxcast serve`: open the store, bind the listeners, run until Ctrl-C, shut down cleanly.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use oxcast_api::{AppState, PublicUrls, StreamStore};
use oxcast_ingest::rtmp::{self, RtmpConfig};
use oxcast_ingest::srt::{SrtConfig, SrtServer};
use oxcast_ingest::whip::{WhipConfig, WhipService};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::live::chat::{ChatViewers, PlaybackDirectory, PlaybackPresence, StoreChatAuth, StoreRooms};
use crate::live::{LiveRegistry, LiveSettings};
use oxcast_chat::ChatService;
use std::sync::Arc;

/// Opens the database configured in `config`, creating the data directory.
pub async fn open_store(config: &Config) -> anyhow::Result<StreamStore> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    StreamStore::open(&config.database_url()).await.context("opening the database")
}

/// The configured admin token, or the one generated into the data directory on first start.
fn admin_token(config: &Config) -> anyhow::Result<String> {
    if let Some(token) = &config.admin_token {
        return Ok(token.clone());
    }
    let path = config.data_dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("adm_{}", hex::encode(bytes));
    write_private(&path, &token)?;
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Runs the server until `shutdown` is cancelled (or Ctrl-C when `handle_signals`).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    oxcast_transcode::init().context("GStreamer")?;
    let store = open_store(&config).await?;
    let token = admin_token(&config)?;

    // A fresh install gets one stream, so the first start prints a key that works.
    let mut new_default_key = None;
    if store.count().await? == 0 {
        let created = store.create(&config.default_stream).await?;
        new_default_key = Some(created.key);
    }

    let http = TcpListener::bind(config.http).await.with_context(|| format!("binding HTTP on {}", config.http))?;
    let rtmp_listener =
        TcpListener::bind(config.rtmp).await.with_context(|| format!("binding RTMP on {}", config.rtmp))?;
    let srt_server = if config.srt_enabled {
        let srt_config = SrtConfig { latency: Duration::from_millis(config.srt_latency_ms), ..SrtConfig::default() };
        let server = SrtServer::bind(config.srt, srt_config)
            .await
            .with_context(|| format!("binding SRT on {} (UDP)", config.srt))?;
        Some(server)
    } else {
        None
    };
    let http_addr = http.local_addr()?;
    let rtmp_addr = rtmp_listener.local_addr()?;
    let host = config.public_host.clone().unwrap_or_else(|| "localhost".into());
    let urls = PublicUrls {
        http: format!("http://{host}:{}", http_addr.port()),
        rtmp: format!("rtmp://{host}:{}/live", rtmp_addr.port()),
        srt: srt_server.as_ref().map(|s| format!("srt://{host}:{}", s.local_addr().port())),
    };

    let registry = LiveRegistry::new(
        store.clone(),
        LiveSettings {
            part_duration: config.live.part_duration(),
            segment_duration: config.live.segment_duration(),
            window: config.live.window(),
            offline_grace: config.live.offline_grace(),
            profiles: config.profiles(),
            default_profile: config.live.default_profile.clone(),
        },
        shutdown.clone(),
    );
    let tracker = TaskTracker::new();

    tracker.spawn(rtmp::run(rtmp_listener, registry.clone(), RtmpConfig::default(), shutdown.clone(), tracker.clone()));
    if let Some(srt) = srt_server {
        tracker.spawn(srt.run(registry.clone(), shutdown.clone(), tracker.clone()));
    }
    let sampler = registry.clone();
    let sampler_stop = shutdown.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = sampler_stop.cancelled() => break,
                _ = tick.tick() => sampler.sample_bitrates(),
            }
        }
    });

    let chat = if config.chat.enabled {
        let settings = oxcast_chat::ChatConfig {
            history_len: config.chat.history,
            max_message_chars: config.chat.max_message_chars,
            ..oxcast_chat::ChatConfig::default()
        };
        let backend = match &config.chat.redis_url {
            Some(url) => oxcast_chat::BackendChoice::Redis { url: url.clone() },
            None => oxcast_chat::BackendChoice::InProcess,
        };
        let auth = StoreChatAuth { store: store.clone() };
        let rooms = StoreRooms { store: store.clone() };
        Some(ChatService::start(settings, auth, rooms, backend).await.context("starting the chat")?)
    } else {
        None
    };
    let state = AppState {
        viewers: chat.clone().map(|c| Arc::new(ChatViewers(c)) as Arc<dyn oxcast_api::ViewerCounts>),
        store,
        profiles: config.profiles().into_keys().collect(),
        default_profile: config.live.default_profile.clone().into(),
        live: registry.clone(),
        admin_token: token.clone().into(),
        urls: urls.clone(),
    };
    let ice_addresses = ice_addresses(&config);
    tracing::info!(?ice_addresses, "WebRTC (WHIP) host candidates");
    let whip = WhipService::new(
        registry.clone(),
        WhipConfig { ice_addresses, keyframe_interval: config.live.segment_duration(), ..WhipConfig::default() },
        shutdown.clone(),
        tracker.clone(),
    );
    let directory = PlaybackDirectory { registry: registry.clone(), presence: chat.clone().map(PlaybackPresence::new) };
    let mut app = oxcast_api::app(state, Arc::new(directory)).merge(whip.router());
    if let Some(chat) = &chat {
        app = app.merge(chat.router());
    }
    let http_stop = shutdown.clone();
    tracker.spawn(async move {
        let served = axum::serve(http, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(http_stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    tracker.close();

    print_banner(&config, &urls, http_addr, rtmp_addr, new_default_key.as_ref().map(|k| k.as_str()), &token);

    shutdown.cancelled().await;
    tracing::info!("shutting down");
    let registry_for_end = registry.clone();
    tokio::task::spawn_blocking(move || registry_for_end.end_all()).await?;
    if let Some(chat) = &chat {
        chat.shutdown().await;
    }
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait()).await.is_err() {
        tracing::warn!("some connections did not close within 10 s");
    }
    Ok(())
}

/// The configured ICE addresses, or this host's outbound address plus loopback.
fn ice_addresses(config: &Config) -> Vec<std::net::IpAddr> {
    if !config.webrtc.ice_addresses.is_empty() {
        return config.webrtc.ice_addresses.clone();
    }
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    // Connecting a UDP socket sends nothing; it only asks the kernel which source address it
    // would route from (192.0.2.1 is a documentation address).
    let outbound = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|()| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    outbound.into_iter().chain(std::iter::once(loopback)).collect()
}

fn print_banner(
    config: &Config,
    urls: &PublicUrls,
    http: std::net::SocketAddr,
    rtmp: std::net::SocketAddr,
    new_key: Option<&str>,
    admin_token: &str,
) {
    let name = &config.default_stream;
    let (key, key_line) = match new_key {
        Some(key) => (key.to_owned(), key.to_owned()),
        None => (
            "STREAM_KEY".to_owned(),
            format!("(shown only when created; get a new one with `oxcast stream rotate-key {name}`)"),
        ),
    };
    let srt_block = match &urls.srt {
        Some(srt) => format!(
            "\n\x20 SRT (OBS 30+; robust on lossy links):\n\
             \x20   Service:     Custom...\n\
             \x20   Server:      {}\n\
             \x20   Stream Key:  (leave empty; with `oxcast stream set-srt-passphrase` add &passphrase=...)\n",
            oxcast_api::srt_publish_url(srt, &key)
        ),
        None => String::new(),
    };
    println!(
        "\noxcast is running (HTTP {http}, RTMP {rtmp}{srt}, data in {data}).\n\n\
         Streamer: OBS > Settings > Stream\n\
         \x20 RTMP:\n\
         \x20   Service:     Custom...\n\
         \x20   Server:      {rtmp_url}\n\
         \x20   Stream Key:  {key_line}\n\
         {srt_block}\n\
         \x20 WebRTC (OBS 30+, lowest latency):\n\
         \x20   Service:     WHIP\n\
         \x20   Server:      {http_url}/whip/{name}\n\
         \x20   Bearer Token: {key}\n\n\
         \x20 Output (RTMP/SRT): H.264 + AAC; Keyframe Interval 1 s (or 2 s); for the lowest latency\n\
         \x20   also x264 Tune \"zerolatency\" (no B-frames). WHIP sends H.264 + Opus by itself.\n\n\
         Viewer:\n\
         \x20 Player:      {http_url}/watch/{name}\n\
         \x20 LL-HLS:      {http_url}/live/{name}/index.m3u8\n\n\
         Admin API token (Authorization: Bearer ...): {admin_token}\n\
         \x20 New stream: curl -X POST -H 'Authorization: Bearer {admin_token}' -H 'Content-Type: application/json' \\\n\
         \x20             -d '{{\"name\":\"studio\"}}' {http_url}/api/streams\n\
         \x20 or:         oxcast stream create studio --data-dir {data}\n",
        srt = urls.srt.as_ref().map(|_| format!(", SRT {}/udp", config.srt)).unwrap_or_default(),
        data = config.data_dir.display(),
        rtmp_url = urls.rtmp,
        http_url = urls.http,
    );
}
