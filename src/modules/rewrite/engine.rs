//! The rewriting engine: a rule list applied to a request (conditions, expansion of `$N`,
//! `%N`, `%{VAR}` and `${map:key|default}`, the flags), and what the hooks make of the
//! result in server context (translate_name) and per-directory context (fixups), with
//! mod_rewrite's trace at `LogLevel rewrite:traceN`.

use std::path::PathBuf;
use std::sync::Arc;

use super::{cond_flag, flag, option, state, CondKind, Dir, EnvChange, Rule, ServerConf};
use crate::hooks::Fixup;
use crate::modules::env;
use crate::request::{Request, Step};
use rhttpd_directives::model::opt;
use rhttpd_directives::util::escape::escape_uri;

/// What a rule list did (Apache's ACTION_* codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// A substitution changed the URI.
    Normal,
    /// The same, under `[NE]`: the result is not escaped.
    NoEscape,
    /// A rule set the response status (`[F]`, `[G]`, `[R=4xx]`, a round limit).
    Status(u16),
}

/// The matched subject and group spans of a RewriteRule (`$N`) or RewriteCond (`%N`).
#[derive(Default, Clone)]
struct Backrefs {
    source: Option<String>,
    spans: Vec<Option<(usize, usize)>>,
}

impl Backrefs {
    fn get(&self, n: usize) -> Option<&str> {
        let source = self.source.as_deref()?;
        match self.spans.get(n).copied().flatten() {
            Some((start, end)) if end > start => source.get(start..end),
            _ => None,
        }
    }
}

/// One application of a rule list to a request (Apache's `rewrite_ctx`, with the request's
/// working `r->filename`).
struct Engine<'a, 'r> {
    req: &'a mut Request<'r>,
    perdir: Option<Arc<str>>,
    /// The URI being rewritten (`r->filename` while the rules run).
    filename: String,
    /// The status a rule set (`r->status`).
    status: u16,
    /// What the current rule matched against (`ctx->uri`).
    uri: String,
    rule_refs: Backrefs,
    cond_refs: Backrefs,
    vary_this: Vec<String>,
    vary: Vec<String>,
    /// The self-URL reduction happened (`mod_rewrite_uri_reduced`).
    reduced: bool,
    /// Whether the rule being applied expands `%N` (its conditions' groups are kept).
    want_cond_groups: bool,
}

/// The trace prefix mod_rewrite writes before every message.
fn trace_line(req: &Request, perdir: Option<&str>, text: &str) -> String {
    let user = match req.user.as_deref() {
        Some("") => "\"\"",
        Some(user) => user,
        None => "-",
    };
    let redirects = req.redirects;
    let server = req.ctx() as *const _ as usize;
    let request = req as *const _ as usize;
    format!(
        "{} - {user} [{}/sid#{server:x}][rid#{request:x}/{}{}] {}{text}",
        req.useragent.ip_text(),
        req.host_name(),
        if req.subrequest { "subreq" } else { "initial" },
        if redirects > 0 {
            format!("/redir#{redirects}")
        } else {
            String::new()
        },
        match perdir {
            Some(dir) => format!("[perdir {dir}] "),
            None => String::new(),
        }
    )
}

/// Writes a trace message at `trace{level}` when LogLevel lets it through.
fn trace(req: &Request, level: u8, perdir: Option<&str>, text: impl FnOnce() -> String) {
    if req.dir.core.log_level.is_empty() && !crate::log::tracing_anywhere() {
        return;
    }
    let name = TRACE_LEVELS[usize::from(level.clamp(1, 8)) - 1];
    if !crate::log::enabled_with(&req.dir.core.log_level, "rewrite", name) {
        return;
    }
    let line = trace_line(req, perdir, &text());
    req.log_error("rewrite", name, &line);
}

