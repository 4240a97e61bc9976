//! mod_mime, whole: its directives (table, setters, typed per-directory configuration and
//! merge) and its type checker: a file's content type, encoding, languages, charset and
//! handler from the extensions of its name (every dot-separated extension, left to right, a
//! later one overriding an earlier one), `AddType` and friends over the `TypesConfig` table.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "mime_module",
    source: "mod_mime.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AddCharset",
        Iterate2(add_charset),
        OR_FILEINFO,
        "a charset (e.g., iso-2022-jp), followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddEncoding",
        Iterate2(add_encoding),
        OR_FILEINFO,
        "an encoding (e.g., gzip), followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddHandler",
        Iterate2(add_handler),
        OR_FILEINFO,
        "a handler name followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddInputFilter",
        Iterate2(add_input_filter),
        OR_FILEINFO,
        "input filter name (or ; delimited names) followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddLanguage",
        Iterate2(add_language),
        OR_FILEINFO,
        "a language (e.g., fr), followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddOutputFilter",
        Iterate2(add_output_filter),
        OR_FILEINFO,
        "output filter name (or ; delimited names) followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddType",
        Iterate2(add_type),
        OR_FILEINFO,
        "a mime type followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "DefaultLanguage",
        Take1(default_language),
        OR_FILEINFO,
        "language to use for documents with no other language file extension",
    )
    .implemented(),
    DirectiveDef::new(
        "MultiviewsMatch",
        Iterate(multiviews_match),
        OR_FILEINFO,
        "NegotiatedOnly (default), Handlers and/or Filters, or Any",
    )
    .forbid(NOT_IN_LOCATION)
    .implemented(),
    DirectiveDef::new(
        "RemoveCharset",
        Iterate(remove_charset),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveEncoding",
        Iterate(remove_encoding),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveHandler",
        Iterate(remove_handler),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveInputFilter",
        Iterate(remove_input_filter),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveLanguage",
        Iterate(remove_language),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveOutputFilter",
        Iterate(remove_output_filter),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveType",
        Iterate(remove_type),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "TypesConfig",
        Take1(types_config),
        RSRC_CONF,
        "the MIME types config file",
    )
    .implemented(),
    DirectiveDef::new(
        "ModMimeUsePathInfo",
        Flag(use_path_info),
        ACCESS_CONF,
        "Set to 'yes' to allow mod_mime to use path info for type checking",
    )
    .implemented(),
];

/// AddType, AddEncoding, AddCharset, AddLanguage and AddHandler: the value (lower-cased) for
/// each extension; AddOutputFilter and AddInputFilter keep the filter names as written.
macro_rules! add_setters {
    ($($name:ident => $field:ident, $lower:expr;)*) => {$(
        fn $name(cmd: &mut Cmd, value: &str, ext: &str) -> SetResult {
            let value = if $lower { value.to_ascii_lowercase() } else { value.to_string() };
            cmd.dir_config::<Dir>().$field.push((ext_key(ext), Some(value)));
            Ok(())
        }
    )*};
}

add_setters! {
    add_type => types, true;
    add_encoding => encodings, true;
    add_charset => charsets, true;
    add_language => languages, true;
    add_handler => handlers, true;
    add_output_filter => output_filters, false;
    add_input_filter => input_filters, false;
}

/// The Remove* directives: the extension's entry removed, which a deeper section's Add* can
/// set again.
macro_rules! remove_setters {
    ($($name:ident => $field:ident;)*) => {$(
        fn $name(cmd: &mut Cmd, ext: &str) -> SetResult {
            cmd.dir_config::<Dir>().$field.push((ext_key(ext), None));
            Ok(())
        }
    )*};
}

remove_setters! {
    remove_type => types;
    remove_encoding => encodings;
    remove_charset => charsets;
    remove_language => languages;
    remove_handler => handlers;
    remove_output_filter => output_filters;
    remove_input_filter => input_filters;
}

