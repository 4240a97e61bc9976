//! mod_proxy_balancer with its lbmethods (mod_lbmethod_byrequests, _bytraffic, _bybusyness)
//! and the slotmem they keep their state in (mod_slotmem_shm): a `balancer://name` URL goes to
//! one of the balancer's members, chosen by sticky session route, lbset tier, hot standby and
//! spare status and the balancer's lbmethod, and fails over to another member when one cannot
//! be reached, with Apache's log lines, its `BALANCER_*` environment variables and its 503s.
//! It must not open connections itself: the member's scheme module (mod_proxy_http) does.

pub mod manager;
pub mod params;
pub mod shared;

use std::sync::Mutex;
use std::time::Duration;

use rhttpd_directives::registry::ModuleDef;

use crate::hooks::Hooks;
use crate::modules::proxy::worker::{self, WorkerDef};
use crate::modules::proxy::{BalancerDef, ServerConf};
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};
pub use params::BalancerParams;
use shared::Slot;

pub static MODULE: ModuleDef = ModuleDef {
    id: "proxy_balancer_module",
    source: "mod_proxy_balancer.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub static BYREQUESTS_MODULE: ModuleDef = ModuleDef {
    id: "lbmethod_byrequests_module",
    source: "mod_lbmethod_byrequests.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub static BYTRAFFIC_MODULE: ModuleDef = ModuleDef {
    id: "lbmethod_bytraffic_module",
    source: "mod_lbmethod_bytraffic.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub static BYBUSYNESS_MODULE: ModuleDef = ModuleDef {
    id: "lbmethod_bybusyness_module",
    source: "mod_lbmethod_bybusyness.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub static SLOTMEM_SHM_MODULE: ModuleDef = ModuleDef {
    id: "slotmem_shm_module",
    source: "mod_slotmem_shm.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub fn register_hooks(hooks: &mut Hooks) {
    shared::init();
    hooks.handler.add(
        "proxy_balancer",
        crate::hooks::Order::First,
        manager::handler,
    );
}

/// The lbmethods and slotmem add no hooks: what they provide is looked up by name.
pub fn register_provider(_hooks: &mut Hooks) {}

/// Whether a module registered the lbmethod (`ap_lookup_provider(PROXY_LBMETHOD, ...)`).
pub fn lbmethod_loaded(modules: &[&ModuleDef], name: &str) -> bool {
    params::LBMETHODS.contains(&name)
        && modules
            .iter()
            .any(|m| m.id == format!("lbmethod_{name}_module"))
}

fn lbmethod_index(name: &str) -> u64 {
    params::LBMETHODS
        .iter()
        .position(|m| *m == name)
        .unwrap_or(0) as u64
}

fn balancer_key(server: usize, name: &str) -> u64 {
    shared::key(&[&server.to_string(), name])
}

fn member_key(server: usize, balancer: &str, member: &str) -> u64 {
    shared::key(&[&server.to_string(), balancer, member])
}

/// A random nonce in UUID form, as Apache makes one for each balancer without `nonce=`.
fn random_nonce() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&seed.to_le_bytes());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Fills a member's slot from its definition.
fn init_member(slot: Slot, def: &WorkerDef) {
    let mut status = 0;
    for (letter, bit) in shared::LETTERS {
        // `E` from the configuration is retried at once (its error time is zero).
        if *letter != 'E' && def.params.status_set(*letter) {
            status |= bit;
        }
    }
    slot.set(shared::STATUS, status);
    slot.set(shared::LBSTATUS, 0);
    slot.set(shared::ELECTED, 0);
    slot.set(shared::BUSY, 0);
    slot.set(shared::TRANSFERRED, 0);
    slot.set(shared::READ, 0);
    slot.set(shared::RETRIES, 0);
    slot.set(
        shared::LBFACTOR,
        u64::from(def.params.load_factor.unwrap_or(100)),
    );
    slot.set(shared::LBSET, u64::from(def.params.lbset.unwrap_or(0)));
    slot.set_text(shared::ROUTE, def.params.route.as_deref().unwrap_or(""));
    slot.set_text(
        shared::REDIRECT,
        def.params.redirect.as_deref().unwrap_or(""),
    );
}

fn init_balancer(slot: Slot, def: &BalancerDef) {
    let p = &def.settings;
    slot.set(shared::B_LBMETHOD, lbmethod_index(p.lbmethod()));
    slot.set(
        shared::B_TIMEOUT_MS,
        p.timeout.map_or(0, |t| t.as_millis() as u64),
    );
    slot.set(
        shared::B_MAX_ATTEMPTS,
        p.max_attempts.map_or(0, |n| u64::from(n) + 1),
    );
    slot.set(shared::B_NOFAILOVER, u64::from(p.nofailover == Some(true)));
    slot.set_text(shared::B_STICKY, p.sticky.as_deref().unwrap_or(""));
    slot.set_text(
        shared::B_STICKY_PATH,
        p.sticky_path.as_deref().unwrap_or(""),
    );
    let nonce = match &p.nonce {
        Some(Some(nonce)) => nonce.clone(),
        Some(None) => String::new(),
        None => random_nonce(),
    };
    slot.set_text(shared::B_NONCE, &nonce);
}