const TRACE_LEVELS: [&str; 8] = [
    "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

impl<'a, 'r> Engine<'a, 'r> {
    /// An engine about to rewrite `filename` for `req`, per directory under `perdir`.
    fn new(req: &'a mut Request<'r>, filename: String, perdir: Option<Arc<str>>) -> Self {
        Engine {
            req,
            perdir,
            filename,
            status: 0,
            uri: String::new(),
            rule_refs: Backrefs::default(),
            cond_refs: Backrefs::default(),
            vary_this: Vec::new(),
            vary: Vec::new(),
            reduced: false,
            want_cond_groups: true,
        }
    }

    fn trace(&self, level: u8, text: impl FnOnce() -> String) {
        trace(self.req, level, self.perdir.as_deref(), text);
    }

    /// Applies a rule list (Apache's `apply_rewrite_list`): what it did, and the last rule
    /// that substituted.
    fn apply_list(&mut self, rules: &[Arc<Rule>]) -> (Option<Action>, Option<Arc<Rule>>) {
        let mut changed = None;
        let mut last_sub = None;
        let mut round: i64 = 1;
        'rounds: loop {
            let mut i = 0;
            while i < rules.len() {
                let rule = &rules[i];
                if self.req.subrequest && rule.flags & (flag::NO_SUBREQ | flag::FORCE_REDIRECT) != 0
                {
                    i += 1;
                    continue;
                }
                self.vary.clear();
                let outcome = self.apply_rule(rule);
                match outcome {
                    RuleOutcome::NoMatch => {
                        // A chained rule that did not match takes the rest of its chain along.
                        let mut at = i;
                        while at < rules.len() && rules[at].flags & flag::CHAIN != 0 {
                            at += 1;
                        }
                        i = at + 1;
                        continue;
                    }
                    RuleOutcome::Match | RuleOutcome::NoSub | RuleOutcome::StatusSet => {}
                }
                if rule.flags & flag::NO_SUB == 0 {
                    self.trace(2, || {
                        format!("setting lastsub to rule with output {}", rule.output)
                    });
                    last_sub = Some(Arc::clone(rule));
                }
                let limit = 2 * self
                    .req
                    .ctx()
                    .runtime
                    .core
                    .limit_request_line
                    .unwrap_or(8190);
                if self.filename.len() as u64 > limit as u64 {
                    let text = format!(
                        "RewriteRule '{}' and URI '{}' exceeded maximum length ({limit})",
                        rule.pattern, self.req.uri
                    );
                    self.req.log_error("rewrite", "error", &text);
                    return (Some(Action::Status(500)), last_sub);
                }
                if !self.vary.is_empty() {
                    let names = std::mem::take(&mut self.vary);
                    crate::request::expr::merge_vary(&mut self.req.headers_out, &names);
                }
                if outcome == RuleOutcome::StatusSet {
                    return (Some(Action::Status(self.status)), last_sub);
                }
                if rule.flags & flag::STATUS != 0 {
                    return (Some(Action::Status(self.status)), last_sub);
                }
                if outcome != RuleOutcome::NoSub {
                    changed = Some(if rule.flags & flag::NO_ESCAPE != 0 {
                        Action::NoEscape
                    } else {
                        Action::Normal
                    });
                }
                if rule.flags & flag::PASS_THROUGH != 0 {
                    self.trace(2, || {
                        format!(
                            "forcing '{}' to get passed through to next API URI-to-filename \
                             handler",
                            self.filename
                        )
                    });
                    self.filename = format!("passthrough:{}", self.filename);
                    changed = Some(Action::Normal);
                    break 'rounds;
                }
                if rule.flags & flag::END != 0 {
                    self.trace(8, || {
                        "Rule has END flag, no further rewriting for this request".to_string()
                    });
                    state(self.req).end = true;
                    break 'rounds;
                }
                if rule.flags & (flag::PROXY | flag::LAST) != 0 {
                    break 'rounds;
                }
                if rule.flags & flag::NEXT_ROUND != 0 {
                    round += 1;
                    if round >= rule.max_rounds {
                        let text = format!(
                            "AH02596: RewriteRule '{}' and URI '{}' exceeded maximum number of \
                             rounds ({}) via the [N] flag",
                            rule.pattern, self.req.uri, rule.max_rounds
                        );
                        self.req.log_error("rewrite", "error", &text);
                        return (Some(Action::Status(500)), last_sub);
                    }
                    continue 'rounds;
                }
                i += 1 + rule.skip;
            }
            break;
        }
        (changed, last_sub)
    }

    /// One rule (Apache's `apply_rewrite_rule`).
    fn apply_rule(&mut self, rule: &Rule) -> RuleOutcome {
        // The URI matched is built in the engine's own buffer, reused rule after rule.
        let mut uri = std::mem::take(&mut self.uri);
        uri.clear();
        uri.push_str(&self.filename);
        if let Some(perdir) = self.perdir.as_deref() {
            if !self.req.path_info.is_empty() {
                uri.push_str(&self.req.path_info);
                trace(self.req, 3, Some(perdir), || {
                    format!("add path info postfix: {} -> {uri}", self.filename)
                });
            }
            if uri.starts_with(perdir) {
                trace(self.req, 3, Some(perdir), || {
                    format!("strip per-dir prefix: {uri} -> {}", &uri[perdir.len()..])
                });
                uri.drain(..perdir.len());
            }
        }
        self.uri = uri;
        self.trace(3, || {
            format!("applying pattern '{}' to uri '{}'", rule.pattern, self.uri)
        });
        // Group positions are taken only when the rule's expansions use them.
        let want_groups = rule.uses_rule_groups && rule.flags & flag::NOT_MATCH == 0;
        let (matched, spans) = if want_groups {
            match rule.regex.captures(self.uri.as_bytes()) {
                Some(caps) => (true, Some((0..10).map(|n| caps.span(n)).collect())),
                None => (false, None),
            }
        } else {
            (rule.regex.is_match(self.uri.as_bytes()), None)
        };
        if matched == (rule.flags & flag::NOT_MATCH != 0) {
            return RuleOutcome::NoMatch;
        }
        self.vary_this.clear();
        self.cond_refs = Backrefs::default();
        self.rule_refs = match spans {
            Some(spans) => Backrefs {
                source: Some(self.uri.clone()),
                spans,
            },
            None => Backrefs::default(),
        };
        self.want_cond_groups = rule.uses_cond_groups;
        let mut i = 0;
        while i < rule.conds.len() {
            let cond = &rule.conds[i];
            let matched = self.apply_cond(cond);
            if cond.flags & cond_flag::NO_VARY != 0 {
                self.vary_this.clear();
            }
            if cond.flags & cond_flag::OR_NEXT != 0 {
                if !matched {
                    self.vary_this.clear();
                    i += 1;
                    continue;
                }
                // The rest of this run of [OR] conditions need not be checked.
                while i < rule.conds.len() && rule.conds[i].flags & cond_flag::OR_NEXT != 0 {
                    i += 1;
                }
            } else if !matched {
                return RuleOutcome::NoMatch;
            }
            if !self.vary_this.is_empty() {
                let names = std::mem::take(&mut self.vary_this);
                self.vary.extend(names);
            }
            i += 1;
        }
        let mut new_uri = None;
        if rule.flags & flag::NO_SUB == 0 {
            let mut unsafe_qmark = if rule.flags & flag::UNSAFE_ALLOW_3F != 0 {
                None
            } else {
                Some(QmarkTrack::default())
            };
            let expanded = self.expand(&rule.output, Some(rule), unsafe_qmark.as_mut());
            self.trace(2, || format!("rewrite '{}' -> '{expanded}'", self.uri));
            if unsafe_qmark.is_some_and(|q| q.unsafe_found == Some(true)) {
                self.req.log_error(
                    "rewrite",
                    "error",
                    "AH10508: Unsafe URL with %3f URL rewritten without UnsafeAllow3F",
                );
                self.status = 403;
                return RuleOutcome::StatusSet;
            }
            new_uri = Some(expanded);
        }
        for item in &rule.env {
            self.expand_env(item);
        }
        for cookie in &rule.cookies {
            let expanded = self.expand(cookie, None, None);
            self.add_cookie(&expanded);
        }
        let Some(mut new_uri) = new_uri else {
            self.force_type_handler(rule);
            if rule.flags & flag::STATUS != 0 {
                self.trace(2, || {
                    format!("forcing responsecode {} for {}", rule.status, self.filename)
                });
                self.status = rule.status;
            }
            return RuleOutcome::NoSub;
        };
        let mut prefix_added = false;
        if !new_uri.starts_with('/') && absolute_uri(&new_uri).is_none() {
            if let Some(perdir) = &self.perdir {
                self.trace(3, || {
                    format!("add per-dir prefix: {new_uri} -> {perdir}{new_uri}")
                });
                new_uri = format!("{perdir}{new_uri}");
                prefix_added = true;
            } else if rule.flags & (flag::PROXY | flag::FORCE_REDIRECT) == 0 {
                self.trace(3, || format!("add root prefix: {new_uri} -> /{new_uri}"));
                new_uri = format!("/{new_uri}");
                prefix_added = true;
            }
        }
        self.filename = new_uri;
        if self.perdir.is_some() && rule.flags & flag::DISCARD_PATH_INFO != 0 {
            self.req.path_info.clear();
        }
        self.split_query(rule.flags);
        if rule.flags & flag::PROXY != 0 {
            self.fully_qualify();
            self.trace(2, || {
                format!("forcing proxy-throughput with {}", self.filename)
            });
            self.filename = format!("proxy:{}", self.filename);
            return RuleOutcome::Match;
        }
        if rule.flags & flag::FORCE_REDIRECT != 0 {
            self.fully_qualify();
            self.trace(2, || {
                format!("explicitly forcing redirect with {}", self.filename)
            });
            self.status = rule.status;
            return RuleOutcome::Match;
        }
        self.reduce();
        if absolute_uri(&self.filename).is_some() {
            self.trace(2, || {
                format!(
                    "implicitly forcing redirect (rc={} with {}",
                    rule.status, self.filename
                )
            });
            self.status = rule.status;
            return RuleOutcome::Match;
        }
        if rule.flags & flag::UNC == 0 && !prefix_added {
            // Leading slashes are merged unless the substitution itself began with two.
            if !rule.output.starts_with("//") {
                while self.filename.starts_with("//") {
                    self.filename.remove(0);
                }
            }
        }
        self.force_type_handler(rule);
        RuleOutcome::Match
    }

    /// One condition (Apache's `apply_rewrite_cond`).
    fn apply_cond(&mut self, cond: &super::Cond) -> bool {
        let input = if cond.kind == CondKind::Expr {
            String::new()
        } else {
            self.expand(&cond.input, None, None)
        };
        let no_case = cond.flags & cond_flag::NO_CASE != 0;
        // The request's own file was looked at by the walk already: no second stat for it.
        let stat = |path: &str| -> Option<std::fs::Metadata> {
            match &self.req.filename {
                Some(walked) if walked.as_os_str() == path => self.req.finfo.clone(),
                _ => std::fs::metadata(path).ok(),
            }
        };
        let mut matched = match cond.kind {
            CondKind::FileExists => stat(&input).is_some_and(|m| m.is_file()),
            CondKind::FileSize => stat(&input).is_some_and(|m| m.is_file() && m.len() > 0),
            CondKind::FileLink => {
                std::fs::symlink_metadata(&input).is_ok_and(|m| m.file_type().is_symlink())
            }
            CondKind::FileDir => stat(&input).is_some_and(|m| m.is_dir()),
            CondKind::FileExecutable => {
                use std::os::unix::fs::PermissionsExt;
                stat(&input).is_some_and(|m| m.permissions().mode() & 0o111 != 0)
            }
            CondKind::LookupUrl => {
                !input.is_empty() && self.subrequest_ok() && {
                    let status = self.lookup_uri_status(&input);
                    self.trace(5, || {
                        format!("RewriteCond URI (-U check: path={input} -> status={status}")
                    });
                    status < 400
                }
            }
            CondKind::LookupFile => {
                !input.is_empty() && self.subrequest_ok() && {
                    let (status, filename) = self.lookup_file_status(&input);
                    self.trace(5, || {
                        format!(
                            "RewriteCond file (-F check: path={input} -> file={filename} \
                         status={status}"
                        )
                    });
                    status < 300 && std::fs::metadata(&filename).is_ok()
                }
            }
            CondKind::StrGe | CondKind::StrGt => {
                let basis = if cond.kind == CondKind::StrGe { 0 } else { 1 };
                compare(&input, &cond.operand, no_case) >= basis
            }
            CondKind::StrLe | CondKind::StrLt => {
                let basis = if cond.kind == CondKind::StrLe { 0 } else { -1 };
                compare(&input, &cond.operand, no_case) <= basis
            }
            CondKind::StrEq => {
                if no_case {
                    input.eq_ignore_ascii_case(&cond.operand)
                } else {
                    input == cond.operand
                }
            }
            CondKind::IntGe => super::atoi(&input) as i32 >= super::atoi(&cond.operand) as i32,
            CondKind::IntGt => (super::atoi(&input) as i32) > super::atoi(&cond.operand) as i32,
            CondKind::IntLe => super::atoi(&input) as i32 <= super::atoi(&cond.operand) as i32,
            CondKind::IntLt => (super::atoi(&input) as i32) < super::atoi(&cond.operand) as i32,
            CondKind::IntEq => super::atoi(&input) as i32 == super::atoi(&cond.operand) as i32,
            CondKind::Expr => self.eval_expr(cond),
            CondKind::Regex => {
                let regex = cond
                    .regex
                    .as_ref()
                    .expect("a regex condition has its regex");
                if !self.want_cond_groups || cond.flags & cond_flag::NOT_MATCH != 0 {
                    regex.is_match(input.as_bytes())
                } else {
                    match regex.captures(input.as_bytes()) {
                        Some(caps) => {
                            self.cond_refs = Backrefs {
                                source: Some(input.clone()),
                                spans: (0..10).map(|n| caps.span(n)).collect(),
                            };
                            true
                        }
                        None => false,
                    }
                }
            }
        };
        if cond.flags & cond_flag::NOT_MATCH != 0 {
            matched = !matched;
        }
        self.trace(4, || {
            format!(
                "RewriteCond: input='{input}' pattern='{}'{} => {}",
                cond.shown,
                if no_case { " [NC]" } else { "" },
                if matched { "matched" } else { "not-matched" }
            )
        });
        matched
    }

    fn eval_expr(&mut self, cond: &super::Cond) -> bool {
        let expr = cond
            .expr
            .as_ref()
            .expect("an expr condition has its expression");
        let env = crate::request::environment(self.req);
        let consulted = self.req.expr_vary.borrow().len();
        let result = {
            let context = crate::request::expr::RequestContext::new(self.req, &env);
            expr.eval_with_captures(&context)
        };
        // The headers the expression read join Vary unless the condition says novary.
        let read: Vec<String> = self.req.expr_vary.borrow_mut().drain(consulted..).collect();
        if cond.flags & cond_flag::NO_VARY == 0 {
            self.vary_this.extend(read);
        }
        match result {
            Ok((matched, captures)) => {
                if matched && cond.flags & cond_flag::NOT_MATCH == 0 && !captures.is_empty() {
                    let mut source = String::new();
                    let mut spans = Vec::new();
                    for capture in &captures {
                        match capture {
                            Some(text) => {
                                spans.push(Some((source.len(), source.len() + text.len())));
                                source.push_str(text);
                            }
                            None => spans.push(None),
                        }
                    }
                    self.cond_refs = Backrefs {
                        source: Some(source),
                        spans,
                    };
                }
                matched
            }
            Err(why) => {
                self.trace(1, || {
                    format!(
                        "RewriteCond: expr='{}' evaluation failed: {why}",
                        cond.shown
                    )
                });
                false
            }
        }
    }

    /// `subreq_ok`: not a sub-request, or one for another URI than its parent's.
    fn subrequest_ok(&self) -> bool {
        !self.req.subrequest || self.req.parent_uri.as_deref() != Some(self.req.uri.as_str())
    }

    fn lookup_uri_status(&self, uri: &str) -> u16 {
        let mut sub = self.req.sub_request(uri.to_string());
        sub.redirects = self.req.redirects;
        match crate::request::pipeline::lookup_uri(&mut sub) {
            Ok(_) => 200,
            Err(status) => status,
        }
    }

    fn lookup_file_status(&self, path: &str) -> (u16, String) {
        let mut sub = self.req.sub_request(self.req.uri.clone());
        sub.redirects = self.req.redirects;
        match crate::request::pipeline::lookup_file(&mut sub, PathBuf::from(path)) {
            Ok((filename, _)) => (200, filename.to_string_lossy().into_owned()),
            Err(status) => (status, path.to_string()),
        }
    }

    /// Apache's `do_expand`: `\x` escapes, `%{VAR}`, `${map:key|default}`, `$N` and `%N`, in
    /// one pass (an expansion's result is never expanded again). With `qmark`, whether the
    /// query-splitting `?` came from the substitution's own text or from an expansion.
    fn expand(
        &mut self,
        input: &str,
        rule: Option<&Rule>,
        mut qmark: Option<&mut QmarkTrack>,
    ) -> String {
        let bytes = input.as_bytes();
        let qs_last = rule.is_some_and(|r| r.flags & flag::QS_LAST != 0);
        let mut out = String::with_capacity(input.len());
        let mut at = 0;
        while at < bytes.len() {
            let c = bytes[at];
            if !matches!(c, b'\\' | b'$' | b'%') {
                // Literal text: a `?` in it is safe.
                let end = bytes[at..]
                    .iter()
                    .position(|b| matches!(b, b'\\' | b'$' | b'%'))
                    .map_or(bytes.len(), |p| at + p);
                let literal = &input[at..end];
                if let Some(track) = qmark.as_deref_mut() {
                    if literal.contains('?') && track.tracking {
                        track.unsafe_found = Some(false);
                        if !qs_last {
                            track.tracking = false;
                        }
                    }
                }
                out.push_str(literal);
                at = end;
                continue;
            }
            let mut expanded: Option<String> = None;
            if c == b'\\' {
                match input[at + 1..].chars().next() {
                    None => {
                        out.push('\\');
                        at += 1;
                    }
                    Some(next) => {
                        out.push(next);
                        at += 1 + next.len_utf8();
                    }
                }
                continue;
            } else if bytes.get(at + 1) == Some(&b'{') {
                match find_closing_curly(&input[at + 2..]) {
                    None => {
                        out.push_str(&input[at..at + 2]);
                        at += 2;
                        continue;
                    }
                    Some(close) => {
                        let inner = &input[at + 2..at + 2 + close];
                        if c == b'%' {
                            expanded = Some(self.lookup_variable(inner));
                            at += 2 + close + 1;
                        } else if c == b'$' {
                            match find_in_curlies(inner, ':') {
                                None => {
                                    out.push_str(&input[at..at + 2]);
                                    at += 2;
                                    continue;
                                }
                                Some(colon) => {
                                    let name = &inner[..colon];
                                    let rest = &inner[colon + 1..];
                                    let (key, default) = match find_in_curlies(rest, '|') {
                                        Some(bar) => (&rest[..bar], Some(&rest[bar + 1..])),
                                        None => (rest, None),
                                    };
                                    let key = self.expand(key, rule, None);
                                    let mut value = self.lookup_map(name, &key);
                                    if value.is_none() {
                                        if let Some(default) = default.filter(|d| !d.is_empty()) {
                                            value = Some(self.expand(default, rule, None));
                                        }
                                    }
                                    expanded = Some(value.unwrap_or_default());
                                    at += 2 + close + 1;
                                }
                            }
                        } else {
                            out.push(c as char);
                            at += 1;
                            continue;
                        }
                    }
                }
            } else if bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
                let n = usize::from(bytes[at + 1] - b'0');
                let refs = if c == b'$' {
                    &self.rule_refs
                } else {
                    &self.cond_refs
                };
                if let Some(text) = refs.get(n) {
                    let text = text.to_string();
                    let value = match rule {
                        Some(rule) if rule.flags & flag::ESCAPE_BACKREF != 0 => {
                            let escaped = escape_backref(&text, rule);
                            self.trace(5, || {
                                format!("escaping backreference '{text}' to '{escaped}'")
                            });
                            escaped
                        }
                        _ => text,
                    };
                    expanded = Some(value);
                }
                at += 2;
                if expanded.is_none() {
                    continue;
                }
            } else {
                out.push(c as char);
                at += 1;
                continue;
            }
            if let Some(value) = expanded {
                if let Some(track) = qmark.as_deref_mut() {
                    if track.tracking && value.contains('?') {
                        track.unsafe_found = Some(true);
                        if !qs_last {
                            track.tracking = false;
                        }
                    }
                }
                out.push_str(&value);
            }
        }
        out
    }

    /// `%{NAME}`: mod_rewrite's variables (Apache's `lookup_variable`).
    fn lookup_variable(&mut self, name: &str) -> String {
        if name.len() < 4 {
            return String::new();
        }
        let bytes = name.as_bytes();
        if bytes[3] == b':' && name.len() > 4 {
            let (kind, rest) = (&name[..3], &name[4..]);
            if kind.eq_ignore_ascii_case("ENV") {
                if let Some((_, value)) = self.req.notes.iter().find(|(n, _)| n == rest) {
                    return value.clone();
                }
                let env = crate::request::environment(self.req);
                if let Some(value) = env::get(&env, rest) {
                    return value.to_string();
                }
                return std::env::var(rest).unwrap_or_default();
            }
            if kind.eq_ignore_ascii_case("SSL") {
                let legacy = self
                    .req
                    .dir
                    .module::<crate::modules::ssl::Dir>()
                    .has(crate::modules::ssl::option::LEGACY_DN_FORMAT);
                return crate::modules::ssl::vars::lookup(
                    self.req.conn.tls.as_deref(),
                    rest,
                    legacy,
                )
                .unwrap_or_default();
            }
        } else if bytes.len() > 5 && bytes[4] == b':' {
            let (kind, rest) = (&name[..4], &name[5..]);
            if kind.eq_ignore_ascii_case("HTTP") {
                return self.header(rest).unwrap_or_default();
            }
            if kind.eq_ignore_ascii_case("LA-U") || kind.eq_ignore_ascii_case("LA-F") {
                if !self.subrequest_ok() {
                    return String::new();
                }
                return self.look_ahead(kind.eq_ignore_ascii_case("LA-F"), rest);
            }
        }
        // Names come upper-case as a rule: no copy for those.
        let upper: std::borrow::Cow<str> = if name.bytes().any(|b| b.is_ascii_lowercase()) {
            name.to_ascii_uppercase().into()
        } else {
            name.into()
        };
        let now = || crate::sys::local_time(unix_seconds(std::time::SystemTime::now()));
        let req = &*self.req;
        match &*upper {
            "TIME" => {
                let t = now();
                let value = format!(
                    "{:04}{:02}{:02}{:02}{:02}{:02}",
                    t.year, t.month, t.day, t.hour, t.minute, t.second
                );
                self.trace(1, || format!("RESULT='{value}'"));
                value
            }
            "TIME_YEAR" => format!("{:04}", now().year),
            "TIME_MON" => format!("{:02}", now().month),
            "TIME_DAY" => format!("{:02}", now().day),
            "TIME_HOUR" => format!("{:02}", now().hour),
            "TIME_MIN" => format!("{:02}", now().minute),
            "TIME_SEC" => format!("{:02}", now().second),
            "TIME_WDAY" => format!("{}", now().weekday),
            "IPV6" => {
                let on = req.useragent.addr.is_ipv6();
                self.trace(1, || format!("IPV6='{}'", if on { "on" } else { "off" }));
                if on { "on" } else { "off" }.into()
            }
            "HTTPS" => if req.conn.tls.is_some() { "on" } else { "off" }.into(),
            "IS_SUBREQ" => if req.subrequest { "true" } else { "false" }.into(),
            "HTTP_HOST" => self.header("Host").unwrap_or_default(),
            "HTTP_ACCEPT" => self.header("Accept").unwrap_or_default(),
            "HTTP_COOKIE" => self.header("Cookie").unwrap_or_default(),
            "HTTP_REFERER" => self.header("Referer").unwrap_or_default(),
            "HTTP_FORWARDED" => self.header("Forwarded").unwrap_or_default(),
            "HTTP_USER_AGENT" => self.header("User-Agent").unwrap_or_default(),
            "HTTP_PROXY_CONNECTION" => self.header("Proxy-Connection").unwrap_or_default(),
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => self.filename.clone(),
            "SERVER_NAME" => url_host(&req.host_name()),
            "SERVER_ADDR" => req.conn.local.ip().to_string(),
            "API_VERSION" => "20120211:142".into(),
            "REMOTE_HOST" => req.useragent.ip_text().into_owned(),
            "SCRIPT_USER" => file_owner(req, true),
            "SCRIPT_GROUP" => file_owner(req, false),
            "REMOTE_IDENT" => String::new(),
            "REMOTE_USER" => req.user.clone().unwrap_or_default(),
            "AUTH_TYPE" => {
                if req.user.is_some() {
                    req.dir
                        .module::<crate::modules::authn_core::Dir>()
                        .auth_type()
                        .unwrap_or("")
                        .to_string()
                } else {
                    String::new()
                }
            }
            "PATH_INFO"
            | "REQUEST_URI"
            | "QUERY_STRING"
            | "REMOTE_ADDR"
            | "REMOTE_PORT"
            | "THE_REQUEST"
            | "SERVER_PORT"
            | "SERVER_ADMIN"
            | "DOCUMENT_ROOT"
            | "CONTEXT_PREFIX"
            | "REQUEST_METHOD"
            | "REQUEST_SCHEME"
            | "SERVER_PROTOCOL"
            | "SERVER_SOFTWARE"
            | "CONN_REMOTE_ADDR"
            | "CONTEXT_DOCUMENT_ROOT" => {
                use rhttpd_directives::expr::Context;
                let env = Vec::new();
                let context = crate::request::expr::RequestContext::for_strings(req, &env);
                context.var(&upper).unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// A request header, noted for Vary (Host aside).
    fn header(&mut self, name: &str) -> Option<String> {
        let value = self.req.head.headers.get_joined(name)?;
        if !name.eq_ignore_ascii_case("Host") {
            self.vary_this.push(name.to_string());
        }
        Some(value)
    }

    /// `%{LA-U:var}` / `%{LA-F:var}`: the variable as a sub-request for the URI (or file)
    /// would see it after its own mapping.
    fn look_ahead(&mut self, by_file: bool, variable: &str) -> String {
        let dir_conf = self.req.dir.module::<Dir>().into_owned();
        let mut path = self.uri.clone();
        let mut sub = if by_file && !(self.perdir.is_some() && path.starts_with('/')) {
            if self.perdir.is_some() {
                path = format!("{}{path}", dir_conf.directory.as_deref().unwrap_or(""));
            }
            let mut sub = self.req.sub_request(self.req.uri.clone());
            let _ = crate::request::pipeline::lookup_file(&mut sub, PathBuf::from(&path));
            sub
        } else {
            if self.perdir.is_some() && !path.starts_with('/') {
                let base = dir_conf
                    .base
                    .as_deref()
                    .or(dir_conf.directory.as_deref())
                    .unwrap_or("");
                path = format!("{base}{path}");
            }
            let mut sub = self.req.sub_request(path.clone());
            let _ = crate::request::pipeline::lookup_uri(&mut sub);
            sub
        };
        let value = {
            let filename = sub
                .filename
                .as_ref()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut inner = Engine::new(&mut sub, filename, self.perdir.clone());
            inner.uri = path.clone();
            inner.lookup_variable(variable)
        };
        self.trace(5, || {
            format!("lookahead: path={path} var={variable} -> val={value}")
        });
        value
    }

    fn lookup_map(&mut self, name: &str, key: &str) -> Option<String> {
        let conf = self.req.ctx().runtime.typed.get::<ServerConf>()?;
        let map = conf.map(name)?;
        let lookup = {
            let mut trace = |level: u8, text: String| self.trace(level, || text);
            map.lookup(name, key, &mut trace)
        };
        lookup.unwrap_or_else(|text| {
            self.req.log_error("rewrite", "error", &text);
            None
        })
    }

    /// `[E=NAME:value]` or `[E=!NAME]`.
    fn expand_env(&mut self, item: &str) {
        let expanded = self.expand(item, None, None);
        let change = match expanded.strip_prefix('!') {
            Some(name) => {
                self.trace(5, || format!("unsetting env variable '{name}'"));
                EnvChange::Unset(name.to_string())
            }
            None => {
                let (name, value) = expanded.split_once(':').unwrap_or((&expanded, ""));
                self.trace(5, || format!("setting env variable '{name}' to '{value}'"));
                EnvChange::Set(name.to_string(), value.to_string())
            }
        };
        state(self.req).env.push(change);
    }

    /// `[CO=...]`: a Set-Cookie header on the response (once per cookie name and request).
    fn add_cookie(&mut self, spec: &str) {
        let (separator, spec) = match spec.strip_prefix(';') {
            Some(rest) => (';', rest),
            None => (':', spec),
        };
        // apr_strtok: empty fields between separators are skipped.
        let mut fields = spec.split(separator).filter(|f| !f.is_empty());
        let (Some(name), Some(value), Some(domain)) = (fields.next(), fields.next(), fields.next())
        else {
            return;
        };
        if state(self.req).cookies.iter().any(|c| c == name) {
            self.trace(5, || format!("skipping already set cookie '{name}'"));
            return;
        }
        let expires = fields.next();
        let path = expires.and(fields.next());
        let secure = path.and(fields.next());
        let http_only = secure.and(fields.next());
        let same_site = http_only.and(fields.next());
        let mut cookie = format!(
            "{name}={value}; path={}; domain={domain}",
            path.unwrap_or("/")
        );
        if let Some(minutes) = expires.map(super::atoi).filter(|m| *m != 0) {
            let at = unix_seconds(self.req.now) + minutes * 60;
            cookie.push_str("; expires=");
            cookie.push_str(&cookie_date(at));
        }
        let truthy = |v: Option<&str>, word: &str| {
            v.is_some_and(|v| {
                v.eq_ignore_ascii_case("true") || v == "1" || v.eq_ignore_ascii_case(word)
            })
        };
        // mod_rewrite builds these parts with one apr_pstrcat, where a part that is left out
        // is a NULL that ends the list: without an expiry field, or when not secure, the
        // parts after it are lost (SameSite, added by a second call, is not).
        if expires.is_some() && truthy(secure, "secure") {
            cookie.push_str("; secure");
            if truthy(http_only, "HttpOnly") {
                cookie.push_str("; HttpOnly");
            }
        }
        if let Some(same_site) = same_site.filter(|s| *s != "0" && !s.eq_ignore_ascii_case("false"))
        {
            cookie.push_str("; SameSite=");
            cookie.push_str(same_site);
        }
        self.trace(5, || format!("setting cookie '{cookie}'"));
        state(self.req).cookies.push(name.to_string());
        self.req.err_headers.0.push(("Set-Cookie".into(), cookie));
    }

    /// `[T=...]` and `[H=...]`, remembered for the end of fixups.
    fn force_type_handler(&mut self, rule: &Rule) {
        if let Some(forced) = &rule.forced_type {
            let value = self.expand(forced, Some(rule), None).to_ascii_lowercase();
            if !value.is_empty() {
                self.trace(2, || {
                    format!("remember {} to have MIME-type '{value}'", self.filename)
                });
                state(self.req).forced_type = Some(value);
            }
        }
        if let Some(forced) = &rule.forced_handler {
            let value = self.expand(forced, Some(rule), None).to_ascii_lowercase();
            if !value.is_empty() {
                self.trace(2, || {
                    format!(
                        "remember {} to have Content-handler '{value}'",
                        self.filename
                    )
                });
                state(self.req).forced_handler = Some(value);
            }
        }
    }

    /// Apache's `splitout_queryargs`: the substitution's query (first `?`, or last under
    /// `[QSL]`) becomes the request's, appended to under `[QSA]`, dropped under `[QSD]`.
    fn split_query(&mut self, flags: u32) {
        if flags & flag::QS_NONE != 0 {
            self.trace(2, || {
                "discarding query string, no parse from substitution".into()
            });
            self.req.args = None;
            return;
        }
        let scheme = absolute_uri(&self.filename);
        if let Some((skip, false)) = scheme {
            let _ = skip;
            self.req.args = None;
            return;
        }
        let skip = scheme.map_or(0, |(skip, _)| skip);
        if flags & flag::QS_DISCARD != 0 {
            self.req.args = None;
            self.trace(2, || "discarding query string".into());
        }
        let found = if flags & flag::QS_LAST != 0 {
            self.filename[skip..].rfind('?')
        } else {
            self.filename[skip..].find('?')
        };
        let Some(at) = found.map(|q| q + skip) else {
            return;
        };
        let old = self.filename.clone();
        let query = self.filename[at + 1..].to_string();
        self.filename.truncate(at);
        if flags & flag::QS_APPEND != 0 {
            if !query.is_empty() {
                self.req.args = Some(match &self.req.args {
                    Some(args) => format!("{query}&{args}"),
                    None => format!("{query}&"),
                });
            }
        } else {
            self.req.args = Some(query);
        }
        if let Some(args) = &mut self.req.args {
            if args.is_empty() {
                self.req.args = None;
            } else if args.ends_with('&') {
                args.pop();
            }
        }
        self.trace(3, || {
            format!(
                "split uri={old} -> uri={}, args={}",
                self.filename,
                self.req.args.as_deref().unwrap_or("<none>")
            )
        });
    }

    /// Apache's `fully_qualify_uri`: a local path becomes this server's URL.
    fn fully_qualify(&mut self) {
        if absolute_uri(&self.filename).is_some() {
            return;
        }
        let port = self.req.server_port();
        let port = if port == self.req.default_port() {
            String::new()
        } else {
            format!(":{port}")
        };
        let slash = if self.filename.starts_with('/') {
            ""
        } else {
            "/"
        };
        self.filename = format!(
            "{}://{}{port}{slash}{}",
            self.req.scheme(),
            url_host(&self.req.host_name()),
            self.filename
        );
    }

    /// Apache's `reduce_uri`: a URL naming this very server becomes its path again.
    fn reduce(&mut self) {
        let scheme = self.req.scheme();
        let f = &self.filename;
        if f.len() <= scheme.len() + 3
            || !f[..scheme.len()].eq_ignore_ascii_case(scheme)
            || &f[scheme.len()..scheme.len() + 3] != "://"
        {
            return;
        }
        let rest = &f[scheme.len() + 3..];
        let host_end = rest.find(['/', ':']).unwrap_or(rest.len());
        let host = &rest[..host_end];
        let (port, url) = match rest[host_end..].strip_prefix(':') {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                let url = if after[end..].is_empty() {
                    "/"
                } else {
                    &after[end..]
                };
                (super::atoi(&after[..end]) as u16, url)
            }
            None if rest[host_end..].starts_with('/') => {
                (self.req.default_port(), &rest[host_end..])
            }
            None => (self.req.default_port(), "/"),
        };
        if self.matches_this_host(host, port) {
            let url = url.to_string();
            self.trace(3, || format!("reduce {} -> {url}", self.filename));
            self.filename = url;
            let legacy = self
                .req
                .ctx()
                .runtime
                .typed
                .get::<ServerConf>()
                .is_some_and(|c| c.options() & option::LEGACY_PREFIX_DOCROOT != 0);
            if !legacy {
                self.reduced = true;
            }
        }
    }

    /// Apache's `ap_matches_request_vhost`: the name is this server's (or an alias) and the
    /// port the one its ServerName gives (none: no port matches).
    fn matches_this_host(&self, host: &str, port: u16) -> bool {
        let ctx = self.req.ctx();
        if port != ctx.runtime.core.server_port.unwrap_or(0) {
            return false;
        }
        host.eq_ignore_ascii_case(&ctx.server_name) || ctx.answers_to(&host.to_ascii_lowercase())
    }
}

/// Tracks, while a substitution expands, where the `?` that splits off the query came from.
#[derive(Clone, Copy)]
struct QmarkTrack {
    /// Still looking (for the first `?`, or every one under `[QSL]`).
    tracking: bool,
    /// `Some(true)` when the deciding `?` came from an expansion.
    unsafe_found: Option<bool>,
}

impl Default for QmarkTrack {
    fn default() -> Self {
        QmarkTrack {
            tracking: true,
            unsafe_found: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleOutcome {
    NoMatch,
    Match,
    NoSub,
    StatusSet,
}

/// mod_rewrite's lexical comparison: the longer string is the greater; equal lengths compare
/// byte by byte. Under NC, `strcasecmp`.
fn compare(a: &str, b: &str, no_case: bool) -> i32 {
    if no_case {
        let a = a.to_ascii_lowercase();
        let b = b.to_ascii_lowercase();
        return match a.as_bytes().cmp(b.as_bytes()) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        };
    }
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Greater => 1,
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => match a.as_bytes().cmp(b.as_bytes()) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        },
    }
}

/// The closing `}` of a `{` whose inside starts `text`, counting nested pairs.
fn find_closing_curly(text: &str) -> Option<usize> {
    let mut depth = 1;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'{' => depth += 1,
            _ => {}
        }
    }
    None
}

