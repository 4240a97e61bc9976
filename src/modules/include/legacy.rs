//! The expressions of `<!--#if expr -->` under SSILegacyExprParser On: Apache 2.2's syntax
//! (strings with `$var`s, `=` `!=` `<` `<=` `>` `>=`, `/regex/` after `=` or `!=`, `&&`,
//! `||`, `!`, parentheses and `-A url`), tokenized, built into a tree and evaluated as
//! mod_include's `parse_expr` does, with its messages.

use super::elements::Ssi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Re,
    And,
    Or,
    Not,
    Eq,
    Ne,
    RBrace,
    LBrace,
    Group,
    Ge,
    Le,
    Gt,
    Lt,
    Access,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    value: String,
}

/// `get_ptoken`: the next token from `at`; `None` at the end.
fn next_token(text: &[u8], at: &mut usize, previous: Option<Kind>) -> Option<Token> {
    while *at < text.len() && text[*at].is_ascii_whitespace() {
        *at += 1;
    }
    if *at >= text.len() {
        return None;
    }
    let simple = |kind| {
        Some(Token {
            kind,
            value: String::new(),
        })
    };
    let c = text[*at];
    *at += 1;
    let next = text.get(*at).copied();
    let mut kind = Kind::String;
    let mut unmatched = 0u8;
    match c {
        b'(' => return simple(Kind::LBrace),
        b')' => return simple(Kind::RBrace),
        b'=' => {
            if next == Some(b'=') {
                *at += 1;
            }
            return simple(Kind::Eq);
        }
        b'!' => {
            if next == Some(b'=') {
                *at += 1;
                return simple(Kind::Ne);
            }
            return simple(Kind::Not);
        }
        b'\'' => unmatched = b'\'',
        b'/' if previous != Some(Kind::Access) => {
            kind = Kind::Re;
            unmatched = b'/';
        }
        b'|' if next == Some(b'|') => {
            *at += 1;
            return simple(Kind::Or);
        }
        b'&' if next == Some(b'&') => {
            *at += 1;
            return simple(Kind::And);
        }
        b'>' | b'<' => {
            let (or_equal, plain) = if c == b'>' {
                (Kind::Ge, Kind::Gt)
            } else {
                (Kind::Le, Kind::Lt)
            };
            if next == Some(b'=') {
                *at += 1;
                return simple(or_equal);
            }
            return simple(plain);
        }
        b'-' if next == Some(b'A') => {
            *at += 1;
            return simple(Kind::Access);
        }
        _ => {}
    }
    // A string or regex: up to the next token (or the closing quote or slash).
    let start = if unmatched != 0 { *at } else { *at - 1 };
    *at = start;
    let mut value = Vec::new();
    let mut closed = unmatched == 0;
    while *at < text.len() {
        let b = text[*at];
        if b == b'\\' {
            *at += 1;
            match text.get(*at) {
                None => {
                    value.push(b'\\');
                    break;
                }
                Some(&escaped) => value.push(escaped),
            }
            *at += 1;
            continue;
        }
        if unmatched != 0 {
            if b == unmatched {
                *at += 1;
                closed = true;
                break;
            }
        } else if b.is_ascii_whitespace() {
            break;
        } else {
            let ends = match b {
                b'(' | b')' | b'=' | b'!' | b'<' | b'>' => true,
                b'|' | b'&' => text.get(*at + 1) == Some(&b),
                _ => false,
            };
            if ends {
                break;
            }
        }
        value.push(b);
        *at += 1;
    }
    let value = if closed {
        String::from_utf8_lossy(&value).into_owned()
    } else {
        // An unclosed quote or slash leaves an empty token.
        String::new()
    };
    Some(Token { kind, value })
}

#[derive(Debug, Clone)]
struct Node {
    token: Token,
    parent: Option<usize>,
    left: Option<usize>,
    right: Option<usize>,
    done: bool,
    value: bool,
}

