//! ErrorLogFormat strings: parsed as Apache's core parses them (items with `{arg}`, `+`, `-`
//! and minimum-level modifiers, `% ` and literal spaces as field separators, backslash
//! escapes in literal text), with its error texts. The server renders the items.

/// What an item prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Literal text.
    Text(String),
    /// `%M`: the message itself.
    Message,
    /// A `%x` item, by its letter.
    Item(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: Kind,
    pub arg: Option<String>,
    /// Starts a new field: an empty item drops the field back to here.
    pub field_separator: bool,
    /// `+`: an empty value drops the whole line.
    pub required: bool,
    /// `-`: an empty value prints `-`.
    pub hyphen_if_empty: bool,
    /// A digit: the item shows only for messages at least this verbose.
    pub min_level: usize,
}

const LETTERS: &[char] = &[
    'a', 'A', 'e', 'E', 'F', 'i', 'k', 'l', 'L', 'm', 'n', 'P', 't', 'T', 'v', 'V',
];

/// Apache's highest level number (trace8).
const MAX_LEVEL: usize = 15;

fn blank(kind: Kind) -> Item {
    Item {
        kind,
        arg: None,
        field_separator: false,
        required: false,
        hyphen_if_empty: false,
        min_level: 0,
    }
}

/// Literal text up to the next `%` or non-leading space.
fn literal(chars: &[char], at: &mut usize) -> Item {
    let mut text = String::new();
    let mut at_start = true;
    while *at < chars.len() && chars[*at] != '%' && (chars[*at] != ' ' || at_start) {
        let c = chars[*at];
        if c != '\\' {
            if c != ' ' {
                at_start = false;
            }
            text.push(c);
            *at += 1;
            continue;
        }
        *at += 1;
        match chars.get(*at) {
            Some('r') => text.push('\r'),
            Some('n') => text.push('\n'),
            Some('t') => text.push('\t'),
            None => {
                text.push('\\');
                continue;
            }
            Some(&other) => text.push(other),
        }
        *at += 1;
    }
    blank(Kind::Text(text))
}

fn item(chars: &[char], at: &mut usize) -> Result<Item, String> {
    if chars[*at] != '%' {
        let separator = chars[*at] == ' ';
        let mut item = literal(chars, at);
        item.field_separator = separator;
        return Ok(item);
    }
    *at += 1;
    if chars.get(*at) == Some(&' ') {
        *at += 1;
        if *at >= chars.len() {
            return Err("Ran off end of error log format parsing args to some directive".into());
        }
        let mut next = item(chars, at)?;
        next.field_separator = true;
        return Ok(next);
    }
    if chars.get(*at) == Some(&'%') {
        *at += 1;
        return Ok(blank(Kind::Text("%".into())));
    }
    let mut out = blank(Kind::Message);
    while *at < chars.len() {
        match chars[*at] {
            '{' => {
                *at += 1;
                let mut arg = String::new();
                while *at < chars.len() && chars[*at] != '}' {
                    arg.push(chars[*at]);
                    *at += 1;
                }
                *at += 1;
                out.arg = Some(arg);
            }
            '+' => {
                out.required = true;
                *at += 1;
            }
            '-' => {
                out.hyphen_if_empty = true;
                *at += 1;
            }
            d if d.is_ascii_digit() => {
                let mut level = 0usize;
                while *at < chars.len() && chars[*at].is_ascii_digit() {
                    level = level * 10 + chars[*at].to_digit(10).unwrap_or(0) as usize;
                    *at += 1;
                }
                out.min_level = level;
            }
            'M' => {
                *at += 1;
                out.kind = Kind::Message;
                return Ok(out);
            }
            c => {
                if !LETTERS.contains(&c) {
                    return Err(format!("Unrecognized error log format directive %{c}"));
                }
                *at += 1;
                out.kind = Kind::Item(c);
                return Ok(out);
            }
        }
    }
    Err("Ran off end of error log format parsing args to some directive".into())
}

/// Parses a format; `main` for the per-message format (it must hold `%M` and may not use `+`),
/// otherwise a once-per-connection or once-per-request one.
pub fn parse(text: &str, main: bool) -> Result<Vec<Item>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let mut items = Vec::new();
    let mut seen_message = false;
    while at < chars.len() {
        let item = item(&chars, &mut at)?;
        if item.kind == Kind::Message {
            if !main {
                return Err(
                    "%M cannot be used in once-per-request or once-per-connection formats".into(),
                );
            }
            seen_message = true;
        }
        if main && item.required {
            return Err("The '+' flag cannot be used in the main error log format".into());
        }
        if !main && item.min_level > 0 {
            return Err("The loglevel cannot be used as a condition in once-per-request or once-per-connection formats".into());
        }
        if item.min_level > MAX_LEVEL {
            return Err("The specified loglevel modifier is out of range".into());
        }
        items.push(item);
    }
    if main && !seen_message {
        return Err("main ErrorLogFormat must contain message format string '%M'".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_apache_refuses() {
        assert_eq!(
            parse("%Q", true).unwrap_err(),
            "Unrecognized error log format directive %Q"
        );
        assert_eq!(
            parse("%t %l", true).unwrap_err(),
            "main ErrorLogFormat must contain message format string '%M'"
        );
        assert_eq!(
            parse("%{x", true).unwrap_err(),
            "Ran off end of error log format parsing args to some directive"
        );
        assert!(parse("%M", false).is_err());
        assert!(parse("%+a %M", true).is_err());
        assert!(parse("[%t] %M", true).is_ok());
    }

    #[test]
    fn splits_fields_at_spaces_and_percent_space() {
        let items = parse(
            "[%{u}t] [%-m:%l] %7F: %E: [client\\ %a] %M% ,\\ referer\\ %{Referer}i",
            true,
        )
        .unwrap();
        let separators: Vec<bool> = items.iter().map(|i| i.field_separator).collect();
        assert_eq!(items[1].kind, Kind::Item('t'));
        assert_eq!(items[1].arg.as_deref(), Some("u"));
        assert!(items
            .iter()
            .any(|i| i.kind == Kind::Item('F') && i.min_level == 7));
        assert!(items
            .iter()
            .any(|i| matches!(&i.kind, Kind::Text(t) if t == " [client ")));
        assert!(separators.iter().filter(|s| **s).count() >= 5);
    }
}
