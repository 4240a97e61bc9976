//! Status lines and Apache's built-in error documents (the HTML a 4xx/5xx carries when no
//! ErrorDocument says otherwise), byte for byte.

use std::borrow::Cow;

use rhttpd_directives::util::escape::escape_html_str as escape_html;

/// The status lines Apache knows, by code (sorted: looked up by binary search); any other
/// code is sent as 500's line.
const STATUS_LINES: &[(u16, &str)] = &[
    (100, "100 Continue"),
    (101, "101 Switching Protocols"),
    (102, "102 Processing"),
    (200, "200 OK"),
    (201, "201 Created"),
    (202, "202 Accepted"),
    (203, "203 Non-Authoritative Information"),
    (204, "204 No Content"),
    (205, "205 Reset Content"),
    (206, "206 Partial Content"),
    (207, "207 Multi-Status"),
    (208, "208 Already Reported"),
    (226, "226 IM Used"),
    (300, "300 Multiple Choices"),
    (301, "301 Moved Permanently"),
    (302, "302 Found"),
    (303, "303 See Other"),
    (304, "304 Not Modified"),
    (305, "305 Use Proxy"),
    (307, "307 Temporary Redirect"),
    (308, "308 Permanent Redirect"),
    (400, "400 Bad Request"),
    (401, "401 Unauthorized"),
    (402, "402 Payment Required"),
    (403, "403 Forbidden"),
    (404, "404 Not Found"),
    (405, "405 Method Not Allowed"),
    (406, "406 Not Acceptable"),
    (407, "407 Proxy Authentication Required"),
    (408, "408 Request Timeout"),
    (409, "409 Conflict"),
    (410, "410 Gone"),
    (411, "411 Length Required"),
    (412, "412 Precondition Failed"),
    (413, "413 Request Entity Too Large"),
    (414, "414 Request-URI Too Long"),
    (415, "415 Unsupported Media Type"),
    (416, "416 Requested Range Not Satisfiable"),
    (417, "417 Expectation Failed"),
    (421, "421 Misdirected Request"),
    (422, "422 Unprocessable Entity"),
    (423, "423 Locked"),
    (424, "424 Failed Dependency"),
    (426, "426 Upgrade Required"),
    (428, "428 Precondition Required"),
    (429, "429 Too Many Requests"),
    (431, "431 Request Header Fields Too Large"),
    (451, "451 Unavailable For Legal Reasons"),
    (500, "500 Internal Server Error"),
    (501, "501 Not Implemented"),
    (502, "502 Bad Gateway"),
    (503, "503 Service Unavailable"),
    (504, "504 Gateway Timeout"),
    (505, "505 HTTP Version Not Supported"),
    (506, "506 Variant Also Negotiates"),
    (507, "507 Insufficient Storage"),
    (508, "508 Loop Detected"),
    (510, "510 Not Extended"),
    (511, "511 Network Authentication Required"),
];

/// `404 Not Found` for 404; Apache's 500 line for codes it does not know.
pub fn status_line(code: u16) -> String {
    status_line_text(code).to_owned()
}

/// [`status_line`] without the copy.
pub fn status_line_text(code: u16) -> &'static str {
    match STATUS_LINES.binary_search_by_key(&code, |(c, _)| *c) {
        Ok(at) => STATUS_LINES[at].1,
        Err(_) => "500 Internal Server Error",
    }
}

/// Whether a status line of the handler's (`r->status_line`) stands for `code`: Apache takes
/// it when it is longer than four bytes and begins with the code's three digits and a space.
pub fn names_status(line: &str, code: u16) -> bool {
    if !(100..1000).contains(&code) {
        return line.len() > 4 && line.starts_with(&format!("{code} "));
    }
    let bytes = line.as_bytes();
    let digits = [code / 100, code / 10 % 10, code % 10].map(|d| b'0' + d as u8);
    bytes.len() > 4 && bytes[..3] == digits && bytes[3] == b' '
}

/// [`status_line`] appended to `out`.
pub fn push_status_line(out: &mut String, code: u16) {
    out.push_str(status_line_text(code));
}

/// Whether Apache knows the code (ErrorDocument accepts only these).
/// Whether an answer with this status ends its connection (Apache's
/// `ap_status_drops_connection`): the request may not have been read whole.
pub fn drops_connection(code: u16) -> bool {
    matches!(code, 400 | 408 | 411 | 413 | 414 | 500 | 501 | 503)
}

