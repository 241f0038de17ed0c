//! RTMP in, LL-HLS out, with real publishers (ffmpeg, GStreamer's rtmp2sink) and a real server.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Polls a media playlist until `done` holds for its text.
fn wait_playlist(url: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let (status, text) = get_text(url);
        if status == 200 && done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "playlist never reached the expected state:\n{text}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn complete_segments(text: &str) -> usize {
    text.matches("#EXTINF:").count()
}

#[test]
fn ffmpeg_push_serves_spec_shaped_decodable_ll_hls() {
    let server = Server::start();
    let _pusher = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 20, &[]);

    // Multivariant playlist: one video variant with the real codec parameters and an audio group.
    let master_text = get_when_ready(&server.url("/live/main/index.m3u8"), Duration::from_secs(20)).text().unwrap();
    let master = parse_master(&master_text);
    assert_eq!(master.variants.len(), 1, "{master_text}");
    let variant = &master.variants[0];
    let codecs = variant.codecs.clone().unwrap_or_default();
    assert!(codecs.starts_with("avc1.64") && codecs.ends_with(",mp4a.40.2"), "{codecs}");
    let res = variant.resolution.expect("RESOLUTION");
    assert_eq!((res.width, res.height), (640, 360));
    assert!((variant.frame_rate.unwrap_or_default() - 30.0).abs() < 0.01);
    assert!(variant.bandwidth > 500_000 && variant.bandwidth < 5_000_000, "{}", variant.bandwidth);
    assert!(variant.average_bandwidth.is_some());
    assert_eq!(variant.audio.as_deref(), Some("audio"));
    assert_eq!(master.alternatives.len(), 1);
    assert_eq!(master.alternatives[0].uri.as_deref(), Some("audio/index.m3u8"));

    // Media playlist once three segments are complete.
    let video_url = server.url("/live/main/video/index.m3u8");
    let text = wait_playlist(&video_url, Duration::from_secs(20), |t| complete_segments(t) >= 3);
    let playlist = parse_media(&text);
    let ll = low_latency_tags(&text);
    assert_eq!(playlist.target_duration, 1);
    let control = ll.server_control.clone().expect("SERVER-CONTROL");
    assert!(control.contains("CAN-BLOCK-RELOAD=YES"), "{control}");
    assert!(control.contains("PART-HOLD-BACK=0.600"), "{control}");
    assert!(control.contains("CAN-SKIP-UNTIL=6.0"), "{control}");
    assert_eq!(ll.part_target, Some(0.2));
    assert!(ll.parts.iter().all(|p| p.duration <= 0.2), "{text}");
    assert!(ll.parts.iter().filter(|p| p.independent).count() >= 1);
    assert!(ll.preload_hint.is_some());
    assert!(ll.rendition_reports.iter().any(|r| r.contains("../audio/index.m3u8") && r.contains("LAST-MSN=")));
    assert!(!playlist.end_list);
    for s in &playlist.segments {
        assert!(s.program_date_time.is_some(), "every segment carries PROGRAM-DATE-TIME");
        assert!((s.duration - 1.0).abs() < 0.05, "segment of {} s", s.duration);
    }
    let map_uri = playlist.segments[0].map.as_ref().expect("EXT-X-MAP").uri.clone();

    // Blocking reload: ask for the part the preload hint names; the answer must contain it.
    let hint = ll.preload_hint.clone().unwrap();
    let (msn, part) = next_part_position(&text);
    let started = Instant::now();
    let (status, blocked) = get_text(&format!("{video_url}?_HLS_msn={msn}&_HLS_part={part}"));
    assert_eq!(status, 200);
    assert!(blocked.contains(&format!("URI=\"{hint}\"")), "{blocked}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Delta update.
    let (_, delta) = get_text(&format!("{video_url}?_HLS_msn={msn}&_HLS_skip=YES"));
    assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:"));
    // 400 for a directive the spec forbids.
    assert_eq!(get_text(&format!("{video_url}?_HLS_part=1")).0, 400);

    // The preload-hinted part of the *new* playlist is served as soon as it exists.
    let next_hint = low_latency_tags(&blocked).preload_hint.expect("hint");
    let part_bytes = get_bytes(&server.url(&format!("/live/main/video/{next_hint}")));
    assert!(part_bytes.len() > 100);

    // Decode a complete segment from init + its parts: 30 frames, one keyframe, first.
    let dir = tempfile::tempdir().unwrap();
    let init = get_bytes(&server.url(&format!("/live/main/video/{map_uri}")));
    let segment = &playlist.segments[playlist.segments.len() - 2];
    let seg_msn: u64 = segment.uri.trim_start_matches("seg-").trim_end_matches(".m4s").parse().unwrap();
    let listed = segment_parts(&text);
    let (_, uris) =
        listed.iter().find(|(uri, _)| uri.as_deref() == Some(segment.uri.as_str())).expect("segment listed");
    let parts: Vec<Vec<u8>> =
        uris.iter().map(|uri| get_bytes(&server.url(&format!("/live/main/video/{uri}")))).collect();
    assert!(parts.len() >= 5, "parts of segment {seg_msn}: {}", parts.len());
    let whole = get_bytes(&server.url(&format!("/live/main/video/{}", segment.uri)));
    assert_eq!(whole, parts.concat(), "segment = concatenation of its parts");
    let file = write_file(dir.path(), "video.mp4", &[init, whole]);
    let p = probe(&file);
    assert_eq!(p.codec, "h264");
    assert_eq!((p.width, p.height), (Some(640), Some(360)));
    assert_eq!(p.packets, 30, "one second at 30 fps: {p:?}");
    assert_eq!(p.key_packets, 1, "{p:?}");
    assert!(p.first_packet_key, "segments start on a keyframe: {p:?}");
    // libx264 veryfast uses B-frames: every sample must still decode (parts are only cut at
    // closed reorder boundaries, so the fMP4 timeline has no repeated decode times).
    assert_eq!(p.frames, 30, "{p:?}");

    // Audio decodes too and covers about the same second.
    let audio_text = get_text(&server.url("/live/main/audio/index.m3u8")).1;
    let audio = parse_media(&audio_text);
    let a_map = audio.segments[0].map.as_ref().expect("audio EXT-X-MAP").uri.clone();
    let a_seg = audio.segments.iter().find(|s| s.uri == segment.uri).expect("same msn in audio");
    let a_file = write_file(
        dir.path(),
        "audio.mp4",
        &[
            get_bytes(&server.url(&format!("/live/main/audio/{a_map}"))),
            get_bytes(&server.url(&format!("/live/main/audio/{}", a_seg.uri))),
        ],
    );
    let a = probe(&a_file);
    assert_eq!(a.codec, "aac");
    assert!((a.duration - 1.0).abs() < 0.1, "{a:?}");

    // Status API.
    let status: serde_json::Value = stream_status(&server, "main");
    assert_eq!(status["state"], "live");
    assert_eq!(status["protocol"], "rtmp");
    assert_eq!(status["renditions"][0]["width"], 640);
    assert!(status["ingest_bitrate_bps"].as_u64().unwrap_or(0) > 500_000, "{status}");
    assert_eq!(status["frames_skipped"], 0);

    // Metrics expose the part-ready delay, for the stream and for each rendition on its own.
    let (_, metrics) = get_text(&server.url("/metrics"));
    assert!(metrics.contains("oxcast_part_ready_seconds{stream=\"main\",quantile=\"0.5\"}"), "{metrics}");
    for rendition in ["video", "audio"] {
        let line = format!("oxcast_part_ready_seconds{{stream=\"main\",rendition=\"{rendition}\",quantile=\"0.99\"}} ");
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in {metrics}"));
        assert!(value > 0.0 && value < 5.0, "{rendition} part ready p99 {value} s");
    }
}

