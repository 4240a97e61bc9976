//! HTTP's byte-range filter (AP_FTYPE_PROTOCOL, after DEFLATE): a 200 whose whole length is
//! known is cut into the ranges a Range header asks for, If-Range checked against the
//! validators the response carries, within MaxRanges, MaxRangeOverlaps and
//! MaxRangeReversals. One range of a file stays a file (sendfile still applies); several
//! become a multipart/byteranges body.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Body, Request, Response, Step};
use crate::filters::{FilterType, OutputFilter};
use crate::http1::date;

/// The filter, inserted on every request's chain.
pub static BYTERANGE: OutputFilter = OutputFilter {
    name: "BYTERANGE",
    ftype: FilterType::Protocol,
    run: byterange_output,
};

fn byterange_output(req: &mut Request, mut response: Response) -> Step<Response> {
    let multipart = response
        .content_type
        .as_deref()
        .is_some_and(|t| t.len() >= 20 && t[..20].eq_ignore_ascii_case("multipart/byteranges"));
    // A body passed on before its end (no length known up front) went by unranged.
    if response.status != 200
        || !response.length_known
        || multipart
        || response.after_length.get("Content-Range").is_some()
    {
        return Ok(response);
    }
    let size = match &response.body {
        Body::Bytes(body) => body.len() as u64,
        Body::File { len, .. } => *len,
        _ => return Ok(response),
    };
    // Most requests ask for no range: the validators are read only for those that do.
    if req.head.headers.get("Range").is_none() {
        return Ok(response);
    }
    let tag = response.headers.get("ETag").map(str::to_string);
    let last_modified = response.headers.get("Last-Modified").and_then(date::parse);
    let ranges = match range_request(req, tag.as_deref(), last_modified, size) {
        RangeOutcome::Whole => return Ok(response),
        RangeOutcome::Unsatisfiable => {
            req.filter_error = true;
            return Err(416);
        }
        RangeOutcome::One(start, end) => {
            response
                .after_length
                .set("Content-Range", format!("bytes {start}-{end}/{size}"));
            response.body = match std::mem::take(&mut response.body) {
                Body::Bytes(body) => Body::Bytes(body[start as usize..=end as usize].to_vec()),
                Body::File {
                    file,
                    offset,
                    sendfile,
                    ..
                } => Body::File {
                    file,
                    offset: offset + start,
                    len: end - start + 1,
                    sendfile,
                },
                other => other,
            };
            response.status = 206;
            return Ok(response);
        }
        RangeOutcome::Many(ranges) => ranges,
    };
    let content = match std::mem::take(&mut response.body) {
        Body::Bytes(body) => body,
        Body::File { file, offset, .. } => read_file(&file, offset, size).map_err(|_| 403u16)?,
        _ => unreachable!("only bytes and files are ranged"),
    };
    let (content_type, body) =
        multipart_body(req, response.content_type.as_deref(), &content, &ranges);
    response.status = 206;
    response.content_type = Some(content_type);
    response.body = Body::Bytes(body);
    Ok(response)
}

/// `len` bytes of a file from `offset`, for a multipart answer.
fn read_file(file: &fs::File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    super::open_files::read_range(file, offset, len)
}

/// A multipart/byteranges body: its content type (with the boundary) and bytes.
fn multipart_body(
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
