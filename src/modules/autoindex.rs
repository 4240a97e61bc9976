//! mod_autoindex at request time: the listing generated for a directory that has no
//! DirectoryIndex file under `Options Indexes` (a plain list, FancyIndexing's `<pre>` columns or
//! an HTMLTable), with its sort orders and `?C=N;O=D` query, icons, alt texts, descriptions,
//! HeaderName/ReadmeName inclusion, and the per-directory configuration all of that comes from.
//!
//! Not implemented: `ScanHTMLTitles` (descriptions from `<title>`) is accepted and ignored;
//! HTML header and readme files are copied as files, not run through a handler (no SSI); an
//! item's `cmd->path` scope is taken as "everywhere", which is what it is for directives at
//! server level and in every `<Directory>` that matches the listed directory (Apache would
//! never match items written inside `<Location>`, `<Files>` or `<DirectoryMatch>`). Apache
//! truncates a description in place, so a later, wider listing in the same process shows the
//! cut text; here each listing cuts its own copy. With HTTP/1.1, a listing Apache cannot give
//! a length (an HTML header or readme, or more than 8000 bytes) is chunked where Apache's
//! filters flushed; rhttpd sends the same bytes as one chunk.

use std::cmp::Ordering;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{OR_ALL, OR_INDEXES};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::modules::core::deprecated_raw;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{atoi_int, starts_with_ignore_case};

use crate::hooks::{Hooks, Order};
use crate::http1::{date, Headers};
use crate::modules::mime;
use crate::request::{self, static_file, uri, Body, Request, Response, Step};
use rhttpd_directives::util::escape::{escape_html, escape_path, unescape_url};
use rhttpd_directives::util::fnmatch::{
    fnmatch, fnmatch_test, strcasecmp_match, strcmp_match, Flags,
};

// IndexOptions bits, numbered as mod_autoindex numbers them.
const NO_OPTIONS: u32 = 1 << 0;
const ICONS_ARE_LINKS: u32 = 1 << 1;
const SCAN_HTML_TITLES: u32 = 1 << 2;
const SUPPRESS_ICON: u32 = 1 << 3;
const SUPPRESS_LAST_MOD: u32 = 1 << 4;
const SUPPRESS_SIZE: u32 = 1 << 5;
const SUPPRESS_DESC: u32 = 1 << 6;
const SUPPRESS_PREAMBLE: u32 = 1 << 7;
const SUPPRESS_COLSORT: u32 = 1 << 8;
const SUPPRESS_RULES: u32 = 1 << 9;
const FOLDERS_FIRST: u32 = 1 << 10;
const VERSION_SORT: u32 = 1 << 11;
const TRACK_MODIFIED: u32 = 1 << 12;
const FANCY_INDEXING: u32 = 1 << 13;
const TABLE_INDEXING: u32 = 1 << 14;
const IGNORE_CLIENT: u32 = 1 << 15;
const IGNORE_CASE: u32 = 1 << 16;
const EMIT_XHTML: u32 = 1 << 17;
const SHOW_FORBIDDEN: u32 = 1 << 18;
const ADD_ALT_CLASS: u32 = 1 << 19;
const OPTION_UNSET: u32 = 1 << 20;

const KEYWORDS: &[(&str, u32)] = &[
    ("FancyIndexing", FANCY_INDEXING),
    ("FoldersFirst", FOLDERS_FIRST),
    ("HTMLTable", TABLE_INDEXING),
    ("IconsAreLinks", ICONS_ARE_LINKS),
    ("IgnoreCase", IGNORE_CASE),
    ("IgnoreClient", IGNORE_CLIENT),
    ("ScanHTMLTitles", SCAN_HTML_TITLES),
    ("SuppressColumnSorting", SUPPRESS_COLSORT),
    ("SuppressDescription", SUPPRESS_DESC),
    ("SuppressHTMLPreamble", SUPPRESS_PREAMBLE),
    ("SuppressIcon", SUPPRESS_ICON),
    ("SuppressLastModified", SUPPRESS_LAST_MOD),
    ("SuppressSize", SUPPRESS_SIZE),
    ("SuppressRules", SUPPRESS_RULES),
    ("TrackModified", TRACK_MODIFIED),
    ("VersionSort", VERSION_SORT),
    ("XHTML", EMIT_XHTML),
    ("ShowForbidden", SHOW_FORBIDDEN),
    ("AddAltClass", ADD_ALT_CLASS),
];

/// The dimensions of the icons shipped with Apache (`IconWidth`, `IconHeight` without a value).
const DEFAULT_ICON_WIDTH: i32 = 20;
const DEFAULT_ICON_HEIGHT: i32 = 22;
const DEFAULT_NAME_WIDTH: i32 = 23;
const DEFAULT_DESC_WIDTH: i32 = 23;

/// Apache's output buffer (`APR_BUCKET_BUFF_SIZE`): a listing longer than this leaves the
/// handler before it ends, so Apache cannot give it a Content-Length.
pub const OUTPUT_BUFFER: usize = 8000;

const DOCTYPE_HTML_4_01: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n";
const DOCTYPE_XHTML_1_0T: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n";

/// NameWidth / DescriptionWidth: a fixed width, `*` (fit the longest), or not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adjust {
    Fixed,
    Fit,
    Unset,
}

/// What an icon, alt text or ignore pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Path,
    Type,
    Encoding,
    Ignore,
}

/// One AddIcon*/AddAlt*/IndexIgnore entry (Apache's `struct item`).
#[derive(Debug, Clone)]
struct Item {
    by: By,
    apply_to: Vec<u8>,
    data: String,
}

/// One AddDescription entry.
#[derive(Debug, Clone)]
struct Desc {
    pattern: Vec<u8>,
    description: String,
    full_path: bool,
    wildcards: bool,
}

/// Per-directory settings (`autoindex_config_rec`).
#[derive(Debug, Clone)]
pub struct Dir {
    default_icon: Option<String>,
    style_sheet: Option<String>,
    head_insert: Option<String>,
    header: Option<String>,
    readme: Option<String>,
    opts: u32,
    incremented: u32,
    decremented: u32,
    name_width: i32,
    name_adjust: Adjust,
    desc_width: i32,
    desc_adjust: Adjust,
    icon_width: i32,
    icon_height: i32,
    default_key: Option<u8>,
    default_direction: Option<u8>,
    icons: Vec<Item>,
    alts: Vec<Item>,
    descs: Vec<Desc>,
    ignores: Vec<Item>,
    ignore_reset: bool,
    content_type: Option<String>,
    charset: Option<String>,
    old_date_format: bool,
    /// IndexOptions as the section's lines so far set them, for checking the next line.
    checked_opts: u32,
}

impl Default for Dir {
    fn default() -> Dir {
        Dir {
            default_icon: None,
            style_sheet: None,
            head_insert: None,
            header: None,
            readme: None,
            opts: OPTION_UNSET,
            incremented: 0,
            decremented: 0,
            name_width: DEFAULT_NAME_WIDTH,
            name_adjust: Adjust::Unset,
            desc_width: DEFAULT_DESC_WIDTH,
            desc_adjust: Adjust::Unset,
            icon_width: 0,
            icon_height: 0,
            default_key: None,
            default_direction: None,
            icons: Vec::new(),
            alts: Vec::new(),
            descs: Vec::new(),
            ignores: Vec::new(),
            ignore_reset: false,
            content_type: None,
            charset: None,
            old_date_format: false,
            checked_opts: OPTION_UNSET,
        }
    }
}

pub static MODULE: ModuleDef = ModuleDef {
    id: "autoindex_module",
    source: "mod_autoindex.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AddIcon",
        Iterate2(add_icon),
        OR_INDEXES,
        "an icon URL followed by one or more filenames",
    )
    .implemented(),
    DirectiveDef::new(
        "AddIconByType",
        Iterate2(add_icon),
        OR_INDEXES,
        "an icon URL followed by one or more MIME types",
    )
    .implemented(),
    DirectiveDef::new(
        "AddIconByEncoding",
        Iterate2(add_icon),
        OR_INDEXES,
        "an icon URL followed by one or more content encodings",
    )
    .implemented(),
    DirectiveDef::new(
        "AddAlt",
        Iterate2(add_alt),
        OR_INDEXES,
        "alternate descriptive text followed by one or more filenames",
    )
    .implemented(),
    DirectiveDef::new(
        "AddAltByType",
        Iterate2(add_alt),
        OR_INDEXES,
        "alternate descriptive text followed by one or more MIME types",
    )
    .implemented(),
    DirectiveDef::new(
        "AddAltByEncoding",
        Iterate2(add_alt),
        OR_INDEXES,
        "alternate descriptive text followed by one or more content encodings",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexOptions",
        Argv(index_options),
        OR_INDEXES,
        "one or more index options [+|-][]",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexOrderDefault",
        Take2(index_order_default),
        OR_INDEXES,
        "{Ascending,Descending} {Name,Size,Description,Date}",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexIgnore",
        Iterate(index_ignore),
        OR_INDEXES,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexIgnoreReset",
        Flag(index_ignore_reset),
        OR_INDEXES,
        "Reset the inherited list of IndexIgnore filenames",
    )
    .implemented(),
    DirectiveDef::new(
        "AddDescription",
        Iterate2(add_description),
        OR_INDEXES,
        "Descriptive text followed by one or more filenames",
    )
    .implemented(),
    DirectiveDef::new("HeaderName", Take1(header_name), OR_INDEXES, "a filename").implemented(),
    DirectiveDef::new("ReadmeName", Take1(readme_name), OR_INDEXES, "a filename").implemented(),
    DirectiveDef::new(
        "FancyIndexing",
        Raw(deprecated_raw),
        OR_ALL,
        "The FancyIndexing directive is no longer supported. Use IndexOptions FancyIndexing.",
    )
    .implemented(),
    DirectiveDef::new(
        "DefaultIcon",
        Take1(default_icon),
        OR_INDEXES,
        "an icon URL",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexStyleSheet",
        Take1(index_style_sheet),
        OR_INDEXES,
        "URL to style sheet",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexHeadInsert",
        Take1(index_head_insert),
        OR_INDEXES,
        "String to insert in HTML HEAD section",
    )
    .implemented(),
];

