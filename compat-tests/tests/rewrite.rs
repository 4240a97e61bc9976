//! mod_rewrite against apache2 beyond single answers: the trace it writes at
//! `LogLevel rewrite:trace8` (line for line, the pointers and source lines set aside), the
//! errors it logs, and its setters' messages at `-t`.

use std::time::Duration;

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

/// A trace line with what differs between any two runs set aside: the server and request
/// pointers and the source line of the message.
fn comparable(line: &str) -> String {
    let pointers = regex::Regex::new(r"sid#[0-9a-f]+\]\[rid#[0-9a-f]+").unwrap();
    let source = regex::Regex::new(r"mod_rewrite\.c\(\d+\): ").unwrap();
    let line = pointers.replace(line, "sid#<s>][rid#<r>");
    source.replace(&line, "").into_owned()
}

/// Serves `requests` to both servers under `config` (a family text) and compares every
/// mod_rewrite trace line they wrote.
fn traces_alike(family: &str, requests: &[&str], at_least: usize) {
    require_apache2();
    let mut pair = Pair::start(&parse_family(family));
    for request in requests {
        pair.exchange(request.as_bytes());
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    // The site's path also appears without its leading slash (a prefix mod_rewrite strips).
    let lines = |root: &std::path::Path| -> Vec<String> {
        let bare = root.display().to_string();
        let bare = bare.trim_start_matches('/');
        error_lines(root, "[rewrite:trace")
            .iter()
            .map(|l| comparable(&l.replace(bare, "<root>")))
            .collect()
    };
    let apache = lines(pair.their_site.dir.path());
    let ours = lines(pair.our_site.dir.path());
    assert!(apache.len() >= at_least, "apache2 traced: {apache:#?}");
    assert!(
        apache == ours,
        "apache2:\n{}\nrhttpd:\n{}",
        apache.join("\n"),
        ours.join("\n")
    );
}

#[test]
fn the_rewrite_trace_reads_like_apaches() {
    traces_alike(
        "@@ config\nLogLevel rewrite:trace8\nRewriteEngine On\n\
         RewriteCond %{HTTP_USER_AGENT} ^curl [NC,OR]\n\
         RewriteCond %{QUERY_STRING} a=(\\d+)\n\
         RewriteRule ^/old/(.*)$ /new/$1?n=%1 [L]\n\
         RewriteRule ^/go$ http://example.test/ [R=301,L]\n\
         <Directory @DOCROOT@>\nAllowOverride All\n</Directory>\n\
         @@ file .htaccess\nRewriteEngine On\nRewriteBase /\n\
         RewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^(.*)$ index.html [L]\n\
         @@ file index.html\nindex\n@@ file new/x\nx\n",
        &[
            "GET /old/x?a=12 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Curl/8\r\nConnection: close\r\n\r\n",
            "GET /go HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ],
        20,
    );
}

#[test]
fn maps_cookies_variables_and_redirects_trace_like_apaches() {
    traces_alike(
        "@@ config\nLogLevel rewrite:trace8\nRewriteEngine On\n\
         RewriteMap low int:tolower\n\
         RewriteMap pages txt:@DOCROOT@/pages.txt\n\
         RewriteRule ^/map/(.*)$ /${pages:${low:$1}|missing.html} [L]\n\
         RewriteRule ^/env$ /index.html [E=A:1,E=!B,CO=c:v:localhost,T=text/plain,L]\n\
         RewriteRule ^/redir/(.*)$ /to/$1?x=1 [R=302,QSA,L]\n\
         RewriteRule ^/b/(.*)$ /to?q=$1 [B,R,L]\n\
         RewriteRule ^/end$ /index.html [END]\n\
         RewriteRule ^/gone$ - [G]\n\
         RewriteRule ^/abs$ @DOCROOT@/index.html [L]\n\
         RewriteRule ^/pt$ /index.html [PT]\n\
         <Directory @DOCROOT@/sub>\nRewriteEngine On\nRewriteBase /base/\n\
         RewriteRule ^r$ x.html [R,L]\nRewriteRule ^i$ x.html [L]\n</Directory>\n\
         @@ file pages.txt\nabout about.html\n@@ file about.html\nabout\n\
         @@ file index.html\nindex\n@@ file sub/x.html\nx\n",
        &[
            "GET /map/ABOUT HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /map/Other HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /env HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /redir/a%20b?k=v HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /b/a%20b&c HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /end HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /gone HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /abs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /pt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /sub/r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /sub/i HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ],
        60,
    );
}

/// The published `.htaccess` of an application (read from the corpus in place), served from a
/// docroot with `AllowOverride All` by both servers: every request answers alike. The PHP
/// files are plain files here; what is compared is which file answered, and how.
fn app_answers_like_apache(name: &str, htaccess: &str, files: &[(&str, &str)], requests: &[&str]) {
    require_apache2();
    let mut family = String::from(
        "@@ config\n<Directory \"@DOCROOT@\">\n    AllowOverride All\n</Directory>\n\
         DirectoryIndex index.php index.html\n\
         Header always set X-Authorization \"%{HTTP_AUTHORIZATION}e\"\n\
         Header always set X-Redirect-Authorization \"%{REDIRECT_HTTP_AUTHORIZATION}e\"\n",
    );
    family.push_str("@@ file .htaccess\n");
    family.push_str(htaccess);
    if !htaccess.ends_with('\n') {
        family.push('\n');
    }
    for (path, content) in files {
        family.push_str(&format!("@@ file {path}\n{content}\n"));
    }
    for (n, request) in requests.iter().enumerate() {
        let (method_path, headers) = request.split_once('|').unwrap_or((request, ""));
        let mut head = format!("{method_path} HTTP/1.1\\r\\nHost: localhost\\r\\n");
        for header in headers.split('|').filter(|h| !h.is_empty()) {
            head.push_str(header);
            head.push_str("\\r\\n");
        }
        // The applications' mod_expires rules count from each server's own clock.
        family.push_str(&format!(
            "@@ case {n} {method_path} | normalize Expires: counted from the request's time, \
             which may fall in another second for each server\n\
             {head}Connection: close\\r\\n\\r\\n\n"
        ));
    }
    let (cases, mismatches, _) = compat_tests::http::run_family(name, &family);
    assert_eq!(cases, requests.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn corpus_file(path: &str) -> String {
    let file = compat_tests::corpus_dir().join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The rules WordPress writes into `.htaccess` (its "BEGIN WordPress" block).
const WORDPRESS: &str = "# BEGIN WordPress\n<IfModule mod_rewrite.c>\nRewriteEngine On\n\
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]\nRewriteBase /\n\
RewriteRule ^index\\.php$ - [L]\nRewriteCond %{REQUEST_FILENAME} !-f\n\
RewriteCond %{REQUEST_FILENAME} !-d\nRewriteRule . /index.php [L]\n</IfModule>\n\
# END WordPress\n";

#[test]
fn wordpress_permalinks_answer_like_apache() {
    app_answers_like_apache(
        "wordpress",
        WORDPRESS,
        &[
            ("index.php", "<?php /* front controller */"),
            ("wp-content/uploads/2024/pic.txt", "a picture"),
            ("wp-admin/index.php", "<?php /* admin */"),
            ("wp-login.php", "<?php /* login */"),
        ],
        &[
            "GET /",
            "GET /hello-world/",
            "GET /2024/01/post-name/?replytocom=5",
            "GET /wp-content/uploads/2024/pic.txt",
            "GET /wp-content/uploads/2024/missing.jpg",
            "GET /wp-admin",
            "GET /wp-admin/",
            "GET /wp-login.php",
            "GET /index.php",
            "GET /feed|Authorization: Bearer abc",
            "HEAD /category/news/",
            "POST /xmlrpc.php|Content-Length: 0",
        ],
    );
}

#[test]
fn laravel_front_controller_answers_like_apache() {
    app_answers_like_apache(
        "laravel",
        &corpus_file("apps/laravel/public/.htaccess"),
        &[
            ("index.php", "<?php /* laravel */"),
            ("css/app.css", "body{}"),
            ("favicon.ico", "icon"),
        ],
        &[
            "GET /",
            "GET /users/42",
            "GET /users/42/",
            "GET /css/app.css",
            "GET /css/",
            "GET /css",
            "GET /api/token|Authorization: Basic dTpw|X-XSRF-TOKEN: t0k",
            "GET /search?q=a+b",
            "GET /favicon.ico",
            "GET /a/b/c/?x=1",
        ],
    );
}

#[test]
fn drupal_rules_answer_like_apache() {
    app_answers_like_apache(
        "drupal",
        &corpus_file("apps/drupal/htaccess"),
        &[
            ("index.php", "<?php /* drupal */"),
            ("core/install.php", "<?php /* install */"),
            ("core/misc/drupal.js", "js"),
            ("sites/default/files/css/css_abc.css", "body{}"),
            ("sites/default/files/css/css_abc.css.gz", "gzipped css"),
            ("sites/default/settings.php", "<?php /* secret */"),
            ("composer.json", "{}"),
            ("robots.txt", "User-agent: *"),
            (".well-known/security.txt", "contact"),
        ],
        &[
            "GET /",
            "GET /node/1",
            "GET /node/1?page=2",
            "GET /install.php",
            "GET /core/install.php",
            "GET /core/misc/drupal.js",
            "GET /.git/config",
            "GET /.well-known/security.txt",
            "GET /sites/default/settings.php",
            "GET /sites/default/files/css/css_abc.css|Accept-Encoding: gzip",
            "GET /sites/default/files/css/css_abc.css",
            "GET /composer.json",
            "GET /robots.txt",
            "GET /favicon.ico",
            "GET /user/login|Authorization: Basic YTpi",
        ],
    );
}

#[test]
fn nextcloud_rules_answer_like_apache() {
    app_answers_like_apache(
        "nextcloud",
        &corpus_file("apps/nextcloud/.htaccess"),
        &[
            ("index.php", "<?php /* nextcloud */"),
            ("remote.php", "<?php /* dav */"),
            ("status.php", "<?php /* status */"),
            ("core/img/logo.svg", "<svg/>"),
            ("core/js/app.js", "js"),
            ("config/config.php", "<?php /* secret */"),
            ("composer.json", "{}"),
        ],
        &[
            "GET /",
            "GET /|User-Agent: Microsoft-WebDAV-MiniRedir DavClnt",
            "GET /.well-known/carddav",
            "GET /.well-known/caldav",
            "GET /.well-known/webfinger",
            "GET /.well-known/acme-challenge/token",
            "GET /remote/webdav",
            "GET /config/config.php",
            "GET /composer.json",
            "GET /.htaccess",
            "GET /ocm-provider/",
            "GET /occ",
            "GET /core/img/logo.svg",
            "GET /core/js/app.js",
            "GET /status.php",
            "PROPFIND /remote.php/dav/files/u/|Depth: 1|Authorization: Basic dTpw",
        ],
    );
}

#[test]
fn h5bp_rules_answer_like_apache() {
    app_answers_like_apache(
        "h5bp",
        &corpus_file("h5bp/dist/.htaccess"),
        &[
            ("index.html", "<!doctype html><title>x</title>"),
            ("css/style.css", "body{}"),
            ("js/app.js", "js"),
            ("img/logo.svg", "<svg/>"),
            ("site.webmanifest", "{}"),
            ("backup.sql", "secret"),
            (".git/config", "[core]"),
        ],
        &[
            "GET /",
            "GET /index.html",
            "GET /css/style.css|Accept-Encoding: gzip",
            "GET /js/app.js",
            "GET /img/logo.svg",
            "GET /site.webmanifest",
            "GET /backup.sql",
            "GET /.git/config",
            "GET /.well-known/x",
            "GET /missing",
            "GET /css/",
        ],
    );
}

/// DBM maps as Debian's httxt2dbm writes them (its default Berkeley DB format, and SDBM),
/// looked up alike by both servers.
#[test]
fn dbm_maps_made_by_httxt2dbm_answer_like_apache() {
    require_apache2();
    let maps = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(maps.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let source = maps.path().join("map.txt");
    let text = "# comment\nabout about.html\ncontact contact.html\n";
    std::fs::write(&source, text).unwrap();
    // httxt2dbm reads lines of up to 1 KiB: the longest value it can write to a Berkeley DB
    // file (SDBM takes no pair that long).
    let long_source = maps.path().join("long.txt");
    std::fs::write(&long_source, format!("long {}\n", "x".repeat(1000))).unwrap();
    for (format, input, output) in [
        (None, &source, "map.db"),
        (Some("SDBM"), &source, "map.sdbm"),
        (None, &long_source, "long.db"),
    ] {
        let mut command = std::process::Command::new("httxt2dbm");
        if let Some(format) = format {
            command.args(["-f", format]);
        }
        let status = command
            .arg("-i")
            .arg(input)
            .arg("-o")
            .arg(maps.path().join(output))
            .status()
            .expect("httxt2dbm (apache2-utils) runs");
        assert!(status.success());
    }
    for entry in std::fs::read_dir(maps.path()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let dir = maps.path().display();
    let family = format!(
        "@@ config\nRewriteEngine On\nRewriteMap d dbm:{dir}/map.db\n\
         RewriteMap s dbm=sdbm:{dir}/map.sdbm\nRewriteMap dd dbm=db:{dir}/map.db\n\
         RewriteRule ^/d/(.*)$ /got?v=${{d:$1|none}} [R,L]\n\
         RewriteRule ^/s/(.*)$ /got?v=${{s:$1|none}} [R,L]\n\
         RewriteRule ^/dd/(.*)$ /got?v=${{dd:$1|none}} [R,L]\n\
         RewriteMap l dbm:{dir}/long.db\n\
         RewriteRule ^/len/(.*)$ /got?n=${{l:$1}} [R,L]\n"
    );
    let mut family = family;
    for (n, path) in [
        "/d/about",
        "/d/contact",
        "/d/missing",
        "/d/about",
        "/s/about",
        "/s/contact",
        "/s/missing",
        "/dd/contact",
        "/len/long",
    ]
    .iter()
    .enumerate()
    {
        family.push_str(&format!(
            "@@ case {n} {path}\nGET {path} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n\n"
        ));
    }
    let (cases, mismatches, _) = compat_tests::http::run_family("rewrite_dbm", &family);
    assert_eq!(cases, 9);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A broken mod_rewrite line in an `.htaccess` is a 500 with Apache's message in the error
/// log: the setters' words in that context (an expression's "in htaccess context", a vertical
/// tab splitting words as C's isspace does), and what .htaccess may not hold.
#[test]
fn htaccess_rewrite_errors_log_like_apache() {
    require_apache2();
    let cases = [
        (
            "expr",
            "RewriteCond expr \"%{QUERY_STRING} b= 'x'\"\nRewriteRule ^ -",
        ),
        ("vtab", "RewriteRule ^ - [T=text/x\u{b}fuzz]"),
        ("flag", "RewriteRule ^a b [Bogus]"),
        ("regex", "RewriteRule ( x"),
        ("base", "RewriteBase relative/"),
        ("map", "RewriteMap m int:toupper"),
        ("options", "RewriteOptions Frob"),
        ("cond", "RewriteCond %{HTTP_HOST}"),
    ];
    let mut family = String::from(
        "@@ config\n<Directory @DOCROOT@>\n    AllowOverride FileInfo\n</Directory>\n",
    );
    for (dir, text) in &cases {
        family.push_str(&format!(
            "@@ file {dir}/.htaccess\n{text}\n@@ file {dir}/a.txt\na\n"
        ));
    }
    let mut pair = Pair::start(&parse_family(&family));
    for (dir, _) in &cases {
        let request = format!("GET /{dir}/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (theirs, ours) = pair.exchange(request.as_bytes());
        let status = |r: &[u8]| String::from_utf8_lossy(&r[..r.len().min(12)]).into_owned();
        assert_eq!(status(&ours), status(&theirs), "{dir}");
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), ".htaccess");
    let b = error_lines(pair.our_site.dir.path(), ".htaccess");
    assert_eq!(a.len(), cases.len(), "{a:#?}");
    assert_eq!(a, b);
}
