//! The scoreboard: a header, one slot per child process and one per worker (ServerLimit ×
//! ThreadLimit), in memory the parent maps before forking so every child writes its own slots
//! and mod_status reads them all. Apache's worker states and numbering.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Apache's worker states, in its numbering (the order matters: "starting" counts as idle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
pub enum State {
    Dead = 0,
    Starting = 1,
    Ready = 2,
    Reading = 3,
    Writing = 4,
    KeepAlive = 5,
    Logging = 6,
    Dns = 7,
    Closing = 8,
    Graceful = 9,
    IdleKill = 10,
}

impl State {
    /// Every state, in Apache's numbering.
    const ALL: [State; 11] = [
        State::Dead,
        State::Starting,
        State::Ready,
        State::Reading,
        State::Writing,
        State::KeepAlive,
        State::Logging,
        State::Dns,
        State::Closing,
        State::Graceful,
        State::IdleKill,
    ];

    fn from_raw(raw: u64) -> State {
        Self::ALL.get(raw as usize).copied().unwrap_or(State::Dead)
    }

    /// The character mod_status shows for the state.
    pub fn symbol(self) -> char {
        b".S_RWKLDCGI"[self as usize] as char
    }
}

/// Header words: MPM generation, restart time, config generation, start time.
const HEADER_WORDS: usize = 4;
const MPM_GENERATION: usize = 0;
const RESTART_TIME: usize = 1;
const CONFIG_GENERATION: usize = 2;

/// Process words, in this order.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum ProcessWord {
    Pid = 0,
    Generation = 1,
    /// Non-zero once the child is leaving (graceful exit, MaxConnectionsPerChild).
    Quiescing = 2,
    /// Connections the child holds (event).
    Connections = 3,
    /// Of those, parked waiting for their next request (event).
    KeepAlive = 4,
    /// Non-zero while the child has stopped accepting (event's AsyncRequestWorkerFactor limit).
    NotAccepting = 5,
    /// Non-zero while the child holds as many connections as AsyncRequestWorkerFactor lets it
    /// (or has no worker idle): Apache would not have it accept (event).
    AtLimit = 6,
}
const PROCESS_WORDS: usize = 7;

/// Worker words: state, then counters (slot totals survive a child's replacement, child ones
/// reset with the slot, connection ones with each connection), then the most recent request.
const STATE: usize = 0;
const ACCESSES: usize = 1;
const BYTES: usize = 2;
const CONNECTIONS: usize = 3;
const CHILD_ACCESSES: usize = 4;
const CHILD_BYTES: usize = 5;
const CONN_ACCESSES: usize = 6;
const CONN_BYTES: usize = 7;
/// Microseconds since the epoch when the most recent request began (durations are kept in
/// microseconds too, as Apache keeps them, and shown in whole milliseconds).
const REQUEST_START: usize = 8;
const LAST_DURATION: usize = 9;
const DURATION_SUM: usize = 10;
/// Text fields, NUL-padded bytes packed into words: request line, client address, vhost.
const REQUEST_TEXT: (usize, usize) = (11, 8);
const CLIENT_TEXT: (usize, usize) = (19, 6);
const VHOST_TEXT: (usize, usize) = (25, 4);
const WORKER_WORDS: usize = 29;

pub struct Scoreboard {
    words: &'static [AtomicU64],
    processes: usize,
    thread_limit: usize,
}

static BOARD: OnceLock<Scoreboard> = OnceLock::new();

/// ExtendedStatus: whether a worker's request line, client, virtual host and timings are
/// recorded (Apache keeps only states and counts without it).
static EXTENDED: AtomicBool = AtomicBool::new(true);

/// Sets ExtendedStatus for this process (a child, from its generation's configuration).
pub fn set_extended(on: bool) {
    EXTENDED.store(on, Ordering::Relaxed);
}

fn extended() -> bool {
    EXTENDED.load(Ordering::Relaxed)
}

thread_local! {
    /// The worker slot this thread writes, once a child has bound it.
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
    /// The local port of the connection this thread serves (mod_status shows vhost:port).
    static LOCAL_PORT: Cell<u16> = const { Cell::new(0) };
    /// What this thread last wrote to its client and vhost fields, so a keep-alive
    /// connection's requests do not format and store them again each time.
    static LAST_CLIENT: Cell<Option<std::net::IpAddr>> = const { Cell::new(None) };
    static LAST_VHOST: Cell<(usize, u16)> = const { Cell::new((0, 0)) };
}

