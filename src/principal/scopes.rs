//! [`Scopes`]: a principal's scopes, held in one allocation when they can
//! be.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A set of scopes (OAuth 2.0 `scope` values, or API-key permissions).
///
/// Order is kept as given, duplicates are dropped.
///
/// # Example
///
/// ```
/// use authgate::Scopes;
///
/// let scopes = Scopes::parse("orders:read  orders:write");
/// assert!(scopes.contains("orders:read"));
/// assert_eq!(scopes.to_string(), "orders:read orders:write");
/// ```
#[derive(Clone, Default)]
pub struct Scopes {
    items: Items,
}

/// The scopes, in one allocation when no scope has a space: always, for
/// scopes parsed from a `scope` string.
#[derive(Clone, Default)]
enum Items {
    #[default]
    Empty,
    /// At least one scope, none with a space, joined by single spaces.
    Joined(Arc<str>),
    /// At least one scope, one of them with a space.
    Listed(Arc<[Box<str>]>),
}

/// The scopes of [`Scopes::iter`].
enum Iter<'a> {
    Empty,
    Joined(std::str::Split<'a, char>),
    Listed(std::slice::Iter<'a, Box<str>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Iter::Empty => None,
            Iter::Joined(split) => split.next(),
            Iter::Listed(items) => items.next().map(|s| &**s),
        }
    }
}

/// Whether `text` is scopes joined by single spaces, none repeated: what
/// [`Items::Joined`] holds.
fn is_joined(text: &str) -> bool {
    !text.is_empty()
        && text.split(' ').enumerate().all(|(i, scope)| {
            !scope.is_empty() && !text.split(' ').take(i).any(|seen| seen == scope)
        })
}

impl Scopes {
    /// No scopes.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a space-separated `scope` string (RFC 6749 §3.3).
    #[must_use]
    pub fn parse(space_separated: &str) -> Self {
        // A `scope` as issuers write it is kept as it is: one allocation.
        if is_joined(space_separated) {
            return Self {
                items: Items::Joined(Arc::from(space_separated)),
            };
        }
        space_separated
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Whether `scope` is in the set (exact match).
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|s| s == scope)
    }

    /// Whether every scope of `other` is in this set.
    ///
    /// ```
    /// use authgate::Scopes;
    /// let have = Scopes::from_iter(["a", "b"]);
    /// assert!(have.contains_all(&Scopes::from_iter(["b"])));
    /// assert!(!have.contains_all(&Scopes::from_iter(["b", "c"])));
    /// ```
    #[must_use]
    pub fn contains_all(&self, other: &Scopes) -> bool {
        other.iter().all(|s| self.contains(s))
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        match &self.items {
            Items::Empty => Iter::Empty,
            Items::Joined(text) => Iter::Joined(text.split(' ')),
            Items::Listed(items) => Iter::Listed(items.iter()),
        }
    }

    /// Number of scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Empty => 0,
            Items::Joined(text) => text.bytes().filter(|&b| b == b' ').count() + 1,
            Items::Listed(items) => items.len(),
        }
    }

    /// Whether there are no scopes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self.items, Items::Empty)
    }
}

/// The same scopes in the same order, however they are held.
impl PartialEq for Scopes {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Scopes {}

impl std::hash::Hash for Scopes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for scope in self.iter() {
            scope.hash(state);
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut joined = String::new();
        let mut listed: Option<Vec<Box<str>>> = None;
        for scope in iter {
            let scope = scope.as_ref();
            if scope.is_empty() {
                continue;
            }
            match &mut listed {
                Some(items) => {
                    if !items.iter().any(|s| &**s == scope) {
                        items.push(scope.into());
                    }
                }
                None if scope.contains(' ') => {
                    let mut items: Vec<Box<str>> = joined
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(Into::into)
                        .collect();
                    items.push(scope.into());
                    listed = Some(items);
                }
                None => {
                    if !joined.split(' ').any(|s| s == scope) {
                        if !joined.is_empty() {
                            joined.push(' ');
                        }
                        joined.push_str(scope);
                    }
                }
            }
        }
        let items = match listed {
            Some(items) => Items::Listed(items.into()),
            None if joined.is_empty() => Items::Empty,
            None => Items::Joined(joined.into()),
        };
        Self { items }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    use proptest::prelude::*;

    use super::*;

    /// The scopes as the list they were before they could be held joined.
    fn listed(scopes: &[&str]) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        for scope in scopes {
            if !scope.is_empty() && !items.iter().any(|s| s == scope) {
                items.push((*scope).to_owned());
            }
        }
        items
    }

    fn hash(scopes: &Scopes) -> u64 {
        let mut hasher = DefaultHasher::new();
        scopes.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn joined_and_listed_scopes_are_the_same_set() {
        let parsed = Scopes::parse("a b:c d");
        assert!(matches!(parsed.items, Items::Joined(_)));
        let spaced = Scopes::from_iter(["a", "b:c", "d", "x y"]);
        assert!(matches!(spaced.items, Items::Listed(_)));
        assert_eq!(spaced.iter().collect::<Vec<_>>(), ["a", "b:c", "d", "x y"]);
        assert!(spaced.contains("x y") && !spaced.contains("x") && !parsed.contains("a b"));
        assert_eq!(spaced.len(), 4);
        let also = Scopes::from_iter(["a", "b:c", "d"]);
        assert_eq!(parsed, also);
        assert_eq!(hash(&parsed), hash(&also));
        assert_ne!(parsed, spaced);
        assert_eq!(Scopes::parse(""), Scopes::empty());
        assert_eq!(Scopes::parse("   ").len(), 0);
        assert!(Scopes::parse(" ").is_empty());
        assert_eq!(Scopes::parse(" a  a b ").to_string(), "a b");
    }

    proptest! {
        #[test]
        fn parse_keeps_order_and_drops_repeats(
            words in prop::collection::vec(prop::sample::select(vec!["a", "b", "", "c:d", "ab"]), 0..8),
        ) {
            let text = words.join(" ");
            let scopes = Scopes::parse(&text);
            let expected = listed(&words);
            prop_assert_eq!(scopes.iter().collect::<Vec<_>>(), expected.clone());
            prop_assert_eq!(scopes.len(), expected.len());
            prop_assert_eq!(scopes.is_empty(), expected.is_empty());
            for word in ["a", "b", "", "c:d", "ab", "a b", "x"] {
                prop_assert_eq!(scopes.contains(word), expected.iter().any(|s| s == word));
            }
            let rebuilt = Scopes::from_iter(&expected);
            prop_assert_eq!(hash(&rebuilt), hash(&scopes));
            prop_assert_eq!(rebuilt, scopes);
        }

        #[test]
        fn from_iter_keeps_any_scope(
            words in prop::collection::vec(prop::sample::select(vec!["a", "b b", "", " ", "a "]), 0..6),
        ) {
            let scopes = Scopes::from_iter(&words);
            let expected = listed(&words);
            prop_assert_eq!(scopes.iter().collect::<Vec<_>>(), expected.clone());
            prop_assert_eq!(scopes.len(), expected.len());
        }
    }
}
