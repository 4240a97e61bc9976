//! mod_proxy: its directive table and setters (ProxyPass and friends, `<Proxy>` sections,
//! workers and their parameters), its typed per-server and per-directory configurations with
//! Apache's merges, and its request hooks: translation of a URL ProxyPass maps (and of a
//! forward proxy request), the `<Proxy>` walk in place of the directory walk, the
//! canonicalisation of the backend URL, and the `proxy-server` handler that picks a worker and
//! hands the request to the scheme's module (mod_proxy_http here; mod_proxy_fcgi).

pub mod http;
pub mod reverse;
pub mod tls;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::pipeline::handler_of;
use crate::request::{Request, Response, Step};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{
    ACCESS_CONF, NOT_IN_DIRECTORY, NOT_IN_FILES, NOT_IN_HTACCESS, RSRC_CONF,
};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::regex::Regex;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::fnmatch::fnmatch_test;
use worker::{Params, WorkerDef};

pub static MODULE: ModuleDef = ModuleDef {
    id: "proxy_module",
    source: "mod_proxy.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

pub static HTTP_MODULE: ModuleDef = ModuleDef {
    id: "proxy_http_module",
    source: "mod_proxy_http.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub static WSTUNNEL_MODULE: ModuleDef = ModuleDef {
    id: "proxy_wstunnel_module",
    source: "mod_proxy_wstunnel.c",
    builtin: false,
    has_dir_config: true,
    directives: WSTUNNEL_DIRECTIVES,
};

const WSTUNNEL_DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "ProxyWebsocketFallbackToProxyHttp",
    Flag(set_websocket_fallback),
    RSRC_CONF | ACCESS_CONF,
    "whether to let mod_proxy_http handle the upgrade and tunneling, On by default",
)
.inert("rhttpd's mod_proxy_http tunnels ws:// and wss:// itself, which is what On (the default) does; Off's separate tunnel answers alike")];

fn set_websocket_fallback(_cmd: &mut Cmd, _on: bool) -> SetResult {
    Ok(())
}

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "<Proxy",
        Raw(proxy_section),
        RSRC_CONF,
        "Container for directives affecting resources located in the proxied location",
    )
    .implemented(),
    DirectiveDef::new(
        "<ProxyMatch",
        Raw(proxy_section),
        RSRC_CONF,
        "Container for directives affecting resources located in the proxied location, in regular expression syntax",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyRequests",
        Flag(set_requests),
        RSRC_CONF,
        "on if the true proxy requests should be accepted",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyRemote",
        Take23(add_remote),
        RSRC_CONF,
        "a scheme, partial URL or '*' and a proxy server",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyRemoteMatch",
        Take23(add_remote_match),
        RSRC_CONF,
        "a regex pattern and a proxy server",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPassInterpolateEnv",
        Flag(set_interpolate_env),
        RSRC_CONF | ACCESS_CONF,
        "Interpolate Env Vars in reverse Proxy",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPass",
        Raw(add_pass),
        RSRC_CONF | ACCESS_CONF,
        "a virtual path and a URL",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPassMatch",
        Raw(add_pass_match),
        RSRC_CONF | ACCESS_CONF,
        "a virtual path and a URL",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPassReverse",
        Take123(add_pass_reverse),
        RSRC_CONF | ACCESS_CONF,
        "a virtual path and a URL for reverse proxy behaviour",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPassReverseCookiePath",
        Take23(cookie_path),
        RSRC_CONF | ACCESS_CONF,
        "Path rewrite rule for proxying cookies",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPassReverseCookieDomain",
        Take23(cookie_domain),
        RSRC_CONF | ACCESS_CONF,
        "Domain rewrite rule for proxying cookies",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyBlock",
        Iterate(add_block),
        RSRC_CONF,
        "A list of names, hosts or domains to which the proxy will not connect",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyReceiveBufferSize",
        Take1(set_receive_buffer_size),
        RSRC_CONF,
        "Receive buffer size for outgoing HTTP and FTP connections in bytes",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyIOBufferSize",
        Take1(set_io_buffer_size),
        RSRC_CONF,
        "IO buffer size for outgoing HTTP and FTP connections in bytes",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyMaxForwards",
        Take1(set_max_forwards),
        RSRC_CONF,
        "The maximum number of proxies a request may be forwarded through.",
    )
    .implemented(),
    DirectiveDef::new(
        "NoProxy",
        Iterate(add_no_proxy),
        RSRC_CONF,
        "A list of domains, hosts, or subnets to which the proxy will connect directly",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyDomain",
        Take1(set_domain),
        RSRC_CONF,
        "The default intranet domain name (in absence of a domain in the URL)",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyVia",
        Take1(set_via),
        RSRC_CONF,
        "Configure Via: proxy header header to one of: on | off | block | full",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyErrorOverride",
        Iterate(set_error_override),
        RSRC_CONF | ACCESS_CONF,
        "use our error handling pages instead of the servers' we are proxying",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPreserveHost",
        Flag(set_preserve_host),
        RSRC_CONF | ACCESS_CONF,
        "on if we should preserve host header while proxying",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyTimeout",
        Take1(set_timeout),
        RSRC_CONF,
        "Set the timeout (in seconds) for a proxied connection. This overrides the server timeout",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyBadHeader",
        Take1(set_bad_header),
        RSRC_CONF,
        "How to handle bad header line in response: IsError | Ignore | StartBody",
    )
    .implemented(),
    DirectiveDef::new(
        "BalancerMember",
        Raw(add_member),
        RSRC_CONF | ACCESS_CONF,
        "A balancer name and scheme with list of params",
    )
    .implemented(),
    DirectiveDef::new(
        "BalancerGrowth",
        Take1(set_balancer_growth),
        RSRC_CONF,
        "Number of additional Balancers that can be added post-config",
    )
    .inert("sizes the balancer-manager's room for balancers added at run time; rhttpd's balancer-manager adds none"),
    DirectiveDef::new(
        "BalancerPersist",
        Flag(set_balancer_persist),
        RSRC_CONF,
        "on if the balancer should persist changes on reboot/restart made via the Balancer Manager",
    )
    .inert("keeps balancer-manager changes across restarts; rhttpd's balancer-manager changes last until the next restart"),
    DirectiveDef::new(
        "BalancerInherit",
        Flag(set_balancer_inherit),
        RSRC_CONF,
        "on if this server should inherit Balancers and Workers defined in the main server (Setting to off recommended if using the Balancer Manager)",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyPassInherit",
        Flag(set_pass_inherit),
        RSRC_CONF,
        "on if this server should inherit all ProxyPass directives defined in the main server (Setting to off recommended if using the Balancer Manager)",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyStatus",
        Take1(set_status),
        RSRC_CONF,
        "Configure Status: proxy status to one of: on | off | full",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxySet",
        Raw(set_param),
        RSRC_CONF | ACCESS_CONF,
        "A balancer or worker name with list of params",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxySourceAddress",
        Take1(set_source_address),
        RSRC_CONF,
        "Configure local source IP used for request forward",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyAddHeaders",
        Flag(set_add_headers),
        RSRC_CONF | ACCESS_CONF,
        "on if X-Forwarded-* headers should be added or completed",
    )
    .implemented(),
    DirectiveDef::new(
        "Proxy100Continue",
        Flag(set_100_continue),
        RSRC_CONF | ACCESS_CONF,
        "on if 100-Continue should be forwarded to the origin server, off if the proxy should handle it by itself",
    )
    .implemented(),
];

// --- configuration ------------------------------------------------------------------------

/// A ProxyPass (or ProxyPassMatch) mapping.
#[derive(Debug, Clone)]
pub struct Alias {
    /// The URL path (or pattern) requests match.
    pub fake: String,
    /// The backend URL, `!` for an exclusion.
    pub real: String,
    pub regex: Option<Arc<Regex>>,
    pub nocanon: bool,
    pub interpolate: bool,
    pub noquery: bool,
    pub map_encoded: bool,
    pub map_servlet: bool,
}

/// A ProxyPassReverse / ProxyPassReverseCookie* mapping: the backend's `real` text becomes
/// `fake`.
#[derive(Debug, Clone)]
pub struct ReverseAlias {
    pub fake: String,
    pub real: String,
    pub interpolate: bool,
}

/// ProxyVia.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Off,
    On,
    Full,
    Block,
}

/// ProxyBadHeader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHeader {
    IsError,
    Ignore,
    StartBody,
}

/// A ProxyRemote / ProxyRemoteMatch line: requests for `scheme` (a scheme, a URL prefix,
/// `*`, or a regex) go through the proxy at `host:port`.
#[derive(Debug, Clone)]
pub struct Remote {
    pub scheme: String,
    pub regex: Option<Arc<Regex>>,
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub credentials: Option<String>,
}

/// A balancer:// a ProxyPass, `<Proxy balancer://>`, BalancerMember or ProxySet defined.
#[derive(Debug, Clone, Default)]
pub struct BalancerDef {
    /// `balancer://name`, lowercased.
    pub name: String,
    /// The members' worker names, in the order defined.
    pub members: Vec<String>,
    /// The balancer's own key=value parameters, in order.
    pub params: Vec<(String, String)>,
    /// Those parameters checked (mod_proxy_balancer reads them).
    pub settings: crate::modules::proxy_balancer::BalancerParams,
}

