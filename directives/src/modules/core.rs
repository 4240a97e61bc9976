//! core: server and per-directory basics (sections, Options, AllowOverride, DocumentRoot, limits, Include, Define, <If*>).
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::set::next_word;

use super::mpm_common::*;
use crate::apply::{walk_in_place, walk_section, walk_virtual_host, SectionScope};
use crate::cmd::Cmd;
use crate::context::*;
use crate::core_config::{Dir as CoreDir, RangeLimit, ServerConf as CoreServer};
use crate::model::{DirConf, Options, Section, SectionKind, Server, VhostAddr, Warning};
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "core_module",
    source: "core.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("<Directory", Raw(directory_section), RSRC_CONF, "Container for directives affecting resources located in the specified directories").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("<Location", Raw(location_section), RSRC_CONF, "Container for directives affecting resources accessed through the specified URL paths").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("<VirtualHost", Raw(virtual_host_section), RSRC_CONF, "Container to map directives to a particular virtual host, takes one or more host addresses").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("<Files", Raw(files_section), OR_ALL, "Container for directives affecting files matching specified patterns").forbid(NOT_IN_LOCATION|NOT_IN_LIMIT).implemented(),
    DirectiveDef::new("<Limit", Raw(limit_section), OR_LIMIT|OR_AUTHCFG, "Container for authentication directives when accessed using specified HTTP methods").implemented(),
    DirectiveDef::new("<LimitExcept", Raw(limit_section), OR_LIMIT|OR_AUTHCFG, "Container for authentication directives to be applied when any HTTP method other than those specified is used to access the resource").implemented(),
    DirectiveDef::new("<IfModule", Raw(accept_args), EXEC_ON_READ|OR_ALL, "Container for directives based on existence of specified modules").implemented(),
    DirectiveDef::new("<IfDefine", Raw(accept_args), EXEC_ON_READ|OR_ALL, "Container for directives based on existence of command line defines").implemented(),
    DirectiveDef::new("<IfFile", Raw(accept_args), EXEC_ON_READ|OR_ALL, "Container for directives based on existence of files on disk").implemented(),
    DirectiveDef::new("<IfDirective", Raw(accept_args), EXEC_ON_READ|OR_ALL, "Container for directives based on existence of named directive").implemented(),
    DirectiveDef::new("<IfSection", Raw(accept_args), EXEC_ON_READ|OR_ALL, "Container for directives based on existence of named section").implemented(),
    DirectiveDef::new("<DirectoryMatch", Raw(directory_section), RSRC_CONF, "Container for directives affecting resources located in the specified directories").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("<LocationMatch", Raw(location_section), RSRC_CONF, "Container for directives affecting resources accessed through the specified URL paths").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("<FilesMatch", Raw(files_section), OR_ALL, "Container for directives affecting files matching specified patterns").forbid(NOT_IN_LOCATION|NOT_IN_LIMIT).implemented(),
    DirectiveDef::new("AddDefaultCharset", Take1(add_default_charset), OR_FILEINFO, "The name of the default charset to add to any Content-Type without one or 'Off' to disable").implemented(),
    DirectiveDef::new("AcceptPathInfo", Take1(accept_path_info), OR_FILEINFO, "Set to on or off for PATH_INFO to be accepted by handlers, or default for the per-handler preference").implemented(),
    DirectiveDef::new("Define", Take12(accept12), EXEC_ON_READ|ACCESS_CONF|RSRC_CONF, "Define a variable, optionally to a value.  Same as passing -D to the command line.").forbid(NOT_IN_HTACCESS).implemented(),
    DirectiveDef::new("UnDefine", Take1(accept1), EXEC_ON_READ|ACCESS_CONF|RSRC_CONF, "Undefine the existence of a variable. Undo a Define.").forbid(NOT_IN_HTACCESS).implemented(),
    DirectiveDef::new("Error", Raw(error_directive), OR_ALL, "Generate error message from within configuration").implemented(),
    DirectiveDef::new("<If", Raw(if_section), OR_ALL, "Container for directives to be conditionally applied").forbid(NOT_IN_LIMIT).implemented(),
    DirectiveDef::new("<ElseIf", Raw(if_section), OR_ALL, "Container for directives to be conditionally applied").forbid(NOT_IN_LIMIT).implemented(),
    DirectiveDef::new("<Else", Raw(if_section), OR_ALL, "Container for directives to be conditionally applied").forbid(NOT_IN_LIMIT).implemented(),
    DirectiveDef::new("AccessFileName", Raw(access_file_name), RSRC_CONF, "Name(s) of per-directory config files (default: .htaccess)").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("DocumentRoot", Take1(document_root), RSRC_CONF, "Root directory of the document tree").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("ErrorDocument", Take2(error_document), OR_FILEINFO, "Change responses for HTTP errors").implemented(),
    DirectiveDef::new("AllowOverride", Raw(allow_override), ACCESS_CONF, "Controls what groups of directives can be configured by per-directory config files").forbid(NOT_IN_HTACCESS).implemented(),
    DirectiveDef::new("AllowOverrideList", Argv(allow_override_list), ACCESS_CONF, "Controls what individual directives can be configured by per-directory config files").forbid(NOT_IN_HTACCESS).implemented(),
    DirectiveDef::new("Options", Raw(options), OR_OPTIONS, "Set a number of attributes for a given directory").implemented(),
    DirectiveDef::new("DefaultType", Take1(default_type), OR_FILEINFO, "the default media type for otherwise untyped files (DEPRECATED)").implemented(),
    DirectiveDef::new("FileETag", Raw(file_etag), OR_FILEINFO, "Specify components used to construct a file's ETag").implemented(),
    // rhttpd never memory-maps what it serves, so On and Off both give Off's guarantees.
    DirectiveDef::new("EnableMMAP", Take1(on_off), OR_FILEINFO, "Controls whether memory-mapping may be used to read files").implemented(),
    DirectiveDef::new("EnableSendfile", Take1(on_off), OR_FILEINFO, "Controls whether sendfile may be used to transmit files").implemented(),
    DirectiveDef::new("ReadBufferSize", Take1(buffer_size), ACCESS_CONF|RSRC_CONF, "Size (in bytes) of the memory buffers used to read data").inert("tunes APR bucket brigades; rhttpd reads and writes without them"),
    DirectiveDef::new("FlushMaxThreshold", Take1(buffer_size), RSRC_CONF, "Maximum threshold above which pending data are flushed to the network").inert("tunes APR bucket brigades; rhttpd reads and writes without them"),
    DirectiveDef::new("FlushMaxPipelined", Take1(flush_max_pipelined), RSRC_CONF, "Maximum number of pipelined responses (pending) above which they are flushed to the network").inert("tunes APR bucket brigades; rhttpd reads and writes without them"),
    DirectiveDef::new("Protocol", Take1(accept1), RSRC_CONF, "Set the Protocol for httpd to use.").forbid(NOT_IN_DIR_CONTEXT).inert("names the protocol mod_ssl and other protocol modules ask a server for (every Listen already has its own); HTTP is the only one in the set"),
    DirectiveDef::new("AcceptFilter", Take2(accept_filter), RSRC_CONF, "Set the Accept Filter to use for a protocol").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("Port", Take1(deprecated), RSRC_CONF, "Port was replaced with Listen in Apache 2.0").implemented(),
    DirectiveDef::new("HostnameLookups", Take1(hostname_lookups), ACCESS_CONF|RSRC_CONF, "\"on\" to enable, \"off\" to disable reverse DNS lookups, or \"double\" to enable double-reverse DNS lookups").implemented(),
    DirectiveDef::new("ServerAdmin", Take1(server_admin), RSRC_CONF, "The email address of the server administrator").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("ServerName", Take1(server_name), RSRC_CONF, "The hostname and port of the server").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("ServerSignature", Take1(server_signature), OR_ALL, "En-/disable server signature (on|off|email)").implemented(),
    DirectiveDef::new("ServerRoot", Take1(accept1), RSRC_CONF|EXEC_ON_READ, "Common directory of server-related files (logs, confs, etc.)").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("DefaultRuntimeDir", Take1(accept1), RSRC_CONF|EXEC_ON_READ, "Common directory for run-time files (shared memory, locks, etc.)").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ErrorLog", Take1(error_log), RSRC_CONF, "The filename of the error log").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("ErrorLogFormat", Take12(error_log_format), RSRC_CONF, "Format string for the ErrorLog").implemented(),
    DirectiveDef::new("ServerAlias", Raw(server_alias), RSRC_CONF, "A name or names alternately used to access the server").implemented(),
    DirectiveDef::new("ServerPath", Take1(server_path), RSRC_CONF, "The pathname the server can be reached at").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("Timeout", Take1(timeout), RSRC_CONF, "Timeout duration (sec)").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("ContentDigest", Flag(content_digest), OR_OPTIONS, "whether or not to send a Content-MD5 header with each request").implemented(),
    DirectiveDef::new("UseCanonicalName", Take1(use_canonical_name), RSRC_CONF|ACCESS_CONF, "How to work out the ServerName : Port when constructing URLs").implemented(),
    DirectiveDef::new("UseCanonicalPhysicalPort", Take1(on_off_word), RSRC_CONF|ACCESS_CONF, "Whether to use the physical Port when constructing URLs").implemented(),
    DirectiveDef::new("Include", Take1(accept1), RSRC_CONF|ACCESS_CONF|EXEC_ON_READ, "Name(s) of the config file(s) to be included; fails if the wildcard does not match at least one file").implemented(),
    DirectiveDef::new("IncludeOptional", Take1(accept1), RSRC_CONF|ACCESS_CONF|EXEC_ON_READ, "Name or pattern of the config file(s) to be included; ignored if the file does not exist or the pattern does not match any files").implemented(),
    DirectiveDef::new("LogLevel", Iterate(log_level), RSRC_CONF|ACCESS_CONF, "Level of verbosity in error logging").implemented(),
    DirectiveDef::new("NameVirtualHost", Take1(name_virtual_host), RSRC_CONF, "A numeric IP address:port, or the name of a host").implemented(),
    DirectiveDef::new("ServerTokens", Take1(server_tokens), RSRC_CONF, "Determine tokens displayed in the Server: header - Min(imal), Major, Minor, Prod(uctOnly), OS, or Full").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("LimitRequestLine", Take1(limit_request_line), RSRC_CONF, "Limit on maximum size of an HTTP request line").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("LimitRequestFieldsize", Take1(limit_request_line), RSRC_CONF, "Limit on maximum size of an HTTP request header field").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("LimitRequestFields", Take1(limit_request_line), RSRC_CONF, "Limit (0 = unlimited) on max number of header fields in a request message").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("LimitRequestBody", Take1(limit_request_body), OR_ALL, "Limit (in bytes) on maximum size of request message body").implemented(),
    DirectiveDef::new("LimitXMLRequestBody", Take1(limit_xml_request_body), OR_ALL, "Limit (in bytes) on maximum size of an XML-based request body").implemented(),
    DirectiveDef::new("Mutex", Raw(mutex), RSRC_CONF, "mutex (or \"default\") and mechanism").forbid(GLOBAL_ONLY).inert("configures the locks Apache serialises accept() and module caches with; rhttpd's children share the listeners through EPOLLEXCLUSIVE and take no lock"),
    DirectiveDef::new("MaxRanges", Take1(max_ranges), RSRC_CONF|ACCESS_CONF, "Maximum number of Ranges in a request before returning the entire resource, or 0 for unlimited").implemented(),
    DirectiveDef::new("MaxRangeOverlaps", Take1(max_ranges), RSRC_CONF|ACCESS_CONF, "Maximum number of overlaps in Ranges in a request before returning the entire resource, or 0 for unlimited").implemented(),
    DirectiveDef::new("MaxRangeReversals", Take1(max_ranges), RSRC_CONF|ACCESS_CONF, "Maximum number of reversals in Ranges in a request before returning the entire resource, or 0 for unlimited").implemented(),
    DirectiveDef::new("RLimitCPU", Take12(rlimit), OR_ALL, "Soft/hard limits for max CPU usage in seconds").implemented(),
    DirectiveDef::new("RLimitMEM", Take12(rlimit), OR_ALL, "Soft/hard limits for max memory usage per process").implemented(),
    DirectiveDef::new("RLimitNPROC", Take12(rlimit), OR_ALL, "soft/hard limits for max number of processes per uid").implemented(),
    DirectiveDef::new("RegexDefaultOptions", Raw(regex_default_options), RSRC_CONF, "default options for regexes (prefixed by '+' to add, '-' to del)").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("LimitInternalRecursion", Take12(limit_internal_recursion), RSRC_CONF, "maximum recursion depth of internal redirects and subrequests").implemented(),
    DirectiveDef::new("CGIPassAuth", Flag(cgi_pass_auth), OR_AUTHCFG, "Controls whether HTTP authorization headers, normally hidden, will be passed to scripts").implemented(),
    DirectiveDef::new("CGIVar", Take2(cgi_var), OR_FILEINFO, "Controls how some CGI variables are set").implemented(),
    DirectiveDef::new("QualifyRedirectURL", Flag(accept_flag), OR_FILEINFO, "Controls whether the REDIRECT_URL environment variable is fully qualified").inert("sets variables for CGI and FastCGI programs; no module in the set runs any"),
    DirectiveDef::new("StrictHostCheck", Flag(server_flag), RSRC_CONF, "Controls whether a hostname match is required").implemented(),
    DirectiveDef::new("ForceType", Take1(force_type), OR_FILEINFO, "a mime type that overrides other configured type").implemented(),
    DirectiveDef::new("SetHandler", Take1(set_handler), OR_FILEINFO, "a handler name that overrides any other configured handler").implemented(),
    DirectiveDef::new("SetOutputFilter", Take1(set_filters), OR_FILEINFO, "filter (or ; delimited list of filters) to be run on the request content").implemented(),
    DirectiveDef::new("SetInputFilter", Take1(set_filters), OR_FILEINFO, "filter (or ; delimited list of filters) to be run on the request body").implemented(),
    DirectiveDef::new("AllowEncodedSlashes", Take1(allow_encoded_slashes), RSRC_CONF, "Allow URLs containing '/' encoded as '%2F'").implemented(),
    DirectiveDef::new("ScoreBoardFile", Take1(scoreboard_file), RSRC_CONF, "A file for Apache to maintain runtime process management information").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ExtendedStatus", Flag(server_flag), RSRC_CONF, "\"On\" to track extended status information, \"Off\" to disable").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SeeRequestTail", Flag(server_flag), RSRC_CONF, "For extended status, \"On\" to see the last 63 chars of the request line, \"Off\" (default) to see the first 63").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("PidFile", Take1(pid_file), RSRC_CONF, "A file for logging the server process ID").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MaxRequestsPerChild", Take1(max_connections_per_child), RSRC_CONF, "Maximum number of connections a particular child serves before dying. (DEPRECATED, use MaxConnectionsPerChild)").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MaxConnectionsPerChild", Take1(max_connections_per_child), RSRC_CONF, "Maximum number of connections a particular child serves before dying.").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("CoreDumpDirectory", Take1(core_dump_directory), RSRC_CONF, "The location of the directory Apache changes to before dumping core").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MaxMemFree", Take1(max_mem_free), RSRC_CONF, "Maximum number of 1k blocks a particular child's allocator may hold.").forbid(GLOBAL_ONLY).inert("tunes the APR allocator's free lists; rhttpd allocates without APR pools"),
    DirectiveDef::new("ThreadStackSize", Take1(thread_stack_size), RSRC_CONF, "Size in bytes of stack used by threads handling client connections").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("TraceEnable", Take1(trace_enable), RSRC_CONF, "'on' (default), 'off' or 'extended' to trace request body content").implemented(),
    DirectiveDef::new("MergeTrailers", Flag(server_flag), RSRC_CONF, "merge request trailers into request headers or not").implemented(),
    DirectiveDef::new("Protocols", Iterate(protocols), RSRC_CONF, "Controls which protocols are allowed").forbid(NOT_IN_DIR_CONTEXT).implemented(),
    DirectiveDef::new("ProtocolsHonorOrder", Take1(protocols_honor_order), RSRC_CONF, "'off' (default) or 'on' to respect given order of protocols, by default the client specified order determines selection").forbid(NOT_IN_DIR_CONTEXT).inert("orders protocols that mod_http2 and mod_ssl add; HTTP/1.1 is the only one in the set"),
    DirectiveDef::new("HttpProtocolOptions", Iterate(http_protocol_options), RSRC_CONF, "'Allow0.9' or 'Require1.0' (default); 'RegisteredMethods' or 'LenientMethods' (default); 'Unsafe' or 'Strict' (default). Sets HTTP acceptance rules").implemented(),
    DirectiveDef::new("RegisterHttpMethod", Iterate(register_http_method), RSRC_CONF, "Registers non-standard HTTP methods").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MergeSlashes", Flag(server_flag), RSRC_CONF, "Controls whether consecutive slashes in the URI path are merged").implemented(),
];

