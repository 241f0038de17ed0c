//! Playlist rendering (RFC 8216bis with the Low-Latency extensions).
//!
//! URIs are relative: the multivariant playlist sits at `/live/NAME/index.m3u8`, each rendition's
//! media playlist at `/live/NAME/RENDITION/index.m3u8` with its `init-ID.mp4`,
//! `seg-MSN.m4s` and `part-MSN-INDEX.m4s` beside it.

use std::fmt::Write;
use std::time::Duration;

use crate::state::{Phase, Rendition, StreamState, TrackKind};

/// Parts older than this many target durations from the live edge are not listed (the spec's
/// guidance; their segments stay).
const PART_LISTING_TARGET_DURATIONS: u64 = 3;
/// CAN-SKIP-UNTIL in target durations (the spec's minimum is six).
pub const SKIP_TARGET_DURATIONS: u64 = 6;

/// `playlist` with `query` (`name=value`) appended to every URI: the URI lines and every
/// `URI="..."` attribute (maps, parts, preload hints, rendition reports, media renditions).
pub fn with_query(playlist: &str, query: &str) -> String {
    let append = |uri: &str| format!("{uri}{}{query}", if uri.contains('?') { '&' } else { '?' });
    let mut out = String::with_capacity(playlist.len() + playlist.len() / 8);
    for line in playlist.lines() {
        if line.is_empty() {
        } else if !line.starts_with('#') {
            out.push_str(&append(line));
        } else {
            let mut rest = line;
            while let Some(at) = rest.find("URI=\"") {
                let (before, after) = rest.split_at(at + 5);
                out.push_str(before);
                let Some(end) = after.find('"') else {
                    rest = after;
                    break;
                };
                out.push_str(&append(&after[..end]));
                rest = &after[end..];
            }
            out.push_str(rest);
        }
        out.push('\n');
    }
    out
}

pub fn init_uri(id: u64) -> String {
    format!("init-{id}.mp4")
}

pub fn segment_uri(msn: u64) -> String {
    format!("seg-{msn}.m4s")
}

pub fn part_uri(seq: u64) -> String {
    format!("part-{seq}.m4s")
}

/// The multivariant playlist, or `None` while the stream has nothing playable.
pub fn multivariant(state: &StreamState) -> Option<String> {
    if !state.playable() {
        return None;
    }
    let audio = state.renditions.iter().find(|r| r.meta.kind == TrackKind::Audio);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if let Some(a) = audio {
        let _ = write!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"{id}\",DEFAULT=YES,AUTOSELECT=YES",
            id = a.meta.id
        );
        if let Some(channels) = a.meta.channels {
            let _ = write!(out, ",CHANNELS=\"{channels}\"");
        }
        let _ = writeln!(out, ",URI=\"{}/index.m3u8\"", a.meta.id);
    }
    let (audio_peak, audio_avg) = audio.map(rates).unwrap_or((0, 0));
    let mut videos: Vec<&Rendition> = state.renditions.iter().filter(|r| r.meta.kind == TrackKind::Video).collect();
    videos.sort_by_key(|r| std::cmp::Reverse(rates(r).0));
    for v in videos {
        let (peak, avg) = rates(v);
        let mut codecs = v.meta.codecs.clone();
        if let Some(a) = audio {
            codecs.push(',');
            codecs.push_str(&a.meta.codecs);
        }
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{codecs}\"",
            peak + audio_peak,
            avg + audio_avg
        );
        if let Some((w, h)) = v.meta.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.meta.frame_rate {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        if audio.is_some() {
            out.push_str(",AUDIO=\"audio\"");
        }
        let _ = writeln!(out, "\n{}/index.m3u8", v.meta.id);
    }
    Some(out)
}

/// (peak, average) bits per second: measured, else nominal, else a conservative guess.
fn rates(r: &Rendition) -> (u64, u64) {
    r.measured_bitrate().or(r.meta.bitrate.map(|b| (b, b))).unwrap_or(match r.meta.kind {
        TrackKind::Video => (3_000_000, 2_500_000),
        TrackKind::Audio => (160_000, 128_000),
    })
}

