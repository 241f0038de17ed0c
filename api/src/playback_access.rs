//! Where playback access is decided, for videos (`/vod/ID/...`, `/v/ID`, `/embed/v/ID`) and
//! live streams (`/live/NAME/...`, `/watch/NAME`, `/embed/live/NAME`): one function,
//! [`decide`], in two steps.
//!
//! 1. **Privacy**: a private stream or video opens only for its owner (session cookie or bearer
//!    token; admins too); everyone else gets the 404 of a thing that does not exist.
//! 2. **Playback policy**: a `signed` one needs, in the URL, either a playback JWT (`?token=`,
//!    signed with one of the owner's keys or the server's own, checked by `oxcast_signing`) or a
//!    media token (`?mt=`) the server derived from one; otherwise 403 with the reason, and no
//!    byte of media. The owner needs no token (the studio previews with its session).
//!
//! A request let through on a token gets a media token back ([`Decision::Granted`]) that the
//! playlists served carry on every URI (the video routes rewrite stored playlists, the live
//! origin gets a `PlaybackGrant`), so one token on the multivariant playlist reaches every
//! media playlist, part, segment and init segment, in hls.js and in Safari's native player.
//! Media tokens are shared by every viewer whose JWT ends in the same window (see
//! `oxcast_signing`), so signed media stays cacheable by a CDN.
//!
//! Live requests are many (a part every 200 ms per viewer), so a stream's access settings are
//! cached here for [`STREAM_CACHE_TTL`]; a change through this node's API is seen at once,
//! through another node's within that time. While the database does not answer (a restart, a
//! failover), the last settings read are used for up to [`STREAM_STALE_IF_ERROR`] and the
//! database is not asked again for [`STORE_BACKOFF`], so viewers of a running stream keep
//! watching instead of each waiting out the pool's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use oxcast_ll_hls::PlaybackGrant;
use oxcast_signing::{Audience, Claims, MediaTokens, Refusal, ResourceKind, ServerKey, VerifyingKey};
use oxcast_store::{PlaybackPolicy, Privacy, Store, StoreError, StreamRecord, Video};

use crate::AppState;

/// How long a stream's access settings are reused for live requests.
pub(crate) const STREAM_CACHE_TTL: Duration = Duration::from_secs(2);
/// How old cached settings may be when the database cannot be asked.
pub(crate) const STREAM_STALE_IF_ERROR: Duration = Duration::from_secs(600);
/// After the database failed to answer, how long live requests use cached settings without
/// asking it again.
const STORE_BACKOFF: Duration = Duration::from_secs(5);
/// At most this many streams' settings are cached (the cache starts over when full).
const STREAM_CACHE_CAP: usize = 10_000;
/// The longest lifetime the API mints a playback token for.
pub(crate) const MAX_MINTED_SECONDS: i64 = 7 * 24 * 3600;

/// The secrets and caches of signed playback, made once per server from the database (every
/// node reads the same secrets).
pub struct PlaybackSigning {
    server_key: ServerKey,
    media: MediaTokens,
    /// What a node relaying another node's live stream sends in `RELAY_HEADER` (shared by
    /// every node through `server_secrets`, like the keys).
    relay: String,
    streams: Mutex<HashMap<String, (Instant, Option<StreamAccess>)>>,
    /// Until when the database is not asked for stream settings that are cached (it failed).
    store_away_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for PlaybackSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackSigning").field("server_key", &self.server_key.id).finish_non_exhaustive()
    }
}

/// Why the signing secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SigningSetupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored playback signing secret: {0}")]
    Key(#[from] oxcast_signing::KeyError),
    #[error("stored media token secret is damaged")]
    MediaSecret,
}

const SERVER_KEY_SECRET: &str = "playback_signing_key";
const SERVER_KEY_ID_SECRET: &str = "playback_signing_key_id";
const MEDIA_SECRET: &str = "media_token_key";
const RELAY_SECRET: &str = "live_relay_token";

