//! mod_speling, whole: CheckSpelling, CheckCaseOnly and CheckBasenameMatch (table, setters,
//! per-directory configuration that a section replaces whole, as Apache's unmerged one) and
//! its fixup: a GET for a file that is not there, whose last path segment is near the name of
//! a file in that directory (case, one typing error, or the same base name), is redirected to
//! it (301) when one name is best, or answered with a 300 page listing the candidates.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_OPTIONS;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::escape::{escape_html, escape_path};

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::{absolute_url, Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "speling_module",
    source: "mod_speling.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "CheckSpelling",
        Flag(check_spelling),
        OR_OPTIONS,
        "whether or not to fix miscapitalized/misspelled requests",
    )
    .implemented(),
    DirectiveDef::new(
        "CheckCaseOnly",
        Flag(check_case_only),
        OR_OPTIONS,
        "whether or not to fix only miscapitalized requests",
    )
    .implemented(),
    DirectiveDef::new(
        "CheckBasenameMatch",
        Flag(check_basename_match),
        OR_OPTIONS,
        "whether or not to fix files with the same base name",
    )
    .implemented(),
];

/// mod_speling's per-directory configuration. Apache gives the module no merge: the deepest
/// section (or `.htaccess`) with any of its directives has the whole say, what it does not
/// set back at the defaults (`CheckCaseOnly On` alone leaves spelling unchecked there).
#[derive(Debug, Clone)]
pub struct Dir {
    /// Whether a directive of this module wrote this configuration.
    pub written: bool,
    pub enabled: bool,
    pub case_only: bool,
    pub basename_match: bool,
}

impl Default for Dir {
    fn default() -> Dir {
        Dir {
            written: false,
            enabled: false,
            case_only: false,
            basename_match: true,
        }
    }
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if child.written {
            child.clone()
        } else {
            self.clone()
        }
    }
}

fn check_spelling(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.written = true;
    dir.enabled = on;
    Ok(())
}

fn check_case_only(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.written = true;
    dir.case_only = on;
    Ok(())
}

fn check_basename_match(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.written = true;
    dir.basename_match = on;
    Ok(())
}

/// How near a name is to the one asked for, best first (Apache's `sp_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Quality {
    Miscapitalized = 1,
    Transposition,
    MissingChar,
    ExtraChar,
    SimpleTypo,
    /// Only the base name (up to the first dot) matches.
    VeryDifferent,
}

impl Quality {
    /// The words the 300 page gives for each.
    fn reason(self) -> &'static str {
        match self {
            Quality::Miscapitalized => "miscapitalized",
            Quality::Transposition => "transposed characters",
            Quality::MissingChar => "character missing",
            Quality::ExtraChar => "extra character",
            Quality::SimpleTypo => "mistyped character",
            Quality::VeryDifferent => "common basename",
        }
    }
}

fn same_ignoring_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The typing error that turns `asked` into `name`, if one (tcsh's `spdist`, through Apache:
/// case is ignored throughout).
fn spdist(asked: &[u8], name: &[u8]) -> Quality {
    let common = asked
        .iter()
        .zip(name)
        .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
        .count();
    if common == asked.len() && common == name.len() {
        return Quality::Miscapitalized;
    }
    let (s, t) = (&asked[common..], &name[common..]);
    if !s.is_empty() {
        if !t.is_empty() {
            if s.len() > 1
                && t.len() > 1
                && s[0].eq_ignore_ascii_case(&t[1])
                && t[0].eq_ignore_ascii_case(&s[1])
                && same_ignoring_case(&s[2..], &t[2..])
            {
                return Quality::Transposition;
            }
            if same_ignoring_case(&s[1..], &t[1..]) {
                return Quality::SimpleTypo;
            }
        }
        if same_ignoring_case(&s[1..], t) {
            return Quality::ExtraChar;
        }
    }
    if !t.is_empty() && same_ignoring_case(s, &t[1..]) {
        return Quality::MissingChar;
    }
    Quality::VeryDifferent
}

/// What reading the directory found.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// A name exactly as asked (a broken symlink, say): nothing to correct.
    Exact,
    Candidates(Vec<(Vec<u8>, Quality)>),
}

