//! mod_deflate, whole: its directives (table, setters, typed per-server and per-directory
//! configurations) and its DEFLATE filters. Output: when a response may be gzipped (the
//! filter is set for it, the client accepts gzip, nothing else encoded it, it is big enough to
//! gain), compresses it with zlib as Apache does and fixes the headers (Content-Encoding,
//! Vary, ETag suffix). Input: inflates a gzip request body as it is read, within the
//! DeflateInflate* limits.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{atoi, atoi_int, strtoll};

pub static MODULE: ModuleDef = ModuleDef {
    id: "deflate_module",
    source: "mod_deflate.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("DeflateFilterNote", Take12(filter_note), RSRC_CONF, "Set a note to report on compression ratio").implemented(),
    DirectiveDef::new("DeflateWindowSize", Take1(window_size), RSRC_CONF, "Set the Deflate window size (1-15)").implemented(),
    DirectiveDef::new("DeflateBufferSize", Take1(buffer_size), RSRC_CONF, "Set the Deflate Buffer Size").implemented(),
    DirectiveDef::new("DeflateMemLevel", Take1(mem_level), RSRC_CONF, "Set the Deflate Memory Level (1-9)").implemented(),
    DirectiveDef::new("DeflateCompressionLevel", Take1(compression_level), RSRC_CONF, "Set the Deflate Compression Level (1-9)").implemented(),
    DirectiveDef::new("DeflateInflateLimitRequestBody", Take1(inflate_limit), OR_ALL, "Set a limit on size of inflated input").implemented(),
    DirectiveDef::new("DeflateInflateRatioLimit", Take1(ratio_limit), OR_ALL, "Set the inflate ratio limit above which inflation is aborted (default: 200)").implemented(),
    DirectiveDef::new("DeflateInflateRatioBurst", Take1(ratio_burst), OR_ALL, "Set the maximum number of following inflate ratios above limit (default: 3)").implemented(),
    DirectiveDef::new("DeflateAlterEtag", Take1(alter_etag), RSRC_CONF, "Set how mod_deflate should modify ETAG response headers: 'AddSuffix' (default), 'NoChange' (2.2.x behavior), 'Remove'").implemented(),
];

/// An `atoi` value within `range`, or `message`.
fn int_in(arg: &str, range: std::ops::RangeInclusive<i32>, message: &str) -> Result<i32, String> {
    let value = atoi_int(arg);
    if !range.contains(&value) {
        return Err(message.into());
    }
    Ok(value)
}

fn window_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    let bits = int_in(arg, 1..=15, "DeflateWindowSize must be between 1 and 15")?;
    cmd.server_config::<ServerConf>().window_bits = Some(bits);
    Ok(())
}

fn buffer_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    let size = int_in(arg, 1..=i32::MAX, "DeflateBufferSize should be positive")?;
    cmd.server_config::<ServerConf>().buffer_size = Some(size);
    Ok(())
}

fn mem_level(cmd: &mut Cmd, arg: &str) -> SetResult {
    let level = int_in(arg, 1..=9, "DeflateMemLevel must be between 1 and 9")?;
    cmd.server_config::<ServerConf>().mem_level = Some(level);
    Ok(())
}

fn compression_level(cmd: &mut Cmd, arg: &str) -> SetResult {
    let level = int_in(arg, 1..=9, "Compression Level must be between 1 and 9")?;
    cmd.server_config::<ServerConf>().level = Some(level);
    Ok(())
}

/// DeflateInflateRatioLimit and DeflateInflateRatioBurst: positive as an `int`, kept as
/// the wider `atoi` value the filter compares with.
fn positive(cmd: &mut Cmd, arg: &str) -> Result<i64, String> {
    let message = format!("{} must be positive", cmd.name());
    int_in(arg, 1..=i32::MAX, &message)?;
    Ok(atoi(arg))
}

fn ratio_limit(cmd: &mut Cmd, arg: &str) -> SetResult {
    let limit = positive(cmd, arg)?;
    cmd.dir_config::<Dir>().ratio_limit = Some(limit);
    Ok(())
}

fn ratio_burst(cmd: &mut Cmd, arg: &str) -> SetResult {
    let burst = positive(cmd, arg)?;
    cmd.dir_config::<Dir>().ratio_burst = Some(burst);
    Ok(())
}