impl PlaybackSigning {
    /// Loads (or on the very first start makes) the server's signing key and media-token
    /// secret; media tokens expire on multiples of `granularity_seconds`.
    pub async fn load(store: &Store, granularity_seconds: u64) -> Result<Self, SigningSetupError> {
        let secrets = store.server_secrets();
        let mut generated = None;
        let stored_key = secrets
            .get_or_create(SERVER_KEY_SECRET, || match ServerKey::generate_stored() {
                Ok(k) => k,
                Err(e) => {
                    generated = Some(e);
                    String::new()
                }
            })
            .await?;
        if let Some(e) = generated {
            return Err(e.into());
        }
        let key_id = secrets
            .get_or_create(SERVER_KEY_ID_SECRET, || format!("oxcast_{}", hex::encode(rand::random::<[u8; 8]>())))
            .await?;
        let media = secrets.get_or_create(MEDIA_SECRET, || hex::encode(rand::random::<[u8; 32]>())).await?;
        let media = hex::decode(media.trim()).map_err(|_| SigningSetupError::MediaSecret)?;
        if media.len() < 32 {
            return Err(SigningSetupError::MediaSecret);
        }
        let relay = secrets.get_or_create(RELAY_SECRET, || hex::encode(rand::random::<[u8; 32]>())).await?;
        Ok(Self {
            server_key: ServerKey::from_stored(&key_id, &stored_key)?,
            media: MediaTokens::new(&media, granularity_seconds),
            relay,
            streams: Mutex::new(HashMap::new()),
            store_away_until: Mutex::new(None),
        })
    }

    /// The token a relaying node sends in [`oxcast_ll_hls::RELAY_HEADER`].
    pub fn relay_token(&self) -> &str {
        &self.relay
    }

    /// A playback token signed with the server's key.
    pub(crate) fn mint(&self, claims: &Claims) -> String {
        self.server_key.mint(claims)
    }

    /// This node changed a stream's access: drop what is cached of it.
    pub(crate) fn forget_stream(&self, name: &str) {
        if let Ok(mut cache) = self.streams.lock() {
            cache.remove(name);
        }
    }

    async fn stream(&self, store: &Store, name: &str) -> Result<Option<StreamAccess>, StoreError> {
        let cached = self.streams.lock().ok().and_then(|cache| cache.get(name).cloned());
        let store_away = self.store_away_until.lock().ok().and_then(|t| *t).is_some_and(|t| Instant::now() < t);
        if let Some((at, access)) = &cached
            && (at.elapsed() < STREAM_CACHE_TTL || (store_away && at.elapsed() < STREAM_STALE_IF_ERROR))
        {
            return Ok(access.clone());
        }
        let access = match store.streams().get(name).await {
            Ok(stream) => stream.map(|s| StreamAccess::from(&s)),
            Err(e) => {
                let Some((at, access)) = cached.filter(|(at, _)| at.elapsed() < STREAM_STALE_IF_ERROR) else {
                    return Err(e);
                };
                tracing::warn!(stream = %name, error = %e, age_seconds = at.elapsed().as_secs(),
                    "cannot read the stream's access settings; using the last ones read");
                if let Ok(mut away) = self.store_away_until.lock() {
                    *away = Some(Instant::now() + STORE_BACKOFF);
                }
                return Ok(access);
            }
        };
        if let Ok(mut cache) = self.streams.lock() {
            if cache.len() >= STREAM_CACHE_CAP {
                cache.clear();
            }
            cache.insert(name.to_owned(), (Instant::now(), access.clone()));
        }
        Ok(access)
    }
}

/// What access needs to know of a stream.
#[derive(Debug, Clone)]
struct StreamAccess {
    name: String,
    owner_id: Option<String>,
    privacy: Privacy,
    playback: PlaybackPolicy,
}

