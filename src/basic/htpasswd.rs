//! htpasswd files: `user:hash` lines, as Apache's `htpasswd` writes them.

use super::hash::{self, HashError};
use super::store::{check_user, InMemoryPasswordStore, PasswordRecord};
use crate::error::ConfigError;

impl InMemoryPasswordStore {
    /// A store with the users of an htpasswd file.
    ///
    /// Each line is `user:hash`; blank lines and lines starting with `#` are
    /// skipped. bcrypt (`$2y$`, `$2b$`, `$2a$`: `htpasswd -B`) and Argon2
    /// (`$argon2id$...`) hashes are accepted. MD5-crypt (`$apr1$`, the old
    /// `htpasswd` default), SHA-1 (`{SHA}`), other crypt(3) hashes and plain
    /// text are refused: they are fast enough to brute-force from a leaked
    /// file. Re-hash those users with `htpasswd -B -C 12`.
    ///
    /// ```
    /// use authgate::basic::InMemoryPasswordStore;
    ///
    /// let file = "# deploy robots\nci:$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie\n";
    /// let store = InMemoryPasswordStore::from_htpasswd(file).unwrap();
    /// assert!(store.get("ci").is_some());
    ///
    /// let old = "legacy:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\n";
    /// let err = InMemoryPasswordStore::from_htpasswd(old).unwrap_err();
    /// assert!(err.to_string().contains("line 1: MD5-crypt"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::PasswordFile`] naming the first line that is malformed,
    /// repeats a user, or holds a refused hash.
    pub fn from_htpasswd(text: &str) -> Result<Self, ConfigError> {
        let store = Self::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let fail = |why| ConfigError::PasswordFile { line: line_no, why };
            let line = line.trim_end_matches('\r').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| fail("expected `user:hash`"))?;
            check_user(user)
                .map_err(|_| fail("the user-id is empty or holds control characters"))?;
            refuse_weak(hash).map_err(fail)?;
            hash::check_format(hash).map_err(|e| {
                fail(match e {
                    HashError::UnsupportedFormat => {
                        "plain text or DES crypt is refused: re-hash with bcrypt (htpasswd -B) or Argon2id"
                    }
                    _ => "a malformed bcrypt or Argon2 hash",
                })
            })?;
            if store.get(user).is_some() {
                return Err(fail("the user appears twice"));
            }
            let record = PasswordRecord::new(user, hash)
                .map_err(|_| fail("a malformed bcrypt or Argon2 hash"))?;
            store.insert(record);
        }
        Ok(store)
    }
}

/// Names the weak formats htpasswd files commonly hold.
fn refuse_weak(hash: &str) -> Result<(), &'static str> {
    if hash.starts_with("$apr1$") || hash.starts_with("$1$") {
        Err("MD5-crypt ($apr1$, $1$) is refused: re-hash with bcrypt (htpasswd -B) or Argon2id")
    } else if hash.starts_with("{SHA}") {
        Err("SHA-1 ({SHA}) is refused: re-hash with bcrypt (htpasswd -B) or Argon2id")
    } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
        Err("SHA-crypt ($5$, $6$) is not supported: re-hash with bcrypt (htpasswd -B) or Argon2id")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BCRYPT: &str = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
    const ARGON2ID: &str =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

    #[test]
    fn loads_bcrypt_and_argon2_lines() {
        let text =
            format!("# users\r\n\nalice:{BCRYPT}\r\nbob:{ARGON2ID}\n  \nwith space:{BCRYPT}\n");
        let store = InMemoryPasswordStore::from_htpasswd(&text).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.get("alice").unwrap().hash, BCRYPT);
        assert_eq!(store.get("bob").unwrap().hash, ARGON2ID);
        assert_eq!(store.get("bob").unwrap().subject, "bob");
    }

    fn error_of(text: &str) -> (usize, &'static str) {
        match InMemoryPasswordStore::from_htpasswd(text).unwrap_err() {
            ConfigError::PasswordFile { line, why } => (line, why),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn weak_hashes_are_refused_with_the_line() {
        let cases = [
            ("u:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00", "MD5-crypt"),
            ("u:$1$abc$def", "MD5-crypt"),
            ("u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1"),
            ("u:$6$salt$hash", "SHA-crypt"),
            ("u:hunter2", "plain text"),
            ("u:rqXexS6ZhobKA", "plain text"),
        ];
        for (line, expected) in cases {
            let (at, why) = error_of(&format!("ok:{BCRYPT}\n{line}\n"));
            assert_eq!(at, 2, "{line}");
            assert!(why.contains(expected), "{line}: {why}");
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert_eq!(error_of("no colon here").1, "expected `user:hash`");
        assert!(error_of(&format!(":{BCRYPT}")).1.contains("user-id"));
        assert!(error_of("u:$2b$04$short").1.contains("malformed"));
        assert!(error_of(&format!("a:{BCRYPT}\na:{BCRYPT}"))
            .1
            .contains("twice"));
    }
}
