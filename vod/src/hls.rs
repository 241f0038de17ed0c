//! HLS for files: media playlists (EVENT while a video is processing, VOD when it is done) and
//! the multivariant playlist. Pure text, tested without media.
//!
//! While processing, a media playlist is an EVENT playlist without ENDLIST that starts players
//! at the beginning (`EXT-X-START:TIME-OFFSET=0`; without it a player would join at the live
//! edge as if it were a live stream); finished, it is a VOD playlist with ENDLIST. Both carry
//! `EXT-X-INDEPENDENT-SEGMENTS` (every segment starts on a keyframe) and `EXT-X-MAP`.

use std::fmt::Write;

/// HLS version: 7 for fMP4 segments with EXT-X-MAP.
const VERSION: u32 = 7;

/// One segment as a playlist lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEntry {
    pub uri: String,
    pub duration_secs: f64,
    /// A new publish session starts here (a recording across a reconnect).
    pub discontinuity: bool,
    /// The init segment from here on, when it changes (always set on the first segment).
    pub map: Option<String>,
}

/// A rendition's media playlist. `target_secs` is the segment length; the target duration is
/// the larger of it and the longest segment, rounded as the spec rounds EXTINF. `init_uri` is
/// the init segment of segments that name none.
pub fn media_playlist(init_uri: &str, segments: &[SegmentEntry], target_secs: f64, finished: bool) -> String {
    let longest = segments.iter().map(|s| s.duration_secs).fold(target_secs, f64::max);
    let target = longest.round().max(1.0) as u64;
    let mut out = String::new();
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:{VERSION}");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:0");
    let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:{}", if finished { "VOD" } else { "EVENT" });
    let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
    if !finished {
        let _ = writeln!(out, "#EXT-X-START:TIME-OFFSET=0");
    }
    if segments.first().is_none_or(|s| s.map.is_none()) {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init_uri}\"");
    }
    for s in segments {
        if s.discontinuity {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        if let Some(map) = &s.map {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}\"");
        }
        let _ = writeln!(out, "#EXTINF:{:.5},", s.duration_secs);
        let _ = writeln!(out, "{}", s.uri);
    }
    if finished {
        let _ = writeln!(out, "#EXT-X-ENDLIST");
    }
    out
}

/// A video rendition in the multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantEntry {
    pub uri: String,
    /// Peak bit rate (bits/s), including the audio it plays with.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    /// RFC 6381, video (and audio) codecs.
    pub codecs: String,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

/// The audio rendition, when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioEntry {
    pub uri: String,
    pub channels: u32,
    pub codecs: String,
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
}

/// A subtitle rendition (captions).
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleEntry {
    pub uri: String,
    pub language: String,
    pub name: String,
}

const AUDIO_GROUP: &str = "audio";
pub(crate) const SUBTITLE_GROUP: &str = "subs";

/// The `#EXT-X-MEDIA:TYPE=SUBTITLES` lines of `subtitles`.
pub(crate) fn subtitle_media_lines(subtitles: &[SubtitleEntry]) -> String {
    let mut out = String::new();
    for s in subtitles {
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLE_GROUP}\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT=NO,AUTOSELECT=YES,URI=\"{}\"",
            quoted(&s.name),
            quoted(&s.language),
            s.uri
        );
    }
    out
}

/// A tag line without attribute `name` (its quoted or plain value).
pub(crate) fn without_attribute(line: &str, name: &str) -> String {
    let needle = format!(",{name}=");
    let Some(at) = line.find(&needle) else { return line.to_owned() };
    let rest = &line[at + needle.len()..];
    let end = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.find('"').map_or(rest.len(), |i| i + 2)
    } else {
        rest.find(',').unwrap_or(rest.len())
    };
    format!("{}{}", &line[..at], &rest[end..])
}

