//! Whole shipped configurations serving side by side with apache2: Debian's `/etc/apache2`
//! tree (its envvars, run directories moved into the copy), the upstream `httpd.conf` and the
//! docker-library image's (ServerRoot moved into a copy), and the Fedora-style `/etc/httpd`
//! tree with the modules outside rhttpd's set (and mod_ssl's conf.d file) left out. Only the
//! listening port is changed. A fixed set of
//! requests — the index, a missing page, a directory listing, /server-status from a local
//! client, a gzip request — must get the same answers.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::http::{exchange, free_port, mask_port};
use compat_tests::{copy_tree, corpus_dir, debian_env, require_apache2, rhttpd_bin};

/// A server started on a tree, killed by its pid when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        compat_tests::stop_child(&mut self.0);
    }
}

fn start(program: &Path, root: &Path, file: &str, env: &[(String, String)], port: u16) -> Running {
    // What the server says before its error log opens, for a failure report.
    let console = root.join("console.txt");
    let said = fs::File::create(&console).unwrap();
    let mut child = Command::new(program)
        .args(["-X", "-d", &root.display().to_string(), "-f", file])
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(said.try_clone().unwrap())
        .stderr(said)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(root.join("logs/error_log")).unwrap_or_default();
            let said = fs::read_to_string(&console).unwrap_or_default();
            panic!(
                "{} exited with {status} on {}; it said:\n{said}\nits error_log:\n{log}",
                program.display(),
                root.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} did not listen",
            program.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Running(child)
}

/// The answer with what legitimately differs blanked: Date, the Server banner (Debian's build
/// says "(Debian)", rhttpd "(Unix)", as upstream builds do) and the port.
fn normalized(raw: &[u8], port: u16) -> String {
    let text = mask_port(&String::from_utf8_lossy(raw), port);
    // mod_ssl, when loaded, adds its library to Apache's banner (OpenSSL/3.0.19).
    let banner = regex::Regex::new(
        r"Apache/2\.4\.\d+ \([A-Za-z]+\)( rhttpd/[0-9.]+)?( OpenSSL/[0-9.]+[a-z]?)?",
    )
    .unwrap();
    let text = banner.replace_all(&text, "<banner>");
    let date = regex::Regex::new("(?m)^Date: .*\r$").unwrap();
    let text = date.replace_all(&text, "Date: -\r").into_owned();
    // The banner is inside error pages and listings too: their length is the normalized one.
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if !body.is_empty() => {
            let length = regex::Regex::new("(?m)^Content-Length: [0-9]+").unwrap();
            let head = length.replace(head, format!("Content-Length: {}", body.len()).as_str());
            format!("{head}\r\n\r\n{body}")
        }
        _ => text,
    }
}

/// Status line and headers only, length blanked (for pages whose body is live data).
fn head_of(text: &str) -> String {
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let length = regex::Regex::new("(?m)^Content-Length: [0-9]+").unwrap();
    length.replace_all(head, "Content-Length: -").into_owned()
}

struct Case {
    name: &'static str,
    request: String,
    whole: bool,
}

fn cases(listing: &str) -> Vec<Case> {
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n")
    };
    vec![
        Case {
            name: "index",
            request: get("/", ""),
            whole: true,
        },
        Case {
            name: "head of index",
            request: "HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into(),
            whole: true,
        },
        Case {
            name: "missing page",
            request: get("/no-such-page.html", ""),
            whole: true,
        },
        Case {
            name: "directory listing",
            request: get(&format!("/{listing}/"), ""),
            whole: true,
        },
        Case {
            name: "listing without slash",
            request: get(&format!("/{listing}"), ""),
            whole: true,
        },
        Case {
            name: "gzip request",
            request: get("/", "Accept-Encoding: gzip, deflate\r\n"),
            whole: true,
        },
        Case {
            name: "server-status from local",
            request: get("/server-status", ""),
            whole: false,
        },
        Case {
            name: "server-status auto",
            request: get("/server-status?auto", ""),
            whole: false,
        },
        Case {
            name: "icon",
            request: get("/icons/apache_pb.png", ""),
            whole: true,
        },
        Case {
            name: "icons directory",
            request: get("/icons/", ""),
            whole: true,
        },
        Case {
            name: "protected file",
            request: get("/.htaccess", ""),
            whole: true,
        },
    ]
}

