//! SRT ingest end to end: ffmpeg (libsrt) publishing MPEG-TS, with and without a passphrase.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

fn set_passphrase(server: &Server, stream: &str, passphrase: Option<&str>) -> u16 {
    client()
        .put(server.url(&format!("/api/streams/{stream}/srt-passphrase")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "passphrase": passphrase }))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn an_srt_push_yields_a_decodable_ladder() {
    let server = Server::start();
    let _pusher = ffmpeg_push_sized(&server.srt_url(&server.default_key, ""), 30, "854x480", &["-bf", "2"]);
    let master = get_when_ready(&server.url("/live/main/index.m3u8"), Duration::from_secs(25)).text().unwrap();
    let master = parse_master(&master);
    let heights: Vec<u64> = master.variants.iter().map(|v| v.resolution.unwrap().height).collect();
    assert_eq!(heights, [480, 360], "source plus the rung below it");
    wait_for("three segments per rendition", Duration::from_secs(20), || {
        ["video", "360p", "audio"]
            .iter()
            .all(|r| get_text(&server.url(&format!("/live/main/{r}/index.m3u8"))).1.matches("#EXTINF").count() >= 3)
    });
    let status = stream_status(&server, "main");
    assert_eq!(status["state"], "live");
    assert_eq!(status["protocol"], "srt");
    let dir = tempfile::tempdir().unwrap();
    for (rendition, height) in [("video", 480), ("360p", 360)] {
        let p = decode_latest_segment(&server, "main", rendition, dir.path());
        assert_eq!((p.codec.as_str(), p.height), ("h264", Some(height)), "{rendition}: {p:?}");
        assert_eq!(p.packets, 30, "{rendition}: one second of 30 fps: {p:?}");
        assert!(p.first_packet_key && p.key_packets == 1, "{rendition}: {p:?}");
        assert!(p.frames >= 28, "{rendition}: frames decode: {p:?}");
    }
    let audio = decode_latest_segment(&server, "main", "audio", dir.path());
    assert_eq!(audio.codec, "aac");
    assert!(audio.frames >= 40, "{audio:?}");
}

#[test]
fn passphrase_is_required_once_set_and_must_match() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    assert_eq!(set_passphrase(&server, "main", Some("short")), 400, "SRT needs 10 to 79 characters");
    assert_eq!(set_passphrase(&server, "nope", Some("long enough passphrase")), 404);
    assert_eq!(set_passphrase(&server, "main", Some("correct-horse-battery")), 200);
    assert_eq!(stream_status(&server, "main")["srt_encrypted"], true);

    // Without the passphrase, and with a wrong one: refused before any media is taken.
    for (query, log) in [
        ("", "srt handshake failed: wrong or missing passphrase"),
        ("&passphrase=wrong-horse-battery", "srt handshake failed: wrong or missing passphrase"),
    ] {
        let mut pusher = ffmpeg_push(&server.srt_url(&server.default_key, query), 10, &[]);
        let status = pusher.wait_exit(Duration::from_secs(10)).expect("ffmpeg gives up");
        assert!(!status.success(), "ffmpeg must fail to connect ({query:?})");
        assert!(server.wait_for_log(log, Duration::from_secs(5)), "{query:?}\n{}", server.log());
        assert_eq!(stream_status(&server, "main")["state"], "offline");
    }

    let _pusher = ffmpeg_push(&server.srt_url(&server.default_key, "&passphrase=correct-horse-battery"), 20, &[]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(20));
    wait_for("two segments", Duration::from_secs(15), || {
        get_text(&server.url("/live/main/video/index.m3u8")).1.matches("#EXTINF").count() >= 2
    });
    let dir = tempfile::tempdir().unwrap();
    let p = decode_latest_segment(&server, "main", "video", dir.path());
    assert_eq!(p.packets, 30, "decrypted media decodes: {p:?}");
    assert!(p.frames >= 28, "{p:?}");
}

#[test]
fn rtmp_then_srt_takes_the_stream_over() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let mut rtmp = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 40, &[]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(20));
    assert_eq!(stream_status(&server, "main")["protocol"], "rtmp");
    let _srt = ffmpeg_push(&server.srt_url(&server.default_key, ""), 40, &[]);
    assert!(rtmp.wait_exit(Duration::from_secs(10)).is_some(), "the RTMP publisher is disconnected");
    wait_for("an SRT session after a discontinuity", Duration::from_secs(20), || {
        let text = get_text(&server.url("/live/main/video/index.m3u8")).1;
        text.contains("#EXT-X-DISCONTINUITY")
            && text.split("#EXT-X-DISCONTINUITY").last().unwrap().matches("#EXTINF").count() >= 2
    });
    assert_eq!(stream_status(&server, "main")["protocol"], "srt");
    assert!(server.log().contains("publisher takes the stream over"));
    let text = get_text(&server.url("/live/main/video/index.m3u8")).1;
    let discontinuities = text.lines().filter(|l| *l == "#EXT-X-DISCONTINUITY").count();
    assert_eq!(discontinuities, 1, "the SRT session starts once, with audio from its first segment\n{text}");
    assert!(!server.log().contains("audio configuration changed"), "{}", server.log());
}

