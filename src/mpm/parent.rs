//! The parent process of every MPM: it never serves. It forks children into scoreboard slots,
//! reaps them, keeps the idle workers between the spare limits once a second (forking at a rate
//! that doubles up to 32 while short, retiring one child per second while over), and turns
//! SIGTERM, SIGHUP, SIGUSR1 and SIGWINCH into stop, restart, graceful restart and graceful stop.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::scoreboard::{ProcessWord, Scoreboard, State};
use super::{Generation, Kind, CHILD_FATAL};
use crate::log;
use crate::sys::process::{self, Exit, Forked};

/// Apache's cap on how many children one maintenance cycle forks.
const MAX_SPAWN_RATE: usize = 32;
/// How long children told to stop get before they are killed outright.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A child the parent started.
#[derive(Debug, Clone, Copy)]
struct Child {
    slot: usize,
    generation: u64,
}

/// Why a generation ended.
enum Ended {
    Stop,
    Restart,
    Graceful,
}

pub struct Parent {
    board: &'static Scoreboard,
    children: HashMap<i32, Child>,
    generation: u64,
    spawn_rate: usize,
    reported_full: bool,
    /// The same for worker and event's "within MinSpareThreads" (some threads still idle).
    reported_near: bool,
    /// Cycles left before the spawn rate may double again (held off after a graceful restart).
    hold_off: u32,
    /// A child could not run at all: the server stops.
    fatal: bool,
    /// Worker threads the generation a graceful restart retired had running: the next one
    /// starts with as many (StartServers at least), so the clients its children served find
    /// room at once instead of after a one-a-second ramp.
    carried_workers: usize,
}

impl Parent {
    pub fn new(board: &'static Scoreboard) -> Parent {
        process::PARENT.store(std::process::id(), Ordering::Relaxed);
        Parent {
            board,
            children: HashMap::new(),
            generation: board.mpm_generation(),
            spawn_rate: 1,
            reported_full: false,
            reported_near: false,
            hold_off: 0,
            carried_workers: 0,
            fatal: false,
        }
    }

    /// Runs generations until the server stops.
    pub fn run(
        mut self,
        first: Generation,
        mut reload: impl FnMut(&Generation) -> Result<Generation, String>,
    ) -> io::Result<()> {
        let mut current = first;
        let module = current.shape.kind.module();
        let number = match current.shape.kind {
            Kind::Prefork => 163,
            Kind::Worker => 292,
            Kind::Event => 489,
        };
        let resumed = format!(
            "AH{number:05}: {} configured -- resuming normal operations",
            current.rt.server_banner
        );
        let built = format!(
            "AH{:05}: Server built: {}",
            number + 1,
            crate::build_info::server_built()
        );
        // Said again by every generation, as Apache's MPMs say it each time they run.
        let configured = || {
            log_line(module, "notice", &resumed);
            log_line(module, "info", &built);
            log_line(
                "core",
                "notice",
                &format!("AH00094: Command line: '{}'", command_line()),
            );
        };
        configured();
        loop {
            match self.serve(&current)? {
                Ended::Stop => return Ok(()),
                ended => {
                    match reload(&current) {
                        Ok(next) => current = next,
                        Err(text) => {
                            log_line(
                                module,
                                "error",
                                &format!("configuration not reloaded, still serving the previous one: {text}"),
                            );
                            crate::modules::systemd::configuration_kept(&current.rt);
                        }
                    }
                    // A full restart starts the MPM again (Apache's pre_mpm).
                    if matches!(ended, Ended::Restart) {
                        crate::modules::systemd::processing_requests(&current.rt);
                    }
                    self.generation = self.board.next_generation();
                    // The spawn rate carries over, as Apache keeps it in its retained data:
                    // a server busy enough to have doubled it is as busy after a restart, and
                    // its new children must take over the old ones' clients at once. A graceful
                    // restart only holds its doubling off for ten seconds.
                    if matches!(ended, Ended::Graceful) {
                        self.hold_off = 10;
                    }
                    self.reported_full = false;
                    self.reported_near = false;
                    configured();
                }
            }
        }
    }

