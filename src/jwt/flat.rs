//! A fast reader for the JSON objects that JWT headers and claims nearly
//! always are: one object whose members are strings without escapes,
//! small non-negative integers, `true`, `false`, `null` or arrays of such
//! strings.
//!
//! It decides nothing on its own: it either reads an object of that shape,
//! with exactly the values serde_json would give (see the tests, which
//! compare the two), or gives up, and serde_json (with the checks built on
//! it) reads the text instead. Anything unusual (escapes, control
//! characters, nesting, fractions, exponents, signs, long numbers, malformed text)
//! takes that path, and so does every error.
//!
//! The text is checked to be UTF-8 once, as a whole; strings are then
//! found eight bytes per step.

use std::borrow::Cow;

use super::claims::Loose;

/// Numbers of up to this many digits are below 2^53: exact as an `f64`.
const MAX_DIGITS: usize = 15;

/// Reads `json` as one flat object, handing each member to `member` in
/// order; `None` when the text is not of that shape or `member` gives up.
pub(crate) fn read_object<'a>(
    json: &'a [u8],
    mut member: impl FnMut(&'a str, Loose<'a>) -> Option<()>,
) -> Option<()> {
    let text = std::str::from_utf8(json).ok()?;
    let mut cursor = Cursor { text, json, at: 0 };
    cursor.skip_space();
    cursor.eat(b'{')?;
    cursor.skip_space();
    if cursor.peek() == Some(b'}') {
        cursor.at += 1;
    } else {
        loop {
            cursor.eat(b'"')?;
            let name = cursor.string()?;
            cursor.skip_space();
            cursor.eat(b':')?;
            cursor.skip_space();
            let value = cursor.value()?;
            member(name, value)?;
            cursor.skip_space();
            match cursor.next()? {
                b',' => cursor.skip_space(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    cursor.skip_space();
    (cursor.at == json.len()).then_some(())
}

struct Cursor<'a> {
    text: &'a str,
    /// `text`'s bytes.
    json: &'a [u8],
    at: usize,
}

/// Whether an eight-byte word of a string holds a byte that ends it or
/// that the reader leaves to serde_json: `"`, `\` or a control character
/// (never missing one; a byte after one may be flagged too).
fn has_string_special(word: u64) -> bool {
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    let zero = |w: u64| w.wrapping_sub(LOW) & !w;
    let below_space = word.wrapping_sub(SPACES) & !word;
    (zero(word ^ QUOTES) | zero(word ^ BACKSLASHES) | below_space) & HIGH != 0
}

fn is_string_special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// JSON's whitespace (RFC 8259 §2).
    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The rest of a string whose opening quote was read, without
    /// backslash or control character, up to the closing quote.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.at;
        let rest = self.json.get(start..)?;
        let mut words = rest.chunks_exact(8);
        let mut skipped = 0;
        for word in &mut words {
            if has_string_special(<[u8; 8]>::try_from(word).map_or(0, u64::from_ne_bytes)) {
                break;
            }
            skipped += 8;
        }
        let len = skipped
            + rest
                .get(skipped..)?
                .iter()
                .position(|&b| is_string_special(b))?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are next to a `"`: on character boundaries.
        self.text.get(start..start + len)
    }

    fn value(&mut self) -> Option<Loose<'a>> {
        match self.next()? {
            b'"' => Some(Loose::Str(Cow::Borrowed(self.string()?))),
            b'[' => {
                let mut items = Vec::new();
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Some(Loose::Strs(items));
                }
                loop {
                    self.eat(b'"')?;
                    items.push(Cow::Borrowed(self.string()?));
                    self.skip_space();
                    match self.next()? {
                        b',' => self.skip_space(),
                        b']' => return Some(Loose::Strs(items)),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            first @ b'0'..=b'9' => self.integer(first),
            _ => None,
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Option<Loose<'a>> {
        let end = self.at + rest.len();
        (self.json.get(self.at..end)? == rest).then_some(())?;
        self.at = end;
        Some(Loose::Other)
    }

    /// A non-negative integer without leading zeros, fraction or exponent,
    /// of at most [`MAX_DIGITS`] digits: as serde_json reads it (a `u64`,
    /// then `as f64`, exactly).
    fn integer(&mut self, first: u8) -> Option<Loose<'a>> {
        let mut n = u64::from(first - b'0');
        let mut digits = 1;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if first == b'0' || digits == MAX_DIGITS {
                return None;
            }
            n = n * 10 + u64::from(b - b'0');
            digits += 1;
            self.at += 1;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        // At most fifteen digits: below 2^53, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        Some(Loose::Num(n as f64))
    }
}

/// Objects for the tests that compare this reader with serde_json: flat
/// and not, valid and not, with names the header and claims readers know.
#[cfg(test)]
pub(crate) fn json_objects() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;

    let name = prop_oneof![
        prop::sample::select(vec![
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
            "custom",
            "req",
            "alg",
            "kid",
            "typ",
            "cty",
            "jku",
            "x5t#S256",
            "crit",
            "x5c",
            "jwk",
            "b64",
            "",
            "a\\u0062",
            "é",
            "a\"",
        ])
        .prop_map(str::to_owned),
        "[a-c]{1,2}",
    ];
    let value = prop_oneof![
        "[a-z :/.#+-]{0,8}".prop_map(|s| format!("\"{s}\"")),
        prop::sample::select(vec![
            "\"RS256\"",
            "\"ES256\"",
            "\"HS256\"",
            "\"none\"",
            "\"RS\\u0032\\u00356\"",
            "\"\\\"\"",
            "\"é\"",
            "\"\u{1}\"",
            "\"\t\"",
            "\"\x7f\"",
        ])
        .prop_map(str::to_owned),
        "[0-9]{1,17}",
        prop::sample::select(vec![
            "-1",
            "-0",
            "1.5",
            "1e3",
            "1E3",
            "0.0",
            "01",
            "00",
            "0",
            "1_000",
            "+1",
            "9007199254740993",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "True",
            "[]",
            "[ ]",
            "[\"a\", \"b\"]",
            "[\"a\",1]",
            "[[\"a\"]]",
            "[\"a\",]",
            "[,]",
            "[\"a\" \"b\"]",
            "{}",
            "{\"a\":1}",
            "{\"a\":1,\"a\":2}",
            "[\"RS256\"]",
        ])
        .prop_map(str::to_owned),
    ];
    let space = prop::sample::select(vec!["", "", "", "", " ", "\n\t", "\r ", "\u{a0}"]);
    let member = (name, value, space.clone(), space.clone())
        .prop_map(|(name, value, s1, s2)| format!("{s1}\"{name}\"{s2}:{s1}{value}{s2}"));
    let tail = prop::sample::select(vec!["", "", "", "", " ", "\n", "x", ",", "}", "{}"]);
    (
        space,
        prop::collection::vec(member, 0..8),
        prop::sample::select(vec![",", ",", ",", ", ", ";", ",,"]),
        tail,
        any::<prop::sample::Index>(),
        prop::option::weighted(0.25, any::<u8>()),
    )
        .prop_map(|(lead, members, comma, tail, at, byte)| {
            let mut text = format!("{lead}{{{}}}{tail}", members.join(comma)).into_bytes();
            // Sometimes one byte changed, anywhere.
            if let Some(byte) = byte {
                let i = at.index(text.len());
                if let Some(b) = text.get_mut(i) {
                    *b = byte;
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Option<Vec<(&str, Loose<'_>)>> {
        let mut members = Vec::new();
        read_object(json.as_bytes(), |name, value| {
            members.push((name, value));
            Some(())
        })?;
        Some(members)
    }

    #[test]
    fn reads_flat_objects() {
        let members = read(" {\"a\" : \"x y\",\n\"n\":1700000000,\"t\":true,\"l\":[\"p\", \"q\"],\"e\":[],\"z\":null}\r\n").unwrap();
        assert_eq!(
            members,
            vec![
                ("a", Loose::Str("x y".into())),
                ("n", Loose::Num(1_700_000_000.0)),
                ("t", Loose::Other),
                ("l", Loose::Strs(vec!["p".into(), "q".into()])),
                ("e", Loose::Strs(Vec::new())),
                ("z", Loose::Other),
            ]
        );
        assert_eq!(read("{}").unwrap(), Vec::new());
        assert_eq!(
            read("{\"é\":\"ü 0123456789abcdef\u{7f}\"}").unwrap(),
            vec![("é", Loose::Str("ü 0123456789abcdef\u{7f}".into()))]
        );
        assert_eq!(
            read("{\"n\":999999999999999}").unwrap(),
            vec![("n", Loose::Num(999_999_999_999_999.0))]
        );
    }

    #[test]
    fn gives_up_on_anything_else() {
        for json in [
            "",
            "{",
            "}",
            "[]",
            "{}x",
            "{},",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{a:1}",
            "{\"a\":\"\\u0041\"}",
            "{\"a\\\"\":1}",
            "{\"a\":\"\n\"}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":-1}",
            "{\"a\":1.0}",
            "{\"a\":1e3}",
            "{\"a\":01}",
            "{\"a\":1000000000000000}",
            "{\"a\":{}}",
            "{\"a\":[1]}",
            "{\"a\":[[]]}",
            "{\"a\":tru}",
            "{\"a\":truex}",
            "{\"a\":[\"b\",]}",
            "{\"a\":\"b}",
            "\u{a0}{}",
        ] {
            assert!(read(json).is_none(), "{json}");
        }
    }
}

#[cfg(test)]
mod string_tests {
    use super::*;

    /// Strings of every length around the eight-byte steps, with each
    /// byte the reader must stop at (or must not) at every position, as a
    /// member name and as a value: read as serde_json reads them, or not
    /// read at all.
    #[test]
    fn strings_across_the_steps_read_as_serde_json_reads_them() {
        let specials: [&[u8]; 12] = [
            b"\"",
            b"\\",
            b"\\u0065",
            b"\x00",
            b"\x1f",
            b"\n",
            b" ",
            b"\x7f",
            "é".as_bytes(),
            "\u{20ac}".as_bytes(),
            b"\xff",
            b"!",
        ];
        for len in 0..34 {
            for at in 0..=len {
                for special in specials {
                    let mut text = vec![b'a'; len];
                    text.splice(at..at, special.iter().copied());
                    for as_name in [false, true] {
                        let mut json = Vec::new();
                        if as_name {
                            json.extend_from_slice(b"{\"");
                            json.extend_from_slice(&text);
                            json.extend_from_slice(b"\":\"v\",\"x\":1}");
                        } else {
                            json.extend_from_slice(b"{\"k\":\"");
                            json.extend_from_slice(&text);
                            json.extend_from_slice(b"\",\"x\":1}");
                        }
                        let full = serde_json::from_slice::<serde_json::Value>(&json).ok();
                        let mut members = Vec::new();
                        let flat = read_object(&json, |name, value| {
                            members.push((name.to_owned(), value));
                            Some(())
                        });
                        let label = String::from_utf8_lossy(&json).into_owned();
                        if flat.is_some() {
                            let full = full.expect(&label);
                            let object = full.as_object().expect(&label);
                            assert_eq!(object.len(), members.len(), "{label}");
                            for (name, value) in &members {
                                match (object.get(name), value) {
                                    (Some(serde_json::Value::String(s)), Loose::Str(t)) => {
                                        assert_eq!(s, t, "{label}");
                                    }
                                    (Some(serde_json::Value::Number(n)), Loose::Num(m)) => {
                                        assert_eq!(n.as_f64(), Some(*m), "{label}");
                                    }
                                    other => panic!("{label}: {other:?}"),
                                }
                            }
                        } else {
                            // Only escapes, control characters and invalid text are left.
                            let plain =
                                !special.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20)
                                    && std::str::from_utf8(special).is_ok();
                            assert!(!plain, "{label}");
                        }
                    }
                }
            }
        }
    }
}
