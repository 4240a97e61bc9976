//! mod_ext_filter, whole: ExtFilterDefine and ExtFilterOptions (table, setters, typed
//! per-server and per-directory configurations and merges), the registration of each defined
//! filter under its name as the runtime is built, and the filters themselves: a program run
//! for each request (argv as Apache splits `cmd=`, no shell, the CGI environment) that the
//! response body (output mode) or the request body (input mode) is written to while its output
//! is read on a thread of its own, so that neither side can stall the other.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{ACCESS_CONF, RSRC_CONF};
use rhttpd_directives::model::{Config, DirConfig};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::filters::{
    DefinedInputFilter, DefinedOutputFilter, FilterType, InputRef, InputStage, OutputRef, Sink,
};
use crate::hooks::Hooks;
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "ext_filter_module",
    source: "mod_ext_filter.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "ExtFilterOptions",
        Iterate(options),
        ACCESS_CONF,
        "valid options: LogStderr, NoLogStderr",
    )
    .implemented(),
    DirectiveDef::new(
        "ExtFilterDefine",
        Raw(define),
        RSRC_CONF,
        "Define an external filter",
    )
    .implemented(),
];

/// ExtFilterOptions of one directory: each option unset until a section sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dir {
    /// LogStderr (`true`) or NoLogStderr: the program's stderr to the error log or nowhere.
    pub log_stderr: Option<bool>,
    /// Onfail=remove (`true`) or Onfail=abort: what a program that cannot start does to the
    /// response (served unfiltered, or a 500).
    pub onfail_remove: Option<bool>,
}

impl DirConfig for Dir {
    /// Each option the section sets over what it inherits.
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            log_stderr: child.log_stderr.or(self.log_stderr),
            onfail_remove: child.onfail_remove.or(self.onfail_remove),
        }
    }
}

/// Which body a defined filter takes (`mode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Output,
    Input,
}

/// One ExtFilterDefine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The name as written (ExtFilterDefine's first word); filters are found by it in any case.
    pub name: String,
    pub mode: Mode,
    /// `ftype=`, as `atoi` reads it (Apache's AP_FTYPE_* numbers; 10 unless set).
    pub ftype: i32,
    /// `cmd=`: the program and its arguments; `None` when the definition has no `cmd=`.
    pub argv: Option<Vec<String>>,
    pub enable_env: Option<String>,
    pub disable_env: Option<String>,
    /// The only media type the filter takes (`intype=`); every type when unset.
    pub intype: Option<String>,
    /// The media type of what the program writes (`outtype=`); unchanged when unset.
    pub outtype: Option<String>,
    pub preserves_content_length: bool,
}

impl Definition {
    /// The name filters are registered and found under (Apache lowercases filter names).
    fn key(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// Where the filter runs among rhttpd's kinds: a number between two kinds runs with the
    /// lower one, and from AP_FTYPE_PROTOCOL on with the protocol's filters (rhttpd has no
    /// chain of connection filters to put one on).
    fn kind(&self) -> FilterType {
        match self.ftype {
            ..=17 => FilterType::Resource,
            18..=19 => FilterType::BeforeContentSet,
            20..=29 => FilterType::ContentSet,
            30.. => FilterType::Protocol,
        }
    }
}

/// The filters a server defined itself (a virtual host's own, merged over the main
/// server's: the definitions a request finds, its server's before the main server's).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub definitions: Vec<Definition>,
}

impl DirConfig for ServerConf {
    fn merge(&self, child: &ServerConf) -> ServerConf {
        let mut definitions: Vec<Definition> = self
            .definitions
            .iter()
            .filter(|d| !child.definitions.iter().any(|c| c.key() == d.key()))
            .cloned()
            .collect();
        definitions.extend(child.definitions.iter().cloned());
        ServerConf { definitions }
    }
}

fn options(cmd: &mut Cmd, arg: &str) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    match arg.to_ascii_lowercase().as_str() {
        "logstderr" => dir.log_stderr = Some(true),
        "nologstderr" => dir.log_stderr = Some(false),
        "onfail=remove" => dir.onfail_remove = Some(true),
        "onfail=abort" => dir.onfail_remove = Some(false),
        _ => return Err(format!("Invalid ExtFilterOptions option: {arg}")),
    }
    Ok(())
}

fn define(cmd: &mut Cmd, args: &str) -> SetResult {
    let (name, rest) = getword_white(args);
    let conf = cmd.server_config::<ServerConf>();
    let key = name.to_ascii_lowercase();
    if conf.definitions.iter().any(|d| d.key() == key) {
        return Err(format!("ExtFilter {name} is already defined"));
    }
    let definition = parse_definition(name, rest)?;
    conf.definitions.push(definition);
    Ok(())
}

