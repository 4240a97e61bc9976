//! mod_negotiation: choosing among a resource's variants (MultiViews files or a type map) by
//! the client's Accept, Accept-Language, Accept-Charset and Accept-Encoding, with
//! LanguagePriority and ForceLanguagePriority, using Apache's own selection algorithm; its
//! directive table, typed configuration and hooks.

use std::path::Path;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{OR_FILEINFO, RSRC_CONF};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::escape::{escape_html_str, escape_path_segment};

use crate::hooks::{Hooks, Order};
use crate::request::pipeline::{handler_of, map_and_check, serve_uri, set_handler};
use crate::request::{
    negotiation as variants, simple, Body, Request as HttpRequest, Response, Step,
};

pub static MODULE: ModuleDef = ModuleDef {
    id: "negotiation_module",
    source: "mod_negotiation.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "CacheNegotiatedDocs",
        Flag(cache_negotiated_docs),
        RSRC_CONF,
        "Either 'on' or 'off' (default)",
    )
    .implemented(),
    DirectiveDef::new(
        "LanguagePriority",
        Iterate(language_priority),
        OR_FILEINFO,
        "space-delimited list of MIME language abbreviations",
    )
    .implemented(),
    DirectiveDef::new(
        "ForceLanguagePriority",
        Iterate(force_language_priority),
        OR_FILEINFO,
        "Force LanguagePriority elections, either None, or Fallback and/or Prefer",
    )
    .implemented(),
];

/// LanguagePriority: lines of one section accumulate.
fn language_priority(cmd: &mut Cmd, language: &str) -> SetResult {
    cmd.dir_config::<Dir>()
        .language_priority
        .get_or_insert_with(Vec::new)
        .push(language.to_string());
    Ok(())
}

/// ForceLanguagePriority: None excludes Prefer and Fallback, also across the section's lines.
fn force_language_priority(cmd: &mut Cmd, word: &str) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    let bits = config.force.unwrap_or(0);
    let bit = if word.eq_ignore_ascii_case("None") {
        if bits & (FORCE_PREFER | FORCE_FALLBACK) != 0 {
            return Err("Cannot combine ForceLanguagePriority options with None".into());
        }
        FORCE_NONE
    } else if word.eq_ignore_ascii_case("Prefer") || word.eq_ignore_ascii_case("Fallback") {
        let (bit, name) = if word.eq_ignore_ascii_case("Prefer") {
            (FORCE_PREFER, "Prefer")
        } else {
            (FORCE_FALLBACK, "Fallback")
        };
        if bits & FORCE_NONE != 0 {
            return Err(format!(
                "Cannot combine ForceLanguagePriority options None and {name}"
            ));
        }
        bit
    } else {
        return Err(format!("Invalid ForceLanguagePriority option {word}"));
    };
    config.force = Some(bits | bit);
    Ok(())
}

/// ForceLanguagePriority bits.
const FORCE_NONE: u8 = 1;
const FORCE_PREFER: u8 = 2;
const FORCE_FALLBACK: u8 = 4;

/// `CacheNegotiatedDocs`: the server's setting (its last line wins).
fn cache_negotiated_docs(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().cache = on;
    Ok(())
}

/// Per-server: whether HTTP/1.0 caches may keep negotiated documents.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub cache: bool,
}

impl DirConfig for ServerConf {
    /// Either server's On holds: Apache keeps only an On in its per-server slot (Off leaves
    /// it empty), and a virtual host with an empty slot takes the main server's.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            cache: vhost.cache || self.cache,
        }
    }
}

/// Per-directory settings.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub language_priority: Option<Vec<String>>,
    force: Option<u8>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            language_priority: child
                .language_priority
                .clone()
                .or_else(|| self.language_priority.clone()),
            force: child.force.or(self.force),
        }
    }
}

impl Dir {
    fn force(&self) -> u8 {
        self.force.filter(|&f| f != 0).unwrap_or(FORCE_PREFER)
    }
}

/// One entry of an Accept-style header.
#[derive(Debug, Clone)]
pub struct AcceptItem {
    pub name: String,
    pub quality: f32,
    pub level: f32,
    pub charset: String,
}

