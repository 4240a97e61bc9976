//! mod_mime_magic, whole: the MimeMagicFile directive, the magic file (read at post_config,
//! each server's in turn, with Apache's error-log messages for what it cannot parse), and the
//! type checker that runs after mod_mime when mod_mime found no type: the file's kind on disk
//! (directory, special file, empty), compressed contents (run through `gzip -dcq` as Apache
//! does, the inner type reported with the encoding), the magic file's rules, then the text
//! heuristics (troff, Fortran, the keyword table, tar headers). The result is read back from
//! the "printed" description the way Apache's `magic_rsl_to_request` reads it, quirks and all
//! (one character too many when the type or encoding is followed by more text), since a user
//! sees exactly that in Content-Type and Content-Encoding. A file named `NAME@N` is typed as
//! NAME through a sub-request. It must not look at a file mod_mime typed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::RSRC_CONF;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "mime_magic_module",
    source: "mod_mime_magic.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "MimeMagicFile",
    Take1(set_magic_file),
    RSRC_CONF,
    "Path to MIME Magic file (in file(1) format)",
)
.implemented()];

/// The name Apache's module puts before its messages.
const MODNAME: &str = "mod_mime_magic";
/// Apache's DIR_MAGIC_TYPE, a directory's type.
const DIRECTORY_TYPE: &str = "httpd/unix-directory";
/// How much of a file is looked at (Apache's HOWMANY: gzip needs that much to say anything).
const HOWMANY: usize = 4096;
/// How much of a text file the keyword search reads (Apache's SMALL_HOWMANY).
const SMALL_HOWMANY: usize = 1024;
/// The size of Apache's `union VALUETYPE` on LP64: every test reads this many bytes at its
/// offset, so a file shorter than offset + 64 (its NUL included) never matches a rule.
const VALUE_SIZE: usize = 64;
/// Apache keeps 49 characters of a rule's description (`char desc[50]`).
const MAX_DESC: usize = 49;
/// One printed piece is at most 255 characters (MAXMIMESTRING).
const MAX_PRINTED: usize = 255;
/// apr_file_gets reads at most BUFSIZ - 1 characters a line.
const LINE_MAX: usize = 8191;

/// MimeMagicFile: the path as written (ServerRoot-relative); the file is read at post_config.
fn set_magic_file(cmd: &mut Cmd, file: &str) -> SetResult {
    cmd.server_config::<ServerConf>().magic_file = Some(file.to_string());
    Ok(())
}

/// mod_mime_magic's per-server configuration: the file, inherited by a virtual host that
/// names none, and the rules read from it for this server at post_config.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub magic_file: Option<String>,
    /// The rules, when the file was read for this server (Apache's `conf->magic`).
    pub rules: Option<Arc<Vec<Rule>>>,
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            magic_file: vhost.magic_file.clone().or_else(|| self.magic_file.clone()),
            rules: None,
        }
    }
}

/// A rule's test type, as the magic file names it (`Invalid` is what a line whose type could
/// not be read leaves in the list: Apache keeps such an entry, type 0, and complains about it
/// whenever a file is long enough to be tested against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Byte,
    Short,
    Long,
    Str,
    Date,
    BeShort,
    BeLong,
    BeDate,
    LeShort,
    LeLong,
    LeDate,
}

impl Kind {
    /// The type's number in Apache's messages.
    fn number(self) -> u8 {
        match self {
            Kind::Invalid => 0,
            Kind::Byte => 1,
            Kind::Short => 2,
            Kind::Long => 4,
            Kind::Str => 5,
            Kind::Date => 6,
            Kind::BeShort => 7,
            Kind::BeLong => 8,
            Kind::BeDate => 9,
            Kind::LeShort => 10,
            Kind::LeLong => 11,
            Kind::LeDate => 12,
        }
    }
}

/// What an indirect offset `>(N.t+M)` reads at N to find the real offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndirectKind {
    Byte,
    Short,
    Long,
}

/// One line of the magic file.
#[derive(Debug, Clone)]
pub struct Rule {
    pub lineno: usize,
    /// The number of `>` before the offset.
    pub cont_level: usize,
    pub indirect: Option<(IndirectKind, i64)>,
    pub unsigned: bool,
    pub offset: i64,
    /// `=`, `<`, `>`, `&`, `^`, `!` or `x`.
    pub reln: u8,
    pub kind: Kind,
    /// The value as Apache's union holds it: a number's 8 bytes (little-endian), or the
    /// string's bytes.
    pub value: [u8; VALUE_SIZE],
    pub vallen: usize,
    pub mask: u64,
    /// `\b` before the description: no space before it when it is printed after another.
    pub nospace: bool,
    pub desc: Vec<u8>,
}

impl Rule {
    fn new(lineno: usize) -> Rule {
        Rule {
            lineno,
            cont_level: 0,
            indirect: None,
            unsigned: false,
            offset: 0,
            reln: 0,
            kind: Kind::Invalid,
            value: [0; VALUE_SIZE],
            vallen: 0,
            mask: 0,
            nospace: false,
            desc: Vec::new(),
        }
    }

    fn value_number(&self) -> u64 {
        u64::from_le_bytes(self.value[..8].try_into().unwrap_or_default())
    }
}

/// The outcome of reading a magic file: the rules (including entries of lines that failed,
/// as Apache keeps them), the messages Apache logs while reading, and whether a line failed.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rules: Vec<Rule>,
    pub messages: Vec<String>,
    pub failed: bool,
}

/// Apache's `apprentice` over the file's bytes: lines of at most 8191 characters (a longer
/// one continues as the next line), trailing and leading white space dropped, blank lines
/// and `#` comments skipped.
pub fn parse_magic(text: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut lineno = 0;
    let mut rest = text;
    while !rest.is_empty() {
        lineno += 1;
        let end = match rest.iter().take(LINE_MAX).position(|&b| b == b'\n') {
            Some(at) => at + 1,
            None => rest.len().min(LINE_MAX),
        };
        let (raw, tail) = rest.split_at(end);
        rest = tail;
        // C string functions stop at a NUL.
        let raw = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
        let mut line = raw;
        while let Some((&last, init)) = line.split_last() {
            if !is_space(last) {
                break;
            }
            line = init;
        }
        let start = line
            .iter()
            .position(|&b| !is_space(b))
            .unwrap_or(line.len());
        let line = &line[start..];
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        if !parse_line(&mut parsed, line, lineno) {
            parsed.failed = true;
        }
    }
    parsed
}

// `apr_isspace`.
use crate::http1::body::is_c_space as is_space;

/// A cursor over a line, reading 0 past its end as C reads the terminating NUL.
struct Cursor<'a> {
    line: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> u8 {
        self.peek_at(0)
    }
    fn peek_at(&self, ahead: usize) -> u8 {
        self.line.get(self.at + ahead).copied().unwrap_or(0)
    }
    fn rest(&self) -> String {
        String::from_utf8_lossy(self.line.get(self.at..).unwrap_or_default()).into_owned()
    }
    fn eat_space(&mut self) {
        while is_space(self.peek()) {
            self.at += 1;
        }
    }
    fn starts_with(&self, word: &[u8]) -> bool {
        self.line
            .get(self.at..)
            .is_some_and(|rest| rest.starts_with(word))
    }
    /// `strtol(s, &end, 0)`: the value (saturated as strtol saturates), the cursor after the
    /// number, or left where it was when there is none.
    fn strtol(&mut self) -> i64 {
        let (value, used) = strtol(self.line.get(self.at..).unwrap_or_default());
        self.at += used;
        value
    }
}

