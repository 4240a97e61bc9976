//! core's typed per-directory configuration: what core's per-directory setters (in
//! `modules::core`) write and the request reads, with Apache's merge. It lives in this crate,
//! beside core's table, because core's table stays here (the read phase uses it).

use crate::model::{opt, DirConfig, Options, Origin, Server};
use crate::set::atoi;

/// FileETag as Apache keeps it (`etag_bits`, `etag_add`, `etag_remove`): the components an
/// absolute setting names, and what a relative one (`+INode`, `-MTime`) adds to or takes from
/// what it inherits. All zero is unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileEtag {
    pub bits: u8,
    pub add: u8,
    pub remove: u8,
}

impl FileEtag {
    pub const NONE: u8 = 1;
    pub const MTIME: u8 = 2;
    pub const INODE: u8 = 4;
    pub const SIZE: u8 = 8;
    pub const DIGEST: u8 = 16;
    pub const ALL: u8 = Self::MTIME | Self::INODE | Self::SIZE;
    /// What an ETag is made of when nothing is configured.
    pub const BACKWARD: u8 = Self::MTIME | Self::SIZE;

    /// One FileETag line over what the section has so far (Apache's `set_etag_bits`): an
    /// absolute keyword forgets what was inherited and the relative forms before it, a
    /// relative one adjusts the additions and removals. Errors are Apache's texts.
    pub fn apply_line(&mut self, words: &[String]) -> Result<(), String> {
        let (mut first, mut explicit) = (true, false);
        for word in words {
            let (action, token) = match word.strip_prefix(['+', '-']) {
                Some(token) => (word.as_bytes()[0], token),
                None => (b'*', word.as_str()),
            };
            if action == b'*' && first {
                *self = FileEtag::default();
                first = false;
            }
            let bit = match token.to_ascii_lowercase().as_str() {
                "none" | "all" if action != b'*' => {
                    return Err(format!(
                        "FileETag keyword '{token}' cannot be used with '+' or '-'"
                    ))
                }
                "none" => {
                    self.bits = Self::NONE;
                    explicit = true;
                    Self::NONE
                }
                "all" => {
                    self.bits = Self::ALL;
                    explicit = true;
                    Self::ALL
                }
                "size" => Self::SIZE,
                "lmtime" | "mtime" | "lastmodified" => Self::MTIME,
                "inode" => Self::INODE,
                "digest" => Self::DIGEST,
                _ => return Err(format!("Unknown keyword '{token}' for FileETag directive")),
            };
            match action {
                b'+' => {
                    self.add |= bit;
                    self.remove &= !bit;
                }
                b'-' => {
                    self.remove |= bit;
                    self.add &= !bit;
                }
                _ => {
                    self.bits |= bit;
                    self.add = 0;
                    self.remove = 0;
                    explicit = true;
                }
            }
        }
        if explicit && self.bits & Self::NONE != Self::NONE {
            self.bits &= !Self::NONE;
        }
        Ok(())
    }

    /// `child` over this (Apache's core merge): an absolute child replaces; a relative one
    /// folds its additions and removals into what it inherits.
    pub fn merge(&self, child: &FileEtag) -> FileEtag {
        let mut out = *self;
        if child.bits == 0 {
            out.add = (out.add & !child.remove) | child.add;
            out.remove = (out.remove & !child.add) | child.remove;
            out.bits = (out.bits & !out.remove) | out.add;
        } else {
            out = *child;
        }
        if out.bits != Self::NONE {
            out.bits &= !Self::NONE;
        }
        out
    }

    /// The components an ETag is made of (Apache's `ap_make_etag`): `None` for no ETag at all.
    pub fn components(&self) -> Option<u8> {
        let bits = (self.bits & !self.remove) | self.add;
        if bits & Self::NONE != 0 {
            return None;
        }
        Some(if bits == 0 { Self::BACKWARD } else { bits })
    }
}

