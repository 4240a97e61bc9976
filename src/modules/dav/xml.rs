//! WebDAV request bodies as APR's XML parser leaves them (`apr_xml_doc`): a tree whose
//! element and attribute namespaces are indices into the document's table of URIs, `DAV:`
//! always first and the others in the order they are declared (each start tag's from its
//! last), attributes last first, and the text renderings
//! mod_dav writes back (`apr_xml_empty_elem`, `apr_xml_to_text`, `apr_xml_quote_string`).
//! quick-xml tokenizes; the namespace table, xml:lang inheritance and quoting are APR's.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An element's or attribute's namespace: none, or an index into [`Doc::namespaces`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    None,
    Id(usize),
}

/// The `DAV:` namespace's index, which every document has.
pub const DAV: Ns = Ns::Id(0);

#[derive(Debug, Clone)]
pub struct Attr {
    pub ns: Ns,
    pub name: String,
    pub value: String,
}

/// One element: its text before the first child, and each child with the text after it.
#[derive(Debug, Clone)]
pub struct Elem {
    pub ns: Ns,
    pub name: String,
    pub lang: Option<String>,
    pub attrs: Vec<Attr>,
    pub first_text: String,
    pub children: Vec<(Elem, String)>,
}

impl Elem {
    /// The first child in the DAV: namespace named `name` (`dav_find_child`).
    pub fn child(&self, name: &str) -> Option<&Elem> {
        self.children
            .iter()
            .map(|(c, _)| c)
            .find(|c| c.ns == DAV && c.name == name)
    }

    pub fn elements(&self) -> impl Iterator<Item = &Elem> {
        self.children.iter().map(|(c, _)| c)
    }

    /// No children and no text (`APR_XML_ELEM_IS_EMPTY`).
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.first_text.is_empty()
    }

    /// Whether it is `name` in the DAV: namespace.
    pub fn is_dav(&self, name: &str) -> bool {
        self.ns == DAV && self.name == name
    }
}

#[derive(Debug, Clone)]
pub struct Doc {
    pub namespaces: Vec<String>,
    pub root: Elem,
}

impl Doc {
    /// The URI of a namespace ("" for none).
    pub fn uri(&self, ns: Ns) -> &str {
        match ns {
            Ns::None => "",
            Ns::Id(i) => self.namespaces.get(i).map(String::as_str).unwrap_or(""),
        }
    }

    /// Whether the root is the DAV: element `name` (`dav_validate_root`).
    pub fn root_is(&self, name: &str) -> bool {
        self.root.is_dav(name)
    }
}

/// Why a body is not a document mod_dav takes (its text goes into AH00541).
#[derive(Debug)]
pub struct ParseError(pub String);

struct Scope {
    /// (prefix, URI) declarations of the element that opened the scope.
    declared: Vec<(String, String)>,
    lang: Option<String>,
}

/// Parses a request body: `Ok(None)` for an empty one.
pub fn parse(body: &[u8]) -> Result<Option<Doc>, ParseError> {
    if body.is_empty() {
        return Ok(None);
    }
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut namespaces = vec!["DAV:".to_string()];
    let mut scopes: Vec<Scope> = Vec::new();
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| ParseError(e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(ParseError("junk after document element".into()));
            }
            Event::Start(start) => {
                let elem = open(&start, &mut scopes, &mut namespaces)?;
                stack.push(elem);
            }
            Event::Empty(start) => {
                let elem = open(&start, &mut scopes, &mut namespaces)?;
                scopes.pop();
                close(elem, &mut stack, &mut root);
            }
            Event::End(_) => {
                scopes.pop();
                let elem = stack
                    .pop()
                    .ok_or_else(|| ParseError("mismatched tag".into()))?;
                close(elem, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let text = text
                    .unescape()
                    .map_err(|e| ParseError(e.to_string()))?
                    .into_owned();
                append_text(&mut stack, &text, root.is_some())?;
            }
            Event::CData(data) => {
                let text = String::from_utf8_lossy(&data).into_owned();
                append_text(&mut stack, &text, root.is_some())?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(ParseError("unclosed token".into()));
    }
    match root {
        Some(root) => Ok(Some(Doc { namespaces, root })),
        None => Err(ParseError("no element found".into())),
    }
}

fn append_text(stack: &mut [Elem], text: &str, after_root: bool) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(elem) => {
            match elem.children.last_mut() {
                Some((_, following)) => following.push_str(text),
                None => elem.first_text.push_str(text),
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None if after_root => Err(ParseError("junk after document element".into())),
        None => Err(ParseError("syntax error".into())),
    }
}

fn close(elem: Elem, stack: &mut [Elem], root: &mut Option<Elem>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push((elem, String::new())),
        None => *root = Some(elem),
    }
}

