//! The HTTP side of the harness: start Debian's apache2 and rhttpd in the foreground on the
//! same configuration and docroot, send both the same raw request bytes, and compare what
//! comes back (normalising only the Date header, and what a case lists with its reason).

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{module_set_lines, rhttpd_bin};

/// One request case of a family file.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub request: Vec<u8>,
    /// Headers whose values may differ, with the reason (`@@ case NAME | normalize Header: why`),
    /// or the parts of one that may (`| mask Header /regex/ why`, kept as `Header /regex/`).
    pub normalize: Vec<String>,
    /// A known divergence: reported, not failed.
    pub divergence: Option<String>,
}

/// A family file: a config template, docroot files, and cases.
#[derive(Debug, Clone, Default)]
pub struct Family {
    pub config: String,
    pub files: Vec<(String, Vec<u8>)>,
    pub cases: Vec<Case>,
}

/// Decodes `\r`, `\n`, `\t`, `\\` and `\xHH` in a request line of a case file.
pub fn unescape(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 4;
                    continue;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The bytes a `NAME.hex` file spells in hex digits (anything else, white space, is skipped).
fn decode_hex(text: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = text
        .iter()
        .filter_map(|&b| (b as char).to_digit(16).map(|d| d as u8))
        .collect();
    digits
        .chunks(2)
        .map(|p| p[0] << 4 | p.get(1).copied().unwrap_or(0))
        .collect()
}

/// Parses a family file (`@@ config`, `@@ file PATH` (a `NAME.FORMAT-dbm.txt` file also
/// becomes the DBM file NAME; a `NAME.hex` file, hex digits, becomes the binary file NAME
/// instead),  `@@ case NAME [| normalize H: why]
/// [| mask H /regex/ why]`,
/// `@@ divergence: why` inside a case; `# ` lines outside blocks are comments).
pub fn parse_family(text: &str) -> Family {
    enum Block {
        None,
        Config,
        File,
        Case,
    }
    let mut family = Family::default();
    let mut block = Block::None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("@@ ") {
            if rest == "config" {
                block = Block::Config;
            } else if let Some(path) = rest.strip_prefix("file ") {
                family.files.push((path.trim().to_string(), Vec::new()));
                block = Block::File;
            } else if let Some(spec) = rest.strip_prefix("case ") {
                let mut parts = spec.split('|');
                let name = parts.next().unwrap_or("").trim().to_string();
                let normalize = parts
                    .filter_map(|p| {
                        let p = p.trim();
                        if let Some(n) = p.strip_prefix("normalize ") {
                            return Some(n.split(':').next().unwrap_or("").trim().to_string());
                        }
                        // `mask NAME /REGEX/ why`: only what the regex matches is blanked.
                        let (name, rest) = p.strip_prefix("mask ")?.split_once(" /")?;
                        let (regex, _) = rest.rsplit_once('/')?;
                        Some(format!("{name} /{regex}/"))
                    })
                    .collect();
                family.cases.push(Case {
                    name,
                    request: Vec::new(),
                    normalize,
                    divergence: None,
                });
                block = Block::Case;
            } else if let Some(reason) = rest.strip_prefix("divergence:") {
                if let Some(case) = family.cases.last_mut() {
                    case.divergence = Some(reason.trim().to_string());
                }
            }
            continue;
        }
        match block {
            Block::None => {}
            Block::Config => {
                family.config.push_str(line);
                family.config.push('\n');
            }
            Block::File => {
                if let Some((_, content)) = family.files.last_mut() {
                    content.extend_from_slice(line.as_bytes());
                    content.push(b'\n');
                }
            }
            Block::Case => {
                if let Some(case) = family.cases.last_mut() {
                    case.request.extend(unescape(line));
                }
            }
        }
    }
    family
}

/// A free loopback port.
pub fn free_port() -> u16 {
    // Never the same port twice in one test binary: tests run in parallel, and a port one
    // test picked and has not bound yet looks free to another, whose server would then fail to
    // bind while the first one's answered its requests.
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
}