/// Per-directory core settings; `None` is unset (inherits).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub options: Option<Options>,
    pub allow_override: Option<u32>,
    /// `ErrorDocument` by status: the action text, classified (a message keeps a leading `"`).
    pub error_documents: Vec<(u16, String)>,
    pub server_signature: Option<String>,
    pub add_default_charset: Option<String>,
    pub file_etag: FileEtag,
    pub accept_path_info: Option<String>,
    /// CGIPassAuth: Authorization reaches scripts as HTTP_AUTHORIZATION.
    pub cgi_pass_auth: Option<bool>,
    /// CGIVar REQUEST_URI: `current-uri` (true) gives scripts the URI as it is now, not as
    /// the client sent it.
    pub cgi_current_uri: Option<bool>,
    pub set_handler: Option<String>,
    /// SetOutputFilter: `;`-separated filter names.
    pub output_filters: Option<String>,
    /// SetInputFilter: `;`-separated filter names.
    pub input_filters: Option<String>,
    pub force_type: Option<String>,
    pub limit_request_body: Option<u64>,
    /// LimitXMLRequestBody (0: no limit); read by mod_dav as it parses a request body.
    pub limit_xml_body: Option<u64>,
    pub enable_sendfile: Option<bool>,
    /// EnableMMAP (default On): how a filter reading a file takes it, whole or in pieces.
    pub enable_mmap: Option<bool>,
    /// `UseCanonicalName` keyword, lowercased.
    pub use_canonical_name: Option<String>,
    /// HostnameLookups: "on", "off" or "double".
    pub hostname_lookups: Option<String>,
    /// ContentDigest: a Content-MD5 header for static files.
    pub content_digest: Option<bool>,
    /// RLimitCPU, RLimitMEM and RLimitNPROC, in that order, for the programs the server
    /// starts (CGI scripts): the soft limit (`None` for `max`, the hard limit) and the hard
    /// limit if given.
    pub rlimits: [Option<(Option<u64>, Option<u64>)>; 3],
    /// AllowOverrideList: directives `.htaccess` files may use beyond AllowOverride.
    pub override_list: Option<Vec<String>>,
    /// UseCanonicalPhysicalPort: the port a client connected to names the server.
    pub physical_port: Option<bool>,
    /// MaxRanges, MaxRangeOverlaps, MaxRangeReversals.
    pub range_limits: [Option<RangeLimit>; 3],
    /// LogLevel words from the server level down through the sections, in order (a bare
    /// level resets the per-module ones, as in Apache's merge).
    pub log_level: Vec<String>,
}

/// One of the MaxRange* limits as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeLimit {
    /// `default`: Apache's built-in limit.
    Default,
    Unlimited,
    /// A positive count, or 0 for `none` (Range headers are ignored).
    Count(u64),
}

impl RangeLimit {
    pub fn parse(word: &str) -> RangeLimit {
        match word.to_ascii_lowercase().as_str() {
            "none" => RangeLimit::Count(0),
            "default" => RangeLimit::Default,
            "unlimited" => RangeLimit::Unlimited,
            _ => RangeLimit::Count(atoi(word).max(0) as u64),
        }
    }
}

/// Apache's built-in MaxRanges, MaxRangeOverlaps and MaxRangeReversals.
const DEFAULT_RANGE_LIMITS: [u64; 3] = [200, 20, 20];

/// Apache's heuristic for an ErrorDocument action, with its marker: a message is kept with a
/// leading `"`, `default` means the built-in page, a path or URL is kept as is.
pub fn classify_error_document(action: &str) -> String {
    // `ap_is_url`: a scheme of letters, digits, `+`, `-` or `.` and a colon.
    let is_url = action.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    if action.contains(' ') {
        format!("\"{action}")
    } else if action == "default" || action.starts_with('/') || is_url {
        action.to_string()
    } else {
        format!("\"{action}")
    }
}

