//! A private php-fpm master for the FastCGI tests: Debian's php-fpm8.2 with its own
//! php-fpm.conf in a temp dir (pid file, error log, one pool on a unix socket and one on a free
//! loopback port), run in the foreground (`-F`, `-R` since CI runs as root) and stopped by its
//! pid. Both servers under test talk to the same one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs php-fpm.
pub const PHP_FPM: &str = "/usr/sbin/php-fpm8.2";

/// A running php-fpm master; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct PhpFpm {
    child: Child,
    pub dir: tempfile::TempDir,
    /// The unix-socket pool's socket.
    pub socket: PathBuf,
    /// The TCP pool's port on 127.0.0.1.
    pub port: u16,
}

/// Panics unless php-fpm is installed: the FastCGI tests must not pass without it.
pub fn require_php_fpm() {
    assert!(
        Path::new(PHP_FPM).exists(),
        "Debian's php-fpm is not installed; run .ci/run (apt-get install php-fpm) first"
    );
}

impl PhpFpm {
    /// Starts a master with `children` static workers per pool and waits for both pools.
    pub fn start(children: usize) -> PhpFpm {
        require_php_fpm();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // The servers' children (www-data) reach the socket through this directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = root.join("php-fpm.sock");
        let port = crate::http::free_port();
        // The servers' children run as www-data: the socket is open to everyone, and the
        // workers (root under -R) can read any site.
        let conf = format!(
            "[global]\n\
             pid = {root}/php-fpm.pid\n\
             error_log = {root}/php-fpm.log\n\
             daemonize = no\n\
             [unix]\n\
             listen = {socket}\n\
             listen.mode = 0666\n\
             pm = static\n\
             pm.max_children = {children}\n\
             catch_workers_output = no\n\
             [tcp]\n\
             listen = 127.0.0.1:{port}\n\
             pm = static\n\
             pm.max_children = {children}\n",
            root = root.display(),
            socket = socket.display(),
        );
        let conf_path = root.join("php-fpm.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(PHP_FPM)
            .args(["-F", "-R", "-y"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PHP_FPM}: {e}"));
        let mut fpm = PhpFpm {
            child,
            dir,
            socket,
            port,
        };
        fpm.wait_ready();
        fpm
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let unix = std::os::unix::net::UnixStream::connect(&self.socket).is_ok();
            let tcp = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if unix && tcp {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("php-fpm exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("php-fpm did not start listening:\n{}", self.log());
    }

    /// The master's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("php-fpm.log")).unwrap_or_default()
    }

    /// Stops it now (a test of a backend that is down).
    pub fn stop(&mut self) {
        crate::stop_child(&mut self.child);
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.stop();
    }
}
