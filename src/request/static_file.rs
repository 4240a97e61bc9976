//! The default handler: a file sent as is, with Apache's validators (ETag, Last-Modified),
//! conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
//! If-Range's part). The body is the open file; the output filters do the rest (byte ranges
//! in `byterange.rs`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Body, Request, Response, Step};
use crate::http1::date;
use crate::modules::mime::FileInfo;
use rhttpd_directives::core_config::FileEtag;

/// Which of (inode, mtime, size) a FileETag setting puts in the tag: absolute keywords
/// replace the default `MTime Size`, `+`/`-` forms adjust it.
/// The ETag Apache builds (`FileETag MTime Size` by default): inode, mtime in µs and size in
/// hex, weak when the file changed within the last second.
pub fn etag(meta: &fs::Metadata, now: SystemTime, file_etag: FileEtag) -> Option<String> {
    let mtime_us = meta.mtime() as u64 * 1_000_000 + meta.mtime_nsec() as u64 / 1000;
    let bits = file_etag.components()?;
    let [inode, mtime, size] =
        [FileEtag::INODE, FileEtag::MTIME, FileEtag::SIZE].map(|b| bits & b != 0);
    if !(inode || size || mtime) {
        return None;
    }
    let modified = UNIX_EPOCH + Duration::from_micros(mtime_us);
    let weak = now
        .duration_since(modified)
        .map(|d| d < Duration::from_secs(1))
        .unwrap_or(true);
    // Written into one string: this runs for every file served.
    let mut tag = String::with_capacity(48);
    tag.push_str(if weak { "W/\"" } else { "\"" });
    let mut first = true;
    for (on, value) in [(inode, meta.ino()), (size, meta.len()), (mtime, mtime_us)] {
        if on {
            if !first {
                tag.push('-');
            }
            crate::http1::number::push_hex(&mut tag, value);
            first = false;
        }
    }
    tag.push('"');
    Some(tag)
}

/// Serves `path` for GET and HEAD.
pub fn serve(
    req: &mut Request,
    path: &Path,
    meta: &fs::Metadata,
    info: &FileInfo,
) -> Step<Response> {
    let method = req.method.as_str();
    if !req.path_info.is_empty() && req.dir.core.accept_path_info.as_deref() != Some("on") {
        let text = format!(
            "AH00130: File does not exist: {}{}",
            path.display(),
            req.path_info
        );
        req.log_error("core", "info", &text);
        return Err(404);
    }
    let file = super::open_files::open(path, meta).map_err(|err| denied(req, path, &err))?;
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let last_modified = if mtime > req.now { req.now } else { mtime };
    // HTTP dates have whole seconds; validators compare at that precision.
    let last_modified = UNIX_EPOCH
        + Duration::from_secs(
            last_modified
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        );
    // A filter that rewrites the body asked for no tag (Apache's `no-etag` note).
    let mut tag = match req.notes.iter().any(|(name, _)| name == "no-etag") {
        true => None,
        false => etag(meta, req.now, req.dir.core.file_etag),
    };
    // A negotiated variant's tag carries the variant list's validator, in Apache's form
    // (which loses the closing quote).
    if let (Some(plain), Some((list_weak, list))) = (&tag, &req.vlist) {
        let weak = plain.starts_with("W/") || *list_weak;
        let inner = plain.trim_start_matches("W/").trim_matches('"');
        tag = Some(format!("{}\"{inner};{list}", if weak { "W/" } else { "" }));
    }

    let mut headers = req.headers_out.clone();
    headers.set("Last-Modified", date::format(last_modified));
    if let Some(tag) = &tag {
        headers.set("ETag", tag.clone());
    }
    let ranges_refused = req.dir.core.range_limits()[0] == Some(0);
    headers.set(
        "Accept-Ranges",
        if ranges_refused { "none" } else { "bytes" },
    );
    let content_type = content_type_of(req, info);
    let mut trailing = crate::http1::Headers::default();
    if let Some(encoding) = &info.encoding {
        trailing.set("Content-Encoding", encoding.clone());
    }
    if !info.languages.is_empty() {
        trailing.set("Content-Language", info.languages.join(", "));
    }
    let header_only = method == "HEAD";
    let mut base = Response {
        headers,
        content_type,
        trailing,
        header_only,
        server: req.server,
        ..Default::default()
    };

    // A failed precondition keeps the file's headers and sends no body (Apache does not build
    // an error page for it): 304 without length and type, 412 with an empty body.
    // ContentDigest: the whole file's MD5, on a part of it or a 304 too (as Apache sends it).
    if req.dir.core.content_digest == Some(true) {
        if let Ok(content) = fs::read(path) {
            use base64::Engine;
            use md5::Digest;
            let digest = md5::Md5::digest(&content);
            let value = base64::engine::general_purpose::STANDARD.encode(digest);
            base.late_headers.0.insert(0, ("Content-MD5".into(), value));
        }
    }
    let no_local_copy = req
        .state
        .get::<crate::request::NoLocalCopy>()
        .is_some_and(|n| n.0);
    let verdict = (!no_local_copy)
        .then(|| check_conditions(req, tag.as_deref(), last_modified))
        .flatten();
    if let Some(status) = verdict {
        return Ok(if status == 304 {
            Response {
                status,
                content_type: None,
                trailing: Default::default(),
                header_only: true,
                ..base
            }
        } else {
            Response {
                status,
                length_known: true,
                ..base
            }
        });
    }

    // EnableSendfile is Off unless configured, as in Apache (it misbehaves on some network
    // filesystems); the file is then copied through a buffer. The output filters (mod_filter's,
    // DEFLATE, byte ranges) take it from here.
    let sendfile = req.dir.core.enable_sendfile.unwrap_or(false);
    Ok(Response {
        status: 200,
        body: Body::File {
            file,
            offset: 0,
            len: size,
            sendfile,
        },
        length_known: true,
        ..base
    })
}

