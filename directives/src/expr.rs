//! Apache 2.4's `ap_expr` language (`<If>`, `Require expr`, `SetEnvIfExpr`, `Header ... expr=`,
//! `FilterProvider`, ...): its scanner, its parser with Apache's parse-time error texts, and the
//! evaluator that asks a [`Context`] about the request being served.
//!
//! The parser is recursive descent, but its error texts are those of the bison parser Apache
//! generates from `util_expr_parse.y` (2.4 branch): bison reports the token it did not expect
//! and, when the state it stopped in accepts at most four tokens, the list of those. Each
//! `EXPECT_*` list below is the list of one such state; the comment on each parse step says
//! which state it stands for. Lookups of variables, functions and operators fail the way
//! Apache's do: the parse goes on and the last lookup error is reported, after bison's own
//! message when there is one.
//!
//! Known differences from Apache, all in corners real configurations do not reach:
//! - nesting deeper than `MAX_NESTING` (100) levels is refused with bison's "memory exhausted"
//!   (bison itself allows about 10000 stack entries);
//! - where flex would jam (a quote inside `%{func:...}`, a backslash ending a string) Apache
//!   exits; here the parse fails with flex's "flex scanner jammed";
//! - `-ipmatch` reads numeric addresses in its left operand as getaddrinfo does, but does not
//!   resolve host names;
//! - functions and variables never add names to `Vary`, and "restricted" contexts (where
//!   Apache refuses `file()` and the file tests) are not modelled;
//! - the scanner works on bytes like flex, but messages quoting a non-ASCII character quote
//!   the whole character, and octal escapes above `\177` become bytes that are decoded as
//!   UTF-8 (lossily) when the string ends;
//! - the recursion limit of the evaluator (20 levels, "Recursion limit reached") counts
//!   chains of `.` and of string parts as one flat level, where Apache's count can differ by
//!   one for a chain mixing both.

use std::net::{IpAddr, Ipv6Addr};

use crate::util::civil::{civil_from_days, weekday};
use crate::util::escape::{escape_uri, unescape_url};
use crate::util::fnmatch::{fnmatch, Flags};
use crate::util::subnet::Subnet;

/// A parsed boolean expression.
#[derive(Debug, Clone)]
pub struct Expr {
    root: Cond,
}

/// A parsed string expression (for `Header set X "expr=..."`-like uses; the `%{VAR}`
/// interpolation form, parse_string mode).
#[derive(Debug, Clone)]
pub struct StringExpr {
    root: Word,
}

/// Parses a boolean expression; the error is what Apache's `ap_expr_parse` reports (callers add
/// their own prefix, e.g. "Cannot parse condition clause: ").
pub fn parse(text: &str) -> Result<Expr, String> {
    parse_in(text, false)
}

/// [`parse`], in Apache's restricted context when `restricted` (an `.htaccess` file): the
/// functions that read files (`file`, `filesize`) are refused.
pub fn parse_in(text: &str, restricted: bool) -> Result<Expr, String> {
    let mut p = Parser::new(text, false);
    p.restricted = restricted;
    let result = p.cond().and_then(|root| {
        // State 4 of the bison automaton: after the whole expression only the end may follow.
        if p.peek()? == Tok::End {
            Ok(root)
        } else {
            Err(p.unexpected(EXPECT_END))
        }
    });
    p.finish(result).map(|root| Expr { root })
}

/// Parses an `<!--#if expr -->` condition as mod_include does: restricted, with its `v()`
/// function (an SSI variable, as [`Context::env`] answers for `reqenv`).
pub fn parse_ssi(text: &str) -> Result<Expr, String> {
    let mut p = Parser::new(text, false);
    p.restricted = true;
    p.ssi = true;
    let result = p.cond().and_then(|root| {
        if p.peek()? == Tok::End {
            Ok(root)
        } else {
            Err(p.unexpected(EXPECT_END))
        }
    });
    p.finish(result).map(|root| Expr { root })
}

/// Parses a string expression: literal text with `%{...}` variables, `%{func:arg}` calls and
/// `$0`..`$9` backreferences.
pub fn parse_string(text: &str) -> Result<StringExpr, String> {
    parse_string_in(text, false)
}

/// [`parse_string`], in the restricted context when `restricted` (see [`parse_in`]).
pub fn parse_string_in(text: &str, restricted: bool) -> Result<StringExpr, String> {
    let mut p = Parser::new(text, true);
    p.restricted = restricted;
    let result = p.string(StrCtx::Top);
    p.finish(result).map(|root| StringExpr { root })
}

/// What an expression can ask about the request being served. Every method has a default
/// returning None/false so callers implement only what they have.
pub trait Context {
    /// A server/request variable by its upper-case name: REQUEST_URI, REQUEST_METHOD,
    /// QUERY_STRING, REMOTE_ADDR, HTTP_HOST, SERVER_NAME, ... (the list in expr.xml). HTTP_*
    /// names for headers are resolved by the caller too; when this returns None for one of
    /// them, the header is asked of [`Context::request_header`]. TIME_* variables that this
    /// leaves to the evaluator are read from the system clock in the zone
    /// [`Context::utc_offset`] names.
    fn var(&self, _name: &str) -> Option<String> {
        None
    }

    /// A variable mod_ssl answers (`SSL_PROTOCOL`, `SSL_CLIENT_S_DN_CN`, ...): `None` on a
    /// connection without TLS, or where mod_ssl is not loaded.
    fn ssl_var(&self, _name: &str) -> Option<String> {
        None
    }
    /// A request header (`%{HTTP:Name}`, `req('Name')`, `http('Name')`).
    fn request_header(&self, _name: &str) -> Option<String> {
        None
    }
    /// A response header (`resp('Name')`, `%{resp:Name}`).
    fn response_header(&self, _name: &str) -> Option<String> {
        None
    }
    /// The request's environment (`env('X')`, `%{ENV:X}`, `reqenv('X')`).
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    /// A request note (`note('X')`).
    fn note(&self, _name: &str) -> Option<String> {
        None
    }
    /// The client address (for `-ipmatch` with REMOTE_ADDR and `-R`).
    fn remote_ip(&self) -> Option<IpAddr> {
        None
    }
    /// Seconds east of UTC of the server's local time at `secs` after the epoch: Apache breaks
    /// the TIME_* variables down in local time (`apr_time_exp_lt`). This crate cannot ask the
    /// C library (no unsafe here), so the server answers; without an answer, UTC.
    fn utc_offset(&self, _secs: i64) -> i64 {
        0
    }
    /// `-e`: the path exists (symbolic links followed).
    fn file_exists(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok()
    }
    /// `-d`: the path is a directory.
    fn file_is_dir(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_dir())
    }
    /// `-f`: the path is a regular file.
    fn file_is_regular(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_file())
    }
    /// `-s`: the path is a regular file that is not empty.
    fn file_is_nonempty(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
    }
    /// `-L` and `-h`: the path is a symbolic link.
    fn file_is_symlink(&self, path: &str) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    }
    /// `-x`: some execute bit is set. Apache asks lstat, so a symbolic link itself (mode 0777
    /// on Linux) counts as executable.
    fn file_is_executable(&self, path: &str) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::symlink_metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            false
        }
    }
    /// `-F`: a sub-request for this file path would be served (status below 300).
    fn subrequest_file_ok(&self, _path: &str) -> bool {
        false
    }
    /// `-U` and `-A`: a sub-request for this URL would be allowed (status below 400).
    fn subrequest_uri_ok(&self, _uri: &str) -> bool {
        false
    }
    /// `file()`: the content of a file, or Apache's runtime error text.
    fn file_contents(&self, path: &str) -> Result<String, String> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|_| format!("Cannot open file {path}"))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_SIZE {
            return Err(format!("File {path} too large"));
        }
        if size == 0 {
            return Ok(String::new());
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes)
            .map_err(|_| format!("Cannot read from file {path}"))?;
        Ok(c_string(bytes))
    }
    /// `filesize()`: the size of a regular file, 0 for anything else.
    fn file_size(&self, path: &str) -> u64 {
        std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len())
    }
}

/// An answer a [`Layered`] context's overlay gives: `Some` answers (with the value or none),
/// `None` leaves the question to the base context.
pub type Overlay<'a> = &'a dyn Fn(&str) -> Option<Option<String>>;

/// A context that answers as `base` does, except for the variables and the environment its
/// overlays answer first: one place forwards every question, so a wrapper cannot drop one.
pub struct Layered<'a> {
    pub base: &'a dyn Context,
    pub var: Option<Overlay<'a>>,
    pub env: Option<Overlay<'a>>,
}

impl Context for Layered<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match self.var.and_then(|overlay| overlay(name)) {
            Some(answer) => answer,
            None => self.base.var(name),
        }
    }
    fn ssl_var(&self, name: &str) -> Option<String> {
        self.base.ssl_var(name)
    }
    fn request_header(&self, name: &str) -> Option<String> {
        self.base.request_header(name)
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.base.response_header(name)
    }
    fn env(&self, name: &str) -> Option<String> {
        match self.env.and_then(|overlay| overlay(name)) {
            Some(answer) => answer,
            None => self.base.env(name),
        }
    }
    fn note(&self, name: &str) -> Option<String> {
        self.base.note(name)
    }
    fn remote_ip(&self) -> Option<IpAddr> {
        self.base.remote_ip()
    }
    fn utc_offset(&self, secs: i64) -> i64 {
        self.base.utc_offset(secs)
    }
    fn file_exists(&self, path: &str) -> bool {
        self.base.file_exists(path)
    }
    fn file_is_dir(&self, path: &str) -> bool {
        self.base.file_is_dir(path)
    }
    fn file_is_regular(&self, path: &str) -> bool {
        self.base.file_is_regular(path)
    }
    fn file_is_nonempty(&self, path: &str) -> bool {
        self.base.file_is_nonempty(path)
    }
    fn file_is_symlink(&self, path: &str) -> bool {
        self.base.file_is_symlink(path)
    }
    fn file_is_executable(&self, path: &str) -> bool {
        self.base.file_is_executable(path)
    }
    fn subrequest_file_ok(&self, path: &str) -> bool {
        self.base.subrequest_file_ok(path)
    }
    fn subrequest_uri_ok(&self, uri: &str) -> bool {
        self.base.subrequest_uri_ok(uri)
    }
    fn file_contents(&self, path: &str) -> Result<String, String> {
        self.base.file_contents(path)
    }
    fn file_size(&self, path: &str) -> u64 {
        self.base.file_size(path)
    }
}

