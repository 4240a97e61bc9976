//! A differential `.htaccess` fuzzer: generated `.htaccess` files (directives of the module
//! set and outside it, sections, wrong arguments, now and then bytes mutated) are written into
//! a directory that both Debian's apache2 and rhttpd serve under `AllowOverride All`; a few
//! requests follow each file. The answers must be the same, and so must the error log lines
//! each request left (times, pids and client ports set aside), since a broken `.htaccess` is
//! reported there. Every difference is printed with the file and the request. Not a test: run
//! by hand with a seed and a time budget.
//!
//!     cargo build && cargo run -q -p rhttpd-differ --bin htaccess -- [SEED] [SECONDS]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;
use rhttpd_differ::{escaped, mutate, seed_and_budget, Rng};

const SITE: &str = "@@ config
LogLevel warn
<Directory @DOCROOT@/h>
    AllowOverride All
</Directory>
@@ file h/a.txt
hello
@@ file h/b.html
<p>b</p>
@@ file h/index.html
<p>index</p>
@@ file h/sub/c.txt
c
@@ file h/sub/d.gz
not really gzip
";

/// Lines an `.htaccess` may hold, right or wrong.
const LINES: &[&str] = &[
    "Options -Indexes",
    "Options +Indexes",
    "Options All",
    "Options +MultiViews",
    "Options ExecCGI Includes",
    "Options +Bogus",
    "DirectoryIndex b.html",
    "DirectoryIndex missing.html",
    "DirectoryIndex disabled",
    "Redirect /h/a.txt /h/b.html",
    "Redirect 301 /h/sub http://example.com/elsewhere",
    "Redirect gone /h/b.html",
    "Redirect 399 /h/a.txt /x",
    "RedirectMatch ^/h/(.*)\\.txt$ /h/$1.html",
    "RedirectMatch (",
    "Header set X-A 1",
    "Header always append X-B two",
    "Header unset ETag",
    "Header edit Content-Type text html",
    "Header set X-E \"%{FOO}e\" env=FOO",
    "Header bogus X-A 1",
    "RequestHeader set X-R 1",
    "Require all denied",
    "Require all granted",
    "Require ip 127.0.0.1",
    "Require not ip 10.0.0.1",
    "Require valid-user",
    "Require expr %{QUERY_STRING} == 'x'",
    "Require bogus",
    "AuthType Basic",
    "AuthName \"realm\"",
    "AuthUserFile /nonexistent/htpasswd",
    "Order deny,allow",
    "Deny from all",
    "Allow from 127.0.0.1",
    "Satisfy Any",
    "AddType text/x-foo .txt",
    "ForceType text/plain",
    "ForceType",
    "AddDefaultCharset utf-8",
    "AddCharset utf-8 .txt",
    "AddLanguage de .txt",
    "AddEncoding gzip .gz",
    "DefaultLanguage fr",
    "RemoveType .txt",
    "ErrorDocument 404 /h/b.html",
    "ErrorDocument 403 \"denied here\"",
    "ErrorDocument 500 http://example.com/oops",
    "ErrorDocument 404",
    "FileETag None",
    // Not INode: the two servers' files are different files.
    "FileETag MTime",
    "FileETag -MTime",
    "FileETag +Bogus",
    "SetEnvIf Request_URI a\\.txt FOO=1",
    "SetEnv FOO 2",
    "UnsetEnv FOO",
    "BrowserMatchNoCase curl FOO",
    "AddOutputFilterByType DEFLATE text/plain",
    "SetOutputFilter DEFLATE",
    "SetOutputFilter NOSUCH",
    "LimitRequestBody 1",
    "AcceptPathInfo On",
    "IndexOptions FancyIndexing",
    "IndexIgnore *.txt",
    "ExpiresActive On",
    "RewriteEngine On",
    "php_value display_errors 1",
    "AllowOverride None",
    "LogLevel debug",
    "ServerName inside.example",
    "<Files a.txt>\nRequire all denied\n</Files>",
    "<FilesMatch \"\\.html$\">\nHeader set X-H 1\n</FilesMatch>",
    "<Files>\n</Files>",
    "<If \"%{QUERY_STRING} == 'x'\">\nHeader set X-Q 1\n</If>\n<Else>\nHeader set X-Q 0\n</Else>",
    "<If \"bogus\">\n</If>",
    "<IfModule mod_headers.c>\nHeader set X-M 1\n</IfModule>",
    "<IfModule !mod_rewrite.c>\nHeader set X-NR 1\n</IfModule>",
    "<Limit POST>\nRequire all denied\n</Limit>",
    "<LimitExcept GET>\nRequire all denied\n</LimitExcept>",
    "<Directory /tmp>\n</Directory>",
    "<Location />\n</Location>",
    "</Files>",
    "<RequireAny>\nRequire ip 10.0.0.1\nRequire env FOO\n</RequireAny>",
    "<RequireAll>\nRequire all granted\nRequire not env FOO\n</RequireAll>",
    "<RequireNone>\nRequire all granted\n</RequireNone>",
    "SetEnvIfExpr \"%{QUERY_STRING} =~ /x/\" FOO=q",
    "Header set X-X \"expr=%{REQUEST_URI}\"",
    "Header merge Cache-Control no-cache",
    "Header always setifempty X-Y y",
    "Header echo ^User",
    "AddHandler type-map .var",
    "AddHandler cgi-script .txt",
    "SetHandler server-status",
    "SetHandler none",
    "DefaultType text/plain",
    "ContentDigest On",
    "AcceptPathInfo Off",
    "HeaderName b.html",
    "ReadmeName /h/b.html",
    "IndexOptions +ShowForbidden -FancyIndexing",
    "IndexOrderDefault Descending Date",
    "AddIcon /icons/x.gif .txt",
    "AddAlt \"a text\" .txt",
    "DirectorySlash Off",
    "FallbackResource /h/b.html",
    "AddInputFilter DEFLATE .txt",
    "SetInputFilter DEFLATE",
    "Options -FollowSymLinks +SymLinksIfOwnerMatch",
    "Satisfy All",
    "AuthBasicProvider file",
    "AuthGroupFile /nonexistent/groups",
    "Require group admins",
    "ErrorDocument 404 \"%{REQUEST_URI} missing\"",
    "ErrorDocument 403 /h/missing-page.html",
    "RedirectPermanent /h/b.html /h/a.txt",
    "RedirectTemp /h/old /h/a.txt",
    "Alias /x /tmp",
    "RemoveHandler .txt",
    "MultiviewsMatch Handlers",
    "LanguagePriority de en",
    "ForceLanguagePriority Prefer Fallback",
    // mod_rewrite: rules, conditions and options mixed with the rest.
    "RewriteEngine Off",
    "RewriteBase /h/",
    "RewriteBase /elsewhere/",
    "RewriteOptions Inherit AllowNoSlash",
    "RewriteRule ^a\\.txt$ b.html [L]",
    "RewriteRule ^(.*)\\.txt$ $1.html",
    "RewriteRule ^sub/(.*)$ /h/$1 [R=301,L]",
    "RewriteRule ^missing$ index.html [QSA,L]",
    "RewriteRule . index.html [L]",
    "RewriteRule ^ - [E=FOO:%{REQUEST_URI}]",
    "RewriteRule ^(a)(.*)$ $2$1?q=$1 [B,NE]",
    "RewriteRule ^b - [F]",
    "RewriteRule ^x - [G,L]",
    "RewriteRule ^(.*)$ http://example.com/$1 [R,L]",
    "RewriteRule ^ - [T=text/x-fuzz]",
    "RewriteRule ^(.+)$ $1 [N=3]",
    "RewriteRule ^a [CO=c:v:x]",
    "RewriteRule ^a.txt sub/c.txt [PT,END]",
    "RewriteRule ^ index.html [DPI,S=1]",
    "RewriteRule ( x",
    "RewriteRule ^a b [Bogus]",
    "RewriteCond %{REQUEST_FILENAME} !-f",
    "RewriteCond %{REQUEST_FILENAME} -d [OR]",
    "RewriteCond %{QUERY_STRING} (.+)",
    "RewriteCond %{HTTP_USER_AGENT} curl [NC]",
    "RewriteCond %{HTTP:Accept-Encoding} gzip",
    "RewriteCond %{REQUEST_METHOD} =POST",
    "RewriteCond expr \"%{QUERY_STRING} == 'x'\"",
    "RewriteCond %{ENV:FOO} -gt2",
];

