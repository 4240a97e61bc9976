//! `man/rhttpd.8`, generated from the flag registry and the directive registry; a test fails
//! when the committed page drifts from them (`UPDATE_MAN=1 cargo test manpage` rewrites it).

use rhttpd_directives::context::allowed_text;
use rhttpd_directives::Args;

use crate::modules::REGISTRY as ALL_MODULES;

use crate::build_info::{HTTPD_ROOT, RHTTPD_VERSION, SERVER_CONFIG_FILE};
use crate::cli::FLAGS;

/// Escapes text for troff: backslashes and a leading dot or quote.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The argument shape an arity class accepts, for the SYNTAX line.
fn syntax(args: &Args) -> &'static str {
    match args {
        Args::NoArgs(_) => "",
        Args::Raw(_) => " arguments...",
        Args::Argv(_) => " word...",
        Args::Take1(_) => " value",
        Args::Take2(_) => " value value",
        Args::Take12(_) => " value [value]",
        Args::Take3(_) => " value value value",
        Args::Take23(_) => " value value [value]",
        Args::Take123(_) => " value [value [value]]",
        Args::Take13(_) => " value [value value]",
        Args::Iterate(_) => " value [value] ...",
        Args::Iterate2(_) => " key value [value] ...",
        Args::Flag(_) => " On|Off",
    }
}

/// Defaults worth stating (Apache 2.4's, which rhttpd keeps); a directive not listed has no
/// value until set, or a default that depends on the module's own logic.
const DEFAULTS: &[(&str, &str)] = &[
    ("AcceptPathInfo", "Default"),
    ("AccessFileName", ".htaccess"),
    ("AddDefaultCharset", "Off"),
    ("AllowEncodedSlashes", "Off"),
    ("AllowOverride", "None"),
    ("AsyncRequestWorkerFactor", "2"),
    ("CheckBasenameMatch", "On"),
    ("CheckCaseOnly", "Off"),
    ("CheckSpelling", "Off"),
    ("DirectoryIndex", "index.html"),
    ("DirectorySlash", "On"),
    ("DocumentRoot", "/var/www/html"),
    ("EnableMMAP", "On"),
    ("EnableSendfile", "Off"),
    ("ErrorLog", "logs/error_log"),
    ("ExtendedStatus", "On when mod_status is loaded"),
    ("FileETag", "MTime Size"),
    ("GracefulShutdownTimeout", "0"),
    ("HostnameLookups", "Off"),
    ("KeepAlive", "On"),
    ("KeepAliveTimeout", "5"),
    ("LimitInternalRecursion", "10 10"),
    ("LimitRequestBody", "1073741824"),
    ("LimitRequestFields", "100"),
    ("LimitRequestFieldsize", "8190"),
    ("LimitRequestLine", "8190"),
    ("LimitXMLRequestBody", "1000000"),
    ("ListenBacklog", "511"),
    ("LogLevel", "warn"),
    ("MaxConnectionsPerChild", "0"),
    ("MaxKeepAliveRequests", "100"),
    ("MaxMemFree", "2048"),
    ("MaxRanges", "200"),
    ("MaxRequestWorkers", "256 (prefork), 400 (worker, event)"),
    ("MaxSpareServers", "10"),
    ("MaxSpareThreads", "250"),
    ("MergeSlashes", "On"),
    ("MinSpareServers", "5"),
    ("MinSpareThreads", "75"),
    ("Options", "FollowSymLinks"),
    ("PidFile", "logs/httpd.pid"),
    ("ServerAdmin", "[no address given]"),
    ("ServerLimit", "256 (prefork), 16 (worker, event)"),
    ("ServerSignature", "Off"),
    ("ServerTokens", "Full"),
    ("StartServers", "5 (prefork), 3 (worker, event)"),
    ("ThreadLimit", "64"),
    ("ThreadsPerChild", "25"),
    ("Timeout", "60"),
    ("TraceEnable", "On"),
    ("UseCanonicalName", "Off"),
    ("UserDir", "none (no user directory is mapped)"),
];