impl Expr {
    /// Evaluates; Err carries Apache's runtime error text (a `file()` that cannot be read, the
    /// recursion limit).
    pub fn eval(&self, ctx: &dyn Context) -> Result<bool, String> {
        self.eval_with_captures(ctx).map(|(b, _)| b)
    }

    /// Like eval, also returning regex captures $0..$9 from the last successful `=~` match (for
    /// backreferences used later, e.g. in `<If>` bodies). The vector is empty when no match
    /// with capturing groups is in effect, and holds ten entries otherwise (None for a group
    /// that did not take part in the match).
    pub fn eval_with_captures(
        &self,
        ctx: &dyn Context,
    ) -> Result<(bool, Vec<Option<String>>), String> {
        let mut ev = Eval::new(ctx);
        let result = ev.cond(&self.root);
        match ev.err {
            Some(e) => Err(e),
            None => Ok((result, ev.caps.unwrap_or_default())),
        }
    }
}

impl StringExpr {
    /// Evaluates to the string; Err carries Apache's runtime error text.
    pub fn eval(&self, ctx: &dyn Context) -> Result<String, String> {
        self.eval_with_captures(ctx, Vec::new())
    }

    /// Evaluates with `$0`..`$9` taken from a condition's match (what
    /// [`Expr::eval_with_captures`] returned), as Apache's `ap_expr_str_exec_re` does.
    pub fn eval_with_captures(
        &self,
        ctx: &dyn Context,
        captures: Vec<Option<String>>,
    ) -> Result<String, String> {
        let mut ev = Eval::new(ctx);
        ev.caps = Some(captures).filter(|c| !c.is_empty());
        let result = ev.word(&self.root);
        match ev.err {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Names known at parse time (util_expr_eval.c, 2.4: misc, request-header, request and
// connection variables; string functions; unary and binary operators).

const VARIABLES: &[&str] = &[
    "TIME_YEAR",
    "TIME_MON",
    "TIME_DAY",
    "TIME_HOUR",
    "TIME_MIN",
    "TIME_SEC",
    "TIME_WDAY",
    "TIME",
    "SERVER_SOFTWARE",
    "API_VERSION",
    "HTTP_USER_AGENT",
    "HTTP_PROXY_CONNECTION",
    "HTTP_REFERER",
    "HTTP_COOKIE",
    "HTTP_FORWARDED",
    "HTTP_HOST",
    "HTTP_ACCEPT",
    "REQUEST_METHOD",
    "REQUEST_SCHEME",
    "REQUEST_URI",
    "REQUEST_FILENAME",
    "REMOTE_HOST",
    "REMOTE_IDENT",
    "REMOTE_USER",
    "SERVER_ADMIN",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_FILENAME",
    "PATH_INFO",
    "QUERY_STRING",
    "IS_SUBREQ",
    "DOCUMENT_ROOT",
    "AUTH_TYPE",
    "THE_REQUEST",
    "CONTENT_TYPE",
    "HANDLER",
    "REQUEST_LOG_ID",
    "SCRIPT_USER",
    "SCRIPT_GROUP",
    "DOCUMENT_URI",
    "LAST_MODIFIED",
    "CONTEXT_PREFIX",
    "CONTEXT_DOCUMENT_ROOT",
    "REQUEST_STATUS",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "HTTPS",
    "IPV6",
    "CONN_LOG_ID",
    "CONN_REMOTE_ADDR",
    "HTTP2",
];

/// The request headers behind the HTTP_* variables, for callers whose `var` leaves them out.
const HEADER_VARIABLES: &[(&str, &str)] = &[
    ("HTTP_USER_AGENT", "User-Agent"),
    ("HTTP_PROXY_CONNECTION", "Proxy-Connection"),
    ("HTTP_REFERER", "Referer"),
    ("HTTP_COOKIE", "Cookie"),
    ("HTTP_FORWARDED", "Forwarded"),
    ("HTTP_HOST", "Host"),
    ("HTTP_ACCEPT", "Accept"),
];

/// Apache 2.4's module magic number major, the value of API_VERSION.
const API_VERSION: &str = "20120211";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Osenv,
    Env,
    Resp,
    Req,
    Http,
    Note,
    Reqenv,
    ReqNovary,
    Tolower,
    Toupper,
    Escape,
    Unescape,
    File,
    Filesize,
    Base64,
    Unbase64,
    Sha1,
    Md5,
    Ldap,
    /// mod_ssl's `SSL(name)` / `%{SSL:name}`.
    Ssl,
}

const FUNCTIONS: &[(&str, Func)] = &[
    ("osenv", Func::Osenv),
    ("env", Func::Env),
    ("resp", Func::Resp),
    ("req", Func::Req),
    ("http", Func::Http),
    ("note", Func::Note),
    ("reqenv", Func::Reqenv),
    ("req_novary", Func::ReqNovary),
    ("tolower", Func::Tolower),
    ("toupper", Func::Toupper),
    ("escape", Func::Escape),
    ("unescape", Func::Unescape),
    ("file", Func::File),
    ("filesize", Func::Filesize),
    ("base64", Func::Base64),
    ("unbase64", Func::Unbase64),
    ("sha1", Func::Sha1),
    ("md5", Func::Md5),
    ("ldap", Func::Ldap),
    ("SSL", Func::Ssl),
];

#[derive(Debug, Clone, Copy)]
enum Unary {
    NonEmpty,
    Empty,
    RemoteIn(Subnet),
    True,
    Dir,
    Exists,
    Regular,
    NonEmptyFile,
    Symlink,
    Executable,
    SubreqFile,
    SubreqUri,
}

#[derive(Debug, Clone, Copy)]
enum Binary {
    /// `-ipmatch`
    Ip(Subnet),
    /// `-fnmatch`
    Path,
    /// `-strmatch`
    Glob,
    /// `-strcmatch`
    GlobNoCase,
}

/// Where Apache's scanner buffer (MAX_STRING_LEN) overflows.
const MAX_STRING_LEN: usize = 8192;
/// `file()` refuses files larger than this.
const MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;
/// Nesting of parentheses, `!`, function and variable arguments the parser accepts; deeper
/// input is refused rather than risk the thread's stack.
const MAX_NESTING: usize = 100;
/// Apache's AP_EXPR_MAX_RECURSION.
const MAX_RECURSION: u32 = 20;

const UNTERMINATED: &str = "Unterminated string or variable";
/// What flex prints before exiting when no rule matches (a quote inside `%{func:...}`, a
/// backslash ending a string); Apache stops there, the caller reports it as a parse error.
const JAMMED: &str = "flex scanner jammed";

// ---------------------------------------------------------------------------------------------
// Scanner: the start conditions and rules of util_expr_scan.l (2.4), with flex's choice of the
// longest match and, on a tie, the earliest rule.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    End,
    True,
    False,
    Error(String),
    Digit(String),
    Id(String),
    Str(String),
    Regex(String, bool),
    Backref(u8),
    Unary(String),
    Binary(String),
    StrBegin,
    StrEnd,
    VarBegin,
    VarEnd,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Reg,
    Nre,
    In,
    StrEq,
    StrNe,
    StrLt,
    StrLe,
    StrGt,
    StrGe,
    Concat,
    Or,
    And,
    Not,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Colon,
}

/// The token's name in bison's messages (`yytname`).
fn tok_name(t: &Tok) -> &'static str {
    match t {
        Tok::End => "$end",
        Tok::True => "T_TRUE",
        Tok::False => "T_FALSE",
        Tok::Error(_) => "T_ERROR",
        Tok::Digit(_) => "T_DIGIT",
        Tok::Id(_) => "T_ID",
        Tok::Str(_) => "T_STRING",
        Tok::Regex(_, false) => "T_REGEX",
        Tok::Regex(_, true) => "T_REGEX_I",
        Tok::Backref(_) => "T_REGEX_BACKREF",
        Tok::Unary(_) => "T_OP_UNARY",
        Tok::Binary(_) => "T_OP_BINARY",
        Tok::StrBegin => "T_STR_BEGIN",
        Tok::StrEnd => "T_STR_END",
        Tok::VarBegin => "T_VAR_BEGIN",
        Tok::VarEnd => "T_VAR_END",
        Tok::Eq => "T_OP_EQ",
        Tok::Ne => "T_OP_NE",
        Tok::Lt => "T_OP_LT",
        Tok::Le => "T_OP_LE",
        Tok::Gt => "T_OP_GT",
        Tok::Ge => "T_OP_GE",
        Tok::Reg => "T_OP_REG",
        Tok::Nre => "T_OP_NRE",
        Tok::In => "T_OP_IN",
        Tok::StrEq => "T_OP_STR_EQ",
        Tok::StrNe => "T_OP_STR_NE",
        Tok::StrLt => "T_OP_STR_LT",
        Tok::StrLe => "T_OP_STR_LE",
        Tok::StrGt => "T_OP_STR_GT",
        Tok::StrGe => "T_OP_STR_GE",
        Tok::Concat => "T_OP_CONCAT",
        Tok::Or => "T_OP_OR",
        Tok::And => "T_OP_AND",
        Tok::Not => "T_OP_NOT",
        Tok::LParen => "'('",
        Tok::RParen => "')'",
        Tok::LBrace => "'{'",
        Tok::RBrace => "'}'",
        Tok::Comma => "','",
        Tok::Colon => "':'",
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    Initial,
    Str,
    Var,
    VarArg,
}

/// The delimiters `m` may introduce a regex with.
const REGEX_DELIMITERS: &[u8] = b"/#$%^,;:_?|-!.'\"";

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    start: Start,
    stack: Vec<Start>,
    buf: Vec<u8>,
    /// The quote that closes the current string; 0 in string mode, where quotes are text.
    quote: u8,
    string_mode: bool,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str, string_mode: bool) -> Self {
        Lexer {
            s: text.as_bytes(),
            pos: 0,
            start: if string_mode {
                Start::Str
            } else {
                Start::Initial
            },
            stack: Vec::new(),
            buf: Vec::new(),
            quote: 0,
            string_mode,
        }
    }