/// Apache's `atoq`: a q-value read to three decimals; anything not starting "0" or "." is 1.
fn atoq(text: &str) -> f32 {
    let text = text.trim_start();
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.first() != Some(&b'.') {
        if bytes.first() != Some(&b'0') {
            return 1.0;
        }
        i = 1;
    }
    if bytes.get(i) != Some(&b'.') {
        return 0.0;
    }
    let digit = |at: usize| {
        bytes
            .get(at)
            .filter(|b| b.is_ascii_digit())
            .map(|b| (b - b'0') as u32)
    };
    let mut value = 0;
    if let Some(d) = digit(i + 1) {
        value += d * 100;
        if let Some(d) = digit(i + 2) {
            value += d * 10;
            if let Some(d) = digit(i + 3).filter(|&d| d > 0) {
                value += d;
            }
        }
    }
    value as f32 / 1000.0
}

/// `ap_get_token`: past leading white space, up to `;` or `,` (or white space, unless
/// `accept_white`), stepping over quoted strings; the line then starts after the white space
/// that follows.
fn get_token<'a>(line: &mut &'a str, accept_white: bool) -> &'a str {
    let text = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len()
        && (accept_white || !bytes[end].is_ascii_whitespace())
        && bytes[end] != b';'
        && bytes[end] != b','
    {
        end += 1;
        if bytes[end - 1] == b'"' {
            while end < bytes.len() {
                end += 1;
                if bytes[end - 1] == b'"' {
                    break;
                }
            }
        }
    }
    *line = text[end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    &text[..end]
}

/// One entry of an Accept-style line, as Apache's `get_entry` reads it: a name, then
/// `;param=value`s; the line then starts after the entry (and its comma). Entries may also be
/// separated by white space alone, the old format.
fn get_entry(line: &mut &str) -> AcceptItem {
    let name = get_token(line, false).to_ascii_lowercase();
    let mut item = AcceptItem {
        level: if name == "text/html" { 2.0 } else { 0.0 },
        name,
        quality: 1.0,
        charset: String::new(),
    };
    while let Some(rest) = line.strip_prefix(';') {
        *line = rest;
        let param = get_token(line, true);
        // The variable ends at white space or `=`; without either there is no value.
        let Some(var_end) = param.find(|c: char| c.is_ascii_whitespace() || c == '=') else {
            continue;
        };
        let var = param[..var_end].to_ascii_lowercase();
        let value =
            param[var_end + 1..].trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '=');
        let value = match value.strip_prefix('"') {
            Some(quoted) => &quoted[..quoted.find(['\n', '\r', '"']).unwrap_or(quoted.len())],
            None => {
                &value[..value
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(value.len())]
            }
        };
        let value = value.to_ascii_lowercase();
        match var.as_str() {
            "q" | "qs" => item.quality = atoq(&value),
            "level" => item.level = rhttpd_directives::set::atoi(&value) as f32,
            "charset" => item.charset = value,
            _ => {}
        }
    }
    if let Some(rest) = line.strip_prefix(',') {
        *line = rest;
    }
    item
}

/// One `name;param=value` entry.
fn accept_item(entry: &str) -> AcceptItem {
    let mut line = entry;
    get_entry(&mut line)
}

/// An Accept-style header's entries (Apache's `do_header_line`); `None` when the header is
/// absent.
pub fn accept_list(header: Option<&str>) -> Option<Vec<AcceptItem>> {
    let mut line = header?;
    let mut items = Vec::new();
    while !line.is_empty() {
        items.push(get_entry(&mut line));
    }
    Some(items)
}

/// A variant as mod_mime (or a type map) describes it.
#[derive(Debug, Clone, Default)]
pub struct Variant {
    /// The file name, relative to the negotiated resource's directory.
    pub file_name: String,
    pub mime_type: String,
    pub charset: String,
    pub languages: Vec<String>,
    pub encoding: Option<String>,
    pub description: String,
    pub source_quality: f32,
    pub level: f32,
    /// Content length when known (a type map's Content-Length, else the file's size).
    pub bytes: Option<u64>,
    /// A type map's inline `Body:` (the bytes themselves).
    pub body: Option<Vec<u8>>,
    /// The variant is served by a handler (no length is advertised for it).
    pub has_handler: bool,
    // Filled by the selection.
    lang_quality: f32,
    encoding_quality: f32,
    charset_quality: f32,
    mime_type_quality: f32,
    lang_index: Option<usize>,
    mime_stars: u8,
    level_matched: f32,
}

