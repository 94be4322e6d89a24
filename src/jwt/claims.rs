//! Claim validation (RFC 7519 §4.1, RFC 9068, RFC 8725): time claims with
//! leeway, issuer, audience, required claims, `typ`, and the mapping of a
//! validated token to a [`Principal`].

use std::borrow::Cow;
use std::fmt;

use jsonwebtoken::Algorithm;
use serde::de::{self, Deserialize, Deserializer};
#[cfg(any(feature = "introspection", feature = "fuzzing", test))]
use serde_json::{Map, Value};

use super::token::{invalid, numbers_are_maps, Header, Name, Names, UniqueNames, NUMBER_TOKEN};
use crate::error::{AuthError, ErrorKind};
use crate::principal::{Principal, Scopes};

/// The claims of a token that passed every check, with what the token
/// cache and revocation need. The token's `jti` is the principal's
/// [`credential_id`](Principal::credential_id).
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub(crate) principal: Principal,
    pub(crate) exp: f64,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
}

impl Validated {
    /// The token's `jti`, if it is a string.
    pub(crate) fn jti(&self) -> Option<&str> {
        self.principal.credential_id()
    }
}

/// Settings shared by every issuer of a scheme.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) leeway: u64,
    pub(crate) required: Vec<String>,
    pub(crate) typ: Option<String>,
    pub(crate) scope_claim: Option<String>,
}

/// Parses a token's claims: a JSON object in which no object, at any depth,
/// repeats a member name.
///
/// RFC 7519 §4 lets a parser either reject duplicate claim names or keep
/// the last one. Parsers disagree on which one wins, so a token whose
/// meaning depends on the parser (two `sub`, two `exp`, two `role` in a
/// nested claim a handler reads) is refused instead.
///
/// One parse, then a count: serde_json keeps one member per name, so the
/// claims hold fewer members than the text names exactly when some object
/// repeats a name. Counting needs no allocation, unlike a second parse that
/// remembers names, and leaves the values to serde_json whatever its
/// features (e.g. `arbitrary_precision`). serde_json's recursion limit
/// bounds the nesting.
///
/// For introspection answers; a JWT's claims are read by
/// [`TokenClaims::parse`].
#[cfg(any(feature = "introspection", feature = "fuzzing", test))]
pub(crate) fn parse_claims(payload: &[u8]) -> Result<Map<String, Value>, AuthError> {
    serde_json::from_slice::<Map<String, Value>>(payload)
        .ok()
        .filter(|claims| members_in_text(payload) == members_in_map(claims))
        .ok_or_else(|| invalid("the token's claims are not a JSON object"))
}
/// The member count of every object in a valid JSON text: in JSON, a `:`
/// outside a string separates exactly one member's name from its value.
#[cfg(any(feature = "introspection", feature = "fuzzing", test))]
fn members_in_text(json: &[u8]) -> usize {
    let (mut count, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b':' {
            count += 1;
        }
    }
    count
}