#[test]
fn gstreamer_rtmp2sink_with_repeated_metadata_plays() {
    let server = Server::start();
    let _pusher = gst_push(&format!("{}/{}", server.rtmp, server.default_key), 12);
    let url = server.url("/live/main/video/index.m3u8");
    let text = wait_playlist(&url, Duration::from_secs(25), |t| complete_segments(t) >= 2);
    let playlist = parse_media(&text);
    let dir = tempfile::tempdir().unwrap();
    let map = playlist.segments[0].map.as_ref().unwrap().uri.clone();
    let file = write_file(
        dir.path(),
        "v.mp4",
        &[
            get_bytes(&server.url(&format!("/live/main/video/{map}"))),
            get_bytes(&server.url(&format!("/live/main/video/{}", playlist.segments[1].uri))),
        ],
    );
    let p = probe(&file);
    assert_eq!((p.width, p.height), (Some(480), Some(270)));
    assert!(p.first_packet_key);
    assert_eq!(p.packets, 30, "{p:?}");
    assert_eq!(p.frames, 30, "no B-frames with tune=zerolatency: every sample decodes: {p:?}");
    assert!(!server.log().contains("ERROR"), "{}", server.log());
}

#[test]
fn wrong_key_is_rejected_and_the_connection_closed() {
    let server = Server::start();
    let mut pusher = ffmpeg_push(&format!("{}/sk_not_a_real_key", server.rtmp), 10, &[]);
    let exit = pusher.wait_exit(Duration::from_secs(8)).expect("ffmpeg must be disconnected");
    assert!(!exit.success());
    assert!(server.wait_for_log("rtmp publish rejected", Duration::from_secs(5)), "{}", server.log());
    assert_eq!(get_text(&server.url("/live/main/index.m3u8")).0, 404);
    let status: serde_json::Value = stream_status(&server, "main");
    assert_eq!(status["state"], "offline");
}