/// AddIcon*: an icon given as `(alt,url)` needs its closing parenthesis.
fn add_icon(cmd: &mut Cmd, icon: &str, to: &str) -> SetResult {
    if icon.starts_with('(') && !icon.contains(')') {
        return Err("missing closing paren".into());
    }
    let by = by_of(cmd.name());
    cmd.dir_config::<Dir>().add_icon(by, icon, to);
    Ok(())
}

fn add_alt(cmd: &mut Cmd, alt: &str, to: &str) -> SetResult {
    let by = by_of(cmd.name());
    push_item(
        &mut cmd.dir_config::<Dir>().alts,
        by,
        &item_target(by, to),
        alt,
    );
    Ok(())
}

fn add_description(cmd: &mut Cmd, description: &str, to: &str) -> SetResult {
    cmd.dir_config::<Dir>().add_description(description, to);
    Ok(())
}

fn index_ignore(cmd: &mut Cmd, pattern: &str) -> SetResult {
    push_item(
        &mut cmd.dir_config::<Dir>().ignores,
        By::Ignore,
        pattern,
        "",
    );
    Ok(())
}

fn index_ignore_reset(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().ignore_reset = on;
    Ok(())
}

/// IndexOptions: each line is checked over what the section's earlier lines set (Apache
/// refuses `None` next to other keywords across lines too), then applied.
fn index_options(cmd: &mut Cmd, argv: &[String]) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    config.checked_opts = apply_index_options(config.checked_opts, argv)?;
    config.add_options(argv);
    Ok(())
}

fn index_order_default(cmd: &mut Cmd, direction: &str, key: &str) -> SetResult {
    if !["Ascending", "Descending"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(direction))
    {
        return Err("First keyword must be 'Ascending' or 'Descending'".into());
    }
    let key = match key.to_ascii_lowercase().as_str() {
        "name" => b'N',
        "date" => b'M',
        "size" => b'S',
        "description" => b'D',
        _ => return Err("Second keyword must be 'Name', 'Date', 'Size', or 'Description'".into()),
    };
    let config = cmd.dir_config::<Dir>();
    config.default_direction = Some(if direction.eq_ignore_ascii_case("Descending") {
        b'D'
    } else {
        b'A'
    });
    config.default_key = Some(key);
    Ok(())
}

fn header_name(cmd: &mut Cmd, name: &str) -> SetResult {
    cmd.dir_config::<Dir>().header = Some(name.to_string());
    Ok(())
}

fn readme_name(cmd: &mut Cmd, name: &str) -> SetResult {
    cmd.dir_config::<Dir>().readme = Some(name.to_string());
    Ok(())
}

fn default_icon(cmd: &mut Cmd, url: &str) -> SetResult {
    cmd.dir_config::<Dir>().default_icon = Some(url.to_string());
    Ok(())
}

fn index_style_sheet(cmd: &mut Cmd, url: &str) -> SetResult {
    cmd.dir_config::<Dir>().style_sheet = Some(url.to_string());
    Ok(())
}

fn index_head_insert(cmd: &mut Cmd, text: &str) -> SetResult {
    cmd.dir_config::<Dir>().head_insert = Some(text.to_string());
    Ok(())
}

/// The option names IndexOptions knows, in the order of their bits (after NO_OPTIONS).
const INDEX_FLAGS: &[&str] = &[
    "IconsAreLinks",
    "ScanHTMLTitles",
    "SuppressIcon",
    "SuppressLastModified",
    "SuppressSize",
    "SuppressDescription",
    "SuppressHTMLPreamble",
    "SuppressColumnSorting",
    "SuppressRules",
    "FoldersFirst",
    "VersionSort",
    "TrackModified",
    "FancyIndexing",
    "HTMLTable",
    "IgnoreClient",
    "IgnoreCase",
    "XHTML",
    "ShowForbidden",
    "AddAltClass",
];

/// One IndexOptions line applied to the section's options so far (`None` resets them).
fn apply_index_options(mut opts: u32, argv: &[String]) -> Result<u32, &'static str> {
    for word in argv {
        let (action, w) = match word.as_bytes().first() {
            Some(b'+') => (Some('+'), &word[1..]),
            Some(b'-') => (Some('-'), &word[1..]),
            _ => (None, word.as_str()),
        };
        let is = |name: &str| w.eq_ignore_ascii_case(name);
        let mut option = 0;
        if let Some(bit) = INDEX_FLAGS.iter().position(|f| is(f)) {
            option = 2 << bit;
        } else if is("None") {
            if action.is_some() {
                return Err("Cannot combine '+' or '-' with 'None' keyword");
            }
            opts = NO_OPTIONS;
        } else if is("IconWidth") || is("IconHeight") {
        } else if starts_with_ignore_case(w, "IconWidth=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with IconWidth=n");
            }
        } else if starts_with_ignore_case(w, "IconHeight=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with IconHeight=n");
            }
        } else if is("NameWidth") {
            if action != Some('-') {
                return Err("NameWidth with no value may only appear as '-NameWidth'");
            }
        } else if starts_with_ignore_case(w, "NameWidth=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with NameWidth=n");
            }
            let value = &w["NameWidth=".len()..];
            let width = atoi_int(value);
            if !value.starts_with('*') && width != 0 && width < 5 {
                return Err("NameWidth value must be greater than 5");
            }
        } else if is("DescriptionWidth") {
            if action != Some('-') {
                return Err(
                    "DescriptionWidth with no value may only appear as '-DescriptionWidth'",
                );
            }
        } else if starts_with_ignore_case(w, "DescriptionWidth=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with DescriptionWidth=n");
            }
            let value = &w["DescriptionWidth=".len()..];
            let width = atoi_int(value);
            if !value.starts_with('*') && width != 0 && width < 12 {
                return Err("DescriptionWidth value must be greater than 12");
            }
        } else if starts_with_ignore_case(w, "Type=")
            || starts_with_ignore_case(w, "Charset=")
            || is("UseOldDateFormat")
        {
        } else {
            return Err("Invalid directory indexing option");
        }
        if action.is_none() {
            opts |= option;
        }
    }
    if opts & NO_OPTIONS != 0 && opts & !NO_OPTIONS != 0 {
        return Err("Cannot combine other IndexOptions keywords with 'None'");
    }
    Ok(opts)
}

/// C's `atoi`: leading blanks, a sign, digits; 0 when there are none.
fn atoi(text: &str) -> i32 {
    let t = text.trim_start();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            (n * 10 + i64::from(d - b'0')).min(i64::from(i32::MAX))
        });
    (if negative { -value } else { value }) as i32
}

fn has_prefix<'a>(word: &'a str, prefix: &str) -> Option<&'a str> {
    (word.len() >= prefix.len()
        && word.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()))
    .then(|| &word[prefix.len()..])
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        self.merge_dir(child)
    }
}

impl Dir {
    /// AddIcon's `(alt,url)` form also records the alt text for the same targets. Apache
    /// splits it at the first comma run and cuts the URL at the first `)` (when that comes
    /// after the comma; the alt text keeps anything before the comma).
    fn add_icon(&mut self, by: By, icon: &str, to: &str) {
        let mut url = icon;
        if icon.starts_with('(') {
            let Some(close) = icon.find(')') else { return };
            let (alt, after) = match icon.find(',') {
                Some(comma) => {
                    let commas = icon[comma..].bytes().take_while(|&b| b == b',').count();
                    (&icon[..comma], comma + commas)
                }
                None => (icon, icon.len()),
            };
            url = if close >= after {
                &icon[after..close]
            } else {
                &icon[after..]
            };
            push_item(&mut self.alts, by, &item_target(by, to), &alt[1..]);
        }
        push_item(&mut self.icons, by, &item_target(by, to), url);
    }