/// The text with the port number, where it stands as a whole number, replaced by `<port>`:
/// the two servers listen on different ports, but a body that merely contains the same digits
/// (a file of "0123456789" served while one listens on 4567, an ETag) must still be compared
/// as it is.
pub fn mask_port(text: &str, port: u16) -> String {
    let needle = port.to_string();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(&needle) {
        let end = at + needle.len();
        // Hex digits count as part of a word: an ETag may hold the port's digits.
        let joined_before = at > 0 && bytes[at - 1].is_ascii_alphanumeric();
        let joined_after = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        // A length is never the port, whatever its digits (a 34649-byte body on port 34649).
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let field = &text[line_start..at];
        let a_length = ["Content-Length: ", "Content-Range: "].iter().any(|name| {
            field
                .get(..name.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(name))
        });
        if joined_before || joined_after || a_length {
            continue;
        }
        out.push_str(&text[copied..at]);
        out.push_str("<port>");
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// A server process started for a family, stopped (by pid) on drop.
pub struct Running {
    child: Child,
    pub port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        crate::stop_child(&mut self.child);
    }
}

/// One family's site laid out twice and served at once by apache2 (`theirs`) and rhttpd
/// (`ours`), each on its own port; both stop when dropped (or with [`Pair::stop`]).
pub struct Pair {
    pub their_site: Site,
    pub our_site: Site,
    pub their_port: u16,
    pub our_port: u16,
    servers: Option<(Running, Running)>,
}

impl Pair {
    pub fn start(family: &Family) -> Pair {
        Pair::start_with_env(family, &[])
    }

    /// Both servers with these environment variables added to the test's (`TZ`, say).
    pub fn start_with_env(family: &Family, env: &[(&str, &str)]) -> Pair {
        let (their_port, our_port) = (free_port(), free_port());
        let their_site = make_site(family, their_port);
        let our_site = make_site(family, our_port);
        let theirs = start(Path::new("/usr/sbin/apache2"), &their_site, their_port, env)
            .unwrap_or_else(|e| panic!("{e}"));
        let ours = start(&rhttpd_bin(), &our_site, our_port, env).unwrap_or_else(|e| panic!("{e}"));
        Pair {
            their_site,
            our_site,
            their_port,
            our_port,
            servers: Some((theirs, ours)),
        }
    }

    /// apache2 on one family's site and rhttpd on another's (sites that differ only in what
    /// each server's own backend is, say).
    pub fn start_each(theirs: &Family, ours: &Family) -> Pair {
        let (their_port, our_port) = (free_port(), free_port());
        let their_site = make_site(theirs, their_port);
        let our_site = make_site(ours, our_port);
        let their_server = start(Path::new("/usr/sbin/apache2"), &their_site, their_port, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let our_server =
            start(&rhttpd_bin(), &our_site, our_port, &[]).unwrap_or_else(|e| panic!("{e}"));
        Pair {
            their_site,
            our_site,
            their_port,
            our_port,
            servers: Some((their_server, our_server)),
        }
    }

    /// The same request to both: (apache2's answer, rhttpd's).
    pub fn exchange(&self, request: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (
            exchange(self.their_port, request),
            exchange(self.our_port, request),
        )
    }

    /// The same request to both, the answers normalized as the case files compare them (Date
    /// and the `extra` headers blanked, each site's root and port masked).
    pub fn normalized_exchange(&self, request: &[u8], extra: &[String]) -> (String, String) {
        let (a, b) = self.exchange(request);
        let mask = |raw: &[u8], site: &Site, port: u16| {
            let text = normalize_response(raw, extra);
            mask_port(
                &text.replace(&site.dir.path().display().to_string(), "<root>"),
                port,
            )
        };
        (
            mask(&a, &self.their_site, self.their_port),
            mask(&b, &self.our_site, self.our_port),
        )
    }

    /// Stops both servers (their logs are then complete); the sites stay.
    pub fn stop(&mut self) {
        self.servers = None;
    }
}

/// Waits until `port` accepts connections.
fn wait_ready(port: u16, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("did not start listening".into())
}

/// A prepared server root with the family's docroot and config for one server.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn docroot(&self) -> PathBuf {
        self.dir.path().join("htdocs")
    }
}

/// Lays out a site: a world-readable root (apache2's children run as www-data), the docroot
/// files, and the config with `@PORT@`, `@DOCROOT@`, `@SERVERROOT@` filled in.
pub fn make_site(family: &Family, port: u16) -> Site {
    make_site_with_mpm(family, port, "event")
}

