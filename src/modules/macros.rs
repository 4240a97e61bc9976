//! mod_macro, whole: `<Macro>`, `Use` and `UndefMacro`, all run while the configuration is
//! read (the reader calls them at the line, as Apache's EXEC_ON_READ directives run). A macro
//! keeps its raw body lines; `Use` substitutes the arguments into them as text and the result
//! is read in place of the `Use` line, as a pseudo-file named after the macro and the use
//! (which is what error messages and `-S` name).

use std::sync::Arc;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{EXEC_ON_READ, OR_ALL};
use rhttpd_directives::model::{Macro, ReadState, Warning};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_parser::{getword_conf, Builder, Node, ReadPass};

pub static MODULE: ModuleDef = ModuleDef {
    id: "macro_module",
    source: "mod_macro.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "<Macro",
        Raw(run_on_read),
        EXEC_ON_READ | OR_ALL,
        "Beginning of a macro definition section.",
    )
    .implemented(),
    DirectiveDef::new(
        "Use",
        Raw(run_on_read),
        EXEC_ON_READ | OR_ALL,
        "Use of a macro.",
    )
    .implemented(),
    DirectiveDef::new(
        "UndefMacro",
        Take1(run_on_read_take1),
        EXEC_ON_READ | OR_ALL,
        "Remove a macro definition.",
    )
    .implemented(),
    DirectiveDef::new(
        "MacroIgnoreEmptyArgs",
        NoArgs(run_on_read_no_args),
        EXEC_ON_READ | OR_ALL,
        "Globally ignore warnings about empty arguments.",
    )
    .implemented(),
    DirectiveDef::new(
        "MacroIgnoreBadNesting",
        NoArgs(run_on_read_no_args),
        EXEC_ON_READ | OR_ALL,
        "Globally ignore warnings about bad nesting.",
    )
    .implemented(),
];

/// The directives run as the configuration is read (`config::read` calls [`define`],
/// [`use_macro`] and [`undefine`]); nothing is left of them for the walk.
fn run_on_read(_cmd: &mut Cmd, _raw: &str) -> SetResult {
    Ok(())
}

fn run_on_read_take1(_cmd: &mut Cmd, _word: &str) -> SetResult {
    Ok(())
}

fn run_on_read_no_args(_cmd: &mut Cmd) -> SetResult {
    Ok(())
}

/// MacroIgnoreEmptyArgs and MacroIgnoreBadNesting, for the rest of the reading.
pub fn ignore(state: &mut ReadState, directive: &str) {
    match directive {
        "MacroIgnoreEmptyArgs" => state.macro_ignore_empty = true,
        _ => state.macro_ignore_bad_nesting = true,
    }
}

/// The characters Apache expects an argument name to start with.
const ARG_PREFIX: &str = "$%@";
/// An argument whose name starts with this is substituted quoted.
const ESCAPE_ARG: u8 = b'@';
/// Apache's MAX_STRING_LEN: a substituted line must stay below it.
const MAX_LINE: usize = 8192;

fn looks_like_an_argument(word: &str) -> bool {
    word.chars().next().is_some_and(|c| ARG_PREFIX.contains(c))
}

fn warn(state: &mut ReadState, text: String) {
    state.warnings.push(Warning {
        module: "macro",
        level: "warn",
        startup: false,
        text,
    });
}

/// The words of a line as `ap_getword_conf` splits them.
fn arguments(mut line: &str) -> Vec<String> {
    let mut out = Vec::new();
    line = line.trim_start_matches([' ', '\t']);
    while !line.is_empty() {
        out.push(getword_conf(&mut line).into_owned());
        line = line.trim_start_matches([' ', '\t']);
    }
    out
}

