//! The command line: one registry of flags drives parsing, the `-h` usage text and the man
//! page's OPTIONS section, with Apache's option letters, output and exit codes.

/// One command-line flag.
pub struct FlagDef {
    pub letter: char,
    /// The name of its value (`name`, `directory`), if it takes one.
    pub value: Option<&'static str>,
    /// The rows it adds to the `Options:` part of the usage text.
    pub usage: &'static [(&'static str, &'static str)],
    /// Its paragraph in the man page.
    pub man: &'static str,
}

/// Every flag. The usage rows come out in Apache's order; the `-t` family's rows sit with the
/// flags that print beside them there (`-t -D DUMP_INCLUDES` and `-t` follow `-M`).
pub const FLAGS: &[FlagDef] = &[
    FlagDef { letter: 'D', value: Some("name"), usage: &[("-D name", "define a name for use in <IfDefine name> directives")], man: "Defines a name (without a value) for <IfDefine>, as a Define line does. DUMP_VHOSTS, DUMP_RUN_CFG, DUMP_MODULES and DUMP_INCLUDES select the dump modes of -t; FOREGROUND and NO_DETACH keep the server in the foreground." },
    FlagDef { letter: 'd', value: Some("directory"), usage: &[("-d directory", "specify an alternate initial ServerRoot")], man: "Sets the initial ServerRoot; relative -f paths and Include paths are taken from it." },
    FlagDef { letter: 'f', value: Some("file"), usage: &[("-f file", "specify an alternate ServerConfigFile")], man: "Reads this configuration file instead of the compiled-in default. A relative path is relative to ServerRoot, not to the working directory." },
    FlagDef { letter: 'C', value: Some("\"directive\""), usage: &[("-C \"directive\"", "process directive before reading config files")], man: "Processes the directive before the main configuration file (so -C \"ServerRoot /x\" moves the default config)." },
    FlagDef { letter: 'c', value: Some("\"directive\""), usage: &[("-c \"directive\"", "process directive after reading config files")], man: "Processes the directive after the main configuration file and after the MPM check." },
    FlagDef { letter: 'e', value: Some("level"), usage: &[("-e level", "show startup errors of level (see LogLevel)")], man: "Shows startup messages of this LogLevel and above." },
    FlagDef { letter: 'E', value: Some("file"), usage: &[("-E file", "log startup errors to file")], man: "Sends startup messages to this file instead of standard error." },
    FlagDef { letter: 'v', value: None, usage: &[("-v", "show version number")], man: "Prints the version (rhttpd reports itself as Apache/2.4.71-compatible) and exits." },
    FlagDef { letter: 'V', value: None, usage: &[("-V", "show compile settings")], man: "Prints the version and the compile-time settings, reading the configuration to report the MPM it selects." },
    FlagDef { letter: 'h', value: None, usage: &[("-h", "list available command line options (this page)")], man: "Prints the usage text and exits with status 1, as Apache does." },
    FlagDef { letter: 'l', value: None, usage: &[("-l", "list compiled in modules")], man: "Lists the statically compiled modules, then the MPM source name (event.c, worker.c or prefork.c) the configuration selects." },
    FlagDef { letter: 'L', value: None, usage: &[("-L", "list available configuration directives")], man: "Lists every directive of the loaded modules with its help line and where it is allowed." },
    FlagDef { letter: 't', value: None, usage: &[
        ("-t -D DUMP_VHOSTS", "show parsed vhost settings"),
        ("-t -D DUMP_RUN_CFG", "show parsed run settings"),
    ], man: "Checks the configuration and prints \"Syntax OK\" to standard error, or the error with its file and line and exits 1. With -D DUMP_VHOSTS, DUMP_RUN_CFG, DUMP_MODULES or DUMP_INCLUDES it prints that report instead." },
    FlagDef { letter: 'S', value: None, usage: &[("-S", "a synonym for -t -D DUMP_VHOSTS -D DUMP_RUN_CFG")], man: "Prints the virtual host table and the run settings (-t -D DUMP_VHOSTS -D DUMP_RUN_CFG)." },
    FlagDef { letter: 'M', value: None, usage: &[
        ("-t -D DUMP_MODULES", "show all loaded modules "),
        ("-M", "a synonym for -t -D DUMP_MODULES"),
        ("-t -D DUMP_INCLUDES", "show all included configuration files"),
        ("-t", "run syntax check for config files"),
    ], man: "Lists the loaded modules, static ones first, then those switched on by LoadModule (-t -D DUMP_MODULES)." },
    FlagDef { letter: 'T', value: None, usage: &[("-T", "start without DocumentRoot(s) check")], man: "Skips the check that the main DocumentRoot exists." },
    FlagDef { letter: 'X', value: None, usage: &[("-X", "debug mode (only one worker, do not detach)")], man: "Runs one process with one worker in the foreground (defines DEBUG)." },
    FlagDef { letter: 'k', value: Some("start|restart|graceful|graceful-stop|stop"), usage: &[], man: "Signals the server named by PidFile: start, stop (SIGTERM), restart (SIGHUP), graceful (SIGUSR1) or graceful-stop (SIGWINCH)." },
];

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Run,
    Version,
    CompileSettings,
    ListModules,
    ListDirectives,
    Test,
    /// `-h`, an unknown option, or a bad value: print usage, exit 1 (`Some(c)`: illegal `-c`).
    Usage(Option<String>),
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub program: String,
    pub mode: Mode,
    pub defines: Vec<String>,
    pub server_root: Option<String>,
    pub config_file: Option<String>,
    pub pre_directives: Vec<String>,
    pub post_directives: Vec<String>,
    pub error_level: Option<String>,
    pub error_file: Option<String>,
    pub skip_docroot_check: bool,
    pub signal: Option<String>,
}

