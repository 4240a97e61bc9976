//! mod_autoindex: generated directory listings and their icons, descriptions and options.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "autoindex_module",
    source: "mod_autoindex.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AddIcon",
        Iterate2(add_icon),
        OR_INDEXES,
        "an icon URL followed by one or more filenames",
    )
    .implemented(),
    DirectiveDef::new(
        "AddIconByType",
        Iterate2(add_icon),
        OR_INDEXES,
        "an icon URL followed by one or more MIME types",
    )
    .implemented(),
    DirectiveDef::new(
        "AddIconByEncoding",
        Iterate2(add_icon),
        OR_INDEXES,
        "an icon URL followed by one or more content encodings",
    )
    .implemented(),
    DirectiveDef::new(
        "AddAlt",
        Iterate2(raw2),
        OR_INDEXES,
        "alternate descriptive text followed by one or more filenames",
    )
    .implemented(),
    DirectiveDef::new(
        "AddAltByType",
        Iterate2(raw2),
        OR_INDEXES,
        "alternate descriptive text followed by one or more MIME types",
    )
    .implemented(),
    DirectiveDef::new(
        "AddAltByEncoding",
        Iterate2(raw2),
        OR_INDEXES,
        "alternate descriptive text followed by one or more content encodings",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexOptions",
        Argv(index_options),
        OR_INDEXES,
        "one or more index options [+|-][]",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexOrderDefault",
        Take2(index_order_default),
        OR_INDEXES,
        "{Ascending,Descending} {Name,Size,Description,Date}",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexIgnore",
        Iterate(raw1),
        OR_INDEXES,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexIgnoreReset",
        Flag(raw_flag),
        OR_INDEXES,
        "Reset the inherited list of IndexIgnore filenames",
    )
    .implemented(),
    DirectiveDef::new(
        "AddDescription",
        Iterate2(raw2),
        OR_INDEXES,
        "Descriptive text followed by one or more filenames",
    )
    .implemented(),
    DirectiveDef::new("HeaderName", Take1(raw1), OR_INDEXES, "a filename").implemented(),
    DirectiveDef::new("ReadmeName", Take1(raw1), OR_INDEXES, "a filename").implemented(),
    DirectiveDef::new(
        "FancyIndexing",
        Raw(super::core::deprecated_raw),
        OR_ALL,
        "The FancyIndexing directive is no longer supported. Use IndexOptions FancyIndexing.",
    )
    .implemented(),
    DirectiveDef::new("DefaultIcon", Take1(raw1), OR_INDEXES, "an icon URL").implemented(),
    DirectiveDef::new(
        "IndexStyleSheet",
        Take1(raw1),
        OR_INDEXES,
        "URL to style sheet",
    )
    .implemented(),
    DirectiveDef::new(
        "IndexHeadInsert",
        Take1(raw1),
        OR_INDEXES,
        "String to insert in HTML HEAD section",
    )
    .implemented(),
];

/// AddIcon*: an icon given as `(alt,url)` needs its closing parenthesis.
fn add_icon(cmd: &mut Cmd, icon: &str, _to: &str) -> SetResult {
    if icon.starts_with('(') && !icon.contains(')') {
        return Err("missing closing paren".into());
    }
    cmd.store_raw();
    Ok(())
}

fn index_order_default(cmd: &mut Cmd, direction: &str, key: &str) -> SetResult {
    if !["Ascending", "Descending"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(direction))
    {
        return Err("First keyword must be 'Ascending' or 'Descending'".into());
    }
    if !["Name", "Date", "Size", "Description"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
    {
        return Err("Second keyword must be 'Name', 'Date', 'Size', or 'Description'".into());
    }
    cmd.store_raw();
    Ok(())
}

/// The options IndexOptions switches on or off, by bit (mod_autoindex's order).
const INDEX_FLAGS: &[&str] = &[
    "IconsAreLinks",
    "ScanHTMLTitles",
    "SuppressIcon",
    "SuppressLastModified",
    "SuppressSize",
    "SuppressDescription",
    "SuppressHTMLPreamble",
    "SuppressColumnSorting",
    "SuppressRules",
    "FoldersFirst",
    "VersionSort",
    "TrackModified",
    "FancyIndexing",
    "HTMLTable",
    "IgnoreClient",
    "IgnoreCase",
    "XHTML",
    "ShowForbidden",
    "AddAltClass",
];
const NO_OPTIONS: u32 = 1;
const OPTION_UNSET: u32 = 1 << 20;

/// One IndexOptions line applied to the section's options so far (`None` resets them).
fn apply_index_options(mut opts: u32, argv: &[String]) -> Result<u32, &'static str> {
    for word in argv {
        let (action, w) = match word.as_bytes().first() {
            Some(b'+') => (Some('+'), &word[1..]),
            Some(b'-') => (Some('-'), &word[1..]),
            _ => (None, word.as_str()),
        };
        let is = |name: &str| w.eq_ignore_ascii_case(name);
        let mut option = 0;
        if let Some(bit) = INDEX_FLAGS.iter().position(|f| is(f)) {
            option = 2 << bit;
        } else if is("None") {
            if action.is_some() {
                return Err("Cannot combine '+' or '-' with 'None' keyword");
            }
            opts = NO_OPTIONS;
        } else if is("IconWidth") || is("IconHeight") {
        } else if starts_with_ignore_case(w, "IconWidth=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with IconWidth=n");
            }
        } else if starts_with_ignore_case(w, "IconHeight=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with IconHeight=n");
            }
        } else if is("NameWidth") {
            if action != Some('-') {
                return Err("NameWidth with no value may only appear as '-NameWidth'");
            }
        } else if starts_with_ignore_case(w, "NameWidth=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with NameWidth=n");
            }
            let value = &w["NameWidth=".len()..];
            let width = atoi_int(value);
            if !value.starts_with('*') && width != 0 && width < 5 {
                return Err("NameWidth value must be greater than 5");
            }
        } else if is("DescriptionWidth") {
            if action != Some('-') {
                return Err(
                    "DescriptionWidth with no value may only appear as '-DescriptionWidth'",
                );
            }
        } else if starts_with_ignore_case(w, "DescriptionWidth=") {
            if action == Some('-') {
                return Err("Cannot combine '-' with DescriptionWidth=n");
            }
            let value = &w["DescriptionWidth=".len()..];
            let width = atoi_int(value);
            if !value.starts_with('*') && width != 0 && width < 12 {
                return Err("DescriptionWidth value must be greater than 12");
            }
        } else if starts_with_ignore_case(w, "Type=")
            || starts_with_ignore_case(w, "Charset=")
            || is("UseOldDateFormat")
        {
        } else {
            return Err("Invalid directory indexing option");
        }
        if action.is_none() {
            opts |= option;
        }
    }
    if opts & NO_OPTIONS != 0 && opts & !NO_OPTIONS != 0 {
        return Err("Cannot combine other IndexOptions keywords with 'None'");
    }
    Ok(opts)
}

/// IndexOptions: options accumulate over the section's lines, so `None` on one line and a
/// keyword on a later one conflict.
fn index_options(cmd: &mut Cmd, argv: &[String]) -> SetResult {
    let mut opts = OPTION_UNSET;
    for (_, args) in earlier_lines(cmd, &["IndexOptions"]) {
        if let Ok(crate::apply::Words::List(words)) = crate::apply::split_args(cmd.def, &args) {
            let words: Vec<String> = words.into_iter().map(|w| w.into_owned()).collect();
            opts = apply_index_options(opts, &words).unwrap_or(opts);
        }
    }
    apply_index_options(opts, argv)?;
    cmd.store_raw();
    Ok(())
}
