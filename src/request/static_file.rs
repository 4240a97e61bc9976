//! The default handler: a file sent as is, with Apache's validators (ETag, Last-Modified),
//! conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
//! If-Range) and byte ranges (one range as 206, several as multipart/byteranges, 416).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::deflate::Pass;
use super::{Body, Request, Response, Step};
use crate::http1::date;
use crate::modules::deflate::Verdict;
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
    let mut parts: Vec<String> = Vec::new();
    if inode {
        parts.push(format!("{:x}", meta.ino()));
    }
    if size {
        parts.push(format!("{:x}", meta.len()));
    }
    if mtime {
        parts.push(format!("{mtime_us:x}"));
    }
    if parts.is_empty() {
        return None;
    }
    let modified = UNIX_EPOCH + Duration::from_micros(mtime_us);
    let weak = now
        .duration_since(modified)
        .map(|d| d < Duration::from_secs(1))
        .unwrap_or(true);
    Some(format!(
        "{}\"{}\"",
        if weak { "W/" } else { "" },
        parts.join("-")
    ))
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
    let file = fs::File::open(path).map_err(|err| denied(req, path, &err))?;
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
    let mut tag = etag(meta, req.now, req.dir.core.file_etag);
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
    let content_type = content_type(req, info);
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
    if let Some(status) = check_conditions(req, tag.as_deref(), last_modified) {
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

    // The filters see the whole file before the byte-range filter cuts it: first mod_filter's
    // harness (which may drop validators and hide Range), then DEFLATE. A precondition's empty
    // answer is below DEFLATE's threshold, so it never got here.
    req.output_filtered = true;
    super::deflate::smart_harness(req, &mut base, Pass::File(size));
    let tag = tag.filter(|_| base.headers.get("ETag").is_some());
    let deflating =
        super::deflate::in_chain(req, &info.output_filters, base.content_type.as_deref());
    let verdict = if deflating {
        super::deflate::verdict(
            req,
            200,
            base.content_type.as_deref(),
            info.encoding.as_deref(),
            size,
            &base.headers,
        )
    } else {
        Verdict::Pass
    };
    if verdict == Verdict::VaryOnly {
        // Added by the filter after the handler set Content-Length.
        crate::modules::deflate::note_vary(&mut base.late_headers);
    }
    // EnableSendfile is Off unless configured, as in Apache (it misbehaves on some network
    // filesystems); the file is then copied through a buffer.
    let sendfile = req.dir.core.enable_sendfile.unwrap_or(false);
    if verdict == Verdict::Compress {
        // DEFLATE changes the body the digest was of.
        base.late_headers.remove("Content-MD5");
    }
    if verdict == Verdict::Compress {
        let content = read_whole(req, file, path)?;
        if let Some(gzipped) = super::deflate::compress(req, &content, &mut base.headers) {
            if gzipped.streamed {
                // Sent in pieces before the end: no length, and too late for byte ranges.
                return Ok(Response {
                    status: 200,
                    body: Body::Pieces(gzipped.body, gzipped.pieces),
                    length_known: false,
                    ..base
                });
            }
            // DEFLATE dropped the handler's Content-Length; the length filter adds it back
            // after everything set on the way (mod_headers', the byte-range filter's).
            base.length_last = true;
            let tag = base.headers.get("ETag").map(str::to_string);
            return serve_bytes(req, base, gzipped.body, tag.as_deref(), Some(last_modified));
        }
        let tag = tag.clone();
        return serve_bytes(req, base, content, tag.as_deref(), Some(last_modified));
    }
    let ranges = range_request(req, tag.as_deref(), Some(last_modified), size);
    match ranges {
        RangeOutcome::Whole => Ok(Response {
            status: 200,
            body: Body::File {
                file,
                offset: 0,
                len: size,
                sendfile,
            },
            length_known: true,
            ..base
        }),
        RangeOutcome::Unsatisfiable => {
            req.filter_error = true;
            Err(416)
        }
        RangeOutcome::One(start, end) => {
            let mut after_length = crate::http1::Headers::default();
            after_length.set("Content-Range", format!("bytes {start}-{end}/{size}"));
            Ok(Response {
                status: 206,
                after_length,
                body: Body::File {
                    file,
                    offset: start,
                    len: end - start + 1,
                    sendfile,
                },
                length_known: true,
                ..base
            })
        }
        RangeOutcome::Many(ranges) => {
            let content = fs::read(path).map_err(|_| 403u16)?;
            let (content_type, body) =
                multipart(req, base.content_type.as_deref(), &content, &ranges);
            Ok(Response {
                status: 206,
                content_type: Some(content_type),
                body: Body::Bytes(body),
                length_known: true,
                ..base
            })
        }
    }
}