/// The server's scoreboard, created once (the first call's size wins, as ServerLimit and
/// ThreadLimit cannot change on restart).
pub fn create(
    processes: usize,
    thread_limit: usize,
    file: Option<&std::path::Path>,
) -> io::Result<&'static Scoreboard> {
    if let Some(board) = BOARD.get() {
        return Ok(board);
    }
    let (processes, thread_limit) = (processes.max(1), thread_limit.max(1));
    let len = HEADER_WORDS + processes * (PROCESS_WORDS + thread_limit * WORKER_WORDS);
    let words = match file {
        Some(path) => crate::sys::shared::shared_atomics_in_file(len, path)?,
        None => crate::sys::shared::shared_atomics(len)?,
    };
    let board = Scoreboard {
        words,
        processes,
        thread_limit,
    };
    board
        .header(RESTART_TIME)
        .store(unix_now(), Ordering::Release);
    board.header(CONFIG_GENERATION).store(1, Ordering::Release);
    Ok(BOARD.get_or_init(|| board))
}

/// The scoreboard, if this process has one.
pub fn get() -> Option<&'static Scoreboard> {
    BOARD.get()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Makes the calling thread the writer of worker slot `worker` (a flat index).
pub fn bind_thread(worker: usize) {
    WORKER.with(|w| w.set(Some(worker)));
}

/// The worker slot the calling thread writes, if it has one (Apache's connection id: child
/// number times ThreadLimit plus thread number).
pub fn current_worker() -> Option<usize> {
    WORKER.with(|w| w.get())
}

/// Sets the calling thread's worker state (nothing when it has no slot).
pub fn mark(state: State) {
    if let (Some(board), Some(worker)) = (BOARD.get(), WORKER.with(|w| w.get())) {
        board.set_state(worker, state);
    }
}

