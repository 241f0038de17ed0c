//! Signed playback: who may open a signed stream or video, decided from a token in the URL.
//!
//! Two kinds of token, for two jobs:
//! - **Playback JWTs** (`?token=`), minted by the creator's backend with one of their signing
//!   keys (RS256 or EdDSA; the server keeps only the public key, `kid` in the header names it),
//!   or by the server's own key for the API's convenience endpoint. Claims: `sub` (the video or
//!   stream), `aud` (`playback`, `thumbnail`, `storyboard`), `exp`, optional `nbf`. One per
//!   viewer, checked where playback starts (the multivariant playlist, a poster).
//! - **Media tokens** (`?mt=`), an HMAC the server derives from a valid JWT and writes into
//!   every URI of the playlists it serves, so the JWT carries to media playlists, parts,
//!   segments and init segments (in hls.js and in Safari's native player alike). A media token
//!   names the video, the audience and an expiry rounded *up* to a granularity (an hour by
//!   default): every viewer whose JWT expires within the same window gets the same media URLs,
//!   so a CDN keeps one cache entry per object and window, not one per viewer. The price: a
//!   media URL stays valid up to one granularity past its JWT's `exp`.
//!
//! Why its own crate: the rules are pure (bytes and clocks in, a decision out), so they are
//! tested without HTTP or a database; the store keeps the keys, `api` asks this crate.
//! Cryptography is aws-lc-rs (the library rustls already builds here) through `jsonwebtoken`
//! for the JWT format, not hand-written.
//!
//! Knows no HTTP, no SQL, no media.

mod keys;
mod media_token;
mod refusal;
mod token;

pub use keys::{Algorithm, GeneratedKey, KeyError, ServerKey, VerifyingKey, generate};
pub use media_token::{MediaTokens, ResourceKind};
pub use refusal::Refusal;
pub use token::{Audience, Claims, PlaybackToken, key_id, verify};
