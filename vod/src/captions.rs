//! Captions: WebVTT or SRT files, per language, served as HLS subtitle renditions.
//!
//! Whatever arrives is checked and stored as WebVTT (SRT is converted: its comma decimal
//! separator and numeric cue ids are the only differences that matter to players), beside a
//! one-segment subtitle playlist that spans the video; the multivariant playlist lists every
//! language in a SUBTITLES group. Pure text here; storage is `captions/` under the video.

use std::fmt::Write;

use crate::hls::SubtitleEntry;

/// Largest caption file accepted.
pub const MAX_CAPTION_BYTES: usize = 2 * 1024 * 1024;

/// Why a caption file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptionError {
    #[error("captions must be UTF-8 text")]
    NotText,
    #[error("the file has no cues (neither WebVTT nor SRT timing lines like 00:00:01.000 --> 00:00:02.000)")]
    NoCues,
    #[error("line {line}: bad cue timing {text:?}")]
    BadTiming { line: usize, text: String },
    #[error("language {0:?} is not a BCP 47 tag like en or pt-BR")]
    BadLanguage(String),
}

/// A checked WebVTT text and the end of its last cue (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Captions {
    pub vtt: String,
    pub last_cue_end: f64,
}

/// `HH:MM:SS.mmm` or `MM:SS.mmm` (a comma allowed for SRT) in seconds.
fn timestamp(text: &str) -> Option<f64> {
    let text = text.trim().replace(',', ".");
    let mut parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let seconds: f64 = parts.pop()?.parse().ok()?;
    let minutes: u64 = parts.pop()?.parse().ok()?;
    let hours: u64 = parts.pop().map_or(Some(0), |h| h.parse().ok())?;
    (minutes < 60 && (0.0..60.0).contains(&seconds)).then_some(hours as f64 * 3600.0 + minutes as f64 * 60.0 + seconds)
}

/// `HH:MM:SS.mmm`, as WebVTT writes cue times (captions, the storyboard track).
pub(crate) fn vtt_timestamp(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Checks `bytes` (WebVTT or SRT) and returns them as WebVTT.
pub fn to_webvtt(bytes: &[u8]) -> Result<Captions, CaptionError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CaptionError::NotText)?;
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n").replace('\r', "\n");
    let is_vtt = text.starts_with("WEBVTT");
    let mut out = String::from("WEBVTT\n");
    let mut last_end = 0f64;
    let mut cues = 0;
    let blocks: Vec<&str> = text.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty()).collect();
    let mut line_no = 1;
    for (i, block) in blocks.iter().enumerate() {
        let lines: Vec<&str> = block.lines().collect();
        let Some(at) = lines.iter().position(|l| l.contains("-->")) else {
            // The WebVTT header block, NOTE and STYLE blocks, or a stray SRT number: not a cue.
            if is_vtt
                && i > 0
                && (block.starts_with("NOTE") || block.starts_with("STYLE") || block.starts_with("REGION"))
            {
                let _ = write!(out, "\n{block}\n");
            }
            line_no += lines.len() + 1;
            continue;
        };
        let timing = lines[at];
        let (start, rest) = timing.split_once("-->").unwrap_or_default();
        let mut rest = rest.trim().splitn(2, char::is_whitespace);
        let end = rest.next().unwrap_or_default();
        let settings = if is_vtt { rest.next().unwrap_or_default().trim() } else { "" };
        let bad = || CaptionError::BadTiming { line: line_no + at, text: timing.to_owned() };
        let (start, end) = (timestamp(start).ok_or_else(bad)?, timestamp(end).ok_or_else(bad)?);
        if end < start {
            return Err(bad());
        }
        last_end = last_end.max(end);
        cues += 1;
        // A WebVTT cue id is kept; an SRT cue number is dropped (ids must not look like timings).
        let id = if is_vtt && at > 0 { Some(lines[at - 1]) } else { None };
        out.push('\n');
        if let Some(id) = id {
            let _ = writeln!(out, "{id}");
        }
        let _ = write!(out, "{} --> {}", vtt_timestamp(start), vtt_timestamp(end));
        if !settings.is_empty() {
            let _ = write!(out, " {settings}");
        }
        out.push('\n');
        for line in &lines[at + 1..] {
            // "-->" in a payload would end the cue early in some parsers.
            let _ = writeln!(out, "{}", line.replace("-->", "->"));
        }
        line_no += lines.len() + 1;
    }
    if cues == 0 {
        return Err(CaptionError::NoCues);
    }
    Ok(Captions { vtt: out, last_cue_end: last_end })
}