/// Apache's `ap_getword_white`: the word up to the first white space, and what follows the
/// white space after it.
fn getword_white(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim_start_matches(is_space))
}

fn is_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// Whether `text` starts with `prefix` in any case (`strncasecmp`).
fn starts_with_caseless(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// ExtFilterDefine's parameters after the name, read as Apache reads them: each keyword in
/// any case, a value up to the next white space (a quoted `cmd=` up to its closing quote), the
/// last of a keyword given twice winning.
pub fn parse_definition(name: &str, args: &str) -> Result<Definition, String> {
    let mut definition = Definition {
        name: name.to_string(),
        mode: Mode::Output,
        ftype: 10,
        argv: None,
        enable_env: None,
        disable_env: None,
        intype: None,
        outtype: None,
        preserves_content_length: false,
    };
    let mut rest = args;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(is_space);
        if starts_with_caseless(rest, "preservescontentlength") {
            let (token, after) = getword_white(rest);
            if !token.eq_ignore_ascii_case("preservescontentlength") {
                return Err(format!("mangled argument `{token}'"));
            }
            definition.preserves_content_length = true;
            rest = after;
            continue;
        }
        let keyed: &[&str] = &[
            "mode=",
            "ftype=",
            "enableenv=",
            "disableenv=",
            "intype=",
            "outtype=",
            "cmd=",
        ];
        let Some(key) = keyed.iter().find(|k| starts_with_caseless(rest, k)) else {
            return Err(format!("Unexpected parameter: `{rest}'"));
        };
        let value = &rest[key.len()..];
        if *key == "cmd=" {
            let (argv, after) = parse_cmd(value)?;
            definition.argv = Some(argv);
            rest = after;
            continue;
        }
        let (token, after) = getword_white(value);
        rest = after;
        match *key {
            "mode=" => {
                definition.mode = match token.to_ascii_lowercase().as_str() {
                    "output" => Mode::Output,
                    "input" => Mode::Input,
                    _ => return Err(format!("Invalid mode: `{token}'")),
                }
            }
            "ftype=" => definition.ftype = rhttpd_directives::set::atoi_int(token),
            "enableenv=" => definition.enable_env = Some(token.to_string()),
            "disableenv=" => definition.disable_env = Some(token.to_string()),
            "intype=" => definition.intype = Some(token.to_string()),
            _ => definition.outtype = Some(token.to_string()),
        }
    }
    Ok(definition)
}

/// `cmd=`'s value: a quoted string (a backslash keeps the next character inside it) split
/// into words as `apr_tokenize_to_argv` splits them, or one word; and what follows it.
fn parse_cmd(value: &str) -> Result<(Vec<String>, &str), String> {
    let Some(quoted) = value.strip_prefix('"') else {
        let (word, rest) = getword_white(value);
        return Ok((vec![word.to_string()], rest));
    };
    let bytes = quoted.as_bytes();
    let mut escaping = false;
    let mut end = None;
    for (at, &b) in bytes.iter().enumerate() {
        if b == b'"' && !escaping {
            end = Some(at);
            break;
        }
        escaping = !escaping && b == b'\\';
    }
    let Some(end) = end else {
        return Err("Expected cmd= delimiter".into());
    };
    let argv = tokenize_to_argv(&quoted[..end]);
    if argv.is_empty() {
        return Err("Invalid cmd= parameter".into());
    }
    Ok((argv, &quoted[end + 1..]))
}

/// `apr_tokenize_to_argv`: words split at spaces and tabs; a word opening with `"` or `'`
/// runs to the matching quote; a backslash before a space, tab or quote keeps it in the
/// word; every backslash is then taken out (one of two kept).
pub fn tokenize_to_argv(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut words = Vec::new();
    let mut at = 0;
    while at < bytes.len() && blank(bytes[at]) {
        at += 1;
    }
    while at < bytes.len() {
        let quote = match bytes[at] {
            q @ (b'"' | b'\'') => {
                at += 1;
                Some(q)
            }
            _ => None,
        };
        let start = at;
        while at < bytes.len() {
            let b = bytes[at];
            let next = bytes.get(at + 1).copied();
            if b == b'\\' && next.is_some_and(|n| blank(n) || n == b'"' || n == b'\'') {
                at += 2;
                continue;
            }
            let ends = match quote {
                None => blank(b),
                Some(q) => b == q,
            };
            if ends {
                break;
            }
            at += 1;
        }
        let raw = &bytes[start..at.min(bytes.len())];
        let mut word = Vec::with_capacity(raw.len());
        let mut escaped = false;
        for &b in raw {
            if !escaped && b == b'\\' {
                escaped = true;
            } else {
                escaped = false;
                word.push(b);
            }
        }
        words.push(String::from_utf8_lossy(&word).into_owned());
        // Past the end of the word (its closing quote, or the blank after it).
        at += 1;
        while at < bytes.len() && blank(bytes[at]) {
            at += 1;
        }
    }
    words
}

