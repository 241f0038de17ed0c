//! What a layer in front of the origin decided about a request: this crate does not know who
//! may watch, but when someone in front (the API's signed-playback check) lets a request through
//! on a token, every URI of the playlists served must carry that token too (a player resolves
//! relative URIs without the playlist's query), and no cache may keep the response longer than
//! the token lives. The layer inserts a [`PlaybackGrant`] as a request extension.

/// A token query the playlists' URIs must carry, and the longest the response may be cached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaybackGrant {
    /// `name=value` appended to every URI (`?` or `&` as the URI needs).
    pub uri_query: Option<String>,
    /// Seconds until the token expires.
    pub max_age: Option<u64>,
}

impl PlaybackGrant {
    /// `cache_control` with its `max-age` lowered to what the token allows.
    pub fn cache_control(&self, cache_control: &str) -> String {
        let Some(limit) = self.max_age else { return cache_control.to_owned() };
        cache_control
            .split(',')
            .map(|directive| {
                let d = directive.trim();
                match d.strip_prefix("max-age=").and_then(|n| n.parse::<u64>().ok()) {
                    Some(age) => format!("max-age={}", age.min(limit)),
                    None => d.to_owned(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_capped_by_the_token() {
        let grant = PlaybackGrant { uri_query: None, max_age: Some(90) };
        assert_eq!(grant.cache_control("public, max-age=31536000, immutable"), "public, max-age=90, immutable");
        assert_eq!(grant.cache_control("public, max-age=2"), "public, max-age=2");
        assert_eq!(grant.cache_control("no-store"), "no-store");
        assert_eq!(PlaybackGrant::default().cache_control("public, max-age=5"), "public, max-age=5");
    }
}
