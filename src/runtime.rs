//! The configuration as requests need it: every server's module runtimes merged over the main
//! server's, its sections compiled (patterns, regexes) in merge order, the MIME table loaded,
//! and the address table that picks a virtual host for a connection.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use rhttpd_directives::merge::merge_order;
use rhttpd_directives::model::{Config, Section, SectionKind};
use rhttpd_directives::regex::Regex;
use rhttpd_directives::regex_defaults;
use rhttpd_directives::util::fnmatch::{fnmatch, fnmatch_test, strcasecmp_match, Flags};

use crate::build_info::{DEFAULT_DOCUMENT_ROOT, RHTTPD_VERSION, SERVER_BANNER};
use crate::config::vhost::{address_sets, main_server_name, vhost_name, AddrSet};
use crate::modules::mime::TypesTable;
use crate::modules::{DirRuntime, ServerRuntime};

/// A section ready to match requests.
#[derive(Debug, Clone)]
pub struct CompiledSection {
    pub kind: SectionKind,
    pub pattern: String,
    pub regex: Option<Regex>,
    /// Whether a pattern that is no regex has wildcards (`apr_fnmatch_test`): matched by
    /// `apr_fnmatch`, else compared as a string.
    pub wildcard: bool,
    pub dir: DirRuntime,
    pub nested: Vec<CompiledSection>,
    /// An `<If>`/`<ElseIf>` condition (validated when the configuration was read).
    pub condition: Option<std::sync::Arc<rhttpd_directives::expr::Expr>>,
}

impl CompiledSection {
    pub fn compile(section: &Section) -> CompiledSection {
        // Section patterns are case-sensitive on Unix, as in Apache, unless RegexDefaultOptions
        // says otherwise: the options in force where the section opens. Compiled when the
        // configuration was read, so it compiles here too.
        let (regex, condition) = regex_defaults::scoped(section.regex_flags, || {
            let regex = section
                .regex
                .then(|| Regex::new(&section.pattern).ok())
                .flatten();
            let condition = matches!(section.kind, SectionKind::If | SectionKind::ElseIf)
                .then(|| rhttpd_directives::expr::parse(&section.pattern).ok())
                .flatten()
                .map(std::sync::Arc::new);
            (regex, condition)
        });
        CompiledSection {
            kind: section.kind,
            pattern: section.pattern.clone(),
            regex,
            wildcard: !section.regex && fnmatch_test(section.pattern.as_bytes()),
            dir: DirRuntime::compile(&section.dir),
            nested: section
                .nested
                .iter()
                .map(CompiledSection::compile)
                .collect(),
            condition,
        }
    }

    pub fn is_conditional(&self) -> bool {
        matches!(
            self.kind,
            SectionKind::If | SectionKind::ElseIf | SectionKind::Else
        )
    }

    /// Whether a path, base name or URI (depending on the kind) matches this section.
    pub fn matches(&self, subject: &str) -> bool {
        if let Some(regex) = &self.regex {
            return regex.is_match(subject);
        }
        // A plain <Location> matches runs of slashes as one, whatever MergeSlashes says (a
        // regex one sees the URI as it is); an absolute URI is taken as it is.
        let merged;
        let subject = match self.kind {
            SectionKind::Location if subject.starts_with('/') && subject.contains("//") => {
                merged = merge_slashes(subject);
                merged.as_str()
            }
            _ => subject,
        };
        if self.kind == SectionKind::Proxy {
            // mod_proxy's walk: apr_fnmatch without flags, else a plain prefix.
            return if self.wildcard {
                fnmatch(self.pattern.as_bytes(), subject.as_bytes(), Flags::NONE)
            } else {
                subject.starts_with(&self.pattern)
            };
        }
        if self.wildcard {
            return fnmatch(self.pattern.as_bytes(), subject.as_bytes(), Flags::PATHNAME);
        }
        match self.kind {
            SectionKind::Location | SectionKind::LocationMatch => {
                location_matches(&self.pattern, subject)
            }
            _ => self.pattern == subject,
        }
    }
}

/// A path with every run of slashes made one (Apache's `ap_no2slash`).
fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// `<Location /foo>` without wildcards matches `/foo`, `/foo/...`, not `/foobar`.
fn location_matches(pattern: &str, uri: &str) -> bool {
    if pattern == "/" {
        return true;
    }
    match uri.strip_prefix(pattern.trim_end_matches('/')) {
        Some(rest) => {
            rest.is_empty() || rest.starts_with('/') || pattern.ends_with('/') && !rest.is_empty()
        }
        None => false,
    }
}