/// mod_proxy's per-server configuration.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub aliases: Vec<Alias>,
    pub workers: Vec<WorkerDef>,
    pub balancers: Vec<BalancerDef>,
    pub forward: Option<bool>,
    pub via: Option<Via>,
    pub max_forwards: Option<i64>,
    pub timeout: Option<Duration>,
    pub bad_header: Option<BadHeader>,
    pub io_buffer_size: Option<usize>,
    pub receive_buffer_size: Option<i32>,
    pub blocked: Vec<String>,
    pub no_proxy: Vec<String>,
    pub domain: Option<String>,
    pub remotes: Vec<Remote>,
    pub source_address: Option<std::net::IpAddr>,
    pub pass_inherit: Option<bool>,
    pub balancer_inherit: Option<bool>,
    /// ProxyStatus On or Full: mod_status shows the balancers.
    pub proxy_status: Option<bool>,
    pub map_encoded_one: bool,
    /// Whether every ProxyPass maps encoded (`None`: none said).
    pub map_encoded_all: Option<bool>,
}

/// A server with no mod_proxy setting (what `Default` gives, as a reference): Debian's
/// php8.2-fpm.conf reaches the handler with no proxy directive, and a default made (and
/// dropped) at each look cost ~250 instructions a time.
static UNSET_SERVER: ServerConf = ServerConf {
    aliases: Vec::new(),
    workers: Vec::new(),
    balancers: Vec::new(),
    forward: None,
    via: None,
    max_forwards: None,
    timeout: None,
    bad_header: None,
    io_buffer_size: None,
    receive_buffer_size: None,
    blocked: Vec::new(),
    no_proxy: Vec::new(),
    domain: None,
    remotes: Vec::new(),
    source_address: None,
    pass_inherit: None,
    balancer_inherit: None,
    proxy_status: None,
    map_encoded_one: false,
    map_encoded_all: None,
};

/// The request's server's mod_proxy configuration.
fn server_conf<'r>(req: &Request<'r>) -> &'r ServerConf {
    req.ctx()
        .runtime
        .typed
        .get::<ServerConf>()
        .unwrap_or(&UNSET_SERVER)
}

impl DirConfig for ServerConf {
    /// `merge_proxy_config`: lists the main server's first, then the virtual host's; the
    /// workers and balancers only while inheritance is on; single values the host's if set.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        let inherit = vhost
            .balancer_inherit
            .or(self.balancer_inherit)
            .unwrap_or(true);
        let pass_inherit = vhost.pass_inherit.or(self.pass_inherit).unwrap_or(true);
        let both = |a: &Vec<String>, b: &Vec<String>| [a.clone(), b.clone()].concat();
        ServerConf {
            aliases: [self.aliases.clone(), vhost.aliases.clone()].concat(),
            workers: if inherit || pass_inherit {
                [self.workers.clone(), vhost.workers.clone()].concat()
            } else {
                vhost.workers.clone()
            },
            balancers: if inherit || pass_inherit {
                let mut merged = self.balancers.clone();
                for own in &vhost.balancers {
                    // `merge_balancers`: one both define is the main server's (its members
                    // too) with the virtual host's settings over it.
                    let own = match merged.iter().position(|b| b.name == own.name) {
                        Some(at) => {
                            let base = merged.remove(at);
                            BalancerDef {
                                name: own.name.clone(),
                                params: [base.params.clone(), own.params.clone()].concat(),
                                settings: own.settings.or(&base.settings),
                                members: base.members,
                            }
                        }
                        None => own.clone(),
                    };
                    merged.push(own);
                }
                merged
            } else {
                vhost.balancers.clone()
            },
            forward: vhost.forward.or(self.forward),
            via: vhost.via.or(self.via),
            max_forwards: vhost.max_forwards.or(self.max_forwards),
            timeout: vhost.timeout.or(self.timeout),
            bad_header: vhost.bad_header.or(self.bad_header),
            io_buffer_size: vhost.io_buffer_size.or(self.io_buffer_size),
            receive_buffer_size: vhost.receive_buffer_size.or(self.receive_buffer_size),
            blocked: both(&self.blocked, &vhost.blocked),
            no_proxy: both(&self.no_proxy, &vhost.no_proxy),
            domain: vhost.domain.clone().or_else(|| self.domain.clone()),
            remotes: if pass_inherit {
                [self.remotes.clone(), vhost.remotes.clone()].concat()
            } else {
                vhost.remotes.clone()
            },
            source_address: vhost.source_address.or(self.source_address),
            pass_inherit: vhost.pass_inherit.or(self.pass_inherit),
            balancer_inherit: vhost.balancer_inherit.or(self.balancer_inherit),
            proxy_status: vhost.proxy_status.or(self.proxy_status),
            map_encoded_one: self.map_encoded_one || vhost.map_encoded_one,
            map_encoded_all: match (self.map_encoded_all, vhost.map_encoded_all) {
                (Some(a), Some(b)) => Some(a && b),
                (a, b) => a.or(b),
            },
        }
    }
}

impl ServerConf {
    /// The worker a URL goes to: the defined one matching most of it.
    pub fn worker_for(&self, url: &str) -> Option<&WorkerDef> {
        self.workers
            .iter()
            .filter(|w| w.balancer.is_none())
            .filter_map(|w| w.match_len(url).map(|len| (len, w)))
            .max_by_key(|(len, _)| *len)
            .map(|(_, w)| w)
    }

    pub fn balancer(&self, name: &str) -> Option<&BalancerDef> {
        self.balancers
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(name))
    }

    pub fn members<'a>(&'a self, balancer: &'a BalancerDef) -> impl Iterator<Item = &'a WorkerDef> {
        balancer.members.iter().filter_map(move |name| {
            self.workers
                .iter()
                .find(|w| w.balancer.as_deref() == Some(&balancer.name) && &w.name == name)
        })
    }

    fn index_of(&self, name: &str, is_match: bool) -> Option<usize> {
        self.workers
            .iter()
            .position(|w| w.balancer.is_none() && w.pattern.is_some() == is_match && w.name == name)
    }
}

/// mod_proxy's per-directory configuration (also what a `<Proxy>` section sets).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// A ProxyPass inside a `<Location>` (`None`: none here; the inner Option: set).
    pub alias: Option<Alias>,
    pub reverse: Vec<ReverseAlias>,
    pub cookie_paths: Vec<ReverseAlias>,
    pub cookie_domains: Vec<ReverseAlias>,
    pub preserve_host: Option<bool>,
    pub error_override: Option<bool>,
    pub error_override_codes: Vec<u16>,
    pub add_headers: Option<bool>,
    pub forward_100_continue: Option<bool>,
    pub interpolate_env: Option<bool>,
}

impl DirConfig for Dir {
    /// `merge_proxy_dir_config`.
    fn merge(&self, child: &Dir) -> Dir {
        let mut codes = [
            self.error_override_codes.clone(),
            child.error_override_codes.clone(),
        ]
        .concat();
        codes.sort_unstable();
        Dir {
            alias: child.alias.clone().or_else(|| self.alias.clone()),
            reverse: [self.reverse.clone(), child.reverse.clone()].concat(),
            cookie_paths: [self.cookie_paths.clone(), child.cookie_paths.clone()].concat(),
            cookie_domains: [self.cookie_domains.clone(), child.cookie_domains.clone()].concat(),
            preserve_host: child.preserve_host.or(self.preserve_host),
            error_override: child.error_override.or(self.error_override),
            error_override_codes: codes,
            add_headers: child.add_headers.or(self.add_headers),
            forward_100_continue: child.forward_100_continue.or(self.forward_100_continue),
            interpolate_env: child.interpolate_env.or(self.interpolate_env),
        }
    }
}

/// A directory with no mod_proxy setting (what `Default` gives, as a reference).
pub static UNSET_DIR: Dir = Dir {
    alias: None,
    reverse: Vec::new(),
    cookie_paths: Vec::new(),
    cookie_domains: Vec::new(),
    preserve_host: None,
    error_override: None,
    error_override_codes: Vec::new(),
    add_headers: None,
    forward_100_continue: None,
    interpolate_env: None,
};

impl Dir {
    pub fn preserve_host(&self) -> bool {
        self.preserve_host == Some(true)
    }
    pub fn add_headers(&self) -> bool {
        self.add_headers != Some(false)
    }
    pub fn interpolates(&self) -> bool {
        self.interpolate_env == Some(true)
    }
    /// Whether ProxyErrorOverride takes the backend's answer with this status.
    pub fn overrides_error(&self, status: u16) -> bool {
        self.error_override == Some(true)
            && (400..600).contains(&status)
            && (self.error_override_codes.is_empty()
                || self.error_override_codes.binary_search(&status).is_ok())
    }
}

// --- setters --------------------------------------------------------------------------------

fn runtime_dir(cmd: &Cmd) -> PathBuf {
    cmd.cfg.read.default_runtime_dir.clone().unwrap_or_else(|| {
        cmd.cfg
            .read
            .server_root_relative(crate::build_info::DEFAULT_REL_RUNTIMEDIR)
    })
}

/// The words of a raw argument, as `ap_getword_conf` splits them.
fn words(raw: &str) -> Vec<String> {
    let mut rest = raw;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        out.push(rhttpd_directives::set::next_word(&mut rest));
    }
}