/// Registers every filter the configuration defined under its name (Apache registers each
/// as ExtFilterDefine is read; filter names are global, the definitions per server).
pub fn register_defined(hooks: &mut Hooks, config: &Config) {
    for server in &config.servers {
        let Some(conf) = server.modules.get::<ServerConf>() else {
            continue;
        };
        for definition in &conf.definitions {
            let name = definition.key();
            match definition.mode {
                Mode::Output => hooks.output_filters.register(OutputRef::Defined(Arc::new(
                    DefinedOutputFilter {
                        name,
                        ftype: definition.kind(),
                        run: output_filter,
                    },
                ))),
                Mode::Input => {
                    hooks
                        .input_filters
                        .register(InputRef::Defined(Arc::new(DefinedInputFilter {
                            name,
                            start: input_filter,
                        })))
                }
            }
        }
    }
}

/// Whether an ExtFilterDefine read so far (in any server) defined an output filter of that
/// name: Apache registers each as it reads it, so later lines (FilterProvider) can name it.
pub fn output_defined(config: &Config, name: &str) -> bool {
    config.servers.iter().any(|server| {
        server.modules.get::<ServerConf>().is_some_and(|conf| {
            conf.definitions
                .iter()
                .any(|d| d.mode == Mode::Output && d.name.eq_ignore_ascii_case(name))
        })
    })
}

/// How much of a program's output is held until the body's end. Apache holds all of it (its
/// filter passes the output on with the body's end, and the length filter then gives it a
/// Content-Length); rhttpd does too up to this much, then passes it on as it comes
/// (chunked), so that a large or endless body never sits in memory whole.
const WHOLE_OUTPUT_LIMIT: usize = 1 << 20;

/// The size of the pieces a file or buffer is written to the program in (how often the
/// output is looked at while the input goes in).
const WRITE_PIECE: usize = 64 * 1024;

/// How long a program still running when its request is done has after SIGTERM before it
/// is killed (APR's KILL_AFTER_TIMEOUT).
const KILL_AFTER: Duration = Duration::from_secs(3);

const SIGTERM: i32 = 15;

/// The definition of the filter named `name` the request's server knows: its own, else the
/// main server's.
fn find_definition(req: &Request, name: &str) -> Option<Definition> {
    let conf = req.ctx().runtime.module::<ServerConf>();
    conf.definitions.iter().find(|d| d.key() == name).cloned()
}

/// Whether the filter leaves this body alone: not of its `intype`, or its enableenv variable
/// unset, or its disableenv variable set.
fn stands_aside(req: &Request, definition: &Definition, content_type: Option<&str>) -> bool {
    if let Some(intype) = &definition.intype {
        let Some(content_type) = content_type else {
            return true;
        };
        let media = content_type.split(';').next().unwrap_or_default();
        if !media.eq_ignore_ascii_case(intype) {
            return true;
        }
    }
    let env = crate::request::environment(req);
    let set = |name: &Option<String>| {
        name.as_deref()
            .map(|name| crate::modules::env::get(&env, name).is_some())
    };
    set(&definition.enable_env) == Some(false) || set(&definition.disable_env) == Some(true)
}

/// The trace Apache writes as a filter starts on a request.
fn trace_start(req: &Request, definition: &Definition, dir: &Dir, filtering: bool, ctype: &str) {
    let command = match &definition.argv {
        Some(argv) => argv[0].as_str(),
        None => "(null)",
    };
    let text = format!(
        "{}filtering `{}' of type `{ctype}' through `{command}', cfg ExtFilterOptions {} {} ExtFilterInType {} ExtFilterOuttype {}",
        if filtering { "" } else { "NOT " },
        req.uri,
        if dir.log_stderr == Some(true) { "LogStderr" } else { "NoLogStderr" },
        if definition.preserves_content_length {
            "PreservesContentLength"
        } else {
            "!PreserveContentLength"
        },
        definition.intype.as_deref().unwrap_or("*/*"),
        definition.outtype.as_deref().unwrap_or("(unchanged)"),
    );
    req.log_traced("ext_filter", "trace1", None, "mod_ext_filter.c(623)", &text);
}

/// A filter that could not start, as Apache reports it (`direction`: "output" or "input").
fn log_cannot_start(
    req: &Request,
    name: &str,
    direction: &str,
    remove: bool,
    cause: &std::io::Error,
) {
    let number = if direction == "output" {
        "AH01467"
    } else {
        "AH01470"
    };
    let text = format!(
        "{number}: can't initialise {direction} filter {name}: {}",
        if remove { "removing" } else { "aborting" }
    );
    req.log_os_error("ext_filter", "error", Some(cause), &text);
}

