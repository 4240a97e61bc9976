//! The `balancer-manager` handler: the page (HTML, or XML with `xml=`) showing every
//! balancer and member of the server with their shared state, and the forms whose answers
//! change a member (load factor, lbset, route, redirect, status flags) or a balancer
//! (lbmethod, timeout, failover attempts, nofailover, sticky session, a member added) in
//! every child at once; and mod_proxy's status hook (ProxyStatus On) for mod_status's page.
//! Parameters count only with a Referer naming this server and the balancer's nonce, as
//! Apache guards against cross-site requests. Changes last until the next restart.

use std::fmt::Write as _;

use rhttpd_directives::util::escape::{escape_html_str, escape_uri, unescape_url};

use super::{shared, Live, Member};
use crate::modules::proxy::ServerConf;
use crate::request::{Body, Request, Response, Step};

/// `push2table`: `key=value` pairs split on `&`, both unescaped (the value twice, as the
/// forms escape names twice); `allowed` keeps only those keys.
fn push2table(input: &str, params: &mut Vec<(String, String)>, allowed: Option<&[&str]>) {
    let unescape = |text: &str| match unescape_url(text.as_bytes(), b"", b"") {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => text.to_string(),
    };
    for pair in input.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = unescape(key);
        let value = unescape(&unescape(value));
        if allowed.is_none_or(|keys| keys.contains(&key.as_str())) {
            params.retain(|(k, _)| *k != key);
            params.push((key, value));
        }
    }
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `safe_referer`: the Referer's host is the server's name as this request sees it.
fn safe_referer(req: &Request, referer: &str) -> bool {
    crate::modules::proxy::worker::parse_url(referer)
        .is_some_and(|url| !url.host.is_empty() && url.host.eq_ignore_ascii_case(&req.host_name()))
}

/// C's `atoi`.
fn atoi(text: &str) -> i64 {
    crate::modules::proxy::worker::atol(text)
}

/// C's `atof`, for the load factor.
fn atof(text: &str) -> f64 {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .take_while(|(i, c)| {
            c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+'))
        })
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    text[..end].parse().unwrap_or(0.0)
}

/// The handler: `Ok(None)` for a request that is not the manager's.
pub fn handler(req: &mut Request) -> Step<Option<Response>> {
    if crate::request::pipeline::set_handler(req) != Some("balancer-manager") {
        return Ok(None);
    }
    // HEAD is a GET to Apache's method numbers.
    let get = req.method == "GET" || req.method == "HEAD";
    if !get && req.method != "POST" {
        return Ok(None);
    }
    let conf = req.ctx().runtime.module::<ServerConf>().into_owned();
    let mut params: Vec<(String, String)> = Vec::new();
    if get {
        if let Some(args) = req.args.clone() {
            push2table(&args, &mut params, Some(&["w", "b", "nonce", "xml"]));
        }
    } else {
        // Apache reads one kilobyte of the form.
        let mut body = Vec::new();
        crate::request::input::read_body(req, 0, &mut |piece| {
            body.extend_from_slice(piece);
            Ok(())
        })?;
        body.truncate(1024);
        push2table(&String::from_utf8_lossy(&body), &mut params, None);
    }
    let referer = req.head.headers.get("Referer").map(str::to_string);
    if !params.is_empty() && !referer.as_deref().is_some_and(|r| safe_referer(req, r)) {
        req.log_error(
            "proxy_balancer",
            "error",
            &format!(
                "AH10187: ignoring params in balancer-manager cross-site access {}: {}",
                referer.as_deref().unwrap_or("(null)"),
                req.host_name()
            ),
        );
        params.clear();
    }
    let balancers: Vec<Live> = conf
        .balancers
        .iter()
        .map(|def| Live::of(req.server, &conf, def))
        .collect();
    let selected = param(&params, "b").and_then(|name| {
        let full = format!("balancer://{name}");
        balancers
            .iter()
            .position(|b| b.def.name.eq_ignore_ascii_case(full.trim_end_matches('/')))
    });
    let worker = selected.and_then(|b| {
        param(&params, "w").and_then(|name| {
            balancers[b]
                .members
                .iter()
                .position(|m| m.def.name.eq_ignore_ascii_case(name) || m.def.url == name)
        })
    });
    if let Some(b) = selected {
        let nonce = balancers[b].nonce();
        if !nonce.is_empty() && param(&params, "nonce") == Some(nonce.as_str()) {
            let member = worker.map(|w| balancers[b].members[w]);
            process(req, &balancers[b], member.as_ref(), &params)?;
        }
    }
    // The page shows the balancers as the changes left them (a member added included).
    let balancers: Vec<Live> = conf
        .balancers
        .iter()
        .map(|def| Live::of(req.server, &conf, def))
        .collect();
    let xml = param(&params, "xml").is_some();
    let selection = selected.map(|b| (b, worker));
    let body = if xml {
        xml_page(&balancers)
    } else {
        html_page(req, &conf, &balancers, selection)
    };
    let length_known = xml;
    Ok(Some(Response {
        status: 200,
        headers: req.headers_out.clone(),
        content_type: Some(if xml {
            "text/xml".into()
        } else {
            "text/html; charset=ISO-8859-1".into()
        }),
        // The HTML page ends with a flush (it goes out chunked), the XML one does not.
        length_known,
        body: Body::Bytes(body.into_bytes()),
        length_last: true,
        header_only: req.method == "HEAD",
        server: req.server,
        ..Default::default()
    }))
}

