//! The read phase: `${VAR}` expansion and the execute-on-read directives (Include,
//! IncludeOptional, Define, UnDefine, ServerRoot, DefaultRuntimeDir, LoadModule, LoadFile and
//! the `<If*>` conditionals), run in file order while each file's tree is built.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhttpd_directives::context::EXEC_ON_READ;
use rhttpd_directives::lookup::find_loaded_with_id;
use rhttpd_directives::model::{canonical_path, IncludedFile, ReadState, Warning};
use rhttpd_directives::set::next_word;
use rhttpd_directives::util::fnmatch::{fnmatch, fnmatch_test, Flags};
use rhttpd_directives::{find_loaded, module_by_id, split_args, DirectiveDef, Words};
use rhttpd_parser::{Builder, Known, Node, ReadPass};

use crate::build_info::APACHE_VERSION;

/// Apache's `AP_MAX_INCLUDE_DEPTH` and `AP_MAX_FNMATCH_DIR_DEPTH`.
const MAX_INCLUDE_DEPTH: usize = 128;
const MAX_DIR_DEPTH: usize = 128;

/// The text of an OS error without Rust's " (os error N)" suffix, as `%pm` prints it.
pub fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// An error as Apache prefixes messages with it: `(13)Permission denied`.
pub fn errno_text(err: &io::Error) -> String {
    format!("({}){}", err.raw_os_error().unwrap_or(0), strerror(err))
}

/// Runs the read phase over files, tracking include depth for recursion limits and
/// `DUMP_INCLUDES`.
pub struct Reader<'s> {
    pub state: &'s mut ReadState,
    include_depth: usize,
    /// Line of the most recent Include, for `DUMP_INCLUDES` (Apache keeps one global value).
    include_line: u32,
    /// Reading a `.htaccess` file: what AllowOverride lets it use (read-time directives
    /// outside it are refused, as Apache refuses them).
    htaccess_override: Option<u32>,
    /// A read-time error inside a macro's expansion, already told in full: Apache reads the
    /// expansion in line with the file, so the error names the macro's line, not the `Use`.
    macro_failure: Option<String>,
}

impl<'s> Reader<'s> {
    pub fn new(state: &'s mut ReadState) -> Self {
        Reader {
            state,
            include_depth: 0,
            include_line: 0,
            htaccess_override: None,
            macro_failure: None,
        }
    }

    /// A reader for a `.htaccess` file under `allow_override`.
    pub fn for_htaccess(state: &'s mut ReadState, allow_override: u32) -> Self {
        Reader {
            htaccess_override: Some(allow_override),
            ..Reader::new(state)
        }
    }

