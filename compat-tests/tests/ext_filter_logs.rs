//! mod_ext_filter's error-log lines diffed against apache2: a program that cannot start
//! (missing, no cmd=, found only on PATH), a filter without a definition for its server, an
//! input filter that cannot start, a program's stderr under LogStderr, and the trace1 line
//! each filter writes as it starts or stands aside; times, ports and the site's path set aside.

use std::time::Duration;

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = r#"@@ config
LogLevel ext_filter:trace1
ScriptAlias /cgi-bin/ "@SERVERROOT@/htdocs/cgi-bin/"
ExtFilterDefine upper cmd="/usr/bin/tr a-z A-Z" intype=text/plain outtype=text/x-upper PreservesContentLength
ExtFilterDefine missing cmd=/no/such/program
ExtFilterDefine relative cmd="tr a-z A-Z"
ExtFilterDefine nocmd
ExtFilterDefine noisy cmd="/bin/sh -c 'echo to-stderr >&2; cat'"
ExtFilterDefine upin mode=input cmd="/usr/bin/tr a-z A-Z"
ExtFilterDefine missingin mode=input cmd=/no/such/program
ExtFilterDefine textin mode=input cmd="/usr/bin/tr a-z A-Z" intype=text/plain
<VirtualHost 127.0.0.1:@PORT@>
    ServerName localhost
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName other.example
    ExtFilterDefine vhostonly cmd="/usr/bin/tr a-z A-Z"
</VirtualHost>
<Directory "@SERVERROOT@/htdocs">
    ExtFilterOptions LogStderr
</Directory>
<Location /upper/>
    SetOutputFilter upper
</Location>
<Location /missing/>
    SetOutputFilter missing
    ExtFilterOptions Onfail=remove NoLogStderr
</Location>
<Location /relative/>
    SetOutputFilter relative
</Location>
<Location /nocmd/>
    SetOutputFilter nocmd
</Location>
<Location /noisy/>
    SetOutputFilter noisy
</Location>
<Location /vonly/>
    SetOutputFilter vhostonly
</Location>
<Location /cgi-bin/echo>
    SetInputFilter upin
</Location>
<Location /cgi-bin/echotext>
    SetInputFilter textin
</Location>
<Location /cgi-bin/echomissing>
    SetInputFilter missingin
</Location>
@@ file upper/a.txt
hello
@@ file missing/a.txt
hello
@@ file relative/a.txt
hello
@@ file nocmd/a.txt
hello
@@ file noisy/a.txt
hello
@@ file vonly/a.txt
hello
@@ file upper/b.html
<p>hello</p>
@@ file cgi-bin/echo
#!/bin/sh
body=$(cat)
printf 'Content-Type: text/plain\n\n[%s]\n' "$body"
@@ file cgi-bin/echotext
#!/bin/sh
body=$(cat)
printf 'Content-Type: text/plain\n\n[%s]\n' "$body"
@@ file cgi-bin/echomissing
#!/bin/sh
body=$(cat)
printf 'Content-Type: text/plain\n\n[%s]\n' "$body"
"#;

const REQUESTS: &[&str] = &[
    "GET /upper/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /upper/b.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /missing/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /relative/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /nocmd/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /noisy/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /vonly/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "POST /cgi-bin/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    "POST /cgi-bin/echotext HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Type: text/html\r\nConnection: close\r\n\r\nhello",
    "POST /cgi-bin/echomissing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
];

#[test]
fn ext_filter_error_log_lines_match_apache() {
    require_apache2();
    let family = parse_family(FAMILY);
    let mut pair = Pair::start(&family);
    for request in REQUESTS {
        let (a, b) = pair.exchange(request.as_bytes());
        let status = |raw: &[u8]| String::from_utf8_lossy(&raw[..12.min(raw.len())]).into_owned();
        assert_eq!(status(&a), status(&b), "{request}");
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    for needle in [
        "AH01458",
        "AH01459",
        "AH01467",
        "AH01470",
        "to-stderr",
        "filtering `",
    ] {
        let a = error_lines(pair.their_site.dir.path(), needle);
        let b = error_lines(pair.our_site.dir.path(), needle);
        assert!(!a.is_empty(), "apache2 logged nothing with {needle}");
        assert_eq!(a, b, "error-log lines with {needle}");
    }
}