/// The member count of every object in parsed claims, without recursion.
#[cfg(any(feature = "introspection", feature = "fuzzing", test))]
fn members_in_map(claims: &Map<String, Value>) -> usize {
    let mut count = claims.len();
    let mut pending: Vec<&Value> = claims.values().collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(object) => {
                count += object.len();
                pending.extend(object.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    count
}

/// A claim's value as the checks read it, borrowed from the decoded
/// claims where it has no escapes.
#[derive(Debug, Clone, Default)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) enum Loose<'a> {
    /// No such claim.
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// A JSON number.
    Num(f64),
    /// An array, with its string items (the others are ignored).
    Strs(Vec<Cow<'a, str>>),
    /// An object, `true`, `false` or `null`.
    Other,
}

impl Loose<'_> {
    fn is_present(&self) -> bool {
        !matches!(self, Loose::Absent)
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A NumericDate (RFC 7519 §2): a JSON number, possibly fractional.
    fn numeric_date(&self) -> Result<Option<f64>, AuthError> {
        match self {
            Loose::Absent => Ok(None),
            Loose::Num(f) if f.is_finite() => Ok(Some(*f)),
            _ => Err(invalid("a time claim is not a number")),
        }
    }

    /// The strings of a claim that is a string or an array of strings
    /// (`aud`, `scope`).
    fn strings(&self) -> &[Cow<'_, str>] {
        match self {
            Loose::Str(s) => std::slice::from_ref(s),
            Loose::Strs(items) => items,
            _ => &[],
        }
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> de::Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without repeated member names")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Loose<'de>, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Loose<'de>, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Loose<'de>, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }

    // Numbers as `serde_json::Value::as_f64` reads them.
    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E>(self, v: u64) -> Result<Loose<'de>, E> {
        Ok(Loose::Num(v as f64))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E>(self, v: i64) -> Result<Loose<'de>, E> {
        Ok(Loose::Num(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Loose<'de>, E> {
        Ok(Loose::Num(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Loose<'de>, E> {
        Ok(Loose::Other)
    }

    fn visit_unit<E>(self) -> Result<Loose<'de>, E> {
        Ok(Loose::Other)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut access: A) -> Result<Loose<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element::<Loose<'de>>()? {
            if let Loose::Str(s) = item {
                items.push(s);
            }
        }
        Ok(Loose::Strs(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Loose<'de>, A::Error> {
        let mut names = Names::default();
        let mut first = true;
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            if first && name == NUMBER_TOKEN && numbers_are_maps() {
                // A number, under serde_json's `arbitrary_precision`.
                let text = access.next_value::<Cow<'de, str>>()?;
                return Ok(text.parse().map_or(Loose::Other, Loose::Num));
            }
            first = false;
            access.next_value::<UniqueNames>()?;
            if !names.insert(name) {
                return Err(de::Error::custom("repeated member name"));
            }
        }
        Ok(Loose::Other)
    }
}

/// The registered claims the checks read, in the order of [`TokenClaims::known`].
const KNOWN: [&str; 11] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "scp",
    "cnf",
];
const ISS: usize = 0;
const SUB: usize = 1;
const AUD: usize = 2;
const EXP: usize = 3;
const NBF: usize = 4;
const IAT: usize = 5;
const JTI: usize = 6;
const CLIENT_ID: usize = 7;
const SCOPE: usize = 8;
const SCP: usize = 9;
const CNF: usize = 10;

/// The index of `name` in [`KNOWN`].
fn known_index(name: &str) -> Option<usize> {
    Some(match name {
        "iss" => ISS,
        "sub" => SUB,
        "aud" => AUD,
        "exp" => EXP,
        "nbf" => NBF,
        "iat" => IAT,
        "jti" => JTI,
        "client_id" => CLIENT_ID,
        "scope" => SCOPE,
        "scp" => SCP,
        "cnf" => CNF,
        _ => return None,
    })
}

/// What the checks need from a JWT's claims, read in one pass over the
/// decoded JSON, which also refuses a repeated member name at any depth
/// (see [`parse_claims`] for why). Nothing here is trusted before the
/// signature is checked: the parse fails only on what is not a JSON
/// object, and the claims' types are judged by [`ClaimRules::validate`].
///
/// The claims a handler reads are not built here: the principal keeps the
/// decoded JSON and builds its map the first time it is asked.
#[derive(Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct TokenClaims<'a> {
    known: [Loose<'a>; KNOWN.len()],
    /// The value of [`ClaimRules::scope_claim`], when it is set.
    custom_scope: Loose<'a>,
    /// Whether each of [`ClaimRules::required`] is present.
    required: Vec<bool>,
}

impl<'a> TokenClaims<'a> {
    /// Reads `payload`, the decoded claims of a JWT: with the [flat
    /// reader](super::flat) when it can, else with serde_json.
    pub(crate) fn parse(payload: &'a [u8], rules: &ClaimRules) -> Result<Self, AuthError> {
        match Self::parse_flat(payload, rules) {
            Some(claims) => Ok(claims),
            None => Self::parse_json(payload, rules),
        }
    }

    /// The claims of a flat object without repeated names, or `None`.
    fn parse_flat(payload: &'a [u8], rules: &ClaimRules) -> Option<Self> {
        let mut collector = Collector::new(rules);
        super::flat::read_object(payload, |name, value| {
            let slot = collector.name(Cow::Borrowed(name))?;
            collector.store(slot, value);
            Some(())
        })?;
        Some(collector.claims)
    }

    fn parse_json(payload: &'a [u8], rules: &ClaimRules) -> Result<Self, AuthError> {
        let mut deserializer = serde_json::Deserializer::from_slice(payload);
        let claims = de::DeserializeSeed::deserialize(ClaimsSeed { rules }, &mut deserializer)
            .and_then(|claims| deserializer.end().map(|()| claims))
            .map_err(|_| invalid("the token's claims are not a JSON object"))?;
        Ok(claims)
    }

    /// The unverified `iss`, to pick the issuer by.
    pub(crate) fn iss(&self) -> Option<&str> {
        self.known[ISS].as_str()
    }

    /// Whether the token has a `cnf` claim.
    pub(crate) fn has_cnf(&self) -> bool {
        self.known[CNF].is_present()
    }

    /// Whether claim `name` is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        known_index(name)
            .and_then(|i| self.known.get(i))
            .is_some_and(Loose::is_present)
    }

    /// The `client_id`, if it is a string.
    pub(crate) fn client_id(&self) -> Option<&str> {
        self.known[CLIENT_ID].as_str()
    }
}

struct ClaimsSeed<'r> {
    rules: &'r ClaimRules,
}

impl<'de> de::DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = TokenClaims<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for ClaimsSeed<'_> {
    type Value = TokenClaims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut collector = Collector::new(self.rules);
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            let slot = collector
                .name(name)
                .ok_or_else(|| de::Error::custom("repeated member name"))?;
            match slot {
                // Not read, but checked for repeated names at any depth.
                Slot::Ignored => {
                    access.next_value::<UniqueNames>()?;
                }
                slot => {
                    let value = access.next_value::<Loose<'de>>()?;
                    collector.store(slot, value);
                }
            }
        }
        Ok(collector.claims)
    }
}

