//! MPM sizing directives as written, Apache's per-MPM defaults, and its clamping at
//! config check with the warnings it prints at startup.

/// The MPM sizing directives, unset until a line sets them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MpmConfig {
    pub start_servers: Option<i64>,
    pub min_spare_servers: Option<i64>,
    pub max_spare_servers: Option<i64>,
    pub min_spare_threads: Option<i64>,
    pub max_spare_threads: Option<i64>,
    pub threads_per_child: Option<i64>,
    pub thread_limit: Option<i64>,
    pub server_limit: Option<i64>,
    pub max_request_workers: Option<i64>,
    pub max_connections_per_child: Option<i64>,
    /// `AsyncRequestWorkerFactor` (event only).
    pub async_request_worker_factor: Option<f64>,
    pub listen_backlog: Option<i64>,
    /// SendBufferSize, ReceiveBufferSize (bytes; 0 is the system default).
    pub send_buffer_size: Option<i64>,
    pub receive_buffer_size: Option<i64>,
    /// ListenTCPDeferAccept (seconds of TCP_DEFER_ACCEPT when an accept filter applies).
    pub listen_tcp_defer_accept: Option<i64>,
    pub graceful_shutdown_timeout: Option<i64>,
    pub max_mem_free_kib: Option<i64>,
    pub thread_stack_size: Option<i64>,
}

/// The values an MPM runs with after defaults and clamping.
#[derive(Debug, Clone, PartialEq)]
pub struct MpmSizing {
    pub start_servers: i64,
    pub min_spare: i64,
    pub max_spare: i64,
    pub threads_per_child: i64,
    pub thread_limit: i64,
    pub server_limit: i64,
    pub max_request_workers: i64,
    pub max_connections_per_child: i64,
    pub async_request_worker_factor: f64,
}

/// The clamping warnings of one sizing: at startup `AHn: WARNING: ...` for the console, on a
/// restart the next number's shorter wording for the error log (as Apache words each pair).
struct Warnings {
    startup: bool,
    lines: Vec<String>,
}

impl Warnings {
    fn say(&mut self, startup_number: u32, at_startup: String, on_restart: String) {
        self.lines.push(if self.startup {
            format!("AH{startup_number:05}: WARNING: {at_startup}")
        } else {
            format!("AH{:05}: {on_restart}", startup_number + 1)
        });
    }
}

/// Message numbers of the startup warnings, which differ per MPM (each restart variant is the
/// next number).
struct ThreadedNumbers {
    server_limit_high: u32,
    server_limit_low: u32,
    thread_limit_high: u32,
    thread_limit_low: u32,
    threads_high: u32,
    threads_low: u32,
    workers_below_threads: u32,
    workers_not_multiple: u32,
    workers_over_limit: u32,
    start_low: u32,
    min_spare_low: u32,
}

const EVENT_NUMBERS: ThreadedNumbers = ThreadedNumbers {
    server_limit_high: 497,
    server_limit_low: 499,
    thread_limit_high: 502,
    thread_limit_low: 504,
    threads_high: 507,
    threads_low: 509,
    workers_below_threads: 511,
    workers_not_multiple: 513,
    workers_over_limit: 515,
    start_low: 517,
    min_spare_low: 519,
};

const WORKER_NUMBERS: ThreadedNumbers = ThreadedNumbers {
    server_limit_high: 300,
    server_limit_low: 302,
    thread_limit_high: 305,
    thread_limit_low: 307,
    threads_high: 310,
    threads_low: 312,
    workers_below_threads: 314,
    workers_not_multiple: 316,
    workers_over_limit: 318,
    start_low: 320,
    min_spare_low: 322,
};

impl MpmConfig {
    /// Applies `mpm`'s defaults and Apache's startup clamping; returns the sizing and the
    /// warnings (`AHnnnnn: WARNING: ...`) Apache prints to stderr at startup.
    pub fn sizing(&self, mpm: &str) -> (MpmSizing, Vec<String>) {
        self.sizing_when(mpm, true)
    }

    /// The same on a restart: Apache's other wording and numbers, for the error log.
    pub fn sizing_on_restart(&self, mpm: &str) -> (MpmSizing, Vec<String>) {
        self.sizing_when(mpm, false)
    }

    fn sizing_when(&self, mpm: &str, startup: bool) -> (MpmSizing, Vec<String>) {
        let mut warn = Warnings {
            startup,
            lines: Vec::new(),
        };
        let sizing = match mpm {
            "prefork" => self.prefork_sizing(&mut warn),
            "worker" => self.threaded_sizing(&WORKER_NUMBERS, 20000, 3, &mut warn),
            _ => self.threaded_sizing(&EVENT_NUMBERS, 100000, 3, &mut warn),
        };
        (sizing, warn.lines)
    }

