//! mod_dav_fs's repository: resources on the filesystem (what a URI names, whether it is
//! there, its members in the order a directory lists them), their live properties, the dead
//! properties kept in a `.DAV/` directory beside them, and the copy, move and delete of
//! files and trees with their properties.
//!
//! The dead properties of a file `NAME` are in `.DAV/NAME.rhttpd` of its directory, those of
//! a directory in its own `.DAV/.state_for_dir.rhttpd`: where mod_dav_fs keeps its Berkeley
//! DB files, with rhttpd's own text format and name (see [`PropDb`]).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// mod_dav_fs's state directory.
pub const STATE_DIR: &str = ".DAV";
/// Names mod_dav_fs writes a PUT body to before it renames it into place.
pub const TMP_PREFIX: &str = ".davfs.tmp";
const STATE_FOR_DIR: &str = ".state_for_dir";
const PROPS_SUFFIX: &str = ".rhttpd";

/// One resource of the repository.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The decoded URI path, without a trailing slash (`/` stays).
    pub uri: String,
    /// The filesystem path, without a trailing slash.
    pub path: String,
    pub meta: Option<fs::Metadata>,
}

impl Resource {
    pub fn at(uri: &str, path: &str) -> Resource {
        let trim = |s: &str| {
            if s.len() > 1 && s.ends_with('/') {
                s[..s.len() - 1].to_string()
            } else {
                s.to_string()
            }
        };
        let path = trim(path);
        let meta = fs::metadata(&path).ok();
        Resource {
            uri: trim(uri),
            path,
            meta,
        }
    }

    pub fn exists(&self) -> bool {
        self.meta.is_some()
    }

    pub fn collection(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.is_dir())
    }

    /// The URI as a multistatus writes it: a collection's with its trailing slash.
    pub fn href(&self) -> String {
        if self.collection() && !self.uri.ends_with('/') {
            format!("{}/", self.uri)
        } else {
            self.uri.clone()
        }
    }

    /// A member of this collection.
    pub fn member(&self, name: &str) -> Resource {
        let uri = if self.uri.ends_with('/') {
            format!("{}{name}", self.uri)
        } else {
            format!("{}/{name}", self.uri)
        };
        Resource::at(&uri, &format!("{}/{name}", self.path))
    }

    /// The parent collection; `None` for the root of the URI space.
    pub fn parent(&self) -> Option<Resource> {
        if self.uri == "/" || self.uri.is_empty() {
            return None;
        }
        let uri = match self.uri.rfind('/') {
            Some(0) => "/".to_string(),
            Some(at) => self.uri[..at].to_string(),
            None => return None,
        };
        let path = match self.path.rfind('/') {
            Some(0) => "/".to_string(),
            Some(at) => self.path[..at].to_string(),
            None => return None,
        };
        Some(Resource::at(&uri, &path))
    }

    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// Apache's `ap_normalize_path` (`.` and `..` segments, not above the root): `None` when
/// it would climb above the root.
pub fn normalize(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    let mut joined = format!("/{}", out.join("/"));
    if trailing && joined != "/" {
        joined.push('/');
    }
    Some(joined)
}

/// The members of a collection in the order its directory lists them (mod_dav_fs's walk
/// reads it with `apr_dir_read`), its state directory and temporary files left out, and only
/// files and directories (not symbolic links to them).
pub fn members(collection: &Resource) -> io::Result<Vec<Resource>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(&collection.path)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == STATE_DIR || name.starts_with(TMP_PREFIX) {
            continue;
        }
        // mod_dav_fs looks at a member without following a symbolic link, and a link is
        // neither a file nor a directory to it: it is left out (and no walk loops through it).
        let kind = entry.file_type()?;
        if kind.is_file() || kind.is_dir() {
            out.push(collection.member(name));
        }
    }
    Ok(out)
}

/// The resources a walk of `depth` (0, 1 or infinity as `u32::MAX`) visits from `root`, in
/// mod_dav_fs's order: each collection before its members, a member collection's own
/// members right after it.
pub fn walk(root: &Resource, depth: u32) -> io::Result<Vec<Resource>> {
    let mut out = vec![root.clone()];
    if depth > 0 && root.collection() {
        for member in members(root)? {
            if member.collection() {
                let next = if depth == u32::MAX { depth } else { depth - 1 };
                out.extend(walk(&member, next)?);
            } else {
                out.push(member);
            }
        }
    }
    Ok(out)
}

// --- live properties ------------------------------------------------------------------