/// The lbmethods' post_config: they need mod_proxy.
pub fn check_lbmethods(rt: &crate::runtime::Runtime) -> Result<(), String> {
    if rt.module_loaded("proxy_module") {
        return Ok(());
    }
    for (name, id) in [
        ("byrequests", "AH10152"),
        ("bytraffic", "AH10150"),
        ("bybusyness", "AH10151"),
    ] {
        if rt.module_loaded(&format!("lbmethod_{name}_module")) {
            crate::log::error(
                &format!("lbmethod_{name}"),
                "emerg",
                &format!("{id}: mod_proxy must be loaded for mod_lbmethod_{name}"),
            );
            return Err(configuration_failed());
        }
    }
    Ok(())
}

/// Apache's balancer post_config runs on its second pass, where a failure ends the server
/// with AH00020 (logged, not printed).
fn configuration_failed() -> String {
    crate::log::error("", "emerg", "AH00020: Configuration Failed, exiting");
    String::new()
}

/// `balancer_post_config`: mod_proxy and a slotmem provider are needed, every balancer's
/// lbmethod must be registered, and every balancer and member gets its shared slot.
pub fn post_config(rt: &crate::runtime::Runtime) -> Result<(), String> {
    if !rt.module_loaded("proxy_module") {
        crate::log::error(
            "proxy_balancer",
            "emerg",
            "AH02230: mod_proxy must be loaded for mod_proxy_balancer",
        );
        return Err(configuration_failed());
    }
    if !rt.module_loaded("slotmem_shm_module") {
        crate::log::error(
            "proxy_balancer",
            "emerg",
            "AH01177: Failed to lookup provider 'shm' for 'slotmem': is mod_slotmem_shm loaded??",
        );
        return Err(configuration_failed());
    }
    let kind = crate::mpm::Kind::from_name(rt.config.read.mpm().and_then(|m| m.mpm_name()));
    let (sizing, _) = rt.config.mpm.sizing(kind.name());
    manager::note_threads(crate::mpm::Shape::new(kind, &sizing, &rt.config.mpm).threads);
    shared::clear();
    for (index, server) in rt.servers.iter().enumerate() {
        let conf = server.runtime.module::<ServerConf>();
        for balancer in &conf.balancers {
            let method = balancer.settings.lbmethod();
            if !lbmethod_loaded(&rt.config.read.modules, method) {
                crate::log::error(
                    "proxy",
                    "crit",
                    &format!("AH02432: Cannot find LB Method: {method}"),
                );
                crate::log::error(
                    "proxy_balancer",
                    "emerg",
                    "(22)Invalid argument: AH01183: Cannot share balancer",
                );
                return Err(configuration_failed());
            }
            if let Some(slot) = shared::claim_balancer(balancer_key(index, &balancer.name)) {
                init_balancer(slot, balancer);
            }
            for member in conf.members(balancer) {
                let key = member_key(index, &balancer.name, &member.name);
                if let Some(slot) = shared::claim_member(key) {
                    init_member(slot, member);
                }
            }
        }
    }
    Ok(())
}

/// A slot for state that could not be shared (the table was full): this process's own.
fn local_slot(key: u64, init: impl FnOnce(Slot)) -> Slot {
    static LOCAL: Mutex<Vec<(u64, Slot)>> = Mutex::new(Vec::new());
    let mut local = LOCAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, slot)) = local.iter().find(|(k, _)| *k == key) {
        return *slot;
    }
    let fields: &'static [std::sync::atomic::AtomicU64] = Box::leak(
        (0..shared::FIELDS)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    );
    let slot = Slot::from_fields(fields);
    init(slot);
    local.push((key, slot));
    slot
}

fn added_key(server: usize, balancer: &str, n: u64) -> u64 {
    member_key(server, balancer, &format!("#added{n}"))
}

/// The `n`th member the balancer-manager added, its definition made once in this process
/// from the name its slot keeps.
fn added_member(server: usize, balancer: &str, n: u64) -> Option<Member<'static>> {
    type Defs = Mutex<Vec<(u64, String, &'static WorkerDef)>>;
    static DEFS: Defs = Mutex::new(Vec::new());
    let key = added_key(server, balancer, n);
    let slot = shared::member(key)?;
    let name = slot.text_in(shared::ADDED_NAME, 32);
    let mut defs = DEFS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, _, def)) = defs.iter().find(|(k, n, _)| *k == key && *n == name) {
        return Some(Member { def, slot });
    }
    // The name is whole (a socket's path absolute), so no directory is needed.
    let mut def = worker::define(&name, false, std::path::Path::new("/")).ok()?;
    def.balancer = Some(balancer.to_string());
    let def: &'static WorkerDef = Box::leak(Box::new(def));
    defs.push((key, name, def));
    Some(Member { def, slot })
}