/// The definition the filter runs, started for this request: `Ok(None)` when it stands aside,
/// `Err` with the cause when it cannot start (both reported as Apache reports them).
/// `content_type` is the body's, which `intype` is checked against; `shown_type` the
/// response's as the trace names it.
fn start_filter(
    req: &Request,
    name: &str,
    direction: &str,
    content_type: Option<&str>,
    shown_type: Option<&str>,
) -> Result<Option<(Definition, Program)>, std::io::Error> {
    let dir = req.dir.module::<Dir>().into_owned();
    let remove = dir.onfail_remove == Some(true);
    let Some(definition) = find_definition(req, name) else {
        let text = format!("AH01459: couldn't find definition of filter '{name}'");
        req.log_error("ext_filter", "error", &text);
        let cause = std::io::Error::from_raw_os_error(EINVAL);
        log_cannot_start(req, name, direction, remove, &cause);
        return Err(cause);
    };
    if stands_aside(req, &definition, content_type) {
        let shown = shown_type.unwrap_or("(unspecified)");
        trace_start(req, &definition, &dir, false, shown);
        return Ok(None);
    }
    match Program::start(req, &definition, &dir) {
        Ok(program) => Ok(Some((definition, program))),
        Err(cause) => {
            let command = match &definition.argv {
                Some(argv) => argv[0].as_str(),
                None => "(null)",
            };
            let text = format!("AH01458: couldn't create child process to run `{command}'");
            req.log_os_error("ext_filter", "error", Some(&cause), &text);
            log_cannot_start(req, name, direction, remove, &cause);
            Err(cause)
        }
    }
}

/// EINVAL, the status Apache gives a filter without a definition.
const EINVAL: i32 = 22;

/// EFAULT, what starting a definition without `cmd=` fails with in Apache (a null path).
const NO_COMMAND: i32 = 14;

/// The output filter of every output-mode definition.
fn output_filter(req: &mut Request, name: &str, mut response: Response) -> Step<Response> {
    let remove = req.dir.module::<Dir>().onfail_remove == Some(true);
    let content_type = response.content_type.as_deref();
    let started = start_filter(req, name, "output", content_type, content_type);
    let (definition, mut program) = match started {
        Ok(Some(started)) => started,
        Ok(None) => return Ok(response),
        Err(_) if remove => return Ok(response),
        Err(_) => {
            // An error raised inside the filter chain: its page goes out without a length.
            req.filter_error = true;
            return Err(500);
        }
    };
    if let Some(outtype) = &definition.outtype {
        response.content_type = Some(outtype.clone());
    }
    let dir = req.dir.module::<Dir>().into_owned();
    let ctype = response.content_type.as_deref().unwrap_or("(unspecified)");
    trace_start(req, &definition, &dir, true, ctype);
    let timeout = Duration::from_secs(req.ctx().runtime.core.timeout_secs().max(1));
    let had_length = response.length_known;
    let mut input = Input::of(std::mem::take(&mut response.body));
    let mut output = Vec::new();
    // The body goes in while what comes out is gathered, until the body ends (or too much
    // came out to hold: the rest streams).
    loop {
        output.extend(program.available());
        if output.len() > WHOLE_OUTPUT_LIMIT {
            response.length_known = false;
            response.body = Body::Stream(BodyStream(Box::new(Streaming {
                program,
                input: Some(input),
                held: Some(output),
                timeout,
                log: RequestLog::of(req),
                passing: false,
            })));
            return Ok(response);
        }
        let piece = match input.next_piece() {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(cause) => {
                req.log_os_error(
                    "ext_filter",
                    "error",
                    Some(&cause),
                    "AH01463: apr_bucket_read()",
                );
                req.filter_error = true;
                return Err(500);
            }
        };
        if let Err(cause) = program.write(&piece) {
            // Apache passes on the body as it came to the filter.
            log_write_failure(req, &cause);
            response.length_known = input.length_known();
            response.body = input.original(piece);
            response.length_last |= !definition.preserves_content_length;
            return Ok(response);
        }
    }
    program.close_input();
    match program.rest(timeout) {
        Ok(rest) => output.extend(rest),
        Err((rest, cause)) => {
            output.extend(rest);
            log_read_failure(req, &cause);
            req.log_os_error(
                "ext_filter",
                "error",
                Some(&cause),
                "AH01468: ef_unified_filter() failed",
            );
            // What came out goes on without the body's end (and so without a length).
            response.length_known = false;
            let len = output.len();
            response.body = Body::Pieces(output, vec![len]);
            return Ok(response);
        }
    }
    // The whole output reached the length filter with the body's end: it has a length, set
    // in place when the filter preserves Content-Length, else after everything set so far.
    response.length_known = true;
    response.length_last |= !definition.preserves_content_length || !had_length;
    response.body = Body::Bytes(output);
    Ok(response)
}

