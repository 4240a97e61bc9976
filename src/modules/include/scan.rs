//! The INCLUDES filter's scanner, state for state as Apache's `send_parsed_content` walks its
//! brigade: text before a start tag passes on, the element's name and `name="value"`
//! arguments are gathered across as many pieces as they span (a tag may be split anywhere),
//! and a complete element is handed to the [`Host`] to run. It also decides where Apache
//! passes what it has on down the chain (before an element, every 8000 bytes read, when an
//! element asks), which shows in the response's framing. It knows nothing of elements.

use std::collections::VecDeque;

/// Apache's AP_MIN_BYTES_TO_WRITE: read more than this and what is waiting passes on.
const MIN_BYTES_TO_WRITE: usize = 8000;

/// One argument of an element: its name (`None` when a value came without one) and its value
/// (`None` for a bare name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Option<Vec<u8>>,
}

/// Where the scanner's output goes: what waits to be passed on, and the passes made.
#[derive(Debug, Default)]
pub struct Output {
    /// Apache's pass brigade: bytes waiting, and whether it holds anything at all (an empty
    /// piece still makes a pass).
    pending: Vec<u8>,
    holds: bool,
    /// Each pass down the chain, in order.
    pub passes: Vec<Vec<u8>>,
    /// An element asked for what waits to go on now (printenv, exec).
    pub flush_now: bool,
}

impl Output {
    /// Adds to what waits to be passed on.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.holds = true;
    }

    /// Passes what waits on (`ap_pass_brigade`), if anything does.
    fn pass(&mut self) {
        if self.holds {
            self.passes.push(std::mem::take(&mut self.pending));
            self.holds = false;
        }
    }

    /// Bytes a sub-request passed down the chain itself, ahead of what waits here.
    pub fn pass_direct(&mut self, bytes: Vec<u8>) {
        self.passes.push(bytes);
    }

    /// The last pass, with the end of the body.
    fn finish(&mut self) {
        self.passes.push(std::mem::take(&mut self.pending));
        self.holds = false;
    }
}

/// What runs the elements the scanner finds.
pub trait Host {
    /// Whether text is printed (outside a false `if`).
    fn printing(&self) -> bool;
    /// The text that stands for an element that failed.
    fn error_text(&self) -> Vec<u8>;
    /// Logs a scanner error (`level` "error" or "warn", the message with its AH number).
    fn report(&mut self, level: &str, message: String);
    /// The document's name for messages (`r->filename`).
    fn filename(&self) -> String;
    /// Runs an element, its name lower-cased; `false` when there is no such element.
    fn execute(&mut self, name: &str, args: Vec<Arg>, out: &mut Output) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    PreHead,
    Head,
    Directive,
    DirectivePostname,
    DirectiveTail,
    DirectivePosttail,
    PreArg,
    Arg,
    ArgName,
    ArgPostname,
    ArgEq,
    ArgPreval,
    ArgVal,
    ArgValEsc,
    ArgPostval,
    Tail,
    TailSeq,
    Execute,
}

/// Where the bytes a state consumed go once they are gathered (Apache's `store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    /// Kept with what was gathered so far (the magic sentinel).
    Keep,
    /// Dropped.
    Drop,
    /// What was gathered is now the element's name, the current argument's name or value.
    Directive,
    ArgName,
    ArgValue,
}

/// What one round of the scan did with the current piece.
enum Action {
    Consumed(usize),
    ReadAgain(Vec<u8>),
}

/// The scanner of one document.
pub struct Scanner {
    start_seq: Vec<u8>,
    end_seq: Vec<u8>,
    state: State,
    parse_pos: usize,
    quote: u8,
    /// Bytes gathered for the name or value being read (Apache's tmp_bb).
    gathered: Vec<u8>,
    directive: Vec<u8>,
    args: Vec<Arg>,
    /// The current argument's raw value before its quotes are dealt with.
    raw_value: Vec<u8>,
    /// The element had a syntax error (logged already): it prints the error text instead.
    error: bool,
}

use crate::http1::body::is_c_space as is_space;

