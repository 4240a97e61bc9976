//! The Multi-Processing Modules: how processes and threads are arranged to serve connections,
//! chosen from the configuration's `LoadModule mpm_*_module` line as Apache chooses, and the
//! server's life across restarts (generations of children over the same listening sockets).

mod idle;
pub mod parent;
pub mod prefork;
pub mod scoreboard;
pub mod threaded;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rhttpd_directives::mpm::{MpmConfig, MpmSizing};

use crate::runtime::Runtime;

/// The three MPMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prefork,
    Worker,
    Event,
}

impl Kind {
    /// From the MPM's short name (`prefork`, `worker`, `event`); Debian's default is event.
    pub fn from_name(name: Option<&str>) -> Kind {
        match name {
            Some("prefork") => Kind::Prefork,
            Some("worker") => Kind::Worker,
            _ => Kind::Event,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Prefork => "prefork",
            Kind::Worker => "worker",
            Kind::Event => "event",
        }
    }

    /// The module name Apache logs under.
    pub fn module(self) -> &'static str {
        match self {
            Kind::Prefork => "mpm_prefork",
            Kind::Worker => "mpm_worker",
            Kind::Event => "mpm_event",
        }
    }
}

/// The process and thread sizes of one generation, after Apache's clamping.
#[derive(Debug, Clone)]
pub struct Shape {
    pub kind: Kind,
    /// Children the server may run at once: MaxRequestWorkers (prefork) or
    /// MaxRequestWorkers / ThreadsPerChild.
    pub process_limit: usize,
    /// Workers per child: 1 for prefork, ThreadsPerChild otherwise.
    pub threads: usize,
    pub server_limit: usize,
    pub thread_limit: usize,
    pub start: usize,
    /// Spare idle workers, in processes (prefork) or threads (worker, event).
    pub min_spare: usize,
    pub max_spare: usize,
    pub max_connections_per_child: u64,
    /// AsyncRequestWorkerFactor as Apache applies it (stored ×16, divided back as an integer).
    pub async_factor: usize,
    pub graceful_shutdown_timeout: Option<Duration>,
    /// ThreadStackSize for the worker threads (the system's default when unset).
    pub thread_stack_size: Option<usize>,
}

impl Shape {
    pub fn new(kind: Kind, sizing: &MpmSizing, config: &MpmConfig) -> Shape {
        let threads = match kind {
            Kind::Prefork => 1,
            _ => sizing.threads_per_child.max(1) as usize,
        };
        let workers = sizing.max_request_workers.max(1) as usize;
        let (server_limit, thread_limit) = match kind {
            Kind::Prefork => (sizing.server_limit.max(1) as usize, 1),
            _ => (
                sizing.server_limit.max(1) as usize,
                sizing.thread_limit.max(threads as i64) as usize,
            ),
        };
        let process_limit = (workers / threads).clamp(1, server_limit);
        let (min_spare, max_spare) = match kind {
            Kind::Prefork => (
                sizing.min_spare.max(1) as usize,
                (sizing.max_spare.max(1) as usize).max(sizing.min_spare.max(1) as usize + 1),
            ),
            // Apache's run-time floor with one listener bucket: MaxSpareThreads at least
            // MinSpareThreads + ThreadsPerChild + 1.
            _ => {
                let min = sizing.min_spare.max(1) as usize;
                (
                    min,
                    (sizing.max_spare.max(0) as usize).max(min + threads + 1),
                )
            }
        };
        Shape {
            kind,
            process_limit,
            threads,
            server_limit,
            thread_limit,
            start: (sizing.start_servers.max(1) as usize).min(process_limit),
            min_spare,
            max_spare,
            max_connections_per_child: sizing.max_connections_per_child.max(0) as u64,
            async_factor: ((sizing.async_request_worker_factor * 16.0) as usize / 16).max(1),
            graceful_shutdown_timeout: config
                .graceful_shutdown_timeout
                .filter(|&s| s > 0)
                .map(|s| Duration::from_secs(s as u64)),
            thread_stack_size: config
                .thread_stack_size
                .filter(|&s| s > 0)
                .map(|s| s as usize),
        }
    }
}

/// What one generation serves with.
pub struct Generation {
    pub rt: Arc<Runtime>,
    pub shape: Shape,
    pub listeners: Arc<Vec<TcpListener>>,
}

impl Generation {
    /// The runtime, borrowed for the rest of this process. A child serves one generation
    /// and then exits (in `-X` mode too), so its runtime would live until then anyway; the
    /// `'static` borrow lets a request the event MPM parks while its backend works outlive
    /// the call that began it. One clone of the `Arc` is leaked per child.
    pub fn runtime_for_life(&self) -> &'static Runtime {
        let kept: &'static Arc<Runtime> = Box::leak(Box::new(Arc::clone(&self.rt)));
        kept
    }
}

/// Runs the server until it is stopped: the parent keeps its children, and on SIGHUP or
/// SIGUSR1 asks `reload` for the next generation (the old one carries on when it fails, with
/// the reason logged). With `one_process` (`-X`) one child's work runs in this process. The
/// caller has installed the parent's signal handlers (`install_parent_handlers`).
pub fn run(
    first: Generation,
    one_process: bool,
    reload: impl FnMut(&Generation) -> Result<Generation, String>,
) -> io::Result<()> {
    // ScoreBoardFile: the scoreboard in a file other programs can map.
    let config = &first.rt.config;
    let file = config
        .scoreboard_file
        .as_deref()
        .map(|f| config.read.server_root_relative(f));
    let board = scoreboard::create(
        first.shape.server_limit,
        first.shape.thread_limit,
        file.as_deref(),
    )
    .map_err(|err| {
        let text = format!("AH00023: Couldn't create the scoreboard ({err})");
        crate::log::error("core", "crit", &text);
        err
    })?;
    crate::modules::systemd::processing_requests(&first.rt);
    if one_process {
        board.occupy(0, first.shape.threads, 0);
        board.set(0, scoreboard::ProcessWord::Pid, std::process::id() as u64);
        return child(&first, 0, true);
    }
    parent::Parent::new(board).run(first, reload)
}

/// The exit status of a child that cannot run at all (Apache's APEXIT_CHILDFATAL): the parent
/// stops the server rather than fork it again and again.
pub const CHILD_FATAL: i32 = 0xf;

/// A child's life: privileges given up (as root), then the MPM's serving loop.
fn child(current: &Generation, slot: usize, one_process: bool) -> io::Result<()> {
    let (chroot, coredump) = crate::modules::unixd::child_dirs(&current.rt.config);
    if let Err(text) = crate::modules::unixd::setup_child(
        &current.rt.config.run_as,
        chroot.as_deref(),
        coredump.as_deref(),
    ) {
        crate::log::error("unixd", "alert", &text);
        return Err(io::Error::other("could not switch to User and Group"));
    }
    scoreboard::set_extended(current.rt.extended_status());
    let served = match current.shape.kind {
        Kind::Prefork => prefork::child_main(current, slot, one_process),
        _ => threaded::child_main(current, slot, one_process),
    };
    // BufferedLogs: what this child gathered goes out before it leaves.
    current.rt.logs.flush();
    served
}
