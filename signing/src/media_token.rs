//! Media tokens: the `?mt=` the server writes into the playlists of signed media.
//!
//! `mt = EXP "." base64url(HMAC-SHA256(secret, "oxcast-mt1|AUD|KIND|ID|EXP")[..16])`, where EXP
//! is the playback token's `exp` rounded up to the granularity. Everything a media token says is
//! in its URL, so checking one needs no database and no per-viewer state, and two viewers whose
//! tokens expire in the same window get byte-identical media URLs (one CDN cache entry).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::refusal::Refusal;
use crate::token::Audience;

/// What a token names: the two kinds have separate id spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Video,
    Stream,
}

impl ResourceKind {
    fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Video => "video",
            ResourceKind::Stream => "stream",
        }
    }
}

/// Signs and checks media tokens with the server's secret (shared by every node).
#[derive(Clone)]
pub struct MediaTokens {
    key: hmac::Key,
    granularity: u64,
}

impl std::fmt::Debug for MediaTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaTokens").field("granularity", &self.granularity).finish_non_exhaustive()
    }
}

const SIGNATURE_BYTES: usize = 16;

impl MediaTokens {
    /// `secret`: at least 32 random bytes; `granularity_seconds`: the expiry rounding (≥ 1).
    pub fn new(secret: &[u8], granularity_seconds: u64) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret), granularity: granularity_seconds.max(1) }
    }

    pub fn granularity(&self) -> u64 {
        self.granularity
    }

    fn signature(&self, audience: Audience, kind: ResourceKind, id: &str, exp: u64) -> String {
        let message = format!("oxcast-mt1|{}|{}|{id}|{exp}", audience.as_str(), kind.as_str());
        let tag = hmac::sign(&self.key, message.as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..SIGNATURE_BYTES])
    }

    /// The expiry a token valid until `exp` maps to: `exp` rounded up to the granularity.
    pub fn window_end(&self, exp: u64) -> u64 {
        exp.div_ceil(self.granularity).saturating_mul(self.granularity)
    }

    /// A media token for `id` and `audience`, for a playback token that expires at `exp`.
    pub fn issue(&self, audience: Audience, kind: ResourceKind, id: &str, exp: u64) -> String {
        let exp = self.window_end(exp);
        format!("{exp}.{}", self.signature(audience, kind, id, exp))
    }

    /// Checks `token` for `id` and `audience` at `now`; returns when it expires.
    pub fn check(
        &self,
        token: &str,
        audience: Audience,
        kind: ResourceKind,
        id: &str,
        now: u64,
    ) -> Result<u64, Refusal> {
        let (exp, signature) = token.split_once('.').ok_or(Refusal::Malformed)?;
        let exp: u64 = exp.parse().map_err(|_| Refusal::Malformed)?;
        let expected = self.signature(audience, kind, id, exp);
        // Compared in constant time: the signature is the secret part.
        let given = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refusal::Malformed)?;
        let wanted = URL_SAFE_NO_PAD.decode(&expected).map_err(|_| Refusal::Malformed)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(&given, &wanted).is_err() {
            return Err(Refusal::BadSignature);
        }
        if now >= exp {
            return Err(Refusal::Expired);
        }
        Ok(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_in_one_window_share_their_media_token() {
        let tokens = MediaTokens::new(&[7u8; 32], 3600);
        let a = tokens.issue(Audience::Playback, ResourceKind::Video, "v_1", 7_200_000_100);
        let b = tokens.issue(Audience::Playback, ResourceKind::Video, "v_1", 7_200_003_000);
        assert_eq!(a, b, "two expiries in one hour: one URL");
        assert!(a.starts_with("7200003600."), "{a}");
        let c = tokens.issue(Audience::Playback, ResourceKind::Video, "v_1", 7_200_003_601);
        assert_ne!(a, c);
        assert_eq!(tokens.window_end(7_200_003_600), 7_200_003_600, "a boundary stays");
    }

    #[test]
    fn a_media_token_opens_only_what_it_names_until_it_expires() {
        let tokens = MediaTokens::new(&[7u8; 32], 60);
        let t = tokens.issue(Audience::Playback, ResourceKind::Video, "v_1", 1000);
        assert_eq!(tokens.check(&t, Audience::Playback, ResourceKind::Video, "v_1", 1000), Ok(1020));
        assert_eq!(tokens.check(&t, Audience::Playback, ResourceKind::Video, "v_1", 1020), Err(Refusal::Expired));
        assert_eq!(tokens.check(&t, Audience::Playback, ResourceKind::Video, "v_2", 1000), Err(Refusal::BadSignature));
        assert_eq!(tokens.check(&t, Audience::Thumbnail, ResourceKind::Video, "v_1", 1000), Err(Refusal::BadSignature));
        assert_eq!(tokens.check(&t, Audience::Playback, ResourceKind::Stream, "v_1", 1000), Err(Refusal::BadSignature));
        let other_secret = MediaTokens::new(&[8u8; 32], 60);
        assert_eq!(
            other_secret.check(&t, Audience::Playback, ResourceKind::Video, "v_1", 1000),
            Err(Refusal::BadSignature)
        );
        // A later expiry with the old signature does not pass.
        let (_, sig) = t.split_once('.').expect("dot");
        let stretched = format!("999999.{sig}");
        assert_eq!(
            tokens.check(&stretched, Audience::Playback, ResourceKind::Video, "v_1", 1000),
            Err(Refusal::BadSignature)
        );
        for bad in ["", "1020", "x.y", "1020.%%%"] {
            assert_eq!(
                tokens.check(bad, Audience::Playback, ResourceKind::Video, "v_1", 1000),
                Err(Refusal::Malformed)
            );
        }
    }
}