/// TypesConfig: the file is read once, at post_config, and only the main server's counts
/// (a virtual host's line is accepted and has no effect, as in Apache).
fn types_config(cmd: &mut Cmd, file: &str) -> SetResult {
    cmd.server_config::<ServerConf>().types_config = Some(file.to_string());
    Ok(())
}

/// mod_mime's per-server configuration.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// TypesConfig as written (relative to ServerRoot).
    pub types_config: Option<String>,
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            types_config: vhost
                .types_config
                .clone()
                .or_else(|| self.types_config.clone()),
        }
    }
}

fn default_language(cmd: &mut Cmd, language: &str) -> SetResult {
    cmd.dir_config::<Dir>().default_language = Some(language.to_string());
    Ok(())
}

fn use_path_info(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().use_path_info = Some(on);
    Ok(())
}

/// MultiviewsMatch: Any and NegotiatedOnly each exclude every other option, also when they
/// come from an earlier line of the same section (whose words this section's config holds).
fn multiviews_match(cmd: &mut Cmd, word: &str) -> SetResult {
    const ANY: u8 = 1;
    const NEGOTIATED: u8 = 2;
    const HANDLERS: u8 = 4;
    const FILTERS: u8 = 8;
    let bit_of = |word: &str| match word {
        "any" => Some(ANY),
        "negotiatedonly" => Some(NEGOTIATED),
        "filters" => Some(FILTERS),
        "handlers" => Some(HANDLERS),
        _ => None,
    };
    let lower = word.to_ascii_lowercase();
    let (clashes, message) = match bit_of(&lower) {
        Some(ANY) => (
            !ANY,
            "Any is incompatible with NegotiatedOnly, Filters and Handlers",
        ),
        Some(NEGOTIATED) => (
            !NEGOTIATED,
            "NegotiatedOnly is incompatible with Any, Filters and Handlers",
        ),
        Some(FILTERS) => (
            NEGOTIATED | ANY,
            "Filters is incompatible with Any and NegotiatedOnly",
        ),
        Some(_) => (
            NEGOTIATED | ANY,
            "Handlers is incompatible with Any and NegotiatedOnly",
        ),
        None => return Err(format!("Unrecognized option '{word}'")),
    };
    let config = cmd.dir_config::<Dir>();
    let set = config
        .multiviews_match
        .iter()
        .flatten()
        .filter_map(|w| bit_of(w))
        .fold(0, |set, bit| set | bit);
    if set & clashes != 0 {
        return Err(message.into());
    }
    config
        .multiviews_match
        .get_or_insert_with(Vec::new)
        .push(lower);
    Ok(())
}

/// Per-directory extension maps, in the order they were configured (a later entry for the
/// same extension wins; `None` records a Remove* directive).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub types: Vec<(String, Option<String>)>,
    pub encodings: Vec<(String, Option<String>)>,
    pub charsets: Vec<(String, Option<String>)>,
    pub languages: Vec<(String, Option<String>)>,
    pub handlers: Vec<(String, Option<String>)>,
    /// AddOutputFilter / RemoveOutputFilter.
    pub output_filters: Vec<(String, Option<String>)>,
    /// AddInputFilter / RemoveInputFilter.
    pub input_filters: Vec<(String, Option<String>)>,
    /// MultiviewsMatch, lower-cased words (NegotiatedOnly when unset).
    pub multiviews_match: Option<Vec<String>>,
    pub default_language: Option<String>,
    /// ModMimeUsePathInfo: the path info's last part is typed too.
    pub use_path_info: Option<bool>,
}

fn ext_key(ext: &str) -> String {
    ext.trim_start_matches('.').to_ascii_lowercase()
}