/// DeflateFilterNote `[type] name`: a lone name is the ratio note.
fn filter_note(cmd: &mut Cmd, kind: &str, name: Option<&str>) -> SetResult {
    let note = match name {
        None => ("ratio".to_string(), kind.to_string()),
        Some(name) => {
            if !["ratio", "input", "output"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(kind))
            {
                return Err(format!("Unknown note type {kind}"));
            }
            (kind.to_ascii_lowercase(), name.to_string())
        }
    };
    cmd.server_config::<ServerConf>().notes.push(note);
    Ok(())
}

/// `apr_strtoff`: the whole word a non-negative decimal number.
fn inflate_limit(cmd: &mut Cmd, arg: &str) -> SetResult {
    match strtoll(arg) {
        None => Err("DeflateInflateLimitRequestBody is not parsable.".into()),
        Some((n, rest)) if !rest.is_empty() || n < 0 => {
            Err("DeflateInflateLimitRequestBody requires a non-negative integer.".into())
        }
        Some(_) => {
            cmd.dir_config::<Dir>().inflate_limit = Some(atoi(arg).max(0) as u64);
            Ok(())
        }
    }
}

/// DeflateAlterETag, kept lower-cased: "addsuffix", "nochange" or "remove".
fn alter_etag(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !["NoChange", "AddSuffix", "Remove"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg))
    {
        return Err("DeflateAlterETAG accepts only 'NoChange', 'AddSuffix', and 'Remove'".into());
    }
    cmd.server_config::<ServerConf>().alter_etag = Some(arg.to_ascii_lowercase());
    Ok(())
}

use crate::http1::Headers;

/// Per-server settings (every Deflate* directive here is server-wide in Apache).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub level: Option<i32>,
    pub window_bits: Option<i32>,
    pub mem_level: Option<i32>,
    pub buffer_size: Option<i32>,
    /// DeflateAlterETag: "addsuffix" (default), "nochange", "remove".
    pub alter_etag: Option<String>,
    /// DeflateFilterNote names: (kind, note name); kind is "ratio", "input" or "output".
    pub notes: Vec<(String, String)>,
}

/// gzip's fixed header as mod_deflate writes it: no name, no time, Unix.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// Bodies this short are not worth compressing: the gzip header and trailer plus the headers
/// compression adds would outweigh any gain.
const TOO_SMALL: u64 = 10 + 8 + 50;

impl DirConfig for ServerConf {
    /// A virtual host's settings over the main server's; the notes of both, the main
    /// server's first.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        let mut notes = self.notes.clone();
        notes.extend(vhost.notes.iter().cloned());
        ServerConf {
            level: vhost.level.or(self.level),
            window_bits: vhost.window_bits.or(self.window_bits),
            mem_level: vhost.mem_level.or(self.mem_level),
            buffer_size: vhost.buffer_size.or(self.buffer_size),
            alter_etag: vhost.alter_etag.clone().or_else(|| self.alter_etag.clone()),
            notes,
        }
    }
}

/// What the response looks like when the filter sees it.
pub struct Candidate<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    /// The body length when it is known.
    pub length: u64,
    /// mod_mime's encoding for the file (`r->content_encoding`).
    pub mime_encoding: Option<&'a str>,
    pub env: &'a [(String, String)],
    pub accept_encoding: Option<&'a str>,
}

/// The filter's verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave the response alone.
    Pass,
    /// Leave the body alone but tell caches the answer depends on Accept-Encoding.
    VaryOnly,
    /// Compress (for a 304, change only the headers).
    Compress,
}

/// mod_deflate's checks, in its order.
pub fn verdict(c: &Candidate, headers: &Headers) -> Verdict {
    let env = |name: &str| super::env::get(c.env, name);
    if c.length <= TOO_SMALL || c.status == 204 || env("no-gzip").is_some() {
        return Verdict::Pass;
    }
    if headers.get("Content-Range").is_some() {
        return Verdict::Pass;
    }
    let is_html = c.content_type.is_some_and(|t| t.starts_with("text/html"));
    if !is_html && env("gzip-only-text/html") == Some("1") {
        return Verdict::Pass;
    }
    let mut encodings: Vec<&str> = headers
        .get("Content-Encoding")
        .map(|e| e.split(',').collect())
        .unwrap_or_default();
    encodings.extend(c.mime_encoding);
    let already = encodings
        .iter()
        .map(|e| e.trim())
        .any(|token| !token.is_empty() && !["identity", "7bit", "8bit", "binary"].contains(&token));
    if already {
        return Verdict::Pass;
    }
    if env("force-gzip").is_some() || accepts_gzip(c.accept_encoding) {
        Verdict::Compress
    } else {
        Verdict::VaryOnly
    }
}

