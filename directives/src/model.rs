//! The typed configuration a walk produces: global settings, the main server and virtual
//! hosts, and per-directory sections. Unset is `None`; defaults are applied by the readers.

use std::any::{Any, TypeId};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::mpm::MpmConfig;
use crate::registry::ModuleDef;

/// Where a node came from, for messages and `-S`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u32,
}

/// One file read while loading, for `-t -D DUMP_INCLUDES`.
#[derive(Debug, Clone)]
pub struct IncludedFile {
    /// 0 for the main file, 1 for a file it includes, ...
    pub depth: usize,
    /// The line of the Include in the parent; `None` for the main file.
    pub included_at: Option<u32>,
    pub path: String,
}

/// What the read phase decides before the walk: defines, modules, ServerRoot, files read.
#[derive(Debug, Clone, Default)]
pub struct ReadState {
    pub server_root: PathBuf,
    /// `-D` and `Define` names with their values, in definition order.
    pub defines: Vec<(String, Option<String>)>,
    pub modules: Vec<&'static ModuleDef>,
    pub includes: Vec<IncludedFile>,
    pub default_runtime_dir: Option<PathBuf>,
    /// Read-time warnings, in order.
    pub warnings: Vec<Warning>,
    /// mod_macro's macros, by lower-case name (global to the reading, as Apache's are);
    /// `None` until the first `<Macro>` (Apache tells "none defined yet" from "not defined").
    pub macros: Option<Vec<Macro>>,
    /// MacroIgnoreEmptyArgs and MacroIgnoreBadNesting: warnings of those kinds are not given
    /// for the rest of the reading.
    pub macro_ignore_empty: bool,
    pub macro_ignore_bad_nesting: bool,
}

/// A `<Macro>` as mod_macro keeps it: its parameters and its raw body lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    /// Lower case.
    pub name: String,
    pub parameters: Vec<String>,
    pub lines: Vec<String>,
    /// `defined on line N of "FILE"`.
    pub location: String,
    /// The `/IgnoreEmptyArgs` flag on its `<Macro>` line.
    pub ignore_empty: bool,
}

impl ReadState {
    pub fn is_defined(&self, name: &str) -> bool {
        self.defines.iter().any(|(n, _)| n == name)
    }

    pub fn define_value(&self, name: &str) -> Option<&str> {
        self.defines
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn define(&mut self, name: &str, value: Option<&str>) {
        match self.defines.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.map(str::to_string),
            None => self
                .defines
                .push((name.to_string(), value.map(str::to_string))),
        }
    }

    pub fn undefine(&mut self, name: &str) {
        self.defines.retain(|(n, _)| n != name);
    }

    pub fn module(&self, id_or_source: &str) -> Option<&'static ModuleDef> {
        self.modules
            .iter()
            .copied()
            .find(|m| m.id == id_or_source || m.source == id_or_source)
    }

    /// The loaded MPM, once exactly one is loaded.
    pub fn mpm(&self) -> Option<&'static ModuleDef> {
        let mut mpms = self.modules.iter().filter(|m| m.mpm_name().is_some());
        match (mpms.next(), mpms.next()) {
            (Some(m), None) => Some(m),
            _ => None,
        }
    }

    /// A path relative to ServerRoot, as `ap_server_root_relative` makes it (`.` and `..`
    /// resolved, slashes folded).
    pub fn server_root_relative(&self, path: &str) -> PathBuf {
        if path.starts_with('/') {
            canonical_path(std::path::Path::new(path))
        } else {
            canonical_path(&self.server_root.join(path))
        }
    }
}

/// `Options` bits (Apache's OPT_*).
pub mod opt {
    pub const NONE: u32 = 0;
    pub const INDEXES: u32 = 1;
    pub const INCLUDES: u32 = 2;
    pub const SYM_LINKS: u32 = 4;
    pub const EXECCGI: u32 = 8;
    pub const UNSET: u32 = 16;
    pub const INC_WITH_EXEC: u32 = 32;
    pub const SYM_OWNER: u32 = 64;
    pub const MULTI: u32 = 128;
    pub const ALL: u32 = INDEXES | INCLUDES | INC_WITH_EXEC | SYM_LINKS | EXECCGI;
}