/// C's `strtol(s, &end, 0)`: leading white space, a sign, `0x` for hex, `0` for octal; the
/// value and how many bytes it used (0 when there is no number).
pub fn strtol(s: &[u8]) -> (i64, usize) {
    let mut at = 0;
    while at < s.len() && is_space(s[at]) {
        at += 1;
    }
    let mut negative = false;
    if at < s.len() && (s[at] == b'+' || s[at] == b'-') {
        negative = s[at] == b'-';
        at += 1;
    }
    let digit = |b: u8, base: u32| (b as char).to_digit(base);
    let mut base = 10;
    if s.get(at) == Some(&b'0') {
        if matches!(s.get(at + 1), Some(b'x' | b'X'))
            && s.get(at + 2).and_then(|&b| digit(b, 16)).is_some()
        {
            base = 16;
            at += 2;
        } else {
            base = 8;
        }
    }
    let start = at;
    let mut value: u128 = 0;
    while let Some(d) = s.get(at).and_then(|&b| digit(b, base)) {
        value = (value * u128::from(base) + u128::from(d)).min(u128::from(u64::MAX) + 1);
        at += 1;
    }
    if at == start {
        return (0, 0);
    }
    let value = if negative {
        if value > i64::MAX as u128 + 1 {
            i64::MIN
        } else {
            (value as i128).wrapping_neg() as i64
        }
    } else {
        value.min(i64::MAX as u128) as i64
    };
    (value, at)
}

/// Apache's `signextend`: a signed test's value as the C types widen it on LP64.
fn sign_extend(rule: &Rule, v: u64) -> u64 {
    if rule.unsigned {
        return v;
    }
    match rule.kind {
        Kind::Byte => v as u8 as i8 as i64 as u64,
        Kind::Short | Kind::BeShort | Kind::LeShort => v as u16 as i16 as i64 as u64,
        _ => v,
    }
}

/// Apache's `parse`: one rule, appended before it is read (so a line that fails stays in the
/// list as it was left). False when the line counts as an error.
fn parse_line(parsed: &mut Parsed, line: &[u8], lineno: usize) -> bool {
    let mut m = Rule::new(lineno);
    let ok = read_rule(&mut m, line, &mut parsed.messages);
    parsed.rules.push(m);
    ok
}

fn read_rule(m: &mut Rule, line: &[u8], messages: &mut Vec<String>) -> bool {
    let mut l = Cursor { line, at: 0 };
    while l.peek() == b'>' {
        l.at += 1;
        m.cont_level += 1;
    }
    let indirect = m.cont_level != 0 && l.peek() == b'(';
    if indirect {
        l.at += 1;
    }
    let before = l.at;
    m.offset = i64::from(l.strtol() as i32);
    if l.at == before {
        messages.push(format!("AH01521: {MODNAME}: offset {} invalid", l.rest()));
    }
    if indirect {
        let mut kind = IndirectKind::Long;
        let mut in_offset = 0;
        if l.peek() == b'.' {
            l.at += 1;
            match l.peek() {
                b'l' => kind = IndirectKind::Long,
                b's' => kind = IndirectKind::Short,
                b'b' => kind = IndirectKind::Byte,
                other => messages.push(format!(
                    "AH01522: {MODNAME}: indirect offset type {} invalid",
                    c_char(other)
                )),
            }
            l.at += 1;
        }
        let sign = l.peek();
        if sign == b'+' || sign == b'-' {
            l.at += 1;
        }
        if l.peek().is_ascii_digit() {
            in_offset = l.strtol();
            if sign == b'-' {
                in_offset = in_offset.wrapping_neg();
            }
        }
        let close = l.peek();
        l.at += 1;
        if close != b')' {
            messages.push(format!(
                "AH01523: {MODNAME}: missing ')' in indirect offset"
            ));
        }
        m.indirect = Some((kind, in_offset));
    }
    while l.peek().is_ascii_digit() {
        l.at += 1;
    }
    l.eat_space();
    if l.peek() == b'u' {
        l.at += 1;
        m.unsigned = true;
    }
    const TYPES: &[(&[u8], Kind)] = &[
        (b"byte", Kind::Byte),
        (b"short", Kind::Short),
        (b"long", Kind::Long),
        (b"string", Kind::Str),
        (b"date", Kind::Date),
        (b"beshort", Kind::BeShort),
        (b"belong", Kind::BeLong),
        (b"bedate", Kind::BeDate),
        (b"leshort", Kind::LeShort),
        (b"lelong", Kind::LeLong),
        (b"ledate", Kind::LeDate),
    ];
    let Some(&(word, kind)) = TYPES.iter().find(|(word, _)| l.starts_with(word)) else {
        messages.push(format!("AH01524: {MODNAME}: type {} invalid", l.rest()));
        return false;
    };
    m.kind = kind;
    l.at += word.len();
    if l.peek() == b'&' {
        l.at += 1;
        m.mask = sign_extend(m, l.strtol() as u64);
    } else {
        m.mask = !0;
    }
    l.eat_space();
    let mut described_only = false;
    match l.peek() {
        c @ (b'>' | b'<' | b'&' | b'^' | b'=') => {
            m.reln = c;
            l.at += 1;
        }
        b'!' if m.kind != Kind::Str => {
            m.reln = b'!';
            l.at += 1;
        }
        _ => {
            if l.peek() == b'x' && is_space(l.peek_at(1)) {
                m.reln = b'x';
                l.at += 1;
                described_only = true;
            } else {
                m.reln = b'=';
            }
        }
    }
    if !described_only {
        l.eat_space();
        if m.kind == Kind::Str {
            let (value, used) = get_string(&line[l.at..], messages);
            m.vallen = value.len();
            m.value[..value.len()].copy_from_slice(&value);
            l.at += used;
        } else if m.reln != b'x' {
            let v = sign_extend(m, l.strtol() as u64);
            m.value[..8].copy_from_slice(&v.to_le_bytes());
        }
    }
    l.eat_space();
    if l.peek() == b'\x08' {
        l.at += 1;
        m.nospace = true;
    } else if l.peek() == b'\\' && l.peek_at(1) == b'b' {
        l.at += 2;
        m.nospace = true;
    }
    let rest = line.get(l.at..).unwrap_or_default();
    m.desc = rest[..rest.len().min(MAX_DESC)].to_vec();
    true
}

/// A byte as `%c` prints it (nothing for the NUL at a line's end).
fn c_char(b: u8) -> String {
    if b == 0 {
        String::new()
    } else {
        String::from_utf8_lossy(&[b]).into_owned()
    }
}