impl From<&StreamRecord> for StreamAccess {
    fn from(s: &StreamRecord) -> Self {
        Self { name: s.name.clone(), owner_id: s.owner_id.clone(), privacy: s.privacy, playback: s.playback }
    }
}

/// The thing being opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub kind: ResourceKind,
    /// The video id or the stream name (the JWT's `sub`).
    pub id: &'a str,
    pub owner_id: Option<&'a str>,
    pub privacy: Privacy,
    pub playback: PlaybackPolicy,
}

impl<'a> Subject<'a> {
    pub(crate) fn video(v: &'a Video) -> Self {
        Self {
            kind: ResourceKind::Video,
            id: &v.id,
            owner_id: Some(&v.owner_id),
            privacy: v.details.privacy,
            playback: v.details.playback,
        }
    }

    fn stream(s: &'a StreamAccess) -> Self {
        Self {
            kind: ResourceKind::Stream,
            id: &s.name,
            owner_id: s.owner_id.as_deref(),
            privacy: s.privacy,
            playback: s.playback,
        }
    }
}

/// The request may open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No token involved, and the same for everyone (public).
    Open,
    /// Opened because of who asks (the owner, or an admin, by session or bearer token), not
    /// because of the URL: answers must not be kept by shared caches.
    Owner,
    /// On a token: the media token the served playlists' URIs carry, its expiry (Unix seconds),
    /// and the playback token's expiry (for media tokens of other audiences the page needs);
    /// `private` when the subject is private (the owner's identity was needed too).
    Granted { mt: String, expires: u64, token_exp: u64, private: bool },
}

impl Decision {
    /// `?mt=...` for a URL the page hands the player, or nothing.
    pub(crate) fn query(&self) -> String {
        match self {
            Decision::Open | Decision::Owner => String::new(),
            Decision::Granted { mt, .. } => format!("?mt={mt}"),
        }
    }

    /// A media token for another audience of the same subject (the page's poster and storyboard).
    pub(crate) fn query_for(&self, signing: &PlaybackSigning, subject: &Subject<'_>, audience: Audience) -> String {
        match self {
            Decision::Open | Decision::Owner => String::new(),
            Decision::Granted { token_exp, .. } => {
                format!("?mt={}", signing.media.issue(audience, subject.kind, subject.id, *token_exp))
            }
        }
    }

    pub(crate) fn grant(&self) -> PlaybackGrant {
        match self {
            Decision::Open => PlaybackGrant::default(),
            Decision::Owner => PlaybackGrant { private: true, ..PlaybackGrant::default() },
            Decision::Granted { mt, expires, private, .. } => PlaybackGrant {
                uri_query: Some(format!("mt={mt}")),
                max_age: Some(expires.saturating_sub(now())),
                private: *private,
            },
        }
    }
}

/// The request may not open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// Private and not the owner (or missing): the same answer as for nothing at all.
    NotFound,
    /// Signed, and the URL's token does not open it.
    Refused(Refusal),
    /// The database could not be asked.
    Unavailable,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Denied::NotFound => (StatusCode::NOT_FOUND, "not found".to_owned()),
            Denied::Refused(why) => (StatusCode::FORBIDDEN, why.to_string()),
            Denied::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "try again shortly".to_owned()),
        };
        let mut r = (status, format!("{text}\n")).into_response();
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

fn now() -> u64 {
    u64::try_from(oxcast_media::clock::unix_seconds()).unwrap_or_default()
}

/// The value of `name` in the request's query (tokens are URL-safe; no decoding needed).
fn query_value<'q>(parts: &'q Parts, name: &str) -> Option<&'q str> {
    parts.uri.query()?.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

async fn is_owner(state: &AppState, parts: &Parts, owner_id: Option<&str>) -> bool {
    matches!(crate::auth::authenticate(parts, state).await, Ok(Some(caller)) if caller.can_see(owner_id))
}

