//! mod_userdir, whole: the UserDir directive (its table row, setter and typed per-server
//! configuration with Apache's merge) and its translation of `/~user/...` URLs: to a
//! directory in the user's home, under an absolute path, through a `*` pattern, or a redirect
//! to a URL, trying each alternative of the line in turn. It runs after mod_alias and before
//! mod_vhost_alias, as Apache orders them; it must not touch requests for other URLs.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::RSRC_CONF;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "userdir_module",
    source: "mod_userdir.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "UserDir",
    Raw(set_user_dir),
    RSRC_CONF,
    "the public subdirectory in users' home directories, or 'disabled', or 'disabled \
     username username...', or 'enabled username username...'",
)
.implemented()];

/// What a bare `UserDir disabled` or `UserDir enabled` said (Apache's O_DEFAULT when neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    Enabled,
    Disabled,
}

/// mod_userdir's per-server configuration, as Apache keeps it.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// Whether a UserDir line of this server wrote the configuration: a virtual host with
    /// none shares the main server's whole (user lists included), as Apache creates a
    /// server's configuration only when one of its directives runs.
    pub written: bool,
    /// A bare `UserDir disabled` (or `enabled`, which undoes an inherited one).
    pub global: Option<Global>,
    /// The last UserDir line that was not a keyword, whole: its words are the alternatives,
    /// split as each request reads them. None (Apache's default): no user directories at all.
    pub userdir: Option<String>,
    /// `UserDir enabled NAME...`: served even under a bare `UserDir disabled`.
    pub enabled_users: Vec<String>,
    /// `UserDir disabled NAME...`: never served.
    pub disabled_users: Vec<String>,
}

impl DirConfig for ServerConf {
    /// A virtual host with UserDir lines keeps what it sets of the switch and the
    /// alternatives, inheriting the rest, and only its own user lists (Apache does not merge
    /// them); one without any takes the main server's as they are.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        if !vhost.written {
            return self.clone();
        }
        ServerConf {
            written: true,
            global: vhost.global.or(self.global),
            userdir: vhost.userdir.clone().or_else(|| self.userdir.clone()),
            enabled_users: vhost.enabled_users.clone(),
            disabled_users: vhost.disabled_users.clone(),
        }
    }
}

/// Whether a user list holds `user` (an APR table's keys compare without regard to case).
fn listed(list: &[String], user: &str) -> bool {
    list.iter().any(|name| name.eq_ignore_ascii_case(user))
}

/// UserDir: `disabled`/`enabled` (any case, `disable`/`enable` too) alone switch user
/// directories off or on for the server; followed by names they list users; anything else
/// is the list of alternatives, kept whole.
fn set_user_dir(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server_config::<ServerConf>().written = true;
    let mut rest = arg;
    let keyword = rhttpd_parser::getword_conf(&mut rest).into_owned();
    if keyword.is_empty() {
        return Err("UserDir requires an argument.".into());
    }
    let enable = match keyword.to_ascii_lowercase().as_str() {
        "disable" | "disabled" => false,
        "enable" | "enabled" => true,
        _ => {
            cmd.server_config::<ServerConf>().userdir = Some(arg.to_string());
            return Ok(());
        }
    };
    let conf = cmd.server_config::<ServerConf>();
    if rest.is_empty() {
        conf.global = Some(if enable {
            Global::Enabled
        } else {
            Global::Disabled
        });
        return Ok(());
    }
    let list = if enable {
        &mut conf.enabled_users
    } else {
        &mut conf.disabled_users
    };
    while !rest.is_empty() {
        let name = rhttpd_parser::getword_conf(&mut rest).into_owned();
        if !listed(list, &name) {
            list.push(name);
        }
    }
    Ok(())
}

/// mod_userdir's hook: translation, after mod_alias's and before mod_vhost_alias's (all three
/// at the middle; `modules::HOOKS` lists them in that order).
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .translate_name
        .add("userdir", Order::Middle, translate_name);
}

/// What one alternative of the line makes of a user's URL.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A file path, before the rest of the URL is added.
    Path(Vec<u8>),
    /// A redirect to this URL (the rest of the URL included).
    Redirect(Vec<u8>),
    /// Nothing (a relative directory of a user who has no home).
    Nothing,
}

