//! What `ap_expr` expressions (`<If>`, `Require expr`, `SetEnvIfExpr`, `Header ... expr=`)
//! read of the request being served.

use std::net::IpAddr;

use rhttpd_directives::expr::Context;

use super::Request;

/// A request seen by an expression, with its environment as it stands.
pub struct RequestContext<'a, 'r> {
    pub req: &'a Request<'r>,
    pub env: &'a [(String, String)],
    /// The response headers, for `resp()` (none before the handler ran).
    pub response_headers: Option<&'a crate::http1::Headers>,
    /// Conditions (not string expressions) name the headers they read in Vary, as Apache's
    /// boolean evaluation does.
    pub record_vary: bool,
    /// The response's Content-Type, once the handler chose one (`CONTENT_TYPE`).
    pub content_type: Option<&'a str>,
    /// For a context built with [`RequestContext::lazy`]: the request's environment, made the
    /// first time an expression reads it (most never do, and making it runs mod_setenvif).
    made_env: Option<std::cell::OnceCell<Vec<(String, String)>>>,
}

impl<'a, 'r> RequestContext<'a, 'r> {
    /// A context for conditions.
    pub fn new(req: &'a Request<'r>, env: &'a [(String, String)]) -> Self {
        RequestContext {
            req,
            env,
            response_headers: None,
            record_vary: true,
            content_type: None,
            made_env: None,
        }
    }

    /// A context for conditions that makes the request's environment only if one reads it.
    pub fn lazy(req: &'a Request<'r>) -> Self {
        RequestContext {
            made_env: Some(std::cell::OnceCell::new()),
            ..RequestContext::new(req, &[])
        }
    }

    /// A context for string expressions, which leave Vary alone.
    pub fn for_strings(req: &'a Request<'r>, env: &'a [(String, String)]) -> Self {
        RequestContext {
            record_vary: false,
            ..RequestContext::new(req, env)
        }
    }
}

/// Adds `names` to a Vary header value, once each (Apache folds repeats when it sends it).
pub fn merge_vary(headers: &mut crate::http1::Headers, names: &[String]) {
    for name in names {
        match headers
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("Vary"))
        {
            Some((_, value)) => {
                if !value
                    .split(',')
                    .any(|v| v.trim().eq_ignore_ascii_case(name))
                {
                    // Apache's header filter rejoins Vary's tokens with bare commas.
                    value.push(',');
                    value.push_str(name);
                }
            }
            None => headers.0.push(("Vary".into(), name.clone())),
        }
    }
}

impl Context for RequestContext<'_, '_> {
    fn var(&self, name: &str) -> Option<String> {
        let req = self.req;
        let filename = || {
            req.filename
                .as_ref()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Some(match name {
            "REQUEST_METHOD" => req.method.clone(),
            "REQUEST_SCHEME" => req.scheme().into(),
            "HTTPS" => if req.conn.tls.is_some() { "on" } else { "off" }.into(),
            "REQUEST_URI" | "DOCUMENT_URI" => req.uri.clone(),
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => filename(),
            "PATH_INFO" => req.path_info.clone(),
            "QUERY_STRING" => req.args.clone().unwrap_or_default(),
            "THE_REQUEST" => String::from_utf8_lossy(&req.head.request_line).into_owned(),
            // The request's user agent, as mod_remoteip may have named it; the connection's
            // client for CONN_REMOTE_ADDR, REMOTE_PORT and IPV6, as Apache has them.
            "REMOTE_ADDR" | "REMOTE_HOST" => req.useragent.ip_text().into_owned(),
            "CONN_REMOTE_ADDR" => req.conn.peer.ip().to_string(),
            "REMOTE_PORT" => req.conn.peer.port().to_string(),
            "IPV6" => crate::modules::log_config::ipv6_flag(req.conn.peer.ip()).to_string(),
            "REMOTE_USER" => req.user.clone().unwrap_or_default(),
            "REMOTE_IDENT" => String::new(),
            "SERVER_NAME" => req.host_name(),
            "SERVER_PORT" => req.server_port().to_string(),
            "SERVER_ADMIN" => req.ctx().runtime.core.server_admin().to_string(),
            "SERVER_PROTOCOL" => match req.head.version {
                crate::http1::Version::Http09 => "HTTP/0.9",
                crate::http1::Version::Http10 => "HTTP/1.0",
                crate::http1::Version::Http11 => "HTTP/1.1",
            }
            .into(),
            "SERVER_SOFTWARE" => req.rt.server_banner.clone(),
            "DOCUMENT_ROOT" => req.document_root(),
            "CONTEXT_DOCUMENT_ROOT" => match &req.context_info {
                Some((_, root)) => root.clone(),
                None => req.document_root(),
            },
            "CONTEXT_PREFIX" => req
                .context_info
                .as_ref()
                .map(|(prefix, _)| prefix.clone())
                .unwrap_or_default(),
            "AUTH_TYPE" => req
                .dir
                .module::<crate::modules::authn_core::Dir>()
                .auth_type()
                .unwrap_or("")
                .to_string(),
            "HANDLER" => req.dir.core.set_handler.clone().unwrap_or_default(),
            "CONTENT_TYPE" => self.content_type.unwrap_or("").to_string(),
            "REQUEST_STATUS" => "200".into(),
            "REQUEST_LOG_ID" | "CONN_LOG_ID" => String::new(),
            _ => return None,
        })
    }

    fn ssl_var(&self, name: &str) -> Option<String> {
        let legacy = self
            .req
            .dir
            .module::<crate::modules::ssl::Dir>()
            .has(crate::modules::ssl::option::LEGACY_DN_FORMAT);
        crate::modules::ssl::vars::lookup(self.req.conn.tls.as_deref(), name, legacy)
    }

    fn request_header(&self, name: &str) -> Option<String> {
        // A response that depends on a request header says so in Vary (Host aside), as
        // Apache's evaluator adds it.
        if self.record_vary && !name.eq_ignore_ascii_case("Host") {
            let mut consulted = self.req.expr_vary.borrow_mut();
            if !consulted.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                consulted.push(name.to_string());
            }
        }
        self.req.head.headers.get_joined(name)
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers?.get_joined(name)
    }