    fn add_description(&mut self, description: &str, to: &str) {
        let full_path = to.contains('/');
        let wildcards = full_path || fnmatch_test(to.as_bytes());
        let pattern = if wildcards {
            format!("{}{to}*", if full_path { "*/" } else { "*" })
        } else {
            to.to_string()
        };
        self.descs.push(Desc {
            pattern: pattern.into_bytes(),
            description: description.to_string(),
            full_path,
            wildcards,
        });
    }

    /// One IndexOptions line over the options this section has so far (`add_opts`).
    fn add_options(&mut self, words: &[String]) {
        let mut opts = self.opts;
        let mut add = self.incremented;
        let mut remove = self.decremented;
        for word in words {
            let (action, w) = match word.as_bytes().first() {
                Some(b'+') => (Some('+'), &word[1..]),
                Some(b'-') => (Some('-'), &word[1..]),
                _ => (None, word.as_str()),
            };
            let mut option = 0;
            if let Some((_, bit)) = KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(w)) {
                option = *bit;
            } else if w.eq_ignore_ascii_case("None") {
                opts = NO_OPTIONS;
                add = 0;
                remove = 0;
            } else if w.eq_ignore_ascii_case("IconWidth") {
                self.icon_width = if action == Some('-') {
                    0
                } else {
                    DEFAULT_ICON_WIDTH
                };
            } else if let Some(value) = has_prefix(w, "IconWidth=") {
                self.icon_width = atoi(value);
            } else if w.eq_ignore_ascii_case("IconHeight") {
                self.icon_height = if action == Some('-') {
                    0
                } else {
                    DEFAULT_ICON_HEIGHT
                };
            } else if let Some(value) = has_prefix(w, "IconHeight=") {
                self.icon_height = atoi(value);
            } else if w.eq_ignore_ascii_case("NameWidth") {
                self.name_width = DEFAULT_NAME_WIDTH;
                self.name_adjust = Adjust::Fixed;
            } else if let Some(value) = has_prefix(w, "NameWidth=") {
                if value.starts_with('*') {
                    self.name_adjust = Adjust::Fit;
                } else {
                    self.name_width = atoi(value);
                    self.name_adjust = Adjust::Fixed;
                }
            } else if w.eq_ignore_ascii_case("DescriptionWidth") {
                self.desc_width = DEFAULT_DESC_WIDTH;
                self.desc_adjust = Adjust::Fixed;
            } else if let Some(value) = has_prefix(w, "DescriptionWidth=") {
                if value.starts_with('*') {
                    self.desc_adjust = Adjust::Fit;
                } else {
                    self.desc_width = atoi(value);
                    self.desc_adjust = Adjust::Fixed;
                }
            } else if let Some(value) = has_prefix(w, "Type=") {
                self.content_type = Some(value.to_string());
            } else if let Some(value) = has_prefix(w, "Charset=") {
                self.charset = Some(value.to_string());
            } else if w.eq_ignore_ascii_case("UseOldDateFormat") {
                self.old_date_format = true;
            }
            match action {
                // A plain keyword (even a valued one) forgets this section's +/- forms.
                None => {
                    opts |= option;
                    add = 0;
                    remove = 0;
                }
                Some('+') => {
                    add |= option;
                    remove &= !option;
                }
                _ => {
                    remove |= option;
                    add &= !option;
                }
            }
        }
        self.opts = opts;
        self.incremented = add;
        self.decremented = remove;
    }

    /// `child` over `self` (`merge_autoindex_configs`): lists put the child's entries first,
    /// absolute IndexOptions replace the inherited ones, +/- forms accumulate.
    fn merge_dir(&self, child: &Dir) -> Dir {
        let pick = |c: &Option<String>, p: &Option<String>| c.clone().or_else(|| p.clone());
        let join = |c: &Vec<Item>, p: &Vec<Item>| c.iter().chain(p).cloned().collect::<Vec<_>>();
        let mut out = Dir {
            default_icon: pick(&child.default_icon, &self.default_icon),
            style_sheet: pick(&child.style_sheet, &self.style_sheet),
            head_insert: pick(&child.head_insert, &self.head_insert),
            header: pick(&child.header, &self.header),
            readme: pick(&child.readme, &self.readme),
            // Only the section being read checks its own lines against each other.
            checked_opts: child.checked_opts,
            icon_height: if child.icon_height != 0 {
                child.icon_height
            } else {
                self.icon_height
            },
            icon_width: if child.icon_width != 0 {
                child.icon_width
            } else {
                self.icon_width
            },
            content_type: pick(&child.content_type, &self.content_type),
            charset: pick(&child.charset, &self.charset),
            old_date_format: child.old_date_format || self.old_date_format,
            alts: join(&child.alts, &self.alts),
            icons: join(&child.icons, &self.icons),
            descs: child.descs.iter().chain(&self.descs).cloned().collect(),
            ignores: if child.ignore_reset {
                child.ignores.clone()
            } else {
                join(&child.ignores, &self.ignores)
            },
            // Apache's merged record starts zeroed: the reset is not inherited.
            ignore_reset: false,
            opts: 0,
            incremented: 0,
            decremented: 0,
            name_width: child.name_width,
            name_adjust: child.name_adjust,
            desc_width: child.desc_width,
            desc_adjust: child.desc_adjust,
            default_key: child.default_key.or(self.default_key),
            default_direction: child.default_direction.or(self.default_direction),
        };
        if child.opts == NO_OPTIONS {
            out.opts = NO_OPTIONS;
        } else {
            if child.opts == OPTION_UNSET {
                out.incremented = (self.incremented | child.incremented) & !child.decremented;
                out.decremented = self.decremented | child.decremented;
                out.opts = self.opts & !NO_OPTIONS;
            } else {
                out.opts = child.opts;
            }
            out.opts |= out.incremented;
            out.opts &= !out.decremented;
        }
        if child.name_adjust == Adjust::Unset {
            out.name_width = self.name_width;
            out.name_adjust = self.name_adjust;
        }
        if child.desc_adjust == Adjust::Unset {
            out.desc_width = self.desc_width;
            out.desc_adjust = self.desc_adjust;
        }
        out
    }
}

fn by_of(directive: &str) -> By {
    if directive.ends_with("ByType") {
        By::Type
    } else if directive.ends_with("ByEncoding") {
        By::Encoding
    } else {
        By::Path
    }
}

/// The target as `add_icon`/`add_alt` store it: `**DIRECTORY**` spelled `^^DIRECTORY^^`,
/// encodings lowercased.
fn item_target(by: By, to: &str) -> String {
    match by {
        By::Path if to == "**DIRECTORY**" => "^^DIRECTORY^^".to_string(),
        By::Encoding => to.to_ascii_lowercase(),
        _ => to.to_string(),
    }
}

/// A path target without wildcards is a suffix: Apache prefixes it with `*`.
fn push_item(list: &mut Vec<Item>, by: By, to: &str, data: &str) {
    let apply_to = if by == By::Path && !to.contains(['*', '?']) {
        format!("*{to}")
    } else {
        to.to_string()
    };
    list.push(Item {
        by,
        apply_to: apply_to.into_bytes(),
        data: data.to_string(),
    });
}

// ---------------------------------------------------------------------------------------------
// Apache's and APR's string matchers and formatters, byte for byte.

fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// `apr_strnatcmp` / `apr_strnatcasecmp`: digit runs compare by value.
fn strnatcmp(a: &[u8], b: &[u8], fold: bool) -> Ordering {
    fn compare_right(a: &[u8], b: &[u8]) -> i32 {
        let mut bias = 0;
        let mut i = 0;
        loop {
            let (ca, cb) = (at(a, i), at(b, i));
            if !ca.is_ascii_digit() && !cb.is_ascii_digit() {
                return bias;
            } else if !ca.is_ascii_digit() {
                return -1;
            } else if !cb.is_ascii_digit() {
                return 1;
            } else if ca < cb {
                if bias == 0 {
                    bias = -1;
                }
            } else if ca > cb && bias == 0 {
                bias = 1;
            }
            i += 1;
        }
    }
    fn compare_left(a: &[u8], b: &[u8]) -> i32 {
        let mut i = 0;
        loop {
            let (ca, cb) = (at(a, i), at(b, i));
            if !ca.is_ascii_digit() && !cb.is_ascii_digit() {
                return 0;
            } else if !ca.is_ascii_digit() {
                return -1;
            } else if !cb.is_ascii_digit() {
                return 1;
            } else if ca != cb {
                return if ca < cb { -1 } else { 1 };
            }
            i += 1;
        }
    }
    let is_space = crate::http1::body::is_c_space;
    let (mut ai, mut bi) = (0, 0);
    loop {
        let (mut ca, mut cb) = (at(a, ai), at(b, bi));
        while is_space(ca) {
            ai += 1;
            ca = at(a, ai);
        }
        while is_space(cb) {
            bi += 1;
            cb = at(b, bi);
        }
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let fractional = ca == b'0' || cb == b'0';
            let result = if fractional {
                compare_left(&a[ai..], &b[bi..])
            } else {
                compare_right(&a[ai..], &b[bi..])
            };
            if result != 0 {
                return result.cmp(&0);
            }
        }
        if ca == 0 && cb == 0 {
            return Ordering::Equal;
        }
        if fold {
            ca = ca.to_ascii_uppercase();
            cb = cb.to_ascii_uppercase();
        }
        match (ca as i8).cmp(&(cb as i8)) {
            Ordering::Equal => {}
            other => return other,
        }
        ai += 1;
        bi += 1;
    }
}

