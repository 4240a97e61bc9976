//! Builds one file's tree the way Apache's `ap_build_config` does, handing execute-on-read
//! directives to the caller at the moment Apache would run them.
//!
//! Apache blames an error on the line of the directive it was executing (an `Include`, a
//! `<IfModule>`, the offending closer, the outermost unclosed section) and otherwise on the
//! line being read; [`Builder`] keeps that "error directive" line the same way.

use std::borrow::Cow;
use std::sync::Arc;

use crate::ast::Node;
use crate::error::BuildError;
use crate::lines::{LineReader, LogicalLine};
use crate::words::getword_conf;

/// The caller's side of the read phase: variable expansion, directive names and the
/// execute-on-read directives. The parser itself knows no directive.
pub trait ReadPass {
    /// `${VAR}` expansion of a whole logical line, before it is split into words.
    fn expand<'l>(&mut self, line: &'l str) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }

    /// A directive typed as `name`: its registered spelling (`<directory` -> `<Directory`), used
    /// in the tree and in "Expected </X>" messages, and whether it runs at read time; `None` for
    /// an unknown name.
    fn lookup(&self, _name: &str) -> Option<Known> {
        None
    }

    /// Runs `node` now if it is an execute-on-read directive and returns the nodes to splice
    /// in its place; `None` if it is not one. A section handler reads its body through
    /// [`Builder::build_container`] or skips it with [`Builder::soak_container`].
    fn execute_on_read(
        &mut self,
        _node: &Node,
        _builder: &mut Builder<'_>,
    ) -> Option<Result<Vec<Node>, String>> {
        None
    }
}

/// What a [`ReadPass`] knows about a directive name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub canonical: &'static str,
    pub execute_on_read: bool,
    /// An identifier the pass chooses; the parser only stores it in [`Node::known_id`].
    pub id: u32,
}

/// A read pass that executes nothing: the plain syntax tree.
pub struct NoReadPass;

impl ReadPass for NoReadPass {}

/// Parses a whole file into its tree without running anything.
pub fn parse(source: &str, file: &str) -> Result<Vec<Node>, BuildError> {
    Builder::new(source, Arc::from(file)).build(&mut NoReadPass)
}

/// A section opened in the file and not yet closed.
struct Open {
    node: Node,
    children: Vec<Node>,
}

/// Reads one file's logical lines into nodes.
pub struct Builder<'a> {
    reader: LineReader<'a>,
    file: Arc<str>,
    /// Apache's `parms->err_directive`: the line an error is blamed on, once set.
    err_line: Option<u32>,
}

impl<'a> Builder<'a> {
    pub fn new(source: &'a str, file: Arc<str>) -> Self {
        Builder {
            reader: LineReader::new(source),
            file,
            err_line: None,
        }
    }

    /// A builder with a different logical-line cap (`.htaccess` files use 8192 bytes).
    pub fn with_max_len(source: &'a str, file: Arc<str>, max_len: usize) -> Self {
        Builder {
            reader: LineReader::with_max_len(source, max_len),
            file,
            err_line: None,
        }
    }

    /// The file this builder reads.
    pub fn file(&self) -> &Arc<str> {
        &self.file
    }

    /// Reads the whole file; sections left open at the end are an error.
    pub fn build(&mut self, pass: &mut dyn ReadPass) -> Result<Vec<Node>, BuildError> {
        let mut out = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        while let Some(line) = self.next_line()? {
            self.build_line(pass, &line, &mut open, &mut out)
                .map_err(|message| self.error(message))?;
        }
        if !open.is_empty() {
            let mut message = String::new();
            for section in open.iter().rev() {
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(&format!(
                    "{}:{}: {}> was not closed.",
                    section.node.file, section.node.line, section.node.name
                ));
            }
            self.err_line = Some(open[0].node.line);
            return Err(self.error(message));
        }
        Ok(out)
    }