/// The argument of a section opener up to its last `>`, or Apache's error for a missing one.
pub fn section_arg<'a>(cmd: &Cmd, raw: &'a str) -> Result<&'a str, String> {
    match raw.rfind('>') {
        Some(end) => Ok(&raw[..end]),
        None => Err(format!("{}> directive missing closing '>'", cmd.name())),
    }
}

/// `<AuthnProviderAlias base alias>` and `<AuthzProviderAlias base alias args>`: the base
/// provider, the alias's name, and the words after them.
pub fn provider_alias_names<'a>(
    cmd: &Cmd,
    raw: &'a str,
) -> Result<(String, String, &'a str), String> {
    let mut arg = section_arg(cmd, raw)?;
    let base = crate::set::next_word(&mut arg);
    let alias = crate::set::next_word(&mut arg);
    if alias.is_empty() {
        return Err(missing_container_arg(cmd));
    }
    Ok((base, alias, arg))
}

pub(crate) fn missing_container_arg(cmd: &Cmd) -> String {
    format!("{}> directive requires additional arguments", cmd.name())
}

fn multiple_args(cmd: &Cmd, yet: bool) -> String {
    format!(
        "Multiple {}> arguments not {}supported.",
        cmd.name(),
        if yet { "(yet) " } else { "" }
    )
}