/// `ap_proxy_define_worker` for the balancer-manager's `b_nwrkr`: a member added to every
/// child's view of the balancer, disabled, in the room `growth=` left. `Err` says which of
/// Apache's refusals applies (AH10163: the URL; AH10164: no room, or a member already).
pub fn add_member(server: usize, balancer: &Live<'_>, url: &str) -> Result<(), &'static str> {
    let def = worker::define(url, false, std::path::Path::new("/")).map_err(|_| "AH10163")?;
    let exists = balancer
        .members
        .iter()
        .any(|m| m.def.name == def.name || m.def.url == def.url);
    let room = manager::max_members(balancer) > balancer.members.len();
    if exists || !room {
        return Err("AH10164");
    }
    let _held = balancer.slot.lock(shared::B_LOCK);
    let n = balancer.slot.get(shared::B_ADDED);
    let slot = shared::claim_member(added_key(server, &balancer.def.name, n)).ok_or("AH10164")?;
    init_member(slot, &def);
    slot.set(shared::STATUS, shared::DISABLED);
    slot.set_text_in(shared::ADDED_NAME, 32, &def.name);
    balancer.slot.set(shared::B_ADDED, n + 1);
    Ok(())
}

/// A balancer as a request sees it: its definition, its shared state and its members'.
pub struct Live<'c> {
    pub def: &'c BalancerDef,
    pub slot: Slot,
    pub members: Vec<Member<'c>>,
}

#[derive(Clone, Copy)]
pub struct Member<'c> {
    pub def: &'c WorkerDef,
    pub slot: Slot,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Member<'_> {
    pub fn status(&self) -> u64 {
        self.slot.get(shared::STATUS)
    }
    pub fn is(&self, bit: u64) -> bool {
        self.status() & bit != 0
    }
    /// `PROXY_WORKER_IS_USABLE`.
    pub fn usable(&self) -> bool {
        self.status() & (shared::DISABLED | shared::STOPPED | shared::IN_ERROR | shared::HC_FAIL)
            == 0
    }
    pub fn route(&self) -> String {
        self.slot.text(shared::ROUTE)
    }
    pub fn redirect(&self) -> String {
        self.slot.text(shared::REDIRECT)
    }
    pub fn lbfactor(&self) -> i64 {
        self.slot.get(shared::LBFACTOR).max(1) as i64
    }
    pub fn lbset(&self) -> u64 {
        self.slot.get(shared::LBSET)
    }
    fn retry(&self) -> Duration {
        self.def.params.retry.unwrap_or(Duration::from_secs(60))
    }
    /// Puts it in error (`PROXY_WORKER_IN_ERROR` with the error time now); mod_proxy_http
    /// refuses it (AH00940) until its retry time passes.
    pub fn set_in_error(&self) {
        self.slot.set(shared::ERROR_TIME, now_ms());
        self.slot.set_bits(shared::STATUS, shared::IN_ERROR, true);
        if !self.retry().is_zero() {
            worker::set_error(&self.def.name, self.retry());
        }
    }
    /// Takes it out of error (a retry, or a forced recovery).
    pub fn clear_error(&self) {
        self.slot.add(shared::RETRIES, 1);
        self.slot.set_bits(shared::STATUS, shared::IN_ERROR, false);
        worker::clear_error(&self.def.name);
    }
    /// `ap_proxy_retry_worker`: a member in error whose retry time has passed (or that
    /// ignores errors) is taken out of error, unless it is stopped.
    pub fn retry_if_due(&self, req: &Request) {
        if !self.is(shared::IN_ERROR) || self.is(shared::STOPPED) {
            return;
        }
        let due = self.slot.get(shared::ERROR_TIME) + self.retry().as_millis() as u64;
        if self.is(shared::IGNORE_ERRORS) || now_ms() > due {
            self.clear_error();
            req.log_server_error(
                "proxy",
                "debug",
                &format!(
                    "AH00932: BALANCER: worker for ({}:{}) has been marked for retry",
                    self.def.hostname(),
                    self.def.origin.port
                ),
            );
        }
    }
}

