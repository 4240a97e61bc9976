//! The child of mpm_worker and mpm_event: ThreadsPerChild worker threads sharing one epoll
//! instance that holds the listening sockets and, for event, the connections parked between
//! keep-alive requests.
//!
//! Apache gives each child a listener thread that accepts and hands sockets to the workers
//! through a queue. Here an idle worker waits in `epoll_wait` itself and serves what it is
//! woken for (a new connection or a parked one that became readable), so no handoff or extra
//! context switch sits on the request path. One wait takes a batch of events: the first is
//! served at once, the rest queue for whichever thread looks for work next (the watchdog calls
//! in a spare should the queue stall). A plain connection is registered once, edge-triggered:
//! parking it again after a request is no system call, and a read that does not wait tells
//! whether an event still stands (see `park_connection`). The
//! guarantees are Apache's: with worker a thread owns its connection until it closes; with
//! event a connection waiting for its next request holds no thread, expires after
//! KeepAliveTimeout, and a child stops accepting while it holds ThreadsPerChild + idle workers ×
//! AsyncRequestWorkerFactor connections, unless every other child holds as many (see
//! `below_connection_limit`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::TcpListener;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::idle;
use super::scoreboard::{self, ProcessWord, Scoreboard, State};
use super::{Generation, Kind};
use crate::request::ConnInfo;
use crate::runtime::Runtime;
use crate::server::conn::{Connection, Next, ReadNow, Registration};
use crate::server::AcceptFailure;
use crate::sys::epoll::{Epoll, Interest, HANGUP};
use crate::sys::process;

/// Tokens below this are listening sockets (their index); parked connections count up from it.
const FIRST_CONNECTION_TOKEN: u64 = 1 << 32;
/// How often keep-alive expiry and the child's own checks run while it holds connections
/// (Apache's fudge is 100 ms).
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// How often a child holding no connection looks whether a newer generation superseded it
/// (a fallback: the parent's SIGUSR1 and its death wake the child at once).
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// How long every poller may be busy before a spare thread is called in to poll.
const WATCHDOG_TICK: Duration = Duration::from_millis(5);
/// Ticks without progress after which a spare is called in even though a thread holding an
/// event is runnable (one busy on a long computation, say, while the others are blocked).
const WATCHDOG_PATIENCE: u32 = 4;
/// How many waiting connections an event thread takes (and parks) on one wake-up of a
/// listening socket; the rest are handed on through the ready queue.
const MORE_ACCEPTS: usize = 127;
/// How long a leaving child keeps its idle keep-alive connections for their next request.
const LEAVING_GRACE: Duration = Duration::from_secs(1);
/// The most events one epoll_wait takes; those its thread does not serve at once wait in the
/// child's ready queue for the next thread that looks for work.
const EVENT_BATCH: usize = 32;
/// Ticks with a poller in epoll_wait after which the watchdog goes back to sleep.
const WATCHDOG_RELAX: u32 = 20;

/// A worker thread as the watchdog sees it: its kernel id, and whether it holds an event.
#[derive(Default)]
struct WorkerThread {
    tid: std::sync::atomic::AtomicI64,
    busy: AtomicBool,
}

/// Threads resting off the epoll set, and how many of them have been called back.
#[derive(Default)]
struct Spares {
    resting: usize,
    calls: usize,
}

/// A connection's entry in the set: waiting (parked, until the time it may wait), or woken
/// while its thread was still serving it (an edge-triggered socket raises an event for every
/// arrival, and the one that came during the serving is remembered for when it parks).
enum Slot {
    Waiting(Box<Connection>, Instant),
    Woken(Instant),
}

/// How long a mark of an event that found no connection is kept: one for a connection that
/// closed meanwhile is dropped then. A connection served longer than half of it re-arms its
/// registration instead of trusting the marks.
const MARK_KEPT: Duration = Duration::from_secs(60);

/// How offering a connection to the set ended.
enum Settled {
    Parked,
    /// An event came for it while it was served: it is handed back, the mark cleared.
    Woken(Box<Connection>),
    /// Its registration failed: it is closed.
    Failed,
}

/// Connections waiting for their next request, each under a token never reused (so an event
/// for a closed connection finds nothing of a later one), with the time it may wait until.
/// Sharded by token, so the threads parking and resuming connections seldom wait for one
/// another.
struct Parked {
    next_token: AtomicU64,
    /// How many of them wait for the rest of a request (not for a next one).
    arriving: AtomicUsize,
    shards: Vec<Mutex<TokenMap>>,
}

const PARKED_SHARDS: usize = 16;

/// One shard of parked connections by token.
type TokenMap = HashMap<u64, Slot, crate::u64_keys::U64Keys>;

