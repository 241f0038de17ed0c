//! `oxcast serve`: open the store, wire ingest → transcode → ll-hls, the chat and the HTTP
//! application together on listeners bound beforehand, run until the shutdown token is
//! cancelled, then end every stream and wait for every task.
//!
//! The listeners are bound by the caller ([`Listeners::bind`] for the configured addresses), so a
//! test can bind `127.0.0.1:0`, read the ports and run the whole server in its own process.
//! Every long-running task hangs off one [`TaskTracker`] and one [`CancellationToken`]: the
//! protocol servers, the HTTP server, the chat, the bitrate sampler, offline-grace timers and
//! presence touches. [`run`] returns a [`ShutdownReport`] saying which playlists it ended and
//! whether the tasks finished within [`SHUTDOWN_TIMEOUT`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use oxcast_api::{AppState, Mounts, PublicUrls};
use oxcast_chat::ChatService;
use oxcast_ingest::rtmp::{self, RtmpConfig};
use oxcast_ingest::srt::{SrtConfig, SrtServer};
use oxcast_ingest::whip::{WhipConfig, WhipService};
use oxcast_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::banner::{BoundAddresses, print_banner};
use crate::config::Config;
use crate::health::ServiceHealth;
use crate::http_server::HttpListener;
use crate::live::chat::{ChatViewers, PlaybackDirectory, PlaybackPresence, StoreChatAuth, StoreRooms};
use crate::live::publisher_lease::keep_publisher_leases;
use crate::live::relay::LiveRelay;
use crate::live::{LiveRegistry, LiveSettings};
use crate::node::NodeIdentity;
use crate::tls::{CertificateFiles, ReloadingCertificate};

/// How long shutdown waits for connections and tasks after every stream has ended.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the database configured in `config`, creating the data directory.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    Ok(Store::open(&config.database_url()).await?)
}

/// The server's sockets, bound before it starts.
pub struct Listeners {
    pub http: TcpListener,
    /// The HTTPS socket and its certificate, when `[tls] address` is set.
    pub https: Option<(TcpListener, Arc<ReloadingCertificate>)>,
    pub rtmp: TcpListener,
    /// `None` when SRT is off.
    pub srt: Option<SrtServer>,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let http = TcpListener::bind(config.http).await.with_context(|| format!("binding HTTP on {}", config.http))?;
        let https = match (config.tls.address, &config.tls.cert_file, &config.tls.key_file) {
            (Some(address), Some(cert), Some(key)) => {
                let files = CertificateFiles { cert: cert.clone(), key: key.clone() };
                let certificate = ReloadingCertificate::load(files).context("loading the TLS certificate")?;
                let socket = TcpListener::bind(address).await.with_context(|| format!("binding HTTPS on {address}"))?;
                Some((socket, certificate))
            }
            _ => None,
        };
        let rtmp = TcpListener::bind(config.rtmp).await.with_context(|| format!("binding RTMP on {}", config.rtmp))?;
        let srt = if config.srt_enabled {
            let srt_config =
                SrtConfig { latency: Duration::from_millis(config.srt_latency_ms), ..SrtConfig::default() };
            let server = SrtServer::bind(config.srt, srt_config)
                .await
                .with_context(|| format!("binding SRT on {} (UDP)", config.srt))?;
            Some(server)
        } else {
            None
        };
        Ok(Self { http, https, rtmp, srt })
    }

    pub fn addresses(&self) -> anyhow::Result<BoundAddresses> {
        Ok(BoundAddresses {
            http: self.http.local_addr()?,
            https: self.https.as_ref().map(|(socket, _)| socket.local_addr()).transpose()?,
            rtmp: self.rtmp.local_addr()?,
            srt: self.srt.as_ref().map(SrtServer::local_addr),
        })
    }
}

/// How a shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Streams whose playlists now carry EXT-X-ENDLIST, by name.
    pub ended_streams: Vec<String>,
    /// Tasks still running after [`SHUTDOWN_TIMEOUT`].
    pub timed_out: bool,
    pub took: Duration,
}

