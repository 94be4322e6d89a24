//! [`RequireScopes`]: all-of and any-of scope sets.

use std::fmt;

use http::request::Parts;

use super::Authorizer;
use crate::error::AuthError;
use crate::principal::{Principal, Scopes};

/// How a granted scope is compared with a required one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ScopeMatching {
    /// Byte-for-byte equality. The default.
    #[default]
    Exact,
    /// Also lets a granted `prefix:*` cover every required scope that starts
    /// with `prefix:` (`orders:*` covers `orders:read` and
    /// `orders:read:own`). A bare `*` is not a wildcard.
    Hierarchical,
}

impl ScopeMatching {
    fn covers(self, granted: &str, required: &str) -> bool {
        if granted == required {
            return true;
        }
        match self {
            Self::Exact => false,
            Self::Hierarchical => granted
                .strip_suffix('*')
                .filter(|prefix| prefix.ends_with(':'))
                .is_some_and(|prefix| required.starts_with(prefix)),
        }
    }

    fn granted(self, scopes: &Scopes, required: &str) -> bool {
        scopes.iter().any(|granted| self.covers(granted, required))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Any,
}

/// Requires a set of scopes — all of them, or any one — and answers 403
/// `insufficient_scope` naming them otherwise.
///
/// It is an [`Authorizer`] (for [`AuthLayerBuilder::authorize`](crate::AuthLayerBuilder::authorize))
/// and a tower `Layer` of its own, to put behind an
/// [`AuthLayer`](crate::AuthLayer) with axum's `route_layer`.
///
/// # Example
///
/// ```
/// use authgate::{Authorizer, ErrorKind, Principal, RequireScopes, Scopes};
///
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let reader = Principal::new("u", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("orders:read"));
///
/// let writers = RequireScopes::all(["orders:write"]);
/// assert_eq!(writers.authorize(&reader, &req).unwrap_err().kind(), ErrorKind::InsufficientScope);
///
/// let anyone = RequireScopes::any(["orders:read", "orders:write"]);
/// assert!(anyone.authorize(&reader, &req).is_ok());
///
/// let admin = Principal::new("a", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("orders:*"));
/// assert!(writers.clone().hierarchical().authorize(&admin, &req).is_ok());
/// assert!(writers.authorize(&admin, &req).is_err());
/// ```
#[derive(Clone)]
pub struct RequireScopes {
    required: Scopes,
    mode: Mode,
    matching: ScopeMatching,
}

impl RequireScopes {
    /// Requires every one of `scopes`.
    #[must_use]
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            required: scopes.into_iter().collect(),
            mode: Mode::All,
            matching: ScopeMatching::Exact,
        }
    }

    /// Requires at least one of `scopes`. An empty set allows nobody.
    #[must_use]
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            mode: Mode::Any,
            ..Self::all(scopes)
        }
    }

    /// Turns on hierarchical matching (`orders:*` covers `orders:read`).
    /// Defaults to exact matching.
    #[must_use]
    pub fn hierarchical(self) -> Self {
        self.matching(ScopeMatching::Hierarchical)
    }

    /// Sets how scopes are matched. Defaults to [`ScopeMatching::Exact`].
    #[must_use]
    pub fn matching(mut self, matching: ScopeMatching) -> Self {
        self.matching = matching;
        self
    }

    /// The scopes this rule names.
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        &self.required
    }

    /// Whether `granted` satisfies the rule.
    ///
    /// ```
    /// use authgate::{RequireScopes, Scopes};
    /// assert!(RequireScopes::all(["a"]).is_satisfied_by(&Scopes::parse("a b")));
    /// ```
    #[must_use]
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        let mut required = self.required.iter();
        match self.mode {
            Mode::All => required.all(|r| self.matching.granted(granted, r)),
            // An empty any-of set allows nobody, like `authorize::any(())`:
            // a scope list left empty by configuration must not mean "anyone".
            Mode::Any => required.any(|r| self.matching.granted(granted, r)),
        }
    }
}

impl Authorizer for RequireScopes {
    fn authorize(&self, principal: &Principal, _: &Parts) -> Result<(), AuthError> {
        if self.is_satisfied_by(principal.scopes()) {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(self.required.clone()))
        }
    }
}

impl fmt::Debug for RequireScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("mode", &self.mode)
            .field("scopes", &self.required)
            .field("matching", &self.matching)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> Scopes {
        Scopes::parse(s)
    }

    #[test]
    fn all_and_any() {
        let all = RequireScopes::all(["a", "b"]);
        assert!(all.is_satisfied_by(&scopes("a b c")));
        assert!(!all.is_satisfied_by(&scopes("a")));
        let any = RequireScopes::any(["a", "b"]);
        assert!(any.is_satisfied_by(&scopes("b")));
        assert!(!any.is_satisfied_by(&scopes("c")));
        assert!(RequireScopes::all(Vec::<String>::new()).is_satisfied_by(&scopes("")));
        assert!(!RequireScopes::any(Vec::<String>::new()).is_satisfied_by(&scopes("a")));
    }

    #[test]
    fn hierarchical_matching_is_opt_in_and_bounded() {
        let need = RequireScopes::all(["orders:read"]);
        assert!(!need.is_satisfied_by(&scopes("orders:*")));
        let need = need.hierarchical();
        assert!(need.is_satisfied_by(&scopes("orders:*")));
        assert!(need.is_satisfied_by(&scopes("orders:read")));
        assert!(
            !need.is_satisfied_by(&scopes("*")),
            "a bare * is no wildcard"
        );
        assert!(!need.is_satisfied_by(&scopes("order*")));
        assert!(!need.is_satisfied_by(&scopes("orders:write")));
        assert!(!need.is_satisfied_by(&scopes("invoices:*")));
        assert!(RequireScopes::all(["orders:read:own"])
            .hierarchical()
            .is_satisfied_by(&scopes("orders:*")));
    }
}
