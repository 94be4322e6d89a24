//! Password hashes: the [`PasswordHasher`] trait and [`Argon2Hasher`], which
//! makes Argon2id hashes and checks Argon2 and bcrypt ones.

use std::fmt;

use argon2::password_hash::{self, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::ConfigError;

/// OWASP's minimum Argon2id memory cost, in KiB (19 MiB).
pub const OWASP_MIN_MEMORY_KIB: u32 = 19 * 1024;
/// OWASP's minimum Argon2id number of passes at that memory cost.
pub const OWASP_MIN_ITERATIONS: u32 = 2;

/// The largest memory cost, in KiB, a stored Argon2 hash may ask for (1 GiB):
/// a record that asks for more is refused rather than allowed to exhaust the
/// server's memory.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;

/// Makes password hashes and checks passwords against them.
///
/// [`BasicScheme`](super::BasicScheme) calls [`verify`](Self::verify) on
/// Tokio's blocking pool, under its concurrency cap, for every password it
/// has not verified recently, and once for an unknown user too (against a
/// dummy hash it made with [`hash`](Self::hash) when it was built), so that
/// both cost the same. Implement it to add a hash format or to observe
/// verifications; [`Argon2Hasher`] is the one to use.
///
/// # Example
///
/// A hasher that counts verifications, as a test might:
///
/// ```
/// use authgate::basic::{Argon2Hasher, HashError, PasswordHasher};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// struct Counting(Argon2Hasher, AtomicUsize);
///
/// impl PasswordHasher for Counting {
///     fn hash(&self, password: &[u8]) -> Result<String, HashError> {
///         self.0.hash(password)
///     }
///     fn verify(&self, hash: &str, password: &[u8]) -> Result<bool, HashError> {
///         self.1.fetch_add(1, Ordering::SeqCst);
///         self.0.verify(hash, password)
///     }
/// }
/// ```
pub trait PasswordHasher: Send + Sync + 'static {
    /// A new hash of `password`, as a PHC string (`$argon2id$v=19$...`), with
    /// a fresh random salt.
    ///
    /// # Errors
    ///
    /// When the random generator or the hash function fails.
    fn hash(&self, password: &[u8]) -> Result<String, HashError>;

    /// Whether `password` matches `hash`. Deliberately slow: never call it
    /// on an async task.
    ///
    /// # Errors
    ///
    /// When `hash` is not a hash this hasher knows (a wrong password is
    /// `Ok(false)`).
    fn verify(&self, hash: &str, password: &[u8]) -> Result<bool, HashError>;
}

impl<H: PasswordHasher> PasswordHasher for std::sync::Arc<H> {
    fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        H::hash(self, password)
    }

    fn verify(&self, hash: &str, password: &[u8]) -> Result<bool, HashError> {
        H::verify(self, hash, password)
    }
}

/// A stored hash could not be used, or a new one could not be made.
///
/// ```
/// use authgate::basic::{Argon2Hasher, PasswordHasher};
///
/// let err = Argon2Hasher::new().verify("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", b"password").unwrap_err();
/// assert!(err.to_string().contains("not an Argon2 or bcrypt hash"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The hash is in a format this hasher does not verify.
    #[error("not an Argon2 or bcrypt hash")]
    UnsupportedFormat,
    /// The hash looks like a known format but is malformed, or asks for
    /// more memory than allowed.
    #[error("malformed password hash: {0}")]
    Malformed(String),
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// Argon2id for new hashes; Argon2 (id, i, d) and bcrypt (`$2a$`, `$2b$`,
/// `$2y$`) for verification.
///
/// New hashes use Argon2id, version 0x13, with OWASP's minimum parameters by
/// default: 19 MiB of memory, 2 passes, 1 lane (tens of milliseconds on a
/// server core). Verification takes the parameters from the stored hash, so
/// raising them later does not break existing hashes.
///
/// bcrypt uses only the first 72 bytes of a password, as every bcrypt does.
///
/// # Example
///
/// ```
/// use authgate::basic::{Argon2Hasher, PasswordHasher};
///
/// // Cheap parameters for the example; keep the default in production.
/// let hasher = Argon2Hasher::with_params(19 * 1024, 2, 1).unwrap();
/// let hash = hasher.hash(b"correct horse").unwrap();
/// assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert!(hasher.verify(&hash, b"correct horse").unwrap());
/// assert!(!hasher.verify(&hash, b"wrong").unwrap());
/// ```
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    rng: SystemRandom,
}