/// The lbmethod's `reset`, run when a member becomes usable again or the method changes.
fn reset(balancer: &Live<'_>) {
    for member in &balancer.members {
        match balancer.lbmethod() {
            "bytraffic" => {
                member.slot.set(shared::TRANSFERRED, 0);
                member.slot.set(shared::READ, 0);
            }
            "bybusyness" => {
                member.slot.set(shared::LBSTATUS, 0);
                member.slot.set(shared::BUSY, 0);
            }
            _ => member.slot.set(shared::LBSTATUS, 0),
        }
    }
}

/// `recalc_factors`: every member's lbstatus set back to its factor.
fn recalc_factors(balancer: &Live<'_>) {
    if balancer.members.len() == 1 {
        let only = &balancer.members[0];
        only.slot.set(shared::LBFACTOR, 100);
        only.slot.set(shared::LBSTATUS, 100);
        return;
    }
    for member in &balancer.members {
        member
            .slot
            .set(shared::LBSTATUS, member.slot.get(shared::LBFACTOR));
    }
}

/// `balancer_process_balancer_worker`.
fn process(
    req: &Request,
    balancer: &Live<'_>,
    member: Option<&Member<'_>>,
    params: &[(String, String)],
) -> Step<()> {
    let mut need_reset = false;
    if let Some(member) = member {
        let was_usable = member.usable();
        if let Some(value) = param(params, "w_lf") {
            let factor = (atof(value) * 100.0) as i64;
            if (100..=10000).contains(&factor) {
                member.slot.set(shared::LBFACTOR, factor as u64);
                recalc_factors(balancer);
            }
        }
        if let Some(value) = param(params, "w_wr") {
            member
                .slot
                .set_text(shared::ROUTE, if value.len() < 64 { value } else { "" });
        }
        if let Some(value) = param(params, "w_rr") {
            member
                .slot
                .set_text(shared::REDIRECT, if value.len() < 64 { value } else { "" });
        }
        for (letter, bit) in shared::LETTERS {
            if *letter == 'E' {
                continue;
            }
            if let Some(value) = param(params, &format!("w_status_{letter}")) {
                member.slot.set_bits(shared::STATUS, *bit, atoi(value) != 0);
            }
        }
        if let Some(value) = param(params, "w_ls") {
            let set = atoi(value);
            if (0..=99).contains(&set) {
                member.slot.set(shared::LBSET, set as u64);
            }
        }
        if !was_usable && member.usable() {
            need_reset = true;
        }
    }
    let slot = balancer.slot;
    if let Some(value) = param(params, "b_lbm") {
        if value != balancer.lbmethod()
            && super::lbmethod_loaded(&req.rt.config.read.modules, value)
        {
            slot.set(shared::B_LBMETHOD, super::lbmethod_index(value));
            need_reset = true;
        }
    }
    if let Some(value) = param(params, "b_tmo") {
        let seconds = atoi(value);
        if (0..=7200).contains(&seconds) {
            slot.set(shared::B_TIMEOUT_MS, seconds as u64 * 1000);
        }
    }
    if let Some(value) = param(params, "b_max") {
        let attempts = atoi(value);
        if (0..=99).contains(&attempts) {
            slot.set(shared::B_MAX_ATTEMPTS, attempts as u64 + 1);
        }
    }
    if let Some(value) = param(params, "b_sforce") {
        slot.set(shared::B_NOFAILOVER, u64::from(atoi(value) != 0));
    }
    if let Some(value) = param(params, "b_ss").filter(|v| !v.is_empty()) {
        if value.len() < 63 {
            if value == "-" {
                slot.set_text(shared::B_STICKY, "");
                slot.set_text(shared::B_STICKY_PATH, "");
            } else if let Some((cookie, path)) = value.split_once('|') {
                slot.set_text(shared::B_STICKY, cookie);
                slot.set_text(shared::B_STICKY_PATH, path);
            } else {
                slot.set_text(shared::B_STICKY, value);
                slot.set_text(shared::B_STICKY_PATH, value);
            }
        }
    }
    if param(params, "b_wyes") == Some("1") {
        if let Some(name) = param(params, "b_nwrkr") {
            if let Err(id) = super::add_member(req.server, balancer, name) {
                req.log_error(
                    "proxy_balancer",
                    "error",
                    &format!("{id}: {}: failed to add worker {name}", balancer.def.name),
                );
                return Err(400);
            }
        }
    }
    if need_reset {
        reset(balancer);
    }
    Ok(())
}

