//! The walks that give a request its configuration: the path walk that finds the resource
//! and its PATH_INFO, then the section merge in Apache's order (directories level by level with
//! their `.htaccess`, regex directories, files, locations, `<If>` last) and FollowSymLinks.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{environment, expr, htaccess, Request, Step};
use crate::modules::DirRuntime;
use crate::runtime::CompiledSection;
use rhttpd_directives::model::{opt, SectionKind};

/// Apache's directory walk: stat components from the left; a file followed by more path is
/// the resource and the rest PATH_INFO. Returns the resource path and its metadata if it exists.
pub(crate) fn walk_path(
    full: &Path,
    path_info: &mut String,
) -> Step<(PathBuf, Option<fs::Metadata>)> {
    let missing = match fs::metadata(full) {
        Ok(meta) => return Ok((full.to_path_buf(), Some(meta))),
        // A name the filesystem cannot hold, or a component we may not search: Apache's 403.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENAMETOOLONG) | Some(libc::EACCES)
            ) =>
        {
            return Err(403)
        }
        Err(e) => e.raw_os_error() == Some(libc::ENOENT),
    };
    // Walked as bytes: a file name need not be UTF-8 (`/caf%E9.html`).
    let bytes = full.as_os_str().as_bytes();
    let path_of = |end: usize| PathBuf::from(OsStr::from_bytes(&bytes[..end]));
    // Where the component after the deepest existing directory ends: Apache's walk stops at
    // the first name that is not there, which ends the filename (the rest is PATH_INFO).
    let mut missing_end = bytes.len();
    let mut end = bytes.len();
    // `name/` not found means `name` is not there either (a file there would have made it
    // ENOTDIR): the walk goes on from the component before it, one stat fewer.
    if missing && bytes.len() > 1 && bytes.ends_with(b"/") {
        end -= 1;
        missing_end = end;
    }
    while let Some(slash) = bytes[..end].iter().rposition(|&b| b == b'/') {
        if slash == 0 {
            break;
        }
        let candidate = Path::new(OsStr::from_bytes(&bytes[..slash]));
        if let Ok(meta) = fs::metadata(candidate) {
            if meta.is_file() {
                *path_info = String::from_utf8_lossy(&bytes[slash..]).into_owned();
                return Ok((candidate.to_path_buf(), Some(meta)));
            }
            break;
        }
        missing_end = slash;
        end = slash;
    }
    *path_info = String::from_utf8_lossy(&bytes[missing_end..]).into_owned();
    Ok((path_of(missing_end), None))
}

