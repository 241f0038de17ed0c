//! What a layer in front of the origin decided about a request: this crate does not know who
//! may watch, but when someone in front (the API's signed-playback check) lets a request through
//! on a token, every URI of the playlists served must carry that token too (a player resolves
//! relative URIs without the playlist's query), and no cache may keep the response longer than
//! the token lives. And when the layer let a request through because of who asks (the owner's
//! session or bearer token), the answer is theirs alone: a shared cache (a CDN, Varnish) must not
//! keep it for anyone else, so `public` becomes `private`. The layer inserts a [`PlaybackGrant`]
//! as a request extension.

/// A token query the playlists' URIs must carry, and the longest the response may be cached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaybackGrant {
    /// `name=value` appended to every URI (`?` or `&` as the URI needs).
    pub uri_query: Option<String>,
    /// Seconds until the token expires.
    pub max_age: Option<u64>,
    /// Opened because of who asked, not because of the URL: no shared cache may keep it.
    pub private: bool,
}

impl PlaybackGrant {
    /// `cache_control` with its `max-age` lowered to what the token allows, and `private`
    /// instead of `public` when the answer is the asker's alone.
    pub fn cache_control(&self, cache_control: &str) -> String {
        if self.max_age.is_none() && !self.private {
            return cache_control.to_owned();
        }
        cache_control
            .split(',')
            .map(|directive| {
                let d = directive.trim();
                if self.private && d.eq_ignore_ascii_case("public") {
                    return "private".to_owned();
                }
                match (d.strip_prefix("max-age=").and_then(|n| n.parse::<u64>().ok()), self.max_age) {
                    (Some(age), Some(limit)) => format!("max-age={}", age.min(limit)),
                    _ => d.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `playlist` with the query on every URI, if there is one.
    pub fn apply(&self, playlist: String) -> String {
        match &self.uri_query {
            Some(query) => crate::playlist::with_query(&playlist, query),
            None => playlist,
        }
    }

    /// [`Self::apply`] to a shared, already rendered playlist: copied only when it changes.
    pub fn apply_to(&self, playlist: bytes::Bytes) -> bytes::Bytes {
        match &self.uri_query {
            Some(query) => crate::playlist::with_query(&String::from_utf8_lossy(&playlist), query).into(),
            None => playlist,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_capped_by_the_token() {
        let grant = PlaybackGrant { uri_query: None, max_age: Some(90), private: false };
        assert_eq!(grant.cache_control("public, max-age=31536000, immutable"), "public, max-age=90, immutable");
        assert_eq!(grant.cache_control("public, max-age=2"), "public, max-age=2");
        assert_eq!(grant.cache_control("no-store"), "no-store");
        assert_eq!(PlaybackGrant::default().cache_control("public, max-age=5"), "public, max-age=5");
    }

    #[test]
    fn an_answer_for_one_asker_is_private() {
        let owner = PlaybackGrant { private: true, ..PlaybackGrant::default() };
        assert_eq!(owner.cache_control("public, max-age=1"), "private, max-age=1");
        assert_eq!(owner.cache_control("public, max-age=31536000, immutable"), "private, max-age=31536000, immutable");
        assert_eq!(owner.cache_control("no-store"), "no-store");
        let signed = PlaybackGrant { uri_query: Some("mt=1".into()), max_age: Some(30), private: true };
        assert_eq!(signed.cache_control("public, max-age=60"), "private, max-age=30");
    }
}
