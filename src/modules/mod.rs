//! Every Apache module rhttpd has, one file each: the registry and hook lists, and the
//! per-directory and per-server runtime configs. A converted module's file holds its
//! directive table and setters, which write its typed config once (read here through
//! `DirRuntime::module` and `ServerRuntime::module`). Core's typed configs come from the
//! directives crate, where its table stays, and are kept apart as the runtimes' `core`.

pub mod access_compat;
pub mod actions;
pub mod alias;
pub mod allowmethods;
pub mod auth_basic;
pub mod auth_digest;
pub mod authn_anon;
pub mod authn_core;
pub mod authn_dbm;
pub mod authn_file;
pub mod authz;
pub mod authz_dbm;
pub mod authz_groupfile;
pub mod authz_host;
pub mod authz_owner;
pub mod authz_user;
pub mod autoindex;
pub mod cgi;
pub mod core;
pub mod data;
pub mod dav;
pub mod deflate;
pub mod dir;
pub mod env;
pub mod expires;
pub mod ext_filter;
pub mod filter;
pub mod headers;
pub mod http_core;
pub mod include;
pub mod info;
pub mod log_config;
pub mod log_forensic;
pub mod logio;
pub mod macros;
pub mod mime;
pub mod mime_magic;
pub mod negotiation;
pub mod proxy;
pub mod proxy_balancer;
pub mod proxy_fcgi;
pub mod reflector;
pub mod remoteip;
pub mod reqtimeout;
pub mod rewrite;
pub mod setenvif;
pub mod socache_shmcb;
pub mod speling;
pub mod ssl;
pub mod status;
pub mod substitute;
pub mod systemd;
pub mod unique_id;
pub mod unixd;
pub mod userdir;
pub mod usertrack;
pub mod vhost_alias;

use crate::hooks::Register;

/// Every module's hook registration, by the id `LoadModule` gives it, in Apache's load order
/// (which orders hooks of equal order). Core and http_core are always on. Adding a module is
/// its file and one line here.
pub static HOOKS: &[(&str, Register)] = &[
    ("core_module", core::register_hooks),
    ("http_module", http_core::register_hooks),
    ("access_compat_module", access_compat::register_hooks),
    ("alias_module", alias::register_hooks),
    ("userdir_module", userdir::register_hooks),
    ("vhost_alias_module", vhost_alias::register_hooks),
    ("deflate_module", deflate::register_hooks),
    ("env_module", env::register_hooks),
    ("setenvif_module", setenvif::register_hooks),
    ("expires_module", expires::register_hooks),
    ("filter_module", filter::register_hooks),
    ("headers_module", headers::register_hooks),
    ("auth_basic_module", auth_basic::register_hooks),
    ("auth_digest_module", auth_digest::register_hooks),
    ("authn_core_module", authn_core::register_hooks),
    ("authz_core_module", authz::register_hooks),
    ("negotiation_module", negotiation::register_hooks),
    ("remoteip_module", remoteip::register_hooks),
    ("reqtimeout_module", reqtimeout::register_hooks),
    ("rewrite_module", rewrite::register_hooks),
    ("proxy_module", proxy::register_hooks),
    ("proxy_http_module", proxy::register_http_hooks),
    ("proxy_wstunnel_module", proxy::register_http_hooks),
    ("proxy_balancer_module", proxy_balancer::register_hooks),
    (
        "lbmethod_byrequests_module",
        proxy_balancer::register_provider,
    ),
    (
        "lbmethod_bytraffic_module",
        proxy_balancer::register_provider,
    ),
    (
        "lbmethod_bybusyness_module",
        proxy_balancer::register_provider,
    ),
    ("slotmem_shm_module", proxy_balancer::register_provider),
    ("mime_module", mime::register_hooks),
    ("mime_magic_module", mime_magic::register_hooks),
    ("status_module", status::register_hooks),
    ("autoindex_module", autoindex::register_hooks),
    ("cgi_module", cgi::register_hooks),
    ("cgid_module", cgi::register_hooks),
    ("dir_module", dir::register_hooks),
    ("speling_module", speling::register_hooks),
    ("ssl_module", ssl::register_hooks),
    ("unique_id_module", unique_id::register_hooks),
    ("log_forensic_module", log_forensic::register_hooks),
    ("usertrack_module", usertrack::register_hooks),
    ("actions_module", actions::register_hooks),
    ("substitute_module", substitute::register_hooks),
    ("info_module", info::register_hooks),
    ("allowmethods_module", allowmethods::register_hooks),
    ("data_module", data::register_hooks),
    ("reflector_module", reflector::register_hooks),
    ("include_module", include::register_hooks),
    ("dav_module", dav::register_hooks),
];

