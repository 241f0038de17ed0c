//! The live ABR ladder end to end: real RTMP in, every rendition decoded, aligned and switched.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Encoding ladders in real time takes both cores: two of these tests at once would make the
/// server shed rungs (correctly) and fail the other test. Each test holds this lock.
static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    MACHINE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `2026-11-21T16:30:12.345Z` → seconds since midnight (enough to compare nearby dates).
fn seconds_of_day(pdt: &str) -> f64 {
    let time = pdt.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut fields = time.split(':').map(|f| f.parse::<f64>().unwrap());
    let (h, m, s) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
    h * 3600.0 + m * 60.0 + s
}

fn media_url(server: &Server, rendition: &str, file: &str) -> String {
    server.url(&format!("/live/main/{rendition}/{file}"))
}

#[test]
fn a_720p_push_yields_an_aligned_decodable_ladder() {
    let _machine = exclusive();
    let server = Server::start();
    let _pusher = ffmpeg_push_sized(
        &format!("{}/{}", server.rtmp, server.default_key),
        40,
        "1280x720",
        &["-tune", "zerolatency", "-b:v", "2500k"],
    );
    let master_text = get_when_ready(&server.url("/live/main/index.m3u8"), Duration::from_secs(25)).text().unwrap();
    let master = parse_master(&master_text);
    let heights: Vec<u64> = master.variants.iter().map(|v| v.resolution.unwrap().height).collect();
    assert_eq!(heights, [720, 480, 360], "{master_text}");
    for v in &master.variants {
        let codecs = v.codecs.clone().unwrap();
        assert!(codecs.starts_with("avc1.64") && codecs.ends_with(",mp4a.40.2"), "{codecs}");
        assert!(v.average_bandwidth.is_some() && v.bandwidth > 0);
        assert!((v.frame_rate.unwrap() - 30.0).abs() < 0.01);
        assert_eq!(v.audio.as_deref(), Some("audio"));
    }
    let renditions = ["video", "480p", "360p"];

    // Let the window fill, then compare the same segment across renditions.
    wait_for("six complete segments", Duration::from_secs(30), || {
        renditions.iter().all(|r| get_text(&media_url(&server, r, "index.m3u8")).1.matches("#EXTINF").count() >= 6)
    });
    let playlists: Vec<m3u8_rs::MediaPlaylist> =
        renditions.iter().map(|r| parse_media(&get_text(&media_url(&server, r, "index.m3u8")).1)).collect();
    let text = get_text(&media_url(&server, "480p", "index.m3u8")).1;
    for other in ["../video/index.m3u8", "../360p/index.m3u8", "../audio/index.m3u8"] {
        assert!(text.contains(&format!("#EXT-X-RENDITION-REPORT:URI=\"{other}\"")), "{text}");
    }
    let msn = playlists.iter().map(|p| p.media_sequence + p.segments.len() as u64 - 2).min().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut starts = Vec::new();
    for (r, expected) in renditions.iter().zip([(1280, 720), (854, 480), (640, 360)]) {
        let p = &playlists[renditions.iter().position(|x| x == r).unwrap()];
        let map = p.segments[0].map.as_ref().unwrap().uri.clone();
        let init = get_bytes(&media_url(&server, r, &map));
        let segment = get_bytes(&media_url(&server, r, &format!("seg-{msn}.m4s")));
        starts.push(fmp4::first_decode_time(&init, &segment).unwrap());
        let file = write_file(dir.path(), &format!("{r}.mp4"), &[init, segment]);
        let probe = probe(&file);
        assert_eq!((probe.width, probe.height), (Some(expected.0), Some(expected.1)), "{r}");
        assert!(probe.first_packet_key, "{r} segment starts on a keyframe");
        assert_eq!(probe.key_packets, 1, "{r}: one GOP per 1 s segment");
        assert_eq!(probe.packets, 30, "{r}: {probe:?}");
        assert_eq!(probe.frames, 30, "{r}: every sample decodes");

        // Measured bitrate over the complete segments within 30% of the rung's target.
        if let Some(target) = match *r {
            "480p" => Some(1_400_000.0),
            "360p" => Some(800_000.0),
            _ => None,
        } {
            let recent: Vec<&m3u8_rs::MediaSegment> = p.segments.iter().rev().skip(1).take(4).collect();
            let bytes: usize = recent.iter().map(|s| get_bytes(&media_url(&server, r, &s.uri)).len()).sum();
            let seconds: f32 = recent.iter().map(|s| s.duration).sum();
            let bps = bytes as f64 * 8.0 / f64::from(seconds);
            assert!((bps / target - 1.0).abs() < 0.3, "{r}: {bps:.0} bit/s against {target}");
        }
    }
    // First sample decode time of the same segment equal across renditions within one frame.
    for s in &starts {
        assert!((s - starts[0]).abs() < 1.0 / 30.0, "segment {msn} starts at {starts:?}");
    }
    // And the same wall clock (PROGRAM-DATE-TIME) for it: players sync renditions by it.
    let dates: Vec<f64> = renditions
        .iter()
        .map(|r| {
            let text = get_text(&media_url(&server, r, "index.m3u8")).1;
            let before = text.split(&format!("seg-{msn}.m4s")).next().unwrap();
            let pdt = before.rsplit("#EXT-X-PROGRAM-DATE-TIME:").next().unwrap().lines().next().unwrap();
            seconds_of_day(pdt)
        })
        .collect();
    for d in &dates {
        assert!((d - dates[0]).abs() < 0.05, "segment {msn} dated {dates:?} across {renditions:?}");
    }

    // hls.js keeps playing through a forced level switch.
    let out = Command::new("node")
        .args(["tests/browser/play.mjs", "--url", &server.url("/watch/main"), "--seconds", "10", "--switch-level"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["switch"]["continued"], true, "{report}");
    assert_eq!(report["levels"].as_array().map(Vec::len), Some(3), "{report}");
    assert!(report["levelsPlayed"].as_array().map(Vec::len).unwrap_or(0) >= 2, "{report}");
}

#[test]
fn profiles_per_stream_from_the_api() {
    let _machine = exclusive();
    let server = Server::start();
    let create = |name: &str, profile: &str| -> String {
        let res = client()
            .post(server.url("/api/streams"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"name": name, "profile": profile}))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        res.json::<serde_json::Value>().unwrap()["stream_key"].as_str().unwrap().to_owned()
    };
    let bad = client()
        .post(server.url("/api/streams"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "x", "profile": "nope"}))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let key = create("plain", "passthrough");
    assert_eq!(stream_status(&server, "plain")["profile"], "passthrough");
    let mut first = ffmpeg_push_sized(&format!("{}/{key}", server.rtmp), 6, "1280x720", &["-tune", "zerolatency"]);
    let master = get_when_ready(&server.url("/live/plain/index.m3u8"), Duration::from_secs(20)).text().unwrap();
    assert_eq!(parse_master(&master).variants.len(), 1, "{master}");
    first.wait_exit(Duration::from_secs(20));

    // Switch to the standard ladder; it applies from the next publish.
    let res = client()
        .put(server.url("/api/streams/plain/profile"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"profile": "standard"}))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let _second = ffmpeg_push_sized(&format!("{}/{key}", server.rtmp), 20, "1280x720", &["-tune", "zerolatency"]);
    // While the new session's init segments are pending the multivariant playlist is a 404.
    wait_for("the ladder after republishing", Duration::from_secs(25), || {
        let (status, text) = get_text(&server.url("/live/plain/index.m3u8"));
        status == 200 && parse_master(&text).variants.len() == 3
    });
}