pub fn is_known(code: u16) -> bool {
    STATUS_LINES
        .binary_search_by_key(&code, |(c, _)| *c)
        .is_ok()
}

/// What the canned error page needs from the request.
pub struct ErrorContext<'a> {
    pub method: &'a str,
    pub location: Option<&'a str>,
    pub server_admin: &'a str,
    /// Apache's `error-notes` (already HTML-escaped where it matters).
    pub error_notes: Option<&'a str>,
    /// The Expect header, for 417.
    pub expect: Option<&'a str>,
    /// The `<hr>`/`<address>` lines of ServerSignature, or empty.
    pub signature: String,
    /// A status line a module gave its error (`502 Proxy Error`), for the title.
    pub status_line: Option<&'a str>,
    /// The notes stand in for the generic message of a 500 (`verbose-error-to *`).
    pub verbose: bool,
}

fn with_notes(prefix: &str, notes: Option<&str>, suffix: &str) -> Cow<'static, str> {
    format!("{prefix}{}{suffix}", notes.unwrap_or("")).into()
}

/// The message paragraph Apache writes for `code` (`get_canned_error_string`).
fn canned_message(code: u16, cx: &ErrorContext) -> Cow<'static, str> {
    // Escaped only for the pages that show it (most do not).
    let method = || escape_html(cx.method);
    match code {
        301 | 302 | 307 | 308 => {
            format!("<p>The document has moved <a href=\"{}\">here</a>.</p>\n", escape_html(cx.location.unwrap_or(""))).into()
        }
        303 => format!(
            "<p>The answer to your request is located <a href=\"{}\">here</a>.</p>\n",
            escape_html(cx.location.unwrap_or(""))
        )
        .into(),
        // The list of variants (mod_speling's, mod_negotiation's), and nothing else.
        300 => with_notes("", cx.error_notes, ""),
        305 => "<p>This resource is only accessible through the proxy\n<br />\nYou will need to configure your client to use that proxy.</p>\n".into(),
        401 | 407 => "<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>\n".into(),
        400 => with_notes("<p>Your browser sent a request that this server could not understand.<br />\n", cx.error_notes, "</p>\n"),
        403 => with_notes("<p>You don't have permission to access this resource.", cx.error_notes, "</p>\n"),
        404 => "<p>The requested URL was not found on this server.</p>\n".into(),
        405 => format!("<p>The requested method {} is not allowed for this URL.</p>\n", method()).into(),
        406 => with_notes("<p>An appropriate representation of the requested resource could not be found on this server.</p>\n", cx.error_notes, ""),
        411 => with_notes(&format!("<p>A request of the requested method {} requires a valid Content-length.<br />\n", method()), cx.error_notes, "</p>\n"),
        412 => "<p>The precondition on the request for this URL evaluated to false.</p>\n".into(),
        501 => with_notes(&format!("<p>{} not supported for current URL.<br />\n", method()), cx.error_notes, "</p>\n"),
        502 => with_notes("<p>The proxy server received an invalid\r\nresponse from an upstream server.<br />\r\n", cx.error_notes, "</p>\n"),
        506 => "<p>A variant for the requested resource\n<pre>\n\n</pre>\nis itself a negotiable resource. This indicates a configuration error.</p>\n".into(),
        408 => "<p>Server timeout waiting for the HTTP request from the client.</p>\n".into(),
        410 => "<p>The requested resource is no longer available on this server and there is no forwarding address.\nPlease remove all references to this resource.</p>\n".into(),
        413 => format!("The requested resource does not allow request data with {} requests, or the amount of data provided in\nthe request exceeds the capacity limit.\n", method()).into(),
        414 => with_notes("<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n", cx.error_notes, "</p>\n"),
        415 => "<p>The supplied request data is not in a format\nacceptable for processing by this resource.</p>\n".into(),
        416 => "<p>None of the range-specifier values in the Range\nrequest-header field overlap the current extent\nof the selected resource.</p>\n".into(),
        417 => {
            let first = match cx.expect {
                Some(expect) => format!(
                    "<p>The expectation given in the Expect request-header\nfield could not be met by this server.\nThe client sent<pre>\n    Expect: {}\n</pre>\n",
                    escape_html(expect)
                ),
                None => "<p>No expectation was seen, the Expect request-header \nfield was not presented by the client.\n".to_string(),
            };
            with_notes(&first, cx.error_notes, "</p><p>Only the 100-continue expectation is supported.</p>\n")
        }
        422 => "<p>The server understands the media type of the\nrequest entity, but was unable to process the\ncontained instructions.</p>\n".into(),
        423 => "<p>The requested resource is currently locked.\nThe lock must be released or proper identification\ngiven before the method can be applied.</p>\n".into(),
        424 => "<p>The method could not be performed on the resource\nbecause the requested action depended on another\naction and that other action failed.</p>\n".into(),
        426 => "<p>The requested resource can only be retrieved\nusing SSL.  The server is willing to upgrade the current\nconnection to SSL, but your client doesn't support it.\nEither upgrade your client, or try requesting the page\nusing https://\n".into(),
        428 => "<p>The request is required to be conditional.</p>\n".into(),
        429 => "<p>The user has sent too many requests\nin a given amount of time.</p>\n".into(),
        431 => "<p>The server refused this request because\nthe request header fields are too large.</p>\n".into(),
        507 => "<p>The method could not be performed on the resource\nbecause the server is unable to store the\nrepresentation needed to successfully complete the\nrequest.  There is insufficient free space left in\nyour storage allocation.</p>\n".into(),
        503 => "<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n".into(),
        504 => "<p>The gateway did not receive a timely response\nfrom the upstream server or application.</p>\n".into(),
        508 => "<p>The server terminated an operation because\nit encountered an infinite loop.</p>\n".into(),
        510 => "<p>A mandatory extension policy in the request is not\naccepted by the server for this resource.</p>\n".into(),
        511 => "<p>The client needs to authenticate to gain\nnetwork access.</p>\n".into(),
        421 => "<p>The client needs a new connection for this\nrequest as the requested host name does not match\nthe Server Name Indication (SNI) in use for this\nconnection.</p>\n".into(),
        451 => with_notes("<p>Access to this URL has been denied for legal reasons.<br />\n", cx.error_notes, "</p>\n"),
        _ if cx.verbose && cx.error_notes.is_some() => {
            format!("{}<p />\n", cx.error_notes.unwrap_or("")).into()
        }
        _ => format!(
            "<p>The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request.</p>\n<p>Please contact the server administrator at \n {} to inform them of the time this error occurred,\n and the actions you performed just before this error.</p>\n<p>More information about this error may be available\nin the server error log.</p>\n",
            escape_html(cx.server_admin)
        )
        .into(),
    }
}

