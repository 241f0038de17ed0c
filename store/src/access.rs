//! Who may find a stream or video, and what its URL needs to play: the two access settings
//! streams and videos share. Privacy decides listing (public: everywhere; unlisted: by URL only,
//! never listed or searched; private: the owner only); the playback policy decides whether a URL
//! is enough (`public`) or needs a signed playback token (`signed`).

use crate::StoreError;

/// Who may watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// Listed, searchable, playable by anyone.
    Public,
    /// Playable by anyone with the link; never listed.
    Unlisted,
    /// Only the owner (and admins).
    Private,
}

impl Privacy {
    pub fn as_str(self) -> &'static str {
        match self {
            Privacy::Public => "public",
            Privacy::Unlisted => "unlisted",
            Privacy::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "public" => Ok(Privacy::Public),
            "unlisted" => Ok(Privacy::Unlisted),
            "private" => Ok(Privacy::Private),
            other => Err(StoreError::Invalid(format!("privacy {other:?} is not public, unlisted or private"))),
        }
    }
}

/// What a URL needs to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlaybackPolicy {
    /// The URL is enough.
    #[default]
    Public,
    /// The URL needs a playback token signed with one of the owner's keys.
    Signed,
}

impl PlaybackPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PlaybackPolicy::Public => "public",
            PlaybackPolicy::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "public" => Ok(PlaybackPolicy::Public),
            "signed" => Ok(PlaybackPolicy::Signed),
            other => Err(StoreError::Invalid(format!("playback policy {other:?} is not public or signed"))),
        }
    }
}
