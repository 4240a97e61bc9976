//! mod_filter at request time: AddOutputFilterByType, which puts a filter in the chain for
//! responses whose Content-Type (without parameters) is one of the listed types.

/// Per-directory: each filter name with the types it applies to. A section that names a
/// filter replaces that filter's types from outer sections, as Apache's merge does.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub by_type: Vec<(String, Vec<String>)>,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        if directive != "AddOutputFilterByType" {
            return false;
        }
        let Some((names, types)) = words.split_first() else {
            return true;
        };
        for name in names.split(';').filter(|n| !n.is_empty()) {
            let name = name.to_ascii_uppercase();
            match self.by_type.iter_mut().find(|(n, _)| *n == name) {
                Some((_, known)) => known.extend(types.iter().cloned()),
                None => self.by_type.push((name, types.to_vec())),
            }
        }
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        let mut by_type: Vec<(String, Vec<String>)> = self
            .by_type
            .iter()
            .filter(|(name, _)| !child.by_type.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        by_type.extend(child.by_type.iter().cloned());
        Dir { by_type }
    }

    /// The filters whose types match the response's Content-Type.
    pub fn matching<'a>(&'a self, content_type: Option<&str>) -> impl Iterator<Item = &'a str> {
        let bare = content_type.map(|t| {
            let end = t.find([';', ' ', '\t']).unwrap_or(t.len());
            t[..end].to_string()
        });
        self.by_type.iter().filter_map(move |(name, types)| {
            let bare = bare.as_deref()?;
            types.iter().any(|t| t == bare).then_some(name.as_str())
        })
    }
}
