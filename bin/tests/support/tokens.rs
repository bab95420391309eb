//! Forged tokens: JWTs rebuilt from a real one (so they carry whatever claims the server
//! issues today) with one thing wrong each.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::node::SECRET;
use super::{Result, fail};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 7515 §2).
pub(crate) fn b64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Decodes base64url without padding.
pub(crate) fn unb64(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            return fail(format!("{c:?} is not base64url"));
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xff) as u8);
        }
    }
    Ok(out)
}

/// The claims of a JWT (not verified).
pub(crate) fn claims(token: &str) -> Result<Value> {
    let Some(payload) = token.split('.').nth(1) else {
        return fail(format!("{token:?} is not a JWT"));
    };
    Ok(serde_json::from_slice(&unb64(payload)?)?)
}

/// A JWT with this header and payload, signed HS256 with `secret`.
pub(crate) fn sign(header: &Value, payload: &Value, secret: &[u8]) -> Result<String> {
    let head = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)?;
    mac.update(head.as_bytes());
    Ok(format!("{head}.{}", b64(&mac.finalize().into_bytes())))
}

fn hs256() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ways a token can be bad, each built from a valid token of the right kind.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bad {
    /// The signature's bytes changed (a guess at a signature).
    Forged,
    /// `alg: none` and no signature.
    AlgNone,
    /// Signed with the real secret, but `exp` an hour ago.
    Expired,
    /// Signed with another secret.
    WrongSecret,
}

/// `token` made bad in the way `bad` says.
pub(crate) fn spoil(token: &str, bad: Bad) -> Result<String> {
    let mut payload = claims(token)?;
    match bad {
        Bad::Forged => {
            let Some((head, signature)) = token.rsplit_once('.') else {
                return fail("no signature");
            };
            let mut bytes = unb64(signature)?;
            for b in &mut bytes {
                *b ^= 0x5a;
            }
            Ok(format!("{head}.{}", b64(&bytes)))
        }
        Bad::AlgNone => {
            let head = json!({"alg": "none", "typ": "JWT"});
            Ok(format!(
                "{}.{}.",
                b64(head.to_string().as_bytes()),
                b64(payload.to_string().as_bytes())
            ))
        }
        Bad::Expired => {
            payload["iat"] = json!(now() - 7200);
            payload["exp"] = json!(now() - 3600);
            sign(&hs256(), &payload, SECRET.as_bytes())
        }
        Bad::WrongSecret => sign(
            &hs256(),
            &payload,
            b"another deployment's secret, 32+ bytes long",
        ),
    }
}

#[test]
fn base64url_round_trips() -> Result {
    for len in 0..8 {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 77 + 3) as u8).collect();
        assert_eq!(unb64(&b64(&bytes))?, bytes);
    }
    assert_eq!(b64(b"{\"a\":1}"), "eyJhIjoxfQ");
    Ok(())
}