impl Scanner {
    pub fn new(start_seq: &str, end_seq: &str) -> Scanner {
        Scanner {
            start_seq: start_seq.as_bytes().to_vec(),
            end_seq: end_seq.as_bytes().to_vec(),
            state: State::PreHead,
            parse_pos: 0,
            quote: 0,
            gathered: Vec::new(),
            directive: Vec::new(),
            args: Vec::new(),
            raw_value: Vec::new(),
            error: false,
        }
    }

    /// Scans a whole body, given as the pieces it was read in; the passes made.
    pub fn run(&mut self, pieces: Vec<Vec<u8>>, host: &mut dyn Host) -> Vec<Vec<u8>> {
        // Each piece with how much of it is consumed.
        let mut queue: VecDeque<(Vec<u8>, usize)> = pieces.into_iter().map(|p| (p, 0)).collect();
        let mut out = Output::default();
        let mut bytes_read = 0usize;
        let mut seen_eos = false;
        loop {
            if queue.is_empty() {
                // The end of the body: an element just before it still runs.
                seen_eos = true;
                if !matches!(self.state, State::Execute | State::DirectivePosttail) {
                    break;
                }
            }
            if out.flush_now || bytes_read > MIN_BYTES_TO_WRITE {
                out.pass();
                out.flush_now = false;
                bytes_read = 0;
            }
            let action = match queue.front() {
                Some((bytes, at)) if !seen_eos => {
                    let data = &bytes[*at..];
                    bytes_read += data.len();
                    if data.is_empty() {
                        queue.pop_front();
                        continue;
                    }
                    self.step(data, &mut out, host)
                }
                _ => self.step(&[], &mut out, host),
            };
            match action {
                Action::Consumed(0) => {}
                Action::Consumed(consumed) => {
                    if let Some((bytes, at)) = queue.front_mut() {
                        *at += consumed;
                        if *at >= bytes.len() {
                            queue.pop_front();
                        }
                    }
                }
                Action::ReadAgain(bytes) => queue.push_front((bytes, 0)),
            }
        }
        self.finish(&mut out, host);
        out.passes
    }

    /// One round of the loop over the current piece: how much of it was consumed, or the
    /// bytes set aside to read again before it.
    fn step(&mut self, data: &[u8], out: &mut Output, host: &mut dyn Host) -> Action {
        let len = data.len();
        let consumed = match self.state {
            State::PreHead => {
                let index = self.find_start_sequence(data);
                if host.printing() {
                    out.push(&data[..index]);
                }
                if index < len {
                    if self.state == State::Directive {
                        out.flush_now = true;
                        index + self.start_seq.len()
                    } else {
                        len
                    }
                } else {
                    index
                }
            }
            State::Head => {
                let (index, release) = self.find_partial_start_sequence(data);
                if release > 0 && host.printing() {
                    out.push(&self.start_seq[..release]);
                }
                if index > 0 && self.state == State::Directive {
                    out.flush_now = true;
                }
                index
            }
            State::Directive
            | State::DirectivePostname
            | State::DirectiveTail
            | State::DirectivePosttail => {
                let (index, store) = self.find_directive(data, host);
                self.keep(data, index, store)
            }
            State::PreArg => self.find_arg_or_tail(data),
            State::Arg
            | State::ArgName
            | State::ArgPostname
            | State::ArgEq
            | State::ArgPreval
            | State::ArgVal
            | State::ArgValEsc
            | State::ArgPostval => {
                let (index, store) = self.find_argument(data, host);
                self.keep(data, index, store)
            }
            State::Tail | State::TailSeq => {
                let index = self.find_tail(data);
                match self.state {
                    State::Execute => index,
                    State::Arg => {
                        // Not the end after all: what was set aside is read again as an
                        // argument.
                        if !self.gathered.is_empty() {
                            return Action::ReadAgain(std::mem::take(&mut self.gathered));
                        }
                        0
                    }
                    _ => {
                        self.gathered.extend_from_slice(data);
                        len
                    }
                }
            }
            State::Execute => {
                self.execute(out, host);
                0
            }
        };
        Action::Consumed(consumed)
    }