/// Renders a rendition's media playlist. `skip` asks for a delta update (EXT-X-SKIP).
pub fn media(state: &StreamState, rendition: &Rendition, skip: bool) -> String {
    let config = &state.config;
    let target = state.target_duration();
    let part_target = config.part_target.as_secs_f64();
    let skip_until = target * SKIP_TARGET_DURATIONS;
    let ended = state.phase == Phase::Ended;

    let mut out = String::with_capacity(4096);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(
        out,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={:.1},PART-HOLD-BACK={:.3}",
        skip_until as f64,
        config.part_hold_back().as_secs_f64()
    );
    let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}");
    let first_msn = rendition.segments.front().map_or(0, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    if rendition.discontinuity_sequence > 0 {
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", rendition.discontinuity_sequence);
    }

    // Delta update: leave out complete segments that start earlier than CAN-SKIP-UNTIL before
    // the end of the playlist.
    let total: Duration = rendition.segments.iter().map(|s| s.duration).sum();
    let skip_boundary = total.saturating_sub(Duration::from_secs(skip_until));
    let mut skipped = 0usize;
    if skip {
        let mut start = Duration::ZERO;
        for s in &rendition.segments {
            if !s.complete || start + s.duration > skip_boundary {
                break;
            }
            start += s.duration;
            skipped += 1;
        }
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
    }

    // Parts are listed for the segments ending within the last three target durations.
    let parts_from = total.saturating_sub(Duration::from_secs(target * PART_LISTING_TARGET_DURATIONS));
    let mut start = Duration::ZERO;
    let mut last_init = None;
    for (i, s) in rendition.segments.iter().enumerate() {
        let seg_end = start + s.duration;
        start = seg_end;
        if i < skipped {
            continue;
        }
        if s.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if last_init != Some(s.init_id) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(s.init_id));
            last_init = Some(s.init_id);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_millis(s.program_date_time));
        if !s.complete || seg_end > parts_from {
            for p in &s.parts {
                // B-frame reordering can stretch a GOP's last part past the target by up to a
                // frame; the advertised duration never exceeds PART-TARGET (EXTINF stays exact).
                let d = p.duration.as_secs_f64().min(part_target);
                let _ = write!(out, "#EXT-X-PART:DURATION={d:.3},URI=\"{}\"", part_uri(p.seq));
                out.push_str(if p.independent { ",INDEPENDENT=YES\n" } else { "\n" });
            }
        }
        if s.complete {
            let _ = writeln!(out, "#EXTINF:{:.5},\n{}", s.duration.as_secs_f64(), segment_uri(s.msn));
        }
    }

    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
        return out;
    }
    if !rendition.segments.is_empty() {
        // The next part's number is known whether or not it will open a new segment.
        let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"", part_uri(rendition.next_part_seq()));
    }
    for other in state.renditions.iter().filter(|r| r.meta.id != rendition.meta.id) {
        if let Some((msn, part)) = other.last_part() {
            let _ = writeln!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"../{}/index.m3u8\",LAST-MSN={msn},LAST-PART={part}",
                other.meta.id
            );
        }
    }
    out
}