impl DirConfig for Dir {
    /// The maps accumulate (a deeper section's entries are found first); the rest is the
    /// deeper section's when it sets them.
    fn merge(&self, child: &Dir) -> Dir {
        let join = |a: &Vec<(String, Option<String>)>, b: &Vec<(String, Option<String>)>| {
            let mut out = a.clone();
            out.extend(b.iter().cloned());
            out
        };
        Dir {
            types: join(&self.types, &child.types),
            encodings: join(&self.encodings, &child.encodings),
            charsets: join(&self.charsets, &child.charsets),
            languages: join(&self.languages, &child.languages),
            handlers: join(&self.handlers, &child.handlers),
            output_filters: join(&self.output_filters, &child.output_filters),
            input_filters: join(&self.input_filters, &child.input_filters),
            multiviews_match: child
                .multiviews_match
                .clone()
                .or_else(|| self.multiviews_match.clone()),
            default_language: child
                .default_language
                .clone()
                .or_else(|| self.default_language.clone()),
            use_path_info: child.use_path_info.or(self.use_path_info),
        }
    }
}

/// The last configured value for `ext` in `list`: `Some(None)` if it was removed.
fn lookup<'a>(list: &'a [(String, Option<String>)], ext: &str) -> Option<Option<&'a str>> {
    list.iter()
        .rev()
        .find(|(e, _)| e == ext)
        .map(|(_, v)| v.as_deref())
}

/// The `TypesConfig` table: extension to media type.
#[derive(Debug, Clone, Default)]
pub struct TypesTable(pub HashMap<String, String>);

impl TypesTable {
    /// Reads a `mime.types` file: `type ext ext ...` per line, `#` comments.
    pub fn load(path: &Path) -> std::io::Result<TypesTable> {
        // Bytes, as Apache reads it: a comment in another encoding must not make it unreadable.
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut map = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(media_type) = words.next() else {
                continue;
            };
            for ext in words {
                map.insert(ext.to_ascii_lowercase(), media_type.to_ascii_lowercase());
            }
        }
        Ok(TypesTable(map))
    }
}

/// What mod_mime decided for a file name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileInfo {
    pub content_type: Option<String>,
    pub encoding: Option<String>,
    pub languages: Vec<String>,
    pub charset: Option<String>,
    pub handler: Option<String>,
    /// Output filters its extensions add (`;`-separated lists, in extension order).
    pub output_filters: Vec<String>,
    /// Input filters its extensions add, likewise.
    pub input_filters: Vec<String>,
    /// The name's parts that carry no metadata: the base name, then every extension none
    /// of the maps knows (mod_negotiation matches MultiViews candidates against these).
    /// Found only by [`classify_candidate`]; empty otherwise.
    pub exceptions: Vec<String>,
    /// The warning Apache logs (at the server's level) for a type it could not parse.
    pub type_warning: Option<String>,
}

/// Apache's `find_ct`: every extension after the first dot of the base name.
pub fn classify(name: &str, dir: &Dir, table: &TypesTable) -> FileInfo {
    classify_with(name, dir, table, false)
}

/// [`classify`] for a MultiViews candidate: with the name's parts no map knows
/// (`FileInfo::exceptions`), which only mod_negotiation reads.
pub fn classify_candidate(name: &str, dir: &Dir, table: &TypesTable) -> FileInfo {
    classify_with(name, dir, table, true)
}

/// The handler [`classify`] finds for `name` (the last of its extensions AddHandler maps),
/// without the rest of the classification: every handler hook asks which handler a request
/// reaches, and most directories map no handler at all.
pub fn handler(name: &str, dir: &Dir) -> Option<String> {
    if dir.handlers.is_empty() {
        return None;
    }
    let mut found = None;
    for (_, ext) in extensions(name).1 {
        if let Some(Some(h)) = lookup(&dir.handlers, &ext) {
            found = Some(h);
        }
    }
    found.map(str::to_string)
}

