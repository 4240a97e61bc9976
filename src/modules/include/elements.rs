//! The SSI elements as mod_include (and mod_cgid, for exec) runs them: the document's
//! variables (the request's environment, the CGI variables and mod_include's own, some
//! computed only when read), `$var` interpolation, the encodings and decodings, and each
//! element with Apache's messages and error text. Nested includes share the top document's
//! variables, as Apache's do.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::scan::{Arg, Host, Output, Scanner};
use super::{Dir, IncludedBy, Parent, ServerConf};
use crate::request::{Body, Request};

/// One variable's value: bytes, or one computed when it is first read.
#[derive(Debug, Clone)]
enum Value {
    Set(Vec<u8>),
    Lazy,
}

/// A document's variables (Apache's `r->subprocess_env`): names compared without regard to
/// case, in the order they were first set.
#[derive(Debug, Default)]
pub struct Env(Vec<(String, Value)>);

impl Env {
    fn position(&self, name: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// `apr_table_set`: the first entry of the name takes the value, later ones go.
    fn set(&mut self, name: &str, value: Value) {
        match self.position(name) {
            Some(at) => {
                self.0[at].1 = value;
                let mut seen = false;
                self.0.retain(|(n, _)| {
                    if !n.eq_ignore_ascii_case(name) {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.0.push((name.to_string(), value)),
        }
    }

    fn set_bytes(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.set(name, Value::Set(value.into()));
    }

    /// The variables as a sub-request inherits them: one not yet computed is empty, as
    /// Apache's copy holds its empty placeholder.
    fn materialized(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(n, v)| {
                let value = match v {
                    Value::Set(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Value::Lazy => String::new(),
                };
                (n.clone(), value)
            })
            .collect()
    }
}

/// The last regular expression an `if` matched, for `$0`..`$9`.
#[derive(Debug, Default, Clone)]
struct Backrefs {
    pattern: String,
    groups: usize,
    /// The captures of a match, `None` when it did not match.
    captures: Option<Vec<Option<String>>>,
}

/// The parsing of one document: the request, its shared variables and its own settings.
pub(super) struct Ssi<'a, 'r> {
    pub req: &'a mut Request<'r>,
    env: Arc<Mutex<Env>>,
    /// The modification time LAST_MODIFIED shows (the top document's).
    mtime: Option<SystemTime>,
    printing: bool,
    cond_true: bool,
    /// An if or elif failed (Apache 2.4.64's change): nothing of the conditional prints,
    /// `else` no longer turns printing on, until its endif; a later elif still may.
    cond_error: bool,
    size_in_bytes: bool,
    no_exec: bool,
    if_nesting_level: u32,
    error_str: Vec<u8>,
    time_str: String,
    undefined_echo: Vec<u8>,
    legacy: bool,
    re: Option<Backrefs>,
}

/// The variables of a document and the documents it includes (shared with the sub-requests
/// that parse them, which may be resumed on another thread: hence a lock, never contended).
fn locked(env: &Mutex<Env>) -> MutexGuard<'_, Env> {
    env.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Scans and runs a document given as the pieces its body came in; the passes its output
/// made down the chain.
pub(super) fn parse_document(req: &mut Request, conf: &Dir, pieces: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let server = req.ctx().runtime.module::<ServerConf>().into_owned();
    let parent = req.state.get::<IncludedBy>().and_then(|p| p.0.clone());
    let (env, mtime) = match parent {
        Some(parent) => (parent.env, parent.mtime),
        None => (
            Arc::new(Mutex::new(initial_env(req))),
            req.finfo.as_ref().and_then(|m| m.modified().ok()),
        ),
    };
    if let Some(args) = req.args.clone() {
        let mut env = locked(&env);
        env.set_bytes("QUERY_STRING", args.clone());
        env.set_bytes(
            "QUERY_STRING_UNESCAPED",
            escape_shell_cmd(&unescape_url(args.as_bytes())),
        );
    }
    let options = req.dir.core.options();
    let mut ssi = Ssi {
        env,
        mtime,
        printing: true,
        cond_true: true,
        cond_error: false,
        size_in_bytes: false,
        no_exec: options & rhttpd_directives::model::opt::INC_WITH_EXEC == 0,
        if_nesting_level: 0,
        error_str: conf
            .error_msg
            .as_deref()
            .unwrap_or(super::DEFAULT_ERROR_MSG)
            .as_bytes()
            .to_vec(),
        time_str: conf
            .time_format
            .clone()
            .unwrap_or_else(|| super::DEFAULT_TIME_FORMAT.to_string()),
        undefined_echo: conf
            .undefined_echo
            .as_deref()
            .unwrap_or(super::DEFAULT_UNDEFINED_ECHO)
            .as_bytes()
            .to_vec(),
        legacy: conf.legacy_expr == Some(true),
        re: None,
        req,
    };
    let start = server
        .start_tag
        .as_deref()
        .unwrap_or(super::DEFAULT_START_TAG);
    let end = server.end_tag.as_deref().unwrap_or(super::DEFAULT_END_TAG);
    Scanner::new(start, end).run(pieces, &mut ssi)
}

/// The variables a top document starts with: the request's environment, the CGI variables
/// (Apache's `ap_add_common_vars` and `ap_add_cgi_vars`), then mod_include's own.
fn initial_env(req: &Request) -> Env {
    let mut env = Env::default();
    for (name, value) in crate::request::environment(req) {
        env.set_bytes(&name, value);
    }
    let filename = req.filename.clone().unwrap_or_default();
    for (name, value) in crate::modules::cgi::script_environment(req, &filename) {
        env.set_bytes(&name, value);
    }
    env.set("DATE_LOCAL", Value::Lazy);
    env.set("DATE_GMT", Value::Lazy);
    env.set("LAST_MODIFIED", Value::Lazy);
    env.set_bytes("DOCUMENT_URI", req.uri.clone());
    env.set_bytes("DOCUMENT_ARGS", req.args.clone().unwrap_or_default());
    if !req.path_info.is_empty() {
        env.set_bytes("DOCUMENT_PATH_INFO", req.path_info.clone());
    }
    env.set("USER_NAME", Value::Lazy);
    let name = req
        .filename
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned())
        .and_then(|f| f.rsplit_once('/').map(|(_, base)| base.to_string()));
    env.set_bytes("DOCUMENT_NAME", name.unwrap_or_else(|| req.uri.clone()));
    if let Some(args) = &req.args {
        env.set_bytes(
            "QUERY_STRING_UNESCAPED",
            escape_shell_cmd(&unescape_url(args.as_bytes())),
        );
    }
    env
}

/// `ap_ht_time`: strftime of a time, local or in GMT (where `%Z` is "GMT" and `%z`
/// "+0000").
fn ht_time(time: SystemTime, format: &str, gmt: bool) -> Vec<u8> {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    };
    let pattern = if gmt {
        let mut out = String::with_capacity(format.len());
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.peek() {
                Some('%') => {
                    out.push_str("%%");
                    chars.next();
                }
                Some('Z') => {
                    out.push_str("GMT");
                    chars.next();
                }
                Some('z') => {
                    out.push_str("+0000");
                    chars.next();
                }
                _ => out.push('%'),
            }
        }
        out
    } else {
        format.to_string()
    };
    crate::sys::strftime_apr(&pattern, secs, gmt).into_bytes()
}

/// `ap_escape_shell_cmd`: a backslash before each character a shell treats specially.
fn escape_shell_cmd(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        if b"&;`'\"|*?~<>^()[]{}$\\\n\xFF".contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// `ap_unescape_url` as the decodings use it: every `%XX` decoded in place (a bad escape left
/// as written), the text ending at a decoded NUL, as C text does.
fn unescape_url(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            if let (Some(h), Some(l)) = (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out.truncate(nul);
    }
    out
}

/// `ap_escape_urlencoded`: letters, digits and `.-*_` stay, a space is `+`, the rest `%xx`.
fn escape_urlencoded(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        if b.is_ascii_alphanumeric() || b".-*_".contains(&b) {
            out.push(b);
        } else if b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
    out
}

/// The largest name of an entity `decodehtml` knows.
const MAX_ENTITY_LEN: usize = 6;

/// The Latin-1 entities `decodehtml` knows, by length.
const ENTITIES: &[(&str, u8)] = &[
    ("lt", 60),
    ("gt", 62),
    ("amp", 38),
    ("ETH", 0xD0),
    ("eth", 0xF0),
    ("quot", 34),
    ("Auml", 0xC4),
    ("Euml", 0xCB),
    ("Iuml", 0xCF),
    ("Ouml", 0xD6),
    ("Uuml", 0xDC),
    ("auml", 0xE4),
    ("euml", 0xEB),
    ("iuml", 0xEF),
    ("ouml", 0xF6),
    ("uuml", 0xFC),
    ("yuml", 0xFF),
    ("Acirc", 0xC2),
    ("Aring", 0xC5),
    ("AElig", 0xC6),
    ("Ecirc", 0xCA),
    ("Icirc", 0xCE),
    ("Ocirc", 0xD4),
    ("Ucirc", 0xDB),
    ("THORN", 0xDE),
    ("szlig", 0xDF),
    ("acirc", 0xE2),
    ("aring", 0xE5),
    ("aelig", 0xE6),
    ("ecirc", 0xEA),
    ("icirc", 0xEE),
    ("ocirc", 0xF4),
    ("ucirc", 0xFB),
    ("thorn", 0xFE),
    ("Agrave", 0xC0),
    ("Aacute", 0xC1),
    ("Atilde", 0xC3),
    ("Ccedil", 0xC7),
    ("Egrave", 0xC8),
    ("Eacute", 0xC9),
    ("Igrave", 0xCC),
    ("Iacute", 0xCD),
    ("Ntilde", 0xD1),
    ("Ograve", 0xD2),
    ("Oacute", 0xD3),
    ("Otilde", 0xD5),
    ("Oslash", 0xD8),
    ("Ugrave", 0xD9),
    ("Uacute", 0xDA),
    ("Yacute", 0xDD),
    ("agrave", 0xE0),
    ("aacute", 0xE1),
    ("atilde", 0xE3),
    ("ccedil", 0xE7),
    ("egrave", 0xE8),
    ("eacute", 0xE9),
    ("igrave", 0xEC),
    ("iacute", 0xED),
    ("ntilde", 0xF1),
    ("ograve", 0xF2),
    ("oacute", 0xF3),
    ("otilde", 0xF5),
    ("oslash", 0xF8),
    ("ugrave", 0xF9),
    ("uacute", 0xFA),
    ("yacute", 0xFD),
];

/// mod_include's `decodehtml`: the Latin-1 entities and numeric references it knows become
/// their byte; an unknown entity stays; a reference to a control or unused character goes.
pub(super) fn decode_html(text: &[u8]) -> Vec<u8> {
    let text = match text.iter().position(|&b| b == 0) {
        Some(nul) => &text[..nul],
        None => text,
    };
    let mut out = Vec::with_capacity(text.len());
    let mut s = 0;
    while s < text.len() {
        if text[s] != b'&' {
            out.push(text[s]);
            s += 1;
            continue;
        }
        let Some(semi) = text[s + 1..].iter().position(|&b| b == b';') else {
            out.push(b'&');
            s += 1;
            continue;
        };
        let i = semi + 1;
        if text.get(s + 1) == Some(&b'#') {
            let mut j = 2;
            let mut val: i64 = 0;
            while j < i && text[s + j].is_ascii_digit() {
                val = (val * 10 + i64::from(text[s + j] - b'0')).min(1 << 20);
                j += 1;
            }
            s += i;
            let unused = j < i
                || val <= 8
                || (11..=31).contains(&val)
                || (127..=160).contains(&val)
                || val >= 256;
            if !unused {
                out.push(val as u8);
            }
            s += 1;
            continue;
        }
        let name = &text[s + 1..s + i];
        let known = (name.len() <= MAX_ENTITY_LEN)
            .then(|| ENTITIES.iter().find(|(n, _)| n.as_bytes() == name))
            .flatten();
        match known {
            Some((_, byte)) => {
                out.push(*byte);
                s += i + 1;
            }
            None => {
                out.push(b'&');
                s += 1;
            }
        }
    }
    out
}

/// `ap_pbase64decode`: the characters up to the first that is not base64, decoded.
fn base64_decode(text: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let valid: Vec<u8> = text
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    let usable = valid.len() - valid.len() % 4;
    let mut out = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&valid[..usable])
        .unwrap_or_default();
    let rest = &valid[usable..];
    if rest.len() >= 2 {
        if let Ok(tail) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(rest) {
            out.extend(tail);
        }
    }
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out.truncate(nul);
    }
    out
}

fn base64_encode(text: &[u8]) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(text)
        .into_bytes()
}

