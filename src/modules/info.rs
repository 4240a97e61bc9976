//! mod_info, whole: AddModuleInfo (table, setter, typed per-server configuration and merge),
//! the `server-info` handler's page and its subpages (`?config`, `?server`, `?list`,
//! `?hooks`, `?providers`, `?<module>.c`), and `-D DUMP_CONFIG`'s listing of the configuration
//! as read. The configuration listings are Apache's to the byte; the facts about the server
//! (build, hooks, providers) are rhttpd's own.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::RSRC_CONF;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::escape::escape_html_str as escape_html;
use rhttpd_parser::Node;

use crate::hooks::{Hooks, Order, Register};
use crate::request::pipeline::{handler_of, set_handler};
use crate::request::{Body, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "info_module",
    source: "mod_info.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "AddModuleInfo",
    Take2(add_module_info),
    RSRC_CONF,
    "a module name and additional information on that module",
)
.implemented()];

/// Per server: AddModuleInfo's (module source name, HTML) pairs; a virtual host's come
/// before the main server's.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub more_info: Vec<(String, String)>,
}

impl DirConfig for ServerConf {
    fn merge(&self, child: &ServerConf) -> ServerConf {
        ServerConf {
            more_info: [child.more_info.clone(), self.more_info.clone()].concat(),
        }
    }
}

fn add_module_info(cmd: &mut Cmd, name: &str, info: &str) -> SetResult {
    cmd.server_config::<ServerConf>()
        .more_info
        .push((name.to_string(), info.to_string()));
    Ok(())
}

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("info", Order::Middle, handler);
}

/// Where a listing goes: the page (HTML) or standard output (`-D DUMP_CONFIG`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Page,
    Dump,
}

/// The configuration listing's state: the file the last line came from.
struct Listing<'a> {
    target: Target,
    out: String,
    file: Option<&'a str>,
}

impl<'a> Listing<'a> {
    fn new(target: Target) -> Listing<'a> {
        Listing {
            target,
            out: String::new(),
            file: None,
        }
    }

    /// `put_int_flush_right`: the number in `width` columns, a blank (`&nbsp;` on the page)
    /// for each leading zero, and for a zero itself.
    fn number(&mut self, n: u32, width: usize) {
        let digits = if n == 0 { String::new() } else { n.to_string() };
        let blanks = width.saturating_sub(digits.len());
        let blank = match self.target {
            Target::Page => "&nbsp;",
            Target::Dump => " ",
        };
        for _ in 0..blanks {
            self.out.push_str(blank);
        }
        self.out.push_str(&digits);
    }

    /// The file heading when the file changes, the line number, and the indentation.
    fn indent(&mut self, nest: usize, file: &'a str, line: u32) {
        if self.file != Some(file) {
            match self.target {
                Target::Page => self.out.push_str(&format!(
                    "<dd><tt><strong>In file: {}</strong></tt></dd>\n",
                    escape_html(file)
                )),
                Target::Dump => self.out.push_str(&format!("# In file: {file}\n")),
            }
            self.file = Some(file);
        }
        match self.target {
            Target::Page => {
                self.out.push_str("<dd><tt>");
                self.number(line, 4);
                self.out.push_str(":&nbsp;");
            }
            Target::Dump if line > 0 => {
                self.out.push_str(&"  ".repeat(nest));
                self.out.push('#');
                self.number(line, 4);
                self.out.push_str(":\n");
            }
            Target::Dump => {}
        }
        let step = match self.target {
            Target::Page => "&nbsp;&nbsp;",
            Target::Dump => "  ",
        };
        self.out.push_str(&step.repeat(nest));
    }

    fn command(&mut self, node: &'a Node, nest: usize) {
        self.indent(nest, &node.file, node.line);
        match self.target {
            Target::Page => self.out.push_str(&format!(
                "{} <i>{}</i></tt></dd>\n",
                escape_html(&node.name),
                escape_html(&node.args)
            )),
            Target::Dump => self.out.push_str(&format!("{} {}\n", node.name, node.args)),
        }
    }

    fn open(&mut self, node: &'a Node, nest: usize) {
        self.indent(nest, &node.file, node.line);
        let args = section_args(node);
        match self.target {
            Target::Page => self.out.push_str(&format!(
                "{} {}</tt></dd>\n",
                escape_html(&node.name),
                escape_html(&args)
            )),
            Target::Dump => self.out.push_str(&format!("{} {args}\n", node.name)),
        }
    }

    fn close(&mut self, node: &'a Node, nest: usize) {
        self.indent(nest, &node.file, 0);
        let name = node.name.strip_prefix('<').unwrap_or(&node.name);
        match self.target {
            Target::Page => self
                .out
                .push_str(&format!("&lt;/{}&gt;</tt></dd>", escape_html(name))),
            Target::Dump => self.out.push_str(&format!("</{name}>\n")),
        }
    }

    /// `mod_info_module_cmds`: the directives `wanted` takes (all of them for `None`), each
    /// with the sections around it opened once and closed after their last one shown.
    fn walk(
        &mut self,
        nodes: &'a [Node],
        wanted: Option<&[DirectiveDef]>,
        parents: &mut Vec<&'a Node>,
        shown: usize,
    ) -> usize {
        let level = parents.len();
        let mut shown = shown;
        for node in nodes {
            match &node.children {
                Some(children) => {
                    parents.push(node);
                    let deepest = self.walk(children, wanted, parents, shown);
                    parents.pop();
                    if level < deepest {
                        shown = level;
                        self.close(node, level);
                    }
                }
                None if takes(wanted, node) => {
                    for (depth, parent) in parents.iter().enumerate().skip(shown) {
                        self.open(parent, depth);
                    }
                    shown = level;
                    self.command(node, level);
                }
                None => {}
            }
        }
        shown
    }
}