/// Where a member's value goes.
#[derive(Clone, Copy)]
enum Slot {
    /// A [`KNOWN`] claim; also the custom scope claim when the flag says so.
    Known(usize, bool),
    /// The custom scope claim, not a known one.
    Custom,
    /// Neither: not kept.
    Ignored,
}

/// Builds [`TokenClaims`] member by member, for both readers.
struct Collector<'de, 'r> {
    rules: &'r ClaimRules,
    claims: TokenClaims<'de>,
    /// The names seen that are not known claims.
    names: Names<'de>,
    /// The known claims seen, one bit each.
    seen: u16,
}

impl<'de, 'r> Collector<'de, 'r> {
    fn new(rules: &'r ClaimRules) -> Self {
        Self {
            rules,
            claims: TokenClaims {
                required: vec![false; rules.required.len()],
                ..TokenClaims::default()
            },
            names: Names::default(),
            seen: 0,
        }
    }

    /// Registers the name of the next member: where its value goes, or
    /// `None` when the object already had a member of that name.
    fn name(&mut self, name: Cow<'de, str>) -> Option<Slot> {
        let rules = self.rules;
        for (present, required) in self.claims.required.iter_mut().zip(&rules.required) {
            *present |= *required == name;
        }
        let known = known_index(&name);
        let custom = rules.scope_claim.as_deref() == Some(&*name);
        let new = match known {
            Some(i) => {
                let bit = 1u16 << i;
                let new = self.seen & bit == 0;
                self.seen |= bit;
                new
            }
            None => self.names.insert(name),
        };
        new.then_some(match (known, custom) {
            (Some(i), custom) => Slot::Known(i, custom),
            (None, true) => Slot::Custom,
            (None, false) => Slot::Ignored,
        })
    }

