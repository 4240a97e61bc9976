//! mod_remoteip, whole but for the reading of PROXY headers (`server::proxy_protocol` parses
//! them and `server::conn` reads them at a connection's start): the directive table, setters
//! and typed per-server configuration with Apache's merge (a virtual host's proxies before
//! the main server's), the addresses and networks RemoteIPProxyProtocol and its exceptions
//! switch on and off (kept on the main server, as Apache keeps them), the start-up notices,
//! and the post_read_request hook that gives a request its user agent: the client a PROXY
//! header named, or the one its trusted proxies put in RemoteIPHeader, walked right to left.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::hooks::{Hooks, Order};
use crate::request::{ClientAddr, Request, Step};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::RSRC_CONF;
use rhttpd_directives::model::{Config, DirConfig, Warning};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::subnet::{Subnet, SubnetError};

pub static MODULE: ModuleDef = ModuleDef {
    id: "remoteip_module",
    source: "mod_remoteip.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "RemoteIPHeader",
        Take1(header_name),
        RSRC_CONF,
        "Specifies a request header to trust as the client IP, e.g. X-Forwarded-For",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPProxiesHeader",
        Take1(proxies_header_name),
        RSRC_CONF,
        "Specifies a request header to record proxy IP's, e.g. X-Forwarded-By; if not given then do not record",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPTrustedProxy",
        Iterate(trusted_proxy),
        RSRC_CONF,
        "Specifies one or more proxies which are trusted to present IP headers",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPInternalProxy",
        Iterate(internal_proxy),
        RSRC_CONF,
        "Specifies one or more internal (transparent) proxies which are trusted to present IP headers",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPTrustedProxyList",
        Take1(trusted_proxy_list),
        RSRC_CONF,
        "The filename to read the list of trusted proxies, see the RemoteIPTrustedProxy directive",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPInternalProxyList",
        Take1(internal_proxy_list),
        RSRC_CONF,
        "The filename to read the list of internal proxies, see the RemoteIPInternalProxy directive",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPProxyProtocol",
        Flag(proxy_protocol),
        RSRC_CONF,
        "Enable PROXY protocol handling ('on', 'off')",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoteIPProxyProtocolExceptions",
        Argv(proxy_protocol_exceptions),
        RSRC_CONF,
        "Disable PROXY protocol handling for this list of networks in CIDR format",
    )
    .implemented(),
];

/// One entry of RemoteIPTrustedProxy/RemoteIPInternalProxy (or their lists): a network, and
/// whether its proxies are internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyMatch {
    pub subnet: Subnet,
    pub internal: bool,
}

/// mod_remoteip's per-server configuration.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// RemoteIPHeader: the request header that names the client.
    pub header: Option<String>,
    /// RemoteIPProxiesHeader: where the trusted proxies met on the way are recorded.
    pub proxies_header: Option<String>,
    /// The proxies trusted to name the client, in configuration order; `None` when no
    /// directive named any (every proxy is then trusted, as an external one).
    pub proxies: Option<Vec<ProxyMatch>>,
    /// Where the PROXY protocol is switched on or off, and for whom not (the main server's
    /// own, whichever server's lines set it, as Apache keeps them on `ap_server_conf`).
    pub proxy_protocol: ProxyProtocolConf,
}

impl DirConfig for ServerConf {
    /// A virtual host's settings over the main server's; proxies named in both are both
    /// trusted, the virtual host's first (so they decide whether a proxy is internal).
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        let proxies = match (&vhost.proxies, &self.proxies) {
            (Some(own), Some(main)) => Some(own.iter().chain(main).copied().collect()),
            (Some(own), None) => Some(own.clone()),
            (None, main) => main.clone(),
        };
        ServerConf {
            header: vhost.header.clone().or_else(|| self.header.clone()),
            proxies_header: vhost
                .proxies_header
                .clone()
                .or_else(|| self.proxies_header.clone()),
            proxies,
            proxy_protocol: self.proxy_protocol.clone(),
        }
    }
}

/// An address RemoteIPProxyProtocol switched on or off: one of a virtual host's addresses,
/// or the main server's (any address, any port), with the server whose line named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolAddr {
    pub ip: IpAddr,
    /// 0 for any port.
    pub port: u16,
    /// The index of the server whose RemoteIPProxyProtocol line put it here.
    pub source: usize,
}