/// A section's arguments as Apache keeps them: the text inside `<...>`, with its `>`.
fn section_args(node: &Node) -> String {
    let args = node.args.trim_end();
    if args.ends_with('>') {
        args.to_string()
    } else {
        format!("{args}>")
    }
}

/// Whether a module's directive table names the directive (all do, for no table).
fn takes(wanted: Option<&[DirectiveDef]>, node: &Node) -> bool {
    wanted.is_none_or(|defs| defs.iter().any(|d| d.name.eq_ignore_ascii_case(&node.name)))
}

/// `-D DUMP_CONFIG`: the configuration as read, on standard output.
pub fn dump_config(tree: &[Node]) -> String {
    let mut listing = Listing::new(Target::Dump);
    listing.walk(tree, None, &mut Vec::new(), 0);
    listing.out
}

const DOCTYPE: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n";

/// Apache's names for the request phases, in the order its page lists them, with rhttpd's
/// hook list for each it has.
fn request_phases(hooks: &Hooks) -> Vec<(&'static str, Vec<(&'static str, Order)>)> {
    fn list<T>(hooks: &crate::hooks::HookList<T>) -> Vec<(&'static str, Order)> {
        hooks.modules().collect()
    }
    vec![
        ("Post-Read Request", list(&hooks.post_read_request)),
        ("Translate Name", list(&hooks.translate_name)),
        ("Map to Storage", list(&hooks.map_to_storage)),
        ("Check Access", list(&hooks.access_checker_ex)),
        ("Check Access (legacy)", list(&hooks.access_checker)),
        ("Verify User ID", list(&hooks.check_user_id)),
        ("Verify User Access", list(&hooks.auth_checker)),
        ("Check Type", list(&hooks.type_checker)),
        ("Fixups", list(&hooks.fixups)),
        ("Insert Filters", list(&hooks.insert_filter)),
        ("Content Handlers", list(&hooks.handler)),
        ("Insert Errors", list(&hooks.insert_error_filter)),
    ]
}

/// APR's numbers for the hook orders.
fn order_number(order: Order) -> i32 {
    match order {
        Order::ReallyFirst => -10,
        Order::First => 0,
        Order::Middle => 10,
        Order::Last => 20,
        Order::ReallyLast => 30,
    }
}

/// The loaded modules, sorted by their source names as Apache's page sorts them, each with
/// its registration (if it has hooks).
fn sorted_modules(req: &Request) -> Vec<(&'static ModuleDef, Option<Register>)> {
    let mut modules: Vec<_> = req
        .rt
        .config
        .read
        .modules
        .iter()
        .map(|m| {
            let register = super::HOOKS
                .iter()
                .find(|(id, _)| *id == m.id)
                .map(|(_, register)| *register);
            (*m, register)
        })
        .collect();
    modules.sort_by(|a, b| a.0.source.cmp(b.0.source));
    modules.dedup_by(|a, b| a.0.source == b.0.source);
    modules
}

/// The hooks one module registers, alone.
fn hooks_of(module: &ModuleDef, register: Option<Register>) -> Hooks {
    match register {
        Some(register) => Hooks::build(&[(module.id, register)], |_| true),
        None => Hooks::default(),
    }
}