/// Defines the worker `url` names (or finds the one it shares), then sets its parameters;
/// `what` prefixes messages (`ProxyPass`, `BalancerMember`). Gives the worker's index.
fn define_worker(
    cmd: &mut Cmd,
    url: &str,
    is_match: bool,
    balancer: Option<&str>,
    params: &[(String, String)],
    what: &str,
) -> Result<usize, String> {
    let dir = runtime_dir(cmd);
    let def = worker::define(url, is_match, &dir).map_err(|e| format!("{what} {e}"))?;
    let conf = cmd.server_config::<ServerConf>();
    let existing = match balancer {
        Some(b) => conf
            .workers
            .iter()
            .position(|w| w.balancer.as_deref() == Some(b) && w.name == def.name),
        None => conf.index_of(&def.name, is_match).or_else(|| {
            // A prefix worker shares a defined one its URL extends (`ap_proxy_get_worker`).
            (!is_match)
                .then(|| {
                    conf.workers
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| w.balancer.is_none() && w.pattern.is_none())
                        .filter_map(|(i, w)| w.match_len(&def.name).map(|l| (l, i)))
                        .max()
                        .map(|(_, i)| i)
                })
                .flatten()
        }),
    };
    match existing {
        Some(index) => {
            let shared = conf.workers[index].name.clone();
            let (share_id, ignore_id) = if what == "BalancerMember" {
                ("AH01149", "AH01150")
            } else {
                ("AH01145", "AH01146")
            };
            cmd.log_at(
                "proxy",
                "info",
                format!(
                    "{share_id}: Sharing worker '{shared}' instead of creating new worker '{url}'"
                ),
            );
            for (key, value) in params {
                cmd.log_warning(
                    "proxy",
                    format!("{ignore_id}: Ignoring parameter '{key}={value}' for worker '{shared}' because of worker sharing"),
                );
            }
            Ok(index)
        }
        None => {
            let mut def = def;
            def.balancer = balancer.map(str::to_string);
            for (key, value) in params {
                def.params
                    .set(key, value)
                    .map_err(|e| format!("{what} {e}"))?;
            }
            let conf = cmd.server_config::<ServerConf>();
            conf.workers.push(def);
            Ok(conf.workers.len() - 1)
        }
    }
}

/// `ap_proxy_valid_balancer_name`.
pub fn is_balancer_name(name: &str) -> bool {
    name.len() > 11 && name[..11].eq_ignore_ascii_case("balancer://")
}

/// `set_balancer_param`: one balancer parameter, checked (an lbmethod must be one a loaded
/// module registers).
fn set_balancer_param(cmd: &mut Cmd, index: usize, key: &str, value: &str) -> SetResult {
    let modules = cmd.cfg.read.modules.clone();
    let balancer = &mut cmd.server_config::<ServerConf>().balancers[index];
    balancer.settings.set(key, value, |method| {
        crate::modules::proxy_balancer::lbmethod_loaded(&modules, method)
    })?;
    balancer.params.push((key.to_string(), value.to_string()));
    Ok(())
}

fn define_balancer(cmd: &mut Cmd, name: &str) -> usize {
    let name = name.to_ascii_lowercase();
    let name = name.trim_end_matches('/').to_string();
    let conf = cmd.server_config::<ServerConf>();
    if let Some(i) = conf.balancers.iter().position(|b| b.name == name) {
        return i;
    }
    conf.balancers.push(BalancerDef {
        name,
        ..Default::default()
    });
    conf.balancers.len() - 1
}

fn add_pass(cmd: &mut Cmd, raw: &str) -> SetResult {
    pass(cmd, raw, false)
}

fn add_pass_match(cmd: &mut Cmd, raw: &str) -> SetResult {
    pass(cmd, raw, true)
}

/// ProxyPass and ProxyPassMatch (`add_pass`).
fn pass(cmd: &mut Cmd, raw: &str, is_regex: bool) -> SetResult {
    cmd.check_context(NOT_IN_DIRECTORY | NOT_IN_FILES)?;
    let mut is_match = is_regex;
    let mut fake: Option<String> = cmd.path.clone();
    let mut real: Option<String> = None;
    let mut alias = Alias {
        fake: String::new(),
        real: String::new(),
        regex: None,
        nocanon: false,
        interpolate: false,
        noquery: false,
        map_encoded: false,
        map_servlet: false,
    };
    let mut params: Vec<(String, String)> = Vec::new();
    for word in words(raw) {
        if fake.is_none() {
            if word == "~" {
                if is_regex {
                    return Err("ProxyPassMatch invalid syntax ('~' usage).".into());
                }
                is_match = true;
                continue;
            }
            fake = Some(word);
        } else if real.is_none() {
            real = Some(word);
        } else if word.eq_ignore_ascii_case("nocanon") {
            alias.nocanon = true;
        } else if word.eq_ignore_ascii_case("interpolate") {
            alias.interpolate = true;
        } else if word.eq_ignore_ascii_case("noquery") {
            alias.noquery = true;
        } else {
            let Some((key, value)) = word.split_once('=') else {
                if cmd.path.is_some() && real.as_deref().is_some_and(|r| r.starts_with('/')) {
                    return Err(
                        "ProxyPass|ProxyPassMatch can not have a path when defined in a location."
                            .into(),
                    );
                }
                return Err("Invalid ProxyPass|ProxyPassMatch parameter. Parameter must be in the form 'key=value'.".into());
            };
            if key.eq_ignore_ascii_case("mapping") {
                if value.eq_ignore_ascii_case("encoded") {
                    alias.map_encoded = true;
                } else if value.eq_ignore_ascii_case("servlet") {
                    alias.map_servlet = true;
                } else {
                    return Err("unknown mapping".into());
                }
            } else {
                params.push((key.to_string(), value.to_string()));
            }
        }
    }
    {
        let conf = cmd.server_config::<ServerConf>();
        if alias.map_encoded {
            conf.map_encoded_one = true;
        } else {
            conf.map_encoded_all = Some(false);
        }
    }
    let Some(real) = real else {
        return Err("ProxyPass|ProxyPassMatch needs a path when not defined in a location".into());
    };
    let fake = fake.unwrap_or_default();
    if worker::de_socketfy(&real).is_none() {
        return Err("ProxyPass|ProxyPassMatch uses an invalid \"unix:\" URL".into());
    }
    if cmd.path.is_some() && fnmatch_test(fake.as_bytes()) {
        is_match = true;
    }
    alias.fake = fake.clone();
    alias.real = real.clone();
    if is_match {
        alias.regex =
            Some(Arc::new(Regex::new(&fake).map_err(|_| {
                "Regular expression could not be compiled.".to_string()
            })?));
    }
    if cmd.path.is_some() {
        cmd.dir_config::<Dir>().alias = Some(alias);
    } else {
        cmd.server_config::<ServerConf>().aliases.push(alias);
    }
    if real == "!" {
        return Ok(());
    }
    if is_balancer_name(&real) {
        let index = define_balancer(cmd, &real);
        for (key, value) in params {
            set_balancer_param(cmd, index, &key, &value).map_err(|e| format!("ProxyPass {e}"))?;
        }
        return Ok(());
    }
    define_worker(cmd, &real, is_match, None, &params, "ProxyPass")?;
    Ok(())
}

fn add_pass_reverse(cmd: &mut Cmd, a: &str, b: Option<&str>, c: Option<&str>) -> SetResult {
    cmd.check_context(NOT_IN_DIRECTORY | NOT_IN_FILES)?;
    let (fake, real, interp) = match &cmd.path {
        None => {
            let Some(real) = b.filter(|r| !r.eq_ignore_ascii_case("interpolate")) else {
                return Err("ProxyPassReverse needs a path when not defined in a location".into());
            };
            (a.to_string(), real.to_string(), c.is_some())
        }
        Some(path) => {
            if b.is_some_and(|r| !r.eq_ignore_ascii_case("interpolate")) {
                return Err(
                    "ProxyPassReverse can not have a path when defined in a location".into(),
                );
            }
            (path.clone(), a.to_string(), b.is_some())
        }
    };
    cmd.dir_config::<Dir>().reverse.push(ReverseAlias {
        fake,
        real,
        interpolate: interp,
    });
    Ok(())
}

fn cookie_path(cmd: &mut Cmd, fake: &str, real: &str, interp: Option<&str>) -> SetResult {
    cmd.dir_config::<Dir>().cookie_paths.push(ReverseAlias {
        fake: fake.to_string(),
        real: real.to_string(),
        interpolate: interp.is_some(),
    });
    Ok(())
}

fn cookie_domain(cmd: &mut Cmd, fake: &str, real: &str, interp: Option<&str>) -> SetResult {
    cmd.dir_config::<Dir>().cookie_domains.push(ReverseAlias {
        fake: fake.to_string(),
        real: real.to_string(),
        interpolate: interp.is_some(),
    });
    Ok(())
}

fn set_requests(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().forward = Some(on);
    Ok(())
}

fn add_remote(cmd: &mut Cmd, scheme: &str, server: &str, creds: Option<&str>) -> SetResult {
    remote(cmd, scheme, server, creds, false)
}

fn add_remote_match(cmd: &mut Cmd, pattern: &str, server: &str, creds: Option<&str>) -> SetResult {
    remote(cmd, pattern, server, creds, true)
}