/// `strcasecmp` in the C locale.
fn strcasecmp(a: &[u8], b: &[u8]) -> Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// `apr_strfsize`: a size in four columns, `  - ` for none.
pub(crate) fn strfsize(size: i64) -> String {
    if size < 0 {
        return "  - ".to_string();
    }
    if size < 973 {
        return format!("{size:3} ");
    }
    let mut size = size;
    for unit in ['K', 'M', 'G', 'T', 'P', 'E'] {
        let mut remain = size & 1023;
        size >>= 10;
        if size >= 973 {
            continue;
        }
        if size < 9 || (size == 9 && remain < 973) {
            remain = (remain * 5 + 256) / 512;
            if remain >= 10 {
                size += 1;
                remain = 0;
            }
            return format!("{size}.{remain}{unit}");
        }
        if remain >= 512 {
            size += 1;
        }
        let mut text = format!("{size:3}{unit}");
        text.truncate(4);
        return text;
    }
    "****".to_string()
}

/// The Last modified column: `%Y-%m-%d %H:%M`, or `%d-%b-%Y %H:%M` (UseOldDateFormat).
fn format_time(micros: i64, old: bool) -> String {
    // Apache's apr_time_exp_lt: the server's local time (TZ, else /etc/localtime).
    let t = crate::sys::local_time(micros.div_euclid(1_000_000));
    let (year, day, hour, minute) = (t.year, t.day, t.hour, t.minute);
    if old {
        let month = date::MONTHS[(t.month - 1) as usize];
        format!("{day:02}-{month}-{year} {hour:02}:{minute:02}")
    } else {
        format!("{year}-{:02}-{day:02} {hour:02}:{minute:02}", t.month)
    }
}

// ---------------------------------------------------------------------------------------------
// Looking things up in the configuration.

/// `find_item`: the first item (the innermost section's first) whose target matches the path,
/// or, unless `path_only`, the type (without parameters) or, for an encoded file, the encoding.
fn find_item<'a>(
    content_type: Option<&str>,
    encoding: Option<&str>,
    path: &[u8],
    list: &'a [Item],
    path_only: bool,
) -> Option<&'a str> {
    let special = path.first() == Some(&b'^');
    for item in list {
        if item.apply_to.is_empty() {
            return Some(&item.data);
        }
        if item.by == By::Path || special {
            if strcmp_match(path, &item.apply_to) {
                return Some(&item.data);
            }
        } else if !path_only {
            // An encoded file is matched by its encoding only, never by its type.
            let subject = match encoding {
                None if item.by == By::Type => content_type,
                Some(enc) if item.by == By::Encoding => Some(enc),
                _ => None,
            };
            if subject.is_some_and(|s| strcasecmp_match(s.as_bytes(), &item.apply_to)) {
                return Some(&item.data);
            }
        }
    }
    None
}

/// `find_desc`: the first AddDescription matching the base name, or the full path when the
/// pattern has a slash; without wildcards a pattern matches anywhere in the name.
fn find_desc<'a>(d: &'a Dir, full: &[u8]) -> Option<&'a str> {
    let base = match full.iter().rposition(|&b| b == b'/') {
        Some(slash) => &full[slash + 1..],
        None => full,
    };
    d.descs.iter().find_map(|desc| {
        let subject = if desc.full_path { full } else { base };
        let found = if desc.wildcards {
            fnmatch(&desc.pattern, subject, Flags::NONE)
        } else {
            desc.pattern.is_empty()
                || subject
                    .windows(desc.pattern.len())
                    .any(|w| w == desc.pattern.as_slice())
        };
        found.then_some(desc.description.as_str())
    })
}

/// `ignore_entry`: IndexIgnore patterns match the last path component of the entry against
/// the last component of the pattern.
fn ignored(d: &Dir, path: &[u8]) -> bool {
    let base = match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    };
    d.ignores.iter().any(|item| {
        let pattern = match item.apply_to.iter().rposition(|&b| b == b'/') {
            Some(slash) => &item.apply_to[slash + 1..],
            None => &item.apply_to[..],
        };
        strcmp_match(base, pattern)
    })
}

// ---------------------------------------------------------------------------------------------
// Sub-requests: what Apache's `ap_sub_req_lookup_*` leave behind that the listing reads.

/// A successful lookup: the file (after mod_dir's index redirect) and its type.
struct Found {
    filename: PathBuf,
    meta: fs::Metadata,
    content_type: Option<String>,
    encoding: Option<String>,
}

/// The type a sub-request ends with: ForceType over mod_mime, without parameters.
fn found(sub: &Request, filename: PathBuf, meta: fs::Metadata) -> Found {
    if meta.is_dir() {
        return Found {
            filename,
            meta,
            content_type: None,
            encoding: None,
        };
    }
    let base = filename
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = mime::classify(&base, &sub.dir.module::<mime::Dir>(), &sub.rt.types);
    // The other type checker a sub-request runs.
    if info.content_type.is_none() {
        if let Some((content_type, encoding)) =
            crate::modules::mime_magic::sub_request_type(sub, &filename, &meta)
        {
            info.content_type = content_type;
            info.encoding = encoding.or(info.encoding);
        }
    }
    let content_type = sub
        .dir
        .core
        .force_type
        .clone()
        .or(info.content_type)
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string());
    Found {
        filename,
        meta,
        content_type,
        encoding: info.encoding,
    }
}

/// mod_dir's fixup in a sub-request: a directory with an index file becomes that file.
fn fixup_dir(sub: &Request, filename: PathBuf, meta: fs::Metadata) -> Found {
    if meta.is_dir() && sub.uri.ends_with('/') {
        for name in sub.dir.module::<super::dir::Dir>().index_names() {
            let target = if name.starts_with('/') {
                name.clone()
            } else {
                format!("{}{name}", escape_path(sub.uri.as_bytes(), true))
            };
            if let Some(index) = lookup_uri(sub, &target) {
                if index.meta.is_file() {
                    return index;
                }
            }
        }
    }
    found(sub, filename, meta)
}

/// `ap_sub_req_lookup_uri` for an escaped URI (query allowed): None unless the lookup ends
/// with status OK on something that exists.
fn lookup_uri(req: &Request, target: &str) -> Option<Found> {
    let path = target.split('?').next().unwrap_or("");
    let path = uri::normalize(path, true, uri::EncodedSlashes::Refuse).ok()?;
    let mut sub = nested(req, path)?;
    let (filename, meta) = request::pipeline::lookup_uri(&mut sub).ok()?;
    Some(fixup_dir(&sub, filename, meta?))
}

/// `ap_sub_req_lookup_dirent` for an entry of the listed directory: the file is known, only
/// the sections, symlink rules and access checks run. Err carries the failing status.
fn lookup_entry(
    req: &Request,
    file_dir: &[u8],
    name: &[u8],
    meta: &fs::Metadata,
) -> Result<Found, u16> {
    let slash = if meta.is_dir() { "/" } else { "" };
    let uri_dir = dirstr_parent(req.uri.as_bytes());
    let uri = format!(
        "{}{}{slash}",
        String::from_utf8_lossy(uri_dir),
        String::from_utf8_lossy(name)
    );
    let mut filename = file_dir.to_vec();
    filename.extend_from_slice(name);
    filename.extend_from_slice(slash.as_bytes());
    let filename = PathBuf::from(std::ffi::OsStr::from_bytes(&filename));
    let mut sub = nested(req, uri).ok_or(500u16)?;
    let (filename, found_meta) = match request::pipeline::lookup_file(&mut sub, filename) {
        Ok(found) => found,
        // An entry whose sub-request redirects (a per-directory Redirect at fixups) stays in
        // the listing, as Apache keeps a 3xx one.
        Err(status) if (300..400).contains(&status) => {
            (sub.filename.clone().unwrap_or_default(), sub.finfo.clone())
        }
        Err(status) => return Err(status),
    };
    let found_meta = found_meta.ok_or(404u16)?;
    Ok(fixup_dir(&sub, filename, found_meta))
}

/// A sub-request one level deeper; None past Apache's LimitInternalRecursion default (10), which
/// a DirectoryIndex naming a directory would otherwise never reach the end of.
fn nested<'r>(req: &Request<'r>, uri: String) -> Option<Request<'r>> {
    let mut sub = req.sub_request(uri);
    sub.redirects = req.redirects + 1;
    (sub.redirects <= 10).then_some(sub)
}

/// `ap_make_dirstr_parent`: up to and including the last slash.
fn dirstr_parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[..=slash],
        None => b"",
    }
}

// ---------------------------------------------------------------------------------------------
// The listing.

