//! Shared by the integration tests: a free port, and rhttpd started on a config in the
//! foreground, killed by its pid when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn free_port(host: &str) -> u16 {
    TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The lines every test config starts with: server root, the MPM, name, pid file and error log.
pub fn config_head(root: &Path) -> String {
    format!(
        "ServerRoot {}\n\
         LoadModule mpm_event_module modules/mod_mpm_event.so\n\
         ServerName localhost\n\
         PidFile logs/httpd.pid\n\
         ErrorLog /dev/stderr\n",
        root.display()
    )
}

/// A running `rhttpd -X`; stopped when dropped.
pub struct Server(Child);

impl Server {
    /// Writes `config` to `root/httpd.conf` and starts rhttpd on it.
    pub fn start(root: &Path, config: &str) -> Server {
        std::fs::create_dir_all(root.join("logs")).unwrap();
        std::fs::write(root.join("httpd.conf"), config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rhttpd"))
            .args(["-d", &root.display().to_string(), "-f", "httpd.conf", "-X"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `request` and reads to the end; retries while the server is still starting.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    for _ in 0..200 {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            stream.write_all(request).unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            return response;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing answered on {addr}");
}