    /// Serves one generation until a signal ends it.
    fn serve(&mut self, current: &Generation) -> io::Result<Ended> {
        let shape = &current.shape;
        let module = shape.kind.module();
        let mut started = 0;
        let carried = std::mem::take(&mut self.carried_workers).div_ceil(shape.threads.max(1));
        while started < shape.start.max(carried) {
            match self.free_slot(current) {
                Some(slot) => self.spawn(current, slot)?,
                None => break,
            }
            started += 1;
        }
        let mut next_cycle = Instant::now() + Duration::from_secs(1);
        loop {
            // Apache's order: the children are stopped (or told to finish), the PidFile goes,
            // then the notice.
            if process::STOP.load(Ordering::SeqCst) {
                self.stop_all(libc::SIGTERM, Some(STOP_GRACE));
                remove_pid_file(current);
                log_line(module, "notice", &notice(shape.kind, Signal::Stop));
                return Ok(Ended::Stop);
            }
            if process::GRACEFUL_STOP.swap(false, Ordering::SeqCst) {
                remove_pid_file(current);
                log_line(module, "notice", &notice(shape.kind, Signal::GracefulStop));
                self.stop_all(libc::SIGUSR1, shape.graceful_shutdown_timeout);
                return Ok(Ended::Stop);
            }
            if process::RESTART.swap(false, Ordering::SeqCst) {
                log_line(module, "notice", &notice(shape.kind, Signal::Restart));
                self.stop_all(libc::SIGTERM, Some(STOP_GRACE));
                return Ok(Ended::Restart);
            }
            if process::GRACEFUL.swap(false, Ordering::SeqCst) {
                log_line(module, "notice", &notice(shape.kind, Signal::Graceful));
                // Old children finish what they serve and leave; the new generation starts
                // in the free slots at once, on the same listening sockets, as large as this
                // one was.
                self.carried_workers = self
                    .children
                    .values()
                    .filter(|c| {
                        c.generation == self.generation
                            && self.board.get(c.slot, ProcessWord::Quiescing) == 0
                    })
                    .count()
                    * shape.threads;
                for (&pid, child) in &self.children {
                    self.board.set(child.slot, ProcessWord::Quiescing, 1);
                    process::signal(pid, libc::SIGUSR1);
                }
                return Ok(Ended::Graceful);
            }
            self.reap(current);
            if self.fatal {
                self.stop_all(libc::SIGTERM, Some(STOP_GRACE));
                return Err(io::Error::other(
                    "a child could not start; see the error log",
                ));
            }
            let now = Instant::now();
            if now >= next_cycle {
                crate::piped_log::revive_all();
                self.maintain(current)?;
                crate::modules::systemd::monitor(&current.rt, self.board);
                next_cycle += Duration::from_secs(1);
                continue;
            }
            // Asleep until the next cycle, a signal, or a child's end (SIGCHLD wakes it too).
            process::wait_for_wake(next_cycle - now);
        }
    }

    /// The lowest process slot under the limit that no child holds.
    fn free_slot(&self, current: &Generation) -> Option<usize> {
        let limit = current.shape.process_limit.min(self.board.processes());
        (0..limit).find(|&slot| !self.children.values().any(|c| c.slot == slot))
    }

    fn spawn(&mut self, current: &Generation, slot: usize) -> io::Result<()> {
        // Claimed before the fork, so the child's own state changes are never overwritten.
        self.board
            .occupy(slot, current.shape.threads, self.generation);
        match process::fork_child()? {
            Forked::Child => {
                let served = super::child(current, slot, false);
                process::exit_child(if served.is_ok() { 0 } else { CHILD_FATAL })
            }
            Forked::Parent(pid) => {
                self.board.set(slot, ProcessWord::Pid, pid as u64);
                self.children.insert(
                    pid,
                    Child {
                        slot,
                        generation: self.generation,
                    },
                );
                Ok(())
            }
        }
    }