/// One line of the listing (Apache's `struct ent`).
#[derive(Debug, Clone)]
struct Entry {
    name: Vec<u8>,
    icon: Option<String>,
    alt: Option<String>,
    desc: Option<String>,
    size: i64,
    mtime: i64,
    is_dir: bool,
    ascending: bool,
    ignore_case: bool,
    version_sort: bool,
    key: u8,
}

/// The body as Apache's handler writes it, and whether part of it would leave the handler
/// before the end (then Apache sends it without a Content-Length).
#[derive(Default)]
struct Out {
    body: Vec<u8>,
    streamed: bool,
}

impl Out {
    fn put(&mut self, bytes: impl AsRef<[u8]>) {
        self.body.extend_from_slice(bytes.as_ref());
    }
}

/// The listing for `dir` (the directory's file name) in answer to GET or HEAD.
pub fn index_directory(req: &mut Request, dir: &Path) -> Step<Response> {
    let d = req.dir.module::<Dir>().into_owned();
    let reader = fs::read_dir(dir).map_err(|_| 403u16)?;
    let mut headers = req.headers_out.clone();
    let mut opts = d.opts;
    if opts & TRACK_MODIFIED != 0 {
        if let Ok(meta) = fs::metadata(dir) {
            track_modified(req, &meta, &mut headers);
        }
    }
    let content_type = listing_type(req, &d);
    let mut response = Response {
        status: 200,
        headers,
        content_type: Some(content_type),
        length_known: true,
        // Apache's length filter adds the length after mod_headers' additions.
        length_last: true,
        header_only: req.method == "HEAD",
        server: req.server,
        ..Default::default()
    };
    if response.header_only {
        return Ok(response);
    }

    let mut keyid = d.default_key.unwrap_or(b'N');
    let mut direction = d.default_direction.unwrap_or(b'A');
    let mut pattern: Option<Vec<u8>> = None;
    let colargs = if opts & IGNORE_CLIENT != 0 {
        opts |= SUPPRESS_COLSORT;
        Vec::new()
    } else {
        let query = req.args.clone();
        parse_query(
            query.as_deref().unwrap_or("").as_bytes(),
            query.is_some(),
            &mut opts,
            &mut keyid,
            &mut direction,
            &mut pattern,
        )
    };

    let mut title = escape_html(req.uri.as_bytes());
    while title.len() > 1 && title.last() == Some(&b'/') {
        title.pop();
    }
    let mut out = Out::default();
    let head_args = req.args.clone();
    emit_head(req, &d, &mut out, opts, &title, head_args.as_deref());

    let mut file_dir = dir.as_os_str().as_bytes().to_vec();
    if file_dir.last() != Some(&b'/') {
        file_dir.push(b'/');
    }
    let mut entries = Vec::new();
    if let Some(parent) = parent_entry(req, &d, &file_dir, opts, keyid, direction) {
        entries.push(parent);
    }
    for dirent in reader.flatten() {
        let name = dirent.file_name().as_bytes().to_vec();
        // Apache follows symbolic links here; a dangling one is left out.
        let meta = match dirent.metadata() {
            Ok(m) if m.file_type().is_symlink() => match fs::metadata(dirent.path()) {
                Ok(m) => m,
                Err(_) => continue,
            },
            Ok(m) => m,
            Err(_) => continue,
        };
        let entry = make_entry(
            req,
            &d,
            &file_dir,
            &name,
            &meta,
            opts,
            keyid,
            direction,
            pattern.as_deref(),
        );
        entries.extend(entry);
    }
    let order = sorted(&entries);
    let entries: Vec<Entry> = order.into_iter().map(|i| entries[i].clone()).collect();
    output_directories(&entries, &d, &mut out, opts, keyid, direction, &colargs);
    let readme = d.readme.clone();
    emit_tail(
        req,
        readme.as_deref(),
        &mut out,
        opts & SUPPRESS_PREAMBLE != 0,
    );

    let streamed = out.streamed || out.body.len() > OUTPUT_BUFFER;
    response.length_known = !streamed;
    response.body = Body::Bytes(out.body);
    Ok(response)
}

/// `Type=` and `Charset=` (ISO-8859-1 unless given; an empty one leaves the type bare, and
/// AddDefaultCharset may then add its own).
fn listing_type(req: &Request, d: &Dir) -> String {
    let ctype = d.content_type.as_deref().unwrap_or("text/html");
    let charset = d.charset.as_deref().unwrap_or("ISO-8859-1");
    if !charset.is_empty() {
        return format!("{ctype};charset={charset}");
    }
    request::make_content_type(req, ctype.to_string())
}

/// TrackModified: the directory's own Last-Modified and ETag.
fn track_modified(req: &Request, meta: &fs::Metadata, headers: &mut Headers) {
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH).min(req.now);
    let whole = UNIX_EPOCH
        + Duration::from_secs(
            mtime
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        );
    headers.set("Last-Modified", date::format(whole));
    if let Some(tag) = static_file::etag(meta, req.now, req.dir.core.file_etag) {
        headers.set("ETag", tag);
    }
}

/// The `C=`, `O=`, `F=`, `V=` and `P=` arguments, each ended by `&` or `;`; anything else
/// ends the parsing. Returns the arguments the column links carry along.
fn parse_query(
    q: &[u8],
    present: bool,
    opts: &mut u32,
    keyid: &mut u8,
    direction: &mut u8,
    pattern: &mut Option<Vec<u8>>,
) -> Vec<u8> {
    let mut fval = Vec::new();
    let mut vval = Vec::new();
    let mut ppre: &[u8] = b"";
    let mut epattern = Vec::new();
    let mut i = 0;
    let mut active = present;
    let ends = |c: u8| c == b'&' || c == b';' || c == 0;
    while active && at(q, i) != 0 {
        let step = if at(q, i + 3) != 0 { 4 } else { 3 };
        let (c0, c1, c2, c3) = (at(q, i), at(q, i + 1), at(q, i + 2), at(q, i + 3));
        if c0 == b'C' && c1 == b'=' && c2 != 0 && b"NMSD".contains(&c2) && ends(c3) {
            *keyid = c2;
            i += step;
        } else if c0 == b'O' && c1 == b'=' && (c2 == b'A' || c2 == b'D') && ends(c3) {
            *direction = c2;
            i += step;
        } else if c0 == b'F' && c1 == b'=' && c2 != 0 && b"012".contains(&c2) && ends(c3) {
            match c2 {
                b'0' => *opts &= !(FANCY_INDEXING | TABLE_INDEXING),
                b'1' => *opts = (*opts | FANCY_INDEXING) & !TABLE_INDEXING,
                _ => *opts |= FANCY_INDEXING | TABLE_INDEXING,
            }
            fval = vec![b';', b'F', b'=', c2];
            i += step;
        } else if c0 == b'V' && c1 == b'=' && (c2 == b'0' || c2 == b'1') && ends(c3) {
            if c2 == b'0' {
                *opts &= !VERSION_SORT;
            } else {
                *opts |= VERSION_SORT;
            }
            vval = vec![b';', b'V', b'=', c2];
            i += step;
        } else if c0 == b'P' && c1 == b'=' {
            i += 2;
            let mut eos = i;
            while at(q, eos) != 0 && at(q, eos) != b'&' && at(q, eos) != b';' {
                eos += 1;
            }
            if eos == i {
                *pattern = None;
            } else {
                *pattern = unescape_url(&q[i..eos], b"/", b"").ok();
                if let Some(p) = pattern {
                    ppre = b";P=";
                    epattern = escape_path(p, true).into_bytes();
                }
            }
            if at(q, eos) != 0 && at(q, eos + 1) != 0 {
                i = eos + 1;
            } else {
                active = false;
            }
        } else {
            active = false;
        }
    }
    [fval, vval, ppre.to_vec(), epattern].concat()
}

/// The document's head: `<!DOCTYPE ...>` through `<body>`, with the style sheet and
/// IndexHeadInsert.
fn emit_preamble(d: &Dir, out: &mut Out, xhtml: bool, title: &[u8]) {
    if xhtml {
        out.put(DOCTYPE_XHTML_1_0T);
        out.put("<html xmlns=\"http://www.w3.org/1999/xhtml\">\n <head>\n  <title>Index of ");
    } else {
        out.put(DOCTYPE_HTML_4_01);
        out.put("<html>\n <head>\n  <title>Index of ");
    }
    out.put(title);
    out.put("</title>\n");
    if let Some(sheet) = &d.style_sheet {
        out.put(format!(
            "  <link rel=\"stylesheet\" href=\"{sheet}\" type=\"text/css\"{}",
            if xhtml { " />\n" } else { ">\n" }
        ));
    }
    if let Some(insert) = &d.head_insert {
        out.put(insert);
    }
    out.put(" </head>\n <body>\n");
}

/// A text file in `<pre>`, with `<`, `>` and `&` escaped.
fn emit_plain(out: &mut Out, text: &[u8]) {
    out.put("<pre>\n");
    for &b in text {
        match b {
            b'<' => out.put("&lt;"),
            b'>' => out.put("&gt;"),
            b'&' => out.put("&amp;"),
            _ => out.body.push(b),
        }
    }
    out.put("</pre>\n");
}