/// `<Macro name params...>` at line `node.line`: the body is read raw up to `</Macro>`.
pub fn define(state: &mut ReadState, node: &Node, builder: &mut Builder<'_>) -> Result<(), String> {
    let raw: &str = &node.args;
    let Some(end) = raw.rfind('>') else {
        return Err("<Macro> directive missing closing '>'".into());
    };
    if end == 0 {
        return Err("<Macro macro definition: empty name".into());
    }
    let after = &raw[end + 1..];
    if after
        .trim_start_matches([' ', '\t'])
        .chars()
        .next()
        .is_some_and(|c| c != '#')
    {
        warn(
            state,
            format!(
                "AH02989: AH02801: non blank chars found after <Macro closing '>' on line {} of {}: {after}",
                node.line, node.file
            ),
        );
    }
    let mut inner = &raw[..end];
    let name = getword_conf(&mut inner).to_ascii_lowercase();
    if name.is_empty() {
        return Err("<Macro macro definition: name not found".into());
    }
    if let Some(old) = state.macros.iter().flatten().find(|m| m.name == name) {
        let text = format!(
            "AH02802: macro '{name}' multiply defined: {}, redefined on line {} of \"{}\"",
            old.location, node.line, node.file
        );
        warn(state, text);
    }
    let location = format!("defined on line {} of \"{}\"", node.line, node.file);
    let where_ = format!("macro '{name}' ({location})");
    if looks_like_an_argument(&name) {
        let text =
            format!("AH02803: {where_} better prefix a macro name with any of '{ARG_PREFIX}'");
        warn(state, text);
    }
    // `/IgnoreEmptyArgs` and `/IgnoreBadNesting` before the parameters.
    let (mut ignore_empty, mut ignore_nesting) = (false, false);
    let mut rest = inner.as_bytes();
    while rest.first() == Some(&b'/') {
        for (flag, slot) in [
            (&b"/IgnoreEmptyArgs"[..], &mut ignore_empty),
            (&b"/IgnoreBadNesting"[..], &mut ignore_nesting),
        ] {
            if rest.len() >= flag.len() && rest[..flag.len()].eq_ignore_ascii_case(flag) {
                *slot = true;
                rest = &rest[flag.len()..];
                break;
            }
        }
        if rest.is_empty() {
            break;
        }
        if rest[0] != b' ' {
            let space = rest.iter().position(|&b| b == b' ');
            let word = String::from_utf8_lossy(&rest[..space.unwrap_or(rest.len())]);
            warn(state, format!("AH02804: {where_}: unknown flag '{word}'"));
            // Apache goes on from the space after the word; without one, from the word's
            // second character.
            if let Some(space) = space {
                rest = &rest[space..];
            }
        }
        rest = rest.get(1..).unwrap_or_default();
    }
    let inner = std::str::from_utf8(rest).unwrap_or_default();
    let parameters = arguments(inner);
    check_parameters(state, &name, &location, &parameters)?;
    let ignore_nesting = ignore_nesting || state.macro_ignore_bad_nesting;
    let (lines, warnings) = builder
        .raw_lines("</Macro>", "<Macro", &where_, ignore_nesting)
        .map_err(|e| format!("{where_}\n\tcontents error: {e}"))?;
    for text in warnings {
        warn(state, text);
    }
    let defined = Macro {
        name,
        parameters,
        lines,
        location,
        ignore_empty,
    };
    check_contents(state, &defined)
        .map_err(|e| format!("{where_}\n\tcontents checking error: {e}"))?;
    let macros = state.macros.get_or_insert_with(Vec::new);
    macros.retain(|m| m.name != defined.name);
    macros.push(defined);
    Ok(())
}