/// Whether Accept-Encoding lists `gzip` without `q=0` (the only q-value Apache reads).
fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else {
        return false;
    };
    header.split(',').any(|item| {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or("").trim();
        if !token.eq_ignore_ascii_case("gzip") {
            return false;
        }
        let q = parts.next().map(str::trim);
        !q.is_some_and(|q| q.len() >= 3 && "q=0.000".starts_with(q))
    })
}

/// The headers a compressed response carries: Vary and Content-Encoding appended, the ETag
/// marked (AddSuffix) or dropped (Remove), Content-Length recomputed by the caller.
pub fn note_vary(headers: &mut Headers) {
    match headers
        .0
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("Vary"))
    {
        Some((_, value)) => {
            value.push_str(", Accept-Encoding");
        }
        None => headers.0.push(("Vary".into(), "Accept-Encoding".into())),
    }
}

pub fn mark_encoded(headers: &mut Headers, conf: &ServerConf) {
    match headers
        .0
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Encoding"))
    {
        Some((_, value)) if !value.eq_ignore_ascii_case("identity") => value.push_str(",gzip"),
        Some((_, value)) => *value = "gzip".into(),
        None => headers.0.push(("Content-Encoding".into(), "gzip".into())),
    }
    match conf.alter_etag.as_deref() {
        Some("nochange") => {}
        Some("remove") => headers.remove("ETag"),
        _ => {
            if let Some((_, tag)) = headers
                .0
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case("ETag"))
            {
                if tag.len() > 2 && tag.ends_with('"') {
                    tag.insert_str(tag.len() - 1, "-gzip");
                }
            }
        }
    }
}

/// A gzipped body, and whether Apache would have sent it without a length (see
/// [`crate::sys::zlib::Deflated::streamed`]).
pub struct Gzipped {
    pub body: Vec<u8>,
    pub streamed: bool,
    /// The pieces it went down the chain in: the header with the first full buffer, each
    /// further buffer, then the rest with the trailer.
    pub pieces: Vec<usize>,
    /// The raw deflate stream's length, for DeflateFilterNote.
    pub deflated_len: usize,
}

/// APR reads a file into the filter chain as memory maps of at most this much.
const FILE_PIECE: usize = 4 << 20;

/// gzips a body: header, raw deflate stream, CRC-32 and length. `Err` is the zlib code.
pub fn gzip(body: &[u8], conf: &ServerConf) -> Result<Gzipped, i32> {
    let deflated = crate::sys::zlib::deflate_raw(
        body,
        conf.level.unwrap_or(-1),
        conf.window_bits.unwrap_or(15),
        conf.mem_level.unwrap_or(9),
        conf.buffer_size.unwrap_or(8096) as usize,
        FILE_PIECE,
    )
    .map_err(|e| e.0)?;
    let mut out = Vec::with_capacity(deflated.data.len() + 18);
    out.extend_from_slice(&GZIP_HEADER);
    out.extend_from_slice(&deflated.data);
    out.extend_from_slice(&deflated.crc.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    let buffer = conf.buffer_size.unwrap_or(8096) as usize;
    let mut pieces = Vec::new();
    if deflated.passes > 0 {
        pieces.push(GZIP_HEADER.len() + buffer);
        pieces.extend(std::iter::repeat_n(buffer, deflated.passes - 1));
        pieces.push(out.len() - GZIP_HEADER.len() - buffer * deflated.passes);
    }
    Ok(Gzipped {
        body: out,
        pieces,
        streamed: deflated.streamed,
        deflated_len: deflated.data.len(),
    })
}

/// The notes DeflateFilterNote asks for, for the access log.
pub fn notes(conf: &ServerConf, input: usize, output: usize) -> Vec<(String, String)> {
    let value = |n: usize| if n > 0 { n.to_string() } else { "-".into() };
    conf.notes
        .iter()
        .map(|(kind, name)| {
            let text = match kind.as_str() {
                "input" => value(input),
                "output" => value(output),
                _ if input > 0 => (output * 100 / input).to_string(),
                _ => "-".into(),
            };
            (name.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_forms() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("gzip;q=0.000")));
        assert!(!accepts_gzip(Some("x-gzip")));
        assert!(!accepts_gzip(None));
    }
}

/// Per-directory limits of the input filter (DeflateInflateLimitRequestBody,
/// DeflateInflateRatioLimit, DeflateInflateRatioBurst).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub inflate_limit: Option<u64>,
    pub ratio_limit: Option<i64>,
    pub ratio_burst: Option<i64>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            inflate_limit: child.inflate_limit.or(self.inflate_limit),
            ratio_limit: child.ratio_limit.or(self.ratio_limit),
            ratio_burst: child.ratio_burst.or(self.ratio_burst),
        }
    }
}