/// HeaderName's file (by a sub-request, so Alias, sections and access apply): an HTML file
/// replaces the `<h1>` (and with SuppressHTMLPreamble the preamble too), any other text file is
/// shown in `<pre>` after the preamble.
fn emit_head(req: &Request, d: &Dir, out: &mut Out, opts: u32, title: &[u8], args: Option<&str>) {
    let suppress_amble = opts & SUPPRESS_PREAMBLE != 0;
    let xhtml = opts & EMIT_XHTML != 0;
    let mut emit_amble = true;
    let mut emit_h1 = true;
    if let Some(found) = d
        .header
        .as_deref()
        .and_then(|h| included_file(req, h, args))
    {
        let is_html = found.content_type.as_deref().is_some_and(is_html_type);
        let is_text = found.content_type.as_deref().is_some_and(is_text_type);
        if is_html {
            if let Ok(content) = fs::read(&found.filename) {
                emit_amble = false;
                emit_h1 = false;
                if !suppress_amble {
                    emit_preamble(d, out, xhtml, title);
                }
                out.put(content);
                // Apache runs an HTML file as a sub-request whose output goes down the filter
                // chain at once, before the listing has a length.
                out.streamed = true;
            }
        } else if is_text {
            if let Ok(content) = fs::read(&found.filename) {
                emit_preamble(d, out, xhtml, title);
                emit_amble = false;
                emit_plain(out, &content);
                emit_h1 = false;
            }
        }
    }
    if emit_amble {
        emit_preamble(d, out, xhtml, title);
    }
    if emit_h1 {
        if d.style_sheet.is_some() {
            out.put("  <h1 id=\"indextitle\">Index of ");
        } else {
            out.put("<h1>Index of ");
        }
        out.put(title);
        out.put("</h1>\n");
    }
}

/// ReadmeName's file, then the signature (unless a readme was shown) and the closing tags
/// (unless an HTML readme was shown under SuppressHTMLPreamble).
fn emit_tail(req: &Request, readme: Option<&str>, out: &mut Out, suppress_amble: bool) {
    let mut suppress_sig = false;
    let mut suppress_post = false;
    if let Some(found) = readme.and_then(|r| included_file(req, r, None)) {
        let content_type = found.content_type.as_deref();
        if content_type.is_some_and(is_html_type) {
            if let Ok(content) = fs::read(&found.filename) {
                out.put(content);
                out.streamed = true; // as for the header: sent before the end
                suppress_sig = true;
                suppress_post = suppress_amble;
            }
        } else if content_type.is_some_and(is_text_type) {
            if let Ok(content) = fs::read(&found.filename) {
                emit_plain(out, &content);
                suppress_sig = true;
            }
        }
    }
    if !suppress_sig {
        let signature = request::signature(req);
        out.put(signature.strip_prefix("<hr>\n").unwrap_or(&signature));
    }
    if !suppress_post {
        out.put("</body></html>\n");
    }
}

fn is_text_type(t: &str) -> bool {
    t.as_bytes()
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"text/"))
}

fn is_html_type(t: &str) -> bool {
    t.eq_ignore_ascii_case("text/html") || t.eq_ignore_ascii_case("application/xhtml+xml")
}

/// The HeaderName/ReadmeName file as a sub-request finds it: relative names are in the listed
/// directory (the listing's query goes along, as Apache sends it); only a regular file counts.
fn included_file(req: &Request, name: &str, args: Option<&str>) -> Option<Found> {
    let mut target = if name.starts_with('/') {
        name.to_string()
    } else {
        let dir = escape_path(dirstr_parent(req.uri.as_bytes()), true);
        format!("{dir}{name}")
    };
    if let Some(args) = args {
        target = format!("{target}?{args}");
    }
    lookup_uri(req, &target).filter(|f| f.meta.is_file())
}

/// The parent directory's line (`make_parent_entry`): none at the root, or when IndexIgnore
/// hides `..`.
fn parent_entry(
    req: &Request,
    d: &Dir,
    file_dir: &[u8],
    opts: u32,
    keyid: u8,
    direction: u8,
) -> Option<Entry> {
    let up = if req.uri.ends_with('/') {
        format!("{}../", req.uri)
    } else {
        format!("{}/../", req.uri)
    };
    let name = uri::remove_dot_segments(&up, false).filter(|n| !n.is_empty())?;
    let mut testpath = file_dir.to_vec();
    testpath.extend_from_slice(b"..");
    if ignored(d, &testpath) {
        return None;
    }
    let mut entry = Entry {
        name: name.into_bytes(),
        icon: None,
        alt: None,
        desc: None,
        size: -1,
        mtime: -1,
        is_dir: false,
        ascending: direction == b'A',
        ignore_case: false,
        version_sort: opts & VERSION_SORT != 0,
        key: keyid,
    };
    if opts & FANCY_INDEXING != 0 {
        entry.icon = find_item(None, None, &testpath, &d.icons, true)
            .or_else(|| find_item(None, None, b"^^DIRECTORY^^", &d.icons, true))
            .map(str::to_string);
        entry.alt = Some(
            find_item(None, None, &testpath, &d.alts, true)
                .or_else(|| find_item(None, None, b"^^DIRECTORY^^", &d.alts, true))
                .unwrap_or("PARENTDIR")
                .to_string(),
        );
        entry.desc = find_desc(d, &testpath).map(str::to_string);
    }
    Some(entry)
}

/// One directory entry's line (`make_autoindex_entry`), or None when it is hidden: the `P=`
/// pattern, IndexIgnore, a failed sub-request (unless ShowForbidden lets 401/403 through), or
/// something that is neither a file nor a directory.
#[allow(clippy::too_many_arguments)]
fn make_entry(
    req: &Request,
    d: &Dir,
    file_dir: &[u8],
    name: &[u8],
    meta: &fs::Metadata,
    opts: u32,
    keyid: u8,
    direction: u8,
    pattern: Option<&[u8]>,
) -> Option<Entry> {
    if name == b"." || name == b".." {
        return None;
    }
    if pattern.is_some_and(|p| !fnmatch(p, name, Flags::NOESCAPE | Flags::PERIOD)) {
        return None;
    }
    let mut path = file_dir.to_vec();
    path.extend_from_slice(name);
    if ignored(d, &path) {
        return None;
    }
    let found = match lookup_entry(req, file_dir, name, meta) {
        Ok(found) => found,
        Err(401 | 403) if opts & SHOW_FORBIDDEN != 0 => Found {
            filename: PathBuf::from(std::ffi::OsStr::from_bytes(&path)),
            meta: meta.clone(),
            content_type: None,
            encoding: None,
        },
        Err(_) => return None,
    };
    if !found.meta.is_dir() && !found.meta.is_file() {
        return None;
    }
    let mut entry = Entry {
        name: name.to_vec(),
        icon: None,
        alt: None,
        desc: None,
        size: -1,
        mtime: -1,
        is_dir: false,
        ascending: direction == b'A',
        ignore_case: opts & IGNORE_CASE != 0,
        version_sort: opts & VERSION_SORT != 0,
        key: keyid,
    };
    if meta.is_dir() {
        entry.name.push(b'/');
    }
    if opts & (FANCY_INDEXING | TABLE_INDEXING) != 0 {
        entry.mtime = found.meta.mtime() * 1_000_000 + found.meta.mtime_nsec() / 1000;
        let desc_path;
        if meta.is_dir() {
            entry.is_dir = opts & FOLDERS_FIRST != 0;
            // Matched as the directory's path without its trailing slash.
            desc_path = path.clone();
            entry.icon = find_item(None, None, &path, &d.icons, true)
                .or_else(|| find_item(None, None, b"^^DIRECTORY^^", &d.icons, true))
                .map(str::to_string);
            entry.alt = Some(
                find_item(None, None, &path, &d.alts, true)
                    .or_else(|| find_item(None, None, b"^^DIRECTORY^^", &d.alts, true))
                    .unwrap_or("DIR")
                    .to_string(),
            );
        } else {
            desc_path = found.filename.as_os_str().as_bytes().to_vec();
            let (ct, enc) = (found.content_type.as_deref(), found.encoding.as_deref());
            entry.icon = find_item(ct, enc, &desc_path, &d.icons, false).map(str::to_string);
            entry.alt = find_item(ct, enc, &desc_path, &d.alts, false).map(str::to_string);
            entry.size = found.meta.len() as i64;
        }
        entry.desc = find_desc(d, &desc_path).map(str::to_string);
    }
    if keyid == b'M' && entry.mtime < 0 {
        entry.mtime = 0;
    }
    Some(entry)
}