    /// The next token; Err when flex would have jammed.
    fn next(&mut self) -> Result<Tok, String> {
        match self.start {
            Start::Initial => Ok(self.initial()),
            Start::Str | Start::VarArg => self.text(),
            Start::Var => Ok(self.var()),
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn error_near(&mut self, what: &str) -> Tok {
        let c = char_at(self.s, self.pos);
        self.pos += c.len_utf8();
        Tok::Error(format!("{what} '{c}'"))
    }

    fn initial(&mut self) -> Tok {
        while matches!(self.at(self.pos), Some(b' ' | b'\t' | b'\n')) {
            self.pos += 1;
        }
        let Some(c) = self.at(self.pos) else {
            return Tok::End;
        };
        let next = self.at(self.pos + 1);
        match c {
            b'"' | b'\'' => {
                self.pos += 1;
                self.buf.clear();
                self.quote = c;
                self.start = Start::Str;
                Tok::StrBegin
            }
            b'%' if next == Some(b'{') => {
                self.pos += 2;
                self.stack.push(Start::Initial);
                self.start = Start::Var;
                Tok::VarBegin
            }
            b'$' if next.is_some_and(|d| d.is_ascii_digit()) => {
                self.pos += 2;
                Tok::Backref(next.unwrap_or(b'0') - b'0')
            }
            b'm' if next.is_some_and(|d| REGEX_DELIMITERS.contains(&d))
                && self.token_len(self.pos) <= 2 =>
            {
                // `m_` followed by more name characters is a name (longer match); `m_` alone
                // ties with the name rule and the regex rule comes first.
                self.regex(next.unwrap_or(b'/'), self.pos + 2)
            }
            b'/' => self.regex(b'/', self.pos + 1),
            b'=' | b'!' | b'<' | b'>' | b'&' | b'|' => self.operator(c, next),
            b'.' => {
                self.pos += 1;
                Tok::Concat
            }
            b'-' => self.dash(next),
            b'0'..=b'9' => self.digits(self.pos),
            b'a'..=b'z' | b'A'..=b'Z' => {
                let len = self.token_len(self.pos);
                let word = String::from_utf8_lossy(&self.s[self.pos..self.pos + len]).into_owned();
                self.pos += len;
                match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "lt" => Tok::Lt,
                    "le" => Tok::Le,
                    "gt" => Tok::Gt,
                    "ge" => Tok::Ge,
                    "ne" => Tok::Ne,
                    "eq" => Tok::Eq,
                    "in" => Tok::In,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    _ => Tok::Id(word),
                }
            }
            b'(' | b')' | b'{' | b'}' | b',' | b':' => {
                self.pos += 1;
                match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'{' => Tok::LBrace,
                    b'}' => Tok::RBrace,
                    b',' => Tok::Comma,
                    _ => Tok::Colon,
                }
            }
            _ => self.error_near("Parse error near"),
        }
    }

    fn operator(&mut self, c: u8, next: Option<u8>) -> Tok {
        let two = |t: Tok, this: &mut Self| {
            this.pos += 2;
            t
        };
        match (c, next) {
            (b'=', Some(b'~')) => two(Tok::Reg, self),
            (b'=', Some(b'=')) => two(Tok::StrEq, self),
            (b'!', Some(b'=')) => two(Tok::StrNe, self),
            (b'!', Some(b'~')) => two(Tok::Nre, self),
            (b'<', Some(b'=')) => two(Tok::StrLe, self),
            (b'>', Some(b'=')) => two(Tok::StrGe, self),
            (b'&', Some(b'&')) => two(Tok::And, self),
            (b'|', Some(b'|')) => two(Tok::Or, self),
            (b'=' | b'!' | b'<' | b'>', _) => {
                self.pos += 1;
                match c {
                    b'=' => Tok::StrEq,
                    b'!' => Tok::Not,
                    b'<' => Tok::StrLt,
                    _ => Tok::StrGt,
                }
            }
            _ => self.error_near("Parse error near"),
        }
    }

