//! mpm_prefork: a parent that never serves, keeping a pool of single-threaded children that
//! each take one connection at a time. Once a second the parent reaps ended children and keeps
//! the idle ones between MinSpareServers and MaxSpareServers, forking at a rate that doubles up
//! to 32 per second while short, and asking one idle child per second to leave while over.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhttpd_directives::mpm::MpmSizing;

use super::scoreboard::{Scoreboard, State};
use crate::log;
use crate::request::ConnInfo;
use crate::runtime::Runtime;
use crate::server::conn;
use crate::sys::process::{self, Exit, Forked};

/// Apache's cap on how many children one maintenance cycle forks.
const MAX_SPAWN_RATE: usize = 32;
/// How often the parent checks signals and reaps between maintenance cycles.
const TICK: Duration = Duration::from_millis(50);
/// How long stopped children get before they are killed outright.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The parent's view of its children.
struct Pool {
    rt: Arc<Runtime>,
    listeners: Vec<TcpListener>,
    board: Scoreboard,
    /// Slots children may use: MaxRequestWorkers (already clamped to ServerLimit).
    limit: usize,
    min_spare: usize,
    max_spare: usize,
    max_connections: u64,
    children: HashMap<i32, usize>,
    spawn_rate: usize,
    reported_full: bool,
}

/// Runs the parent until SIGTERM or SIGINT; the listeners are already bound.
pub fn run(rt: Arc<Runtime>, listeners: Vec<TcpListener>, sizing: &MpmSizing) -> io::Result<()> {
    for listener in &listeners {
        // Children poll every listener and must not block on one another's connection.
        listener.set_nonblocking(true)?;
    }
    let limit = sizing.max_request_workers.max(1) as usize;
    let mut pool = Pool {
        rt,
        listeners,
        board: Scoreboard::new(limit)?,
        limit,
        min_spare: sizing.min_spare.max(1) as usize,
        max_spare: sizing.max_spare.max(2) as usize,
        max_connections: sizing.max_connections_per_child.max(0) as u64,
        children: HashMap::new(),
        spawn_rate: 1,
        reported_full: false,
    };
    process::install_parent_handlers();
    for _ in 0..(sizing.start_servers.max(1) as usize).min(limit) {
        if let Some(slot) = pool.free_slot() {
            pool.spawn(slot)?;
        }
    }
    let mut next_cycle = Instant::now() + Duration::from_secs(1);
    while !process::STOP.load(Ordering::SeqCst) {
        pool.reap();
        if Instant::now() >= next_cycle {
            pool.maintain()?;
            next_cycle += Duration::from_secs(1);
        }
        std::thread::sleep(TICK);
    }
    eprintln!(
        "{}",
        log::line(
            "mpm_prefork",
            "notice",
            "AH00169: caught SIGTERM, shutting down"
        )
    );
    pool.stop();
    Ok(())
}

impl Pool {
    fn free_slot(&self) -> Option<usize> {
        (0..self.limit).find(|&s| self.board.state(s) == State::Dead)
    }

    fn spawn(&mut self, slot: usize) -> io::Result<()> {
        // Claimed before the fork, so the child's own state changes are never overwritten.
        self.board.occupy(slot);
        match process::fork()? {
            Forked::Child => self.child(slot),
            Forked::Parent(pid) => {
                self.board.set_pid(slot, pid);
                self.children.insert(pid, slot);
                Ok(())
            }
        }
    }

    /// Frees the slots of children that ended, logging deaths by signal as Apache does.
    fn reap(&mut self) {
        while let Some((pid, exit)) = process::reap() {
            // The slot may already serve a new child if this one marked it dead on its way out.
            if let Some(slot) = self.children.remove(&pid) {
                if self.board.pid(slot) == pid {
                    self.board.vacate(slot);
                }
            }
            if let Exit::Signal(signal) = exit {
                if !process::STOP.load(Ordering::SeqCst) {
                    let text = format!(
                        "AH00052: child pid {pid} exit signal {} ({signal})",
                        process::signal_name(signal)
                    );
                    eprintln!("{}", log::line("core", "notice", &text));
                }
            }
        }
    }

    /// One second's idle-server maintenance.
    fn maintain(&mut self) -> io::Result<()> {
        let mut idle = 0;
        let mut youngest_idle = None;
        let mut free = Vec::new();
        for slot in 0..self.limit {
            match self.board.state(slot) {
                State::Dead if free.len() < self.spawn_rate => free.push(slot),
                // A child still starting counts as idle: forking more would only add load.
                State::Starting | State::Ready => {
                    idle += 1;
                    youngest_idle = Some(slot);
                }
                _ => {}
            }
        }
        if idle > self.max_spare {
            if let Some(slot) = youngest_idle {
                let pid = self.board.pid(slot);
                if pid > 0 {
                    process::signal(pid, libc::SIGUSR1);
                }
            }
            self.spawn_rate = 1;
        } else if idle < self.min_spare {
            if free.is_empty() {
                if !self.reported_full {
                    eprintln!("{}", log::line("mpm_prefork", "error", "AH00161: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting"));
                    self.reported_full = true;
                }
                self.spawn_rate = 1;
            } else {
                if self.spawn_rate >= 8 {
                    let text = format!(
                        "AH00162: server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning {} children, there are {idle} idle, and {} total children",
                        free.len(),
                        self.children.len()
                    );
                    eprintln!("{}", log::line("mpm_prefork", "info", &text));
                }
                for slot in free {
                    self.spawn(slot)?;
                }
                self.spawn_rate = (self.spawn_rate * 2).min(MAX_SPAWN_RATE);
            }
        } else {
            self.spawn_rate = 1;
        }
        Ok(())
    }

    /// Stops every child: SIGTERM, then SIGKILL for any still there after the grace period.
    fn stop(&mut self) {
        for &pid in self.children.keys() {
            process::signal(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while !self.children.is_empty() && Instant::now() < deadline {
            self.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
        for &pid in self.children.keys() {
            process::signal(pid, libc::SIGKILL);
        }
        while !self.children.is_empty() {
            self.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A child's life: accept, serve, repeat; leaves when asked (SIGUSR1), after
    /// MaxConnectionsPerChild connections, or when its parent is gone.
    fn child(&self, slot: usize) -> ! {
        process::install_child_handlers();
        let parent = std::os::unix::process::parent_id();
        let board = &self.board;
        board.set_state(slot, State::Ready);
        let mut served = 0u64;
        'serving: loop {
            if process::GRACEFUL.load(Ordering::SeqCst)
                || std::os::unix::process::parent_id() != parent
            {
                break;
            }
            if !process::wait_readable(&self.listeners, Duration::from_secs(1)) {
                continue;
            }
            for listener in &self.listeners {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    // Another child took it.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => continue,
                };
                let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
                    continue;
                };
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                board.set_state(slot, State::Reading);
                board.count_connection(slot);
                conn::serve(&self.rt, stream, ConnInfo { local, peer });
                board.set_state(slot, State::Ready);
                served += 1;
                if self.max_connections > 0 && served >= self.max_connections {
                    break 'serving;
                }
                break;
            }
        }
        board.set_state(slot, State::Dead);
        process::exit_child(0)
    }
}