/// Apache's `getstr`: a string value with C escapes (`\n`, octal `\NNN`, `\xHHH` up to three
/// hex digits, `\` before any other character), ended by unescaped white space; at most 63
/// bytes (AH01526 past that). The bytes and how much of the line was used.
fn get_string(s: &[u8], messages: &mut Vec<String>) -> (Vec<u8>, usize) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let c = at(i);
        i += 1;
        if c == 0 || is_space(c) {
            break;
        }
        if out.len() >= VALUE_SIZE - 1 {
            messages.push(format!(
                "AH01526: {MODNAME}: string too long: {}",
                String::from_utf8_lossy(s)
            ));
            break;
        }
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let c = at(i);
        i += 1;
        match c {
            0 => break,
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(b'\x08'),
            b't' => out.push(b'\t'),
            b'f' => out.push(b'\x0c'),
            b'v' => out.push(b'\x0b'),
            b'0'..=b'7' => {
                let mut val = u32::from(c - b'0');
                for _ in 0..2 {
                    match at(i) {
                        d @ b'0'..=b'7' => {
                            val = (val << 3) | u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(val as u8);
            }
            b'x' => {
                let mut val = u32::from(b'x');
                for n in 0..3 {
                    match (at(i) as char).to_digit(16) {
                        Some(d) => {
                            val = if n == 0 { d } else { (val << 4) + d };
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(val as u8);
            }
            other => out.push(other),
        }
    }
    (out, i.min(s.len()))
}

/// The magic file of each server, read in Apache's `magic_init` order: the main server's,
/// then the virtual hosts' in Apache's list order (the last defined first). A virtual host
/// with no MimeMagicFile of its own shares the main server's configuration, as Apache shares
/// the structure: its turn reads the main server's file again into that shared one. A file
/// that cannot be opened (AH01515) or has a line in error stops the reading: the servers of
/// their own whose turn had not come get no rules, and the one whose file had errors keeps
/// what was read. The messages go to each server's error log.
pub fn post_config(rt: &mut crate::runtime::Runtime) {
    for (index, rules) in read_files(rt).into_iter().enumerate() {
        if let Some(rules) = rules {
            rt.servers[index]
                .runtime
                .typed
                .get_mut::<ServerConf>()
                .rules = Some(rules);
        }
    }
}

/// The reading again, for its messages only: Apache reads its configuration twice, and a
/// server that does not detach builds its runtime once.
pub fn log_again(rt: &crate::runtime::Runtime) {
    read_files(rt);
}

/// Each server's rules, by its index, as far as the reading got.
fn read_files(rt: &crate::runtime::Runtime) -> Vec<Option<Arc<Vec<Rule>>>> {
    let count = rt.servers.len();
    let mut rules = vec![None; count];
    if !rt.module_loaded("mime_magic_module") {
        return rules;
    }
    // Whether a virtual host has a configuration of its own (else it shares the main
    // server's).
    let own = |index: usize| {
        index != 0
            && rt.config.servers[index]
                .modules
                .get::<ServerConf>()
                .is_some()
    };
    let mut shared = None;
    for index in std::iter::once(0).chain((1..count).rev()) {
        let Some(file) = rt.servers[index]
            .runtime
            .module::<ServerConf>()
            .magic_file
            .clone()
        else {
            continue;
        };
        let path = rt.config.read.server_root_relative(&file);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) => {
                let text = format!(
                    "{}: AH01515: {MODNAME}: can't read magic file {}",
                    crate::config::read::errno_text(&err),
                    path.display()
                );
                rt.log_startup(index, "mime_magic", "error", &text);
                break;
            }
        };
        let parsed = parse_magic(&text);
        for message in &parsed.messages {
            rt.log_startup(index, "mime_magic", "error", message);
        }
        let read = Some(Arc::new(parsed.rules));
        if own(index) {
            rules[index] = read;
        } else {
            shared = read;
        }
        if parsed.failed {
            break;
        }
    }
    for (index, slot) in rules.iter_mut().enumerate() {
        if !own(index) {
            slot.clone_from(&shared);
        }
    }
    rules
}

/// mod_mime_magic's hook: a type checker after mod_mime's.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .type_checker
        .add("mime_magic", Order::Middle, type_checker);
}

/// Apache's `magic_find_ct`: only for a file that exists and that nothing typed yet, on a
/// server with rules.
fn type_checker(req: &mut Request) -> Step<Option<()>> {
    let Some(meta) = req.finfo.clone() else {
        return Ok(None);
    };
    let Some(filename) = req.filename.clone() else {
        return Ok(None);
    };
    if req
        .file_info
        .as_ref()
        .is_some_and(|i| i.content_type.is_some())
    {
        return Ok(None);
    }
    let Some(typed) = examine(req, &filename, &meta)? else {
        return Ok(None);
    };
    let info = req.file_info.get_or_insert_with(Default::default);
    if typed.encoding.is_some() {
        info.encoding = typed.encoding;
    }
    if !typed.languages.is_empty() {
        info.languages = typed.languages;
    }
    if typed.content_type.is_none() {
        return Ok(None);
    }
    info.content_type = typed.content_type;
    Ok(Some(()))
}

/// What mod_mime_magic sets on a request: the type (None when it declines; an encoding a
/// decompression found stays set all the same), and the languages of a revision's base.
#[derive(Debug, Default)]
pub struct Typed {
    pub content_type: Option<String>,
    pub encoding: Option<String>,
    pub languages: Vec<String>,
}

/// Apache's `magic_find_ct` past its first checks, for a file nothing typed: None when the
/// server has no rules (nothing is set then).
pub(crate) fn examine(
    req: &Request,
    filename: &Path,
    meta: &std::fs::Metadata,
) -> Step<Option<Typed>> {
    let Some(rules) = req.ctx().runtime.module::<ServerConf>().rules.clone() else {
        return Ok(None);
    };
    if let Some(typed) = revision_suffix(req, filename) {
        return Ok(Some(typed));
    }
    let mut found = Found::default();
    let outcome = process(req, filename, meta, &rules, &mut found);
    let mut typed = Typed {
        encoding: found.encoding.take(),
        ..Typed::default()
    };
    if outcome?.is_some() {
        if let Some((content_type, encoding)) = rsl_to_request(&found.printed) {
            typed.content_type = Some(content_type);
            typed.encoding = encoding.or(typed.encoding);
        }
    }
    Ok(Some(typed))
}

/// The type mod_mime_magic gives a sub-request's file that mod_mime left untyped (a
/// directory listing's entry): type and encoding, or None.
pub(crate) fn sub_request_type(
    sub: &Request,
    filename: &Path,
    meta: &std::fs::Metadata,
) -> Option<(Option<String>, Option<String>)> {
    if !sub.rt.module_loaded("mime_magic_module") {
        return None;
    }
    let typed = examine(sub, filename, meta).ok()??;
    Some((typed.content_type, typed.encoding))
}

/// What the tests found: the printed pieces (Apache's result string list) and the encoding
/// a decompression set on the request.
#[derive(Debug, Default)]
pub struct Found {
    pub printed: Vec<Vec<u8>>,
    pub encoding: Option<String>,
}

impl Found {
    fn print(&mut self, text: &[u8]) {
        self.printed.push(text.to_vec());
    }
}

/// Apache's `magic_process`: the file's kind on disk, then its first 4096 bytes. `Ok(None)`
/// declines.
fn process(
    req: &Request,
    filename: &Path,
    meta: &std::fs::Metadata,
    rules: &[Rule],
    found: &mut Found,
) -> Step<Option<()>> {
    if let Some(kind) = fs_magic(meta) {
        found.print(kind.as_bytes());
        found.print(b"\n");
        return Ok(Some(()));
    }
    let Ok(mut file) = std::fs::File::open(filename) else {
        let text = format!("AH01512: {MODNAME}: can't read `{}'", filename.display());
        req.log_error("mime_magic", "error", &text);
        return Ok(None);
    };
    let mut buf = vec![0u8; HOWMANY + 1];
    let read = match file.read(&mut buf[..HOWMANY]) {
        Ok(read) => read,
        Err(err) => {
            let text = format!("AH01513: {MODNAME}: read failed: {}", filename.display());
            req.log_os_error("mime_magic", "error", Some(&err), &text);
            return Err(500);
        }
    };
    if read == 0 {
        return Ok(None);
    }
    buf.truncate(read + 1);
    let sink = |text: &str| req.log_error("mime_magic", "error", text);
    let zmagic = |data: &[u8]| uncompress(req, filename, data);
    if !try_it(&buf, rules, true, found, &sink, &zmagic) {
        return Ok(None);
    }
    found.print(b"\n");
    Ok(Some(()))
}

/// Apache's `fsmagic`: what a file's kind on disk says without reading it.
fn fs_magic(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Some(DIRECTORY_TYPE);
    }
    if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() || kind.is_socket() {
        return Some("application/octet-stream");
    }
    (meta.len() == 0).then_some("text/plain")
}