/// The one-segment subtitle playlist of `file`, spanning `duration_secs`.
pub fn subtitle_playlist(file: &str, duration_secs: f64) -> String {
    let duration = duration_secs.max(0.001);
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXTINF:{duration:.3},\n{file}\n#EXT-X-ENDLIST\n",
        duration.ceil() as u64
    )
}

/// `multivariant` with exactly the subtitle renditions `subtitles` (none removes them): the
/// SUBTITLES media lines and each variant's SUBTITLES attribute.
pub fn with_subtitles(multivariant: &str, subtitles: &[SubtitleEntry]) -> String {
    let mut out = String::new();
    let mut media_written = false;
    for line in multivariant.lines() {
        if line.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES") {
            continue;
        }
        if line.starts_with("#EXT-X-STREAM-INF") {
            if !media_written {
                out.push_str(&crate::hls::subtitle_media_lines(subtitles));
                media_written = true;
            }
            let attrs = crate::hls::without_attribute(line, "SUBTITLES");
            out.push_str(&attrs);
            if !subtitles.is_empty() {
                let _ = write!(out, ",SUBTITLES=\"{}\"", crate::hls::SUBTITLE_GROUP);
            }
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A BCP 47-looking language tag (what names a caption track): the store's rule for videos.
pub fn check_language(tag: &str) -> Result<(), CaptionError> {
    if oxcast_store::is_language_tag(tag) { Ok(()) } else { Err(CaptionError::BadLanguage(tag.to_owned())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_becomes_webvtt() {
        let srt =
            "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n2\r\n00:00:03,000 --> 00:01:04,000\r\nTwo\r\nlines\r\n";
        let c = to_webvtt(srt.as_bytes()).unwrap();
        assert_eq!(
            c.vtt,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\n\n00:00:03.000 --> 00:01:04.000\nTwo\nlines\n"
        );
        assert_eq!(c.last_cue_end, 64.0);
    }

    #[test]
    fn webvtt_keeps_ids_settings_and_notes() {
        let vtt = "\u{feff}WEBVTT - a title\n\nNOTE made by hand\n\nintro\n00:01.000 --> 00:02.000 align:start line:0\n<i>Hi</i>\n";
        let c = to_webvtt(vtt.as_bytes()).unwrap();
        assert_eq!(
            c.vtt,
            "WEBVTT\n\nNOTE made by hand\n\nintro\n00:00:01.000 --> 00:00:02.000 align:start line:0\n<i>Hi</i>\n"
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        assert_eq!(to_webvtt(&[0xff, 0xfe, 0x00]).unwrap_err(), CaptionError::NotText);
        assert_eq!(to_webvtt(b"just some words").unwrap_err(), CaptionError::NoCues);
        assert!(matches!(
            to_webvtt(b"1\n00:00:05,000 --> 00:00:04,000\nBackwards\n"),
            Err(CaptionError::BadTiming { line: 2, .. })
        ));
        assert!(matches!(
            to_webvtt(b"WEBVTT\n\n00:00:99.000 --> 00:01:00.000\nx\n"),
            Err(CaptionError::BadTiming { .. })
        ));
        assert!(check_language("pt-BR").is_ok() && check_language("english").is_err());
    }

    #[test]
    fn subtitles_join_and_leave_the_multivariant() {
        let master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f\"\n720p/index.m3u8\n";
        let subs = [
            SubtitleEntry { uri: "captions/en.m3u8".into(), language: "en".into(), name: "English".into() },
            SubtitleEntry { uri: "captions/fr.m3u8".into(), language: "fr".into(), name: "Français".into() },
        ];
        let with = with_subtitles(master, &subs);
        assert_eq!(with.matches("#EXT-X-MEDIA:TYPE=SUBTITLES").count(), 2, "{with}");
        assert!(
            with.contains("#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f\",SUBTITLES=\"subs\"\n720p/index.m3u8\n"),
            "{with}"
        );
        let again = with_subtitles(&with, &subs[..1]);
        assert_eq!(again.matches("TYPE=SUBTITLES").count(), 1, "{again}");
        assert_eq!(again.matches("SUBTITLES=\"subs\"").count(), 1, "no duplicate attribute: {again}");
        assert_eq!(with_subtitles(&with, &[]), master);
        assert!(subtitle_playlist("en.vtt", 9.5).contains("#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:9.500,\nen.vtt\n#EXT-X-ENDLIST"));
    }
}

/// A video's caption tracks in storage: `captions/LANG.vtt`, its playlist `captions/LANG.m3u8`,
/// and `captions/index.json` (the languages and their labels, in upload order).
pub mod stored {
    use std::sync::Arc;

    use bytes::Bytes;
    use serde::{Deserialize, Serialize};

    use super::{CaptionError, Captions, subtitle_playlist, to_webvtt, with_subtitles};
    use crate::hls::SubtitleEntry;
    use crate::layout;
    use crate::storage::{Storage, StorageError};

    /// One caption track.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Track {
        pub language: String,
        /// What players show ("English", "Français (CC)").
        pub label: String,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum CaptionStoreError {
        #[error(transparent)]
        Invalid(#[from] CaptionError),
        #[error(transparent)]
        Storage(#[from] StorageError),
    }

    const INDEX: &str = "captions/index.json";

    async fn read(storage: &Arc<dyn Storage>, video_id: &str, path: &str) -> Result<Option<Bytes>, StorageError> {
        storage.get_bytes(&layout::object(video_id, path)?).await
    }

    async fn put(storage: &Arc<dyn Storage>, video_id: &str, path: &str, data: Bytes) -> Result<(), StorageError> {
        storage.put_bytes(&layout::object(video_id, path)?, data).await.map(|_| ())
    }

    /// The video's caption tracks.
    pub async fn list(storage: &Arc<dyn Storage>, video_id: &str) -> Result<Vec<Track>, StorageError> {
        Ok(read(storage, video_id, INDEX).await?.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default())
    }

    /// Stores `bytes` (WebVTT or SRT) as the `language` track, replacing one of that language,
    /// and lists every track in the multivariant playlist. `duration_secs` is the video's.
    pub async fn save(
        storage: &Arc<dyn Storage>,
        video_id: &str,
        language: &str,
        label: &str,
        bytes: &[u8],
        duration_secs: Option<f64>,
    ) -> Result<Captions, CaptionStoreError> {
        super::check_language(language)?;
        let captions = to_webvtt(bytes)?;
        let span = duration_secs.unwrap_or(0.0).max(captions.last_cue_end);
        put(storage, video_id, &format!("captions/{language}.vtt"), Bytes::from(captions.vtt.clone())).await?;
        let playlist = subtitle_playlist(&format!("{language}.vtt"), span);
        put(storage, video_id, &format!("captions/{language}.m3u8"), Bytes::from(playlist)).await?;
        let mut tracks = list(storage, video_id).await?;
        let label = if label.trim().is_empty() { language.to_owned() } else { label.trim().chars().take(64).collect() };
        match tracks.iter_mut().find(|t| t.language == language) {
            Some(t) => t.label = label,
            None => tracks.push(Track { language: language.to_owned(), label }),
        }
        write_index(storage, video_id, &tracks).await?;
        apply(storage, video_id).await?;
        Ok(captions)
    }

    /// Removes the `language` track; false when there was none.
    pub async fn remove(storage: &Arc<dyn Storage>, video_id: &str, language: &str) -> Result<bool, StorageError> {
        let mut tracks = list(storage, video_id).await?;
        let before = tracks.len();
        tracks.retain(|t| t.language != language);
        if tracks.len() == before {
            return Ok(false);
        }
        for ext in ["vtt", "m3u8"] {
            if let Ok(key) = layout::object(video_id, &format!("captions/{language}.{ext}")) {
                storage.delete(&key).await?;
            }
        }
        write_index(storage, video_id, &tracks).await?;
        apply(storage, video_id).await?;
        Ok(true)
    }

    async fn write_index(storage: &Arc<dyn Storage>, video_id: &str, tracks: &[Track]) -> Result<(), StorageError> {
        let json = serde_json::to_vec(tracks).unwrap_or_else(|_| b"[]".to_vec());
        put(storage, video_id, INDEX, Bytes::from(json)).await
    }

    /// Rewrites the multivariant playlist (if there is one yet) to list exactly the stored
    /// tracks; processing calls it after writing a multivariant, so captions uploaded while a
    /// video processes are kept.
    pub async fn apply(storage: &Arc<dyn Storage>, video_id: &str) -> Result<(), StorageError> {
        let Some(current) = read(storage, video_id, layout::MULTIVARIANT).await? else { return Ok(()) };
        let tracks = list(storage, video_id).await?;
        let subtitles: Vec<SubtitleEntry> = tracks
            .iter()
            .map(|t| SubtitleEntry {
                uri: format!("captions/{}.m3u8", t.language),
                language: t.language.clone(),
                name: t.label.clone(),
            })
            .collect();
        let text = with_subtitles(&String::from_utf8_lossy(&current), &subtitles);
        put(storage, video_id, layout::MULTIVARIANT, Bytes::from(text)).await
    }
}