/// One server (main or virtual) ready for requests.
#[derive(Debug, Clone)]
pub struct ServerContext {
    pub runtime: ServerRuntime,
    /// The server-level per-directory defaults.
    pub dir: std::sync::Arc<DirRuntime>,
    pub sections: Vec<CompiledSection>,
    pub document_root: PathBuf,
    pub server_name: String,
    pub names: Vec<String>,
    /// ServerAlias names with `*` or `?`, lower-cased (matched as `ap_strcasecmp_match` does).
    pub wild_names: Vec<String>,
    /// `AccessFileName` (default `.htaccess`).
    pub access_file_names: Vec<String>,
    /// A virtual host's own ErrorLog (request errors go there rather than the main log).
    pub error_log: Option<std::sync::Arc<crate::log::OwnErrorLog>>,
    /// ServerPath: requests without a Host header whose path starts with it go to this host.
    pub server_path: Option<String>,
    /// Whether the server's own configuration sets KeepAliveTimeout (the event MPM keeps a
    /// connection by it only then, else by the address's default server).
    pub keep_alive_timeout_set: bool,
    /// Whether a regex section (or a `<Files>` one nested in a section) has named groups,
    /// which the walk exports as `MATCH_<NAME>` variables: most configurations have none, and
    /// their requests skip the matching.
    pub named_section_groups: bool,
}

impl ServerContext {
    /// Whether `host` (lowercase, no port) names this server.
    pub fn answers_to(&self, host: &str) -> bool {
        self.names.iter().any(|n| n == host)
            || self
                .wild_names
                .iter()
                .any(|p| strcasecmp_match(host.as_bytes(), p.as_bytes()))
    }
}

/// Everything a worker needs to answer requests.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    pub servers: Vec<ServerContext>,
    pub sets: Vec<AddrSet>,
    pub types: TypesTable,
    /// The `Server:` header value per ServerTokens.
    pub server_banner: String,
    /// Parsed `.htaccess` files.
    pub htaccess: crate::request::htaccess::Cache,
    /// Merged per-directory configurations of past requests.
    pub merged: crate::request::merged::MergeCache,
    /// mod_status, when loaded.
    pub status: Option<crate::modules::status::Settings>,
    /// Methods RegisterHttpMethod added to the ones Apache knows.
    pub registered_methods: Vec<String>,
    /// mod_reqtimeout's stages, when it is loaded.
    pub reqtimeout: Option<crate::modules::reqtimeout::Settings>,
    /// mod_log_config's open logs, per server.
    pub logs: crate::modules::log_config::Logs,
    /// The loaded modules' request hooks, sorted for running.
    pub hooks: crate::hooks::Hooks,
    /// mod_ssl's TLS setup of each server (built at post_config).
    pub tls: crate::modules::ssl::context::Contexts,
    /// mod_remoteip's RemoteIPProxyProtocol settings, when it is on somewhere: which new
    /// connections must begin with a PROXY header.
    pub proxy_protocol: Option<crate::modules::remoteip::ProxyProtocolConf>,
    /// The configuration as read (Apache's `ap_conftree`: sections and directives after
    /// Include, `<IfModule>` and the like), which mod_info lists.
    pub conf_tree: Vec<rhttpd_parser::Node>,
    /// mod_log_forensic's logs, when it is loaded.
    pub forensic: crate::modules::log_forensic::Logs,
}

impl Runtime {
    /// Whether the configuration loads the module (`deflate_module`).
    pub fn module_loaded(&self, id: &str) -> bool {
        self.config.read.modules.iter().any(|m| m.id == id)
    }

    /// ExtendedStatus as the main server sets it: off unless set, but on by default once
    /// mod_status or mod_systemd is loaded (their pre_config turns it on, as Apache's do).
    pub fn extended_status(&self) -> bool {
        let set = self
            .config
            .main_server()
            .modules
            .get::<rhttpd_directives::core_config::ServerConf>()
            .and_then(|core| core.extended_status);
        set.unwrap_or_else(|| {
            self.module_loaded("status_module") || self.module_loaded("systemd_module")
        })
    }

    /// Whether Apache would know the method: one of its own, or registered.
    pub fn method_known(&self, method: &str) -> bool {
        crate::request::KNOWN_METHODS.contains(&method)
            || self.registered_methods.iter().any(|m| m == method)
    }

