//! Signing key pairs: made here, the private half handed to the creator once (PKCS#8 PEM), the
//! public half (SubjectPublicKeyInfo PEM) kept to verify their tokens. Also the server's own
//! Ed25519 key, which signs the tokens the API mints for token holders.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{DecodingKey, EncodingKey};

/// The algorithms a signing key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    Rs256,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The JOSE name (`alg` in the token header).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Algorithm::Rs256),
            "EdDSA" => Some(Algorithm::EdDsa),
            _ => None,
        }
    }

    pub(crate) fn jose(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// A new key pair: the private key in PEM is shown once and never stored.
#[derive(Clone)]
pub struct GeneratedKey {
    pub algorithm: Algorithm,
    /// PKCS#8 `PRIVATE KEY` PEM.
    pub private_pem: String,
    /// SubjectPublicKeyInfo `PUBLIC KEY` PEM.
    pub public_pem: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the system could not generate a key")]
    Generate,
    #[error("not a {0} public key in PEM")]
    BadPublicKey(&'static str),
    #[error("the server's key is damaged")]
    BadServerKey,
}

/// Makes a key pair for `algorithm`.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, KeyError> {
    let (private_der, public_der) = match algorithm {
        Algorithm::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
            let private: Pkcs8V1Der = pair.as_der().map_err(|_| KeyError::Generate)?;
            let public: PublicKeyX509Der = pair.public_key().as_der().map_err(|_| KeyError::Generate)?;
            (private.as_ref().to_vec(), public.as_ref().to_vec())
        }
        Algorithm::Rs256 => {
            let pair =
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            let private: Pkcs8V1Der = pair.as_der().map_err(|_| KeyError::Generate)?;
            let public: PublicKeyX509Der = pair.public_key().as_der().map_err(|_| KeyError::Generate)?;
            (private.as_ref().to_vec(), public.as_ref().to_vec())
        }
    };
    Ok(GeneratedKey {
        algorithm,
        private_pem: pem("PRIVATE KEY", &private_der),
        public_pem: pem("PUBLIC KEY", &public_der),
    })
}

/// A stored public key, ready to check signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Reads a `PUBLIC KEY` PEM of `algorithm`.
    pub fn from_pem(algorithm: Algorithm, public_pem: &str) -> Result<Self, KeyError> {
        let key = match algorithm {
            Algorithm::Rs256 => DecodingKey::from_rsa_pem(public_pem.as_bytes()),
            Algorithm::EdDsa => DecodingKey::from_ed_pem(public_pem.as_bytes()),
        }
        .map_err(|_| KeyError::BadPublicKey(algorithm.as_str()))?;
        Ok(Self { algorithm, key })
    }
}

/// The server's own Ed25519 key: signs the playback tokens the API mints, verifies them.
#[derive(Clone)]
pub struct ServerKey {
    /// The `kid` of its tokens.
    pub id: String,
    encoding: EncodingKey,
    verifying: VerifyingKey,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl ServerKey {
    /// A new key's stored form (base64 PKCS#8), to keep in the database so every node signs alike.
    pub fn generate_stored() -> Result<String, KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generate)?;
        Ok(STANDARD.encode(doc.as_ref()))
    }

    /// The key from its stored form; `id` is its `kid`.
    pub fn from_stored(id: &str, stored: &str) -> Result<Self, KeyError> {
        let der = STANDARD.decode(stored.trim()).map_err(|_| KeyError::BadServerKey)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| KeyError::BadServerKey)?;
        let public: PublicKeyX509Der = pair.public_key().as_der().map_err(|_| KeyError::BadServerKey)?;
        let verifying = VerifyingKey::from_pem(Algorithm::EdDsa, &pem("PUBLIC KEY", public.as_ref()))?;
        Ok(Self { id: id.to_owned(), encoding: EncodingKey::from_ed_der(&der), verifying })
    }

    pub fn verifying(&self) -> &VerifyingKey {
        &self.verifying
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_pem_and_read_back() {
        for algorithm in [Algorithm::EdDsa, Algorithm::Rs256] {
            let key = generate(algorithm).expect("generate");
            assert!(key.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", key.private_pem);
            assert!(key.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
            VerifyingKey::from_pem(algorithm, &key.public_pem).expect("public key reads back");
            let other = if algorithm == Algorithm::EdDsa { Algorithm::Rs256 } else { Algorithm::EdDsa };
            assert!(VerifyingKey::from_pem(other, &key.public_pem).is_err(), "{algorithm:?} key read as {other:?}");
        }
        assert!(VerifyingKey::from_pem(Algorithm::EdDsa, "not a key").is_err());
    }

    #[test]
    fn server_key_round_trips_its_stored_form() {
        let stored = ServerKey::generate_stored().expect("generate");
        let key = ServerKey::from_stored("srv_1", &stored).expect("read");
        assert_eq!(key.id, "srv_1");
        assert!(ServerKey::from_stored("srv_1", "AAAA").is_err());
    }
}
