//! argon2id password hashes (PHC strings) computed in one memory buffer per thread.
//!
//! argon2's own `hash_password` allocates its 19 MiB of blocks for every hash and frees them
//! after. glibc then keeps most of that memory (the freed buffer raises its mmap threshold, so
//! the next ones come from a heap it does not give back): ten registrations left a node 155 MiB
//! bigger. Here each thread that hashes keeps one buffer and hashes into it, so a node holds
//! one buffer per hashing thread (see `limits::hashing`), whatever the number of logins.

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{Error, Result};

thread_local! {
    /// This thread's argon2 blocks, grown to the largest cost it has hashed with.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with `params` into `out`, in this thread's buffer.
fn hash_into(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<()> {
    BLOCKS.with_borrow_mut(|blocks| {
        let needed = params.block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        let memory = blocks.get_mut(..needed).unwrap_or_default();
        argon
            .hash_password_into_with_memory(password, salt, out, memory)
            .map_err(|e| Error::Hash(e.to_string()))
    })
}

/// A new argon2id hash (default parameters, random 16-byte salt) of `password`, as a PHC
/// string, the same as `argon2`'s own `hash_password` makes.
///
/// # Errors
/// [`Error::Hash`] if argon2 refuses the input.
pub(crate) fn hash(password: &str) -> Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| Error::Hash(e.to_string()))?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon, &params, password.as_bytes(), &salt_bytes, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| Error::Hash(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| Error::Hash(e.to_string()))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant and parameters it
/// names; compared in constant time). A malformed stored hash never matches.
pub(crate) fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if hash_into(&argon, &params, password.as_bytes(), salt, &mut out).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[test]
    fn our_hashes_verify_with_argon2_and_argon2s_with_ours() -> Result<()> {
        let ours = hash("secret1")?;
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(verify("secret1", &ours));
        assert!(!verify("secret2", &ours));
        let parsed = PasswordHash::new(&ours).map_err(|e| Error::Hash(e.to_string()))?;
        assert!(
            argon2::password_hash::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"secret1",
                &parsed
            )
            .is_ok(),
            "argon2's own verifier accepts our hash"
        );
        let salt = SaltString::encode_b64(&[7; 16]).map_err(|e| Error::Hash(e.to_string()))?;
        let theirs = Argon2::default()
            .hash_password(b"hunter42", &salt)
            .map_err(|e| Error::Hash(e.to_string()))?
            .to_string();
        assert!(verify("hunter42", &theirs));
        // Other parameters (an older or stronger setting) verify too, in a grown buffer.
        let strong = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 3, 1, None).map_err(|e| Error::Hash(e.to_string()))?,
        )
        .hash_password(b"hunter42", &salt)
        .map_err(|e| Error::Hash(e.to_string()))?
        .to_string();
        assert!(verify("hunter42", &strong) && !verify("hunter43", &strong));
        Ok(())
    }

    #[test]
    fn malformed_stored_hashes_never_match() {
        for stored in [
            "",
            "garbage",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "$argon2id$v=19$m=19456,t=2,p=1$",
        ] {
            assert!(!verify("secret1", stored), "{stored:?}");
        }
    }
}