/// May this request open `subject` for `audience`? See the module doc.
pub(crate) async fn decide(
    state: &AppState,
    parts: &Parts,
    subject: &Subject<'_>,
    audience: Audience,
) -> Result<Decision, Denied> {
    let private = subject.privacy == Privacy::Private;
    if private && !is_owner(state, parts, subject.owner_id).await {
        return Err(Denied::NotFound);
    }
    if subject.playback == PlaybackPolicy::Public {
        return Ok(if private { Decision::Owner } else { Decision::Open });
    }
    let signing = &state.playback;
    let now = now();
    if let Some(mt) = query_value(parts, "mt") {
        return match signing.media.check(mt, audience, subject.kind, subject.id, now) {
            Ok(expires) => Ok(Decision::Granted { mt: mt.to_owned(), expires, token_exp: expires, private }),
            Err(why) => Err(Denied::Refused(why)),
        };
    }
    if let Some(token) = query_value(parts, "token") {
        let claims = verify_token(state, token, subject, audience, now).await?;
        let mt = signing.media.issue(audience, subject.kind, subject.id, claims.exp);
        let expires = signing.media.window_end(claims.exp);
        return Ok(Decision::Granted { mt, expires, token_exp: claims.exp, private });
    }
    // The owner needs no token (for a private subject that was checked above).
    if private || is_owner(state, parts, subject.owner_id).await {
        return Ok(Decision::Owner);
    }
    Err(Denied::Refused(Refusal::Missing))
}

/// The claims of a playback JWT for `subject`, checked with the key its `kid` names: the
/// server's own, or one of the subject owner's keys that is neither revoked nor rotated out.
async fn verify_token(
    state: &AppState,
    token: &str,
    subject: &Subject<'_>,
    audience: Audience,
    now: u64,
) -> Result<Claims, Denied> {
    let (kid, _) = oxcast_signing::key_id(token).map_err(Denied::Refused)?;
    let signing = &state.playback;
    let key = if kid == signing.server_key.id {
        signing.server_key.verifying().clone()
    } else {
        let stored = state.store.signing_keys().get(&kid).await.map_err(|_| Denied::Unavailable)?;
        let Some(stored) = stored.filter(|k| Some(k.owner_id.as_str()) == subject.owner_id) else {
            return Err(Denied::Refused(Refusal::UnknownKey));
        };
        if !stored.usable_at(i64::try_from(now).unwrap_or(i64::MAX)) {
            return Err(Denied::Refused(Refusal::RevokedKey));
        }
        let algorithm = oxcast_signing::Algorithm::parse(&stored.algorithm).ok_or(Denied::Unavailable)?;
        VerifyingKey::from_pem(algorithm, &stored.public_key).map_err(|_| Denied::Unavailable)?
    };
    oxcast_signing::verify(token, &key, subject.id, audience, now).map(|t| t.claims).map_err(Denied::Refused)
}

/// The audience a video's object belongs to, by its name.
pub(crate) fn audience_of(path: &str) -> Audience {
    let file = path.rsplit('/').next().unwrap_or(path);
    if file == oxcast_vod::layout::POSTER {
        Audience::Thumbnail
    } else if file == oxcast_vod::layout::STORYBOARD_IMAGE || file == oxcast_vod::layout::STORYBOARD_TRACK {
        Audience::Storyboard
    } else {
        Audience::Playback
    }
}