fn handler(req: &mut Request) -> Step<Option<Response>> {
    let is_info = if req.finfo.as_ref().is_some_and(|m| m.is_dir()) {
        set_handler(req) == Some("server-info")
    } else {
        let filename = req.filename.clone().unwrap_or_default();
        handler_of(req, &filename).as_deref() == Some("server-info")
    };
    if !is_info || !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Ok(None);
    }
    let body = page(req);
    Ok(Some(Response {
        status: 200,
        headers: req.headers_out.clone(),
        content_type: Some("text/html; charset=ISO-8859-1".into()),
        length_known: body.len() <= super::autoindex::OUTPUT_BUFFER,
        body: Body::Bytes(body.into_bytes()),
        length_last: true,
        header_only: req.method == "HEAD",
        server: req.server,
        ..Default::default()
    }))
}

fn page(req: &Request) -> String {
    let args = req.args.as_deref();
    let is = |word: &str| args.is_some_and(|a| a.eq_ignore_ascii_case(word));
    let mut out = String::from(DOCTYPE);
    out.push_str("<html xmlns=\"http://www.w3.org/1999/xhtml\">\n<head>\n  <title>Server Information</title>\n</head>\n");
    out.push_str("<body><h1 style=\"text-align: center\">Apache Server Information</h1>\n");
    let modules = sorted_modules(req);
    if is("list") {
        out.push_str("<dl><dt>Server Module List</dt>");
        for (module, _) in &modules {
            out.push_str(&format!("<dd>{}</dd>", module.source));
        }
        out.push_str("</dl><hr />");
    } else {
        if args.is_none() {
            out.push_str("<dl><dt><tt>Subpages:<br /><a href=\"?config\">Configuration Files</a>, <a href=\"?server\">Server Settings</a>, <a href=\"?list\">Module List</a>, <a href=\"?hooks\">Active Hooks</a>, <a href=\"?providers\">Available Providers</a></tt></dt></dl><hr />");
            out.push_str("<dl><dt><tt>Sections:<br /><a href=\"#modules\">Loaded Modules</a>, <a href=\"#server\">Server Settings</a>, <a href=\"#startup_hooks\">Startup Hooks</a>, <a href=\"#request_hooks\">Request Hooks</a>, <a href=\"#other_hooks\">Other Hooks</a>, <a href=\"#providers\">Providers</a></tt></dt></dl><hr />");
            out.push_str("<h2><a name=\"modules\">Loaded Modules</a></h2><dl><dt><tt>");
            for (module, _) in &modules {
                out.push_str(&format!("<a href=\"#{0}\">{0}</a>, ", module.source));
            }
            out.push_str("</tt></dt></dl><hr />");
        }
        if args.is_none() || is("server") {
            server_settings(req, &mut out);
        }
        if args.is_none() || is("hooks") {
            active_hooks(&modules, is("hooks"), &mut out);
        }
        if args.is_none() || is("providers") {
            providers(req, &mut out);
        }
        if is("config") {
            out.push_str("<dl><dt><strong>Configuration:</strong>\n");
            let mut listing = Listing::new(Target::Page);
            listing.walk(&req.rt.conf_tree, None, &mut Vec::new(), 0);
            out.push_str(&listing.out);
            out.push_str("</dl><hr />");
        } else {
            // An argument naming no module shows nothing more (Apache means to say "No such
            // module", but its test sees the last module of its loop and never does).
            for (module, register) in &modules {
                if args.is_some_and(|a| !a.eq_ignore_ascii_case(module.source)) {
                    continue;
                }
                module_section(req, module, *register, &mut out);
                if args.is_some() {
                    break;
                }
            }
        }
    }
    out.push_str(&crate::request::errors::address_signature(req));
    out.push_str("</body></html>\n");
    out
}

