//! mod_dav's properties: the live ones (mod_dav's core set, mod_dav_fs's, lockdiscovery and
//! supportedlock) and the dead ones, as PROPFIND lists them (allprop, propname, named
//! properties found and not found, with the namespace declarations each `<D:response>`
//! carries), as OPTIONS reports the supported ones, and PROPPATCH's checks of `executable`.
//! Every line is one of the pieces mod_dav writes (they decide where a long answer is flushed).

use super::*;

pub(super) const SUPPORTED_LOCK: &str = "\n<D:lockentry>\n<D:lockscope><D:exclusive/></D:lockscope>\n<D:locktype><D:write/></D:locktype>\n</D:lockentry>\n<D:lockentry>\n<D:lockscope><D:shared/></D:lockscope>\n<D:locktype><D:write/></D:locktype>\n</D:lockentry>\n";

/// getcontenttype answers, by URI (each one a sub-request in Apache).
#[derive(Default)]
pub(super) struct TypeCache(Vec<(String, Option<String>)>);

/// The type a GET of the resource would have (`dav_do_prop_subreq`).
pub(super) fn content_type_of(
    req: &Request,
    resource: &Resource,
    cache: &mut TypeCache,
) -> Option<String> {
    if let Some((_, t)) = cache.0.iter().find(|(u, _)| *u == resource.uri) {
        return t.clone();
    }
    let mut sub = req.sub_request(resource.uri.clone());
    let found = (|| {
        let filename = crate::request::pipeline::translate(&mut sub).ok()?;
        crate::request::pipeline::map_and_check(&mut sub, filename).ok()?;
        req.rt.hooks.type_checker.run_first(&mut sub).ok()?;
        if sub.finfo.as_ref().is_some_and(|m| m.is_dir()) {
            return Some(
                sub.dir
                    .core
                    .force_type
                    .clone()
                    .unwrap_or_else(|| "httpd/unix-directory".to_string()),
            );
        }
        crate::request::static_file::content_type(&sub)
    })();
    cache.0.push((resource.uri.clone(), found.clone()));
    found
}

/// The lockdiscovery value of a resource (`dav_lock_get_activelock`).
pub(super) fn activelocks(locks: &[&Lock]) -> String {
    let now = locks::now_secs();
    let mut out = String::new();
    for lock in locks {
        out.push_str("<D:activelock>\n<D:locktype><D:write/></D:locktype>\n<D:lockscope>");
        out.push_str(if lock.scope == Scope::Exclusive {
            "<D:exclusive/>"
        } else {
            "<D:shared/>"
        });
        out.push_str("</D:lockscope>\n");
        out.push_str(&format!(
            "<D:depth>{}</D:depth>\n",
            if lock.infinite { "infinity" } else { "0" }
        ));
        if let Some(owner) = &lock.owner {
            out.push_str(owner);
        }
        out.push_str("<D:timeout>");
        match lock.expires {
            None => out.push_str("Infinite"),
            Some(t) if t <= now => out.push_str("Second-0"),
            Some(t) => out.push_str(&format!("Second-{}", t - now)),
        }
        out.push_str(&format!(
            "</D:timeout>\n<D:locktoken>\n<D:href>{}</D:href>\n</D:locktoken>\n</D:activelock>\n",
            lock.token_uri()
        ));
    }
    out
}

/// A core property's value (`dav_insert_coreprop`): `None` where it has none.
pub(super) fn core_prop(
    req: &Request,
    resource: &Resource,
    db_locks: &[Lock],
    conf: &Dir,
    name: &str,
    cache: &mut TypeCache,
) -> Option<String> {
    match name {
        "lockdiscovery" => {
            if conf.lock_discovery == Some(false) {
                return Some(String::new());
            }
            Some(activelocks(&locks_on(db_locks, resource)))
        }
        "supportedlock" => Some(SUPPORTED_LOCK.to_string()),
        "getcontenttype" => content_type_of(req, resource, cache),
        _ => None,
    }
}

pub(super) fn core_line(name: &str, value: &str, with_value: bool) -> String {
    if with_value && !value.is_empty() {
        format!("<D:{name}>{value}</D:{name}>\n")
    } else {
        format!("<D:{name}/>\n")
    }
}