impl<'c> Live<'c> {
    pub fn of(server: usize, conf: &'c ServerConf, def: &'c BalancerDef) -> Live<'c> {
        let slot = shared::balancer(balancer_key(server, &def.name)).unwrap_or_else(|| {
            local_slot(balancer_key(server, &def.name), |s| init_balancer(s, def))
        });
        let mut members: Vec<Member<'c>> = conf
            .members(def)
            .map(|member| {
                let key = member_key(server, &def.name, &member.name);
                let slot = shared::member(key)
                    .unwrap_or_else(|| local_slot(key, |s| init_member(s, member)));
                Member { def: member, slot }
            })
            .collect();
        for n in 0..slot.get(shared::B_ADDED) {
            if let Some(added) = added_member(server, &def.name, n) {
                members.push(added);
            }
        }
        Live { def, slot, members }
    }

    pub fn lbmethod(&self) -> &'static str {
        params::LBMETHODS
            .get(self.slot.get(shared::B_LBMETHOD) as usize)
            .copied()
            .unwrap_or("byrequests")
    }
    pub fn sticky(&self) -> String {
        self.slot.text(shared::B_STICKY)
    }
    pub fn sticky_path(&self) -> String {
        self.slot.text(shared::B_STICKY_PATH)
    }
    pub fn nofailover(&self) -> bool {
        self.slot.get(shared::B_NOFAILOVER) != 0
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.slot.get(shared::B_TIMEOUT_MS))
    }
    /// The attempts set (`maxattempts=`), if any.
    pub fn max_attempts_set(&self) -> Option<u64> {
        self.slot.get(shared::B_MAX_ATTEMPTS).checked_sub(1)
    }
    /// Failovers allowed: as set, else one less than the members the configuration gave it
    /// (`init_balancer_members`, which runs before the balancer-manager can add any).
    pub fn max_attempts(&self) -> u64 {
        self.max_attempts_set()
            .unwrap_or_else(|| (self.def.members.len() as u64).saturating_sub(1))
    }
    pub fn nonce(&self) -> String {
        self.slot.text(shared::B_NONCE)
    }
}

/// The `BALANCER_*` variables this request's balancer set.
#[derive(Debug, Default)]
struct BalancerEnv(Vec<(String, String)>);

fn set_env(req: &mut Request, name: &str, value: &str) {
    crate::modules::env::set(&mut req.state.get_mut::<BalancerEnv>().0, name, value);
}

/// Adds the balancer's variables to the request's environment.
pub fn environment(req: &Request, env: &mut Vec<(String, String)>) {
    if let Some(own) = req.state.get::<BalancerEnv>() {
        for (name, value) in &own.0 {
            crate::modules::env::set(env, name, value);
        }
    }
}

/// Bytes mod_proxy_http sent to and read from the member for this attempt (the bodies it
/// streams back are counted as they go).
#[derive(Debug, Default)]
struct Traffic {
    sent: u64,
    read: u64,
    /// Reading the member's answer timed out (Apache's `proxy_timedout` note).
    timed_out: bool,
}

/// mod_proxy_http: the member did not answer within its timeout.
pub fn note_timeout(req: &mut Request) {
    req.state.get_mut::<Traffic>().timed_out = true;
}

/// mod_proxy_http: the request head and body went to the backend.
pub fn note_sent(req: &mut Request, bytes: u64) {
    req.state.get_mut::<Traffic>().sent += bytes;
}

/// mod_proxy_http: the backend's status line was read.
pub fn note_read(req: &mut Request, bytes: u64) {
    req.state.get_mut::<Traffic>().read += bytes;
}

/// The selection is one thread's at a time, as Apache holds the balancer's thread mutex.
static SELECTING: Mutex<()> = Mutex::new(());

/// `get_path_param`: the value of `name=` in the URL, ended by `?` or `&` (and `;` with
/// scolonpathdelim).
fn path_param(url: &str, name: &str, scolon: bool) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(at) = url[from..].find(name) {
        let after = from + at + name.len();
        if url[after..].starts_with('=') {
            let value = &url[after + 1..];
            if !value.is_empty() {
                let delims: &[char] = if scolon {
                    &[';', '?', '&']
                } else {
                    &['?', '&']
                };
                let token = value.split(delims).find(|t| !t.is_empty());
                return token.map(str::to_string);
            }
        }
        from += at + 1;
    }
    None
}

/// `get_cookie_param`: the value of the cookie `name`, at the start of the field or after
/// `;`, `,` or a blank.
fn cookie_param(req: &Request, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let cookies = req.head.headers.get("Cookie")?;
    let mut from = 0;
    while let Some(at) = cookies[from..].find(name) {
        let start = from + at;
        let before = cookies[..start].bytes().last();
        if before.is_none_or(|b| b == b';' || b == b',' || b.is_ascii_whitespace()) {
            let rest = cookies[start + name.len()..].trim_start();
            if let Some(value) = rest.strip_prefix('=') {
                if !value.is_empty() {
                    let end = value.find([';', ',']).unwrap_or(value.len());
                    return Some(value[..end].to_string());
                }
            }
        }
        from = start + 1;
    }
    None
}

