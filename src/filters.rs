//! Output filters as Apache chains them: modules register named filters with their kind
//! (AP_FTYPE_*), the insert_filter hooks put filters on a response's chain (SetOutputFilter,
//! AddOutputFilter, mod_filter's, the protocol's own), and the chain runs in the order of the
//! kinds once the handler has answered, each filter taking the response from the one before.
//! A filter sees the whole response: its head and a body that is a file, bytes in memory, or a
//! stream it can wrap (DEFLATE compresses a stream piece by piece as it is sent).

use crate::request::{Request, Response, Step};

/// Where a filter runs in the chain (Apache's AP_FTYPE_*): content filters first, then those
/// that set the content's encoding, then the protocol's. Filters of one kind run in the order
/// they were inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilterType {
    /// Changes the content itself (INCLUDES, SUBSTITUTE, mod_filter's smart filters).
    Resource = 10,
    /// Sets how the content is encoded (DEFLATE).
    ContentSet = 20,
    /// The HTTP protocol's own (byte ranges, the header filter).
    Protocol = 30,
}

/// A registered output filter.
pub struct OutputFilter {
    /// The name configurations use (matched without regard to case).
    pub name: &'static str,
    pub ftype: FilterType,
    /// Takes the response as the filters before it left it and passes it on; an error status
    /// ends the response (sent as an error raised inside a filter).
    pub run: for<'a, 'r> fn(&'a mut Request<'r>, Response) -> Step<Response>,
}

impl std::fmt::Debug for OutputFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.name, self.ftype)
    }
}

/// The output filters the loaded modules registered, looked up by name.
#[derive(Debug, Default)]
pub struct FilterRegistry(Vec<&'static OutputFilter>);

impl FilterRegistry {
    /// Registers a filter (Apache's `ap_register_output_filter`).
    pub fn register(&mut self, filter: &'static OutputFilter) {
        self.0.push(filter);
    }

    /// The filter a configuration names.
    pub fn find(&self, name: &str) -> Option<&'static OutputFilter> {
        self.0
            .iter()
            .copied()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// The filters one response passes through, as inserted.
#[derive(Debug, Default, Clone)]
pub struct OutputChain(Vec<&'static OutputFilter>);

impl OutputChain {
    /// Adds a filter once: a filter named again (by SetOutputFilter and AddOutputFilter both)
    /// does its work once.
    pub fn insert(&mut self, filter: &'static OutputFilter) {
        if !self.contains(filter.name) {
            self.0.push(filter);
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The filters in the order they run: by kind, then as inserted.
    fn in_order(&self) -> Vec<&'static OutputFilter> {
        let mut filters = self.0.clone();
        filters.sort_by_key(|f| f.ftype);
        filters
    }
}

/// Puts the filters a `;`-separated list names on the request's chain (Apache's
/// `ap_add_output_filter` for each); a name no loaded module registered is reported as Apache
/// reports it and left out.
pub fn add_by_names(req: &mut Request, list: &str) {
    for name in list.split(';').filter(|n| !n.is_empty()) {
        match req.rt.hooks.output_filters.find(name) {
            Some(filter) => req.output_chain.insert(filter),
            None => {
                let text = format!("AH00082: an unknown filter was not added: {name}");
                req.log_error("core", "error", &text);
            }
        }
    }
}

/// Runs the handler's response through the request's chain.
pub fn run_chain(req: &mut Request, mut response: Response) -> Step<Response> {
    for filter in req.output_chain.in_order() {
        response = (filter.run)(req, response)?;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(_: &mut Request, response: Response) -> Step<Response> {
        Ok(response)
    }

    static BYTERANGE: OutputFilter = OutputFilter {
        name: "BYTERANGE",
        ftype: FilterType::Protocol,
        run: pass,
    };
    static DEFLATE: OutputFilter = OutputFilter {
        name: "DEFLATE",
        ftype: FilterType::ContentSet,
        run: pass,
    };
    static INCLUDES: OutputFilter = OutputFilter {
        name: "INCLUDES",
        ftype: FilterType::Resource,
        run: pass,
    };
    static SUBSTITUTE: OutputFilter = OutputFilter {
        name: "SUBSTITUTE",
        ftype: FilterType::Resource,
        run: pass,
    };

    #[test]
    fn the_chain_runs_by_kind_then_as_inserted_and_holds_each_filter_once() {
        let mut chain = OutputChain::default();
        for filter in [&BYTERANGE, &DEFLATE, &SUBSTITUTE, &INCLUDES, &DEFLATE] {
            chain.insert(filter);
        }
        let names: Vec<_> = chain.in_order().iter().map(|f| f.name).collect();
        assert_eq!(names, ["SUBSTITUTE", "INCLUDES", "DEFLATE", "BYTERANGE"]);
    }

    #[test]
    fn filters_are_found_by_name_in_any_case() {
        let mut registry = FilterRegistry::default();
        registry.register(&DEFLATE);
        assert_eq!(registry.find("deflate").map(|f| f.name), Some("DEFLATE"));
        assert!(registry.find("INFLATE").is_none());
    }
}