/// Whether a request body says it is gzip (its outermost non-identity Content-Encoding), and
/// the Content-Encoding it has once the filter has taken gzip off (`None`: no header left).
pub fn gzip_request(encoding: Option<&str>) -> Option<Option<String>> {
    let encoding = encoding.filter(|e| !e.is_empty())?;
    let is_gzip = |t: &str| t.eq_ignore_ascii_case("gzip") || t.eq_ignore_ascii_case("x-gzip");
    if is_gzip(encoding) {
        return Some(None);
    }
    let mut rest = encoding;
    while let Some(comma) = rest.rfind(',') {
        let last = rest[comma + 1..].trim_start();
        if is_gzip(last) {
            return Some(Some(rest[..comma].to_string()));
        }
        if !last.is_empty() && !last.eq_ignore_ascii_case("identity") {
            return None;
        }
        rest = &rest[..comma];
    }
    is_gzip(rest).then_some(None)
}

/// Why the input filter gave up on a body: the status the handler answers with, and the
/// message Apache logs.
#[derive(Debug)]
pub struct InflateFailure {
    pub status: u16,
    pub level: &'static str,
    pub message: String,
}

impl InflateFailure {
    fn bad(level: &'static str, message: String) -> InflateFailure {
        InflateFailure {
            status: 400,
            level,
            message,
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const FLAG_HEAD_CRC: u8 = 0x02;
const FLAG_EXTRA: u8 = 0x04;
const FLAG_NAME: u8 = 0x08;
const FLAG_COMMENT: u8 = 0x10;
const FLAG_RESERVED: u8 = 0xE0;

/// The DEFLATE input filter over one request body: the gzip header, the raw deflate stream
/// through zlib one output buffer at a time (checking the inflated size and ratio after each
/// call, as mod_deflate does), then the CRC and length trailer.
pub struct InflateBody {
    limit: u64,
    ratio_limit: i64,
    ratio_burst: i64,
    window_bits: i32,
    header: Vec<u8>,
    /// Optional header fields still to skip (FEXTRA, FNAME, FCOMMENT, FHCRC).
    flags: u8,
    skip_pos: u8,
    skip_len: usize,
    stream: Option<crate::sys::zlib::RawInflate>,
    buffer: Vec<u8>,
    filled: usize,
    inflated: u64,
    ratio_hits: i64,
    crc: u32,
    trailer: Option<Vec<u8>>,
    done: bool,
    /// Inflated bytes not handed on yet.
    output: Vec<u8>,
}

impl InflateBody {
    /// `limit` is DeflateInflateLimitRequestBody, or LimitRequestBody where it is unset (0:
    /// none).
    pub fn new(dir: &Dir, server: &ServerConf, limit: u64) -> InflateBody {
        let buffer_size = server.buffer_size.unwrap_or(8096).max(1) as usize;
        InflateBody {
            limit: dir.inflate_limit.filter(|l| *l > 0).unwrap_or(limit),
            ratio_limit: dir.ratio_limit.unwrap_or(200),
            ratio_burst: dir.ratio_burst.unwrap_or(3),
            window_bits: -server.window_bits.unwrap_or(15),
            header: Vec::with_capacity(10),
            flags: 0,
            skip_pos: 0,
            skip_len: 0,
            stream: None,
            buffer: vec![0; buffer_size],
            filled: 0,
            inflated: 0,
            ratio_hits: 0,
            crc: 0,
            trailer: None,
            done: false,
            output: Vec::new(),
        }
    }

    /// The bytes inflated since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether any of the body has arrived (the filter then drops Content-Length and
    /// Content-MD5 from the request).
    pub fn started(&self) -> bool {
        !self.header.is_empty()
    }

    /// The next raw body bytes, one read of the filter's (see `request::next_read_size`).
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InflateFailure> {
        if self.header.len() < 10 {
            let take = data.len().min(10 - self.header.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() < 10 {
                return Ok(());
            }
            self.start()?;
        }
        self.piece(data)
    }

    /// The body has ended.
    pub fn finish(&mut self) -> Result<(), InflateFailure> {
        if !self.header.is_empty() && self.header.len() < 10 {
            return Err(InflateFailure::bad(
                "error",
                "AH02619: Encountered premature end-of-stream while reading inflate header".into(),
            ));
        }
        if !self.header.is_empty() && !self.done {
            return Err(InflateFailure::bad(
                "error",
                "AH02481: Encountered premature end-of-stream while inflating".into(),
            ));
        }
        Ok(())
    }

    /// The inflated size and the totals zlib counted, for the debug line at the end.
    pub fn totals(&self) -> (u64, u64) {
        self.stream.as_ref().map_or((0, 0), |s| s.totals())
    }

    fn start(&mut self) -> Result<(), InflateFailure> {
        if self.header[..2] != GZIP_MAGIC {
            return Err(InflateFailure::bad(
                "warn",
                "AH01387: Zlib: Invalid header".into(),
            ));
        }
        self.flags = self.header[3];
        if self.flags & FLAG_RESERVED != 0 {
            return Err(InflateFailure::bad(
                "warn",
                format!("AH01388: Zlib: Invalid flags {:02x}", self.flags),
            ));
        }
        match crate::sys::zlib::RawInflate::new(self.window_bits) {
            Ok(stream) => self.stream = Some(stream),
            Err(err) => {
                return Err(InflateFailure::bad(
                    "error",
                    format!(
                        "AH01389: unable to init Zlib: inflateInit2 returned {}",
                        err.0
                    ),
                ))
            }
        }
        Ok(())
    }

    /// Skips the optional header fields; the rest of `data` is deflate stream.
    fn skip_header_fields<'d>(&mut self, mut data: &'d [u8]) -> &'d [u8] {
        if self.flags & FLAG_EXTRA != 0 {
            while self.skip_pos < 2 {
                let Some((&byte, rest)) = data.split_first() else {
                    return data;
                };
                self.skip_len |= usize::from(byte) << (8 * self.skip_pos);
                self.skip_pos += 1;
                data = rest;
            }
            let take = self.skip_len.min(data.len());
            self.skip_len -= take;
            data = &data[take..];
            if self.skip_len > 0 {
                return data;
            }
            self.skip_pos = 0;
            self.flags &= !FLAG_EXTRA;
        }
        for flag in [FLAG_NAME, FLAG_COMMENT] {
            if self.flags & flag != 0 {
                match data.iter().position(|&b| b == 0) {
                    Some(nul) => data = &data[nul + 1..],
                    None => return &[],
                }
                self.flags &= !flag;
            }
        }
        if self.flags & FLAG_HEAD_CRC != 0 {
            while self.skip_pos < 2 {
                let Some((_, rest)) = data.split_first() else {
                    return data;
                };
                self.skip_pos += 1;
                data = rest;
            }
            self.skip_pos = 0;
            self.flags &= !FLAG_HEAD_CRC;
        }
        // Apache clears every flag once these four are done.
        self.flags = 0;
        data
    }

    fn piece(&mut self, mut data: &[u8]) -> Result<(), InflateFailure> {
        if self.done {
            return Err(extra_data("AH02482"));
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.flags != 0 {
            data = self.skip_header_fields(data);
            if data.is_empty() {
                return Ok(());
            }
        }
        if self.trailer.is_none() {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(());
            };
            while !data.is_empty() {
                if self.filled == self.buffer.len() {
                    self.filled = 0;
                }
                let step = stream.step(data, &mut self.buffer[self.filled..]);
                let produced = &self.buffer[self.filled..self.filled + step.produced];
                self.crc = crate::sys::zlib::crc32(self.crc, produced);
                self.output.extend_from_slice(produced);
                self.filled += step.produced;
                self.inflated += step.produced as u64;
                data = &data[step.consumed..];
                let end = step.code == crate::sys::zlib::Z_STREAM_END;
                if step.code != crate::sys::zlib::Z_OK && !end {
                    return Err(InflateFailure::bad(
                        "warn",
                        format!(
                            "AH01392: Zlib error {} inflating data ({})",
                            step.code, step.message
                        ),
                    ));
                }
                if self.limit > 0 && self.inflated > self.limit {
                    return Err(InflateFailure {
                        status: 413,
                        level: "warn",
                        message: format!(
                            "AH02648: Inflated content length of {} is larger than the \
                             configured limit of {}",
                            self.inflated, self.limit
                        ),
                    });
                }
                let (total_in, total_out) = stream.totals();
                // No ratio before any input is taken.
                if let Some(ratio) = total_out.checked_div(total_in) {
                    if (ratio as i64) < self.ratio_limit {
                        self.ratio_hits = 0;
                    } else {
                        self.ratio_hits += 1;
                        if self.ratio_hits > self.ratio_burst {
                            return Err(InflateFailure::bad(
                                "warn",
                                format!(
                                    "AH02649: Inflated content ratio is larger than the \
                                     configured limit {} by {} time(s)",
                                    self.ratio_limit, self.ratio_burst
                                ),
                            ));
                        }
                    }
                }
                if end {
                    self.trailer = Some(Vec::with_capacity(8));
                    break;
                }
            }
        }
        let Some(trailer) = self.trailer.as_mut() else {
            return Ok(());
        };
        let wanted = 8 - trailer.len();
        if data.len() < wanted {
            trailer.extend_from_slice(data);
            return Ok(());
        }
        trailer.extend_from_slice(&data[..wanted]);
        let word = |at: usize| {
            u32::from_le_bytes([
                trailer[at],
                trailer[at + 1],
                trailer[at + 2],
                trailer[at + 3],
            ])
        };
        let (crc, length) = (word(0), word(4));
        if crc != self.crc {
            return Err(InflateFailure::bad(
                "warn",
                "AH01394: Zlib: CRC error inflating data".into(),
            ));
        }
        let total_out = self.stream.as_ref().map_or(0, |s| s.totals().1);
        if total_out & 0xFFFF_FFFF != u64::from(length) {
            return Err(InflateFailure::bad(
                "warn",
                format!(
                    "AH01395: Zlib: Length {total_out} of inflated data does not match \
                     expected value {length}"
                ),
            ));
        }
        self.done = true;
        if data.len() > wanted {
            return Err(extra_data("AH02485"));
        }
        Ok(())
    }
}

fn extra_data(id: &str) -> InflateFailure {
    InflateFailure::bad(
        "error",
        format!("{id}: Encountered extra data after compressed data"),
    )
}

use crate::filters::{FilterType, InputFilter, InputStage, OutputFilter, Sink};
use crate::hooks::Hooks;
use crate::request::{environment, Body, BodySource, BodyStream, Request, Response, Step};

/// The DEFLATE output filter: it sets the content's encoding.
pub static OUTPUT_FILTER: OutputFilter = OutputFilter {
    name: "DEFLATE",
    ftype: FilterType::ContentSet,
    run: deflate_output,
};

/// The DEFLATE input filter: it inflates a gzip request body.
pub static INPUT_FILTER: InputFilter = InputFilter {
    name: "DEFLATE",
    start: start_inflating,
};

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.output_filters.register(&OUTPUT_FILTER);
    hooks.input_filters.register(&INPUT_FILTER);
}

/// A gzip body (not a range of one) is inflated; the filter takes gzip off the request's
/// Content-Encoding as it starts.
fn start_inflating(req: &mut Request) -> Option<Box<dyn InputStage>> {
    if req.head.headers.get("Content-Range").is_some() {
        return None;
    }
    let rest = gzip_request(req.head.headers.get("Content-Encoding"))?;
    let headers = &mut req.head.to_mut().headers;
    match rest {
        Some(rest) => headers.set("Content-Encoding", rest),
        None => headers.remove("Content-Encoding"),
    }
    let server = req.ctx().runtime.module::<ServerConf>();
    let dir = req.dir.module::<Dir>();
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    Some(Box::new(Inflating {
        body: InflateBody::new(&dir, &server, limit),
        failure: None,
    }))
}

/// The DEFLATE input filter at work: the inflater, and why it gave up if it did.
struct Inflating {
    body: InflateBody,
    failure: Option<InflateFailure>,
}

impl Inflating {
    fn refuse(&mut self, failure: InflateFailure) -> u16 {
        let status = failure.status;
        self.failure = Some(failure);
        status
    }
}

impl InputStage for Inflating {
    /// The gzip header, exactly.
    fn first_read(&self) -> Option<usize> {
        Some(10)
    }

