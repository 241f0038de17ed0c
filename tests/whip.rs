//! WHIP ingest end to end: headless Chromium's fake camera and ffmpeg 9's WHIP muxer (two
//! independent WebRTC stacks) publish H.264 + Opus; the ladder is decoded part by part.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// A WebRTC encoder plus a live ladder take both cores: the publishing tests run one at a time.
static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    MACHINE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Headless Chromium publishing its fake camera for `seconds`; the script's JSON report.
fn chromium_publish(server: &Server, stream: &str, key: &str, seconds: u32) -> std::process::Child {
    Command::new("node")
        .args(["tests/browser/whip.mjs", "--server", &server.http, "--stream", stream, "--key", key])
        .args(["--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node tests/browser/whip.mjs (npm ci --prefix api/web installs playwright-core)")
}

fn report(child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("whip publisher: {text}");
    serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap_or_default()
}

/// ffmpeg 9 (from the PyPI package imageio-ffmpeg; `scripts/test.sh` finds it) publishing
/// baseline H.264 and Opus over WHIP.
fn ffmpeg_whip(server: &Server, stream: &str, key: &str, seconds: u32, size: &str) -> Publisher {
    let ffmpeg = std::env::var("OXCAST_TEST_WHIP_FFMPEG")
        .expect("OXCAST_TEST_WHIP_FFMPEG must name ffmpeg 9 with the WHIP muxer (scripts/test.sh sets it)");
    let child = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30:duration={seconds}")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:sample_rate=48000:duration={seconds}")])
        .args(["-c:v", "libx264", "-profile:v", "baseline", "-bf", "0", "-g", "30", "-preset", "veryfast"])
        .args(["-tune", "zerolatency", "-b:v", "1200k", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "libopus", "-ar", "48000", "-ac", "2", "-f", "whip", "-authorization", key])
        .arg(server.url(&oxcast_ingest::whip::endpoint_path(stream)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg 9");
    Publisher(child)
}

/// Decodes the newest segment of every rendition and checks segment lengths stay near the
/// 1 s target (the server asks the publisher for keyframes).
fn check_ladder(server: &Server, stream: &str, renditions: &[(&str, u64)]) {
    let dir = tempfile::tempdir().unwrap();
    for (rendition, height) in renditions {
        let p = decode_latest_segment(server, stream, rendition, dir.path());
        assert_eq!((p.codec.as_str(), p.height), ("h264", Some(*height)), "{rendition}: {p:?}");
        assert!(p.first_packet_key, "{rendition}: segment starts with a keyframe: {p:?}");
        assert!(p.frames >= 10 && p.frames == p.packets, "{rendition}: every frame decodes: {p:?}");
        let text = get_text(&server.url(&format!("/live/{stream}/{rendition}/index.m3u8"))).1;
        let durations: Vec<f64> = parse_media(&text).segments.iter().map(|s| f64::from(s.duration)).collect();
        let long = durations.iter().filter(|d| **d > 1.6).count();
        assert!(long * 4 <= durations.len(), "{rendition}: keyframes requested often enough: {durations:?}");
    }
    let audio = decode_latest_segment(server, stream, "audio", dir.path());
    assert_eq!(audio.codec, "aac", "Opus is transcoded to AAC");
    assert!(audio.frames >= 30, "{audio:?}");
    // Audio keeps pace with video (it once stalled while video went on).
    let last = |rendition: &str| {
        let p = parse_media(&get_text(&server.url(&format!("/live/{stream}/{rendition}/index.m3u8"))).1);
        p.media_sequence + p.segments.len() as u64
    };
    let (video, audio) = (last("video"), last("audio"));
    assert!(video.abs_diff(audio) <= 1, "audio at segment {audio}, video at {video}");
}

#[test]
fn chromium_fake_camera_publishes_a_playable_ladder() {
    let _machine = exclusive();
    let server = Server::start();
    let publisher = chromium_publish(&server, "main", &server.default_key, 25);
    let master = get_when_ready(&server.url("/live/main/index.m3u8"), Duration::from_secs(30)).text().unwrap();
    assert!(master.contains("mp4a.40.2"), "{master}");
    wait_for("four segments", Duration::from_secs(25), || {
        get_text(&server.url("/live/main/video/index.m3u8")).1.matches("#EXTINF").count() >= 4
    });
    let status = stream_status(&server, "main");
    assert_eq!((status["state"].as_str(), status["protocol"].as_str()), (Some("live"), Some("whip")), "{status}");
    let height = status["renditions"][0]["height"].as_u64().unwrap();
    let mut renditions = vec![("video", height)];
    // The fake camera is 640x480 or smaller: the standard ladder adds 360p below 480p.
    if height > 360 {
        renditions.push(("360p", 360));
    }
    check_ladder(&server, "main", &renditions);
    let r = report(publisher);
    assert_eq!(r["status"], 201, "{r}");
    assert!(r["location"].as_str().unwrap().starts_with(&oxcast_ingest::whip::paths::session_path("main", "")), "{r}");
    assert_eq!(r["codecs"].as_array().map(Vec::len), Some(2), "H.264 and Opus sent: {r}");
    assert_eq!(r["deleted"], 200, "DELETE on the session URL: {r}");
    assert!(server.wait_for_log("whip publisher left", Duration::from_secs(5)), "{}", server.log());
}

#[test]
fn ffmpeg_whip_publishes_a_playable_ladder_and_takes_over_rtmp() {
    let _machine = exclusive();
    let server = Server::start();
    let mut rtmp = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 60, &[]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(20));
    let _whip = ffmpeg_whip(&server, "main", &server.default_key, 30, "854x480");
    assert!(rtmp.wait_exit(Duration::from_secs(15)).is_some(), "the RTMP publisher is taken over");
    wait_for("a WHIP session with three segments after the discontinuity", Duration::from_secs(30), || {
        // The source playlist continues across the takeover; 360p only exists for the 480p source.
        let source = get_text(&server.url("/live/main/video/index.m3u8")).1;
        let rung = get_text(&server.url("/live/main/360p/index.m3u8")).1;
        source.contains("#EXT-X-DISCONTINUITY\n")
            && source.split("#EXT-X-DISCONTINUITY\n").last().unwrap().matches("#EXTINF").count() >= 3
            && rung.matches("#EXTINF").count() >= 3
            && stream_status(&server, "main")["protocol"] == "whip"
    });
    check_ladder(&server, "main", &[("video", 480), ("360p", 360)]);
}