    /// What a name or value state consumed goes where its `store` says.
    fn keep(&mut self, data: &[u8], index: usize, store: Store) -> usize {
        match store {
            Store::Drop => {}
            Store::Keep => self.gathered.extend_from_slice(&data[..index]),
            target => {
                self.gathered.extend_from_slice(&data[..index]);
                let whole = std::mem::take(&mut self.gathered);
                match target {
                    Store::Directive => self.directive = whole,
                    Store::ArgName => {
                        if let Some(arg) = self.args.last_mut() {
                            arg.name = Some(String::from_utf8_lossy(&whole).into_owned());
                        }
                    }
                    _ => self.raw_value = whole,
                }
            }
        }
        index
    }

    fn execute(&mut self, out: &mut Output, host: &mut dyn Host) {
        if self.error {
            if host.printing() {
                out.push(&host.error_text());
                self.error = false;
            }
        } else {
            let name = String::from_utf8_lossy(&self.directive).into_owned();
            let args = std::mem::take(&mut self.args);
            if !host.execute(&name, args, out) {
                let text = format!(
                    "AH01371: unknown directive \"{name}\" in parsed doc {}",
                    host.filename()
                );
                host.report("error", text);
                if host.printing() {
                    out.push(&host.error_text());
                }
            }
        }
        self.args.clear();
        self.gathered.clear();
        self.state = State::PreHead;
    }

    fn finish(&mut self, out: &mut Output, host: &mut dyn Host) {
        if self.state == State::Head {
            if host.printing() {
                out.push(&self.start_seq[..self.parse_pos]);
            }
        } else if self.state != State::PreHead {
            let text = format!(
                "AH01372: SSI directive was not properly finished at the end of parsed \
                 document {}",
                host.filename()
            );
            host.report("error", text);
            if host.printing() {
                out.push(&host.error_text());
            }
        }
        if !host.printing() {
            let text = format!(
                "AH01373: missing closing endif directive in parsed document {}",
                host.filename()
            );
            host.report("warn", text);
        }
        out.finish();
    }

    /// Where the start sequence (or the part of it the piece ends with) begins; the whole
    /// length when it is not there.
    fn find_start_sequence(&mut self, data: &[u8]) -> usize {
        let slen = self.start_seq.len();
        let len = data.len();
        let mut p = 0;
        if len >= slen {
            if let Some(index) = data.windows(slen).position(|w| w == self.start_seq) {
                self.state = State::Directive;
                return index;
            }
            p = len - slen + 1;
        }
        loop {
            while p < len && data[p] != self.start_seq[0] {
                p += 1;
            }
            let index = p;
            if p < len {
                let mut pos = 1;
                p += 1;
                while p < len && pos < slen && data[p] == self.start_seq[pos] {
                    p += 1;
                    pos += 1;
                }
                if p == len {
                    self.state = State::Head;
                    self.parse_pos = pos;
                    return index;
                }
            }
            p = index + 1;
            if p >= len {
                break;
            }
        }
        len
    }

    /// Continues a start sequence begun in an earlier piece: how much of this piece it took,
    /// and how many of the bytes held back turned out to be text after all.
    fn find_partial_start_sequence(&mut self, data: &[u8]) -> (usize, usize) {
        let slen = self.start_seq.len();
        let len = data.len();
        let mut pos = self.parse_pos;
        let mut spos = 0;
        let mut release = 0;
        loop {
            let mut p = 0;
            while p < len && pos < slen && data[p] == self.start_seq[pos] {
                p += 1;
                pos += 1;
            }
            if pos == slen {
                self.state = State::Directive;
                return (p, release);
            }
            if p == len {
                self.parse_pos = pos;
                return (p, release);
            }
            // No match from here: a later start within the bytes held back may still match.
            if spos < self.parse_pos {
                loop {
                    spos += 1;
                    release += 1;
                    let mut s = spos;
                    pos = self.parse_pos - spos;
                    while pos > 0 && self.start_seq[s] != self.start_seq[0] {
                        s += 1;
                        spos += 1;
                        release += 1;
                        pos -= 1;
                    }
                    if pos > 1 {
                        let mut t = 1;
                        s += 1;
                        while t < pos && self.start_seq[s] == self.start_seq[t] {
                            s += 1;
                            t += 1;
                        }
                        if t == pos {
                            break;
                        }
                    }
                    if pos <= 1 {
                        break;
                    }
                }
                if pos > 0 {
                    continue;
                }
            }
            break;
        }
        self.state = State::PreHead;
        (0, self.parse_pos)
    }