/// The resourcetype value.
pub(super) fn resourcetype(resource: &Resource) -> &'static str {
    if resource.collection() {
        "<D:collection/>"
    } else {
        ""
    }
}

pub(super) fn live_line(ns: u8, name: &str, value: &str, with_value: bool) -> String {
    if with_value && !value.is_empty() {
        format!("<lp{ns}:{name}>{value}</lp{ns}:{name}>\n")
    } else {
        format!("<lp{ns}:{name}/>\n")
    }
}

/// `dav_xmlns_info`: prefix and URI pairs. Apache generates them in the order of a hash
/// table seeded at random for each request; here they come in the order they were added.
#[derive(Default)]
pub(super) struct Xmlns {
    pairs: Vec<(String, String)>,
    count: usize,
}

impl Xmlns {
    fn add(&mut self, prefix: String, uri: String) {
        match self.pairs.iter_mut().find(|(p, _)| *p == prefix) {
            Some(pair) => pair.1 = uri,
            None => self.pairs.push((prefix, uri)),
        }
    }

    fn add_uri(&mut self, uri: &str) -> String {
        if let Some((p, _)) = self.pairs.iter().rev().find(|(_, u)| u == uri) {
            return p.clone();
        }
        let prefix = format!("g{}", self.count);
        self.count += 1;
        self.add(prefix.clone(), uri.to_string());
        prefix
    }

    fn generate(&self) -> Vec<String> {
        self.pairs
            .iter()
            .map(|(p, u)| format!(" xmlns:{p}=\"{u}\""))
            .collect()
    }
}

pub(super) const PROPSTAT_OPEN: &str = "<D:propstat>\n<D:prop>\n";
pub(super) const PROPSTAT_OK: &str =
    "</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n";

/// `dav_get_allprops`: every property (with its value, or its name alone).
pub(super) fn all_props(
    req: &Request,
    resource: &Resource,
    db_locks: &[Lock],
    conf: &Dir,
    values: bool,
    cache: &mut TypeCache,
) -> (Vec<String>, Vec<String>) {
    let mut out = vec![PROPSTAT_OPEN.to_string()];
    let mut xmlns = Vec::new();
    let db = PropDb::open(resource).ok().flatten();
    let mut dead_type = false;
    if let Some(db) = &db {
        let mut xi = Xmlns::default();
        for (p, u) in db.declarations() {
            xi.add(p, u);
        }
        out.extend(db.all(values));
        dead_type = db.output("DAV:", "getcontenttype").is_some();
        xmlns.extend(xi.generate());
    }
    // Apache walks a randomly seeded hash table here: either order is its.
    xmlns.push(" xmlns:lp1=\"DAV:\"".to_string());
    xmlns.push(" xmlns:lp2=\"http://apache.org/dav/props/\"".to_string());
    out.push(live_line(1, "resourcetype", resourcetype(resource), values));
    let etag = |_: &std::fs::Metadata| etag_of(req, resource);
    for (name, ns) in fs::FS_PROPS {
        if let Some(value) = fs::fs_prop(resource, name, &etag) {
            out.push(live_line(*ns, name, &value, values));
        }
    }
    for name in ["supportedlock", "lockdiscovery"] {
        if let Some(value) = core_prop(req, resource, db_locks, conf, name, cache) {
            out.push(core_line(name, &value, values));
        }
    }
    if !dead_type {
        if let Some(value) = core_prop(req, resource, db_locks, conf, "getcontenttype", cache) {
            out.push(core_line("getcontenttype", &value, values));
        }
    }
    out.push(PROPSTAT_OK.to_string());
    (out, xmlns)
}

/// Which provider defines a property (`dav_find_liveprop`): mod_dav's core provider
/// (resourcetype, and names it leaves to the dead properties), mod_dav_fs's, or mod_dav's
/// own core properties.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Provider {
    Core,
    Fs,
    CoreProp,
    None,
}

pub(super) fn provider_of(uri: &str, name: &str) -> Provider {
    match (uri, name) {
        ("DAV:", "resourcetype" | "comment" | "creator-displayname" | "displayname" | "source") => {
            Provider::Core
        }
        ("DAV:", "creationdate" | "getcontentlength" | "getlastmodified" | "getetag") => {
            Provider::Fs
        }
        (fs::FS_NAMESPACE, "executable") => Provider::Fs,
        ("DAV:", "getcontenttype" | "getcontentlanguage" | "lockdiscovery" | "supportedlock") => {
            Provider::CoreProp
        }
        _ => Provider::None,
    }
}