/// A section's pattern, compiled as its runtime compiles it.
fn compile_regex(pattern: &str) -> Result<(), String> {
    crate::regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|_| "Regex could not be compiled".to_string())
}

/// `apr_filepath_merge(TRUENAME)` of a `<Directory>` path: absolute, `.`/`..` resolved,
/// repeated slashes folded, with a trailing `/`.
fn canonical_dir(path: &str) -> String {
    let absolute = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in absolute.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!(
        "/{}{}",
        parts.join("/"),
        if parts.is_empty() { "" } else { "/" }
    )
}

fn new_section(cmd: &Cmd, kind: SectionKind, pattern: String, regex: bool) -> Section {
    Section {
        kind,
        pattern,
        regex,
        regex_flags: crate::regex_defaults::get(),
        origin: cmd.origin(),
        dir: DirConf::default(),
        nested: Vec::new(),
    }
}

/// The pattern of a path section: its first word, or the word after `~` (a regex), compiled
/// when it is one; also what followed it (Apache refuses a second argument after the body).
fn section_pattern<'a>(
    cmd: &Cmd,
    raw: &'a str,
    is_match: bool,
    tilde: bool,
) -> Result<(String, bool, &'a str), String> {
    let mut arg = section_arg(cmd, raw)?;
    if arg.is_empty() {
        return Err(missing_container_arg(cmd));
    }
    let mut pattern = next_word(&mut arg);
    let mut regex = is_match;
    if tilde && pattern == "~" {
        pattern = next_word(&mut arg);
        regex = true;
    }
    if regex {
        compile_regex(&pattern)?;
    }
    Ok((pattern, regex, arg))
}

/// Walks a path section's body in its scope, then refuses extra arguments as Apache does.
fn walk_path_section(
    cmd: &mut Cmd,
    kind: SectionKind,
    pattern: String,
    regex: bool,
    scope: SectionScope,
    rest: &str,
) -> SetResult {
    let section = new_section(cmd, kind, pattern, regex);
    walk_section(cmd, section, scope)?;
    if !rest.is_empty() {
        return Err(multiple_args(cmd, true));
    }
    Ok(())
}

/// mod_proxy's `<Proxy url>` and `<ProxyMatch regex>`: refused inside any directory context,
/// the URL (a leading `proxy:` dropped) walked as the section's path with the `<Location>`
/// overrides plus PROXY_CONF. Gives the URL and the words after it (worker parameters, which
/// mod_proxy reads once the body is walked).
pub fn proxy_section<'a>(
    cmd: &mut Cmd,
    raw: &'a str,
    is_match: bool,
) -> Result<(String, &'a str), String> {
    cmd.check_context(crate::context::NOT_IN_DIR_CONTEXT)?;
    let mut arg = section_arg(cmd, raw)?;
    let mut path = next_word(&mut arg);
    if path.len() >= 6 && path[..6].eq_ignore_ascii_case("proxy:") {
        path = path[6..].to_string();
    }
    if is_match {
        compile_regex(&path)?;
    }
    let kind = if is_match {
        SectionKind::ProxyMatch
    } else {
        SectionKind::Proxy
    };
    let scope = SectionScope {
        override_bits: SECTION_OVERRIDE | crate::context::PROXY_CONF,
        path: Some(path.clone()),
        limited: false,
    };
    let section = new_section(cmd, kind, path.clone(), is_match);
    walk_section(cmd, section, scope)?;
    Ok((path, arg))
}

fn directory_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let is_match = cmd.name() == "<DirectoryMatch";
    let (mut path, regex, rest) = section_pattern(cmd, raw, is_match, !is_match)?;
    if !regex && path != "/" {
        path = canonical_dir(&path);
    }
    let kind = if is_match {
        SectionKind::DirectoryMatch
    } else {
        SectionKind::Directory
    };
    let scope = SectionScope {
        override_bits: SECTION_OVERRIDE,
        path: Some(path.clone()),
        limited: false,
    };
    walk_path_section(cmd, kind, path, regex, scope, rest)
}

fn location_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let is_match = cmd.name() == "<LocationMatch";
    let (path, regex, rest) = section_pattern(cmd, raw, is_match, true)?;
    let kind = if is_match {
        SectionKind::LocationMatch
    } else {
        SectionKind::Location
    };
    let scope = SectionScope {
        override_bits: SECTION_OVERRIDE,
        path: Some(path.clone()),
        limited: false,
    };
    walk_path_section(cmd, kind, path, regex, scope, rest)
}

fn files_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let is_match = cmd.name() == "<FilesMatch";
    let (path, regex, rest) = section_pattern(cmd, raw, is_match, !is_match)?;
    // Inside a per-directory section the override set is inherited, not widened.
    let override_bits = if cmd.path.is_none() {
        SECTION_OVERRIDE
    } else {
        cmd.override_bits
    };
    let kind = if is_match {
        SectionKind::FilesMatch
    } else {
        SectionKind::Files
    };
    let scope = SectionScope {
        override_bits,
        path: Some(path.clone()),
        limited: cmd.limited,
    };
    walk_path_section(cmd, kind, path, regex, scope, rest)
}

