//! Filters as Apache chains them. Output: modules register named filters with their kind
//! (AP_FTYPE_*), the insert_filter hooks put filters on a response's chain (SetOutputFilter,
//! AddOutputFilter, mod_filter's, the protocol's own), and the chain runs in the order of the
//! kinds once the handler has answered, each filter taking the response from the one before.
//! A filter sees the whole response: its head and a body that is a file, bytes in memory, or a
//! stream it can wrap (DEFLATE compresses a stream piece by piece as it is sent). Input: the
//! same registration and insertion (SetInputFilter, AddInputFilter); a handler reads the body
//! through the chain's stages piece by piece (`request::input::read_body`). Most filters are
//! compiled in (a static each); a configuration can define more as it is read
//! (mod_ext_filter's ExtFilterDefine), which registries and chains hold beside them.

use std::sync::Arc;

use crate::request::{Request, Response, Step};

/// The bytes of a file body, for a filter that needs them in memory: `len` bytes from
/// `offset`; a file the child cannot read is Apache's AH00132 and a 403.
pub fn read_file_body(req: &Request, file: &std::fs::File, offset: u64, len: u64) -> Step<Vec<u8>> {
    crate::request::open_files::read_range(file, offset, len).map_err(|err| {
        let path = req.filename.clone().unwrap_or_default();
        let text = format!(
            "AH00132: file permissions deny server access: {}",
            path.display()
        );
        req.log_os_error("core", "error", Some(&err), &text);
        403
    })
}

/// Where a filter runs in the chain (Apache's AP_FTYPE_*): content filters first, then those
/// that set the content's encoding, then the protocol's. Filters of one kind run in the order
/// they were inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilterType {
    /// Changes the content itself (INCLUDES, SUBSTITUTE, mod_filter's smart filters).
    Resource = 10,
    /// Just before those that set the encoding (mod_expires' MOD_EXPIRES, Apache's
    /// AP_FTYPE_CONTENT_SET-2): a cache after it sees what it decided.
    BeforeContentSet = 18,
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

/// A registered input filter.
pub struct InputFilter {
    /// The name configurations use (matched without regard to case).
    pub name: &'static str,
    /// The stage this request's body passes through, or `None` when the filter has nothing to
    /// do for it (the body is not one it takes, or its work is done by the connection: CORE_IN,
    /// HTTP_IN's framing, reqtimeout's clock).
    pub start: for<'a, 'r> fn(&'a mut Request<'r>) -> Option<Box<dyn InputStage>>,
}

impl std::fmt::Debug for InputFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// An output filter the configuration defines (mod_ext_filter's ExtFilterDefine): one function
/// serves every definition, told the name it runs under (as Apache's filter functions read
/// `f->frec->name`) to find the definition that applies to the request.
pub struct DefinedOutputFilter {
    pub name: String,
    pub ftype: FilterType,
    pub run: for<'a, 'r> fn(&'a mut Request<'r>, &str, Response) -> Step<Response>,
}

/// An input filter the configuration defines, likewise.
pub struct DefinedInputFilter {
    pub name: String,
    pub start: for<'a, 'r> fn(&'a mut Request<'r>, &str) -> Option<Box<dyn InputStage>>,
}

/// An output filter as registries and chains hold it: compiled in, or defined by the
/// configuration (which lives as long as the runtime built from it).
#[derive(Clone)]
pub enum OutputRef {
    Static(&'static OutputFilter),
    Defined(Arc<DefinedOutputFilter>),
}

impl OutputRef {
    pub fn name(&self) -> &str {
        match self {
            OutputRef::Static(filter) => filter.name,
            OutputRef::Defined(filter) => &filter.name,
        }
    }

    pub fn ftype(&self) -> FilterType {
        match self {
            OutputRef::Static(filter) => filter.ftype,
            OutputRef::Defined(filter) => filter.ftype,
        }
    }

    /// Runs the filter over a response.
    pub fn run(&self, req: &mut Request, response: Response) -> Step<Response> {
        match self {
            OutputRef::Static(filter) => (filter.run)(req, response),
            OutputRef::Defined(filter) => (filter.run)(req, &filter.name, response),
        }
    }

    /// Runs the filter for another filter (mod_filter's harness runs its providers so): a
    /// defined filter is told that filter's name, as Apache's provider sees the harness's
    /// filter record.
    pub fn run_as(&self, req: &mut Request, name: &str, response: Response) -> Step<Response> {
        match self {
            OutputRef::Static(filter) => (filter.run)(req, response),
            OutputRef::Defined(filter) => (filter.run)(req, name, response),
        }
    }
}

impl From<&'static OutputFilter> for OutputRef {
    fn from(filter: &'static OutputFilter) -> Self {
        OutputRef::Static(filter)
    }
}

impl std::fmt::Debug for OutputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.name(), self.ftype())
    }
}

/// An input filter as registries and chains hold it.
#[derive(Clone)]
pub enum InputRef {
    Static(&'static InputFilter),
    Defined(Arc<DefinedInputFilter>),
}

impl InputRef {
    pub fn name(&self) -> &str {
        match self {
            InputRef::Static(filter) => filter.name,
            InputRef::Defined(filter) => &filter.name,
        }
    }

    /// The stage this request's body passes through, if any (see [`InputFilter::start`]).
    pub fn start(&self, req: &mut Request) -> Option<Box<dyn InputStage>> {
        match self {
            InputRef::Static(filter) => (filter.start)(req),
            InputRef::Defined(filter) => (filter.start)(req, &filter.name),
        }
    }
}

impl From<&'static InputFilter> for InputRef {
    fn from(filter: &'static InputFilter) -> Self {
        InputRef::Static(filter)
    }
}

