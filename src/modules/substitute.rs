//! mod_substitute, whole: Substitute, SubstituteMaxLineLength and SubstituteInheritBefore
//! (table, setters, typed per-directory configuration and merge) and the SUBSTITUTE output
//! filter, which edits a response line by line with regexes or fixed strings. The body is cut
//! and passed on where Apache's filter cuts and passes it (each read of the handler's output,
//! the last partial line with the end), so that the framing a client sees is Apache's.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_FILEINFO;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::regex::Regex;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::filters::{FilterType, OutputFilter};
use crate::hooks::Hooks;
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "substitute_module",
    source: "mod_substitute.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Substitute",
        Take1(substitute),
        OR_FILEINFO,
        "Pattern to filter the response content (s/foo/bar/[inf])",
    )
    .implemented(),
    DirectiveDef::new(
        "SubstituteMaxLineLength",
        Take1(max_line_length),
        OR_FILEINFO,
        "Maximum line length",
    )
    .implemented(),
    DirectiveDef::new(
        "SubstituteInheritBefore",
        Flag(inherit_before),
        OR_FILEINFO,
        "Apply inherited patterns before those of the current context",
    )
    .implemented(),
];

/// One `s/from/to/flags` line.
#[derive(Debug, Clone)]
pub struct Pattern {
    matcher: Matcher,
    replacement: Vec<u8>,
    /// Flag `f` (the default) rather than `q`: each piece of a line with a match becomes one
    /// piece again, so later patterns see across what this one replaced.
    flatten: bool,
}

#[derive(Debug, Clone)]
enum Matcher {
    Regex(Regex),
    /// Flag `n`: a fixed string, compared without regard to case under `i`.
    Fixed {
        text: Vec<u8>,
        caseless: bool,
    },
}

const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// Per-directory settings.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub patterns: Vec<Pattern>,
    pub max_line_length: Option<usize>,
    pub inherit_before: Option<bool>,
}

impl DirConfig for Dir {
    /// A section's patterns come before the inherited ones, unless SubstituteInheritBefore.
    fn merge(&self, child: &Dir) -> Dir {
        let inherit_before = child.inherit_before.or(self.inherit_before);
        let patterns = if inherit_before == Some(true) {
            [self.patterns.clone(), child.patterns.clone()].concat()
        } else {
            [child.patterns.clone(), self.patterns.clone()].concat()
        };
        Dir {
            patterns,
            max_line_length: child.max_line_length.or(self.max_line_length),
            inherit_before,
        }
    }
}

/// `s<d>from<d>to<d>flags`, read as Apache reads it: the delimiter is the character after
/// the `s`, `from` may not be empty, `to` may, flags are `i`, `n`, `f`, `q`.
fn substitute(cmd: &mut Cmd, line: &str) -> SetResult {
    let bytes = line.as_bytes();
    if !bytes.first().is_some_and(|c| c.eq_ignore_ascii_case(&b's')) {
        return Err("Bad Substitute format, must be an s/// pattern".into());
    }
    let incomplete = || "Bad Substitute format, must be a complete s/// pattern".to_string();
    let Some(&delim) = bytes.get(1) else {
        return Err(incomplete());
    };
    let rest = &line[2..];
    let Some((from, rest)) = rest.split_once(delim as char) else {
        return Err(incomplete());
    };
    let (to, flags) = rest.split_once(delim as char).unwrap_or((rest, ""));
    if from.is_empty() {
        return Err(incomplete());
    }
    let (mut caseless, mut fixed, mut flatten) = (false, false, true);
    for flag in flags.chars() {
        match flag.to_ascii_lowercase() {
            'i' => caseless = true,
            'n' => fixed = true,
            'f' => flatten = true,
            'q' => flatten = false,
            _ => return Err("Bad Substitute flag, only s///[infq] are supported".into()),
        }
    }
    let matcher = if fixed {
        Matcher::Fixed {
            text: from.as_bytes().to_vec(),
            caseless,
        }
    } else {
        use rhttpd_directives::regex_defaults::{get, DOLLAR_ENDONLY, ICASE};
        let flags = (get() & DOLLAR_ENDONLY) | if caseless { ICASE } else { 0 };
        match Regex::with_flags(from, flags) {
            Ok(regex) => Matcher::Regex(regex),
            Err(_) => return Err("Substitute could not compile regex".into()),
        }
    };
    cmd.dir_config::<Dir>().patterns.push(Pattern {
        matcher,
        replacement: to.as_bytes().to_vec(),
        flatten,
    });
    Ok(())
}

