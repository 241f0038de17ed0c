//! The parts of an LL-HLS media playlist a low-latency player acts on: where the live edge is
//! (the next part's `_HLS_msn`/`_HLS_part` and its preload hint), which parts and segments are
//! listed, and when each part's media was captured (`EXT-X-PROGRAM-DATE-TIME` plus the
//! durations before it). m3u8-rs drops the tags after the last complete segment, which is
//! exactly where the live edge is, so this reads the text itself.

use std::time::{Duration, SystemTime};

/// A part the playlist lists, with the capture time of its end when the playlist dates it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPart {
    pub uri: String,
    pub duration: Duration,
    pub end: Option<SystemTime>,
}

/// What a viewer needs of one media playlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaPlaylist {
    pub media_sequence: u64,
    /// Complete segments (their URIs), oldest first.
    pub segments: Vec<String>,
    /// Every listed part, oldest first.
    pub parts: Vec<ListedPart>,
    /// Parts of the segment that is still open.
    pub open_parts: usize,
    pub preload_hint: Option<String>,
    pub init: Option<String>,
    pub part_target: Option<Duration>,
    pub can_block: bool,
    pub can_skip: bool,
    pub ended: bool,
    /// `(URI, LAST-MSN, LAST-PART)` of each other rendition.
    pub rendition_reports: Vec<(String, u64, Option<u64>)>,
}

/// The text is not a media playlist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaylistError {
    #[error("not an HLS playlist")]
    NotPlaylist,
    #[error("no EXT-X-MEDIA-SEQUENCE")]
    NoMediaSequence,
}

/// The value of `name` in an attribute list (quotes removed).
pub fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.split(',').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).map(|v| v.trim_matches('"'))
}

fn seconds(text: &str) -> Option<Duration> {
    text.trim_end_matches(',').parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

impl MediaPlaylist {
    pub fn parse(text: &str) -> Result<Self, PlaylistError> {
        if !text.starts_with("#EXTM3U") {
            return Err(PlaylistError::NotPlaylist);
        }
        let mut out = MediaPlaylist::default();
        let mut sequence = None;
        // Capture time at the current position: set by PROGRAM-DATE-TIME, advanced by each part,
        // and reset to the segment's end by EXTINF (whose parts may no longer be listed).
        let mut clock: Option<SystemTime> = None;
        let mut segment_start: Option<SystemTime> = None;
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                sequence = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                clock = humantime::parse_rfc3339(v.trim()).ok();
                segment_start = clock;
            } else if let Some(a) = line.strip_prefix("#EXT-X-PART:") {
                let (Some(uri), Some(duration)) = (attr(a, "URI"), attr(a, "DURATION").and_then(seconds)) else {
                    continue;
                };
                let end = clock.map(|c| c + duration);
                clock = end;
                out.parts.push(ListedPart { uri: uri.to_owned(), duration, end });
                out.open_parts += 1;
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                let uri = lines.by_ref().find(|l| !l.is_empty() && !l.starts_with('#'));
                if let Some(uri) = uri {
                    out.segments.push(uri.to_owned());
                }
                clock = segment_start.zip(seconds(v.split(',').next().unwrap_or(v))).map(|(s, d)| s + d);
                segment_start = clock;
                out.open_parts = 0;
            } else if let Some(a) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
                if attr(a, "TYPE") == Some("PART") {
                    out.preload_hint = attr(a, "URI").map(str::to_owned);
                }
            } else if let Some(a) = line.strip_prefix("#EXT-X-MAP:") {
                out.init = attr(a, "URI").map(str::to_owned);
            } else if let Some(a) = line.strip_prefix("#EXT-X-PART-INF:") {
                out.part_target = attr(a, "PART-TARGET").and_then(seconds);
            } else if let Some(a) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
                out.can_block = attr(a, "CAN-BLOCK-RELOAD") == Some("YES");
                out.can_skip = attr(a, "CAN-SKIP-UNTIL").is_some();
            } else if let Some(a) = line.strip_prefix("#EXT-X-RENDITION-REPORT:") {
                if let (Some(uri), Some(msn)) = (attr(a, "URI"), attr(a, "LAST-MSN").and_then(|v| v.parse().ok())) {
                    let part = attr(a, "LAST-PART").and_then(|v| v.parse().ok());
                    out.rendition_reports.push((uri.to_owned(), msn, part));
                }
            } else if line.starts_with("#EXT-X-ENDLIST") {
                out.ended = true;
            }
        }
        out.media_sequence = sequence.ok_or(PlaylistError::NoMediaSequence)?;
        Ok(out)
    }

    /// `(_HLS_msn, _HLS_part)` of the part after the newest listed one: what a player blocks on.
    /// In a delta update the skipped segments still count (EXT-X-SKIP keeps the numbering).
    pub fn next_position(&self, skipped: u64) -> (u64, usize) {
        (self.media_sequence + skipped + self.segments.len() as u64, self.open_parts)
    }
}

