//! Playback JWTs: reading the header's `kid` (to look the key up), checking a token against a
//! key, a subject and an audience at a given time, and minting one with the server's key.
//!
//! The time checks are done here with an explicit `now` (not by `jsonwebtoken`'s clock), so the
//! rules are tested without waiting: `exp` is required, `nbf` optional, both with
//! [`LEEWAY_SECONDS`] for clocks that disagree a little.

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::{ServerKey, VerifyingKey};
use crate::refusal::Refusal;

/// Allowed disagreement between the minting backend's clock and ours.
pub const LEEWAY_SECONDS: u64 = 5;

/// What a token may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Playlists, init segments, segments, parts, caption tracks.
    Playback,
    /// The poster.
    Thumbnail,
    /// The storyboard sprite and its WebVTT track.
    Storyboard,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Playback => "playback",
            Audience::Thumbnail => "thumbnail",
            Audience::Storyboard => "storyboard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "playback" => Some(Audience::Playback),
            "thumbnail" => Some(Audience::Thumbnail),
            "storyboard" => Some(Audience::Storyboard),
            _ => None,
        }
    }
}

/// `aud` may be one string or a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

impl Aud {
    fn contains(&self, audience: Audience) -> bool {
        match self {
            Aud::One(a) => a == audience.as_str(),
            Aud::Many(list) => list.iter().any(|a| a == audience.as_str()),
        }
    }
}

/// The claims of a playback token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The stream or video id.
    pub sub: String,
    aud: Aud,
    /// Unix seconds.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

impl Claims {
    pub fn new(sub: &str, audience: Audience, exp: u64, nbf: Option<u64>) -> Self {
        Self { sub: sub.to_owned(), aud: Aud::One(audience.as_str().to_owned()), exp, nbf }
    }
}

/// The `kid` of a token's header (which key to look up), and its `alg`.
pub fn key_id(token: &str) -> Result<(String, String), Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
    let kid = header.kid.ok_or(Refusal::UnknownKey)?;
    let alg = format!("{:?}", header.alg);
    Ok((kid, alg))
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct PlaybackToken {
    pub claims: Claims,
}

/// Checks `token` against `key` for `subject` and `audience` at `now` (Unix seconds).
pub fn verify(
    token: &str,
    key: &VerifyingKey,
    subject: &str,
    audience: Audience,
    now: u64,
) -> Result<PlaybackToken, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
    if header.alg != key.algorithm.jose() {
        return Err(Refusal::WrongAlgorithm);
    }
    let mut validation = Validation::new(key.algorithm.jose());
    // Times, audience and subject are checked below, against `now`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => Refusal::BadSignature,
            ErrorKind::InvalidAlgorithm => Refusal::WrongAlgorithm,
            _ => Refusal::Malformed,
        }
    })?;
    let claims = data.claims;
    if now > claims.exp.saturating_add(LEEWAY_SECONDS) {
        return Err(Refusal::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now.saturating_add(LEEWAY_SECONDS) < nbf) {
        return Err(Refusal::NotYetValid);
    }
    if claims.sub != subject {
        return Err(Refusal::WrongSubject);
    }
    if !claims.aud.contains(audience) {
        return Err(Refusal::WrongAudience);
    }
    Ok(PlaybackToken { claims })
}