    /// `-` starts a negative number, a unary operator (one letter), one of the `-eq`-style
    /// comparison keywords, or a binary operator (two or more characters).
    fn dash(&mut self, next: Option<u8>) -> Tok {
        match next {
            Some(b'0'..=b'9') => self.digits(self.pos + 1),
            Some(b'a'..=b'z' | b'A'..=b'Z' | b'_') => {
                let from = self.pos + 1;
                let len = self.s[from..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                let name = String::from_utf8_lossy(&self.s[from..from + len]).into_owned();
                self.pos = from + len;
                match name.as_str() {
                    "in" => Tok::In,
                    "eq" => Tok::Eq,
                    "ne" => Tok::Ne,
                    "ge" => Tok::Ge,
                    "le" => Tok::Le,
                    "gt" => Tok::Gt,
                    "lt" => Tok::Lt,
                    _ if len == 1 => Tok::Unary(name),
                    _ => Tok::Binary(name),
                }
            }
            _ => self.error_near("Parse error near"),
        }
    }

    /// Digits from `digits_from`, the token starting at `self.pos` (which may be a `-`).
    fn digits(&mut self, digits_from: usize) -> Tok {
        let len = self.s[digits_from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = String::from_utf8_lossy(&self.s[self.pos..digits_from + len]).into_owned();
        self.pos = digits_from + len;
        Tok::Digit(text)
    }

    /// Length of `[a-zA-Z][a-zA-Z0-9_]*` at `i`.
    fn token_len(&self, i: usize) -> usize {
        1 + self.s[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count()
    }

    /// The pattern runs to the next delimiter, with no escaping of it; an `i` right after is
    /// the only flag. Input ending inside the pattern ends the token stream (flex's default
    /// end-of-file action), which the parser reports as an unexpected `$end`.
    fn regex(&mut self, delimiter: u8, from: usize) -> Tok {
        let Some(len) = self.s[from..].iter().position(|b| *b == delimiter) else {
            if self.s.len() - from >= MAX_STRING_LEN {
                return Tok::Error("Regexp too long".into());
            }
            self.pos = self.s.len();
            return Tok::End;
        };
        if len >= MAX_STRING_LEN {
            return Tok::Error("Regexp too long".into());
        }
        let pattern = String::from_utf8_lossy(&self.s[from..from + len]).into_owned();
        self.pos = from + len + 1;
        let icase = self.at(self.pos) == Some(b'i');
        if icase {
            self.pos += 1;
        }
        Tok::Regex(pattern, icase)
    }

    fn var(&mut self) -> Tok {
        match self.at(self.pos) {
            None | Some(b'\n') => Tok::Error(UNTERMINATED.into()),
            Some(b'a'..=b'z' | b'A'..=b'Z') => {
                let len = self.token_len(self.pos);
                let name = String::from_utf8_lossy(&self.s[self.pos..self.pos + len]).into_owned();
                self.pos += len;
                Tok::Id(name)
            }
            Some(b'}') => {
                self.pos += 1;
                self.start = self.stack.pop().unwrap_or(Start::Initial);
                Tok::VarEnd
            }
            Some(b':') => {
                self.pos += 1;
                self.buf.clear();
                self.start = Start::VarArg;
                Tok::Colon
            }
            Some(_) => self.error_near("Invalid character in variable name"),
        }
    }

    /// Adds a byte to the pending text; Some(error) when Apache's buffer would overflow.
    fn push(&mut self, b: u8) -> Option<Tok> {
        self.buf.push(b);
        (self.buf.len() >= MAX_STRING_LEN).then(|| Tok::Error("String too long".into()))
    }

    fn flush(&mut self) -> Tok {
        Tok::Str(c_string(std::mem::take(&mut self.buf)))
    }

    /// The `<str>` and `<vararg>` start conditions: text accumulates until a quote, a `}`
    /// (vararg), `%{` or `$N` ends it; pending text is returned first and the delimiter is
    /// scanned again.
    fn text(&mut self) -> Result<Tok, String> {
        let in_str = self.start == Start::Str;
        loop {
            let Some(c) = self.at(self.pos) else {
                if in_str && self.string_mode {
                    self.start = Start::Initial;
                    return Ok(self.flush());
                }
                return Ok(Tok::Error(UNTERMINATED.into()));
            };
            let next = self.at(self.pos + 1);
            match c {
                b'"' | b'\'' if !in_str => return Err(JAMMED.into()),
                b'"' | b'\'' if c == self.quote => {
                    if !self.buf.is_empty() {
                        return Ok(self.flush());
                    }
                    self.pos += 1;
                    self.start = Start::Initial;
                    return Ok(Tok::StrEnd);
                }
                b'\n' => return Ok(Tok::Error(UNTERMINATED.into())),
                b'\\' => {
                    if let Some(t) = self.escape()? {
                        return Ok(t);
                    }
                }
                b'$' if next.is_some_and(|d| d.is_ascii_digit()) => {
                    if !self.buf.is_empty() {
                        return Ok(self.flush());
                    }
                    self.pos += 2;
                    return Ok(Tok::Backref(next.unwrap_or(b'0') - b'0'));
                }
                b'%' if next == Some(b'{') => {
                    if !self.buf.is_empty() {
                        return Ok(self.flush());
                    }
                    self.pos += 2;
                    self.stack.push(self.start);
                    self.start = Start::Var;
                    return Ok(Tok::VarBegin);
                }
                b'}' if !in_str => {
                    if !self.buf.is_empty() {
                        return Ok(self.flush());
                    }
                    self.pos += 1;
                    self.start = self.stack.pop().unwrap_or(Start::Initial);
                    return Ok(Tok::VarEnd);
                }
                _ => {
                    self.pos += 1;
                    if let Some(t) = self.push(c) {
                        return Ok(t);
                    }
                }
            }
        }
    }

    /// A backslash inside a string: octal (up to three digits, at most \377), `\n \r \t \b
    /// \f`, or the next character as is. A longer run of digits wins over the octal rule and
    /// is "Bad escape sequence".
    fn escape(&mut self) -> Result<Option<Tok>, String> {
        let rest = &self.s[self.pos + 1..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 {
            let octal = rest
                .iter()
                .take(3)
                .take_while(|b| (b'0'..=b'7').contains(*b))
                .count();
            if digits > octal {
                return Ok(Some(Tok::Error("Bad escape sequence".into())));
            }
            let value = rest[..octal]
                .iter()
                .fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            self.pos += 1 + octal;
            return Ok(match u8::try_from(value) {
                Ok(b) => self.push(b),
                Err(_) => Some(Tok::Error("Escape sequence out of bound".into())),
            });
        }
        let Some(&c) = rest.first() else {
            return Err(JAMMED.into());
        };
        self.pos += 2;
        let b = match c {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'b' => 0x08,
            b'f' => 0x0c,
            other => other,
        };
        Ok(self.push(b))
    }
}

/// The character starting at byte `i` (which is always a character boundary here).
fn char_at(s: &[u8], i: usize) -> char {
    let end = (i + 4).min(s.len());
    let mut j = end;
    while j > i {
        if let Ok(t) = std::str::from_utf8(&s[i..j]) {
            if let Some(c) = t.chars().next() {
                return c;
            }
        }
        j -= 1;
    }
    char::from(s[i])
}

/// Bytes as Apache's C strings see them: cut at the first NUL, then decoded lossily.
fn c_string(mut bytes: Vec<u8>) -> String {
    if let Some(n) = bytes.iter().position(|b| *b == 0) {
        bytes.truncate(n);
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax tree.

#[derive(Debug, Clone)]
enum Word {
    /// A quoted string or one part of it (what Apache calls op_String, the only "constant").
    Str(String),
    Digit(String),
    Var(&'static str),
    /// `%{SSL_...}`: a variable mod_ssl answers (its `ssl_expr_lookup`), by its full name.
    SslVar(String),
    /// Parts joined by `.` or following each other inside a string.
    Concat(Vec<Word>),
    Func(Func, Box<Word>),
    Backref(u8),
    /// A name the lookup refused; the parse fails, so it is never evaluated.
    Invalid,
}

#[derive(Debug, Clone, Copy)]
enum CmpOp {
    IntEq,
    IntNe,
    IntLt,
    IntLe,
    IntGt,
    IntGe,
    StrEq,
    StrNe,
    StrLt,
    StrLe,
    StrGt,
    StrGe,
}

#[derive(Debug, Clone)]
enum Cond {
    True,
    False,
    Not(Box<Cond>),
    /// `a || b || c`: Apache's right-leaning chain, flattened.
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Unary(Unary, Word),
    Binary(Binary, Word, Word),
    Cmp(CmpOp, Word, Word),
    /// The list is kept in source order; Apache builds it backwards and tries the last word
    /// first, which [`Eval::cond`] follows.
    In(Word, Vec<Word>),
    Match {
        word: Word,
        re: Box<Re>,
        negate: bool,
    },
    Invalid,
}

/// A `=~` operand: the configuration regex type, as `ap_expr` compiles with `ap_pregcomp`
/// (RegexDefaultOptions, `m/.../i` adding ICASE).
#[derive(Debug, Clone)]
struct Re(crate::regex::Regex);

impl Re {
    fn compile(pattern: &str, icase: bool) -> Option<Re> {
        crate::regex::Regex::new_icase(pattern, icase).ok().map(Re)
    }

    fn groups(&self) -> usize {
        self.0.groups()
    }

    fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }

    /// $0..$9 of a match, or None.
    fn captures(&self, s: &str) -> Option<Vec<Option<String>>> {
        Some(self.0.captures(s)?.texts(10))
    }
}

// ---------------------------------------------------------------------------------------------
// Parser.

/// Expected-token lists of the bison states that accept at most four tokens (states with more
/// give no list). Named after what was just read.
const EXPECT_END: &[&str] = &["$end"];
const EXPECT_IN_PARENS: &[&str] = &["T_OP_OR", "T_OP_AND", "')'"];
const EXPECT_LPAREN: &[&str] = &["'('"];
const EXPECT_FUNC_ARG_END: &[&str] = &["T_OP_CONCAT", "')'"];
const EXPECT_VAR_NAME: &[&str] = &["T_ID"];
const EXPECT_AFTER_VAR_NAME: &[&str] = &["T_VAR_END", "':'"];
const EXPECT_STRING_START: &[&str] = &["T_ERROR", "T_STRING", "T_REGEX_BACKREF", "T_VAR_BEGIN"];
const EXPECT_VARARG_MORE: &[&str] = &["T_STRING", "T_REGEX_BACKREF", "T_VAR_BEGIN", "T_VAR_END"];
const EXPECT_QUOTED_MORE: &[&str] = &["T_STRING", "T_REGEX_BACKREF", "T_STR_END", "T_VAR_BEGIN"];
const EXPECT_REGEX: &[&str] = &["T_REGEX", "T_REGEX_I"];
const EXPECT_LIST: &[&str] = &["T_ID", "'{'"];
const EXPECT_LIST_MORE: &[&str] = &["'}'", "','"];
/// States whose list is too long to print.
const EXPECT_MANY: &[&str] = &[];

enum Fail {
    /// bison's own message (yyerror).
    Syntax(String),
    /// The scanner's error token was accepted by the grammar: the parse aborts and only the
    /// scanner's message is reported.
    Abort,
    /// A regex that does not compile (YYERROR with ctx->error set).
    Regex,
    /// flex gave up; Apache exits.
    Fatal(String),
}

#[derive(Clone, Copy)]
enum StrCtx {
    /// Inside quotes (states 12 and 32).
    Quoted,
    /// The argument of `%{func:...}` (states 59 and 86).
    VarArg,
    /// A whole string-mode expression (states 2 and 24).
    Top,
}

struct Parser<'a> {
    lex: Lexer<'a>,
    lookahead: Option<Tok>,
    /// Apache's ctx->error2: the last scanner or lookup error.
    error2: Option<String>,
    nesting: usize,
    /// Apache's AP_EXPR_FLAG_RESTRICTED.
    restricted: bool,
    /// mod_include's lookup comes first: `v()` reads an SSI variable.
    ssi: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, string_mode: bool) -> Self {
        Parser {
            lex: Lexer::new(text, string_mode),
            lookahead: None,
            error2: None,
            nesting: 0,
            restricted: false,
            ssi: false,
        }
    }

    fn finish<T>(&self, result: Result<T, Fail>) -> Result<T, String> {
        let detailed = |msg: &str| match &self.error2 {
            Some(e) => format!("{msg}: {e}"),
            None => msg.to_string(),
        };
        match result {
            Ok(v) => match &self.error2 {
                Some(e) => Err(e.clone()),
                None => Ok(v),
            },
            Err(Fail::Syntax(msg)) => Err(detailed(&msg)),
            Err(Fail::Regex) => Err(detailed("Failed to compile regular expression")),
            Err(Fail::Abort) => Err(self
                .error2
                .clone()
                .unwrap_or_else(|| "syntax error".to_string())),
            Err(Fail::Fatal(msg)) => Err(msg),
        }
    }

    /// Reads a token from the scanner; its error message, if any, becomes error2 now, as in
    /// Apache where the scanner sets it when bison asks for the token.
    fn fetch(&mut self) -> Result<Tok, Fail> {
        let t = self.lex.next().map_err(Fail::Fatal)?;
        if let Tok::Error(msg) = &t {
            self.error2 = Some(msg.clone());
        }
        Ok(t)
    }

    fn peek(&mut self) -> Result<Tok, Fail> {
        if let Some(t) = &self.lookahead {
            return Ok(t.clone());
        }
        let t = self.fetch()?;
        self.lookahead = Some(t.clone());
        Ok(t)
    }

    fn take(&mut self) -> Result<Tok, Fail> {
        match self.lookahead.take() {
            Some(t) => Ok(t),
            None => self.fetch(),
        }
    }

    /// bison's "syntax error, unexpected X[, expecting A or B]" for the current lookahead.
    fn unexpected(&mut self, expecting: &[&str]) -> Fail {
        let name = self.lookahead.as_ref().map_or("$end", tok_name);
        let mut msg = format!("syntax error, unexpected {name}");
        for (i, e) in expecting.iter().enumerate() {
            msg.push_str(if i == 0 { ", expecting " } else { " or " });
            msg.push_str(e);
        }
        Fail::Syntax(msg)
    }

    fn enter(&mut self) -> Result<(), Fail> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Fail::Syntax("memory exhausted".into()));
        }
        Ok(())
    }

    fn leave(&mut self, levels: usize) {
        self.nesting -= levels;
    }

    /// `expr` with `||` below `&&` below `!`; both binary operators are right-associative in
    /// the grammar, which only matters to the shape of the chains. One loop handles all three
    /// so that a parenthesis costs two stack frames (this and [`Parser::parenthesized`]).
    fn cond(&mut self) -> Result<Cond, Fail> {
        let mut ors = Vec::new();
        let mut ands = Vec::new();
        loop {
            let mut nots = 0;
            while self.peek()? == Tok::Not {
                self.take()?;
                self.enter()?;
                nots += 1;
            }
            let mut c = if self.peek()? == Tok::LParen {
                self.parenthesized()?
            } else {
                self.primary()?
            };
            for _ in 0..nots {
                c = Cond::Not(Box::new(c));
            }
            self.leave(nots);
            ands.push(c);
            match self.peek()? {
                Tok::And => {
                    self.take()?;
                }
                Tok::Or => {
                    self.take()?;
                    ors.push(chain(std::mem::take(&mut ands), Cond::And));
                }
                _ => {
                    ors.push(chain(ands, Cond::And));
                    return Ok(chain(ors, Cond::Or));
                }
            }
        }
    }

    /// `( expr )`, kept apart from [`Parser::primary`] so that nesting costs little stack.
    fn parenthesized(&mut self) -> Result<Cond, Fail> {
        self.take()?;
        self.enter()?;
        let c = self.cond()?;
        // State 35.
        if self.peek()? != Tok::RParen {
            return Err(self.unexpected(EXPECT_IN_PARENS));
        }
        self.take()?;
        self.leave(1);
        Ok(c)
    }

    /// Start of an `expr` (states 1, 14, 15, 36, 37: eleven tokens, no list).
    fn primary(&mut self) -> Result<Cond, Fail> {
        match self.peek()? {
            Tok::True => {
                self.take()?;
                Ok(Cond::True)
            }
            Tok::False => {
                self.take()?;
                Ok(Cond::False)
            }
            Tok::Unary(name) => {
                self.take()?;
                let arg = self.word()?;
                // The operator is looked up when bison reduces, after it has read the token
                // following the operand.
                Ok(self.unary_op(&name, arg))
            }
            Tok::Error(_) => Err(Fail::Abort),
            Tok::Digit(_) | Tok::Id(_) | Tok::Backref(_) | Tok::StrBegin | Tok::VarBegin => {
                let w = self.word()?;
                self.comparison(w)
            }
            _ => Err(self.unexpected(EXPECT_MANY)),
        }
    }

    /// After a word at the start of an `expr` (state 19: seventeen tokens, no list).
    fn comparison(&mut self, left: Word) -> Result<Cond, Fail> {
        let op = match self.peek()? {
            Tok::Eq => CmpOp::IntEq,
            Tok::Ne => CmpOp::IntNe,
            Tok::Lt => CmpOp::IntLt,
            Tok::Le => CmpOp::IntLe,
            Tok::Gt => CmpOp::IntGt,
            Tok::Ge => CmpOp::IntGe,
            Tok::StrEq => CmpOp::StrEq,
            Tok::StrNe => CmpOp::StrNe,
            Tok::StrLt => CmpOp::StrLt,
            Tok::StrLe => CmpOp::StrLe,
            Tok::StrGt => CmpOp::StrGt,
            Tok::StrGe => CmpOp::StrGe,
            Tok::Reg | Tok::Nre => {
                let negate = self.take()? == Tok::Nre;
                // States 45 and 46.
                let Tok::Regex(pattern, icase) = self.peek()? else {
                    return Err(self.unexpected(EXPECT_REGEX));
                };
                self.take()?;
                let re = Box::new(Re::compile(&pattern, icase).ok_or(Fail::Regex)?);
                return Ok(Cond::Match {
                    word: left,
                    re,
                    negate,
                });
            }
            Tok::In => {
                self.take()?;
                return self.list(left);
            }
            Tok::Binary(name) => {
                self.take()?;
                let right = self.word()?;
                return Ok(self.binary_op(&name, left, right));
            }
            _ => return Err(self.unexpected(EXPECT_MANY)),
        };
        self.take()?;
        let right = self.word()?;
        Ok(Cond::Cmp(op, left, right))
    }

    /// After `in` (state 47): `{ words }` or a list function, of which core has none.
    fn list(&mut self, needle: Word) -> Result<Cond, Fail> {
        match self.peek()? {
            Tok::LBrace => {
                self.take()?;
                let mut words = vec![self.word()?];
                loop {
                    // State 88.
                    match self.peek()? {
                        Tok::Comma => {
                            self.take()?;
                            words.push(self.word()?);
                        }
                        Tok::RBrace => {
                            self.take()?;
                            return Ok(Cond::In(needle, words));
                        }
                        _ => return Err(self.unexpected(EXPECT_LIST_MORE)),
                    }
                }
            }
            Tok::Id(name) => {
                self.take()?;
                self.call_argument()?;
                self.error2 = Some(format!("List-returning function '{name}' does not exist"));
                Ok(Cond::Invalid)
            }
            _ => Err(self.unexpected(EXPECT_LIST)),
        }
    }

    /// `( word )` after a function name (states 9/74, 29/87, 56/91).
    fn call_argument(&mut self) -> Result<Word, Fail> {
        if self.peek()? != Tok::LParen {
            return Err(self.unexpected(EXPECT_LPAREN));
        }
        self.take()?;
        self.enter()?;
        let arg = self.word()?;
        if self.peek()? != Tok::RParen {
            return Err(self.unexpected(EXPECT_FUNC_ARG_END));
        }
        self.take()?;
        self.leave(1);
        Ok(arg)
    }

    /// `word ( . word )*`.
    fn word(&mut self) -> Result<Word, Fail> {
        let mut parts = vec![self.word_part()?];
        while self.peek()? == Tok::Concat {
            self.take()?;
            parts.push(self.word_part()?);
        }
        Ok(if parts.len() == 1 {
            parts.swap_remove(0)
        } else {
            Word::Concat(parts)
        })
    }

    /// Start of a word (states 11, 29, 38-44, 48-54, 75, 87, 93: five tokens, no list).
    fn word_part(&mut self) -> Result<Word, Fail> {
        match self.peek()? {
            Tok::Digit(d) => {
                self.take()?;
                Ok(Word::Digit(d))
            }
            Tok::Backref(n) => {
                self.take()?;
                Ok(Word::Backref(n))
            }
            Tok::VarBegin => {
                self.take()?;
                self.var()
            }
            Tok::StrBegin => {
                self.take()?;
                if self.peek()? == Tok::StrEnd {
                    self.take()?;
                    return Ok(Word::Str(String::new()));
                }
                let w = self.string(StrCtx::Quoted)?;
                self.take()?;
                Ok(w)
            }
            Tok::Id(name) => {
                self.take()?;
                let arg = self.call_argument()?;
                Ok(self.string_function(&name, arg))
            }
            _ => Err(self.unexpected(EXPECT_MANY)),
        }
    }

    /// After `%{` (states 13, 33).
    fn var(&mut self) -> Result<Word, Fail> {
        let Tok::Id(name) = self.peek()? else {
            return Err(self.unexpected(EXPECT_VAR_NAME));
        };
        self.take()?;
        match self.peek()? {
            Tok::VarEnd => {
                self.take()?;
                Ok(self.variable(&name))
            }
            Tok::Colon => {
                self.take()?;
                self.enter()?;
                let arg = self.string(StrCtx::VarArg)?;
                self.take()?;
                self.leave(1);
                Ok(self.string_function(&name, arg))
            }
            _ => Err(self.unexpected(EXPECT_AFTER_VAR_NAME)),
        }
    }

    /// The parts of a string up to (not including) its terminator.
    fn string(&mut self, ctx: StrCtx) -> Result<Word, Fail> {
        let mut parts = Vec::new();
        loop {
            match self.peek()? {
                Tok::Str(s) => {
                    self.take()?;
                    parts.push(Word::Str(s));
                }
                Tok::Backref(n) => {
                    self.take()?;
                    parts.push(Word::Backref(n));
                }
                Tok::VarBegin => {
                    self.take()?;
                    parts.push(self.var()?);
                }
                // `string: T_ERROR` only as the first part.
                Tok::Error(_) if parts.is_empty() => return Err(Fail::Abort),
                Tok::StrEnd if !parts.is_empty() && matches!(ctx, StrCtx::Quoted) => break,
                Tok::VarEnd if !parts.is_empty() && matches!(ctx, StrCtx::VarArg) => break,
                Tok::End if !parts.is_empty() && matches!(ctx, StrCtx::Top) => break,
                _ => {
                    let expecting = match (ctx, parts.is_empty()) {
                        (StrCtx::Quoted, true) => EXPECT_MANY,
                        (StrCtx::VarArg | StrCtx::Top, true) => EXPECT_STRING_START,
                        (StrCtx::Quoted, false) => EXPECT_QUOTED_MORE,
                        (StrCtx::VarArg, false) => EXPECT_VARARG_MORE,
                        (StrCtx::Top, false) => EXPECT_END,
                    };
                    return Err(self.unexpected(expecting));
                }
            }
        }
        Ok(if parts.len() == 1 {
            parts.swap_remove(0)
        } else {
            Word::Concat(parts)
        })
    }

    fn variable(&mut self, name: &str) -> Word {
        if name.len() > 4 && name[..4].eq_ignore_ascii_case("SSL_") {
            return Word::SslVar(name.to_string());
        }
        match VARIABLES.iter().find(|v| v.eq_ignore_ascii_case(name)) {
            Some(v) => Word::Var(v),
            None => {
                self.error2 = Some(format!("Variable '{name}' does not exist"));
                Word::Invalid
            }
        }
    }

    fn string_function(&mut self, name: &str, arg: Word) -> Word {
        // mod_include's `v` reads what `reqenv` reads: its own variables.
        if self.ssi && name.eq_ignore_ascii_case("v") {
            return Word::Func(Func::Reqenv, Box::new(arg));
        }
        match FUNCTIONS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((canonical, Func::File | Func::Filesize)) if self.restricted => {
                self.error2 = Some(format!("{canonical} not available in restricted context"));
                Word::Invalid
            }
            Some((_, f)) => Word::Func(*f, Box::new(arg)),
            None => {
                self.error2 = Some(format!("Function '{name}' does not exist"));
                Word::Invalid
            }
        }
    }