impl Variant {
    /// A variant of `mime_type` (with its parameters, as a Content-Type).
    pub fn new(file_name: &str, content_type: &str) -> Variant {
        let item = accept_item(content_type);
        Variant {
            file_name: file_name.to_string(),
            mime_type: item.name,
            charset: item.charset,
            source_quality: item.quality,
            level: item.level,
            ..Variant::default()
        }
    }

    fn is_pseudo_html(&self) -> bool {
        self.mime_type == "text/html"
    }

    fn reset(&mut self) {
        self.lang_quality = 1.0;
        self.encoding_quality = 1.0;
        self.charset_quality = 1.0;
        self.mime_type_quality = 1.0;
        self.lang_index = None;
        self.mime_stars = 0;
        self.level_matched = 0.0;
    }
}

/// The request's side of the negotiation.
pub struct Request<'a> {
    pub accept: Option<Vec<AcceptItem>>,
    pub accept_language: Option<Vec<AcceptItem>>,
    pub accept_charset: Option<Vec<AcceptItem>>,
    pub accept_encoding: Option<Vec<AcceptItem>>,
    pub env: &'a [(String, String)],
    /// Scripts are preferred for requests that carry input (not a plain GET).
    pub prefer_scripts: bool,
}

/// What the selection decided.
pub struct Outcome {
    /// The chosen variant (index into the list), if any is acceptable.
    pub best: Option<usize>,
    /// Headers to send: Vary over the dimensions the variants differ in, TCN, Alternates.
    pub headers: Vec<(String, String)>,
}

/// Apache's negotiation over `variants` (already in its canonical order).
pub fn negotiate(
    variants: &mut [Variant],
    client: &Request,
    dir: &Dir,
    transparent: bool,
) -> Outcome {
    let mut accepts = client.accept.clone().unwrap_or_else(|| {
        vec![AcceptItem {
            name: "*/*".into(),
            quality: 1.0,
            level: 0.0,
            charset: String::new(),
        }]
    });
    // The magic CGI type, so scripts can win when the request carries input.
    accepts.push(AcceptItem {
        name: "application/x-httpd-cgi".into(),
        quality: if client.prefer_scripts { 2.0 } else { 0.001 },
        level: 0.0,
        charset: String::new(),
    });
    let accept_q = client
        .accept
        .as_ref()
        .is_some_and(|a| a.iter().any(|i| i.quality < 1.0));
    let env = |name: &str| super::env::get(client.env, name);
    let discard_encoded = if env("no-gzip").is_some() {
        Some(false)
    } else if env("gzip-only-text/html") == Some("1") {
        Some(true)
    } else {
        None
    };
    let default_lang_quality = if variants.iter().any(|v| !v.languages.is_empty()) {
        0.0001
    } else {
        1.0
    };
    let mut preferred = env("prefer-language").map(str::to_string);
    let (best, bestq) = loop {
        let mut best: Option<usize> = None;
        let mut bestq = 0.0f32;
        for i in 0..variants.len() {
            let variant = &mut variants[i];
            variant.reset();
            let encoded = variant
                .encoding
                .as_deref()
                .is_some_and(|e| !is_identity(e) && e != "identity");
            if let Some(all_but_html) = discard_encoded {
                if encoded && (!all_but_html || !variant.mime_type.starts_with("text/html")) {
                    continue;
                }
            }
            if let Some(lang) = &preferred {
                if !variant.languages.iter().any(|l| l == lang) {
                    continue;
                }
            }
            accept_quality(&accepts, accept_q, variant);
            if preferred.is_some() {
                variant.lang_quality = 1.0;
            } else {
                language_quality(
                    client.accept_language.as_deref(),
                    dir,
                    default_lang_quality,
                    variant,
                );
            }
            encoding_quality(client.accept_encoding.as_deref(), variant);
            charset_quality(client.accept_charset.as_deref(), variant);
            let better = match best {
                None => is_better(variant, None, &mut bestq),
                Some(b) => {
                    let best_variant = variants[b].clone();
                    is_better(&variants[i], Some(&best_variant), &mut bestq)
                }
            };
            if better {
                best = Some(i);
            }
        }
        if preferred.is_some() && (best.is_none() || bestq <= 0.0) {
            preferred = None;
            continue;
        }
        break (best, bestq);
    };
    let chosen = best.filter(|_| bestq > 0.0);
    let mut headers = Vec::new();
    let send_alternates = chosen.is_none();
    if let Some(vary) = vary(variants, transparent) {
        headers.push(("Vary".to_string(), vary));
    }
    if transparent {
        headers.push((
            "TCN".to_string(),
            if chosen.is_some() { "choice" } else { "list" }.to_string(),
        ));
    }
    if send_alternates && !variants.is_empty() {
        headers.insert(0, ("Alternates".to_string(), alternates(variants)));
    }
    Outcome {
        best: chosen,
        headers,
    }
}