#[test]
fn bad_srt_publishers_are_refused_without_harm() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    // A healthy stream on another protocol, watched throughout.
    let _rtmp = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 60, &[]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(20));
    let other_key = server.cli_create_stream("other");

    // A wrong key, a streamid that asks to play, and none at all.
    let cases = [
        (server.srt_url("sk_wrong", ""), "srt publish rejected"),
        (format!("{}?streamid=#!::r={other_key},m=request", server.srt), "oxcast only takes publishers over SRT"),
        (server.srt.clone(), "no streamid"),
    ];
    for (url, log) in &cases {
        let mut p = ffmpeg_push(url, 5, &[]);
        assert!(!p.wait_exit(Duration::from_secs(10)).expect("ffmpeg gives up").success());
        assert!(server.wait_for_log(log, Duration::from_secs(5)), "{url}: {log}\n{}", server.log());
    }

    // HEVC in the TS: the session is closed with a named reason.
    let srt = server.srt_url(&other_key, "");
    let hevc = ffmpeg_lavfi(
        "testsrc2=size=320x240:rate=30:duration=8",
        &["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-f", "mpegts", &srt],
    );
    assert!(server.wait_for_log("unsupported HEVC video stream", Duration::from_secs(10)), "{}", server.log());
    drop(hevc);

    // Garbage datagrams and a stream of non-TS payload over a real SRT connection.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let srt_addr = server.srt.trim_start_matches("srt://").to_owned();
    for i in 0..200u32 {
        let junk: Vec<u8> = (0..(i % 1400 + 1)).map(|j| (j * 31 + i) as u8).collect();
        socket.send_to(&junk, &srt_addr).unwrap();
    }
    let raw_pcm = format!("{srt}&pkt_size=1316");
    let junk_ts = ffmpeg_lavfi("anoisesrc=duration=6:sample_rate=48000", &["-f", "s16le", &raw_pcm]);
    assert!(server.wait_for_log("not an MPEG-TS stream", Duration::from_secs(15)), "{}", server.log());
    drop(junk_ts);

    // The RTMP stream never stopped, and the server still takes a good SRT publisher.
    let before = parse_media(&get_text(&server.url("/live/main/video/index.m3u8")).1);
    let last = before.media_sequence + before.segments.len() as u64;
    wait_for("the healthy stream to keep producing", Duration::from_secs(10), || {
        let now = parse_media(&get_text(&server.url("/live/main/video/index.m3u8")).1);
        now.media_sequence + now.segments.len() as u64 >= last + 2
    });
    assert!(!get_text(&server.url("/live/main/video/index.m3u8")).1.contains("#EXT-X-DISCONTINUITY"));
    let _good = ffmpeg_push(&server.srt_url(&other_key, ""), 20, &[]);
    get_when_ready(&server.url("/live/other/video/index.m3u8"), Duration::from_secs(20));
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// The caller that used to crash srt-tokio's listener task (and with it every SRT session on
/// the port): a passphrase, with libsrt's unannounced key length, for a stream that has none.
#[test]
fn a_caller_with_a_passphrase_for_a_stream_without_one_loses_only_its_own_connection() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    // A healthy SRT publisher on another stream, watched throughout.
    let other_key = server.cli_create_stream("other");
    let _healthy = ffmpeg_push(&server.srt_url(&other_key, ""), 60, &[]);
    let playlist = server.url("/live/other/video/index.m3u8");
    get_when_ready(&playlist, Duration::from_secs(20));
    wait_for("two segments", Duration::from_secs(15), || get_text(&playlist).1.matches("#EXTINF").count() >= 2);

    for _ in 0..3 {
        let mut bad = ffmpeg_push(&server.srt_url(&server.default_key, "&passphrase=a-passphrase-nobody-set"), 10, &[]);
        let status = bad.wait_exit(Duration::from_secs(15)).expect("ffmpeg gives up");
        assert!(!status.success(), "the caller is refused");
    }
    assert!(
        server.wait_for_log("srt publisher sent a passphrase, but the stream has none set", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    assert_eq!(stream_status(&server, "main")["state"], "offline");

    // The other stream never noticed: no new session, no discontinuity, still growing.
    let before = parse_media(&get_text(&playlist).1);
    let last = before.media_sequence + before.segments.len() as u64;
    wait_for("the healthy stream to keep producing", Duration::from_secs(10), || {
        let now = parse_media(&get_text(&playlist).1);
        now.media_sequence + now.segments.len() as u64 >= last + 2
    });
    assert!(!get_text(&playlist).1.contains("#EXT-X-DISCONTINUITY"), "{}", server.log());
    let log = server.log();
    assert!(!log.contains("panicked") && !log.contains("SRT listener stopped unexpectedly"), "{log}");

    // And the stream itself still takes a publisher without a passphrase.
    let _good = ffmpeg_push(&server.srt_url(&server.default_key, ""), 20, &[]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(20));
}
