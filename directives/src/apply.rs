//! Walks an expanded tree into a typed [`Config`]: look the name up among loaded modules,
//! check the context, split the words by arity, run the setter (Apache's `ap_walk_config`).

use std::borrow::Cow;

use rhttpd_parser::{getword_conf, Node};

use crate::cmd::Cmd;
use crate::context::*;
use crate::lookup::find_loaded;
use crate::model::{Config, Origin, Section, Server};
use crate::registry::{Args, DirectiveDef, SetResult};

/// A walk-phase error: Apache prints it as `AH00526: Syntax error on line N of FILE:` + message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    pub origin: Origin,
    pub message: String,
}

impl WalkError {
    /// The two lines Apache prints for it at startup.
    pub fn apache_text(&self) -> String {
        format!(
            "AH00526: Syntax error on line {} of {}:\n{}",
            self.origin.line, self.origin.file, self.message
        )
    }
}

/// Applies the config trees to `cfg` (whose `read` state the read pass filled), in order, as
/// one walk (Apache walks `-C` lines, the main file and `-c` lines as one tree).
pub fn apply(cfg: &mut Config, parts: &[&[Node]]) -> Result<(), WalkError> {
    if cfg.servers.is_empty() {
        cfg.servers.push(Server::default());
    }
    let Some(first) = parts.iter().find_map(|p| p.first()) else {
        return Ok(());
    };
    let mut cmd = Cmd::top_level(cfg, first);
    parts.iter().try_for_each(|part| walk(&mut cmd, part))
}

/// What a `.htaccess` file applies: its per-directory settings, its sections, and what reading
/// it warned of.
pub type AppliedHtaccess = (
    crate::model::DirConf,
    Vec<crate::model::Section>,
    Vec<crate::model::Warning>,
);

/// Applies an `.htaccess` tree for directory `dir` with the classes its AllowOverride permits
/// (`OR_*` bits, with `NONFATAL_*`), returning the settings and any `<Files>` sections it holds.
/// `read` supplies the loaded modules. Errors are Apache's texts; the caller answers 500.
pub fn apply_htaccess(
    read: &crate::model::ReadState,
    nodes: &[Node],
    dir: &str,
    allow_override: u32,
    override_list: &[String],
) -> Result<AppliedHtaccess, (WalkError, Vec<crate::model::Warning>)> {
    let mut scratch = Config {
        read: crate::model::ReadState {
            modules: read.modules.clone(),
            server_root: read.server_root.clone(),
            ..Default::default()
        },
        servers: vec![Server::default()],
        ..Default::default()
    };
    let walked = match nodes.first() {
        None => Ok(()),
        Some(first) => {
            let mut cmd = Cmd {
                override_bits: allow_override,
                path: Some(dir.to_string()),
                htaccess: true,
                override_list: override_list.to_vec(),
                ..Cmd::top_level(&mut scratch, first)
            };
            walk(&mut cmd, nodes)
        }
    };
    // What the lines before a bad one warned of was said before the error, as Apache reads
    // line by line.
    if let Err(err) = walked {
        return Err((err, scratch.warnings));
    }
    let server = scratch.servers.swap_remove(0);
    Ok((server.dir, server.sections, scratch.warnings))
}