impl Argon2Hasher {
    /// OWASP's minimum: m = 19 MiB, t = 2, p = 1.
    #[must_use]
    pub fn new() -> Self {
        Self {
            params: params(OWASP_MIN_MEMORY_KIB, OWASP_MIN_ITERATIONS, 1)
                .unwrap_or(Params::DEFAULT),
            rng: SystemRandom::new(),
        }
    }

    /// Argon2id with `memory_kib` KiB of memory, `iterations` passes and
    /// `parallelism` lanes, for new hashes (and the dummy hash an unknown
    /// user is checked against).
    ///
    /// ```
    /// let stronger = authgate::basic::Argon2Hasher::with_params(64 * 1024, 3, 1).unwrap();
    /// # let _ = stronger;
    /// ```
    ///
    /// # Errors
    ///
    /// Below OWASP's minimum (19 MiB and 2 passes), or parameters Argon2
    /// refuses.
    pub fn with_params(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, ConfigError> {
        if memory_kib < OWASP_MIN_MEMORY_KIB || iterations < OWASP_MIN_ITERATIONS {
            return Err(ConfigError::InvalidSetting {
                setting: "argon2 parameters",
                why: "below OWASP's minimum for Argon2id (19 MiB of memory, 2 passes)",
            });
        }
        Ok(Self {
            params: params(memory_kib, iterations, parallelism)?,
            rng: SystemRandom::new(),
        })
    }

    /// Tiny parameters (8 KiB, 1 pass): for tests that hash many passwords,
    /// never for stored passwords. An attacker with such a hash guesses
    /// millions of passwords per second.
    ///
    /// ```
    /// use authgate::basic::{Argon2Hasher, PasswordHasher};
    ///
    /// let fast = Argon2Hasher::insecure_for_tests();
    /// assert!(fast.hash(b"pw").unwrap().contains("m=8,t=1,p=1"));
    /// ```
    #[must_use]
    pub fn insecure_for_tests() -> Self {
        Self {
            params: params(8, 1, 1).unwrap_or(Params::DEFAULT),
            rng: SystemRandom::new(),
        }
    }

    /// The parameters new hashes are made with: memory in KiB, passes,
    /// lanes.
    ///
    /// ```
    /// assert_eq!(authgate::basic::Argon2Hasher::new().params(), (19 * 1024, 2, 1));
    /// ```
    #[must_use]
    pub fn params(&self) -> (u32, u32, u32) {
        (
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
        )
    }
}

fn params(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Params, ConfigError> {
    Params::new(memory_kib, iterations, parallelism, None).map_err(|_| {
        ConfigError::InvalidSetting {
            setting: "argon2 parameters",
            why: "Argon2 refuses them (memory must be at least 8 KiB per lane)",
        }
    })
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, t, p) = self.params();
        f.debug_struct("Argon2Hasher")
            .field("memory_kib", &m)
            .field("iterations", &t)
            .field("parallelism", &p)
            .finish()
    }
}

/// The families of hash a stored string can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashFormat {
    Argon2,
    Bcrypt,
}

/// Which family `hash` belongs to, by its prefix.
pub(crate) fn format_of(hash: &str) -> Option<HashFormat> {
    if ["$argon2id$", "$argon2i$", "$argon2d$"]
        .iter()
        .any(|p| hash.starts_with(p))
    {
        Some(HashFormat::Argon2)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Some(HashFormat::Bcrypt)
    } else {
        None
    }
}

/// Checks that `hash` parses as its format says, without verifying anything.
pub(crate) fn check_format(hash: &str) -> Result<(), HashError> {
    match format_of(hash) {
        Some(HashFormat::Argon2) => parse_argon2(hash).map(|_| ()),
        Some(HashFormat::Bcrypt) => hash
            .parse::<bcrypt::HashParts>()
            .map(|_| ())
            .map_err(|e| HashError::Malformed(e.to_string())),
        None => Err(HashError::UnsupportedFormat),
    }
}