fn is_identity(encoding: &str) -> bool {
    encoding.is_empty() || matches!(encoding, "7bit" | "8bit" | "binary")
}

/// Apache's `mime_match`: how a media range matches the variant's type (stars: 1 for */*,
/// 2 for type/*, 3 for the exact type at a sufficient level).
fn mime_match(accept: &AcceptItem, variant: &mut Variant) -> bool {
    let name = accept.name.as_str();
    if name == "*" || name == "*/*" {
        variant.mime_stars = variant.mime_stars.max(1);
        return true;
    }
    if let Some(major) = name.strip_suffix("/*") {
        if variant.mime_type.starts_with(major)
            && variant.mime_type.as_bytes().get(major.len()) == Some(&b'/')
        {
            variant.mime_stars = variant.mime_stars.max(2);
            return true;
        }
        return false;
    }
    if name == variant.mime_type && accept.level >= variant.level {
        variant.level_matched = variant.level;
        variant.mime_stars = 3;
        return true;
    }
    false
}

fn accept_quality(accepts: &[AcceptItem], accept_q: bool, variant: &mut Variant) {
    let mut q = 0.0;
    for accept in accepts {
        let before = variant.mime_stars;
        if !mime_match(accept, variant) || before == variant.mime_stars {
            continue;
        }
        // Without explicit q-values, wildcards rank below exact types.
        q = match (accept_q, variant.mime_stars) {
            (false, 1) => 0.01,
            (false, 2) => 0.02,
            _ => accept.quality,
        };
    }
    variant.mime_type_quality = q;
}

fn language_quality(
    accept_language: Option<&[AcceptItem]>,
    dir: &Dir,
    default_quality: f32,
    variant: &mut Variant,
) {
    let force = dir.force();
    if variant.languages.is_empty() {
        variant.lang_quality = default_quality;
        return;
    }
    if let Some(accepts) = accept_language {
        let mut best: Option<&AcceptItem> = None;
        let mut star: Option<&AcceptItem> = None;
        let mut fiddle_q = 0.0;
        let mut any_match_on_star = false;
        for lang in &variant.languages {
            let mut best_this: Option<&AcceptItem> = None;
            let mut longest = 0;
            for accept in accepts {
                if accept.name == "*" {
                    star.get_or_insert(accept);
                    continue;
                }
                let range = accept.name.as_str();
                if lang.len() >= range.len()
                    && lang.starts_with(range)
                    && matches!(lang.as_bytes().get(range.len()), None | Some(b'-'))
                    && range.len() > longest
                {
                    longest = range.len();
                    best_this = Some(accept);
                }
                // "en-gb" asked for and "en" offered: a faint match rather than none.
                if best_this.is_none() {
                    if let Some(dash) = range.find('-') {
                        if lang.starts_with(&range[..dash]) {
                            fiddle_q = 0.001;
                        }
                    }
                }
            }
            if best.is_none()
                || best_this.is_some_and(|b| b.quality > best.map_or(0.0, |x| x.quality))
            {
                best = best_this;
            }
            if best_this.is_none() && star.is_some() {
                any_match_on_star = true;
            }
        }
        if any_match_on_star {
            if let Some(star) = star {
                if best.is_none_or(|b| star.quality > b.quality) {
                    best = Some(star);
                }
            }
        }
        variant.lang_quality = best.map_or(fiddle_q, |b| b.quality);
    }
    let prefer = force & FORCE_PREFER != 0 && variant.lang_index.is_none();
    let fallback = force & FORCE_FALLBACK != 0 && variant.lang_quality == 0.0;
    if prefer || fallback {
        let priority = dir.language_priority.as_deref().unwrap_or(&[]);
        let index = variant
            .languages
            .iter()
            .filter_map(|lang| {
                priority
                    .iter()
                    .position(|p| lang.len() >= p.len() && lang[..p.len()].eq_ignore_ascii_case(p))
            })
            .min();
        if let Some(index) = index {
            if variant.lang_quality != 0.0 {
                if force & FORCE_PREFER != 0 {
                    variant.lang_index = Some(index);
                }
            } else if force & FORCE_FALLBACK != 0 {
                variant.lang_index = Some(index);
                variant.lang_quality = 0.0001;
            }
        }
    }
}