/// `SKIPPED-SEGMENTS` of a delta update (0 for a full playlist).
pub fn skipped_segments(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:"))
        .and_then(|a| attr(a, "SKIPPED-SEGMENTS"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The first media playlist a multivariant playlist names (its first variant), or `None`.
pub fn first_variant(text: &str) -> Option<String> {
    variants(text).into_iter().next()
}

/// Every variant (video media playlist) a multivariant playlist names, in order.
pub fn variants(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF:")
            && let Some(uri) = lines.find(|l| !l.is_empty() && !l.starts_with('#'))
        {
            out.push(uri.to_owned());
        }
    }
    out
}

/// The URI of the default audio rendition a multivariant playlist names, if any.
pub fn audio_rendition(text: &str) -> Option<String> {
    let all: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .filter(|a| attr(a, "TYPE") == Some("AUDIO"))
        .collect();
    let chosen = all.iter().find(|a| attr(a, "DEFAULT") == Some("YES")).or(all.first())?;
    attr(chosen, "URI").map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.600\n\
        #EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
        #EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.000Z\n\
        #EXT-X-PART:DURATION=0.200,URI=\"part-7000.m4s\",INDEPENDENT=YES\n\
        #EXT-X-PART:DURATION=0.200,URI=\"part-7001.m4s\"\n#EXTINF:0.40000,\nseg-7.m4s\n\
        #EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.400Z\n\
        #EXT-X-PART:DURATION=0.200,URI=\"part-7002.m4s\",INDEPENDENT=YES\n\
        #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-7003.m4s\"\n\
        #EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=8,LAST-PART=0\n";

    #[test]
    fn the_live_edge_and_its_dates() {
        let p = MediaPlaylist::parse(LIVE).unwrap();
        assert_eq!(p.media_sequence, 7);
        assert_eq!(p.segments, ["seg-7.m4s"]);
        assert_eq!(p.parts.len(), 3);
        assert_eq!(p.open_parts, 1);
        assert_eq!(p.next_position(0), (8, 1));
        assert_eq!(p.preload_hint.as_deref(), Some("part-7003.m4s"));
        assert_eq!(p.init.as_deref(), Some("init-1.mp4"));
        assert_eq!(p.part_target, Some(Duration::from_millis(200)));
        assert!(p.can_block && p.can_skip && !p.ended);
        assert_eq!(p.rendition_reports, [("../480p/index.m3u8".to_owned(), 8, Some(0))]);
        let start = humantime::parse_rfc3339("2026-12-07T10:00:00Z").unwrap();
        let ends: Vec<_> = p.parts.iter().map(|x| x.end.unwrap().duration_since(start).unwrap()).collect();
        assert_eq!(ends, [Duration::from_millis(200), Duration::from_millis(400), Duration::from_millis(600)]);
    }

    #[test]
    fn a_closed_segment_moves_the_edge_to_the_next_one() {
        let text = LIVE.replace("#EXT-X-PART:DURATION=0.200,URI=\"part-7002.m4s\",INDEPENDENT=YES\n", "");
        let p = MediaPlaylist::parse(&text).unwrap();
        assert_eq!(p.next_position(0), (8, 0));
        assert_eq!(p.next_position(3), (11, 0), "skipped segments keep their numbers");
    }

    #[test]
    fn refusals_and_helpers() {
        assert_eq!(MediaPlaylist::parse("not found\n"), Err(PlaylistError::NotPlaylist));
        assert_eq!(MediaPlaylist::parse("#EXTM3U\n"), Err(PlaylistError::NoMediaSequence));
        assert_eq!(skipped_segments("#EXTM3U\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n"), 4);
        assert_eq!(skipped_segments(LIVE), 0);
        let multi = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n";
        assert_eq!(first_variant(multi).as_deref(), Some("video/index.m3u8"));
        assert_eq!(first_variant(LIVE), None);
        assert_eq!(variants(multi), ["video/index.m3u8", "b.m3u8"]);
        let with_audio = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"en\",URI=\"en/index.m3u8\"\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,URI=\"audio/index.m3u8\"\n";
        assert_eq!(audio_rendition(with_audio).as_deref(), Some("audio/index.m3u8"));
        assert_eq!(audio_rendition(multi), None);
    }
}