/// Serves the cases from both servers; the differences, if any.
fn diff(theirs: u16, ours: u16, cases: &[Case]) -> Vec<String> {
    let mut out = Vec::new();
    for case in cases {
        let (raw_a, raw_b) = (
            exchange(theirs, case.request.as_bytes()),
            exchange(ours, case.request.as_bytes()),
        );
        assert!(
            raw_a.starts_with(b"HTTP/1.1 "),
            "{}: apache2 gave no answer",
            case.name
        );
        if std::env::var_os("TREES_SHOW").is_some() {
            let line = raw_a.split(|&b| b == b'\r').next().unwrap_or_default();
            println!("{}: {}", case.name, String::from_utf8_lossy(line));
        }
        // A compressed or binary body is compared byte for byte.
        let body = |raw: &[u8]| {
            let at = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(raw.len(), |i| i + 4);
            raw[at..].to_vec()
        };
        if case.whole && body(&raw_a).iter().any(|b| !b.is_ascii()) && body(&raw_a) != body(&raw_b)
        {
            out.push(format!("{}: the bodies' bytes differ", case.name));
        }
        let a = normalized(&raw_a, theirs);
        let b = normalized(&raw_b, ours);
        let (a, b) = if case.whole {
            (a, b)
        } else {
            (head_of(&a), head_of(&b))
        };
        if a != b {
            out.push(format!("{}:\n--- apache2\n{a}\n--- rhttpd\n{b}", case.name));
        }
    }
    out
}

/// A directory under /var/www/html (Debian's DocumentRoot) with two files and no index,
/// removed when dropped.
struct Listing(PathBuf);