const REQUESTS: &[&[u8]] = &[
    b"GET /h/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /h/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /h/sub/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /h/sub/c.txt?x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"HEAD /h/b.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /h/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    b"GET /h/missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /h/a HTTP/1.1\r\nHost: x\r\nAccept-Language: de\r\nConnection: close\r\n\r\n",
    b"POST /h/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"GET /h/sub/d.gz HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\nConnection: close\r\n\r\n",
];

/// A generated `.htaccess`: one to five lines, now and then mutated.
fn htaccess(rng: &mut Rng) -> Vec<u8> {
    let mut text = String::new();
    for _ in 0..=rng.below(5) {
        let line: &&str = rng.pick(LINES);
        text.push_str(line);
        text.push('\n');
    }
    let bytes = text.into_bytes();
    if rng.one_in(4) {
        mutate(rng, &bytes)
    } else {
        bytes
    }
}

/// The error log lines written since `from` bytes, each as `[module:level] message` with the
/// site's root masked.
fn new_log_lines(site: &Path, from: u64) -> (Vec<String>, u64) {
    let log = fs::read(site.join("logs/error_log")).unwrap_or_default();
    let stamp = regex::Regex::new(
        r"^\[[^\]]+\] (\[[a-z_0-9]+:[a-z0-9]+\]) \[pid \d+(:tid \d+)?\] (\[client [^\]]*\] )?",
    )
    .unwrap();
    let root = site.display().to_string();
    let text = String::from_utf8_lossy(&log[(from as usize).min(log.len())..]).into_owned();
    let lines = text
        .lines()
        .map(|line| stamp.replace(line, "$1 ").replace(&root, "<root>"))
        .collect();
    (lines, log.len() as u64)
}