/// `apr_strtoff` in base 10: the whole word a number within `range`.
fn whole_number(arg: &str, range: std::ops::RangeInclusive<i64>) -> bool {
    matches!(strtoll(arg), Some((n, rest)) if rest.is_empty() && range.contains(&n))
}

/// ReadBufferSize, FlushMaxThreshold: a size in bytes that fits 32 bits.
fn buffer_size(_cmd: &mut Cmd, arg: &str) -> SetResult {
    if !whole_number(arg, 0..=i64::from(u32::MAX)) {
        return Err(format!(
            "parameter must be a number between 0 and (4294967295U)): {arg}"
        ));
    }
    Ok(())
}

/// FlushMaxPipelined: -1 (no limit) up to a 32-bit count.
fn flush_max_pipelined(_cmd: &mut Cmd, arg: &str) -> SetResult {
    if !whole_number(arg, -1..=i64::from(i32::MAX)) {
        return Err(format!(
            "parameter must be a number between -1 and (2147483647): {arg}"
        ));
    }
    Ok(())
}

/// UseCanonicalPhysicalPort: `on` or `off`, any case.
fn on_off_word(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !arg.eq_ignore_ascii_case("on") && !arg.eq_ignore_ascii_case("off") {
        return Err("parameter must be 'on' or 'off'".into());
    }
    cmd.dir_config::<CoreDir>().physical_port = Some(arg.eq_ignore_ascii_case("on"));
    Ok(())
}

/// RegexDefaultOptions: `None`, or options set (a bare name replaces them all), added (`+`) or
/// removed (`-`), in order; the regexes of the rest of the configuration compile with them.
fn regex_default_options(cmd: &mut Cmd, raw: &str) -> SetResult {
    use crate::regex_defaults;
    let mut flags = regex_defaults::get();
    let mut rest = raw;
    loop {
        let word = next_word(&mut rest);
        if word.is_empty() {
            break;
        }
        if word.eq_ignore_ascii_case("none") {
            flags = 0;
            continue;
        }
        let (how, name) = match word.as_bytes()[0] {
            b'+' => (1, &word[1..]),
            b'-' => (-1, &word[1..]),
            _ => (0, &word[..]),
        };
        let Some(flag) = regex_defaults::by_name(name) else {
            return Err(format!("{}: option '{name}' unknown", cmd.name()));
        };
        flags = match how {
            1 => flags | flag,
            -1 => flags & !flag,
            _ => flag,
        };
    }
    regex_defaults::set(flags);
    Ok(())
}

/// `Error "message"`: reading the configuration stops here with the message (its quotes
/// stripped when they match).
fn error_directive(_cmd: &mut Cmd, raw: &str) -> SetResult {
    let arg = raw.trim();
    if arg.is_empty() {
        return Err("The Error directive was used with no message.".into());
    }
    let quoted = arg.len() >= 2
        && (arg.starts_with('"') || arg.starts_with('\''))
        && arg.ends_with(&arg[..1]);
    Err(if quoted {
        arg[1..arg.len() - 1].to_string()
    } else {
        arg.to_string()
    })
}

fn if_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let kind = match cmd.name() {
        "<If" => SectionKind::If,
        "<ElseIf" => SectionKind::ElseIf,
        _ => SectionKind::Else,
    };
    let mut arg = section_arg(cmd, raw)?;
    let condition = if kind == SectionKind::Else {
        if !arg.is_empty() {
            return Err("<Else> does not take an argument".into());
        }
        String::new()
    } else {
        if arg.is_empty() {
            return Err(missing_container_arg(cmd));
        }
        let condition = next_word(&mut arg);
        cmd.parse_expr(&condition)
            .map_err(|err| format!("Cannot parse condition clause: {err}"))?;
        condition
    };
    let override_bits = if cmd.path.is_none() {
        SECTION_OVERRIDE
    } else {
        cmd.override_bits
    };
    let section = new_section(cmd, kind, condition, false);
    // Apache checks the chain when it files the section, after walking its body.
    let chain_ok = kind == SectionKind::If || {
        let siblings = match cmd.open_sections.last() {
            Some(parent) => &parent.nested,
            None => &cmd.cfg.servers[cmd.server].sections,
        };
        siblings
            .last()
            .is_some_and(|s| matches!(s.kind, SectionKind::If | SectionKind::ElseIf))
    };
    walk_section(
        cmd,
        section,
        SectionScope {
            override_bits,
            path: Some("*If".into()),
            limited: false,
        },
    )?;
    if !chain_ok {
        return Err(
            "<Else> or <ElseIf> section without previous <If> or <ElseIf> section in same scope"
                .into(),
        );
    }
    if !arg.is_empty() {
        return Err(multiple_args(cmd, false));
    }
    Ok(())
}

/// The methods Apache knows by number; others are registered on first use.
pub const KNOWN_METHODS: &[&str] = &[
    "GET",
    "PUT",
    "POST",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "VERSION-CONTROL",
    "CHECKOUT",
    "UNCHECKOUT",
    "CHECKIN",
    "UPDATE",
    "LABEL",
    "REPORT",
    "MKWORKSPACE",
    "MKACTIVITY",
    "BASELINE-CONTROL",
    "MERGE",
];

/// RegisterHttpMethod: each method joins the registry (and is stored for `-S`-style reports).
fn register_http_method(_cmd: &mut Cmd, method: &str) -> SetResult {
    crate::methods::register(method);
    Ok(())
}

fn limit_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let except = cmd.name() == "<LimitExcept";
    let mut methods = section_arg(cmd, raw)?;
    if methods.is_empty() {
        return Err(missing_container_arg(cmd));
    }
    let mut limited: u128 = 0;
    while !methods.is_empty() {
        let method = next_word(&mut methods);
        // A method Apache does not know is registered, so that requests can be limited by it
        // (not from .htaccess: the registry is the server's).
        if crate::methods::number(&method).is_none() {
            if cmd.htaccess {
                return Err(format!(
                    "Could not register method '{method}' for {} from .htaccess configuration",
                    cmd.name()
                ));
            }
            crate::methods::register(&method);
        }
        if method == "TRACE" && !except {
            return Err("TRACE cannot be controlled by <Limit>, see TraceEnable".into());
        }
        limited |= crate::methods::bit(&method);
    }
    let limited = if except { !limited } else { limited };
    let old = cmd.limit_mask;
    if old & limited == 0 {
        return Err(format!("{}> directive excludes all methods", cmd.name()));
    }
    if old & limited == old {
        return Err(format!(
            "{}> directive specifies methods already excluded",
            cmd.name()
        ));
    }
    cmd.limit_mask = old & limited;
    let result = walk_in_place(cmd, true);
    cmd.limit_mask = old;
    result
}

/// `<VirtualHost addr[:port] ...>`: a new server whose body is walked in its own context.
fn virtual_host_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut arg = section_arg(cmd, raw)?;
    if arg.is_empty() {
        return Err(missing_container_arg(cmd));
    }
    let mut addrs = Vec::new();
    while !arg.is_empty() {
        let word = next_word(&mut arg);
        if word.is_empty() {
            break;
        }
        addrs.push(parse_vhost_addr(&word)?);
    }
    let server = Server {
        is_virtual: true,
        addrs,
        origin: Some(cmd.origin()),
        ..Server::default()
    };
    walk_virtual_host(cmd, server)
}

