//! Hostile and broken publishers: each gets a clean close, the server and other streams go on.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn last_media_sequence(server: &Server, stream: &str) -> u64 {
    let (_, text) = get_text(&server.url(&format!("/live/{stream}/video/index.m3u8")));
    let p = parse_media(&text);
    p.media_sequence + p.segments.len() as u64
}

/// Connects to the RTMP port, writes `bytes`, and returns whether the server closed the socket.
fn send_raw(rtmp_url: &str, bytes: &[u8]) -> bool {
    let addr = rtmp_url.trim_start_matches("rtmp://").trim_end_matches("/live");
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = sock.write_all(bytes);
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn garbage_unsupported_codecs_and_bad_keys_do_not_disturb_a_live_stream() {
    let (server, _good) = live_server(30, &[]);
    let before = last_media_sequence(&server, "main");

    // Not RTMP at all: wrong handshake version byte.
    assert!(send_raw(&server.rtmp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "garbage must be closed");
    // A valid C0+C1 handshake start followed by garbage chunks.
    let mut hs = vec![3u8];
    hs.extend(std::iter::repeat_n(7u8, 1536));
    hs.extend(std::iter::repeat_n(7u8, 1536));
    hs.extend(std::iter::repeat_n(0xffu8, 4096));
    assert!(send_raw(&server.rtmp, &hs), "garbage after the handshake must be closed");

    // A real client with a codec we refuse (Sorenson H.263 video, MP3 audio in FLV).
    let key = server.cli_create_stream("retro");
    let url = format!("{}/{key}", server.rtmp);
    let mut retro =
        ffmpeg_lavfi("testsrc=size=320x240:rate=15:duration=10", &["-c:v", "flv1", "-an", "-f", "flv", &url]);
    assert!(retro.wait_exit(Duration::from_secs(10)).is_some(), "unsupported codec must be refused");
    assert!(server.wait_for_log("unsupported video codec Sorenson H.263", Duration::from_secs(5)), "{}", server.log());

    // A wrong key in the middle of it all.
    let mut wrong = ffmpeg_push(&format!("{}/sk_nope", server.rtmp), 5, &[]);
    assert!(wrong.wait_exit(Duration::from_secs(8)).is_some());

    // The good stream kept going and the server is healthy.
    std::thread::sleep(Duration::from_secs(3));
    let after = last_media_sequence(&server, "main");
    assert!(after >= before + 2, "live stream stalled: {before} -> {after}");
    assert_eq!(get_text(&server.url("/healthz")).0, 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
    let status: serde_json::Value = stream_status(&server, "main");
    assert_eq!(status["state"], "live");
    assert_eq!(status["frames_skipped"], 0);
}

#[test]
fn hevc_av1_and_enhanced_rtmp_are_refused_by_name() {
    let server = Server::start();
    let addr = server.rtmp.trim_start_matches("rtmp://").trim_end_matches("/live").to_owned();
    let cases: [(&[u8], &str); 3] = [
        // Legacy FLV codec id 12 (HEVC as some encoders send it).
        (&[0x1c, 0x00, 0, 0, 0, 1, 2, 3], "unsupported video codec HEVC"),
        // Enhanced RTMP: IsExHeader bit, PacketTypeSequenceStart, FourCC.
        (&[0x90, b'h', b'v', b'c', b'1', 1, 2, 3], "Enhanced RTMP video (hvc1) is not supported"),
        (&[0x90, b'a', b'v', b'0', b'1', 1, 2, 3], "Enhanced RTMP video (av01) is not supported"),
    ];
    for (body, log_line) in cases {
        let mut publisher = rtmp_client::RawPublisher::publish(&addr, &server.default_key).expect("publish accepted");
        publisher.send_video(body, 0).expect("send");
        assert!(publisher.closed_by_server(Duration::from_secs(10)), "{log_line}: connection must be closed");
        assert!(server.wait_for_log(log_line, Duration::from_secs(5)), "{log_line}\n{}", server.log());
    }
    // A key that is wrong is refused before any media.
    assert!(rtmp_client::RawPublisher::publish(&addr, "sk_wrong").is_err());
    assert_eq!(get_text(&server.url("/healthz")).0, 200);
    assert!(!server.log().contains("panicked"));
}