    fn env(&self, name: &str) -> Option<String> {
        let env = match &self.made_env {
            Some(made) => made.get_or_init(|| super::environment(self.req)),
            None => self.env,
        };
        crate::modules::env::get(env, name).map(str::to_string)
    }

    fn note(&self, name: &str) -> Option<String> {
        self.req
            .notes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn remote_ip(&self) -> Option<IpAddr> {
        Some(self.req.useragent.ip())
    }
    fn utc_offset(&self, secs: i64) -> i64 {
        crate::sys::local_time(secs).gmtoff
    }
    /// `-F`: a sub-request for the file gets through mapping, access control and fixups with
    /// a file on disk (Apache's `ap_sub_req_lookup_file`, then a stat).
    fn subrequest_file_ok(&self, path: &str) -> bool {
        let Some(mut sub) = self.sub_request(self.req.uri.clone()) else {
            return false;
        };
        match super::pipeline::lookup_file(&mut sub, std::path::PathBuf::from(path)) {
            Ok((filename, _)) => std::fs::metadata(filename).is_ok(),
            Err(_) => false,
        }
    }
    /// `-U` and `-A`: a sub-request for the URL ends below 400 (it would be allowed).
    fn subrequest_uri_ok(&self, target: &str) -> bool {
        // A sub-request for the same URI as the request that made it asks no further (Apache's
        // guard against endless recursion: the check is of the requests, not the target).
        if self.req.parent_uri.as_deref() == Some(self.req.uri.as_str()) {
            return false;
        }
        let (path, args) = match target.split_once('?') {
            Some((path, args)) => (path, Some(args.to_string())),
            None => (target, None),
        };
        let core = &self.req.ctx().runtime.core;
        let merge = core.merge_slashes.unwrap_or(true);
        let Ok(path) = super::uri::normalize(path, merge, super::uri::EncodedSlashes::Refuse)
        else {
            return false;
        };
        let Some(mut sub) = self.sub_request(path) else {
            return false;
        };
        sub.args = args;
        match super::pipeline::lookup_uri(&mut sub) {
            Ok(_) => true,
            Err(status) => status < 400,
        }
    }
}

impl<'r> RequestContext<'_, 'r> {
    /// A sub-request of the request for `uri`, unless sub-requests nest past
    /// LimitInternalRecursion's sub-request limit.
    fn sub_request(&self, uri: String) -> Option<Request<'r>> {
        let limit = self.req.ctx().runtime.core.recursion_limits().1;
        if self.req.redirects >= limit {
            return None;
        }
        let mut sub = self.req.sub_request(uri);
        sub.redirects = self.req.redirects + 1;
        Some(sub)
    }
}