/// An `Options` line: an absolute set, or additions and removals to the inherited one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub set: u32,
    pub add: u32,
    pub remove: u32,
    /// True when the line used `+`/`-` forms (merge adjusts the parent's set).
    pub relative: bool,
}

/// Per-directory settings: a section's, or the server's defaults.
#[derive(Debug, Clone, Default)]
pub struct DirConf {
    pub options: Option<Options>,
    /// `AllowOverride` as `OR_*` bits, with `NONFATAL_*`.
    pub allow_override: Option<u32>,
    pub allow_override_opts: Option<u32>,
    /// The typed configurations the setters of modules wrote directly.
    pub modules: ModuleConfigs,
}

/// A module's per-directory configuration type (Apache's `create_dir_config` is its
/// `Default`, `merge_dir_config` its `merge`): setters write it while the configuration is
/// read, sections merge it, and the module's hooks read it, typed, at request time. A
/// module's per-server configuration is a type of this trait too (`create_server_config`
/// and `merge_server_config`), merging a virtual host over the main server.
pub trait DirConfig: Clone + Default + Send + Sync + fmt::Debug + 'static {
    /// `child` (a deeper section, or a virtual host) over `self`.
    fn merge(&self, child: &Self) -> Self;
}

/// [`DirConfig`] behind a pointer, whatever its type.
trait AnyDirConfig: Send + Sync + fmt::Debug {
    fn merge_with(&self, child: &dyn AnyDirConfig) -> Arc<dyn AnyDirConfig>;
    /// This (a child's) configuration over a parent that set nothing: the default.
    fn over_default(&self) -> Arc<dyn AnyDirConfig>;
    /// A child that set nothing (the default) over this one.
    fn under_default(&self) -> Arc<dyn AnyDirConfig>;
    fn cloned(&self) -> Box<dyn AnyDirConfig>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: DirConfig> AnyDirConfig for T {
    fn merge_with(&self, child: &dyn AnyDirConfig) -> Arc<dyn AnyDirConfig> {
        match child.as_any().downcast_ref::<T>() {
            Some(child) => Arc::new(self.merge(child)),
            None => Arc::new(self.clone()),
        }
    }
    fn over_default(&self) -> Arc<dyn AnyDirConfig> {
        Arc::new(T::default().merge(self))
    }
    fn under_default(&self) -> Arc<dyn AnyDirConfig> {
        Arc::new(self.merge(&T::default()))
    }
    fn cloned(&self) -> Box<dyn AnyDirConfig> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The typed per-directory configurations of one section, one per module that has any
/// (Apache's per-directory config vector, typed). Cloning shares them. Each is kept beside its
/// type's id: a request's hooks look their module's up many times, and comparing ids (a
/// constant) costs no call through each configuration's vtable.
#[derive(Debug, Clone, Default)]
pub struct ModuleConfigs(Vec<(TypeId, Arc<dyn AnyDirConfig>)>);

impl ModuleConfigs {
    fn position_of<T: DirConfig>(&self) -> Option<usize> {
        let id = TypeId::of::<T>();
        self.0.iter().position(|(of, _)| *of == id)
    }

    /// The module configuration of type `T`, if a directive set any here.
    pub fn get<T: DirConfig>(&self) -> Option<&T> {
        let at = self.position_of::<T>()?;
        self.0[at].1.as_any().downcast_ref::<T>()
    }

    /// Removes the module configuration of type `T` (for a runtime that keeps it apart).
    pub fn take<T: DirConfig>(&mut self) -> Option<T> {
        let at = self.position_of::<T>()?;
        let (_, config) = self.0.remove(at);
        config.as_any().downcast_ref::<T>().cloned()
    }

    /// The module configuration of type `T` to write to, created as its default.
    pub fn get_mut<T: DirConfig>(&mut self) -> &mut T {
        let at = match self.position_of::<T>() {
            Some(at) => at,
            None => {
                self.0.push((TypeId::of::<T>(), Arc::new(T::default())));
                self.0.len() - 1
            }
        };
        let slot = &mut self.0[at].1;
        if Arc::get_mut(slot).is_none() {
            *slot = Arc::from(slot.cloned());
        }
        Arc::get_mut(slot)
            .and_then(|c| c.as_any_mut().downcast_mut::<T>())
            .expect("a module configuration held once is writable")
    }

    /// `child`'s configurations over these, each module by its own merge; where only one side
    /// has a module's configuration, the other side's is that module's default. (Apache gives
    /// every virtual host every module's configuration, but a section only those of the modules
    /// whose directives it holds, and merges nothing for the others: a module whose merge with
    /// a default changes the parent's configuration tells "set nothing" apart itself, as
    /// mod_rewrite's and mod_expires' do.)
    pub fn merge(&self, child: &ModuleConfigs) -> ModuleConfigs {
        let mut merged = Vec::with_capacity(self.0.len());
        for (id, parent) in &self.0 {
            let over = child.0.iter().find(|(of, _)| of == id);
            merged.push((
                *id,
                match over {
                    Some((_, over)) => parent.merge_with(over.as_ref()),
                    None => parent.under_default(),
                },
            ));
        }
        for (id, own) in &child.0 {
            if !self.0.iter().any(|(of, _)| of == id) {
                merged.push((*id, own.over_default()));
            }
        }
        ModuleConfigs(merged)
    }
}

/// The kinds of per-request section, in the order Apache merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Directory,
    DirectoryMatch,
    Files,
    FilesMatch,
    Location,
    LocationMatch,
    If,
    ElseIf,
    Else,
    Limit,
    LimitExcept,
    /// mod_proxy's `<Proxy>` (a URL prefix or wildcard) and `<ProxyMatch>`: merged only for
    /// requests that go to a proxy, by mod_proxy's own walk.
    Proxy,
    ProxyMatch,
}

/// A per-request section with its settings and the sections nested in it.
#[derive(Debug, Clone)]
pub struct Section {
    pub kind: SectionKind,
    /// The path, pattern, expression or method list as written (without `~`).
    pub pattern: String,
    /// Whether it is a regex (`~` form or a *Match section).
    pub regex: bool,
    /// The RegexDefaultOptions in force where it opens, which its pattern (or its `<If>`
    /// condition's regexes) compile with.
    pub regex_flags: u32,
    pub origin: Origin,
    pub dir: DirConf,
    pub nested: Vec<Section>,
}

/// A `<VirtualHost>` address: `host[:port]` with `*` and `_default_` kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhostAddr {
    pub host: String,
    /// `Some(0)` for any port (`host:*`, or `*` alone); `None` when omitted (the main
    /// server's port applies).
    pub port: Option<u16>,
}

