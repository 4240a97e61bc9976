//! Response header fields as Apache's HTTP header filter admits them: a name is a token (any
//! visible byte under `HttpProtocolOptions Unsafe`), a value holds no control character but
//! tab, and an obs-fold (CRLF then space or tab) becomes one space. Whatever a module, the
//! configuration or a request-derived variable put in a header, nothing else reaches the wire:
//! a response carrying such a field is refused (500) rather than letting it split the head.

use std::fmt;

use super::chars::{holds_control, is_control, is_token};
use super::Headers;

/// A header field the filter refuses, with what Apache logs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadField {
    /// AH02428.
    EmptyName,
    /// AH02429: a name with a byte outside the token (strict) or visible (unsafe) set.
    Name(String),
    /// AH02430: a value with a control character that is not part of an obs-fold.
    Value { name: String, value: String },
}

impl fmt::Display for BadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadField::EmptyName => {
                write!(f, "AH02428: Empty response header name, aborting request")
            }
            BadField::Name(name) => write!(
                f,
                "AH02429: Response header name '{name}' contains invalid characters, aborting request"
            ),
            BadField::Value { name, value } => write!(
                f,
                "AH02430: Response header '{name}' value of '{value}' contains invalid characters, aborting request"
            ),
        }
    }
}

/// Checks every field of `headers`, unfolding obs-folds in place; the first bad one.
pub fn check_fields(headers: &mut Headers, strict: bool) -> Result<(), BadField> {
    for (name, value) in &mut headers.0 {
        check_name(name, strict)?;
        if let Some(unfolded) = check_value(name, value)? {
            *value = unfolded;
        }
    }
    Ok(())
}

fn check_name(name: &str, strict: bool) -> Result<(), BadField> {
    if name.is_empty() {
        return Err(BadField::EmptyName);
    }
    // Strict: tchar only; else any byte above the space but DEL (branch-free, as
    // `chars::holds_control` tests values).
    let fine = if strict {
        name.bytes().all(is_token)
    } else {
        !name
            .bytes()
            .fold(false, |bad, b| bad | (b <= 0x20) | (b == 0x7f))
    };
    if fine {
        Ok(())
    } else {
        Err(BadField::Name(name.to_string()))
    }
}

/// `None` when the value is fine as it is, the unfolded value when it held obs-folds.
fn check_value(name: &str, value: &str) -> Result<Option<String>, BadField> {
    if !holds_control(value.as_bytes()) {
        return Ok(None);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.bytes().position(is_control) {
        let fold = rest.as_bytes().get(at..at + 3);
        if !matches!(fold, Some([b'\r', b'\n', b' ' | b'\t'])) {
            // Apache names the value from the piece in which the bad byte stands.
            return Err(BadField::Value {
                name: name.to_string(),
                value: rest.to_string(),
            });
        }
        out.push_str(&rest[..at]);
        out.push(' ');
        rest = rest[at + 3..].trim_start_matches([' ', '\t']);
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: &str, strict: bool) -> Result<String, BadField> {
        let mut headers = Headers(vec![(name.to_string(), value.to_string())]);
        check_fields(&mut headers, strict).map(|()| headers.0[0].1.clone())
    }

    #[test]
    fn control_characters_are_refused() {
        for value in [
            "a\x0bb",
            "a\r\nSet-Cookie: x=1",
            "a\nb",
            "a\rb",
            "\x7f",
            "a\r\n",
        ] {
            assert!(
                matches!(one("X", value, true), Err(BadField::Value { .. })),
                "{value:?}"
            );
        }
        assert_eq!(one("X", "a\tb", true), Ok("a\tb".to_string()));
        assert_eq!(one("X", "caf\u{e9}", true), Ok("caf\u{e9}".to_string()));
    }

    #[test]
    fn obs_folds_become_one_space() {
        assert_eq!(one("X", "a\r\n  \tb", true), Ok("a b".to_string()));
        assert_eq!(one("X", "a\r\n\tb\r\n c", true), Ok("a b c".to_string()));
    }

    #[test]
    fn names_are_tokens_unless_unsafe() {
        assert_eq!(
            one("X?Bad", "v", true),
            Err(BadField::Name("X?Bad".to_string()))
        );
        assert_eq!(one("X?Bad", "v", false), Ok("v".to_string()));
        assert!(one("X Bad", "v", false).is_err());
        assert!(one("X\x01", "v", false).is_err());
        assert_eq!(one("", "v", true), Err(BadField::EmptyName));
    }
}