/// ProxyRemote and ProxyRemoteMatch (`add_proxy`).
fn remote(cmd: &mut Cmd, what: &str, server: &str, creds: Option<&str>, regex: bool) -> SetResult {
    let name = if regex {
        "ProxyRemoteMatch"
    } else {
        "ProxyRemote"
    };
    let bad = || format!("{name}: Bad syntax for a remote proxy server");
    let colon = server.find(':').ok_or_else(bad)?;
    let after = &server[colon..];
    if !after.starts_with("://") || after.len() == 3 {
        return Err(bad());
    }
    let protocol = server[..colon].to_string();
    let authority = &after[3..];
    let (host, port) = match authority.find(':') {
        Some(at) => {
            let digits: String = authority[at + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let port = digits
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 65535)
                .ok_or_else(|| format!("{} (bad port number)", bad()))?;
            (&authority[..at], Some(port as u16))
        }
        None => (authority, None),
    };
    let compiled = if regex {
        Some(Arc::new(Regex::new(what).map_err(|_| {
            "Regular expression for ProxyRemoteMatch could not be compiled.".to_string()
        })?))
    } else {
        None
    };
    let scheme = if !regex && !what.contains(':') {
        what.to_ascii_lowercase()
    } else {
        what.to_string()
    };
    let port = port.unwrap_or_else(|| worker::port_of_scheme(&protocol.to_ascii_lowercase()));
    let credentials = creds.map(|c| {
        format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, c.as_bytes())
        )
    });
    cmd.server_config::<ServerConf>().remotes.push(Remote {
        scheme,
        regex: compiled,
        protocol,
        host: host.to_ascii_lowercase(),
        port,
        credentials,
    });
    Ok(())
}

fn set_interpolate_env(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().interpolate_env = Some(on);
    Ok(())
}

fn add_block(cmd: &mut Cmd, name: &str) -> SetResult {
    let conf = cmd.server_config::<ServerConf>();
    if !conf.blocked.iter().any(|b| b.eq_ignore_ascii_case(name)) {
        conf.blocked.push(name.to_string());
    }
    Ok(())
}

fn add_no_proxy(cmd: &mut Cmd, name: &str) -> SetResult {
    let conf = cmd.server_config::<ServerConf>();
    if !conf.no_proxy.iter().any(|b| b.eq_ignore_ascii_case(name)) {
        conf.no_proxy.push(name.to_string());
    }
    Ok(())
}

fn set_receive_buffer_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    let size = worker::atol(arg);
    if size < 512 && size != 0 {
        return Err("ProxyReceiveBufferSize must be >= 512 bytes, or 0 for system default.".into());
    }
    cmd.server_config::<ServerConf>().receive_buffer_size =
        Some(size.clamp(0, i32::MAX.into()) as i32);
    Ok(())
}

fn set_io_buffer_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    let size = worker::atol(arg);
    if size < 512 && size != 0 {
        return Err("ProxyIOBufferSize must be >= 512 bytes, or 0 for system default.".into());
    }
    cmd.server_config::<ServerConf>().io_buffer_size =
        Some(if size == 0 { 8192 } else { size as usize });
    Ok(())
}

fn set_max_forwards(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server_config::<ServerConf>().max_forwards = Some(worker::atol(arg));
    Ok(())
}

fn set_domain(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server_config::<ServerConf>().domain = Some(arg.to_string());
    Ok(())
}

fn set_via(cmd: &mut Cmd, arg: &str) -> SetResult {
    let via = match arg.to_ascii_lowercase().as_str() {
        "off" => Via::Off,
        "on" => Via::On,
        "block" => Via::Block,
        "full" => Via::Full,
        _ => return Err("ProxyVia must be one of: off | on | full | block".into()),
    };
    cmd.server_config::<ServerConf>().via = Some(via);
    Ok(())
}

fn set_error_override(cmd: &mut Cmd, arg: &str) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    if arg.eq_ignore_ascii_case("off") {
        dir.error_override = Some(false);
    } else if arg.eq_ignore_ascii_case("on") {
        dir.error_override = Some(true);
    } else if dir.error_override.is_some() {
        if !arg.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("ProxyErrorOverride: status codes to intercept must be numeric".into());
        }
        if dir.error_override != Some(true) {
            return Err("ProxyErrorOverride: status codes must follow a value of 'on'".into());
        }
        let code = worker::atol(arg);
        if !(400..600).contains(&code) {
            return Err("ProxyErrorOverride: status codes to intercept must be valid HTTP Status Codes >=400 && <600".into());
        }
        let at = dir
            .error_override_codes
            .partition_point(|c| i64::from(*c) <= code);
        dir.error_override_codes.insert(at, code as u16);
    } else {
        return Err("ProxyErrorOverride first parameter must be one of: off | on".into());
    }
    Ok(())
}

fn set_preserve_host(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().preserve_host = Some(on);
    Ok(())
}

fn set_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    let seconds = worker::atol(arg);
    if seconds < 1 {
        return Err("Proxy Timeout must be at least 1 second.".into());
    }
    cmd.server_config::<ServerConf>().timeout = Some(Duration::from_secs(seconds as u64));
    Ok(())
}

fn set_bad_header(cmd: &mut Cmd, arg: &str) -> SetResult {
    let bad = match arg.to_ascii_lowercase().as_str() {
        "iserror" => BadHeader::IsError,
        "ignore" => BadHeader::Ignore,
        "startbody" => BadHeader::StartBody,
        _ => return Err("ProxyBadHeader must be one of: IsError | Ignore | StartBody".into()),
    };
    cmd.server_config::<ServerConf>().bad_header = Some(bad);
    Ok(())
}

fn set_balancer_growth(_cmd: &mut Cmd, arg: &str) -> SetResult {
    let growth = worker::atol(arg);
    if !(0..=1000).contains(&growth) {
        return Err("BalancerGrowth must be between 0 and 1000".into());
    }
    Ok(())
}

fn set_balancer_persist(_cmd: &mut Cmd, _on: bool) -> SetResult {
    Ok(())
}

fn set_balancer_inherit(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().balancer_inherit = Some(on);
    Ok(())
}

fn set_pass_inherit(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().pass_inherit = Some(on);
    Ok(())
}

/// ProxyStatus: whether mod_status shows the balancers (On and Full alike).
fn set_status(cmd: &mut Cmd, arg: &str) -> SetResult {
    let on = match arg.to_ascii_lowercase().as_str() {
        "off" => false,
        "on" | "full" => true,
        _ => return Err("ProxyStatus must be one of: off | on | full".into()),
    };
    cmd.server_config::<ServerConf>().proxy_status = Some(on);
    Ok(())
}

fn set_source_address(cmd: &mut Cmd, arg: &str) -> SetResult {
    let address = crate::sys::resolve(arg, libc::AF_UNSPEC)
        .ok()
        .and_then(|a| a.first().copied());
    match address {
        Some(ip) => {
            cmd.server_config::<ServerConf>().source_address = Some(ip);
            Ok(())
        }
        None => Err("ProxySourceAddress invalid value".into()),
    }
}

fn set_add_headers(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().add_headers = Some(on);
    Ok(())
}

fn set_100_continue(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().forward_100_continue = Some(on);
    Ok(())
}

/// BalancerMember (`add_member`).
fn add_member(cmd: &mut Cmd, raw: &str) -> SetResult {
    cmd.check_context(NOT_IN_HTACCESS)?;
    let mut path = cmd.path.clone();
    let mut name: Option<String> = None;
    let mut params = Vec::new();
    for word in words(raw) {
        match word.split_once('=') {
            Some((key, value)) => params.push((key.to_string(), value.to_string())),
            None => {
                if path.is_none() {
                    path = Some(word);
                } else if name.is_none() {
                    name = Some(word);
                } else if cmd.path.is_some() {
                    return Err(
                        "BalancerMember can not have a balancer name when defined in a location"
                            .into(),
                    );
                } else {
                    return Err("Invalid BalancerMember parameter. Parameter must be in the form 'key=value'".into());
                }
            }
        }
    }
    let Some(path) = path else {
        return Err(
            "BalancerMember must define balancer name when outside <Proxy > section".into(),
        );
    };
    let Some(name) = name else {
        return Err("BalancerMember must define remote proxy server".into());
    };
    if worker::de_socketfy(&name).is_none() {
        return Err("BalancerMember uses an invalid \"unix:\" URL".into());
    }
    let index = define_balancer(cmd, &path);
    let balancer = cmd.server_config::<ServerConf>().balancers[index]
        .name
        .clone();
    let worker = define_worker(
        cmd,
        &name,
        false,
        Some(&balancer),
        &params,
        "BalancerMember",
    )?;
    let conf = cmd.server_config::<ServerConf>();
    let worker_name = conf.workers[worker].name.clone();
    if !conf.balancers[index].members.contains(&worker_name) {
        conf.balancers[index].members.push(worker_name);
    }
    Ok(())
}