/// `find_route_worker`: the usable member with this route (the non-standby ones first),
/// else the usable one its redirect names.
fn find_route_worker<'c>(
    req: &Request,
    balancer: &Live<'c>,
    route: &str,
    recursion: usize,
) -> Option<Member<'c>> {
    for checking_standby in [false, true] {
        for member in &balancer.members {
            if member.is(shared::HOT_STANDBY) != checking_standby {
                continue;
            }
            let own = member.route();
            if own.is_empty() || own != route {
                continue;
            }
            if !member.usable() {
                member.retry_if_due(req);
            }
            if member.usable() {
                return Some(*member);
            }
            let redirect = member.redirect();
            if !redirect.is_empty() && recursion < balancer.members.len() {
                if let Some(other) = find_route_worker(req, balancer, &redirect, recursion + 1) {
                    if !other.usable() {
                        other.retry_if_due(req);
                    }
                    if other.usable() {
                        return Some(other);
                    }
                }
            }
        }
    }
    None
}

/// What the session named: where (the cookie or URL parameter name) and the route.
struct Session {
    sticky: String,
    route: String,
}

/// `find_session_route`.
fn find_session_route<'c>(
    req: &mut Request,
    balancer: &Live<'c>,
    url: &str,
) -> (Option<Member<'c>>, Option<Session>) {
    let sticky = balancer.sticky();
    if sticky.is_empty() {
        return (None, None);
    }
    let sticky_path = balancer.sticky_path();
    let scolon = balancer.def.settings.scolon_path_delim == Some(true);
    // The query counts as part of the URL here.
    let url = match &req.args {
        Some(args) => format!("{url}?{args}"),
        None => url.to_string(),
    };
    let (value, used) = match path_param(&url, &sticky_path, scolon) {
        Some(v) => {
            req.log_error(
                "proxy_balancer",
                "debug",
                &format!("AH01159: Found value {v} for stickysession {sticky_path}"),
            );
            (Some(v), sticky_path)
        }
        None => match cookie_param(req, &sticky) {
            Some(v) => {
                req.log_error(
                    "proxy_balancer",
                    "debug",
                    &format!("AH01160: Found value {v} for stickysession {sticky}"),
                );
                (Some(v), sticky.clone())
            }
            None => (None, String::new()),
        },
    };
    let Some(value) = value else {
        return (None, None);
    };
    let route = match balancer.def.settings.separator() {
        Some(sep) => match value.find(sep as char) {
            Some(at) => value[at + 1..].to_string(),
            None => return (None, None),
        },
        None => value,
    };
    if route.is_empty() {
        return (None, None);
    }
    req.log_error(
        "proxy_balancer",
        "debug",
        &format!("AH01161: Found route {route}"),
    );
    let found = find_route_worker(req, balancer, &route, 1);
    if let Some(member) = found {
        let own = member.route();
        if own != route {
            set_env(req, "BALANCER_ROUTE_CHANGED", "1");
            req.log_error(
                "proxy_balancer",
                "debug",
                &format!("AH01162: Route changed from {route} to {own}"),
            );
        }
    }
    (
        found,
        Some(Session {
            sticky: used,
            route,
        }),
    )
}

/// `ap_proxy_balancer_get_best_worker`: lbset by lbset, the usable members the lbmethod
/// likes best; spares stand in for unusable (or draining) members of their set, standbys
/// only when nothing else is left.
fn best_worker<'c>(
    req: &Request,
    balancer: &Live<'c>,
    mut is_best: impl FnMut(&Member<'c>, Option<&Member<'c>>) -> bool,
) -> Option<Member<'c>> {
    let mut best: Option<Member<'c>> = None;
    let mut max_lbset = 0;
    let mut current = 0;
    while best.is_none() && current <= max_lbset {
        let mut unusable = 0;
        let mut spares = Vec::new();
        let mut standbys = Vec::new();
        for member in &balancer.members {
            max_lbset = max_lbset.max(member.lbset());
            if member.lbset() != current {
                continue;
            }
            if member.is(shared::DRAIN) {
                if !member.is(shared::HOT_SPARE) && !member.is(shared::HOT_STANDBY) {
                    unusable += 1;
                }
                continue;
            }
            if !member.usable() {
                member.retry_if_due(req);
            }
            if member.is(shared::HOT_SPARE) {
                if member.usable() {
                    spares.push(*member);
                }
            } else if member.is(shared::HOT_STANDBY) {
                if member.usable() {
                    standbys.push(*member);
                }
            } else if member.usable() {
                if is_best(member, best.as_ref()) {
                    best = Some(*member);
                }
            } else {
                unusable += 1;
            }
        }
        for spare in spares.iter().take(unusable) {
            if is_best(spare, best.as_ref()) {
                best = Some(*spare);
            }
        }
        if best.is_none() {
            for standby in &standbys {
                if is_best(standby, best.as_ref()) {
                    best = Some(*standby);
                }
            }
        }
        current += 1;
    }
    best
}

