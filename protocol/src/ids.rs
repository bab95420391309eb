//! Typed identifiers. Every id the client sees is pasted unescaped into URLs, so every id is
//! URL-safe (§3.4 of the spec). Ids are made from random bytes the caller supplies: this crate
//! has no RNG.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $bytes:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Number of random bytes a new id is made of.
            pub const RANDOM_BYTES: usize = $bytes;

            /// Builds a new id from random bytes (lowercase hex, twice as many characters).
            pub fn from_random(bytes: [u8; $bytes]) -> Self {
                Self(hex::encode(bytes))
            }

            /// Parses an id received from a client or a store.
            ///
            /// # Errors
            /// [`Error::InvalidId`] unless the text is lowercase hex of the expected length.
            pub fn parse(text: &str) -> Result<Self> {
                if is_hex_id(text, $bytes * 2) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(Error::InvalidId { kind: stringify!($name) })
                }
            }

            /// The id as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(text: String) -> Result<Self> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<Self> {
                Self::parse(text)
            }
        }
    };
}

hex_id!(
    /// A user (`uid`): 24 lowercase hex characters, as CookIM's ObjectId strings.
    UserId,
    12
);
hex_id!(
    /// A chat session (`sessionid`): 24 lowercase hex characters.
    SessionId,
    12
);
hex_id!(
    /// A stored message: 24 lowercase hex characters.
    MessageId,
    12
);
hex_id!(
    /// A notification: 24 lowercase hex characters.
    NotificationId,
    12
);
hex_id!(
    /// A stored file (avatar, icon, upload, thumbnail). Files are served without authentication
    /// (the stock client cannot send a token with `<img src>`), so their ids carry 128 random bits
    /// (32 hex characters) instead of CookIM's guessable ObjectIds.
    FileId,
    16
);

hex_id!(
    /// A login: one device's signed-in session, named in its user tokens. Logging out ends that
    /// one; its tokens and live sockets stop working on every node. 128 random bits, as it is
    /// a bearer's handle on the session list.
    LoginId,
    16
);

fn is_hex_id(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_text() -> Result<()> {
        let id = UserId::from_random([0xab; 12]);
        assert_eq!(id.as_str(), "abababababababababababab");
        assert_eq!(UserId::parse(id.as_str())?, id);
        for bad in [
            "",
            "ABABABABABABABABABABABAB",
            "../etc/passwd",
            "abababababababababababa",
            "ababababababababababababa",
            "%2e%2e%2fababababababababa",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} accepted");
        }
        let file = FileId::from_random([7; 16]);
        assert_eq!(file.as_str().len(), 32);
        assert!(FileId::parse(id.as_str()).is_err());
        Ok(())
    }

    #[test]
    fn serde_uses_the_plain_string() -> std::result::Result<(), serde_json::Error> {
        let id = SessionId::from_random([1; 12]);
        let json = serde_json::to_string(&id)?;
        assert_eq!(json, "\"010101010101010101010101\"");
        let back: SessionId = serde_json::from_str(&json)?;
        assert_eq!(back, id);
        assert!(serde_json::from_str::<SessionId>("\"nope\"").is_err());
        Ok(())
    }
}
