//! Password hashing: Argon2id in PHC string form, with parameters chosen for load tests.
//!
//! Parameters: memory 64 KiB (`m=64`), one pass (`t=1`), one lane (`p=1`): tens of microseconds
//! per hash, so that the register and login of every simulated user do not make the target the
//! bottleneck of a load test (with `m=1024` hashing took half the CPU of a 100-user run). That is
//! far below what a production service should use (OWASP suggests `m=19456, t=2`); the target
//! stands in for Netra, it does not guard real passwords.
//!
//! Hashing runs on the blocking pool, so it never stalls the async workers serving other users,
//! and at most one hash per core runs at once: more would only add threads and memory.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

fn hasher() -> Argon2<'static> {
    let params = Params::new(64, 1, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Admits one hash per core at a time.
pub struct Hashing(Semaphore);

impl Default for Hashing {
    fn default() -> Self {
        Hashing(Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
    }
}

impl Hashing {
    pub async fn hash(&self, password: String) -> String {
        let _permit = self.0.acquire().await.expect("the semaphore is never closed");
        hash(password).await
    }

    pub async fn verify(&self, password: String, stored: String) -> bool {
        let _permit = self.0.acquire().await.expect("the semaphore is never closed");
        verify(password, stored).await
    }
}

async fn hash(password: String) -> String {
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

async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}