/// The multivariant playlist. Without video, the audio rendition is the one variant.
pub fn multivariant(variants: &[VariantEntry], audio: Option<&AudioEntry>, subtitles: &[SubtitleEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:{VERSION}");
    let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
    out.push_str(&subtitle_media_lines(subtitles));
    let subs = if subtitles.is_empty() { String::new() } else { format!(",SUBTITLES=\"{SUBTITLE_GROUP}\"") };
    if variants.is_empty() {
        if let Some(a) = audio {
            let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", a.bandwidth);
            if let Some(avg) = a.average_bandwidth {
                let _ = write!(out, ",AVERAGE-BANDWIDTH={avg}");
            }
            let _ = writeln!(out, ",CODECS=\"{}\"{subs}", a.codecs);
            let _ = writeln!(out, "{}", a.uri);
        }
        return out;
    }
    if let Some(a) = audio {
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}\"",
            a.channels, a.uri
        );
    }
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={avg}");
        }
        let _ = write!(out, ",CODECS=\"{}\"", v.codecs);
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        if audio.is_some() {
            let _ = write!(out, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        let _ = writeln!(out, "{subs}");
        let _ = writeln!(out, "{}", v.uri);
    }
    out
}

/// A quoted-string attribute value may not hold `"` or line breaks.
fn quoted(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\n' && *c != '\r').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(durations: &[f64]) -> Vec<SegmentEntry> {
        durations
            .iter()
            .enumerate()
            .map(|(i, d)| SegmentEntry {
                uri: format!("seg-{:05}.m4s", i + 1),
                duration_secs: *d,
                discontinuity: false,
                map: None,
            })
            .collect()
    }

    #[test]
    fn a_reconnect_is_a_discontinuity_with_its_own_init_segment() {
        let mut list = segments(&[2.0, 2.0, 2.0]);
        list[0].map = Some("init.mp4".into());
        list[2].discontinuity = true;
        list[2].map = Some("init-2.mp4".into());
        let text = media_playlist("init.mp4", &list, 2.0, true);
        assert_eq!(text.matches("#EXT-X-MAP").count(), 2, "{text}");
        assert!(text.contains(
            "seg-00002.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:2.00000,\nseg-00003.m4s"
        ));
    }

    #[test]
    fn processing_playlists_are_events_that_start_at_the_beginning() {
        let text = media_playlist("init.mp4", &segments(&[4.0, 4.0]), 4.0, false);
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
        assert!(text.contains("#EXT-X-START:TIME-OFFSET=0\n"));
        assert!(!text.contains("ENDLIST"));
        assert!(text.contains("#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.00000,\nseg-00001.m4s\n"));
    }

    #[test]
    fn finished_playlists_are_vod_with_endlist_and_a_target_that_covers_every_segment() {
        let text = media_playlist("init.mp4", &segments(&[4.0, 4.6, 1.2]), 4.0, true);
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(text.ends_with("seg-00003.m4s\n#EXT-X-ENDLIST\n"));
        assert!(text.contains("#EXT-X-TARGETDURATION:5\n"));
        assert!(!text.contains("EXT-X-START"));
        assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
    }

    #[test]
    fn multivariant_lists_every_rung_with_the_audio_group() {
        let variant = |uri: &str, bw, w, h| VariantEntry {
            uri: uri.into(),
            bandwidth: bw,
            average_bandwidth: Some(bw / 2),
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: Some((w, h)),
            frame_rate: Some(30.0),
        };
        let audio = AudioEntry {
            uri: "audio/index.m3u8".into(),
            channels: 2,
            codecs: "mp4a.40.2".into(),
            bandwidth: 130_000,
            average_bandwidth: None,
        };
        let text = multivariant(
            &[variant("720p/index.m3u8", 3_000_000, 1280, 720), variant("360p/index.m3u8", 900_000, 640, 360)],
            Some(&audio),
            &[],
        );
        assert!(text.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n"));
        assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=1500000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\n720p/index.m3u8\n"));
        assert_eq!(text.matches("#EXT-X-STREAM-INF").count(), 2);
        // Audio only: the audio playlist is the variant.
        let text = multivariant(&[], Some(&audio), &[]);
        assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=130000,CODECS=\"mp4a.40.2\"\naudio/index.m3u8\n"));
        assert!(!text.contains("TYPE=AUDIO"));
    }
}