/// The first `c` at the outer level of `text` (the inside of a `{...}`).
fn find_in_curlies(text: &str, c: char) -> Option<usize> {
    let mut depth = 1;
    for (i, ch) in text.char_indices() {
        if ch == c && depth == 1 {
            return Some(i);
        } else if ch == '}' {
            depth -= 1;
            if depth == 0 {
                return None;
            }
        } else if ch == '{' {
            depth += 1;
        }
    }
    None
}

/// The length of an absolute URI's scheme part (`http://` is 7) and whether the scheme takes a
/// query string, for the schemes mod_rewrite knows.
pub(crate) fn absolute_uri(uri: &str) -> Option<(usize, bool)> {
    if uri.starts_with('/') || uri.len() <= 5 {
        return None;
    }
    const SCHEMES: &[(&str, bool)] = &[
        ("ajp://", true),
        ("balancer://", true),
        ("ftp://", false),
        ("fcgi://", true),
        ("gopher://", false),
        ("http://", true),
        ("https://", true),
        ("h2://", true),
        ("h2c://", true),
        ("ldap://", false),
        ("mailto:", true),
        ("news:", false),
        ("nntp://", false),
        ("scgi://", true),
        ("ws://", true),
        ("wss://", true),
    ];
    for (scheme, query) in SCHEMES {
        if uri.len() >= scheme.len() && uri[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some((scheme.len(), *query));
        }
    }
    if uri.len() >= 5 && uri[..5].eq_ignore_ascii_case("unix:") {
        let len = if uri[5..].starts_with("//") { 7 } else { 5 };
        return Some((len, true));
    }
    None
}