/// A write to the program that failed, and the filter's failure with it.
fn log_write_failure(req: &Request, cause: &std::io::Error) {
    for text in [
        "AH01461: apr_file_write(child input), len 0",
        "AH01468: ef_unified_filter() failed",
    ] {
        req.log_os_error("ext_filter", "error", Some(cause), text);
    }
}

fn log_read_failure(req: &Request, cause: &std::io::Error) {
    req.log_traced(
        "ext_filter",
        "error",
        Some(cause),
        "mod_ext_filter.c(811)",
        "AH01466: apr_file_read(child output), len 0",
    );
}

/// A response body as it is written to the program, a piece at a time, kept so that it can
/// still go out as it was when the program will not take it.
enum Input {
    Bytes {
        bytes: Vec<u8>,
        at: usize,
    },
    File {
        file: std::sync::Arc<std::fs::File>,
        offset: u64,
        len: u64,
        sendfile: bool,
        at: u64,
    },
    /// A stream, with what it handed out so far while that is no more than can be held.
    Stream {
        stream: BodyStream,
        taken: Option<Vec<u8>>,
    },
}

impl Input {
    fn of(body: Body) -> Input {
        match body {
            Body::Empty => Input::Bytes {
                bytes: Vec::new(),
                at: 0,
            },
            Body::Bytes(bytes) | Body::Pieces(bytes, _) => Input::Bytes { bytes, at: 0 },
            Body::File {
                file,
                offset,
                len,
                sendfile,
            } => Input::File {
                file,
                offset,
                len,
                sendfile,
                at: 0,
            },
            Body::Stream(stream) => Input::Stream {
                stream,
                taken: Some(Vec::new()),
            },
        }
    }

    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self {
            Input::Bytes { bytes, at } => {
                if *at >= bytes.len() {
                    return Ok(None);
                }
                let end = (*at + WRITE_PIECE).min(bytes.len());
                let piece = bytes[*at..end].to_vec();
                *at = end;
                Ok(Some(piece))
            }
            Input::File {
                file,
                offset,
                len,
                at,
                ..
            } => {
                use std::os::unix::fs::FileExt;
                if *at >= *len {
                    return Ok(None);
                }
                let want = (*len - *at).min(WRITE_PIECE as u64) as usize;
                let mut piece = vec![0; want];
                let read = file.read_at(&mut piece, *offset + *at)?;
                if read == 0 {
                    return Ok(None);
                }
                piece.truncate(read);
                *at += read as u64;
                Ok(Some(piece))
            }
            Input::Stream { stream, taken } => {
                let piece = stream.0.next_piece()?;
                if let (Some(kept), Some(piece)) = (taken.as_mut(), piece.as_ref()) {
                    kept.extend_from_slice(piece);
                    if kept.len() > WHOLE_OUTPUT_LIMIT {
                        *taken = None;
                    }
                }
                Ok(piece)
            }
        }
    }

    /// The body as the handler gave it (a stream: what it handed out so far, or only the
    /// piece the program refused when that was too much to keep; then the rest of it).
    fn original(self, refused: Vec<u8>) -> Body {
        match self {
            Input::Bytes { bytes, .. } => Body::Bytes(bytes),
            Input::File {
                file,
                offset,
                len,
                sendfile,
                ..
            } => Body::File {
                file,
                offset,
                len,
                sendfile,
            },
            Input::Stream { stream, taken } => Body::Stream(BodyStream(Box::new(Unfiltered {
                first: Some(taken.unwrap_or(refused)),
                rest: stream,
            }))),
        }
    }

    fn length_known(&self) -> bool {
        !matches!(self, Input::Stream { .. })
    }
}

/// A piece, then the rest of a stream, as they came.
struct Unfiltered {
    first: Option<Vec<u8>>,
    rest: BodyStream,
}

impl BodySource for Unfiltered {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self.first.take() {
            Some(first) => Ok(Some(first)),
            None => self.rest.0.next_piece(),
        }
    }
}

/// What a streaming filter needs to log once the request has moved on: its server's error
/// log is the main one or its own.
struct RequestLog {
    own: Option<Arc<crate::log::OwnErrorLog>>,
}

impl RequestLog {
    fn of(req: &Request) -> RequestLog {
        RequestLog {
            own: req.ctx().error_log.clone(),
        }
    }

    fn error(&self, cause: &std::io::Error, text: &str) {
        let entry = crate::log::Entry {
            module: "ext_filter",
            level: "error",
            message: text.as_bytes(),
            cause: Some(cause),
            source: None,
            request: None,
        };
        match &self.own {
            Some(own) => {
                if let Some(line) = crate::log::render(&entry, true) {
                    own.write_line(&line);
                }
            }
            None => crate::log::emit(&entry),
        }
    }
}

