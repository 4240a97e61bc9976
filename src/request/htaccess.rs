//! `.htaccess` files: read (with the same read phase as the main config), applied with the
//! directive classes AllowOverride permits, compiled, and cached by path and stamp (times, size, inode)
//! so a busy directory is not parsed on every request.

use super::merged::FileStamp;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhttpd_directives::apply::apply_htaccess;
use rhttpd_parser::{Builder, MAX_LINE_HTACCESS};

use crate::config::read::Reader;
use crate::modules::DirRuntime;
use crate::runtime::{CompiledSection, Runtime};

/// One parsed `.htaccess`: its settings and the `<Files>` sections it declares.
#[derive(Debug)]
pub struct Htaccess {
    pub dir: DirRuntime,
    pub files: Vec<CompiledSection>,
    /// What reading it warned of (DefaultType's AH00117, say): Apache reads the file for
    /// every request and says it again each time.
    pub warnings: Vec<rhttpd_directives::model::Warning>,
}

/// A cached parse: the file's stamp when read, and the result.
type Entry = (Option<FileStamp>, Option<Arc<Htaccess>>);

/// A file as parsed under one AllowOverride and AllowOverrideList.
type Key = (PathBuf, u32, Vec<String>);

/// Parsed files by path (and the AllowOverride they were applied under), valid while the file's
/// stamp is unchanged.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Mutex<HashMap<Key, Entry>>,
}

/// Why a request's `.htaccess` could not be used: the status Apache answers with, and what it
/// logs (at `level`, after the system error when there is one).
#[derive(Debug)]
pub struct HtaccessError {
    pub status: u16,
    pub level: &'static str,
    pub cause: Option<std::io::Error>,
    pub text: String,
    /// What the lines before the bad one warned of, said first.
    pub warnings: Vec<rhttpd_directives::model::Warning>,
}

impl HtaccessError {
    /// A file that is there but cannot be read: 403, to be safe.
    fn unreadable(path: &Path, dir: &Path, cause: std::io::Error) -> HtaccessError {
        HtaccessError {
            status: 403,
            level: "crit",
            cause: Some(cause),
            text: format!(
                "AH00529: {} pcfg_openfile: unable to check htaccess file, ensure it is \
                 readable and that '{}/' is executable",
                path.display(),
                dir.to_string_lossy().into_owned().trim_end_matches('/')
            ),
            warnings: Vec::new(),
        }
    }
}

/// Whether a failure to open a `.htaccess` means there is none.
fn absent(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ENOTDIR)
}

impl Cache {
    /// The `.htaccess` for `dir` (the first AccessFileName that exists), parsed under
    /// `allow_override` and AllowOverrideList's `override_list`.
    /// What it looked at goes into `consulted` (see [`super::merged::Consulted`]).
    pub fn load(
        &self,
        rt: &Runtime,
        dir: &Path,
        names: &[String],
        allow_override: u32,
        override_list: &[String],
        consulted: &mut super::merged::Consulted,
    ) -> Result<Option<Arc<Htaccess>>, HtaccessError> {
        for name in names {
            // Joined as text, as Apache joins it (a name with a slash stays below `dir`).
            let path = PathBuf::from(format!(
                "{}/{name}",
                dir.to_string_lossy().into_owned().trim_end_matches('/')
            ));
            let stamp = match std::fs::metadata(&path) {
                Ok(meta) => Some(FileStamp::of(&meta)),
                Err(e) if absent(&e) => {
                    consulted.push((path, None));
                    continue;
                }
                Err(e) => return Err(HtaccessError::unreadable(&path, dir, e)),
            };
            consulted.push((path.clone(), stamp));
            let key = (path.clone(), allow_override, override_list.to_vec());
            if let Ok(entries) = self.entries.lock() {
                if let Some((seen, parsed)) = entries.get(&key) {
                    if *seen == stamp {
                        return Ok(parsed.clone());
                    }
                }
            }
            let parsed = parse(rt, &path, dir, allow_override, override_list)?.map(Arc::new);
            if let Ok(mut entries) = self.entries.lock() {
                entries.insert(key, (stamp, parsed.clone()));
            }
            return Ok(parsed);
        }
        Ok(None)
    }
}

fn parse(
    rt: &Runtime,
    path: &Path,
    dir: &Path,
    allow_override: u32,
    override_list: &[String],
) -> Result<Option<Htaccess>, HtaccessError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(HtaccessError::unreadable(path, dir, e)),
    };
    // A syntax error: 500, logged as Apache's parser reports it.
    let broken = |message: String| HtaccessError {
        status: 500,
        level: "alert",
        cause: None,
        text: format!("{}: {message}", path.display()),
        warnings: Vec::new(),
    };
    let source = rhttpd_directives::util::raw_text::decode(&bytes);
    let name: Arc<str> = Arc::from(path.to_string_lossy().into_owned().as_str());
    let mut state = rt.config.read.clone();
    let mut reader = Reader::for_htaccess(&mut state, allow_override);
    let mut builder = Builder::with_max_len(&source, name, MAX_LINE_HTACCESS);
    let nodes = builder.build(&mut reader).map_err(|e| broken(e.message))?;
    let dir_text = format!(
        "{}/",
        dir.to_string_lossy().into_owned().trim_end_matches('/')
    );
    let (conf, sections, warnings) = apply_htaccess(
        &rt.config.read,
        &nodes,
        &dir_text,
        allow_override,
        override_list,
    )
    .map_err(|(e, warnings)| HtaccessError {
        warnings,
        ..broken(e.message)
    })?;
    Ok(Some(Htaccess {
        dir: DirRuntime::compile(&conf),
        files: sections.iter().map(CompiledSection::compile).collect(),
        warnings,
    }))
}