/// `2026-12-06T21:55:42Z`: mod_dav's ISO 8601 form (creationdate).
pub fn iso8601(secs: i64) -> String {
    let c = crate::http1::date::Civil::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `Sun, 06 Dec 2026 21:55:42 GMT` (getlastmodified).
pub fn rfc822(secs: i64) -> String {
    let time = if secs >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
    } else {
        std::time::UNIX_EPOCH
    };
    crate::http1::date::format(time)
}

/// The live properties mod_dav_fs defines, in the order allprop lists them, with the
/// namespace they are in (1: DAV:, 2: mod_dav_fs's own).
pub const FS_PROPS: &[(&str, u8)] = &[
    ("creationdate", 1),
    ("getcontentlength", 1),
    ("getlastmodified", 1),
    ("getetag", 1),
    ("executable", 2),
];

/// mod_dav_fs's namespace for `executable`.
pub const FS_NAMESPACE: &str = "http://apache.org/dav/props/";

/// The value of one of mod_dav_fs's live properties, `None` where it is not defined for the
/// resource (a missing resource has none; a collection no length and no executable).
pub fn fs_prop(
    resource: &Resource,
    name: &str,
    etag: &dyn Fn(&fs::Metadata) -> String,
) -> Option<String> {
    let meta = resource.meta.as_ref()?;
    match name {
        "creationdate" => Some(iso8601(meta.ctime())),
        "getcontentlength" if !meta.is_dir() => Some(meta.len().to_string()),
        "getlastmodified" => Some(rfc822(meta.mtime())),
        "getetag" => Some(etag(meta)),
        "executable" if !meta.is_dir() => {
            Some(if meta.mode() & 0o100 != 0 { "T" } else { "F" }.to_string())
        }
        _ => None,
    }
}

// --- dead properties ------------------------------------------------------------------

/// Where a resource's dead properties are kept.
pub fn props_file(resource: &Resource) -> PathBuf {
    props_file_for(&resource.path, resource.collection())
}

fn props_file_for(path: &str, collection: bool) -> PathBuf {
    if collection {
        Path::new(path)
            .join(STATE_DIR)
            .join(format!("{STATE_FOR_DIR}{PROPS_SUFFIX}"))
    } else {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        Path::new(if dir.is_empty() { "/" } else { dir })
            .join(STATE_DIR)
            .join(format!("{name}{PROPS_SUFFIX}"))
    }
}

/// One resource's dead properties, as mod_dav_fs's property database holds them: a table of
/// namespace URIs (each property's namespace an index into it, its values' elements written
/// with `nsN` prefixes of those indices) and the properties in the order they were first set,
/// each with its xml:lang and its content as quoted XML text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropDb {
    pub namespaces: Vec<String>,
    /// (namespace index or `None` for no namespace, name, xml:lang, value).
    pub props: Vec<(Option<usize>, String, String, String)>,
}

const PROPS_HEADER: &str = "rhttpd-dav-props 1";

fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn unescape(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%09", "\t")
        .replace("%25", "%")
}