/// The names near `asked` among `names` (in directory order), best first, as mod_speling
/// keeps them: other case first, then (unless `case_only`) one typing error, else (with
/// `basename_match`) the same base name before the first dot.
fn candidates<I: IntoIterator<Item = Vec<u8>>>(
    asked: &[u8],
    names: I,
    case_only: bool,
    basename_match: bool,
) -> Found {
    let base_len = |name: &[u8]| name.iter().position(|&b| b == b'.').unwrap_or(name.len());
    let asked_base = base_len(asked);
    let mut found = Vec::new();
    for name in names {
        if name == asked {
            return Found::Exact;
        }
        let quality = if same_ignoring_case(asked, &name) {
            Some(Quality::Miscapitalized)
        } else if !case_only && spdist(asked, &name) != Quality::VeryDifferent {
            Some(spdist(asked, &name))
        } else if basename_match
            && base_len(&name) == asked_base
            && same_ignoring_case(&asked[..asked_base], &name[..asked_base])
        {
            Some(Quality::VeryDifferent)
        } else {
            None
        };
        if let Some(quality) = quality {
            found.push((name, quality));
        }
    }
    // Apache's qsort keeps names of one quality in directory order for lists this short.
    found.sort_by_key(|(_, quality)| *quality);
    Found::Candidates(found)
}

/// The names in a directory as `readdir` gives them, `.` and `..` first (APR lists them too,
/// and `.` is one typing error from any one-character name).
fn directory_names(dir: &std::path::Path) -> Option<Vec<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt;
    let entries = std::fs::read_dir(dir).ok()?;
    let mut names = vec![b".".to_vec(), b"..".to_vec()];
    names.extend(entries.flatten().map(|e| e.file_name().as_bytes().to_vec()));
    Some(names)
}

/// mod_speling's hook: a fixup, among the last.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.fixups.add("speling", Order::Last, fixup);
}

/// The VARIANTS variable a 300 answer of this module leaves in the request's environment.
#[derive(Debug, Default)]
struct Variants(Option<String>);