/// An output too large to hold, passed on as it comes: what was held first, then each piece
/// of output as the rest of the body goes in.
struct Streaming {
    program: Program,
    /// The body still to go in (`None` once it has all gone in and the input is closed).
    input: Option<Input>,
    held: Option<Vec<u8>>,
    timeout: Duration,
    log: RequestLog,
    /// The program refused its input: the rest of the body goes on as it is.
    passing: bool,
}

impl BodySource for Streaming {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if let Some(held) = self.held.take() {
            return Ok(Some(held));
        }
        loop {
            if self.passing {
                return match &mut self.input {
                    Some(input) => input.next_piece(),
                    None => Ok(None),
                };
            }
            let available = self.program.available();
            if !available.is_empty() {
                return Ok(Some(available));
            }
            let Some(input) = &mut self.input else {
                return match self.program.next_output(self.timeout) {
                    Ok(piece) => Ok(piece),
                    Err(cause) => {
                        self.log
                            .error(&cause, "AH01466: apr_file_read(child output), len 0");
                        Err(cause)
                    }
                };
            };
            match input.next_piece()? {
                Some(piece) => {
                    if let Err(cause) = self.program.write(&piece) {
                        self.log
                            .error(&cause, "AH01461: apr_file_write(child input), len 0");
                        self.log
                            .error(&cause, "AH01468: ef_unified_filter() failed");
                        self.passing = true;
                        return Ok(Some(piece));
                    }
                }
                None => {
                    self.input = None;
                    self.program.close_input();
                }
            }
        }
    }
}

/// The input filter of every input-mode definition: the stage a request body passes
/// through, or none when the filter stands aside (or is removed as it cannot start).
fn input_filter(req: &mut Request, name: &str) -> Option<Box<dyn InputStage>> {
    let remove = req.dir.module::<Dir>().onfail_remove == Some(true);
    let content_type = req.head.headers.get("Content-Type").map(str::to_string);
    // The response's type as known so far (by the file's name), which the trace shows.
    let shown = req.file_info.as_ref().and_then(|i| i.content_type.clone());
    match start_filter(
        req,
        name,
        "input",
        content_type.as_deref(),
        shown.as_deref(),
    ) {
        Ok(Some((definition, program))) => {
            let dir = req.dir.module::<Dir>().into_owned();
            let shown = shown.as_deref().unwrap_or("(unspecified)");
            trace_start(req, &definition, &dir, true, shown);
            let timeout = Duration::from_secs(req.ctx().runtime.core.timeout_secs().max(1));
            Some(Box::new(Filtering { program, timeout }))
        }
        Ok(None) => None,
        Err(_) if remove => None,
        // The handler's read fails (mod_cgid answers such a read with a 400).
        Err(_) => Some(Box::new(Refusing)),
    }
}

/// A request body through a program.
struct Filtering {
    program: Program,
    timeout: Duration,
}

/// What a handler reading a body through an input filter that failed answers (Apache's
/// handlers map the filter's error to a 400).
const READ_FAILED: u16 = 400;

impl InputStage for Filtering {
    fn feed(&mut self, piece: &[u8], next: &mut Sink) -> Result<(), u16> {
        if self.program.write(piece).is_err() {
            return Err(READ_FAILED);
        }
        let available = self.program.available();
        if available.is_empty() {
            return Ok(());
        }
        next(&available)
    }

    fn finish(&mut self, next: &mut Sink) -> Result<(), u16> {
        self.program.close_input();
        match self.program.rest(self.timeout) {
            Ok(rest) if rest.is_empty() => Ok(()),
            Ok(rest) => next(&rest),
            Err(_) => Err(408),
        }
    }

    fn close(self: Box<Self>, _req: &mut Request, _whole: bool) {}
}

/// An input filter that could not start and aborts the read.
struct Refusing;

impl InputStage for Refusing {
    fn feed(&mut self, _piece: &[u8], _next: &mut Sink) -> Result<(), u16> {
        Err(READ_FAILED)
    }

    fn finish(&mut self, _next: &mut Sink) -> Result<(), u16> {
        Err(READ_FAILED)
    }

    fn close(self: Box<Self>, _req: &mut Request, _whole: bool) {}
}

/// The environment the program runs in: the CGI variables (Apache's `ap_add_cgi_vars` and
/// `ap_add_common_vars`), DOCUMENT_URI, DOCUMENT_PATH_INFO, and the query unescaped for a
/// shell (QUERY_STRING_UNESCAPED) when there is one.
fn program_environment(req: &Request) -> Vec<(String, String)> {
    let filename = req.filename.clone().unwrap_or_default();
    let mut env = crate::modules::cgi::script_environment(req, &filename);
    let mut set = |name: &str, value: String| match env.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => *v = value,
        None => env.push((name.to_string(), value)),
    };
    set("DOCUMENT_URI", req.uri.clone());
    set("DOCUMENT_PATH_INFO", req.path_info.clone());
    if let Some(args) = &req.args {
        let unescaped = crate::modules::rewrite::maps::unescape_lenient(args.as_bytes());
        set(
            "QUERY_STRING_UNESCAPED",
            escape_shell_cmd(&String::from_utf8_lossy(&unescaped)),
        );
    }
    env
}

