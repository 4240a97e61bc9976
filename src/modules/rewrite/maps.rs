//! RewriteMap: the map types mod_rewrite knows, checked as its setter checks them, and their
//! lookups: text files (`txt:`, `rnd:`) read once per modification and cached, the internal
//! functions (`int:`), and external programs (`prg:`) asked one key a line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::SystemTime;

/// One RewriteMap.
#[derive(Debug)]
pub(crate) struct Map {
    pub kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// `txt:` (or a bare path) and `rnd:`, a text file of `key value` lines; `dbm:`, a DBM
    /// file. Read whole once per modification.
    Text {
        path: PathBuf,
        format: FileFormat,
        cache: Mutex<Option<TextCache>>,
    },
    /// `int:`: one of the built-in functions.
    Internal(Internal),
    /// `prg:`: a program that answers each key written to it with one line.
    Program {
        argv: Vec<String>,
        running: Mutex<Option<Running>>,
    },
}

/// What a file map's file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Text,
    /// `rnd:`: a text map whose values are `|`-separated choices.
    Random,
    Dbm(crate::dbm::Format),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Internal {
    ToUpper,
    ToLower,
    Escape,
    Unescape,
}

#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Map {
    /// The map `source` names, refused with mod_rewrite's messages.
    pub fn configure(
        name: &str,
        source: &str,
        _owner: Option<&str>,
        read: &rhttpd_directives::model::ReadState,
    ) -> Result<Map, String> {
        let lower = source.to_ascii_lowercase();
        let file = |path: &str, format: FileFormat| -> Map {
            Map {
                kind: Kind::Text {
                    path: read.server_root_relative(path),
                    format,
                    cache: Mutex::new(None),
                },
            }
        };
        let map = if lower.starts_with("txt:") {
            file(&source[4..], FileFormat::Text)
        } else if lower.starts_with("rnd:") {
            file(&source[4..], FileFormat::Random)
        } else if lower.starts_with("dbm") {
            // `dbm:PATH` or `dbm=TYPE:PATH`.
            let (kind, path) = match source.as_bytes().get(3) {
                Some(b':') => ("default", &source[4..]),
                Some(b'=') => match source[4..].split_once(':') {
                    Some((kind, path)) => (kind, path),
                    None => return Err(format!("RewriteMap: bad map:{source}")),
                },
                _ => return Err(format!("RewriteMap: bad map:{source}")),
            };
            let format = crate::dbm::Format::named(kind).map_err(|known| match known {
                true => format!(
                    "RewriteMap: dbm type {kind} is not supported by rhttpd (it reads the \
                     default Berkeley DB format and sdbm)"
                ),
                false => format!("RewriteMap: dbm type {kind} is invalid"),
            })?;
            let path = read
                .server_root_relative(path)
                .to_string_lossy()
                .into_owned();
            let check = format.check_file(&path);
            if std::fs::metadata(&check).is_err() {
                return Err(format!("RewriteMap: file for map {name} not found:{check}"));
            }
            file(&format.data_file(&path), FileFormat::Dbm(format))
        } else if lower.starts_with("dbd:") || lower.starts_with("fastdbd:") {
            return Err("RewriteMap types dbd and fastdbd require mod_dbd!".into());
        } else if lower.starts_with("prg:") {
            let mut argv: Vec<String> =
                source[4..].split_whitespace().map(str::to_string).collect();
            let Some(program) = argv.first_mut() else {
                return Err(format!("RewriteMap: bad path to prg map: {}", &source[4..]));
            };
            *program = read
                .server_root_relative(program)
                .to_string_lossy()
                .into_owned();
            Map {
                kind: Kind::Program {
                    argv,
                    running: Mutex::new(None),
                },
            }
        } else if lower.starts_with("int:") {
            let function = match &source[4..] {
                "toupper" => Internal::ToUpper,
                "tolower" => Internal::ToLower,
                "escape" => Internal::Escape,
                "unescape" => Internal::Unescape,
                other => return Err(format!("RewriteMap: internal map not found:{other}")),
            };
            Map {
                kind: Kind::Internal(function),
            }
        } else {
            file(source, FileFormat::Text)
        };
        let checked = match &map.kind {
            Kind::Text { path, .. } => Some(path.to_string_lossy().into_owned()),
            Kind::Program { argv, .. } => Some(argv[0].clone()),
            Kind::Internal(_) => None,
        };
        if let Some(path) = checked {
            if std::fs::metadata(&path).is_err() {
                return Err(format!("RewriteMap: file for map {name} not found:{path}"));
            }
        }
        Ok(map)
    }

    /// The value for `key` (`None` for none), or why the map could not be read (a message for
    /// the error log); `trace` gets mod_rewrite's trace messages for the lookup, with their
    /// levels.
    pub fn lookup(
        &self,
        name: &str,
        key: &str,
        trace: &mut dyn FnMut(u8, String),
    ) -> Result<Option<String>, String> {
        let value = match &self.kind {
            Kind::Internal(function) => {
                let value = internal(*function, key);
                // The functions that work in place leave the key looking like the value.
                let shown = match function {
                    Internal::Escape => key,
                    _ => value.as_str(),
                };
                trace(
                    5,
                    format!("map lookup OK: map={name} key={shown} -> val={value}"),
                );
                Some(value)
            }
            Kind::Text {
                path,
                format,
                cache,
            } => {
                let (shown_type, access, open) = match format {
                    FileFormat::Dbm(_) => (
                        "dbm",
                        "AH00662: mod_rewrite: can't access DBM RewriteMap file",
                        "AH00656: mod_rewrite: can't open DBM RewriteMap",
                    ),
                    _ => (
                        "txt",
                        "AH00661: mod_rewrite: can't access text RewriteMap file",
                        "AH00655: mod_rewrite: can't open text RewriteMap file",
                    ),
                };
                let Ok(meta) = std::fs::metadata(path) else {
                    return Err(format!("{access} {}", path.display()));
                };
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let Ok(mut cache) = cache.lock() else {
                    return Ok(None);
                };
                if cache.as_ref().is_none_or(|c| c.mtime != mtime) {
                    let entries = std::fs::read(path).and_then(|bytes| match format {
                        FileFormat::Dbm(dbm) => dbm.pairs(&bytes).map(|pairs| {
                            pairs
                                .into_iter()
                                .map(|(k, v)| {
                                    (
                                        String::from_utf8_lossy(&k).into_owned(),
                                        String::from_utf8_lossy(&v).into_owned(),
                                    )
                                })
                                .collect()
                        }),
                        _ => Ok(parse_text_map(&bytes)),
                    });
                    match entries {
                        Ok(entries) => {
                            *cache = Some(TextCache {
                                mtime,
                                entries,
                                asked: Vec::new(),
                            })
                        }
                        Err(_) => return Err(format!("{open} {}", path.display())),
                    }
                }
                let Some(cache) = cache.as_mut() else {
                    return Ok(None);
                };
                let value = cache.entries.get(key).cloned();
                // Apache caches each key as it is first asked for, a missing one as empty.
                if cache.asked.iter().any(|k| k == key) {
                    let shown = value.as_deref().unwrap_or("");
                    trace(
                        5,
                        format!(
                            "cache lookup OK: map={name}[{shown_type}] key={key} -> val={shown}"
                        ),
                    );
                } else {
                    cache.asked.push(key.to_string());
                    trace(6, "cache lookup FAILED, forcing new map lookup".into());
                    match &value {
                        Some(v) => trace(
                            5,
                            format!("map lookup OK: map={name}[{shown_type}] key={key} -> val={v}"),
                        ),
                        None => trace(
                            5,
                            format!("map lookup FAILED: map={name}[{shown_type}] key={key}"),
                        ),
                    }
                }
                match value {
                    Some(value) if *format == FileFormat::Random => {
                        let part = random_part(&value).to_string();
                        trace(5, format!("randomly chosen the subvalue `{part}'"));
                        Some(part)
                    }
                    other => other,
                }
            }
            Kind::Program { argv, running } => {
                let answer = ask_program(argv, running, key)?;
                match &answer {
                    Some(v) => trace(5, format!("map lookup OK: map={name} key={key} -> val={v}")),
                    None => trace(5, format!("map lookup FAILED: map={name} key={key}")),
                }
                answer
            }
        };
        Ok(value.filter(|v| !v.is_empty()))
    }
}