/// The same under another MPM (`prefork`, `worker`, `event`).
pub fn make_site_with_mpm(family: &Family, port: u16, mpm: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(root.join("htdocs")).unwrap();
    fs::create_dir_all(root.join("logs")).unwrap();
    for (path, content) in &family.files {
        let target = root.join("htdocs").join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        if let Some(link) = path.strip_suffix(".symlink") {
            let _ = std::os::unix::fs::symlink(
                String::from_utf8_lossy(content).trim(),
                root.join("htdocs").join(link),
            );
            continue;
        }
        // `NAME.hex` (hex digits, white space ignored) becomes the binary file NAME.
        if let Some(binary) = path.strip_suffix(".hex") {
            fs::write(root.join("htdocs").join(binary), decode_hex(content)).unwrap();
            continue;
        }
        fs::write(&target, content).unwrap();
        // `NAME.FORMAT-dbm.txt` (key and value a line) also becomes the DBM file NAME, as
        // Debian's httxt2dbm writes it in that format (`default`, `db`, `sdbm`, `gdbm`).
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        if let Some((base, format)) = name
            .strip_suffix("-dbm.txt")
            .and_then(|stem| stem.rsplit_once('.'))
        {
            let made = std::process::Command::new("httxt2dbm")
                .args(["-f", format, "-i"])
                .arg(&target)
                .arg("-o")
                .arg(target.with_file_name(base))
                .status()
                .expect("httxt2dbm (package apache2-utils) runs");
            assert!(made.success(), "httxt2dbm could not write {base}");
        }
    }
    // Both servers must see the same validators: one fixed, old modification time.
    let fixed =
        std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000) + Duration::from_micros(123_456);
    for entry in walk(root)
        .into_iter()
        .filter(|p| !p.starts_with(root.join("logs")))
    {
        // CGI scripts (`*.cgi`, anything under a `cgi-bin/` or `cgi/` directory) must be
        // executable for either server to run them.
        let script = entry.extension().is_some_and(|e| e == "cgi")
            || entry
                .strip_prefix(root)
                .is_ok_and(|rel| rel.components().any(|c| c.as_os_str() == "cgi-bin"));
        let mode = if entry.is_dir() || (entry.is_file() && script) {
            0o755
        } else {
            0o644
        };
        let _ = fs::set_permissions(&entry, fs::Permissions::from_mode(mode));
        // A directory named `*-rw` (`dav-rw/`) and what is in it belong to the servers' user,
        // for the methods that write (mod_dav's PUT, MKCOL, its lock database), but for a
        // directory named `*-ro` in it, which stays root's.
        let named = |rel: &Path, suffix: &str| {
            rel.components()
                .any(|c| c.as_os_str().to_string_lossy().ends_with(suffix))
        };
        let writable = entry
            .strip_prefix(root)
            .is_ok_and(|rel| named(rel, "-rw") && !named(rel, "-ro"));
        if writable {
            let _ = std::process::Command::new("chown")
                .args(["www-data:www-data"])
                .arg(&entry)
                .status();
        }
        if entry.is_file() {
            if let Ok(file) = fs::File::options().write(true).open(&entry) {
                let _ = file.set_modified(fixed);
            }
        }
    }
    let fill = |text: &str| {
        text.replace("@PORT@", &port.to_string())
            .replace("@DOCROOT@", &root.join("htdocs").display().to_string())
            .replace("@SERVERROOT@", &root.display().to_string())
    };
    let header = format!(
        "ServerRoot {root}\n{modules}ServerName localhost\nServerTokens Prod\nListen 127.0.0.1:{port}\n\
         PidFile {root}/logs/httpd.pid\nErrorLog {root}/logs/error_log\nTypesConfig /etc/mime.types\n\
         User www-data\nGroup www-data\nDocumentRoot {root}/htdocs\n\
         <Directory {root}/htdocs>\n    Require all granted\n</Directory>\n",
        root = root.display(),
        modules = module_set_lines(Some(mpm)),
    );
    let tls = match OVER_TLS.get() {
        Some(pki) => format!(
            "SSLEngine on\nSSLCertificateFile {pki}/a.crt\nSSLCertificateKeyFile {pki}/a.key\n",
            pki = pki.display()
        ),
        None => String::new(),
    };
    fs::write(
        root.join("httpd.conf"),
        format!("{header}{tls}{}", fill(&family.config)),
    )
    .unwrap();
    Site { dir }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Starts `apache2 -X` or `rhttpd -X` on a site.