#[test]
fn overload_sheds_rungs_from_the_top_and_keeps_playing() {
    let _machine = exclusive();
    // x264's slowest preset cannot encode 480p in real time here: the top rung must go first.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxcast.toml");
    std::fs::write(
        &config,
        "[profiles.heavy]\npreset = \"placebo\"\nrungs = [\n  { name = \"480p\", height = 480, video_bitrate_kbps = 1400 },\n  { name = \"360p\", height = 360, video_bitrate_kbps = 800 },\n]\n[live]\ndefault_profile = \"heavy\"\n",
    )
    .unwrap();
    let server = Server::start_with(&[("OXCAST_CONFIG", config.to_str().unwrap())]);
    let _pusher = ffmpeg_push_sized(
        &format!("{}/{}", server.rtmp, server.default_key),
        40,
        "1280x720",
        &["-tune", "zerolatency"],
    );
    assert!(
        server.wait_for_log("encoding fell behind real time: dropped the 480p rendition", Duration::from_secs(30)),
        "{}",
        server.log()
    );
    let status = stream_status(&server, "main");
    assert!(status["last_error"].as_str().unwrap_or_default().contains("fell behind"), "{status}");
    // The source keeps flowing (after the restart that drops the rung; 360p at placebo may be
    // shed too on a busy machine, which takes one more restart).
    let seq = || {
        let p = parse_media(&get_text(&server.url("/live/main/video/index.m3u8")).1);
        p.media_sequence + p.segments.len() as u64
    };
    let before = seq();
    wait_for("the source to keep producing segments", Duration::from_secs(15), || seq() >= before + 3);
    assert_eq!(status["state"], "live");
}

#[test]
fn a_decoder_failure_drops_the_stream_to_passthrough_and_spares_the_others() {
    let _machine = exclusive();
    // libav conceals corrupt H.264 (random slice data, garbage NAL headers, bogus PPS ids and an
    // in-band resolution switch all decode without an error), so the failure is injected: the
    // decoder posts a real decode error after 45 frames.
    let server = Server::start_with(&[("OXCAST_CHAOS_DECODER_ERROR_AFTER", "45")]);
    let small_key = server.cli_create_stream("small");
    // A 360p stream has no rung, hence no decoder: it must not notice anything.
    let _small = ffmpeg_push(&format!("{}/{small_key}", server.rtmp), 40, &["-tune", "zerolatency"]);
    let _main =
        ffmpeg_push_sized(&format!("{}/{}", server.rtmp, server.default_key), 40, "854x480", &["-tune", "zerolatency"]);
    assert!(server.wait_for_log("pipeline failed", Duration::from_secs(30)), "{}", server.log());
    let status = stream_status(&server, "main");
    let error = status["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("injected decoder failure") && error.contains("serving the source only"), "{status}");
    // The stream restarts at the next keyframe with the source only, and keeps going.
    wait_for("the source-only ladder", Duration::from_secs(20), || {
        let (code, text) = get_text(&server.url("/live/main/index.m3u8"));
        code == 200 && parse_master(&text).variants.len() == 1
    });
    let seq = |stream: &str| {
        let p = parse_media(&get_text(&server.url(&format!("/live/{stream}/video/index.m3u8"))).1);
        p.media_sequence + p.segments.len() as u64
    };
    let (main_before, small_before) = (seq("main"), seq("small"));
    wait_for("both streams to keep producing", Duration::from_secs(15), || {
        seq("main") >= main_before + 3 && seq("small") >= small_before + 3
    });
    assert_eq!(stream_status(&server, "main")["state"], "live");
    assert!(stream_status(&server, "small")["last_error"].is_null());
    let dir = tempfile::tempdir().unwrap();
    let p = decode_latest_segment(&server, "main", "video", dir.path());
    assert_eq!((p.height, p.frames), (Some(480), 30), "{p:?}");
}
