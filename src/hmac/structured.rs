//! The subset of RFC 8941 structured fields that RFC 9421 needs:
//! dictionaries whose members are items or inner lists, with parameters.
//! Parsing is bounded: inputs longer than [`MAX_FIELD_LEN`] are refused.

use std::fmt::Write as _;

use super::encoding::b64;

/// Longest `Signature-Input` / `Signature` / `Content-Digest` value parsed.
pub(crate) const MAX_FIELD_LEN: usize = 8 * 1024;
/// Most members, items or parameters in one list.
const MAX_ENTRIES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BareItem {
    Integer(i64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

pub(crate) type Params = Vec<(String, BareItem)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) value: BareItem,
    pub(crate) params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    Item(Item),
    InnerList(Vec<Item>, Params),
}

/// Parses a dictionary; `None` on any syntax error.
pub(crate) fn parse_dictionary(input: &str) -> Option<Vec<(String, Member)>> {
    if input.len() > MAX_FIELD_LEN {
        return None;
    }
    let mut p = Parser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let mut out: Vec<(String, Member)> = Vec::new();
    if p.at_end() {
        return Some(out);
    }
    loop {
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item {
                value: BareItem::Boolean(true),
                params: p.params()?,
            })
        };
        // RFC 8941 §4.2.2: a repeated key overwrites the earlier value in
        // place, keeping the first position.
        insert(&mut out, key, member)?;
        p.skip_ows();
        if p.at_end() {
            return Some(out);
        }
        if !p.eat(b',') {
            return None;
        }
        p.skip_ows();
        if p.at_end() {
            return None;
        }
    }
}

/// Sets `key` to `value`: where the key already is, or at the end; `None`
/// when that would make more than [`MAX_ENTRIES`].
fn insert<V>(entries: &mut Vec<(String, V)>, key: String, value: V) -> Option<()> {
    if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
        return Some(());
    }
    if entries.len() == MAX_ENTRIES {
        return None;
    }
    entries.push((key, value));
    Some(())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn key(&mut self) -> Option<String> {
        let start = self.i;
        match self.peek() {
            Some(b) if b.is_ascii_lowercase() || b == b'*' => self.i += 1,
            _ => return None,
        }
        while let Some(b) = self.peek() {
            if b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        self.text(start)
    }

    fn text(&self, start: usize) -> Option<String> {
        self.s
            .get(start..self.i)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned)
    }

    fn member(&mut self) -> Option<Member> {
        if self.eat(b'(') {
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                if self.eat(b')') {
                    break;
                }
                if items.len() == MAX_ENTRIES {
                    return None;
                }
                let value = self.bare_item()?;
                let params = self.params()?;
                items.push(Item { value, params });
                match self.peek() {
                    Some(b' ' | b')') => {}
                    _ => return None,
                }
            }
            Some(Member::InnerList(items, self.params()?))
        } else {
            let value = self.bare_item()?;
            Some(Member::Item(Item {
                value,
                params: self.params()?,
            }))
        }
    }

    fn params(&mut self) -> Option<Params> {
        let mut params: Params = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            // RFC 8941 §4.2.3.2: as for dictionary keys, in place.
            insert(&mut params, key, value)?;
        }
        Some(params)
    }

    fn bare_item(&mut self) -> Option<BareItem> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => self.integer(),
            b'"' => self.string(),
            b':' => self.bytes(),
            b'?' => {
                self.i += 1;
                let value = match self.peek()? {
                    b'0' => false,
                    b'1' => true,
                    _ => return None,
                };
                self.i += 1;
                Some(BareItem::Boolean(value))
            }
            b if b.is_ascii_alphabetic() || b == b'*' => self.token(),
            _ => None,
        }
    }

    fn integer(&mut self) -> Option<BareItem> {
        let start = self.i;
        self.eat(b'-');
        let digits = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        // Decimals are not used by RFC 9421 parameters: refused.
        if self.i == digits || self.i - digits > 15 || self.peek() == Some(b'.') {
            return None;
        }
        self.text(start)?.parse().ok().map(BareItem::Integer)
    }

    fn string(&mut self) -> Option<BareItem> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return Some(BareItem::String(out)),
                b'\\' => {
                    let escaped = self.peek()?;
                    if escaped != b'"' && escaped != b'\\' {
                        return None;
                    }
                    self.i += 1;
                    out.push(char::from(escaped));
                }
                b' '..=b'~' => out.push(char::from(b)),
                _ => return None,
            }
        }
    }

    fn token(&mut self) -> Option<BareItem> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if crate::credentials::is_tchar(b) || b == b':' || b == b'/' {
                self.i += 1;
            } else {
                break;
            }
        }
        self.text(start).map(BareItem::Token)
    }

    fn bytes(&mut self) -> Option<BareItem> {
        self.i += 1;
        let start = self.i;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b"+/=".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        let mut text = self.text(start)?;
        if !self.eat(b':') {
            return None;
        }
        // RFC 8941 §4.2.7: parsers SHOULD NOT fail when `=` padding is
        // missing.
        if !text.contains('=') {
            while text.len() % 4 != 0 {
                text.push('=');
            }
        }
        super::encoding::unb64(&text, MAX_FIELD_LEN).map(BareItem::Bytes)
    }
}