#[test]
fn whip_http_errors_are_clear() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let other_key = server.cli_create_stream("other");
    let c = client();
    let url = server.url(&oxcast_ingest::whip::endpoint_path("main"));
    let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
    let post = |key: Option<&str>, content_type: &str, body: String| {
        let mut r = c.post(&url).header("Content-Type", content_type).body(body);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        let r = r.send().unwrap();
        let www = r.headers().get("www-authenticate").is_some();
        (r.status().as_u16(), www, r.text().unwrap())
    };
    let (status, www, _) = post(None, "application/sdp", offer.into());
    assert_eq!((status, www), (401, true), "no bearer token");
    assert_eq!(post(Some("sk_wrong"), "application/sdp", offer.into()).0, 401);
    assert_eq!(post(Some(&other_key), "application/sdp", offer.into()).0, 401, "a key of another stream");
    assert_eq!(post(Some(&server.default_key), "text/plain", offer.into()).0, 415);
    let (status, _, body) = post(Some(&server.default_key), "application/sdp", offer.into());
    assert_eq!(status, 400);
    assert!(body.contains("no H.264 (offered: VP8)"), "{body}");
    assert_eq!(post(Some(&server.default_key), "application/sdp", "hello".into()).0, 400);
    let (status, _, body) = post(Some(&server.default_key), "application/sdp", "v=0\r\nthis is not sdp\r\n".into());
    assert_eq!(status, 400, "{body}");
    assert_eq!(post(Some(&server.default_key), "application/sdp", "v".repeat(100 * 1024)).0, 413);

    // An H.264 offer whose SDP webrtc cannot use (no ICE credentials, no fingerprint): 400.
    let broken = offer.replace("VP8", "H264");
    let (status, _, body) = post(Some(&server.default_key), "application/sdp", broken);
    assert_eq!(status, 400, "{body}");

    let preflight = c
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://studio.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .send()
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase().contains("authorization"));
    assert_eq!(
        c.delete(server.url(&oxcast_ingest::whip::paths::session_path("main", "0123456789abcdef")))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        c.patch(server.url(&oxcast_ingest::whip::paths::session_path("main", "0123456789abcdef")))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        405
    );
    assert!(!server.log().contains("panicked"), "{}", server.log());
    assert_eq!(stream_status(&server, "main")["state"], "offline", "nothing was taken");
}