/// The storyboard track with the media token on the sprite's cue URLs.
pub(crate) fn storyboard_with_query(track: &str, query: &str) -> String {
    let sprite = format!("{}#", oxcast_vod::layout::STORYBOARD_IMAGE);
    let mut out = String::with_capacity(track.len() + track.len() / 4);
    for line in track.lines() {
        match line.strip_prefix(oxcast_vod::layout::STORYBOARD_IMAGE) {
            Some(rest) if line.starts_with(&sprite) => {
                out.push_str(oxcast_vod::layout::STORYBOARD_IMAGE);
                out.push('?');
                out.push_str(query);
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A poster URL for listings: signed videos' carry a thumbnail media token minted for the
/// listing (valid for at least one window).
pub(crate) fn listed_poster(signing: &PlaybackSigning, video: &Video) -> Option<String> {
    video.poster_key.as_ref()?;
    Some(poster_url(signing, &video.id, video.details.playback == PlaybackPolicy::Signed))
}

/// A video's poster URL for a listing (or search results): with a thumbnail media token of its
/// own when the video is signed.
pub(crate) fn poster_url(signing: &PlaybackSigning, id: &str, signed: bool) -> String {
    let url = format!("/vod/{id}/{}", oxcast_vod::layout::POSTER);
    if !signed {
        return url;
    }
    let exp = now() + signing.media.granularity();
    format!("{url}?mt={}", signing.media.issue(Audience::Thumbnail, ResourceKind::Video, id, exp))
}

/// The layer in front of the LL-HLS origin: `/live/NAME/...` requests pass [`decide`] first.
pub(crate) async fn live(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(name) = request.uri().path().strip_prefix("/live/").and_then(|rest| rest.split('/').next()) else {
        return next.run(request).await;
    };
    let name = name.to_owned();
    let mut request = request;
    if let Some(sent) = request.headers().get(oxcast_ll_hls::RELAY_HEADER) {
        if crate::auth::constant_time_eq(sent.as_bytes(), state.playback.relay_token().as_bytes()) {
            // Another node of this cluster, relaying to viewers it has checked itself.
            return next.run(request).await;
        }
        // Not a node: an ordinary viewer (counted, and relayed if need be).
        request.headers_mut().remove(oxcast_ll_hls::RELAY_HEADER);
    }
    let access = match state.playback.stream(&state.store, &name).await {
        Ok(Some(access)) => access,
        // The origin answers 404 for streams it does not serve.
        Ok(None) => return next.run(request).await,
        Err(_) => return Denied::Unavailable.into_response(),
    };
    let (mut parts, body) = request.into_parts();
    match decide(&state, &parts, &Subject::stream(&access), Audience::Playback).await {
        Ok(Decision::Open) => next.run(Request::from_parts(parts, body)).await,
        Ok(decision) => {
            parts.extensions.insert(decision.grant());
            next.run(Request::from_parts(parts, body)).await
        }
        Err(denied) => denied.into_response(),
    }
}

/// A stream's access for the pages (`/watch/NAME`, `/embed/live/NAME`): the decision, or the
/// denial; `Ok(None)` when there is no such stream.
pub(crate) async fn stream_page(state: &AppState, parts: &Parts, name: &str) -> Result<Option<Decision>, Denied> {
    let Some(access) = state.playback.stream(&state.store, name).await.map_err(|_| Denied::Unavailable)? else {
        return Ok(None);
    };
    decide(state, parts, &Subject::stream(&access), Audience::Playback).await.map(Some)
}

/// Shared handle type in [`AppState`].
pub type Signing = Arc<PlaybackSigning>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_map_to_their_audience() {
        assert_eq!(audience_of("poster.jpg"), Audience::Thumbnail);
        assert_eq!(audience_of("storyboard.jpg"), Audience::Storyboard);
        assert_eq!(audience_of("storyboard.vtt"), Audience::Storyboard);
        assert_eq!(audience_of("index.m3u8"), Audience::Playback);
        assert_eq!(audience_of("720p/seg-1.m4s"), Audience::Playback);
        assert_eq!(audience_of("subs/en.vtt"), Audience::Playback);
    }

    #[test]
    fn storyboard_cues_carry_the_token() {
        let track = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90\n";
        assert_eq!(
            storyboard_with_query(track, "mt=1.x"),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg?mt=1.x#xywh=0,0,160,90\n"
        );
    }
}
