//! Password hashing: Argon2id in PHC string form, with parameters chosen for load tests.
//!
//! Parameters: memory 64 KiB (`m=64`), one pass (`t=1`), one lane (`p=1`): tens of microseconds
//! per hash, so that the register and login of every simulated user do not make the target the
//! bottleneck of a load test (with `m=1024` hashing took half the CPU of a 100-user run). That is
//! far below what a production service should use (OWASP suggests `m=19456, t=2`); the target
//! stands in for Netra, it does not guard real passwords.
//!
//! At this cost a hash runs inline on the async worker (well under the ~100 µs a task may hold
//! a worker): handing it to the blocking pool cost more in thread wake-ups and allocator
//! contention than the hash itself.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(64, 1, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
}