pub fn start(
    program: &Path,
    site: &Site,
    port: u16,
    env: &[(&str, &str)],
) -> Result<Running, String> {
    start_with(program, site, port, env, &["-X"])
}

/// Starts a server in the foreground with its children (`-D FOREGROUND`): its MPM's
/// processes and threads as configured, not `-X`'s one.
pub fn start_daemon(program: &Path, site: &Site, port: u16) -> Result<Running, String> {
    start_with(program, site, port, &[], &["-D", "FOREGROUND"])
}

fn start_with(
    program: &Path,
    site: &Site,
    port: u16,
    env: &[(&str, &str)],
    mode: &[&str],
) -> Result<Running, String> {
    use std::os::unix::process::CommandExt;
    let root = site.dir.path();
    let mut child = Command::new(program)
        // Its own process group: apache2's prefork stops by signalling its whole group,
        // which would otherwise be the test's.
        .process_group(0)
        .envs(env.iter().copied())
        .args(mode)
        .args([
            "-d",
            &root.display().to_string(),
            "-f",
            &root.join("httpd.conf").display().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    match wait_ready(port, &mut child) {
        Ok(()) => Ok(Running { child, port }),
        Err(why) => {
            crate::stop_child(&mut child);
            let log = fs::read_to_string(root.join("logs/error_log")).unwrap_or_default();
            Err(format!("{} {why}; error_log:\n{log}", program.display()))
        }
    }
}

/// When set (a directory with a.crt and a.key), every site's main server has `SSLEngine on`
/// with that certificate, and exchanges go over TLS: the HTTP families run under mod_ssl.
pub static OVER_TLS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Sends raw bytes, half-closes, and reads the whole answer.
pub fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    if OVER_TLS.get().is_some() {
        return crate::tls::raw_exchange(port, request);
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

/// An HTTP date as (its day, its second of that day).
fn seconds_of_day(value: &str) -> Option<(&str, u32)> {
    let (day, time) = value
        .trim()
        .get(5..)?
        .rsplit_once(' ')?
        .0
        .rsplit_once(' ')?;
    let mut parts = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
    Some((day, h * 3600 + m * 60 + sec))
}

/// What is compared: the response with Date (and any listed header) values blanked.
pub fn normalize_response(raw: &[u8], extra: &[String]) -> String {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (&text[..i], &text[i..]),
        None => (text.as_str(), ""),
    };
    let masks: Vec<(&str, regex::Regex)> = extra
        .iter()
        .filter_map(|e| {
            let (name, regex) = e.split_once(" /")?;
            Some((name, regex::Regex::new(regex.strip_suffix('/')?).ok()?))
        })
        .collect();
    let date = head
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Date: "))
        .and_then(seconds_of_day);
    let mut lines = Vec::new();
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("");
        // Apache sets Expires to the request's time where it forbids caching (a negotiated
        // answer to HTTP/1.0): a value within two seconds of the response's Date is that time,
        // and a second may pass between the two servers' answers.
        if let (Some(date), Some(expires)) = (
            date,
            line.strip_prefix("Expires: ").and_then(seconds_of_day),
        ) {
            if date.0 == expires.0 && date.1.abs_diff(expires.1) <= 2 {
                lines.push("Expires: <the Date>".to_string());
                continue;
            }
        }
        let mut masked = line.to_string();
        for (_, regex) in masks.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            masked = regex.replace_all(&masked, "<masked>").into_owned();
        }
        if masked != line {
            lines.push(masked);
        } else if name.eq_ignore_ascii_case("Date")
            || extra.iter().any(|e| e.eq_ignore_ascii_case(name))
        {
            lines.push(format!("{name}: <normalized>"));
        } else if name.eq_ignore_ascii_case("Allow") {
            // Apache lists allowed methods in the order of a randomly seeded hash table.
            let mut methods: Vec<&str> = line[name.len() + 1..].trim().split(',').collect();
            methods.sort();
            lines.push(format!("{name}: {}", methods.join(",")));
        } else {
            lines.push(line.to_string());
        }
    }
    // The answers after the first on a kept-alive connection have their Date too: a second
    // may pass between two servers' answers.
    let later_dates = regex::Regex::new(
        r"\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n",
    )
    .unwrap();
    let mut body = later_dates
        .replace_all(body, "\r\nDate: <normalized>\r\n")
        .into_owned();
    // `mask body /REGEX/`: what the regex matches in the body (times, lock tokens).
    for (_, regex) in masks.iter().filter(|(n, _)| n.eq_ignore_ascii_case("body")) {
        body = regex.replace_all(&body, "<masked>").into_owned();
    }
    format!("{}{body}", lines.join("\r\n"))
}