/// Runs the server on `listeners` until `shutdown` is cancelled.
pub async fn run(config: Config, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<ShutdownReport> {
    oxcast_transcode::init().context("GStreamer")?;
    let store = open_store(&config).await?;
    let token = crate::admin_token::admin_token(&config)?;
    let profiles = config.known_profiles()?;

    // The admin token acts for the first admin, who also owns streams from before accounts.
    let first_admin = store.users().ensure_first_admin().await?;
    // A fresh install gets one stream, so the first start prints a key that works.
    let mut new_default_key = None;
    if store.streams().count().await? == 0 {
        let created = store.streams().create(&config.default_stream, &first_admin.id, None).await?;
        new_default_key = Some(created.key);
    }

    let bound = listeners.addresses()?;
    let host = config.public_host.clone().unwrap_or_else(|| "localhost".into());
    let urls = PublicUrls {
        http: format!("http://{host}:{}", bound.http.port()),
        https: bound.https.map(|a| format!("https://{host}:{}", a.port())),
        rtmp: rtmp::server_url(&host, bound.rtmp.port()),
        srt: bound.srt.map(|a| format!("srt://{host}:{}", a.port())),
    };

    let media = open_media(&config).await?;
    let node = NodeIdentity::of(&config, bound.http)?;
    tracing::info!(node = %node.id, url = %node.url, "this node");

    let tracker = TaskTracker::new();
    let registry = LiveRegistry::new(
        store.clone(),
        LiveSettings {
            part_duration: config.live.part_duration(),
            segment_duration: config.live.segment_duration(),
            window: config.live.window(),
            offline_grace: config.live.offline_grace(),
            profiles: config.profiles(),
            default_profile: config.live.default_profile.clone(),
            record_by_default: config.live.record,
            recordings: Some(media.clone()),
        },
        node.clone(),
        shutdown.clone(),
        tracker.clone(),
    );
    // Before any publisher is let in: nothing is on the air here yet.
    registry.finish_cut_broadcasts(Duration::ZERO).await;

    tracker.spawn(rtmp::run(
        listeners.rtmp,
        registry.clone(),
        RtmpConfig {
            max_connections_per_address: config.limits.rtmp_connections_per_address as usize,
            ..RtmpConfig::default()
        },
        shutdown.clone(),
        tracker.clone(),
    ));
    if let Some(srt) = listeners.srt {
        tracker.spawn(srt.run(registry.clone(), shutdown.clone(), tracker.clone()));
    }
    tracker.spawn(sample_bitrates(registry.clone(), shutdown.clone()));
    tracker.spawn(keep_publisher_leases(registry.clone(), shutdown.clone()));

    let chat = start_chat(&config, &store, &shutdown, &tracker).await?;
    let health = ServiceHealth::new(&store, &media, chat.as_ref().filter(|_| config.chat.redis_url.is_some()));
    registry.set_health(health.clone());
    tracker.spawn(crate::health::watch(health, shutdown.clone()));
    let mut uploads =
        oxcast_api::uploads::Uploads::new(oxcast_vod::UploadParts::new(media.clone()), config.vod.max_upload_bytes);
    let processor = processor(&config, &store, &media);
    uploads = uploads.with_processing(processor.wake_handle());
    for _ in 0..config.vod.workers {
        tracker.spawn(processor.clone().run(shutdown.clone()));
    }
    let uploads = Arc::new(uploads);
    let playback = oxcast_api::playback_access::PlaybackSigning::load(&store, config.playback.media_token_seconds)
        .await
        .context("loading the playback signing secrets")?;
    let relay = LiveRelay::new(store.clone(), &node.id, playback.relay_token()).context("starting the live relay")?;
    registry.set_relay(Arc::new(relay));
    if config.webhooks.deliver {
        let dispatcher = oxcast_webhooks::Dispatcher::new(store.clone(), config.webhooks.settings())
            .context("starting the webhook dispatcher")?;
        tracker.spawn(dispatcher.run(shutdown.clone(), tracker.clone()));
    }
    let search = if config.search.enabled {
        let dir = config.search_index_dir();
        let index = oxcast_search::SearchIndex::open(&dir)
            .with_context(|| format!("opening the search index in {}", dir.display()))?;
        let index = Arc::new(index);
        tracker.spawn(oxcast_search::follow(index.clone(), store.clone(), shutdown.clone()));
        Some(index)
    } else {
        None
    };
    tracker.spawn(prune_catalog_changes(store.clone(), config.search.keep_changes_days, shutdown.clone()));
    tracker.spawn(prune_playback_sessions(store.clone(), shutdown.clone()));
    tracker.spawn(trim_cowatch(store.clone(), shutdown.clone()));
    let state = AppState {
        playback: Arc::new(playback),
        webhooks_allow_private: config.webhooks.allow_private_destinations,
        listeners: Default::default(),
        media_public_base: config.storage.public_base_url.as_deref().map(|b| Arc::from(b.trim_end_matches('/'))),
        media_redirect: (config.s3_settings().is_some() && config.storage.s3.redirect_seconds > 0)
            .then(|| Duration::from_secs(config.storage.s3.redirect_seconds.into())),
        reports: Default::default(),
        search: search.clone(),
        viewers: chat.clone().map(|c| Arc::new(ChatViewers(c)) as Arc<dyn oxcast_api::ViewerCounts>),
        store,
        profiles,
        live: registry.clone(),
        admin_token: token.clone().into(),
        urls: urls.clone(),
        limits: Arc::new(oxcast_api::ApiLimits::new(config.limit_settings())),
        trusted_proxies: config.trusted_proxy_networks()?.into(),
        uploads: Some(uploads),
    };
    tracker.spawn(sweep_uploads(state.clone(), shutdown.clone()));
    tracker.spawn(prune_webhook_log(state.store.clone(), config.webhooks.keep_days, shutdown.clone()));
    if let Some(viewers) = state.viewers.clone() {
        tracker.spawn(sample_viewers(registry.clone(), viewers, shutdown.clone()));
    }
    let ice_addresses = ice_addresses(&config);
    tracing::info!(?ice_addresses, "WebRTC (WHIP) host candidates");
    let whip = WhipService::new(
        registry.clone(),
        WhipConfig { ice_addresses, keyframe_interval: config.live.segment_duration(), ..WhipConfig::default() },
        shutdown.clone(),
        tracker.clone(),
    );
    let presence = chat.clone().map(|c| PlaybackPresence::new(c, tracker.clone(), shutdown.clone()));
    let mounts = Mounts {
        packagers: Arc::new(PlaybackDirectory { registry: registry.clone(), presence }),
        whip: Some(whip.router()),
        chat: chat.as_ref().map(ChatService::router),
    };
    let trusted_proxies = state.trusted_proxies.clone();
    let listener_metrics = state.listeners.clone();
    let app = oxcast_api::app(state, mounts);
    let http = crate::http_server::HttpSettings {
        header_timeout: Duration::from_secs(config.limits.http_header_timeout_seconds.into()),
        max_connections_per_address: config.limits.http_connections_per_address as usize,
        trusted_proxies,
    };
    let plain = HttpListener { socket: listeners.http, tls: None, counters: listener_metrics.http.clone() };
    if let Some((socket, certificate)) = listeners.https {
        let tls = Some(certificate.acceptor()?);
        let every = Duration::from_secs(config.tls.reload_check_seconds);
        tracker.spawn(certificate.watch(every, shutdown.clone()));
        let secure = HttpListener { socket, tls, counters: listener_metrics.https.clone() };
        tracker.spawn(crate::http_server::serve(secure, app.clone(), http.clone(), shutdown.clone(), tracker.clone()));
    }
    tracker.spawn(crate::http_server::serve(plain, app, http, shutdown.clone(), tracker.clone()));
    tracker.close();

    print_banner(&config, &urls, bound, new_default_key.as_ref().map(|k| k.as_str()), &token);

    shutdown.cancelled().await;
    tracing::info!("shutting down");
    let started = Instant::now();
    let registry_for_end = registry.clone();
    let ended_streams = tokio::task::spawn_blocking(move || registry_for_end.end_all()).await?;
    tracing::info!(count = ended_streams.len(), streams = ?ended_streams, "playlists ended with EXT-X-ENDLIST");
    let timed_out = tokio::time::timeout(SHUTDOWN_TIMEOUT, tracker.wait()).await.is_err();
    if timed_out {
        tracing::warn!("some connections did not close within {} s", SHUTDOWN_TIMEOUT.as_secs());
    }
    let took = started.elapsed();
    tracing::info!(took_ms = took.as_millis() as u64, "shutdown complete");
    Ok(ShutdownReport { ended_streams, timed_out, took })
}

/// The VOD processor `config` describes (every profile, "vod" the default for uploads).
pub fn processor(config: &Config, store: &Store, media: &Arc<dyn oxcast_vod::Storage>) -> oxcast_vod::Processor {
    let mut all_profiles: std::collections::HashMap<String, oxcast_transcode::Ladder> =
        config.profiles().into_iter().collect();
    let default_vod = all_profiles.remove(crate::config::VOD_PROFILE).unwrap_or_else(oxcast_transcode::Ladder::vod);
    all_profiles.insert(crate::config::VOD_PROFILE.to_owned(), default_vod.clone());
    oxcast_vod::Processor::new(store.clone(), media.clone(), all_profiles, default_vod, config.processing_config())
}

/// Removes expired uploads (and their bytes) every ten minutes until shutdown.
async fn sweep_uploads(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = oxcast_api::uploads::sweep_expired(&state).await {
                    tracing::warn!(error = %e, "sweeping expired uploads failed");
                }
            }
        }
    }
}