/// `apr_strtok(list, ", \t")`: the words of a decoding or encoding list.
fn words(list: &[u8]) -> Vec<String> {
    list.split(|b| b", \t".contains(b))
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Which way a list of codings runs.
#[derive(Clone, Copy)]
enum Coding {
    Decoding,
    Encoding,
}

fn apply_coding(kind: Coding, word: &str, text: &[u8]) -> Option<Vec<u8>> {
    let word = word.to_ascii_lowercase();
    Some(match (kind, word.as_str()) {
        (_, "none") => text.to_vec(),
        (Coding::Decoding, "url") => unescape_url(text),
        (Coding::Decoding, "urlencoded") => {
            let plus: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            unescape_url(&plus)
        }
        (Coding::Decoding, "entity") => decode_html(text),
        (Coding::Decoding, "base64") => base64_decode(text),
        (Coding::Encoding, "url") => {
            rhttpd_directives::util::escape::escape_path(text, true).into_bytes()
        }
        (Coding::Encoding, "urlencoded") => escape_urlencoded(text),
        (Coding::Encoding, "entity") => rhttpd_directives::util::escape::escape_html(text),
        (Coding::Encoding, "base64") => base64_encode(text),
        _ => return None,
    })
}

/// The plain file name a sub-request for `file=` looks up (`apr_filepath_merge` with
/// SECUREROOTTEST and NOTABSOLUTE): relative, and never above where it starts.
fn secure_relative(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    let mut merged = parts.join("/");
    if path.ends_with('/') && !merged.is_empty() {
        merged.push('/');
    }
    Some(merged)
}

/// What a sub-request's run left: the passes its output made, or the status it failed with.
type SubRun = Result<Vec<Vec<u8>>, u16>;

impl<'r> Ssi<'_, 'r> {
    fn filename_text(&self) -> String {
        self.req
            .filename
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "(null)".into())
    }

    fn log(&self, level: &str, text: &str) {
        self.req.log_error("include", level, text);
    }

    /// `get_include_var`: `$0`..`$9` from the last regular expression, else the variable
    /// (computing it the first time when it is one of those kept for later).
    pub(super) fn var(&self, name: &str) -> Option<Vec<u8>> {
        let bytes = name.as_bytes();
        if bytes.len() == 1 && bytes[0].is_ascii_digit() {
            let index = usize::from(bytes[0] - b'0');
            let file = self.filename_text();
            let Some(re) = self.re.as_ref().filter(|re| re.captures.is_some()) else {
                self.log(
                    "warn",
                    &format!("AH01329: regex capture ${index} refers to no regex in {file}"),
                );
                return None;
            };
            if re.groups < index {
                self.log(
                    "warn",
                    &format!(
                        "AH01330: regex capture ${index} is out of range (last regex was: \
                         '{}') in {file}",
                        re.pattern
                    ),
                );
                return None;
            }
            let captures = re.captures.as_ref()?;
            return captures
                .get(index)
                .cloned()
                .flatten()
                .map(String::into_bytes);
        }
        let value = {
            let env = locked(&self.env);
            env.position(name).map(|at| env.0[at].1.clone())
        };
        match value? {
            Value::Set(bytes) => Some(bytes),
            Value::Lazy => {
                let computed = self.lazy(name)?;
                locked(&self.env).set(name, Value::Set(computed.clone()));
                Some(computed)
            }
        }
    }

    /// `add_include_vars_lazy`.
    fn lazy(&self, name: &str) -> Option<Vec<u8>> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "DATE_LOCAL" => ht_time(self.req.now, &self.time_str, false),
            "DATE_GMT" => ht_time(self.req.now, &self.time_str, true),
            "LAST_MODIFIED" => ht_time(self.mtime.unwrap_or(UNIX_EPOCH), &self.time_str, false),
            "USER_NAME" => {
                use std::os::unix::fs::MetadataExt;
                let uid = self.req.finfo.as_ref().map(|m| m.uid());
                uid.and_then(crate::sys::user_name_of)
                    .unwrap_or_else(|| "<unknown>".into())
                    .into_bytes()
            }
            _ => return None,
        })
    }

    /// `ap_ssi_parse_string`: `$name` and `${name}` replaced by the variable's value (or, with
    /// `leave_name`, left as written when it is not set), `\$` a dollar sign.
    pub(super) fn interpolate(&self, text: &[u8], leave_name: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut p = 0;
        while p < text.len() {
            match text[p] {
                b'\\' => {
                    if text.get(p + 1) == Some(&b'$') {
                        out.push(b'$');
                        p += 2;
                    } else {
                        out.push(b'\\');
                        p += 1;
                    }
                }
                b'$' => {
                    let start = p;
                    let (key, next, name_end) = if text.get(p + 1) == Some(&b'{') {
                        let open = p + 2;
                        let Some(close) = text[open..].iter().position(|&b| b == b'}') else {
                            let rest = String::from_utf8_lossy(&text[open..]);
                            self.log(
                                "error",
                                &format!(
                                    "AH01331: Missing '}}' on variable \"{rest}\" in {}",
                                    self.filename_text()
                                ),
                            );
                            break;
                        };
                        let close = open + close;
                        ((close > open).then(|| &text[open..close]), close + 1, close)
                    } else {
                        let mut end = p + 1;
                        while end < text.len()
                            && (text[end] == b'_' || text[end].is_ascii_alphanumeric())
                        {
                            end += 1;
                        }
                        ((end > p + 1).then(|| &text[p + 1..end]), end, end)
                    };
                    match key {
                        None => {
                            out.push(b'$');
                            p = start + 1;
                        }
                        Some(key) => {
                            let key = String::from_utf8_lossy(key);
                            match self.var(&key) {
                                Some(value) => out.extend_from_slice(&value),
                                None if leave_name => out.extend_from_slice(&text[start..name_end]),
                                None => {}
                            }
                            p = next;
                        }
                    }
                }
                b => {
                    out.push(b);
                    p += 1;
                }
            }
        }
        if let Some(nul) = out.iter().position(|&b| b == 0) {
            out.truncate(nul);
        }
        out
    }

    fn error(&self, out: &mut Output) {
        out.push(&self.error_str);
    }

    /// The message for an element given no arguments (an error while printing, else a
    /// warning).
    fn missing(&self, id: &str, text: &str) {
        let level = if self.printing { "error" } else { "warn" };
        let message = format!("{id}: {text} in {}", self.filename_text());
        self.log(level, &message);
    }

    /// How an element's handler opens in mod_include: fewer than `least` arguments are
    /// logged (`missing`) whether or not output is on, and answered with the error text while
    /// it is. Whether the element goes on.
    fn opens(
        &mut self,
        args: &[Arg],
        least: usize,
        id: &str,
        text: &str,
        out: &mut Output,
    ) -> bool {
        let short = args.len() < least;
        if short {
            self.missing(id, text);
        }
        if !self.printing {
            return false;
        }
        if short {
            self.error(out);
            return false;
        }
        true
    }

    fn text_value(value: &Option<Vec<u8>>) -> String {
        String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned()
    }

    /// The arguments' values, decoded as `SSI_VALUE_DECODED` hands them over.
    fn decoded(args: Vec<Arg>) -> Vec<Arg> {
        args.into_iter()
            .map(|a| Arg {
                value: a.value.map(|v| decode_html(&v)),
                ..a
            })
            .collect()
    }

    // --- the elements ---

    fn element_include(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !self.opens(
            &args,
            1,
            "AH01341",
            "missing argument for include element",
            out,
        ) {
            return;
        }
        let mut last_error: Option<String> = None;
        for arg in Self::decoded(args) {
            let (Some(tag), Some(value)) = (arg.name.as_deref(), arg.value.as_ref()) else {
                break;
            };
            if !matches!(tag, "virtual" | "file" | "onerror") {
                let text = format!(
                    "AH01342: unknown parameter \"{tag}\" to tag include in {}",
                    self.filename_text()
                );
                self.log("error", &text);
                self.error(out);
                break;
            }
            let raw = String::from_utf8_lossy(value).into_owned();
            let parsed = String::from_utf8_lossy(&self.interpolate(value, false)).into_owned();
            let mut above = false;
            let failure: Option<String> = if tag == "file" {
                match secure_relative(&parsed) {
                    None => {
                        above = true;
                        Some(format!(
                            "unable to include file \"{raw}\" in parsed file {}",
                            self.filename_text()
                        ))
                    }
                    Some(path) => self.include_sub(&raw, Target::File(path), out),
                }
            } else if (tag == "virtual" && last_error.is_none())
                || (tag == "onerror" && last_error.is_some())
            {
                self.include_sub(&raw, Target::Uri(parsed), out)
            } else {
                continue;
            };
            match failure {
                Some(text) => {
                    let cause = above.then(above_root);
                    self.req
                        .log_os_error("include", "error", cause.as_ref(), &text);
                    if last_error.is_some() {
                        break;
                    }
                    last_error = Some(text);
                }
                None => last_error = None,
            }
        }
        if last_error.is_some() {
            self.error(out);
        }
    }

    /// Runs an include's sub-request; the message when it failed.
    fn include_sub(&mut self, raw: &str, target: Target, out: &mut Output) -> Option<String> {
        let file = self.filename_text();
        let mut sub = match self.sub_request(&target) {
            Ok(sub) => sub,
            Err(status) => {
                return Some(format!(
                    "unable to include \"{raw}\" in parsed file {file}, subrequest setup \
                     returned {status}"
                ))
            }
        };
        if self.no_exec {
            let content_type = crate::request::static_file::content_type(&sub);
            if content_type.is_some_and(|t| !t.starts_with("text/")) {
                return Some(format!(
                    "unable to include potential exec \"{raw}\" in parsed file {file}, \
                     content type not text/*"
                ));
            }
        }
        match self.run_sub_request(&mut sub) {
            Ok(passes) => {
                for pass in passes {
                    out.pass_direct(pass);
                }
                None
            }
            Err(status) => Some(format!(
                "unable to include \"{raw}\" in parsed file {file}, subrequest returned \
                 {status}"
            )),
        }
    }

    /// A sub-request of the document's request, looked up (Apache's
    /// `ap_sub_req_lookup_uri` and `_file`), with the document's variables and the bread
    /// crumb a nested include finds them by.
    fn sub_request(&mut self, target: &Target) -> Result<Request<'r>, u16> {
        let limit = self.req.ctx().runtime.core.recursion_limits().1;
        let uri = match target {
            Target::Uri(uri) => uri.split('?').next().unwrap_or_default().to_string(),
            Target::File(name) => {
                let base = match self.req.uri.rfind('/') {
                    Some(at) => &self.req.uri[..=at],
                    None => "/",
                };
                format!("{base}{name}")
            }
        };
        let mut sub = self.req.sub_request(uri);
        sub.redirects = self.req.redirects + 1;
        sub.early_env = locked(&self.env).materialized();
        sub.state.get_mut::<IncludedBy>().0 = Some(Parent {
            env: Arc::clone(&self.env),
            mtime: self.mtime,
        });
        if self.req.redirects >= limit {
            let text = format!(
                "AH00125: Request exceeded the limit of {limit} subrequest nesting levels due \
                 to probable configuration error. Use 'LimitInternalRecursion' to increase the \
                 limit if necessary. Use 'LogLevel debug' to get a backtrace."
            );
            self.req.log_error("core", "error", &text);
            return Err(500);
        }
        let hooks = &self.req.rt.hooks;
        match target {
            Target::Uri(target) => {
                let (path, args) = match target.split_once('?') {
                    Some((p, a)) => (p, Some(a.to_string())),
                    None => (target.as_str(), None),
                };
                let path = if path.starts_with('/') {
                    path.to_string()
                } else {
                    let base = match self.req.uri.rfind('/') {
                        Some(at) => &self.req.uri[..=at],
                        None => "/",
                    };
                    format!("{base}{path}")
                };
                let core = &self.req.ctx().runtime.core;
                let merge = core.merge_slashes.unwrap_or(true);
                sub.uri = crate::request::uri::normalize(
                    &path,
                    merge,
                    crate::request::uri::EncodedSlashes::Refuse,
                )
                .map_err(|_| 400_u16)?;
                sub.args = args;
                let filename = crate::request::pipeline::translate(&mut sub)?;
                crate::request::pipeline::map_and_check(&mut sub, filename)?;
            }
            Target::File(name) => {
                let dir = self
                    .req
                    .filename
                    .as_ref()
                    .and_then(|f| f.parent())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("/"));
                sub.dir = std::sync::Arc::clone(&self.req.dir);
                crate::request::pipeline::map_and_check(&mut sub, dir.join(name))?;
            }
        }
        loop {
            hooks.type_checker.run_first(&mut sub)?;
            // mod_dir hands a directory's index over by an internal redirect, as the
            // pipeline follows one; it looks at a directory as it would for the request
            // itself (its own index lookups are the sub-requests it leaves alone).
            let directory = sub.finfo.as_ref().is_some_and(|m| m.is_dir());
            sub.subrequest = !directory;
            let fixed = hooks.fixups.run_all(&mut sub);
            sub.subrequest = true;
            if fixed? != crate::hooks::Fixup::InternalRedirect {
                return Ok(sub);
            }
            let filename = crate::request::pipeline::translate(&mut sub)?;
            crate::request::pipeline::map_and_check(&mut sub, filename)?;
        }
    }

    /// Runs a looked-up sub-request's handler and its content filters (Apache's
    /// `ap_run_sub_req`); what it passed on.
    fn run_sub_request(&mut self, sub: &mut Request<'r>) -> SubRun {
        let hooks = &sub.rt.hooks;
        sub.output_chain = Default::default();
        hooks.insert_filter.run_all(sub)?;
        let response = match hooks.handler.run_first(sub)? {
            Some(response) => response,
            None => return Err(500),
        };
        // A sub-request's own chain ends where the document's filter hands on: its content
        // filters run, the protocol's belong to the document's response.
        let filters: Vec<_> = sub
            .output_chain
            .in_order()
            .into_iter()
            .filter(|f| f.ftype() < crate::filters::FilterType::ContentSet)
            .collect();
        let mut response = response;
        for filter in filters {
            response = filter.run(sub, response)?;
        }
        Ok(match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Pieces(bytes, _) => vec![bytes],
            Body::File {
                file, offset, len, ..
            } => {
                let content = crate::request::open_files::read_range(&file, offset, len);
                vec![content.unwrap_or_default()]
            }
            Body::Stream(mut stream) => {
                let mut pieces = Vec::new();
                while let Ok(Some(piece)) = stream.0.next_piece() {
                    pieces.push(piece);
                }
                pieces
            }
        })
    }

    fn element_echo(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !self.opens(
            &args,
            1,
            "AH01343",
            "missing argument for echo element",
            out,
        ) {
            return;
        }
        let mut encoding = b"entity".to_vec();
        let mut decoding = b"none".to_vec();
        for arg in Self::decoded(args) {
            let (Some(tag), Some(value)) = (arg.name.as_deref(), arg.value) else {
                break;
            };
            match tag {
                "var" => {
                    let name = self.interpolate(&value, false);
                    let name = String::from_utf8_lossy(&name).into_owned();
                    let mut error = false;
                    let text = match self.var(&name) {
                        Some(val) => {
                            let decoded = self.codings(
                                Coding::Decoding,
                                &decoding,
                                val,
                                "echo",
                                out,
                                &mut error,
                            );
                            self.codings(
                                Coding::Encoding,
                                &encoding,
                                decoded,
                                "echo",
                                out,
                                &mut error,
                            )
                        }
                        None => self.undefined_echo.clone(),
                    };
                    if error {
                        break;
                    }
                    out.push(&text);
                }
                "decoding" => decoding = value,
                "encoding" => encoding = value,
                _ => {
                    let text = format!(
                        "AH01346: unknown parameter \"{tag}\" in tag echo of {}",
                        self.filename_text()
                    );
                    self.log("error", &text);
                    self.error(out);
                    break;
                }
            }
        }
    }

    /// Runs a decoding or encoding list over `text`; an unknown word is reported (once per
    /// list, as Apache stops at it) and sets `error`.
    fn codings(
        &self,
        kind: Coding,
        list: &[u8],
        mut text: Vec<u8>,
        element: &str,
        out: &mut Output,
        error: &mut bool,
    ) -> Vec<u8> {
        for word in words(list) {
            match apply_coding(kind, &word, &text) {
                Some(next) => text = next,
                None => {
                    let (id, parameter) = match (kind, element) {
                        (Coding::Decoding, "echo") => ("AH01344", "decoding"),
                        (Coding::Encoding, "echo") => ("AH01345", "encoding"),
                        (Coding::Decoding, _) => ("AH01364", "decoding"),
                        (Coding::Encoding, _) => ("AH01365", "encoding"),
                    };
                    let message = format!(
                        "{id}: unknown value \"{word}\" to parameter \"{parameter}\" of tag \
                         {element} in {}",
                        self.filename_text()
                    );
                    self.log("error", &message);
                    self.error(out);
                    *error = true;
                    break;
                }
            }
        }
        text
    }

    fn element_set(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !self.opens(&args, 2, "AH01362", "missing argument for set element", out) {
            return;
        }
        let mut encoding = b"none".to_vec();
        let mut decoding = b"none".to_vec();
        let mut var: Option<String> = None;
        for arg in args {
            let (Some(tag), Some(value)) = (arg.name.as_deref(), arg.value) else {
                break;
            };
            match tag {
                "var" => {
                    let name = self.interpolate(&decode_html(&value), false);
                    var = Some(String::from_utf8_lossy(&name).into_owned());
                }
                "decoding" => decoding = value,
                "encoding" => encoding = value,
                "value" => {
                    let Some(name) = var.clone() else {
                        let text = format!(
                            "AH01363: variable must precede value in set directive in {}",
                            self.filename_text()
                        );
                        self.log("error", &text);
                        self.error(out);
                        break;
                    };
                    let parsed = self.interpolate(&value, false);
                    let mut error = false;
                    let decoded =
                        self.codings(Coding::Decoding, &decoding, parsed, "set", out, &mut error);
                    let encoded =
                        self.codings(Coding::Encoding, &encoding, decoded, "set", out, &mut error);
                    if error {
                        break;
                    }
                    locked(&self.env).set_bytes(&name, encoded);
                }
                _ => {
                    let text = format!(
                        "AH01366: Invalid tag for set directive in {}",
                        self.filename_text()
                    );
                    self.log("error", &text);
                    self.error(out);
                    break;
                }
            }
        }
    }

    fn element_config(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !self.opens(
            &args,
            1,
            "AH01347",
            "missing argument for config element",
            out,
        ) {
            return;
        }
        for arg in args {
            let (Some(tag), Some(value)) = (arg.name.as_deref(), arg.value) else {
                break;
            };
            let parsed = self.interpolate(&value, false);
            match tag {
                "errmsg" => self.error_str = parsed,
                "echomsg" => self.undefined_echo = parsed,
                "timefmt" => {
                    self.time_str = String::from_utf8_lossy(&parsed).into_owned();
                    let now = self.req.now;
                    let mtime = self.mtime.unwrap_or(UNIX_EPOCH);
                    let mut env = locked(&self.env);
                    env.set_bytes("DATE_LOCAL", ht_time(now, &self.time_str, false));
                    env.set_bytes("DATE_GMT", ht_time(now, &self.time_str, true));
                    env.set_bytes("LAST_MODIFIED", ht_time(mtime, &self.time_str, false));
                }
                "sizefmt" => match parsed.as_slice() {
                    b"bytes" => self.size_in_bytes = true,
                    b"abbrev" => self.size_in_bytes = false,
                    _ => {
                        let text = format!(
                            "AH01348: unknown value \"{}\" to parameter \"sizefmt\" of tag \
                             config in {}",
                            String::from_utf8_lossy(&parsed),
                            self.filename_text()
                        );
                        self.log("error", &text);
                        self.error(out);
                        break;
                    }
                },
                _ => {
                    let text = format!(
                        "AH01349: unknown parameter \"{tag}\" to tag config in {}",
                        self.filename_text()
                    );
                    self.log("error", &text);
                    self.error(out);
                    break;
                }
            }
        }
    }

    /// `find_file`: what fsize and flastmod show of a file or a URL's resource.
    fn find_file(&mut self, element: &str, tag: &str, value: &str) -> Option<std::fs::Metadata> {
        let file = self.filename_text();
        match tag {
            "file" => {
                let Some(path) = secure_relative(value) else {
                    let text =
                        format!("AH02668: unable to access file \"{value}\" in parsed file {file}");
                    self.req
                        .log_os_error("include", "error", Some(&above_root()), &text);
                    return None;
                };
                let found = self
                    .sub_request(&Target::File(path))
                    .ok()
                    .and_then(|sub| sub.finfo.clone().map(|_| sub.filename.clone()))
                    .flatten();
                match found {
                    Some(filename) => match std::fs::metadata(&filename) {
                        Ok(meta) => Some(meta),
                        Err(_) => {
                            let text = format!(
                                "AH02669: unable to get information about \"{}\" in parsed \
                                 file {file}",
                                filename.display()
                            );
                            self.log("error", &text);
                            None
                        }
                    },
                    None => {
                        let text = format!(
                            "AH02670: unable to lookup information about \"{value}\" in \
                             parsed file {file}"
                        );
                        self.log("error", &text);
                        None
                    }
                }
            }
            "virtual" => {
                let found = self
                    .sub_request(&Target::Uri(value.to_string()))
                    .ok()
                    .and_then(|sub| sub.finfo.clone());
                if found.is_none() {
                    let text = format!(
                        "AH01339: unable to get information about \"{value}\" in parsed file \
                         {file}"
                    );
                    self.log("error", &text);
                }
                found
            }
            _ => {
                let text =
                    format!("AH01340: unknown parameter \"{tag}\" to tag {element} in {file}");
                self.log("error", &text);
                None
            }
        }
    }

    fn element_file_info(&mut self, element: &str, args: Vec<Arg>, out: &mut Output) {
        let id = if element == "fsize" {
            "AH01350"
        } else {
            "AH01351"
        };
        let text = format!("missing argument for {element} element");
        if !self.opens(&args, 1, id, &text, out) {
            return;
        }
        for arg in Self::decoded(args) {
            let (Some(tag), Some(value)) = (arg.name.as_deref(), arg.value) else {
                break;
            };
            let parsed = String::from_utf8_lossy(&self.interpolate(&value, false)).into_owned();
            let Some(meta) = self.find_file(element, tag, &parsed) else {
                self.error(out);
                break;
            };
            if element == "fsize" {
                out.push(self.size_text(meta.len()).as_bytes());
            } else {
                let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
                out.push(&ht_time(mtime, &self.time_str, false));
            }
        }
    }

    /// A size as `sizefmt` asks: abbreviated (`apr_strfsize`, four characters) or in bytes
    /// with commas between thousands.
    fn size_text(&self, size: u64) -> String {
        if !self.size_in_bytes {
            let mut text = crate::modules::autoindex::strfsize(size as i64);
            text.truncate(4);
            return text;
        }
        let digits = size.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    fn element_printenv(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !args.is_empty() {
            self.missing("AH01367", "printenv directive does not take tags");
        }
        if !self.printing {
            return;
        }
        if !args.is_empty() {
            self.error(out);
            return;
        }
        let names: Vec<String> = locked(&self.env).0.iter().map(|(n, _)| n.clone()).collect();
        for name in names {
            let value = self.var(&name).unwrap_or_default();
            let escape = rhttpd_directives::util::escape::escape_html;
            out.push(&escape(name.as_bytes()));
            out.push(b"=");
            out.push(&escape(&value));
            out.push(b"\n");
        }
        out.flush_now = true;
    }

    /// Evaluates an if or elif condition; `None` after an error (logged).
    fn condition(&mut self, expr: &str) -> Option<bool> {
        if self.legacy {
            return super::legacy::evaluate(self, expr);
        }
        let file = self.filename_text();
        let parsed = match rhttpd_directives::expr::parse_ssi(expr) {
            Ok(parsed) => parsed,
            Err(err) => {
                let text = format!("AH01337: Could not parse expr \"{expr}\" in {file}: {err}");
                self.log("error", &text);
                return None;
            }
        };
        let env = crate::request::environment(self.req);
        let result = {
            let base = crate::request::expr::RequestContext::new(self.req, &env);
            // `v()`, `reqenv()` and `env()` read mod_include's variables.
            let ssi_var = |name: &str| {
                Some(
                    self.var(name)
                        .map(|v| String::from_utf8_lossy(&v).into_owned()),
                )
            };
            let context = rhttpd_directives::expr::Layered {
                base: &base,
                var: None,
                env: Some(&ssi_var),
            };
            parsed.eval_with_captures(&context)
        };
        match result {
            Ok((value, captures)) => {
                if !captures.is_empty() {
                    // Apache's ap_expr path never records the group count: only `$0`
                    // reads back, the others are out of range.
                    self.re = Some(Backrefs {
                        groups: 0,
                        captures: Some(captures),
                        pattern: "(null)".into(),
                    });
                }
                Some(value)
            }
            Err(err) => {
                let text = format!("AH01338: Could not evaluate expr \"{expr}\" in {file}: {err}");
                self.log("error", &text);
                None
            }
        }
    }

    /// A legacy `=~`-style match, remembered for `$0`..`$9`; `None` when the pattern does
    /// not compile (logged).
    pub(super) fn regex_match(&mut self, string: &str, pattern: &str) -> Option<bool> {
        let Ok(compiled) = rhttpd_directives::regex::Regex::new(pattern) else {
            let text = format!("AH02667: unable to compile pattern \"{pattern}\"");
            self.log("error", &text);
            return None;
        };
        let captures = compiled.captures(string.as_bytes()).map(|c| {
            (0..10)
                .map(|i| c.get(i).map(|m| String::from_utf8_lossy(m).into_owned()))
                .collect::<Vec<_>>()
        });
        let matched = captures.is_some();
        self.re = Some(Backrefs {
            pattern: pattern.to_string(),
            groups: compiled.groups(),
            captures,
        });
        Some(matched)
    }

    /// `-A`: whether a sub-request for the URL ends below 400 (its status, as Apache passes
    /// it, is the cause in the debug line of a refusal).
    pub(super) fn access_ok(&mut self, uri: &str) -> bool {
        match self.sub_request(&Target::Uri(uri.to_string())) {
            Ok(_) => true,
            Err(status) => {
                let text = format!(
                    "AH01336: mod_include: The tested subrequest -A \"{uri}\" returned an \
                     error code."
                );
                let cause = std::io::Error::from_raw_os_error(i32::from(status));
                self.req.log_traced(
                    "include",
                    "debug",
                    Some(&cause),
                    "mod_include.c(1553)",
                    &text,
                );
                false
            }
        }
    }

    fn element_if(&mut self, args: Vec<Arg>, out: &mut Output) {
        if args.len() != 1 {
            if args.is_empty() {
                self.missing("AH01353", "missing expr argument for if element");
            } else {
                self.missing("AH01352", "too many arguments for if element");
            }
        }
        if !self.printing {
            self.if_nesting_level += 1;
            return;
        }
        let Some(expr) = self.expr_argument(
            &args,
            out,
            "AH01354",
            "AH01355: missing expr value for if element in",
        ) else {
            return;
        };
        self.take_condition(&expr, out);
        self.if_nesting_level = 0;
    }

    /// The `expr=` argument of an if or elif; none (logged with Apache's `unknown` and
    /// `missing` messages, the conditional failed) when there is not exactly that.
    fn expr_argument(
        &mut self,
        args: &[Arg],
        out: &mut Output,
        unknown: &str,
        missing: &str,
    ) -> Option<String> {
        if args.len() != 1 {
            self.cond_failed(out);
            return None;
        }
        let arg = &args[0];
        let tag = arg.name.as_deref().unwrap_or_default();
        let text = if tag != "expr" {
            format!(
                "{unknown}: unknown parameter \"{tag}\" to tag if in {}",
                self.filename_text()
            )
        } else if arg.value.is_none() {
            format!("{missing} {}", self.filename_text())
        } else {
            return Some(Self::text_value(&arg.value));
        };
        self.log("error", &text);
        self.cond_failed(out);
        None
    }

    /// An if's or elif's condition decides what prints next.
    fn take_condition(&mut self, expr: &str, out: &mut Output) {
        match self.condition(expr) {
            None => self.cond_failed(out),
            Some(true) => {
                self.printing = true;
                self.cond_true = true;
            }
            Some(false) => {
                self.printing = false;
                self.cond_true = false;
            }
        }
    }

    fn element_elif(&mut self, args: Vec<Arg>, out: &mut Output) {
        if args.len() != 1 {
            let (id, what) = if args.is_empty() {
                ("AH01357", "missing expr argument for if element")
            } else {
                ("AH01356", "too many arguments for if element")
            };
            let text = format!("{id}: {what} in {}", self.filename_text());
            self.log_conditional(&text);
        }
        if self.if_nesting_level > 0 {
            return;
        }
        let Some(expr) = self.expr_argument(
            &args,
            out,
            "AH01358",
            "AH01359: missing expr in elif statement:",
        ) else {
            return;
        };
        if self.cond_true {
            self.printing = false;
            return;
        }
        self.take_condition(&expr, out);
    }

    fn element_else(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !args.is_empty() {
            let text = format!(
                "AH01360: else directive does not take tags in {}",
                self.filename_text()
            );
            self.log_conditional(&text);
        }
        if self.if_nesting_level > 0 {
            return;
        }
        if !args.is_empty() {
            if self.printing {
                self.error(out);
            }
            return;
        }
        if self.cond_true {
            self.printing = false;
        } else if !self.cond_error {
            self.printing = true;
            self.cond_true = true;
        }
    }

    /// An if or elif that could not be evaluated: its error text, and nothing of the
    /// conditional prints until an elif holds.
    fn cond_failed(&mut self, out: &mut Output) {
        self.error(out);
        self.printing = false;
        self.cond_true = false;
        self.cond_error = true;
    }

    /// A misused else, elif or endif: an error at the conditional's own level, a warning
    /// inside a conditional that is skipped.
    fn log_conditional(&self, text: &str) {
        let level = if self.if_nesting_level == 0 {
            "error"
        } else {
            "warn"
        };
        self.log(level, text);
    }

    fn element_endif(&mut self, args: Vec<Arg>, out: &mut Output) {
        if !args.is_empty() {
            let text = format!(
                "AH01361: endif directive does not take tags in {}",
                self.filename_text()
            );
            self.log_conditional(&text);
        }
        if self.if_nesting_level > 0 {
            self.if_nesting_level -= 1;
            return;
        }
        if !args.is_empty() {
            self.error(out);
            return;
        }
        self.printing = true;
        self.cond_true = true;
        self.cond_error = false;
    }

    /// mod_cgid's exec element: `cmd` runs through the shell, `cgi` runs a script by URL.
    fn element_exec(&mut self, args: Vec<Arg>, out: &mut Output) {
        if args.is_empty() {
            let level = if self.printing { "error" } else { "warn" };
            let text = format!(
                "AH03195: missing argument for exec element in {}",
                self.filename_text()
            );
            self.req.log_error("cgid", level, &text);
        }
        if !self.printing {
            return;
        }
        if args.is_empty() {
            self.error(out);
            return;
        }
        let file = self.filename_text();
        if self.no_exec {
            self.req.log_error(
                "cgid",
                "error",
                &format!("AH01228: exec used but not allowed in {file}"),
            );
            self.error(out);
            return;
        }
        for arg in Self::decoded(args) {
            let (Some(tag), Some(value)) = (arg.name.as_deref(), arg.value) else {
                break;
            };
            match tag {
                "cmd" => {
                    let command = self.interpolate(&value, true);
                    if !self.exec_cmd(&command, out) {
                        let text = format!(
                            "AH01229: execution failure for parameter \"{tag}\" to tag exec \
                             in file {file}"
                        );
                        self.req.log_error("cgid", "error", &text);
                        self.error(out);
                        break;
                    }
                }
                "cgi" => {
                    let target =
                        String::from_utf8_lossy(&self.interpolate(&value, false)).into_owned();
                    if !self.exec_cgi(&target, out) {
                        let text = format!(
                            "AH01230: invalid CGI ref \"{}\" in {file}",
                            String::from_utf8_lossy(&value)
                        );
                        self.req.log_error("cgid", "error", &text);
                        self.error(out);
                        break;
                    }
                }
                _ => {
                    let text =
                        format!("AH01231: unknown parameter \"{tag}\" to tag exec in {file}");
                    self.req.log_error("cgid", "error", &text);
                    self.error(out);
                    break;
                }
            }
        }
    }

    /// `include_cmd`: the command's output, through `/bin/sh -c`, with the document's
    /// variables as its environment.
    fn exec_cmd(&mut self, command: &[u8], out: &mut Output) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let mut env = locked(&self.env).materialized();
        if !self.req.path_info.is_empty() {
            let escaped = escape_shell_cmd(self.req.path_info.as_bytes());
            env.retain(|(n, _)| n != "PATH_INFO");
            env.push((
                "PATH_INFO".into(),
                String::from_utf8_lossy(&escaped).into_owned(),
            ));
        }
        let dir = self
            .req
            .filename
            .as_ref()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(command))
            .env_clear()
            .envs(env.iter().map(|(n, v)| (n, v)))
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output();
        match output {
            Ok(output) => {
                out.push(&output.stdout);
                out.flush_now = true;
                true
            }
            Err(_) => false,
        }
    }

    /// `include_cgi`: a script by URL, run as a CGI script with the document's path info and
    /// query; a redirect it answers becomes a link.
    fn exec_cgi(&mut self, target: &str, out: &mut Output) -> bool {
        let Ok(mut sub) = self.sub_request(&Target::Uri(target.to_string())) else {
            return false;
        };
        if !sub.path_info.is_empty() || sub.args.is_some() {
            return false;
        }
        if !sub.finfo.as_ref().is_some_and(|m| m.is_file()) {
            return false;
        }
        sub.path_info = self.req.path_info.clone();
        sub.args = self.req.args.clone();
        let info = sub.file_info.get_or_insert_with(Default::default);
        info.content_type = Some("application/x-httpd-cgi".into());
        match self.run_sub_request(&mut sub) {
            Ok(passes) => {
                for pass in passes {
                    out.pass_direct(pass);
                }
            }
            Err(status) if (300..400).contains(&status) => {
                if let Some(location) = sub.headers_out.get("Location") {
                    let location = rhttpd_directives::util::escape::escape_html_str(location);
                    out.push(format!("<a href=\"{location}\">{location}</a>").as_bytes());
                }
            }
            Err(_) => {}
        }
        true
    }

    /// Whether mod_cgi or mod_cgid is loaded (they register the exec element).
    fn exec_available(&self) -> bool {
        self.req
            .rt
            .hooks
            .handler
            .modules()
            .any(|(module, _)| module == "cgi")
    }
}