fn module_section(req: &Request, module: &ModuleDef, register: Option<Register>, out: &mut String) {
    let name = module.source;
    out.push_str(&format!("<dl><dt><a name=\"{name}\"><strong>Module Name:</strong></a> <font size=\"+1\"><tt><a href=\"?{name}\">{name}</a></tt></font></dt>\n"));
    let hooks = hooks_of(module, register);
    let handlers = if hooks.handler.modules().next().is_some() {
        "yes"
    } else {
        "none"
    };
    out.push_str(&format!(
        "<dt><strong>Content handlers:</strong> <tt> <em>{handlers}</em></tt></dt>"
    ));
    out.push_str("<dt><strong>Configuration Phase Participation:</strong>\n");
    if module.has_dir_config {
        out.push_str("<tt>Create Directory Config</tt>, <tt>Merge Directory Configs</tt>");
    } else {
        out.push_str("<tt> <em>none</em></tt>");
    }
    out.push_str("</dt>");
    out.push_str("<dt><strong>Request Phase Participation:</strong>\n");
    let phases: Vec<&str> = request_phases(&hooks)
        .into_iter()
        .filter(|(_, modules)| !modules.is_empty())
        .map(|(phase, _)| phase)
        .collect();
    if phases.is_empty() {
        out.push_str("<tt> <em>none</em></tt>");
    } else {
        let listed: Vec<String> = phases.iter().map(|p| format!("<tt>{p}</tt>")).collect();
        out.push_str(&listed.join(", "));
    }
    out.push_str("</dt>\n");
    if module.directives.is_empty() {
        out.push_str("<dt><strong>Module Directives:</strong> <tt>none</tt></dt>");
    } else {
        out.push_str("<dt><strong>Module Directives:</strong></dt>");
        for def in module.directives {
            let open = if def.name.starts_with('<') {
                "&gt;"
            } else {
                ""
            };
            out.push_str(&format!(
                "<dd><tt>{}{open} - <i>{}</i></tt></dd>\n",
                escape_html(def.name),
                escape_html(def.help)
            ));
        }
        out.push_str("<dt><strong>Current Configuration:</strong></dt>\n");
        let mut listing = Listing::new(Target::Page);
        listing.walk(
            &req.rt.conf_tree,
            Some(module.directives),
            &mut Vec::new(),
            0,
        );
        out.push_str(&listing.out);
    }
    let conf = req.ctx().runtime.module::<ServerConf>();
    if let Some((_, info)) = conf.more_info.iter().find(|(m, _)| m == name) {
        out.push_str("<dt><strong>Additional Information:</strong>\n</dt><dd>");
        out.push_str(info);
        out.push_str("</dd>");
    }
    out.push_str("</dl><hr />\n");
}