    /// Compiles a loaded configuration; fails where Apache fails at startup (the MIME file).
    pub fn build(config: Config, program: &str) -> Result<Runtime, String> {
        crate::modules::systemd::reading_configuration(&config);
        let main = config.main_server();
        let (main_name, _) = main_server_name(&config, program);
        let main_runtime = ServerRuntime::compile(main);
        let main_dir = DirRuntime::compile(&main.dir);
        let mut servers = Vec::new();
        for (index, server) in config.servers.iter().enumerate() {
            let is_main = index == 0;
            let runtime = if is_main {
                main_runtime.clone()
            } else {
                main_runtime.merge(&ServerRuntime::compile(server))
            };
            let dir = if is_main {
                main_dir.clone()
            } else {
                main_dir.merge(&DirRuntime::compile(&server.dir))
            };
            let vhost = (!is_main).then_some(server);
            let sections: Vec<CompiledSection> = merge_order(main, vhost)
                .into_iter()
                .map(CompiledSection::compile)
                .collect();
            let document_root = server
                .document_root
                .clone()
                .or_else(|| main.document_root.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DOCUMENT_ROOT));
            let server_name = if is_main {
                main_name.clone()
            } else {
                vhost_name(server, &main_name)
            };
            let mut names = vec![server_name.to_ascii_lowercase()];
            names.extend(server.aliases.iter().map(|a| a.to_ascii_lowercase()));
            let wild_names = server
                .wild_aliases
                .iter()
                .map(|w| w.to_ascii_lowercase())
                .collect();
            let access_file_names = server
                .access_file_names
                .clone()
                .or_else(|| main.access_file_names.clone())
                .unwrap_or_else(|| vec![".htaccess".to_string()]);
            let named_section_groups = sections
                .iter()
                .chain(sections.iter().flat_map(|s| s.nested.iter()))
                .any(|s| s.regex.as_ref().is_some_and(|r| r.names().next().is_some()));
            servers.push(ServerContext {
                named_section_groups,
                keep_alive_timeout_set: server
                    .modules
                    .get::<crate::modules::http_core::ServerConf>()
                    .is_some_and(|h| h.keep_alive_timeout_ms.is_some()),
                runtime,
                dir: std::sync::Arc::new(dir),
                sections,
                document_root,
                server_name,
                names,
                wild_names,
                access_file_names,
                // Opened with the other logs (open_logs).
                error_log: None,
                server_path: server
                    .modules
                    .get::<rhttpd_directives::core_config::ServerConf>()
                    .and_then(|core| core.server_path.clone()),
            });
        }
        let mut warnings = Vec::new();
        let sets = address_sets(&config, &mut warnings);
        let server_banner = banner(config.server_tokens.as_deref());
        Ok(Runtime {
            // Opened later, in Apache's order (open_logs, post_config).
            logs: Default::default(),
            types: TypesTable::default(),
            htaccess: Default::default(),
            merged: Default::default(),
            status: crate::modules::status::Settings::from_config(&config),
            reqtimeout: crate::modules::reqtimeout::Settings::from_config(&config),
            // RegisterHttpMethod's and those `<Limit>` named, as the reading just registered.
            registered_methods: rhttpd_directives::methods::registered(),
            hooks: {
                let mut hooks = crate::hooks::Hooks::build(crate::modules::HOOKS, |id| {
                    matches!(id, "core_module" | "http_module")
                        || config.read.modules.iter().any(|m| m.id == id)
                });
                // The filters ExtFilterDefine lines defined, under their names.
                crate::modules::ext_filter::register_defined(&mut hooks, &config);
                hooks
            },
            tls: Default::default(),
            proxy_protocol: config
                .read
                .modules
                .iter()
                .any(|m| m.id == "remoteip_module")
                .then(|| crate::modules::remoteip::proxy_protocol_settings(&config))
                .flatten(),
            conf_tree: Vec::new(),
            forensic: Default::default(),
            config,
            servers,
            sets,
            server_banner,
        })
    }

    /// Opens the virtual hosts' own error logs and every CustomLog, as Apache's open_logs
    /// phase does once the main error log is standard error: a failure is written there and
    /// ends the start with AH00015.
    pub fn open_logs(&mut self, program: &str) -> Result<(), String> {
        let failed = |message: crate::log::StartupMessage| {
            message.write();
            "AH00015: Unable to open logs".to_string()
        };
        for (index, server) in self.config.servers.iter().enumerate().skip(1) {
            let own = crate::log::open_vhost_error_log(
                server.error_log.as_deref(),
                &self.config,
                program,
            )
            .map_err(failed)?;
            self.servers[index].error_log = own.map(std::sync::Arc::new);
        }
        let servers: Vec<&rhttpd_directives::model::Server> = self.config.servers.iter().collect();
        self.logs =
            crate::modules::log_config::Logs::open(&servers, &self.config.read).map_err(failed)?;
        if self.module_loaded("log_forensic_module") {
            self.forensic =
                crate::modules::log_forensic::Logs::open(&self.config).map_err(failed)?;
        }
        Ok(())
    }

    /// What Apache's modules do after the logs are open (post_config): mod_mime reads its
    /// TypesConfig file, mod_ssl sets up each SSL server. A failure is logged and ends the
    /// start with AH00016.
    pub fn post_config(&mut self) -> Result<(), String> {
        // mod_mime_magic's hook runs first; mod_mime's before mod_remoteip's and mod_ssl's (all
        // middle, in load order).
        crate::modules::mime_magic::post_config(self);
        self.read_types()?;
        self.log_remoteip_settings();
        if self.module_loaded("auth_digest_module") {
            crate::modules::auth_digest::post_config(&self.config)?;
        }
        if self.module_loaded("ssl_module") {
            self.tls = self.ssl_contexts()?;
        }
        // mod_lbmethod_*'s and mod_proxy_balancer's (they load after mod_proxy, in that order).
        crate::modules::proxy_balancer::check_lbmethods(self)?;
        if self.module_loaded("proxy_balancer_module") {
            crate::modules::proxy_balancer::post_config(self)?;
        }
        // mod_systemd's runs really last: nothing can fail after it says READY=1.
        crate::modules::systemd::configuration_loaded(self);
        Ok(())
    }

    /// mod_remoteip's post_config: where the PROXY protocol is on and off, and the virtual
    /// hosts whose proxies add to the main server's, each in its server's error log.
    pub fn log_remoteip_settings(&self) {
        if !self.module_loaded("remoteip_module") {
            return;
        }
        for (index, message) in crate::modules::remoteip::startup_messages(&self.config) {
            self.log_startup(index, message.module, message.level, &message.text);
        }
    }

    /// A start-up message of a module about one server, in that server's error log (its own,
    /// or the main one), if its LogLevel lets it through.
    pub(crate) fn log_startup(&self, index: usize, module: &str, level: &str, text: &str) {
        let server = &self.servers[index];
        let Some(own) = server.error_log.as_ref().filter(|_| index > 0) else {
            crate::log::error(module, level, text);
            return;
        };
        if !crate::log::enabled_with(&server.dir.core.log_level, module, level) {
            return;
        }
        let entry = crate::log::Entry {
            module,
            level,
            message: text.as_bytes(),
            cause: None,
            request: None,
            source: None,
        };
        if let Some(line) = crate::log::render(&entry, true) {
            own.write_line(&line);
        }
    }

    /// mod_mime's post_config: the TypesConfig file.
    fn read_types(&mut self) -> Result<(), String> {
        if !self.module_loaded("mime_module") {
            return Ok(());
        }
        let types_file = self
            .config
            .main_server()
            .modules
            .get::<crate::modules::mime::ServerConf>()
            .and_then(|m| m.types_config.clone())
            .unwrap_or_else(|| crate::build_info::AP_TYPES_CONFIG_FILE.to_string());
        let path = self.config.read.server_root_relative(&types_file);
        self.types = TypesTable::load(&path).map_err(|e| {
            let text = format!(
                "{}: AH01597: could not open mime types config file {}.",
                crate::config::read::errno_text(&e),
                path.display()
            );
            crate::log::error("mime", "error", &text);
            "AH00016: Configuration Failed".to_string()
        })?;
        Ok(())
    }

    /// mod_ssl's `ssl_init_Module`: every SSL-enabled server's TLS setup; a failure is
    /// logged as mod_ssl logs it (emerg) and ends the start with AH00016.
    fn ssl_contexts(&self) -> Result<crate::modules::ssl::context::Contexts, String> {
        use crate::modules::ssl::{context, ServerConf};
        let main = self
            .config
            .main_server()
            .modules
            .get::<ServerConf>()
            .cloned()
            .unwrap_or_default();
        let confs: Vec<(ServerConf, context::Named<'_>)> = self
            .servers
            .iter()
            .enumerate()
            .map(|(index, server)| {
                let conf = server.runtime.module::<ServerConf>().into_owned();
                // mod_ssl names a server `name:port`: ServerName's port, else (no
                // ServerName) its address's, else 443.
                let config = &self.config.servers[index];
                let port = server.runtime.core.server_port.unwrap_or_else(|| {
                    let own = config
                        .addrs
                        .first()
                        .and_then(|a| a.port)
                        .filter(|&p| p != 0);
                    match (&config.server_name, own) {
                        (None, Some(port)) => port,
                        _ => 443,
                    }
                });
                let named = context::Named {
                    name: &server.server_name,
                    port,
                };
                (conf, named)
            })
            .collect();
        context::build(&confs, &main.session_cache).map_err(|messages| {
            for message in messages {
                // Apache logs its "private key not found" at error, the rest at emerg.
                let level = if message.starts_with("AH02579") {
                    "error"
                } else {
                    "emerg"
                };
                crate::log::error("ssl", level, &message);
            }
            "AH00016: Configuration Failed".to_string()
        })
    }

    /// Whether the address `local` arrives at has name-based virtual hosts (Apache's
    /// `vhost_lookup_data`).
    pub fn name_based(&self, local: SocketAddr) -> bool {
        let base = self.base_server(local);
        self.sets
            .iter()
            .any(|s| s.names.len() > 1 && s.names.iter().any(|(i, _)| *i == base))
    }

    /// How long a connection on `local` waits for its next request after `server` answered:
    /// that server's KeepAliveTimeout, as Apache's worker and prefork have it; under the event
    /// MPM (`by_address`) only if the server sets one itself, else the address's default
    /// server's.
    pub fn keep_alive_wait_ms(&self, local: SocketAddr, server: usize, by_address: bool) -> u64 {
        let server = if by_address && !self.servers[server].keep_alive_timeout_set {
            self.select_server(local, None, "")
        } else {
            server
        };
        let http = self.servers[server]
            .runtime
            .module::<crate::modules::http_core::ServerConf>();
        http.keep_alive_timeout_ms()
    }

    /// The server a connection on `local` arrives at before any request names a host (Apache's
    /// `conn->base_server`): its settings decide how the request line and headers are read.
    pub fn base_server(&self, local: SocketAddr) -> usize {
        self.select_server(local, None, "")
    }

    /// The server a request on `local` for `host` goes to (Apache's vhost selection).
    pub fn select_server(&self, local: SocketAddr, host: Option<&str>, uri: &str) -> usize {
        self.select_server_checked(local, host, uri).0
    }

    /// The server for a request, and whether its host named one of a name-based set's servers
    /// (what `StrictHostCheck On` requires); true for an address without name-based hosting.
    pub fn select_server_checked(
        &self,
        local: SocketAddr,
        host: Option<&str>,
        uri: &str,
    ) -> (usize, bool) {
        let ip = match local.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let port = local.port();
        // An address with this very port wins over one for any port, wherever it stands
        // (Apache's find_ipaddr looks on for an exact match).
        let chain = self
            .sets
            .iter()
            .find(|s| s.ip == Some(ip) && s.port == port)
            .or_else(|| self.sets.iter().find(|s| s.ip == Some(ip) && s.port == 0))
            .or_else(|| self.sets.iter().find(|s| s.ip.is_none() && s.port == port))
            .or_else(|| self.sets.iter().find(|s| s.ip.is_none() && s.port == 0));
        let Some(chain) = chain else { return (0, true) };
        if chain.names.len() > 1 {
            if let Some(host) = host {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                if let Some(&(index, _)) = chain
                    .names
                    .iter()
                    .find(|(i, _)| self.servers[*i].answers_to(&host))
                {
                    return (index, true);
                }
            }
            // Without a Host header, a ServerPath that starts the path picks the host.
            if host.is_none() {
                if let Some(&(index, _)) = chain.names.iter().find(|(i, _)| {
                    self.servers[*i]
                        .server_path
                        .as_deref()
                        .is_some_and(|p| path_under(uri, p))
                }) {
                    return (index, true);
                }
            }
            // Only a host that names nothing counts against StrictHostCheck; no host at all
            // (HTTP/1.0) is served by the default.
            return (chain.default_server(), host.is_none());
        }
        (chain.default_server(), true)
    }
}

/// ServerPath's test: the path starts with it, at a segment boundary.
fn path_under(uri: &str, path: &str) -> bool {
    uri.strip_prefix(path)
        .is_some_and(|rest| path.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
}

/// The `Server:` header for a ServerTokens setting.
pub fn banner(tokens: Option<&str>) -> String {
    let full = format!("{SERVER_BANNER} rhttpd/{RHTTPD_VERSION}");
    match tokens.map(str::to_ascii_lowercase).as_deref() {
        Some("prod" | "productonly") => "Apache".into(),
        Some("major") => "Apache/2".into(),
        Some("minor") => "Apache/2.4".into(),
        Some("min" | "minimal") => "Apache/2.4.71".into(),
        Some("os") => SERVER_BANNER.into(),
        _ => full,
    }
}