/// Apache's `ap_escape_shell_cmd`: a backslash before each character a shell treats
/// specially.
pub fn escape_shell_cmd(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "&;`'\"|*?~<>^()[]{}$\\\n".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A filter program running for one request: its stdin, and its stdout as a thread reads it.
struct Program {
    /// `None` once handed to the thread that waits for it to end.
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    output: super::cgi::Pieces,
    /// The output has ended (or failed).
    ended: bool,
}

impl Program {
    /// Starts the definition's program as Apache does: the path as written (no shell, no
    /// search of PATH: a name without a slash is looked for where the server runs), its
    /// words as arguments, the CGI environment, the directory's resource limits, and stderr
    /// to the server's error log under LogStderr (else nowhere).
    fn start(req: &Request, definition: &Definition, dir: &Dir) -> std::io::Result<Program> {
        use std::os::unix::process::CommandExt;
        let Some(argv) = &definition.argv else {
            return Err(std::io::Error::from_raw_os_error(NO_COMMAND));
        };
        let path = if argv[0].contains('/') || argv[0].is_empty() {
            argv[0].clone()
        } else {
            format!("./{}", argv[0])
        };
        let mut command = Command::new(&path);
        command.arg0(&argv[0]);
        command.args(&argv[1..]);
        crate::sys::limit_child(&mut command, req.dir.core.rlimits);
        let env = program_environment(req);
        let (stderr_to, own_log) = if dir.log_stderr == Some(true) {
            crate::modules::cgi::stderr_for(req)
        } else {
            (Stdio::null(), None)
        };
        let mut child = command
            .env_clear()
            .envs(env.iter().map(|(n, v)| (n, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr_to)
            .spawn()?;
        if let (Some(stderr), Some(own_log)) = (child.stderr.take(), own_log) {
            crate::modules::cgi::copy_stderr(stderr, own_log);
        }
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        Ok(Program {
            child: Some(child),
            stdin,
            output: super::cgi::reader_thread(stdout),
            ended: false,
        })
    }

    fn write(&mut self, piece: &[u8]) -> std::io::Result<()> {
        match &mut self.stdin {
            Some(stdin) => stdin.write_all(piece),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// Closing stdin tells the program the input has ended.
    fn close_input(&mut self) {
        self.stdin = None;
    }

    /// What the program wrote so far that has not been taken.
    fn available(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while !self.ended {
            match self.output.try_recv() {
                Ok(Ok(piece)) => out.extend(piece),
                Ok(Err(_)) | Err(TryRecvError::Disconnected) => self.ended = true,
                Err(TryRecvError::Empty) => break,
            }
        }
        out
    }

    /// The next piece of output, waiting up to `timeout` for it; `None` at its end.
    fn next_output(&mut self, timeout: Duration) -> std::io::Result<Option<Vec<u8>>> {
        if self.ended {
            return Ok(None);
        }
        match self.output.recv_timeout(timeout) {
            Ok(Ok(piece)) => Ok(Some(piece)),
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Ok(None)
            }
            Err(RecvTimeoutError::Timeout) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "The timeout specified has expired",
            )),
        }
    }

    /// The rest of the output, to its end; on a wait longer than `timeout` for a piece, what
    /// came before it and the timeout.
    fn rest(&mut self, timeout: Duration) -> Result<Vec<u8>, (Vec<u8>, std::io::Error)> {
        let mut out = Vec::new();
        loop {
            match self.next_output(timeout) {
                Ok(Some(piece)) => out.extend(piece),
                Ok(None) => return Ok(out),
                Err(cause) => return Err((out, cause)),
            }
        }
    }
}

impl Drop for Program {
    /// A program still running once its request is done with it is asked to stop, then
    /// killed a moment later (Apache's APR_KILL_AFTER_TIMEOUT); each is reaped.
    fn drop(&mut self) {
        self.stdin = None;
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        crate::sys::process::signal(child.id() as i32, SIGTERM);
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + KILL_AFTER;
            while std::time::Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn cmd_words_split_as_apr_splits_them() {
        assert_eq!(
            tokenize_to_argv("/usr/bin/tr a-z A-Z"),
            words(&["/usr/bin/tr", "a-z", "A-Z"])
        );
        assert_eq!(
            tokenize_to_argv("  /bin/sh -c 'echo hi; cat'  "),
            words(&["/bin/sh", "-c", "echo hi; cat"])
        );
        // An escaped quote opens no quoted word: it stays in the word, its backslash goes.
        assert_eq!(
            tokenize_to_argv(r#"/bin/sh -c \"echo hi\""#),
            words(&["/bin/sh", "-c", "\"echo", "hi\""])
        );
        assert_eq!(tokenize_to_argv(r"a\ b c\\d"), words(&["a b", r"c\d"]));
        assert_eq!(tokenize_to_argv(r#""ab"cd"#), words(&["ab", "cd"]));
        assert!(tokenize_to_argv("   ").is_empty());
    }

    #[test]
    fn a_definition_reads_every_keyword_in_any_case() {
        let d = parse_definition(
            "Up",
            "CMD=\"/usr/bin/tr a-z A-Z\" Mode=Input INTYPE=text/plain EnableEnv=x DisableEnv=y OutType=a/b FType=20 PreservesContentLength",
        )
        .unwrap();
        assert_eq!(d.argv, Some(words(&["/usr/bin/tr", "a-z", "A-Z"])));
        assert_eq!(d.mode, Mode::Input);
        assert_eq!(d.intype.as_deref(), Some("text/plain"));
        assert_eq!(d.outtype.as_deref(), Some("a/b"));
        assert_eq!(
            (d.enable_env.as_deref(), d.disable_env.as_deref()),
            (Some("x"), Some("y"))
        );
        assert_eq!((d.ftype, d.kind()), (20, FilterType::ContentSet));
        assert!(d.preserves_content_length);
        let plain = parse_definition("p", "cmd=/bin/cat").unwrap();
        assert_eq!(plain.argv, Some(words(&["/bin/cat"])));
        assert_eq!(
            (plain.mode, plain.kind()),
            (Mode::Output, FilterType::Resource)
        );
        assert_eq!(parse_definition("n", "").unwrap().argv, None);
        assert_eq!(
            parse_definition("e", "cmd=").unwrap().argv,
            Some(words(&[""]))
        );
        assert_eq!(parse_definition("f", "ftype=abc").unwrap().ftype, 0);
    }

    #[test]
    fn a_bad_definition_fails_with_apaches_words() {
        let error = |args| parse_definition("x", args).unwrap_err();
        assert_eq!(error("cmd=\"/bin/cat"), "Expected cmd= delimiter");
        assert_eq!(error("cmd=\"/bin/cat\\\""), "Expected cmd= delimiter");
        assert_eq!(error("cmd=\"\""), "Invalid cmd= parameter");
        assert_eq!(
            error("mode=sideways cmd=/bin/cat"),
            "Invalid mode: `sideways'"
        );
        assert_eq!(error("mode= cmd=/bin/cat"), "Invalid mode: `'");
        assert_eq!(
            error("preservescontentlengthX cmd=/bin/cat"),
            "mangled argument `preservescontentlengthX'"
        );
        assert_eq!(
            error("bogus=1 cmd=/bin/cat"),
            "Unexpected parameter: `bogus=1 cmd=/bin/cat'"
        );
        assert_eq!(
            error("cmd=\"/bin/cat\"extra"),
            "Unexpected parameter: `extra'"
        );
    }

    #[test]
    fn options_merge_each_over_what_is_inherited() {
        let dir = crate::modules::test_section(
            "<Directory /a>\nExtFilterOptions LogStderr onfail=REMOVE NoLogStderr\n</Directory>\n",
        );
        let own = dir.module::<Dir>().into_owned();
        assert_eq!(
            own,
            Dir {
                log_stderr: Some(false),
                onfail_remove: Some(true)
            }
        );
        let child = Dir {
            log_stderr: Some(true),
            onfail_remove: None,
        };
        assert_eq!(
            own.merge(&child),
            Dir {
                log_stderr: Some(true),
                onfail_remove: Some(true)
            }
        );
    }

    #[test]
    fn a_virtual_hosts_definition_wins_over_the_main_servers() {
        let main = ServerConf {
            definitions: vec![
                parse_definition("Up", "cmd=/a").unwrap(),
                parse_definition("b", "cmd=/b").unwrap(),
            ],
        };
        let vhost = ServerConf {
            definitions: vec![parse_definition("UP", "cmd=/c").unwrap()],
        };
        let merged = main.merge(&vhost);
        let commands: Vec<_> = merged
            .definitions
            .iter()
            .map(|d| d.argv.clone().unwrap()[0].clone())
            .collect();
        assert_eq!(commands, ["/b", "/c"]);
    }

    #[test]
    fn shell_characters_are_escaped() {
        assert_eq!(escape_shell_cmd("a b;c$(d)"), "a b\\;c\\$\\(d\\)");
    }
}