fn charset_quality(accept_charset: Option<&[AcceptItem]>, variant: &mut Variant) {
    let Some(accepts) = accept_charset else {
        return;
    };
    let charset = if variant.charset.is_empty() {
        if !variant.mime_type.starts_with("text/") {
            return;
        }
        "iso-8859-1"
    } else {
        variant.charset.as_str()
    };
    let mut star = None;
    for accept in accepts {
        if accept.name == charset {
            variant.charset_quality = accept.quality;
            return;
        }
        if accept.name == "*" {
            star = Some(accept.quality);
        }
    }
    variant.charset_quality = match star {
        Some(q) => q,
        None if charset == "iso-8859-1" => 1.0,
        None => 0.0,
    };
}

fn encoding_quality(accept_encoding: Option<&[AcceptItem]>, variant: &mut Variant) {
    let encoding = variant.encoding.as_deref().unwrap_or("");
    let Some(accepts) = accept_encoding else {
        variant.encoding_quality = if is_identity(encoding) { 1.0 } else { 0.5 };
        return;
    };
    let (wanted, if_missing) = if is_identity(encoding) {
        ("identity", 0.0001)
    } else {
        (encoding.strip_prefix("x-").unwrap_or(encoding), 0.0)
    };
    let mut star = None;
    for accept in accepts {
        let name = accept.name.strip_prefix("x-").unwrap_or(&accept.name);
        if name == wanted {
            variant.encoding_quality = accept.quality;
            return;
        }
        if name == "*" {
            star = Some(accept.quality);
        }
    }
    variant.encoding_quality = star.unwrap_or(if_missing);
}

/// Apache's `is_variant_better` (its own algorithm, not RVSA).
fn is_better(variant: &Variant, best: Option<&Variant>, bestq: &mut f32) -> bool {
    if variant.encoding_quality == 0.0
        || variant.lang_quality == 0.0
        || variant.source_quality == 0.0
        || variant.charset_quality == 0.0
        || variant.mime_type_quality == 0.0
    {
        return false;
    }
    let q = variant.mime_type_quality * variant.source_quality;
    if q == 0.0 || q < *bestq {
        return false;
    }
    let Some(best) = best.filter(|_| q <= *bestq) else {
        *bestq = q;
        return true;
    };
    if variant.lang_quality < best.lang_quality {
        return false;
    }
    if variant.lang_quality > best.lang_quality {
        *bestq = q;
        return true;
    }
    match (variant.lang_index, best.lang_index) {
        (None, Some(_)) => return false,
        (Some(v), Some(b)) if v > b => return false,
        (Some(_), None) => {
            *bestq = q;
            return true;
        }
        (Some(v), Some(b)) if v < b => {
            *bestq = q;
            return true;
        }
        _ => {}
    }
    match level_cmp(variant, best) {
        -1 => return false,
        1 => {
            *bestq = q;
            return true;
        }
        _ => {}
    }
    if variant.charset_quality < best.charset_quality {
        return false;
    }
    let latin1 = |c: &str| c.is_empty() || c == "iso-8859-1";
    if variant.charset_quality > best.charset_quality
        || (!variant.charset.is_empty() && variant.charset != "iso-8859-1" && latin1(&best.charset))
    {
        *bestq = q;
        return true;
    }
    if variant.encoding_quality < best.encoding_quality {
        return false;
    }
    if variant.encoding_quality > best.encoding_quality {
        *bestq = q;
        return true;
    }
    // Smaller wins; unknown lengths compare as Apache's -1.
    let length = |v: &Variant| v.bytes.map_or(-1, |b| b as i64);
    if length(variant) >= length(best) {
        return false;
    }
    *bestq = q;
    true
}