    /// Reads a whole config file: `Ok(tree)` or the one-line error Apache prints after
    /// `PROGRAM: ` (`Syntax error on line N of FILE: ...` or `Could not open ...`).
    pub fn read_file(&mut self, path: &Path) -> Result<Vec<Node>, String> {
        let name = path.to_string_lossy().into_owned();
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                return Err(format!(
                    "Could not open configuration file {name}: {}",
                    strerror(&err)
                ))
            }
        };
        self.state.includes.push(IncludedFile {
            depth: self.include_depth,
            included_at: (self.include_line > 0).then_some(self.include_line),
            path: name.clone(),
        });
        let source = rhttpd_directives::util::raw_text::decode(&bytes);
        let mut builder = Builder::new(&source, Arc::from(name.as_str()));
        let built = builder.build(self);
        built.map_err(|err| {
            self.macro_failure.take().unwrap_or_else(|| {
                format!(
                    "Syntax error on line {} of {}: {}",
                    err.line, name, err.message
                )
            })
        })
    }

    /// Reads `-C`/`-c` lines as the pseudo-file Apache calls `-c/-C directives`.
    pub fn read_command_lines(&mut self, lines: &[String]) -> Result<Vec<Node>, String> {
        let source = lines.join("\n");
        let mut builder = Builder::new(&source, Arc::from("-c/-C directives"));
        builder
            .build(self)
            .map_err(|err| format!("Syntax error in -C/-c directive: {}", err.message))
    }

    fn warn(&mut self, module: &'static str, message: String) {
        self.state.warnings.push(Warning {
            module,
            level: "warn",
            startup: false,
            text: message,
        });
    }

    fn include(&mut self, pattern: &str, optional: bool, line: u32) -> Result<Vec<Node>, String> {
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(format!(
                "Exceeded maximum include depth of {MAX_INCLUDE_DEPTH}, There appears to be a recursion."
            ));
        }
        let full = self
            .state
            .server_root_relative(pattern)
            .to_string_lossy()
            .into_owned();
        self.include_line = line;
        self.include_depth += 1;
        let mut nodes = Vec::new();
        let result = if !fnmatch_test(full.as_bytes()) {
            self.include_path(Path::new(&full), optional, 0, &mut nodes)
        } else if !full.starts_with('/') {
            Err(format!("Include must have an absolute path, {full}"))
        } else {
            self.include_wildcard(PathBuf::from("/"), &full[1..], optional, &mut nodes)
        };
        self.include_depth -= 1;
        result.map(|_| nodes)
    }

    /// Apache's `ap_dir_nofnmatch`: a directory is read whole, recursively, in byte order.
    fn include_path(
        &mut self,
        path: &Path,
        optional: bool,
        depth: usize,
        out: &mut Vec<Node>,
    ) -> Result<(), String> {
        const PREFIX: &str = "Include/IncludeOptional: ";
        if path.is_dir() {
            if depth + 1 > MAX_DIR_DEPTH {
                return Err(format!(
                    "{PREFIX}Directory '{}' exceeds the maximum include directory nesting level of {MAX_DIR_DEPTH}. You have probably a recursion somewhere.",
                    path.display()
                ));
            }
            let mut entries = read_dir_sorted(path).map_err(|e| {
                format!(
                    "{PREFIX}Could not open directory {}: {}",
                    path.display(),
                    strerror(&e)
                )
            })?;
            entries.sort();
            for entry in entries {
                self.include_path(&path.join(entry), optional, depth + 1, out)?;
            }
            return Ok(());
        }
        if optional && fs::metadata(path).is_err() {
            return Ok(());
        }
        out.extend(self.read_file(path)?);
        Ok(())
    }

    /// Apache's `ap_dir_fnmatch`: one path component at a time, wildcards only matching
    /// directories before the last component, dotfiles only when the pattern starts with `.`.
    fn include_wildcard(
        &mut self,
        base: PathBuf,
        rest: &str,
        optional: bool,
        out: &mut Vec<Node>,
    ) -> Result<(), String> {
        const PREFIX: &str = "Include/IncludeOptional: ";
        let (component, remaining) = match rest.split_once('/') {
            Some((c, r)) => (c, Some(r)),
            None => (rest, None),
        };
        if !fnmatch_test(component.as_bytes()) {
            let path = base.join(component);
            return match remaining {
                None => self.include_path(&path, optional, 0, out),
                Some(r) => self.include_wildcard(path, r, optional, out),
            };
        }
        let entries = match read_dir_sorted(&base) {
            Ok(entries) => entries,
            Err(e) if optional && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "{PREFIX}Could not open directory {}: {}",
                    base.display(),
                    strerror(&e)
                ))
            }
        };
        let mut matches: Vec<OsString> = entries
            .into_iter()
            .filter(|name| fnmatch(component.as_bytes(), name.as_bytes(), Flags::PERIOD))
            .filter(|name| remaining.is_none() || is_real_dir(&base.join(name)))
            .collect();
        matches.sort();
        if matches.is_empty() {
            if optional {
                return Ok(());
            }
            return Err(format!(
                "{PREFIX}No matches for the wildcard '{component}' in '{}', failing",
                base.display()
            ));
        }
        for name in matches {
            let path = base.join(&name);
            match remaining {
                None => self.include_path(&path, optional, 0, out)?,
                Some(r) => self.include_wildcard(path, r, optional, out)?,
            }
        }
        Ok(())
    }

    fn load_module(&mut self, id: &str, path: &str) -> Result<(), String> {
        if self.state.modules.iter().any(|m| m.id == id) {
            self.warn(
                "so",
                format!("AH01574: module {id} is already loaded, skipping"),
            );
            return Ok(());
        }
        let file = self.state.server_root_relative(path);
        match module_by_id(id) {
            Some(module) => {
                // The shared object is never opened: every module is compiled in.
                self.state.modules.push(module);
                Ok(())
            }
            None => Err(format!(
                "Cannot load {} into server: rhttpd does not implement {id}",
                file.display()
            )),
        }
    }

    /// `<IfModule>`, `<IfDefine>`, `<IfFile>`, `<IfDirective>`, `<IfSection>`: test the first
    /// word (after an optional `!`), then read or skip the body.
    fn conditional(
        &mut self,
        def: &DirectiveDef,
        node: &Node,
        builder: &mut Builder<'_>,
    ) -> Result<Vec<Node>, String> {
        let Some(end) = node.args.rfind('>') else {
            return Err(format!("{}> directive missing closing '>'", def.name));
        };
        let mut arg = &node.args[..end];
        let negate = arg.starts_with('!');
        if negate {
            arg = &arg[1..];
        }
        let word = next_word(&mut arg);
        if word.is_empty() {
            return Err(format!(
                "{}> directive requires additional arguments",
                def.name
            ));
        }
        let truth = match def.name {
            "<IfModule" => self.state.module(&word).is_some(),
            "<IfDefine" => self.state.is_defined(&word),
            "<IfFile" => fs::metadata(self.state.server_root_relative(&word)).is_ok(),
            "<IfDirective" => find_loaded(&self.state.modules, &word).is_some(),
            _ => find_loaded(&self.state.modules, &format!("<{word}")).is_some(),
        };
        self.enter_or_skip(def, truth != negate, builder)
    }

    fn enter_or_skip(
        &mut self,
        def: &DirectiveDef,
        enter: bool,
        builder: &mut Builder<'_>,
    ) -> Result<Vec<Node>, String> {
        if enter {
            builder.build_container(self, def.name)
        } else {
            builder.soak_container(def.name).map(|_| Vec::new())
        }
    }

    /// `<IfVersion [[!]op] version>` as mod_version reads it.
    fn if_version(
        &mut self,
        def: &DirectiveDef,
        words: [Option<String>; 3],
        builder: &mut Builder<'_>,
    ) -> Result<Vec<Node>, String> {
        let [a1, a2, a3] = words;
        let (mut op, mut version, mut tail) = (a1.unwrap_or_default(), a2, a3);
        if version.is_none() {
            version = Some(std::mem::replace(&mut op, "=".into()));
        }
        let mut version = version.unwrap_or_default();
        if tail.is_none() && version == ">" {
            tail = Some(">".into());
            version = std::mem::replace(&mut op, "=".into());
        }
        let closed_by_tail = tail.as_deref() == Some(">");
        if version.is_empty() || (!closed_by_tail && !version.ends_with('>')) {
            return Err(format!("{}> directive missing closing '>'", def.name));
        }
        if !closed_by_tail {
            version.pop();
        }
        let mut op_chars = op.as_str();
        let reverse = op_chars.starts_with('!');
        if reverse && op_chars.len() > 1 {
            op_chars = &op_chars[1..];
        }
        let mut chars = op_chars.chars();
        let first = chars.next().unwrap_or('\0');
        let rest: String = chars.collect();
        let or_equal = rest == "=";
        let valid = rest.is_empty() || (or_equal && first != '~');
        let unrecognized = || format!("unrecognized operator '{op}'");
        if !valid {
            return Err(unrecognized());
        }
        let ours = format!(
            "{}.{}.{}",
            APACHE_VERSION.0, APACHE_VERSION.1, APACHE_VERSION.2
        );
        let matched = match first {
            '=' | '~' => {
                let regex_body = if first == '~' {
                    Some(version.as_str())
                } else if let Some(body) = version.strip_prefix('/') {
                    match body.strip_suffix('/') {
                        Some(inner) if !body.is_empty() => Some(inner),
                        _ => return Err("Missing delimiting / of regular expression.".into()),
                    }
                } else {
                    None
                };
                match regex_body {
                    Some(body) => rhttpd_directives::regex::Regex::new(body)
                        .map_err(|_| "Unable to compile regular expression".to_string())?
                        .is_match(&ours),
                    None => compare_version(&version)? == std::cmp::Ordering::Equal,
                }
            }
            '<' => {
                let c = compare_version(&version)?;
                c == std::cmp::Ordering::Less || (or_equal && c == std::cmp::Ordering::Equal)
            }
            '>' => {
                let c = compare_version(&version)?;
                c == std::cmp::Ordering::Greater || (or_equal && c == std::cmp::Ordering::Equal)
            }
            _ => return Err(unrecognized()),
        };
        self.enter_or_skip(def, matched != reverse, builder)
    }
}