/// One `<VirtualHost>` address: `*`, `_default_`, an IPv4 address, `[IPv6]` or a host name,
/// each with an optional `:port` or `:*`.
fn parse_vhost_addr(word: &str) -> Result<VhostAddr, String> {
    let (host, port) = if let Some(rest) = word.strip_prefix('[') {
        match rest.find(']') {
            Some(end) => {
                let after = &rest[end + 1..];
                (format!("[{}]", &rest[..end]), after.strip_prefix(':'))
            }
            None => return Err(format!("Could not resolve host name {word} -- ignoring!")),
        }
    } else {
        match word.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            _ => (word.to_string(), None),
        }
    };
    // A trailing `*` (`host:*`, or `*` alone) is any port; an address without a port takes
    // the default (the main server's) later.
    let port = match port {
        Some("*") => Some(0),
        None if host == "*" => Some(0),
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => return Err(format!("The address or port is invalid: {word}")),
        },
    };
    Ok(VhostAddr { host, port })
}

/// AllowOverrideList: `None` alone, or directives a `.htaccess` file may use beyond
/// AllowOverride (unknown ones and those no `.htaccess` could hold are dropped with a warning).
fn allow_override_list(cmd: &mut Cmd, argv: &[String]) -> SetResult {
    let origin = cmd.origin();
    let at = format!("{}:{}", origin.file, origin.line);
    if cmd.parents.last().is_some_and(|p| {
        matches!(
            *p,
            "<Location" | "<LocationMatch" | "<Files" | "<FilesMatch"
        )
    }) {
        warn_logged(
            cmd,
            format!("AH00115: Useless use of AllowOverrideList at {at}"),
        );
    }
    for name in argv {
        if name.eq_ignore_ascii_case("None") {
            if argv.len() != 1 {
                return Err("'None' not allowed with other directives in AllowOverrideList".into());
            }
            continue;
        }
        match crate::lookup::find_loaded(&cmd.cfg.read.modules, name) {
            None => warn_logged(
                cmd,
                format!("AH00116: Discarding unrecognized directive `{name}' in AllowOverrideList at {at}"),
            ),
            Some(def) if def.req_override & (OR_ALL | ACCESS_CONF) == 0 => warn_logged(
                cmd,
                format!("AH02304: Discarding directive `{name}' not allowed in AllowOverrideList at {at}"),
            ),
            Some(_) => {}
        }
    }
    // What `.htaccess` files may use: the directives a per-directory context could hold,
    // looked up in the whole registry (the warnings above name those the loaded modules
    // do not know).
    let list = argv
        .iter()
        .filter(|w| !w.eq_ignore_ascii_case("none"))
        .filter(|w| {
            crate::lookup::find_any(w)
                .is_some_and(|(_, def)| def.req_override & (OR_ALL | ACCESS_CONF) != 0)
        })
        .cloned()
        .collect();
    cmd.dir_config::<CoreDir>().override_list = Some(list);
    Ok(())
}

/// A startup warning Apache prints bare (`AHnnnnn: ...`).
fn warn(cmd: &mut Cmd, text: String) {
    cmd.cfg.warnings.push(Warning {
        module: "core",
        level: "warn",
        startup: true,
        text,
    });
}

/// A warning Apache logs with the full error-log prefix (time, module, pid).
fn warn_logged(cmd: &mut Cmd, text: String) {
    cmd.log_warning("core", text);
}

fn document_root(cmd: &mut Cmd, arg: &str) -> SetResult {
    let path = crate::model::canonical_path(&cmd.cfg.read.server_root_relative(arg));
    if !cmd.cfg.is_dir_cached(&path) {
        if cmd.cfg.servers[cmd.server].is_virtual {
            warn(
                cmd,
                format!(
                    "AH00112: Warning: DocumentRoot [{}] does not exist",
                    path.display()
                ),
            );
        } else if !cmd.cfg.skip_document_root_check {
            return Err(format!(
                "DocumentRoot '{}' is not a directory, or is not readable",
                path.display()
            ));
        }
    }
    cmd.server().document_root = Some(path);
    Ok(())
}

fn server_name(cmd: &mut Cmd, arg: &str) -> SetResult {
    if crate::util::fnmatch::fnmatch_test(arg.as_bytes()) {
        return Err(format!(
            "Invalid ServerName \"{arg}\" use ServerAlias to set multiple server names."
        ));
    }
    let (scheme, rest) = match arg.find("://") {
        Some(at) => (Some(arg[..at].to_ascii_lowercase()), &arg[at + 3..]),
        None => (None, arg),
    };
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => {
            let n = atoi(port);
            if !(1..65536).contains(&n) {
                return Err(format!(
                    "The port number \"{arg}\" is outside the appropriate range (i.e., 1..65535)."
                ));
            }
            (host, Some(n as u16))
        }
        None => (rest, None),
    };
    let server = cmd.server();
    server.server_name = Some(host.to_string());
    server.server_port = port;
    server.server_scheme = scheme;
    Ok(())
}

fn server_alias(cmd: &mut Cmd, raw: &str) -> SetResult {
    if !cmd.cfg.servers[cmd.server].is_virtual {
        return Err("ServerAlias only used in <VirtualHost>".into());
    }
    for name in rhttpd_parser::split_words(raw) {
        let server = cmd.server();
        if name.contains(['*', '?']) {
            server.wild_aliases.push(name);
        } else {
            server.aliases.push(name);
        }
    }
    Ok(())
}

fn server_admin(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server().server_admin = Some(arg.to_string());
    Ok(())
}

fn error_log(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server().error_log = Some(arg.to_string());
    Ok(())
}

fn timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server().timeout = Some(atoi(arg).max(0) as u64);
    Ok(())
}

fn access_file_name(cmd: &mut Cmd, raw: &str) -> SetResult {
    cmd.server().access_file_names = Some(rhttpd_parser::split_words(raw));
    Ok(())
}

fn name_virtual_host(cmd: &mut Cmd, _arg: &str) -> SetResult {
    let origin = cmd.origin();
    warn(
        cmd,
        format!(
            "AH00548: NameVirtualHost has no effect and will be removed in the next release {}:{}",
            origin.file, origin.line
        ),
    );
    Ok(())
}

fn default_type(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !arg.eq_ignore_ascii_case("none") && !arg.eq_ignore_ascii_case("off") {
        let origin = cmd.origin();
        warn_logged(
            cmd,
            format!(
                "AH00117: Ignoring deprecated use of DefaultType in line {} of {}.",
                origin.line, origin.file
            ),
        );
    }
    Ok(())
}

/// One of a fixed set of keywords (any case), stored raw; `message` is Apache's error.
fn keyword(_cmd: &mut Cmd, arg: &str, allowed: &[&str], message: &str) -> SetResult {
    check_keyword(arg, allowed, message)?;
    Ok(())
}

/// Whether `arg` is one of `allowed` (any case); `message` is Apache's error.
fn check_keyword(arg: &str, allowed: &[&str], message: &str) -> SetResult {
    if !allowed.iter().any(|k| k.eq_ignore_ascii_case(arg)) {
        return Err(message.to_string());
    }
    Ok(())
}

fn server_tokens(cmd: &mut Cmd, arg: &str) -> SetResult {
    const ALLOWED: &[&str] = &[
        "Prod",
        "ProductOnly",
        "Major",
        "Minor",
        "Min",
        "Minimal",
        "OS",
        "Full",
    ];
    if !ALLOWED.iter().any(|k| k.eq_ignore_ascii_case(arg)) {
        return Err(
            "ServerTokens takes 1 argument: 'Prod(uctOnly)', 'Major', 'Minor', 'Min(imal)', 'OS', or 'Full'".into()
        );
    }
    cmd.cfg.server_tokens = Some(arg.to_string());
    Ok(())
}

fn hostname_lookups(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_keyword(
        arg,
        &["on", "off", "double"],
        "parameter must be 'on', 'off', or 'double'",
    )?;
    cmd.dir_config::<CoreDir>().hostname_lookups = Some(arg.to_ascii_lowercase());
    Ok(())
}