impl std::fmt::Debug for InputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a stage hands the bytes it makes: the next stage, or the handler. An error status
/// stops the read.
pub type Sink<'s> = dyn FnMut(&[u8]) -> Result<(), u16> + 's;

/// One input filter at work on one request body.
pub trait InputStage {
    /// Takes the next piece of the body as the stage before passed it on.
    fn feed(&mut self, piece: &[u8], next: &mut Sink) -> Result<(), u16>;
    /// The exact size this stage's first read asks for, when it asks for one.
    fn first_read(&self) -> Option<usize> {
        None
    }
    /// The body has ended: what is left goes on, and the end is checked.
    fn finish(&mut self, next: &mut Sink) -> Result<(), u16>;
    /// After the read (`whole`: the body was read to its end, by every stage): what the
    /// filter logs and changes in the request.
    fn close(self: Box<Self>, req: &mut Request, whole: bool);
}

/// A filter a registry holds: its name.
pub trait Named {
    fn name(&self) -> &str;
}

impl Named for OutputRef {
    fn name(&self) -> &str {
        OutputRef::name(self)
    }
}

impl Named for InputRef {
    fn name(&self) -> &str {
        InputRef::name(self)
    }
}

/// The filters of one direction the loaded modules registered (and the configuration
/// defined), looked up by name.
#[derive(Debug)]
pub struct FilterRegistry<F>(Vec<F>);

impl<F> Default for FilterRegistry<F> {
    fn default() -> Self {
        FilterRegistry(Vec::new())
    }
}

impl<F: Named + Clone> FilterRegistry<F> {
    /// Registers a filter (Apache's `ap_register_output_filter` and `_input_filter`); a name
    /// registered again is the later filter's, as in Apache.
    pub fn register(&mut self, filter: impl Into<F>) {
        let filter = filter.into();
        self.0
            .retain(|f| !f.name().eq_ignore_ascii_case(filter.name()));
        self.0.push(filter);
    }

    /// The filter a configuration names.
    pub fn find(&self, name: &str) -> Option<F> {
        self.0
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .cloned()
    }
}

/// The input filters a request body passes through, as inserted (Apache runs them in that
/// order too: they are all of one kind here).
#[derive(Debug, Default, Clone)]
pub struct InputChain(pub Vec<InputRef>);

/// The filters one response passes through, as inserted.
#[derive(Debug, Default, Clone)]
pub struct OutputChain(Vec<OutputRef>);

impl OutputChain {
    /// Adds a filter once: a filter named again (by SetOutputFilter and AddOutputFilter both)
    /// does its work once.
    pub fn insert(&mut self, filter: impl Into<OutputRef>) {
        let filter = filter.into();
        if !self.contains(filter.name()) {
            self.0.push(filter);
        }
    }

    /// Empties the chain, keeping its room (a request's chain is set again for each internal
    /// redirect).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The filters in the order they run: by kind, then as inserted.
    pub(crate) fn in_order(&self) -> Vec<OutputRef> {
        let mut filters = self.0.clone();
        filters.sort_by_key(OutputRef::ftype);
        filters
    }
}

/// Puts the filters a `;`-separated list names on the request's output chain (Apache's
/// `ap_add_output_filter` for each); a name no loaded module registered is reported as Apache
/// reports it and left out.
pub fn add_by_names(req: &mut Request, list: &str) {
    for name in list.split(';').filter(|n| !n.is_empty()) {
        match req.rt.hooks.output_filters.find(name) {
            Some(filter) => req.output_chain.insert(filter),
            None => unknown_filter(req, name),
        }
    }
}

/// The same for the input chain (`ap_add_input_filter`).
pub fn add_input_by_names(req: &mut Request, list: &str) {
    for name in list.split(';').filter(|n| !n.is_empty()) {
        match req.rt.hooks.input_filters.find(name) {
            Some(filter) => req.input_chain.0.push(filter),
            None => unknown_filter(req, name),
        }
    }
}

fn unknown_filter(req: &Request, name: &str) {
    let text = format!("AH00082: an unknown filter was not added: {name}");
    req.log_error("core", "error", &text);
}

/// Runs the handler's response through the request's chain.
pub fn run_chain(req: &mut Request, mut response: Response) -> Step<Response> {
    for filter in req.output_chain.in_order() {
        response = filter.run(req, response)?;
    }
    Ok(response)
}

/// Runs only the content filters of the request's chain (those that change the content
/// itself), for an ErrorDocument's answer: the others act on it with the error status.
pub fn run_content_filters(req: &mut Request, mut response: Response) -> Step<Response> {
    let chain = req.output_chain.in_order();
    for filter in chain
        .into_iter()
        .filter(|f| f.ftype() == FilterType::Resource)
    {
        response = filter.run(req, response)?;
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
        let order = chain.in_order();
        let names: Vec<_> = order.iter().map(OutputRef::name).collect();
        assert_eq!(names, ["SUBSTITUTE", "INCLUDES", "DEFLATE", "BYTERANGE"]);
    }

    #[test]
    fn filters_are_found_by_name_in_any_case() {
        let mut registry = FilterRegistry::<OutputRef>::default();
        registry.register(&DEFLATE);
        let found = registry.find("deflate");
        assert_eq!(found.as_ref().map(OutputRef::name), Some("DEFLATE"));
        assert!(registry.find("INFLATE").is_none());
    }
}