fn main() {
    require_apache2();
    let (seed, budget) = seed_and_budget();
    let pair = Pair::start(&parse_family(SITE));
    let sites = [pair.their_site.dir.path(), pair.our_site.dir.path()];
    let mut log_at = [0u64; 2];
    for (site, at) in sites.iter().zip(log_at.iter_mut()) {
        *at = new_log_lines(site, 0).1;
    }
    let vlist = regex::Regex::new(r#"(W/)?("[^";\r\n]*);[0-9a-f]+"?"#).unwrap();
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + budget;
    let (mut files, mut requests, mut differing) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        let content = htaccess(&mut rng);
        // A new modification time each file, whatever the clock's resolution.
        let when = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + files);
        for site in sites {
            let path = site.join("htdocs/h/.htaccess");
            fs::write(&path, &content).unwrap();
            let file = fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(when).unwrap();
        }
        files += 1;
        for _ in 0..2 {
            let request = *rng.pick(REQUESTS);
            let (theirs, ours) = pair.normalized_exchange(request, &[]);
            // A MultiViews answer's ETag carries Apache's variant-list validator, which it
            // takes from memory a missing file never filled (it differs run to run).
            let (theirs, ours) = (
                vlist.replace_all(&theirs, ";<vlist>"),
                vlist.replace_all(&ours, ";<vlist>"),
            );
            let (their_log, their_at) = new_log_lines(sites[0], log_at[0]);
            let (our_log, our_at) = new_log_lines(sites[1], log_at[1]);
            log_at = [their_at, our_at];
            requests += 1;
            if theirs != ours || their_log != our_log {
                differing += 1;
                println!(
                    "== .htaccess: {}\n== request: {}\n--- apache2\n{theirs}\n{}\n--- rhttpd\n{ours}\n{}\n",
                    escaped(&content),
                    escaped(request),
                    their_log.join("\n"),
                    our_log.join("\n")
                );
            }
        }
    }
    println!(
        "htaccess: seed {seed}, {files} files, {requests} requests, {differing} answered or logged differently"
    );
}