/// One alternative applied, as mod_userdir reads it: a `*` splits it into what comes before
/// (the prefix) and after; an absolute one, or one ending at its `*`, is a path (`/dir` gives
/// `/dir/user`, `/a/*/b` gives `/a/user/b`) or, when the prefix holds a `:` and the whole is
/// not absolute, a URL to redirect to; a relative one with a URL prefix redirects to the
/// prefix and the user only; any other relative one is a directory in the user's home.
fn apply(
    alternative: &str,
    user: &[u8],
    rest: &[u8],
    home: impl Fn() -> Option<Vec<u8>>,
) -> Target {
    let absolute = alternative.starts_with('/');
    let (prefix, after) = match alternative.split_once('*') {
        Some((prefix, after)) => (Some(prefix), after),
        None => (None, alternative),
    };
    let join = |parts: &[&[u8]]| parts.concat();
    if after.is_empty() || absolute {
        return match prefix {
            Some(prefix) if prefix.contains(':') && !absolute => {
                Target::Redirect(join(&[prefix.as_bytes(), user, after.as_bytes(), rest]))
            }
            Some(prefix) => Target::Path(join(&[prefix.as_bytes(), user, after.as_bytes()])),
            None => Target::Path(join(&[after.as_bytes(), b"/", user])),
        };
    }
    if let Some(prefix) = prefix.filter(|p| p.contains(':')) {
        return Target::Redirect(join(&[prefix.as_bytes(), user, rest]));
    }
    match home() {
        Some(home) => Target::Path(join(&[&home, b"/", after.as_bytes()])),
        None => Target::Nothing,
    }
}

/// The user a `/~user...` path names and the rest of it from its `/` on; `None` for any
/// other path, for `/~` and `/~/...`, and for the users `.` and `..` (Debian's build skips
/// exactly these; the 2.4 source looks one character further, at `x.` and `x..`).
fn split_user_path(uri: &[u8]) -> Option<(&[u8], &[u8])> {
    let after = uri.strip_prefix(b"/~")?;
    let end = after.iter().position(|&b| b == b'/').unwrap_or(after.len());
    let (user, rest) = after.split_at(end);
    if matches!(user, b"" | b"." | b"..") {
        return None;
    }
    Some((user, rest))
}