/// Forgets webhook events, attempts and finished deliveries older than `keep_days`, hourly.
async fn prune_webhook_log(store: Store, keep_days: u32, shutdown: CancellationToken) {
    prune_hourly("the webhook log", keep_days, shutdown, |before| {
        let store = store.clone();
        async move { store.webhooks().prune(before).await.map(|(events, attempts)| events + attempts) }
    })
    .await;
}

/// Removes change-log rows older than `keep_days`, hourly (any node may: it is idempotent).
async fn prune_catalog_changes(store: Store, keep_days: u32, shutdown: CancellationToken) {
    prune_hourly("the catalog's change log", keep_days, shutdown, |before| {
        let store = store.clone();
        async move { store.catalog_changes().prune(before).await }
    })
    .await;
}

/// Forgets playback sessions idle for two days, hourly: past the one-day view window they no
/// longer decide whether a view counts, and the aggregates keep what they added.
async fn prune_playback_sessions(store: Store, shutdown: CancellationToken) {
    prune_hourly("old playback sessions", 2, shutdown, |before| {
        let store = store.clone();
        async move { store.analytics().prune_sessions(before).await }
    })
    .await;
}

/// Keeps the co-watch table to the strongest pairs per video, hourly (its size stays bounded).
async fn trim_cowatch(store: Store, shutdown: CancellationToken) {
    prune_hourly("co-watch pairs beyond the strongest per video", 0, shutdown, |_| {
        let store = store.clone();
        async move { store.recommendations().trim().await }
    })
    .await;
}