/// The whole file, for a filter that needs all of it.
fn read_whole(req: &Request, mut file: fs::File, path: &Path) -> Step<Vec<u8>> {
    use std::io::Read;
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .map_err(|err| denied(req, path, &err))?;
    Ok(content)
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

/// The byte-range filter over a handler's in-memory answer (a listing, server-status, a type
/// map's body), after DEFLATE: a 200 is cut into the ranges asked for, with If-Range checked
/// against the validators the handler sent.
pub(super) fn generated_ranges(req: &mut Request, mut response: Response) -> Step<Response> {
    let multipart = response
        .content_type
        .as_deref()
        .is_some_and(|t| t.len() >= 20 && t[..20].eq_ignore_ascii_case("multipart/byteranges"));
    // A body sent in pieces (no length known up front) passed the filter before its end.
    if response.status != 200
        || !response.length_known
        || multipart
        || response.after_length.get("Content-Range").is_some()
    {
        return Ok(response);
    }
    let Body::Bytes(body) = &mut response.body else {
        return Ok(response);
    };
    let body = std::mem::take(body);
    let tag = response.headers.get("ETag").map(str::to_string);
    let last_modified = response.headers.get("Last-Modified").and_then(date::parse);
    serve_bytes(req, response, body, tag.as_deref(), last_modified)
}

/// A filtered body with byte ranges cut from it (the byte-range filter runs after DEFLATE).
fn serve_bytes(
    req: &mut Request,
    base: Response,
    body: Vec<u8>,
    tag: Option<&str>,
    last_modified: Option<SystemTime>,
) -> Step<Response> {
    let size = body.len() as u64;
    Ok(match range_request(req, tag, last_modified, size) {
        RangeOutcome::One(start, end) => {
            // The byte-range filter runs after mod_headers' additions.
            let mut after_length = base.after_length;
            after_length.set("Content-Range", format!("bytes {start}-{end}/{size}"));
            Response {
                status: 206,
                after_length,
                body: Body::Bytes(body[start as usize..=end as usize].to_vec()),
                length_known: true,
                ..base
            }
        }
        RangeOutcome::Many(ranges) => {
            let (content_type, body) = multipart(req, base.content_type.as_deref(), &body, &ranges);
            Response {
                status: 206,
                content_type: Some(content_type),
                body: Body::Bytes(body),
                length_known: true,
                ..base
            }
        }
        RangeOutcome::Unsatisfiable => {
            req.filter_error = true;
            return Err(416);
        }
        RangeOutcome::Whole => Response {
            status: 200,
            body: Body::Bytes(body),
            length_known: true,
            ..base
        },
    })
}

/// A multipart/byteranges body: its content type (with the boundary) and bytes.
fn multipart(
    req: &Request,
    part_type: Option<&str>,
    content: &[u8],
    ranges: &[(u64, u64)],
) -> (String, Vec<u8>) {
    let size = content.len();
    let boundary = format!(
        "{:x}",
        req.now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let mut body = Vec::new();
    for (start, end) in ranges {
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        // The part headers are spelled as Apache's byte-range filter spells them.
        if let Some(ct) = part_type {
            body.extend_from_slice(format!("Content-type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(
            format!("Content-range: bytes {start}-{end}/{size}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&content[*start as usize..=*end as usize]);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/byteranges; boundary={boundary}"), body)
}

/// ForceType over mod_mime's type, then AddDefaultCharset.
fn content_type(req: &Request, info: &FileInfo) -> Option<String> {
    let content_type = req
        .dir
        .core
        .force_type
        .clone()
        .or_else(|| info.content_type.clone())?;
    Some(super::make_content_type(req, content_type))
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
fn check_conditions(req: &Request, tag: Option<&str>, last_modified: SystemTime) -> Option<u16> {
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

enum RangeOutcome {
    Whole,
    Unsatisfiable,
    One(u64, u64),
    Many(Vec<(u64, u64)>),
}

/// Parses `Range: bytes=...` against the file size, honouring If-Range.
fn range_request(
    req: &Request,
    tag: Option<&str>,
    last_modified: Option<SystemTime>,
    size: u64,
) -> RangeOutcome {
    // Repeated Range fields are one field, merged with ", " as Apache merges them (so two
    // full specifications make one that is not valid, and the whole file is sent).
    let Some(range) = req
        .head
        .headers
        .get_joined("Range")
        .filter(|_| !req.range_hidden)
    else {
        return RangeOutcome::Whole;
    };
    let range = range.as_str();
    if req.method != "GET" && req.method != "HEAD" {
        return RangeOutcome::Whole;
    }
    if let Some(if_range) = req.head.headers.get("If-Range") {
        let still_valid =
            if if_range.trim_start().starts_with('"') || if_range.trim_start().starts_with("W/") {
                tag.is_some_and(|t| !t.starts_with("W/") && t == if_range.trim())
            } else {
                date::parse(if_range).is_some_and(|d| Some(d) == last_modified)
            };
        if !still_valid {
            return RangeOutcome::Whole;
        }
    }
    let Some(spec) = range
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| &range[6..])
    else {
        return RangeOutcome::Whole;
    };
    // An empty body is never cut into ranges.
    if size == 0 {
        return RangeOutcome::Whole;
    }
    let Some(merged) = merge_ranges(spec, size) else {
        return RangeOutcome::Whole;
    };
    let [max_ranges, max_overlaps, max_reversals] = req.dir.core.range_limits();
    let over = |limit: Option<u64>, n: usize| limit.is_some_and(|l| n as u64 > l);
    if merged.ranges.is_empty() {
        return if merged.unsatisfiable {
            RangeOutcome::Unsatisfiable
        } else {
            RangeOutcome::Whole
        };
    }
    if over(max_ranges, merged.ranges.len())
        || over(max_overlaps, merged.overlaps)
        || over(max_reversals, merged.reversals)
    {
        return RangeOutcome::Whole;
    }
    match merged.ranges.as_slice() {
        [(start, end)] => RangeOutcome::One(*start, *end),
        _ => RangeOutcome::Many(merged.ranges),
    }
}

/// A Range header's byte ranges after Apache's coalescing of neighbours.
#[derive(Debug, Default, PartialEq)]
struct MergedRanges {
    ranges: Vec<(u64, u64)>,
    /// Specs that overlapped or touched the range being built.
    overlaps: usize,
    /// Specs that extended the range being built backwards.
    reversals: usize,
    /// Some spec started past the end of the file.
    unsatisfiable: bool,
}

/// Parses the specs after `bytes=` as Apache does: any malformed spec, `-0`, or ranges adding up
/// to more than the file voids the header (`None`); `0-` alone stands for the whole file as one
/// range; each spec that overlaps or touches the previous one is folded into it.
fn merge_ranges(spec: &str, size: u64) -> Option<MergedRanges> {
    let mut out = MergedRanges::default();
    let mut current: Option<(u64, u64)> = None;
    let last = size.checked_sub(1);
    for part in spec.split(',') {
        if part.is_empty() {
            break;
        }
        let (first, second) = part.split_once('-')?;
        let number = |text: &str| -> Option<u64> {
            // Digits only: Apache refuses blanks and signs around a number.
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        };
        let (start, end) = if first.is_empty() {
            let suffix = number(second).filter(|&n| n >= 1)?;
            (size.saturating_sub(suffix), last.unwrap_or(0))
        } else {
            let start = number(first)?;
            if second.is_empty() {
                if start == 0 {
                    // "0-" is the whole file: every other spec is dropped.
                    out.ranges.clear();
                    current = last.map(|last| (0, last));
                    out.unsatisfiable = current.is_none();
                    break;
                }
                (start, last.unwrap_or(0))
            } else {
                let end = number(second)?;
                if start > end {
                    return None;
                }
                (start, end)
            }
        };
        let Some(last) = last.filter(|&last| start <= last) else {
            out.unsatisfiable = true;
            continue;
        };
        let end = end.min(last);
        let Some((open_start, open_end)) = current else {
            current = Some((start, end));
            continue;
        };
        let (mut new_start, mut new_end) = (open_start, open_end);
        let mut joined = start >= open_start && end <= open_end;
        if start < open_start && end.saturating_add(1) >= open_start {
            new_start = start;
            out.reversals += 1;
            joined = true;
        }
        if end >= open_end && start <= open_end.saturating_add(1) {
            new_end = end;
            joined = true;
        }
        if joined {
            out.overlaps += 1;
            current = Some((new_start, new_end));
        } else {
            out.ranges.push((open_start, open_end));
            current = Some((start, end));
        }
    }
    out.ranges.extend(current);
    let total: u64 = out.ranges.iter().map(|(s, e)| e - s + 1).sum();
    if total > size {
        return None;
    }
    Some(out)
}
