//! mod_systemd, whole: readiness and status for systemd's `Type=notify` services (Fedora's
//! and openSUSE's httpd.service). The server tells the socket `NOTIFY_SOCKET` names when it
//! reads its configuration (`RELOADING=1`), when it has loaded it and when it serves
//! (`READY=1`, with `MAINPID`), and once a second how busy it is (the `STATUS=` line
//! `systemctl status` shows), in mod_systemd's words. Without `NOTIFY_SOCKET` it says nothing.
//! The module has no directives; loading it turns ExtendedStatus on unless the configuration
//! turns it off, as Apache's does.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use rhttpd_directives::registry::ModuleDef;

use crate::mpm::scoreboard::{ProcessWord, Scoreboard, State};
use crate::runtime::Runtime;

pub static MODULE: ModuleDef = ModuleDef {
    id: "systemd_module",
    source: "mod_systemd.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

/// Sends one notification to the service manager, as `sd_notify` does: a datagram to the
/// unix socket `NOTIFY_SOCKET` names (a path, or `@name` in the abstract namespace). Apache
/// ignores a failure to notify, and so does this.
fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = target.as_encoded_bytes();
    let address = match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(&target),
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        _ => return,
    };
    let (Ok(address), Ok(socket)) = (address, UnixDatagram::unbound()) else {
        return;
    };
    let _ = socket.send_to_addr(state.as_bytes(), &address);
}

/// pre_config: the configuration is being read (at start and on every restart).
pub fn reading_configuration(config: &rhttpd_directives::model::Config) {
    if loaded(config) {
        notify("RELOADING=1\nSTATUS=Reading configuration...\n");
    }
}

/// post_config: the configuration is loaded and the listening sockets are open.
pub fn configuration_loaded(rt: &Runtime) {
    if rt.module_loaded(MODULE.id) {
        notify("READY=1\nSTATUS=Configuration loaded.\n");
    }
}

/// A restart whose configuration could not be read: the server goes on with the one it had.
/// (Apache's parent exits then; systemd would otherwise be left waiting for READY=1.)
pub fn configuration_kept(rt: &Runtime) {
    if rt.module_loaded(MODULE.id) {
        notify("READY=1\nSTATUS=Configuration not reloaded, still serving the previous one.\n");
    }
}

/// pre_mpm: the MPM starts serving (at start and after a full restart), in this process.
pub fn processing_requests(rt: &Runtime) {
    if rt.module_loaded(MODULE.id) {
        notify(&format!(
            "READY=1\nSTATUS=Processing requests...\nMAINPID={}",
            std::process::id()
        ));
    }
}

/// monitor, once a second in the parent: the request totals and how many workers are idle
/// and busy, unless ExtendedStatus is off (nothing useful to say then).
pub fn monitor(rt: &Runtime, board: &Scoreboard) {
    if !rt.module_loaded(MODULE.id) || !rt.extended_status() {
        return;
    }
    notify(&status_line(&load(board), board.restart_time()));
}

fn loaded(config: &rhttpd_directives::model::Config) -> bool {
    config.read.modules.iter().any(|m| m.id == MODULE.id)
}

/// What `ap_get_sload` reports: the share of the current generation's workers that are idle
/// and busy (in percent), and the requests and bytes of the live, non-leaving processes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Load {
    idle_percent: i64,
    busy_percent: i64,
    accesses: u64,
    bytes: u64,
}

fn load(board: &Scoreboard) -> Load {
    let generation = board.mpm_generation();
    let (mut ready, mut busy, mut accesses, mut bytes) = (0i64, 0i64, 0, 0);
    for process in 0..board.processes() {
        let live = board.pid(process) > 0 && board.get(process, ProcessWord::Quiescing) == 0;
        if !live {
            continue;
        }
        let current = board.get(process, ProcessWord::Generation) == generation;
        for thread in 0..board.thread_limit() {
            let view = board.view(board.worker_index(process, thread));
            match view.state {
                State::Ready if current => ready += 1,
                State::Ready | State::Dead | State::Starting | State::IdleKill => {}
                _ if current => busy += 1,
                _ => {}
            }
            if view.accesses != 0 || !matches!(view.state, State::Ready | State::Dead) {
                accesses += view.accesses;
                bytes += view.bytes;
            }
        }
    }
    let total = ready + busy;
    let (idle_percent, busy_percent) = match total {
        0 => (-1, -1),
        _ => (ready * 100 / total, busy * 100 / total),
    };
    Load {
        idle_percent,
        busy_percent,
        accesses,
        bytes,
    }
}

/// The status line mod_systemd's monitor sends, rates taken over the time since the last
/// restart.
fn status_line(load: &Load, restart_time: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Apache divides by the whole seconds up; its first report comes a second after the start.
    let up = now.saturating_sub(restart_time).max(1) as f32;
    let per_second = crate::modules::autoindex::strfsize((load.bytes as f32 / up) as i64);
    format!(
        "READY=1\nSTATUS=Total requests: {}; Idle/Busy workers {}/{};Requests/sec: {}; Bytes served/sec: {per_second}B/sec\n",
        load.accesses,
        load.idle_percent,
        load.busy_percent,
        c_general(f64::from(load.accesses as f32 / up)),
    )
}

/// C's `%.3g`: three significant digits, fixed notation for exponents from -4 to 2 and
/// scientific otherwise, trailing zeros removed.
fn c_general(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return if value.is_nan() {
            "nan".into()
        } else if value.is_infinite() {
            if value > 0.0 { "inf" } else { "-inf" }.into()
        } else {
            "0".into()
        };
    }
    let scientific = format!("{value:.2e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let trimmed = |text: &str| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text.to_string()
        }
    };
    if !(-4..3).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trimmed(mantissa), exponent.abs());
    }
    let decimals = (2 - exponent) as usize;
    trimmed(&format!("{value:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_c_prints_them_with_three_digits() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (12.5, "12.5"),
            (0.333333, "0.333"),
            (99.96, "100"),
            (123.4, "123"),
            (1234.0, "1.23e+03"),
            (999.6, "1e+03"),
            (0.0001234, "0.000123"),
            (0.00001234, "1.23e-05"),
            (2.0e12, "2e+12"),
        ];
        for (value, printed) in cases {
            assert_eq!(c_general(value), printed, "{value}");
        }
    }

    #[test]
    fn the_status_line_has_mod_systemds_shape() {
        let load = Load {
            idle_percent: 96,
            busy_percent: 4,
            accesses: 0,
            bytes: 0,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            status_line(&load, now),
            "READY=1\nSTATUS=Total requests: 0; Idle/Busy workers 96/4;Requests/sec: 0; Bytes served/sec:   0 B/sec\n"
        );
        let busy = Load {
            accesses: 3000,
            bytes: 3_000_000,
            ..load
        };
        let line = status_line(&busy, now - 10);
        assert!(
            line.contains("Total requests: 3000;") && line.contains("Requests/sec: 300;"),
            "{line}"
        );
        assert!(line.ends_with("Bytes served/sec: 293KB/sec\n"), "{line}");
    }
}
