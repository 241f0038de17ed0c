//! Server configuration: defaults, then a TOML file, then `OXCAST_*` environment variables, then
//! command-line flags; [`Config::validate`] checks the result before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use oxcast_transcode::Ladder;
use serde::Deserialize;

mod sections;

pub use sections::{
    ChatSettings, ClusterConfig, LimitsConfig, LiveConfig, PlaybackConfig, S3Config, SearchConfig, StorageBackend,
    StorageConfig, TlsConfig, VOD_PROFILE, VodConfig, WebhooksConfig, WebrtcConfig,
};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listener: API, player, LL-HLS (HTTP/1.1, and HTTP/2 with prior knowledge).
    pub http: SocketAddr,
    /// The HTTPS listener (the same application over TLS, HTTP/2 by ALPN).
    pub tls: TlsConfig,
    /// RTMP listener for publishers.
    pub rtmp: SocketAddr,
    /// SRT listener for publishers (UDP).
    pub srt: SocketAddr,
    /// Whether the SRT listener runs at all.
    pub srt_enabled: bool,
    /// SRT receive latency this server asks for; a connection uses the larger of both sides'.
    pub srt_latency_ms: u64,
    pub webrtc: WebrtcConfig,
    pub chat: ChatSettings,
    /// Where the SQLite database and generated secrets live.
    pub data_dir: PathBuf,
    /// Host name (and optional port-less domain) put in printed URLs; defaults to localhost.
    pub public_host: Option<String>,
    /// Bearer token for admin API calls; generated into the data directory when unset.
    pub admin_token: Option<String>,
    /// sqlx URL; defaults to `sqlite://DATA_DIR/oxcast.db`.
    pub database_url: Option<String>,
    /// Stream created on first start so a fresh install can publish at once.
    pub default_stream: String,
    pub live: LiveConfig,
    /// Transcoding profiles besides the built-in "passthrough", "standard" (720p/480p/360p) and
    /// "vod" (1080p/720p/480p/360p, what uploads get unless they name another); a profile of
    /// the same name replaces a built-in one.
    pub profiles: BTreeMap<String, Ladder>,
    /// Proxies (addresses or networks like `10.0.0.0/8`) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed; empty: the socket's peer is the client.
    pub trusted_proxies: Vec<String>,
    pub limits: LimitsConfig,
    pub vod: VodConfig,
    pub playback: PlaybackConfig,
    pub webhooks: WebhooksConfig,
    pub search: SearchConfig,
    pub storage: StorageConfig,
    pub cluster: ClusterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls: TlsConfig::default(),
            rtmp: SocketAddr::from(([0, 0, 0, 0], 1935)),
            srt: SocketAddr::from(([0, 0, 0, 0], 8890)),
            srt_enabled: true,
            srt_latency_ms: 120,
            webrtc: WebrtcConfig::default(),
            chat: ChatSettings::default(),
            data_dir: PathBuf::from("oxcast-data"),
            public_host: None,
            admin_token: None,
            database_url: None,
            default_stream: "main".into(),
            live: LiveConfig::default(),
            profiles: BTreeMap::new(),
            trusted_proxies: Vec::new(),
            limits: LimitsConfig::default(),
            vod: VodConfig::default(),
            playback: PlaybackConfig::default(),
            webhooks: WebhooksConfig::default(),
            search: SearchConfig::default(),
            storage: StorageConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// Command-line values that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub rtmp: Option<SocketAddr>,
    pub srt: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Defaults < `file` < environment < `overrides`, validated.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut config = Self::from_file(file)?;
        config.apply_env(|name| std::env::var(name).ok())?;
        if let Some(http) = overrides.http {
            config.http = http;
        }
        if let Some(https) = overrides.https {
            config.tls.address = Some(https);
        }
        if let Some(rtmp) = overrides.rtmp {
            config.rtmp = rtmp;
        }
        if let Some(srt) = overrides.srt {
            config.srt = srt;
            config.srt_enabled = true;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        config.validate()?;
        Ok(config)
    }

    /// Defaults < `file` < `data_dir`, validated, without reading the environment: for an
    /// install other than the one this process's environment describes (`oxcast migrate`'s
    /// source).
    pub fn load_other(file: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = Self::from_file(file)?;
        if let Some(dir) = data_dir {
            config.data_dir = dir.to_owned();
        }
        config.validate()?;
        Ok(config)
    }

    /// The defaults, or `file` over them.
    fn from_file(file: Option<&Path>) -> anyhow::Result<Self> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                Self::from_toml(&text).with_context(|| format!("in {}", path.display()))
            }
            None => Ok(Self::default()),
        }
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }

    /// Applies `OXCAST_*` variables read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e| anyhow::anyhow!("{name}={value:?}: {e}"))
        }
        if let Some(v) = var("OXCAST_HTTP") {
            self.http = parse("OXCAST_HTTP", v)?;
        }
        if let Some(v) = var("OXCAST_HTTPS") {
            self.tls.address = Some(parse("OXCAST_HTTPS", v)?);
        }
        if let Some(v) = var("OXCAST_TLS_CERT_FILE") {
            self.tls.cert_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("OXCAST_TLS_KEY_FILE") {
            self.tls.key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("OXCAST_TLS_RELOAD_CHECK_SECONDS") {
            self.tls.reload_check_seconds = parse("OXCAST_TLS_RELOAD_CHECK_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_SEARCH_ENABLED") {
            self.search.enabled = parse("OXCAST_SEARCH_ENABLED", v)?;
        }
        if let Some(v) = var("OXCAST_SEARCH_INDEX_DIR") {
            self.search.index_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("OXCAST_NODE_ID") {
            self.cluster.node_id = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("OXCAST_ADVERTISE_URL") {
            self.cluster.advertise_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("OXCAST_STORAGE_PUBLIC_BASE_URL") {
            self.storage.public_base_url = Some(v);
        }
        if let Some(v) = var("OXCAST_STORAGE_BACKEND") {
            self.storage.backend = match v.as_str() {
                "local" => StorageBackend::Local,
                "s3" => StorageBackend::S3,
                other => bail!("OXCAST_STORAGE_BACKEND={other:?}: local or s3"),
            };
        }
        let s3 = &mut self.storage.s3;
        if let Some(v) = var("OXCAST_S3_ENDPOINT") {
            s3.endpoint = Some(v);
        }
        if let Some(v) = var("OXCAST_S3_BUCKET") {
            s3.bucket = v;
        }
        if let Some(v) = var("OXCAST_S3_REGION") {
            s3.region = Some(v);
        }
        if let Some(v) = var("OXCAST_S3_PREFIX") {
            s3.prefix = v;
        }
        if let Some(v) = var("OXCAST_S3_ACCESS_KEY_ID").or_else(|| var("AWS_ACCESS_KEY_ID")) {
            s3.access_key_id = Some(v);
        }
        if let Some(v) = var("OXCAST_S3_SECRET_ACCESS_KEY").or_else(|| var("AWS_SECRET_ACCESS_KEY")) {
            s3.secret_access_key = Some(v);
        }
        if let Some(v) = var("OXCAST_S3_REDIRECT_SECONDS") {
            s3.redirect_seconds = parse("OXCAST_S3_REDIRECT_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_RTMP") {
            self.rtmp = parse("OXCAST_RTMP", v)?;
        }
        if let Some(v) = var("OXCAST_SRT") {
            self.srt = parse("OXCAST_SRT", v)?;
        }
        if let Some(v) = var("OXCAST_SRT_ENABLED") {
            self.srt_enabled = parse("OXCAST_SRT_ENABLED", v)?;
        }
        if let Some(v) = var("OXCAST_SRT_LATENCY_MS") {
            self.srt_latency_ms = parse("OXCAST_SRT_LATENCY_MS", v)?;
        }
        if let Some(v) = var("OXCAST_WEBRTC_ICE_ADDRESSES") {
            self.webrtc.ice_addresses = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| parse("OXCAST_WEBRTC_ICE_ADDRESSES", a.to_owned()))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(v) = var("OXCAST_CHAT_ENABLED") {
            self.chat.enabled = parse("OXCAST_CHAT_ENABLED", v)?;
        }
        if let Some(v) = var("OXCAST_CHAT_REDIS_URL") {
            self.chat.redis_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("OXCAST_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("OXCAST_PUBLIC_HOST") {
            self.public_host = Some(v);
        }
        if let Some(v) = var("OXCAST_ADMIN_TOKEN") {
            self.admin_token = Some(v);
        }
        if let Some(v) = var("OXCAST_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = var("OXCAST_DEFAULT_STREAM") {
            self.default_stream = v;
        }
        if let Some(v) = var("OXCAST_PART_DURATION_MS") {
            self.live.part_duration_ms = parse("OXCAST_PART_DURATION_MS", v)?;
        }
        if let Some(v) = var("OXCAST_SEGMENT_DURATION_MS") {
            self.live.segment_duration_ms = parse("OXCAST_SEGMENT_DURATION_MS", v)?;
        }
        if let Some(v) = var("OXCAST_WINDOW_SECONDS") {
            self.live.window_seconds = parse("OXCAST_WINDOW_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_DEFAULT_PROFILE") {
            self.live.default_profile = v;
        }
        if let Some(v) = var("OXCAST_TRUSTED_PROXIES") {
            self.trusted_proxies = v.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = var("OXCAST_API_REQUESTS_PER_MINUTE") {
            self.limits.api_requests_per_minute = parse("OXCAST_API_REQUESTS_PER_MINUTE", v)?;
        }
        if let Some(v) = var("OXCAST_LOGIN_ATTEMPTS_PER_TEN_MINUTES") {
            self.limits.login_attempts_per_ten_minutes = parse("OXCAST_LOGIN_ATTEMPTS_PER_TEN_MINUTES", v)?;
        }
        if let Some(v) = var("OXCAST_MAX_UPLOAD_BYTES") {
            self.vod.max_upload_bytes = parse("OXCAST_MAX_UPLOAD_BYTES", v)?;
        }
        if let Some(v) = var("OXCAST_VOD_SEGMENT_SECONDS") {
            self.vod.segment_seconds = parse("OXCAST_VOD_SEGMENT_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_HTTP_CONNECTIONS_PER_ADDRESS") {
            self.limits.http_connections_per_address = parse("OXCAST_HTTP_CONNECTIONS_PER_ADDRESS", v)?;
        }
        if let Some(v) = var("OXCAST_HTTP_HEADER_TIMEOUT_SECONDS") {
            self.limits.http_header_timeout_seconds = parse("OXCAST_HTTP_HEADER_TIMEOUT_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_RTMP_CONNECTIONS_PER_ADDRESS") {
            self.limits.rtmp_connections_per_address = parse("OXCAST_RTMP_CONNECTIONS_PER_ADDRESS", v)?;
        }
        if let Some(v) = var("OXCAST_WEBHOOKS_ALLOW_PRIVATE") {
            self.webhooks.allow_private_destinations = parse("OXCAST_WEBHOOKS_ALLOW_PRIVATE", v)?;
        }
        if let Some(v) = var("OXCAST_WEBHOOKS_FIRST_RETRY_SECONDS") {
            self.webhooks.first_retry_seconds = parse("OXCAST_WEBHOOKS_FIRST_RETRY_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_WEBHOOKS_TIMEOUT_SECONDS") {
            self.webhooks.timeout_seconds = parse("OXCAST_WEBHOOKS_TIMEOUT_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_WEBHOOKS_RETRY_HOURS") {
            self.webhooks.retry_hours = parse("OXCAST_WEBHOOKS_RETRY_HOURS", v)?;
        }
        if let Some(v) = var("OXCAST_VOD_WORKERS") {
            self.vod.workers = parse("OXCAST_VOD_WORKERS", v)?;
        }
        if let Some(v) = var("OXCAST_VOD_LEASE_SECONDS") {
            self.vod.lease_seconds = parse("OXCAST_VOD_LEASE_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_VOD_STALL_TIMEOUT_SECONDS") {
            self.vod.stall_timeout_seconds = parse("OXCAST_VOD_STALL_TIMEOUT_SECONDS", v)?;
        }
        if let Some(v) = var("OXCAST_RECORD") {
            self.live.record = parse("OXCAST_RECORD", v)?;
        }
        if let Some(v) = var("OXCAST_OFFLINE_GRACE_SECONDS") {
            self.live.offline_grace_seconds = parse("OXCAST_OFFLINE_GRACE_SECONDS", v)?;
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let live = &self.live;
        if !(50..=2000).contains(&live.part_duration_ms) {
            bail!("live.part_duration_ms must be between 50 and 2000 (got {})", live.part_duration_ms);
        }
        if live.segment_duration_ms < 2 * live.part_duration_ms || live.segment_duration_ms > 20_000 {
            bail!(
                "live.segment_duration_ms must be at least two parts and at most 20000 (got {})",
                live.segment_duration_ms
            );
        }
        if live.window_seconds * 1000 < 3 * live.segment_duration_ms || live.window_seconds > 3600 {
            bail!(
                "live.window_seconds must hold at least three segments and be at most 3600 (got {})",
                live.window_seconds
            );
        }
        if live.offline_grace_seconds > 3600 {
            bail!("live.offline_grace_seconds must be at most 3600");
        }
        oxcast_store::validate_name(&self.default_stream).context("default_stream")?;
        if let Some(url) = &self.cluster.advertise_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("cluster.advertise_url must be an http:// or https:// URL (got {url:?})");
        }
        for (name, ladder) in &self.profiles {
            oxcast_store::validate_name(name).with_context(|| format!("profile name {name:?}"))?;
            ladder.validate().with_context(|| format!("profile {name}"))?;
        }
        if !self.profiles().contains_key(&self.live.default_profile) {
            bail!("live.default_profile {:?} is not a profile", self.live.default_profile);
        }
        if let Some(base) = &self.storage.public_base_url
            && !(base.starts_with("https://") || base.starts_with("http://"))
        {
            bail!("storage.public_base_url must be an http(s):// URL (got {base:?})");
        }
        if self.storage.backend == StorageBackend::S3 {
            let s3 = &self.storage.s3;
            if s3.bucket.is_empty() {
                bail!("storage.s3.bucket is needed with storage.backend = \"s3\"");
            }
            if s3.access_key_id.is_none() || s3.secret_access_key.is_none() {
                bail!(
                    "storage.s3 needs access_key_id and secret_access_key (or OXCAST_S3_ACCESS_KEY_ID/OXCAST_S3_SECRET_ACCESS_KEY)"
                );
            }
            if s3.redirect_seconds > 7 * 86_400 {
                bail!("storage.s3.redirect_seconds must be at most 604800 (S3's limit for presigned URLs)");
            }
        }
        if self.tls.address.is_some() && (self.tls.cert_file.is_none() || self.tls.key_file.is_none()) {
            bail!("tls.address needs tls.cert_file and tls.key_file (PEM files)");
        }
        if !(1..=3600).contains(&self.tls.reload_check_seconds) {
            bail!("tls.reload_check_seconds must be between 1 and 3600 (got {})", self.tls.reload_check_seconds);
        }
        if !(1..=365).contains(&self.search.keep_changes_days) {
            bail!("search.keep_changes_days must be 1 to 365 (got {})", self.search.keep_changes_days);
        }
        if !(20..=8000).contains(&self.srt_latency_ms) {
            bail!("srt_latency_ms must be between 20 and 8000 (got {})", self.srt_latency_ms);
        }
        if !(1..=1000).contains(&self.chat.history) || !(1..=10_000).contains(&self.chat.max_message_chars) {
            bail!("chat.history must be 1 to 1000 and chat.max_message_chars 1 to 10000");
        }
        if self.chat.redis_url.as_ref().is_some_and(|u| !u.starts_with("redis://") && !u.starts_with("rediss://")) {
            bail!("chat.redis_url must be a redis:// or rediss:// URL");
        }
        if self.webrtc.ice_addresses.iter().any(|ip| ip.is_unspecified()) {
            bail!("webrtc.ice_addresses must name addresses of this host, not 0.0.0.0 or ::");
        }
        self.trusted_proxy_networks()?;
        if !(1..=10).contains(&self.vod.segment_seconds) {
            bail!("vod.segment_seconds must be 1 to 10 (got {})", self.vod.segment_seconds);
        }
        if self.vod.workers > 16 || self.vod.stall_timeout_seconds < 10 {
            bail!("vod.workers must be at most 16 and vod.stall_timeout_seconds at least 10");
        }
        let l = &self.limits;
        if l.http_connections_per_address == 0
            || l.rtmp_connections_per_address == 0
            || !(1..=300).contains(&l.http_header_timeout_seconds)
        {
            bail!("limits: http/rtmp_connections_per_address at least 1, http_header_timeout_seconds 1 to 300");
        }
        let w = &self.webhooks;
        if !(1..=1000).contains(&w.concurrency)
            || !(1..=120).contains(&w.timeout_seconds)
            || !(1..=24 * 30).contains(&w.retry_hours)
            || !(1..=3600).contains(&w.first_retry_seconds)
        {
            bail!("webhooks: concurrency 1-1000, timeout_seconds 1-120, retry_hours 1-720, first_retry_seconds 1-3600");
        }
        if !(60..=86_400).contains(&self.playback.media_token_seconds) {
            bail!("playback.media_token_seconds must be 60 to 86400");
        }
        if !(5..=600).contains(&self.vod.lease_seconds) {
            bail!("vod.lease_seconds must be 5 to 600");
        }
        if !(32..=512).contains(&self.vod.audio_bitrate_kbps) {
            bail!("vod.audio_bitrate_kbps must be 32 to 512");
        }
        if self.limits.api_requests_per_minute == 0 || self.limits.login_attempts_per_ten_minutes == 0 {
            bail!("limits.api_requests_per_minute and limits.login_attempts_per_ten_minutes must be at least 1");
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("admin_token must be at least 16 characters");
        }
        Ok(())
    }

    /// How the processing workers run.
    pub fn processing_config(&self) -> oxcast_vod::ProcessingConfig {
        oxcast_vod::ProcessingConfig {
            segment: std::time::Duration::from_secs(self.vod.segment_seconds.into()),
            audio_bitrate_kbps: self.vod.audio_bitrate_kbps,
            stall_timeout: std::time::Duration::from_secs(self.vod.stall_timeout_seconds.into()),
            lease: std::time::Duration::from_secs(self.vod.lease_seconds.into()),
            heartbeat: std::time::Duration::from_secs(u64::from(self.vod.lease_seconds / 5).clamp(1, 5)),
            ..oxcast_vod::ProcessingConfig::default()
        }
    }

    /// Built-in profiles overlaid with the configured ones.
    pub fn profiles(&self) -> BTreeMap<String, Ladder> {
        let mut all = BTreeMap::from([
            ("passthrough".to_owned(), Ladder::passthrough()),
            ("standard".to_owned(), Ladder::standard()),
            (VOD_PROFILE.to_owned(), Ladder::vod()),
        ]);
        all.extend(self.profiles.clone());
        all
    }

    /// `trusted_proxies` parsed.
    pub fn trusted_proxy_networks(&self) -> anyhow::Result<Vec<oxcast_api::IpNet>> {
        self.trusted_proxies.iter().map(|p| p.parse().map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))).collect()
    }

    pub fn limit_settings(&self) -> oxcast_api::LimitSettings {
        oxcast_api::LimitSettings {
            api_requests_per_minute: self.limits.api_requests_per_minute,
            login_attempts_per_ten_minutes: self.limits.login_attempts_per_ten_minutes,
        }
    }

    /// The profile names streams may choose, for checking a name once wherever it comes from
    /// (CLI, REST API).
    pub fn known_profiles(&self) -> anyhow::Result<oxcast_store::KnownProfiles> {
        Ok(oxcast_store::KnownProfiles::new(self.profiles().into_keys(), &self.live.default_profile)?)
    }

    pub fn search_index_dir(&self) -> PathBuf {
        self.search.index_dir.clone().unwrap_or_else(|| self.data_dir.join("search"))
    }

    /// The bucket's settings for the vod crate, when storage is S3.
    pub fn s3_settings(&self) -> Option<oxcast_vod::S3Settings> {
        let s3 = &self.storage.s3;
        (self.storage.backend == StorageBackend::S3).then(|| oxcast_vod::S3Settings {
            endpoint: s3.endpoint.clone(),
            bucket: s3.bucket.clone(),
            region: s3.region.clone().unwrap_or_else(|| "us-east-1".into()),
            prefix: s3.prefix.clone(),
            access_key_id: s3.access_key_id.clone().unwrap_or_default(),
            secret_access_key: s3.secret_access_key.clone().unwrap_or_default(),
        })
    }

    pub fn media_dir(&self) -> PathBuf {
        self.vod.media_dir.clone().unwrap_or_else(|| self.data_dir.join("media"))
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("oxcast.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let text = include_str!("../../oxcast.example.toml");
        let config = Config::from_toml(text).expect("example parses");
        config.validate().expect("example is valid");
        assert_eq!(config.live.part_duration_ms, 200);
    }

    #[test]
    fn s3_storage_needs_a_bucket_and_credentials_and_takes_them_from_the_environment() {
        let mut config = Config::from_toml("[storage]\nbackend = \"s3\"\n").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("storage.s3.bucket"), "{error}");
        config
            .apply_env(|k| match k {
                "OXCAST_S3_BUCKET" => Some("media".into()),
                "OXCAST_S3_ENDPOINT" => Some("http://127.0.0.1:3900".into()),
                "AWS_ACCESS_KEY_ID" => Some("GK1".into()),
                "OXCAST_S3_SECRET_ACCESS_KEY" => Some("s3cret".into()),
                _ => None,
            })
            .unwrap();
        config.validate().unwrap();
        let s3 = config.s3_settings().unwrap();
        assert_eq!((s3.bucket.as_str(), s3.region.as_str(), s3.access_key_id.as_str()), ("media", "us-east-1", "GK1"));
        assert!(!format!("{s3:?}").contains("s3cret"), "the secret stays out of logs");
        config.storage.public_base_url = Some("cdn.example.org".into());
        assert!(config.validate().unwrap_err().to_string().contains("public_base_url"));
        assert!(Config::default().s3_settings().is_none(), "local by default");
    }

    #[test]
    fn env_overrides_file_and_bad_values_are_named() {
        let mut config = Config::from_toml("http = \"127.0.0.1:9000\"\n[live]\npart_duration_ms = 300\n").unwrap();
        config
            .apply_env(|k| match k {
                "OXCAST_PART_DURATION_MS" => Some("250".into()),
                "OXCAST_RTMP" => Some("127.0.0.1:1936".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.http.port(), 9000);
        assert_eq!(config.rtmp.port(), 1936);
        assert_eq!(config.live.part_duration_ms, 250);
        let err = config.apply_env(|k| (k == "OXCAST_HTTP").then(|| "nope".into())).unwrap_err();
        assert!(err.to_string().contains("OXCAST_HTTP"));
    }

    #[test]
    fn validation_refuses_nonsense() {
        let mut c = Config::default();
        c.live.part_duration_ms = 10;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.live.segment_duration_ms = 300;
        assert!(c.validate().is_err());
        let c = Config { default_stream: "no/slash".into(), ..Config::default() };
        assert!(c.validate().is_err());
        assert!(Config::from_toml("unknown_key = 1").is_err());
        let half = Config::from_toml("[tls]\naddress = \"127.0.0.1:8443\"\ncert_file = \"c.pem\"").unwrap();
        assert!(format!("{}", half.validate().unwrap_err()).contains("key_file"));
        let whole = Config::from_toml("[tls]\naddress = \"127.0.0.1:8443\"\ncert_file = \"c\"\nkey_file = \"k\"");
        assert!(whole.unwrap().validate().is_ok(), "the files themselves are read when the listener binds");
    }
}