/// `dsortf`: the parent first, then (FoldersFirst) directories, then the key in the asked
/// direction, names breaking ties.
fn compare(e1: &Entry, e2: &Entry) -> Ordering {
    if e1.name.first() == Some(&b'/') {
        return Ordering::Less;
    }
    if e2.name.first() == Some(&b'/') {
        return Ordering::Greater;
    }
    if e1.is_dir != e2.is_dir {
        return if e1.is_dir {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let (c1, c2) = if e1.ascending { (e1, e2) } else { (e2, e1) };
    let by_key = match c1.key {
        b'M' => c1.mtime.cmp(&c2.mtime),
        b'S' => c1.size.cmp(&c2.size),
        b'D' => {
            let a = c1.desc.as_deref().unwrap_or("").as_bytes();
            let b = c2.desc.as_deref().unwrap_or("").as_bytes();
            if c1.version_sort {
                strnatcmp(a, b, false)
            } else {
                a.cmp(b)
            }
        }
        _ => Ordering::Equal,
    };
    if by_key != Ordering::Equal {
        return by_key;
    }
    let mut result = Ordering::Equal;
    if c1.version_sort {
        if c1.ignore_case {
            result = strnatcmp(&c1.name, &c2.name, true);
        }
        if result == Ordering::Equal {
            result = strnatcmp(&c1.name, &c2.name, false);
        }
    }
    if result == Ordering::Equal && c1.ignore_case {
        result = strcasecmp(&c1.name, &c2.name);
    }
    if result == Ordering::Equal {
        result = c1.name.cmp(&c2.name);
    }
    result
}

/// The entries' order by [`compare`]. A merge sort of our own: natural-order comparisons need
/// not be transitive, and the standard library's sorts may panic on such an order.
fn sorted(entries: &[Entry]) -> Vec<usize> {
    fn sort(idx: &mut [usize], entries: &[Entry], scratch: &mut Vec<usize>) {
        if idx.len() <= 1 {
            return;
        }
        let mid = idx.len() / 2;
        sort(&mut idx[..mid], entries, scratch);
        sort(&mut idx[mid..], entries, scratch);
        scratch.clear();
        let (mut i, mut j) = (0, mid);
        while i < mid && j < idx.len() {
            if compare(&entries[idx[j]], &entries[idx[i]]) == Ordering::Less {
                scratch.push(idx[j]);
                j += 1;
            } else {
                scratch.push(idx[i]);
                i += 1;
            }
        }
        scratch.extend_from_slice(&idx[i..mid]);
        scratch.extend_from_slice(&idx[j..]);
        idx.copy_from_slice(scratch);
    }
    let mut idx: Vec<usize> = (0..entries.len()).collect();
    sort(&mut idx, entries, &mut Vec::with_capacity(entries.len()));
    idx
}

/// `terminate_description`: cut to the width, tags free and entities one column, the last
/// kept character replaced by `>`.
fn terminate_description(d: &Dir, desc: &[u8], opts: u32, desc_width: i32) -> Vec<u8> {
    let mut maxsize = desc_width;
    if d.desc_adjust == Adjust::Unset {
        if opts & SUPPRESS_ICON != 0 {
            maxsize += 6;
        }
        if opts & SUPPRESS_LAST_MOD != 0 {
            maxsize += 19;
        }
        if opts & SUPPRESS_SIZE != 0 {
            maxsize += 7;
        }
    }
    let mut x = 0;
    while at(desc, x) != 0 && (maxsize > 0 || at(desc, x) == b'<') {
        if at(desc, x) == b'<' {
            while at(desc, x) != b'>' {
                if at(desc, x) == 0 {
                    maxsize = 0;
                    break;
                }
                x += 1;
            }
        } else if at(desc, x) == b'&' {
            maxsize -= 1;
            while at(desc, x) != b';' {
                if at(desc, x) == 0 {
                    maxsize = 0;
                    break;
                }
                x += 1;
            }
        } else {
            maxsize -= 1;
        }
        x += 1;
    }
    if maxsize == 0 && at(desc, x) != 0 {
        let mut cut = desc[..x.saturating_sub(1)].to_vec();
        cut.push(b'>');
        return cut;
    }
    desc.to_vec()
}

/// A column heading: a link that sorts by the column (reversing the current order when it is
/// already the key), or plain text under SuppressColumnSorting.
fn emit_link(
    out: &mut Out,
    anchor: &str,
    column: u8,
    keyid: u8,
    direction: u8,
    colargs: &[u8],
    nosort: bool,
) {
    if nosort {
        out.put(anchor);
        return;
    }
    let order = if keyid == column && direction == b'A' {
        'D'
    } else {
        'A'
    };
    out.put(format!("<a href=\"?C={};O={order}", column as char));
    out.put(colargs);
    out.put(format!("\">{anchor}</a>"));
}

/// `<img ...>` for an icon, with IconWidth/IconHeight and the XHTML slash.
fn emit_img(out: &mut Out, d: &Dir, src: &str, alt: &str, xhtml: bool) {
    out.put("<img src=\"");
    out.put(escape_html(src.as_bytes()));
    out.put(format!("\" alt=\"{alt}\""));
    if d.icon_width != 0 {
        out.put(format!(" width=\"{}\"", d.icon_width));
    }
    if d.icon_height != 0 {
        out.put(format!(" height=\"{}\"", d.icon_height));
    }
    if xhtml {
        out.put(" /");
    }
}

/// A name cut to the column width, ending `..>`, and its display width.
fn fit_name(name: &[u8], width: usize) -> (Vec<u8>, usize) {
    if name.len() > width {
        let mut cut = name[..width.saturating_sub(3)].to_vec();
        cut.extend_from_slice(b"..>");
        cut.truncate(width);
        (cut, width)
    } else {
        (name.to_vec(), name.len())
    }
}

/// The column headings, a line per entry and the closing rule in the chosen format.
fn output_directories(
    entries: &[Entry],
    d: &Dir,
    out: &mut Out,
    opts: u32,
    keyid: u8,
    direction: u8,
    colargs: &[u8],
) {
    let static_columns = opts & SUPPRESS_COLSORT != 0;
    let xhtml = opts & EMIT_XHTML != 0;
    let styled = d.style_sheet.is_some();
    let table = opts & TABLE_INDEXING != 0;
    let fancy = opts & FANCY_INDEXING != 0;
    let mut name_width = d.name_width.max(0) as usize;
    let mut desc_width = d.desc_width;
    // `*` widths only mean something in `<pre>` columns; a table sizes itself.
    if fancy && !table {
        if d.name_adjust == Adjust::Fit {
            name_width = entries
                .iter()
                .map(|e| e.name.len())
                .fold(name_width, usize::max);
        }
        if d.desc_adjust == Adjust::Fit {
            desc_width = entries
                .iter()
                .filter_map(|e| e.desc.as_ref())
                .map(|t| t.len() as i32)
                .fold(desc_width, i32::max);
        }
    }
    let pad = |n: usize| " ".repeat(name_width.saturating_sub(n));
    let class = |c: &str, plain: &'static str| -> String {
        if styled {
            format!(" class=\"{c}\">")
        } else {
            plain.to_string()
        }
    };
    let mut breakrow = String::new();
    if table {
        let mut cols = 1;
        if styled {
            out.put("  <table id=\"indexlist\">\n   <tr class=\"indexhead\">");
        } else {
            out.put("  <table>\n   <tr>");
        }
        if opts & SUPPRESS_ICON == 0 {
            out.put(format!("<th{}", class("indexcolicon", " valign=\"top\">")));
            match find_item(None, None, b"^^BLANKICON^^", &d.icons, true) {
                Some(blank) => {
                    emit_img(out, d, blank, "[ICO]", xhtml);
                    out.put("></th>");
                }
                None => out.put("&nbsp;</th>"),
            }
            cols += 1;
        }
        out.put(format!("<th{}", class("indexcolname", ">")));
        emit_link(out, "Name", b'N', keyid, direction, colargs, static_columns);
        if opts & SUPPRESS_LAST_MOD == 0 {
            out.put(format!("</th><th{}", class("indexcollastmod", ">")));
            emit_link(
                out,
                "Last modified",
                b'M',
                keyid,
                direction,
                colargs,
                static_columns,
            );
            cols += 1;
        }
        if opts & SUPPRESS_SIZE == 0 {
            out.put(format!("</th><th{}", class("indexcolsize", ">")));
            emit_link(out, "Size", b'S', keyid, direction, colargs, static_columns);
            cols += 1;
        }
        if opts & SUPPRESS_DESC == 0 {
            out.put(format!("</th><th{}", class("indexcoldesc", ">")));
            emit_link(
                out,
                "Description",
                b'D',
                keyid,
                direction,
                colargs,
                static_columns,
            );
            cols += 1;
        }
        if opts & SUPPRESS_RULES == 0 {
            breakrow = format!(
                "   <tr{}><th colspan=\"{cols}\"><hr{}></th></tr>\n",
                if styled {
                    " class=\"indexbreakrow\""
                } else {
                    ""
                },
                if xhtml { " /" } else { "" }
            );
        }
        out.put("</th></tr>\n");
        out.put(&breakrow);
    } else if fancy {
        out.put("<pre>");
        if opts & SUPPRESS_ICON == 0 {
            match find_item(None, None, b"^^BLANKICON^^", &d.icons, true) {
                Some(blank) => {
                    emit_img(out, d, blank, "Icon ", xhtml);
                    out.put("> ");
                }
                None => out.put("      "),
            }
        }
        emit_link(out, "Name", b'N', keyid, direction, colargs, static_columns);
        out.put(" ".repeat(name_width.saturating_sub(4)));
        out.put(" ");
        if opts & SUPPRESS_LAST_MOD == 0 {
            emit_link(
                out,
                "Last modified",
                b'M',
                keyid,
                direction,
                colargs,
                static_columns,
            );
            out.put("      ");
        }
        if opts & SUPPRESS_SIZE == 0 {
            emit_link(out, "Size", b'S', keyid, direction, colargs, static_columns);
            out.put("  ");
        }
        if opts & SUPPRESS_DESC == 0 {
            emit_link(
                out,
                "Description",
                b'D',
                keyid,
                direction,
                colargs,
                static_columns,
            );
        }
        if opts & SUPPRESS_RULES == 0 {
            out.put(if xhtml { "<hr />" } else { "<hr>" });
        } else {
            out.put("\n");
        }
    } else {
        out.put("<ul>");
    }

    for (x, entry) in entries.iter().enumerate() {
        let anchor = escape_html(escape_path(&entry.name, false).as_bytes());
        let shown: &[u8] = if x == 0 && entry.name.first() == Some(&b'/') {
            b"Parent Directory"
        } else {
            &entry.name
        };
        let time = (entry.mtime != -1).then(|| format_time(entry.mtime, d.old_date_format));
        let icon = entry.icon.as_ref().or(d.default_icon.as_ref());
        let alt = format!("[{}]", entry.alt.as_deref().unwrap_or("   "));
        let links = opts & ICONS_ARE_LINKS != 0;
        if table {
            if styled {
                let parity = if x & 1 == 1 { "odd" } else { "even" };
                match entry.alt.as_deref().filter(|_| opts & ADD_ALT_CLASS != 0) {
                    Some(alt) => out.put(format!(
                        "   <tr class=\"{parity}-{}\">",
                        alt.to_ascii_lowercase()
                    )),
                    None => out.put(format!("   <tr class=\"{parity}\">")),
                }
            } else {
                out.put("<tr>");
            }
            if opts & SUPPRESS_ICON == 0 {
                out.put(format!("<td{}", class("indexcolicon", " valign=\"top\">")));
                if links {
                    out.put("<a href=\"");
                    out.put(&anchor);
                    out.put("\">");
                }
                match icon {
                    Some(src) => {
                        emit_img(out, d, src, &alt, xhtml);
                        out.put(">");
                    }
                    None => out.put("&nbsp;"),
                }
                out.put(if links { "</a></td>" } else { "</td>" });
            }
            out.put(format!("<td{}", class("indexcolname", ">")));
            out.put("<a href=\"");
            out.put(&anchor);
            out.put("\">");
            if d.name_adjust == Adjust::Fit {
                out.put(escape_html(shown));
                out.put("</a>");
            } else {
                let (text, width) = fit_name(shown, name_width);
                out.put(escape_html(&text));
                out.put("</a>");
                out.put(pad(width));
            }
            if opts & SUPPRESS_LAST_MOD == 0 {
                match &time {
                    Some(t) => out.put(format!(
                        "</td><td{}{t}  ",
                        class("indexcollastmod", " align=\"right\">")
                    )),
                    None => out.put(if styled {
                        "</td><td class=\"indexcollastmod\">&nbsp;"
                    } else {
                        "</td><td>&nbsp;"
                    }),
                }
            }
            if opts & SUPPRESS_SIZE == 0 {
                out.put(format!(
                    "</td><td{}{}",
                    class("indexcolsize", " align=\"right\">"),
                    strfsize(entry.size)
                ));
            }
            if opts & SUPPRESS_DESC == 0 {
                out.put(format!("</td><td{}", class("indexcoldesc", ">")));
                match &entry.desc {
                    Some(desc) if d.desc_adjust == Adjust::Fit => out.put(desc),
                    Some(desc) => {
                        out.put(terminate_description(d, desc.as_bytes(), opts, desc_width))
                    }
                    None => out.put("&nbsp;"),
                }
            }
            out.put("</td></tr>\n");
        } else if fancy {
            if opts & SUPPRESS_ICON == 0 {
                if links {
                    out.put("<a href=\"");
                    out.put(&anchor);
                    out.put("\">");
                }
                match icon {
                    Some(src) => {
                        emit_img(out, d, src, &alt, xhtml);
                        out.put(">");
                    }
                    None => out.put("     "),
                }
                out.put(if links { "</a> " } else { " " });
            }
            let (text, width) = fit_name(shown, name_width);
            out.put("<a href=\"");
            out.put(&anchor);
            out.put("\">");
            out.put(escape_html(&text));
            out.put("</a>");
            out.put(pad(width));
            out.put(" ");
            if opts & SUPPRESS_LAST_MOD == 0 {
                match &time {
                    Some(t) => out.put(format!("{t}  ")),
                    None => out.put(" ".repeat(19)),
                }
            }
            if opts & SUPPRESS_SIZE == 0 {
                out.put(strfsize(entry.size));
                out.put("  ");
            }
            if opts & SUPPRESS_DESC == 0 {
                if let Some(desc) = &entry.desc {
                    out.put(terminate_description(d, desc.as_bytes(), opts, desc_width));
                }
            }
            out.put("\n");
        } else {
            out.put("<li><a href=\"");
            out.put(&anchor);
            out.put("\"> ");
            out.put(escape_html(shown));
            out.put("</a></li>\n");
        }
    }
    if table {
        out.put(&breakrow);
        out.put("</table>\n");
    } else if fancy {
        if opts & SUPPRESS_RULES == 0 {
            out.put(if xhtml {
                "<hr /></pre>\n"
            } else {
                "<hr></pre>\n"
            });
        } else {
            out.put("</pre>\n");
        }
    } else {
        out.put("</ul>\n");
    }
}

/// mod_autoindex's hook: its handler, for directories.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("autoindex", Order::Middle, handler);
}