/// Apache 2.4's default `Options`.
pub const DEFAULT_OPTIONS: u32 = opt::SYM_LINKS;

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        let options = match (self.options, child.options) {
            (parent, None) => parent,
            (Some(p), Some(c)) if c.relative => Some(Options {
                set: c.apply_to(p.apply_to(DEFAULT_OPTIONS)),
                add: 0,
                remove: 0,
                relative: false,
            }),
            (None, Some(c)) if c.relative => Some(Options {
                set: c.apply_to(DEFAULT_OPTIONS),
                add: 0,
                remove: 0,
                relative: false,
            }),
            (_, Some(c)) => Some(c),
        };
        let mut error_documents = self.error_documents.clone();
        for (code, action) in &child.error_documents {
            error_documents.retain(|(c, _)| c != code);
            error_documents.push((*code, action.clone()));
        }
        Dir {
            options,
            allow_override: child.allow_override.or(self.allow_override),
            error_documents,
            server_signature: child
                .server_signature
                .clone()
                .or_else(|| self.server_signature.clone()),
            add_default_charset: child
                .add_default_charset
                .clone()
                .or_else(|| self.add_default_charset.clone()),
            file_etag: self.file_etag.merge(&child.file_etag),
            accept_path_info: child
                .accept_path_info
                .clone()
                .or_else(|| self.accept_path_info.clone()),
            cgi_pass_auth: child.cgi_pass_auth.or(self.cgi_pass_auth),
            cgi_current_uri: child.cgi_current_uri.or(self.cgi_current_uri),
            set_handler: child
                .set_handler
                .clone()
                .or_else(|| self.set_handler.clone()),
            output_filters: child
                .output_filters
                .clone()
                .or_else(|| self.output_filters.clone()),
            input_filters: child
                .input_filters
                .clone()
                .or_else(|| self.input_filters.clone()),
            force_type: child.force_type.clone().or_else(|| self.force_type.clone()),
            limit_request_body: child.limit_request_body.or(self.limit_request_body),
            limit_xml_body: child.limit_xml_body.or(self.limit_xml_body),
            enable_sendfile: child.enable_sendfile.or(self.enable_sendfile),
            enable_mmap: child.enable_mmap.or(self.enable_mmap),
            use_canonical_name: child
                .use_canonical_name
                .clone()
                .or_else(|| self.use_canonical_name.clone()),
            hostname_lookups: child
                .hostname_lookups
                .clone()
                .or_else(|| self.hostname_lookups.clone()),
            content_digest: child.content_digest.or(self.content_digest),
            rlimits: [0, 1, 2].map(|i| child.rlimits[i].or(self.rlimits[i])),
            override_list: child
                .override_list
                .clone()
                .or_else(|| self.override_list.clone()),
            physical_port: child.physical_port.or(self.physical_port),
            range_limits: [0, 1, 2].map(|i| child.range_limits[i].or(self.range_limits[i])),
            log_level: self
                .log_level
                .iter()
                .chain(&child.log_level)
                .cloned()
                .collect(),
        }
    }
}

impl Dir {
    /// The limits on (ranges, overlaps, reversals) in force; `None` is unlimited.
    pub fn range_limits(&self) -> [Option<u64>; 3] {
        [0, 1, 2].map(|i| match self.range_limits[i] {
            None | Some(RangeLimit::Default) => Some(DEFAULT_RANGE_LIMITS[i]),
            Some(RangeLimit::Unlimited) => None,
            Some(RangeLimit::Count(n)) => Some(n),
        })
    }

    /// The `Options` bits in force.
    pub fn options(&self) -> u32 {
        self.options
            .map_or(DEFAULT_OPTIONS, |o| o.apply_to(DEFAULT_OPTIONS))
    }

    /// The ErrorDocument action for `code`, if any.
    pub fn error_document(&self, code: u16) -> Option<&str> {
        self.error_documents
            .iter()
            .rev()
            .find(|(c, _)| *c == code)
            .map(|(_, a)| a.as_str())
    }
}