/// A size in bytes with an optional `b`, `k`, `m` or `g` (apr_strtoff, then the suffix).
fn max_line_length(cmd: &mut Cmd, arg: &str) -> SetResult {
    let bad = || {
        "SubstituteMaxLineLength must be a non-negative integer optionally suffixed with 'b', 'k', 'm' or 'g'."
            .to_string()
    };
    let trimmed = arg.trim_start();
    let (sign, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (-1i64, &trimmed[1..]),
        Some(b'+') => (1, &trimmed[1..]),
        _ => (1, trimmed),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let number: i64 = body[..digits].parse().map_err(|_| bad())?;
    let factor = match &body[digits..] {
        "" | "b" | "B" => 1,
        "k" | "K" => 1024,
        "m" | "M" => 1024 * 1024,
        "g" | "G" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    let value = (sign * number).checked_mul(factor).ok_or_else(bad)?;
    if value < 0 {
        return Err(bad());
    }
    cmd.dir_config::<Dir>().max_line_length = Some(value as usize);
    Ok(())
}

fn inherit_before(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().inherit_before = Some(on);
    Ok(())
}

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.output_filters.register(&OUTPUT_FILTER);
}

pub static OUTPUT_FILTER: OutputFilter = OutputFilter {
    name: "SUBSTITUTE",
    ftype: FilterType::Resource,
    run: substitute_output,
};

/// A line grew past SubstituteMaxLineLength (Apache's APR_ENOMEM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TooLong;

/// The filter's work on one response: the patterns, the limit, and the line kept from one
/// read to the next.
struct Editor {
    patterns: Vec<Pattern>,
    max_line: usize,
    /// Only one pattern: its pieces are never flattened (Apache's shortcut).
    force_quick: bool,
    /// The part of a line whose end has not come yet.
    partial: Vec<u8>,
}

/// Apache passes its work down the chain early once this many pieces gathered.
const MAX_PIECES: usize = 1000;

impl Editor {
    /// One read of the body: the complete lines, edited, in the pieces Apache passes them in.
    fn read(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), TooLong> {
        let mut pass = Vec::new();
        let mut pieces = 0;
        let mut rest = data;
        while let Some(at) = memchr(b'\n', rest) {
            let (line, after) = rest.split_at(at + 1);
            rest = after;
            let line = if self.partial.is_empty() {
                line.to_vec()
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                if joined.len() > self.max_line {
                    return Err(TooLong);
                }
                joined
            };
            let edited = self.edit(line)?;
            pieces += edited.len();
            edited
                .iter()
                .for_each(|piece| pass.extend_from_slice(piece));
            if pieces > MAX_PIECES {
                out.push(std::mem::take(&mut pass));
                pieces = 0;
            }
        }
        self.partial.extend_from_slice(rest);
        if !pass.is_empty() {
            out.push(pass);
        }
        Ok(())
    }

    /// The end of the body: the last line, if it had no newline, edited.
    fn finish(&mut self) -> Result<Vec<u8>, TooLong> {
        if self.partial.is_empty() {
            return Ok(Vec::new());
        }
        let line = std::mem::take(&mut self.partial);
        if line.len() > self.max_line {
            return Err(TooLong);
        }
        Ok(self.edit(line)?.concat())
    }

    /// Every pattern over a line, in order; each works on the pieces the ones before left.
    fn edit(&self, line: Vec<u8>) -> Result<Vec<Vec<u8>>, TooLong> {
        let mut pieces = vec![line];
        for pattern in &self.patterns {
            let quick = !pattern.flatten || self.force_quick;
            let mut next = Vec::with_capacity(pieces.len());
            for piece in pieces {
                apply(pattern, quick, self.max_line, piece, &mut next)?;
            }
            pieces = next;
        }
        Ok(pieces)
    }
}

fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == byte)
}

/// Where a pattern matches in `text`: (start, end).
fn find(matcher: &Matcher, text: &[u8], replacement: &[u8]) -> Option<(usize, usize, Vec<u8>)> {
    match matcher {
        Matcher::Fixed {
            text: wanted,
            caseless,
        } => {
            let found = text.windows(wanted.len()).position(|window| {
                if *caseless {
                    window.eq_ignore_ascii_case(wanted)
                } else {
                    window == wanted.as_slice()
                }
            })?;
            Some((found, found + wanted.len(), replacement.to_vec()))
        }
        Matcher::Regex(regex) => {
            let captures = regex.captures(text)?;
            let (start, end) = captures.span(0)?;
            Some((start, end, regsub(replacement, &captures)))
        }
    }
}