impl ProtocolAddr {
    /// `apr_sockaddr_is_wildcard`: the any-address of either family.
    fn wildcard(&self) -> bool {
        self.ip.is_unspecified()
    }

    /// `remoteip_sockaddr_equal`: the same address and port.
    fn equal(&self, ip: IpAddr, port: u16) -> bool {
        same_ip(self.ip, ip) && self.port == port
    }

    /// `remoteip_sockaddr_compat`: the same address on the same port (either may be any
    /// port), or either one is a wildcard matching the other's port.
    fn compat(&self, ip: IpAddr, port: u16) -> bool {
        let other_wildcard = ip.is_unspecified();
        (same_ip(self.ip, ip) && (self.port == port || self.port == 0 || port == 0))
            || (self.wildcard() && (self.port == 0 || self.port == port))
            || (other_wildcard && (port == 0 || port == self.port))
    }
}

/// `apr_sockaddr_equal`: the same address, an IPv4-mapped IPv6 one equal to its IPv4 form.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let plain = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    plain(a) == plain(b)
}

/// RemoteIPProxyProtocol's lists (newest first, as Apache prepends) and
/// RemoteIPProxyProtocolExceptions' networks.
#[derive(Debug, Clone, Default)]
pub struct ProxyProtocolConf {
    pub enabled: Vec<ProtocolAddr>,
    pub disabled: Vec<ProtocolAddr>,
    pub exceptions: Vec<Subnet>,
}

impl ProxyProtocolConf {
    /// Apache's pre_connection decision: whether a connection to `local` from `peer` must
    /// begin with a PROXY header (on for its address, not off for it, the client not among
    /// the exceptions).
    pub fn applies(&self, local: SocketAddr, peer: IpAddr) -> bool {
        let (ip, port) = (local.ip(), local.port());
        self.enabled.iter().any(|a| a.compat(ip, port))
            && !self.disabled.iter().any(|a| a.compat(ip, port))
            && !self.exceptions.iter().any(|net| net.contains(peer))
    }

    /// Whether any address has it on (else no connection needs looking at).
    pub fn any(&self) -> bool {
        !self.enabled.is_empty()
    }
}

fn header_name(cmd: &mut Cmd, name: &str) -> SetResult {
    cmd.server_config::<ServerConf>().header = Some(name.to_string());
    Ok(())
}

fn proxies_header_name(cmd: &mut Cmd, name: &str) -> SetResult {
    cmd.server_config::<ServerConf>().proxies_header = Some(name.to_string());
    Ok(())
}

fn trusted_proxy(cmd: &mut Cmd, arg: &str) -> SetResult {
    add_proxy(cmd, arg, false)
}

fn internal_proxy(cmd: &mut Cmd, arg: &str) -> SetResult {
    add_proxy(cmd, arg, true)
}

/// `proxies_set`: an address or network (`ip[/mask]`), or a host name whose every address
/// is trusted.
fn add_proxy(cmd: &mut Cmd, arg: &str, internal: bool) -> SetResult {
    let name = cmd.name();
    let (ip, mask) = match arg.split_once('/') {
        Some((ip, mask)) => (ip, Some(mask)),
        None => (arg, None),
    };
    let parse_error =
        |why: &str| format!("RemoteIP: Error parsing IP {arg} ({why} error) for {name}");
    let subnets = if looks_like_ip(ip) {
        // An empty address is APR's EINVAL, "Invalid argument".
        let subnet = Subnet::new(ip, mask).map_err(|err| parse_error(err.message()))?;
        vec![subnet]
    } else {
        if let Some(mask) = mask {
            return Err(format!(
                "RemoteIP: Error parsing IP {arg} the subnet /{mask} is invalid for {name}"
            ));
        }
        let addresses = resolve_preferring_ipv4(ip)
            .map_err(|code| parse_error(&crate::sys::eai_message(code)))?;
        let mut subnets = Vec::new();
        for address in addresses {
            let text = crate::request::apr_ip_text(address);
            subnets.push(Subnet::new(&text, None).map_err(|err| parse_error(err.message()))?);
        }
        subnets
    };
    let conf = cmd.server_config::<ServerConf>();
    let list = conf.proxies.get_or_insert_with(Vec::new);
    list.extend(
        subnets
            .into_iter()
            .map(|subnet| ProxyMatch { subnet, internal }),
    );
    Ok(())
}