fn server_settings(req: &Request, out: &mut String) {
    let rt = req.rt;
    let core = &req.ctx().runtime.core;
    let kind = crate::mpm::Kind::from_name(rt.config.read.mpm().and_then(|m| m.mpm_name()));
    let (sizing, _) = rt.config.mpm.sizing(kind.name());
    let shape = crate::mpm::Shape::new(kind, &sizing, &rt.config.mpm);
    let threaded = if kind == crate::mpm::Kind::Prefork {
        "no"
    } else {
        "yes"
    };
    out.push_str("<h2><a name=\"server\">Server Settings</a></h2>");
    out.push_str(&format!(
        "<dl><dt><strong>Server Version:</strong> <font size=\"+1\"><tt>{} rhttpd/{}</tt></font></dt>\n",
        crate::build_info::SERVER_BANNER,
        crate::build_info::RHTTPD_VERSION
    ));
    out.push_str(&format!(
        "<dt><strong>Server Built:</strong> <font size=\"+1\"><tt>{}</tt></font></dt>\n",
        crate::build_info::server_built()
    ));
    let (major, minor) = (20120211, 142);
    out.push_str(&format!(
        "<dt><strong>Module Magic Number:</strong> <tt>{major}:{minor}</tt></dt>\n"
    ));
    out.push_str(&format!(
        "<dt><strong>Hostname/port:</strong> <tt>{}:{}</tt></dt>\n",
        escape_html(&req.host_name()),
        req.server_port()
    ));
    out.push_str(&format!(
        "<dt><strong>Timeouts:</strong> <tt>connection: {} &nbsp;&nbsp; keep-alive: {}</tt></dt>",
        core.timeout_secs(),
        req.ctx()
            .runtime
            .module::<super::http_core::ServerConf>()
            .keep_alive_timeout_ms()
            / 1000
    ));
    out.push_str(&format!(
        "<dt><strong>MPM Name:</strong> <tt>{}</tt></dt>\n",
        kind.name()
    ));
    out.push_str(&format!(
        "<dt><strong>MPM Information:</strong> <tt>Max Daemons: {} Threaded: {threaded} Forked: yes</tt></dt>\n",
        shape.process_limit
    ));
    out.push_str(&format!(
        "<dt><strong>Server Architecture:</strong> <tt>{}-bit</tt></dt>\n",
        8 * std::mem::size_of::<usize>()
    ));
    out.push_str(&format!(
        "<dt><strong>Server Root:</strong> <tt>{}</tt></dt>\n",
        rt.config.read.server_root.display()
    ));
    let main_file = rt
        .config
        .read
        .includes
        .iter()
        .find(|f| f.included_at.is_none())
        .map_or("", |f| f.path.as_str());
    out.push_str(&format!(
        "<dt><strong>Config File:</strong> <tt>{main_file}</tt></dt>\n"
    ));
    out.push_str("<dt><strong>Server Built With:</strong>\n<tt style=\"white-space: pre;\">\n");
    for line in [
        " -D APR_HAS_SENDFILE".to_string(),
        " -D APR_HAVE_IPV6 (IPv4-mapped addresses enabled)".to_string(),
        " -D AP_HAVE_RELIABLE_PIPED_LOGS".to_string(),
        format!(" -D HTTPD_ROOT=\"{}\"", crate::build_info::HTTPD_ROOT),
        format!(
            " -D DEFAULT_PIDLOG=\"{}\"",
            crate::build_info::DEFAULT_PIDLOG
        ),
        format!(
            " -D DEFAULT_SCOREBOARD=\"{}\"",
            crate::build_info::DEFAULT_SCOREBOARD
        ),
        format!(
            " -D DEFAULT_ERRORLOG=\"{}\"",
            crate::build_info::DEFAULT_ERRORLOG
        ),
        format!(
            " -D AP_TYPES_CONFIG_FILE=\"{}\"",
            crate::build_info::AP_TYPES_CONFIG_FILE
        ),
        format!(
            " -D SERVER_CONFIG_FILE=\"{}\"",
            crate::build_info::SERVER_CONFIG_FILE
        ),
    ] {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("</tt></dt>\n</dl><hr />");
}

/// The request hooks rhttpd runs, each phase's modules in the order they run (rhttpd has no
/// startup or other hooks of Apache's kind: those lists are empty).
fn active_hooks(
    modules: &[(&'static ModuleDef, Option<Register>)],
    own_page: bool,
    out: &mut String,
) {
    let link = if own_page { '?' } else { '#' };
    out.push_str("<h2><a name=\"startup_hooks\">Startup Hooks</a></h2>\n<dl>");
    out.push_str("</dl>\n<hr />\n<h2><a name=\"request_hooks\">Request Hooks</a></h2>\n<dl>");
    // Each phase's hooks by module, in load order, then sorted as the pipeline sorts them.
    let mut phases: Vec<(&'static str, Vec<(i32, &'static str)>)> = Vec::new();
    let load_order: Vec<&(&str, Register)> = super::HOOKS
        .iter()
        .filter(|(id, _)| modules.iter().any(|(m, _)| m.id == *id))
        .collect();
    for (id, register) in load_order {
        let Some((module, _)) = modules.iter().find(|(m, _)| m.id == *id) else {
            continue;
        };
        let hooks = Hooks::build(&[(id, *register)], |_| true);
        for (phase, entries) in request_phases(&hooks) {
            let slot = match phases.iter_mut().find(|(p, _)| *p == phase) {
                Some(slot) => slot,
                None => {
                    phases.push((phase, Vec::new()));
                    phases.last_mut().expect("just pushed")
                }
            };
            for (_, order) in entries {
                slot.1.push((order_number(order), module.source));
            }
        }
    }
    for (phase, _) in request_phases(&Hooks::default()) {
        out.push_str(&format!("<dt><strong>{phase}:</strong>\n <br /><tt>\n"));
        if let Some((_, entries)) = phases.iter_mut().find(|(p, _)| *p == phase) {
            entries.sort_by_key(|(order, _)| *order);
            for (order, name) in entries.iter() {
                out.push_str(&format!(
                    "&nbsp;&nbsp; {order:02} <a href=\"{link}{name}\">{name}</a> <br/>"
                ));
            }
        }
        out.push_str("\n  </tt>\n</dt>\n");
    }
    out.push_str("</dl>\n<hr />\n<h2><a name=\"other_hooks\">Other Hooks</a></h2>\n<dl>");
    out.push_str("</dl>\n<hr />\n");
}

/// The authentication and authorization providers the loaded modules register.
fn providers(req: &Request, out: &mut String) {
    out.push_str("<h2><a name=\"providers\">Providers</a></h2>\n<dl>");
    let loaded = |id: &str| req.rt.module_loaded(id);
    let mut authn: Vec<&str> = super::authn_core::base_providers()
        .iter()
        .filter(|(_, module)| loaded(module))
        .map(|(name, _)| *name)
        .collect();
    authn.sort_unstable();
    let mut authz: Vec<&str> = super::authz::providers()
        .iter()
        .filter(|(module, _)| loaded(module))
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    authz.sort_unstable();
    for (group, names) in [("authn", authn), ("authz", authz)] {
        if names.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "<dt><strong>{group}</strong> (version <tt>0</tt>):\n <br />\n"
        ));
        for name in names {
            out.push_str(&format!("<tt>&nbsp;&nbsp;{name}</tt><br/>"));
        }
        out.push_str("\n</dt>\n");
    }
    out.push_str("</dl>\n<hr />\n");
}