/// `ap_pregsub`: `$0`..`$9` from the match (nothing for a group that did not take part), a
/// backslash taking the next character as it is.
fn regsub(template: &[u8], captures: &rhttpd_directives::regex::Captures) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    while i < template.len() {
        let c = template[i];
        if c == b'$' && template.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let group = usize::from(template[i + 1] - b'0');
            out.extend_from_slice(captures.get(group).unwrap_or_default());
            i += 2;
            continue;
        }
        if c == b'\\' && i + 1 < template.len() {
            out.push(template[i + 1]);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// One pattern over one piece of a line, the result's pieces pushed to `out` as Apache's
/// buckets come out: split around each match (quick), or made one again (flatten). Each
/// match is looked for in what follows the one before, as if it began there (so `^` matches
/// again after a match). The limits are Apache's, checked where it checks them.
fn apply(
    pattern: &Pattern,
    quick: bool,
    max_line: usize,
    piece: Vec<u8>,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), TooLong> {
    let fixed = matches!(pattern.matcher, Matcher::Fixed { .. });
    let mut space_left = max_line;
    let mut flat: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut matched = false;
    while let Some((start, end, replacement)) =
        find(&pattern.matcher, &piece[pos..], &pattern.replacement)
    {
        matched = true;
        let before = &piece[pos..pos + start];
        if quick {
            if fixed {
                if space_left < before.len() + replacement.len() {
                    return Err(TooLong);
                }
                space_left -= before.len() + replacement.len();
            } else {
                if space_left <= before.len() {
                    return Err(TooLong);
                }
                space_left -= before.len();
                if replacement.len() >= space_left {
                    return Err(TooLong);
                }
                space_left -= replacement.len();
            }
            out.push(before.to_vec());
            out.push(replacement);
        } else {
            let too_long = if fixed {
                flat.len() + before.len() + replacement.len() > max_line
            } else {
                flat.len() + before.len() >= max_line
                    || replacement.len() >= max_line - flat.len() - before.len()
            };
            if too_long {
                return Err(TooLong);
            }
            flat.extend_from_slice(before);
            flat.extend_from_slice(&replacement);
        }
        // An empty match with nothing to put in its place would never move on (Apache's
        // worker spins there): it is refused as a line that cannot end.
        if end == 0 && replacement_is_empty(&pattern.replacement) {
            return Err(TooLong);
        }
        pos += end;
    }
    let rest = &piece[pos..];
    match (matched, quick) {
        (false, _) => out.push(piece),
        (true, true) => {
            if fixed && space_left < rest.len() {
                return Err(TooLong);
            }
            out.push(rest.to_vec());
        }
        (true, false) => {
            flat.extend_from_slice(rest);
            out.push(flat);
        }
    }
    Ok(())
}

fn replacement_is_empty(template: &[u8]) -> bool {
    template.is_empty()
}

/// The SUBSTITUTE filter: the response's Content-Length goes (Apache's length filter sets
/// one again only when the whole body reaches it at once), the body is edited as it goes.
fn substitute_output(req: &mut Request, mut response: Response) -> Step<Response> {
    let conf = req.dir.module::<Dir>().into_owned();
    let mut editor = Editor {
        force_quick: conf.patterns.len() == 1,
        patterns: conf.patterns,
        max_line: conf.max_line_length.unwrap_or(DEFAULT_MAX_LINE),
        partial: Vec::new(),
    };
    // How much of a file one read of its bucket gives: all of it under EnableMMAP (up to
    // APR's mmap limit), else APR's bucket buffer.
    let read_size = if req.dir.core.enable_mmap.unwrap_or(true) {
        4 * 1024 * 1024
    } else {
        8000
    };
    let reads: Vec<Vec<u8>> = match std::mem::take(&mut response.body) {
        Body::Empty => Vec::new(),
        Body::Bytes(bytes) => vec![bytes],
        Body::Pieces(bytes, sizes) => {
            let mut at = 0;
            sizes
                .iter()
                .map(|&size| {
                    let piece = bytes[at..at + size].to_vec();
                    at += size;
                    piece
                })
                .collect()
        }
        Body::File {
            file, offset, len, ..
        } => {
            let content = crate::filters::read_file_body(req, &file, offset, len)?;
            content.chunks(read_size).map(<[u8]>::to_vec).collect()
        }
        Body::Stream(inner) => {
            response.length_known = false;
            response.body = Body::Stream(BodyStream(Box::new(SubstituteStream {
                inner,
                editor,
                uri: req.uri.clone(),
                ended: false,
            })));
            return Ok(response);
        }
    };
    let mut pieces = Vec::new();
    let mut failed = false;
    for read in &reads {
        if editor.read(read, &mut pieces).is_err() {
            failed = true;
            break;
        }
    }
    let last = if failed {
        Err(TooLong)
    } else {
        editor.finish()
    };
    let last = match last {
        Ok(last) => last,
        Err(TooLong) => {
            let text = format!("AH01328: Line too long, URI {}", req.uri);
            req.log_error("substitute", "error", &text);
            // Nothing passed on yet: the request fails; else the answer ends where it stands.
            if pieces.is_empty() {
                return Err(500);
            }
            response.length_known = false;
            response.body = Body::Stream(BodyStream(Box::new(CutShort(pieces.into_iter()))));
            return Ok(response);
        }
    };
    if pieces.is_empty() {
        // The whole body reached the length filter with its end: it has a length again.
        response.length_known = true;
        response.length_last = true;
        response.body = Body::Bytes(last);
        return Ok(response);
    }
    pieces.push(last);
    pieces.retain(|p| !p.is_empty());
    let sizes = pieces.iter().map(Vec::len).collect();
    response.length_known = false;
    response.body = Body::Pieces(pieces.concat(), sizes);
    Ok(response)
}

/// What was passed on before a line proved too long, then the connection's end.
struct CutShort(std::vec::IntoIter<Vec<u8>>);

impl BodySource for CutShort {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self.0.next() {
            Some(piece) => Ok(Some(piece)),
            None => Err(std::io::Error::other("SubstituteMaxLineLength exceeded")),
        }
    }
}