use rhttpd_directives::model::{DirConf, DirConfig, ModuleConfigs, Server};
use rhttpd_directives::modules as declared;
use rhttpd_directives::ModuleDef;

/// Every module rhttpd implements, in the order `-l`, `-M` and `-L` list them: Debian's
/// built-in set first, then the loadable ones. A module whose setters write a typed
/// configuration keeps its table in its own file here; the others' tables still live in the
/// directives crate.
pub static REGISTRY: &[&ModuleDef] = &[
    &declared::core::MODULE,
    &declared::so::MODULE,
    &declared::watchdog::MODULE,
    &http_core::MODULE,
    &log_config::MODULE,
    &logio::MODULE,
    &declared::version::MODULE,
    &unixd::MODULE,
    &declared::mpm_event::MODULE,
    &declared::mpm_worker::MODULE,
    &declared::mpm_prefork::MODULE,
    &access_compat::MODULE,
    &actions::MODULE,
    &alias::MODULE,
    &allowmethods::MODULE,
    &auth_basic::MODULE,
    &auth_digest::MODULE,
    &authn_anon::MODULE,
    &authn_core::MODULE,
    &authn_dbm::MODULE,
    &authn_file::MODULE,
    &authz::MODULE,
    &authz_dbm::MODULE,
    &authz_groupfile::MODULE,
    &declared::authz_host::MODULE,
    &authz_owner::MODULE,
    &declared::authz_user::MODULE,
    &autoindex::MODULE,
    &cgi::CGI_MODULE,
    &cgi::CGID_MODULE,
    &data::MODULE,
    &deflate::MODULE,
    &dir::MODULE,
    &env::MODULE,
    &expires::MODULE,
    &ext_filter::MODULE,
    &filter::MODULE,
    &headers::MODULE,
    &info::MODULE,
    &log_forensic::MODULE,
    &macros::MODULE,
    &mime::MODULE,
    &mime_magic::MODULE,
    &negotiation::MODULE,
    &proxy::MODULE,
    &proxy::HTTP_MODULE,
    &proxy::WSTUNNEL_MODULE,
    &proxy_fcgi::MODULE,
    &proxy_balancer::MODULE,
    &proxy_balancer::BYREQUESTS_MODULE,
    &proxy_balancer::BYTRAFFIC_MODULE,
    &proxy_balancer::BYBUSYNESS_MODULE,
    &proxy_balancer::SLOTMEM_SHM_MODULE,
    &reflector::MODULE,
    &remoteip::MODULE,
    &reqtimeout::MODULE,
    &rewrite::MODULE,
    &setenvif::MODULE,
    &status::MODULE,
    &substitute::MODULE,
    &userdir::MODULE,
    &vhost_alias::MODULE,
    &socache_shmcb::MODULE,
    &speling::MODULE,
    &ssl::MODULE,
    &systemd::MODULE,
    &unique_id::MODULE,
    &usertrack::MODULE,
    &include::MODULE,
    &dav::MODULE,
    &dav::FS_MODULE,
    &dav::LOCK_MODULE,
];