    fn threaded_sizing(
        &self,
        no: &ThreadedNumbers,
        max_thread_limit: i64,
        default_start: i64,
        warn: &mut Warnings,
    ) -> MpmSizing {
        const MAX_SERVER_LIMIT: i64 = 20000;
        let mut server_limit = self.server_limit.unwrap_or(16);
        let mut thread_limit = self.thread_limit.unwrap_or(64);
        let mut threads = self.threads_per_child.unwrap_or(25);
        let mut workers = self.max_request_workers.unwrap_or(400);
        let mut start = self.start_servers.unwrap_or(default_start);
        let mut min_spare = self.min_spare_threads.unwrap_or(75);
        let max_spare = self.max_spare_threads.unwrap_or(250);

        if server_limit > MAX_SERVER_LIMIT {
            warn.say(no.server_limit_high,
                format!("ServerLimit of {server_limit} exceeds compile-time limit of {MAX_SERVER_LIMIT} servers, decreasing to {MAX_SERVER_LIMIT}."),
                format!("ServerLimit of {server_limit} exceeds compile-time limit of {MAX_SERVER_LIMIT}, decreasing to match"));
            server_limit = MAX_SERVER_LIMIT;
        } else if server_limit < 1 {
            warn.say(
                no.server_limit_low,
                format!("ServerLimit of {server_limit} not allowed, increasing to 1."),
                format!("ServerLimit of {server_limit} not allowed, increasing to 1"),
            );
            server_limit = 1;
        }
        if thread_limit > max_thread_limit {
            warn.say(no.thread_limit_high,
                format!("ThreadLimit of {thread_limit} exceeds compile-time limit of {max_thread_limit} threads, decreasing to {max_thread_limit}."),
                format!("ThreadLimit of {thread_limit} exceeds compile-time limit of {max_thread_limit}, decreasing to match"));
            thread_limit = max_thread_limit;
        } else if thread_limit < 1 {
            warn.say(
                no.thread_limit_low,
                format!("ThreadLimit of {thread_limit} not allowed, increasing to 1."),
                format!("ThreadLimit of {thread_limit} not allowed, increasing to 1"),
            );
            thread_limit = 1;
        }
        if threads > thread_limit {
            warn.say(no.threads_high,
                format!("ThreadsPerChild of {threads} exceeds ThreadLimit of {thread_limit} threads, decreasing to {thread_limit}. To increase, please see the ThreadLimit directive."),
                format!("ThreadsPerChild of {threads} exceeds ThreadLimit of {thread_limit}, decreasing to match"));
            threads = thread_limit;
        } else if threads < 1 {
            warn.say(
                no.threads_low,
                format!("ThreadsPerChild of {threads} not allowed, increasing to 1."),
                format!("ThreadsPerChild of {threads} not allowed, increasing to 1"),
            );
            threads = 1;
        }
        if workers < threads {
            warn.say(no.workers_below_threads,
                format!("MaxRequestWorkers of {workers} is less than ThreadsPerChild of {threads}, increasing to {threads}. MaxRequestWorkers must be at least as large as the number of threads in a single server."),
                format!("MaxRequestWorkers of {workers} is less than ThreadsPerChild of {threads}, increasing to match"));
            workers = threads;
        }
        let mut daemons = workers / threads;
        if workers % threads != 0 {
            let rounded = daemons * threads;
            warn.say(no.workers_not_multiple,
                format!("MaxRequestWorkers of {workers} is not an integer multiple of ThreadsPerChild of {threads}, decreasing to nearest multiple {rounded}, for a maximum of {daemons} servers."),
                format!("MaxRequestWorkers of {workers} is not an integer multiple of ThreadsPerChild of {threads}, decreasing to nearest multiple {rounded}"));
            workers = rounded;
        }
        if daemons > server_limit {
            let capped = server_limit * threads;
            warn.say(no.workers_over_limit,
                format!("MaxRequestWorkers of {workers} would require {daemons} servers and would exceed ServerLimit of {server_limit}, decreasing to {capped}. To increase, please see the ServerLimit directive."),
                format!("MaxRequestWorkers of {workers} would require {daemons} servers and exceed ServerLimit of {server_limit}, decreasing to {capped}"));
            workers = capped;
            daemons = server_limit;
        }
        if start < 1 {
            warn.say(
                no.start_low,
                format!("StartServers of {start} not allowed, increasing to 1."),
                format!("StartServers of {start} not allowed, increasing to 1"),
            );
            start = 1;
        }
        if min_spare < 1 {
            warn.say(no.min_spare_low,
                format!("MinSpareThreads of {min_spare} not allowed, increasing to 1 to avoid almost certain server failure. Please read the documentation."),
                format!("MinSpareThreads of {min_spare} not allowed, increasing to 1"));
            min_spare = 1;
        }
        let _ = daemons;
        MpmSizing {
            start_servers: start,
            min_spare,
            max_spare,
            threads_per_child: threads,
            thread_limit,
            server_limit,
            max_request_workers: workers,
            max_connections_per_child: self.max_connections_per_child.unwrap_or(0),
            async_request_worker_factor: self.async_request_worker_factor.unwrap_or(2.0),
        }
    }