impl Listing {
    fn new() -> Listing {
        // One per test: the tests that list /var/www/html run at once.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = PathBuf::from(format!(
            "/var/www/html/rhttpd-compat-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a.txt"), "a\n").unwrap();
        fs::write(dir.join("b.html"), "<p>b</p>\n").unwrap();
        let fixed = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        for name in ["a.txt", "b.html"] {
            let file = fs::File::options()
                .write(true)
                .open(dir.join(name))
                .unwrap();
            file.set_modified(fixed).unwrap();
        }
        fs::File::open(&dir).unwrap().set_modified(fixed).ok();
        Listing(dir)
    }

    fn name(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl Drop for Listing {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Debian's tree copied, listening on `port` instead of 80 (on every address, IPv6 and
/// mapped IPv4 alike, as the shipped ports.conf does).
fn debian_copy(port: u16) -> (tempfile::TempDir, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("apache2");
    copy_tree(Path::new("/etc/apache2"), &root);
    let ports = fs::read_to_string(root.join("ports.conf")).unwrap();
    fs::write(
        root.join("ports.conf"),
        ports.replace("Listen 80", &format!("Listen {port}")),
    )
    .unwrap();
    let site = root.join("sites-available/000-default.conf");
    let text = fs::read_to_string(&site).unwrap();
    fs::write(&site, text.replace("*:80", &format!("*:{port}"))).unwrap();
    let env = debian_env(dir.path());
    for sub in ["run", "lock", "log"] {
        fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    (dir, env)
}

#[test]
fn debian_tree_serves_as_apache2_does() {
    require_apache2();
    assert!(
        Path::new("/var/www/html/index.html").exists(),
        "Debian's default page is missing"
    );
    let listing = Listing::new();
    let (their_port, our_port) = (free_port(), free_port());
    let (their_dir, their_env) = debian_copy(their_port);
    let (our_dir, our_env) = debian_copy(our_port);
    let _theirs = start(
        Path::new("/usr/sbin/apache2"),
        &their_dir.path().join("apache2"),
        "apache2.conf",
        &their_env,
        their_port,
    );
    let _ours = start(
        &rhttpd_bin(),
        &our_dir.path().join("apache2"),
        "apache2.conf",
        &our_env,
        our_port,
    );
    let differences = diff(their_port, our_port, &cases(&listing.name()));
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
    // The access logs (Debian's combined format) say the same of the same requests: the IPv4
    // client of the dual-stack listener is 127.0.0.1. Sizes differ by the banner's length.
    let access = |dir: &Path| -> Vec<String> {
        let text = fs::read_to_string(dir.join("log/access.log")).unwrap_or_default();
        let time = regex::Regex::new(r"\[[^\]]+\]").unwrap();
        let size = regex::Regex::new(r"(\d{3}) \d+ ").unwrap();
        text.lines()
            .map(|l| {
                size.replace(&time.replace(l, "[<time>]"), "$1 <size> ")
                    .into_owned()
            })
            .collect()
    };
    let requests = cases(&listing.name()).len();
    let wait = Instant::now();
    while [&their_dir, &our_dir]
        .iter()
        .any(|d| access(d.path()).len() < requests)
        && wait.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (theirs, ours) = (access(their_dir.path()), access(our_dir.path()));
    assert_eq!(theirs.len(), requests, "{theirs:#?}");
    assert!(
        theirs.iter().all(|l| l.starts_with("127.0.0.1 ")),
        "{theirs:#?}"
    );
    assert_eq!(theirs, ours);
}

/// An httpd.conf of the upstream layout (`conf` under the corpus) with ServerRoot (and so every
/// path under /usr/local/apache2) moved into a copy, the modules directory pointing at
/// Debian's, and its default page.
fn upstream_copy(port: u16, conf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    for sub in ["conf", "logs", "htdocs/sub", "cgi-bin"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink("/usr/lib/apache2/modules", root.join("modules")).unwrap();
    fs::copy("/etc/mime.types", root.join("conf/mime.types")).unwrap();
    fs::write(
        root.join("htdocs/index.html"),
        "<html><body><h1>It works!</h1></body></html>\n",
    )
    .unwrap();
    fs::write(root.join("htdocs/sub/one.txt"), "one\n").unwrap();
    fs::write(root.join("htdocs/sub/two.txt"), "two\n").unwrap();
    let fixed = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for file in [
        "htdocs/index.html",
        "htdocs/sub/one.txt",
        "htdocs/sub/two.txt",
    ] {
        fs::File::options()
            .write(true)
            .open(root.join(file))
            .unwrap()
            .set_modified(fixed)
            .unwrap();
    }
    for walked in ["", "htdocs", "htdocs/sub", "conf", "logs"] {
        let _ = fs::set_permissions(root.join(walked), fs::Permissions::from_mode(0o755));
    }
    let text = fs::read_to_string(corpus_dir().join(conf)).unwrap();
    // Debian's apache2 has these modules built in and refuses to load them again.
    let text = compat_tests::drop_loadmodules(&text, false)
        .replace("/usr/local/apache2", &root.display().to_string())
        .replace("Listen 80", &format!("Listen 127.0.0.1:{port}"));
    // These configurations leave PidFile to the build's default, one file for every server
    // (Debian's: under /var/run): two copies running at once would each see the other's.
    let text = text + "PidFile logs/httpd.pid\n";
    fs::write(root.join("conf/httpd.conf"), text).unwrap();
    dir
}

#[test]
fn upstream_httpd_conf_serves_as_apache2_does() {
    serve_upstream_layout("upstream-httpd-2.4.x/generated/httpd.conf");
}

/// The official Docker image's configuration: upstream's, logging to the container's standard
/// output and error, serving as www-data.
#[test]
fn docker_library_httpd_conf_serves_as_apache2_does() {
    serve_upstream_layout("docker-library-httpd/httpd.conf");
}

fn serve_upstream_layout(conf: &str) {
    require_apache2();
    let (their_port, our_port) = (free_port(), free_port());
    let theirs_dir = upstream_copy(their_port, conf);
    let ours_dir = upstream_copy(our_port, conf);
    let _theirs = start(
        Path::new("/usr/sbin/apache2"),
        theirs_dir.path(),
        "conf/httpd.conf",
        &[],
        their_port,
    );
    let _ours = start(
        &rhttpd_bin(),
        ours_dir.path(),
        "conf/httpd.conf",
        &[],
        our_port,
    );
    // Paths inside the two copies differ only by the temporary directory's name.
    let mut differences = diff(their_port, our_port, &cases("sub"));
    for d in &mut differences {
        *d = d
            .replace(&theirs_dir.path().display().to_string(), "<root>")
            .replace(&ours_dir.path().display().to_string(), "<root>");
    }
    differences.retain(|d| {
        let (a, b) = d.split_once("--- rhttpd\n").unwrap();
        a.split_once("--- apache2\n").unwrap().1.trim_end() != b.trim_end()
    });
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// The Fedora-style /etc/httpd tree (openEuler's packaging) copied: ServerRoot moved into the
/// copy, the `apache` user mapped to www-data, the LoadModule lines for modules outside
/// rhttpd's set commented out in conf.modules.d (and conf.d/ssl.conf, which comes with mod_ssl,
/// left out), and the listening port changed.
fn fedora_copy(port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("httpd");
    copy_tree(
        &corpus_dir().join("openeuler-httpd-fedora-style/etc/httpd"),
        &root,
    );
    for walked in [dir.path(), root.as_path()] {
        fs::set_permissions(walked, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for sub in ["logs", "run"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink("/usr/lib/apache2/modules", root.join("modules")).unwrap();
    fs::remove_file(root.join("conf.d/ssl.conf")).unwrap();
    for entry in fs::read_dir(root.join("conf.modules.d")).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, compat_tests::drop_loadmodules(&text, true)).unwrap();
    }
    let conf = root.join("conf/httpd.conf");
    let text = fs::read_to_string(&conf)
        .unwrap()
        .replace("/etc/httpd", &root.display().to_string())
        .replace("Listen 80", &format!("Listen 127.0.0.1:{port}"))
        .replace("User apache", "User www-data")
        .replace("Group apache", "Group www-data")
        // Its own pid file, not the build's default the other trees' servers may hold.
        + "PidFile run/httpd.pid\n";
    fs::write(&conf, text).unwrap();
    dir
}

#[test]
fn fedora_style_tree_serves_as_apache2_does() {
    require_apache2();
    let listing = Listing::new();
    let (their_port, our_port) = (free_port(), free_port());
    let theirs_dir = fedora_copy(their_port);
    let ours_dir = fedora_copy(our_port);
    let _theirs = start(
        Path::new("/usr/sbin/apache2"),
        &theirs_dir.path().join("httpd"),
        "conf/httpd.conf",
        &[],
        their_port,
    );
    let _ours = start(
        &rhttpd_bin(),
        &ours_dir.path().join("httpd"),
        "conf/httpd.conf",
        &[],
        our_port,
    );
    let differences = diff(their_port, our_port, &cases(&listing.name()));
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// Debian's tree after `a2enmod ssl` and `a2ensite default-ssl` (the symlinks they make),
/// listening on `plain` and `tls` instead of 80 and 443.
fn debian_ssl_copy(plain: u16, tls: u16) -> (tempfile::TempDir, Vec<(String, String)>) {
    let (dir, env) = debian_copy(plain);
    let root = dir.path().join("apache2");
    for module in ["socache_shmcb.load", "ssl.load", "ssl.conf"] {
        std::os::unix::fs::symlink(
            format!("../mods-available/{module}"),
            root.join("mods-enabled").join(module),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink(
        "../sites-available/default-ssl.conf",
        root.join("sites-enabled/default-ssl.conf"),
    )
    .unwrap();
    // Line by line: the plain port, already in place, may itself start with 443.
    let ports: Vec<String> = fs::read_to_string(root.join("ports.conf"))
        .unwrap()
        .lines()
        .map(|l| match l.trim() {
            "Listen 443" => l.replace("443", &tls.to_string()),
            _ => l.to_string(),
        })
        .collect();
    fs::write(root.join("ports.conf"), ports.join("\n") + "\n").unwrap();
    let site = root.join("sites-available/default-ssl.conf");
    let text = fs::read_to_string(&site).unwrap();
    fs::write(&site, text.replace("*:443", &format!("*:{tls}"))).unwrap();
    (dir, env)
}

#[test]
fn debian_default_ssl_site_serves_as_apache2_does() {
    use compat_tests::tls::{exchange as tls_exchange, Offer};
    require_apache2();
    assert!(
        Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem").exists(),
        "the snakeoil certificate is missing (package ssl-cert)"
    );
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let (their_dir, their_env) = debian_ssl_copy(ports[0], ports[1]);
    let (our_dir, our_env) = debian_ssl_copy(ports[2], ports[3]);
    let _theirs = start(
        Path::new("/usr/sbin/apache2"),
        &their_dir.path().join("apache2"),
        "apache2.conf",
        &their_env,
        ports[1],
    );
    let _ours = start(
        &rhttpd_bin(),
        &our_dir.path().join("apache2"),
        "apache2.conf",
        &our_env,
        ports[3],
    );
    let requests: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"HEAD /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /nothing-here HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /icons/ HTTP/1.0\r\n\r\n",
    ];
    let mut differences = Vec::new();
    for offer in [Offer::sni("localhost"), Offer::default()] {
        for request in requests {
            let theirs = tls_exchange(ports[1], &offer, request);
            let ours = tls_exchange(ports[3], &offer, request);
            let (a, b) = (
                normalized(&theirs.response, ports[1]),
                normalized(&ours.response, ports[3]),
            );
            if theirs.handshake != ours.handshake || a != b {
                differences.push(format!(
                    "{}:\n--- apache2\n{}\n{a}\n--- rhttpd\n{}\n{b}",
                    String::from_utf8_lossy(request)
                        .lines()
                        .next()
                        .unwrap_or(""),
                    theirs.handshake,
                    ours.handshake
                ));
            }
        }
    }
    // Plain HTTP to the TLS port, and the plain port beside it.
    for (theirs, ours) in [(ports[1], ports[3]), (ports[0], ports[2])] {
        let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let (a, b) = (
            normalized(&exchange(theirs, request), theirs),
            normalized(&exchange(ours, request), ours),
        );
        if a != b {
            differences.push(format!(
                "plain on {theirs}:\n--- apache2\n{a}\n--- rhttpd\n{b}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}
