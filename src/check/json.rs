//! A strict JSON scanner that allocates nothing: the fast path of `plan`'s reader.
//!
//! `freetier check --plan` spends most of its time reading `terraform show -json` output, and
//! skips most of what it reads (`change.before` and `after`, `sensitive_values`, provider
//! names, …). This scanner walks the text once: strings come back borrowed from it, skipped
//! values are checked and passed over without recursion, string bytes eight at a time.
//!
//! It accepts only what serde_json accepts (RFC 8259, nested far less deeply than serde_json's
//! limit of 128) and answers `None` to everything else: malformed text, and whatever its caller
//! prefers not to read itself. The caller then reads the file with serde_json, so an error, or
//! an input the scanner does not take, behaves exactly as serde_json makes it behave.
//!
//! Imports nothing from the rest of the crate.

use std::borrow::Cow;

/// Deepest nesting taken (serde_json refuses past 128, so everything taken is within its limit).
const MAX_DEPTH: u32 = 100;

/// A position in a JSON text.
pub struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Objects and lists open around `pos`.
    depth: u32,
}

impl<'a> Scanner<'a> {
    /// At the start of `text`.
    pub fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    /// The next byte that is not whitespace (not consumed).
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        // `terraform show -json` writes no whitespace between tokens.
        let c = *self.bytes.get(self.pos)?;
        if c > b' ' {
            return Some(c);
        }
        self.peek_past_whitespace()
    }

    #[cold]
    fn peek_past_whitespace(&mut self) -> Option<u8> {
        loop {
            match *self.bytes.get(self.pos)? {
                b' ' | b'\n' | b'\r' | b'\t' => self.pos += 1,
                c => return Some(c),
            }
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// The end of the text: only whitespace is left.
    pub fn finish(mut self) -> Option<()> {
        match self.peek() {
            None => Some(()),
            Some(_) => None,
        }
    }

    /// Consumes a `null`, if that is what comes next.
    pub fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null").is_some()
    }

    /// A `true` or `false`.
    pub fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.pos..)?.starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A string: borrowed when it has no escape, else decoded by serde_json, so that an escape
    /// means exactly what it means there (and a lone surrogate is refused as it is there).
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        self.peek()?;
        let start = self.pos;
        let (raw, escaped) = self.string_token()?;
        if !escaped {
            return Some(Cow::Borrowed(raw));
        }
        serde_json::from_str::<String>(&self.text[start..self.pos])
            .ok()
            .map(Cow::Owned)
    }

    // A string token: its text between the quotes, and whether it has escapes.
    #[inline(always)]
    fn string_token(&mut self) -> Option<(&'a str, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let escaped = self.pass_string()?;
        Some((&self.text[start..self.pos - 1], escaped))
    }

    // Passes over a string token (its opening quote is next), checked as serde_json checks one
    // it skips; true when it has escapes. Inlined: most of a plan is short strings.
    #[inline(always)]
    fn pass_string(&mut self) -> Option<bool> {
        self.pos += 1;
        let mut escaped = false;
        loop {
            self.pos += plain_run(self.bytes.get(self.pos..)?);
            match *self.bytes.get(self.pos)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pass_escape()?;
                }
                _ => return None, // a control character
            }
        }
        self.pos += 1;
        Some(escaped)
    }

    #[cold]
    fn pass_escape(&mut self) -> Option<()> {
        let b = self.bytes;
        match *b.get(self.pos + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
            b'u' => {
                let hex = b.get(self.pos + 2..self.pos + 6)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                self.pos += 6;
            }
            _ => return None,
        }
        Some(())
    }

    /// A number's text, checked against JSON's grammar (no leading zeros, digits after `.` and
    /// after the exponent).
    pub fn number(&mut self) -> Option<&'a str> {
        self.peek()?;
        let b = self.bytes;
        let start = self.pos;
        if b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match *b.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = b.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = b.get(self.pos) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Some(&self.text[start..self.pos])
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }

    /// An object: `member` is called with each key (`None` for a key with an escape, which
    /// serde_json would decode before matching it) and must consume the value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Option<&'a str>) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter(1)?;
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let (key, escaped) = self.string_token()?;
                self.eat(b':')?;
                member(self, (!escaped).then_some(key))?;
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// A list: `item` is called for each element and must consume it.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter(1)?;
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.pos += 1,
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn enter(&mut self, levels: u32) -> Option<()> {
        (self.depth + levels <= MAX_DEPTH).then(|| self.depth += levels)
    }

    /// Skips one value of any kind, checking it as serde_json checks what it ignores. A loop,
    /// not recursion: the containers open inside the value are a stack of bits (set for an
    /// object), which MAX_DEPTH keeps within 128.
    pub fn skip(&mut self) -> Option<()> {
        let mut objects: u128 = 0;
        let mut open: u32 = 0;
        loop {
            // A value. A container that is not empty leaves the loop at its first value.
            match self.peek()? {
                b'"' => {
                    self.pass_string()?;
                }
                c @ (b'{' | b'[') => {
                    self.pos += 1;
                    self.enter(1)?;
                    let object = c == b'{';
                    if self.peek()? == if object { b'}' } else { b']' } {
                        self.pos += 1;
                        self.depth -= 1;
                    } else {
                        open += 1;
                        objects = objects << 1 | object as u128;
                        if object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => {
                    self.number()?;
                }
            }
            // After a value: close containers until one has a next member or element.
            loop {
                if open == 0 {
                    return Some(());
                }
                let object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if object {
                            self.member_key()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                self.pos += 1;
                self.depth -= 1;
                open -= 1;
                objects >>= 1;
            }
        }
    }

    // `"key":` inside a skipped object.
    fn member_key(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.pass_string()?;
        self.eat(b':')
    }

    /// Skips one value and gives its text, for serde_json to read.
    pub fn raw_value(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.pos;
        self.skip()?;
        Some(&self.text[start..self.pos])
    }
}

// How many bytes at the start of `b` need no attention inside a string: not a quote, not a
// backslash, not a control character. Eight at a time: a byte of `x ^ splat(c)` is zero where
// `x` has `c`, and `(y - splat(1)) & !y & splat(0x80)` flags the lowest zero byte of `y`
// exactly (a borrow can only flag bytes above it); `(x - splat(0x20)) & !x` flags bytes below
// 0x20 the same way.
#[inline]
fn plain_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        let special = ((quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGHS;
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut s = Scanner::new(text);
        s.skip().is_some() && s.finish().is_some()
    }

    // The scanner takes a text only when serde_json does (it may refuse more, never less).
    #[test]
    fn skipping_checks_json_as_serde_json_does() {
        let cases = [
            r#"{"a": [1, -0.5e+3, "x\"y\u00e9", true, false, null, {}, []], "b": {"c": {}}}"#,
            r#"  [ 1 , 2 ]  "#,
            r#""\ud800""#,
            "0",
            "-0",
            "1E5",
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"[1 2]"#,
            r#"{"a" 1}"#,
            r#"{1: 2}"#,
            "01",
            "1.",
            "1.e3",
            "-",
            "+1",
            ".5",
            "1e",
            "tru",
            "nul",
            "\"a\u{1}b\"",
            r#""\x""#,
            r#""\u12g4""#,
            r#""abc"#,
            "[",
            "{",
            "",
            "[] []",
            "\u{feff}{}",
            "NaN",
            "Infinity",
            &"[".repeat(99),
            &format!("{}{}", "[".repeat(99), "]".repeat(99)),
            &format!("{}{}", "[".repeat(101), "]".repeat(101)),
            &format!("{}1{}", "{\"a\":".repeat(60), "}".repeat(60)),
        ];
        for text in cases {
            let ours = skips(text);
            let serde = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert!(
                !ours || serde,
                "the scanner takes what serde_json refuses: {text:?}"
            );
            if text.len() < 200 {
                assert_eq!(ours, serde, "{text:?}");
            }
        }
    }

    #[test]
    fn plain_runs_stop_at_quotes_backslashes_and_control_characters() {
        for (text, want) in [
            ("", 0),
            ("abc", 3),
            ("abcdefghij\"", 10),
            ("abcdefgh\\", 8),
            ("a\u{1f}", 1),
            ("é\"", 2),
            ("0123456\"89", 7),
        ] {
            assert_eq!(plain_run(text.as_bytes()), want, "{text:?}");
        }
    }
}