/// `dav_get_props`: the properties a `<D:prop>` names, found (200) and not (404).
pub(super) fn get_props(
    req: &Request,
    resource: &Resource,
    db_locks: &[Lock],
    conf: &Dir,
    doc: &Doc,
    cache: &mut TypeCache,
) -> (Vec<String>, Vec<String>) {
    let mut good = vec![PROPSTAT_OPEN.to_string()];
    let mut bad: Vec<String> = Vec::new();
    let mut have_good = false;
    let mut lp_marks = [false; 3];
    let mut lp_xmlns = Vec::new();
    let mut xi = Xmlns::default();
    let mut xi_filled = false;
    let mut db: Option<Option<PropDb>> = None;
    let etag = |_: &std::fs::Metadata| etag_of(req, resource);
    let prop = doc.root.child("prop").expect("checked by the caller");
    for elem in prop.elements() {
        let uri = doc.uri(elem.ns).to_string();
        let provider = if elem.ns == Ns::None {
            Provider::None
        } else {
            provider_of(&uri, &elem.name)
        };
        let inserted = match provider {
            Provider::Core if elem.name == "resourcetype" => Some((
                live_line(1, "resourcetype", resourcetype(resource), true),
                &[1u8][..],
            )),
            Provider::Fs => fs::fs_prop(resource, &elem.name, &etag).map(|value| {
                let ns = if elem.name == "executable" { 2 } else { 1 };
                (live_line(ns, &elem.name, &value, true), &[1u8, 2][..])
            }),
            Provider::CoreProp => core_prop(req, resource, db_locks, conf, &elem.name, cache)
                .map(|value| (core_line(&elem.name, &value, true), &[][..])),
            _ => None,
        };
        if let Some((line, namespaces)) = inserted {
            good.push(line);
            have_good = true;
            for ns in namespaces {
                if !lp_marks[*ns as usize] {
                    lp_marks[*ns as usize] = true;
                    let uri = if *ns == 1 { "DAV:" } else { fs::FS_NAMESPACE };
                    lp_xmlns.push(format!(" xmlns:lp{ns}=\"{uri}\""));
                }
            }
            continue;
        }
        let db = db.get_or_insert_with(|| PropDb::open(resource).ok().flatten());
        if let Some(db) = db {
            if let Some(line) = db.output(&uri, &elem.name) {
                good.push(line);
                have_good = true;
                if !xi_filled {
                    for (p, u) in db.declarations() {
                        xi.add(p, u);
                    }
                    xi_filled = true;
                }
                continue;
            }
        }
        if bad.is_empty() {
            bad.push(PROPSTAT_OPEN.to_string());
        }
        if uri.is_empty() {
            bad.push(format!("<{}/>\n", elem.name));
        } else {
            let prefix = xi.add_uri(&uri);
            bad.push(format!("<{prefix}:{}/>\n", elem.name));
        }
    }
    good.push(PROPSTAT_OK.to_string());
    let mut out = Vec::new();
    if !bad.is_empty() {
        bad.push(
            "</D:prop>\n<D:status>HTTP/1.1 404 Not Found</D:status>\n</D:propstat>\n".to_string(),
        );
        if have_good {
            out.extend(good.iter().cloned());
        }
        out.extend(bad);
    } else {
        out.extend(good.iter().cloned());
    }
    lp_xmlns.extend(xi.generate());
    (out, lp_xmlns)
}

/// An attribute in the DAV: namespace.
pub(super) fn dav_attr(elem: &Elem, name: &str) -> Option<String> {
    elem.attrs
        .iter()
        .find(|a| a.ns == xml::DAV && a.name == name)
        .map(|a| a.value.clone())
}