/// Makes [`REGISTRY`] the one directive lookups use; before any configuration is read.
pub fn install_registry() {
    rhttpd_directives::install_modules(REGISTRY);
}

/// Every module's per-directory runtime config, compiled from one `DirConf`.
#[derive(Debug, Clone, Default)]
pub struct DirRuntime {
    pub core: core::Dir,
    /// The typed configurations of modules whose setters write them directly, merged by
    /// each module's own rule.
    pub typed: ModuleConfigs,
}

impl DirRuntime {
    /// Compiles the settings of one section (or a server's top level).
    pub fn compile(conf: &DirConf) -> DirRuntime {
        let mut out = DirRuntime::default();
        out.typed = conf.modules.clone();
        // core's config is kept apart from the others (most requests read it).
        out.core = out.typed.take::<core::Dir>().unwrap_or_default();
        out.core.options = conf.options;
        out.core.allow_override = conf.allow_override;
        out
    }

    /// The typed configuration of a module whose setters write one (its default where no
    /// directive set any).
    pub fn module<T: DirConfig>(&self) -> std::borrow::Cow<'_, T> {
        match self.typed.get::<T>() {
            Some(config) => std::borrow::Cow::Borrowed(config),
            None => std::borrow::Cow::Owned(T::default()),
        }
    }

    /// `child` merged over `self`, each module by its own rule.
    pub fn merge(&self, child: &DirRuntime) -> DirRuntime {
        DirRuntime {
            core: self.core.merge(&child.core),
            typed: self.typed.merge(&child.typed),
        }
    }
}

/// Configuration text read and applied with every module loaded, for modules' tests.
#[cfg(test)]
fn test_config(text: &str) -> rhttpd_directives::model::Config {
    install_registry();
    let nodes = rhttpd_parser::parse(text, "test.conf").expect("the test configuration parses");
    let mut cfg = rhttpd_directives::model::Config::default();
    cfg.read.modules = REGISTRY.to_vec();
    rhttpd_directives::apply::apply(&mut cfg, &[&nodes]).expect("the test configuration applies");
    cfg
}

/// The main server's top-level per-directory runtime, compiled from configuration text with
/// every module loaded: what a module's tests configure it with.
#[cfg(test)]
pub(crate) fn test_dir(text: &str) -> DirRuntime {
    DirRuntime::compile(&test_config(text).servers[0].dir)
}

/// The first section's per-directory runtime, compiled from configuration text with every
/// module loaded: for tests of directives a server's top level does not take.
#[cfg(test)]
pub(crate) fn test_section(text: &str) -> DirRuntime {
    DirRuntime::compile(&test_config(text).servers[0].sections[0].dir)
}

/// Every module's per-server runtime config.
#[derive(Debug, Clone, Default)]
pub struct ServerRuntime {
    pub core: core::ServerConf,
    /// The typed per-server configurations of modules whose setters write them, a virtual
    /// host's merged over the main server's by each module's own rule.
    pub typed: ModuleConfigs,
}

impl ServerRuntime {
    pub fn compile(server: &Server) -> ServerRuntime {
        let mut typed = server.modules.clone();
        // core's config is kept apart from the others (most requests read it).
        let core = typed.take::<core::ServerConf>().unwrap_or_default();
        ServerRuntime {
            core: core.with_server(server),
            typed,
        }
    }

    /// A virtual host's runtime over the main server's.
    pub fn merge(&self, vhost: &ServerRuntime) -> ServerRuntime {
        ServerRuntime {
            core: self.core.merge(&vhost.core),
            typed: self.typed.merge(&vhost.typed),
        }
    }

