//! core's typed per-directory configuration: what core's per-directory setters (in
//! `modules::core`) write and the request reads, with Apache's merge. It lives in this crate,
//! beside core's table, because core's table stays here (the read phase uses it).

use crate::model::{opt, DirConfig, Options};
use crate::set::atoi;

/// Per-directory core settings; `None` is unset (inherits).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub options: Option<Options>,
    pub allow_override: Option<u32>,
    /// `ErrorDocument` by status: the action text, classified (a message keeps a leading `"`).
    pub error_documents: Vec<(u16, String)>,
    pub server_signature: Option<String>,
    pub add_default_charset: Option<String>,
    pub file_etag: Option<Vec<String>>,
    pub accept_path_info: Option<String>,
    pub set_handler: Option<String>,
    /// SetOutputFilter: `;`-separated filter names.
    pub output_filters: Option<String>,
    /// SetInputFilter: `;`-separated filter names.
    pub input_filters: Option<String>,
    pub force_type: Option<String>,
    pub limit_request_body: Option<u64>,
    pub enable_sendfile: Option<bool>,
    /// `UseCanonicalName` keyword, lowercased.
    pub use_canonical_name: Option<String>,
    /// HostnameLookups: "on", "off" or "double".
    pub hostname_lookups: Option<String>,
    /// ContentDigest: a Content-MD5 header for static files.
    pub content_digest: Option<bool>,
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
            file_etag: child.file_etag.clone().or_else(|| self.file_etag.clone()),
            accept_path_info: child
                .accept_path_info
                .clone()
                .or_else(|| self.accept_path_info.clone()),
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
            enable_sendfile: child.enable_sendfile.or(self.enable_sendfile),
            use_canonical_name: child
                .use_canonical_name
                .clone()
                .or_else(|| self.use_canonical_name.clone()),
            hostname_lookups: child
                .hostname_lookups
                .clone()
                .or_else(|| self.hostname_lookups.clone()),
            content_digest: child.content_digest.or(self.content_digest),
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
