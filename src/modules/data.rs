//! mod_data, whole: the DATA output filter, which turns a response into an RFC 2397 `data:`
//! URL (its type, then the body in base64) served as text/plain, keeping a length it had.

use base64::Engine;
use rhttpd_directives::registry::ModuleDef;

use crate::filters::{FilterType, OutputFilter};
use crate::hooks::Hooks;
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "data_module",
    source: "mod_data.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.output_filters.register(&OUTPUT_FILTER);
}

pub static OUTPUT_FILTER: OutputFilter = OutputFilter {
    name: "DATA",
    ftype: FilterType::Resource,
    run: data_output,
};

/// The URL's start: `data:` and the type as Apache splits it (its first word, then the
/// second glued to it: `text/html; charset=UTF-8` gives `text/html;charset=UTF-8`).
fn prefix(content_type: Option<&str>) -> String {
    let content_type = content_type.unwrap_or("");
    let mut words = content_type.splitn(2, ' ');
    let kind = words.next().unwrap_or("");
    let charset = words
        .next()
        .map(|rest| rest.split(' ').next().unwrap_or(""))
        .unwrap_or("");
    format!("data:{kind}{charset};base64,")
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Only the request the client sent is encoded (Apache cannot end one made inside another).
fn data_output(req: &mut Request, mut response: Response) -> Step<Response> {
    if req.subrequest || req.redirects > 0 || req.redirected_from.is_some() {
        return Ok(response);
    }
    let head = prefix(response.content_type.as_deref());
    response.content_type = Some("text/plain".into());
    match std::mem::take(&mut response.body) {
        Body::Stream(inner) => {
            response.length_known = false;
            response.body = Body::Stream(BodyStream(Box::new(DataStream {
                inner,
                head: Some(head),
                tail: Vec::new(),
                ended: false,
            })));
        }
        body => {
            let content = match body {
                Body::Bytes(bytes) | Body::Pieces(bytes, _) => bytes,
                Body::File {
                    file, offset, len, ..
                } => crate::filters::read_file_body(req, &file, offset, len)?,
                Body::Empty | Body::Stream(_) => Vec::new(),
            };
            let mut out = head.into_bytes();
            out.extend_from_slice(encode(&content).as_bytes());
            response.body = Body::Bytes(out);
        }
    }
    Ok(response)
}

/// A streamed body encoded as it comes: whole groups of three bytes go out, the rest waits
/// for the next piece or the end.
struct DataStream {
    inner: BodyStream,
    head: Option<String>,
    tail: Vec<u8>,
    ended: bool,
}

impl BodySource for DataStream {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        while !self.ended {
            let mut out = self.head.take().map(String::into_bytes).unwrap_or_default();
            match self.inner.0.next_piece()? {
                Some(piece) => {
                    self.tail.extend_from_slice(&piece);
                    let whole = self.tail.len() / 3 * 3;
                    let rest = self.tail.split_off(whole);
                    out.extend_from_slice(encode(&self.tail).as_bytes());
                    self.tail = rest;
                }
                None => {
                    self.ended = true;
                    out.extend_from_slice(encode(&self.tail).as_bytes());
                    self.tail.clear();
                }
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_glued_as_apache_glues_it() {
        assert_eq!(prefix(Some("text/plain")), "data:text/plain;base64,");
        assert_eq!(
            prefix(Some("text/html; charset=UTF-8")),
            "data:text/html;charset=UTF-8;base64,"
        );
        assert_eq!(prefix(None), "data:;base64,");
    }
}