/// mod_remoteip's `looks_like_ip`: a colon anywhere, or nothing but digits and dots (an
/// empty text too); anything else is a host name.
fn looks_like_ip(text: &str) -> bool {
    text.contains(':') || text.bytes().all(|b| b == b'.' || b.is_ascii_digit())
}

/// `apr_sockaddr_info_get(.., APR_UNSPEC, .., APR_IPV4_ADDR_OK)`: a host's IPv4 addresses if
/// it has any, else all of them; getaddrinfo's code when it has none.
fn resolve_preferring_ipv4(host: &str) -> Result<Vec<IpAddr>, i32> {
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(vec![IpAddr::V4(v4)]);
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        // The IPv4 lookup comes first, and glibc answers it for an IPv4-mapped address.
        let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
        return Ok(vec![ip]);
    }
    match crate::sys::resolve(host, libc::AF_INET) {
        Ok(found) if !found.is_empty() => Ok(found),
        _ => crate::sys::resolve(host, libc::AF_UNSPEC),
    }
}

fn trusted_proxy_list(cmd: &mut Cmd, file: &str) -> SetResult {
    read_proxy_list(cmd, file, false)
}

fn internal_proxy_list(cmd: &mut Cmd, file: &str) -> SetResult {
    read_proxy_list(cmd, file, true)
}

