//! The configuration's sections (`[vod]`, `[limits]`, `[chat]`, `[webrtc]`, `[live]`,
//! `[playback]`, `[webhooks]`): their fields, defaults and what the rest of the server takes
//! from them. How they are read and checked (file, environment, flags) is in `config/mod.rs`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Webhook deliveries.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliver from this node (every node may; they share the queue).
    pub deliver: bool,
    /// Deliveries in flight at once on this node.
    pub concurrency: u32,
    /// Each attempt's time limit (connect, send, the answer's status).
    pub timeout_seconds: u32,
    /// How long after an event failed deliveries are retried.
    pub retry_hours: u32,
    /// The first retry's delay; later ones grow (x6, x24, x120 ... up to x4320).
    pub first_retry_seconds: u32,
    /// Deliver to loopback and private addresses too (single-machine setups; off by default so
    /// a creator cannot make the server call into its own network).
    pub allow_private_destinations: bool,
    /// Events and the delivery log are kept this long, then pruned.
    pub keep_days: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            deliver: true,
            concurrency: 32,
            timeout_seconds: 10,
            retry_hours: 24,
            first_retry_seconds: 5,
            allow_private_destinations: false,
            keep_days: 30,
        }
    }
}

impl WebhooksConfig {
    pub fn settings(&self) -> oxcast_webhooks::WebhookSettings {
        oxcast_webhooks::WebhookSettings {
            concurrency: self.concurrency as usize,
            timeout: std::time::Duration::from_secs(self.timeout_seconds.into()),
            retry_window: std::time::Duration::from_secs(u64::from(self.retry_hours) * 3600),
            first_retry: std::time::Duration::from_secs(self.first_retry_seconds.into()),
            allow_private: self.allow_private_destinations,
            ..oxcast_webhooks::WebhookSettings::default()
        }
    }
}

/// Signed playback.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybackConfig {
    /// Media tokens (the `?mt=` in signed playlists) expire on multiples of this many seconds:
    /// viewers whose playback tokens end in the same window share media URLs (one CDN cache
    /// entry per object), and a media URL stays valid up to this long past its token's `exp`.
    pub media_token_seconds: u64,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self { media_token_seconds: 3600 }
    }
}

/// The built-in profile of uploads that name none.
pub const VOD_PROFILE: &str = "vod";

/// Video on demand.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VodConfig {
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Where media objects (uploads, renditions) live; default `DATA_DIR/media`.
    pub media_dir: Option<PathBuf>,
    /// Segment length of VOD renditions, in seconds (1 to 10).
    pub segment_seconds: u32,
    /// Processing workers on this server (0: this node only takes uploads; another processes).
    pub workers: u32,
    /// A processing job whose progress does not move for this long is stopped and retried.
    pub stall_timeout_seconds: u32,
    /// AAC bit rate of the audio rendition.
    pub audio_bitrate_kbps: u32,
    /// How long a processing job stays with a worker that stopped heartbeating (it died or
    /// hangs) before another worker (or this one, restarted) takes it again.
    pub lease_seconds: u32,
}

impl Default for VodConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024 * 1024,
            media_dir: None,
            segment_seconds: 4,
            workers: 1,
            stall_timeout_seconds: 120,
            audio_bitrate_kbps: 128,
            lease_seconds: 30,
        }
    }
}

/// Rate limits of the REST API and the login.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `/api` requests per minute, per client address and per token (or user).
    pub api_requests_per_minute: u32,
    /// Login attempts per ten minutes, per client address and per name.
    pub login_attempts_per_ten_minutes: u32,
    /// HTTP connections one client address may hold at once (trusted proxies are exempt).
    pub http_connections_per_address: u32,
    /// Time a client has to send a request's headers; also the longest a keep-alive connection
    /// may sit idle.
    pub http_header_timeout_seconds: u32,
    /// RTMP connections one client address may hold at once.
    pub rtmp_connections_per_address: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = oxcast_api::LimitSettings::default();
        Self {
            api_requests_per_minute: d.api_requests_per_minute,
            login_attempts_per_ten_minutes: d.login_attempts_per_ten_minutes,
            http_connections_per_address: 256,
            http_header_timeout_seconds: 15,
            rtmp_connections_per_address: oxcast_ingest::rtmp::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS as u32,
        }
    }
}

/// Live chat and viewer counts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    pub enabled: bool,
    /// Share rooms, history and viewer counts with other oxcast processes through Redis
    /// (`redis://HOST:6379`); unset: in this process only.
    pub redis_url: Option<String>,
    /// Messages replayed to a joining client.
    pub history: usize,
    /// Longest message, in characters.
    pub max_message_chars: usize,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { enabled: true, redis_url: None, history: 50, max_message_chars: 500 }
    }
}