fn parse_argon2(hash: &str) -> Result<PasswordHash<'_>, HashError> {
    let parsed = PasswordHash::new(hash).map_err(|e| HashError::Malformed(e.to_string()))?;
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(HashError::Malformed("no salt or hash".into()));
    }
    let memory = Params::try_from(&parsed)
        .map_err(|e| HashError::Malformed(e.to_string()))?
        .m_cost();
    if memory > MAX_MEMORY_KIB {
        return Err(HashError::Malformed(format!(
            "memory cost {memory} KiB is above the 1 GiB limit"
        )));
    }
    Ok(parsed)
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        use argon2::PasswordHasher as _;
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt).map_err(|_| HashError::Random)?;
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| HashError::Malformed(e.to_string()))?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password(password, &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Malformed(e.to_string()))
    }

    fn verify(&self, hash: &str, password: &[u8]) -> Result<bool, HashError> {
        match format_of(hash) {
            Some(HashFormat::Argon2) => {
                let parsed = parse_argon2(hash)?;
                // The algorithm, version and parameters come from the hash.
                match Argon2::default().verify_password(password, &parsed) {
                    Ok(()) => Ok(true),
                    Err(password_hash::Error::Password) => Ok(false),
                    Err(e) => Err(HashError::Malformed(e.to_string())),
                }
            }
            Some(HashFormat::Bcrypt) => {
                bcrypt::verify(password, hash).map_err(|e| HashError::Malformed(e.to_string()))
            }
            None => Err(HashError::UnsupportedFormat),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The Argon2id reference vectors (phc-winner-argon2's `test.c`, also in
    /// the argon2 crate's `tests/kat.rs`): password "password", salt
    /// "somesalt".
    #[test]
    fn argon2id_reference_vectors() {
        let hasher = Argon2Hasher::insecure_for_tests();
        for hash in [
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
        ] {
            assert!(hasher.verify(hash, b"password").unwrap(), "{hash}");
            assert!(!hasher.verify(hash, b"passwore").unwrap(), "{hash}");
        }
        // Argon2i too (same source).
        let argon2i =
            "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8";
        assert!(hasher.verify(argon2i, b"password").unwrap());
    }

    /// bcrypt vectors from the bcrypt crate's tests (made by an online tool,
    /// Python's and Node's bcrypt), and `$2y$` as Apache's htpasswd writes.
    #[test]
    fn bcrypt_vectors() {
        let hasher = Argon2Hasher::insecure_for_tests();
        let cases = [
            (
                "$2a$04$UuTkLRZZ6QofpDOlMz32MuuxEHA43WOemOYHPz6.SjsVsyO1tDU96",
                "password",
            ),
            (
                "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
                "correctbatteryhorsestapler",
            ),
            (
                "$2a$04$n4Uy0eSnMfvnESYL.bLwuuj0U/ETSsoTpRT9GVk5bektyVVa5xnIi",
                "correctbatteryhorsestapler",
            ),
            (
                "$2y$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
                "correctbatteryhorsestapler",
            ),
        ];
        for (hash, password) in cases {
            assert!(hasher.verify(hash, password.as_bytes()).unwrap(), "{hash}");
            assert!(!hasher.verify(hash, b"nope").unwrap(), "{hash}");
        }
    }

    #[test]
    fn default_parameters_are_owasps_minimum() {
        let hasher = Argon2Hasher::new();
        assert_eq!(hasher.params(), (19 * 1024, 2, 1));
        let hash = hasher.hash(b"pw").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(&hash, b"pw").unwrap());
        assert!(Argon2Hasher::with_params(16 * 1024, 2, 1).is_err());
        assert!(Argon2Hasher::with_params(19 * 1024, 1, 1).is_err());
    }

    #[test]
    fn salts_differ() {
        let hasher = Argon2Hasher::insecure_for_tests();
        assert_ne!(hasher.hash(b"pw").unwrap(), hasher.hash(b"pw").unwrap());
    }

    #[test]
    fn unknown_and_broken_hashes_are_errors() {
        let hasher = Argon2Hasher::insecure_for_tests();
        for bad in [
            "plain",
            "$apr1$abc$def",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "$1$abc$def",
            "$6$abc$def",
        ] {
            assert!(matches!(
                hasher.verify(bad, b"pw"),
                Err(HashError::UnsupportedFormat)
            ));
        }
        for broken in ["$argon2id$v=19$m=256", "$2b$04$short"] {
            assert!(matches!(
                hasher.verify(broken, b"pw"),
                Err(HashError::Malformed(_))
            ));
            assert!(check_format(broken).is_err());
        }
        let greedy =
            "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
        assert!(matches!(
            hasher.verify(greedy, b"password"),
            Err(HashError::Malformed(_))
        ));
    }
}