/// The whole page.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str(&format!(
        ".TH RHTTPD 8 \"\" \"rhttpd {RHTTPD_VERSION}\" \"System Administration\"\n"
    ));
    out.push_str(
        ".SH NAME\nrhttpd \\- a memory\\-safe drop\\-in replacement for Apache httpd 2.4\n",
    );
    out.push_str(".SH SYNOPSIS\n.B rhttpd\n");
    for flag in FLAGS {
        match flag.value {
            Some(value) => out.push_str(&format!(
                "[\\fB\\-{}\\fR \\fI{}\\fR]\n",
                flag.letter,
                roff(value)
            )),
            None => out.push_str(&format!("[\\fB\\-{}\\fR]\n", flag.letter)),
        }
    }
    out.push_str(".SH DESCRIPTION\n");
    out.push_str(
        "rhttpd reads an Apache httpd 2.4 configuration unchanged: the same directives, sections, \
command line, messages and exit codes. Without \\fB\\-f\\fR it reads ",
    );
    out.push_str(&roff(&format!("{HTTPD_ROOT}/{SERVER_CONFIG_FILE}")));
    out.push_str(", and when that file does not exist an embedded copy of sample\\-httpd.conf.\n");
    out.push_str(".SH OPTIONS\n");
    for flag in FLAGS {
        out.push_str(".TP\n");
        match flag.value {
            Some(value) => out.push_str(&format!(
                ".BI \\-{} \" {}\"\n",
                flag.letter,
                roff(value).replace('"', "\\(dq")
            )),
            None => out.push_str(&format!(".B \\-{}\n", flag.letter)),
        }
        out.push_str(&roff(flag.man));
        out.push('\n');
    }
    out.push_str(".SH DIRECTIVES\n");
    out.push_str(
        "Every directive rhttpd accepts, by module. A module other than the static set is \
switched on by its LoadModule line. Directives marked \\fIpending\\fR are validated and stored but \
have no effect yet.\n",
    );
    for module in ALL_MODULES {
        if module.directives.is_empty() {
            continue;
        }
        out.push_str(&format!(".SS {} ({})\n", module.id, module.source));
        for def in module.directives {
            let name = def.name.trim_start_matches('<');
            let (open, close) = if def.name.starts_with('<') {
                ("<", ">")
            } else {
                ("", "")
            };
            out.push_str(".TP\n");
            out.push_str(&format!(
                ".B {}\n",
                roff(&format!("{open}{name}{}{close}", syntax(&def.args)))
            ));
            if !def.help.is_empty() {
                out.push_str(&roff(def.help));
                out.push_str(".\n.br\n");
            }
            if let Some((_, default)) = DEFAULTS.iter().find(|(name, _)| *name == def.name) {
                out.push_str(&format!("Default: {}.\n.br\n", roff(default)));
            }
            let allowed =
                allowed_text(def.req_override, module.has_dir_config).replace("\n\t", " ");
            out.push_str(&roff(&allowed));
            match def.runtime {
                rhttpd_directives::Runtime::Pending => out.push_str(" (\\fIpending\\fR)"),
                rhttpd_directives::Runtime::Inert(reason) => {
                    out.push_str(&format!(" (\\fIno effect here:\\fR {})", roff(reason)));
                }
                rhttpd_directives::Runtime::Implemented => {}
            }
            out.push('\n');
        }
    }
    out.push_str(".SH SEE ALSO\n.BR apache2 (8),\n.BR httpd (8)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manpage_matches_the_registries() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/rhttpd.8");
        let rendered = render();
        if std::env::var_os("UPDATE_MAN").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == rendered,
            "man/rhttpd.8 drifted from the registries; run UPDATE_MAN=1 cargo test manpage"
        );
    }

    #[test]
    fn every_listed_default_names_a_registered_directive() {
        crate::modules::install_registry();
        for (name, _) in DEFAULTS {
            assert!(
                rhttpd_directives::find_any(name).is_some(),
                "{name} is not a directive"
            );
        }
    }

    #[test]
    fn every_flag_and_directive_is_documented() {
        let page = render();
        for flag in FLAGS {
            assert!(
                page.contains(&format!("\\-{}", flag.letter)),
                "flag -{} missing",
                flag.letter
            );
        }
        for module in ALL_MODULES {
            for def in module.directives {
                assert!(
                    page.contains(&roff(def.name.trim_start_matches('<'))),
                    "{} missing",
                    def.name
                );
            }
        }
    }
}