/// Apache's `escape_absolute_uri`: the path (and for ldap, each `?` part) escaped, the scheme
/// and authority left alone.
fn escape_absolute_uri(uri: &str, scheme: usize) -> String {
    let mut cp = scheme;
    if uri.as_bytes()[scheme - 1] == b'/' {
        cp += uri[cp..].find('/').unwrap_or(uri.len() - cp);
        if cp >= uri.len() || cp + 1 >= uri.len() {
            return uri.to_string();
        }
        cp += 1;
        if uri[..4].eq_ignore_ascii_case("ldap") {
            let parts: Vec<&str> = uri[cp..].splitn(5, '?').collect();
            let escaped: Vec<String> = parts.iter().map(|p| escape_uri(p)).collect();
            return format!("{}{}", &uri[..cp], escaped.join("?"));
        }
    }
    format!("{}{}", &uri[..cp], escape_uri(&uri[cp..]))
}

/// `[B]`: a backreference escaped as a URL query part (Apache's `escape_backref`): by default
/// every byte but letters, digits and `_`; `[B=chars]` only those; `[BCTLS]` controls and
/// space; `[BNE=chars]` never those; a space is `+` unless `[BNP]`.
fn escape_backref(text: &str, rule: &Rule) -> String {
    let no_plus = rule.flags & flag::ESCAPE_NO_PLUS != 0;
    let controls = rule.flags & flag::ESCAPE_CTLS != 0;
    let listed =
        |list: &Option<String>, c: u8| list.as_deref().is_some_and(|l| l.as_bytes().contains(&c));
    let mut out = Vec::with_capacity(text.len() * 3);
    for &c in text.as_bytes() {
        let candidate = if controls {
            c <= 0x20 || c == 0x7f
        } else {
            rule.escapes.is_none()
        };
        let escape = (candidate || listed(&rule.escapes, c)) && !listed(&rule.no_escapes, c);
        if !escape || c.is_ascii_alphanumeric() || c == b'_' {
            out.push(c);
        } else if c == b' ' && !no_plus {
            out.push(b'+');
        } else {
            out.extend_from_slice(format!("%{c:02x}").as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A host for a URL: an IPv6 address in brackets (`ap_get_server_name_for_url`).
fn url_host(name: &str) -> String {
    if name.contains(':') {
        format!("[{name}]")
    } else {
        name.to_string()
    }
}

fn file_owner(req: &Request, user: bool) -> String {
    use std::os::unix::fs::MetadataExt;
    let Some(meta) = &req.finfo else {
        return "<unknown>".into();
    };
    let name = if user {
        crate::sys::user_name_of(meta.uid())
    } else {
        crate::sys::group_name_of(meta.gid())
    };
    name.unwrap_or_else(|| "<unknown>".into())
}

/// A cookie's expiry as mod_rewrite writes it (`Wed, 09-Jun-2021 10:18:14 GMT`).
fn cookie_date(at: i64) -> String {
    use crate::http1::date::{Civil, DAYS};
    let t = Civil::from_unix(at);
    format!(
        "{}, {:02}-{}-{:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday],
        t.day,
        t.month_name(),
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

fn unix_seconds(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

/// The request's environment with mod_rewrite's `[E=...]` changes (and SCRIPT_URL/URI),
/// applied in order over what is there.
pub fn environment(req: &Request, env: &mut Vec<(String, String)>) {
    let Some(state) = req.state.get::<super::State>() else {
        return;
    };
    for change in &state.env {
        match change {
            EnvChange::Set(name, value) => env::set(env, name, value),
            EnvChange::Unset(name) => env.retain(|(n, _)| !n.eq_ignore_ascii_case(name)),
        }
    }
}

/// The server-context rules, at translate_name (Apache's `hook_uri2file`).
pub(crate) fn translate(req: &mut Request) -> Step<Option<PathBuf>> {
    let Some(conf) = req
        .ctx()
        .runtime
        .typed
        .get::<ServerConf>()
        .filter(|c| c.defined)
    else {
        return Ok(None);
    };
    // The engine's state is the per-directory one at this point: the server's with the
    // <Location> sections over it.
    // Without <Location> or <If> sections that is the server's own (no walk to make).
    let ctx = req.ctx();
    let sections = ctx.sections.iter().any(|s| {
        s.is_conditional()
            || matches!(
                s.kind,
                rhttpd_directives::model::SectionKind::Location
                    | rhttpd_directives::model::SectionKind::LocationMatch
            )
    });
    let (enabled, options) = if sections {
        let walked = crate::request::walk::location_walk(req);
        let dir_conf = walked.module::<Dir>();
        (dir_conf.enabled(), dir_conf.options())
    } else {
        let dir_conf = ctx.dir.module::<Dir>();
        (dir_conf.enabled(), dir_conf.options())
    };
    if !enabled {
        return Ok(None);
    }
    if req.state.get::<super::State>().is_some_and(|s| s.end) {
        trace(req, 8, None, || {
            "Declining, no further rewriting due to END flag".into()
        });
        return Ok(None);
    }
    if options & option::ANY_URI == 0 && (req.head.target == "*" || !req.uri.starts_with('/')) {
        trace(req, 8, None, || {
            format!(
                "Declining, request-URI '{}' is not a URL-path. Consult the manual entry for \
                 the RewriteOptions directive for options and caveats about matching other \
                 strings.",
                req.uri
            )
        });
        return Ok(None);
    }
    set_script_url(req);
    let original_args = req.args.clone();
    let filename = req.uri.clone();
    let mut engine = Engine::new(req, filename, None);
    engine.trace(2, || {
        format!("init rewrite engine with requested uri {}", engine.filename)
    });
    let (action, last_sub) = engine.apply_list(&conf.rules);
    let Some(action) = action else {
        engine.trace(1, || format!("pass through {}", engine.filename));
        return Ok(None);
    };
    let Engine {
        req,
        filename,
        status,
        reduced,
        ..
    } = engine;
    let absolute = settle(req, &filename, action, ["AH10410", "AH00669"])?;
    if filename.starts_with("proxy:") {
        // mod_proxy takes it from here: the path info and (under [NE]) the query go along.
        let mut filename = filename;
        if action == Action::NoEscape {
            req.state
                .get_mut::<crate::modules::proxy::ProxyRequest>()
                .nocanon = true;
        }
        filename.push_str(&req.path_info);
        if let Some(args) = req.args.clone().filter(|_| action == Action::NoEscape) {
            filename.push('?');
            filename.push_str(&args);
        }
        crate::modules::proxy::mark_reverse(req);
        trace(req, 1, None, || {
            format!("go-ahead with proxy request {filename} [OK]")
        });
        return Ok(Some(PathBuf::from(filename)));
    }
    if let Some((scheme, _)) = absolute {
        return Err(external_redirect(
            req,
            filename,
            scheme,
            action,
            original_args.as_deref(),
            status,
            None,
        ));
    }
    if let Some(uri) = filename.strip_prefix("passthrough:") {
        req.uri = uri.to_string();
        return Ok(None);
    }
    trace(req, 2, None, || format!("local path result: {filename}"));
    if !filename.starts_with('/') {
        return Err(400);
    }
    let unsafe_prefix = conf.options() & option::UNSAFE_PREFIX_STAT != 0;
    let last_sub = if unsafe_prefix { None } else { last_sub };
    let mut filename = filename;
    if reduced || !prefix_stat(req, &filename, last_sub.as_deref()) {
        let root = req.document_root();
        let joined = if root.ends_with('/') {
            format!("{root}{}", &filename[1..])
        } else {
            format!("{root}{filename}")
        };
        trace(req, 2, None, || {
            format!("prefixed with document_root to {joined}")
        });
        filename = joined;
    }
    trace(req, 1, None, || format!("go-ahead with {filename} [OK]"));
    Ok(Some(PathBuf::from(filename)))
}

/// SCRIPT_URL (the URI first asked for) and SCRIPT_URI (it as this server's URL).
fn set_script_url(req: &mut Request) {
    let current = req.state.get::<super::State>().and_then(|s| {
        let find = |wanted: &str| {
            s.env.iter().rev().find_map(|c| match c {
                EnvChange::Set(n, v) if n == wanted => Some(v.clone()),
                _ => None,
            })
        };
        find("SCRIPT_URL").or_else(|| find("REDIRECT_SCRIPT_URL"))
    });
    let url = current.unwrap_or_else(|| req.uri.clone());
    let port = req.server_port();
    let port = if port == req.default_port() {
        String::new()
    } else {
        format!(":{port}")
    };
    let uri = format!(
        "{}://{}{port}{url}",
        req.scheme(),
        url_host(&req.host_name())
    );
    let state = state(req);
    state.env.push(EnvChange::Set("SCRIPT_URL".into(), url));
    state.env.push(EnvChange::Set("SCRIPT_URI".into(), uri));
}

/// What both contexts make of a rule list's result first: a query that cannot go out as it is,
/// a status a rule set, a proxy request without mod_proxy (each context names its own
/// messages); then, for a URL, its scheme's length and whether it takes a query.
fn settle(
    req: &Request,
    filename: &str,
    action: Action,
    [query_id, proxy_id]: [&str; 2],
) -> Step<Option<(usize, bool)>> {
    let absolute = absolute_uri(filename);
    check_query(
        req,
        absolute.is_some() && action != Action::NoEscape,
        query_id,
    )?;
    if let Action::Status(status) = action {
        return Err(status);
    }
    if filename.starts_with("proxy:") && !req.rt.module_loaded("proxy_module") {
        let text = format!(
            "{proxy_id}: attempt to make remote request from mod_rewrite without proxy \
             enabled: {filename}"
        );
        req.log_error("rewrite", "error", &text);
        return Err(403);
    }
    Ok(absolute)
}

/// A rewritten query with a raw control character or space cannot go on unescaped.
fn check_query(req: &Request, will_escape: bool, id: &str) -> Step<()> {
    let bad = req
        .args
        .as_deref()
        .is_some_and(|a| a.bytes().any(|b| b <= 0x20 || b == 0x7f));
    if bad && !will_escape {
        let text = format!("{id}: Rewritten query string contains control characters or spaces");
        req.log_error("rewrite", "error", &text);
        return Err(403);
    }
    Ok(())
}

/// The answer to a rule that ended in a URL: the Location (escaped unless `[NE]`, the query
/// appended) and a 3xx status (302 unless the rule chose another redirect status).
fn external_redirect(
    req: &mut Request,
    mut url: String,
    scheme: usize,
    action: Action,
    original_args: Option<&str>,
    status: u16,
    perdir: Option<&str>,
) -> u16 {
    if action != Action::NoEscape {
        trace(req, 1, perdir, || format!("escaping {url} for redirect"));
        url = escape_absolute_uri(&url, scheme);
    }
    if let Some(args) = req.args.clone() {
        let copy = action == Action::NoEscape || original_args == Some(args.as_str());
        let escaped = if copy {
            args.clone()
        } else {
            escape_uri(&args)
        };
        url.push('?');
        url.push_str(&escaped);
        trace(req, 1, perdir, || {
            format!(
                "{} {args} to query string for redirect {}",
                if copy { "copying" } else { "escaping" },
                if copy { "" } else { escaped.as_str() }
            )
        });
    }
    let status = if (300..400).contains(&status) {
        status
    } else {
        302
    };
    trace(req, 1, perdir, || {
        format!("redirect to {url} [REDIRECT/{status}]")
    });
    req.headers_out.set("Location", url);
    status
}

/// Apache's `prefix_stat`: whether a rewritten path is a filesystem path already (its first
/// segment exists, and the rule wrote that segment itself or the path is under the document
/// root), rather than one relative to the document root.
fn prefix_stat(req: &Request, path: &str, last_sub: Option<&Rule>) -> bool {
    let rest = path.trim_start_matches('/');
    let first = rest.split('/').next().unwrap_or("");
    if first == ".." {
        return false;
    }
    let stat_path = format!("/{first}");
    if std::fs::metadata(&stat_path).is_err() {
        return false;
    }
    let Some(rule) = last_sub else {
        trace(req, 3, None, || {
            format!("prefix_stat no lastsub subst prefix {stat_path}")
        });
        return true;
    };
    trace(req, 3, None, || {
        format!(
            "prefix_stat compare statpath {stat_path} and lastsub output {} STATOK {} ",
            rule.output,
            rule.flags & flag::UNSAFE_PREFIX_STAT
        )
    });
    if rule.flags & flag::UNSAFE_PREFIX_STAT != 0 {
        return true;
    }
    let root = req.document_root();
    let starts_with = |haystack: &str, needle: &str| {
        let found = haystack.starts_with(needle);
        trace(req, 5, None, || {
            format!(
                "prefix_stat startsWith({haystack}, {needle}) {}",
                u8::from(found)
            )
        });
        found
    };
    starts_with(&rule.output, &stat_path) || starts_with(path, &root)
}

/// The per-directory rules, first at fixups (Apache's `hook_fixup`): a URL answers with a
/// redirect, a new local path is served by internal redirect once the fixups are done.
pub(crate) fn fixup(req: &mut Request) -> Step<Fixup> {
    if req.state.get::<super::State>().is_some() {
        state(req).redirect = None;
    }
    let dir = Arc::clone(&req.dir);
    let Some(conf) = dir.typed.get::<Dir>() else {
        return Ok(Fixup::Continue);
    };
    if !conf.enabled() {
        return Ok(Fixup::Continue);
    }
    let Some(directory) = conf.directory.clone() else {
        return Ok(Fixup::Continue);
    };
    let original = req
        .filename
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    if conf.options() & option::NO_SLASH == 0 {
        let without_slash = &directory[..directory.len() - 1];
        if original.as_deref() == Some(without_slash) {
            return Ok(Fixup::Continue);
        }
    }
    if req.state.get::<super::State>().is_some_and(|s| s.end) {
        trace(req, 8, Some(&directory), || {
            "Declining, no further rewriting due to END flag".into()
        });
        return Ok(Fixup::Continue);
    }
    if req.dir.core.options() & (opt::SYM_LINKS | opt::SYM_OWNER) == 0 {
        let text = format!(
            "AH00670: Options FollowSymLinks and SymLinksIfOwnerMatch are both off, so the \
             RewriteRule directive is also forbidden due to its similar ability to circumvent \
             directory restrictions : {}",
            original.as_deref().unwrap_or("")
        );
        req.log_error("rewrite", "error", &text);
        return Err(403);
    }
    let original_args = req.args.clone();
    let filename = original.clone().unwrap_or_else(|| req.uri.clone());
    let mut engine = Engine::new(req, filename, Some(Arc::clone(&directory)));
    let (action, _) = engine.apply_list(&conf.rules);
    let Some(action) = action else {
        engine.trace(1, || format!("pass through {}", engine.filename));
        return Ok(Fixup::Continue);
    };
    let Engine {
        req,
        mut filename,
        status,
        ..
    } = engine;
    let perdir = Some(&*directory);
    let absolute = settle(req, &filename, action, ["AH10411", "AH10160"])?;
    if filename.starts_with("proxy:") {
        if action == Action::NoEscape {
            req.state
                .get_mut::<crate::modules::proxy::ProxyRequest>()
                .nocanon = true;
            if let Some(args) = req.args.clone() {
                filename.push('?');
                filename.push_str(&args);
            }
        }
        crate::modules::proxy::mark_reverse(req);
        trace(req, 1, perdir, || {
            format!("go-ahead with proxy request {filename} [OK]")
        });
        req.filename = Some(PathBuf::from(filename));
        return Ok(Fixup::Continue);
    }
    if let Some((scheme, _)) = absolute {
        if let Some(base) = &conf.base {
            // The directory part of the URL is put back as the RewriteBase.
            if let Some(slash) = filename[scheme..].find('/') {
                let path_at = scheme + slash + 1;
                if path_at < filename.len() {
                    trace(req, 2, perdir, || {
                        format!("trying to replace prefix {directory} with {base}")
                    });
                    let path = filename[path_at..].to_string();
                    let replaced = subst_prefix_path(
                        req,
                        &path,
                        directory.trim_start_matches('/'),
                        &base[1..],
                    );
                    if replaced != path {
                        filename.truncate(path_at);
                        filename.push_str(&replaced);
                    }
                }
            }
        }
        return Err(external_redirect(
            req,
            filename,
            scheme,
            action,
            original_args.as_deref(),
            status,
            perdir,
        ));
    }
    if let Some(rest) = filename.strip_prefix("passthrough:") {
        filename = rest.to_string();
    }
    if !filename.starts_with('/') {
        return Err(400);
    }
    if original.as_deref() == Some(filename.as_str()) {
        trace(req, 1, perdir, || {
            format!("initial URL equal rewritten URL: {filename} [IGNORING REWRITE]")
        });
        return Ok(Fixup::Continue);
    }
    let before = filename.clone();
    match &conf.base {
        Some(base) => {
            trace(req, 2, perdir, || {
                format!("trying to replace prefix {directory} with {base}")
            });
            filename = subst_prefix_path(req, &filename, &directory, base);
        }
        None => {
            let root = req.document_root();
            let root = root.trim_end_matches('/');
            if filename.starts_with(root) && filename[root.len()..].starts_with('/') {
                let stripped = filename[root.len()..].to_string();
                trace(req, 2, perdir, || {
                    format!("strip document_root prefix: {filename} -> {stripped}")
                });
                filename = stripped;
            }
        }
    }
    // Neither took: under an Alias the path is the alias's directory, which its URL prefix
    // (the request's context) names again (Apache's context document root and prefix).
    if filename == before && conf.options() & option::IGNORE_CONTEXT_INFO == 0 {
        let root = req.document_root();
        let (prefix, context_root) = match &req.context_info {
            Some((prefix, context_root)) => (prefix.clone(), context_root.clone()),
            None => (String::new(), root),
        };
        trace(req, 2, perdir, || {
            format!("trying to replace context docroot {context_root} with context prefix {prefix}")
        });
        filename = subst_prefix_path(req, &filename, &context_root, &prefix);
    }
    trace(req, 1, perdir, || {
        format!("internal redirect with {filename} [INTERNAL REDIRECT]")
    });
    let target = match &req.args {
        Some(args) => format!("{filename}?{args}"),
        None => filename,
    };
    state(req).redirect = Some(target);
    Ok(Fixup::Continue)
}

/// Apache's `subst_prefix_path`: `input` under the directory `prefix` gets `base` instead.
fn subst_prefix_path(req: &Request, input: &str, prefix: &str, base: &str) -> String {
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if !input.starts_with(prefix) || input.as_bytes().get(prefix.len()) != Some(&b'/') {
        return input.to_string();
    }
    let rest = &input[prefix.len() + 1..];
    trace(req, 5, None, || {
        format!("strip matching prefix: {input} -> {rest}")
    });
    let output = if base.is_empty() || base.ends_with('/') {
        format!("{base}{rest}")
    } else {
        format!("{base}/{rest}")
    };
    trace(req, 4, None, || {
        format!("add subst prefix: {rest} -> {output}")
    });
    output
}

/// The end of fixups: `[T=]` and `[H=]` take effect, and a per-directory rewrite to a local
/// path is served by internal redirect (Apache's redirect handler).
pub(crate) fn fixup_last(req: &mut Request) -> Step<Fixup> {
    let Some(state) = req.state.get::<super::State>() else {
        return Ok(Fixup::Continue);
    };
    if let Some(forced) = state.forced_type.clone() {
        trace(req, 1, None, || {
            format!(
                "force filename {} to have MIME-type '{forced}'",
                req.filename
                    .as_ref()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        });
    }
    if let Some(forced) = state.forced_handler.clone() {
        trace(req, 1, None, || {
            format!(
                "force filename {} to have the Content-handler '{forced}'",
                req.filename
                    .as_ref()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        });
    }
    let Some(target) = super::state(req).redirect.take() else {
        return Ok(Fixup::Continue);
    };
    let limit = req.ctx().runtime.core.recursion_limits().0;
    if req.redirects >= limit {
        let text = format!(
            "AH00124: Request exceeded the limit of {limit} internal redirects due to probable \
             configuration error. Use 'LimitInternalRecursion' to increase the limit if \
             necessary. Use 'LogLevel debug' to get a backtrace."
        );
        req.log_error("core", "error", &text);
        return Err(500);
    }
    req.redirects += 1;
    let (path, args) = match target.split_once('?') {
        Some((path, args)) => (path.to_string(), Some(args.to_string())),
        None => (target, None),
    };
    // The new request parses its URI as any request's path: decoded and normalised.
    let decoded = crate::request::uri::normalize_bytes(
        &path,
        req.ctx().runtime.core.merge_slashes.unwrap_or(true),
        crate::request::uri::EncodedSlashes::Decode,
    )
    .map_err(|_| 400u16)?;
    req.uri = String::from_utf8_lossy(&decoded).into_owned();
    req.args = args;
    // The new request starts with no response headers but the Vary the rules added, and
    // the environment renamed REDIRECT_*.
    let vary = req.headers_out.get("Vary").map(str::to_string);
    req.headers_out = Default::default();
    // Access control is not run again when the new URI lands under the same configuration
    // (Apache compares the previous request's per_dir_config).
    req.prev_dir = Some(Arc::clone(&req.dir));
    if let Some(vary) = vary {
        req.headers_out.set("Vary", vary);
    }
    let state = super::state(req);
    state.forced_type = None;
    state.forced_handler = None;
    for change in &mut state.env {
        match change {
            EnvChange::Set(name, _) | EnvChange::Unset(name) => {
                if !name.starts_with("REDIRECT_") {
                    *name = format!("REDIRECT_{name}");
                }
            }
        }
    }
    Ok(Fixup::InternalRedirect)
}

/// The content type `[T=...]` forced on the response, once fixups are done.
pub(crate) fn forced_type<'a>(req: &'a Request) -> Option<&'a str> {
    req.state.get::<super::State>()?.forced_type.as_deref()
}

/// The handler `[H=...]` forced on the request.
pub(crate) fn forced_handler<'a>(req: &'a Request) -> Option<&'a str> {
    req.state.get::<super::State>()?.forced_handler.as_deref()
}