    /// Frees the slots of children that ended, logging deaths by signal as Apache does.
    fn reap(&mut self, current: &Generation) {
        while let Some((pid, exit)) = process::reap() {
            let Some(child) = self.children.remove(&pid) else {
                continue;
            };
            if self.board.pid(child.slot) == pid {
                self.board.vacate(child.slot);
            }
            if exit == Exit::Code(CHILD_FATAL) {
                let text =
                    format!("AH00050: Child {pid} returned a Fatal error... Apache is exiting!");
                log_line("core", "alert", &text);
                self.fatal = true;
            }
            if let Exit::Signal(signal) = exit {
                let text = format!(
                    "AH00052: child pid {pid} exit signal {} ({signal})",
                    process::signal_name(signal)
                );
                log_line("core", "notice", &text);
                // A crashed current-generation child is replaced at once, not a second later.
                if child.generation == self.generation {
                    if let Some(slot) = self.free_slot(current) {
                        let _ = self.spawn(current, slot);
                    }
                }
            }
        }
    }

    /// Idle workers of current-generation children that are neither leaving nor refusing
    /// connections, as Apache counts them. An event child at its AsyncRequestWorkerFactor
    /// limit counts as refusing even while it accepts past it (see `threaded`'s overflow): its
    /// idle workers are not room for more.
    fn idle_workers(&self, current: &Generation) -> (usize, Option<i32>) {
        let mut idle = 0;
        let mut retire = None;
        for (&pid, child) in &self.children {
            if child.generation != self.generation
                || self.board.get(child.slot, ProcessWord::Quiescing) != 0
                || self.board.get(child.slot, ProcessWord::NotAccepting) != 0
                || self.board.get(child.slot, ProcessWord::AtLimit) != 0
            {
                continue;
            }
            let mut child_idle = 0;
            for thread in 0..current.shape.threads {
                let state = self
                    .board
                    .state(self.board.worker_index(child.slot, thread));
                if matches!(state, State::Starting | State::Ready) {
                    child_idle += 1;
                }
            }
            idle += child_idle;
            // Prefork retires an idle child; the threaded MPMs the one in the highest slot.
            let candidate = match current.shape.kind {
                Kind::Prefork => child_idle > 0,
                _ => true,
            };
            if candidate && retire.is_none_or(|p: i32| self.children[&p].slot < child.slot) {
                retire = Some(pid);
            }
        }
        (idle, retire)
    }

    /// One second's spare-worker maintenance.
    fn maintain(&mut self, current: &Generation) -> io::Result<()> {
        let shape = &current.shape;
        let (idle, retire) = self.idle_workers(current);
        if idle > shape.max_spare {
            if let Some(pid) = retire {
                self.board
                    .set(self.children[&pid].slot, ProcessWord::Quiescing, 1);
                process::signal(pid, libc::SIGUSR1);
            }
            self.spawn_rate = 1;
            return Ok(());
        }
        if idle >= shape.min_spare {
            self.spawn_rate = 1;
            return Ok(());
        }
        let mut free = Vec::new();
        let limit = shape.process_limit.min(self.board.processes());
        for slot in 0..limit {
            if free.len() < self.spawn_rate && !self.children.values().any(|c| c.slot == slot) {
                free.push(slot);
            }
        }
        if free.is_empty() {
            // Prefork says it has reached the limit; worker and event say so only when no
            // thread is idle, and otherwise that the idle ones are fewer than MinSpareThreads.
            let (number, reached) = match shape.kind {
                Kind::Prefork => ("AH00161", true),
                Kind::Worker => (if idle == 0 { "AH00286" } else { "AH00287" }, idle == 0),
                Kind::Event => (if idle == 0 { "AH00484" } else { "AH10159" }, idle == 0),
            };
            let reported = if reached {
                &mut self.reported_full
            } else {
                &mut self.reported_near
            };
            if !*reported {
                let text = if reached {
                    format!("{number}: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting")
                } else {
                    format!("{number}: server is within MinSpareThreads of MaxRequestWorkers, consider raising the MaxRequestWorkers setting")
                };
                log_line(shape.kind.module(), "error", &text);
                *reported = true;
            }
            self.spawn_rate = 1;
            return Ok(());
        }
        if self.spawn_rate >= 8 {
            let text = format!(
                "AH00162: server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning {} children, there are {idle} idle, and {} total children",
                free.len(),
                self.children.len()
            );
            log_line(shape.kind.module(), "info", &text);
        }
        for slot in free {
            self.spawn(current, slot)?;
        }
        if self.hold_off > 0 {
            self.hold_off -= 1;
        } else {
            self.spawn_rate = (self.spawn_rate * 2).min(MAX_SPAWN_RATE);
        }
        Ok(())
    }

