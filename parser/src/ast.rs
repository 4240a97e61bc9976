//! The spanned syntax tree: one [`Node`] per directive or section, with its file and line.

use std::borrow::Cow;
use std::sync::Arc;

/// A directive line or a section (`<Name args>` ... `</Name>`) as Apache's `ap_directive_t` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The registered spelling when the directive is known, else the first word as typed; a
    /// section opener keeps its `<` and loses a trailing `>`.
    pub name: Cow<'static, str>,
    /// The rest of the logical line after `${VAR}` expansion; `>` for a bare `<Section>`.
    pub args: Arc<str>,
    /// The file the node was read from, as Apache names it in messages.
    pub file: Arc<str>,
    /// The physical line number Apache reports for it (the last line of a continued line).
    pub line: u32,
    /// `Some` for a section (possibly empty), `None` for a plain directive.
    pub children: Option<Vec<Node>>,
    /// The read pass's own number for the directive (see [`crate::Known::id`]), so later
    /// stages need not look the name up again.
    pub known_id: Option<u32>,
}

impl Node {
    /// Whether this node opened a section.
    pub fn is_section(&self) -> bool {
        self.children.is_some()
    }

    /// The children of a section; empty for a plain directive.
    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    /// Renders the tree in the indented form the golden tests use.
    pub fn render_tree(nodes: &[Node]) -> String {
        fn walk(nodes: &[Node], depth: usize, out: &mut String) {
            for node in nodes {
                out.push_str(&"  ".repeat(depth));
                out.push_str(&format!("{}: {} [{}]\n", node.line, node.name, node.args));
                if let Some(children) = &node.children {
                    walk(children, depth + 1, out);
                }
            }
        }
        let mut out = String::new();
        walk(nodes, 0, &mut out);
        out
    }
}