/// Evaluates a legacy expression for the document; `None` after an error (logged).
pub(super) fn evaluate(ssi: &mut Ssi, expr: &str) -> Option<bool> {
    let file = ssi
        .req
        .filename
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "(null)".into());
    let fail = |ssi: &Ssi, text: String| {
        ssi.req.log_error("include", "error", &text);
        None
    };
    let invalid = format!("AH03188: Invalid expression \"{expr}\" in file {file}");
    let text = expr.as_bytes();
    let mut nodes: Vec<Node> = Vec::new();
    let mut root: Option<usize> = None;
    let mut current: Option<usize> = None;
    let mut regexes = 0usize;
    let mut at = 0;
    loop {
        let previous = current.map(|c| nodes[c].token.kind);
        let Some(token) = next_token(text, &mut at, previous) else {
            break;
        };
        let new = nodes.len();
        nodes.push(Node {
            token,
            parent: None,
            left: None,
            right: None,
            done: false,
            value: false,
        });
        let Some(cur) = current else {
            match nodes[new].token.kind {
                Kind::String | Kind::Not | Kind::Access | Kind::LBrace => {
                    root = Some(new);
                    current = Some(new);
                    continue;
                }
                _ => return fail(ssi, invalid),
            }
        };
        let mut error = invalid.clone();
        let kind = nodes[new].token.kind;
        let cur_kind = nodes[cur].token.kind;
        let handled = match kind {
            Kind::String => match cur_kind {
                Kind::String => {
                    let joined = {
                        let old = &nodes[cur].token.value;
                        let space = if old.is_empty() { "" } else { " " };
                        format!("{old}{space}{}", nodes[new].token.value)
                    };
                    nodes[cur].token.value = joined;
                    true
                }
                Kind::Re | Kind::RBrace | Kind::Group => false,
                _ => {
                    nodes[new].parent = Some(cur);
                    nodes[cur].right = Some(new);
                    current = Some(new);
                    true
                }
            },
            Kind::Re => match cur_kind {
                Kind::Eq | Kind::Ne => {
                    nodes[new].parent = Some(cur);
                    nodes[cur].right = Some(new);
                    current = Some(new);
                    regexes += 1;
                    true
                }
                _ => false,
            },
            Kind::And | Kind::Or => match cur_kind {
                Kind::String | Kind::Re | Kind::Group => {
                    let mut up = nodes[cur].parent;
                    while let Some(u) = up {
                        if matches!(nodes[u].token.kind, Kind::And | Kind::Or | Kind::LBrace) {
                            break;
                        }
                        up = nodes[u].parent;
                    }
                    match up {
                        None => {
                            let r = root.expect("a tree has a root");
                            nodes[new].left = Some(r);
                            nodes[r].parent = Some(new);
                            root = Some(new);
                            current = Some(new);
                        }
                        Some(u) => {
                            let moved = nodes[u].right;
                            nodes[new].left = moved;
                            if let Some(m) = moved {
                                nodes[m].parent = Some(new);
                            }
                            nodes[new].parent = Some(u);
                            nodes[u].right = Some(new);
                            current = Some(new);
                        }
                    }
                    true
                }
                _ => false,
            },
            Kind::Eq | Kind::Ne | Kind::Ge | Kind::Gt | Kind::Le | Kind::Lt => {
                if cur_kind == Kind::String {
                    match nodes[cur].parent {
                        None => {
                            let r = root.expect("a tree has a root");
                            nodes[new].left = Some(r);
                            nodes[r].parent = Some(new);
                            root = Some(new);
                            current = Some(new);
                            true
                        }
                        Some(p)
                            if matches!(
                                nodes[p].token.kind,
                                Kind::LBrace | Kind::And | Kind::Or
                            ) =>
                        {
                            let moved = nodes[p].right;
                            nodes[new].left = moved;
                            if let Some(m) = moved {
                                nodes[m].parent = Some(new);
                            }
                            nodes[new].parent = Some(p);
                            nodes[p].right = Some(new);
                            current = Some(new);
                            true
                        }
                        Some(_) => false,
                    }
                } else {
                    false
                }
            }
            Kind::RBrace => {
                let mut up = Some(cur);
                while let Some(u) = up {
                    if nodes[u].token.kind == Kind::LBrace {
                        break;
                    }
                    up = nodes[u].parent;
                }
                match up {
                    Some(u) => {
                        nodes[u].token.kind = Kind::Group;
                        current = Some(u);
                        true
                    }
                    None => {
                        error = format!("AH03189: Unmatched ')' in \"{expr}\" in file {file}");
                        false
                    }
                }
            }
            Kind::Not | Kind::Access | Kind::LBrace => match cur_kind {
                Kind::String | Kind::Re | Kind::RBrace | Kind::Group => false,
                _ => {
                    nodes[cur].right = Some(new);
                    nodes[new].parent = Some(cur);
                    current = Some(new);
                    true
                }
            },
            Kind::Group => false,
        };
        if !handled {
            return fail(ssi, error);
        }
    }

    // Evaluate the tree from the root down and back up.
    let mut current = root;
    while let Some(cur) = current {
        let kind = nodes[cur].token.kind;
        match kind {
            Kind::String => {
                let value = expand(ssi, &nodes[cur].token.value);
                nodes[cur].value = !value.is_empty();
                nodes[cur].token.value = value;
            }
            Kind::And | Kind::Or => {
                let (Some(left), Some(right)) = (nodes[cur].left, nodes[cur].right) else {
                    return fail(
                        ssi,
                        format!("AH01332: Invalid expression \"{expr}\" in file {file}"),
                    );
                };
                if !nodes[left].done {
                    if nodes[left].token.kind == Kind::String {
                        let value = expand(ssi, &nodes[left].token.value);
                        nodes[left].value = !value.is_empty();
                        nodes[left].token.value = value;
                        nodes[left].done = true;
                    } else {
                        current = Some(left);
                        continue;
                    }
                }
                let short = !nodes[right].done
                    && regexes == 0
                    && ((kind == Kind::And && !nodes[left].value)
                        || (kind == Kind::Or && nodes[left].value));
                if short {
                    nodes[cur].value = nodes[left].value;
                } else {
                    if !nodes[right].done {
                        if nodes[right].token.kind == Kind::String {
                            let value = expand(ssi, &nodes[right].token.value);
                            nodes[right].value = !value.is_empty();
                            nodes[right].token.value = value;
                            nodes[right].done = true;
                        } else {
                            current = Some(right);
                            continue;
                        }
                    }
                    nodes[cur].value = if kind == Kind::And {
                        nodes[left].value && nodes[right].value
                    } else {
                        nodes[left].value || nodes[right].value
                    };
                }
            }
            Kind::Eq | Kind::Ne => {
                let operands = string_operands(&nodes, cur, true);
                let Some((left, right)) = operands else {
                    return fail(
                        ssi,
                        format!("AH01333: Invalid expression \"{expr}\" in file {file}"),
                    );
                };
                let lhs = expand(ssi, &nodes[left].token.value);
                let rhs = expand(ssi, &nodes[right].token.value);
                nodes[left].token.value = lhs.clone();
                nodes[right].token.value = rhs.clone();
                let mut value = if nodes[right].token.kind == Kind::Re {
                    regexes = regexes.saturating_sub(1);
                    let Some(matched) = ssi.regex_match(&lhs, &rhs) else {
                        // Apache takes the compile failure (-1) as true.
                        nodes[cur].value = kind == Kind::Eq;
                        nodes[cur].done = true;
                        current = nodes[cur].parent;
                        continue;
                    };
                    matched
                } else {
                    lhs == rhs
                };
                if kind == Kind::Ne {
                    value = !value;
                }
                nodes[cur].value = value;
            }
            Kind::Ge | Kind::Gt | Kind::Le | Kind::Lt => {
                let operands = string_operands(&nodes, cur, false);
                let Some((left, right)) = operands else {
                    return fail(
                        ssi,
                        format!("AH01334: Invalid expression \"{expr}\" in file {file}"),
                    );
                };
                let lhs = expand(ssi, &nodes[left].token.value);
                let rhs = expand(ssi, &nodes[right].token.value);
                let order = lhs.as_bytes().cmp(rhs.as_bytes());
                nodes[left].token.value = lhs;
                nodes[right].token.value = rhs;
                nodes[cur].value = match kind {
                    Kind::Ge => order.is_ge(),
                    Kind::Gt => order.is_gt(),
                    Kind::Le => order.is_le(),
                    _ => order.is_lt(),
                };
            }
            Kind::Not | Kind::Group => {
                if let Some(right) = nodes[cur].right {
                    if !nodes[right].done {
                        current = Some(right);
                        continue;
                    }
                    nodes[cur].value = nodes[right].value;
                } else {
                    nodes[cur].value = true;
                }
                if kind == Kind::Not {
                    nodes[cur].value = !nodes[cur].value;
                }
            }
            Kind::Access => {
                let right = nodes[cur]
                    .right
                    .filter(|&r| matches!(nodes[r].token.kind, Kind::String | Kind::Re));
                let (None, Some(right)) = (nodes[cur].left, right) else {
                    return fail(
                        ssi,
                        format!(
                            "AH01335: Invalid expression \"{expr}\" in file {file}: Token '-A' \
                             must be followed by a URI string."
                        ),
                    );
                };
                let uri = expand(ssi, &nodes[right].token.value);
                nodes[right].token.value = uri.clone();
                nodes[cur].value = ssi.access_ok(&uri);
            }
            Kind::Re => {
                return fail(
                    ssi,
                    format!("AH03190: No operator before regex in expr \"{expr}\" in file {file}"),
                )
            }
            Kind::LBrace => {
                return fail(
                    ssi,
                    format!("AH03191: Unmatched '(' in \"{expr}\" in file {file}"),
                )
            }
            Kind::RBrace => {
                return fail(
                    ssi,
                    format!("AH03192: internal parser error in \"{expr}\" in file {file}"),
                )
            }
        }
        nodes[cur].done = true;
        current = nodes[cur].parent;
    }
    Some(root.is_some_and(|r| nodes[r].value))
}