    fn find_directive(&mut self, data: &[u8], host: &mut dyn Host) -> (usize, Store) {
        let len = data.len();
        let mut p = 0;
        let mut store = Store::Keep;
        match self.state {
            State::Directive => {
                while p < len && !is_space(data[p]) {
                    // No space needed before the end (`<!--#printenv-->`).
                    if data[p] == self.end_seq[0] {
                        self.state = State::DirectiveTail;
                        self.parse_pos = 1;
                        return (p + 1, Store::Keep);
                    }
                    p += 1;
                }
                if p < len {
                    self.state = State::DirectivePostname;
                    store = Store::Directive;
                }
                (p, store)
            }
            State::DirectiveTail => {
                let mut pos = self.parse_pos;
                while p < len && pos < self.end_seq.len() && data[p] == self.end_seq[pos] {
                    p += 1;
                    pos += 1;
                }
                if pos == self.end_seq.len() {
                    self.state = State::DirectivePosttail;
                    return (p, Store::Directive);
                }
                if p == len {
                    self.parse_pos = pos;
                    return (p, Store::Keep);
                }
                self.state = State::Directive;
                (0, Store::Keep)
            }
            State::DirectivePosttail | State::DirectivePostname => {
                if self.state == State::DirectivePosttail {
                    self.state = State::Execute;
                    let keep = self.directive.len().saturating_sub(self.end_seq.len());
                    self.directive.truncate(keep);
                } else {
                    self.state = State::PreArg;
                }
                self.args.clear();
                if self.directive.is_empty() {
                    self.error = true;
                    let text = format!(
                        "AH01368: missing directive name in parsed document {}",
                        host.filename()
                    );
                    host.report("error", text);
                } else {
                    self.directive.make_ascii_lowercase();
                }
                (0, Store::Keep)
            }
            _ => (p, store),
        }
    }

    fn find_arg_or_tail(&mut self, data: &[u8]) -> usize {
        let mut p = 0;
        while p < data.len() && is_space(data[p]) {
            p += 1;
        }
        if p < data.len() {
            self.state = if data[p] == self.end_seq[0] {
                State::Tail
            } else {
                State::Arg
            };
        }
        p
    }

    fn find_tail(&mut self, data: &[u8]) -> usize {
        let mut p = 0;
        if self.state == State::Tail {
            self.state = State::TailSeq;
            self.parse_pos = 0;
        }
        let mut pos = self.parse_pos;
        while p < data.len() && pos < self.end_seq.len() && data[p] == self.end_seq[pos] {
            p += 1;
            pos += 1;
        }
        if pos == self.end_seq.len() {
            self.state = State::Execute;
            return p;
        }
        if p == data.len() {
            self.parse_pos = pos;
            return p;
        }
        self.state = State::Arg;
        0
    }

    fn missing_name(&mut self, host: &mut dyn Host) {
        self.error = true;
        let text = format!(
            "AH01370: missing argument name for value to tag {} in {}",
            String::from_utf8_lossy(&self.directive),
            host.filename()
        );
        host.report("error", text);
    }

