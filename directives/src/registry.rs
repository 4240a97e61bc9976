//! The shape of the registry: modules, their directives, and the setter each one runs.
//!
//! As Apache's `AP_INIT_TAKE1` fuses arity and handler, [`Args`] carries the setter in the
//! variant for its arity, so the two cannot disagree.

use crate::cmd::Cmd;

/// What a setter returns: `Err` carries Apache's message for the directive.
pub type SetResult = Result<(), String>;

/// A directive's arity class with its setter (Apache's `cmd_how` plus the function).
#[derive(Clone, Copy)]
pub enum Args {
    NoArgs(fn(&mut Cmd) -> SetResult),
    Raw(fn(&mut Cmd, &str) -> SetResult),
    Argv(fn(&mut Cmd, &[String]) -> SetResult),
    Take1(fn(&mut Cmd, &str) -> SetResult),
    Take2(fn(&mut Cmd, &str, &str) -> SetResult),
    Take12(fn(&mut Cmd, &str, Option<&str>) -> SetResult),
    Take3(fn(&mut Cmd, &str, &str, &str) -> SetResult),
    Take23(fn(&mut Cmd, &str, &str, Option<&str>) -> SetResult),
    Take123(fn(&mut Cmd, &str, Option<&str>, Option<&str>) -> SetResult),
    Take13(fn(&mut Cmd, &str, Option<&str>, Option<&str>) -> SetResult),
    Iterate(fn(&mut Cmd, &str) -> SetResult),
    Iterate2(fn(&mut Cmd, &str, &str) -> SetResult),
    Flag(fn(&mut Cmd, bool) -> SetResult),
}

impl Args {
    /// Apache's name for the class (`TAKE1`, `ITERATE`, ...), as the registry data writes it.
    pub fn class(&self) -> &'static str {
        match self {
            Args::NoArgs(_) => "NO_ARGS",
            Args::Raw(_) => "RAW_ARGS",
            Args::Argv(_) => "TAKE_ARGV",
            Args::Take1(_) => "TAKE1",
            Args::Take2(_) => "TAKE2",
            Args::Take12(_) => "TAKE12",
            Args::Take3(_) => "TAKE3",
            Args::Take23(_) => "TAKE23",
            Args::Take123(_) => "TAKE123",
            Args::Take13(_) => "TAKE13",
            Args::Iterate(_) => "ITERATE",
            Args::Iterate2(_) => "ITERATE2",
            Args::Flag(_) => "FLAG",
        }
    }
}

/// Whether rhttpd does at run time what the directive asks, or only validates and stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Its effect is complete (read-time directives, and those whose runtime has landed).
    Implemented,
    /// Parsed, validated and stored; the server does not act on it yet.
    Pending,
    /// What it controls is not there: it belongs to modules outside rhttpd's set (CGI,
    /// WebDAV, watchdog users, HTTP/2), where Apache with the same set changes nothing either,
    /// or it tunes machinery rhttpd's design does without (APR pools and brigades, accept
    /// locks, listener buckets). The reason says which; rhttpd(8) shows it.
    Inert(&'static str),
}

/// One directive: Apache's `command_rec` plus our honesty flag.
#[derive(Clone, Copy)]
pub struct DirectiveDef {
    /// The registered spelling; section openers keep their leading `<`.
    pub name: &'static str,
    pub args: Args,
    /// Where it is allowed: `RSRC_CONF`, `ACCESS_CONF`, `OR_*` and `EXEC_ON_READ` bits.
    pub req_override: u32,
    /// The `ap_check_cmd_context` restrictions its handler applies (`GLOBAL_ONLY`, ...).
    pub forbidden: u32,
    /// The handler applies `forbidden` only in some of its forms (Alias: two arguments), so
    /// the walk leaves the check to it.
    pub forbid_in_setter: bool,
    /// The help line `-L` prints and arity errors append.
    pub help: &'static str,
    pub runtime: Runtime,
}

/// A module rhttpd implements: Apache's identifier, its source name, and its directives.
pub struct ModuleDef {
    /// The identifier `LoadModule` and `<IfModule>` use (`mime_module`).
    pub id: &'static str,
    /// The source-file name `-l`, `-L` and `<IfModule>` use (`mod_mime.c`).
    pub source: &'static str,
    /// Compiled into Debian's binary and always on (core, so, http_core, ...).
    pub builtin: bool,
    /// Whether the module keeps per-directory config (`-L` says `[no per-dir config]` if not).
    pub has_dir_config: bool,
    pub directives: &'static [DirectiveDef],
}

impl std::fmt::Debug for ModuleDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl ModuleDef {
    /// The MPM name (`event`, `worker`, `prefork`) if this module is an MPM.
    pub fn mpm_name(&self) -> Option<&'static str> {
        self.id
            .strip_prefix("mpm_")
            .and_then(|rest| rest.strip_suffix("_module"))
    }
}

impl DirectiveDef {
    /// A table entry: name, arity with setter, `req_override` and help; pending until marked.
    pub const fn new(
        name: &'static str,
        args: Args,
        req_override: u32,
        help: &'static str,
    ) -> Self {
        DirectiveDef {
            name,
            args,
            req_override,
            forbidden: 0,
            forbid_in_setter: false,
            help,
            runtime: Runtime::Pending,
        }
    }

    /// Like [`DirectiveDef::forbid`], for a handler that checks only some of its forms itself.
    pub const fn forbid_in_setter(mut self, forbidden: u32) -> Self {
        self.forbidden = forbidden;
        self.forbid_in_setter = true;
        self
    }

    /// Adds the `ap_check_cmd_context` restrictions its handler applies.
    pub const fn forbid(mut self, forbidden: u32) -> Self {
        self.forbidden = forbidden;
        self
    }

    /// Marks its effect as complete.
    pub const fn implemented(mut self) -> Self {
        self.runtime = Runtime::Implemented;
        self
    }

    /// Marks it as acting only through modules outside the set (see [`Runtime::Inert`]).
    pub const fn inert(mut self, reason: &'static str) -> Self {
        self.runtime = Runtime::Inert(reason);
        self
    }
}