/// RFC 8941 serialization of a bare item.
pub(crate) fn serialize_bare(out: &mut String, value: &BareItem) {
    match value {
        BareItem::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        BareItem::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        BareItem::Token(t) => out.push_str(t),
        BareItem::Bytes(b) => {
            out.push(':');
            out.push_str(&b64(b));
            out.push(':');
        }
        BareItem::Boolean(true) => out.push_str("?1"),
        BareItem::Boolean(false) => out.push_str("?0"),
    }
}

/// RFC 8941 serialization of parameters.
pub(crate) fn serialize_params(out: &mut String, params: &Params) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != BareItem::Boolean(true) {
            out.push('=');
            serialize_bare(out, value);
        }
    }
}

/// RFC 8941 serialization of an inner list with its parameters.
pub(crate) fn serialize_inner_list(items: &[Item], params: &Params) -> String {
    let mut out = String::from("(");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        serialize_bare(&mut out, &item.value);
        serialize_params(&mut out, &item.params);
    }
    out.push(')');
    serialize_params(&mut out, params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reserializes_signature_input() {
        let input = r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#;
        let dict = parse_dictionary(input).unwrap();
        let (label, Member::InnerList(items, params)) = &dict[0] else {
            panic!("not an inner list");
        };
        assert_eq!(label, "sig-b25");
        assert_eq!(items.len(), 3);
        assert_eq!(
            format!("sig-b25={}", serialize_inner_list(items, params)),
            input
        );
    }

    /// RFC 8941 §4.2.2 and §4.2.3.2: the last value wins, at the first
    /// position; and unpadded byte sequences parse (§4.2.7).
    #[test]
    fn repeated_keys_keep_their_first_position() {
        let dict = parse_dictionary("a=1, b=2, a=3;x=1;y=2;x=3").unwrap();
        let keys: Vec<&str> = dict.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        let Member::Item(item) = &dict[0].1 else {
            panic!("not an item")
        };
        assert_eq!(item.value, BareItem::Integer(3));
        assert_eq!(
            item.params,
            [
                ("x".to_owned(), BareItem::Integer(3)),
                ("y".to_owned(), BareItem::Integer(2))
            ]
        );
        let dict = parse_dictionary("a=:AAE:, b=:AAEC:, c=:AQ:").unwrap();
        let bytes: Vec<&BareItem> = dict
            .iter()
            .map(|(_, m)| match m {
                Member::Item(i) => &i.value,
                Member::InnerList(..) => panic!("not an item"),
            })
            .collect();
        assert_eq!(
            bytes,
            [
                &BareItem::Bytes(vec![0, 1]),
                &BareItem::Bytes(vec![0, 1, 2]),
                &BareItem::Bytes(vec![1])
            ]
        );
        assert!(parse_dictionary("a=:A:").is_none());
    }

    #[test]
    fn parses_byte_sequences_and_rejects_garbage() {
        let dict = parse_dictionary("a=:AAE=:, b=?0;x, c").unwrap();
        assert_eq!(dict.len(), 3);
        assert!(
            matches!(&dict[0].1, Member::Item(Item { value: BareItem::Bytes(b), .. }) if b == &[0, 1])
        );
        for bad in [
            "A=1",
            "a=(",
            "a=\"x",
            "a=1,",
            "a=1.5",
            "a=:!!:",
            "a=1 b=2",
            "a=\"\\x\"",
        ] {
            assert!(parse_dictionary(bad).is_none(), "{bad}");
        }
        assert!(parse_dictionary(&"a".repeat(MAX_FIELD_LEN + 1)).is_none());
    }
}