    fn find_argument(&mut self, data: &[u8], host: &mut dyn Host) -> (usize, Store) {
        let len = data.len();
        let mut p = 0;
        let mut state = self.state;
        loop {
            match state {
                State::Arg => {
                    self.args.push(Arg {
                        name: None,
                        value: None,
                    });
                    if matches!(data[p], b'"' | b'\'' | b'`') {
                        self.state = State::ArgVal;
                        self.quote = data[p];
                        self.error = true;
                        let text = format!(
                            "AH01369: missing argument name for value to tag {} in {}",
                            String::from_utf8_lossy(&self.directive),
                            host.filename()
                        );
                        host.report("error", text);
                        return (p + 1, Store::Drop);
                    }
                    self.state = State::ArgName;
                    state = State::ArgName;
                }
                State::ArgName => {
                    while p < len && !is_space(data[p]) && data[p] != b'=' {
                        p += 1;
                    }
                    if p < len {
                        self.state = State::ArgPostname;
                        return (p, Store::ArgName);
                    }
                    return (len, Store::Keep);
                }
                State::ArgPostname => {
                    let arg = self.args.last_mut().expect("an argument is being read");
                    let name = arg.name.get_or_insert_with(String::new);
                    if name.is_empty() {
                        self.missing_name(host);
                    } else {
                        name.make_ascii_lowercase();
                    }
                    self.state = State::ArgEq;
                    state = State::ArgEq;
                }
                State::ArgEq => {
                    while p < len && is_space(data[p]) {
                        p += 1;
                    }
                    if p < len {
                        if data[p] == b'=' {
                            self.state = State::ArgPreval;
                            p += 1;
                        } else {
                            self.state = State::PreArg;
                        }
                        return (p, Store::Drop);
                    }
                    return (len, Store::Drop);
                }
                State::ArgPreval => {
                    while p < len && is_space(data[p]) {
                        p += 1;
                    }
                    if p < len {
                        self.state = State::ArgVal;
                        self.quote = match data[p] {
                            q @ (b'"' | b'\'' | b'`') => {
                                p += 1;
                                q
                            }
                            _ => 0,
                        };
                        return (p, Store::Drop);
                    }
                    return (len, Store::Drop);
                }
                State::ArgValEsc => {
                    if data[p] == self.quote {
                        p += 1;
                    }
                    self.state = State::ArgVal;
                    state = State::ArgVal;
                }
                State::ArgVal => {
                    while p < len {
                        let b = data[p];
                        if self.quote != 0 && b == b'\\' {
                            p += 1;
                            if p == len {
                                self.state = State::ArgValEsc;
                                break;
                            }
                            if data[p] != self.quote {
                                p -= 1;
                            }
                        } else if (self.quote != 0 && b == self.quote)
                            || (self.quote == 0 && is_space(b))
                        {
                            self.state = State::ArgPostval;
                            return (p + 1, Store::ArgValue);
                        }
                        p += 1;
                    }
                    return (p, Store::Keep);
                }
                State::ArgPostval => {
                    let mut value = std::mem::take(&mut self.raw_value);
                    // The closing quote (or the white space after a bare value).
                    value.pop();
                    if self.quote != 0 {
                        let mut unescaped = Vec::with_capacity(value.len());
                        let mut i = 0;
                        while i < value.len() {
                            if value[i] == b'\\' && value.get(i + 1) == Some(&self.quote) {
                                i += 1;
                            }
                            unescaped.push(value[i]);
                            i += 1;
                        }
                        value = unescaped;
                    }
                    if let Some(arg) = self.args.last_mut() {
                        arg.value = Some(value);
                    }
                    self.state = State::PreArg;
                    return (0, Store::Keep);
                }
                _ => return (len, Store::Keep),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that prints each element as `[name a=b ...]`.
    struct Echo {
        log: Vec<String>,
    }

    impl Host for Echo {
        fn printing(&self) -> bool {
            true
        }
        fn error_text(&self) -> Vec<u8> {
            b"[error]".to_vec()
        }
        fn report(&mut self, _level: &str, message: String) {
            self.log.push(message);
        }
        fn filename(&self) -> String {
            "doc".into()
        }
        fn execute(&mut self, name: &str, args: Vec<Arg>, out: &mut Output) -> bool {
            let mut text = format!("[{name}");
            for arg in args {
                let value = arg.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                text.push_str(&format!(
                    " {}={}",
                    arg.name.unwrap_or_default(),
                    value.unwrap_or("-".into())
                ));
            }
            text.push(']');
            out.push(text.as_bytes());
            name != "bogus"
        }
    }

    fn scan(pieces: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut host = Echo { log: Vec::new() };
        let passes = Scanner::new("<!--#", "-->").run(
            pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
            &mut host,
        );
        let passes = passes
            .into_iter()
            .map(|p| String::from_utf8(p).unwrap())
            .collect();
        (passes, host.log)
    }

    fn joined(pieces: &[&str]) -> String {
        scan(pieces).0.concat()
    }

    #[test]
    fn an_element_is_run_and_text_around_it_passes() {
        let (passes, log) = scan(&["a<!--#echo var=\"X\" -->b"]);
        assert_eq!(passes, ["a", "[echo var=X]b"]);
        assert!(log.is_empty());
    }

    #[test]
    fn a_tag_split_anywhere_across_pieces_still_parses() {
        let whole = "text <!--#set var='A' value=\"x \\\"y\\\"\" --> tail";
        let expected = joined(&[whole]);
        assert_eq!(expected, "text [set var=A value=x \"y\"] tail");
        for at in 1..whole.len() {
            let (left, right) = whole.split_at(at);
            assert_eq!(joined(&[left, right]), expected, "split at {at}");
        }
        let bytes: Vec<String> = whole.chars().map(String::from).collect();
        let single: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(joined(&single), expected);
    }

    #[test]
    fn a_start_sequence_that_does_not_complete_is_text() {
        assert_eq!(joined(&["a<!-", "-x"]), "a<!--x");
        assert_eq!(joined(&["a<!--"]), "a<!--");
        assert_eq!(joined(&["<<!--#echo -->"]), "<[echo]");
    }

    #[test]
    fn no_space_is_needed_before_the_end() {
        assert_eq!(joined(&["<!--#printenv-->"]), "[printenv]");
        assert_eq!(joined(&["<!--#printenv-", "->!"]), "[printenv]!");
    }

    #[test]
    fn an_unfinished_element_or_missing_name_is_an_error() {
        let (passes, log) = scan(&["x<!--#echo var="]);
        assert_eq!(passes.concat(), "x[error]");
        assert!(log[0].starts_with("AH01372: SSI directive was not properly finished"));
        let (passes, log) = scan(&["<!--# echo -->"]);
        assert_eq!(passes.concat(), "[error]");
        assert!(log[0].starts_with("AH01368: missing directive name"));
        let (passes, log) = scan(&["<!--#echo \"v\" -->"]);
        assert_eq!(passes.concat(), "[error]");
        assert!(log[0].starts_with("AH01369: missing argument name for value to tag echo"));
    }

    #[test]
    fn names_are_lower_cased_and_bare_names_have_no_value() {
        assert_eq!(
            joined(&["<!--#ECHO VAR=x Encoding -->"]),
            "[echo var=x encoding=-]"
        );
    }

    #[test]
    fn an_unknown_element_is_reported() {
        let (passes, log) = scan(&["<!--#bogus -->"]);
        assert_eq!(passes.concat(), "[bogus][error]");
        assert!(log[0].starts_with("AH01371: unknown directive \"bogus\""));
    }

    #[test]
    fn any_text_split_anywhere_scans_as_it_does_whole() {
        // A small generator of documents made of the pieces tags are made of.
        const PARTS: &[&str] = &[
            "<!--#",
            "-->",
            "<!-",
            "--",
            "-",
            ">",
            "#",
            " ",
            "\t",
            "echo",
            "var",
            "=",
            "\"",
            "'",
            "`",
            "\\",
            "x",
            "<",
            "!",
            "\n",
            "set value=\"a\\\"b\"",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for _ in 0..300 {
            let count = 1 + next(30);
            let doc: String = (0..count).map(|_| PARTS[next(PARTS.len())]).collect();
            let whole = joined(&[&doc]);
            let at = next(doc.len() + 1);
            let (left, right) = doc.split_at(at);
            assert_eq!(joined(&[left, right]), whole, "{doc:?} split at {at}");
        }
    }

    #[test]
    fn text_before_an_element_is_passed_on_by_itself() {
        let (passes, _) = scan(&["one <!--#a --> two <!--#b --> three"]);
        assert_eq!(passes, ["one ", "[a] two ", "[b] three"]);
        let (passes, _) = scan(&["no elements"]);
        assert_eq!(passes, ["no elements"]);
    }
}