impl Parked {
    fn new() -> Parked {
        Parked {
            next_token: AtomicU64::new(FIRST_CONNECTION_TOKEN),
            arriving: AtomicUsize::new(0),
            shards: (0..PARKED_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn new_token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    fn shard(&self, token: u64) -> &Mutex<TokenMap> {
        &self.shards[token as usize % PARKED_SHARDS]
    }

    /// The connection an event names, taken out of the set; `None` when it is not waiting (it
    /// is being served, and the event is marked for when it parks, or it is gone).
    fn take(&self, token: u64) -> Option<Box<Connection>> {
        let mut shard = self.shard(token).lock().ok()?;
        match shard.remove(&token) {
            Some(Slot::Waiting(connection, _)) => {
                self.left(&connection);
                Some(connection)
            }
            Some(woken @ Slot::Woken(_)) => {
                shard.insert(token, woken);
                None
            }
            None => {
                shard.insert(token, Slot::Woken(Instant::now()));
                None
            }
        }
    }

    /// Drops the mark of a connection that closed.
    fn forget(&self, token: u64) {
        if let Ok(mut shard) = self.shard(token).lock() {
            shard.remove(&token);
        }
    }

    /// Counts a connection leaving the set.
    fn left(&self, connection: &Connection) {
        if connection.mid_request() {
            self.arriving.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Records `connection` under `token` until `deadline`. With `arm`, its registration is
    /// added or modified under the shard's lock (the expiry pass cannot close the descriptor
    /// before it is in the set, and an event can only find it recorded), and any mark is
    /// superseded: arming reports bytes already there. Without, a mark hands it back.
    fn settle(
        &self,
        connection: Box<Connection>,
        token: u64,
        deadline: Instant,
        arm: Option<&dyn Fn(RawFd) -> io::Result<()>>,
    ) -> Settled {
        let fd = connection.raw_fd();
        let Ok(mut shard) = self.shard(token).lock() else {
            return Settled::Failed;
        };
        let marked = matches!(shard.remove(&token), Some(Slot::Woken(_)));
        if marked && arm.is_none() {
            return Settled::Woken(connection);
        }
        if connection.mid_request() {
            self.arriving.fetch_add(1, Ordering::SeqCst);
        }
        shard.insert(token, Slot::Waiting(connection, deadline));
        if let Some(arm) = arm {
            if arm(fd).is_err() {
                if let Some(Slot::Waiting(connection, _)) = shard.remove(&token) {
                    self.left(&connection);
                }
                return Settled::Failed;
            }
        }
        Settled::Parked
    }

    /// Takes out the connections whose time is up (with `all`, every one waiting between
    /// requests too: a request on its way is still given its time), and drops old marks;
    /// with how many stay parked.
    fn expire(&self, now: Instant, all: bool) -> (Vec<Connection>, usize) {
        let mut out = Vec::new();
        let mut left = 0;
        for shard in &self.shards {
            let Ok(mut shard) = shard.lock() else {
                continue;
            };
            // A backend that has had its time is told so through its socket: the request
            // fails (502) on the thread its event wakes.
            for slot in shard.values_mut() {
                if let Slot::Waiting(connection, deadline) = slot {
                    if *deadline <= now {
                        if let Some(fd) = connection.backend_timed_out() {
                            crate::sys::shut_reading(fd);
                        }
                    }
                }
            }
            let expired: Vec<u64> = shard
                .iter()
                .filter(|(_, slot)| match slot {
                    Slot::Waiting(connection, _) if connection.backend_fd().is_some() => false,
                    Slot::Waiting(connection, deadline) => {
                        *deadline <= now || (all && !connection.mid_request())
                    }
                    Slot::Woken(at) => now.saturating_duration_since(*at) >= MARK_KEPT,
                })
                .map(|(&token, _)| token)
                .collect();
            for token in expired {
                if let Some(Slot::Waiting(connection, _)) = shard.remove(&token) {
                    self.left(&connection);
                    out.push(*connection);
                }
            }
            left += shard
                .values()
                .filter(|slot| matches!(slot, Slot::Waiting(..)))
                .count();
        }
        (out, left)
    }
}

struct Child {
    rt: &'static Runtime,
    listeners: Arc<Vec<TcpListener>>,
    /// Each listener's own address, where it names one (`server::bound_addresses`).
    bound: Vec<Option<std::net::SocketAddr>>,
    epoll: Epoll,
    /// Event parks idle keep-alive connections; worker keeps them on their thread.
    park: bool,
    /// How the listening sockets are watched (`listener_interest`).
    listener_interest: Interest,
    threads: usize,
    async_factor: usize,
    /// Whether this child last found itself at its connection limit (published as the
    /// scoreboard's AtLimit word when it changes).
    at_limit: AtomicBool,
    parked: Parked,
    idle_workers: AtomicUsize,
    connections: AtomicUsize,
    accepted: AtomicU64,
    max_connections: u64,
    /// Whether the listening sockets are in the epoll set; the mutex orders adds and removals.
    accepting: Mutex<bool>,
    accepting_hint: AtomicBool,
    board: Option<&'static Scoreboard>,
    slot: usize,
    /// Threads in epoll_wait now. Every waiting thread is woken by a readiness event of its
    /// own, and on two cores a wake-up per request costs more than the request: so only
    /// `max_pollers` threads wait there and the rest of ThreadsPerChild rest as spares, called
    /// in when every poller is held up.
    polling: AtomicUsize,
    /// Under event, the child's share of the CPUs (see `poller_share`), kept up to date by
    /// the main thread; under worker, the CPUs.
    max_pollers: AtomicUsize,
    /// The CPUs this process may run on.
    cpus: usize,
    events_taken: AtomicU64,
    /// Events a poller took beyond the one it serves (epoll_wait hands out a batch: one
    /// system call for many events), for the next thread that looks for work; `ready_count`
    /// says without the lock whether there are any.
    ready: Mutex<VecDeque<u64>>,
    ready_count: AtomicUsize,
    spares: Mutex<Spares>,
    spare_call: Condvar,
    workers: Vec<WorkerThread>,
    /// Whether the watchdog sleeps until the last poller leaves epoll_wait (a server with
    /// threads to spare never needs it, and an idle one must not tick).
    watchdog_asleep: AtomicBool,
    watchdog_call: Condvar,
    /// Whether the main thread sleeps for IDLE_CHECK (no connection to expire): the first
    /// connection accepted wakes it to keep time for the keep-alive expiry.
    main_asleep: AtomicBool,
}

/// How a child watches its listening sockets: edge-triggered under event, whose threads all
/// wait on one epoll instance (see `Interest::EdgeListener`); worker takes one connection a
/// wake-up, which a level-triggered socket keeps reporting while more wait.
fn listener_interest(kind: Kind) -> Interest {
    match kind {
        Kind::Event => Interest::EdgeListener,
        _ => Interest::Listener,
    }
}

/// Serves in process slot `slot` until told to leave; in `one_process` mode (`-X`) until the
/// process is told to stop.
pub fn child_main(current: &Generation, slot: usize, one_process: bool) -> io::Result<()> {
    let shape = &current.shape;
    let epoll = Epoll::new()?;
    for (index, listener) in current.listeners.iter().enumerate() {
        listener.set_nonblocking(true)?;
        epoll.add(listener, listener_interest(shape.kind), index as u64)?;
    }
    let child = Arc::new(Child {
        rt: current.runtime_for_life(),
        listeners: Arc::clone(&current.listeners),
        bound: crate::server::bound_addresses(&current.listeners),
        epoll,
        park: shape.kind == Kind::Event,
        listener_interest: listener_interest(shape.kind),
        threads: shape.threads,
        async_factor: shape.async_factor,
        at_limit: AtomicBool::new(false),
        parked: Parked::new(),
        idle_workers: AtomicUsize::new(shape.threads),
        connections: AtomicUsize::new(0),
        accepted: AtomicU64::new(0),
        max_connections: shape.max_connections_per_child,
        accepting: Mutex::new(true),
        accepting_hint: AtomicBool::new(true),
        board: scoreboard::get(),
        slot,
        polling: AtomicUsize::new(0),
        max_pollers: AtomicUsize::new(1),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        events_taken: AtomicU64::new(0),
        ready: Mutex::new(VecDeque::new()),
        ready_count: AtomicUsize::new(0),
        spares: Mutex::new(Spares::default()),
        spare_call: Condvar::new(),
        workers: (0..shape.threads)
            .map(|_| WorkerThread::default())
            .collect(),
        watchdog_asleep: AtomicBool::new(false),
        watchdog_call: Condvar::new(),
        main_asleep: AtomicBool::new(false),
    });
    child
        .max_pollers
        .store(child.poller_share(), Ordering::SeqCst);
    {
        let child = Arc::clone(&child);
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || child.watchdog())?;
    }
    for thread in 0..shape.threads {
        let child = Arc::clone(&child);
        let mut builder = std::thread::Builder::new().name(format!("worker {thread}"));
        if let Some(size) = shape.thread_stack_size {
            builder = builder.stack_size(size);
        }
        builder.spawn(move || child.worker(thread))?;
    }
    let mut leaving_since: Option<Instant> = None;
    loop {
        // A leaving child keeps looking: its last worker may come back idle at any moment.
        let leaving = process::GRACEFUL.load(Ordering::SeqCst);
        if !leaving && child.connections.load(Ordering::SeqCst) == 0 {
            child.main_asleep.store(true, Ordering::SeqCst);
            // Checked again after saying so: a connection accepted in between sees the flag.
            if child.connections.load(Ordering::SeqCst) == 0 {
                process::wait_for_wake(IDLE_CHECK);
            }
            child.main_asleep.store(false, Ordering::SeqCst);
        } else {
            process::wait_for_wake(HOUSEKEEPING);
        }
        if one_process {
            let flags = [
                &process::STOP,
                &process::GRACEFUL,
                &process::GRACEFUL_STOP,
                &process::RESTART,
            ];
            if flags.iter().any(|f| f.load(Ordering::SeqCst)) {
                return Ok(());
            }
        } else if process::orphaned() || child.board.is_some_and(|b| b.superseded(slot)) {
            // Orphaned (the parent died without stopping us), or a newer generation runs.
            process::GRACEFUL.store(true, Ordering::SeqCst);
        }
        child.share_pollers();
        let leaving = process::GRACEFUL.load(Ordering::SeqCst);
        if leaving && leaving_since.is_none() {
            leaving_since = Some(Instant::now());
            child.stop_accepting();
            child.take_stragglers();
            if let Some(board) = child.board {
                board.set(slot, ProcessWord::Quiescing, 1);
            }
        }
        // A leaving child's idle keep-alive connections get LEAVING_GRACE to bring their next
        // request (answered, with "Connection: close") before they are closed: closing them
        // at once fails the request a client may be sending on one just then.
        let close_idle = leaving_since.is_some_and(|since| since.elapsed() >= LEAVING_GRACE);
        let parked = child.expire_parked(close_idle);
        if leaving && parked == 0 && child.idle_workers.load(Ordering::SeqCst) == child.threads {
            if let Some(board) = child.board {
                for thread in 0..child.threads {
                    board.set_state(board.worker_index(slot, thread), State::Dead);
                }
            }
            return Ok(());
        }
    }
}

impl Child {
    fn worker(&self, thread: usize) {
        if let Some(board) = self.board {
            scoreboard::bind_thread(board.worker_index(self.slot, thread));
        }
        scoreboard::mark(State::Ready);
        let me = &self.workers[thread];
        me.tid.store(crate::sys::thread_id(), Ordering::Relaxed);
        let mut batch = Vec::with_capacity(EVENT_BATCH);
        loop {
            let Some(event) = self.next_event(&mut batch) else {
                continue;
            };
            me.busy.store(true, Ordering::Relaxed);
            idle::served();
            let (token, hangup) = (event & !HANGUP, event & HANGUP != 0);
            self.events_taken.fetch_add(1, Ordering::Relaxed);
            // Busy from the moment it takes an event: a leaving child waits for every thread
            // to be idle, and must not exit between an accept and the serving.
            self.idle_workers.fetch_sub(1, Ordering::SeqCst);
            if token < FIRST_CONNECTION_TOKEN {
                self.accept(token as usize);
            } else if let Some(mut connection) = self.parked.take(token) {
                // (A backend's hang-up is the handler's to find.)
                if hangup && connection.backend_fd().is_none() {
                    connection.note_hangup();
                }
                self.resume(connection);
            }
            scoreboard::mark(State::Ready);
            me.busy.store(false, Ordering::Relaxed);
            self.idle_workers.fetch_add(1, Ordering::SeqCst);
            if !self.accepting_hint.load(Ordering::Relaxed) {
                self.resume_accepting();
            }
            if self.polling.load(Ordering::SeqCst) >= self.max_pollers.load(Ordering::Relaxed)
                && self.ready_count.load(Ordering::SeqCst) == 0
            {
                self.rest_as_spare();
            }
        }
    }

    /// The next event to serve: one waiting in the ready queue, else the first of a batch
    /// from epoll_wait (the rest queued). `None` when the wait ended with nothing.
    fn next_event(&self, batch: &mut Vec<u64>) -> Option<u64> {
        if self.ready_count.load(Ordering::SeqCst) > 0 {
            if let Ok(mut ready) = self.ready.lock() {
                if let Some(token) = ready.pop_front() {
                    self.ready_count.store(ready.len(), Ordering::SeqCst);
                    return Some(token);
                }
            }
        }
        self.polling.fetch_add(1, Ordering::SeqCst);
        let taken = self.epoll.wait_many(batch, EVENT_BATCH, idle::wait_ms(-1));
        if self.polling.fetch_sub(1, Ordering::SeqCst) == 1
            && self.watchdog_asleep.load(Ordering::SeqCst)
        {
            self.call_watchdog();
        }
        if taken == 0 {
            idle::let_go();
            return None;
        }
        if taken > 1 {
            self.queue_ready(&batch[1..]);
        }
        Some(batch[0])
    }

    /// Waits off the epoll set until the watchdog calls this thread back to poll.
    fn rest_as_spare(&self) {
        let Ok(mut spares) = self.spares.lock() else {
            return;
        };
        spares.resting += 1;
        while spares.calls == 0 {
            if !idle::holding() {
                spares = match self.spare_call.wait(spares) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
                continue;
            }
            spares = match self.spare_call.wait_timeout(spares, idle::LET_GO_AFTER) {
                Ok((guard, waited)) => {
                    if waited.timed_out() {
                        idle::let_go();
                    }
                    guard
                }
                Err(_) => return,
            };
        }
        spares.calls -= 1;
        spares.resting -= 1;
    }

    /// Wakes the watchdog: the last poller has just left epoll_wait.
    fn call_watchdog(&self) {
        if let Ok(_spares) = self.spares.lock() {
            self.watchdog_asleep.store(false, Ordering::SeqCst);
            self.watchdog_call.notify_one();
        }
    }

    /// While every poller is busy, runs every WATCHDOG_TICK: when no thread has gone back to
    /// polling since the last look and every thread holding an event is blocked (a slow
    /// backend, a client not reading), one spare thread is called in, so waiting connections
    /// are never stuck behind a busy one. Threads merely short of CPU get no competitor.
    /// Once pollers have waited in epoll_wait for WATCHDOG_RELAX ticks it sleeps until the
    /// last one leaves again, so an idle child does not wake.
    fn watchdog(&self) {
        let mut last_taken = u64::MAX;
        let mut relaxed = 0;
        let mut stuck_ticks = 0;
        loop {
            if relaxed >= WATCHDOG_RELAX {
                relaxed = 0;
                let Ok(mut spares) = self.spares.lock() else {
                    return;
                };
                self.watchdog_asleep.store(true, Ordering::SeqCst);
                // A poller that left before the flag was up did not call: look once more.
                while self.watchdog_asleep.load(Ordering::SeqCst)
                    && self.polling.load(Ordering::SeqCst) > 0
                    && self.ready_count.load(Ordering::SeqCst) == 0
                {
                    spares = match self.watchdog_call.wait(spares) {
                        Ok(guard) => guard,
                        Err(_) => return,
                    };
                }
                self.watchdog_asleep.store(false, Ordering::SeqCst);
            }
            std::thread::sleep(WATCHDOG_TICK);
            let polling = self.polling.load(Ordering::SeqCst);
            let queued = self.ready_count.load(Ordering::SeqCst) > 0;
            if polling > 0 && !queued {
                relaxed += 1;
            } else {
                relaxed = 0;
            }
            let taken = self.events_taken.load(Ordering::Relaxed);
            let stuck = (polling == 0 || queued) && taken == last_taken;
            last_taken = taken;
            stuck_ticks = if stuck { stuck_ticks + 1 } else { 0 };
            // A thread that holds an event and is on a CPU, or waiting for one, is not held
            // up but short of CPU time: a spare would only compete with it (on a loaded
            // machine, at every tick), unless it keeps the others waiting for long.
            if !stuck || (stuck_ticks < WATCHDOG_PATIENCE && self.a_busy_thread_runs()) {
                continue;
            }
            if let Ok(mut spares) = self.spares.lock() {
                if spares.resting > spares.calls {
                    spares.calls += 1;
                    self.spare_call.notify_one();
                }
            }
        }
    }

    /// How many threads may wait in epoll_wait at once. Under event, the CPUs shared out
    /// among the generation's children (at least one each): every poller of every child is a
    /// thread the kernel wakes, and pollers beyond the CPUs only take turns sleeping and
    /// waking (bench/mpm.sh, 1 KiB keep-alive, 2 CPUs, three children of Debian's sizing: two
    /// pollers a child made 0.35-0.43 context switches and 15.1 us of CPU a request, one a
    /// child 0.22-0.26 and 13.5 us). A poller held up (a download to a slow client, a CGI
    /// script) is relieved by a spare as before. Worker threads keep their connections, so
    /// there every CPU gets its poller whatever the number of children.
    fn poller_share(&self) -> usize {
        let children = match (self.park, self.board) {
            (true, Some(board)) => {
                let generation = board.get(self.slot, ProcessWord::Generation);
                (0..board.processes())
                    .filter(|&slot| {
                        slot == self.slot
                            || (board.get(slot, ProcessWord::Pid) != 0
                                && board.get(slot, ProcessWord::Generation) == generation
                                && board.get(slot, ProcessWord::Quiescing) == 0)
                    })
                    .count()
            }
            _ => 1,
        };
        self.cpus.div_ceil(children).clamp(1, self.threads)
    }

    /// Follows the number of children (the main thread, at each of its checks): a share that
    /// grew calls in spares to poll, one that shrank sends pollers to rest as they finish
    /// their events.
    fn share_pollers(&self) {
        let share = self.poller_share();
        let before = self.max_pollers.swap(share, Ordering::SeqCst);
        if share > before {
            if let Ok(mut spares) = self.spares.lock() {
                let calls = (share - before).min(spares.resting.saturating_sub(spares.calls));
                spares.calls += calls;
                for _ in 0..calls {
                    self.spare_call.notify_one();
                }
            }
        }
    }

    /// Whether any thread holding an event is runnable rather than blocked.
    fn a_busy_thread_runs(&self) -> bool {
        self.workers.iter().any(|worker| {
            worker.busy.load(Ordering::Relaxed)
                && crate::sys::thread_runnable(worker.tid.load(Ordering::Relaxed))
        })
    }

    fn accept(&self, index: usize) {
        // A queued event of a listener since taken out of the set (a child on its way out, or
        // full) accepts nothing.
        if !self.accepting_hint.load(Ordering::SeqCst) {
            return;
        }
        // This thread, about to serve, still counts as the idle worker the limit asks for.
        if !self.below_connection_limit(1) {
            self.stop_accepting();
            return;
        }
        let Some((stream, info)) = self.take_connection(index) else {
            return;
        };
        if self.park {
            self.accept_more(index);
        }
        match Connection::start(self.rt, stream, info, self.park) {
            Some(connection) => self.serve_new(Box::new(connection)),
            None => {
                self.count_connections(-1);
            }
        }
    }

    /// A connection just accepted: served at once when its request (or ClientHello, or
    /// PROXY header) is there, which TCP_DEFER_ACCEPT makes the rule, else parked until it
    /// comes. A first read that waited would hold this thread for as long as the client takes
    /// to send: a connection a SYN cookie completed (the listen queue overflowed), or any
    /// under `AcceptFilter http none` (or `https none`), is handed over before its client
    /// has sent anything.
    fn serve_new(&self, mut connection: Box<Connection>) {
        if self.park && (connection.edge_triggered() || connection.opening()) {
            match connection.read_now() {
                ReadNow::Arrived => {}
                ReadNow::Nothing => return self.offer(connection, Duration::ZERO),
                ReadNow::Closed => return self.closed(connection.registration()),
            }
        }
        self.run(connection);
    }

    /// Event: takes the rest of the connections waiting on `listener` and parks them, where
    /// any poller picks up their first request (or TLS handshake). The listening socket is
    /// edge-triggered (see `Interest::EdgeListener`): what is left waiting gets no event until
    /// the next client arrives, so the backlog is emptied now, or the listener handed on
    /// through the ready queue (past MORE_ACCEPTS), or taken out of the set at the connection
    /// limit (put back, it reports what waits).
    fn accept_more(&self, index: usize) {
        for _ in 0..MORE_ACCEPTS {
            if !self.accepting_hint.load(Ordering::Relaxed) {
                return;
            }
            if !self.below_connection_limit(1) {
                self.stop_accepting();
                return;
            }
            let Some((stream, info)) = self.take_connection(index) else {
                return;
            };
            match Connection::start(self.rt, stream, info, true) {
                Some(connection) => self.offer(Box::new(connection), Duration::ZERO),
                None => self.count_connections(-1),
            }
        }
        self.queue_ready(&[index as u64]);
    }

    /// Puts events at the back of the ready queue, for the next thread that looks for work.
    fn queue_ready(&self, tokens: &[u64]) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.extend(tokens);
            self.ready_count.store(ready.len(), Ordering::SeqCst);
        }
        // Should the thread that queued them be held up, the watchdog must be awake to call
        // in a spare.
        if self.watchdog_asleep.load(Ordering::SeqCst) {
            self.call_watchdog();
        }
    }

    /// Accepts one connection from `listener` and counts it; `None` when none is waiting (or
    /// another thread or child took it).
    fn take_connection(&self, index: usize) -> Option<(std::net::TcpStream, ConnInfo)> {
        let listener = self.listeners.get(index)?;
        let bound = self.bound.get(index).copied().flatten();
        let (stream, info) = match crate::server::accept_on(listener, bound) {
            Ok(accepted) => accepted,
            Err(err) => {
                if crate::server::accept_failed(&err) == AcceptFailure::Shortage {
                    process::GRACEFUL.store(true, Ordering::SeqCst);
                    self.stop_accepting();
                }
                return None;
            }
        };
        self.count_connections(1);
        if self.main_asleep.load(Ordering::SeqCst) && self.main_asleep.swap(false, Ordering::SeqCst)
        {
            process::wake();
        }
        let accepted = self.accepted.fetch_add(1, Ordering::SeqCst) + 1;
        if self.max_connections > 0 && accepted >= self.max_connections {
            // MaxConnectionsPerChild: this is the last one; the child leaves once it is served.
            process::GRACEFUL.store(true, Ordering::SeqCst);
            self.stop_accepting();
        }
        Some((stream, info))
    }

    /// A parked connection an event woke: an edge-triggered one is read without waiting first
    /// (the event may be one its last serving already answered, and a read that waits would
    /// hold this thread), so it goes back to the set if nothing came.
    fn resume(&self, mut connection: Box<Connection>) {
        if connection.backend_fd().is_some() {
            return self.run(connection);
        }
        if connection.registration().is_some_and(|r| r.edge) {
            match connection.read_now() {
                ReadNow::Arrived => {}
                ReadNow::Nothing => return self.offer(connection, Duration::ZERO),
                ReadNow::Closed => return self.closed(connection.registration()),
            }
        }
        self.run(connection);
    }

    /// Serves a connection on this thread until it closes or (event) parks.
    fn run(&self, mut connection: Box<Connection>) {
        loop {
            let registration = connection.registration();
            let started = Instant::now();
            match connection.serve(self.rt, self.park) {
                Next::Closed => return self.closed(registration),
                // Parked even in a leaving child: it was answered as kept alive, so its client
                // may be sending the next request now (answered with "Connection: close").
                Next::Idle(idle) => match self.park_connection(idle, started.elapsed()) {
                    Some(again) => connection = again,
                    None => return,
                },
                Next::Waiting(waiting) => match self.wait_for_backend(waiting) {
                    Some(again) => connection = again,
                    None => return,
                },
            }
        }
    }

    /// Parks a connection whose request waits for its backend, under the backend socket's
    /// own token (the client's registration stays as it is, and an event for the client
    /// meanwhile is marked for when the connection parks again). The socket is registered
    /// edge-triggered once, and a kept backend connection keeps its token: waiting on it
    /// again is no system call. The connection back when the answer came meanwhile, or the
    /// socket cannot be watched (then the answer is waited for on this thread).
    fn wait_for_backend(&self, mut connection: Box<Connection>) -> Option<Box<Connection>> {
        let fd = connection.backend_fd()?;
        let deadline = connection.wait_until(self.rt);
        let token = match connection.backend_watch() {
            Some(token) => token,
            None => {
                let token = self.parked.new_token();
                if self.epoll.add(&fd, Interest::EdgeRead, token).is_err() {
                    return Some(connection);
                }
                connection.set_backend_watch(token);
                token
            }
        };
        loop {
            match self.parked.settle(connection, token, deadline, None) {
                Settled::Parked | Settled::Failed => return None,
                // The mark may be older than this wait (bytes of an answer read on a thread,
                // a kept connection's close): only what is there now says the answer came.
                Settled::Woken(woken) if woken.backend_answered() => return Some(woken),
                Settled::Woken(woken) => connection = woken,
            }
        }
    }

    /// Parks a connection, or serves it again when its next bytes came meanwhile.
    fn offer(&self, connection: Box<Connection>, served_for: Duration) {
        if let Some(again) = self.park_connection(connection, served_for) {
            self.run(again);
        }
    }

    /// Counts a connection that closed, and drops any mark an event left for it.
    fn closed(&self, registration: Option<Registration>) {
        if let Some(registration) = registration {
            self.parked.forget(registration.token);
        }
        self.count_connections(-1);
    }

    /// Hands a kept-alive connection to the epoll set until it is readable. An edge-triggered
    /// registration stays as it was when the last read emptied the socket (any byte after it
    /// raises a new event); an event that came while the connection was served hands it back
    /// to be served again, once a read that does not wait finds its bytes. Anything else is
    /// armed by a system call. `None` when parked (or closed); the connection when it has more.
    fn park_connection(
        &self,
        mut connection: Box<Connection>,
        served_for: Duration,
    ) -> Option<Box<Connection>> {
        let edge = connection.edge_triggered();
        loop {
            let deadline = connection.wait_until(self.rt);
            let current = connection.registration();
            let trusted = current.is_some_and(|r| r.edge)
                && edge
                && connection.input_drained()
                && served_for < MARK_KEPT / 2;
            let token = current.map_or_else(|| self.parked.new_token(), |r| r.token);
            let interest = if edge {
                Interest::EdgeRead
            } else {
                Interest::OneShotRead
            };
            connection.set_registration(Registration { token, edge });
            let add = |fd: RawFd| self.epoll.add(&fd, interest, token);
            let modify = |fd: RawFd| self.epoll.rearm(&fd, interest, token);
            let arm: Option<&dyn Fn(RawFd) -> io::Result<()>> = match current {
                None => Some(&add),
                Some(_) if trusted => None,
                Some(_) => Some(&modify),
            };
            match self.parked.settle(connection, token, deadline, arm) {
                Settled::Parked => return None,
                Settled::Failed => {
                    self.closed(Some(Registration { token, edge }));
                    return None;
                }
                Settled::Woken(mut woken) => match woken.read_now() {
                    ReadNow::Arrived => return Some(woken),
                    ReadNow::Nothing => connection = woken,
                    ReadNow::Closed => {
                        self.closed(woken.registration());
                        return None;
                    }
                },
            }
        }
    }

    /// Apache's event limit: a child accepts while it holds fewer than ThreadsPerChild + idle
    /// workers × AsyncRequestWorkerFactor connections, and only with a worker idle. Unlike
    /// Apache, a connection parked while its request trickles in is not counted: it holds no
    /// worker, and counting it would let slow clients shut everyone else out.
    ///
    /// The limit is there so that a client goes to a process with workers to spare. When no
    /// other child of this generation is below its limit, a child with a worker idle accepts
    /// past it rather than leave the client in the listen backlog (where Apache leaves it
    /// until a connection closes, with keep-alive clients for good, or until the parent has
    /// started another child: up to seconds): a parked connection here costs no worker. The
    /// parent still counts the child as refusing, and starts more children as Apache does.
    fn below_connection_limit(&self, asking: usize) -> bool {
        if !self.park {
            return true;
        }
        let idle = self.idle_workers.load(Ordering::SeqCst) + asking;
        let held = self
            .connections
            .load(Ordering::SeqCst)
            .saturating_sub(self.parked.arriving.load(Ordering::SeqCst));
        let below = idle > 0 && held < self.threads + idle * self.async_factor;
        self.publish_at_limit(!below);
        below || (idle > 0 && self.nowhere_else_to_go())
    }

    /// Counts connections in or out, and (event) publishes the count at once: children at
    /// their limit compare theirs (see `nowhere_else_to_go`).
    fn count_connections(&self, delta: isize) {
        let now = if delta >= 0 {
            self.connections.fetch_add(delta as usize, Ordering::SeqCst) + delta as usize
        } else {
            self.connections
                .fetch_sub(delta.unsigned_abs(), Ordering::SeqCst)
                - delta.unsigned_abs()
        };
        if let (true, Some(board)) = (self.park, self.board) {
            board.set(self.slot, ProcessWord::Connections, now as u64);
        }
    }

    /// The scoreboard's AtLimit word, written only when it changes.
    fn publish_at_limit(&self, at_limit: bool) {
        if self.at_limit.swap(at_limit, Ordering::Relaxed) != at_limit {
            if let Some(board) = self.board {
                board.set(self.slot, ProcessWord::AtLimit, u64::from(at_limit));
            }
        }
    }

    /// Every other child of this one's generation that is not leaving is at its limit too,
    /// and none holds fewer connections than this one by more than ThreadsPerChild: past
    /// their limits the children share the connections out evenly (each child's threads get
    /// a like share of the CPU, so a child holding more would serve each of them slower).
    fn nowhere_else_to_go(&self) -> bool {
        let Some(board) = self.board else {
            return true;
        };
        let generation = board.get(self.slot, ProcessWord::Generation);
        let held = self.connections.load(Ordering::SeqCst) as u64;
        (0..board.processes()).all(|slot| {
            slot == self.slot
                || board.get(slot, ProcessWord::Pid) == 0
                || board.get(slot, ProcessWord::Generation) != generation
                || board.get(slot, ProcessWord::Quiescing) != 0
                || (board.get(slot, ProcessWord::AtLimit) != 0
                    && board.get(slot, ProcessWord::Connections) + self.threads as u64 >= held)
        })
    }

    fn stop_accepting(&self) {
        let Ok(mut accepting) = self.accepting.lock() else {
            return;
        };
        if *accepting {
            for listener in self.listeners.iter() {
                let _ = self.epoll.delete(listener);
            }
            *accepting = false;
            self.accepting_hint.store(false, Ordering::Relaxed);
            if let Some(board) = self.board {
                board.set(self.slot, ProcessWord::NotAccepting, 1);
            }
        }
    }

    /// A child leaving, its listeners out of its set: a client whose arrival woke this child
    /// alone (EPOLLEXCLUSIVE) just before it left waits in the backlog with nothing to tell
    /// the other children (an edge-triggered listener reports an arrival once, and a
    /// level-triggered one that stays readable wakes none of those already waiting; the next
    /// client's arrival, on a quiet server much later, would be the first to find it). Under
    /// event the backlog is taken now and its connections parked here, to be served before
    /// the child exits. Under worker, whose threads cannot park a connection, one waiting on
    /// each listener is served on this thread (as the child is leaving: one request each).
    fn take_stragglers(&self) {
        if !self.park {
            for index in 0..self.listeners.len() {
                if let Some((stream, info)) = self.take_connection(index) {
                    match Connection::start(self.rt, stream, info, false) {
                        Some(connection) => self.run(Box::new(connection)),
                        None => self.count_connections(-1),
                    }
                }
            }
            return;
        }
        for index in 0..self.listeners.len() {
            for _ in 0..MORE_ACCEPTS {
                let Some((stream, info)) = self.take_connection(index) else {
                    break;
                };
                match Connection::start(self.rt, stream, info, true) {
                    Some(connection) => self.offer(Box::new(connection), Duration::ZERO),
                    None => self.count_connections(-1),
                }
            }
        }
    }

    fn resume_accepting(&self) {
        if process::GRACEFUL.load(Ordering::SeqCst) || !self.below_connection_limit(0) {
            return;
        }
        let Ok(mut accepting) = self.accepting.lock() else {
            return;
        };
        if !*accepting {
            for (index, listener) in self.listeners.iter().enumerate() {
                let _ = self
                    .epoll
                    .add(listener, self.listener_interest, index as u64);
            }
            *accepting = true;
            self.accepting_hint.store(true, Ordering::Relaxed);
            if let Some(board) = self.board {
                board.set(self.slot, ProcessWord::NotAccepting, 0);
            }
        }
    }

    /// Closes parked connections whose keep-alive time is up (with `idle_too`, every one
    /// waiting between requests) and publishes the counts mod_status shows. Returns how many
    /// stay parked.
    fn expire_parked(&self, idle_too: bool) -> usize {
        let (expired, left) = self.parked.expire(Instant::now(), idle_too);
        if let Some(board) = self.board {
            board.set(self.slot, ProcessWord::KeepAlive, left as u64);
        }
        self.count_connections(-(expired.len() as isize));
        if let Some(board) = self.board {
            board.set(
                self.slot,
                ProcessWord::Connections,
                self.connections.load(Ordering::SeqCst) as u64,
            );
        }
        // Closed outside the lock (closing also takes them out of the epoll set); a late head
        // is answered first, as Apache answers it.
        for connection in expired {
            connection.time_out(self.rt);
        }
        // Looked at each pass, accepting or not, so that the AtLimit word other children
        // read follows workers turning busy or idle.
        if self.below_connection_limit(0) && !self.accepting_hint.load(Ordering::Relaxed) {
            self.resume_accepting();
        }
        left
    }
}