#[test]
fn a_second_publisher_takes_over_then_the_stream_ends() {
    let server = Server::start();
    let url = format!("{}/{}", server.rtmp, server.default_key);
    let mut first = ffmpeg_push(&url, 60, &[]);
    let video = server.url("/live/main/video/index.m3u8");
    wait_playlist(&video, Duration::from_secs(20), |t| complete_segments(t) >= 2);

    // Same key again, as a reconnecting OBS would: it wins, the old connection is closed.
    let mut second = ffmpeg_push(&url, 8, &["-s", "320x180"]);
    assert!(first.wait_exit(Duration::from_secs(10)).is_some(), "old publisher must be disconnected");
    assert!(server.log().contains("publisher takes the stream over"));
    let text = wait_playlist(&video, Duration::from_secs(20), |t| {
        t.contains("#EXT-X-DISCONTINUITY")
            && t.split("#EXT-X-DISCONTINUITY").nth(1).is_some_and(|after| after.contains("#EXTINF"))
    });
    // The new session has its own init segment after the discontinuity.
    let after = text.split("#EXT-X-DISCONTINUITY").nth(1).unwrap();
    assert!(after.trim_start().starts_with("#EXT-X-MAP:"), "{text}");
    let (_, master) = get_text(&server.url("/live/main/index.m3u8"));
    assert!(master.contains("RESOLUTION=320x180"), "{master}");

    // The second publisher finishes; after the grace period the playlist ends.
    assert!(second.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()));
    let ended = wait_playlist(&video, Duration::from_secs(15), |t| t.contains("#EXT-X-ENDLIST"));
    assert!(parse_media(&ended).end_list);
    assert!(!ended.contains("PRELOAD-HINT"));
    let status: serde_json::Value = stream_status(&server, "main");
    assert_eq!(status["state"], "offline");
}

#[test]
fn reconnect_within_grace_continues_the_playlist() {
    let server = Server::start_with(&[("OXCAST_OFFLINE_GRACE_SECONDS", "20")]);
    let url = format!("{}/{}", server.rtmp, server.default_key);
    let video = server.url("/live/main/video/index.m3u8");
    let mut first = ffmpeg_push(&url, 4, &[]);
    assert!(first.wait_exit(Duration::from_secs(20)).is_some());
    let before = wait_playlist(&video, Duration::from_secs(10), |t| complete_segments(t) >= 3);
    let first_seq = parse_media(&before).media_sequence;
    assert!(!before.contains("ENDLIST"));
    let _again = ffmpeg_push(&url, 10, &[]);
    let after = wait_playlist(&video, Duration::from_secs(20), |t| {
        t.split("#EXT-X-DISCONTINUITY").nth(1).is_some_and(|after| after.contains("#EXTINF"))
    });
    let p = parse_media(&after);
    assert_eq!(p.media_sequence, first_seq, "same playlist, continued");
    assert!(p.segments.iter().any(|s| s.discontinuity));
}

#[test]
fn sigterm_ends_every_live_playlist_and_shuts_down_within_the_timeout() {
    let (server, _pusher) = live_server(30, &[]);
    let second_key = server.cli_create_stream("second");
    let _second = ffmpeg_push(&format!("{}/{second_key}", server.rtmp), 30, &[]);
    get_when_ready(&server.url("/live/second/index.m3u8"), Duration::from_secs(20));
    let started = Instant::now();
    let log = server.log.clone();
    let status = server.stop();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    // The log reader thread may still be draining the pipe the server closed.
    wait_for("the last log lines", Duration::from_secs(5), || log.lock().unwrap().contains("shutdown complete"));
    let log = log.lock().unwrap().clone();
    assert!(log.contains(r#"playlists ended with EXT-X-ENDLIST count=2 streams=["main", "second"]"#), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
    assert!(!log.contains("did not close within"), "{log}");
    assert!(took < oxcast::serve::SHUTDOWN_TIMEOUT, "shutdown took {took:?}");
}