/// Applies each node in turn; used for the top level and for every section body.
pub fn walk<'n>(cmd: &mut Cmd<'_, 'n>, nodes: &'n [Node]) -> Result<(), WalkError> {
    for node in nodes {
        let def = match node.known_id {
            Some(id) => crate::lookup::by_id(id),
            None => find_loaded(&cmd.cfg.read.modules, &node.name),
        };
        let Some(def) = def else {
            if cmd.htaccess && cmd.override_bits & NONFATAL_UNKNOWN != 0 {
                let text = format!(
                    "AH02296: Unknown directive {} perhaps misspelled or defined by a module not included in the server configuration",
                    node.name.to_ascii_lowercase()
                );
                cmd.cfg.warnings.push(crate::model::Warning {
                    module: "core",
                    level: "warn",
                    startup: false,
                    text,
                });
                continue;
            }
            return Err(WalkError {
                origin: Origin { file: node.file.clone(), line: node.line },
                message: format!(
                    "Invalid command '{}', perhaps misspelled or defined by a module not included in the server configuration",
                    node.name
                ),
            });
        };
        if def.req_override & EXEC_ON_READ != 0 {
            continue;
        }
        let (saved_node, saved_def) = (cmd.node, cmd.def);
        cmd.node = node;
        cmd.def = def;
        let result = invoke(cmd, node);
        cmd.node = saved_node;
        cmd.def = saved_def;
        if let Err(message) = result {
            let origin = cmd.inner_error.take().unwrap_or(Origin {
                file: node.file.clone(),
                line: node.line,
            });
            return Err(WalkError { origin, message });
        }
    }
    Ok(())
}

/// Apache's `invoke_cmd`: context check, then words by arity, then the setter.
fn invoke(cmd: &mut Cmd, node: &Node) -> SetResult {
    let def = cmd.def;
    let listed = cmd.htaccess
        && cmd
            .override_list
            .iter()
            .any(|name| name.eq_ignore_ascii_case(def.name));
    if cmd.override_bits & def.req_override == 0 && !listed {
        if cmd.htaccess && cmd.override_bits & NONFATAL_OVERRIDE != 0 {
            let text = format!(
                "AH02295: {} in .htaccess forbidden by AllowOverride",
                def.name
            );
            cmd.cfg.warnings.push(crate::model::Warning {
                module: "core",
                level: "warn",
                startup: false,
                text,
            });
            return Ok(());
        }
        return Err(match cmd.parents.last() {
            Some(parent) => format!("{} not allowed in {}> context", def.name, parent),
            None => format!("{} not allowed here", def.name),
        });
    }
    // The words are counted before the handler checks where it stands, as Apache's
    // invoke_cmd does before calling the handler that calls ap_check_cmd_context.
    let words = split_args(def, &node.args)?;
    if def.forbidden != 0 && !def.forbid_in_setter {
        cmd.check_context(def.forbidden)?;
    }
    cmd.note_pending();
    match (def.args, words) {
        (Args::Raw(set), Words::Raw(raw)) => set(cmd, raw),
        (Args::Argv(set), Words::List(argv)) => {
            let argv: Vec<String> = argv.into_iter().map(Cow::into_owned).collect();
            set(cmd, &argv)
        }
        (Args::NoArgs(set), _) => set(cmd),
        (Args::Take1(set), Words::Fixed([Some(a), _, _])) => set(cmd, &a),
        (Args::Take2(set), Words::Fixed([Some(a), Some(b), _])) => set(cmd, &a, &b),
        (Args::Take12(set), Words::Fixed([Some(a), b, _])) => set(cmd, &a, b.as_deref()),
        (Args::Take3(set), Words::Fixed([Some(a), Some(b), Some(c)])) => set(cmd, &a, &b, &c),
        (Args::Take23(set), Words::Fixed([Some(a), Some(b), c])) => set(cmd, &a, &b, c.as_deref()),
        (Args::Take123(set) | Args::Take13(set), Words::Fixed([Some(a), b, c])) => {
            set(cmd, &a, b.as_deref(), c.as_deref())
        }
        (Args::Iterate(set), Words::List(words)) => words.iter().try_for_each(|w| set(cmd, w)),
        (Args::Iterate2(set), Words::Keyed(key, words)) => {
            words.iter().try_for_each(|w| set(cmd, &key, w))
        }
        (Args::Flag(set), Words::Flag(on)) => set(cmd, on),
        _ => Err(format!("{} has an internal arity mismatch", def.name)),
    }
}