/// Merges the matching sections in Apache's order: `<Directory>` sections level by level from
/// `/` down, each level followed by its `.htaccess` when AllowOverride permits one; then regex
/// directories; then `<Files>` (top level, nested in matched directories, from `.htaccess`);
/// then `<Location>`. A bad `.htaccess` ends the request with 500.
pub(crate) fn merge_sections(req: &mut Request, filename: &Path, is_dir: bool) -> Step<()> {
    req.section_variables = section_variables(req, Some(filename));
    let cache = &req.rt.merged;
    let seen = &mut req.htaccess_seen;
    if let Some((dir, warnings)) = cache.get(req.server, filename, is_dir, &req.uri, seen) {
        req.dir = dir;
        say_htaccess_warnings(req, &warnings);
        return Ok(());
    }
    let ctx = req.ctx();
    // The .htaccess files looked for, and whether the answer depends on the request itself.
    let mut consulted = Vec::new();
    let mut per_request = false;
    // The sections merged, by address (the runtime holds them): with the .htaccess files
    // consulted, what makes two merges the same one.
    let mut applied: Vec<usize> = Vec::new();
    let path = filename.to_string_lossy().into_owned();
    let dir_path = if is_dir {
        format!("{}/", path.trim_end_matches('/'))
    } else {
        match path.rfind('/') {
            Some(i) => path[..=i].to_string(),
            None => "/".to_string(),
        }
    };
    let prefixes: Vec<&str> = dir_path
        .match_indices('/')
        .map(|(i, _)| &dir_path[..=i])
        .collect();
    let base = if is_dir {
        String::new()
    } else {
        path.rsplit('/').next().unwrap_or("").to_string()
    };
    let is_plain_dir = |s: &&CompiledSection| s.kind == SectionKind::Directory && s.regex.is_none();
    let mut merged = DirRuntime::clone(&ctx.dir);
    let mut files_sections: Vec<&CompiledSection> = Vec::new();
    // <If> sections come last, server-level ones first, then those of the sections applied.
    let mut conditionals: Vec<&CompiledSection> =
        ctx.sections.iter().filter(|s| s.is_conditional()).collect();
    let mut htaccess_files: Vec<std::sync::Arc<htaccess::Htaccess>> = Vec::new();
    // (which .htaccess file, where in `conditionals` its <If> sections go).
    let mut htaccess_ifs_at: Vec<(usize, usize)> = Vec::new();
    for prefix in &prefixes {
        for section in ctx
            .sections
            .iter()
            .filter(is_plain_dir)
            .filter(|s| s.matches(prefix))
        {
            merged = merged.merge(&section.dir);
            applied.push(section_id(section));
            files_sections.extend(nested_files(section));
            conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
        }
        // An explicit AllowOverride None without an AllowOverrideList means the file is not
        // even looked for. With no AllowOverride at all Apache still reads it, and then allows
        // nothing in it (any directive there is a 500).
        let allow = merged.core.allow_override;
        let listed = merged.core.override_list.clone().unwrap_or_default();
        if allow != Some(0) || !listed.is_empty() {
            let allow = allow.unwrap_or(0);
            let dir = Path::new(prefix);
            match req.rt.htaccess.load(
                req.rt,
                dir,
                &ctx.access_file_names,
                allow,
                &listed,
                &mut consulted,
            ) {
                Ok(Some(found)) => {
                    merged = merged.merge(&found.dir);
                    // Its <If> sections join the others at this point of the walk.
                    htaccess_ifs_at.push((htaccess_files.len(), conditionals.len()));
                    htaccess_files.push(found);
                }
                Ok(None) => {}
                Err(failed) => {
                    say_htaccess_warnings(req, &failed.warnings);
                    req.log_os_error("core", failed.level, failed.cause.as_ref(), &failed.text);
                    return Err(failed.status);
                }
            }
        }
    }
    for &(file, at) in htaccess_ifs_at.iter().rev() {
        let ifs = htaccess_files[file]
            .files
            .iter()
            .filter(|s| s.is_conditional());
        conditionals.splice(at..at, ifs);
    }
    for section in &ctx.sections {
        if matches!(
            section.kind,
            SectionKind::Directory | SectionKind::DirectoryMatch
        ) && section.regex.is_some()
            && prefixes
                .iter()
                .any(|p| section.matches(p.trim_end_matches('/')) || section.matches(p))
        {
            merged = merged.merge(&section.dir);
            applied.push(section_id(section));
            files_sections.extend(nested_files(section));
            conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
        }
    }
    if !base.is_empty() {
        let top_files = ctx
            .sections
            .iter()
            .filter(|s| matches!(s.kind, SectionKind::Files | SectionKind::FilesMatch));
        for section in top_files.chain(files_sections) {
            if section.matches(&base) {
                merged = merged.merge(&section.dir);
                applied.push(section_id(section));
                conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
            }
        }
        for found in &htaccess_files {
            let files = found
                .files
                .iter()
                .filter(|s| matches!(s.kind, SectionKind::Files | SectionKind::FilesMatch));
            for section in files.filter(|s| s.matches(&base)) {
                merged = merged.merge(&section.dir);
                applied.push(section_id(section));
                conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
            }
        }
    }
    for section in &ctx.sections {
        if matches!(
            section.kind,
            SectionKind::Location | SectionKind::LocationMatch
        ) && section.matches(&req.uri)
        {
            merged = merged.merge(&section.dir);
            applied.push(section_id(section));
            conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
        }
    }
    // <If>, <ElseIf>, <Else> last, each chain in order: a branch applies when its condition
    // holds and no earlier branch of its chain did.
    if !conditionals.is_empty() {
        per_request = true;
        merged = apply_conditionals(req, merged, &conditionals);
    }
    let merged = Arc::new(merged);
    let warnings: super::merged::Warnings = Arc::new(
        htaccess_files
            .iter()
            .flat_map(|file| file.warnings.iter().cloned())
            .collect(),
    );
    let merged = if per_request {
        merged
    } else {
        let cache = &req.rt.merged;
        cache.put(
            req.server,
            filename,
            is_dir,
            &req.uri,
            &merged,
            (applied, consulted, &warnings),
        )
    };
    req.dir = merged;
    say_htaccess_warnings(req, &warnings);
    Ok(())
}

/// The warnings reading the request's `.htaccess` files gave, as Apache logs them when it
/// reads them: lines of the server's, without the client. Apache reads each file once for a
/// request and the sub-requests and internal redirects it makes (they share its cache), so
/// each is said once.
fn say_htaccess_warnings(req: &mut Request, warnings: &[rhttpd_directives::model::Warning]) {
    if req.subrequest || warnings.is_empty() {
        return;
    }
    for warning in warnings {
        let said = &mut req.state.get_mut::<SaidWarnings>().0;
        if said.contains(&warning.text) {
            continue;
        }
        said.push(warning.text.clone());
        req.log_server_error(warning.module, warning.level, &warning.text);
    }
}