/// `ap_proxy_parse_wstatus`: the flags set, then `Ok` for a usable member.
fn status_text(member: &Member<'_>) -> String {
    const NAMES: &[(u64, &str)] = &[
        (shared::IGNORE_ERRORS, "Ign "),
        (shared::DRAIN, "Drn "),
        (shared::DISABLED, "Dis "),
        (shared::STOPPED, "Stop "),
        (shared::IN_ERROR, "Err "),
        (shared::HOT_STANDBY, "Stby "),
        (shared::HOT_SPARE, "Spar "),
        (shared::HC_FAIL, "HcFl "),
    ];
    let status = member.status();
    let mut out = String::from("Init ");
    for (bit, name) in NAMES {
        if status & bit != 0 {
            out.push_str(name);
        }
    }
    if member.usable() {
        out.push_str("Ok ");
    }
    out
}

/// The path a ProxyPass maps to the balancer (Apache's `vpath`).
fn balancer_path(conf: &ServerConf, name: &str) -> String {
    conf.aliases
        .iter()
        .rev()
        .find(|a| a.regex.is_none() && a.real.trim_end_matches('/').eq_ignore_ascii_case(name))
        .map(|a| a.fake.clone())
        .unwrap_or_default()
}

/// How many members the balancer has room for: its members plus its `growth`.
pub fn max_members(balancer: &Live<'_>) -> usize {
    balancer.def.members.len() + balancer.def.settings.growth.unwrap_or(0) as usize
}

/// The part of a balancer's name after `balancer://`.
fn short_name(name: &str) -> &str {
    &name["balancer://".len().min(name.len())..]
}