/// A file name's base (leading dots belong to it: ".png" is a hidden file, not a PNG) and
/// its extensions after the base's first dot, each as written and lower-cased (no copy for
/// one already lower-case), empty ones skipped.
fn extensions(name: &str) -> (&str, impl Iterator<Item = (&str, Cow<'_, str>)>) {
    let dots = name.len() - name.trim_start_matches('.').len();
    let (base, rest) = match name[dots..].find('.') {
        Some(at) => (&name[..dots + at], Some(&name[dots + at + 1..])),
        None => (name, None),
    };
    let exts = rest
        .into_iter()
        .flat_map(|r| r.split('.'))
        .filter(|original| !original.is_empty())
        .map(|original| {
            let ext: Cow<str> = if original.bytes().any(|b| b.is_ascii_uppercase()) {
                original.to_ascii_lowercase().into()
            } else {
                original.into()
            };
            (original, ext)
        });
    (base, exts)
}

fn classify_with(name: &str, dir: &Dir, table: &TypesTable, exceptions: bool) -> FileInfo {
    let mut info = FileInfo::default();
    let (base, exts) = extensions(name);
    if exceptions {
        info.exceptions.push(base.to_string());
    }
    for (original, ext) in exts {
        let ext: &str = &ext;
        // Only metadata counts as recognised (MultiviewsMatch NegotiatedOnly); handlers and
        // filters count when MultiviewsMatch says so, and Any takes every extension.
        let matching = |word: &str| {
            dir.multiviews_match
                .as_ref()
                .is_some_and(|m| m.iter().any(|w| w == word))
        };
        let set =
            |list: &[(String, Option<String>)]| lookup(list, ext).is_some_and(|v| v.is_some());
        let listed = table.0.get(ext);
        let known = || {
            lookup(&dir.types, ext).is_some_and(|t| t.is_some())
                || listed.is_some()
                || set(&dir.encodings)
                || set(&dir.languages)
                || set(&dir.charsets)
                || (matching("handlers") && set(&dir.handlers))
                || (matching("filters") && (set(&dir.output_filters) || set(&dir.input_filters)))
                || matching("any")
        };
        if exceptions && !known() {
            info.exceptions.push(original.to_string());
        }
        match lookup(&dir.types, ext) {
            Some(Some(t)) => info.content_type = Some(t.to_string()),
            // RemoveType forces an empty type (mod_mime adds "" for it), which mime.types
            // does not override: no Content-Type at all.
            Some(None) => info.content_type = None,
            None => {
                if let Some(t) = listed {
                    info.content_type = Some(t.clone());
                }
            }
        }
        if let Some(Some(e)) = lookup(&dir.encodings, ext) {
            info.encoding = Some(e.to_string());
        }
        if let Some(Some(l)) = lookup(&dir.languages, ext) {
            info.languages.push(l.to_string());
        }
        if let Some(Some(c)) = lookup(&dir.charsets, ext) {
            info.charset = Some(c.to_string());
        }
        if let Some(Some(h)) = lookup(&dir.handlers, ext) {
            info.handler = Some(h.to_string());
        }
        if let Some(Some(f)) = lookup(&dir.output_filters, ext) {
            info.output_filters.push(f.to_string());
        }
        if let Some(Some(f)) = lookup(&dir.input_filters, ext) {
            info.input_filters.push(f.to_string());
        }
    }
    if info.languages.is_empty() {
        info.languages.extend(dir.default_language.clone());
    }
    // The type is rebuilt from its parts (parameters rejoined with "; ", AddCharset's charset
    // replacing the type's own); one Apache cannot parse is left as it is, with a warning.
    if let Some(ct) = info.content_type.take() {
        // A bare `type/subtype` (what mime.types gives) comes back from the parse as it went
        // in: taken as it is, unless a charset is to be added.
        let bare = ct
            .find('/')
            .is_some_and(|slash| slash > 0 && slash + 1 < ct.len())
            && !ct.bytes().any(|b| b == b';' || b.is_ascii_whitespace());
        if bare && info.charset.is_none() {
            info.content_type = Some(ct);
            return info;
        }
        info.content_type = Some(match analyze_content_type(&ct) {
            Ok((base, params)) => {
                let mut rebuilt = base;
                let mut charset_done = false;
                for (attr, value) in params {
                    match &info.charset {
                        Some(charset) if attr == "charset" => {
                            if !charset_done {
                                rebuilt = format!("{rebuilt}; charset={charset}");
                                charset_done = true;
                            }
                        }
                        _ => rebuilt = format!("{rebuilt}; {attr}={value}"),
                    }
                }
                if let (Some(charset), false) = (&info.charset, charset_done) {
                    rebuilt = format!("{rebuilt}; charset={charset}");
                }
                rebuilt
            }
            Err(warning) => {
                info.type_warning = Some(warning);
                ct
            }
        });
    }
    info
}

/// mod_mime's `analyze_ct`: a type's `type/subtype` and its parameters (attributes as written,
/// values with quotes kept), or the warning Apache logs for a type it cannot take apart.
fn analyze_content_type(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let b = text.as_bytes();
    let space = |c: u8| c.is_ascii_whitespace();
    let tspecial = |c: u8| b"()<>@,;:\\\"/[]?=".contains(&c);
    let token = |c: u8| c.is_ascii_graphic() && !tspecial(c);
    let media =
        |id: &str| format!("{id}: mod_mime: analyze_ct: cannot get media type from '{text}'");
    let plain_media = |id: &str| format!("{id}: Cannot get media type from '{text}'");
    let parameter = |id: &str| format!("{id}: Cannot get media parameter.");
    let trimmed =
        |from: usize, to: usize| text[from..to].trim_matches(|c: char| c.is_ascii_whitespace());
    let mut cp = 0;
    while cp < b.len() && space(b[cp]) {
        cp += 1;
    }
    if cp == b.len() {
        return Err(media("AH01598"));
    }
    let type_start = cp;
    cp += 1;
    while cp < b.len() && b[cp] != b'/' && !space(b[cp]) && b[cp] != b';' {
        cp += 1;
    }
    if cp == b.len() || b[cp] == b';' {
        return Err(plain_media("AH01599"));
    }
    let type_end = cp;
    while cp < b.len() && space(b[cp]) {
        cp += 1;
    }
    if cp == b.len() || b[cp] != b'/' {
        return Err(media("AH01600"));
    }
    cp += 1;
    while cp < b.len() && space(b[cp]) {
        cp += 1;
    }
    if cp == b.len() {
        return Err("AH01601: Cannot get media subtype.".into());
    }
    let subtype_start = cp;
    cp += 1;
    while cp < b.len() && !space(b[cp]) && b[cp] != b';' {
        cp += 1;
    }
    let base = format!(
        "{}/{}",
        &text[type_start..type_end],
        &text[subtype_start..cp]
    );
    while cp < b.len() && space(b[cp]) {
        cp += 1;
    }
    let mut params = Vec::new();
    if cp == b.len() {
        return Ok((base, params));
    }
    cp += 1; // the ';'
    let zap = |mut at: usize| {
        while at < b.len() && matches!(b[at], b' ' | b'\t' | b'\n') {
            at += 1;
        }
        at
    };
    cp = zap(cp);
    if cp == b.len() {
        return Err(parameter("AH01602"));
    }
    let mut mark = cp;
    let mut attribute: Option<String> = None;
    while cp < b.len() {
        let Some(attr) = &attribute else {
            if token(b[cp]) || matches!(b[cp], b' ' | b'\t' | b'\n') {
                cp += 1;
                continue;
            }
            if b[cp] != b'=' {
                return Err(parameter("AH01605"));
            }
            let name = trimmed(mark, cp);
            if name.is_empty() {
                return Err(parameter("AH01603"));
            }
            attribute = Some(name.to_string());
            cp = zap(cp + 1);
            if cp == b.len() {
                return Err(parameter("AH01604"));
            }
            mark = cp;
            continue;
        };
        if b[cp] == b'"' {
            cp += 1;
            loop {
                if cp == b.len() {
                    break;
                }
                match b[cp] {
                    b'\\' if cp + 1 < b.len() && b[cp + 1].is_ascii() => cp += 2,
                    b'"' => {
                        cp += 1;
                        while cp < b.len() && matches!(b[cp], b' ' | b'\t' | b'\n') {
                            cp += 1;
                        }
                        if cp < b.len() && b[cp] != b';' {
                            return Err(parameter("AH01606"));
                        }
                        break;
                    }
                    c if c.is_ascii() && c != b'\\' && c != b'\n' => cp += 1,
                    _ => return Err(parameter("AH01607")),
                }
            }
        } else {
            while cp < b.len() && b[cp] != b';' {
                if !token(b[cp]) {
                    return Err(parameter("AH01608"));
                }
                cp += 1;
            }
        }
        let value = trimmed(mark, cp);
        if value.is_empty() {
            return Err(parameter("AH01609"));
        }
        params.push((attr.clone(), value.to_string()));
        attribute = None;
        if cp == b.len() {
            break;
        }
        cp += 1;
        mark = cp;
    }
    Ok((base, params))
}

/// mod_mime's hook: the type checker.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.type_checker.add("mime", Order::Middle, type_checker);
    hooks
        .insert_filter
        .add("mime", Order::Middle, insert_filters);
}