/// APR_EABOVEROOT, the cause Apache logs for a `file=` path it will not merge.
fn above_root() -> std::io::Error {
    crate::log::AprStatus::error("(20023)The given path was above the root path")
}

/// What a sub-request looks up.
enum Target {
    Uri(String),
    /// A name relative to the document's directory.
    File(String),
}

impl Host for Ssi<'_, '_> {
    fn printing(&self) -> bool {
        self.printing
    }

    fn error_text(&self) -> Vec<u8> {
        self.error_str.clone()
    }

    fn report(&mut self, level: &str, message: String) {
        self.req.log_error("include", level, &message);
    }

    fn filename(&self) -> String {
        self.filename_text()
    }

    fn execute(&mut self, name: &str, args: Vec<Arg>, out: &mut Output) -> bool {
        match name {
            "if" => self.element_if(args, out),
            "set" => self.element_set(args, out),
            "else" => self.element_else(args, out),
            "elif" => self.element_elif(args, out),
            "echo" => self.element_echo(args, out),
            "endif" => self.element_endif(args, out),
            "fsize" | "flastmod" => self.element_file_info(name, args, out),
            "config" => self.element_config(args, out),
            "comment" => {}
            "include" => self.element_include(args, out),
            "printenv" => self.element_printenv(args, out),
            "exec" if self.exec_available() => self.element_exec(args, out),
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_decode_as_mod_include_knows_them() {
        assert_eq!(decode_html(b"a&lt;b&gt;&amp;&quot;"), b"a<b>&\"");
        assert_eq!(decode_html(b"&eacute;&#65;&#7;&bogus;&"), b"\xe9A&bogus;&");
    }

    #[test]
    fn sizes_abbreviate_or_group_thousands() {
        assert_eq!(escape_urlencoded(b"a b/c"), b"a+b%2fc");
        assert_eq!(secure_relative("a/../b"), Some("b".into()));
        assert_eq!(secure_relative("../b"), None);
        assert_eq!(secure_relative("/etc/passwd"), None);
    }

    #[test]
    fn shell_metacharacters_are_escaped() {
        assert_eq!(escape_shell_cmd(b"a;b`c"), b"a\\;b\\`c");
    }
}