    /// The typed per-server configuration of a module whose setters write one (its default
    /// where no directive set any).
    pub fn module<T: DirConfig>(&self) -> std::borrow::Cow<'_, T> {
        match self.typed.get::<T>() {
            Some(config) => std::borrow::Cow::Borrowed(config),
            None => std::borrow::Cow::Owned(T::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_alias_body_configures_the_alias_not_the_server() {
        let dir = super::test_dir(
            "<AuthnProviderAlias file other>\n\
             DeflateInflateRatioLimit 5\n\
             ModMimeUsePathInfo On\n\
             </AuthnProviderAlias>\n\
             DeflateInflateRatioBurst 7\n",
        );
        let deflate = dir.module::<super::deflate::Dir>();
        assert_eq!((deflate.ratio_limit, deflate.ratio_burst), (None, Some(7)));
        assert_eq!(dir.module::<super::mime::Dir>().use_path_info, None);
    }

    #[test]
    fn core_per_directory_settings_are_typed_by_their_setters() {
        let dir = super::test_dir(
            "ErrorDocument 404 /first\n\
             ErrorDocument 404 \"gone away\"\n\
             SetHandler Server-Status\n\
             LogLevel info\n\
             LogLevel mime:debug\n\
             MaxRangeOverlaps unlimited\n",
        );
        assert_eq!(dir.core.error_document(404), Some("\"gone away"));
        assert_eq!(dir.core.set_handler.as_deref(), Some("server-status"));
        assert_eq!(dir.core.log_level, ["info", "mime:debug"]);
        assert_eq!(dir.core.range_limits(), [Some(200), None, Some(20)]);
    }

    #[test]
    fn core_per_server_settings_are_typed_by_their_setters() {
        super::install_registry();
        let text = "LimitRequestLine 100\n\
                    Protocols h2 http/1.1\n\
                    Protocols acme\n\
                    HttpProtocolOptions Unsafe\n\
                    HttpProtocolOptions Require1.0\n\
                    AcceptFilter http none\n";
        let cfg = super::test_config(text);
        let server = super::ServerRuntime::compile(&cfg.servers[0]);
        assert_eq!(server.core.limit_request_line, Some(100));
        let protocols = server.core.protocols.as_deref().unwrap_or_default();
        assert_eq!(protocols, ["h2", "http/1.1", "acme"]);
        // The last HttpProtocolOptions line is the one in force.
        assert!(server.core.strict() && !server.core.allow_09());
        assert!(server.typed.get::<super::core::ServerConf>().is_none());
        let main = cfg.servers[0].modules.get::<super::core::ServerConf>();
        let filters = &main.expect("typed").accept_filters;
        assert_eq!(filters, &[("http".to_string(), "none".to_string())]);
    }

    #[test]
    fn an_authn_alias_takes_its_bodys_user_file() {
        let dir = super::test_dir(
            "<AuthnProviderAlias file other>\n\
             AuthUserFile /alias/users\n\
             </AuthnProviderAlias>\n",
        );
        let authn = dir.module::<super::authn_core::Dir>();
        let (alias, base, own) = &authn.aliases[0];
        assert_eq!((alias.as_str(), base.as_str()), ("other", "file"));
        let own = own
            .get::<super::authn_file::Dir>()
            .expect("the alias's own");
        assert_eq!(own.user_file.as_deref(), Some("/alias/users"));
        assert_eq!(dir.module::<super::authn_file::Dir>().user_file, None);
    }

    #[test]
    fn an_authz_alias_takes_its_bodys_group_file() {
        let dir = super::test_dir(
            "<AuthzProviderAlias group staff admins>\n\
             AuthGroupFile /alias/groups\n\
             </AuthzProviderAlias>\n",
        );
        let authz = dir.module::<super::authz::Dir>();
        let alias = &authz.aliases[0];
        assert_eq!(
            (alias.name.as_str(), alias.base.as_str()),
            ("staff", "group")
        );
        assert_eq!(alias.group_file.as_deref(), Some("/alias/groups"));
        let server = dir.module::<super::authz_groupfile::Dir>();
        assert_eq!(server.group_file, None);
    }
}