fn use_canonical_name(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_keyword(
        arg,
        &["on", "off", "dns"],
        "parameter must be 'on', 'off', or 'dns'",
    )?;
    cmd.dir_config::<CoreDir>().use_canonical_name = Some(arg.to_ascii_lowercase());
    Ok(())
}

fn server_signature(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_keyword(
        arg,
        &["on", "off", "email"],
        "ServerSignature: use one of: off | on | email",
    )?;
    cmd.dir_config::<CoreDir>().server_signature = Some(arg.to_ascii_lowercase());
    Ok(())
}

fn add_default_charset(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<CoreDir>().add_default_charset = Some(arg.to_string());
    Ok(())
}

fn content_digest(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<CoreDir>().content_digest = Some(on);
    Ok(())
}

/// ForceType: the type as written.
fn force_type(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<CoreDir>().force_type = Some(arg.to_string());
    Ok(())
}

/// SetHandler: handler names compare in lower case, except a `proxy:unix...` one, whose
/// socket path is a file name (Apache keeps it as written).
fn set_handler(cmd: &mut Cmd, arg: &str) -> SetResult {
    let handler = if arg.starts_with("proxy:unix") {
        arg.to_string()
    } else {
        arg.to_ascii_lowercase()
    };
    cmd.dir_config::<CoreDir>().set_handler = Some(handler);
    Ok(())
}

/// SetOutputFilter and SetInputFilter: the `;`-separated names as written.
fn set_filters(cmd: &mut Cmd, arg: &str) -> SetResult {
    let output = cmd.def.name == "SetOutputFilter";
    let core = cmd.dir_config::<CoreDir>();
    let slot = if output {
        &mut core.output_filters
    } else {
        &mut core.input_filters
    };
    *slot = Some(arg.to_string());
    Ok(())
}

fn limit_request_body(cmd: &mut Cmd, arg: &str) -> SetResult {
    match strtoll(arg) {
        None => Err("LimitRequestBody argument is not parsable.".into()),
        Some((n, rest)) if !rest.is_empty() || n < 0 => {
            Err("LimitRequestBody requires a non-negative integer.".into())
        }
        Some(_) => {
            cmd.dir_config::<CoreDir>().limit_request_body = arg.parse().ok();
            Ok(())
        }
    }
}

fn file_etag(cmd: &mut Cmd, raw: &str) -> SetResult {
    let words = rhttpd_parser::split_words(raw);
    cmd.dir_config::<CoreDir>().file_etag.apply_line(&words)
}

/// The status codes Apache has an index for (`ap_index_of_response`).
fn known_status(code: i64) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=308 | 400..=418 | 421..=424 | 426 | 428 | 429 | 431 | 451
        | 500..=508 | 510 | 511)
}

fn error_document(cmd: &mut Cmd, code: &str, action: &str) -> SetResult {
    let number = atoi(code);
    if !known_status(number) {
        return Err(format!("Unsupported HTTP response code {code}"));
    }
    // A full URL cannot answer a 401 (the client would never see the challenge): Apache
    // leaves the line out, saying so.
    let remote = !action.contains(' ') && !action.starts_with('/') && is_url(action);
    if number == 401 && remote {
        let origin = cmd.origin();
        let text = format!(
            "AH00113: {}:{} cannot use a full URL in a 401 ErrorDocument directive --- ignoring!",
            origin.file, origin.line
        );
        cmd.log_at("core", "notice", text);
        return Ok(());
    }
    // The document is a string expression (a message with Apache's leading quote).
    if !action.eq_ignore_ascii_case("default") {
        let response = if action.contains(' ') || !(action.starts_with('/') || remote) {
            format!("\"{action}")
        } else {
            action.to_string()
        };
        if let Err(err) = cmd.parse_string_expr(&response) {
            return Err(format!("Cannot parse expression in ErrorDocument: {err}"));
        }
    }
    // A later line for the same status replaces an earlier one.
    let status = number as u16;
    let action = crate::core_config::classify_error_document(action);
    let documents = &mut cmd.dir_config::<CoreDir>().error_documents;
    documents.retain(|(c, _)| *c != status);
    documents.push((status, action));
    Ok(())
}

const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

fn log_level(cmd: &mut Cmd, word: &str) -> SetResult {
    const KEYWORD_ERROR: &str =
        "Log level keyword must be one of emerg/alert/crit/error/warn/notice/info/debug/trace1/.../trace8";
    match word.split_once(':') {
        None => {
            if !LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word)) {
                return Err(KEYWORD_ERROR.into());
            }
        }
        Some((module, level)) => {
            if level.is_empty() {
                return Err(format!(
                    "Module specifier '{module}' must be followed by a log level keyword"
                ));
            }
            if !LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
                return Err(format!("{module}:{level}: {KEYWORD_ERROR}"));
            }
            let known = cmd.cfg.read.modules.iter().any(|m| {
                let short = m.id.trim_end_matches("_module");
                module == short || module == m.id || module == m.source
            }) || module == "core"
                || module == "http";
            if !known {
                return Err(format!("Cannot find module {module}"));
            }
        }
    }
    // Words accumulate in order, across lines and sections (a bare level resets the
    // per-module ones when the log reads them).
    cmd.dir_config::<CoreDir>().log_level.push(word.to_string());
    Ok(())
}

/// ErrorLogFormat: the main format, or a `connection`/`request` one, checked as Apache checks.
fn error_log_format(cmd: &mut Cmd, first: &str, second: Option<&str>) -> SetResult {
    match second {
        None => {
            let parsed = crate::errorlog_format::parse(first, true)?;
            cmd.server_config::<CoreServer>().error_log_format = Some(parsed);
        }
        Some(format) => {
            if !first.eq_ignore_ascii_case("connection") && !first.eq_ignore_ascii_case("request") {
                return Err("ErrorLogFormat type must be one of request, connection".into());
            }
            if !format.is_empty() {
                crate::errorlog_format::parse(format, false)?;
                let kind = first.to_string();
                cmd.server_config::<CoreServer>()
                    .error_log_format_kinds
                    .push(kind);
            }
        }
    }
    Ok(())
}

/// `Options`: one absolute list, or `+`/`-` adjustments, never both.
fn options(cmd: &mut Cmd, raw: &str) -> SetResult {
    use crate::model::opt;
    // `Options` alone changes nothing (Apache's loop over the words never runs).
    if raw.trim().is_empty() {
        return Ok(());
    }
    let mut result = Options::default();
    let mut first = true;
    let mut saw_signed = false;
    let mut saw_plain = false;
    let mut rest = raw;
    // Words until the line ends (an empty quoted word is a word, and an illegal option).
    while !rest.trim_start().is_empty() {
        let word = next_word(&mut rest);
        let (action, name) = match word.as_bytes().first() {
            Some(b'+') => (Some('+'), &word[1..]),
            Some(b'-') => (Some('-'), &word[1..]),
            _ => (None, word.as_str()),
        };
        if action.is_some() {
            saw_signed = true;
        } else {
            saw_plain = true;
        }
        if saw_signed && saw_plain {
            return Err("Either all Options must start with + or -, or no Option may.".into());
        }
        let bits = match name.to_ascii_lowercase().as_str() {
            "indexes" => opt::INDEXES,
            "includes" => opt::INCLUDES | opt::INC_WITH_EXEC,
            "includesnoexec" => opt::INCLUDES,
            "followsymlinks" => opt::SYM_LINKS,
            "symlinksifownermatch" => opt::SYM_OWNER,
            "execcgi" => opt::EXECCGI,
            "multiviews" => opt::MULTI,
            "runscripts" => opt::MULTI | opt::EXECCGI,
            "none" => {
                if action.is_some() {
                    return Err("You may not use 'Options +None' or 'Options -None'.".into());
                }
                if !first {
                    return Err("'Options None' must be the first Option given.".into());
                }
                opt::NONE
            }
            "all" => {
                if action.is_some() {
                    return Err("You may not use 'Options +All' or 'Options -All'.".into());
                }
                if !first {
                    return Err("'Options All' must be the first option given.".into());
                }
                opt::ALL
            }
            _ => return Err(format!("Illegal option {name}")),
        };
        match action {
            Some('+') => result.add |= bits,
            Some(_) => result.remove |= bits,
            None => result.set |= bits,
        }
        first = false;
    }
    result.relative = saw_signed;
    cmd.dir().options = Some(result);
    Ok(())
}