/// Runs `prune(before)` every hour until shutdown, `before` being `keep_days` ago; logs what
/// it removed and when it failed.
async fn prune_hourly<F, Fut>(what: &'static str, keep_days: u32, shutdown: CancellationToken, prune: F)
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, oxcast_store::StoreError>>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                let before = oxcast_media::clock::unix_seconds() - i64::from(keep_days) * 86_400;
                match prune(before).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::info!(rows, keep_days, "pruned {what}"),
                    Err(e) => tracing::warn!(error = %e, "pruning {what} failed"),
                }
            }
        }
    }
}

/// Samples each broadcast's viewers every ten seconds until shutdown (peak and average).
async fn sample_viewers(
    registry: Arc<LiveRegistry>,
    viewers: Arc<dyn oxcast_api::ViewerCounts>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => registry.sample_viewers(viewers.as_ref()).await,
        }
    }
}

/// Updates each live session's ingest bitrate about once a second until shutdown.
async fn sample_bitrates(registry: Arc<LiveRegistry>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => registry.sample_bitrates(),
        }
    }
}

/// The chat on the server's tracker and token, or `None` when it is off.
async fn start_chat(
    config: &Config,
    store: &Store,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<Option<ChatService>> {
    if !config.chat.enabled {
        return Ok(None);
    }
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
    let chat = ChatService::start_on(settings, auth, rooms, backend, shutdown.child_token(), tracker.clone())
        .await
        .context("starting the chat")?;
    Ok(Some(chat))
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

/// The media storage the config names: a local directory, or an S3 bucket checked to answer.
pub async fn open_media(config: &Config) -> anyhow::Result<Arc<dyn oxcast_vod::Storage>> {
    if let Some(s3) = config.s3_settings() {
        let storage = oxcast_vod::S3Storage::new(&s3).with_context(|| format!("media storage {s3:?}"))?;
        storage.check().await.with_context(|| format!("media storage: bucket {:?} does not answer", s3.bucket))?;
        tracing::info!(bucket = %s3.bucket, endpoint = ?s3.endpoint, prefix = %s3.prefix, "media objects in S3");
        return Ok(Arc::new(storage));
    }
    let dir = config.media_dir();
    let storage = oxcast_vod::LocalStorage::open(&dir)
        .await
        .with_context(|| format!("opening media storage at {}", dir.display()))?;
    Ok(Arc::new(storage))
}
