//! Shared by the integration tests: a free port, and rhttpd started on a config in the
//! foreground, killed by its pid when dropped.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port free now and not handed out before in this test binary (parallel tests must not
/// pick one another's ports before their servers bind them).
pub fn free_port(host: &str) -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind((host, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
}

/// The lines every test config starts with: server root, the MPM, name, pid file, error log,
/// and the unprivileged user the children run as when the tests run as root (CI does) — so
/// the root is opened to that user here.
pub fn config_head(root: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "ServerRoot {}\n\
         LoadModule mpm_event_module modules/mod_mpm_event.so\n\
         LoadModule authz_core_module modules/mod_authz_core.so\n\
         ServerName localhost\n\
         PidFile logs/httpd.pid\n\
         ErrorLog /dev/stderr\n\
         User nobody\n\
         Group nogroup\n",
        root.display()
    )
}

/// A running `rhttpd -X`; stopped when dropped.
pub struct Server(Child);

impl Server {
    /// Writes `config` to `root/httpd.conf` and starts `rhttpd -X` on it.
    pub fn start(root: &Path, config: &str) -> Server {
        Server::start_with(root, config, &["-X"])
    }

    /// The same with other arguments (`-D FOREGROUND` for the MPM's own process model).
    pub fn start_with(root: &Path, config: &str, args: &[&str]) -> Server {
        Server::launch(
            Command::new(env!("CARGO_BIN_EXE_rhttpd")),
            root,
            config,
            args,
        )
    }

    /// The same with variables added to the server's environment.
    pub fn start_with_env(
        root: &Path,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rhttpd"));
        command.envs(env.iter().copied());
        Server::launch(command, root, config, args)
    }

    /// The same with at most `open_files` descriptors per process (`ulimit -n`; the shell
    /// execs the server, so the pid is the server's).
    pub fn start_limited(root: &Path, config: &str, args: &[&str], open_files: u32) -> Server {
        let mut shell = Command::new("sh");
        shell
            .args([
                "-c",
                &format!("ulimit -n {open_files} && exec \"$0\" \"$@\""),
            ])
            .arg(env!("CARGO_BIN_EXE_rhttpd"));
        Server::launch(shell, root, config, args)
    }

    /// Writes `config` to `root/httpd.conf` and runs `command` (rhttpd, or what execs it) on it.
    fn launch(mut command: Command, root: &Path, config: &str, args: &[&str]) -> Server {
        std::fs::create_dir_all(root.join("logs")).unwrap();
        std::fs::write(root.join("httpd.conf"), config).unwrap();
        let child = command
            .args(["-d", &root.display().to_string(), "-f", "httpd.conf"])
            .args(args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends `signal` and waits for the process to end; its exit status.
    pub fn stop_with(&mut self, signal: i32) -> std::process::ExitStatus {
        Command::new("kill")
            .args([format!("-{signal}"), self.0.id().to_string()])
            .status()
            .unwrap();
        self.0.wait().unwrap()
    }
}

/// Sends the signal named `name` (`USR1`, `HUP`, ...) to `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid} failed");
}

/// The pids whose parent is `pid`, from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The fields after the command name (which may hold spaces) start with state, ppid.
        let after_name = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let ppid = after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out.sort();
    out
}

/// Whether a process with this pid still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let after_name = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            after_name.split_whitespace().next() != Some("Z")
        })
        .unwrap_or(false)
}

/// Polls `check` every 20 ms for up to `limit`; whether it became true.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

impl Drop for Server {
    /// SIGTERM first, so the parent stops its children (a SIGKILLed parent would orphan them
    /// for the moment they take to notice); SIGKILL if it is still there after two seconds.
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `request` and reads to the end; retries while the server is still starting.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    for _ in 0..200 {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let mut response = Vec::new();
            let read = stream
                .write_all(request)
                .and_then(|()| stream.read_to_end(&mut response));
            // A connection a restart cut before anything came back is tried again; what did
            // come back is the answer, however the connection ended.
            if read.is_ok() || !response.is_empty() {
                return response;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing answered on {addr}");
}

/// A backend answering each request on its connections (kept alive) with `body`, `delay`
/// after the request's head.
pub fn answering_backend(body: &'static str, delay: Duration) -> SocketAddr {
    use std::io::BufRead;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            std::thread::sleep(delay);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if writer.write_all(answer.as_bytes()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    addr
}
