//! The webhook receiver of the tests (`tests/clients/webhook_receiver.py`, which verifies every
//! request with the Standard Webhooks reference library) in its own process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::client;

/// A receiver process and the JSON lines it printed (one per request).
pub struct Receiver {
    child: Child,
    pub port: u16,
    pub lines: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Receiver {
    pub fn start(args: &[&str]) -> Receiver {
        let mut child = Command::new(super::uploads::python())
            .arg("tests/clients/webhook_receiver.py")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python webhook receiver (scripts/setup.sh --test installs standardwebhooks)");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = out.next().unwrap().unwrap();
        let port = first.strip_prefix("listening ").unwrap().parse().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Receiver { child, port, lines, seen: Vec::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set_secret(&self, secret: &str) {
        let r = client().post(self.url("/secret")).body(secret.to_owned()).send().unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }

    /// Every request so far (waiting up to `wait` for more while `until` is false).
    pub fn collect_until(&mut self, wait: Duration, mut until: impl FnMut(&[Value]) -> bool) -> &[Value] {
        let deadline = std::time::Instant::now() + wait;
        while !until(&self.seen) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "receiver: timed out; got {:#?}", self.seen);
            if let Ok(v) = self.lines.recv_timeout(left.min(Duration::from_millis(300))) {
                self.seen.push(v);
            }
        }
        &self.seen
    }

    /// Whether an event of `kind` was accepted (verified and answered 200).
    pub fn delivered(seen: &[Value], kind: &str) -> bool {
        seen.iter().any(|l| l["ok"] == true && l["status"] == 200 && l["type"] == kind)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