/// AddOutputFilter and AddInputFilter: the filters the resource's extensions name join its
/// chains.
fn insert_filters(req: &mut Request) -> Step<()> {
    let Some(info) = req.file_info.as_ref() else {
        return Ok(());
    };
    if info.output_filters.is_empty() && info.input_filters.is_empty() {
        return Ok(());
    }
    let (output, input) = (info.output_filters.clone(), info.input_filters.clone());
    for list in &output {
        crate::filters::add_by_names(req, list);
    }
    for list in &input {
        crate::filters::add_input_by_names(req, list);
    }
    Ok(())
}

/// Types the resource by its name's extensions (ModMimeUsePathInfo: by the path info's last
/// part). A directory gets no type here (Apache's directory magic type is mod_dir's and the
/// handlers' business).
fn type_checker(req: &mut Request) -> Step<Option<()>> {
    if req.finfo.as_ref().is_some_and(|m| m.is_dir()) {
        return Ok(Some(()));
    }
    let dir = req.dir.module::<Dir>();
    let filename = req.filename.as_deref().unwrap_or(Path::new(""));
    let with_path_info;
    let typed = if dir.use_path_info == Some(true) && !req.path_info.is_empty() {
        with_path_info = PathBuf::from(format!("{}{}", filename.display(), req.path_info));
        &with_path_info
    } else {
        filename
    };
    let base = typed
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let info = classify(&base, &dir, &req.rt.types);
    if let Some(warning) = &info.type_warning {
        crate::log::error("mime", "warn", warning);
    }
    // Without a type it declines, as Apache's does, so that later type checkers (mod_mime_magic)
    // get their turn.
    let typed = info.content_type.is_some();
    req.file_info = Some(info);
    Ok(typed.then_some(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_extensions_win_and_add_type_overrides_the_table() {
        let mut table = TypesTable::default();
        table.0.insert("html".into(), "text/html".into());
        table.0.insert("gz".into(), "application/gzip".into());
        let dir = Dir::default();
        assert_eq!(
            classify("t.html.gz", &dir, &table).content_type.as_deref(),
            Some("application/gzip")
        );
        let runtime = crate::modules::test_dir("AddType text/x-custom .gz\n");
        let dir = runtime.module::<Dir>();
        assert_eq!(
            classify("t.html.gz", &dir, &table).content_type.as_deref(),
            Some("text/x-custom")
        );
        assert_eq!(classify("README", &dir, &table).content_type, None);
    }
}