    /// Sends `signal` to every child and waits for them all; after `grace` (none: forever)
    /// the rest are killed.
    fn stop_all(&mut self, signal: i32, grace: Option<Duration>) {
        for (&pid, child) in &self.children {
            self.board.set(child.slot, ProcessWord::Quiescing, 1);
            process::signal(pid, signal);
        }
        let deadline = grace.map(|g| Instant::now() + g);
        while !self.children.is_empty() && deadline.is_none_or(|d| Instant::now() < d) {
            self.reap_quietly();
            std::thread::sleep(Duration::from_millis(10));
        }
        for &pid in self.children.keys() {
            process::signal(pid, libc::SIGKILL);
        }
        while !self.children.is_empty() {
            self.reap_quietly();
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reaps children being stopped: their deaths are expected, so nothing is logged.
    fn reap_quietly(&mut self) {
        while let Some((pid, _)) = process::reap() {
            if let Some(child) = self.children.remove(&pid) {
                if self.board.pid(child.slot) == pid {
                    self.board.vacate(child.slot);
                }
            }
        }
    }
}

/// The four signals the parent acts on.
#[derive(Clone, Copy)]
enum Signal {
    Stop,
    GracefulStop,
    Graceful,
    Restart,
}

/// What each MPM logs on each signal, with its own message numbers.
fn notice(kind: Kind, signal: Signal) -> String {
    let first = match kind {
        Kind::Prefork => 169,
        Kind::Worker => 295,
        Kind::Event => 491,
    };
    let (offset, text) = match (kind, signal) {
        (_, Signal::Stop) => (0, "caught SIGTERM, shutting down"),
        (_, Signal::GracefulStop) => (1, "caught SIGWINCH, shutting down gracefully"),
        (Kind::Prefork, Signal::Graceful) => (2, "Graceful restart requested, doing restart"),
        (_, Signal::Graceful) => (2, "SIGUSR1 received.  Doing graceful restart"),
        // Prefork's number after its restart notice is taken by a killpg warning.
        (Kind::Prefork, Signal::Restart) => (4, "SIGHUP received.  Attempting to restart"),
        (_, Signal::Restart) => (3, "SIGHUP received.  Attempting to restart"),
    };
    format!("AH{:05}: {text}", first + offset)
}

fn log_line(module: &str, level: &str, text: &str) {
    log::error(module, level, text);
}

/// Removes the PidFile when the server stops, saying so at info level (AH00096).
fn remove_pid_file(current: &Generation) {
    let path = crate::lifecycle::pid_file(&current.rt.config);
    if std::fs::remove_file(&path).is_ok() {
        let text = format!(
            "AH00096: removed PID file {} (pid={})",
            path.display(),
            std::process::id()
        );
        log_line("core", "info", &text);
    }
}

/// The command line as Apache logs it: every argument but `-k` and its verb.
fn command_line() -> String {
    let mut out = Vec::new();
    let mut args = std::env::args();
    while let Some(arg) = args.next() {
        if arg == "-k" {
            args.next();
            continue;
        }
        out.push(arg);
    }
    out.join(" ")
}