/// A directive's words, split and counted the way its arity class demands.
/// Words borrow from the argument text unless an escape had to be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Words<'a> {
    Raw(&'a str),
    /// TAKE_ARGV words, or ITERATE words up to the first empty one.
    List(Vec<Cow<'a, str>>),
    /// TAKE1 .. TAKE123: present words in order (NO_ARGS gives none).
    Fixed([Option<Cow<'a, str>>; 3]),
    /// ITERATE2: the first word and the rest.
    Keyed(Cow<'a, str>, Vec<Cow<'a, str>>),
    Flag(bool),
}

/// Apache's `invoke_cmd` word handling: splits `args` for `def` and produces its arity
/// error text (with the help line appended) when the count is wrong.
pub fn split_args<'a>(def: &DirectiveDef, args: &'a str) -> Result<Words<'a>, String> {
    let name = def.name;
    let count_error = |text: &str| -> String {
        if def.help.is_empty() {
            format!("{name} {text}")
        } else {
            format!("{name} {text}, {}", def.help)
        }
    };
    let mut rest = args;
    let mut word = || getword_conf(&mut rest);
    let words = match def.args {
        Args::Raw(_) => Words::Raw(args),
        Args::Argv(_) => {
            let mut argv = Vec::new();
            let mut rest = args;
            loop {
                let w = getword_conf(&mut rest);
                if w.is_empty() && rest.is_empty() {
                    break;
                }
                argv.push(w);
                if argv.len() >= 64 || rest.is_empty() {
                    break;
                }
            }
            Words::List(argv)
        }
        Args::NoArgs(_) => {
            if !args.is_empty() {
                return Err(format!("{name} takes no arguments"));
            }
            Words::Fixed([None, None, None])
        }
        Args::Take1(_) => {
            let w = word();
            if w.is_empty() || !rest.is_empty() {
                return Err(count_error("takes one argument"));
            }
            Words::Fixed([Some(w), None, None])
        }
        Args::Take2(_) => {
            let (w, w2) = (word(), word());
            if w.is_empty() || w2.is_empty() || !rest.is_empty() {
                return Err(count_error("takes two arguments"));
            }
            Words::Fixed([Some(w), Some(w2), None])
        }
        Args::Take12(_) => {
            let (w, w2) = (word(), word());
            if w.is_empty() || !rest.is_empty() {
                return Err(count_error("takes 1-2 arguments"));
            }
            Words::Fixed([Some(w), (!w2.is_empty()).then_some(w2), None])
        }
        Args::Take3(_) => {
            let (w, w2, w3) = (word(), word(), word());
            if w.is_empty() || w2.is_empty() || w3.is_empty() || !rest.is_empty() {
                return Err(count_error("takes three arguments"));
            }
            Words::Fixed([Some(w), Some(w2), Some(w3)])
        }
        Args::Take23(_) => {
            let (w, w2) = (getword_conf(&mut rest), getword_conf(&mut rest));
            let w3 = (!rest.is_empty()).then(|| getword_conf(&mut rest));
            if w.is_empty() || w2.is_empty() || !rest.is_empty() {
                return Err(count_error("takes two or three arguments"));
            }
            Words::Fixed([Some(w), Some(w2), w3])
        }
        Args::Take123(_) | Args::Take13(_) => {
            let w = getword_conf(&mut rest);
            let w2 = (!rest.is_empty()).then(|| getword_conf(&mut rest));
            let w3 = (!rest.is_empty()).then(|| getword_conf(&mut rest));
            let take13 = matches!(def.args, Args::Take13(_));
            let bad13 = take13 && w2.as_deref().is_some_and(|s| !s.is_empty()) && w3.is_none();
            if w.is_empty() || bad13 || !rest.is_empty() {
                return Err(count_error(if take13 {
                    "takes one or three arguments"
                } else {
                    "takes one, two or three arguments"
                }));
            }
            Words::Fixed([Some(w), w2, w3])
        }
        Args::Iterate(_) => {
            let mut words = Vec::new();
            loop {
                let w = word();
                if w.is_empty() {
                    break;
                }
                words.push(w);
            }
            if words.is_empty() {
                return Err(count_error("requires at least one argument"));
            }
            Words::List(words)
        }
        Args::Iterate2(_) => {
            let key = getword_conf(&mut rest);
            if key.is_empty() || rest.is_empty() {
                return Err(count_error("requires at least two arguments"));
            }
            let mut words = Vec::new();
            loop {
                let w = getword_conf(&mut rest);
                if w.is_empty() {
                    break;
                }
                words.push(w);
            }
            Words::Keyed(key, words)
        }
        Args::Flag(_) => match word().to_ascii_lowercase().as_str() {
            "on" => Words::Flag(true),
            "off" => Words::Flag(false),
            _ => return Err(format!("{name} must be On or Off")),
        },
    };
    Ok(words)
}

/// How a section changes the context for its body.
pub struct SectionScope {
    pub override_bits: u32,
    pub path: Option<String>,
    pub limited: bool,
}

/// Walks a section's children inside `section` (already filled with kind and pattern), then
/// files the finished section under its parent section or the server.
pub fn walk_section(cmd: &mut Cmd, section: Section, scope: SectionScope) -> SetResult {
    let node = cmd.node;
    let saved = (cmd.override_bits, cmd.path.clone(), cmd.limited);
    cmd.override_bits = scope.override_bits;
    cmd.path = scope.path;
    cmd.limited = scope.limited;
    cmd.parents.push(cmd.def.name);
    cmd.open_sections.push(section);
    let result = walk(cmd, node.children());
    cmd.parents.pop();
    let finished = cmd.open_sections.pop();
    (cmd.override_bits, cmd.path, cmd.limited) = saved;
    if let Err(err) = result {
        cmd.inner_error = Some(err.origin);
        return Err(err.message);
    }
    if let Some(finished) = finished {
        match cmd.open_sections.last_mut() {
            Some(parent) => parent.nested.push(finished),
            None => cmd.server().sections.push(finished),
        }
    }
    Ok(())
}

/// Walks a `<VirtualHost>` body as a new server.
pub fn walk_virtual_host(cmd: &mut Cmd, server: Server) -> SetResult {
    let node = cmd.node;
    cmd.cfg.servers.push(server);
    let saved = cmd.server;
    cmd.server = cmd.cfg.servers.len() - 1;
    cmd.parents.push(cmd.def.name);
    let result = walk(cmd, node.children());
    cmd.parents.pop();
    cmd.server = saved;
    result.map_err(|err| {
        cmd.inner_error = Some(err.origin);
        err.message
    })
}

/// Walks the body of a provider alias (`<AuthnProviderAlias>`, `<AuthzProviderAlias>`) into
/// a per-directory config of its own, as Apache gives each alias one, with the directives
/// `override_bits` permits; returns the typed configurations the body wrote, for the
/// container's setter to give the alias.
pub fn walk_alias_body(
    cmd: &mut Cmd,
    override_bits: u32,
) -> Result<crate::model::ModuleConfigs, String> {
    let outer = cmd.body.replace(crate::model::DirConf::default());
    let result = walk_in_place_with(cmd, override_bits, false);
    let body = std::mem::replace(&mut cmd.body, outer).unwrap_or_default();
    result?;
    Ok(body.modules)
}

/// Walks a `<Limit>`-style body in place: same section, access directives marked limited.
pub fn walk_in_place(cmd: &mut Cmd, limited: bool) -> SetResult {
    let override_bits = cmd.override_bits;
    walk_in_place_with(cmd, override_bits, limited)
}

/// Walks a body in place with a narrower set of permitted directives (authz containers allow
/// only `OR_AUTHCFG` ones, provider aliases `OR_AUTHCFG | ACCESS_CONF`).
pub fn walk_in_place_with(cmd: &mut Cmd, override_bits: u32, limited: bool) -> SetResult {
    let node = cmd.node;
    let saved = (cmd.limited, cmd.override_bits);
    cmd.limited = limited;
    cmd.override_bits = override_bits;
    cmd.parents.push(cmd.def.name);
    let result = walk(cmd, node.children());
    cmd.parents.pop();
    (cmd.limited, cmd.override_bits) = saved;
    result.map_err(|err| {
        cmd.inner_error = Some(err.origin);
        err.message
    })
}