/// ProxySet (`set_proxy_param`).
fn set_param(cmd: &mut Cmd, raw: &str) -> SetResult {
    cmd.check_context(NOT_IN_HTACCESS)?;
    let mut all = words(raw);
    let in_section = cmd
        .parents
        .last()
        .is_some_and(|p| p.len() >= 6 && p[..6].eq_ignore_ascii_case("<Proxy"));
    let (name, is_match) = if in_section {
        let is_match = cmd
            .parents
            .last()
            .is_some_and(|p| p.eq_ignore_ascii_case("<ProxyMatch"));
        (cmd.path.clone().unwrap_or_default(), is_match)
    } else {
        if all.is_empty() {
            return Err("ProxySet can not find '' Worker.".into());
        }
        (all.remove(0), false)
    };
    let mut pairs = Vec::new();
    for word in all {
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                "Invalid ProxySet parameter. Parameter must be in the form 'key=value'".into(),
            );
        };
        pairs.push((key.to_string(), value.to_string()));
    }
    if is_balancer_name(&name) {
        let lower = name.to_ascii_lowercase();
        let lower = lower.trim_end_matches('/');
        let found = cmd
            .server_config::<ServerConf>()
            .balancers
            .iter()
            .position(|b| b.name == lower);
        let index = match found {
            Some(i) => i,
            None if in_section => define_balancer(cmd, &name),
            None => return Err(format!("ProxySet can not find '{name}' Balancer.")),
        };
        for (key, value) in pairs {
            set_balancer_param(cmd, index, &key, &value)
                .map_err(|e| format!("ProxySet: {e} {key}={value}; {name}"))?;
        }
        return Ok(());
    }
    if worker::de_socketfy(&name).is_none() {
        return Err("ProxySet uses an invalid \"unix:\" URL".into());
    }
    let dir = runtime_dir(cmd);
    let normalised = worker::define(&name, is_match, &dir).map(|w| w.name);
    let found = normalised.as_ref().ok().and_then(|n| {
        let conf = cmd.server_config::<ServerConf>();
        conf.index_of(n, is_match)
    });
    let index = match found {
        Some(i) => i,
        None if in_section => define_worker(cmd, &name, is_match, None, &[], "ProxySet")?,
        None => return Err(format!("ProxySet can not find '{name}' Worker.")),
    };
    let conf = cmd.server_config::<ServerConf>();
    for (key, value) in pairs {
        conf.workers[index]
            .params
            .set(&key, &value)
            .map_err(|e| format!("ProxySet: {e} {key}={value}; {name}"))?;
    }
    Ok(())
}

/// `<Proxy>` and `<ProxyMatch>` (`proxysection`): the section, then its worker parameters.
fn proxy_section(cmd: &mut Cmd, raw: &str) -> SetResult {
    let is_match = cmd.name().eq_ignore_ascii_case("<ProxyMatch");
    let section_name = if is_match { "<ProxyMatch" } else { "<Proxy" };
    let (path, rest) = rhttpd_directives::modules::core::proxy_section(cmd, raw, is_match)?;
    let rest = words(rest);
    if rest.is_empty() {
        return Ok(());
    }
    if is_match {
        return Err("Multiple <ProxyMatch> arguments not (yet) supported.".into());
    }
    if fnmatch_test(path.as_bytes()) {
        return Err(format!(
            "{section_name}> arguments are not supported for wildchar url."
        ));
    }
    if !path.contains(':') {
        return Err(format!(
            "{section_name}> arguments are not supported for non url."
        ));
    }
    let mut pairs = Vec::new();
    for word in rest {
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                "Invalid Proxy parameter. Parameter must be in the form 'key=value'".into(),
            );
        };
        pairs.push((key.to_string(), value.to_string()));
    }
    if is_balancer_name(&path) {
        let index = define_balancer(cmd, &path);
        for (key, value) in pairs {
            set_balancer_param(cmd, index, &key, &value)
                .map_err(|e| format!("{section_name} {e} {key}={value}; {path}"))?;
        }
        return Ok(());
    }
    if worker::de_socketfy(&path).is_none() {
        return Err("<Proxy/ProxyMatch > uses an invalid \"unix:\" URL".into());
    }
    let index = define_worker(cmd, &path, false, None, &[], section_name)?;
    let conf = cmd.server_config::<ServerConf>();
    for (key, value) in pairs {
        conf.workers[index]
            .params
            .set(&key, &value)
            .map_err(|e| format!("{section_name} {e} {key}={value}; {path}"))?;
    }
    Ok(())
}

// --- request hooks --------------------------------------------------------------------------

/// How a request came to the proxy (Apache's `r->proxyreq`) and the notes translation left.
#[derive(Debug, Clone, Default)]
pub struct ProxyRequest {
    pub kind: ProxyKind,
    pub nocanon: bool,
    pub noquery: bool,
    pub noencode: bool,
    /// The path of the unix socket a `unix:...|` URL named (Apache's `uds_path` note).
    pub socket: Option<PathBuf>,
    /// SetHandler `proxy:...` made it a proxy request at the handler.
    pub from_handler: bool,
    /// Served by the default (forward or reverse) worker, which keeps no connections: Apache
    /// sets `proxy-nokeepalive=1` in the request's environment then.
    pub default_worker: bool,
}

/// The variables mod_proxy adds to the request's environment (`proxy-nokeepalive` for the
/// default workers), after those of the earlier phases.
pub fn environment(req: &Request, env: &mut Vec<(String, String)>) {
    if proxy_request(req).is_some_and(|p| p.default_worker) {
        crate::modules::env::set(env, "proxy-nokeepalive", "1");
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyKind {
    #[default]
    None,
    Reverse,
    Forward,
}

pub fn proxy_request<'a>(req: &'a Request) -> Option<&'a ProxyRequest> {
    req.state
        .get::<ProxyRequest>()
        .filter(|p| p.kind != ProxyKind::None)
}

/// Marks the request as a reverse proxy request for `filename` (mod_rewrite's [P] too).
pub fn mark_reverse(req: &mut Request) {
    let state = req.state.get_mut::<ProxyRequest>();
    if state.kind == ProxyKind::None {
        state.kind = ProxyKind::Reverse;
    }
}

pub fn register_hooks(hooks: &mut Hooks) {
    worker::init_shared_state();
    hooks
        .post_read_request
        .add("proxy", Order::First, detect_forward);
    hooks.translate_name.add("proxy", Order::First, translate);
    hooks
        .map_to_storage
        .add("proxy", Order::First, map_location);
    hooks.fixups.add("proxy", Order::ReallyFirst, fixup);
    hooks.handler.add("proxy", Order::First, handler);
}

pub fn register_http_hooks(_hooks: &mut Hooks) {}

/// `proxy_detect`: with ProxyRequests On, a request for an absolute URL that is not this
/// server's is a forward proxy request.
fn detect_forward(req: &mut Request) -> Step<()> {
    let conf = server_conf(req);
    if conf.forward != Some(true) {
        return Ok(());
    }
    let target = req.head.target.clone();
    let Some(parsed) = worker::parse_url(&target) else {
        return Ok(());
    };
    let port = parsed.port.unwrap_or_else(|| req.default_port());
    // `ap_matches_request_vhost`: past the virtual host's own addresses, the port must be the
    // one ServerName gave (none: 0, which no URL has) and the host its name.
    let ctx = req.ctx();
    let ours = parsed.scheme.eq_ignore_ascii_case(req.scheme())
        && ctx.runtime.core.server_port == Some(port)
        && parsed.host.eq_ignore_ascii_case(&ctx.server_name);
    if ours {
        return Ok(());
    }
    req.state.get_mut::<ProxyRequest>().kind = ProxyKind::Forward;
    req.uri = target.clone();
    req.args = None;
    Ok(())
}

/// `${VAR}` in a mapping replaced from the request's environment (ProxyPassInterpolateEnv).
fn interpolate(req: &Request, text: &str) -> String {
    if !text.contains("${") {
        return text.to_string();
    }
    let env = crate::request::environment(req);
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                out.push_str(crate::modules::env::get(&env, name).unwrap_or(""));
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// mod_proxy's `alias_match` is mod_alias's prefix match: runs of slashes match each other,
/// the last segment whole; the length of the URI it took, 0 for none.
fn alias_match(uri: &str, fake: &str) -> usize {
    crate::modules::alias::prefix_match(uri, fake)
}

/// `ap_pregsub`: `$0`..`$9` and `&` (the whole match) from the captures, `\$` and `\&` as
/// themselves.
fn pregsub(template: &str, captures: &rhttpd_directives::regex::Captures) -> String {
    let mut out = String::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let group = if c == b'&' {
            Some((0, 1))
        } else if c == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            Some(((bytes[i + 1] - b'0') as usize, 2))
        } else {
            None
        };
        if c == b'\\' && matches!(bytes.get(i + 1), Some(b'$' | b'&')) {
            out.push_str(&template[literal_start..i]);
            literal_start = i + 1;
            i += 2;
            continue;
        }
        if let Some((group, width)) = group {
            out.push_str(&template[literal_start..i]);
            out.push_str(captures.text(group).as_deref().unwrap_or(""));
            i += width;
            literal_start = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&template[literal_start..]);
    out
}

enum TransMatch {
    /// Not this mapping: try the next.
    Next,
    /// An exclusion (`!`) matched: no proxying.
    Declined,
    Mapped(String),
    /// Mapped under mapping=servlet: the URL, and the normalised path the URI becomes.
    Servlet(String, String),
}