/// The main server or one virtual host.
#[derive(Debug, Clone, Default)]
pub struct Server {
    pub is_virtual: bool,
    pub addrs: Vec<VhostAddr>,
    pub origin: Option<Origin>,
    pub server_name: Option<String>,
    /// The port given in `ServerName host:port`.
    pub server_port: Option<u16>,
    pub server_scheme: Option<String>,
    pub aliases: Vec<String>,
    pub wild_aliases: Vec<String>,
    pub server_admin: Option<String>,
    pub document_root: Option<PathBuf>,
    pub error_log: Option<String>,
    pub timeout: Option<u64>,
    /// `AccessFileName` names, as written.
    pub access_file_names: Option<Vec<String>>,
    pub dir: DirConf,
    pub sections: Vec<Section>,
    /// The typed per-server configurations the setters of modules wrote (Apache's
    /// per-server config vector, typed); a virtual host's merge over the main server's by
    /// each module's [`DirConfig::merge`].
    pub modules: ModuleConfigs,
}

/// One `Listen` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `None` binds every address.
    pub addr: Option<String>,
    pub port: u16,
    pub protocol: String,
    pub origin: Origin,
}

/// `User`/`Group` as written (`#-1` style numeric forms kept).
#[derive(Debug, Clone, Default)]
pub struct RunAs {
    pub user: Option<String>,
    pub group: Option<String>,
}