    fn prefork_sizing(&self, warn: &mut Warnings) -> MpmSizing {
        const MAX_SERVER_LIMIT: i64 = 200000;
        let mut server_limit = self.server_limit.unwrap_or(256);
        let mut workers = self.max_request_workers.unwrap_or(256);
        let mut start = self.start_servers.unwrap_or(5);
        let mut min_spare = self.min_spare_servers.unwrap_or(5);
        let max_spare = self.max_spare_servers.unwrap_or(10);
        if server_limit > MAX_SERVER_LIMIT {
            warn.say(175,
                format!("ServerLimit of {server_limit} exceeds compile-time limit of {MAX_SERVER_LIMIT} servers, decreasing to {MAX_SERVER_LIMIT}."),
                format!("ServerLimit of {server_limit} exceeds compile-time limit of {MAX_SERVER_LIMIT}, decreasing to match"));
            server_limit = MAX_SERVER_LIMIT;
        } else if server_limit < 1 {
            warn.say(
                177,
                format!("ServerLimit of {server_limit} not allowed, increasing to 1."),
                format!("ServerLimit of {server_limit} not allowed, increasing to 1"),
            );
            server_limit = 1;
        }
        if workers > server_limit {
            warn.say(180,
                format!("MaxRequestWorkers of {workers} exceeds ServerLimit value of {server_limit} servers, decreasing MaxRequestWorkers to {server_limit}. To increase, please see the ServerLimit directive."),
                format!("MaxRequestWorkers of {workers} exceeds ServerLimit value of {server_limit}, decreasing to match"));
            workers = server_limit;
        } else if workers < 1 {
            warn.say(
                182,
                format!("MaxRequestWorkers of {workers} not allowed, increasing to 1."),
                format!("MaxRequestWorkers of {workers} not allowed, increasing to 1"),
            );
            workers = 1;
        }
        if start < 1 {
            warn.say(
                184,
                format!("StartServers of {start} not allowed, increasing to 1."),
                format!("StartServers of {start} not allowed, increasing to 1"),
            );
            start = 1;
        }
        if min_spare < 1 {
            warn.say(186,
                format!("MinSpareServers of {min_spare} not allowed, increasing to 1 to avoid almost certain server failure. Please read the documentation."),
                format!("MinSpareServers of {min_spare} not allowed, increasing to 1"));
            min_spare = 1;
        }
        MpmSizing {
            start_servers: start,
            min_spare,
            max_spare,
            threads_per_child: 1,
            thread_limit: 1,
            server_limit,
            max_request_workers: workers,
            max_connections_per_child: self.max_connections_per_child.unwrap_or(0),
            async_request_worker_factor: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_rounds_workers_down_and_caps_by_server_limit() {
        let cfg = MpmConfig {
            threads_per_child: Some(30),
            max_request_workers: Some(130),
            server_limit: Some(3),
            ..Default::default()
        };
        let (s, w) = cfg.sizing("event");
        assert_eq!(s.max_request_workers, 90);
        assert_eq!(w[0], "AH00513: WARNING: MaxRequestWorkers of 130 is not an integer multiple of ThreadsPerChild of 30, decreasing to nearest multiple 120, for a maximum of 4 servers.");
        assert_eq!(w[1], "AH00515: WARNING: MaxRequestWorkers of 120 would require 4 servers and would exceed ServerLimit of 3, decreasing to 90. To increase, please see the ServerLimit directive.");
    }

    #[test]
    fn worker_uses_its_own_message_numbers() {
        let cfg = MpmConfig {
            threads_per_child: Some(100),
            ..Default::default()
        };
        let (s, w) = cfg.sizing("worker");
        assert_eq!(s.threads_per_child, 64);
        assert!(
            w[0].starts_with("AH00310: WARNING: ThreadsPerChild of 100 exceeds ThreadLimit of 64")
        );
    }

    #[test]
    fn prefork_defaults() {
        let (s, w) = MpmConfig::default().sizing("prefork");
        assert!(w.is_empty());
        assert_eq!(
            (
                s.start_servers,
                s.min_spare,
                s.max_spare,
                s.max_request_workers
            ),
            (5, 5, 10, 256)
        );
    }
}