/// The lbmethod's finder.
fn find_best<'c>(req: &Request, balancer: &Live<'c>) -> Option<Member<'c>> {
    match balancer.lbmethod() {
        "bytraffic" => {
            let mut min_traffic = 0u64;
            best_worker(req, balancer, |current, best| {
                let factor = current.lbfactor() as u64;
                let traffic = current.slot.get(shared::TRANSFERRED) / factor
                    + current.slot.get(shared::READ) / factor;
                if best.is_none() || traffic < min_traffic {
                    min_traffic = traffic;
                    return true;
                }
                false
            })
        }
        "bybusyness" => {
            let mut total = 0i64;
            let chosen = best_worker(req, balancer, |current, best| {
                let lbstatus = current.slot.signed(shared::LBSTATUS) + current.lbfactor();
                current.slot.set_signed(shared::LBSTATUS, lbstatus);
                total += current.lbfactor();
                let busy = current.slot.get(shared::BUSY);
                match best {
                    None => true,
                    Some(best) => {
                        let best_busy = best.slot.get(shared::BUSY);
                        busy < best_busy
                            || (busy == best_busy && lbstatus > best.slot.signed(shared::LBSTATUS))
                    }
                }
            });
            if let Some(member) = &chosen {
                let lbstatus = member.slot.signed(shared::LBSTATUS) - total;
                member.slot.set_signed(shared::LBSTATUS, lbstatus);
            }
            chosen
        }
        _ => {
            let mut total = 0i64;
            let chosen = best_worker(req, balancer, |current, best| {
                let lbstatus = current.slot.signed(shared::LBSTATUS) + current.lbfactor();
                current.slot.set_signed(shared::LBSTATUS, lbstatus);
                total += current.lbfactor();
                best.is_none_or(|b| lbstatus > b.slot.signed(shared::LBSTATUS))
            });
            if let Some(member) = &chosen {
                let lbstatus = member.slot.signed(shared::LBSTATUS) - total;
                member.slot.set_signed(shared::LBSTATUS, lbstatus);
            }
            chosen
        }
    }
}

/// `find_best_worker`: the finder, elected counted; with a balancer timeout, tried again
/// for that long in hundredths while nothing is usable.
fn find_best_worker<'c>(req: &Request, balancer: &Live<'c>) -> Option<Member<'c>> {
    let pick = || {
        let _held = SELECTING.lock().unwrap_or_else(|p| p.into_inner());
        let _shared = balancer.slot.lock(shared::B_LOCK);
        let chosen = find_best(req, balancer);
        if let Some(member) = &chosen {
            member.slot.add(shared::ELECTED, 1);
        }
        chosen
    };
    if let Some(member) = pick() {
        return Some(member);
    }
    let timeout = balancer.timeout();
    if timeout.is_zero() {
        return None;
    }
    let step = timeout / 100;
    let mut waited = Duration::ZERO;
    while waited < timeout {
        std::thread::sleep(step);
        if let Some(member) = pick() {
            return Some(member);
        }
        waited += step;
    }
    None
}

/// `force_recovery`: when every member is in error, and forcerecovery is on (the default),
/// they are all taken out of error.
fn force_recovery(req: &Request, balancer: &Live<'_>) {
    for member in &balancer.members {
        member.retry_if_due(req);
        if !member.is(shared::IN_ERROR) {
            return;
        }
    }
    if balancer.def.settings.force_recovery == Some(false) {
        return;
    }
    for member in &balancer.members {
        member.clear_error();
        req.log_server_error(
            "proxy_balancer",
            "debug",
            &format!(
                "AH01165: {}: Forcing recovery for worker ({}:{})",
                balancer.def.name,
                member.def.hostname(),
                member.def.origin.port
            ),
        );
    }
}

/// Keeps a member counted busy until the response's body has gone out, counting the bytes
/// read from it (what bytraffic weighs).
struct Counted {
    inner: Box<dyn BodySource>,
    slot: Slot,
}

impl BodySource for Counted {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let piece = self.inner.next_piece()?;
        if let Some(bytes) = &piece {
            self.slot.add(shared::READ, bytes.len() as u64);
        }
        Ok(piece)
    }
    fn declared_length(&self) -> Option<u64> {
        self.inner.declared_length()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.slot.decrement(shared::BUSY);
    }
}