/// translate_name: a `/~user` URL under the server's UserDir, unless the user is disabled
/// (by name, or by a bare `UserDir disabled` that does not list them as enabled). Each
/// alternative's directory must exist to be taken, but the last one's is taken as it is.
fn translate_name(req: &mut Request) -> Step<Option<PathBuf>> {
    let conf = req.ctx().runtime.module::<ServerConf>();
    let Some(alternatives) = conf.userdir.as_deref() else {
        return Ok(None);
    };
    let uri = req.received_uri(&req.uri).to_vec();
    let Some((user, rest)) = split_user_path(&uri) else {
        return Ok(None);
    };
    let user_text = String::from_utf8_lossy(user).into_owned();
    if listed(&conf.disabled_users, &user_text) {
        return Ok(None);
    }
    if conf.global == Some(Global::Disabled) && !listed(&conf.enabled_users, &user_text) {
        return Ok(None);
    }
    let mut words = alternatives;
    while !words.is_empty() {
        let alternative = rhttpd_parser::getword_conf(&mut words).into_owned();
        let base = match apply(&alternative, user, rest, || crate::sys::home_dir_of(user)) {
            Target::Redirect(location) => {
                let location = String::from_utf8_lossy(&location).into_owned();
                req.headers_out.set("Location", location);
                return Err(302);
            }
            Target::Path(base) => base,
            Target::Nothing => continue,
        };
        let base_path = PathBuf::from(OsString::from_vec(base.clone()));
        // The last alternative is taken whether or not its directory exists (a handler may
        // answer for it, a CGI script say).
        if words.is_empty() || std::fs::metadata(&base_path).is_ok() {
            let prefix = String::from_utf8_lossy(&uri[..uri.len() - rest.len()]).into_owned();
            let root = String::from_utf8_lossy(&base).into_owned();
            req.context_info = Some((prefix, root));
            let filename = [base.as_slice(), rest].concat();
            return Ok(Some(PathBuf::from(OsString::from_vec(filename))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> ServerConf {
        let cfg = crate::modules::test_config(text);
        let runtime = crate::modules::ServerRuntime::compile(&cfg.servers[0]);
        runtime.module::<ServerConf>().into_owned()
    }

    #[test]
    fn keywords_switch_or_list_users_and_anything_else_is_the_alternatives() {
        let conf = server(
            "UserDir public_html \"/srv/*/www\"\n\
             UserDir Disabled\n\
             UserDir enable root \"www-data\"\n\
             UserDir disabled nobody\n",
        );
        assert_eq!(conf.userdir.as_deref(), Some("public_html \"/srv/*/www\""));
        assert_eq!(conf.global, Some(Global::Disabled));
        assert_eq!(conf.enabled_users, ["root", "www-data"]);
        assert_eq!(conf.disabled_users, ["nobody"]);
        // A keyword not first is one more alternative (a directory named "disabled").
        let conf = server("UserDir public_html disabled\n");
        assert_eq!(conf.userdir.as_deref(), Some("public_html disabled"));
        assert_eq!(conf.global, None);
    }

    #[test]
    fn a_virtual_host_with_its_own_line_inherits_the_alternatives_but_not_the_user_lists() {
        let main = ServerConf {
            written: true,
            global: Some(Global::Disabled),
            userdir: Some("public_html".into()),
            enabled_users: vec!["root".into()],
            disabled_users: vec!["nobody".into()],
        };
        let silent = main.merge(&ServerConf::default());
        assert_eq!(silent.disabled_users, ["nobody"]);
        let own = ServerConf {
            written: true,
            ..ServerConf::default()
        };
        let merged = main.merge(&own);
        assert_eq!(merged.global, Some(Global::Disabled));
        assert_eq!(merged.userdir.as_deref(), Some("public_html"));
        assert!(merged.enabled_users.is_empty() && merged.disabled_users.is_empty());
        let enabled = ServerConf {
            written: true,
            global: Some(Global::Enabled),
            ..ServerConf::default()
        };
        assert_eq!(main.merge(&enabled).global, Some(Global::Enabled));
    }

    #[test]
    fn user_paths_split_as_apache_reads_them() {
        assert_eq!(
            split_user_path(b"/~bob/a/b"),
            Some((&b"bob"[..], &b"/a/b"[..]))
        );
        assert_eq!(split_user_path(b"/~bob"), Some((&b"bob"[..], &b""[..])));
        assert_eq!(split_user_path(b"/~"), None);
        assert_eq!(split_user_path(b"/~/x"), None);
        assert_eq!(split_user_path(b"/bob"), None);
        assert_eq!(split_user_path(b"/~.."), None);
        assert_eq!(split_user_path(b"/~./x"), None);
        assert!(split_user_path(b"/~a.").is_some());
        assert!(split_user_path(b"/~...").is_some());
    }

    #[test]
    fn each_form_of_an_alternative_maps_as_apache_does() {
        let home = || Some(b"/home/bob".to_vec());
        let none = || None;
        let path = |p: &str| Target::Path(p.as_bytes().to_vec());
        let url = |p: &str| Target::Redirect(p.as_bytes().to_vec());
        assert_eq!(
            apply("public_html", b"bob", b"/x", home),
            path("/home/bob/public_html")
        );
        assert_eq!(apply("public_html", b"bob", b"/x", none), Target::Nothing);
        assert_eq!(apply("/srv/www", b"bob", b"/x", none), path("/srv/www/bob"));
        assert_eq!(
            apply("/srv/*/www", b"bob", b"/x", none),
            path("/srv/bob/www")
        );
        assert_eq!(apply("/srv/*", b"bob", b"/x", none), path("/srv/bob"));
        assert_eq!(apply("pre*", b"bob", b"/x", none), path("prebob"));
        assert_eq!(
            apply("http://h/~*", b"bob", b"/x", none),
            url("http://h/~bob/x")
        );
        assert_eq!(
            apply("http://h/*/pub", b"bob", b"/x", none),
            url("http://h/bob/x")
        );
        // Absolute, so a path even with a colon.
        assert_eq!(apply("/a:b/*", b"bob", b"", none), path("/a:b/bob"));
        // A relative one with a `*` and no URL: the part after the star, in the home.
        assert_eq!(apply("dir/*/x", b"bob", b"", home), path("/home/bob//x"));
    }
}
