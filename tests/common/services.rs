//! Private PostgreSQL, Redis and S3 servers for the fault tests: each on its own port and data
//! directory, so a test can stop and start them without touching the shared test servers other
//! tests use. The same Debian packages `scripts/services.sh` installs (PostgreSQL's `initdb` and
//! `pg_ctl`, `redis-server`) and the same s3s-fs binary it builds.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A PostgreSQL cluster in a temporary directory (trust auth on loopback).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries (scripts/services.sh installs them)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let pg = Postgres { dir, bin, port: free_port() };
        if running_as_root() {
            // PostgreSQL refuses to run as root: its files belong to the postgres user.
            Command::new("chown").args(["-R", "postgres"]).arg(pg.dir.path()).status().unwrap();
        }
        let out = pg.as_owner("initdb").args(["-A", "trust", "-U", "postgres", "-D"]).arg(pg.data()).output().unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.up();
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "postgres", "-qc", "CREATE DATABASE oxcast"])
            .output()
            .unwrap();
        assert!(out.status.success(), "createdb: {}", String::from_utf8_lossy(&out.stderr));
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_owner(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if running_as_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/oxcast", self.port)
    }

    /// Starts the server and waits until it takes connections.
    pub fn up(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let status = self
            .as_owner("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start");
    }

    /// Stops the server the way an operator's restart does (fast: connections are cut).
    pub fn down(&self) {
        let status =
            self.as_owner("pg_ctl").args(["-D"]).arg(self.data()).args(["-m", "fast", "-w", "stop"]).status().unwrap();
        assert!(status.success(), "pg_ctl stop");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.as_owner("pg_ctl").args(["-D"]).arg(self.data()).args(["-m", "immediate", "stop"]).output();
    }
}

/// A child process that is killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(what: &str, port: u16) {
    wait_for(what, Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

/// A Redis server with an append-only file synced on every write, as a production Redis that
/// keeps chat history across restarts is configured.
pub struct Redis {
    dir: tempfile::TempDir,
    pub port: u16,
    process: Option<Daemon>,
}

impl Redis {
    pub fn start() -> Redis {
        let mut redis = Redis { dir: tempfile::tempdir().unwrap(), port: free_port(), process: None };
        redis.up();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.process = Some(Daemon(child));
        wait_for_port("redis", self.port);
    }

    pub fn down(&mut self) {
        self.process = None;
    }
}

/// The s3s-fs server `scripts/services.sh` builds, over a directory of its own.
pub struct S3 {
    dir: tempfile::TempDir,
    pub port: u16,
    process: Option<Daemon>,
}

pub const BUCKET: &str = "faults";

impl S3 {
    pub fn start() -> S3 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
        let mut s3 = S3 { dir, port: free_port(), process: None };
        s3.up();
        s3
    }

    fn binary() -> PathBuf {
        let tools = std::env::var("OXCAST_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|_| {
            Path::new(&std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/oxcast-tools")
        });
        tools.join("bin/s3s-fs")
    }

    pub fn up(&mut self) {
        let child = Command::new(Self::binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", "fault-key", "--secret-key", "fault-secret"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs (scripts/services.sh builds it into ~/.cache/oxcast-tools)");
        self.process = Some(Daemon(child));
        wait_for_port("s3s-fs", self.port);
    }

    pub fn down(&mut self) {
        self.process = None;
    }

    /// The server's environment for storage in this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("OXCAST_STORAGE_BACKEND", "s3".to_owned()),
            ("OXCAST_S3_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("OXCAST_S3_BUCKET", BUCKET.to_owned()),
            ("OXCAST_S3_ACCESS_KEY_ID", "fault-key".to_owned()),
            ("OXCAST_S3_SECRET_ACCESS_KEY", "fault-secret".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}