    /// Unary operator names are case-sensitive.
    fn unary_op(&mut self, name: &str, arg: Word) -> Cond {
        let op = match name {
            "n" => Unary::NonEmpty,
            "z" => Unary::Empty,
            "R" => match self.subnet_argument(name, &arg) {
                Some(subnet) => Unary::RemoteIn(subnet),
                None => return Cond::Invalid,
            },
            "T" => Unary::True,
            "d" => Unary::Dir,
            "e" => Unary::Exists,
            "f" => Unary::Regular,
            "s" => Unary::NonEmptyFile,
            "L" | "h" => Unary::Symlink,
            "x" => Unary::Executable,
            "F" => Unary::SubreqFile,
            "U" | "A" => Unary::SubreqUri,
            _ => {
                self.error2 = Some(format!("Unary operator '-{name}' does not exist"));
                return Cond::Invalid;
            }
        };
        Cond::Unary(op, arg)
    }

    /// Binary operator names are not.
    fn binary_op(&mut self, name: &str, left: Word, right: Word) -> Cond {
        let op = match name.to_ascii_lowercase().as_str() {
            "ipmatch" => match self.subnet_argument(name, &right) {
                Some(subnet) => Binary::Ip(subnet),
                None => return Cond::Invalid,
            },
            "fnmatch" => Binary::Path,
            "strmatch" => Binary::Glob,
            "strcmatch" => Binary::GlobNoCase,
            _ => {
                self.error2 = Some(format!("Binary operator '-{name}' does not exist"));
                return Cond::Invalid;
            }
        };
        Cond::Binary(op, left, right)
    }