/// `AllowOverride`: which `.htaccess` directive classes a directory permits.
fn allow_override(cmd: &mut Cmd, raw: &str) -> SetResult {
    if cmd.check_context(NOT_IN_LOCATION | NOT_IN_FILES).is_err() {
        let origin = cmd.origin();
        warn_logged(
            cmd,
            format!(
                "AH00114: Useless use of AllowOverride in line {} of {}.",
                origin.line, origin.file
            ),
        );
    }
    let mut bits = OR_NONE;
    let mut opts = None;
    let mut rest = raw;
    loop {
        let word = next_word(&mut rest);
        if word.is_empty() {
            break;
        }
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word.as_str(), None),
        };
        match key.to_ascii_lowercase().as_str() {
            "limit" => bits |= OR_LIMIT,
            "options" => {
                bits |= OR_OPTIONS;
                opts = Some(match value {
                    Some(list) => allowed_options(list)?,
                    None => crate::model::opt::ALL,
                });
            }
            "fileinfo" => bits |= OR_FILEINFO,
            "authconfig" => bits |= OR_AUTHCFG,
            "indexes" => bits |= OR_INDEXES,
            "nonfatal" => match value.map(str::to_ascii_lowercase).as_deref() {
                None => return Err(format!("=Override, =Unknown or =All expected after {key}")),
                Some("override") => bits |= NONFATAL_OVERRIDE,
                Some("unknown") => bits |= NONFATAL_UNKNOWN,
                Some("all") => bits |= NONFATAL_ALL,
                Some(_) => {}
            },
            "none" => bits = OR_NONE,
            "all" => bits = OR_ALL,
            _ => return Err(format!("Illegal override option {key}")),
        }
    }
    let dir = cmd.dir();
    dir.allow_override = Some(bits);
    if opts.is_some() {
        dir.allow_override_opts = opts;
    }
    Ok(())
}

/// The `Options=...` list of `AllowOverride` (comma separated option names).
fn allowed_options(list: &str) -> Result<u32, String> {
    use crate::model::opt;
    let mut bits = 0;
    for name in list.split(',').filter(|n| !n.is_empty()) {
        bits |= match name.to_ascii_lowercase().as_str() {
            "indexes" => opt::INDEXES,
            "includes" => opt::INCLUDES | opt::INC_WITH_EXEC,
            "includesnoexec" => opt::INCLUDES,
            "followsymlinks" => opt::SYM_LINKS,
            "symlinksifownermatch" => opt::SYM_OWNER,
            "execcgi" => opt::EXECCGI,
            "multiviews" => opt::MULTI,
            "all" => opt::ALL,
            "none" => opt::NONE,
            _ => return Err(format!("Illegal option {name}")),
        };
    }
    Ok(bits)
}

fn mutex(cmd: &mut Cmd, raw: &str) -> SetResult {
    const MECHANISMS: &str = "(Mutex mechanisms are: 'none', 'default', 'flock:/path/to/file', 'fcntl:/path/to/file', 'file:/path/to/file', 'pthread', 'sysvsem', 'posixsem', 'sem')";
    let mut words = rhttpd_parser::split_words(raw).into_iter();
    let Some(mechdir) = words.next() else {
        return Err(format!(
            "Mutex requires at least a mechanism argument {MECHANISMS}"
        ));
    };
    let mechanism = mechdir.split(':').next().unwrap_or("").to_ascii_lowercase();
    if ![
        "none", "default", "flock", "fcntl", "file", "pthread", "sysvsem", "posixsem", "sem",
    ]
    .contains(&mechanism.as_str())
    {
        return Err(format!("Invalid Mutex argument {mechdir} {MECHANISMS}"));
    }
    let types: Vec<String> = words
        .filter(|w| !w.eq_ignore_ascii_case("omitpid"))
        .collect();
    let types = if types.is_empty() {
        vec!["default".to_string()]
    } else {
        types
    };
    for kind in types {
        cmd.cfg.mutexes.push((kind, mechdir.clone()));
    }
    Ok(())
}

/// Apache's `ap_set_deprecated`: the directive is gone; its help line is the error.
pub(crate) fn deprecated(cmd: &mut Cmd, _arg: &str) -> SetResult {
    Err(cmd.def.help.to_string())
}

/// `ap_set_deprecated` for a RAW_ARGS table entry.
pub fn deprecated_raw(cmd: &mut Cmd, arg: &str) -> SetResult {
    deprecated(cmd, arg)
}

/// EnableMMAP and EnableSendfile: a TAKE1 keyword, not a FLAG.
fn on_off(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_keyword(arg, &["on", "off"], "parameter must be 'on' or 'off'")?;
    let on = Some(arg.eq_ignore_ascii_case("on"));
    let name = cmd.def.name;
    let dir = cmd.dir_config::<CoreDir>();
    match name {
        "EnableSendfile" => dir.enable_sendfile = on,
        _ => dir.enable_mmap = on,
    }
    Ok(())
}

fn accept_path_info(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_keyword(
        arg,
        &["on", "off", "default"],
        "AcceptPathInfo must be set to on, off or default",
    )?;
    cmd.dir_config::<CoreDir>().accept_path_info = Some(arg.to_ascii_lowercase());
    Ok(())
}

fn allow_encoded_slashes(cmd: &mut Cmd, arg: &str) -> SetResult {
    let message = format!("{} must be On, Off, or NoDecode", cmd.name());
    check_keyword(arg, &["on", "off", "nodecode"], &message)?;
    cmd.server_config::<CoreServer>().allow_encoded_slashes = Some(arg.to_ascii_lowercase());
    Ok(())
}

fn trace_enable(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_keyword(
        arg,
        &["on", "off", "extended"],
        "TraceEnable must be one of 'on', 'off', or 'extended'",
    )?;
    cmd.server_config::<CoreServer>().trace_enable = Some(arg.to_ascii_lowercase());
    Ok(())
}

fn protocols_honor_order(cmd: &mut Cmd, arg: &str) -> SetResult {
    keyword(
        cmd,
        arg,
        &["on", "off"],
        "ProtocolsHonorOrder must be 'on' or 'off'",
    )
}

/// LimitRequestLine, LimitRequestFieldsize and LimitRequestFields: an `int` from `atoi`.
fn limit_request_line(cmd: &mut Cmd, arg: &str) -> SetResult {
    if atoi_int(arg) < 0 {
        let tail = if cmd.name() == "LimitRequestFields" {
            " (0 = no limit)"
        } else {
            ""
        };
        return Err(format!(
            "{} \"{arg}\" must be a non-negative integer{tail}",
            cmd.name()
        ));
    }
    let limit = Some(atoi(arg).max(0) as usize);
    let name = cmd.def.name;
    let core = cmd.server_config::<CoreServer>();
    match name {
        "LimitRequestLine" => core.limit_request_line = limit,
        "LimitRequestFieldsize" => core.limit_request_field_size = limit,
        _ => core.limit_request_fields = limit,
    }
    Ok(())
}