/// How much of `uri` a servlet mapping's `fake` path takes: its segments compared with their
/// `;` parameters left out, runs of slashes as one; 0 for no match.
fn servlet_prefix(uri: &str, fake: &str) -> usize {
    let bytes = uri.as_bytes();
    let mut pos = 0;
    let skip_slashes = |pos: &mut usize| {
        while *pos < bytes.len() && bytes[*pos] == b'/' {
            *pos += 1;
        }
    };
    if !uri.starts_with('/') || !fake.starts_with('/') {
        return 0;
    }
    skip_slashes(&mut pos);
    let wanted: Vec<&str> = fake.split('/').filter(|s| !s.is_empty()).collect();
    for (index, segment) in wanted.iter().enumerate() {
        let end = uri[pos..].find('/').map_or(uri.len(), |i| pos + i);
        let name = uri[pos..end].split(';').next().unwrap_or("");
        if name != *segment {
            return 0;
        }
        pos = end;
        let last = index + 1 == wanted.len();
        // Within the path, and after it when it ends with a slash, the slashes go too (one
        // is needed where the path asks for it).
        if !last || fake.ends_with('/') {
            if pos >= bytes.len() && fake.ends_with('/') {
                return 0;
            }
            skip_slashes(&mut pos);
        }
    }
    pos.max(1)
}

/// The servlet normalisation of a path (`alias_match_servlet`'s): `;` parameters out of every
/// segment, runs of slashes one, `.` segments gone and `..` taking the one before; `None` for
/// a path that climbs above the root.
fn servlet_path(uri: &str) -> Option<String> {
    let mut segments: Vec<&str> = Vec::new();
    for segment in uri.split('/').skip(1) {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            name => segments.push(name),
        }
    }
    let mut path = String::from("/");
    path.push_str(&segments.join("/"));
    // A trailing slash (or a last segment that was only a parameter or a dot) stays.
    if uri.ends_with('/') && !segments.is_empty() {
        path.push('/');
    }
    Some(path)
}

/// `ap_proxy_trans_match`.
fn trans_match(req: &Request, alias: &Alias, interpolates: bool) -> TransMatch {
    let (fake, real) = if interpolates && alias.interpolate {
        (interpolate(req, &alias.fake), interpolate(req, &alias.real))
    } else {
        (alias.fake.clone(), alias.real.clone())
    };
    let raw_path = crate::request::host::raw_path(&req.head.target);
    // mapping=encoded matches the path as it came, mapping=servlet the path with its ;params
    // and dot segments taken out (Apache's alias_match_servlet), which becomes the URI.
    let servlet = if alias.map_servlet && alias.regex.is_none() {
        match servlet_path(&req.uri) {
            Some(path) => Some(path),
            None => return TransMatch::Next,
        }
    } else {
        None
    };
    let subject: &str = match &servlet {
        Some(path) => path,
        None if alias.map_encoded => raw_path,
        None => &req.uri,
    };
    let use_uri: &str = if alias.nocanon && servlet.is_none() {
        raw_path
    } else {
        subject
    };
    trace(req, "trace2", || {
        format!(
            "AH03461: attempting to match URI path '{}' against {} '{}' for proxying",
            req.uri,
            if alias.regex.is_some() {
                "pattern"
            } else {
                "prefix"
            },
            fake
        )
    });
    let found = if let Some(regex) = &alias.regex {
        let Some(captures) = regex.captures(req.uri.as_bytes()) else {
            return TransMatch::Next;
        };
        if real == "!" {
            trace(req, "trace1", || {
                format!(
                    "AH03462: proxying is explicitly disabled for URI path '{}'; declining",
                    req.uri
                )
            });
            return TransMatch::Declined;
        }
        let raw_captures = if alias.nocanon {
            regex.captures(use_uri.as_bytes())
        } else {
            None
        };
        let (subject, captures) = match raw_captures {
            Some(raw) => (use_uri, raw),
            None => {
                if alias.nocanon {
                    mismatch_warning(req);
                }
                (req.uri.as_str(), captures)
            }
        };
        let substituted = pregsub(&real, &captures);
        if substituted != real {
            substituted
        } else {
            format!("{real}{subject}")
        }
    } else {
        let len = match &servlet {
            Some(_) => servlet_prefix(&req.uri, &fake),
            None => alias_match(subject, &fake),
        };
        if len == 0 {
            return TransMatch::Next;
        }
        if real == "!" {
            trace(req, "trace1", || {
                format!(
                    "AH03463: proxying is explicitly disabled for URI path '{}'; declining",
                    req.uri
                )
            });
            return TransMatch::Declined;
        }
        if alias.nocanon && servlet.is_none() && len == alias_match(use_uri, &fake) {
            format!("{real}{}", &use_uri[len..])
        } else {
            if alias.nocanon && servlet.is_none() {
                mismatch_warning(req);
            }
            let rest = if servlet.is_some() {
                &req.uri[len..]
            } else {
                &subject[len..]
            };
            [real.as_str(), rest].concat()
        }
    };
    if let Some(path) = servlet {
        trace(req, "trace1", || {
            format!(
                "AH10248: Servlet path '{}' ({path}) matches proxy handler 'proxy:{found}'",
                req.uri
            )
        });
        return TransMatch::Servlet(found, path);
    }
    TransMatch::Mapped(found)
}

fn mismatch_warning(req: &Request) {
    req.log_error(
        "proxy",
        "warn",
        "AH01136: Unescaped URL path matched ProxyPass; ignoring unsafe nocanon",
    );
}

fn trace(req: &Request, level: &str, message: impl FnOnce() -> String) {
    if crate::log::tracing_anywhere()
        && crate::log::enabled_with(&req.dir.core.log_level, "proxy", level)
    {
        req.log_error("proxy", level, &message());
    }
}

/// `proxy_trans`: the first ProxyPass that maps the URI (the `<Location>`'s own first) makes
/// the request a reverse proxy request for the backend URL.
fn translate(req: &mut Request) -> Step<Option<PathBuf>> {
    if let Some(state) = proxy_request(req) {
        if state.kind == ProxyKind::Forward {
            // The URL as the request line gave it (Apache's r->uri is its unparsed URI).
            req.uri = req.head.target.clone();
            req.args = None;
            return Ok(Some(proxy_filename(&req.uri)));
        }
        return Ok(None);
    }
    if req.head.target == "*" || !req.uri.starts_with('/') {
        return Ok(None);
    }
    let ctx = req.ctx();
    let conf = server_conf(req);
    // Apache's first location walk, before translation, is what a `<Location>`'s ProxyPass is
    // read from (a server without `<Location>` sections has its own configuration there).
    // Only a `<Location>` with a ProxyPass of its own needs the walk (a request to a server
    // with no ProxyPass anywhere costs a scan of its sections).
    let location_alias = ctx.sections.iter().any(|s| {
        matches!(
            s.kind,
            rhttpd_directives::model::SectionKind::Location
                | rhttpd_directives::model::SectionKind::LocationMatch
        ) && s.dir.typed.get::<Dir>().is_some_and(|d| d.alias.is_some())
    });
    let located = location_alias.then(|| crate::request::walk::location_walk(req));
    let dir = match &located {
        Some(walked) => walked.typed.get::<Dir>(),
        None => ctx.dir.typed.get::<Dir>(),
    };
    if dir.is_none_or(|d| d.alias.is_none()) && conf.aliases.is_empty() {
        return Ok(None);
    }
    let env = crate::request::environment(req);
    if crate::modules::env::get(&env, "no-proxy").is_some() {
        return Ok(None);
    }
    let interpolates = dir.is_some_and(Dir::interpolates);
    let candidates = dir
        .and_then(|d| d.alias.as_ref())
        .into_iter()
        .chain(conf.aliases.iter());
    for alias in candidates {
        match trans_match(req, alias, interpolates) {
            TransMatch::Next => continue,
            TransMatch::Declined => return Ok(None),
            TransMatch::Servlet(url, path) => {
                req.uri = path;
                let state = req.state.get_mut::<ProxyRequest>();
                state.kind = ProxyKind::Reverse;
                state.noquery = alias.noquery;
                return Ok(Some(proxy_filename(&url)));
            }
            TransMatch::Mapped(url) => {
                trace(req, "trace1", || {
                    format!(
                        "AH03464: URI path '{}' matches proxy handler 'proxy:{url}'",
                        req.uri
                    )
                });
                let state = req.state.get_mut::<ProxyRequest>();
                state.kind = ProxyKind::Reverse;
                state.nocanon = alias.nocanon;
                state.noquery = alias.noquery;
                state.noencode = alias.map_encoded;
                return Ok(Some(proxy_filename(&url)));
            }
        }
    }
    Ok(None)
}

/// `proxy_map_location`: a proxy request skips the directory walk; its configuration is
/// the server's with the matching `<Proxy>` sections, then (as after every map_to_storage)
/// the `<Location>` sections.
fn map_location(req: &mut Request) -> Step<Option<()>> {
    if proxy_request(req).is_none() {
        return Ok(None);
    }
    let Some(name) = req
        .filename
        .as_ref()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_prefix("proxy:"))
        .map(str::to_string)
    else {
        return Ok(None);
    };
    proxy_walk(req, &name);
    Ok(Some(()))
}

/// The server's configuration with each `<Proxy>`/`<ProxyMatch>` matching `name` merged in
/// order (a ProxyMatch's named groups set as variables), then the `<Location>` walk.
fn proxy_walk(req: &mut Request, name: &str) {
    use rhttpd_directives::model::SectionKind;
    let ctx = req.ctx();
    let mut merged = crate::modules::DirRuntime::clone(&ctx.dir);
    let mut variables = Vec::new();
    for section in &ctx.sections {
        match section.kind {
            SectionKind::Proxy if section.matches(name) => merged = merged.merge(&section.dir),
            SectionKind::ProxyMatch => {
                let Some(regex) = &section.regex else {
                    continue;
                };
                let Some(captures) = regex.captures(name.as_bytes()) else {
                    continue;
                };
                for (index, group) in regex.names() {
                    if let Some(text) = captures.text(index) {
                        variables.push((group.to_string(), text.into_owned()));
                    }
                }
                merged = merged.merge(&section.dir);
            }
            _ => {}
        }
    }
    req.section_variables.extend(variables);
    req.dir = Arc::new(crate::request::walk::location_walk_from(req, merged));
}