/// The request's environment with VARIANTS, once the module answered with a 300 (merged
/// into a value already there, as `apr_table_mergen` does).
pub fn environment(req: &Request, env: &mut Vec<(String, String)>) {
    let Some(Variants(Some(value))) = req.state.get::<Variants>() else {
        return;
    };
    match env
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("VARIANTS"))
    {
        Some((_, old)) => *old = format!("{old}, {value}"),
        None => env.push(("VARIANTS".into(), value.clone())),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The fixup. Only a GET (or HEAD) main request for a file that is not there is looked at;
/// the directory holding the last existing segment's missing child is read, and the URL is
/// corrected when the pieces of the URL and the filename agree.
fn fixup(req: &mut Request) -> Step<Fixup> {
    use std::os::unix::ffi::OsStrExt;
    let config = req.dir.module::<Dir>();
    if !config.enabled
        || !matches!(req.method.as_str(), "GET" | "HEAD")
        || req.finfo.is_some()
        || crate::modules::proxy::proxy_request(req).is_some()
        || req.subrequest
    {
        return Ok(Fixup::Continue);
    }
    let Some(filename) = req.filename.clone() else {
        return Ok(Fixup::Continue);
    };
    let filename = filename.as_os_str().as_bytes();
    let Some(slash) = filename.iter().rposition(|&b| b == b'/') else {
        return Ok(Fixup::Continue);
    };
    if req.uri == "/" {
        return Ok(Fixup::Continue);
    }
    let (good, bad) = (&filename[..slash], &filename[slash + 1..]);
    let postgood = [bad, req.path_info.as_bytes()].concat();
    let uri = req.received_uri(&req.uri).to_vec();
    let Some(url) = uri.strip_suffix(postgood.as_slice()) else {
        return Ok(Fixup::Continue);
    };
    let Some(names) = directory_names(std::path::Path::new(std::ffi::OsStr::from_bytes(good)))
    else {
        return Ok(Fixup::Continue);
    };
    let found = match candidates(bad, names, config.case_only, config.basename_match) {
        Found::Exact => return Ok(Fixup::Continue),
        Found::Candidates(found) if found.is_empty() => return Ok(Fixup::Continue),
        Found::Candidates(found) => found,
    };
    let referer = req.head.headers.get("Referer").map(str::to_string);
    let from = referer.as_deref().map(|r| format!(" from {r}"));
    let path_info = req.path_info.clone().into_bytes();
    let query = req
        .args
        .as_ref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let best = found[0].1;
    if best != Quality::VeryDifferent && (found.len() == 1 || found[1].1 != best) {
        let corrected = [url, found[0].0.as_slice(), &path_info].concat();
        let nuri = format!("{}{query}", escape_path(&corrected, true));
        let location = absolute_url(req, &nuri);
        req.headers_out.set("Location", location);
        let id = if referer.is_some() {
            "AH03224"
        } else {
            "AH03225"
        };
        let message = format!(
            "{id}: Fixed spelling: {} to {nuri}{}",
            req.uri,
            from.as_deref().unwrap_or("")
        );
        req.log_error("speling", "info", &message);
        return Err(301);
    }
    let mut page = format!(
        "The document name you requested (<code>{}</code>) could not be found on this \
         server.\nHowever, we found documents with names similar to the one you \
         requested.<p>Available documents:\n<ul>\n",
        text(&escape_html(&uri))
    );
    let mut variants: Vec<String> = Vec::new();
    for (at, (name, quality)) in found.iter().enumerate() {
        let vuri = [url, name.as_slice(), &path_info, query.as_bytes()].concat();
        let escaped = escape_path(&vuri, true);
        let reason = quality.reason();
        variants.extend([
            "\"".into(),
            escaped.clone(),
            "\";\"".into(),
            reason.into(),
            "\"".into(),
        ]);
        page.push_str(&format!(
            "<li><a href=\"{escaped}\">{}</a> ({reason})\n",
            text(&escape_html(&vuri))
        ));
        // Close matches, then the ones only the base name found: a word of warning between.
        let next_far = found
            .get(at + 1)
            .is_some_and(|(_, q)| *q == Quality::VeryDifferent);
        if at > 0 && *quality != Quality::VeryDifferent && next_far {
            page.push_str(
                "</ul>\nFurthermore, the following related documents were found:\n<ul>\n",
            );
        }
    }
    page.push_str("</ul>\n");
    if let Some(referer) = &referer {
        page.push_str(&format!(
            "Please consider informing the owner of the referring page <tt>{}</tt> about \
             the broken link.\n",
            text(&escape_html(referer.as_bytes()))
        ));
    }
    req.error_notes = Some(page);
    req.state.get_mut::<Variants>().0 = Some(variants.join(","));
    let id = if referer.is_some() {
        "AH03226"
    } else {
        "AH03227"
    };
    let message = format!(
        "{id}: Spelling fix: {}: {} candidates{}",
        req.uri,
        found.len(),
        from.as_deref().unwrap_or("")
    );
    req.log_error("speling", "info", &message);
    Err(300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdist_names_each_single_typing_error() {
        assert_eq!(
            spdist(b"Index.html", b"index.HTML"),
            Quality::Miscapitalized
        );
        assert_eq!(spdist(b"inedx.html", b"index.html"), Quality::Transposition);
        assert_eq!(spdist(b"indx.html", b"index.html"), Quality::MissingChar);
        assert_eq!(spdist(b"inddex.html", b"index.html"), Quality::ExtraChar);
        assert_eq!(spdist(b"indez.html", b"index.html"), Quality::SimpleTypo);
        assert_eq!(spdist(b"abc", b"xyz"), Quality::VeryDifferent);
        // One character against `.`: a mistyped character.
        assert_eq!(spdist(b"x", b"."), Quality::SimpleTypo);
        assert_eq!(spdist(b"x", b".."), Quality::VeryDifferent);
        assert_eq!(spdist(b"ab", b"abc"), Quality::MissingChar);
        assert_eq!(spdist(b"abc", b"ab"), Quality::ExtraChar);
    }

    fn names(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn candidates_are_ordered_by_quality_and_filtered_by_the_settings() {
        let dir = names(&["readme.txt", "README.md", "raedme.txt", "readme"]);
        let Found::Candidates(found) = candidates(b"README.TXT", dir.clone(), false, true) else {
            panic!("no exact name")
        };
        let got: Vec<_> = found.iter().map(|(n, q)| (text(n), *q)).collect();
        assert_eq!(
            got,
            [
                ("readme.txt".to_string(), Quality::Miscapitalized),
                ("raedme.txt".to_string(), Quality::Transposition),
                ("README.md".to_string(), Quality::VeryDifferent),
                ("readme".to_string(), Quality::VeryDifferent),
            ]
        );
        let Found::Candidates(found) = candidates(b"README.TXT", dir.clone(), true, false) else {
            panic!("no exact name")
        };
        assert_eq!(found.len(), 1);
        assert_eq!(candidates(b"readme", dir, false, true), Found::Exact);
    }

    #[test]
    fn a_section_with_any_directive_replaces_the_whole_configuration() {
        let parent = Dir {
            written: true,
            enabled: true,
            case_only: false,
            basename_match: false,
        };
        let child = Dir {
            written: true,
            case_only: true,
            ..Dir::default()
        };
        let merged = parent.merge(&child);
        assert!(!merged.enabled && merged.case_only && merged.basename_match);
        assert!(parent.merge(&Dir::default()).enabled);
    }

    #[test]
    fn setters_write_the_configuration() {
        let dir = crate::modules::test_section(
            "<Directory /x>\nCheckSpelling on\nCheckBasenameMatch off\n</Directory>\n",
        );
        let speling = dir.module::<Dir>();
        assert!(speling.written && speling.enabled && !speling.basename_match);
    }
}
