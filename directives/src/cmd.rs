//! The state a setter runs in (Apache's `cmd_parms`): which server and section it writes,
//! what the context permits, and the node being applied.

use rhttpd_parser::Node;

use crate::context::*;
use crate::model::{Config, DirConf, DirConfig, Origin, PendingUse, Section, Server};
use crate::registry::{DirectiveDef, Runtime};

/// Apache's `cmd_parms` for one directive.
pub struct Cmd<'c, 'n> {
    pub cfg: &'c mut Config,
    /// Index into `cfg.servers` of the server being configured.
    pub server: usize,
    /// What the enclosing context allows (Apache's `cmd->override`).
    pub override_bits: u32,
    /// The enclosing section's path (`cmd->path`); `None` outside per-directory sections.
    pub path: Option<String>,
    /// Inside `<Limit>` or `<LimitExcept>`.
    pub limited: bool,
    /// The methods the enclosing `<Limit>` sections still apply to (all bits outside them).
    pub limit_mask: u128,
    /// Reading an `.htaccess` file.
    pub htaccess: bool,
    /// AllowOverrideList: directives an `.htaccess` file may use whatever AllowOverride says.
    pub override_list: Vec<String>,
    /// Names of the enclosing sections, outermost first (`<Directory`, `<Files`, ...).
    pub parents: Vec<&'n str>,
    /// Enclosing `<RequireAll|Any|None>` containers as (all-of, negated), innermost last; a
    /// per-directory context without one behaves as a plain `<RequireAny>`.
    pub authz_sections: Vec<(bool, bool)>,
    /// Sections being built, innermost last; their settings are written to the last one.
    pub open_sections: Vec<Section>,
    /// The per-directory config of the provider alias whose body is being read; it takes
    /// the settings instead of the section (see [`crate::apply::walk_alias_body`]).
    pub body: Option<DirConf>,
    pub node: &'n Node,
    pub def: &'static DirectiveDef,
    /// The location of an error found deeper in a section, which wins over the section's own.
    pub(crate) inner_error: Option<Origin>,
}

impl<'c, 'n> Cmd<'c, 'n> {
    /// The context of a configuration's top level (the main server, every override allowed),
    /// about to read `first`.
    pub fn top_level(cfg: &'c mut Config, first: &'n Node) -> Self {
        Cmd {
            cfg,
            server: 0,
            override_bits: crate::context::SERVER_OVERRIDE,
            path: None,
            limited: false,
            limit_mask: u128::MAX,
            htaccess: false,
            override_list: Vec::new(),
            parents: Vec::new(),
            authz_sections: Vec::new(),
            open_sections: Vec::new(),
            body: None,
            node: first,
            def: &crate::lookup::PLACEHOLDER,
            inner_error: None,
        }
    }

    /// Parses a boolean expression where this directive stands (restricted in `.htaccess`).
    pub fn parse_expr(&self, text: &str) -> Result<crate::expr::Expr, String> {
        crate::expr::parse_in(text, self.htaccess)
    }

    /// Parses a string expression where this directive stands (restricted in `.htaccess`).
    pub fn parse_string_expr(&self, text: &str) -> Result<crate::expr::StringExpr, String> {
        crate::expr::parse_string_in(text, self.htaccess)
    }

    pub fn origin(&self) -> Origin {
        Origin {
            file: self.node.file.clone(),
            line: self.node.line,
        }
    }

    /// The server being configured.
    pub fn server(&mut self) -> &mut Server {
        &mut self.cfg.servers[self.server]
    }

    /// The per-directory settings being written: a provider alias's body, the innermost open
    /// section, or the server's.
    pub fn dir(&mut self) -> &mut DirConf {
        if let Some(body) = &mut self.body {
            return body;
        }
        match self.open_sections.last_mut() {
            Some(section) => &mut section.dir,
            None => &mut self.cfg.servers[self.server].dir,
        }
    }