pub use oxcast_media::clock::rfc3339_millis;

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn a_query_reaches_every_uri() {
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-PART:DURATION=0.200,URI=\"part-5-0.m4s\",INDEPENDENT=YES\n\
                    #EXTINF:2.0,\nseg-5.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-6-0.m4s\"\n\
                    #EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=5\n\
                    #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"audio/index.m3u8?x=1\"\n720p/index.m3u8\n";
        let out = with_query(text, "mt=9.abc");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4?mt=9.abc\"\n\
             #EXT-X-PART:DURATION=0.200,URI=\"part-5-0.m4s?mt=9.abc\",INDEPENDENT=YES\n#EXTINF:2.0,\nseg-5.m4s?mt=9.abc\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-6-0.m4s?mt=9.abc\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8?mt=9.abc\",LAST-MSN=5\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"audio/index.m3u8?x=1&mt=9.abc\"\n\
             720p/index.m3u8?mt=9.abc\n"
        );
    }
    use crate::state::tests::live_state;

    #[test]
    fn dates_render_in_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_763_732_411_123);
        assert_eq!(rfc3339_millis(t), "2025-11-21T13:40:11.123Z");
        assert_eq!(rfc3339_millis(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339_millis(leap)[..10], "2000-02-29");
    }

    #[test]
    fn media_playlist_has_the_low_latency_tags() {
        let s = live_state(4, 2);
        let v = s.rendition("video").unwrap();
        let text = media(&s, v, false);
        let expected_head = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
            #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,PART-HOLD-BACK=0.600\n\
            #EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:100\n\
            #EXT-X-MAP:URI=\"init-100.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n";
        assert!(text.starts_with(expected_head), "{text}");
        // Segment 100 ends 3.4 s before the edge (4.4 s of media), more than three target
        // durations: its parts are no longer listed, its EXTINF is.
        assert!(text.contains("seg-100.m4s"));
        // Parts are numbered across segments from 100 × 1000: segment 100 holds 100000..=100004.
        assert!(!text.contains("part-100004.m4s"));
        assert!(text.contains("#EXT-X-PART:DURATION=0.200,URI=\"part-100005.m4s\",INDEPENDENT=YES\n"));
        assert!(text.contains("#EXT-X-PART:DURATION=0.200,URI=\"part-100006.m4s\"\n"));
        assert!(text.contains("#EXTINF:1.00000,\nseg-102.m4s\n"));
        assert!(!text.contains("seg-104.m4s"), "open segment has no EXTINF");
        assert!(text.contains("part-100021.m4s"));
        assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-100022.m4s\"\n"));
        assert!(text.ends_with("#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\",LAST-MSN=104,LAST-PART=1\n"));
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn the_preload_hint_comes_true_whether_or_not_the_next_part_opens_a_segment() {
        // An open segment that is full: nobody knows yet whether the next part continues it
        // or starts a new one. Both ways, the next part is the hinted URI.
        for opens_segment in [true, false] {
            let mut s = live_state(2, 5);
            let hint_of = |s: &StreamState| {
                let text = media(s, s.rendition("video").unwrap(), false);
                let line = text.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT")).unwrap().to_owned();
                line.split("URI=\"").nth(1).unwrap().trim_end_matches('"').to_owned()
            };
            let hint = hint_of(&s);
            assert!(s.push_part("video", crate::state::tests::part(200, opens_segment)));
            let text = media(&s, s.rendition("video").unwrap(), false);
            let new_part = format!("URI=\"{hint}\"");
            assert!(text.contains(&new_part), "{hint} not in:\n{text}");
            let last_segment_msn = s.rendition("video").unwrap().last_msn().unwrap();
            assert_eq!(last_segment_msn, if opens_segment { 103 } else { 102 });
            assert_ne!(hint_of(&s), hint, "the hint moves on");
        }
    }

    #[test]
    fn delta_update_skips_old_segments() {
        let s = live_state(12, 1);
        let v = s.rendition("video").unwrap();
        let full = media(&s, v, false);
        let delta = media(&s, v, true);
        // 12.2 s of media, CAN-SKIP-UNTIL 6 s: segments starting before 6.2 s are skipped (6 of them).
        assert!(delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n"), "{delta}");
        assert!(!delta.contains("seg-105.m4s"));
        assert!(delta.contains("seg-106.m4s"));
        assert!(full.contains("seg-100.m4s"));
        assert!(!full.contains("EXT-X-SKIP"));
        // The media sequence stays that of the full playlist.
        assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:100\n"));
    }

    #[test]
    fn discontinuity_and_endlist() {
        let mut s = live_state(1, 2);
        s.interrupt();
        s.start_session(vec![
            crate::state::tests::meta("video", TrackKind::Video),
            crate::state::tests::meta("audio", TrackKind::Audio),
        ]);
        s.set_init("video", bytes::Bytes::from_static(b"i2"), Some((1280, 720)), Some(30.0), None);
        s.push_part("video", crate::state::tests::part(200, true));
        s.end();
        let text = media(&s, s.rendition("video").unwrap(), false);
        assert!(
            text.contains("#EXTINF:0.40000,\nseg-101.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-102.mp4\"\n"),
            "{text}"
        );
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert!(!text.contains("PRELOAD-HINT"));
    }

    #[test]
    fn multivariant_lists_video_with_audio_group() {
        let mut s = live_state(2, 0);
        s.set_init("video", bytes::Bytes::from_static(b"init"), Some((1280, 720)), Some(30.0), None);
        let text = multivariant(&s).unwrap();
        assert!(text.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n"), "{text}");
        // 1000 bytes per 200 ms part = 40 kbit/s per rendition; video + audio = 80 kbit/s.
        assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=80000,AVERAGE-BANDWIDTH=80000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\nvideo/index.m3u8\n"), "{text}");
    }

    #[test]
    fn nothing_to_play_before_media() {
        let s = crate::state::StreamState::new(crate::PackagerConfig::default(), 0);
        assert!(multivariant(&s).is_none());
    }
}
