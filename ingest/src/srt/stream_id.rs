//! The SRT `streamid` a publisher connects with: which stream key, and whether it publishes.
//!
//! Accepted forms, as OBS and ffmpeg users write them:
//! - SRT Access Control syntax: `#!::r=STREAM_KEY,m=publish` (`r` may carry a path such as
//!   `live/STREAM_KEY`: its last segment is the key; other keys like `u=` or `s=` are ignored).
//! - A bare stream key.

/// Why a `streamid` cannot be used to publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("no streamid: connect with streamid=#!::r=STREAM_KEY,m=publish")]
    Missing,
    #[error("streamid has no resource: use #!::r=STREAM_KEY,m=publish")]
    NoResource,
    #[error("streamid asks for mode {0:?}: oxcast only takes publishers over SRT (watch over HLS)")]
    NotPublish(String),
    #[error("streamid asks for type {0:?}: only live streams (t=stream) are accepted")]
    NotStream(String),
    #[error("malformed streamid entry {0:?}: expected key=value")]
    Malformed(String),
}

/// The `streamid` OBS and ffmpeg send to publish with `key` (the form [`publish_key`] reads).
pub fn publish_stream_id(key: &str) -> String {
    format!("#!::r={key},m=publish")
}

/// What OBS's Server field takes for SRT: the listener URL (`srt://HOST:PORT`) plus the
/// `streamid` carrying the key, unencoded (ffmpeg and OBS send a percent-encoded one as is).
pub fn publish_url(listener: &str, key: &str) -> String {
    format!("{listener}?streamid={}", publish_stream_id(key))
}

/// The stream key a publisher presented in its `streamid`.
pub fn publish_key(stream_id: Option<&str>) -> Result<String, StreamIdError> {
    let stream_id = stream_id.map(str::trim).filter(|s| !s.is_empty()).ok_or(StreamIdError::Missing)?;
    let Some(entries) = stream_id.strip_prefix("#!::") else {
        return last_segment(stream_id);
    };
    let mut resource = None;
    for entry in entries.split(',') {
        let (key, value) = entry.split_once('=').ok_or_else(|| StreamIdError::Malformed(entry.to_owned()))?;
        match key.trim() {
            "r" => resource = Some(value),
            "m" if value != "publish" => return Err(StreamIdError::NotPublish(value.to_owned())),
            "t" if value != "stream" => return Err(StreamIdError::NotStream(value.to_owned())),
            _ => {}
        }
    }
    last_segment(resource.ok_or(StreamIdError::NoResource)?)
}

fn last_segment(resource: &str) -> Result<String, StreamIdError> {
    let key = resource.rsplit('/').next().unwrap_or_default().trim();
    if key.is_empty() {
        return Err(StreamIdError::NoResource);
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_access_control_syntax() {
        assert_eq!(publish_key(Some("#!::r=sk_abc,m=publish")), Ok("sk_abc".into()));
        assert_eq!(publish_key(Some("#!::m=publish,r=live/sk_abc")), Ok("sk_abc".into()));
        assert_eq!(publish_key(Some("#!::u=alice,r=sk_abc,t=stream")), Ok("sk_abc".into()));
        assert_eq!(publish_key(Some("#!::r=sk_abc")), Ok("sk_abc".into()), "mode defaults to publish here");
    }

    #[test]
    fn takes_a_bare_key() {
        assert_eq!(publish_key(Some("sk_abc")), Ok("sk_abc".into()));
        assert_eq!(publish_key(Some("live/sk_abc")), Ok("sk_abc".into()));
    }

    #[test]
    fn refuses_what_cannot_publish() {
        assert_eq!(publish_key(None), Err(StreamIdError::Missing));
        assert_eq!(publish_key(Some("  ")), Err(StreamIdError::Missing));
        assert_eq!(publish_key(Some("#!::m=publish")), Err(StreamIdError::NoResource));
        assert_eq!(publish_key(Some("#!::r=live/")), Err(StreamIdError::NoResource));
        assert_eq!(publish_key(Some("#!::r=k,m=request")), Err(StreamIdError::NotPublish("request".into())));
        assert_eq!(publish_key(Some("#!::r=k,t=file")), Err(StreamIdError::NotStream("file".into())));
        assert_eq!(publish_key(Some("#!::r=k,garbage")), Err(StreamIdError::Malformed("garbage".into())));
    }

    #[test]
    fn built_urls_carry_a_stream_id_that_parses_back() {
        let url = publish_url("srt://example.org:8890", "sk_abc");
        assert_eq!(url, "srt://example.org:8890?streamid=#!::r=sk_abc,m=publish");
        let stream_id = url.split_once("streamid=").map(|(_, id)| id);
        assert_eq!(publish_key(stream_id).unwrap(), "sk_abc");
    }
}
