//! Setters shared by the three MPMs' tables (Apache's mpm_common.c and listen.c): sizing
//! numbers, Listen, ListenBacklog, PidFile and friends.

use crate::cmd::Cmd;
use crate::model::Listener;
use crate::registry::SetResult;
use crate::set::atoi;

/// A setter for one `atoi` sizing field of [`MpmConfig`].
macro_rules! number_setter {
    ($name:ident, $field:ident) => {
        pub(crate) fn $name(cmd: &mut Cmd, arg: &str) -> SetResult {
            cmd.cfg.mpm.$field = Some(atoi(arg));
            Ok(())
        }
    };
}

number_setter!(start_servers, start_servers);
number_setter!(min_spare_servers, min_spare_servers);
number_setter!(max_spare_servers, max_spare_servers);
number_setter!(min_spare_threads, min_spare_threads);
number_setter!(max_spare_threads, max_spare_threads);
number_setter!(threads_per_child, threads_per_child);
number_setter!(thread_limit, thread_limit);
number_setter!(server_limit, server_limit);
number_setter!(max_request_workers, max_request_workers);
number_setter!(max_connections_per_child, max_connections_per_child);
number_setter!(graceful_shutdown_timeout, graceful_shutdown_timeout);
number_setter!(max_mem_free, max_mem_free_kib);
number_setter!(thread_stack_size, thread_stack_size);

pub(crate) fn async_request_worker_factor(cmd: &mut Cmd, arg: &str) -> SetResult {
    let value: f64 = arg.trim().parse().map_err(|_| "error parsing value")?;
    if value <= 0.0 {
        return Err("AsyncRequestWorkerFactor argument must be a positive number".into());
    }
    cmd.cfg.mpm.async_request_worker_factor = Some(value);
    Ok(())
}

pub(crate) fn listen_backlog(cmd: &mut Cmd, arg: &str) -> SetResult {
    let backlog = atoi(arg);
    if backlog < 1 {
        return Err("ListenBacklog must be > 0".into());
    }
    cmd.cfg.mpm.listen_backlog = Some(backlog);
    Ok(())
}

pub(crate) fn pid_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.cfg.pid_file = Some(arg.to_string());
    Ok(())
}

pub(crate) fn scoreboard_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.cfg.scoreboard_file = Some(arg.to_string());
    Ok(())
}

/// `Listen [addr:]port [protocol]` as `ap_set_listener` parses it.
pub(crate) fn listen(cmd: &mut Cmd, argv: &[String]) -> SetResult {
    if argv.is_empty() || argv.len() > 2 {
        return Err("Listen requires 1 or 2 arguments.".into());
    }
    let (addr, port) = parse_listen_addr(&argv[0])?;
    let protocol = match argv.get(1) {
        Some(p) => p.to_ascii_lowercase(),
        None if port == 443 => "https".into(),
        None => "http".into(),
    };
    if cmd
        .cfg
        .listeners
        .iter()
        .any(|l| l.addr == addr && l.port == port)
    {
        return Err("Cannot define multiple Listeners on the same IP:port".into());
    }
    let origin = cmd.origin();
    cmd.cfg.listeners.push(Listener {
        addr,
        port,
        protocol,
        origin,
    });
    Ok(())
}

/// `apr_parse_addr_port`: `port`, `host:port`, `[v6]:port`; `*` means every address.
fn parse_listen_addr(text: &str) -> Result<(Option<String>, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let end = rest.find(']').ok_or("Invalid address or port")?;
        let port = rest[end + 1..].strip_prefix(':');
        (Some(format!("[{}]", &rest[..end])), port)
    } else if text.bytes().all(|b| b.is_ascii_digit()) {
        (None, Some(text))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (Some(h.to_string()), Some(p)),
            Some(_) => return Err("Invalid address or port".into()),
            None => (Some(text.to_string()), None),
        }
    };
    let Some(port) = port else {
        return Err("Port must be specified".into());
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Invalid address or port".into());
    }
    let port: u32 = port.parse().map_err(|_| "Invalid address or port")?;
    if port == 0 || port > 65535 {
        return Err(if port == 0 {
            "Port must be specified"
        } else {
            "Invalid address or port"
        }
        .into());
    }
    let host = host.filter(|h| h != "*");
    Ok((host, port as u16))
}

/// SendBufferSize and ReceiveBufferSize: at least 512 bytes, or 0 for the system's default.
pub(crate) fn send_buffer_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    let size = atoi(arg);
    if size < 512 && size != 0 {
        return Err("SendBufferSize must be >= 512 bytes, or 0 for system default.".into());
    }
    cmd.cfg.mpm.send_buffer_size = Some(size);
    Ok(())
}

pub(crate) fn receive_buffer_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    let size = atoi(arg);
    if size < 512 && size != 0 {
        return Err("ReceiveBufferSize must be >= 512 bytes, or 0 for system default.".into());
    }
    cmd.cfg.mpm.receive_buffer_size = Some(size);
    Ok(())
}

pub(crate) fn listen_tcp_defer_accept(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.cfg.mpm.listen_tcp_defer_accept = Some(atoi(arg));
    Ok(())
}