fn level_cmp(a: &Variant, b: &Variant) -> i32 {
    if a.is_pseudo_html() && !b.is_pseudo_html() {
        return 0;
    }
    if !a.is_pseudo_html() && a.mime_type != b.mime_type {
        return 0;
    }
    if a.level_matched > b.level_matched {
        return 1;
    }
    if a.level_matched < b.level_matched {
        return -1;
    }
    if a.level < b.level {
        return 1;
    }
    if a.level > b.level {
        return -1;
    }
    0
}

/// The Vary header: `negotiate` for a transparently negotiated resource, then each dimension
/// the variants differ in.
fn vary(variants: &[Variant], transparent: bool) -> Option<String> {
    // With no variants at all, only `negotiate` can be said.
    let differs = |f: &dyn Fn(&Variant) -> String| {
        variants
            .first()
            .is_some_and(|first| variants.iter().any(|v| f(v) != f(first)))
    };
    let mut parts = Vec::new();
    if transparent {
        parts.push("negotiate");
    }
    if differs(&|v| v.mime_type.clone()) {
        parts.push("accept");
    }
    if differs(&|v| v.languages.join(",")) {
        parts.push("accept-language");
    }
    if differs(&|v| v.charset.clone()) {
        parts.push("accept-charset");
    }
    if differs(&|v| v.encoding.clone().unwrap_or_default()) {
        parts.push("accept-encoding");
    }
    // Apache rewrites Vary as comma-joined tokens when it sends the head.
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The Alternates header of a list response.
fn alternates(variants: &[Variant]) -> String {
    variants
        .iter()
        .map(|v| {
            let mut q = format!("{:1.3}", v.source_quality);
            // Trailing zeros trimmed, "1.000" down to "1".
            if q.ends_with('0') {
                q.pop();
                if q.ends_with('0') {
                    q.pop();
                    if q.ends_with('0') {
                        q.truncate(1);
                    }
                }
            }
            let mut out = format!("{{\"{}\" {q}", escape_path_segment(v.file_name.as_bytes()));
            if !v.mime_type.is_empty() {
                out.push_str(&format!(" {{type {}}}", v.mime_type));
            }
            if !v.charset.is_empty() {
                out.push_str(&format!(" {{charset {}}}", v.charset));
            }
            if !v.languages.is_empty() {
                out.push_str(&format!(" {{language {}}}", v.languages.join(",")));
            }
            if let Some(encoding) = v.encoding.as_deref().filter(|e| !e.is_empty()) {
                out.push_str(&format!(" {{encoding {encoding}}}"));
            }
            if let Some(length) = v.bytes.filter(|_| !v.has_handler) {
                out.push_str(&format!(" {{length {length}}}"));
            }
            out.push('}');
            out
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The "Available variants" list a 406 page carries.
pub fn variant_list(variants: &[Variant]) -> String {
    let mut out = String::from("Available variants:\n<ul>\n");
    for v in variants {
        out.push_str(&format!(
            "<li><a href=\"{}\">{}</a> {}",
            escape_path_segment(v.file_name.as_bytes()),
            escape_html_str(&v.file_name),
            v.description
        ));
        if !v.mime_type.is_empty() {
            out.push_str(&format!(", type {}", v.mime_type));
        }
        if !v.languages.is_empty() {
            out.push_str(&format!(", language {}", v.languages.join(",")));
        }
        if !v.charset.is_empty() {
            out.push_str(&format!(", charset {}", v.charset));
        }
        if let Some(encoding) = &v.encoding {
            out.push_str(&format!(", encoding {encoding}"));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n");
    out
}

/// Reads a type map: blank-line separated records of `URI:`, `Content-Type:`,
/// `Content-Language:`, `Content-Encoding:`, `Content-Length:`, `Description:` and `Body:`
/// headers (with `#` comment lines and continuation lines). A record without a URI (or body)
/// or without any content header is dropped, as Apache drops it.
pub fn read_type_map(
    text: &str,
    map_name: &str,
    map_path: &str,
) -> Result<(Vec<Variant>, Option<String>), String> {
    let mut variants = Vec::new();
    let mut current = Variant::new("", "");
    current.source_quality = 0.0;
    let mut has_content = false;
    let mut lines = text.split_inclusive('\n').peekable();
    let mut finish = |current: &mut Variant, has_content: &mut bool| {
        if !current.file_name.is_empty() && *has_content {
            variants.push(std::mem::take(current));
        }
        *current = Variant::default();
        *has_content = false;
    };
    while let Some(raw) = lines.next() {
        if raw.starts_with('#') {
            continue;
        }
        let line = raw.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            finish(&mut current, &mut has_content);
            continue;
        }
        let mut header = line.to_string();
        // Continuation lines start with white space.
        while let Some(next) = lines.peek() {
            if next.starts_with([' ', '\t']) && !next.trim().is_empty() {
                header.push(' ');
                header.push_str(next.trim());
                lines.next();
            } else {
                break;
            }
        }
        // Apache's messages quote the header with its name lowercased and its line end.
        let Some((name, body)) = header.split_once(':') else {
            return Err(format!(
                "AH00681: Syntax error in type map, no ':' in {map_path} for header {}\n",
                header.to_ascii_lowercase()
            ));
        };
        if body.trim().is_empty() {
            return Err(format!(
                "AH00682: Syntax error in type map --- no header body: {map_path} for {}:{body}\n",
                name.to_ascii_lowercase()
            ));
        }
        let body = strip_comments(body.trim());
        match name.trim().to_ascii_lowercase().as_str() {
            "uri" => current.file_name = body.split_whitespace().next().unwrap_or("").to_string(),
            "content-type" => {
                let item = accept_item(&body);
                current.mime_type = item.name;
                current.charset = item.charset;
                current.source_quality = item.quality;
                current.level = item.level;
                has_content = true;
            }
            "content-length" => {
                current.bytes = body.trim().parse().ok();
                has_content = true;
            }
            "content-language" => {
                current.languages = body
                    .split([',', ' ', '\t'])
                    .filter(|l| !l.is_empty())
                    .map(|l| l.to_ascii_lowercase())
                    .collect();
                has_content = true;
            }
            "content-encoding" => {
                current.encoding = body.split_whitespace().next().map(str::to_string);
                has_content = true;
            }
            "description" => current.description = body.to_string(),
            "body" => {
                let tag = body.trim().to_string();
                let mut content = String::new();
                let mut closed = false;
                for raw in lines.by_ref() {
                    if let Some(at) = raw.find(&tag) {
                        content.push_str(&raw[..at]);
                        closed = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !closed {
                    // Apache stops reading the map there, keeping the variants before it.
                    let warning = format!("AH00685: Syntax error in type map, no end tag '{tag}' found in {map_path} for Body: content.");
                    return Ok((variants, Some(warning)));
                }
                current.bytes = Some(content.len() as u64);
                current.body = Some(content.into_bytes());
                current.file_name = map_name.to_string();
            }
            _ => {}
        }
    }
    finish(&mut current, &mut has_content);
    Ok((variants, None))
}

/// Parenthesised comments dropped, quoted text kept.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The `type-map` handler: the chosen variant served by an internal redirect, or the map's
/// own body.
pub(crate) fn serve_type_map(req: &mut HttpRequest, map: &Path) -> Step<Response> {
    match variants::type_map(req, map)? {
        variants::Chosen::File(target) => {
            let limit = req.ctx().runtime.core.recursion_limits().0;
            if req.redirects >= limit {
                let text = format!(
                    "AH00124: Request exceeded the limit of {limit} internal redirects due to \
                     probable configuration error. Use 'LimitInternalRecursion' to increase the \
                     limit if necessary. Use 'LogLevel debug' to get a backtrace."
                );
                req.log_error("core", "error", &text);
                return Err(500);
            }
            req.redirects += 1;
            let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
            req.uri = format!("{parent}{}", name.unwrap_or_default());
            serve_uri(req)
        }
        variants::Chosen::Body(variant) => type_map_body(req, *variant),
    }
}

/// A type map variant whose content is inside the map (`Body:`).
pub(crate) fn type_map_body(req: &mut HttpRequest, variant: Variant) -> Step<Response> {
    if !matches!(req.method.as_str(), "GET" | "HEAD" | "POST") {
        req.headers_out.set("Allow", "GET,HEAD,OPTIONS,POST");
        return Err(405);
    }
    let content_type = (!variant.mime_type.is_empty()).then(|| {
        if variant.charset.is_empty() {
            variant.mime_type.clone()
        } else {
            format!("{}; charset={}", variant.mime_type, variant.charset)
        }
    });
    let mut response = simple(req, 200, content_type);
    response.headers.set("Accept-Ranges", "bytes");
    if let Some(encoding) = variant.encoding.filter(|e| !e.is_empty()) {
        response.trailing.set("Content-Encoding", encoding);
    }
    if !variant.languages.is_empty() {
        response
            .trailing
            .set("Content-Language", variant.languages.join(", "));
    }
    response.body = Body::Bytes(variant.body.unwrap_or_default());
    response.length_known = true;
    Ok(response)
}

/// mod_negotiation's hooks: MultiViews as the first type checker, and the type-map handler.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .type_checker
        .add("negotiation", Order::First, multiviews);
    hooks
        .handler
        .add("negotiation", Order::Middle, type_map_handler);
}

/// MultiViews: a file that is not there is answered by the best variant beside it, looked up
/// (and access-checked) as a sub-request would be; the other type checkers then type it.
fn multiviews(req: &mut HttpRequest) -> Step<Option<()>> {
    if req.finfo.is_some() || !variants::enabled(req) {
        return Ok(None);
    }
    let filename = req.filename.clone().unwrap_or_default();
    if let Some(variant) = variants::multiviews(req, &filename)? {
        if let Some(name) = variant.file_name() {
            let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
            req.uri = format!("{parent}{}", name.to_string_lossy());
        }
        map_and_check(req, variant)?;
    }
    Ok(None)
}

/// The `type-map` handler, for a map file or a directory SetHandler gave it to. (A map that is
/// not there is the handler's own 404, with its AH00683.)
fn type_map_handler(req: &mut HttpRequest) -> Step<Option<Response>> {
    let filename = req.filename.clone().unwrap_or_default();
    let handler = if req.finfo.as_ref().is_some_and(|m| m.is_dir()) {
        set_handler(req).map(str::to_string)
    } else {
        handler_of(req, &filename)
    };
    if handler.as_deref() != Some("type-map") {
        return Ok(None);
    }
    serve_type_map(req, &filename).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, ct: &str, lang: &str) -> Variant {
        let mut v = Variant::new(name, ct);
        if !lang.is_empty() {
            v.languages = vec![lang.into()];
        }
        v
    }

    #[test]
    fn language_and_priority() {
        let mut variants = vec![
            variant("index.html.de", "text/html", "de"),
            variant("index.html.en", "text/html", "en"),
        ];
        let client = Request {
            accept: None,
            accept_language: accept_list(Some("en-gb, de;q=0.5")),
            accept_charset: None,
            accept_encoding: None,
            env: &[],
            prefer_scripts: false,
        };
        let out = negotiate(&mut variants, &client, &Dir::default(), true);
        assert_eq!(out.best, Some(0), "en-gb does not match en; de does at 0.5");
        let client = Request {
            accept_language: None,
            ..client
        };
        let dir = Dir {
            language_priority: Some(vec!["en".into(), "de".into()]),
            ..Dir::default()
        };
        let out = negotiate(&mut variants, &client, &dir, true);
        assert_eq!(out.best, Some(1));
        assert_eq!(
            out.headers[0],
            ("Vary".to_string(), "negotiate,accept-language".to_string())
        );
    }

    #[test]
    fn q_values() {
        assert_eq!(atoq("0.5"), 0.5);
        assert_eq!(atoq("1"), 1.0);
        assert_eq!(atoq("0"), 0.0);
        assert_eq!(atoq(".25"), 0.25);
    }

    #[test]
    fn type_maps() {
        let map = "URI: a.en.html\nContent-Type: text/html; qs=0.8\nContent-Language: en\n\n# c\nURI: a.fr.html\nContent-type: text/html\nContent-language: fr\n";
        let (variants, _) = read_type_map(map, "a.var", "/d/a.var").unwrap();
        assert_eq!(variants.len(), 2);
        assert_eq!(variants[0].source_quality, 0.8);
        assert_eq!(variants[1].languages, vec!["fr".to_string()]);
    }
}