/// The whole built-in error document for `code`.
pub fn error_page(code: u16, cx: &ErrorContext) -> String {
    let title = match cx.status_line {
        Some(line) if names_status(line, code) => line,
        _ => status_line_text(code),
    };
    let h1 = &title[4..];
    // Pieces appended, not format!: every 404 builds this page.
    let message = canned_message(code, cx);
    let mut page = String::with_capacity(256 + message.len() + cx.signature.len());
    page.push_str(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>",
    );
    page.push_str(title);
    page.push_str("</title>\n</head><body>\n<h1>");
    page.push_str(h1);
    page.push_str("</h1>\n");
    page.push_str(&message);
    page.push_str(&cx.signature);
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_page_is_apaches() {
        let cx = ErrorContext {
            method: "GET",
            location: None,
            server_admin: "x",
            error_notes: None,
            expect: None,
            signature: String::new(),
            status_line: None,
            verbose: false,
        };
        let page = error_page(404, &cx);
        assert_eq!(page.len(), 236);
        assert!(page.contains("<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n"));
    }

    #[test]
    fn the_table_is_sorted_for_its_binary_search() {
        assert!(STATUS_LINES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(STATUS_LINES
            .iter()
            .all(|(code, line)| line.starts_with(&format!("{code} "))));
    }

    #[test]
    fn a_status_line_names_its_code_by_its_first_digits() {
        assert!(names_status("502 Proxy Error", 502));
        assert!(names_status("200 OK", 200));
        assert!(!names_status("200 ", 200));
        assert!(!names_status("2000 OK", 200));
        assert!(!names_status("201 Created", 200));
        assert!(names_status("42 short", 42));
    }

    #[test]
    fn unknown_codes_use_500() {
        assert_eq!(status_line(299), "500 Internal Server Error");
        assert_eq!(status_line(416), "416 Requested Range Not Satisfiable");
    }
}
