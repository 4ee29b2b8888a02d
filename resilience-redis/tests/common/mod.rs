//! A real `redis-server` for a test: started on a free loopback port (never 6379), stopped when
//! dropped. Where `redis-server` is absent, [`RedisServer::start`] says so and returns `None`.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// A fresh server with no persistence, or `None` (printed) without `redis-server`.
    pub fn start() -> Option<RedisServer> {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        if Command::new(&binary).arg("--version").output().is_err() {
            eprintln!(
                "SKIPPED: no redis-server (install Debian's `redis-server`; .ci/run does, or set REDIS_SERVER)"
            );
            return None;
        }
        for _ in 0..20 {
            // A free port, picked by the kernel, then given to the server (never 6379).
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if port == 6379 {
                continue;
            }
            let mut server = RedisServer {
                child: spawn(&binary, port),
                port,
            };
            if server.wait_ready() {
                return Some(server);
            }
            let _ = server.child.kill();
        }
        panic!("redis-server did not start on any of 20 ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&mut self) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.cli(&["PING"]).is_some_and(|r| r.trim() == "PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A command through a plain connection: its first line of answer.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut command = format!("*{}\r\n", args.len());
        for a in args {
            command.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(command.as_bytes()).ok()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end().to_owned();
        if let Some(len) = line.strip_prefix('$') {
            let len: i64 = len.parse().ok()?;
            if len < 0 {
                return Some(String::new());
            }
            let mut body = vec![0u8; usize::try_from(len).ok()? + 2];
            std::io::Read::read_exact(&mut reader, &mut body).ok()?;
            return Some(String::from_utf8_lossy(&body[..body.len() - 2]).into_owned());
        }
        Some(line.trim_start_matches(['+', ':']).to_owned())
    }

    /// How many times a command ran on the server (`INFO commandstats`).
    pub fn calls_of(&self, command: &str) -> u64 {
        let info = self.cli(&["INFO", "commandstats"]).unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Stops the server and starts an empty one on the same port (a restart without
    /// persistence).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Shuts the server down.
    pub fn stop(&mut self) {
        self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts an empty server again on the same port, after [`stop`](Self::stop).
    pub fn start_again(&mut self) {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        self.child = spawn(&binary, self.port);
        assert!(self.wait_ready(), "redis-server restarted");
    }

    /// Freezes the server (SIGSTOP): it keeps its connections and answers nothing.
    pub fn freeze(&self) {
        Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

/// A server without persistence on loopback port `port`.
fn spawn(binary: &str, port: u16) -> Child {
    Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