/// A comparison's two operands when both are strings (the right one may be a regex where
/// `regex_right`); None makes the expression invalid.
fn string_operands(nodes: &[Node], cur: usize, regex_right: bool) -> Option<(usize, usize)> {
    let (l, r) = (nodes[cur].left?, nodes[cur].right?);
    let right_ok = match nodes[r].token.kind {
        Kind::String => true,
        Kind::Re => regex_right,
        _ => false,
    };
    (nodes[l].token.kind == Kind::String && right_ok).then_some((l, r))
}

fn expand(ssi: &Ssi, text: &str) -> String {
    String::from_utf8_lossy(&ssi.interpolate(text.as_bytes(), false)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(Kind, String)> {
        let mut at = 0;
        let mut out = Vec::new();
        let mut previous = None;
        while let Some(token) = next_token(text.as_bytes(), &mut at, previous) {
            previous = Some(token.kind);
            out.push((token.kind, token.value));
        }
        out
    }

    #[test]
    fn tokens_split_as_apache_splits_them() {
        let got = tokens("$a = 'x y' && !($b=/^z/) || -A /u");
        let kinds: Vec<Kind> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                Kind::String,
                Kind::Eq,
                Kind::String,
                Kind::And,
                Kind::Not,
                Kind::LBrace,
                Kind::String,
                Kind::Eq,
                Kind::Re,
                Kind::RBrace,
                Kind::Or,
                Kind::Access,
                Kind::String
            ]
        );
        assert_eq!(got[2].1, "x y");
        assert_eq!(got[8].1, "^z");
        assert_eq!(got[12].1, "/u");
    }
}
