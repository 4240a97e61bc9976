//! mpm_worker: the worker MPM's sizing directives.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use super::mpm_common::*;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "mpm_worker_module",
    source: "worker.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("ListenBacklog", Take1(listen_backlog), RSRC_CONF, "Maximum length of the queue of pending connections, as used by listen(2)").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ListenCoresBucketsRatio", Take1(accept1), RSRC_CONF, "Ratio between the number of CPU cores (online) and the number of listeners buckets").forbid(GLOBAL_ONLY).inert("splits the listeners into SO_REUSEPORT buckets; rhttpd's children share one set through EPOLLEXCLUSIVE"),
    DirectiveDef::new("Listen", Argv(listen), RSRC_CONF, "A port number or a numeric IP address and a port number, and an optional protocol").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SendBufferSize", Take1(send_buffer_size), RSRC_CONF, "Send buffer size in bytes").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ReceiveBufferSize", Take1(receive_buffer_size), RSRC_CONF, "Receive buffer size in bytes").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ListenTCPDeferAccept", Take1(listen_tcp_defer_accept), RSRC_CONF, "Value set for the socket option TCP_DEFER_ACCEPT if it is set").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("StartServers", Take1(start_servers), RSRC_CONF, "Number of child processes launched at server startup").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MinSpareThreads", Take1(min_spare_threads), RSRC_CONF, "Minimum number of idle threads, to handle request spikes").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MaxSpareThreads", Take1(max_spare_threads), RSRC_CONF, "Maximum number of idle threads").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MaxRequestWorkers", Take1(max_request_workers), RSRC_CONF, "Maximum number of threads alive at the same time").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("MaxClients", Take1(max_request_workers), RSRC_CONF, "Deprecated name of MaxRequestWorkers").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ThreadsPerChild", Take1(threads_per_child), RSRC_CONF, "Number of threads each child creates").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ServerLimit", Take1(server_limit), RSRC_CONF, "Maximum number of child processes for this run of Apache").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("ThreadLimit", Take1(thread_limit), RSRC_CONF, "Maximum number of worker threads per child process for this run of Apache - Upper limit for ThreadsPerChild").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("GracefulShutdownTimeout", Take1(graceful_shutdown_timeout), RSRC_CONF, "Maximum time in seconds to wait for child processes to complete transactions during shutdown").forbid(GLOBAL_ONLY).implemented(),
];