/// `proxy_fixup`: a request translation made a proxy request has its URL canonicalised.
fn fixup(req: &mut Request) -> Step<Fixup> {
    if proxy_request(req).is_none() || !filename_is_proxy(req) {
        return Ok(Fixup::Continue);
    }
    canon_url(req)?;
    Ok(Fixup::Continue)
}

fn filename_is_proxy(req: &Request) -> bool {
    req.filename
        .as_ref()
        .and_then(|f| f.to_str())
        .is_some_and(|f| f.starts_with("proxy:"))
}

/// `ap_proxy_canon_url`: a `unix:` socket set apart, then the scheme's canonicalisation.
pub(crate) fn canon_url(req: &mut Request) -> Step<()> {
    let filename = req
        .filename
        .as_ref()
        .and_then(|f| f.to_str())
        .unwrap_or("")
        .to_owned();
    let mut url = filename.get("proxy:".len()..).unwrap_or("");
    let mut socket = None;
    let reverse = proxy_request(req).is_some_and(|p| p.kind == ProxyKind::Reverse);
    if reverse
        && url
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("unix:"))
    {
        let Some(bar) = url.find('|') else {
            return Err(400);
        };
        let path = &url[5..bar];
        socket = Some(if path.starts_with('/') {
            PathBuf::from(path)
        } else {
            runtime_dir_of(req).join(path)
        });
        url = &url[bar + 1..];
    }
    if socket.is_some() {
        req.state.get_mut::<ProxyRequest>().socket = socket;
    }
    let scheme = url.split(':').next().unwrap_or("");
    let is = |name: &str| scheme.eq_ignore_ascii_case(name);
    let canonical = if (is("http") || is("https") || is("ws") || is("wss"))
        && req.rt.module_loaded("proxy_http_module")
    {
        Some(http::canon(req, url)?)
    } else if is("fcgi") && req.rt.module_loaded("proxy_fcgi_module") {
        let raw_path =
            proxy_request(req).is_some_and(|p| p.from_handler || p.nocanon || p.noencode);
        Some(crate::modules::proxy_fcgi::canon(req, url, raw_path)?)
    } else {
        None
    };
    let url = canonical.as_deref().unwrap_or(url);
    if !url.contains(':') || url.starts_with(':') {
        return Err(400);
    }
    req.filename = Some(proxy_filename(url));
    Ok(())
}

/// The filename of a request mod_proxy takes: `proxy:` and the backend URL.
fn proxy_filename(url: &str) -> PathBuf {
    PathBuf::from(proxy_name(url))
}

/// `proxy:` and the URL, as text.
pub(crate) fn proxy_name(url: &str) -> String {
    let mut name = String::with_capacity("proxy:".len() + url.len());
    name.push_str("proxy:");
    name.push_str(url);
    name
}

fn runtime_dir_of(req: &Request) -> PathBuf {
    req.rt
        .config
        .read
        .default_runtime_dir
        .clone()
        .unwrap_or_else(|| {
            req.rt
                .config
                .read
                .server_root_relative(crate::build_info::DEFAULT_REL_RUNTIMEDIR)
        })
}

/// `proxy_handler`: a proxy request (or one a `SetHandler proxy:...` names) goes to its
/// worker through the scheme's module.
fn handler(req: &mut Request) -> Step<Option<Response>> {
    if proxy_request(req).is_none() {
        let handler = handler_of(req, req.filename.as_deref().unwrap_or(Path::new("")));
        let Some(target) = handler.filter(|h| h.len() > 6 && h[..6].eq_ignore_ascii_case("proxy:"))
        else {
            return Ok(None);
        };
        let filename = req.filename.clone().unwrap_or_default();
        let old = req.filename.clone();
        {
            let state = req.state.get_mut::<ProxyRequest>();
            state.kind = ProxyKind::Reverse;
            state.from_handler = true;
        }
        let filename = filename.to_string_lossy();
        let mut name = String::with_capacity(target.len() + filename.len());
        name.push_str(&target);
        name.push_str(&filename);
        req.filename = Some(PathBuf::from(name));
        if let Err(status) = canon_url(req) {
            req.filename = old;
            *req.state.get_mut::<ProxyRequest>() = ProxyRequest::default();
            if status >= 400 {
                return Err(status);
            }
            return Ok(None);
        }
    } else if !filename_is_proxy(req) {
        return Ok(None);
    }
    let filename = req
        .filename
        .as_ref()
        .and_then(|f| f.to_str())
        .unwrap_or("")
        .to_string();
    let mut url = filename["proxy:".len()..].to_string();
    // A `unix:` socket mod_rewrite's per-directory [P] left in place (no canonicalisation ran).
    if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("unix:"))
    {
        if let Some(bar) = url.find('|') {
            let path = PathBuf::from(&url[5..bar]);
            req.state.get_mut::<ProxyRequest>().socket = Some(path);
            url = url[bar + 1..].to_string();
        }
    }
    let Some(colon) = url.find(':') else {
        return Err(400);
    };
    let scheme = url[..colon].to_ascii_lowercase();
    max_forwards(req)?;
    if req.method == "TRACE" {
        let trace_enable = req.ctx().runtime.core.trace_enable.clone();
        if trace_enable.as_deref() == Some("off") {
            req.error_notes = Some("TRACE forbidden by server configuration".into());
            req.log_error(
                "proxy",
                "error",
                "AH01139: TRACE forbidden by server configuration",
            );
            return Err(405);
        }
        if trace_enable.as_deref() != Some("extended") && req.body_length > 0 {
            req.error_notes = Some("TRACE with request body is not allowed".into());
            req.log_error(
                "proxy",
                "error",
                "AH01140: TRACE with request body is not allowed",
            );
            return Err(413);
        }
    }
    if let Some(location) = needs_domain(req, &url) {
        req.headers_out.set("Location", location);
        return Err(301);
    }
    dispatch(req, &scheme, &url).map(Some)
}

/// ProxyDomain (`proxy_needsdomain`): a forward proxy GET for a host without a domain is sent
/// to the same URL with the domain added (301, AH01138).
fn needs_domain(req: &Request, url: &str) -> Option<String> {
    let domain = server_conf(req).domain.as_deref()?;
    if !proxy_request(req).is_some_and(|p| p.kind == ProxyKind::Forward) || req.method != "GET" {
        return None;
    }
    let parsed = worker::parse_url(url)?;
    let host = &parsed.host;
    if host.is_empty()
        || host.contains('.')
        || host.contains(':')
        || host.eq_ignore_ascii_case("localhost")
    {
        return None;
    }
    let port = parsed.port.map(|p| format!(":{p}")).unwrap_or_default();
    let location = format!("{}://{host}{domain}{port}{}", parsed.scheme, parsed.rest);
    let referer = req.head.headers.get("Referer");
    req.log_error(
        "proxy",
        "info",
        &format!(
            "AH01138: Domain missing: {} sent to {location}{}{}",
            req.uri,
            if referer.is_some() { " from " } else { "" },
            referer.unwrap_or("")
        ),
    );
    Some(location)
}

/// Max-Forwards: a client's value less one, else ProxyMaxForwards; zero ends the request.
fn max_forwards(req: &mut Request) -> Step<()> {
    let given = req.head.headers.get("Max-Forwards").map(str::to_string);
    let value = match given {
        Some(text) => {
            let parsed = text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && *n < i64::MAX);
            let Some(n) = parsed else {
                req.log_error(
                    "proxy",
                    "warn",
                    &format!("AH10188: Max-Forwards value '{text}' could not be parsed"),
                );
                return Err(proxy_error(
                    req,
                    400,
                    "Max-Forwards request header could not be parsed",
                ));
            };
            if n == 0 {
                return Err(proxy_error(
                    req,
                    400,
                    "Max-Forwards has reached zero - proxy loop?",
                ));
            }
            n - 1
        }
        None => server_conf(req).max_forwards.unwrap_or(-1),
    };
    if value >= 0 {
        req.head
            .to_mut()
            .headers
            .set("Max-Forwards", value.to_string());
    }
    Ok(())
}

/// Hands the request to its scheme's module, through the worker (or balancer) its URL names.
fn dispatch(req: &mut Request, scheme: &str, url: &str) -> Step<Response> {
    let conf = server_conf(req);
    if blocked(conf, url) {
        return Err(proxy_error(req, 403, "Connect to remote machine blocked"));
    }
    if scheme == "balancer" {
        if !req.rt.module_loaded("proxy_balancer_module") {
            return Err(no_handler(req, scheme));
        }
        return crate::modules::proxy_balancer::handle(req, conf, url);
    }
    let worker = resolve_worker(req, conf, url);
    if matches!(worker.name.as_str(), "proxy:reverse" | "proxy:forward") {
        req.state.get_mut::<ProxyRequest>().default_worker = true;
    }
    handle_with(req, conf, &worker, scheme, url)
}