/// Lists a directory no index answered for and no handler was set on, for GET and HEAD,
/// under `Options Indexes`; refuses it (403) without.
fn handler(req: &mut Request) -> Step<Option<Response>> {
    let is_dir = req.finfo.as_ref().is_some_and(|m| m.is_dir());
    let listable = crate::request::pipeline::set_handler(req).is_none();
    if !is_dir || !listable || !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Ok(None);
    }
    let dir = req.filename.clone().unwrap_or_default();
    if req.dir.core.options() & rhttpd_directives::model::opt::INDEXES == 0 {
        // The filename as the request named it, and the names mod_dir tried (none when the
        // request had no trailing slash, so mod_dir looked for nothing).
        let (slash, tried) = match req.uri.ends_with('/') {
            true => (
                "/",
                req.dir.module::<super::dir::Dir>().index_names().join(","),
            ),
            false => ("", "none".to_string()),
        };
        let text = format!(
            "AH01276: Cannot serve directory {}{slash}: No matching DirectoryIndex ({tried}) found, and server-generated directory index forbidden by Options directive",
            dir.to_string_lossy().into_owned().trim_end_matches('/'),
        );
        req.log_error("autoindex", "error", &text);
        return Err(403);
    }
    index_directory(req, &dir).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_apache_prints_them() {
        assert_eq!(strfsize(-1), "  - ");
        assert_eq!(strfsize(0), "  0 ");
        assert_eq!(strfsize(972), "972 ");
        assert_eq!(strfsize(973), "1.0K");
        assert_eq!(strfsize(1536), "1.5K");
        assert_eq!(strfsize(10_000), "9.8K");
        assert_eq!(strfsize(1_048_576), "1.0M");
        assert_eq!(strfsize(9 * 1024 + 1000), " 10K");
    }

    #[test]
    fn natural_order_compares_digit_runs_by_value() {
        assert_eq!(strnatcmp(b"a2", b"a10", false), Ordering::Less);
        // Leading zeros compare left-aligned, as fractions.
        assert_eq!(strnatcmp(b"a02", b"a1", false), Ordering::Less);
        assert_eq!(strnatcmp(b"A", b"a", true), Ordering::Equal);
        assert_eq!(strnatcmp(b"x1.10", b"x1.9", false), Ordering::Greater);
    }

    #[test]
    fn options_merge_like_apache() {
        let mut parent = Dir::default();
        parent.add_options(&["FancyIndexing".into(), "FoldersFirst".into()]);
        let mut child = Dir::default();
        child.add_options(&["+HTMLTable".into(), "-FoldersFirst".into()]);
        let merged = parent.merge(&child);
        assert_ne!(merged.opts & TABLE_INDEXING, 0);
        assert_ne!(merged.opts & FANCY_INDEXING, 0);
        assert_eq!(merged.opts & FOLDERS_FIRST, 0);
        let mut absolute = Dir::default();
        absolute.add_options(&["SuppressSize".into()]);
        let merged = parent.merge(&absolute);
        assert_eq!(merged.opts & FANCY_INDEXING, 0);
    }
}