    /// The per-directory configuration of the directive's module where it is being written
    /// (the innermost open section, or the server's defaults).
    pub fn dir_config<T: DirConfig>(&mut self) -> &mut T {
        self.dir().modules.get_mut::<T>()
    }

    /// The per-server configuration of the directive's module for the server being
    /// configured (the main server, or the `<VirtualHost>` being read).
    pub fn server_config<T: DirConfig>(&mut self) -> &mut T {
        self.server().modules.get_mut::<T>()
    }

    /// Whether the directive is read at a server's top level (not in a section, not in an
    /// `.htaccess` file): where a directive allowed in both configures the server.
    pub fn at_server_level(&self) -> bool {
        self.open_sections.is_empty() && !self.htaccess && self.body.is_none()
    }

    /// The registered name of the directive being applied.
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// A warning logged (with the full error-log prefix) while the configuration is read, as
    /// Apache's `ap_log_error(..., cmd->server, ...)`: inside a `<VirtualHost>` nothing is logged,
    /// since that server has no log level yet.
    pub fn log_warning(&mut self, module: &'static str, text: String) {
        self.log_at(module, "warn", text);
    }

    /// The same at another level. A notice is logged from a `<VirtualHost>` too: Apache
    /// logs notices whatever a server's log level.
    pub fn log_at(&mut self, module: &'static str, level: &'static str, text: String) {
        if !self.htaccess && self.cfg.servers[self.server].is_virtual && level != "notice" {
            return;
        }
        self.cfg.warnings.push(crate::model::Warning {
            module,
            level,
            startup: false,
            text,
        });
    }

    /// Notes a use of a directive whose runtime is pending (once per line).
    pub(crate) fn note_pending(&mut self) {
        if self.def.runtime == Runtime::Pending {
            let origin = self.origin();
            self.cfg.pending.push(PendingUse {
                directive: self.def.name,
                origin,
            });
        }
    }

    /// Apache's `ap_check_cmd_context`: the restrictions a handler puts on where it runs.
    pub fn check_context(&self, forbidden: u32) -> Result<(), String> {
        let name = self.def.name;
        let gt = if name.starts_with('<') && !name.ends_with('>') {
            ">"
        } else {
            ""
        };
        if forbidden & NOT_IN_VIRTUALHOST != 0 && self.cfg.servers[self.server].is_virtual {
            return Err(format!(
                "{name}{gt} cannot occur within <VirtualHost> section"
            ));
        }
        if forbidden & NOT_IN_DIR_CONTEXT != 0 && self.limited {
            return Err(format!(
                "{name}{gt} cannot occur within <Limit> or <LimitExcept> section"
            ));
        }
        if forbidden & NOT_IN_HTACCESS != 0 && self.htaccess {
            return Err(format!("{name}{gt} cannot occur within htaccess files"));
        }
        if forbidden & NOT_IN_DIR_LOC_FILE == NOT_IN_DIR_LOC_FILE {
            if self.path.is_some() {
                return Err(format!("{name}{gt} cannot occur within directory context"));
            }
            if self.def.req_override & EXEC_ON_READ != 0 {
                return Ok(());
            }
        }
        let groups: [(u32, &[&str]); 4] = [
            (NOT_IN_DIRECTORY, &["<Directory", "<DirectoryMatch"]),
            (NOT_IN_LOCATION, &["<Location", "<LocationMatch"]),
            (
                NOT_IN_FILES,
                &["<Files", "<FilesMatch", "<If", "<ElseIf", "<Else"],
            ),
            (NOT_IN_PROXY, &["<Proxy", "<ProxyMatch"]),
        ];
        for (bit, names) in groups {
            if forbidden & bit == 0 {
                continue;
            }
            for wanted in names {
                if let Some(found) = self
                    .parents
                    .iter()
                    .rev()
                    .find(|p| p.eq_ignore_ascii_case(wanted))
                {
                    return Err(format!("{name}{gt} cannot occur within {found}> section"));
                }
            }
        }
        Ok(())
    }
}