/// The `.htaccess` warnings already logged for this request.
#[derive(Default)]
struct SaidWarnings(Vec<String>);

/// A section's identity for as long as the runtime that holds it lives.
fn section_id(section: &CompiledSection) -> usize {
    std::ptr::from_ref(section) as usize
}

/// The configuration Apache's first location walk gives a request, before translate_name:
/// the server's, the matching `<Location>` sections, then the server's and their `<If>`
/// sections; no `<Directory>` yet. What a request ended before it was mapped answers under.
pub(crate) fn location_walk(req: &Request) -> DirRuntime {
    location_walk_from(req, DirRuntime::clone(&req.ctx().dir))
}

/// The location walk over `base` (mod_proxy's walk gives it the `<Proxy>` sections first).
pub(crate) fn location_walk_from(req: &Request, base: DirRuntime) -> DirRuntime {
    let ctx = req.ctx();
    let is_location =
        |s: &&CompiledSection| matches!(s.kind, SectionKind::Location | SectionKind::LocationMatch);
    let locations: Vec<&CompiledSection> = ctx
        .sections
        .iter()
        .filter(is_location)
        .filter(|s| s.matches(&req.uri))
        .collect();
    let conditionals: Vec<&CompiledSection> = ctx
        .sections
        .iter()
        .filter(|s| s.is_conditional())
        .chain(
            locations
                .iter()
                .flat_map(|l| l.nested.iter().filter(|n| n.is_conditional())),
        )
        .collect();
    let walked = locations
        .iter()
        .fold(base, |merged, s| merged.merge(&s.dir));
    if conditionals.is_empty() {
        walked
    } else {
        apply_conditionals(req, walked, &conditionals)
    }
}

/// Evaluates `<If>` chains against the request and merges the branches that hold.
pub(crate) fn apply_conditionals(
    req: &Request,
    mut merged: DirRuntime,
    sections: &[&CompiledSection],
) -> DirRuntime {
    let env = environment(req);
    let context = expr::RequestContext::new(req, &env);
    let mut chain_taken = false;
    for section in sections {
        let holds = match section.kind {
            SectionKind::If => {
                chain_taken = false;
                evaluate(req, section, &context)
            }
            SectionKind::ElseIf => !chain_taken && evaluate(req, section, &context),
            _ => !chain_taken,
        };
        if holds {
            chain_taken = true;
            merged = merged.merge(&section.dir);
            let nested: Vec<&CompiledSection> = section
                .nested
                .iter()
                .filter(|n| n.is_conditional())
                .collect();
            if !nested.is_empty() {
                merged = apply_conditionals(req, merged, &nested);
            }
        }
    }
    merged
}

pub(crate) fn evaluate(
    req: &Request,
    section: &CompiledSection,
    context: &expr::RequestContext,
) -> bool {
    let Some(condition) = &section.condition else {
        return false;
    };
    match condition.eval(context) {
        Ok(holds) => holds,
        Err(message) => {
            let text = format!("AH00039: Failed to evaluate <If > condition: {message}");
            req.log_error("core", "error", &text);
            false
        }
    }
}

/// FollowSymLinks: without it, a symbolic link anywhere in the path is refused.
pub(crate) fn symlinks_allowed(req: &Request, filename: &Path) -> bool {
    let options = req.dir.core.options();
    if options & opt::SYM_LINKS != 0 {
        return true;
    }
    let mut path = PathBuf::from("/");
    for part in filename.components().skip(1) {
        path.push(part);
        if let Ok(meta) = fs::symlink_metadata(&path) {
            if meta.file_type().is_symlink() {
                if options & opt::SYM_OWNER != 0 {
                    let target_owner = fs::metadata(&path).map(|m| m.uid()).ok();
                    if target_owner == Some(meta.uid()) {
                        continue;
                    }
                }
                return false;
            }
        }
    }
    true
}

/// The `<Files>` sections a directory section holds, merged after the directories.
fn nested_files(section: &CompiledSection) -> impl Iterator<Item = &CompiledSection> {
    section
        .nested
        .iter()
        .filter(|n| matches!(n.kind, SectionKind::Files | SectionKind::FilesMatch))
}

/// The `MATCH_<NAME>` variables translation sees: Apache walks the `<Location>` sections once
/// before translate_name (so that a `<LocationMatch>`'s one-argument Alias or Redirect can
/// name its groups), and again with the rest after map_to_storage.
pub(crate) fn location_variables(req: &Request) -> Vec<(String, String)> {
    section_variables(req, None)
}

