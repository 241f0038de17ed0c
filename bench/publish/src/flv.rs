//! The tags of an FLV file, read once into memory so that every publisher sends the same
//! bytes without reading or parsing anything per connection. FLV is small enough to read by
//! hand (a 9-byte header, then tags of an 11-byte header, a body and a 4-byte back pointer);
//! the RTMP side, where the protocol state lives, is rml_rtmp's.

use bytes::Bytes;

/// What a tag carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio,
    Video,
    /// Script data (`onMetaData`): not sent; servers read codecs from the sequence headers.
    Script,
}

/// One FLV tag: its kind, its timestamp from the file's first tag, its body as RTMP sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub kind: TagKind,
    pub timestamp_ms: u32,
    pub body: Bytes,
}

impl Tag {
    /// An AVC or AAC sequence header (decoder configuration), sent once per connection.
    pub fn is_sequence_header(&self) -> bool {
        match self.kind {
            TagKind::Video => self.body.len() > 1 && self.body[1] == 0,
            TagKind::Audio => self.body.first().is_some_and(|b| b >> 4 == 10) && self.body.get(1) == Some(&0),
            TagKind::Script => false,
        }
    }

    pub fn is_keyframe(&self) -> bool {
        self.kind == TagKind::Video && self.body.first().is_some_and(|b| b >> 4 == 1)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlvError {
    #[error("not an FLV file (no FLV signature)")]
    NotFlv,
    #[error("the file ends inside a tag at byte {0}")]
    Truncated(usize),
    #[error("no audio or video tag")]
    Empty,
}

/// Every tag of `data`, timestamps made relative to the first audio or video tag.
pub fn read(data: &[u8]) -> Result<Vec<Tag>, FlvError> {
    if data.len() < 9 || &data[..3] != b"FLV" {
        return Err(FlvError::NotFlv);
    }
    let header = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    // The header, then PreviousTagSize0.
    let mut at = header.max(9) + 4;
    let mut tags = Vec::new();
    while at < data.len() {
        let Some(head) = data.get(at..at + 11) else {
            return Err(FlvError::Truncated(at));
        };
        let size = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
        let timestamp = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
        let body = data.get(at + 11..at + 11 + size).ok_or(FlvError::Truncated(at))?;
        let kind = match head[0] & 0x1f {
            8 => Some(TagKind::Audio),
            9 => Some(TagKind::Video),
            18 => Some(TagKind::Script),
            _ => None,
        };
        if let Some(kind) = kind {
            tags.push(Tag { kind, timestamp_ms: timestamp, body: Bytes::copy_from_slice(body) });
        }
        at += 11 + size + 4;
    }
    let first =
        tags.iter().filter(|t| t.kind != TagKind::Script).map(|t| t.timestamp_ms).min().ok_or(FlvError::Empty)?;
    for tag in &mut tags {
        tag.timestamp_ms = tag.timestamp_ms.saturating_sub(first);
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: u8, timestamp: u32, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        out.push((timestamp >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(body);
        out.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        out
    }

    fn file(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        for t in tags {
            out.extend_from_slice(t);
        }
        out
    }

    #[test]
    fn tags_in_order_with_timestamps_from_the_first() {
        let data = file(&[
            tag(18, 0, b"\x02\x00\x0aonMetaData"),
            tag(9, 1000, &[0x17, 0, 0, 0, 0, 1]),
            tag(8, 1000, &[0xaf, 0, 0x12, 0x10]),
            tag(9, 1033, &[0x17, 1, 0, 0, 0, 9]),
            tag(8, 1021, &[0xaf, 1, 7]),
            tag(9, 1066, &[0x27, 1, 0, 0, 0, 9]),
            // The extended byte is the top 8 bits.
            tag(9, 0x0100_0000 + 1000, &[0x27, 1, 0, 0, 0, 9]),
        ]);
        let tags = read(&data).unwrap();
        assert_eq!(tags.len(), 7);
        let stamps: Vec<u32> = tags.iter().map(|t| t.timestamp_ms).collect();
        assert_eq!(stamps, [0, 0, 0, 33, 21, 66, 0x0100_0000]);
        assert!(tags[1].is_sequence_header() && tags[2].is_sequence_header());
        assert!(!tags[3].is_sequence_header() && tags[3].is_keyframe());
        assert!(!tags[5].is_keyframe());
        assert_eq!(tags[0].kind, TagKind::Script);
    }

    #[test]
    fn bad_files_are_refused() {
        assert_eq!(read(b"GIF89a"), Err(FlvError::NotFlv));
        let mut data = file(&[tag(9, 0, &[0x17, 0, 0, 0, 0, 1])]);
        data.truncate(data.len() - 6);
        assert_eq!(read(&data), Err(FlvError::Truncated(13)));
        assert_eq!(read(&file(&[tag(18, 0, b"x")])), Err(FlvError::Empty));
    }
}