fn with_worker(f: impl FnOnce(&Scoreboard, usize)) {
    if let (Some(board), Some(worker)) = (BOARD.get(), WORKER.with(|w| w.get())) {
        f(board, worker);
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A connection to local port `port` taken by the calling thread.
pub fn begin_connection(port: u16) {
    LOCAL_PORT.with(|p| p.set(port));
    with_worker(|board, worker| {
        board.add(worker, CONNECTIONS, 1);
        board.put(worker, CONN_ACCESSES, 0);
        board.put(worker, CONN_BYTES, 0);
    });
}

/// A request the calling thread starts on: its line (the first 63 bytes, as Apache keeps)
/// and the client's address.
pub fn begin_request(request_line: &[u8], client: std::net::IpAddr) {
    if !extended() {
        return;
    }
    with_worker(|board, worker| {
        board.put(worker, REQUEST_START, now_us());
        board.put_text(worker, REQUEST_TEXT, &String::from_utf8_lossy(request_line));
        if LAST_CLIENT.with(|c| c.replace(Some(client))) != Some(client) {
            board.put_text(worker, CLIENT_TEXT, &client.to_string());
        }
    });
}

/// The request the calling thread serves is said to come from `client` (mod_remoteip named
/// its user agent): mod_status shows that address, as Apache's does once the request is read.
pub fn note_client(client: &str) {
    if !extended() {
        return;
    }
    with_worker(|board, worker| {
        // The next request's own client is written again, whatever the last one was.
        LAST_CLIENT.with(|c| c.set(None));
        board.put_text(worker, CLIENT_TEXT, client);
    });
}

/// The calling thread's request is answered: `bytes` of body from the server named `server`.
pub fn count_request(bytes: u64, server: &str) {
    with_worker(|board, worker| {
        for counter in [ACCESSES, CHILD_ACCESSES, CONN_ACCESSES] {
            board.add(worker, counter, 1);
        }
        for counter in [BYTES, CHILD_BYTES, CONN_BYTES] {
            board.add(worker, counter, bytes);
        }
        if !extended() {
            return;
        }
        let took = now_us().saturating_sub(board.get_word(worker, REQUEST_START));
        board.put(worker, LAST_DURATION, took);
        board.add(worker, DURATION_SUM, took);
        let port = LOCAL_PORT.with(|p| p.get());
        let key = (server.as_ptr() as usize, port);
        if LAST_VHOST.with(|v| v.replace(key)) != key {
            board.put_text(worker, VHOST_TEXT, &format!("{server}:{port}"));
        }
    });
}

/// One worker's figures, as mod_status reads them.
#[derive(Debug, Clone)]
pub struct WorkerView {
    pub state: State,
    pub accesses: u64,
    pub bytes: u64,
    pub connections: u64,
    pub child_accesses: u64,
    pub child_bytes: u64,
    pub conn_accesses: u64,
    pub conn_bytes: u64,
    /// Microseconds since the epoch when the most recent request began (0: none yet).
    pub request_start: u64,
    /// Microseconds.
    pub last_duration: u64,
    pub duration_sum: u64,
    pub request: String,
    pub client: String,
    pub vhost: String,
}

impl Scoreboard {
    fn header(&self, index: usize) -> &AtomicU64 {
        &self.words[index]
    }

    fn process_word(&self, process: usize, word: ProcessWord) -> &AtomicU64 {
        &self.words[HEADER_WORDS + process * PROCESS_WORDS + word as usize]
    }

    fn worker(&self, worker: usize, index: usize) -> &AtomicU64 {
        let base = HEADER_WORDS + self.processes * PROCESS_WORDS;
        &self.words[base + worker * WORKER_WORDS + index]
    }

    pub fn processes(&self) -> usize {
        self.processes
    }

    pub fn thread_limit(&self) -> usize {
        self.thread_limit
    }

    /// The flat index of thread `thread` of process slot `process`.
    pub fn worker_index(&self, process: usize, thread: usize) -> usize {
        process * self.thread_limit + thread
    }

    pub fn state(&self, worker: usize) -> State {
        State::from_raw(self.worker(worker, STATE).load(Ordering::Acquire))
    }

    pub fn set_state(&self, worker: usize, state: State) {
        self.worker(worker, STATE)
            .store(state as u64, Ordering::Release);
    }

    fn get_word(&self, worker: usize, index: usize) -> u64 {
        self.worker(worker, index).load(Ordering::Relaxed)
    }

    fn put(&self, worker: usize, index: usize, value: u64) {
        self.worker(worker, index).store(value, Ordering::Relaxed);
    }

    fn add(&self, worker: usize, index: usize, value: u64) {
        self.worker(worker, index)
            .fetch_add(value, Ordering::Relaxed);
    }

    /// Stores the start of `text` in a text field (readers may see a line half replaced, as
    /// Apache's may; it is only ever shown).
    fn put_text(&self, worker: usize, (first, words): (usize, usize), text: &str) {
        let bytes = text.as_bytes();
        for word in 0..words {
            let mut chunk = [0u8; 8];
            for (i, byte) in chunk.iter_mut().enumerate() {
                // The last byte of the field stays NUL, as in Apache's 64-byte request field.
                let at = word * 8 + i;
                if at + 1 < words * 8 {
                    *byte = bytes.get(at).copied().unwrap_or(0);
                }
            }
            self.put(worker, first + word, u64::from_le_bytes(chunk));
        }
    }

    fn text(&self, worker: usize, (first, words): (usize, usize)) -> String {
        let mut bytes = Vec::with_capacity(words * 8);
        for word in 0..words {
            bytes.extend_from_slice(&self.get_word(worker, first + word).to_le_bytes());
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }

    pub fn view(&self, worker: usize) -> WorkerView {
        WorkerView {
            state: self.state(worker),
            accesses: self.get_word(worker, ACCESSES),
            bytes: self.get_word(worker, BYTES),
            connections: self.get_word(worker, CONNECTIONS),
            child_accesses: self.get_word(worker, CHILD_ACCESSES),
            child_bytes: self.get_word(worker, CHILD_BYTES),
            conn_accesses: self.get_word(worker, CONN_ACCESSES),
            conn_bytes: self.get_word(worker, CONN_BYTES),
            request_start: self.get_word(worker, REQUEST_START),
            last_duration: self.get_word(worker, LAST_DURATION),
            duration_sum: self.get_word(worker, DURATION_SUM),
            request: self.text(worker, REQUEST_TEXT),
            client: self.text(worker, CLIENT_TEXT),
            vhost: self.text(worker, VHOST_TEXT),
        }
    }

    pub fn get(&self, process: usize, word: ProcessWord) -> u64 {
        self.process_word(process, word).load(Ordering::Acquire)
    }

    pub fn set(&self, process: usize, word: ProcessWord, value: u64) {
        self.process_word(process, word)
            .store(value, Ordering::Release);
    }

    pub fn pid(&self, process: usize) -> i32 {
        self.get(process, ProcessWord::Pid) as i32
    }

    /// Claims a process slot for a child about to be forked: its workers start as `S` for
    /// `threads` threads (its pid is filled in by the parent after the fork).
    pub fn occupy(&self, process: usize, threads: usize, generation: u64) {
        for word in [
            ProcessWord::Pid,
            ProcessWord::Quiescing,
            ProcessWord::Connections,
            ProcessWord::KeepAlive,
            ProcessWord::NotAccepting,
            ProcessWord::AtLimit,
        ] {
            self.set(process, word, 0);
        }
        self.set(process, ProcessWord::Generation, generation);
        for thread in 0..threads.min(self.thread_limit) {
            let worker = self.worker_index(process, thread);
            self.put(worker, CHILD_ACCESSES, 0);
            self.put(worker, CHILD_BYTES, 0);
            self.set_state(worker, State::Starting);
        }
    }

    /// Frees the slot of a child that has ended; its workers' counts are kept, as Apache keeps
    /// them, so the server's totals do not drop when a child is replaced.
    pub fn vacate(&self, process: usize) {
        for thread in 0..self.thread_limit {
            self.set_state(self.worker_index(process, thread), State::Dead);
        }
        self.set(process, ProcessWord::Pid, 0);
        self.set(process, ProcessWord::Connections, 0);
        self.set(process, ProcessWord::KeepAlive, 0);
        self.set(process, ProcessWord::AtLimit, 0);
    }

    /// True while any worker of the process slot is alive.
    pub fn in_use(&self, process: usize) -> bool {
        (0..self.thread_limit).any(|t| self.state(self.worker_index(process, t)) != State::Dead)
    }

    /// Whether the child in `process` belongs to a generation before the running one, and so
    /// was told to leave: children look here too, as Apache's do, so that a signal missed
    /// never leaves one serving an old configuration.
    pub fn superseded(&self, process: usize) -> bool {
        self.get(process, ProcessWord::Generation) < self.mpm_generation()
    }

    pub fn mpm_generation(&self) -> u64 {
        self.header(MPM_GENERATION).load(Ordering::Acquire)
    }

    pub fn config_generation(&self) -> u64 {
        self.header(CONFIG_GENERATION).load(Ordering::Acquire)
    }

    pub fn restart_time(&self) -> u64 {
        self.header(RESTART_TIME).load(Ordering::Acquire)
    }

    /// A restart: the next generation of children, with the time mod_status shows.
    pub fn next_generation(&self) -> u64 {
        self.header(CONFIG_GENERATION)
            .fetch_add(1, Ordering::AcqRel);
        self.header(RESTART_TIME)
            .store(unix_now(), Ordering::Release);
        self.header(MPM_GENERATION).fetch_add(1, Ordering::AcqRel) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_start_dead_and_keep_their_own_state() {
        let words = crate::sys::shared::shared_atomics(
            HEADER_WORDS + 2 * (PROCESS_WORDS + 2 * WORKER_WORDS),
        )
        .unwrap();
        let board = Scoreboard {
            words,
            processes: 2,
            thread_limit: 2,
        };
        let symbols = |b: &Scoreboard| -> String { (0..4).map(|w| b.state(w).symbol()).collect() };
        assert_eq!(symbols(&board), "....");
        board.occupy(1, 2, 0);
        board.set(1, ProcessWord::Pid, 42);
        board.set_state(board.worker_index(1, 1), State::Ready);
        assert_eq!(symbols(&board), "..S_");
        assert_eq!(board.pid(1), 42);
        assert!(board.in_use(1) && !board.in_use(0));
        board.vacate(1);
        assert_eq!(symbols(&board), "....");
        assert_eq!(board.pid(1), 0);
        assert_eq!(board.next_generation(), 1);
    }
}