/// `MATCH_<NAME>` for each named group of a regex section that matches the request: a
/// `<DirectoryMatch>` against the file's path, a `<FilesMatch>` against its base name (also
/// nested in a directory section), a `<LocationMatch>` against the URI, in walk order. With
/// no file yet, the location sections alone.
fn section_variables(req: &Request, filename: Option<&Path>) -> Vec<(String, String)> {
    let ctx = req.ctx();
    // Most configurations have none: nothing to match.
    if !ctx.named_section_groups {
        return Vec::new();
    }
    let named = |s: &&CompiledSection| s.regex.as_ref().is_some_and(|r| r.names().next().is_some());
    let path = filename.map(Path::to_string_lossy).unwrap_or_default();
    let base = path.rsplit('/').next().unwrap_or("").to_string();
    let subject = |section: &CompiledSection| match section.kind {
        SectionKind::Directory | SectionKind::DirectoryMatch => Some(path.to_string()),
        SectionKind::Files | SectionKind::FilesMatch => Some(base.clone()),
        SectionKind::Location | SectionKind::LocationMatch => Some(req.uri.clone()),
        _ => None,
    };
    let mut variables: Vec<(String, String)> = Vec::new();
    let mut take = |section: &CompiledSection| {
        let (Some(regex), Some(subject)) = (&section.regex, subject(section)) else {
            return;
        };
        let Some(found) = regex.captures(subject.as_bytes()) else {
            return;
        };
        for (index, name) in regex.names() {
            if let Some(value) = found.text(index) {
                let name = format!("MATCH_{}", name.to_ascii_uppercase());
                crate::modules::env::set(&mut variables, &name, &value);
            }
        }
    };
    let order = [
        SectionKind::DirectoryMatch,
        SectionKind::FilesMatch,
        SectionKind::LocationMatch,
    ];
    let kinds = if filename.is_some() {
        &order[..]
    } else {
        &order[2..]
    };
    for &kind in kinds {
        for section in ctx.sections.iter().filter(|s| named(s)) {
            let matches_kind = match kind {
                SectionKind::DirectoryMatch => {
                    matches!(
                        section.kind,
                        SectionKind::Directory | SectionKind::DirectoryMatch
                    )
                }
                SectionKind::FilesMatch => {
                    matches!(section.kind, SectionKind::Files | SectionKind::FilesMatch)
                }
                _ => matches!(
                    section.kind,
                    SectionKind::Location | SectionKind::LocationMatch
                ),
            };
            if matches_kind {
                take(section);
            }
        }
        if kind == SectionKind::FilesMatch {
            // Files sections inside the directory sections that apply to the file.
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let applies = |parent: &CompiledSection| {
                matches!(
                    parent.kind,
                    SectionKind::Directory | SectionKind::DirectoryMatch
                ) && dir
                    .match_indices('/')
                    .any(|(i, _)| parent.matches(&dir[..=i]) || parent.matches(&dir[..i.max(1)]))
            };
            let nested = ctx
                .sections
                .iter()
                .filter(|parent| applies(parent))
                .flat_map(nested_files);
            for section in nested.filter(|s| named(s)) {
                take(section);
            }
        }
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(root: &Path, rest: &str) -> (String, bool, String) {
        let mut path_info = String::new();
        let full = PathBuf::from(format!("{}{rest}", root.display()));
        let Ok((found, meta)) = walk_path(&full, &mut path_info) else {
            panic!("walk of {rest} refused");
        };
        let found = found.to_string_lossy()[root.as_os_str().len()..].to_string();
        (found, meta.is_some(), path_info)
    }

    #[test]
    fn the_walk_stops_at_the_first_missing_name_or_the_first_file() {
        let root = std::env::temp_dir().join(format!("rhttpd-walk-{}", std::process::id()));
        fs::create_dir_all(root.join("dir")).unwrap();
        fs::write(root.join("dir/file"), "x").unwrap();
        let case = |rest: &str, found: &str, exists: bool, info: &str| {
            assert_eq!(
                walk(&root, rest),
                (found.to_string(), exists, info.to_string()),
                "{rest}"
            );
        };
        case("/dir/file", "/dir/file", true, "");
        case("/dir/", "/dir/", true, "");
        case("/dir/file/more/", "/dir/file", true, "/more/");
        case("/blog/", "/blog", false, "/");
        case("/blog/hello-world/", "/blog", false, "/hello-world/");
        case("/dir/missing/", "/dir/missing", false, "/");
        case("/dir/missing/deeper", "/dir/missing", false, "/deeper");
        case("/dir/missing", "/dir/missing", false, "");
        fs::remove_dir_all(&root).unwrap();
    }
}