/// What decompresses a file's start: the bytes it gave and the encoding to report, or None
/// when that failed.
pub type Unzip<'a> = dyn Fn(&[u8]) -> Option<(Vec<u8>, &'static str)> + 'a;

/// Apache's `tryit`: compressed contents (on the file itself only), the rules, the text
/// heuristics. `unzip` decompresses a file's start (None when that failed).
pub fn try_it(
    buf: &[u8],
    rules: &[Rule],
    check_compressed: bool,
    found: &mut Found,
    log: &dyn Fn(&str),
    unzip: &Unzip,
) -> bool {
    if check_compressed && z_magic(buf, rules, found, log, unzip) {
        return true;
    }
    if soft_magic(buf, rules, found, log) {
        return true;
    }
    asc_magic(buf, found)
}

/// The compressed formats Apache recognises by their first two bytes, and the encoding each
/// is reported with (all decompressed by `gzip -dcq`).
const COMPRESSED: &[(&[u8], &str)] = &[
    (b"\x1f\x9d", "x-compress"),
    (b"\x1f\x8b", "x-gzip"),
    (b"\x1f\x1e", "x-gzip"),
];

/// Apache's `zmagic`: a compressed file's encoding, and the type of what it decompresses to
/// (false when that has none: the rules then look at the compressed bytes, the encoding
/// staying set). A failed decompression types nothing.
fn z_magic(
    buf: &[u8],
    rules: &[Rule],
    found: &mut Found,
    log: &dyn Fn(&str),
    unzip: &Unzip,
) -> bool {
    if !COMPRESSED.iter().any(|(magic, _)| buf.starts_with(magic)) {
        return false;
    }
    let Some((mut inner, encoding)) = unzip(buf) else {
        return true;
    };
    found.encoding = Some(encoding.to_string());
    // Apache ends the text over its last byte.
    if let Some(last) = inner.last_mut() {
        *last = 0;
    }
    try_it(&inner, rules, false, found, log, unzip)
}

/// Apache's `uncompress`: `gzip -dcq FILE` run in the file's directory, and what one read
/// of its output gives (at most 4096 bytes); None (logged) when it could not run or said
/// nothing.
fn uncompress(req: &Request, filename: &Path, data: &[u8]) -> Option<(Vec<u8>, &'static str)> {
    let encoding = COMPRESSED
        .iter()
        .find(|(magic, _)| data.starts_with(magic))
        .map(|(_, encoding)| *encoding)?;
    let dir = filename.parent().unwrap_or(Path::new("/"));
    let spawned = std::process::Command::new("gzip")
        .arg("-dcq")
        .arg(filename)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let text = format!("AH01552: {MODNAME}: could not execute `gzip'.");
            req.log_os_error("mime_magic", "error", Some(&err), &text);
            let text = format!(
                "AH01553: {MODNAME}: couldn't spawn uncompress process: {}",
                req.uri
            );
            req.log_os_error("mime_magic", "error", Some(&err), &text);
            return None;
        }
    };
    let mut out = vec![0u8; HOWMANY];
    let read = match child.stdout.as_mut().map(|o| o.read(&mut out)) {
        Some(Ok(read)) => Ok(read),
        Some(Err(err)) => Err(err),
        None => Ok(0),
    };
    // Apache's pool cleanup ends the child it no longer reads from.
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
    }
    let _ = child.wait();
    let read = match read {
        Ok(0) => {
            let text = format!(
                "AH01554: {MODNAME}: read failed from uncompress of {}",
                filename.display()
            );
            let eof = crate::log::AprStatus::error(crate::log::AprStatus::EOF);
            req.log_os_error("mime_magic", "error", Some(&eof), &text);
            return None;
        }
        Ok(read) => read,
        Err(err) => {
            let text = format!(
                "AH01554: {MODNAME}: read failed from uncompress of {}",
                filename.display()
            );
            req.log_os_error("mime_magic", "error", Some(&err), &text);
            return None;
        }
    };
    out.truncate(read);
    Some((out, encoding))
}

/// Apache's `match`: the first top-level rule that matches, printed with every continuation
/// under it that matches (a continuation is tried only when the one at the level above it
/// matched).
pub fn soft_magic(buf: &[u8], rules: &[Rule], found: &mut Found, log: &dyn Fn(&str)) -> bool {
    let mut i = 0;
    while i < rules.len() {
        let m = &rules[i];
        let matched = m_get(buf, m, log).filter(|p| m_check(p, m, log));
        let Some(p) = matched else {
            i += 1;
            while i < rules.len() && rules[i].cont_level != 0 {
                i += 1;
            }
            continue;
        };
        m_print(&p, m, found);
        let mut need_separator = !m.desc.is_empty();
        let mut cont_level = 1;
        i += 1;
        while i < rules.len() && rules[i].cont_level != 0 {
            let m = &rules[i];
            if cont_level >= m.cont_level {
                if cont_level > m.cont_level {
                    cont_level = m.cont_level;
                }
                if let Some(p) = m_get(buf, m, log).filter(|p| m_check(p, m, log)) {
                    if need_separator && !m.nospace && !m.desc.is_empty() {
                        found.print(b" ");
                        need_separator = false;
                    }
                    m_print(&p, m, found);
                    if !m.desc.is_empty() {
                        need_separator = true;
                    }
                    cont_level += 1;
                }
            }
            i += 1;
        }
        return true;
    }
    false
}

/// The bytes a test reads, as Apache's union holds them after its conversion.
type Value = [u8; VALUE_SIZE];

fn value_short(p: &Value) -> u64 {
    u64::from(u16::from_le_bytes([p[0], p[1]]))
}

fn value_long(p: &Value) -> u64 {
    u64::from_le_bytes(p[..8].try_into().unwrap_or_default())
}

/// Apache's `mconvert`: the bytes read turned to the rule's byte order (a 32-bit value widened
/// with its sign, as the C cast to long does); a string cut at its first newline.
fn m_convert(p: &mut Value, m: &Rule, log: &dyn Fn(&str)) -> bool {
    match m.kind {
        Kind::Byte | Kind::Short | Kind::Long | Kind::Date => {}
        Kind::Str => {
            p[VALUE_SIZE - 1] = 0;
            if let Some(at) = p.iter().position(|&b| b == b'\n' || b == 0) {
                p[at] = 0;
            }
        }
        Kind::BeShort => {
            let h = u16::from_be_bytes([p[0], p[1]]);
            p[..2].copy_from_slice(&h.to_le_bytes());
        }
        Kind::LeShort => {}
        Kind::BeLong | Kind::BeDate => {
            let l = i64::from(i32::from_be_bytes([p[0], p[1], p[2], p[3]]));
            p[..8].copy_from_slice(&l.to_le_bytes());
        }
        Kind::LeLong | Kind::LeDate => {
            let l = i64::from(i32::from_le_bytes([p[0], p[1], p[2], p[3]]));
            p[..8].copy_from_slice(&l.to_le_bytes());
        }
        Kind::Invalid => {
            log(&format!(
                "AH01538: {MODNAME}: invalid type {} in mconvert().",
                m.kind.number()
            ));
            return false;
        }
    }
    true
}