    /// `-R` and `-ipmatch` parse their subnet once, from a quoted constant.
    fn subnet_argument(&mut self, op: &str, arg: &Word) -> Option<Subnet> {
        let Word::Str(text) = arg else {
            self.error2 = Some(format!(
                "-{op} requires subnet/netmask as constant argument"
            ));
            return None;
        };
        let subnet = Subnet::parse(text).ok();
        if subnet.is_none() {
            self.error2 = Some("parsing of subnet/netmask failed".into());
        }
        subnet
    }
}

/// One term as itself, several as a chain.
fn chain(mut terms: Vec<Cond>, make: fn(Vec<Cond>) -> Cond) -> Cond {
    if terms.len() == 1 {
        terms.swap_remove(0)
    } else {
        make(terms)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

struct Eval<'c> {
    ctx: &'c dyn Context,
    depth: u32,
    err: Option<String>,
    /// $0..$9 of the last match of a regex with groups; a failed match of such a regex
    /// clears them, a regex without groups leaves them alone.
    caps: Option<Vec<Option<String>>>,
}

impl<'c> Eval<'c> {
    fn new(ctx: &'c dyn Context) -> Self {
        Eval {
            ctx,
            depth: 0,
            err: None,
            caps: None,
        }
    }

    /// Apache counts nested evaluations and gives up past 20; once over, everything after
    /// fails too.
    fn enter(&mut self) -> bool {
        if self.depth < MAX_RECURSION {
            self.depth += 1;
            true
        } else {
            self.err = Some("Recursion limit reached".into());
            self.depth = u32::MAX / 2;
            false
        }
    }

    /// Chains of `!`, and the last operand of `||`/`&&` chains, are evaluated in the same
    /// frame, the other operands one level deeper: that is what Apache counts.
    fn cond(&mut self, node: &Cond) -> bool {
        if !self.enter() {
            return false;
        }
        let mut negated = false;
        let mut node = node;
        let value = loop {
            match node {
                Cond::True => break true,
                Cond::False | Cond::Invalid => break false,
                Cond::Not(inner) => {
                    negated = !negated;
                    node = inner.as_ref();
                }
                Cond::Or(terms) | Cond::And(terms) => {
                    let is_or = matches!(node, Cond::Or(_));
                    let (last, rest) = terms.split_last().expect("chains have two terms");
                    if rest.iter().any(|t| self.cond(t) == is_or) {
                        break is_or;
                    }
                    node = last;
                }
                Cond::Unary(op, arg) => {
                    let arg = self.word(arg);
                    break self.unary(*op, &arg);
                }
                Cond::Binary(op, left, right) => {
                    let left = self.word(left);
                    let right = self.word(right);
                    break binary(*op, &left, &right);
                }
                Cond::Cmp(op, left, right) => {
                    let left = self.word(left);
                    let right = self.word(right);
                    break compare(*op, &left, &right);
                }
                Cond::In(needle, list) => {
                    let needle = self.word(needle);
                    break list.iter().rev().any(|w| self.word(w) == needle);
                }
                Cond::Match { word, re, negate } => {
                    let subject = self.word(word);
                    let matched = if re.groups() > 0 {
                        self.caps = re.captures(&subject);
                        self.caps.is_some()
                    } else {
                        re.is_match(&subject)
                    };
                    break matched != *negate;
                }
            }
        };
        self.depth -= 1;
        value != negated
    }

    fn word(&mut self, node: &Word) -> String {
        if !self.enter() {
            return String::new();
        }
        let value = match node {
            Word::Str(s) | Word::Digit(s) => s.clone(),
            Word::Var(name) => self.variable(name),
            Word::SslVar(name) => self.ctx.ssl_var(name).unwrap_or_default(),
            Word::Concat(parts) => {
                let mut out = String::new();
                for p in parts {
                    let v = self.word(p);
                    out.push_str(&v);
                }
                out
            }
            Word::Func(f, arg) => {
                let arg = self.word(arg);
                self.function(*f, &arg)
            }
            Word::Backref(n) => self
                .caps
                .as_ref()
                .and_then(|c| c.get(usize::from(*n)).cloned().flatten())
                .unwrap_or_default(),
            Word::Invalid => String::new(),
        };
        self.depth -= 1;
        value
    }

    fn variable(&self, name: &'static str) -> String {
        if let Some(v) = self.ctx.var(name) {
            return v;
        }
        if let Some((_, header)) = HEADER_VARIABLES.iter().find(|(v, _)| *v == name) {
            return self.ctx.request_header(header).unwrap_or_default();
        }
        let remote = self.ctx.remote_ip();
        match name {
            "TIME_YEAR" | "TIME_MON" | "TIME_DAY" | "TIME_HOUR" | "TIME_MIN" | "TIME_SEC"
            | "TIME_WDAY" | "TIME" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                time_variable(name, now.saturating_add(self.ctx.utc_offset(now)))
            }
            "API_VERSION" => API_VERSION.into(),
            "IS_SUBREQ" => "false".into(),
            "HTTPS" | "HTTP2" => "off".into(),
            "IPV6" => match remote {
                Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => "on".into(),
                _ => "off".into(),
            },
            "REMOTE_ADDR" | "CONN_REMOTE_ADDR" => {
                remote.map(|ip| ip.to_string()).unwrap_or_default()
            }
            "DOCUMENT_URI" => self.ctx.var("REQUEST_URI").unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn function(&mut self, f: Func, arg: &str) -> String {
        let ctx = self.ctx;
        match f {
            Func::Req | Func::Http | Func::ReqNovary => ctx.request_header(arg).unwrap_or_default(),
            Func::Resp => ctx.response_header(arg).unwrap_or_default(),
            Func::Note => ctx.note(arg).unwrap_or_default(),
            Func::Reqenv => ctx.env(arg).unwrap_or_default(),
            // Notes first, then the request's environment, then the process's: the order
            // mod_ssl's expressions used.
            Func::Env => ctx
                .note(arg)
                .or_else(|| ctx.env(arg))
                .or_else(|| os_env(arg))
                .unwrap_or_default(),
            Func::Osenv => os_env(arg).unwrap_or_default(),
            Func::Tolower => arg.to_ascii_lowercase(),
            Func::Toupper => arg.to_ascii_uppercase(),
            Func::Escape => escape_uri(arg),
            // ap_unescape_url_keep2f(, 0): `%2F` stays as written; any failure is empty.
            Func::Unescape => unescape_url(arg.as_bytes(), b"", b"/")
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default(),
            Func::Base64 => base64_encode(arg.as_bytes()),
            Func::Unbase64 => c_string(base64_decode(arg.as_bytes())),
            Func::Sha1 => hex(&sha1(arg.as_bytes())),
            Func::Md5 => hex(&md5(arg.as_bytes())),
            Func::Ldap => escape_ldap(arg),
            Func::Ssl => ctx.ssl_var(arg).unwrap_or_default(),
            Func::File => ctx.file_contents(arg).unwrap_or_else(|e| {
                self.err = Some(e);
                String::new()
            }),
            Func::Filesize => ctx.file_size(arg).to_string(),
        }
    }

    fn unary(&self, op: Unary, arg: &str) -> bool {
        let ctx = self.ctx;
        match op {
            Unary::NonEmpty => !arg.is_empty(),
            Unary::Empty => arg.is_empty(),
            Unary::RemoteIn(subnet) => ctx.remote_ip().is_some_and(|ip| subnet.contains(ip)),
            Unary::True => is_true(arg),
            Unary::Dir => ctx.file_is_dir(arg),
            Unary::Exists => ctx.file_exists(arg),
            Unary::Regular => ctx.file_is_regular(arg),
            Unary::NonEmptyFile => ctx.file_is_nonempty(arg),
            Unary::Symlink => ctx.file_is_symlink(arg),
            Unary::Executable => ctx.file_is_executable(arg),
            Unary::SubreqFile => ctx.subrequest_file_ok(arg),
            Unary::SubreqUri => ctx.subrequest_uri_ok(arg),
        }
    }
}

fn compare(op: CmpOp, left: &str, right: &str) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let ord = match op {
        CmpOp::IntEq | CmpOp::IntNe | CmpOp::IntLt | CmpOp::IntLe | CmpOp::IntGt | CmpOp::IntGe => {
            atoi64(left).cmp(&atoi64(right))
        }
        _ => left.as_bytes().cmp(right.as_bytes()),
    };
    match op {
        CmpOp::IntEq | CmpOp::StrEq => ord == Equal,
        CmpOp::IntNe | CmpOp::StrNe => ord != Equal,
        CmpOp::IntLt | CmpOp::StrLt => ord == Less,
        CmpOp::IntLe | CmpOp::StrLe => ord != Greater,
        CmpOp::IntGt | CmpOp::StrGt => ord == Greater,
        CmpOp::IntGe | CmpOp::StrGe => ord != Less,
    }
}

fn binary(op: Binary, left: &str, right: &str) -> bool {
    match op {
        Binary::Ip(subnet) => numeric_host(left).is_some_and(|ip| subnet.contains(ip)),
        Binary::Path => fnmatch(right.as_bytes(), left.as_bytes(), Flags::PATHNAME),
        Binary::Glob => fnmatch(right.as_bytes(), left.as_bytes(), Flags::NONE),
        Binary::GlobNoCase => fnmatch(right.as_bytes(), left.as_bytes(), Flags::CASE_BLIND),
    }
}

/// `-T`: false for "", "0", and (any case) "off", "no", "false"; true for anything else.
fn is_true(arg: &str) -> bool {
    !(arg.is_empty()
        || arg == "0"
        || ["off", "no", "false"]
            .iter()
            .any(|f| arg.eq_ignore_ascii_case(f)))
}

/// strtoll: leading white space, a sign, digits up to the first non-digit; saturates.
fn atoi64(s: &str) -> i64 {
    let b = s.as_bytes();
    let mut i = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut v: i64 = 0;
    for d in b[i..].iter().take_while(|c| c.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

fn os_env(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A TIME_* variable of a moment given as local seconds (seconds since the epoch plus the
/// zone's offset).
fn time_variable(name: &str, local: i64) -> String {
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (hour, min, sec) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = civil_from_days(days);
    let wday = weekday(days);
    match name {
        "TIME_YEAR" => format!("{year:04}"),
        "TIME_MON" => format!("{month:02}"),
        "TIME_DAY" => format!("{day:02}"),
        "TIME_HOUR" => format!("{hour:02}"),
        "TIME_MIN" => format!("{min:02}"),
        "TIME_SEC" => format!("{sec:02}"),
        "TIME_WDAY" => wday.to_string(),
        _ => format!("{year:04}{month:02}{day:02}{hour:02}{min:02}{sec:02}"),
    }
}

// ---------------------------------------------------------------------------------------------
// `-ipmatch`'s left operand (its subnet is util::subnet's).

/// The left side of `-ipmatch` as getaddrinfo reads a numeric host: IPv6, or IPv4 in any
/// inet_aton form (one to four parts, each decimal, octal with a leading 0 or hex with 0x;
/// the last part fills the remaining bytes). Host names are not resolved.
fn numeric_host(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        values.push(u32::from_str_radix(if digits.is_empty() { "0" } else { digits }, radix).ok()?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|v| *v > 255) {
        return None;
    }
    let last_bits = 32 - 8 * leading.len() as u32;
    if last_bits < 32 && *last >> last_bits != 0 {
        return None;
    }
    let addr = leading
        .iter()
        .enumerate()
        .fold(*last, |a, (i, v)| a | v << (24 - 8 * i));
    Some(IpAddr::V4(addr.into()))
}

// ---------------------------------------------------------------------------------------------
// String functions.

/// apr_escape_ldap for DNs and filters: `\` and two hex digits for control characters,
/// non-ASCII bytes and `"+,;<>\*()`.
fn escape_ldap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if !(0x20..0x7f).contains(&b) || b"\"+,;<>\\*()".contains(&b) {
            out.push_str(&format!("\\{b:02x}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// apr_base64_decode: decodes the leading run of base64 characters and ignores the rest
/// (padding included); a lone sixth bit-group at the end carries no whole byte.
fn base64_decode(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let digits = data
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'+' || **c == b'/')
        .count();
    let usable = if digits % 4 == 1 { digits - 1 } else { digits };
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(&data[..usable]).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Req {
        vars: HashMap<&'static str, &'static str>,
        headers: HashMap<String, &'static str>,
        resp: HashMap<String, &'static str>,
        env: HashMap<&'static str, &'static str>,
        notes: HashMap<&'static str, &'static str>,
        ip: Option<IpAddr>,
    }

    impl Context for Req {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).map(|v| v.to_string())
        }
        fn request_header(&self, name: &str) -> Option<String> {
            self.headers
                .get(&name.to_ascii_lowercase())
                .map(|v| v.to_string())
        }
        fn response_header(&self, name: &str) -> Option<String> {
            self.resp
                .get(&name.to_ascii_lowercase())
                .map(|v| v.to_string())
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).map(|v| v.to_string())
        }
        fn note(&self, name: &str) -> Option<String> {
            self.notes.get(name).map(|v| v.to_string())
        }
        fn remote_ip(&self) -> Option<IpAddr> {
            self.ip
        }
    }

    fn req() -> Req {
        let mut r = Req::default();
        r.vars.insert("REQUEST_URI", "/app/Index.html");
        r.vars.insert("REQUEST_METHOD", "GET");
        r.vars.insert("QUERY_STRING", "a=1&b=2");
        r.vars.insert("SERVER_PORT", "8080");
        r.headers.insert("host".into(), "www.example.com");
        r.headers.insert("user-agent".into(), "curl/8.0");
        r.headers.insert("x-num".into(), "42");
        r.resp.insert("content-type".into(), "text/html");
        r.env.insert("MYENV", "envval");
        r.notes.insert("mynote", "noteval");
        r.ip = Some("192.168.1.20".parse().unwrap());
        r
    }

    fn t(e: &str) -> bool {
        parse(e)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
            .eval(&req())
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    }

    fn s(e: &str) -> String {
        parse_string(e)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
            .eval(&req())
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    }

    fn perr(e: &str) -> String {
        parse(e).map(|_| ()).expect_err(e)
    }

    #[test]
    fn expr_constants_and_logic() {
        assert!(t("true"));
        assert!(!t("false"));
        assert!(t("!false"));
        assert!(t("not false"));
        assert!(t("true && true"));
        assert!(!t("true && false"));
        assert!(t("false || true"));
        assert!(t("true and true or false"));
        // `!` binds tighter than `&&`, which binds tighter than `||`.
        assert!(t("!false && false || true"));
        assert!(!t("!true && false || false"));
        assert!(!t("!(false || true)"));
        assert!(t("false && false || true"));
        assert!(t("true || false && false"));
        assert!(!t("(true || false) && false"));
        assert!(t("!!true"));
    }

    #[test]
    fn expr_string_and_integer_comparisons() {
        assert!(t("%{REQUEST_METHOD} == 'GET'"));
        assert!(t("%{REQUEST_METHOD} = 'GET'"));
        assert!(t("%{REQUEST_METHOD} != 'POST'"));
        assert!(t("'abc' < 'abd'"));
        assert!(t("'abc' <= 'abc'"));
        assert!(t("'b' > 'abc'"));
        assert!(t("'b' >= 'b'"));
        // Integer comparisons read leading digits like strtoll.
        assert!(t("10 -gt 9"));
        assert!(!t("'10' > '9'"));
        assert!(t("%{SERVER_PORT} -eq 8080"));
        assert!(t("8080 eq '8080abc'"));
        assert!(t("-1 -lt 0"));
        assert!(t("1 -le 1 && 2 -ge 1 && 1 -ne 2 && 'x' -eq 0"));
        assert!(t("1 lt 2 and 2 le 2 and 3 gt 2 and 3 ge 3 and 4 ne 5"));
    }

    #[test]
    fn expr_quoting_and_concatenation() {
        assert!(t("'a' . \"b\" . 1 == 'ab1'"));
        assert!(t("\"%{REQUEST_METHOD}:%{SERVER_PORT}\" == 'GET:8080'"));
        assert!(t("'tab\\there' == \"tab\there\""));
        assert!(t("'\\101\\102' == 'AB'"));
        assert!(t("'a\"b' == \"a\\\"b\""));
        assert!(t("'' == \"\""));
        assert!(t("-z ''"));
        assert!(t("-n %{REQUEST_URI}"));
        assert!(t("-z %{REMOTE_USER}"));
        assert_eq!(
            s("uri=%{REQUEST_URI} m=%{REQUEST_METHOD}"),
            "uri=/app/Index.html m=GET"
        );
        assert_eq!(s("it's \"quoted\" 100%"), "it's \"quoted\" 100%");
        assert_eq!(s(""), "");
        assert_eq!(s("%{HTTP:Host}"), "www.example.com");
        assert_eq!(s("[%{tolower:%{REQUEST_METHOD}}]"), "[get]");
    }

    #[test]
    fn expr_variables_and_functions() {
        assert!(t("%{HTTP_HOST} == 'www.example.com'"));
        assert!(t("%{http_user_agent} =~ /^curl/"));
        assert!(t("%{HTTP:X-Num} -eq 42"));
        assert!(t("req('Host') == http('host')"));
        assert!(t("req_novary('x-num') == '42'"));
        assert!(t("resp('Content-Type') == 'text/html'"));
        assert!(t("%{resp:content-type} == 'text/html'"));
        assert!(t("reqenv('MYENV') == 'envval' && %{ENV:MYENV} == 'envval'"));
        assert!(t("env('mynote') == 'noteval'"));
        assert!(t("note('mynote') == 'noteval'"));
        assert!(t("tolower(%{REQUEST_URI}) == '/app/index.html'"));
        assert!(t("toupper('abc') == 'ABC'"));
        assert!(t("escape('a b/c?d') == 'a%20b/c%3fd'"));
        assert!(t("unescape('a%20b%2Fc') == 'a b%2Fc'"));
        assert!(t("unescape('bad%zz') == ''"));
        assert!(t("base64('hello!?') == 'aGVsbG8hPw=='"));
        assert!(t("unbase64('aGVsbG8hPw==') == 'hello!?'"));
        assert!(t("md5('abc') == '900150983cd24fb0d6963f7d28e17f72'"));
        assert!(t(
            "sha1('abc') == 'a9993e364706816aba3e25717850c26c9cd0d89d'"
        ));
        assert!(t("md5('') == 'd41d8cd98f00b204e9800998ecf8427e'"));
        assert!(t("ldap('a*(b)') == 'a\\\\2a\\\\28b\\\\29'"));
        assert!(t("%{API_VERSION} == '20120211' && %{IS_SUBREQ} == 'false'"));
        assert!(t("%{REMOTE_ADDR} == '192.168.1.20' && %{IPV6} == 'off'"));
        assert!(t("%{TIME_YEAR} -ge 2024 && %{TIME} =~ /^[0-9]{14}$/"));
        assert!(t("filesize('/nonexistent/file') == '0'"));
        let e = parse("file('/nonexistent/file') == ''").unwrap();
        assert_eq!(
            e.eval(&req()),
            Err("Cannot open file /nonexistent/file".into())
        );
    }

    #[test]
    fn expr_regex_and_captures() {
        assert!(t("%{REQUEST_URI} =~ /index/i"));
        assert!(!t("%{REQUEST_URI} =~ /index/"));
        assert!(t("%{REQUEST_URI} !~ m#^/other#"));
        assert!(t("%{QUERY_STRING} =~ m|b=(\\d)| && $1 == '2'"));
        assert!(t("'foofoo' =~ /^(foo)\\1$/"));
        assert!(t("'a.b' =~ /^\\Qa.b\\E$/ && !('axb' =~ /^\\Qa.b\\E$/)"));
        assert!(t(
            "'ab\\n' =~ /b\\Z/ && 'ab' =~ /b\\Z/ && !('ba' =~ /b\\Z/)"
        ));
        assert!(t(
            "'A\\001' =~ /^\\101\\cA$/ && 'A' =~ /^\\o{101}$/ && 'A' =~ /^\\x41$/"
        ));
        assert!(t(
            "'a\\r\\nb' =~ /a\\Rb/ && 'ab' =~ /a\\N/ && 'aa' =~ /(a)\\g{1}/"
        ));
        assert!(t("'xy' =~ /(*UTF8)(?'first'x)y/ && $1 == 'x'"));
        let e = parse("%{REQUEST_URI} =~ m#^/(\\w+)/(.*)\\.html$#").unwrap();
        let (ok, caps) = e.eval_with_captures(&req()).unwrap();
        assert!(ok);
        assert_eq!(caps.len(), 10);
        assert_eq!(caps[0].as_deref(), Some("/app/Index.html"));
        assert_eq!(caps[1].as_deref(), Some("app"));
        assert_eq!(caps[2].as_deref(), Some("Index"));
        assert_eq!(caps[3], None);
        // Backreferences in a later word, and in a quoted string.
        assert!(t("%{REQUEST_URI} =~ m#/(\\w+)/# && \"x$1y\" == 'xappy'"));
        // A failed match of a regex with groups clears them; one without groups keeps them.
        assert!(t("'ab' =~ /(a)/ && 'zz' =~ /z/ && $1 == 'a'"));
        assert!(t("'ab' =~ /(a)/ && ('zz' =~ /(q)/ || $1 == '')"));
        let (_, caps) = parse("'a' =~ /a/")
            .unwrap()
            .eval_with_captures(&req())
            .unwrap();
        assert!(caps.is_empty());
    }

    #[test]
    fn expr_lists_and_binary_operators() {
        assert!(t("%{REQUEST_METHOD} in {'GET', 'HEAD'}"));
        assert!(!t("%{REQUEST_METHOD} -in {'POST'}"));
        assert!(t("'192.168.1.20' -ipmatch '192.168.0.0/16'"));
        assert!(!t("'192.169.1.20' -ipmatch '192.168.0.0/16'"));
        assert!(t("%{REMOTE_ADDR} -ipmatch '192.168.1.0/255.255.255.0'"));
        assert!(t("%{REMOTE_ADDR} -ipmatch '192.168'"));
        assert!(t("'::ffff:10.1.2.3' -ipmatch '10.0.0.0/8'"));
        assert!(t("'2001:db8::1' -IPMATCH '2001:db8::/32'"));
        assert!(!t("'not an ip' -ipmatch '10.0.0.0/8'"));
        // Left operands are read like getaddrinfo's numeric hosts.
        assert!(t("'010.1.0x2.3' -ipmatch '8.1.2.3'"));
        assert!(t("'10.258' -ipmatch '10.0.1.2'"));
        assert!(!t("'10.1.2.256' -ipmatch '10.0.0.0/8'"));
        assert!(t("-R '192.168.1.0/24'"));
        assert!(!t("-R '10.0.0.0/8'"));
        assert!(t("'/a/b.html' -strmatch '/a/*.html'"));
        assert!(t("'/a/x/b.html' -strmatch '/a/*.html'"));
        assert!(!t("'/a/x/b.html' -fnmatch '/a/*.html'"));
        assert!(t("'/a/x/b.html' -fnmatch '/a/*/?.html'"));
        assert!(t("'ABC' -strcmatch 'a[b-c]?'"));
        assert!(!t("'ABC' -strmatch 'a[b-c]?'"));
        assert!(t("'x]' -strmatch '[!a-c]]'"));
        assert!(t("'a*' -strmatch 'a\\\\*'"));
        assert!(t("-T 'yes' && !-T 'Off' && !-T '0' && !-T '' && -T '00'"));
        assert!(t("-d '/' && -e '/' && !-f '/' && !-d '/nonexistent'"));
        assert!(!t("-F '/' || -U '/' || -A '/'"));
    }

    #[test]
    fn expr_parse_errors_match_apache() {
        // Each message was taken from `apache2 -t` with the expression in `<If "...">`.
        let cases = [
            ("", "syntax error, unexpected $end"),
            ("%{REQUEST_URI} =~ /foo", "syntax error, unexpected $end, expecting T_REGEX or T_REGEX_I"),
            ("%{FOO_BAR} == 1", "Variable 'FOO_BAR' does not exist"),
            ("%{X}", "syntax error, unexpected $end: Variable 'X' does not exist"),
            ("foo(1) == 1", "Function 'foo' does not exist"),
            ("-Q 1", "Unary operator '-Q' does not exist"),
            ("1 -foo 2", "Binary operator '-foo' does not exist"),
            ("%{REQUEST_URI} =~ /fo(o/", "Failed to compile regular expression"),
            ("%{FOO} =~ /(/", "Failed to compile regular expression: Variable 'FOO' does not exist"),
            ("true false", "syntax error, unexpected T_FALSE, expecting $end"),
            ("1 == 1 )", "syntax error, unexpected ')', expecting $end"),
            ("'abc == 1", "Unterminated string or variable"),
            ("%{REQUEST_URI", "syntax error, unexpected T_ERROR, expecting T_VAR_END or ':': Unterminated string or variable"),
            ("-foo 1 2", "syntax error, unexpected T_OP_BINARY"),
            ("1 -ipmatch 10.0.0.0/33", "-ipmatch requires subnet/netmask as constant argument"),
            ("1 -ipmatch '10.0.0.0/0'", "parsing of subnet/netmask failed"),
            ("%{REQUEST_URI} & 1", "syntax error, unexpected T_ERROR: Parse error near '&'"),
            ("& x", "Parse error near '&'"),
            ("(%{REQUEST_URI}) == 1", "syntax error, unexpected ')'"),
            ("(true", "syntax error, unexpected $end, expecting T_OP_OR or T_OP_AND or ')'"),
            ("foo == 1", "syntax error, unexpected T_OP_STR_EQ, expecting '('"),
            ("foo(1", "syntax error, unexpected $end, expecting T_OP_CONCAT or ')'"),
            ("%{}", "syntax error, unexpected T_VAR_END, expecting T_ID"),
            ("%{-x}", "syntax error, unexpected T_ERROR, expecting T_ID: Invalid character in variable name '-'"),
            ("%{REQUEST_URI:}", "syntax error, unexpected T_VAR_END, expecting T_ERROR or T_STRING or T_REGEX_BACKREF or T_VAR_BEGIN"),
            ("'%{REQUEST_URI}abc", "syntax error, unexpected T_ERROR, expecting T_STRING or T_REGEX_BACKREF or T_STR_END or T_VAR_BEGIN: Unterminated string or variable"),
            ("1 in 2", "syntax error, unexpected T_DIGIT, expecting T_ID or '{'"),
            ("1 in {1 2}", "syntax error, unexpected T_DIGIT, expecting '}' or ','"),
            ("1 in foo(1)", "List-returning function 'foo' does not exist"),
            ("%{FOO} == %{BAR}", "Variable 'BAR' does not exist"),
            ("%{REQUEST_URI} =~ /x/x", "syntax error, unexpected T_ID, expecting $end"),
            ("'\\400' == 1", "Escape sequence out of bound"),
            ("'\\0123' == 1", "Bad escape sequence"),
            ("$a == 1", "Parse error near '$'"),
            ("_x", "Parse error near '_'"),
            ("%{HTTP:a'b} == 1", "flex scanner jammed"),
        ];
        for (expr, msg) in cases {
            assert_eq!(perr(expr), msg, "for {expr:?}");
        }
        assert_eq!(
            parse_string("a%{FOO}").map(|_| ()).unwrap_err(),
            "Variable 'FOO' does not exist"
        );
        assert_eq!(
            parse_string("%{REQUEST_URI}\n").map(|_| ()).unwrap_err(),
            "syntax error, unexpected T_ERROR, expecting $end: Unterminated string or variable"
        );
        assert_eq!(perr(&"(".repeat(MAX_NESTING + 1)), "memory exhausted");
        // The deepest accepted nesting (about 5 KiB of stack a level in a debug build) fits
        // half of a test thread's stack.
        let third = MAX_NESTING / 3;
        let deepest = format!(
            "{}{}{}x{}{} == 'x'{}",
            "(".repeat(third),
            "tolower(".repeat(third),
            "%{HTTP:".repeat(third),
            "}".repeat(third),
            ")".repeat(third),
            ")".repeat(third),
        );
        let parsed = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || parse(&deepest).map(|e| e.eval(&Req::default())))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(parsed, Ok(Err("Recursion limit reached".to_string())));
    }

    #[test]
    fn expr_recursion_limit() {
        let deep = format!("{}'x'{} == 'x'", "tolower(".repeat(25), ")".repeat(25));
        let e = parse(&deep).unwrap();
        assert_eq!(e.eval(&req()), Err("Recursion limit reached".into()));
        let shallow = format!("{}'x'{} == 'x'", "tolower(".repeat(10), ")".repeat(10));
        assert!(parse(&shallow).unwrap().eval(&req()).unwrap());
    }

    #[test]
    fn expr_helpers() {
        assert_eq!(atoi64(" -12abc"), -12);
        assert_eq!(atoi64("99999999999999999999"), i64::MAX);
        assert_eq!(base64_decode(b"YQ"), b"a");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(time_variable("TIME", 951_782_400), "20000229000000");
        assert_eq!(time_variable("TIME_WDAY", 951_782_400), "2");
        assert_eq!(time_variable("TIME", 951_782_400 - 1), "20000228235959");
    }
}
