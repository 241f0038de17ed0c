//! Standard Webhooks signatures (standardwebhooks.com): the signed content is
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, the key is the base64 after `whsec_`, the
//! signature header is `v1,` + base64(HMAC-SHA256).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The endpoint secret is not `whsec_` + base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook secret is not whsec_ followed by base64")]
pub struct BadSecret;

/// The `webhook-signature` value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let key = secret.strip_prefix("whsec_").ok_or(BadSecret)?;
    let key = STANDARD.decode(key).map_err(|_| BadSecret)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_to_its_published_signature() {
        // The example in the Standard Webhooks specification (and its libraries' tests).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(sign(secret, id, 1614265330, body).unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        assert_eq!(sign("MfKQ9r8GKYqrTwjU", "m", 1, "{}"), Err(BadSecret));
        assert_eq!(sign("whsec_%%%", "m", 1, "{}"), Err(BadSecret));
    }
}