/// A text map as last read: its entries, and the keys asked for since (Apache's per-key
/// cache, which its trace reports on).
#[derive(Debug)]
pub(crate) struct TextCache {
    mtime: SystemTime,
    entries: HashMap<String, String>,
    asked: Vec<String>,
}

/// Asks a `prg:` map's program, starting it (again) when it is not running.
fn ask_program(
    argv: &[String],
    running: &Mutex<Option<Running>>,
    key: &str,
) -> Result<Option<String>, String> {
    if key.contains('\n') {
        return Ok(None);
    }
    let Ok(mut running) = running.lock() else {
        return Ok(None);
    };
    for _ in 0..2 {
        if running.is_none() {
            let started = start_program(argv).map_err(|why| {
                format!(
                    "AH00654: mod_rewrite: could not start RewriteMap program {}: {why}",
                    argv[0]
                )
            })?;
            *running = Some(started);
        }
        let Some(program) = running.as_mut() else {
            break;
        };
        match ask(program, key) {
            Some(answer) if answer == "NULL" => return Ok(None),
            Some(answer) => return Ok(Some(answer)),
            None => *running = None,
        }
    }
    Ok(None)
}

/// `key value` lines; comments and lines starting with a space are skipped, a key without a
/// value is no entry, and the first line of a key is the one that counts.
fn parse_text_map(bytes: &[u8]) -> HashMap<String, String> {
    let mut entries = HashMap::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line
            .first()
            .is_none_or(|b| *b == b'#' || super::c_space(*b))
        {
            continue;
        }
        let mut words = line.split(|b| super::c_space(*b)).filter(|w| !w.is_empty());
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        entries
            .entry(String::from_utf8_lossy(key).into_owned())
            .or_insert_with(|| String::from_utf8_lossy(value).into_owned());
    }
    entries
}