/// The worker for a URL: the defined one, else Apache's default reverse (or forward) one,
/// which keeps no connections and is never put in error.
pub fn resolve_worker<'c>(req: &Request, conf: &'c ServerConf, url: &str) -> WorkerRef<'c> {
    let socket = proxy_request(req).and_then(|p| p.socket.as_ref());
    let found = match socket {
        Some(path) => conf.worker_for(&worker::socket_name(path, url)),
        None => None,
    };
    if let Some(found) = found.or_else(|| conf.worker_for(url)) {
        return WorkerRef::Defined(found);
    }
    let forward = proxy_request(req).is_some_and(|p| p.kind == ProxyKind::Forward);
    // The runtime directory resolves a relative socket path (`unix:name|...`) only.
    let dir = match url.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("unix:") => runtime_dir_of(req),
        _ => PathBuf::new(),
    };
    WorkerRef::Default(default_worker(url, &dir, socket, forward))
}

/// A worker as `resolve_worker` found it: one the configuration defines, or a default one.
pub enum WorkerRef<'c> {
    Defined(&'c WorkerDef),
    Default(std::rc::Rc<WorkerDef>),
}

impl std::ops::Deref for WorkerRef<'_> {
    type Target = WorkerDef;

    fn deref(&self) -> &WorkerDef {
        match self {
            WorkerRef::Defined(worker) => worker,
            WorkerRef::Default(worker) => worker,
        }
    }
}

/// What a default worker is made of: it depends on nothing else, so each thread keeps the
/// last few it made. Debian's php-fpm configuration (`SetHandler "proxy:unix:...|fcgi://..."`
/// with no worker defined) takes the default worker for every PHP request, whose definition
/// (the URL parsed, its parameters, the strings) was a tenth of the proxy's own work.
#[derive(PartialEq, Eq)]
struct DefaultKey {
    url: String,
    runtime_dir: PathBuf,
    socket: Option<PathBuf>,
    forward: bool,
}

/// Default workers kept per thread. The URL names the script (`fcgi://localhost/var/www/
/// html/index.php`), so a site whose requests go to a few front scripts is served from here;
/// one with many scripts makes a definition on a miss, as every request did before.
const DEFAULT_WORKERS_KEPT: usize = 8;

thread_local! {
    static DEFAULT_WORKERS: std::cell::RefCell<Vec<(DefaultKey, std::rc::Rc<WorkerDef>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Apache's default reverse (or forward) worker for `url`, as this thread last made it.
fn default_worker(
    url: &str,
    runtime_dir: &std::path::Path,
    socket: Option<&PathBuf>,
    forward: bool,
) -> std::rc::Rc<WorkerDef> {
    let matches = |key: &DefaultKey| {
        key.forward == forward
            && key.url == url
            && key.socket.as_ref() == socket
            && key.runtime_dir == runtime_dir
    };
    if let Some(kept) = DEFAULT_WORKERS.with(|kept| {
        let mut kept = kept.borrow_mut();
        let at = kept.iter().position(|(key, _)| matches(key))?;
        // The one found goes to the front: the least used is dropped first.
        kept[..=at].rotate_right(1);
        Some(std::rc::Rc::clone(&kept[0].1))
    }) {
        return kept;
    }
    let mut default = worker::define(url, false, runtime_dir).unwrap_or_else(|_| WorkerDef {
        name: url.to_string(),
        url: url.to_string(),
        path_at: worker::path_at(url),
        origin: worker::Origin {
            scheme: String::new(),
            host: String::new(),
            port: 0,
        },
        socket: None,
        pattern: None,
        address_not_reusable: true,
        dollar_in_path: false,
        balancer: None,
        params: Params::default(),
    });
    default.name = if forward {
        "proxy:forward".into()
    } else {
        "proxy:reverse".into()
    };
    default.socket = socket.cloned();
    default.address_not_reusable = true;
    default.params.status.push(('I', true));
    let made = std::rc::Rc::new(default);
    DEFAULT_WORKERS.with(|kept| {
        let mut kept = kept.borrow_mut();
        kept.truncate(DEFAULT_WORKERS_KEPT - 1);
        let key = DefaultKey {
            url: url.to_string(),
            runtime_dir: runtime_dir.to_path_buf(),
            socket: socket.cloned(),
            forward,
        };
        kept.insert(0, (key, std::rc::Rc::clone(&made)));
    });
    made
}

/// Runs the scheme's handler for one worker.
pub fn handle_with(
    req: &mut Request,
    conf: &ServerConf,
    worker: &WorkerDef,
    scheme: &str,
    url: &str,
) -> Step<Response> {
    match scheme {
        "http" | "https" | "ws" | "wss" if req.rt.module_loaded("proxy_http_module") => {
            http::handle(req, conf, worker, url)
        }
        "fcgi" if req.rt.module_loaded("proxy_fcgi_module") => {
            let backend = fcgi_backend(req, conf, worker);
            crate::modules::proxy_fcgi::handle(req, url, &backend)
        }
        _ => Err(no_handler(req, scheme)),
    }
}

/// How mod_proxy_fcgi reaches a worker: its socket or host and port, its timeouts (its own,
/// else ProxyTimeout, else the server's Timeout; connecting, `connectiontimeout=` else the
/// same) and whether each packet is flushed.
fn fcgi_backend(
    req: &Request,
    conf: &ServerConf,
    worker: &WorkerDef,
) -> crate::modules::proxy_fcgi::FcgiBackend {
    use crate::modules::proxy_fcgi::{FcgiAddress, FcgiBackend};
    let timeout = http::io_timeout(req, conf, worker);
    let address = match &worker.socket {
        Some(path) => FcgiAddress::Unix(path.clone()),
        None => FcgiAddress::Tcp {
            host: worker.origin.host.clone(),
            port: worker.origin.port,
        },
    };
    FcgiBackend {
        address,
        connect_timeout: worker.params.connection_timeout.unwrap_or(timeout),
        timeout,
        flush: worker.params.flush_packets == worker::Flush::On,
    }
}

pub(crate) fn no_handler(req: &Request, scheme: &str) -> u16 {
    req.log_error(
        "proxy",
        "warn",
        &format!(
            "AH01144: No protocol handler was valid for the URL {} (scheme '{scheme}'). If you are using a DSO version of mod_proxy, make sure the proxy submodules are included in the configuration using LoadModule.",
            req.uri
        ),
    );
    500
}

/// ProxyBlock: a `*`, or a name the URL's host contains (case aside).
fn blocked(conf: &ServerConf, url: &str) -> bool {
    if conf.blocked.is_empty() {
        return false;
    }
    let host = worker::parse_url(url)
        .map(|u| u.host.to_ascii_lowercase())
        .unwrap_or_default();
    conf.blocked
        .iter()
        .any(|name| name == "*" || (!host.is_empty() && host.contains(&name.to_ascii_lowercase())))
}

/// `ap_proxyerror`: the message logged (AH00898) and shown in the error page, the status
/// line `NNN Proxy Error`.
pub fn proxy_error(req: &mut Request, status: u16, message: &str) -> u16 {
    proxy_error_with_cause(req, status, message, None)
}

/// The same, logged with the status that caused it.
pub fn proxy_error_with_cause(
    req: &mut Request,
    status: u16,
    message: &str,
    cause: Option<&std::io::Error>,
) -> u16 {
    req.log_os_error(
        "proxy",
        "error",
        cause,
        &format!("AH00898: {message} returned by {}", req.uri),
    );
    req.verbose_error_notes = true;
    req.error_notes = Some(format!(
        "The proxy server could not handle the request<p>Reason: <strong>{}</strong></p>",
        rhttpd_directives::util::escape::escape_html_str(message)
    ));
    req.status_line = Some(format!("{status} Proxy Error"));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_makes_each_default_worker_once_and_keeps_the_last_few() {
        let root = std::path::Path::new("/run");
        let url = "fcgi://localhost/var/www/html/index.php";
        let reverse = default_worker(url, root, None, false);
        assert_eq!(reverse.name, "proxy:reverse");
        assert_eq!(reverse.origin.host, "localhost");
        assert!(reverse.address_not_reusable);
        assert!(reverse.params.status.contains(&('I', true)));
        assert!(std::rc::Rc::ptr_eq(
            &reverse,
            &default_worker(url, root, None, false)
        ));
        // Each of what a definition depends on makes another.
        let forward = default_worker(url, root, None, true);
        assert_eq!(forward.name, "proxy:forward");
        let socket = PathBuf::from("/run/php/php8.2-fpm.sock");
        let through = default_worker(url, root, Some(&socket), false);
        assert_eq!(through.socket.as_ref(), Some(&socket));
        assert!(!std::rc::Rc::ptr_eq(&reverse, &through));
        // The least recently used goes once more are made than are kept.
        let again = default_worker(url, root, None, false);
        assert!(std::rc::Rc::ptr_eq(&reverse, &again));
        for n in 0..DEFAULT_WORKERS_KEPT {
            default_worker(&format!("fcgi://localhost/{n}.php"), root, None, false);
        }
        let remade = default_worker(url, root, None, false);
        assert!(!std::rc::Rc::ptr_eq(&reverse, &remade));
        assert_eq!(format!("{reverse:?}"), format!("{remade:?}"));
    }

    #[test]
    fn the_unset_configurations_are_the_defaults() {
        assert_eq!(
            format!("{UNSET_SERVER:?}"),
            format!("{:?}", ServerConf::default())
        );
        assert_eq!(format!("{UNSET_DIR:?}"), format!("{:?}", Dir::default()));
    }
}