    /// Reads the body of a section whose handler runs at read time (a true `<IfModule>`),
    /// up to a line that is exactly `</Name>` (any case) at this level. End of file is not an
    /// error here, as in Apache; sections still open inside are closed implicitly.
    pub fn build_container(
        &mut self,
        pass: &mut dyn ReadPass,
        opener: &str,
    ) -> Result<Vec<Node>, String> {
        let closer = format!("{}>", opener.trim_start_matches('<'));
        let mut out = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        while let Some(line) = self.next_line().map_err(|e| e.message)? {
            if open.is_empty() {
                if let Some(rest) = line.text.strip_prefix("</") {
                    if rest.eq_ignore_ascii_case(&closer) {
                        return Ok(out);
                    }
                }
            }
            self.build_line(pass, &line, &mut open, &mut out)?;
        }
        while let Some(section) = open.pop() {
            attach(&mut open, &mut out, section);
        }
        Ok(out)
    }

    /// Reads raw logical lines (nothing expanded or run) up to the line whose first word is
    /// `end` (any case) at this level, as mod_macro's `get_lines_till_end_token` does: lines
    /// starting with `#` are left out, blank ones kept; `begin` lines nest. The lines, with
    /// the warnings Apache gives about section nesting (unless `ignore_nesting`) and text after
    /// the closer; an error
    /// for a closer without `>` or no closer at all.
    pub fn raw_lines(
        &mut self,
        end: &str,
        begin: &str,
        where_: &str,
        ignore_nesting: bool,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let start = self.reader.line_number();
        let mut lines = Vec::new();
        let mut warnings = Vec::new();
        let (mut own_nesting, mut any_nesting) = (1i32, 1i32);
        while let Some(line) = self.next_line().map_err(|e| e.message)? {
            if line.text.starts_with('#') {
                continue;
            }
            let mut rest: &str = &line.text;
            let first = getword_conf(&mut rest);
            if !first.is_empty() {
                if first.starts_with("</") {
                    any_nesting -= 1;
                    if !ignore_nesting && any_nesting < 0 {
                        warnings.push(format!(
                            "AH02793: bad (negative) nesting on line {} of {where_}",
                            self.reader.line_number() - start
                        ));
                    }
                } else if first.starts_with('<') {
                    any_nesting += 1;
                }
                if first.eq_ignore_ascii_case(end) {
                    let Some(at) = line.text.rfind('>') else {
                        return Err("end directive missing closing '>'".into());
                    };
                    let after = &line.text[at + 1..];
                    if let Some(text) = non_blank(after) {
                        warnings.push(format!(
                            "AH02989: AH02794: non blank chars found after directive closing on line {} of {}: {text}",
                            line.line, self.file
                        ));
                    }
                    own_nesting -= 1;
                    if own_nesting == 0 {
                        if !ignore_nesting && any_nesting != 0 {
                            warnings.push(format!(
                                "AH02795: bad cumulated nesting ({any_nesting:+}) in {where_}"
                            ));
                        }
                        return Ok((lines, warnings));
                    }
                } else if first.eq_ignore_ascii_case(begin) {
                    own_nesting += 1;
                }
            }
            lines.push(line.text.into_owned());
        }
        Err(format!("expected token not found: {end}"))
    }

    /// Skips the body of a false conditional section, checking only that sections nest.
    /// Nothing inside is expanded or run.
    pub fn soak_container(&mut self, opener: &str) -> Result<(), String> {
        let name = opener.trim_start_matches('<');
        while let Some(line) = self.next_line().map_err(|e| e.message)? {
            let mut rest: &str = &line.text;
            let word = getword_conf(&mut rest);
            if let Some(after_lt) = word.strip_prefix('<') {
                if let Some(closer) = after_lt.strip_prefix('/') {
                    let closer = drop_last_char(closer);
                    if !closer.eq_ignore_ascii_case(name) {
                        return Err(format!("Expected </{name}> but saw </{closer}>"));
                    }
                    return Ok(());
                }
                let nested = if rest.is_empty() {
                    word.strip_suffix('>').unwrap_or(&word)
                } else {
                    &word
                };
                self.soak_container(nested)?;
            }
        }
        Err(format!("Expected </{name}> before end of configuration"))
    }