impl ServerKey {
    /// A playback token for `claims`, signed with the server's key.
    pub fn mint(&self, claims: &Claims) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.id.clone());
        // Signing with a key we just read cannot fail but for a broken library.
        jsonwebtoken::encode(&header, claims, self.encoding()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::EncodingKey;

    use super::*;
    use crate::keys::{Algorithm, generate};

    fn sign(private_pem: &str, algorithm: Algorithm, kid: &str, claims: &serde_json::Value) -> String {
        let key = match algorithm {
            Algorithm::EdDsa => EncodingKey::from_ed_pem(private_pem.as_bytes()),
            Algorithm::Rs256 => EncodingKey::from_rsa_pem(private_pem.as_bytes()),
        }
        .expect("private key");
        let mut header = Header::new(algorithm.jose());
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    #[test]
    fn every_rule_of_a_playback_token() {
        for algorithm in [Algorithm::EdDsa, Algorithm::Rs256] {
            let pair = generate(algorithm).expect("key");
            let key = VerifyingKey::from_pem(algorithm, &pair.public_pem).expect("public");
            let now = 1_900_000_000u64;
            let token = |claims: serde_json::Value| sign(&pair.private_pem, algorithm, "k1", &claims);
            let good = token(serde_json::json!({"sub": "v_1", "aud": "playback", "exp": now + 60}));
            assert_eq!(key_id(&good).expect("kid").0, "k1");
            let ok = verify(&good, &key, "v_1", Audience::Playback, now).expect("valid token");
            assert_eq!(ok.claims.exp, now + 60);
            let list = token(serde_json::json!({"sub": "v_1", "aud": ["thumbnail", "playback"], "exp": now + 60}));
            assert!(verify(&list, &key, "v_1", Audience::Playback, now).is_ok());
            assert_eq!(verify(&good, &key, "v_2", Audience::Playback, now).unwrap_err(), Refusal::WrongSubject);
            assert_eq!(verify(&good, &key, "v_1", Audience::Thumbnail, now).unwrap_err(), Refusal::WrongAudience);
            assert_eq!(
                verify(&good, &key, "v_1", Audience::Playback, now + 60 + LEEWAY_SECONDS + 1).unwrap_err(),
                Refusal::Expired
            );
            let later = token(serde_json::json!({"sub": "v_1", "aud": "playback", "exp": now + 600, "nbf": now + 60}));
            assert_eq!(verify(&later, &key, "v_1", Audience::Playback, now).unwrap_err(), Refusal::NotYetValid);
            assert!(verify(&later, &key, "v_1", Audience::Playback, now + 60).is_ok());
            let no_exp = token(serde_json::json!({"sub": "v_1", "aud": "playback"}));
            assert_eq!(verify(&no_exp, &key, "v_1", Audience::Playback, now).unwrap_err(), Refusal::Malformed);
            // Another key of the same algorithm: a bad signature.
            let other = generate(algorithm).expect("key");
            let forged = sign(
                &other.private_pem,
                algorithm,
                "k1",
                &serde_json::json!({"sub": "v_1", "aud": "playback", "exp": now + 60}),
            );
            assert_eq!(verify(&forged, &key, "v_1", Audience::Playback, now).unwrap_err(), Refusal::BadSignature);
            // A flipped byte in the payload.
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            parts[1].insert(0, 'e');
            assert!(verify(&parts.join("."), &key, "v_1", Audience::Playback, now).is_err());
            assert_eq!(verify("garbage", &key, "v_1", Audience::Playback, now).unwrap_err(), Refusal::Malformed);
        }
    }

    #[test]
    fn an_algorithm_other_than_the_keys_is_refused() {
        let ed = generate(Algorithm::EdDsa).expect("key");
        let rsa = generate(Algorithm::Rs256).expect("key");
        let now = 1_900_000_000u64;
        let claims = serde_json::json!({"sub": "v_1", "aud": "playback", "exp": now + 60});
        let rsa_token = sign(&rsa.private_pem, Algorithm::Rs256, "k", &claims);
        let ed_key = VerifyingKey::from_pem(Algorithm::EdDsa, &ed.public_pem).expect("public");
        assert_eq!(verify(&rsa_token, &ed_key, "v_1", Audience::Playback, now).unwrap_err(), Refusal::WrongAlgorithm);
        // HS256 signed with the public key as the secret (the classic confusion attack).
        let hs = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(ed.public_pem.as_bytes()).expect("hmac key"),
        )
        .expect("sign");
        assert_eq!(verify(&hs, &ed_key, "v_1", Audience::Playback, now).unwrap_err(), Refusal::WrongAlgorithm);
    }

    #[test]
    fn the_server_key_mints_tokens_it_verifies() {
        let key = ServerKey::from_stored("srv", &ServerKey::generate_stored().expect("gen")).expect("key");
        let token = key.mint(&Claims::new("v_9", Audience::Thumbnail, 2_000_000_000, None));
        assert_eq!(key_id(&token).expect("kid").0, "srv");
        assert!(verify(&token, key.verifying(), "v_9", Audience::Thumbnail, 1_999_999_000).is_ok());
    }
}
