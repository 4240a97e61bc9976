//! Physical to logical lines as Apache's `ap_varbuf_cfg_getline` reads them.
//!
//! A line ending in `\` (before LF or CRLF) continues on the next physical line with nothing
//! inserted; the logical line is trimmed of C `isspace` blanks; the line number is that of the
//! last physical line read. A final line without LF keeps a trailing `\` literally.

use std::borrow::Cow;

/// Apache's cap on one logical line of a main config file (16 MiB).
pub const MAX_LINE_MAIN: usize = 16 * 1024 * 1024;
/// Apache's cap on one logical line of an `.htaccess` file (HUGE_STRING_LEN).
pub const MAX_LINE_HTACCESS: usize = 8192;

/// One logical line: trimmed text (borrowed from the file unless continuation joined lines)
/// and the line number Apache reports for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine<'a> {
    pub text: Cow<'a, str>,
    pub line: u32,
}

/// Reads logical lines out of a whole file held in memory.
#[derive(Debug, Clone)]
pub struct LineReader<'a> {
    rest: &'a str,
    line_number: u32,
    max_len: usize,
}

/// Apache's `apr_isspace`: C `isspace` in the "C" locale.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

impl<'a> LineReader<'a> {
    pub fn new(source: &'a str) -> Self {
        LineReader {
            rest: source,
            line_number: 0,
            max_len: MAX_LINE_MAIN,
        }
    }

    /// A reader with the `.htaccess` line-length cap.
    pub fn with_max_len(source: &'a str, max_len: usize) -> Self {
        LineReader {
            rest: source,
            line_number: 0,
            max_len,
        }
    }

    /// The number of the last physical line read so far.
    pub fn line_number(&self) -> u32 {
        self.line_number
    }

    /// The next logical line, `None` at end of file, or Apache's "Line too long" text. A NUL
    /// ends the line's text, as Apache reads each line as a C string.
    pub fn next_line(&mut self) -> Option<Result<LogicalLine<'a>, String>> {
        // The common case: one physical line, returned as a slice of the file.
        if let Some(at) = self.rest.find('\n') {
            let physical = &self.rest[..at];
            let physical = physical.strip_suffix('\r').unwrap_or(physical);
            if !physical.ends_with('\\') && physical.len() <= self.max_len {
                self.rest = &self.rest[at + 1..];
                self.line_number += 1;
                let text = Cow::Borrowed(up_to_nul(physical).trim_matches(is_c_space));
                return Some(Ok(LogicalLine {
                    text,
                    line: self.line_number,
                }));
            }
        }
        let mut text = String::new();
        let mut read_any = false;
        loop {
            self.line_number += 1;
            if self.rest.is_empty() {
                if read_any {
                    break;
                }
                // Apache counts the failed read too, but an EOF at a line start ends the file.
                self.line_number -= 1;
                return None;
            }
            read_any = true;
            let (physical, had_newline) = match self.rest.find('\n') {
                Some(at) => {
                    let line = &self.rest[..at];
                    self.rest = &self.rest[at + 1..];
                    (line, true)
                }
                None => {
                    let line = self.rest;
                    self.rest = "";
                    (line, false)
                }
            };
            if !had_newline {
                text.push_str(physical);
                break;
            }
            let physical = physical.strip_suffix('\r').unwrap_or(physical);
            match physical.strip_suffix('\\') {
                Some(continued) => {
                    text.push_str(continued);
                    if text.len() > self.max_len {
                        return Some(Err(self.too_long()));
                    }
                }
                None => {
                    text.push_str(physical);
                    break;
                }
            }
        }
        if text.len() > self.max_len {
            return Some(Err(self.too_long()));
        }
        let trimmed = up_to_nul(&text).trim_matches(is_c_space);
        let text = if trimmed.len() == text.len() {
            text
        } else {
            trimmed.to_string()
        };
        Some(Ok(LogicalLine {
            text: Cow::Owned(text),
            line: self.line_number,
        }))
    }

    fn too_long(&self) -> String {
        format!("at line {}: Line too long", self.line_number)
    }
}

/// The text before the first NUL (all of it when there is none).
fn up_to_nul(text: &str) -> &str {
    text.split('\0').next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str) -> Vec<(u32, String)> {
        let mut r = LineReader::new(src);
        let mut out = vec![];
        while let Some(l) = r.next_line() {
            let l = l.unwrap();
            out.push((l.line, l.text.into_owned()));
        }
        out
    }

    #[test]
    fn a_nul_ends_the_line_text() {
        assert_eq!(
            all("Opti\0ns None\nAlias /a /b\0c \\\n  /d\n"),
            vec![(1, "Opti".into()), (3, "Alias /a /b".into())]
        );
    }

    #[test]
    fn continuation_joins_verbatim_and_reports_last_line() {
        assert_eq!(
            all("a\\\n  b\nc\n"),
            vec![(2, "a  b".into()), (3, "c".into())]
        );
        assert_eq!(all("spa\\\nced\n"), vec![(2, "spaced".into())]);
    }

    #[test]
    fn escaped_backslash_still_continues() {
        assert_eq!(
            all("Define Q a\\\\\nnext\n"),
            vec![(2, "Define Q a\\next".into())]
        );
    }

    #[test]
    fn trailing_backslash_at_eof_is_literal() {
        assert_eq!(all("x\\"), vec![(1, "x\\".into())]);
    }

    #[test]
    fn crlf_and_trimming() {
        assert_eq!(
            all("  a b \r\n\tc\\\r\nd\r\n"),
            vec![(1, "a b".into()), (3, "cd".into())]
        );
    }

    #[test]
    fn continuation_into_eof_counts_the_failed_read() {
        assert_eq!(all("a\\\n"), vec![(2, "a".into())]);
    }
}
