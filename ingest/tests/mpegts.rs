//! The MPEG-TS demuxer on real ffmpeg output: clean, cut into odd chunks, and damaged.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::SystemTime;

use oxcast_ingest::{TsDemuxer, TsError};
use oxcast_media::{Codec, HubEvent, TrackConfig};

/// Two seconds of 30 fps H.264 (with B-frames, keyframe every 15) and 48 kHz AAC, as MPEG-TS.
fn ffmpeg_ts() -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "15", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "96k", "-f", "mpegts", "pipe:1"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn demux(chunks: impl Iterator<Item = Vec<u8>>) -> (Vec<HubEvent>, TsDemuxer) {
    let mut demuxer = TsDemuxer::new();
    let mut events = Vec::new();
    for chunk in chunks {
        demuxer.push(&chunk, SystemTime::now(), &mut events).unwrap();
    }
    (events, demuxer)
}

/// Chunks of sizes cycling through values that do not line up with 188-byte packets.
fn odd_chunks(data: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let sizes = [1316usize, 7, 500, 188, 1, 3000];
    let mut at = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let end = (at + sizes[i % sizes.len()]).min(data.len());
        i += 1;
        let chunk = data[at..end].to_vec();
        at = end;
        Some(chunk)
    })
}

#[test]
fn demuxes_h264_and_aac_with_timestamps() {
    let ts = ffmpeg_ts();
    let (events, demuxer) = demux(odd_chunks(&ts));
    let configs: Vec<&TrackConfig> =
        events.iter().filter_map(|e| if let HubEvent::Config(c) = e { Some(c) } else { None }).collect();
    assert!(
        matches!(configs.iter().find(|c| matches!(c, TrackConfig::Video(_))), Some(TrackConfig::Video(v)) if oxcast_media::h264::avcc_dimensions(&v.avcc) == Some((320, 240)))
    );
    let audio = configs.iter().find_map(|c| if let TrackConfig::Audio(a) = c { Some(a) } else { None }).unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (48000, 1));
    assert_eq!(configs.len(), 2, "each config announced once");

    let video: Vec<_> = events
        .iter()
        .filter_map(|e| if let HubEvent::Frame(f) = e { (f.codec == Codec::H264).then_some(f) } else { None })
        .collect();
    // The last access unit stays pending until a next PES starts (the stream ended): 59 of 60.
    assert!((59..=60).contains(&video.len()), "video frames: {}", video.len());
    let keyframes: Vec<usize> = video.iter().enumerate().filter(|(_, f)| f.keyframe).map(|(i, _)| i).collect();
    assert_eq!(keyframes, vec![0, 15, 30, 45]);
    for pair in video.windows(2) {
        let step = pair[1].dts.as_nanos() - pair[0].dts.as_nanos();
        assert!((33_000_000..=34_000_000).contains(&step), "dts step {step}");
        assert!(pair[0].pts >= pair[0].dts);
    }
    assert!(video.iter().any(|f| f.pts != f.dts), "B-frames keep their composition offset");
    // AVCC: the payload is a sequence of length-prefixed NAL units that exactly fills it.
    for f in &video {
        let mut at = 0;
        while at < f.payload.len() {
            let len = u32::from_be_bytes(f.payload[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + len;
        }
        assert_eq!(at, f.payload.len());
    }

    let audio_frames: Vec<_> = events
        .iter()
        .filter_map(|e| if let HubEvent::Frame(f) = e { (f.codec == Codec::Aac).then_some(f) } else { None })
        .collect();
    assert!(audio_frames.len() >= 90, "audio frames: {}", audio_frames.len());
    for pair in audio_frames.windows(2) {
        let step = pair[1].pts.as_nanos() - pair[0].pts.as_nanos();
        assert!((21_300_000..=21_400_000).contains(&step), "audio step {step}");
    }
    let stats = demuxer.stats();
    assert_eq!((stats.garbage_bytes, stats.discontinuities, stats.dropped_units), (0, 0, 0), "{stats:?}");
}

#[test]
fn survives_damage_and_recovers_at_the_next_keyframe() {
    let mut ts = ffmpeg_ts();
    // Garbage spliced in, a stretch of packets lost, and bytes flipped.
    let third = ts.len() / 3 / 188 * 188;
    ts.drain(third..third + 188 * 40);
    for b in ts.iter_mut().skip(2 * third).step_by(997).take(50) {
        *b ^= 0x5a;
    }
    let mut damaged = vec![0x47, 0x00, 0x13, 0x37];
    damaged.extend_from_slice(&ts);
    damaged.truncate(damaged.len() - 100);
    let mut demuxer = TsDemuxer::new();
    let mut events = Vec::new();
    for chunk in odd_chunks(&damaged) {
        // Damage is absorbed: no error, no panic.
        demuxer.push(&chunk, SystemTime::now(), &mut events).unwrap();
    }
    let video: Vec<_> = events
        .iter()
        .filter_map(|e| if let HubEvent::Frame(f) = e { (f.codec == Codec::H264).then_some(f) } else { None })
        .collect();
    assert!(video.len() > 20, "frames before and after the damage come through: {}", video.len());
    assert!(demuxer.stats().discontinuities > 0, "{:?}", demuxer.stats());
    // After the lost stretch, frames resume at a keyframe.
    let gap = video.windows(2).position(|p| p[1].dts.as_nanos() - p[0].dts.as_nanos() > 40_000_000).unwrap();
    assert!(video[gap + 1].keyframe, "first frame after the loss is a keyframe");
}

#[test]
fn refuses_hevc() {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1"])
        .args(["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-f", "mpegts", "pipe:1"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut demuxer = TsDemuxer::new();
    let err = demuxer.push(&out.stdout, SystemTime::now(), &mut Vec::new()).unwrap_err();
    assert_eq!(err, TsError::UnsupportedCodec("HEVC video".into()));
    assert!(err.to_string().contains("send H.264"));
}