/// Apache's `mget`: the 64 bytes at the rule's offset (through the indirection, if any), or
/// None when the buffer does not hold them.
fn m_get(buf: &[u8], m: &Rule, log: &dyn Fn(&str)) -> Option<Value> {
    let read_at = |offset: i64| -> Option<Value> {
        let start = usize::try_from(offset).ok()?;
        let bytes = buf.get(start..start.checked_add(VALUE_SIZE)?)?;
        bytes.try_into().ok()
    };
    let mut p = read_at(m.offset)?;
    if !m_convert(&mut p, m, log) {
        return None;
    }
    if let Some((kind, add)) = m.indirect {
        let base = match kind {
            IndirectKind::Byte => i64::from(p[0]),
            IndirectKind::Short => value_short(&p) as i64,
            IndirectKind::Long => value_long(&p) as i64,
        };
        p = read_at(base.wrapping_add(add))?;
        if !m_convert(&mut p, m, log) {
            return None;
        }
    }
    Some(p)
}

/// Apache's `mcheck`, with its oddity kept: a rule whose value's first two bytes are `x` and
/// a NUL (the string "x", or a number whose low 16 bits are 0x78) matches anything, with
/// "BOINK" in the error log.
fn m_check(p: &Value, m: &Rule, log: &dyn Fn(&str)) -> bool {
    let mut l = m.value_number();
    if m.value[0] == b'x' && m.value[1] == 0 {
        log(&format!("AH01539: {MODNAME}: BOINK"));
        return true;
    }
    let v = match m.kind {
        Kind::Byte => u64::from(p[0]),
        Kind::Short | Kind::BeShort | Kind::LeShort => value_short(p),
        Kind::Long | Kind::BeLong | Kind::LeLong | Kind::Date | Kind::BeDate | Kind::LeDate => {
            value_long(p)
        }
        Kind::Str => {
            l = 0;
            let mut v: i64 = 0;
            for (a, b) in m.value[..m.vallen].iter().zip(p.iter()) {
                v = i64::from(*b) - i64::from(*a);
                if v != 0 {
                    break;
                }
            }
            v as u64
        }
        Kind::Invalid => {
            log(&format!(
                "AH01540: {MODNAME}: invalid type {} in mcheck().",
                m.kind.number()
            ));
            return false;
        }
    };
    let v = sign_extend(m, v) & m.mask;
    match m.reln {
        b'x' => true,
        b'!' => v != l,
        b'=' => v == l,
        b'>' if m.unsigned => v > l,
        b'>' => (v as i64) > (l as i64),
        b'<' if m.unsigned => v < l,
        b'<' => (v as i64) < (l as i64),
        b'&' => v & l == l,
        b'^' => v & l != l,
        other => {
            log(&format!(
                "AH01550: {MODNAME}: mcheck: can't happen: invalid relation {other}."
            ));
            false
        }
    }
}

