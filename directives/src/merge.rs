//! The merge rules of the typed config: a child per-directory config over its parent, a
//! virtual host over the main server, and the order Apache merges per-request sections in.

use crate::model::{opt, DirConf, Options, Section, SectionKind, Server};

/// Apache 2.4's `Options` when nothing sets them.
pub const DEFAULT_OPTIONS: u32 = opt::SYM_LINKS;

impl Options {
    /// The options in force when this line is applied over `inherited`: an absolute list
    /// replaces, `+`/`-` adjust.
    pub fn apply_to(&self, inherited: u32) -> u32 {
        if self.relative {
            (inherited & !self.remove) | self.add
        } else {
            self.set
        }
    }
}

impl DirConf {
    /// `child` merged over `self` (Apache's `merge_core_dir_configs` for what is typed so far):
    /// a set field in the child wins, `Options` adjust, stored settings accumulate in order.
    pub fn merged_with(&self, child: &DirConf) -> DirConf {
        let options = match (self.options, child.options) {
            (_, None) => self.options,
            (None, Some(c)) => Some(c),
            (Some(p), Some(c)) if c.relative => Some(Options {
                set: c.apply_to(p.apply_to(DEFAULT_OPTIONS)),
                add: 0,
                remove: 0,
                relative: false,
            }),
            (Some(_), Some(c)) => Some(c),
        };
        DirConf {
            options,
            allow_override: child.allow_override.or(self.allow_override),
            allow_override_opts: child.allow_override_opts.or(self.allow_override_opts),
            modules: self.modules.merge(&child.modules),
        }
    }

    /// The `Options` bits in force for this config.
    pub fn effective_options(&self) -> u32 {
        self.options
            .map_or(DEFAULT_OPTIONS, |o| o.apply_to(DEFAULT_OPTIONS))
    }
}

impl Server {
    /// A virtual host completed from the main server: unset server-level fields inherit, and
    /// its server-level per-directory defaults are merged over the main server's.
    pub fn inheriting(&self, main: &Server) -> Server {
        let mut out = self.clone();
        out.server_admin = self
            .server_admin
            .clone()
            .or_else(|| main.server_admin.clone());
        out.document_root = self
            .document_root
            .clone()
            .or_else(|| main.document_root.clone());
        out.error_log = self.error_log.clone().or_else(|| main.error_log.clone());
        out.timeout = self.timeout.or(main.timeout);
        out.access_file_names = self
            .access_file_names
            .clone()
            .or_else(|| main.access_file_names.clone());
        out.dir = main.dir.merged_with(&self.dir);
        out.modules = main.modules.merge(&self.modules);
        out
    }
}