    fn feed(&mut self, piece: &[u8], next: &mut Sink) -> Result<(), u16> {
        if let Err(failure) = self.body.feed(piece) {
            return Err(self.refuse(failure));
        }
        let out = self.body.take_output();
        if out.is_empty() {
            return Ok(());
        }
        next(&out)
    }

    fn finish(&mut self, _next: &mut Sink) -> Result<(), u16> {
        self.body.finish().map_err(|failure| self.refuse(failure))
    }

    fn close(self: Box<Self>, req: &mut Request, whole: bool) {
        if self.body.started() {
            // The length and digest were of the compressed body.
            let headers = &mut req.head.to_mut().headers;
            headers.remove("Content-Length");
            headers.remove("Content-MD5");
        }
        if let Some(failure) = &self.failure {
            req.log_error("deflate", failure.level, &failure.message);
        } else if whole {
            let (compressed, inflated) = self.body.totals();
            let text = format!(
                "AH01393: Zlib: Inflated {compressed} to {inflated} : URL {}",
                req.uri
            );
            req.log_debug_from("deflate", "mod_deflate.c(1459)", &text);
        }
    }
}

/// What the filter sees of a 200 response: the file a handler set a length for, a body it
/// built in memory, or one it streams (its length unknown, so never too small to gain).
fn deflate_output(req: &mut Request, mut response: Response) -> Step<Response> {
    let length = match &response.body {
        _ if response.status != 200 => return Ok(response),
        Body::Bytes(body) => body.len() as u64,
        Body::File { len, .. } => *len,
        Body::Stream(_) => u64::MAX,
        Body::Empty | Body::Pieces(..) => return Ok(response),
    };
    let env = environment(req);
    let candidate = Candidate {
        status: response.status,
        content_type: response.content_type.as_deref(),
        length,
        mime_encoding: response.trailing.get("Content-Encoding"),
        env: &env,
        accept_encoding: req.head.headers.get("Accept-Encoding"),
    };
    match verdict(&candidate, &response.headers) {
        Verdict::Pass => return Ok(response),
        // A file's Content-Length is set already (by its handler); Vary comes after it. A
        // body built in memory gets its length later, after Vary.
        Verdict::VaryOnly if matches!(response.body, Body::File { .. }) => {
            note_vary(&mut response.late_headers);
            return Ok(response);
        }
        Verdict::VaryOnly => {
            note_vary(&mut response.headers);
            return Ok(response);
        }
        Verdict::Compress => {}
    }
    let conf = req.ctx().runtime.module::<ServerConf>().into_owned();
    let body = match std::mem::take(&mut response.body) {
        Body::Stream(stream) => return Ok(compress_stream(req, response, stream, &conf)),
        Body::File {
            file, offset, len, ..
        } => {
            let content = crate::filters::read_file_body(req, &file, offset, len)?;
            // What the handler said of the file no longer holds of what goes out.
            response.late_headers.remove("Content-MD5");
            content
        }
        Body::Bytes(content) => content,
        Body::Empty | Body::Pieces(..) => unreachable!("passed on above"),
    };
    match gzip(&body, &conf) {
        Ok(gzipped) => {
            // The handler's Content-Length no longer stands between the fields set before
            // this filter (mod_expires', mod_filter's) and the ones it adds after them.
            let mut later = std::mem::take(&mut response.late_headers.0);
            response.headers.0.append(&mut later);
            note_vary(&mut response.headers);
            mark_encoded(&mut response.headers, &conf);
            req.notes = notes(&conf, body.len(), gzipped.deflated_len);
            if gzipped.streamed {
                // Passed on in pieces before the end: no length, and too late for ranges.
                response.length_known = false;
                response.body = Body::Pieces(gzipped.body, gzipped.pieces);
            } else {
                // The handler's Content-Length is gone; the length filter adds the new one
                // after everything set on the way (mod_headers', the byte-range filter's).
                response.length_last = true;
                response.length_known = true;
                response.body = Body::Bytes(gzipped.body);
            }
        }
        Err(code) => {
            zlib_refused(req, code);
            response.body = Body::Bytes(body);
        }
    }
    Ok(response)
}

/// zlib would not start: logged, and the body goes out as it is.
fn zlib_refused(req: &Request, code: i32) {
    let text = format!(
        "AH01383: unable to init Zlib: deflateInit2 returned {code}: URL {}",
        req.uri
    );
    req.log_error("deflate", "error", &text);
}

/// A streamed body compressed as it goes: each piece zlib hands back is passed on as soon
/// as it has one, the gzip trailer after the stream's end.
fn compress_stream(
    req: &mut Request,
    mut response: Response,
    inner: BodyStream,
    conf: &ServerConf,
) -> Response {
    let deflater = crate::sys::zlib::RawDeflate::new(
        conf.level.unwrap_or(-1),
        conf.window_bits.unwrap_or(15),
        conf.mem_level.unwrap_or(9),
    );
    match deflater {
        Ok(deflater) => {
            note_vary(&mut response.headers);
            mark_encoded(&mut response.headers, conf);
            response.length_known = false;
            response.body = Body::Stream(BodyStream(Box::new(GzipStream {
                inner,
                deflater,
                crc: 0,
                length: 0,
                started: false,
                ended: false,
            })));
        }
        Err(code) => {
            zlib_refused(req, code.0);
            response.body = Body::Stream(inner);
        }
    }
    response
}

/// gzip over a [`BodySource`]: header, raw deflate stream, CRC-32 and length.
struct GzipStream {
    inner: BodyStream,
    deflater: crate::sys::zlib::RawDeflate,
    crc: u32,
    length: u32,
    started: bool,
    ended: bool,
}

impl BodySource for GzipStream {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let failed = |e: crate::sys::zlib::ZlibError| {
            std::io::Error::other(format!("zlib deflate returned {}", e.0))
        };
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.extend_from_slice(&GZIP_HEADER);
        }
        while !self.ended {
            match self.inner.0.next_piece()? {
                Some(piece) => {
                    self.crc = crate::sys::zlib::crc32(self.crc, &piece);
                    self.length = self.length.wrapping_add(piece.len() as u32);
                    let before = out.len();
                    self.deflater
                        .push(&piece, false, &mut out)
                        .map_err(failed)?;
                    // zlib keeps small pieces to itself until it has a block to give.
                    if out.len() > before {
                        return Ok(Some(out));
                    }
                }
                None => {
                    self.ended = true;
                    self.deflater.push(&[], true, &mut out).map_err(failed)?;
                    out.extend_from_slice(&self.crc.to_le_bytes());
                    out.extend_from_slice(&self.length.to_le_bytes());
                }
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    struct Pieces(std::vec::IntoIter<Vec<u8>>);

    impl BodySource for Pieces {
        fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
            Ok(self.0.next())
        }
    }

    #[test]
    fn a_streamed_body_gzips_to_what_the_whole_body_gzips_to() {
        // Varied enough that zlib has blocks to hand back before the end.
        let mut seed: u32 = 1;
        let text: Vec<u8> = (0..200_000)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"abcdefghij "[(seed >> 16) as usize % 11]
            })
            .collect();
        let pieces: Vec<Vec<u8>> = text.chunks(1000).map(<[u8]>::to_vec).collect();
        let mut stream = GzipStream {
            inner: BodyStream(Box::new(Pieces(pieces.into_iter()))),
            deflater: crate::sys::zlib::RawDeflate::new(-1, 15, 9).unwrap(),
            crc: 0,
            length: 0,
            started: false,
            ended: false,
        };
        let mut streamed = Vec::new();
        let mut passes = 0;
        while let Some(piece) = stream.next_piece().unwrap() {
            streamed.extend_from_slice(&piece);
            passes += 1;
        }
        let whole = gzip(&text, &ServerConf::default()).unwrap().body;
        assert_eq!(streamed, whole);
        assert!(
            passes > 1,
            "the body went out in pieces as zlib produced them"
        );
    }

    #[test]
    fn the_input_stage_hands_on_the_inflated_body() {
        let text = b"a request body, gzipped by the client. ".repeat(300);
        let gzipped = gzip(&text, &ServerConf::default()).unwrap().body;
        let mut stage = Inflating {
            body: InflateBody::new(&Dir::default(), &ServerConf::default(), 0),
            failure: None,
        };
        let mut received = Vec::new();
        let mut sink = |piece: &[u8]| {
            received.extend_from_slice(piece);
            Ok(())
        };
        for piece in gzipped.chunks(100) {
            stage.feed(piece, &mut sink).unwrap();
        }
        stage.finish(&mut sink).unwrap();
        assert_eq!(received, text);
        assert!(stage.failure.is_none());
    }
}