const SIGNAL_VERBS: &[&str] = &["start", "restart", "graceful", "graceful-stop", "stop"];

impl Cli {
    /// Parses `args` (without the program name) like Apache's `apr_getopt` loop.
    pub fn parse(program: &str, args: &[String]) -> Cli {
        let mut cli = Cli {
            program: program.to_string(),
            mode: Mode::Run,
            defines: Vec::new(),
            server_root: None,
            config_file: None,
            pre_directives: Vec::new(),
            post_directives: Vec::new(),
            error_level: None,
            error_file: None,
            skip_docroot_check: false,
            signal: None,
        };
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
                cli.mode = Mode::Usage(None);
                return cli;
            };
            for (at, letter) in letters.char_indices() {
                let Some(flag) = FLAGS.iter().find(|f| f.letter == letter) else {
                    cli.mode = Mode::Usage(Some(letter.to_string()));
                    return cli;
                };
                let value = if flag.value.is_some() {
                    let attached = &letters[at + letter.len_utf8()..];
                    let value = if !attached.is_empty() {
                        attached.to_string()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        cli.mode = Mode::Usage(None);
                        return cli;
                    };
                    Some(value)
                } else {
                    None
                };
                if !cli.apply(letter, value.clone()) {
                    return cli;
                }
                if value.is_some() {
                    break;
                }
            }
        }
        cli
    }

    /// Applies one flag; false stops parsing (usage error).
    fn apply(&mut self, letter: char, value: Option<String>) -> bool {
        let value = value.unwrap_or_default();
        match letter {
            'D' => self.defines.push(value),
            'd' => self.server_root = Some(value),
            'f' => self.config_file = Some(value),
            'C' => self.pre_directives.push(value),
            'c' => self.post_directives.push(value),
            'e' => {
                if crate::startup::level_index(&value).is_none() {
                    self.mode = Mode::Usage(None);
                    return false;
                }
                self.error_level = Some(value);
            }
            'E' => self.error_file = Some(value),
            'v' => self.mode = Mode::Version,
            'V' => self.mode = Mode::CompileSettings,
            'h' => {
                self.mode = Mode::Usage(None);
                return false;
            }
            'l' => self.mode = Mode::ListModules,
            'L' => self.mode = Mode::ListDirectives,
            't' => self.mode = Mode::Test,
            'T' => self.skip_docroot_check = true,
            'S' => {
                self.mode = Mode::Test;
                self.defines.push("DUMP_VHOSTS".into());
                self.defines.push("DUMP_RUN_CFG".into());
            }
            'M' => {
                self.mode = Mode::Test;
                self.defines.push("DUMP_MODULES".into());
            }
            'X' => self.defines.push("DEBUG".into()),
            'k' => {
                if !SIGNAL_VERBS.contains(&value.as_str()) {
                    self.mode = Mode::Usage(None);
                    return false;
                }
                self.signal = Some(value);
            }
            _ => {}
        }
        true
    }
}

/// The usage text Apache prints for `-h` and bad options (to standard error).
pub fn usage(program: &str) -> String {
    let pad = " ".repeat(program.len() + 8);
    let mut out = format!("Usage: {program} [-D name] [-d directory] [-f file]\n");
    out.push_str(&format!("{pad}[-C \"directive\"] [-c \"directive\"]\n"));
    out.push_str(&format!(
        "{pad}[-k start|restart|graceful|graceful-stop|stop]\n"
    ));
    out.push_str(&format!(
        "{pad}[-v] [-V] [-h] [-l] [-L] [-t] [-T] [-S] [-X]\n"
    ));
    out.push_str("Options:\n");
    for flag in FLAGS {
        for (left, right) in flag.usage {
            // Apache's table is fixed-width; a left column that fills it loses the blank.
            if left.len() >= 19 {
                out.push_str(&format!("  {left}: {right}\n"));
            } else {
                out.push_str(&format!("  {left:<18} : {right}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::parse(
            "rhttpd",
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn flags_combine_and_take_values_like_getopt() {
        let cli = parse(&["-tS", "-Dfoo", "-f", "x.conf", "-C", "Define A"]);
        assert_eq!(cli.mode, Mode::Test);
        assert_eq!(cli.defines, ["DUMP_VHOSTS", "DUMP_RUN_CFG", "foo"]);
        assert_eq!(cli.config_file.as_deref(), Some("x.conf"));
        assert_eq!(cli.pre_directives, ["Define A"]);
    }

    #[test]
    fn unknown_option_and_bad_signal_give_usage() {
        assert_eq!(parse(&["-Q"]).mode, Mode::Usage(Some("Q".into())));
        assert_eq!(parse(&["-k", "bogus"]).mode, Mode::Usage(None));
        assert_eq!(parse(&["stray"]).mode, Mode::Usage(None));
    }
}