    fn store(&mut self, slot: Slot, value: Loose<'de>) {
        match slot {
            Slot::Known(i, custom) => {
                if custom {
                    self.claims.custom_scope = value.clone();
                }
                if let Some(known) = self.claims.known.get_mut(i) {
                    *known = value;
                }
            }
            Slot::Custom => self.claims.custom_scope = value,
            Slot::Ignored => {}
        }
    }
}

/// Whether a `typ` header value names the expected media type; the
/// `application/` prefix may be omitted (RFC 7515 §4.1.9) and the
/// comparison ignores case.
fn typ_matches(actual: &str, expected: &str) -> bool {
    let strip = |s: &str| -> String {
        let lower = s.to_ascii_lowercase();
        match lower.strip_prefix("application/") {
            Some(rest) => rest.to_owned(),
            None => lower,
        }
    };
    strip(actual) == strip(expected)
}

impl ClaimRules {
    /// Checks the time claims against `now` with leeway. Shared with the
    /// token cache, which re-checks on every hit.
    pub(crate) fn check_times(
        &self,
        now: u64,
        exp: f64,
        nbf: Option<f64>,
        iat: Option<f64>,
    ) -> Result<(), AuthError> {
        // Seconds fit in an f64 exactly far beyond any real date.
        #[allow(clippy::cast_precision_loss)]
        let now = now as f64;
        #[allow(clippy::cast_precision_loss)]
        let leeway = self.leeway as f64;
        // RFC 7519 §4.1.4: valid only *before* exp.
        if now >= exp + leeway {
            return Err(AuthError::new(ErrorKind::Expired));
        }
        if nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(AuthError::new(ErrorKind::NotYetValid));
        }
        if iat.is_some_and(|iat| now + leeway < iat) {
            return Err(AuthError::new(ErrorKind::NotYetValid)
                .with_description("the token was issued in the future"));
        }
        Ok(())
    }

    /// Checks a token's claims once its signature verified, and builds
    /// its principal (without the claims themselves, which the caller
    /// attaches: they borrow from its buffer).
    pub(crate) fn validate(
        &self,
        header: &Header<'_>,
        claims: &TokenClaims<'_>,
        issuer: &str,
        audiences: &[String],
        now: u64,
        scheme: &'static str,
    ) -> Result<Validated, AuthError> {
        // Time first (after the signature), then who the token is for.
        let exp = claims.known[EXP]
            .numeric_date()?
            .ok_or_else(|| invalid("the token has no expiry"))?;
        let nbf = claims.known[NBF].numeric_date()?;
        let iat = claims.known[IAT].numeric_date()?;
        self.check_times(now, exp, nbf, iat)?;
        if let Some(expected) = &self.typ {
            if !header
                .typ
                .as_deref()
                .is_some_and(|t| typ_matches(t, expected))
            {
                return Err(invalid("the token is not of the expected type"));
            }
        }
        if claims.iss() != Some(issuer) {
            return Err(invalid("the token's issuer is not trusted"));
        }
        let audience_ok = claims.known[AUD]
            .strings()
            .iter()
            .any(|aud| audiences.iter().any(|a| a == aud));
        if !audience_ok {
            return Err(invalid("the token is not meant for this audience"));
        }
        if claims.required.contains(&false) {
            return Err(invalid("the token lacks a required claim"));
        }
        let subject = match claims.known[SUB].as_str() {
            Some(sub) if !sub.is_empty() => sub,
            _ => return Err(invalid("the token has no subject")),
        };
        let mut principal = Principal::new(subject, scheme).with_scopes(self.scopes(claims));
        if let Some(jti) = claims.known[JTI].as_str() {
            principal = principal.with_credential_id(jti);
        }
        Ok(Validated {
            principal,
            exp,
            nbf,
            iat,
        })
    }

    fn scopes(&self, claims: &TokenClaims<'_>) -> Scopes {
        let from = |v: &Loose<'_>| match v {
            Loose::Str(s) => Scopes::parse(s),
            other => other.strings().iter().collect(),
        };
        match &self.scope_claim {
            Some(_) => from(&claims.custom_scope),
            None if claims.known[SCOPE].is_present() => from(&claims.known[SCOPE]),
            None => from(&claims.known[SCP]),
        }
    }
}