/// `proxylist_read`: the file's words, each as RemoteIP*Proxy takes one, up to a word that
/// starts with `#` on each line; an error names the file's line.
fn read_proxy_list(cmd: &mut Cmd, file: &str, internal: bool) -> SetResult {
    let path = cmd.cfg.read.server_root_relative(file);
    let text = std::fs::read(&path).map_err(|err| {
        format!(
            "{}: Could not open file {}: {}",
            cmd.name(),
            path.display(),
            crate::config::read::strerror(&err)
        )
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut lines = rhttpd_parser::LineReader::new(&text);
    // Apache stops at a line it cannot read (too long) as at the end of the file.
    while let Some(Ok(line)) = lines.next_line() {
        let mut rest: &str = &line.text;
        loop {
            let word = rhttpd_parser::getword_conf(&mut rest);
            if word.is_empty() || word.starts_with('#') {
                break;
            }
            add_proxy(cmd, &word, internal)
                .map_err(|err| format!("{err} at line {} of {}", line.line, path.display()))?;
        }
    }
    Ok(())
}

/// RemoteIPProxyProtocol: every address of the server the line stands in (the main server's
/// is any address on any port) goes on the main server's list for On or Off, coming off the
/// other list with a notice if a server had put it there.
fn proxy_protocol(cmd: &mut Cmd, on: bool) -> SetResult {
    let source = cmd.server;
    let addresses = server_addresses(cmd.cfg, source);
    let mut notices = Vec::new();
    let conf = &mut cmd.cfg.servers[0]
        .modules
        .get_mut::<ServerConf>()
        .proxy_protocol;
    let (add, remove) = if on {
        (&mut conf.enabled, &mut conf.disabled)
    } else {
        (&mut conf.disabled, &mut conf.enabled)
    };
    for (ip, port) in addresses {
        if let Some(at) = remove.iter().position(|a| a.equal(ip, port)) {
            notices.push((remove[at], ip, port));
            remove.remove(at);
        }
        if !add.iter().any(|a| a.compat(ip, port)) {
            add.insert(0, ProtocolAddr { ip, port, source });
        }
    }
    for (previous, ip, port) in notices {
        let text = format!(
            "AH03491: RemoteIPProxyProtocol: previous setting for {}:{port} from virtual host \
             {{{}}} is being overridden by virtual host {{{}}}; new setting is '{}'",
            crate::request::apr_ip_text(ip),
            server_label(cmd.cfg, previous.source),
            server_label(cmd.cfg, source),
            if on { "On" } else { "Off" }
        );
        cmd.log_at("remoteip", "notice", text);
    }
    Ok(())
}

/// A server as AH03491 names it: `name:port in file`, with C's `(null)` for what the server
/// does not have yet (no ServerName so far, the main server's file).
fn server_label(cfg: &Config, index: usize) -> String {
    let server = &cfg.servers[index];
    let port = match server.is_virtual {
        true => server
            .addrs
            .first()
            .map_or(0, |a| a.port.unwrap_or(main_port(cfg))),
        false => 0,
    };
    let file = match (&server.origin, server.is_virtual) {
        (Some(origin), true) => origin.file.to_string(),
        _ => "(null)".to_string(),
    };
    let name = server.server_name.as_deref().unwrap_or("(null)");
    format!("{name}:{port} in {file}")
}

/// The port a `<VirtualHost>` address without one takes: the main server's (ServerName's).
fn main_port(cfg: &Config) -> u16 {
    cfg.main_server().server_port.unwrap_or(0)
}

/// A server's addresses as Apache's `server_addr_rec`s hold them: the main server's is any
/// address on any port; a virtual host's `*` is the IPv4 any-address, a name each address
/// it resolves to.
fn server_addresses(cfg: &Config, index: usize) -> Vec<(IpAddr, u16)> {
    let server = &cfg.servers[index];
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    if !server.is_virtual {
        return vec![(any, 0)];
    }
    let mut out = Vec::new();
    for addr in &server.addrs {
        let port = addr.port.unwrap_or(main_port(cfg));
        if addr.host == "*" || addr.host.eq_ignore_ascii_case("_default_") {
            out.push((any, port));
            continue;
        }
        for ip in crate::config::vhost::resolve(&addr.host) {
            out.push((ip, port));
        }
    }
    out
}

/// RemoteIPProxyProtocolExceptions: networks (`ip[/mask]`) whose clients never send a PROXY
/// header, wherever it is on.
fn proxy_protocol_exceptions(cmd: &mut Cmd, args: &[String]) -> SetResult {
    if args.is_empty() {
        return Err(format!("{} requires an argument", cmd.name()));
    }
    let mut subnets = Vec::new();
    for arg in args {
        let (ip, mask) = match arg.split_once('/') {
            Some((ip, mask)) => (ip, Some(mask)),
            None => (arg.as_str(), None),
        };
        match Subnet::new(ip, mask) {
            Ok(subnet) => subnets.push(subnet),
            Err(SubnetError::NotIp) => {
                return Err(format!("ip address '{ip}' appears to be invalid"))
            }
            Err(err) => {
                return Err(format!(
                    "ip address '{ip}' appears to be invalid: {}",
                    err.message()
                ))
            }
        }
    }
    let conf = cmd.cfg.servers[0].modules.get_mut::<ServerConf>();
    conf.proxy_protocol.exceptions.extend(subnets);
    Ok(())
}

/// The main server's PROXY protocol settings, when some address has it on (what the
/// connection code consults for each new connection).
pub fn proxy_protocol_settings(config: &Config) -> Option<ProxyProtocolConf> {
    let conf = config.main_server().modules.get::<ServerConf>()?;
    conf.proxy_protocol
        .any()
        .then(|| conf.proxy_protocol.clone())
}

/// What mod_remoteip's post_config says each time the configuration is loaded: where the
/// PROXY protocol is on and off (notices in the main error log), then each virtual host
/// whose proxies add to the main server's (a warning in that host's log): (server, level,
/// text).
pub fn startup_messages(config: &Config) -> Vec<(usize, Warning)> {
    let Some(conf) = config.main_server().modules.get::<ServerConf>() else {
        return Vec::new();
    };
    let notice = |what: &str, a: &ProtocolAddr| {
        let text = format!("{what} {}:{}", crate::request::apr_ip_text(a.ip), a.port);
        (
            0,
            Warning {
                module: "remoteip",
                level: "notice",
                startup: false,
                text,
            },
        )
    };
    let protocol = &conf.proxy_protocol;
    let mut out: Vec<(usize, Warning)> = protocol
        .enabled
        .iter()
        .map(|a| notice("AH03492: RemoteIPProxyProtocol: enabled on", a))
        .chain(
            protocol
                .disabled
                .iter()
                .map(|a| notice("AH03494: RemoteIPProxyProtocol: disabled on", a)),
        )
        .collect();
    if conf.proxies.is_some() {
        for (index, server) in config.servers.iter().enumerate().skip(1) {
            let own = server.modules.get::<ServerConf>();
            if own.is_none_or(|own| own.proxies.is_none()) {
                continue;
            }
            let (file, line) = server
                .origin
                .as_ref()
                .map_or(("(null)".to_string(), 0), |o| (o.file.to_string(), o.line));
            let text = format!(
                "AH10633: RemoteIP proxy entries are configured in both the main server and \
                 the virtual host defined at {file}:{line}, they are merged"
            );
            out.push((
                index,
                Warning {
                    module: "remoteip",
                    level: "warn",
                    startup: false,
                    text,
                },
            ));
        }
    }
    out
}

/// mod_remoteip's hook: first among post_read_request's.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .post_read_request
        .add("remoteip", Order::First, modify_request);
}

/// `remoteip_modify_request`: the PROXY header's client, if the connection began with one;
/// else the client RemoteIPHeader names through trusted proxies.
fn modify_request(req: &mut Request) -> Step<()> {
    if let Some(client) = req.conn.proxied.clone() {
        req.useragent = client;
        let text = format!(
            "Using {} as client's IP from PROXY protocol",
            req.useragent.ip_text()
        );
        req.log_traced("remoteip", "trace1", None, "mod_remoteip.c(588)", &text);
        crate::mpm::scoreboard::note_client(&req.useragent.ip_text());
        return Ok(());
    }
    let conf = req.ctx().runtime.module::<ServerConf>();
    let Some(header) = conf.header.clone() else {
        return Ok(());
    };
    let Some(value) = req.head.headers.get_joined(&header) else {
        return Ok(());
    };
    let start = req.useragent.clone();
    let mut log = |level: &str, cause: Option<String>, source: &str, text: &str| {
        let cause = cause.map(crate::log::AprStatus::error);
        req.log_traced("remoteip", level, cause.as_ref(), source, text);
    };
    let from = Walk {
        header: &header,
        proxies: conf.proxies.as_deref(),
        resolve: &parse_element,
    };
    let Some(walked) = from.walk(&value, &start, &mut log) else {
        return Ok(());
    };
    let proxies_header = conf.proxies_header.clone();
    let headers = &mut req.head.to_mut().headers;
    match &walked.remaining {
        Some(rest) => set_header(headers, &header, rest),
        None => headers.remove(&header),
    }
    if let Some(proxy_ips) = &walked.proxy_ips {
        crate::modules::env::set(&mut req.notes, "remoteip-proxy-ip-list", proxy_ips);
        if let Some(name) = &proxies_header {
            set_header(&mut req.head.to_mut().headers, name, proxy_ips);
        }
    }
    req.useragent = walked.useragent;
    let text = match &walked.proxy_ips {
        Some(proxies) => format!(
            "Using {} as client's IP by proxies {proxies}",
            req.useragent.ip_text()
        ),
        None => format!(
            "Using {} as client's IP by internal proxies",
            req.useragent.ip_text()
        ),
    };
    req.log_traced("remoteip", "trace1", None, "mod_remoteip.c(770)", &text);
    crate::mpm::scoreboard::note_client(&req.useragent.ip_text());
    Ok(())
}

/// `apr_table_set` on request headers: the first field of the name takes the value (where it
/// stands), any later ones go.
fn set_header(headers: &mut crate::http1::Headers, name: &str, value: &str) {
    if !crate::modules::env::set_existing(&mut [&mut headers.0], name, value) {
        headers.0.push((name.to_string(), value.to_string()));
    }
}

/// What the walk over a RemoteIPHeader value found, when it took at least one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    /// The user agent: the last address taken (its port unknown, so 0).
    pub useragent: ClientAddr,
    /// What is left of the header (the addresses not taken); `None` when nothing is.
    pub remaining: Option<String>,
    /// The external (trusted) proxies the walk passed, the connection's client first
    /// (RemoteIPProxiesHeader's value); `None` when all were internal.
    pub proxy_ips: Option<String>,
}