/// `proxy_balancer_pre_request`: the member for this attempt (the `BALANCER_*` variables
/// set), or the status that ends the request.
fn pre_request<'c>(req: &mut Request, balancer: &Live<'c>, url: &str) -> Result<Member<'c>, u16> {
    force_recovery(req, balancer);
    let (runtime, session) = find_session_route(req, balancer, url);
    let mut chosen = None;
    if let Some(member) = runtime {
        // The default lbstatus update: even session routes count in the balance.
        let _held = SELECTING.lock().unwrap_or_else(|p| p.into_inner());
        let _shared = balancer.slot.lock(shared::B_LOCK);
        let mut total = 0;
        for other in &balancer.members {
            if other.usable() {
                let lbstatus = other.slot.signed(shared::LBSTATUS) + other.lbfactor();
                other.slot.set_signed(shared::LBSTATUS, lbstatus);
                total += other.lbfactor();
            }
        }
        let lbstatus = member.slot.signed(shared::LBSTATUS) - total;
        member.slot.set_signed(shared::LBSTATUS, lbstatus);
        member.slot.add(shared::ELECTED, 1);
        chosen = Some(member);
    } else if let Some(session) = &session {
        if balancer.nofailover()
            && balancer
                .members
                .iter()
                .any(|m| !m.route().is_empty() && m.route() == session.route)
        {
            req.log_error(
                "proxy_balancer",
                "error",
                &format!(
                    "AH01167: {}: All workers are in error state for route ({})",
                    balancer.def.name, session.route
                ),
            );
            return Err(503);
        }
    }
    let member = match chosen {
        Some(member) => member,
        None => {
            let Some(member) = find_best_worker(req, balancer) else {
                if balancer.members.is_empty() {
                    req.log_error(
                        "proxy_balancer",
                        "error",
                        &format!("AH01171: {}: No workers in balancer", balancer.def.name),
                    );
                } else {
                    req.log_error(
                        "proxy_balancer",
                        "error",
                        &format!(
                            "AH01170: {}: All workers are in error state",
                            balancer.def.name
                        ),
                    );
                }
                return Err(503);
            };
            if !balancer.sticky().is_empty() {
                set_env(req, "BALANCER_ROUTE_CHANGED", "1");
            }
            member
        }
    };
    set_env(req, "BALANCER_NAME", &balancer.def.name);
    set_env(req, "BALANCER_WORKER_NAME", &member.def.name);
    set_env(req, "BALANCER_WORKER_ROUTE", &member.route());
    if let Some(session) = &session {
        set_env(req, "BALANCER_SESSION_STICKY", &session.sticky);
        set_env(req, "BALANCER_SESSION_ROUTE", &session.route);
    }
    Ok(member)
}

/// The `balancer://name` part of a URL, lowercased.
fn balancer_name(url: &str) -> String {
    let after = url.split_once("://").map_or("", |(_, rest)| rest);
    let end = after.find('/').unwrap_or(after.len());
    format!("balancer://{}", after[..end].to_ascii_lowercase())
}

/// mod_proxy's handler loop for a `balancer://` URL: a member chosen, the URL rewritten onto
/// it (`balancer_fixup`), its scheme's handler run; a member that cannot be reached is put in
/// error and another tried, up to the balancer's maxattempts.
pub fn handle(req: &mut Request, conf: &ServerConf, url: &str) -> Step<Response> {
    let name = balancer_name(url);
    let Some(def) = conf.balancer(&name) else {
        return Err(crate::modules::proxy::no_handler(req, "balancer"));
    };
    let balancer = Live::of(req.server, conf, def);
    attempt_from(req, conf, &balancer, url, 0)
}

/// Tries members, the `attempts`th failover on, until one answers or failing over is done. A
/// member's request may wait for its answer off the thread (event MPM): the wait is wrapped
/// so that the attempt's outcome is judged, and a failover made, once it has come.
fn attempt_from(
    req: &mut Request,
    conf: &ServerConf,
    balancer: &Live<'_>,
    url: &str,
    mut attempts: u64,
) -> Step<Response> {
    let def = balancer.def;
    loop {
        let member = pre_request(req, balancer, url)?;
        member.slot.add(shared::BUSY, 1);
        let path = url
            .find("://")
            .and_then(|at| url[at + 3..].find('/').map(|i| &url[at + 3 + i..]))
            .unwrap_or("");
        let saved = req.filename.clone();
        req.filename = Some(std::path::PathBuf::from(format!(
            "proxy:{}{path}",
            member.def.name
        )));
        let canonical = crate::modules::proxy::canon_url(req);
        let member_url = req
            .filename
            .as_ref()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix("proxy:"))
            .unwrap_or("")
            .to_string();
        req.filename = saved;
        if let Err(status) = canonical {
            member.slot.decrement(shared::BUSY);
            return Err(status);
        }
        req.log_error(
            "proxy_balancer",
            "debug",
            &format!(
                "AH01172: {}: worker ({}) rewritten to {member_url}",
                def.name, member.def.name
            ),
        );
        let scheme = member_url
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        *req.state.get_mut::<Traffic>() = Traffic::default();
        // The member's error state is this module's: mod_proxy's own error slot (which a
        // member of the same name in another balancer may have set) must not refuse it.
        worker::clear_error(&member.def.name);
        let result =
            crate::modules::proxy::handle_with(req, conf, member.def, &scheme, &member_url);
        if result.as_ref().err() == Some(&crate::request::WAITING) {
            if let crate::request::Suspend::Waiting(inner) = std::mem::take(&mut req.suspend) {
                req.suspend = crate::request::Suspend::Waiting(Box::new(MemberWait {
                    inner,
                    url: url.to_string(),
                    member: member.def.name.clone(),
                    attempts,
                }));
            }
            return result;
        }
        match judge(req, balancer, &member, result, attempts) {
            Some(step) => return step,
            None => attempts += 1,
        }
    }
}