/// Apache's `check_macro_arguments`: no empty or repeated names; warnings for names without
/// the expected prefix and for names one of which starts the other.
fn check_parameters(
    state: &mut ReadState,
    name: &str,
    location: &str,
    parameters: &[String],
) -> Result<(), String> {
    for (i, a) in parameters.iter().enumerate() {
        if a.is_empty() {
            return Err(format!(
                "macro '{name}' ({location}): empty argument #{} name",
                i + 1
            ));
        }
        if !looks_like_an_argument(a) {
            let text = format!(
                "AH02796: macro '{name}' ({location}) argument name '{a}' (#{}) without expected prefix, better prefix argument names with one of '{ARG_PREFIX}'.",
                i + 1
            );
            warn(state, text);
        }
        for (j, b) in parameters.iter().enumerate().skip(i + 1) {
            if a == b {
                return Err(format!(
                    "argument name conflict in macro '{name}' ({location}): argument '{a}': #{} and #{}, change argument names!",
                    i + 1,
                    j + 1
                ));
            }
            let shorter = a.len().min(b.len());
            if !b.is_empty() && a.as_bytes()[..shorter] == b.as_bytes()[..shorter] {
                let text = format!(
                    "AH02797: macro '{name}' ({location}): argument name prefix conflict ({a} #{} and {b} #{}), be careful about your macro definition!",
                    i + 1,
                    j + 1
                );
                warn(state, text);
            }
        }
    }
    Ok(())
}

/// Apache's `check_macro_contents`: an empty body and parameters the body never names are
/// warned about; a body line that cannot take its own parameters is an error.
fn check_contents(state: &mut ReadState, defined: &Macro) -> Result<(), String> {
    if defined.lines.is_empty() {
        let text = format!(
            "AH02799: macro '{}' ({}): empty contents!",
            defined.name, defined.location
        );
        warn(state, text);
        return Ok(());
    }
    let mut used = vec![false; defined.parameters.len()];
    substitute_all(defined, &defined.parameters, Some(&mut used))?;
    for (i, parameter) in defined.parameters.iter().enumerate() {
        if !used[i] {
            let text = format!(
                "AH02800: macro '{}' ({}): argument '{parameter}' (#{}) never used",
                defined.name,
                defined.location,
                i + 1
            );
            warn(state, text);
        }
    }
    Ok(())
}

/// Every body line with the replacements in (Apache's `process_content`).
fn substitute_all(
    defined: &Macro,
    replacements: &[String],
    mut used: Option<&mut [bool]>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(defined.lines.len());
    for (index, line) in defined.lines.iter().enumerate() {
        let substituted =
            substitute_line(line, &defined.parameters, replacements, used.as_deref_mut()).map_err(
                |e| {
                    format!(
                        "while processing line {} of macro '{}' ({}) {e}",
                        index + 1,
                        defined.name,
                        defined.location
                    )
                },
            )?;
        out.push(substituted);
    }
    Ok(out)
}