/// WebRTC (WHIP) ingest.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcConfig {
    /// Addresses offered to publishers as ICE host candidates (one UDP port each per session).
    /// Empty: this host's outbound address plus loopback.
    pub ice_addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// LL-HLS part length (PART-TARGET).
    pub part_duration_ms: u64,
    /// Segment length to aim for; segments are cut at the publisher's keyframes.
    pub segment_duration_ms: u64,
    /// Media kept in each playlist.
    pub window_seconds: u64,
    /// After a publisher leaves, how long a reconnect continues the same playlist before
    /// EXT-X-ENDLIST is written.
    pub offline_grace_seconds: u64,
    /// Profile of streams that name none.
    pub default_profile: String,
    /// Record broadcasts into the video catalog, for streams that do not say (`oxcast stream
    /// set-recording`, `PUT /api/streams/NAME/recording`).
    pub record: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            part_duration_ms: 200,
            segment_duration_ms: 2000,
            window_seconds: 30,
            offline_grace_seconds: 10,
            default_profile: "standard".into(),
            record: false,
        }
    }
}

impl LiveConfig {
    pub fn part_duration(&self) -> Duration {
        Duration::from_millis(self.part_duration_ms)
    }
    pub fn segment_duration(&self) -> Duration {
        Duration::from_millis(self.segment_duration_ms)
    }
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }
    pub fn offline_grace(&self) -> Duration {
        Duration::from_secs(self.offline_grace_seconds)
    }
}

/// The HTTPS listener. It runs when `address` is set, and then needs both files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// e.g. `0.0.0.0:8443`; unset: no HTTPS listener (plain HTTP only, as behind a proxy).
    pub address: Option<std::net::SocketAddr>,
    /// PEM certificate chain, leaf first (what an ACME client writes as `fullchain.pem`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// How often the files are checked for a renewal; a new pair is used without a restart.
    pub reload_check_seconds: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { address: None, cert_file: None, key_file: None, reload_check_seconds: 10 }
    }
}

/// Search: this node's index of the catalog.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Off: no index on this node, `/api/search` answers 503.
    pub enabled: bool,
    /// Where the index lives (default: DATA_DIR/search). Each node has its own.
    pub index_dir: Option<PathBuf>,
    /// Rows of the catalog's change log are kept this long; a node off for longer rebuilds its
    /// index when it comes back.
    pub keep_changes_days: u32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { enabled: true, index_dir: None, keep_changes_days: 7 }
    }
}

/// This node among others sharing one database (see README, "Several nodes").
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The node's name in leases and logs (default: made once and kept in the data directory).
    pub node_id: Option<String>,
    /// Where the other nodes reach this node's HTTP listener, to relay the live streams
    /// published here (default: `http://127.0.0.1:PORT` for a listener on every address or on
    /// loopback, else `http://ADDRESS:PORT`).
    pub advertise_url: Option<String>,
}

/// Where media objects (uploads, renditions, posters, storyboards, captions, recordings) live.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (a directory: `vod.media_dir`) or `s3` (the `[storage.s3]` bucket, which every
    /// node of an install shares).
    pub backend: StorageBackend,
    pub s3: S3Config,
    /// A CDN (or the bucket's public website) that serves the media objects by key
    /// (`BASE/videos/ID/...`): segments, init segments, posters and storyboard images of public
    /// videos whose playback is not signed answer a redirect there. Unlisted, private and
    /// signed videos never do. Unset: none.
    pub public_base_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Local,
    S3,
}

/// An S3-compatible bucket. The credentials may also come from `OXCAST_S3_ACCESS_KEY_ID` and
/// `OXCAST_S3_SECRET_ACCESS_KEY` (or AWS's own `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`).
#[derive(Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host:port` of an S3-compatible server (Garage, Ceph, MinIO...); unset: AWS.
    pub endpoint: Option<String>,
    pub bucket: String,
    /// AWS region, or what the server expects (`garage`, `us-east-1`...); default `us-east-1`.
    pub region: Option<String>,
    /// Keys go under this prefix inside the bucket (`oxcast/`), so one bucket can hold several
    /// installs.
    pub prefix: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Players read media objects straight from the bucket, redirected (302) to a presigned
    /// URL valid this many seconds, after oxcast checked their access; 0 (the default): oxcast
    /// reads the object and sends it itself.
    pub redirect_seconds: u32,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field("redirect_seconds", &self.redirect_seconds)
            .finish_non_exhaustive()
    }
}
