//! Tokens and passwords. Tokens are JWTs signed with HS256 and nothing else: a token with
//! `alg: none`, another algorithm, a bad signature, the wrong kind or an expired `exp` is
//! refused. Claims live in the payload (the client never decodes tokens, §5.2). Passwords are
//! argon2id PHC strings, hashed off the executor.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::ids::{FileId, LoginId, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::HashPool;

/// Who a valid user token says the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIdentity {
    /// The user.
    pub uid: UserId,
    /// Nickname when the token was issued.
    pub nickname: String,
    /// Avatar when the token was issued.
    pub avatar: FileId,
    /// The login (device session) the token belongs to: ending it revokes the token.
    pub login: LoginId,
}

/// What a valid session token grants: `uid` may talk in `sid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionGrant {
    /// The session.
    pub sid: SessionId,
    /// The member the token was issued to (CookIM's tokens were not bound to a user).
    pub uid: UserId,
}

#[derive(Serialize, Deserialize)]
struct UserClaims {
    kind: String,
    uid: String,
    nickname: String,
    avatar: String,
    login: String,
    iat: u64,
    exp: u64,
}

#[derive(Serialize, Deserialize)]
struct SessionClaims {
    kind: String,
    sessionid: String,
    uid: String,
    iat: u64,
    exp: u64,
}

const USER_KIND: &str = "user";
const SESSION_KIND: &str = "session";

/// Mints and checks tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A user token issued at `now_secs`.
    ///
    /// # Errors
    /// [`Error::Token`] if signing fails.
    pub fn user_token(&self, who: &UserIdentity, now_secs: u64) -> Result<String> {
        let claims = UserClaims {
            kind: USER_KIND.to_owned(),
            uid: who.uid.to_string(),
            nickname: who.nickname.clone(),
            avatar: who.avatar.to_string(),
            login: who.login.to_string(),
            iat: now_secs,
            exp: now_secs + self.ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// A session token for `grant`, issued at `now_secs`.
    ///
    /// # Errors
    /// [`Error::Token`] if signing fails.
    pub fn session_token(&self, grant: &SessionGrant, now_secs: u64) -> Result<String> {
        let claims = SessionClaims {
            kind: SESSION_KIND.to_owned(),
            sessionid: grant.sid.to_string(),
            uid: grant.uid.to_string(),
            iat: now_secs,
            exp: now_secs + self.ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks a user token: signature, algorithm, expiry, kind and non-empty fields (§5.3).
    /// `None` for any failure; the reason is not the caller's business.
    pub fn verify_user(&self, token: &str) -> Option<UserIdentity> {
        let data =
            jsonwebtoken::decode::<UserClaims>(token, &self.decoding, &self.validation).ok()?;
        let c = data.claims;
        if c.kind != USER_KIND || c.nickname.is_empty() {
            return None;
        }
        Some(UserIdentity {
            uid: UserId::parse(&c.uid).ok()?,
            nickname: c.nickname,
            avatar: FileId::parse(&c.avatar).ok()?,
            login: LoginId::parse(&c.login).ok()?,
        })
    }

    /// Checks a session token the same way.
    pub fn verify_session(&self, token: &str) -> Option<SessionGrant> {
        let data =
            jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &self.validation).ok()?;
        let c = data.claims;
        if c.kind != SESSION_KIND {
            return None;
        }
        Some(SessionGrant {
            sid: SessionId::parse(&c.sessionid).ok()?,
            uid: UserId::parse(&c.uid).ok()?,
        })
    }
}

/// Hashes a password with argon2id and a random salt, in `pool`.
///
/// # Errors
/// [`Error::Hash`] if argon2 refuses the input; [`Error::Busy`] if the pool's queue is full.
pub(crate) async fn hash_password(pool: &HashPool, password: String) -> Result<String> {
    pool.run(move || hash_now(&password))
        .await
        .map_err(|_| Error::Busy)?
}

/// Hashes a password with argon2id and a random salt on this thread (tens of milliseconds of
/// CPU, and a 19 MiB buffer this thread keeps): for tools that provision users; the server
/// goes through its pool.
///
/// # Errors
/// [`Error::Hash`] if argon2 refuses the input.
pub fn hash_now(password: &str) -> Result<String> {
    crate::password::hash(password)
}

/// Checks a password against a stored PHC string, in `pool`. A malformed stored hash never
/// matches.
///
/// # Errors
/// [`Error::Busy`] if the pool's queue is full.
pub(crate) async fn verify_password(
    pool: &HashPool,
    password: String,
    stored: String,
) -> Result<bool> {
    pool.run(move || crate::password::verify(&password, &stored))
        .await
        .map_err(|_| Error::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn who() -> UserIdentity {
        UserIdentity {
            uid: UserId::from_random([1; 12]),
            nickname: "alice".into(),
            avatar: FileId::from_random([2; 16]),
            login: LoginId::from_random([3; 16]),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    #[test]
    fn round_trip_and_kinds() -> Result<()> {
        let tokens = Tokens::new(b"secret", Duration::from_secs(900));
        let t = tokens.user_token(&who(), now())?;
        assert_eq!(tokens.verify_user(&t), Some(who()));
        assert_eq!(
            tokens.verify_session(&t),
            None,
            "a user token is not a session token"
        );
        let grant = SessionGrant {
            sid: SessionId::from_random([5; 12]),
            uid: who().uid,
        };
        let s = tokens.session_token(&grant, now())?;
        assert_eq!(tokens.verify_session(&s), Some(grant));
        assert_eq!(tokens.verify_user(&s), None);
        Ok(())
    }

    #[test]
    fn refuses_forged_expired_and_unsigned() -> TestResult {
        let tokens = Tokens::new(b"secret", Duration::from_secs(900));
        let other = Tokens::new(b"other", Duration::from_secs(900));
        assert_eq!(tokens.verify_user(&other.user_token(&who(), now())?), None);
        assert_eq!(
            tokens.verify_user(&tokens.user_token(&who(), now() - 1000)?),
            None
        );
        // alg: none with the same claims and an empty signature.
        use base64_like::encode;
        let t = tokens.user_token(&who(), now())?;
        let payload = t.split('.').nth(1).ok_or("a token has three parts")?;
        let none = format!("{}.{}.", encode(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert_eq!(tokens.verify_user(&none), None);
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"kind":"user","uid":who().uid.to_string(),"nickname":"a","avatar":who().avatar.to_string(),"login":who().login.to_string(),"iat":now(),"exp":now()+100}),
            &EncodingKey::from_secret(b"secret"),
        )?;
        assert_eq!(tokens.verify_user(&hs512), None);
        assert_eq!(tokens.verify_user(""), None);
        assert_eq!(tokens.verify_user("a.b.c"), None);
        Ok(())
    }

    /// Minimal base64url without padding, for forging test tokens.
    mod base64_like {
        pub(super) fn encode(bytes: &[u8]) -> String {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }

    #[test]
    fn passwords() -> TestResult {
        let pool = HashPool::new(1, 4)?;
        smol::block_on(async {
            let hash = hash_password(&pool, "secret1".into()).await?;
            assert!(hash.starts_with("$argon2id$"));
            assert!(verify_password(&pool, "secret1".into(), hash.clone()).await?);
            assert!(!verify_password(&pool, "secret2".into(), hash).await?);
            assert!(!verify_password(&pool, "secret1".into(), "garbage".into()).await?);
            Ok(())
        })
    }
}