/// Runs every family file of `cases/http/` (or only `HTTP_FAMILY=name`'s): (cases, mismatches,
/// known divergences) over all of them.
pub fn run_families() -> (usize, Vec<String>, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/http");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|e| e == "cases"))
        .collect();
    files.sort();
    let only = std::env::var("HTTP_FAMILY").ok();
    let (mut total, mut known) = (0, 0);
    let mut mismatches = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        if only.as_ref().is_some_and(|only| *only != name) {
            continue;
        }
        let (cases, bad, divergences) = run_family(&name, &fs::read_to_string(file).unwrap());
        total += cases;
        known += divergences;
        mismatches.extend(bad);
    }
    (total, mismatches, known)
}

/// Runs one family file against both servers; returns (cases, mismatches, known divergences).
pub fn run_family(name: &str, text: &str) -> (usize, Vec<String>, usize) {
    let family = parse_family(text);
    let pair = Pair::start(&family);
    let mut mismatches = Vec::new();
    let mut known = 0;
    for case in &family.cases {
        let (a, b) = pair.normalized_exchange(&case.request, &case.normalize);
        // HTTP_SHOW=1 prints apache2's status line for each case while writing a family;
        // HTTP_SHOW=full prints its whole answer.
        match std::env::var("HTTP_SHOW").as_deref() {
            Ok("full") => println!("{name}: {}:\n{a}", case.name),
            Ok(_) => println!("{name}: {}: {}", case.name, a.lines().next().unwrap_or("")),
            Err(_) => {}
        }
        if a != b {
            if case.divergence.is_some() {
                known += 1;
            } else {
                mismatches.push(format!(
                    "{name} / {}:\n--- apache2\n{a}\n--- rhttpd\n{b}",
                    case.name
                ));
            }
        }
    }
    (family.cases.len(), mismatches, known)
}

/// An error-log line with time, pid, tid, client port and the site's path set aside.
pub fn error_lines(root: &Path, needle: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("logs/error_log")).unwrap_or_default();
    let stamp = regex::Regex::new(r"^\[[^\]]+\]").unwrap();
    let ids = regex::Regex::new(r"\[pid \d+:tid \d+\]").unwrap();
    let client = regex::Regex::new(r"\[client 127\.0\.0\.1:\d+\]").unwrap();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(|l| {
            let l = stamp.replace(l, "[<time>]");
            let l = ids.replace(&l, "[pid <pid>:tid <tid>]");
            client
                .replace(&l, "[client 127.0.0.1:<port>]")
                .replace(&root.display().to_string(), "<root>")
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_expires_at_the_answers_own_time_is_normalized_and_no_other() {
        let answer = |date: &str, expires: &str| {
            normalize_response(
                format!("HTTP/1.1 200 OK\r\nDate: {date}\r\nExpires: {expires}\r\n\r\n").as_bytes(),
                &[],
            )
        };
        let date = "Mon, 07 Dec 2026 02:24:09 GMT";
        assert!(answer(date, "Mon, 07 Dec 2026 02:24:08 GMT").contains("Expires: <the Date>"));
        assert!(answer(date, "Mon, 07 Dec 2026 02:25:08 GMT").contains("Expires: Mon, 07 Dec"));
        assert!(answer(date, "Tue, 08 Dec 2026 02:24:09 GMT").contains("Expires: Tue, 08 Dec"));
    }

    use super::{mask_port, normalize_response};

    #[test]
    fn only_whole_numbers_are_taken_for_the_port() {
        assert_eq!(
            mask_port(
                "http://h:4567/ 0123456789 45674567 \"a4567f\" Port 4567",
                4567
            ),
            "http://h:<port>/ 0123456789 45674567 \"a4567f\" Port <port>"
        );
        assert_eq!(
            mask_port("Host: x:4567\r\nContent-Length: 4567\r\n", 4567),
            "Host: x:<port>\r\nContent-Length: 4567\r\n"
        );
    }
}
