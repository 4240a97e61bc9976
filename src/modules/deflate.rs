//! mod_deflate's DEFLATE output filter: when a response may be gzipped (the filter is set for
//! it, the client accepts gzip, nothing else encoded it, it is big enough to gain), compresses
//! it with zlib as Apache does and fixes the headers (Content-Encoding, Vary, ETag suffix).

use rhttpd_directives::model::Server;

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

impl ServerConf {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        let number = || words.first().map(|w| rhttpd_directives::set::atoi_int(w));
        match directive {
            "DeflateCompressionLevel" => self.level = number(),
            "DeflateWindowSize" => self.window_bits = number(),
            "DeflateMemLevel" => self.mem_level = number(),
            "DeflateAlterEtag" => self.alter_etag = words.first().map(|w| w.to_ascii_lowercase()),
            "DeflateFilterNote" => match words {
                [name] => self.notes.push(("ratio".into(), name.clone())),
                [kind, name, ..] => self.notes.push((kind.to_ascii_lowercase(), name.clone())),
                [] => {}
            },
            "DeflateBufferSize" => self.buffer_size = number(),
            _ => return false,
        }
        true
    }

    pub fn merge(&self, vhost: &ServerConf) -> ServerConf {
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

    pub fn from_server(server: &Server) -> ServerConf {
        let mut out = ServerConf::default();
        for setting in &server.settings {
            out.apply(setting.directive, &setting.words());
        }
        out
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