/// Where a walk message is logged: level, the status before it, the source line it stands
/// for, and the text.
type WalkLog<'a> = dyn FnMut(&str, Option<String>, &str, &str) + 'a;

/// What a walk over a RemoteIPHeader value goes by.
pub struct Walk<'a> {
    /// The header's name, for the messages.
    pub header: &'a str,
    /// The trusted proxies, if any are configured.
    pub proxies: Option<&'a [ProxyMatch]>,
    /// How an element is read as an address (getaddrinfo's code when it is none).
    pub resolve: &'a dyn Fn(&str) -> Result<IpAddr, i32>,
}

impl Walk<'_> {
    /// Walks a RemoteIPHeader value from its right end, as `remoteip_modify_request` does:
    /// while the address the current element came from (at first the connection's client)
    /// is a trusted proxy (any address, when none is configured), the element is taken as
    /// the next client, unless it is no address or, behind an external proxy, a private one.
    /// Proxies are internal while every one so far was (an external one cannot vouch for an
    /// internal one).
    pub fn walk(&self, value: &str, start: &ClientAddr, log: &mut WalkLog) -> Option<Walked> {
        let (header, proxies) = (self.header, self.proxies);
        let mut remote: Option<String> = Some(value.to_string());
        let mut internal = proxies.is_some();
        let mut current = start.addr;
        let mut current_text = start.ip_text().into_owned();
        let mut taken = false;
        let mut proxy_ips: Option<String> = None;
        while let Some(text) = remote.take() {
            if let Some(list) = proxies {
                match list.iter().find(|m| m.subnet.contains(current.ip())) {
                    Some(found) => {
                        if internal {
                            internal = found.internal;
                        }
                    }
                    None => {
                        remote = Some(text);
                        break;
                    }
                }
            }
            // The element after the last comma; what comes before it stays for the next round.
            let (rest, element) = match text.rfind(',') {
                Some(at) => (Some(&text[..at]), &text[at + 1..]),
                None => (None, text.as_str()),
            };
            let trimmed = element.trim_start_matches(' ').trim_end_matches(' ');
            // Giving an element back puts the comma back and keeps its leading spaces (Apache
            // only cut its trailing ones); a last element is kept as trimmed.
            let give_back = |kept: &str| match rest {
                Some(rest) => format!("{rest},{kept}"),
                None => trimmed.to_string(),
            };
            if trimmed.is_empty() {
                remote = Some(give_back(element));
                break;
            }
            let parsed = match (self.resolve)(trimmed) {
                Ok(ip) => ip,
                Err(code) => {
                    let message = format!(
                        "AH01568: RemoteIP: Header {header} value of {trimmed} cannot be \
                         parsed as a client IP"
                    );
                    log(
                        "debug",
                        Some(crate::sys::eai_text(code)),
                        "mod_remoteip.c(668)",
                        &message,
                    );
                    remote = Some(give_back(element.trim_end_matches(' ')));
                    break;
                }
            };
            if !internal && is_private(parsed) {
                let message = format!(
                    "AH01569: RemoteIP: Header {header} value of {trimmed} appears to be a \
                     private IP or nonsensical.  Ignored"
                );
                log("debug", None, "mod_remoteip.c(706)", &message);
                remote = Some(give_back(element.trim_end_matches(' ')));
                break;
            }
            if !internal {
                proxy_ips = Some(match proxy_ips {
                    Some(list) => format!("{list}, {current_text}"),
                    None => current_text.clone(),
                });
            }
            current = SocketAddr::new(parsed, current.port());
            current_text = crate::request::apr_ip_text(parsed);
            taken = true;
            remote = rest.map(str::to_string);
        }
        taken.then(|| Walked {
            // The port is not known: 0, rather than the proxy's.
            useragent: ClientAddr::new(SocketAddr::new(current.ip(), 0)),
            remaining: remote,
            proxy_ips,
        })
    }
}

