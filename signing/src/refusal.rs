//! Why a token was refused: one message per reason, safe to show the viewer (it names no key
//! material and says nothing about the media).

/// A refused playback request (answered with 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this media needs a signed playback token (?token=)")]
    Missing,
    #[error("the playback token is malformed")]
    Malformed,
    #[error("the playback token has expired")]
    Expired,
    #[error("the playback token is not valid yet")]
    NotYetValid,
    #[error("the playback token is for another stream or video")]
    WrongSubject,
    #[error("the playback token is for another use (aud)")]
    WrongAudience,
    #[error("the playback token is signed with an unknown key")]
    UnknownKey,
    #[error("the playback token's signing key was revoked")]
    RevokedKey,
    #[error("the playback token's signature is not valid")]
    BadSignature,
    #[error("the playback token uses an algorithm other than its key's")]
    WrongAlgorithm,
}