/// A warning found while applying the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The module tag of the log line (`core`).
    pub module: &'static str,
    /// The LogLevel keyword it is logged at (`warn`, `notice`, ...).
    pub level: &'static str,
    /// Printed bare at startup (Apache's APLOG_STARTUP) rather than as a full log line.
    pub startup: bool,
    /// `AHnnnnn: message`.
    pub text: String,
}

/// A directive whose runtime effect is not implemented, seen in the config.
#[derive(Debug, Clone)]
pub struct PendingUse {
    pub directive: &'static str,
    pub origin: Origin,
}

/// The whole typed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub read: ReadState,
    /// `servers[0]` is the main server; the rest are virtual hosts in config order.
    pub servers: Vec<Server>,
    pub listeners: Vec<Listener>,
    pub pid_file: Option<String>,
    pub scoreboard_file: Option<String>,
    pub run_as: RunAs,
    /// `Mutex` lines: mechanism name -> its setting, in config order.
    pub mutexes: Vec<(String, String)>,
    pub mpm: MpmConfig,
    pub pending: Vec<PendingUse>,
    /// Walk-time warnings, in the order Apache prints them at startup.
    pub warnings: Vec<Warning>,
    /// `-T`: a missing main DocumentRoot is not an error.
    pub skip_document_root_check: bool,
    pub server_tokens: Option<String>,
    /// Provider names defined by `<AuthzProviderAlias>`, usable in later Require lines.
    pub authz_aliases: Vec<String>,
    /// Provider names defined by `<AuthnProviderAlias>` (exact case), usable in later
    /// AuthBasicProvider lines and as later aliases' bases.
    pub authn_aliases: Vec<String>,
    /// Directory checks already made while applying (thousands of vhosts share a DocumentRoot).
    pub dir_checks: std::collections::HashMap<PathBuf, bool>,
    pub listen_backlog: Option<i64>,
}

impl Config {
    pub fn main_server(&self) -> &Server {
        &self.servers[0]
    }

    /// Whether `path` is a directory, asking the filesystem once per path per load.
    pub fn is_dir_cached(&mut self, path: &std::path::Path) -> bool {
        if let Some(&known) = self.dir_checks.get(path) {
            return known;
        }
        let is_dir = path.is_dir();
        self.dir_checks.insert(path.to_path_buf(), is_dir);
        is_dir
    }
}

/// `apr_filepath_merge(TRUENAME)` without following links: `.` and `..` resolved and slashes
/// folded, as Apache prints DocumentRoot and `<Directory>` paths.
pub fn canonical_path(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config whose merge is not the identity: it counts the merges it went through.
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Counted {
        merges: u32,
        value: Option<u32>,
    }

    impl DirConfig for Counted {
        fn merge(&self, child: &Counted) -> Counted {
            Counted {
                merges: self.merges + child.merges + 1,
                value: child.value.or(self.value),
            }
        }
    }

    #[test]
    fn a_side_without_the_module_merges_as_its_default() {
        let mut parent = ModuleConfigs::default();
        parent.get_mut::<Counted>().value = Some(1);
        let empty = ModuleConfigs::default();
        // Child missing: parent over a default child, one merge.
        let down = parent.merge(&empty);
        assert_eq!(
            down.get::<Counted>(),
            Some(&Counted {
                merges: 1,
                value: Some(1)
            })
        );
        // Parent missing: the child over a default parent, one merge.
        let up = empty.merge(&parent);
        assert_eq!(
            up.get::<Counted>(),
            Some(&Counted {
                merges: 1,
                value: Some(1)
            })
        );
        // Both: the module's own merge.
        let mut child = ModuleConfigs::default();
        child.get_mut::<Counted>().value = Some(2);
        assert_eq!(
            parent.merge(&child).get::<Counted>().unwrap().value,
            Some(2)
        );
    }

    #[test]
    fn writing_a_shared_config_copies_it_first() {
        let mut a = ModuleConfigs::default();
        a.get_mut::<Counted>().value = Some(1);
        let b = a.clone();
        a.get_mut::<Counted>().value = Some(2);
        assert_eq!(b.get::<Counted>().unwrap().value, Some(1));
        assert_eq!(a.get::<Counted>().unwrap().value, Some(2));
    }
}