/// An element of the header as `apr_sockaddr_info_get` reads it (IPv4 preferred, a name
/// resolved); getaddrinfo's code when it is none.
fn parse_element(text: &str) -> Result<IpAddr, i32> {
    resolve_preferring_ipv4(text).and_then(|found| found.first().copied().ok_or(libc::EAI_NONAME))
}

/// What an external proxy may not name: RFC 3330's local and private IPv4 networks, and
/// any IPv6 address outside global unicast (2000::/3).
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            a == 10
                || a == 127
                || (a == 169 && b == 254)
                || (a == 172 && b & 0xf0 == 16)
                || (a == 192 && b == 168)
        }
        IpAddr::V6(v6) => v6.octets()[0] & 0xe0 != 0x20,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[(&str, bool)]) -> Vec<ProxyMatch> {
        list.iter()
            .map(|(spec, internal)| ProxyMatch {
                subnet: Subnet::parse(spec).unwrap(),
                internal: *internal,
            })
            .collect()
    }

    /// Literal addresses only: no resolver is asked in tests.
    fn literal(text: &str) -> Result<IpAddr, i32> {
        text.parse().map_err(|_| libc::EAI_NONAME)
    }

    type Outcome = (String, Option<String>, Option<String>);

    fn run(value: &str, proxies: Option<&[ProxyMatch]>) -> Option<Outcome> {
        let start = ClientAddr::new("127.0.0.1:5555".parse().unwrap());
        let from = Walk {
            header: "X-Forwarded-For",
            proxies,
            resolve: &literal,
        };
        let walked = from.walk(value, &start, &mut |_, _, _, _| {})?;
        assert_eq!(walked.useragent.port(), 0);
        Some((
            walked.useragent.ip_text().into_owned(),
            walked.remaining,
            walked.proxy_ips,
        ))
    }

    #[test]
    fn without_proxies_every_public_address_is_taken() {
        let walked = run("8.8.8.8, 10.0.0.1, 1.2.3.4", None).unwrap();
        assert_eq!(
            walked,
            (
                "1.2.3.4".into(),
                Some("8.8.8.8, 10.0.0.1".into()),
                Some("127.0.0.1".into())
            )
        );
        let walked = run("8.8.8.8, 1.2.3.4", None).unwrap();
        assert_eq!(
            walked,
            ("8.8.8.8".into(), None, Some("127.0.0.1, 1.2.3.4".into()))
        );
        assert_eq!(run("10.0.0.1", None), None);
    }

    #[test]
    fn internal_proxies_vouch_for_any_address_and_stay_unlisted() {
        let list = proxies(&[("127.0.0.1", true), ("10.0.0.0/8", true)]);
        let walked = run("192.168.1.5, 10.1.1.1", Some(&list)).unwrap();
        assert_eq!(walked, ("192.168.1.5".into(), None, None));
    }

    #[test]
    fn a_trusted_proxy_makes_the_rest_external() {
        let list = proxies(&[("127.0.0.1", false), ("10.0.0.0/8", true)]);
        // 10.1.1.1 is internal by the list, but came through an external proxy: private,
        // so it is not taken.
        assert_eq!(run("10.1.1.1", Some(&list)), None);
        let walked = run("9.9.9.9, 8.8.4.4", Some(&list)).unwrap();
        // 8.8.4.4 is no proxy of the list: the walk stops there.
        assert_eq!(
            walked,
            (
                "8.8.4.4".into(),
                Some("9.9.9.9".into()),
                Some("127.0.0.1".into())
            )
        );
    }

    #[test]
    fn an_untrusted_client_names_nobody() {
        let list = proxies(&[("10.0.0.0/8", false)]);
        assert_eq!(run("8.8.8.8", Some(&list)), None);
    }

    #[test]
    fn what_is_given_back_keeps_apaches_spacing() {
        // A last element is given back trimmed; an earlier one keeps its leading spaces.
        let walked = run("junk , 8.8.8.8  ", None).unwrap();
        assert_eq!(walked.1.as_deref(), Some("junk"));
        let walked = run("x,  junk , 8.8.8.8", None).unwrap();
        assert_eq!(walked.1.as_deref(), Some("x,  junk"));
        // An empty element is given back as it was.
        let walked = run("x, , 8.8.8.8", None).unwrap();
        assert_eq!(walked.1.as_deref(), Some("x, "));
    }

    #[test]
    fn an_ipv4_mapped_element_is_read_as_ipv4() {
        let mapped = resolve_preferring_ipv4("::ffff:8.8.8.8");
        assert_eq!(mapped, Ok(vec![IpAddr::from([8, 8, 8, 8])]));
    }

    #[test]
    fn private_addresses_are_apaches() {
        for ip in [
            "10.1.2.3",
            "127.0.0.1",
            "169.254.0.1",
            "172.31.0.1",
            "192.168.0.1",
            "::1",
            "fe80::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["172.32.0.1", "8.8.8.8", "2001:db8::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn protocol_addresses_match_as_aprs_do() {
        let a = |ip: &str, port| ProtocolAddr {
            ip: ip.parse().unwrap(),
            port,
            source: 0,
        };
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(a("0.0.0.0", 0).compat(local, 80));
        assert!(a("0.0.0.0", 80).compat(local, 80));
        assert!(!a("0.0.0.0", 81).compat(local, 80));
        assert!(a("127.0.0.1", 0).compat(local, 80));
        assert!(!a("127.0.0.2", 80).compat(local, 80));
        assert!(a("::", 80).compat(local, 80));
    }
}