fn limit_xml_request_body(cmd: &mut Cmd, arg: &str) -> SetResult {
    // AP_MAX_LIMIT_XML_BODY: SIZE_MAX / 6 - 1 on a 64-bit build.
    const MAX: i64 = (u64::MAX / 6 - 1) as i64;
    let limit = atoi(arg);
    if limit < 0 {
        return Err("LimitXMLRequestBody requires a non-negative integer.".into());
    }
    if limit > MAX {
        return Err(format!("LimitXMLRequestBody must not exceed {MAX}"));
    }
    cmd.dir_config::<CoreDir>().limit_xml_body = Some(limit as u64);
    Ok(())
}

fn limit_internal_recursion(
    cmd: &mut Cmd,
    redirects: &str,
    subrequests: Option<&str>,
) -> SetResult {
    const ZERO: &str = "The recursion limit must be greater than zero.";
    let limit = atoi_int(redirects);
    if limit <= 0 {
        return Err(ZERO.into());
    }
    if limit < 4 {
        warn_logged(
            cmd,
            "AH00119: Limiting internal redirects to very low numbers may cause normal requests to fail.".into(),
        );
    }
    if let Some(subrequests) = subrequests {
        let limit = atoi_int(subrequests);
        if limit <= 0 {
            return Err(ZERO.into());
        }
        if limit < 4 {
            warn_logged(
                cmd,
                "AH00120: Limiting the subrequest depth to a very low level may cause normal requests to fail.".into(),
            );
        }
    }
    let redirect_limit = atoi(redirects).max(0) as u32;
    let nesting = subrequests.map_or(redirect_limit, |w| atoi(w).max(0) as u32);
    cmd.server_config::<CoreServer>().limit_internal_recursion = Some((redirect_limit, nesting));
    Ok(())
}

/// MaxRanges, MaxRangeOverlaps and MaxRangeReversals.
fn max_ranges(cmd: &mut Cmd, arg: &str) -> SetResult {
    let keyword = ["none", "default", "unlimited"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg));
    if !keyword && atoi_int(arg) <= 0 {
        return Err(format!(
            "{} requires 'none', 'default', 'unlimited' or a positive integer",
            cmd.name()
        ));
    }
    let slot = match cmd.name() {
        "MaxRanges" => 0,
        "MaxRangeOverlaps" => 1,
        _ => 2,
    };
    cmd.dir_config::<CoreDir>().range_limits[slot] = Some(RangeLimit::parse(arg));
    Ok(())
}

fn cgi_var(cmd: &mut Cmd, var: &str, rule: &str) -> SetResult {
    if var != "REQUEST_URI" {
        return Err(format!("Unrecognized CGI variable: \"{var}\""));
    }
    let rule = rule.to_ascii_lowercase();
    if rule != "current-uri" && rule != "original-uri" {
        return Err("Valid rules for REQUEST_URI are 'current-uri' and 'original-uri'".into());
    }
    cmd.dir_config::<CoreDir>().cgi_current_uri = Some(rule == "current-uri");
    Ok(())
}

/// RLimitCPU, RLimitMEM, RLimitNPROC: the soft limit (`max` for the hard one) and an
/// optional hard limit, numbers read as `atol` reads them, for the programs the server starts.
fn rlimit(cmd: &mut Cmd, soft: &str, hard: Option<&str>) -> SetResult {
    let atol = |text: &str| -> u64 {
        let digits: String = text
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().unwrap_or(0)
    };
    let slot = match cmd.name() {
        "RLimitCPU" => 0,
        "RLimitMEM" => 1,
        _ => 2,
    };
    let soft = (!soft.eq_ignore_ascii_case("max")).then(|| atol(soft));
    cmd.dir_config::<CoreDir>().rlimits[slot] = Some((soft, hard.map(atol)));
    Ok(())
}

/// CGIPassAuth: whether scripts see the Authorization header.
fn cgi_pass_auth(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<CoreDir>().cgi_pass_auth = Some(on);
    Ok(())
}

/// HttpProtocolOptions: each keyword sets a bit in the server's config, and a pair that
/// contradicts itself fails even across lines.
fn http_protocol_options(cmd: &mut Cmd, _word: &str) -> SetResult {
    const KEYWORDS: [&str; 6] = [
        "allow0.9",
        "require1.0",
        "strict",
        "unsafe",
        "registeredmethods",
        "lenientmethods",
    ];
    // Called once per word: the whole line is checked, with the server's earlier lines, on
    // its first call.
    let origin = cmd.origin();
    let args = cmd.node.args.clone();
    let core = cmd.server_config::<CoreServer>();
    if core
        .protocol_option_lines
        .last()
        .is_some_and(|(line, _)| *line == origin)
    {
        return Ok(());
    }
    let this_line = iterate_words(&args);
    let mut seen = [false; 6];
    let lines = core.protocol_option_lines.iter().map(|(_, words)| words);
    for words in lines.chain([&this_line]) {
        for word in words {
            let Some(at) = KEYWORDS.iter().position(|k| k.eq_ignore_ascii_case(word)) else {
                return Err("HttpProtocolOptions accepts 'Unsafe' or 'Strict' (default), 'RegisteredMethods' or 'LenientMethods' (default), and 'Require1.0' or 'Allow0.9' (default)".into());
            };
            seen[at] = true;
            if seen[0] && seen[1] {
                return Err(
                    "HttpProtocolOptions 'Allow0.9' and 'Require1.0' are mutually exclusive".into(),
                );
            }
            if seen[2] && seen[3] {
                return Err(
                    "HttpProtocolOptions 'Strict' and 'Unsafe' are mutually exclusive".into(),
                );
            }
            if seen[4] && seen[5] {
                return Err(
                    "HttpProtocolOptions 'RegisteredMethods' and 'LenientMethods' are mutually exclusive".into()
                );
            }
        }
    }
    // The request reads the last line's words.
    core.protocol_options = Some(
        rhttpd_parser::split_words(&args)
            .iter()
            .map(|w| w.to_ascii_lowercase())
            .collect(),
    );
    core.protocol_option_lines.push((origin, this_line));
    Ok(())
}

/// StrictHostCheck, MergeTrailers, MergeSlashes, ExtendedStatus and SeeRequestTail.
fn server_flag(cmd: &mut Cmd, on: bool) -> SetResult {
    let name = cmd.def.name;
    let core = cmd.server_config::<CoreServer>();
    match name {
        "StrictHostCheck" => core.strict_host_check = Some(on),
        "MergeTrailers" => core.merge_trailers = Some(on),
        "ExtendedStatus" => core.extended_status = Some(on),
        "SeeRequestTail" => core.see_request_tail = Some(on),
        _ => core.merge_slashes = Some(on),
    }
    Ok(())
}

fn accept_filter(cmd: &mut Cmd, protocol: &str, filter: &str) -> SetResult {
    let line = (protocol.to_string(), filter.to_string());
    cmd.server_config::<CoreServer>().accept_filters.push(line);
    Ok(())
}

fn server_path(cmd: &mut Cmd, path: &str) -> SetResult {
    cmd.server_config::<CoreServer>().server_path = Some(path.to_string());
    Ok(())
}

/// CoreDumpDirectory as written (ServerRoot-relative when the child uses it).
fn core_dump_directory(cmd: &mut Cmd, dir: &str) -> SetResult {
    cmd.server_config::<CoreServer>().core_dump_directory = Some(dir.to_string());
    Ok(())
}

/// Protocols: every line's words add to the list (the whole line on its first call, as this
/// ITERATE setter runs once per word).
fn protocols(cmd: &mut Cmd, _word: &str) -> SetResult {
    let origin = cmd.origin();
    let args = cmd.node.args.clone();
    let core = cmd.server_config::<CoreServer>();
    if core.protocols_line.as_ref() == Some(&origin) {
        return Ok(());
    }
    core.protocols_line = Some(origin);
    core.protocols
        .get_or_insert_with(Vec::new)
        .extend(rhttpd_parser::split_words(&args));
    Ok(())
}