/// `apr_ctime`: the server's local time (TZ, else /etc/localtime), `Thu Jan 01 00:00:00 1970`.
fn ctime(seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let t = crate::sys::local_time(seconds);
    let month = crate::http1::date::MONTHS[(t.month.clamp(1, 12) - 1) as usize];
    format!(
        "{} {month} {:02} {:02}:{:02}:{:02} {}",
        DAYS[(t.weekday % 7) as usize],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

/// What a description's format prints.
enum Arg<'a> {
    Number(u64),
    Text(&'a [u8]),
}

/// Apache's `mprint`: the description, as a printf format, with the value read.
fn m_print(p: &Value, m: &Rule, found: &mut Found) {
    let number = match m.kind {
        Kind::Byte => u64::from(p[0]),
        Kind::Short | Kind::BeShort | Kind::LeShort => value_short(p),
        Kind::Long | Kind::BeLong | Kind::LeLong => value_long(p),
        Kind::Str => {
            let text: &[u8] = if m.reln == b'=' { &m.value } else { p };
            let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
            found.print(&format_desc(&m.desc, Arg::Text(text)));
            return;
        }
        Kind::Date | Kind::BeDate | Kind::LeDate => {
            let text = ctime(value_long(p) as i64);
            found.print(&format_desc(&m.desc, Arg::Text(text.as_bytes())));
            return;
        }
        Kind::Invalid => return,
    };
    let v = sign_extend(m, number) & m.mask;
    found.print(&format_desc(&m.desc, Arg::Number(v)));
}

/// `apr_snprintf(buf, 256, desc, arg)` for the one argument a description gets: `%%`, and
/// `%s`, `%c`, `%d`/`%i`, `%u`, `%x`/`%X`, `%o` with flags, width, precision and `l`.
fn format_desc(desc: &[u8], arg: Arg) -> Vec<u8> {
    let mut out = Vec::new();
    let mut used = false;
    let mut i = 0;
    while i < desc.len() {
        let c = desc[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut plus, mut space, mut alt) =
            (false, false, false, false, false);
        while let Some(&f) = desc.get(i) {
            match f {
                b'-' => left = true,
                b'0' => zero = true,
                b'+' => plus = true,
                b' ' => space = true,
                b'#' => alt = true,
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        while let Some(d) = desc.get(i).filter(|d| d.is_ascii_digit()) {
            width = width
                .saturating_mul(10)
                .saturating_add(usize::from(d - b'0'));
            i += 1;
        }
        let mut precision = None;
        if desc.get(i) == Some(&b'.') {
            i += 1;
            let mut p = 0usize;
            while let Some(d) = desc.get(i).filter(|d| d.is_ascii_digit()) {
                p = p.saturating_mul(10).saturating_add(usize::from(d - b'0'));
                i += 1;
            }
            precision = Some(p);
        }
        let mut long = false;
        while let Some(&q) = desc.get(i) {
            match q {
                b'l' | b'q' | b'z' => long = true,
                b'h' => {}
                _ => break,
            }
            i += 1;
        }
        let Some(&conv) = desc.get(i) else {
            break;
        };
        i += 1;
        // Only the first conversion has an argument; later ones print as if given nothing.
        let this = if used {
            Arg::Number(0)
        } else {
            clone_arg(&arg)
        };
        let number = |n: &Arg| match n {
            Arg::Number(v) => *v,
            Arg::Text(_) => 0,
        };
        let (mut body, mut prefix): (Vec<u8>, Vec<u8>) = match conv {
            b'%' => {
                out.push(b'%');
                continue;
            }
            b's' => {
                used = true;
                let text: &[u8] = match &this {
                    Arg::Text(t) => t,
                    Arg::Number(_) => b"(null)",
                };
                let text = &text[..precision.map_or(text.len(), |p| p.min(text.len()))];
                (text.to_vec(), Vec::new())
            }
            b'c' => {
                used = true;
                (vec![number(&this) as u8], Vec::new())
            }
            b'd' | b'i' => {
                used = true;
                let v = number(&this);
                let v = if long {
                    v as i64
                } else {
                    i64::from(v as u32 as i32)
                };
                let sign = if v < 0 {
                    b"-".to_vec()
                } else if plus {
                    b"+".to_vec()
                } else if space {
                    b" ".to_vec()
                } else {
                    Vec::new()
                };
                (v.unsigned_abs().to_string().into_bytes(), sign)
            }
            b'u' | b'x' | b'X' | b'o' => {
                used = true;
                let v = number(&this);
                let v = if long { v } else { u64::from(v as u32) };
                let (digits, prefix) = match conv {
                    b'u' => (v.to_string(), ""),
                    b'x' => (format!("{v:x}"), if alt && v != 0 { "0x" } else { "" }),
                    b'X' => (format!("{v:X}"), if alt && v != 0 { "0X" } else { "" }),
                    _ => (format!("{v:o}"), if alt { "0" } else { "" }),
                };
                (digits.into_bytes(), prefix.as_bytes().to_vec())
            }
            other => {
                out.push(b'%');
                out.push(other);
                continue;
            }
        };
        if conv != b's' && conv != b'c' {
            if let Some(p) = precision {
                while body.len() < p {
                    body.insert(0, b'0');
                }
            }
        }
        let len = body.len() + prefix.len();
        if width > len {
            let pad = width - len;
            if left {
                body.extend(std::iter::repeat_n(b' ', pad));
            } else if zero && precision.is_none() && conv != b's' && conv != b'c' {
                body.splice(0..0, std::iter::repeat_n(b'0', pad));
            } else {
                prefix.splice(0..0, std::iter::repeat_n(b' ', pad));
            }
        }
        out.extend_from_slice(&prefix);
        out.extend_from_slice(&body);
    }
    out.truncate(MAX_PRINTED);
    // What was printed is a C string from here on.
    if let Some(at) = out.iter().position(|&b| b == 0) {
        out.truncate(at);
    }
    out
}

fn clone_arg<'a>(arg: &Arg<'a>) -> Arg<'a> {
    match arg {
        Arg::Number(v) => Arg::Number(*v),
        Arg::Text(t) => Arg::Text(t),
    }
}

/// The keyword table of Apache's `ascmagic` (file(1)'s names.h, HTML first): a word among the
/// first 1024 bytes equal to one of these types the file.
const NAMES: &[(&str, &str)] = &[
    ("<html>", "text/html"),
    ("<HTML>", "text/html"),
    ("<head>", "text/html"),
    ("<HEAD>", "text/html"),
    ("<title>", "text/html"),
    ("<TITLE>", "text/html"),
    ("<h1>", "text/html"),
    ("<H1>", "text/html"),
    ("<!--", "text/html"),
    ("<!DOCTYPE HTML", "text/html"),
    ("/*", "text/plain"),
    ("#include", "text/plain"),
    ("char", "text/plain"),
    ("The", "text/plain"),
    ("the", "text/plain"),
    ("double", "text/plain"),
    ("extern", "text/plain"),
    ("float", "text/plain"),
    ("real", "text/plain"),
    ("struct", "text/plain"),
    ("union", "text/plain"),
    ("CFLAGS", "text/plain"),
    ("LDFLAGS", "text/plain"),
    ("all:", "text/plain"),
    (".PRECIOUS", "text/plain"),
    (".ascii", "text/plain"),
    (".asciiz", "text/plain"),
    (".byte", "text/plain"),
    (".even", "text/plain"),
    (".globl", "text/plain"),
    ("clr", "text/plain"),
    ("(input,", "text/plain"),
    ("dcl", "text/plain"),
    ("Received:", "message/rfc822"),
    (">From", "message/rfc822"),
    ("Return-Path:", "message/rfc822"),
    ("Cc:", "message/rfc822"),
    ("Newsgroups:", "message/news"),
    ("Path:", "message/news"),
    ("Organization:", "message/news"),
];

/// Apache's `ascmagic`: troff (`.` then two letters), Fortran (`c` then a space), a keyword
/// of the table, a tar header. False when none of them says anything.
pub fn asc_magic(buf: &[u8], found: &mut Found) -> bool {
    let at = |i: usize| buf.get(i).copied().unwrap_or(0);
    if at(0) == b'.' {
        let mut tp = 1;
        while is_space(at(tp)) {
            tp += 1;
        }
        // Apache's second test looks at the same character again for the quote.
        if (at(tp).is_ascii_alphanumeric() || at(tp) == b'\\')
            && (at(tp + 1).is_ascii_alphanumeric() || at(tp) == b'"')
        {
            found.print(b"application/x-troff");
            return true;
        }
    }
    if (at(0) == b'c' || at(0) == b'C') && is_space(at(1)) {
        found.print(b"text/plain");
        return true;
    }
    let small = &buf[..buf.len().min(SMALL_HOWMANY)];
    let has_escapes = small.contains(&0x1b);
    let text = &small[..small.iter().position(|&b| b == 0).unwrap_or(small.len())];
    let words = text
        .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        .filter(|w| !w.is_empty());
    for word in words {
        if let Some((_, kind)) = NAMES.iter().find(|(name, _)| name.as_bytes() == word) {
            found.print(kind.as_bytes());
            if has_escapes {
                found.print(b" (with escape sequences)");
            }
            return true;
        }
    }
    if is_tar(buf) != 0 {
        found.print(b"application/x-tar");
        return true;
    }
    false
}

/// Apache's `is_tar`: 0 when the first 512 bytes are no tar header (their checksum does not
/// add up), 2 for a POSIX one (`ustar  ` magic), 1 for an old one.
pub fn is_tar(buf: &[u8]) -> u8 {
    const RECORD: usize = 512;
    const CHKSUM: std::ops::Range<usize> = 148..156;
    if buf.len() < RECORD {
        return 0;
    }
    let header = &buf[..RECORD];
    let recsum = from_oct(&header[CHKSUM]);
    let mut sum: i64 = header.iter().map(|&b| i64::from(b)).sum();
    sum -= header[CHKSUM].iter().map(|&b| i64::from(b)).sum::<i64>();
    sum += i64::from(b' ') * CHKSUM.len() as i64;
    if sum != recsum {
        return 0;
    }
    let magic = &header[257..265];
    let magic = &magic[..magic.iter().position(|&b| b == 0).unwrap_or(magic.len())];
    if magic == b"ustar  " {
        2
    } else {
        1
    }
}

/// Apache's `from_oct`: an octal field, -1 when it is blank or ends on something else.
fn from_oct(field: &[u8]) -> i64 {
    let mut digs = field.len();
    let mut at = 0;
    let get = |i: usize| field.get(i).copied().unwrap_or(0);
    while is_space(get(at)) {
        at += 1;
        digs -= 1;
        if digs == 0 {
            return -1;
        }
    }
    let mut value = 0i64;
    while digs > 0 && (b'0'..=b'7').contains(&get(at)) {
        value = (value << 3) | i64::from(get(at) - b'0');
        at += 1;
        digs -= 1;
    }
    if digs > 0 && get(at) != 0 && !is_space(get(at)) {
        return -1;
    }
    value
}

/// Apache's `magic_rsl_to_request`: the type (up to white space, with a `/` in it) and the
/// optional encoding after it, read from the printed pieces. Apache's copy takes one
/// character more than it counted when more text follows in a piece it copies from, and it
/// never reads the last piece (the newline); both are kept so the headers come out the same.
pub fn rsl_to_request(pieces: &[Vec<u8>]) -> Option<(String, Option<String>)> {
    #[derive(PartialEq, PartialOrd)]
    enum State {
        LeadingSpace,
        Type,
        Subtype,
        Separator,
        Encoding,
    }
    let mut state = State::LeadingSpace;
    let (mut type_at, mut type_len) = ((0, 0), 0);
    let (mut encoding_at, mut encoding_len) = ((0, 0), 0);
    let readable = pieces.len().saturating_sub(1);
    'pieces: for (frag, piece) in pieces[..readable].iter().enumerate() {
        for (pos, &c) in piece.iter().take_while(|&&c| c != 0).enumerate() {
            if is_space(c) {
                match state {
                    State::LeadingSpace | State::Separator => {}
                    State::Type => return None,
                    State::Subtype => state = State::Separator,
                    State::Encoding => break 'pieces,
                }
            } else if state == State::Type && c == b'/' {
                type_len += 1;
                state = State::Subtype;
            } else {
                match state {
                    State::LeadingSpace => {
                        state = State::Type;
                        type_at = (frag, pos);
                        type_len = 1;
                    }
                    State::Type | State::Subtype => type_len += 1,
                    State::Separator => {
                        state = State::Encoding;
                        encoding_at = (frag, pos);
                        encoding_len = 1;
                    }
                    State::Encoding => encoding_len += 1,
                }
            }
        }
    }
    if state < State::Subtype {
        return None;
    }
    let mut content_type = rsl_copy(pieces, type_at, type_len);
    // ap_content_type_tolower: the media type, not its parameters.
    let semi = content_type
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(content_type.len());
    content_type[..semi].make_ascii_lowercase();
    let encoding = (state == State::Encoding).then(|| {
        let mut encoding = rsl_copy(pieces, encoding_at, encoding_len);
        encoding.make_ascii_lowercase();
        String::from_utf8_lossy(&encoding).into_owned()
    });
    Some((
        String::from_utf8_lossy(&content_type).into_owned(),
        encoding,
    ))
}

/// Apache's `rsl_strdup`: up to `len` + 1 characters from `(piece, position)` on, over every
/// piece but the last, skipping in later pieces the positions before the starting one.
fn rsl_copy(pieces: &[Vec<u8>], (start_frag, start_pos): (usize, usize), len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let readable = pieces.len().saturating_sub(1);
    for (frag, piece) in pieces[..readable].iter().enumerate().skip(start_frag) {
        let from = if frag == start_frag { start_pos } else { 0 };
        for (pos, &c) in piece.iter().enumerate().skip(from) {
            if c == 0 {
                break;
            }
            if pos >= start_pos && out.len() <= len {
                out.push(c);
                if out.len() > len {
                    break;
                }
            }
        }
    }
    out
}

/// Apache's `revision_suffix`: a file named `NAME@N` takes, through a sub-request, the type
/// (and encoding and languages) NAME would have; None when that gave no type.
fn revision_suffix(req: &Request, filename: &Path) -> Option<Typed> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = filename.as_os_str().as_bytes();
    if !bytes.last().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let digits = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let at = bytes.len() - digits;
    if at == 0 || bytes[at - 1] != b'@' {
        return None;
    }
    let base = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[..at - 1]));
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let uri_dir = match req.uri.rfind('/') {
        Some(slash) => &req.uri[..=slash],
        None => "/",
    };
    let mut sub = req.sub_request(format!("{uri_dir}{name}"));
    crate::request::pipeline::lookup_file(&mut sub, base).ok()?;
    sub.rt.hooks.type_checker.run_first(&mut sub).ok()?;
    // mod_mime types a directory with Apache's directory magic type (rhttpd's mod_mime leaves
    // it untyped, its handlers look at the file's kind instead).
    let directory =
        sub.finfo.as_ref().is_some_and(|m| m.is_dir()) && sub.rt.module_loaded("mime_module");
    let content_type = crate::request::static_file::content_type(&sub)
        .or_else(|| directory.then(|| DIRECTORY_TYPE.to_string()))?;
    let from = sub.file_info.take().unwrap_or_default();
    Some(Typed {
        content_type: Some(content_type),
        encoding: from.encoding,
        languages: from.languages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(_: &str) {}

    fn no_unzip(_: &[u8]) -> Option<(Vec<u8>, &'static str)> {
        None
    }

    /// The type and encoding a file's first bytes get, as the request would see them.
    fn typed(magic: &str, data: &[u8]) -> Option<(String, Option<String>)> {
        let rules = parse_magic(magic.as_bytes()).rules;
        let mut buf = data.to_vec();
        buf.push(0);
        let mut found = Found::default();
        if !try_it(&buf, &rules, true, &mut found, &quiet, &no_unzip) {
            return None;
        }
        found.print(b"\n");
        rsl_to_request(&found.printed)
    }

    fn padded(head: &[u8]) -> Vec<u8> {
        let mut data = head.to_vec();
        data.resize(100, b'.');
        data
    }

    #[test]
    fn a_rule_reads_offset_type_relation_value_and_description() {
        let parsed = parse_magic(b"# comment\n\n>>(4.s+2)\tubyte&0x0f\t>3\t\\bimage/x-y enc\n");
        assert!(!parsed.failed);
        assert_eq!(parsed.rules.len(), 1);
        let m = &parsed.rules[0];
        assert_eq!((m.lineno, m.cont_level, m.offset), (3, 2, 4));
        assert_eq!(m.indirect, Some((IndirectKind::Short, 2)));
        assert!(m.unsigned && m.nospace);
        assert_eq!(
            (m.kind, m.reln, m.mask, m.value_number()),
            (Kind::Byte, b'>', 15, 3)
        );
        assert_eq!(m.desc, b"image/x-y enc");
    }

    #[test]
    fn string_values_take_c_escapes_up_to_white_space() {
        let parsed = parse_magic(b"0 string \\x89PNG\\r\\n\\032\\0\\ a image/png\n");
        let m = &parsed.rules[0];
        assert_eq!(&m.value[..m.vallen], b"\x89PNG\r\n\x1a\0 a");
        assert_eq!(m.desc, b"image/png");
        let long = format!("0 string {} x/y\n", "a".repeat(70));
        let parsed = parse_magic(long.as_bytes());
        assert_eq!(parsed.rules[0].vallen, 63);
        assert!(parsed.messages[0].starts_with("AH01526: mod_mime_magic: string too long: aaa"));
        assert!(!parsed.failed);
    }

    #[test]
    fn bad_lines_log_apache_messages_and_a_bad_type_counts_as_an_error() {
        let parsed = parse_magic(b"0 foo 3 bad\n>x string a\n>(1.q byte 1 a/b\n");
        assert_eq!(
            parsed.messages,
            [
                "AH01524: mod_mime_magic: type foo 3 bad invalid",
                "AH01521: mod_mime_magic: offset x string a invalid",
                "AH01524: mod_mime_magic: type x string a invalid",
                "AH01522: mod_mime_magic: indirect offset type q invalid",
                "AH01523: mod_mime_magic: missing ')' in indirect offset",
            ]
        );
        assert!(parsed.failed);
        // The failed lines stay in the list, as Apache keeps them.
        assert_eq!(parsed.rules.len(), 3);
        assert_eq!(parsed.rules[0].kind, Kind::Invalid);
    }

    #[test]
    fn strtol_reads_c_numbers() {
        assert_eq!(strtol(b"0x1F rest"), (31, 4));
        assert_eq!(strtol(b"017"), (15, 3));
        assert_eq!(strtol(b"  -12x"), (-12, 5));
        assert_eq!(strtol(b"0x"), (0, 1));
        assert_eq!(strtol(b"abc"), (0, 0));
        assert_eq!(strtol(b"99999999999999999999").0, i64::MAX);
    }

    #[test]
    fn strings_and_numbers_match_in_the_byte_order_named() {
        let magic = "0 string GIF image/gif\n0 beshort 0xffd8 image/jpeg\n\
                     0 leshort 0x1234 application/x-le\n0 belong 0x01020304 application/x-be\n";
        assert_eq!(
            typed(magic, &padded(b"GIF89a")),
            Some(("image/gif".into(), None))
        );
        assert_eq!(
            typed(magic, &padded(b"\xff\xd8\xff")).unwrap().0,
            "image/jpeg"
        );
        assert_eq!(
            typed(magic, &padded(b"\x34\x12")).unwrap().0,
            "application/x-le"
        );
        assert_eq!(
            typed(magic, &padded(b"\x01\x02\x03\x04")).unwrap().0,
            "application/x-be"
        );
        // A file shorter than offset + 64 bytes is never tested.
        assert_eq!(typed(magic, b"GIF89a"), None);
    }

    #[test]
    fn a_belong_with_its_top_bit_set_never_equals_its_value_on_64_bit() {
        // The read value is widened with its sign, the rule's is not: Apache's own result.
        let magic = "0 belong 0xcafebabe application/java\n";
        assert_eq!(typed(magic, &padded(b"\xca\xfe\xba\xbe")), None);
    }

    #[test]
    fn continuations_print_under_the_rule_that_matched() {
        let magic = "0 string RIFF\n>8 string WAVE audio/x-wav\n>8 string AVI\\  video/x-msvideo\n\
                     0 string \\177ELF\n>16 leshort 2 application/x-executable\n";
        assert_eq!(
            typed(magic, &padded(b"RIFF....WAVE")).unwrap().0,
            "audio/x-wav"
        );
        let mut elf = padded(b"\x7fELF");
        elf[16] = 2;
        elf[17] = 0;
        assert_eq!(typed(magic, &elf).unwrap().0, "application/x-executable");
    }

    #[test]
    fn masks_and_relations_compare_as_apache_does() {
        let magic = "0 beshort&0xfffe =0xfffa audio/mpeg\n0 byte >0x70 x/greater\n\
                     0 byte &0x41 x/and\n0 byte ^0x02 x/xor\n0 ubyte !3 x/not\n";
        assert_eq!(typed(magic, &padded(b"\xff\xfb")).unwrap().0, "audio/mpeg");
        assert_eq!(typed(magic, &padded(b"\x72")).unwrap().0, "x/greater");
        // 0x80 is negative as a signed byte: not greater.
        assert_eq!(typed(magic, &padded(b"\x41")).unwrap().0, "x/and");
        assert_eq!(typed(magic, &padded(b"\x01")).unwrap().0, "x/xor");
        assert_eq!(typed(magic, &padded(b"\x03")), None);
    }

    #[test]
    fn the_type_copy_takes_one_more_character_as_apache_does() {
        let magic = "0 string AB image/png\tx-Foo more\n0 string CD text/plain\n";
        assert_eq!(
            typed(magic, &padded(b"AB")),
            Some(("image/png\t".into(), Some("x-foo ".into())))
        );
        assert_eq!(
            typed(magic, &padded(b"CD")),
            Some(("text/plain".into(), None))
        );
    }

    #[test]
    fn text_heuristics_type_keywords_troff_fortran_and_escapes() {
        assert_eq!(typed("", b"The quick fox\n").unwrap().0, "text/plain");
        assert_eq!(typed("", b"x <html> y\n").unwrap().0, "text/html");
        assert_eq!(typed("", b"Newsgroups: a\n").unwrap().0, "message/news");
        assert_eq!(typed("", b".TH foo\n").unwrap().0, "application/x-troff");
        assert_eq!(typed("", b"c fortran\n").unwrap().0, "text/plain");
        assert_eq!(typed("", b"hello world\n"), None);
        assert_eq!(
            typed("", b"the \x1b[1m\n"),
            Some(("text/plain ".into(), Some("(with ".into())))
        );
    }

    #[test]
    fn a_tar_header_is_recognised_by_its_checksum() {
        let mut header = vec![0u8; 1024];
        header[..5].copy_from_slice(b"a.txt");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header[..512].iter().map(|&b| u32::from(b)).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert_eq!(is_tar(&header), 1);
        header[257..265].copy_from_slice(b"ustar  \0");
        let sum: u32 = header[..512]
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert_eq!(is_tar(&header), 2);
        header[0] = b'b';
        assert_eq!(is_tar(&header), 0);
    }

    #[test]
    fn descriptions_are_printf_formats() {
        assert_eq!(format_desc(b"v%d/%s", Arg::Number(7)), b"v7/(null)");
        assert_eq!(format_desc(b"x/%s-y", Arg::Text(b"abc")), b"x/abc-y");
        assert_eq!(
            format_desc(b"%04x|%-3u|%%", Arg::Number(0x2a)),
            b"002a|0  |%"
        );
    }

    #[test]
    fn boink_matches_anything() {
        let rules = parse_magic(b"0 byte 120 x/boink\n").rules;
        let mut buf = padded(b"\x01");
        buf.push(0);
        let logged = std::cell::RefCell::new(Vec::new());
        let log = |t: &str| logged.borrow_mut().push(t.to_string());
        let mut found = Found::default();
        assert!(soft_magic(&buf, &rules, &mut found, &log));
        assert_eq!(
            logged.borrow().as_slice(),
            ["AH01539: mod_mime_magic: BOINK"]
        );
    }

    #[test]
    fn compressed_contents_give_the_inner_type_and_the_encoding() {
        let rules = parse_magic(b"0 string GIF image/gif\n").rules;
        let mut buf = padded(b"\x1f\x8b\x08");
        buf.push(0);
        let unzip = |_: &[u8]| Some((b"<html> x\n".to_vec(), "x-gzip"));
        let mut found = Found::default();
        assert!(try_it(&buf, &rules, true, &mut found, &quiet, &unzip));
        assert_eq!(found.encoding.as_deref(), Some("x-gzip"));
        found.print(b"\n");
        assert_eq!(rsl_to_request(&found.printed).unwrap().0, "text/html");
        // A failed decompression types nothing, and sets no encoding.
        let mut found = Found::default();
        assert!(try_it(&buf, &rules, true, &mut found, &quiet, &no_unzip));
        assert_eq!((found.printed.len(), found.encoding), (0, None));
    }

    #[test]
    fn the_result_needs_a_slash_before_white_space_and_skips_the_last_piece() {
        let pieces = |list: &[&str]| -> Vec<Vec<u8>> {
            list.iter().map(|p| p.as_bytes().to_vec()).collect()
        };
        assert_eq!(rsl_to_request(&pieces(&["notype x", "\n"])), None);
        assert_eq!(rsl_to_request(&pieces(&["plain", "\n"])), None);
        // The last piece is never read: a lone type there is no result.
        assert_eq!(rsl_to_request(&pieces(&["image/gif"])), None);
        assert_eq!(
            rsl_to_request(&pieces(&["", "  Image/GIF;Q=1", "\n"])),
            Some(("image/gif;Q=1".into(), None))
        );
        assert_eq!(
            rsl_to_request(&pieces(&["a/b", " ", "X-Enc", "\n"])),
            Some(("a/b ".into(), Some("x-enc".into())))
        );
    }

    #[test]
    fn dates_print_as_apr_ctime() {
        let text = ctime(0);
        assert_eq!(text.len(), "Thu Jan 01 00:00:00 1970".len(), "{text}");
        assert!(text.ends_with("1970") || text.ends_with("1969"), "{text}");
    }
}