/// APR's `apr_xml_insert_uri`: the URI's index, added at the end when new.
fn insert_uri(namespaces: &mut Vec<String>, uri: &str) -> usize {
    match namespaces.iter().position(|u| u == uri) {
        Some(i) => i,
        None => {
            namespaces.push(uri.to_string());
            namespaces.len() - 1
        }
    }
}

/// The namespace a prefix names in the scopes open now.
fn find_prefix(
    scopes: &[Scope],
    namespaces: &mut Vec<String>,
    prefix: &str,
) -> Result<Ns, ParseError> {
    for scope in scopes.iter().rev() {
        if let Some((_, uri)) = scope.declared.iter().rev().find(|(p, _)| p == prefix) {
            if uri.is_empty() {
                return Ok(Ns::None);
            }
            return Ok(Ns::Id(insert_uri(namespaces, uri)));
        }
    }
    // No default namespace in scope: the element is in none.
    if prefix.is_empty() {
        return Ok(Ns::None);
    }
    Err(ParseError(format!(
        "An undefined namespace prefix was used: {prefix}"
    )))
}

fn open(
    start: &BytesStart,
    scopes: &mut Vec<Scope>,
    namespaces: &mut Vec<String>,
) -> Result<Elem, ParseError> {
    let qname = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut declared = Vec::new();
    let mut raw_attrs = Vec::new();
    let mut lang = scopes.last().and_then(|s| s.lang.clone());
    for attr in start.attributes() {
        let attr = attr.map_err(|e| ParseError(e.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| ParseError(e.to_string()))?
            .into_owned();
        if key == "xmlns" {
            declared.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            // Only the default namespace may be undeclared (APR_XML_NS_ERROR_INVALID_DECL).
            if value.is_empty() {
                return Err(ParseError(
                    "A namespace prefix was defined with an empty URI.".into(),
                ));
            }
            declared.push((prefix.to_string(), value));
        } else if key == "xml:lang" {
            lang = Some(value);
        } else {
            raw_attrs.push((key, value));
        }
    }
    // APR keeps an element's attributes last first, and enters each declared URI in the
    // table as it meets the declaration: a start tag's URIs go in from its last one.
    for (_, uri) in declared.iter().rev() {
        if !uri.is_empty() {
            insert_uri(namespaces, uri);
        }
    }
    raw_attrs.reverse();
    scopes.push(Scope {
        declared,
        lang: lang.clone(),
    });
    let (ns, name) = match qname.split_once(':') {
        Some((prefix, local)) => (find_prefix(scopes, namespaces, prefix)?, local),
        None => (find_prefix(scopes, namespaces, "")?, qname.as_str()),
    };
    let mut attrs = Vec::new();
    for (key, value) in raw_attrs {
        let (ns, name) = match key.split_once(':') {
            // The reserved `xml` prefix names no table entry.
            Some(("xml", local)) => (Ns::None, local.to_string()),
            Some((prefix, local)) => (find_prefix(scopes, namespaces, prefix)?, local.to_string()),
            None => (Ns::None, key),
        };
        attrs.push(Attr { ns, name, value });
    }
    Ok(Elem {
        ns,
        name: name.to_string(),
        lang,
        attrs,
        first_text: String::new(),
        children: Vec::new(),
    })
}

/// `apr_xml_quote_string`: `&`, `<`, `>`, and with `quotes` also `"`.
pub fn quote(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `apr_xml_empty_elem`: the element's name as an empty tag, its namespace as `nsN`, ended
/// by APR's CRLF (mod_dav's own lines end in a bare LF).
pub fn empty_elem(elem: &Elem) -> String {
    match elem.ns {
        Ns::None => format!("<{}/>\r\n", elem.name),
        Ns::Id(i) => format!("<ns{i}:{}/>\r\n", elem.name),
    }
}

/// How `apr_xml_to_text` writes an element.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The element whole, xml:lang where it differs from its parent's.
    Full,
    /// The element whole with xml:lang and every document namespace declared on it.
    FullNsLang,
}

/// `apr_xml_to_text` of an element (values quoted as `apr_xml_quote_elem` leaves them):
/// `map` renames namespace indices (the property database's own), `namespaces` is the
/// document's table for [`Style::FullNsLang`].
pub fn to_text(
    elem: &Elem,
    style: Style,
    parent_lang: Option<&str>,
    namespaces: &[String],
    map: Option<&dyn Fn(usize) -> usize>,
) -> String {
    let mut out = String::new();
    write_elem(&mut out, elem, style, parent_lang, namespaces, map);
    out
}

fn prefix_of(ns: Ns, map: Option<&dyn Fn(usize) -> usize>) -> Option<usize> {
    match ns {
        Ns::None => None,
        Ns::Id(i) => Some(map.map_or(i, |m| m(i))),
    }
}

fn write_elem(
    out: &mut String,
    elem: &Elem,
    style: Style,
    parent_lang: Option<&str>,
    namespaces: &[String],
    map: Option<&dyn Fn(usize) -> usize>,
) {
    let name = match prefix_of(elem.ns, map) {
        None => elem.name.clone(),
        Some(i) => format!("ns{i}:{}", elem.name),
    };
    out.push('<');
    out.push_str(&name);
    for attr in &elem.attrs {
        // APR writes an attribute's own index, unmapped.
        match attr.ns {
            Ns::None => out.push_str(&format!(" {}=\"{}\"", attr.name, quote(&attr.value, true))),
            Ns::Id(i) => out.push_str(&format!(
                " ns{i}:{}=\"{}\"",
                attr.name,
                quote(&attr.value, true)
            )),
        }
    }
    if let Some(lang) = &elem.lang {
        if style == Style::FullNsLang || parent_lang != Some(lang.as_str()) {
            out.push_str(&format!(" xml:lang=\"{}\"", quote(lang, true)));
        }
    }
    if style == Style::FullNsLang {
        for (i, uri) in namespaces.iter().enumerate().rev() {
            out.push_str(&format!(" xmlns:ns{i}=\"{uri}\""));
        }
    }
    if elem.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    write_inner(out, elem, namespaces, map);
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

/// The element's content: its text and children, quoted.
pub fn write_inner(
    out: &mut String,
    elem: &Elem,
    namespaces: &[String],
    map: Option<&dyn Fn(usize) -> usize>,
) {
    out.push_str(&quote(&elem.first_text, false));
    for (child, following) in &elem.children {
        write_elem(
            out,
            child,
            Style::Full,
            elem.lang.as_deref(),
            namespaces,
            map,
        );
        out.push_str(&quote(following, false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_numbered_as_declared_with_dav_first() {
        let doc = parse(
            br#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="http://ex/"><D:prop><Z:foo/><x xmlns="http://y/"/><plain xmlns=""/></D:prop></D:propfind>"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(doc.namespaces, ["DAV:", "http://ex/", "http://y/"]);
        let two = parse(br#"<a xmlns="DAV:" xmlns:z="z:" xmlns:y="y:"/>"#)
            .unwrap()
            .unwrap();
        assert_eq!(two.namespaces, ["DAV:", "y:", "z:"]);
        let prop = doc.root.child("prop").unwrap();
        let names: Vec<_> = prop.elements().map(empty_elem).collect();
        assert_eq!(names, ["<ns1:foo/>\r\n", "<ns2:x/>\r\n", "<plain/>\r\n"]);
    }

    #[test]
    fn inner_text_is_quoted_and_prefixed() {
        let doc = parse(br#"<a xmlns="u:"><b>x &amp; <c q="1&quot;">y</c></b></a>"#)
            .unwrap()
            .unwrap();
        let b = doc.root.elements().next().unwrap();
        let mut out = String::new();
        write_inner(&mut out, b, &doc.namespaces, Some(&|i| i + 5));
        assert_eq!(out, r#"x &amp; <ns6:c q="1&quot;">y</ns6:c>"#);
        let full = to_text(b, Style::FullNsLang, None, &doc.namespaces, None);
        assert!(full.starts_with(r#"<ns1:b xmlns:ns1="u:" xmlns:ns0="DAV:">"#));
    }

    #[test]
    fn broken_bodies_are_errors_and_empty_ones_none() {
        assert!(parse(b"").unwrap().is_none());
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<x:a/>").is_err());
        assert!(parse(b"not xml").is_err());
    }
}