    fn next_line(&mut self) -> Result<Option<LogicalLine<'a>>, BuildError> {
        match self.reader.next_line() {
            None => Ok(None),
            Some(Ok(line)) => Ok(Some(line)),
            Some(Err(text)) => Err(BuildError::new(
                self.reader.line_number(),
                format!("Error reading {} {}", self.file, text),
            )),
        }
    }

    fn error(&self, message: String) -> BuildError {
        BuildError::new(self.err_line.unwrap_or(self.reader.line_number()), message)
    }

    /// Apache's `ap_build_config_sub`: one logical line into the tree.
    fn build_line(
        &mut self,
        pass: &mut dyn ReadPass,
        line: &LogicalLine,
        open: &mut Vec<Open>,
        out: &mut Vec<Node>,
    ) -> Result<(), String> {
        if line.text.is_empty() || line.text.starts_with('#') {
            return Ok(());
        }
        let expanded = pass.expand(&line.text);
        let mut rest: &str = &expanded;
        let mut name = getword_conf(&mut rest);
        if name.is_empty() {
            return Ok(());
        }
        let mut args = rest.to_string();
        let is_closer = name.starts_with("</");
        // Apache looks at the name's second character, not whether it closes a section: a
        // trailing `>` stays on `//Files>` as on `</Files>`.
        if name.as_bytes().get(1) != Some(&b'/') {
            if let Some(stripped) = name.strip_suffix('>') {
                name = Cow::Owned(stripped.to_string());
            }
            if name.starts_with('<') && args.is_empty() {
                args = ">".to_string();
            }
        }
        let known = pass.lookup(&name);
        let node = Node {
            args: Arc::from(args),
            name: match known {
                Some(known) => Cow::Borrowed(known.canonical),
                None => Cow::Owned(name.into_owned()),
            },
            file: self.file.clone(),
            line: line.line,
            children: None,
            known_id: known.map(|k| k.id),
        };

        if !is_closer && known.is_some_and(|k| k.execute_on_read) {
            // Apache points its error directive at an execute-on-read line before running it.
            let previous = self.err_line.replace(node.line);
            if let Some(result) = pass.execute_on_read(&node, self) {
                for spliced in result? {
                    push(open, out, spliced);
                }
                return Ok(());
            }
            self.err_line = previous;
        }

        if is_closer {
            return self.close_section(node, open, out);
        }
        if node.name.starts_with('<') {
            open.push(Open {
                node,
                children: Vec::new(),
            });
        } else {
            push(open, out, node);
        }
        Ok(())
    }

    fn close_section(
        &mut self,
        node: Node,
        open: &mut Vec<Open>,
        out: &mut Vec<Node>,
    ) -> Result<(), String> {
        let typed: &str = &node.name;
        let Some(parent) = open.last() else {
            self.err_line = Some(node.line);
            let inner = &typed[2..];
            return Err(format!("{typed} without matching <{inner} section"));
        };
        let Some(bare) = typed.strip_suffix('>') else {
            self.err_line = Some(node.line);
            return Err(format!("{typed}> directive missing closing '>'"));
        };
        let parent_name = parent.node.name.trim_start_matches('<');
        if !bare[2..].eq_ignore_ascii_case(parent_name) {
            self.err_line = Some(node.line);
            return Err(format!("Expected </{parent_name}> but saw {bare}>"));
        }
        if let Some(section) = open.pop() {
            attach(open, out, section);
        }
        Ok(())
    }
}

/// Adds a finished node to the innermost open section, or to the top level.
fn push(open: &mut [Open], out: &mut Vec<Node>, node: Node) {
    match open.last_mut() {
        Some(parent) => parent.children.push(node),
        None => out.push(node),
    }
}

/// Closes a section: its children move into its node, which joins its parent.
fn attach(open: &mut [Open], out: &mut Vec<Node>, section: Open) {
    let Open { mut node, children } = section;
    node.children = Some(children);
    push(open, out, node);
}

/// Apache truncates a closer word by one byte whatever it is; we drop one character.
/// mod_macro's `warn_if_non_blank`: text after a closer that is not a comment.
fn non_blank(text: &str) -> Option<&str> {
    for c in text.chars() {
        match c {
            '#' => return None,
            ' ' | '\t' => continue,
            _ => return Some(text),
        }
    }
    None
}

fn drop_last_char(word: &str) -> &str {
    let mut chars = word.char_indices();
    match chars.next_back() {
        Some((at, _)) => &word[..at],
        None => word,
    }
}