/// Every algorithm jsonwebtoken knows: what the header parser accepts
/// before the issuer's own allow-list is applied.
pub(crate) const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_member_names_are_refused_however_they_are_spelled() {
        for json in [
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"x":{"role":"user","role":"admin"}}"#,
            r#"{"x":[1,{"a":1,"a":2}]}"#,
            r#"{"x":[[{"k":{"a":1,"a":1}}]]}"#,
            r#"{"s\"t":1,"s\"t":2}"#,
            r#"{"a\\":1,"a\\":2}"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            assert!(parse_claims(json.as_bytes()).is_err(), "{json}");
            assert!(token_claims(json).is_err(), "{json}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn the_flat_reader_reads_claims_as_serde_json_does(json in crate::jwt::flat::json_objects()) {
            for rules in [rules(0), custom_rules(Some("custom")), custom_rules(Some("scope"))] {
                if let Some(flat) = TokenClaims::parse_flat(json.as_bytes(), &rules) {
                    let full = TokenClaims::parse_json(json.as_bytes(), &rules);
                    proptest::prop_assert_eq!(Some(flat), full.ok(), "{}", json);
                }
            }
        }
    }

    fn custom_rules(scope_claim: Option<&str>) -> ClaimRules {
        ClaimRules {
            required: vec!["req".to_owned(), "sub".to_owned()],
            scope_claim: scope_claim.map(str::to_owned),
            ..rules(0)
        }
    }

    #[test]
    fn usual_claims_take_the_flat_reader() {
        let json = br#"{"iss":"https://i","aud":["api","x"],"sub":"alice","exp":4000000000,
            "iat":1700000000,"jti":"j","scope":"orders:read orders:write","admin":false}"#;
        let flat = TokenClaims::parse_flat(json, &rules(0)).unwrap();
        assert_eq!(Some(flat), TokenClaims::parse_json(json, &rules(0)).ok());
    }

    #[test]
    fn known_names_have_their_index() {
        for (i, name) in KNOWN.iter().enumerate() {
            assert_eq!(known_index(name), Some(i));
        }
        assert_eq!(known_index("Iss"), None);
    }

    fn token_claims(json: &str) -> Result<TokenClaims<'_>, AuthError> {
        TokenClaims::parse(json.as_bytes(), &rules(0))
    }

    #[test]
    fn the_one_pass_reader_refuses_repeated_names_everywhere() {
        for json in [
            // Registered claims, custom ones, past the short list of names.
            r#"{"exp":1,"exp":2}"#,
            r#"{"iss":"a","sub":"b","iss":"a"}"#,
            r#"{"x":1,"y":2,"x":3}"#,
            r#"{"a0":0,"a1":0,"a2":0,"a3":0,"a4":0,"a5":0,"a6":0,"a7":0,"a8":0,"a9":0,
                "b0":0,"b1":0,"b2":0,"b3":0,"b4":0,"b5":0,"b6":0,"b7":0,"a3":0}"#,
            r#"{"\u0065xp":1,"exp":2}"#,
            // Inside the values the checks read, and the others.
            r#"{"aud":["api",{"a":1,"a":2}]}"#,
            r#"{"scope":[{"a":1,"a":2}]}"#,
            r#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
            r#"{"jti":{"a":[{"b":1,"b":1}]}}"#,
            r#"{"exp":{"a":1,"a":1}}"#,
        ] {
            assert!(token_claims(json).is_err(), "{json}");
            assert!(parse_claims(json.as_bytes()).is_err(), "{json}");
        }
        let many: String = (0..100)
            .map(|i| format!(r#""c{i}":{i}"#))
            .collect::<Vec<_>>()
            .join(",");
        assert!(token_claims(&format!("{{{many}}}")).is_ok());
        assert!(token_claims(&format!(r#"{{{many},"c77":0}}"#)).is_err());
        for json in ["[]", "1", r#""x""#, "{} {}", r#"{"a":1} x"#, "{", ""] {
            assert!(token_claims(json).is_err(), "{json}");
        }
    }

    #[test]
    fn the_one_pass_reader_reads_what_the_checks_need() {
        let json = r#"{"iss":"https://i","sub":"al\u0069ce","aud":["x",1,"api"],
            "exp":2000,"nbf":1.5,"iat":-3,"jti":"j","client_id":"c",
            "scope":"a b","scp":["c"],"cnf":{"jkt":"t"},"other":{"iss":"no"}}"#;
        let claims = token_claims(json).unwrap();
        assert_eq!(claims.iss(), Some("https://i"));
        assert!(claims.has_cnf() && claims.has("client_id") && !claims.has("other"));
        assert_eq!(claims.client_id(), Some("c"));
        let header = Header {
            alg: Some(Algorithm::RS256),
            kid: None,
            typ: None,
            crit: None,
        };
        let audiences = ["api".to_owned()];
        let v = rules(0)
            .validate(&header, &claims, "https://i", &audiences, 1000, "jwt")
            .unwrap();
        assert_eq!(v.principal.subject(), "alice");
        assert_eq!((v.exp, v.nbf, v.iat), (2000.0, Some(1.5), Some(-3.0)));
        assert_eq!(v.jti(), Some("j"));
        assert_eq!(v.principal.scopes().to_string(), "a b");
        // `scope` wins over `scp` even when it is not usable.
        let claims = token_claims(r#"{"scope":7,"scp":["c"]}"#).unwrap();
        assert!(rules(0).scopes(&claims).is_empty());
        let claims = token_claims(r#"{"scp":["c",2,"d"]}"#).unwrap();
        assert_eq!(rules(0).scopes(&claims).to_string(), "c d");
        // A configured scope claim, even one with another role.
        let mut custom = rules(0);
        custom.scope_claim = Some("sub".to_owned());
        let claims = TokenClaims::parse(br#"{"scope":"a","sub":"x y"}"#, &custom).unwrap();
        assert_eq!(custom.scopes(&claims).to_string(), "x y");
        custom.scope_claim = Some("perms".to_owned());
        let claims = TokenClaims::parse(br#"{"perms":["p"],"scope":"a"}"#, &custom).unwrap();
        assert_eq!(custom.scopes(&claims).to_string(), "p");
        // Required claims, registered or not, of any type.
        let mut required = rules(0);
        required.required = vec!["tenant".to_owned(), "nbf".to_owned()];
        let base = r#""iss":"https://i","sub":"s","aud":"api","exp":2000"#;
        for (extra, ok) in [
            (r#","tenant":null,"nbf":1"#, true),
            (r#","tenant":{}"#, false),
            (r#","nbf":1"#, false),
        ] {
            let json = format!("{{{base}{extra}}}");
            let claims = TokenClaims::parse(json.as_bytes(), &required).unwrap();
            let result = required.validate(&header, &claims, "https://i", &audiences, 1000, "jwt");
            assert_eq!(result.is_ok(), ok, "{json}");
        }
        // Types are judged after the signature, by `validate`.
        for json in [
            r#"{"iss":"https://i","sub":"s","aud":"api","exp":"2000"}"#,
            r#"{"iss":"https://i","sub":"s","aud":"api","exp":2000,"nbf":true}"#,
            r#"{"iss":"https://i","sub":"s","aud":"api"}"#,
            r#"{"iss":"https://i","sub":"","aud":"api","exp":2000}"#,
            r#"{"iss":"https://i","sub":7,"aud":"api","exp":2000}"#,
            r#"{"iss":"https://i","sub":"s","aud":{"api":1},"exp":2000}"#,
            r#"{"iss":["https://i"],"sub":"s","aud":"api","exp":2000}"#,
        ] {
            let claims = token_claims(json).unwrap();
            assert!(
                rules(0)
                    .validate(&header, &claims, "https://i", &audiences, 1000, "jwt")
                    .is_err(),
                "{json}"
            );
        }
    }

    /// Regression: the readers took any object whose first member is
    /// serde_json's private number token for a number (as serde_json does
    /// only under its `arbitrary_precision` feature, off in this build),
    /// and skipped its value unread: `exp` as an object passed as a
    /// NumericDate, repeated names hid inside it, and a value serde_json
    /// refuses (a lone surrogate) passed, so the principal's claims map,
    /// built later from the same JSON, came out empty.
    #[test]
    fn the_private_number_token_is_an_ordinary_member_name() {
        // What the expectations below assume of this build.
        assert!(!numbers_are_maps(), "serde_json has arbitrary_precision");
        let header = Header {
            alg: Some(Algorithm::RS256),
            kid: None,
            typ: None,
            crit: None,
        };
        let audiences = ["api".to_owned()];
        let exp = r#"{"iss":"https://i","sub":"s","aud":"api",
            "exp":{"$serde_json::private::Number":"4102444800"}}"#;
        let claims = token_claims(exp).unwrap();
        assert!(rules(0)
            .validate(&header, &claims, "https://i", &audiences, 1000, "jwt")
            .is_err());
        for json in [
            r#"{"x":{"$serde_json::private::Number":{"a":1,"a":2}}}"#,
            r#"{"exp":{"$serde_json::private::Number":{"a":1,"a":2}}}"#,
            r#"{"x":[{"$serde_json::private::Number":[{"a":1,"a":2}]}]}"#,
            r#"{"x":{"$serde_json::private::Number":"\ud800"}}"#,
            r#"{"x":{"$serde_json::private::Number":1e400}}"#,
        ] {
            assert!(token_claims(json).is_err(), "{json}");
            assert!(parse_claims(json.as_bytes()).is_err(), "{json}");
            assert!(
                !super::super::token::has_unique_names(json.as_bytes()),
                "{json}"
            );
        }
        // As a plain name, it is a claim like any other.
        let plain = r#"{"x":{"$serde_json::private::Number":"1"},"y":1}"#;
        assert!(token_claims(plain).is_ok());
        assert!(parse_claims(plain.as_bytes()).is_ok());
    }

    #[test]
    fn colons_and_quotes_inside_strings_are_not_members() {
        for json in [
            r#"{"sub":"a:b","url":"https://x:1/"}"#,
            r#"{"q":"say \"a:b\"","k\":":"v"}"#,
            r#"{"back":"\\","after":":"}"#,
            r#"{"x":[{"a":1},{"a":2}],"y":{"a":{"a":{}}}}"#,
            "{\"a\" : 1 , \"b\"\t:\t\"c\" }",
            r#"{}"#,
        ] {
            assert!(parse_claims(json.as_bytes()).is_ok(), "{json}");
            assert!(token_claims(json).is_ok(), "{json}");
        }
        assert!(parse_claims(b"[1,2]").is_err());
        assert!(parse_claims(br#"{"a":1} x"#).is_err());
    }

    fn rules(leeway: u64) -> ClaimRules {
        ClaimRules {
            leeway,
            required: Vec::new(),
            typ: None,
            scope_claim: None,
        }
    }

    #[test]
    fn time_boundaries_to_the_second() {
        let r = rules(0);
        assert!(r.check_times(99, 100.0, None, None).is_ok());
        assert_eq!(
            r.check_times(100, 100.0, None, None).unwrap_err().kind(),
            ErrorKind::Expired
        );
        let r = rules(60);
        assert!(r.check_times(159, 100.0, None, None).is_ok());
        assert!(r.check_times(160, 100.0, None, None).is_err());
        assert!(r.check_times(40, 1000.0, Some(100.0), None).is_ok());
        assert_eq!(
            r.check_times(39, 1000.0, Some(100.0), None)
                .unwrap_err()
                .kind(),
            ErrorKind::NotYetValid
        );
        assert!(r.check_times(40, 1000.0, None, Some(100.0)).is_ok());
        assert!(r.check_times(39, 1000.0, None, Some(100.0)).is_err());
    }

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        // What this guards against: serde_json's map keeps the last value.
        let twice = br#"{"sub":"alice","sub":"admin"}"#;
        let kept: Map<String, Value> = serde_json::from_slice(twice).unwrap();
        assert_eq!(kept["sub"], "admin");
        assert!(parse_claims(twice).is_err());
        assert!(parse_claims(br#"{"org":{"role":"user","role":"admin"}}"#).is_err());
        assert!(parse_claims(br#"{"orgs":[{"id":1,"id":2}]}"#).is_err());
        assert!(parse_claims(b"[]").is_err());
        assert!(parse_claims(b"{} {}").is_err());
        let claims =
            parse_claims(br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"b":{"a":1}}"#).unwrap();
        assert_eq!(
            Value::Object(claims),
            serde_json::json!({"a":[1,-2,3.5,"x",null,true,{"b":{}}],"b":{"a":1}})
        );
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_matches("at+jwt", "at+JWT"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
    }
    /// Differential: the one-pass reader, the introspection reader and
    /// the map a principal builds later agree on which claims are JSON
    /// objects without repeated names, over JSON texts written out by hand
    /// (so that they can repeat names and hold any escape) from the pieces
    /// that matter: escaped names, the private number token, numbers out
    /// of range, lone surrogates, nesting.
    #[test]
    fn the_claim_readers_agree() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let names = [
            r#""a""#,
            r#""\u0061""#,
            r#""exp""#,
            r#""\u0065xp""#,
            r#""aud""#,
            r#""sub""#,
            r#""scope""#,
            r#""$serde_json::private::Number""#,
        ];
        let scalars = [
            "1",
            "-0",
            "1.5",
            "1e400",
            "18446744073709551616",
            r#""\ud800""#,
            r#""\ud83d\ude00""#,
            "null",
            "true",
            r#""x\\y""#,
            r#""s\"t""#,
            r#""4102444800""#,
        ];
        let leaf = proptest::sample::select(scalars.to_vec()).prop_map(str::to_owned);
        let value = leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                proptest::collection::vec((proptest::sample::select(names.to_vec()), inner), 0..4)
                    .prop_map(|members| {
                        let members: Vec<String> =
                            members.iter().map(|(n, v)| format!("{n}:{v}")).collect();
                        format!("{{{}}}", members.join(","))
                    }),
            ]
        });
        let claims =
            proptest::collection::vec((proptest::sample::select(names.to_vec()), value), 0..4)
                .prop_map(|members| {
                    let members: Vec<String> =
                        members.iter().map(|(n, v)| format!("{n}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                });
        let mut runner = TestRunner::new(Config {
            cases: 5_000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&claims, |json| {
                let one_pass = token_claims(&json).is_ok();
                prop_assert_eq!(one_pass, parse_claims(json.as_bytes()).is_ok(), "{}", json);
                if one_pass {
                    let map = serde_json::from_slice::<Map<String, Value>>(json.as_bytes());
                    prop_assert!(map.is_ok(), "{}", json);
                    let unique = super::super::token::has_unique_names(json.as_bytes());
                    prop_assert!(unique, "{}", json);
                }
                Ok(())
            })
            .unwrap();
    }
}