/// The order a request merges sections in (Apache's directory, file and location walks):
/// `<Directory>` by path depth (`/` first, equal depth in config order), then regex directories,
/// then `<Files>`, then `<Location>`, then `<If>` chains. A virtual host's sections come after
/// the main server's of the same kind, so they win.
pub fn merge_order<'a>(main: &'a Server, vhost: Option<&'a Server>) -> Vec<&'a Section> {
    let all: Vec<&Section> = main
        .sections
        .iter()
        .chain(vhost.map(|v| v.sections.iter()).into_iter().flatten())
        .collect();
    let of = |kinds: &[SectionKind], regex: Option<bool>| -> Vec<&'a Section> {
        all.iter()
            .copied()
            .filter(|s| kinds.contains(&s.kind) && regex.is_none_or(|r| s.regex == r))
            .collect()
    };
    let mut plain_dirs = of(&[SectionKind::Directory], Some(false));
    plain_dirs.sort_by_key(|s| {
        if s.pattern == "/" {
            0
        } else {
            s.pattern.matches('/').count()
        }
    });
    let mut order = plain_dirs;
    order.extend(of(
        &[SectionKind::Directory, SectionKind::DirectoryMatch],
        Some(true),
    ));
    order.extend(of(&[SectionKind::Files, SectionKind::FilesMatch], None));
    order.extend(of(
        &[SectionKind::Location, SectionKind::LocationMatch],
        None,
    ));
    order.extend(of(
        &[SectionKind::If, SectionKind::ElseIf, SectionKind::Else],
        None,
    ));
    // mod_proxy walks its own sections, main server's first (they merge only for requests
    // that go to a proxy).
    order.extend(of(&[SectionKind::Proxy, SectionKind::ProxyMatch], None));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;

    fn section(kind: SectionKind, pattern: &str, regex: bool) -> Section {
        Section {
            kind,
            pattern: pattern.into(),
            regex,
            regex_flags: crate::regex_defaults::DEFAULT,
            origin: Origin {
                file: "t".into(),
                line: 1,
            },
            dir: DirConf::default(),
            nested: vec![],
        }
    }

    fn opts(set: u32, add: u32, remove: u32, relative: bool) -> Option<Options> {
        Some(Options {
            set,
            add,
            remove,
            relative,
        })
    }

    #[test]
    fn relative_options_adjust_the_parent_and_absolute_ones_replace() {
        let parent = DirConf {
            options: opts(opt::INDEXES | opt::SYM_LINKS, 0, 0, false),
            ..Default::default()
        };
        let plus_minus = DirConf {
            options: opts(0, opt::MULTI, opt::INDEXES, true),
            ..Default::default()
        };
        assert_eq!(
            parent.merged_with(&plus_minus).effective_options(),
            opt::SYM_LINKS | opt::MULTI
        );
        let absolute = DirConf {
            options: opts(opt::NONE, 0, 0, false),
            ..Default::default()
        };
        assert_eq!(parent.merged_with(&absolute).effective_options(), opt::NONE);
        assert_eq!(DirConf::default().effective_options(), opt::SYM_LINKS);
    }

    #[test]
    fn allow_override_child_wins_and_unset_inherits() {
        let parent = DirConf {
            allow_override: Some(crate::context::OR_ALL),
            ..Default::default()
        };
        assert_eq!(
            parent.merged_with(&DirConf::default()).allow_override,
            Some(crate::context::OR_ALL)
        );
        let child = DirConf {
            allow_override: Some(0),
            ..Default::default()
        };
        assert_eq!(parent.merged_with(&child).allow_override, Some(0));
    }

    #[test]
    fn vhost_inherits_unset_fields() {
        let main = Server {
            server_admin: Some("root@x".into()),
            timeout: Some(30),
            ..Default::default()
        };
        let vhost = Server {
            is_virtual: true,
            timeout: Some(5),
            ..Default::default()
        };
        let merged = vhost.inheriting(&main);
        assert_eq!(merged.server_admin.as_deref(), Some("root@x"));
        assert_eq!(merged.timeout, Some(5));
    }

    /// A module's per-server configuration: a list a virtual host puts first.
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Listed(Vec<&'static str>);

    impl crate::model::DirConfig for Listed {
        fn merge(&self, vhost: &Listed) -> Listed {
            Listed(vhost.0.iter().chain(&self.0).copied().collect())
        }
    }

    #[test]
    fn vhost_module_configs_merge_over_the_main_servers() {
        let mut main = Server::default();
        main.modules.get_mut::<Listed>().0.push("main");
        let mut vhost = Server {
            is_virtual: true,
            ..Default::default()
        };
        assert_eq!(
            vhost.inheriting(&main).modules.get::<Listed>(),
            Some(&Listed(vec!["main"]))
        );
        vhost.modules.get_mut::<Listed>().0.push("vhost");
        assert_eq!(
            vhost.inheriting(&main).modules.get::<Listed>(),
            Some(&Listed(vec!["vhost", "main"]))
        );
    }

    #[test]
    fn sections_merge_in_apache_order_with_vhost_last() {
        let main = Server {
            sections: vec![
                section(SectionKind::Location, "/", false),
                section(SectionKind::Directory, "/var/www/", false),
                section(SectionKind::Files, ".ht*", false),
                section(SectionKind::DirectoryMatch, "^/var", true),
                section(SectionKind::Directory, "/", false),
            ],
            ..Default::default()
        };
        let vhost = Server {
            sections: vec![
                section(SectionKind::Directory, "/var/", false),
                section(SectionKind::Location, "/app", false),
            ],
            ..Default::default()
        };
        let order: Vec<&str> = merge_order(&main, Some(&vhost))
            .iter()
            .map(|s| s.pattern.as_str())
            .collect();
        assert_eq!(
            order,
            ["/", "/var/", "/var/www/", "^/var", ".ht*", "/", "/app"]
        );
    }
}