/// One line's substitutions, left to right: at each step the earliest parameter name found
/// (the longest where two start at one place) is replaced, an `@` parameter's value quoted
/// with `"` and `\` escaped. The scan goes on after as many bytes as the value has unquoted,
/// as Apache's does.
fn substitute_line(
    line: &str,
    parameters: &[String],
    replacements: &[String],
    mut used: Option<&mut [bool]>,
) -> Result<String, &'static str> {
    let mut buf: Vec<u8> = line.as_bytes().to_vec();
    buf.truncate(MAX_LINE - 1);
    let mut pos = 0;
    loop {
        let mut chosen: Option<(usize, usize)> = None;
        for (i, name) in parameters.iter().enumerate() {
            let Some(found) = find(&buf[pos..], name.as_bytes()) else {
                continue;
            };
            let better = match chosen {
                None => true,
                Some((at, j)) => found < at || (found == at && parameters[j].len() < name.len()),
            };
            if better {
                chosen = Some((found, i));
            }
        }
        let Some((found, i)) = chosen else {
            break;
        };
        let at = pos + found;
        let (name, value) = (parameters[i].as_bytes(), replacements[i].as_bytes());
        if name != value {
            let mut insert = Vec::with_capacity(value.len() + 2);
            if name[0] == ESCAPE_ARG {
                insert.push(b'"');
                for &c in value {
                    if c == b'"' || c == b'\\' {
                        insert.push(b'\\');
                    }
                    insert.push(c);
                }
                insert.push(b'"');
            } else {
                insert.extend_from_slice(value);
            }
            if buf.len() - name.len() + insert.len() >= MAX_LINE {
                return Err("cannot substitute, buffer size too small");
            }
            buf.splice(at..at + name.len(), insert);
        }
        pos = (at + value.len()).min(buf.len());
        if let Some(used) = used.as_deref_mut() {
            used[i] = true;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `Use name values...`: the name of the pseudo-file the use reads and its text, the macro's
/// body with the values in, which the reader reads in place of the line.
pub fn expand(state: &mut ReadState, node: &Node) -> Result<(String, String), String> {
    let Some(macros) = &state.macros else {
        return Err("no macro defined before Use".into());
    };
    let mut rest: &str = &node.args;
    let name = getword_conf(&mut rest).to_ascii_lowercase();
    if name.is_empty() {
        return Err("no macro name specified with Use".into());
    }
    let Some(defined) = macros.iter().find(|m| m.name == name).cloned() else {
        return Err(format!("macro '{name}' undefined"));
    };
    // A use inside the macro's own expansion: the pseudo-file's name says whose it is.
    if node.file.contains(&format!("macro '{name}'")) {
        return Err(format!("recursive use of macro '{name}' is invalid"));
    }
    let values = arguments(rest);
    if values.len() != defined.parameters.len() {
        return Err(format!(
            "macro '{name}' ({}) used with {} arguments instead of {}",
            defined.location,
            values.len(),
            defined.parameters.len()
        ));
    }
    let where_ = format!(
        "macro '{name}' ({}) used on line {} of \"{}\"",
        defined.location, node.line, node.file
    );
    let ignore_empty = state.macro_ignore_empty || defined.ignore_empty;
    for (i, value) in values.iter().enumerate() {
        if value.is_empty() && !ignore_empty {
            warn(
                state,
                format!("AH02798: {where_}: empty argument #{}", i + 1),
            );
        }
    }
    let lines = substitute_all(&defined, &values, None)
        .map_err(|e| format!("{where_} error while substituting: {e}"))?;
    Ok((where_, lines.join("\n")))
}

/// Reads a use's text as the pseudo-file `where_` with the reader's pass (so a `Use` or an
/// `<IfModule>` inside works as it would in a file).
pub fn read_use(pass: &mut dyn ReadPass, where_: &str, text: &str) -> Result<Vec<Node>, String> {
    let mut builder = Builder::new(text, Arc::from(where_));
    builder
        .build(pass)
        .map_err(|e| format!("Syntax error on line {} of {where_}: {}", e.line, e.message))
}

/// `UndefMacro name`.
pub fn undefine(state: &mut ReadState, name: &str) -> Result<(), String> {
    let Some(macros) = &mut state.macros else {
        return Err("no macro defined before UndefMacro".into());
    };
    if name.is_empty() {
        return Err("no macro name specified with UndefMacro".into());
    }
    let name = name.to_ascii_lowercase();
    if !macros.iter().any(|m| m.name == name) {
        return Err(format!("cannot remove undefined macro '{name}'"));
    }
    macros.retain(|m| m.name != name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_earliest_then_longest_parameter_is_replaced_and_at_ones_are_quoted() {
        let params = strings(&["$a", "$ab", "@q"]);
        let values = strings(&["X", "Y", "say \"hi\""]);
        assert_eq!(
            substitute_line("$ab-$a @q", &params, &values, None).unwrap(),
            "Y-X \"say \\\"hi\\\"\""
        );
    }

    #[test]
    fn a_value_holding_a_parameter_name_is_not_scanned_again() {
        let params = strings(&["$x"]);
        let values = strings(&["$x$x"]);
        assert_eq!(
            substitute_line("a $x b", &params, &values, None).unwrap(),
            "a $x$x b"
        );
    }

    #[test]
    fn a_line_growing_past_the_limit_is_refused() {
        let params = strings(&["$x"]);
        let values = vec!["v".repeat(9000)];
        assert!(substitute_line("$x", &params, &values, None).is_err());
    }
}