impl PropDb {
    /// The resource's database; `Ok(None)` when it has none.
    pub fn open(resource: &Resource) -> io::Result<Option<PropDb>> {
        let text = match fs::read_to_string(props_file(resource)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut lines = text.lines();
        if lines.next() != Some(PROPS_HEADER) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a property database",
            ));
        }
        let mut db = PropDb::default();
        for line in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["ns", uri] => db.namespaces.push(unescape(uri)),
                ["p", ns, name, lang, value] => db.props.push((
                    ns.parse().ok(),
                    unescape(name),
                    unescape(lang),
                    unescape(value),
                )),
                _ => {}
            }
        }
        Ok(Some(db))
    }

    pub fn save(&self, resource: &Resource) -> io::Result<()> {
        let file = props_file(resource);
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut text = format!("{PROPS_HEADER}\n");
        for uri in &self.namespaces {
            text.push_str(&format!("ns\t{}\n", escape(uri)));
        }
        for (ns, name, lang, value) in &self.props {
            let ns = ns.map_or("-".to_string(), |n| n.to_string());
            text.push_str(&format!(
                "p\t{ns}\t{}\t{}\t{}\n",
                escape(name),
                escape(lang),
                escape(value)
            ));
        }
        fs::write(file, text)
    }

    /// The index of a namespace, added when new (`dav_propdb_map_namespaces`).
    pub fn map_namespace(&mut self, uri: &str) -> usize {
        match self.namespaces.iter().position(|u| u == uri) {
            Some(i) => i,
            None => {
                self.namespaces.push(uri.to_string());
                self.namespaces.len() - 1
            }
        }
    }

    fn key(&self, uri: &str, name: &str) -> Option<(Option<usize>, String)> {
        if uri.is_empty() {
            return Some((None, name.to_string()));
        }
        let ns = self.namespaces.iter().position(|u| u == uri)?;
        Some((Some(ns), name.to_string()))
    }

    /// The property's rendering as mod_dav_fs writes it into a propstat.
    pub fn output(&self, uri: &str, name: &str) -> Option<String> {
        let (ns, name) = self.key(uri, name)?;
        let (_, _, lang, value) = self
            .props
            .iter()
            .find(|(n, m, _, _)| *n == ns && *m == name)?;
        Some(render_prop(ns, &name, lang, value))
    }

    pub fn set(&mut self, uri: &str, name: &str, lang: &str, value: String) {
        let ns = if uri.is_empty() {
            None
        } else {
            Some(self.map_namespace(uri))
        };
        match self
            .props
            .iter_mut()
            .find(|(n, m, _, _)| *n == ns && m == name)
        {
            Some(prop) => {
                prop.2 = lang.to_string();
                prop.3 = value;
            }
            None => self
                .props
                .push((ns, name.to_string(), lang.to_string(), value)),
        }
    }

    pub fn remove(&mut self, uri: &str, name: &str) {
        if let Some((ns, name)) = self.key(uri, name) {
            self.props.retain(|(n, m, _, _)| !(*n == ns && *m == name));
        }
    }

    /// Every property as a propstat line (`value`), or its name alone.
    pub fn all(&self, value: bool) -> Vec<String> {
        self.props
            .iter()
            .map(|(ns, name, lang, v)| {
                if value {
                    render_prop(*ns, name, lang, v)
                } else {
                    match ns {
                        None => format!("<{name}/>\n"),
                        Some(i) => format!("<ns{i}:{name}/>\n"),
                    }
                }
            })
            .collect()
    }

    /// The `xmlns:nsN` declarations its values need (`dav_propdb_define_namespaces`).
    pub fn declarations(&self) -> Vec<(String, String)> {
        self.namespaces
            .iter()
            .enumerate()
            .filter(|(_, uri)| !uri.is_empty())
            .map(|(i, uri)| (format!("ns{i}"), uri.clone()))
            .collect()
    }
}

/// `dav_append_prop`.
fn render_prop(ns: Option<usize>, name: &str, lang: &str, value: &str) -> String {
    let tag = match ns {
        None => name.to_string(),
        Some(i) => format!("ns{i}:{name}"),
    };
    if value.is_empty() {
        format!("<{tag}/>\n")
    } else if !lang.is_empty() {
        format!("<{tag} xml:lang=\"{lang}\">{value}</{tag}>\n")
    } else {
        format!("<{tag}>{value}</{tag}>\n")
    }
}

// --- copy, move, delete -----------------------------------------------------------------

/// Removes a collection and everything in it as mod_dav_fs's delete walk does (members
/// first, the state directories too, symbolic links left alone): the URIs of what could not
/// be removed, last first (the order mod_dav reports them in), a collection's without its
/// trailing slash (its walk calls back after the members, the slash taken off again).
pub fn remove_tree(collection: &Resource) -> Vec<String> {
    fn walk(path: &Path, uri: &str, failed: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let member = entry.path();
            if kind.is_dir() {
                let member_uri = format!("{uri}{name}");
                walk(&member, &format!("{member_uri}/"), failed);
                if fs::remove_dir(&member).is_err() {
                    failed.push(member_uri);
                }
            } else if kind.is_file() && fs::remove_file(&member).is_err() {
                failed.push(format!("{uri}{name}"));
            }
        }
    }
    let mut failed = Vec::new();
    walk(Path::new(&collection.path), &collection.href(), &mut failed);
    if fs::remove_dir(&collection.path).is_err() {
        failed.push(collection.uri.clone());
    }
    failed.reverse();
    failed
}

/// Removes a resource with its dead properties (a collection with everything in it).
pub fn remove(resource: &Resource) -> io::Result<()> {
    if resource.collection() {
        fs::remove_dir_all(&resource.path)
    } else {
        fs::remove_file(&resource.path)?;
        let _ = fs::remove_file(props_file(resource));
        Ok(())
    }
}

/// The status mod_dav_fs gives a failed file operation (`MAP_IO2HTTP`).
pub fn io_status(e: &io::Error) -> u16 {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => 507,
        Some(libc::ENOENT) => 409,
        _ => 500,
    }
}

/// Why a copy failed: its status and the system error.
pub type CopyError = (u16, io::Error);