/// mod_version's `compare_version`: our version against `major[.minor[.patch]]`.
fn compare_version(text: &str) -> Result<std::cmp::Ordering, String> {
    const INVALID: &str = "Version appears to be invalid. It must have the format major[.minor[.patch]] where major, minor and patch are numbers.";
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(INVALID.into());
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        // Apache tolerates a trailing dot ("2.4.") as a zero part; anything else is invalid.
        if !(parts.len() <= 3
            && parts.last() == Some(&"")
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(INVALID.into());
        }
    }
    let mut wanted = [0u32; 3];
    for (slot, part) in wanted.iter_mut().zip(&parts) {
        *slot = part.parse().unwrap_or(0);
    }
    let ours = [APACHE_VERSION.0, APACHE_VERSION.1, APACHE_VERSION.2];
    Ok(ours.cmp(&wanted))
}

fn read_dir_sorted(path: &Path) -> io::Result<Vec<OsString>> {
    let mut names: Vec<OsString> = fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    Ok(names)
}

/// A directory entry that is a directory itself (not a link to one), as Apache's dirent test sees it.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Apache's `ap_resolve_env` for one logical line.
fn resolve_env(state: &ReadState, line: &str, warnings: &mut Vec<String>) -> String {
    if !line.contains("${") {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let value = state
            .define_value(name)
            .map(str::to_string)
            .or_else(|| std::env::var(name).ok());
        match value {
            Some(value) => out.push_str(&value),
            None => {
                if !name.contains(':') {
                    warnings.push(format!(
                        "AH00111: Config variable ${{{name}}} is not defined"
                    ));
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl ReadPass for Reader<'_> {
    fn expand<'l>(&mut self, line: &'l str) -> Cow<'l, str> {
        if !line.contains("${") {
            return Cow::Borrowed(line);
        }
        let mut warnings = Vec::new();
        let expanded = resolve_env(self.state, line, &mut warnings);
        for warning in warnings {
            self.warn("core", warning);
        }
        Cow::Owned(expanded)
    }

    fn lookup(&self, name: &str) -> Option<Known> {
        find_loaded_with_id(&self.state.modules, name).map(|(id, d)| Known {
            canonical: d.name,
            execute_on_read: d.req_override & EXEC_ON_READ != 0,
            id,
        })
    }

    fn execute_on_read(
        &mut self,
        node: &Node,
        builder: &mut Builder<'_>,
    ) -> Option<Result<Vec<Node>, String>> {
        let def = find_loaded(&self.state.modules, &node.name)?;
        if def.req_override & EXEC_ON_READ == 0 {
            return None;
        }
        if let Some(allowed) = self.htaccess_override {
            if def.req_override & allowed == 0 {
                return Some(Err(format!("{} not allowed here", def.name)));
            }
        }
        Some(self.run(def, node, builder))
    }
}

impl Reader<'_> {
    fn run(
        &mut self,
        def: &'static DirectiveDef,
        node: &Node,
        builder: &mut Builder<'_>,
    ) -> Result<Vec<Node>, String> {
        // mod_macro's flags take what follows them without a word (apache2 says Syntax OK).
        if matches!(def.name, "MacroIgnoreEmptyArgs" | "MacroIgnoreBadNesting") {
            crate::modules::macros::ignore(self.state, def.name);
            return Ok(Vec::new());
        }
        let words = split_args(def, &node.args)?;
        let fixed = |words: Words| match words {
            Words::Fixed(w) => w.map(|w| w.map(|w| w.into_owned())),
            _ => [None, None, None],
        };
        match def.name {
            "<IfModule" | "<IfDefine" | "<IfFile" | "<IfDirective" | "<IfSection" => {
                self.conditional(def, node, builder)
            }
            "<IfVersion" => self.if_version(def, fixed(words), builder),
            "Include" | "IncludeOptional" => {
                let [path, ..] = fixed(words);
                self.include(
                    &path.unwrap_or_default(),
                    def.name == "IncludeOptional",
                    node.line,
                )
            }
            "Define" => {
                let [name, value, _] = fixed(words);
                let name = name.unwrap_or_default();
                if name.contains(':') {
                    return Err("Variable name must not contain ':'".into());
                }
                self.state.define(&name, value.as_deref());
                Ok(Vec::new())
            }
            "UnDefine" => {
                let [name, ..] = fixed(words);
                let name = name.unwrap_or_default();
                if name.contains(':') {
                    return Err("Variable name must not contain ':'".into());
                }
                self.state.undefine(&name);
                Ok(Vec::new())
            }
            "ServerRoot" => {
                let [path, ..] = fixed(words);
                let path = self.state.server_root_relative(&path.unwrap_or_default());
                if !path.is_dir() {
                    return Err("ServerRoot must be a valid directory".into());
                }
                self.state.server_root = canonical_path(&path);
                Ok(Vec::new())
            }
            "DefaultRuntimeDir" => {
                let [path, ..] = fixed(words);
                let path = self.state.server_root_relative(&path.unwrap_or_default());
                if !path.is_dir() {
                    return Err(
                        "DefaultRuntimeDir must be a valid directory, absolute or relative to ServerRoot".into()
                    );
                }
                self.state.default_runtime_dir = Some(canonical_path(&path));
                Ok(Vec::new())
            }
            "LoadModule" => {
                let [id, path, _] = fixed(words);
                self.load_module(&id.unwrap_or_default(), &path.unwrap_or_default())?;
                Ok(Vec::new())
            }
            "LoadFile" => {
                let Words::List(files) = words else {
                    return Ok(Vec::new());
                };
                for file in files {
                    let path = self.state.server_root_relative(&file);
                    if let Err(err) = fs::metadata(&path) {
                        return Err(format!(
                            "Cannot load {} into server: {}: cannot open shared object file: {}",
                            path.display(),
                            path.display(),
                            strerror(&err)
                        ));
                    }
                }
                Ok(Vec::new())
            }
            "<Macro" => {
                crate::modules::macros::define(self.state, node, builder)?;
                Ok(Vec::new())
            }
            "Use" => {
                let (where_, text) = crate::modules::macros::expand(self.state, node)?;
                crate::modules::macros::read_use(self, &where_, &text).inspect_err(|failure| {
                    // The innermost expansion's error is the one told.
                    self.macro_failure.get_or_insert_with(|| failure.clone());
                })
            }
            "UndefMacro" => {
                let [name, ..] = fixed(words);
                crate::modules::macros::undefine(self.state, &name.unwrap_or_default())?;
                Ok(Vec::new())
            }
            other => Err(format!("{other} has no read-time handler")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comparison_pads_missing_parts() {
        assert_eq!(compare_version("2").unwrap(), std::cmp::Ordering::Greater);
        assert_eq!(
            compare_version("2.4.71").unwrap(),
            std::cmp::Ordering::Equal
        );
        assert_eq!(compare_version("2.5").unwrap(), std::cmp::Ordering::Less);
        assert!(compare_version("x").is_err());
    }

    #[test]
    fn env_resolution_keeps_unknown_and_colon_names() {
        let mut state = ReadState::default();
        state.define("A", Some("one two"));
        let mut warnings = Vec::new();
        assert_eq!(
            resolve_env(&state, "x ${A} ${NOPE_X} ${a:b} ${open", &mut warnings),
            "x one two ${NOPE_X} ${a:b} ${open"
        );
        assert_eq!(
            warnings,
            ["AH00111: Config variable ${NOPE_X} is not defined"]
        );
    }
}
