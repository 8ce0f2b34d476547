//! Password hashing: Argon2id in PHC string form, with parameters chosen for load tests.
//!
//! Parameters: memory 1 MiB (`m=1024`), one pass (`t=1`), one lane (`p=1`): about a millisecond
//! per hash on this class of machine, so a thousand registrations plus logins cost seconds of
//! CPU, not minutes. That is far below what a production service should use (OWASP suggests
//! `m=19456, t=2`); the target stands in for Netra, it does not guard real passwords. Hashing
//! runs on the blocking pool so that it never stalls the async workers serving other users.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(1024, 1, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .expect("hashing with valid parameters cannot fail")
            .to_string()
    })
    .await
    .expect("password hashing task does not panic")
}

pub async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}