/// A streamed body edited as it comes: each piece the handler gives is one read.
struct SubstituteStream {
    inner: BodyStream,
    editor: Editor,
    uri: String,
    ended: bool,
}

impl BodySource for SubstituteStream {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let too_long = |uri: &str| {
            let text = format!("AH01328: Line too long, URI {uri}");
            crate::log::error("substitute", "error", &text);
            std::io::Error::other("SubstituteMaxLineLength exceeded")
        };
        while !self.ended {
            match self.inner.0.next_piece()? {
                Some(data) => {
                    let mut out = Vec::new();
                    if self.editor.read(&data, &mut out).is_err() {
                        return Err(too_long(&self.uri));
                    }
                    if !out.is_empty() {
                        return Ok(Some(out.concat()));
                    }
                }
                None => {
                    self.ended = true;
                    let last = self.editor.finish().map_err(|_| too_long(&self.uri))?;
                    if !last.is_empty() {
                        return Ok(Some(last));
                    }
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(regex: &str, to: &str, flatten: bool) -> Pattern {
        Pattern {
            matcher: Matcher::Regex(Regex::with_flags(regex, 0).unwrap()),
            replacement: to.as_bytes().to_vec(),
            flatten,
        }
    }

    fn editor(patterns: Vec<Pattern>) -> Editor {
        Editor {
            force_quick: patterns.len() == 1,
            patterns,
            max_line: DEFAULT_MAX_LINE,
            partial: Vec::new(),
        }
    }

    #[test]
    fn lines_are_edited_whole_and_the_last_one_at_the_end() {
        let mut e = editor(vec![pattern("o+", "0", true)]);
        let mut out = Vec::new();
        e.read(b"foo boo\nzo", &mut out).unwrap();
        e.read(b"o\nlast o", &mut out).unwrap();
        assert_eq!(out, [b"f0 b0\n".to_vec(), b"z0\n".to_vec()]);
        assert_eq!(e.finish().unwrap(), b"last 0");
    }

    #[test]
    fn a_caret_matches_again_after_each_match() {
        let mut e = editor(vec![pattern("^a", "b", true)]);
        let mut out = Vec::new();
        e.read(b"aaa\n", &mut out).unwrap();
        assert_eq!(out, [b"bbb\n".to_vec()]);
    }

    #[test]
    fn quick_pieces_keep_later_patterns_from_seeing_across_them() {
        // With q the first pattern's replacement is a piece of its own: "xy" never forms.
        let quick = editor(vec![pattern("a", "x", false), pattern("xb", "Z", true)]);
        assert_eq!(quick.edit(b"ab".to_vec()).unwrap().concat(), b"xb");
        let flat = editor(vec![pattern("a", "x", true), pattern("xb", "Z", true)]);
        assert_eq!(flat.edit(b"ab".to_vec()).unwrap().concat(), b"Z");
    }

    #[test]
    fn groups_and_escapes_in_the_replacement() {
        let e = editor(vec![pattern("(\\w+)@(\\w+)", "$2 at $1 \\$1", true)]);
        assert_eq!(
            e.edit(b"me@host".to_vec()).unwrap().concat(),
            b"host at me $1"
        );
    }

    #[test]
    fn a_line_past_the_limit_fails() {
        let mut e = editor(vec![pattern("x", "y", true)]);
        e.max_line = 8;
        let mut out = Vec::new();
        assert_eq!(e.read(b"0123456789x\n", &mut out), Err(TooLong));
    }
}
