//! API tokens: what `POST /api/token` hands out and `X-Authorization` carries.
//!
//! A token is `bt1.<key id>.<expiry, epoch seconds>.<HMAC-SHA256 of the rest, base64url>`,
//! signed with a server secret kept in the database (shared by every node). It names its
//! key, so revoking the key ends the token at once; it never contains the key's secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "bt1";

/// Longest token accepted for parsing (a key id is a UUID; this leaves room and stops waste).
pub const MAX_TOKEN_LEN: usize = 256;

/// The claims of a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub key_id: String,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// Why a token was refused; the SDKs renew on `Expired` (EXPIRED_TOKEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

fn mac(signing_key: &[u8], payload: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(signing_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(payload.as_bytes());
    m
}

pub fn sign(signing_key: &[u8], key_id: &str, expires_at: i64) -> String {
    let payload = format!("{PREFIX}.{key_id}.{expires_at}");
    let tag = mac(signing_key, &payload).finalize().into_bytes();
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag);
    format!("{payload}.{tag}")
}

/// Checks the signature (in constant time) and then the expiry against `now` (epoch seconds).
pub fn verify(signing_key: &[u8], token: &str, now: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (payload, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    mac(signing_key, payload)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    let mut parts = payload.splitn(3, '.');
    let (Some(PREFIX), Some(key_id), Some(exp)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let expires_at: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
    if expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok(Claims {
        key_id: key_id.to_string(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let t = sign(b"k1", "key-a", 1000);
        assert_eq!(
            verify(b"k1", &t, 999),
            Ok(Claims {
                key_id: "key-a".into(),
                expires_at: 1000
            })
        );
        assert_eq!(verify(b"k1", &t, 1000), Err(TokenError::Expired));
        assert!(!t.contains("k1"), "the signing key is not in the token");
    }

    #[test]
    fn changed_tokens_and_other_keys_are_refused() {
        let t = sign(b"k1", "key-a", 1000);
        assert_eq!(verify(b"k2", &t, 1), Err(TokenError::BadSignature));
        let forged = t.replace("key-a", "key-b");
        assert_eq!(verify(b"k1", &forged, 1), Err(TokenError::BadSignature));
        let extended = t.replace(".1000.", ".9999.");
        assert_eq!(verify(b"k1", &extended, 1), Err(TokenError::BadSignature));
        assert_eq!(verify(b"k1", "garbage", 1), Err(TokenError::Malformed));
        assert_eq!(verify(b"k1", "a.b.c.!!", 1), Err(TokenError::Malformed));
        assert_eq!(
            verify(b"k1", &"x".repeat(300), 1),
            Err(TokenError::Malformed)
        );
    }
}