/// Apache names a balancer's shared memory `p<hash of the server>_<name's alphanumerics>`.
fn safe_name(server: usize, name: &str) -> String {
    let alnum: String = short_name(name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("p{:x}_{alnum}", shared::key(&[&server.to_string()]) as u32)
}

/// The end of an edit form: the balancer's nonce, then the form closed.
fn end_form(out: &mut String, balancer: &Live<'_>) {
    let _ = writeln!(
        out,
        "<input type=hidden name='nonce' id='nonce' value='{}'>",
        balancer.nonce()
    );
    out.push_str("</form>\n<hr />\n");
}

fn create_radio(out: &mut String, name: &str, on: bool) {
    let _ = writeln!(
        out,
        "<td><label for='{name}1'>On</label> <input name='{name}' id='{name}1' value='1' type=radio{}> <br/> <label for='{name}0'>Off</label> <input name='{name}' id='{name}0' value='0' type=radio{}></td>",
        if on { " checked" } else { "" },
        if on { "" } else { " checked" }
    );
}

fn sticky_text(balancer: &Live<'_>) -> Option<String> {
    let sticky = balancer.sticky();
    if sticky.is_empty() {
        return None;
    }
    let path = balancer.sticky_path();
    Some(if path != sticky {
        format!("{}|{}", escape_html_str(&sticky), escape_html_str(&path))
    } else {
        escape_html_str(&sticky)
    })
}

const STYLE: &str = "<style type='text/css'>\ntable {\n border-width: 1px;\n border-spacing: 3px;\n border-style: solid;\n border-color: gray;\n border-collapse: collapse;\n background-color: white;\n text-align: center;\n}\nth {\n border-width: 1px;\n padding: 2px;\n border-style: dotted;\n border-color: gray;\n background-color: lightgray;\n text-align: center;\n}\ntd {\n border-width: 1px;\n padding: 2px;\n border-style: dotted;\n border-color: gray;\n background-color: white;\n text-align: center;\n}\n</style>\n</head>\n";

fn html_page(
    req: &Request,
    conf: &ServerConf,
    balancers: &[Live<'_>],
    selection: Option<(usize, Option<usize>)>,
) -> String {
    let uri = escape_uri(&req.uri);
    let mut out = String::with_capacity(8192);
    out.push_str("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head><title>Balancer Manager</title>\n");
    out.push_str(STYLE);
    let _ = write!(
        out,
        "<body><h1>Load Balancer Manager for {}</h1>\n\n",
        escape_html_str(&req.host_name())
    );
    let _ = writeln!(out, "<dl><dt>Server Version: {}</dt>", req.rt.server_banner);
    let _ = writeln!(
        out,
        "<dt>Server Built: {}</dt>",
        crate::build_info::server_built()
    );
    let inherit = |flag: Option<bool>| if flag == Some(false) { "NOT " } else { "" };
    let _ = write!(
        out,
        "<dt>Balancer changes will NOT be persisted on restart.</dt><dt>Balancers are {}inherited from main server.</dt><dt>ProxyPass settings are {}inherited from main server.</dt>",
        inherit(conf.balancer_inherit),
        inherit(conf.pass_inherit)
    );
    out.push_str("</dl>\n");
    for balancer in balancers {
        let name = &balancer.def.name;
        let nonce = balancer.nonce();
        let _ = writeln!(
            out,
            "<hr />\n<h3>LoadBalancer Status for <a href=\"{uri}?b={}&amp;nonce={nonce}\">{name}</a> [{}]</h3>",
            short_name(name),
            safe_name(req.server, name)
        );
        out.push_str("\n\n<table><tr><th>MaxMembers</th><th>StickySession</th><th>DisableFailover</th><th>Timeout</th><th>FailoverAttempts</th><th>Method</th><th>Path</th><th>Active</th></tr>\n<tr>");
        let _ = writeln!(
            out,
            "<td>{} [{} Used]</td>",
            max_members(balancer),
            balancer.members.len()
        );
        match sticky_text(balancer) {
            Some(text) => {
                let _ = write!(out, "<td>{text}");
            }
            None => out.push_str("<td> (None) "),
        }
        let _ = writeln!(
            out,
            "</td><td>{}</td>",
            if balancer.nofailover() { "On" } else { "Off" }
        );
        let _ = write!(out, "<td>{}</td>", balancer.timeout().as_secs());
        let _ = writeln!(out, "<td>{}</td>", balancer.max_attempts());
        let _ = writeln!(out, "<td>{}</td>", balancer.lbmethod());
        let _ = writeln!(out, "<td>{}</td>", balancer_path(conf, name));
        out.push_str("<td>Yes</td>\n");
        out.push_str("</tr>\n</table>\n<br />");
        out.push_str("\n\n<table><tr><th>Worker URL</th><th>Route</th><th>RouteRedir</th><th>Factor</th><th>Set</th><th>Status</th><th>Elected</th><th>Busy</th><th>Load</th><th>To</th><th>From</th></tr>\n");
        for member in &balancer.members {
            let worker_name = display_name(member);
            let _ = write!(
                out,
                "<tr>\n<td><a href=\"{uri}?b={}&amp;w={}&amp;nonce={nonce}\">{worker_name}</a></td>",
                short_name(name),
                escape_uri(&member.def.name)
            );
            let _ = write!(out, "<td>{}", escape_html_str(&member.route()));
            let _ = write!(out, "</td><td>{}", escape_html_str(&member.redirect()));
            let _ = write!(
                out,
                "</td><td>{:.2}</td>",
                member.slot.get(shared::LBFACTOR) as f64 / 100.0
            );
            let _ = write!(out, "<td>{}</td><td>", member.lbset());
            out.push_str(&status_text(member));
            out.push_str("</td>");
            let _ = write!(out, "<td>{}</td>", member.slot.get(shared::ELECTED));
            let _ = write!(out, "<td>{}</td>", member.slot.get(shared::BUSY));
            let _ = write!(
                out,
                "<td>{}</td><td>",
                member.slot.signed(shared::LBSTATUS) as i32
            );
            out.push_str(&strfsize(member.slot.get(shared::TRANSFERRED)));
            out.push_str("</td><td>");
            out.push_str(&strfsize(member.slot.get(shared::READ)));
            out.push_str("</td></tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<hr />\n");
    let action = escape_uri(&format!("{}{}", req.self_url_base(), req.uri));
    match selection {
        Some((b, Some(w))) => {
            let balancer = &balancers[b];
            let member = &balancer.members[w];
            let _ = writeln!(
                out,
                "<h3>Edit worker settings for {}</h3>",
                display_name(member)
            );
            let _ = writeln!(
                out,
                "<form method='POST' enctype='application/x-www-form-urlencoded' action=\"{action}\">"
            );
            let _ = writeln!(
                out,
                "<table><tr><td>Load factor:</td><td><input name='w_lf' id='w_lf' type=text value='{:.2}'></td></tr>",
                member.slot.get(shared::LBFACTOR) as f64 / 100.0
            );
            let _ = writeln!(
                out,
                "<tr><td>LB Set:</td><td><input name='w_ls' id='w_ls' type=text value='{}'></td></tr>",
                member.lbset()
            );
            let _ = writeln!(
                out,
                "<tr><td>Route:</td><td><input name='w_wr' id='w_wr' type=text value=\"{}\"></td></tr>",
                escape_html_str(&member.route())
            );
            let _ = writeln!(
                out,
                "<tr><td>Route Redirect:</td><td><input name='w_rr' id='w_rr' type=text value=\"{}\"></td></tr>",
                escape_html_str(&member.redirect())
            );
            out.push_str("<tr><td>Status:</td><td><table><tr><th>Ignore Errors</th><th>Draining Mode</th><th>Disabled</th><th>Hot Standby</th><th>Hot Spare</th><th>Stopped</th></tr>\n<tr>");
            for (name, bit) in [
                ("w_status_I", shared::IGNORE_ERRORS),
                ("w_status_N", shared::DRAIN),
                ("w_status_D", shared::DISABLED),
                ("w_status_H", shared::HOT_STANDBY),
                ("w_status_R", shared::HOT_SPARE),
                ("w_status_S", shared::STOPPED),
            ] {
                create_radio(&mut out, name, member.is(bit));
            }
            out.push_str("</tr></table></td></tr>\n");
            out.push_str("<tr><td colspan='2'><input type=submit value='Submit'></td></tr>\n");
            let _ = writeln!(
                out,
                "</table>\n<input type=hidden name='w' id='w' value=\"{}\">",
                escape_uri(&member.def.name)
            );
            let _ = writeln!(
                out,
                "<input type=hidden name='b' id='b' value=\"{}\">",
                escape_html_str(short_name(&balancer.def.name))
            );
            end_form(&mut out, balancer);
        }
        Some((b, None)) => {
            let balancer = &balancers[b];
            let _ = writeln!(
                out,
                "<h3>Edit balancer settings for {}</h3>",
                escape_html_str(&balancer.def.name)
            );
            let _ = writeln!(
                out,
                "<form method='POST' enctype='application/x-www-form-urlencoded' action=\"{action}\">"
            );
            out.push_str("<table>\n");
            let loaded: Vec<&str> = ["byrequests", "bybusyness", "bytraffic"]
                .into_iter()
                .filter(|m| super::lbmethod_loaded(&req.rt.config.read.modules, m))
                .collect();
            if !loaded.is_empty() {
                out.push_str("<tr><td>LBmethod:</td><td>\n<select name='b_lbm' id='b_lbm'>");
                for method in loaded {
                    let selected = if method == balancer.lbmethod() {
                        " selected "
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "<option value='{method}'{selected}>{method}");
                }
                out.push_str("</select>\n</td></tr>\n");
            }
            let _ = writeln!(
                out,
                "<tr><td>Timeout:</td><td><input name='b_tmo' id='b_tmo' type=text value='{}'></td></tr>",
                balancer.timeout().as_secs()
            );
            let _ = writeln!(
                out,
                "<tr><td>Failover Attempts:</td><td><input name='b_max' id='b_max' type=text value='{}'></td></tr>",
                balancer.max_attempts()
            );
            out.push_str("<tr><td>Disable Failover:</td>");
            create_radio(&mut out, "b_sforce", balancer.nofailover());
            out.push_str("</tr>\n");
            let sticky = balancer.sticky();
            let path = balancer.sticky_path();
            let value = if sticky != path {
                format!("{}|{}", escape_html_str(&sticky), escape_html_str(&path))
            } else {
                escape_html_str(&sticky)
            };
            let _ = writeln!(
                out,
                "<tr><td>Sticky Session:</td><td><input name='b_ss' id='b_ss' size=64 type=text value =\"{value}\">&nbsp;&nbsp;&nbsp;&nbsp;(Use '-' to delete)</td></tr>"
            );
            if max_members(balancer) > balancer.members.len() {
                out.push_str("<tr><td>Add New Worker:</td><td><input name='b_nwrkr' id='b_nwrkr' size=32 type=text>&nbsp;&nbsp;&nbsp;&nbsp;Are you sure? <input name='b_wyes' id='b_wyes' type=checkbox value='1'></td></tr>");
            }
            out.push_str("<tr><td colspan=2><input type=submit value='Submit'></td></tr>\n");
            let _ = writeln!(
                out,
                "</table>\n<input type=hidden name='b' id='b' value=\"{}\">",
                escape_html_str(short_name(&balancer.def.name))
            );
            end_form(&mut out, balancer);
        }
        None => {}
    }
    out.push_str(&crate::request::errors::address_signature(req));
    out.push_str("</body></html>\n");
    out
}

/// mod_proxy's status hook: with ProxyStatus On, the balancers of the request's server in
/// mod_status's page (`short`: the `?auto` lines).
pub fn status_section(req: &Request, short: bool) -> String {
    if !req.rt.module_loaded("proxy_module") {
        return String::new();
    }
    let conf = req.ctx().runtime.module::<ServerConf>().into_owned();
    if conf.balancers.is_empty() || conf.proxy_status != Some(true) {
        return String::new();
    }
    let mut out = String::new();
    for (i, def) in conf.balancers.iter().enumerate() {
        let balancer = Live::of(req.server, &conf, def);
        if short {
            let _ = writeln!(out, "ProxyBalancer[{i}]Name: {}", def.name);
        } else {
            let _ = write!(
                out,
                "<hr />\n<h1>Proxy LoadBalancer Status for {}</h1>\n\n",
                def.name
            );
            out.push_str("\n\n<table border=\"0\"><tr><th>SSes</th><th>Timeout</th><th>Method</th></tr>\n<tr>");
            let sticky = balancer.sticky();
            let path = balancer.sticky_path();
            if sticky.is_empty() {
                out.push_str("<td> - ");
            } else if sticky != path {
                let _ = write!(out, "<td>{sticky} | {path}");
            } else {
                let _ = write!(out, "<td>{sticky}");
            }
            let _ = write!(out, "</td><td>{}</td>", balancer.timeout().as_secs());
            let _ = writeln!(out, "<td>{}</td>", balancer.lbmethod());
            out.push_str("</table>\n");
            out.push_str("\n\n<table border=\"0\"><tr><th>Sch</th><th>Host</th><th>Stat</th><th>Route</th><th>Redir</th><th>F</th><th>Set</th><th>Acc</th><th>Busy</th><th>Wr</th><th>Rd</th></tr>\n");
        }
        for (n, member) in balancer.members.iter().enumerate() {
            let slot = member.slot;
            if short {
                let _ = writeln!(
                    out,
                    "ProxyBalancer[{i}]Worker[{n}]Name: {}",
                    member.def.name
                );
                let _ = writeln!(
                    out,
                    "ProxyBalancer[{i}]Worker[{n}]Status: {}",
                    status_text(member)
                );
                let _ = writeln!(
                    out,
                    "ProxyBalancer[{i}]Worker[{n}]Elected: {}",
                    slot.get(shared::ELECTED)
                );
                let _ = writeln!(
                    out,
                    "ProxyBalancer[{i}]Worker[{n}]Busy: {}",
                    slot.get(shared::BUSY)
                );
                let _ = writeln!(
                    out,
                    "ProxyBalancer[{i}]Worker[{n}]Sent: {}K",
                    slot.get(shared::TRANSFERRED) >> 10
                );
                let _ = writeln!(
                    out,
                    "ProxyBalancer[{i}]Worker[{n}]Rcvd: {}K",
                    slot.get(shared::READ) >> 10
                );
            } else {
                let _ = write!(
                    out,
                    "<tr>\n<td>{}</td><td>{}</td><td>{}",
                    member.def.origin.scheme,
                    member.def.hostname(),
                    status_text(member)
                );
                let _ = write!(out, "</td><td>{}", member.route());
                let _ = write!(out, "</td><td>{}", member.redirect());
                let _ = write!(
                    out,
                    "</td><td>{:.2}</td>",
                    slot.get(shared::LBFACTOR) as f64 / 100.0
                );
                let _ = write!(out, "<td>{}</td>", member.lbset());
                let _ = write!(out, "<td>{}</td>", slot.get(shared::ELECTED));
                let _ = write!(out, "<td>{}</td><td>", slot.get(shared::BUSY));
                out.push_str(&strfsize(slot.get(shared::TRANSFERRED)));
                out.push_str("</td><td>");
                out.push_str(&strfsize(slot.get(shared::READ)));
                out.push_str("</td>\n</tr>\n");
            }
        }
        if !short {
            out.push_str("</table>\n");
        }
    }
    if !short {
        out.push_str("<hr /><table>\n<tr><th>SSes</th><td>Sticky session name</td></tr>\n<tr><th>Timeout</th><td>Balancer Timeout</td></tr>\n<tr><th>Sch</th><td>Connection scheme</td></tr>\n<tr><th>Host</th><td>Backend Hostname</td></tr>\n<tr><th>Stat</th><td>Worker status</td></tr>\n<tr><th>Route</th><td>Session Route</td></tr>\n<tr><th>Redir</th><td>Session Route Redirection</td></tr>\n<tr><th>F</th><td>Load Balancer Factor</td></tr>\n<tr><th>Acc</th><td>Number of uses</td></tr>\n<tr><th>Wr</th><td>Number of bytes transferred</td></tr>\n<tr><th>Rd</th><td>Number of bytes read</td></tr>\n</table>");
    }
    out
}

/// A member as the page names it (a socket's in italics).
fn display_name(member: &Member<'_>) -> String {
    match &member.def.socket {
        Some(_) => format!("<i>{}</i>", member.def.name),
        None => member.def.name.clone(),
    }
}

fn xml_page(balancers: &[Live<'_>]) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version='1.0' encoding='UTF-8' ?>\n");
    out.push_str("<httpd:manager xmlns:httpd='http://httpd.apache.org'>\n");
    out.push_str("  <httpd:balancers>\n");
    for balancer in balancers {
        out.push_str("    <httpd:balancer>\n");
        let _ = writeln!(out, "      <httpd:name>{}</httpd:name>", balancer.def.name);
        let _ = writeln!(out, "      <httpd:nonce>{}</httpd:nonce>", balancer.nonce());
        let sticky = balancer.sticky();
        if !sticky.is_empty() {
            let _ = writeln!(
                out,
                "      <httpd:stickysession>{}</httpd:stickysession>",
                escape_html_str(&sticky)
            );
            let _ = writeln!(
                out,
                "      <httpd:nofailover>{}</httpd:nofailover>",
                if balancer.nofailover() { "On" } else { "Off" }
            );
        }
        // Apache ends this line without a newline.
        let _ = write!(
            out,
            "      <httpd:timeout>{}</httpd:timeout>",
            balancer.timeout().as_secs()
        );
        if let Some(attempts) = balancer
            .max_attempts_set()
            .or_else(|| (balancer.def.members.len() > 1).then(|| balancer.max_attempts()))
        {
            let _ = writeln!(
                out,
                "      <httpd:maxattempts>{attempts}</httpd:maxattempts>"
            );
        }
        let _ = writeln!(
            out,
            "      <httpd:lbmethod>{}</httpd:lbmethod>",
            balancer.lbmethod()
        );
        if !sticky.is_empty() {
            let _ = writeln!(
                out,
                "      <httpd:scolonpathdelim>{}</httpd:scolonpathdelim>",
                if balancer.def.settings.scolon_path_delim == Some(true) {
                    "On"
                } else {
                    "Off"
                }
            );
        }
        out.push_str("      <httpd:workers>\n");
        for member in &balancer.members {
            let def = member.def;
            let factor = member.slot.get(shared::LBFACTOR) as f64 / 100.0;
            out.push_str("        <httpd:worker>\n");
            let _ = writeln!(out, "          <httpd:name>{}</httpd:name>", def.name);
            let _ = writeln!(
                out,
                "          <httpd:scheme>{}</httpd:scheme>",
                def.origin.scheme
            );
            let _ = writeln!(
                out,
                "          <httpd:hostname>{}</httpd:hostname>",
                def.hostname()
            );
            let _ = writeln!(
                out,
                "          <httpd:loadfactor>{factor:.2}</httpd:loadfactor>"
            );
            let _ = writeln!(
                out,
                "          <httpd:port>{}</httpd:port>",
                def.origin.port
            );
            let threads = threads_per_child();
            let max = def.params.max.map_or(threads, |m| m as usize);
            let _ = writeln!(
                out,
                "          <httpd:min>{}</httpd:min>",
                def.params.min.unwrap_or(0)
            );
            let _ = writeln!(
                out,
                "          <httpd:smax>{}</httpd:smax>",
                def.params.smax.map_or(max, |s| s as usize)
            );
            let _ = writeln!(out, "          <httpd:max>{max}</httpd:max>");
            let _ = writeln!(
                out,
                "          <httpd:ttl>{}</httpd:ttl>",
                def.params.ttl.map_or(0, |t| t.as_secs())
            );
            if let Some(timeout) = def.params.timeout {
                let _ = writeln!(
                    out,
                    "          <httpd:timeout>{}</httpd:timeout>",
                    timeout.as_secs()
                );
            }
            let _ = writeln!(
                out,
                "          <httpd:status>{}</httpd:status>",
                status_text(member)
            );
            let error_time = member.slot.get(shared::ERROR_TIME);
            if error_time > 0 {
                let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(error_time);
                let _ = writeln!(
                    out,
                    "          <httpd:error_time>{}</httpd:error_time>",
                    crate::http1::date::format(when)
                );
            }
            let _ = writeln!(
                out,
                "          <httpd:retries>{}</httpd:retries>",
                member.slot.get(shared::RETRIES)
            );
            let _ = writeln!(
                out,
                "          <httpd:lbstatus>{}</httpd:lbstatus>",
                member.slot.signed(shared::LBSTATUS) as i32
            );
            let _ = writeln!(
                out,
                "          <httpd:loadfactor>{factor:.2}</httpd:loadfactor>"
            );
            let _ = writeln!(
                out,
                "          <httpd:transferred>{}</httpd:transferred>",
                member.slot.get(shared::TRANSFERRED)
            );
            let _ = writeln!(
                out,
                "          <httpd:read>{}</httpd:read>",
                member.slot.get(shared::READ)
            );
            let _ = writeln!(
                out,
                "          <httpd:elected>{}</httpd:elected>",
                member.slot.get(shared::ELECTED)
            );
            let _ = writeln!(
                out,
                "          <httpd:route>{}</httpd:route>",
                escape_html_str(&member.route())
            );
            let _ = writeln!(
                out,
                "          <httpd:redirect>{}</httpd:redirect>",
                escape_html_str(&member.redirect())
            );
            let _ = writeln!(
                out,
                "          <httpd:busy>{}</httpd:busy>",
                member.slot.get(shared::BUSY)
            );
            let _ = writeln!(
                out,
                "          <httpd:lbset>{}</httpd:lbset>",
                member.lbset()
            );
            if let Some(disabled) = def.params.disable_reuse {
                let _ = writeln!(
                    out,
                    "      <httpd:disablereuse>{}</httpd:disablereuse>",
                    if disabled { "On" } else { "Off" }
                );
            }
            if let Some(timeout) = def.params.connection_timeout {
                let _ = writeln!(
                    out,
                    "          <httpd:connectiontimeout>{}</httpd:connectiontimeout>",
                    timeout.as_millis()
                );
            }
            if let Some(retry) = def.params.retry {
                let _ = writeln!(
                    out,
                    "          <httpd:retry>{}</httpd:retry>",
                    retry.as_secs()
                );
            }
            out.push_str("        </httpd:worker>\n");
        }
        out.push_str("      </httpd:workers>\n");
        out.push_str("    </httpd:balancer>\n");
    }
    out.push_str("  </httpd:balancers>\n");
    out.push_str("</httpd:manager>");
    out
}

/// ThreadsPerChild of the running MPM (a worker's default connection maximum).
fn threads_per_child() -> usize {
    THREADS.load(std::sync::atomic::Ordering::Relaxed).max(1)
}

static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// Noted at post_config.
pub fn note_threads(threads: usize) {
    THREADS.store(threads, std::sync::atomic::Ordering::Relaxed);
}

/// `apr_strfsize`: a size in four columns (mod_autoindex's, which Apache shares too).
fn strfsize(size: u64) -> String {
    crate::modules::autoindex::strfsize(i64::try_from(size).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_apr_strfsize_writes_them() {
        assert_eq!(strfsize(0), "  0 ");
        assert_eq!(strfsize(972), "972 ");
        assert_eq!(strfsize(1024), "1.0K");
        assert_eq!(strfsize(200_000), "195K");
        assert_eq!(strfsize(5 * 1024 * 1024), "5.0M");
    }

    #[test]
    fn form_fields_are_unescaped_and_filtered() {
        let mut params = Vec::new();
        push2table(
            "b=cluster&w=http%253A%252F%252Fh%3A1&x=1&nonce=n",
            &mut params,
            Some(&["w", "b", "nonce", "xml"]),
        );
        assert_eq!(param(&params, "w"), Some("http://h:1"));
        assert_eq!(param(&params, "x"), None);
    }
}
