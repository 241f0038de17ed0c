//! What an API token may do. A token carries a set of scopes; each REST route names the one it
//! needs (see `oxcast-api`'s `auth`). Stored as a space-separated list, validated on the way in.

use std::collections::BTreeSet;

use crate::StoreError;

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read my streams (settings, keys are never readable).
    StreamsRead,
    /// Create and change my streams, rotate their keys.
    StreamsWrite,
    /// Read my videos, including private ones.
    VideosRead,
    /// Upload and change my videos.
    VideosWrite,
    /// Manage my webhooks.
    WebhooksWrite,
    /// Manage my playback signing keys and mint playback tokens.
    KeysWrite,
    /// Everything, on everyone's resources (only for admins' tokens).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::StreamsRead,
        Scope::StreamsWrite,
        Scope::VideosRead,
        Scope::VideosWrite,
        Scope::WebhooksWrite,
        Scope::KeysWrite,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::StreamsRead => "streams:read",
            Scope::StreamsWrite => "streams:write",
            Scope::VideosRead => "videos:read",
            Scope::VideosWrite => "videos:write",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::KeysWrite => "keys:write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Every scope: what the bootstrap admin token and an admin's session may do.
    pub fn all() -> Self {
        Self(Scope::ALL.into_iter().collect())
    }

    /// Every scope but `admin`: what a creator's session may do.
    pub fn creator() -> Self {
        Self(Scope::ALL.into_iter().filter(|s| *s != Scope::Admin).collect())
    }

    /// Parses scope names; an unknown one is an error that lists the known ones.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, StoreError> {
        let mut set = BTreeSet::new();
        for name in names {
            let scope = Scope::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                StoreError::Invalid(format!("unknown scope {name:?}; known: {}", known.join(", ")))
            })?;
            set.insert(scope);
        }
        Ok(Self(set))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The stored form: names separated by one space, in a fixed order.
    pub fn to_stored(&self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    pub(crate) fn from_stored(stored: &str) -> Result<Self, StoreError> {
        Self::parse(stored.split_whitespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_unknown_names_are_refused() {
        let s = Scopes::parse(["videos:write", "streams:read", "videos:write"]).unwrap();
        assert_eq!(s.to_stored(), "streams:read videos:write");
        assert_eq!(Scopes::from_stored(&s.to_stored()).unwrap(), s);
        assert!(s.contains(Scope::StreamsRead) && !s.contains(Scope::Admin));
        let err = Scopes::parse(["streams:delete"]).unwrap_err().to_string();
        assert!(err.contains("streams:delete") && err.contains("webhooks:write"), "{err}");
        assert!(Scopes::all().contains(Scope::Admin) && !Scopes::creator().contains(Scope::Admin));
    }
}