/// Copies a file and its dead properties.
pub fn copy_file(src: &Resource, dst: &Resource) -> Result<(), CopyError> {
    fs::copy(&src.path, &dst.path).map_err(|e| (io_status(&e), e))?;
    let own = props_file(src);
    if own.exists() {
        let target = props_file_for(&dst.path, false);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(|e| (io_status(&e), e))?;
        }
        fs::copy(&own, target).map_err(|e| (io_status(&e), e))?;
    }
    Ok(())
}

/// Copies a collection as mod_dav_fs's copy walk does: the collection itself (a 403 when it
/// cannot be made), then with `deep` everything in it, its state directories too (so the
/// dead properties come along). A member that fails with a client error is reported (its
/// source URI and status, last first) and the walk goes on; a server error ends it.
pub fn copy_tree(
    src: &Resource,
    dst: &Resource,
    deep: bool,
) -> Result<Vec<(String, u16)>, CopyError> {
    fn walk(
        from: &Path,
        to: &Path,
        uri: &str,
        failed: &mut Vec<(String, u16)>,
    ) -> Result<(), CopyError> {
        let Ok(entries) = fs::read_dir(from) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let (source, target) = (entry.path(), to.join(&name));
            if kind.is_dir() {
                let member_uri = format!("{uri}{text}/");
                if fs::create_dir(&target).is_err() {
                    failed.push((member_uri.clone(), 403));
                }
                walk(&source, &target, &member_uri, failed)?;
            } else if kind.is_file() {
                if let Err(e) = fs::copy(&source, &target) {
                    let status = io_status(&e);
                    if status >= 500 {
                        return Err((status, e));
                    }
                    failed.push((format!("{uri}{text}"), status));
                }
            }
        }
        Ok(())
    }
    fs::create_dir(&dst.path).map_err(|e| (403, e))?;
    let mut failed = Vec::new();
    if deep {
        walk(
            Path::new(&src.path),
            Path::new(&dst.path),
            &src.href(),
            &mut failed,
        )?;
    }
    failed.reverse();
    Ok(failed)
}

/// Copies a resource and its dead properties; a collection with its members when `deep`.
pub fn copy(src: &Resource, dst: &Resource, deep: bool) -> io::Result<()> {
    if src.collection() {
        copy_tree(src, dst, deep).map(|_| ()).map_err(|(_, e)| e)
    } else {
        copy_file(src, dst).map_err(|(_, e)| e)
    }
}

/// Moves a resource and its dead properties (by rename, or by copy and delete across
/// filesystems).
pub fn rename(src: &Resource, dst: &Resource) -> io::Result<()> {
    match fs::rename(&src.path, &dst.path) {
        Ok(()) => {
            if !src.collection() {
                let own = props_file(src);
                if own.exists() {
                    let target = props_file_for(&dst.path, false);
                    if let Some(dir) = target.parent() {
                        fs::create_dir_all(dir)?;
                    }
                    fs::rename(&own, target)?;
                }
            }
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy(src, dst, true)?;
            remove(src)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_mod_dav_writes_them() {
        assert_eq!(iso8601(1_600_000_000), "2020-09-13T12:26:40Z");
        assert_eq!(rfc822(1_600_000_000), "Sun, 13 Sep 2020 12:26:40 GMT");
    }

    #[test]
    fn dead_properties_survive_a_round_trip_and_move_with_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        fs::write(dir.path().join("a.txt"), "x").unwrap();
        let a = Resource::at("/a.txt", &format!("{root}/a.txt"));
        let mut db = PropDb::default();
        db.map_namespace("DAV:");
        db.set("http://ex/", "foo", "", "bar\t<ns1:x/>".into());
        db.set("", "plain", "en", "p".into());
        db.save(&a).unwrap();
        let back = PropDb::open(&a).unwrap().unwrap();
        assert_eq!(back, db);
        assert_eq!(
            back.output("http://ex/", "foo").unwrap(),
            "<ns1:foo>bar\t<ns1:x/></ns1:foo>\n"
        );
        assert_eq!(back.all(false), ["<ns1:foo/>\n", "<plain/>\n"]);
        let b = Resource::at("/b.txt", &format!("{root}/b.txt"));
        rename(&a, &b).unwrap();
        let b = Resource::at("/b.txt", &format!("{root}/b.txt"));
        assert_eq!(PropDb::open(&b).unwrap().unwrap(), db);
        assert!(PropDb::open(&a).unwrap().is_none());
    }

    #[test]
    fn paths_normalize_without_climbing_above_the_root() {
        assert_eq!(normalize("/a/./b/../c/").as_deref(), Some("/a/c/"));
        assert_eq!(normalize("/a/.."), Some("/".to_string()));
        assert!(normalize("/../x").is_none());
    }
}