/// One of the `|`-separated values of an `rnd:` entry, chosen at random.
fn random_part(value: &str) -> &str {
    let parts: Vec<&str> = value.split('|').collect();
    if parts.len() == 1 {
        return value;
    }
    let mut seed = [0u8; 4];
    let pick = match std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
    {
        Ok(()) => u32::from_ne_bytes(seed) as usize % parts.len(),
        Err(_) => 0,
    };
    parts[pick]
}

fn internal(function: Internal, key: &str) -> String {
    match function {
        Internal::ToUpper => key.to_ascii_uppercase(),
        Internal::ToLower => key.to_ascii_lowercase(),
        Internal::Escape => rhttpd_directives::util::escape::escape_uri(key),
        Internal::Unescape => {
            String::from_utf8_lossy(&unescape_lenient(key.as_bytes())).into_owned()
        }
    }
}

/// `ap_unescape_url` as mod_rewrite uses it: every `%XX` decoded, a `%` without two hex digits
/// left as it is.
pub(crate) fn unescape_lenient(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        if text[at] == b'%' && at + 2 < text.len() {
            if let (Some(high), Some(low)) = (hex(text[at + 1]), hex(text[at + 2])) {
                out.push(high << 4 | low);
                at += 3;
                continue;
            }
        }
        out.push(text[at]);
        at += 1;
    }
    out
}

fn start_program(argv: &[String]) -> std::io::Result<Running> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let input = child.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let output = BufReader::new(child.stdout.take().ok_or(std::io::ErrorKind::BrokenPipe)?);
    Ok(Running {
        child,
        input,
        output,
    })
}

/// Writes the key and reads the program's answer line; `None` when the program is gone.
fn ask(program: &mut Running, key: &str) -> Option<String> {
    program
        .input
        .write_all(format!("{key}\n").as_bytes())
        .ok()?;
    program.input.flush().ok()?;
    let mut answer = Vec::new();
    if program.output.read_until(b'\n', &mut answer).ok()? == 0 {
        return None;
    }
    if answer.last() == Some(&b'\n') {
        answer.pop();
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_maps_take_the_first_line_of_a_key() {
        let map = parse_text_map(b"# comment\n a b\nk1 v1 extra\nk1 v2\nk2\nk3\tv3\n");
        assert_eq!(map.get("k1").map(String::as_str), Some("v1"));
        assert_eq!(map.get("k2"), None);
        assert_eq!(map.get("k3").map(String::as_str), Some("v3"));
        assert_eq!(map.get("a"), None);
    }

    #[test]
    fn unescape_keeps_bad_escapes() {
        assert_eq!(unescape_lenient(b"a%20b%zz%4"), b"a b%zz%4");
    }
}