/// A file the server may not read: Apache's message, and 403.
fn denied(req: &Request, path: &Path, err: &std::io::Error) -> u16 {
    let text = format!(
        "AH00132: file permissions deny server access: {}",
        path.display()
    );
    req.log_os_error("core", "error", Some(err), &text);
    403
}

/// ForceType over mod_mime's type (AddDefaultCharset's charset joins it in the header
/// filter, after mod_headers has seen the bare type).
fn content_type_of(req: &Request, info: &FileInfo) -> Option<String> {
    if let Some(forced) = crate::modules::rewrite::forced_type(req) {
        return Some(forced.to_string());
    }
    req.dir
        .core
        .force_type
        .clone()
        .or_else(|| info.content_type.clone())
}

/// The type the default handler gives the request's file (Apache's `r->content_type`, which a
/// 304 keeps until the header filter sends it without one).
pub(crate) fn content_type(req: &Request) -> Option<String> {
    match &req.file_info {
        Some(info) => content_type_of(req, info),
        None => content_type_of(req, &FileInfo::default()),
    }
}

/// Strong comparison of an entity tag list against ours (`*` matches anything).
fn tag_list_matches(list: &str, ours: Option<&str>, weak_ok: bool) -> bool {
    let Some(ours) = ours else {
        return list.trim() == "*";
    };
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    list.split(',').any(|t| {
        let t = t.trim();
        if t == "*" {
            return true;
        }
        if weak_ok {
            strip(t) == strip(ours)
        } else {
            !t.starts_with("W/") && !ours.starts_with("W/") && t == ours
        }
    })
}

/// Apache's `ap_meets_conditions`, condition by condition in its order (If-Match,
/// If-Unmodified-Since, If-None-Match, If-Modified-Since, If-Range): 412 or 304 when they say
/// so. Times compare in whole seconds, as Apache's do.
pub(crate) fn check_conditions(
    req: &Request,
    tag: Option<&str>,
    last_modified: SystemTime,
) -> Option<u16> {
    let headers = &req.head.headers;
    let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let date_seconds = |h: &str| headers.get(h).and_then(date::parse).map_or(0, seconds);
    let (mtime, now) = (seconds(last_modified), seconds(req.now));
    let ranged = headers.get("Range").is_some();
    // HEAD is GET to Apache here.
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    // A file changed within the last minute only matches weakly, which a range cannot use.
    let weak_and_ranged = now < mtime + 60 && ranged;
    if let Some(list) = headers.get("If-Match") {
        if !list.starts_with('*') && !tag_list_matches(list, tag, false) {
            return Some(412);
        }
    }
    // Unset, or whether every validator asked said "not modified" so far.
    let mut not_modified: Option<bool> = None;
    if headers.get("If-Unmodified-Since").is_some() {
        let since = date_seconds("If-Unmodified-Since");
        if since != 0 && mtime > since && !weak_and_ranged {
            return Some(412);
        }
        not_modified = Some(false);
    }
    if let Some(list) = headers.get("If-None-Match") {
        let matched = list.starts_with('*')
            || if get {
                tag_list_matches(list, tag, !ranged)
            } else {
                tag_list_matches(list, tag, false)
            };
        if !matched {
            not_modified = Some(false);
        } else if !get {
            return Some(412);
        } else if not_modified.is_none() {
            not_modified = Some(true);
        }
    }
    if headers.get("If-Modified-Since").is_some() {
        let since = date_seconds("If-Modified-Since");
        // A date later than the request itself does not match.
        if since < mtime || since > now || weak_and_ranged {
            not_modified = Some(false);
        } else if get && not_modified.is_none() {
            not_modified = Some(true);
        }
    }
    // If-Range with a range: the byte-range filter decides, never a 304.
    if headers.get("If-Range").is_some() && ranged {
        return None;
    }
    (not_modified == Some(true)).then_some(304)
}
