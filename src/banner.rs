//! What `oxcast serve` prints once it listens: what a streamer types into OBS for each protocol,
//! what a viewer opens, and how an admin makes more streams. Tests read it too (the HTTP
//! address and the default stream's key).

use oxcast_api::PublicUrls;

use crate::config::Config;

/// The addresses the server actually bound (ports may have been 0 in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddresses {
    pub http: std::net::SocketAddr,
    pub https: Option<std::net::SocketAddr>,
    pub rtmp: std::net::SocketAddr,
    pub srt: Option<std::net::SocketAddr>,
}

pub fn print_banner(
    config: &Config,
    urls: &PublicUrls,
    bound: BoundAddresses,
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
            oxcast_ingest::srt::publish_url(srt, &key)
        ),
        None => String::new(),
    };
    println!(
        "\noxcast is running (HTTP {http}, RTMP {rtmp}{srt}{https}, data in {data}).\n\n\
         Streamer: OBS > Settings > Stream\n\
         \x20 RTMP:\n\
         \x20   Service:     Custom...\n\
         \x20   Server:      {rtmp_url}\n\
         \x20   Stream Key:  {key_line}\n\
         {srt_block}\n\
         \x20 WebRTC (OBS 30+, lowest latency):\n\
         \x20   Service:     WHIP\n\
         \x20   Server:      {http_url}{whip_path}\n\
         \x20   Bearer Token: {key}\n\n\
         \x20 Output (RTMP/SRT): H.264 + AAC; Keyframe Interval 1 s (or 2 s); for the lowest latency\n\
         \x20   also x264 Tune \"zerolatency\" (no B-frames). WHIP sends H.264 + Opus by itself.\n\n\
         Viewer:\n\
         \x20 Player:      {http_url}/watch/{name}\n\
         \x20 LL-HLS:      {http_url}/live/{name}/index.m3u8\n\n\
         Creators:\n\
         \x20 Studio:      {http_url}/studio  (accounts: oxcast user create NAME --data-dir {data})\n\
         \x20 API docs:    {http_url}/api/docs  (OpenAPI: {http_url}/api/openapi.json)\n\n\
         Uploader:\n\
         \x20 Upload page: {http_url}/studio/upload  (log in; resumable, with a progress bar)\n\
         \x20 API:         tus 1.0.0 at {http_url}/api/uploads with a videos:write token, or a one-time URL\n\
         \x20              from POST {http_url}/api/videos/direct-uploads for a browser\n\
         \x20 Watch:       {http_url}/v/VIDEO_ID  (HLS: {http_url}/vod/VIDEO_ID/index.m3u8, embed: /embed/v/VIDEO_ID)\n\n\
         Admin API token (Authorization: Bearer ...): {admin_token}\n\
         \x20 New stream: curl -X POST -H 'Authorization: Bearer {admin_token}' -H 'Content-Type: application/json' \\\n\
         \x20             -d '{{\"name\":\"studio\"}}' {http_url}/api/streams\n\
         \x20 or:         oxcast stream create studio --data-dir {data}\n",
        http = bound.http,
        rtmp = bound.rtmp,
        srt = bound.srt.map(|a| format!(", SRT {a}/udp")).unwrap_or_default(),
        https = bound.https.map(|a| format!(", HTTPS {a}")).unwrap_or_default(),
        data = config.data_dir.display(),
        rtmp_url = urls.rtmp,
        http_url = urls.canonical(),
        whip_path = oxcast_ingest::whip::endpoint_path(name),
    );
}