/// The member's counts and state after its attempt, and the request's outcome; `None` when
/// it fails over to the next member (Apache's `proxy_balancer_post_request` and the
/// handler's retry rule).
fn judge(
    req: &mut Request,
    balancer: &Live<'_>,
    member: &Member<'_>,
    result: Step<Response>,
    attempts: u64,
) -> Option<Step<Response>> {
    let traffic = std::mem::take(req.state.get_mut::<Traffic>());
    member.slot.add(shared::TRANSFERRED, traffic.sent);
    member.slot.add(shared::READ, traffic.read);
    let ignores_errors = member.is(shared::IGNORE_ERRORS);
    match result {
        Ok(mut response) => {
            post_request(req, balancer, member, response.status, traffic.timed_out);
            match std::mem::take(&mut response.body) {
                Body::Stream(stream) => {
                    response.body = Body::Stream(BodyStream(Box::new(Counted {
                        inner: stream.0,
                        slot: member.slot,
                    })));
                }
                other => {
                    member.slot.add(shared::READ, other.len());
                    member.slot.decrement(shared::BUSY);
                    response.body = other;
                }
            }
            Some(Ok(response))
        }
        Err(status) => {
            member.slot.decrement(shared::BUSY);
            if (status == 500 || status == 503) && !ignores_errors {
                member.set_in_error();
            }
            if status == 503 && !member.usable() && balancer.max_attempts() > attempts {
                return None;
            }
            post_request(req, balancer, member, status, traffic.timed_out);
            Some(Err(status))
        }
    }
}

/// A member's request waiting for its answer off the thread: once it has come, the attempt is
/// judged as the loop judges one, and a failover tried from there (on the thread).
struct MemberWait {
    inner: Box<dyn crate::request::BackendWait>,
    /// The balancer URL the request was for, and the member tried.
    url: String,
    member: String,
    attempts: u64,
}

impl crate::request::BackendWait for MemberWait {
    fn fd(&self) -> std::os::fd::RawFd {
        self.inner.fd()
    }

    fn watch(&self) -> Option<u64> {
        self.inner.watch()
    }

    fn watched(&mut self, token: u64) {
        self.inner.watched(token);
    }

    fn timeout(&self) -> Option<std::time::Duration> {
        self.inner.timeout()
    }

    fn resume(self: Box<Self>, req: &mut Request, timed_out: bool) -> Step<Response> {
        let MemberWait {
            inner,
            url,
            member,
            attempts,
        } = *self;
        let result = inner.resume(req, timed_out);
        let conf = req.ctx().runtime.module::<ServerConf>();
        let Some(def) = conf.balancer(&balancer_name(&url)) else {
            return result;
        };
        let balancer = Live::of(req.server, &conf, def);
        let Some(tried) = balancer
            .members
            .iter()
            .find(|m| m.def.name == member)
            .copied()
        else {
            return result;
        };
        match judge(req, &balancer, &tried, result, attempts) {
            Some(step) => step,
            None => attempt_from(req, &conf, &balancer, &url, attempts + 1),
        }
    }
}

/// `proxy_balancer_post_request`: a status failonstatus lists, or a timeout with
/// failontimeout, puts the member in error.
fn post_request(
    req: &Request,
    balancer: &Live<'_>,
    member: &Member<'_>,
    status: u16,
    timed_out: bool,
) {
    if member.is(shared::IGNORE_ERRORS) {
        return;
    }
    let settings = &balancer.def.settings;
    if settings
        .fail_on_status
        .as_ref()
        .is_some_and(|list| list.contains(&status))
    {
        req.log_error(
            "proxy_balancer",
            "error",
            &format!(
                "AH01174: {}: Forcing worker ({}) into error state due to status code {status} matching 'failonstatus' balancer parameter",
                balancer.def.name, member.def.name
            ),
        );
        member.set_in_error();
    }
    if settings.fail_on_timeout == Some(true) && timed_out {
        req.log_error(
            "proxy_balancer",
            "error",
            &format!(
                "AH02460: {}: Forcing worker ({}) into error state due to timeout and 'failontimeout' parameter being set",
                balancer.def.name, member.def.name
            ),
        );
        member.set_in_error();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_values_are_found_as_apache_finds_them() {
        assert_eq!(
            path_param("balancer://x/app;jsessionid=abc.two", "jsessionid", true),
            Some("abc.two".into())
        );
        assert_eq!(
            path_param(
                "balancer://x/app;jsessionid=abc.two?x=1",
                "jsessionid",
                false
            ),
            Some("abc.two".into())
        );
        assert_eq!(path_param("balancer://x/app", "jsessionid", true), None);
        assert_eq!(
            balancer_name("balancer://Cluster/a/b"),
            "balancer://cluster"
        );
        assert_eq!(balancer_name("balancer:/é"), "balancer://");
    }
}