/// `dav_gen_supported_live_props`: every live property the resource has, or those of the
/// ones asked for that it has.
pub(super) fn supported_live_props(
    req: &Request,
    resource: &Resource,
    elem: &Elem,
) -> Result<String, DavError> {
    read_locks(req).map_err(|e| {
        e.wrap("The lock database could not be opened, preventing the reporting of supported lock properties.")
    })?;
    let mut cache = TypeCache::default();
    let etag = |_: &std::fs::Metadata| String::new();
    let line = |name: &str, namespace: Option<&str>| match namespace {
        Some(ns) => {
            format!("<D:supported-live-property D:name=\"{name}\" D:namespace=\"{ns}\"/>\n")
        }
        None => format!("<D:supported-live-property D:name=\"{name}\"/>\n"),
    };
    let mut out = "<D:supported-live-property-set>\n".to_string();
    let one = |uri: &str, name: &str, out: &mut String, cache: &mut TypeCache| match provider_of(
        uri, name,
    ) {
        Provider::Core if name == "resourcetype" => out.push_str(&line(name, Some("DAV:"))),
        Provider::Fs if fs::fs_prop(resource, name, &etag).is_some() => {
            out.push_str(&line(name, Some(uri)))
        }
        Provider::CoreProp => {
            let known = match name {
                "lockdiscovery" | "supportedlock" => true,
                "getcontenttype" => content_type_of(req, resource, cache).is_some(),
                _ => false,
            };
            if known {
                out.push_str(&line(name, None));
            }
        }
        _ => {}
    };
    if elem.children.is_empty() {
        one("DAV:", "resourcetype", &mut out, &mut cache);
        for (name, ns) in fs::FS_PROPS {
            let uri = if *ns == 1 { "DAV:" } else { fs::FS_NAMESPACE };
            one(uri, name, &mut out, &mut cache);
        }
        for name in ["supportedlock", "lockdiscovery", "getcontenttype"] {
            one("DAV:", name, &mut out, &mut cache);
        }
    } else {
        for child in elem
            .elements()
            .filter(|c| c.is_dav("supported-live-property"))
        {
            let Some(name) = dav_attr(child, "name") else {
                return Err(DavError::new(
                    400,
                    0,
                    "A DAV:supported-live-property element does not have a \"name\" attribute",
                ));
            };
            let uri = dav_attr(child, "namespace").unwrap_or_else(|| "DAV:".to_string());
            one(&uri, &name, &mut out, &mut cache);
        }
    }
    out.push_str("</D:supported-live-property-set>\n");
    Ok(out)
}

pub(super) fn text_of(elem: &Elem) -> String {
    let mut out = elem.first_text.clone();
    for (_, following) in &elem.children {
        out.push_str(following);
    }
    out
}

/// mod_dav_fs's checks of a change to `executable`.
pub(super) fn validate_executable(
    resource: &Resource,
    prop: &Elem,
    remove: bool,
) -> Option<DavError> {
    if prop.name != "executable" {
        return None;
    }
    if remove {
        return Some(DavError::new(
            409,
            0,
            "The 'executable' property cannot be removed.",
        ));
    }
    let _ = resource;
    let value = text_of(prop);
    if value.is_empty() {
        return Some(DavError::new(409, 0, "The 'executable' property expects a single character, valued 'T' or 'F'. There was no value submitted."));
    }
    if value.len() > 1 {
        return Some(DavError::new(409, 0, "The 'executable' property expects a single character, valued 'T' or 'F'. The value submitted has too many characters."));
    }
    if value != "T" && value != "F" {
        return Some(DavError::new(409, 0, "The 'executable' property expects a single character, valued 'T' or 'F'. The value submitted is invalid."));
    }
    None
}

pub(super) fn set_executable(resource: &Resource, on: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&resource.path)?;
    let mode = meta.permissions().mode();
    let mode = if on { mode | 0o100 } else { mode & !0o100 };
    std::fs::set_permissions(&resource.path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_prefixes_are_reused_and_numbered() {
        let mut xi = Xmlns::default();
        xi.add("ns1".into(), "b:".into());
        xi.add("ns0".into(), "a:".into());
        assert_eq!(xi.add_uri("a:"), "ns0");
        assert_eq!(xi.add_uri("c:"), "g0");
        assert_eq!(
            xi.generate().concat(),
            " xmlns:ns1=\"b:\" xmlns:ns0=\"a:\" xmlns:g0=\"c:\""
        );
    }
}