/// Per-server core settings.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// Protocols, as written, in order (lines add to each other).
    pub protocols: Option<Vec<String>>,
    pub server_name: Option<String>,
    pub server_port: Option<u16>,
    pub server_admin: Option<String>,
    pub timeout: Option<u64>,
    pub limit_request_line: Option<usize>,
    pub limit_request_field_size: Option<usize>,
    pub limit_request_fields: Option<usize>,
    pub trace_enable: Option<String>,
    /// MergeTrailers: a chunked body's trailer fields join the request's headers.
    pub merge_trailers: Option<bool>,
    pub use_canonical_name: Option<String>,
    /// `HttpProtocolOptions` keywords, lowercased, in order.
    pub protocol_options: Option<Vec<String>>,
    /// `AllowEncodedSlashes` keyword, lowercased.
    pub allow_encoded_slashes: Option<String>,
    pub merge_slashes: Option<bool>,
    pub strict_host_check: Option<bool>,
    /// LimitInternalRecursion: (internal redirects, sub-request nesting).
    pub limit_internal_recursion: Option<(u32, u32)>,
    /// The Protocols line whose words were last added (an ITERATE setter runs once per
    /// word and adds the whole line on its first call).
    pub protocols_line: Option<Origin>,
    /// The HttpProtocolOptions lines read so far, as their setter saw them (each line is
    /// checked against the earlier ones).
    pub protocol_option_lines: Vec<(Origin, Vec<String>)>,
    /// ExtendedStatus and SeeRequestTail (mod_status reads the main server's).
    pub extended_status: Option<bool>,
    pub see_request_tail: Option<bool>,
    pub server_path: Option<String>,
    /// AcceptFilter lines as (protocol, filter), in order (the main server's are read).
    pub accept_filters: Vec<(String, String)>,
    pub core_dump_directory: Option<String>,
    /// ErrorLogFormat's main format, parsed (its last line's).
    pub error_log_format: Option<Vec<crate::errorlog_format::Item>>,
    /// The kinds of the ErrorLogFormat connection/request lines that give a format, in
    /// order (they are not written; the log says so once per line).
    pub error_log_format_kinds: Vec<String>,
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            protocols: vhost.protocols.clone().or_else(|| self.protocols.clone()),
            server_name: vhost
                .server_name
                .clone()
                .or_else(|| self.server_name.clone()),
            // A virtual host's port: its ServerName's (none there means the default, not the
            // main server's), else its first address's, else the main server's.
            server_port: match (&vhost.server_name, vhost.server_port) {
                (_, Some(port)) => Some(port),
                (Some(_), None) => None,
                (None, None) => self.server_port,
            },
            server_admin: vhost
                .server_admin
                .clone()
                .or_else(|| self.server_admin.clone()),
            timeout: vhost.timeout.or(self.timeout),
            limit_request_line: vhost.limit_request_line.or(self.limit_request_line),
            limit_request_field_size: vhost
                .limit_request_field_size
                .or(self.limit_request_field_size),
            limit_request_fields: vhost.limit_request_fields.or(self.limit_request_fields),
            merge_trailers: vhost.merge_trailers.or(self.merge_trailers),
            trace_enable: vhost
                .trace_enable
                .clone()
                .or_else(|| self.trace_enable.clone()),
            use_canonical_name: vhost
                .use_canonical_name
                .clone()
                .or_else(|| self.use_canonical_name.clone()),
            protocol_options: vhost
                .protocol_options
                .clone()
                .or_else(|| self.protocol_options.clone()),
            allow_encoded_slashes: vhost
                .allow_encoded_slashes
                .clone()
                .or_else(|| self.allow_encoded_slashes.clone()),
            merge_slashes: vhost.merge_slashes.or(self.merge_slashes),
            strict_host_check: vhost.strict_host_check.or(self.strict_host_check),
            limit_internal_recursion: vhost
                .limit_internal_recursion
                .or(self.limit_internal_recursion),
            // The rest is read from each server's own configuration (or only while the
            // configuration is read), never merged.
            ..vhost.clone()
        }
    }
}

impl ServerConf {
    /// The settings the server's own fields hold (its name, port, admin and Timeout) over
    /// the ones its directives wrote.
    pub fn with_server(self, server: &Server) -> ServerConf {
        ServerConf {
            server_name: server.server_name.clone(),
            // A virtual host without ServerName keeps its first address's port; a ServerName
            // sets the port, to the default when it names none (as Apache's does).
            server_port: match &server.server_name {
                Some(_) => server.server_port,
                None => server
                    .addrs
                    .first()
                    .and_then(|a| a.port)
                    .filter(|p| *p != 0),
            },
            server_admin: server.server_admin.clone(),
            timeout: server.timeout,
            ..self
        }
    }

    /// (internal redirects, sub-request nesting) allowed before a request fails with 500.
    pub fn recursion_limits(&self) -> (u32, u32) {
        self.limit_internal_recursion.unwrap_or((10, 10))
    }
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(60)
    }
    /// Whether `keyword` (lowercase) wins over `other` in HttpProtocolOptions (last one wins).
    fn protocol_option(&self, keyword: &str, other: &str, default: bool) -> bool {
        let options = self.protocol_options.as_deref().unwrap_or(&[]);
        options
            .iter()
            .rev()
            .find(|o| *o == keyword || *o == other)
            .map_or(default, |o| o == keyword)
    }

    /// HttpProtocolOptions Strict (default) versus Unsafe.
    pub fn strict(&self) -> bool {
        self.protocol_option("strict", "unsafe", true)
    }

    /// HttpProtocolOptions Allow0.9 (default) versus Require1.0.
    pub fn allow_09(&self) -> bool {
        self.protocol_option("allow0.9", "require1.0", true)
    }

    /// HttpProtocolOptions RegisteredMethods versus LenientMethods (default).
    pub fn registered_methods(&self) -> bool {
        self.protocol_option("registeredmethods", "lenientmethods", false)
    }

    pub fn server_admin(&self) -> &str {
        self.server_admin.as_deref().unwrap_or("[no address given]")
    }
}
