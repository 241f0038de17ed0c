//! The listeners against abusive clients, on the real server: connections that dribble request
//! headers, and idle keep-alive connections, are closed after the header timeout; one address
//! cannot take more than its share of HTTP or RTMP connections, and the refusals do not flood
//! the log; HTTP/2 with prior knowledge (h2c, what proxies speak) is served beside HTTP/1.1.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").trim_start_matches("rtmp://").split('/').next().unwrap().to_owned()
}

/// Whether the server closed `socket` within `within` (a read sees the end, or an error).
fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    socket.set_read_timeout(Some(within.clamp(Duration::from_millis(1), Duration::from_millis(200)))).unwrap();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

fn get_over(socket: &mut TcpStream) -> String {
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    let n = socket.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let server = Server::start_with(&[("OXCAST_HTTP_HEADER_TIMEOUT_SECONDS", "2")]);
    let addr = host_port(&server.http);
    // Thirty clients that send a header line and then one byte every half second, forever.
    let mut dribblers: Vec<TcpStream> = (0..30).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    for s in &mut dribblers {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ").unwrap();
    }
    let started = Instant::now();
    let mut open = dribblers.len();
    while open > 0 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        open = 0;
        for s in &mut dribblers {
            if s.write_all(b"a").is_ok() && !closed_within(s, Duration::from_millis(1)) {
                open += 1;
            }
        }
    }
    assert_eq!(open, 0, "dribbling clients still open after {:?}", started.elapsed());

    // A keep-alive connection that goes quiet after a request is closed too.
    let mut idle = TcpStream::connect(&addr).unwrap();
    assert!(get_over(&mut idle).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(15)), "an idle keep-alive connection stayed open");
    // Everyone else is served as usual.
    let mut fresh = TcpStream::connect(&addr).unwrap();
    assert!(get_over(&mut fresh).starts_with("HTTP/1.1 200"));
}

#[test]
fn one_address_cannot_take_every_connection_and_refusals_do_not_flood_the_log() {
    let server = Server::start_with(&[
        ("OXCAST_HTTP_CONNECTIONS_PER_ADDRESS", "4"),
        ("OXCAST_RTMP_CONNECTIONS_PER_ADDRESS", "2"),
    ]);
    let http = host_port(&server.http);
    let mut held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&http).unwrap()).collect();
    for s in &mut held {
        assert!(get_over(s).starts_with("HTTP/1.1 200"), "the first four are served");
    }
    let mut fifth = TcpStream::connect(&http).unwrap();
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
    assert!(closed_within(&mut fifth, Duration::from_secs(5)), "a fifth connection from one address is refused");
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = TcpStream::connect(&http).unwrap();
    assert!(get_over(&mut again).starts_with("HTTP/1.1 200"), "a closed connection frees its slot");

    let rtmp = host_port(&server.rtmp);
    let _first: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&rtmp).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..30 {
        let mut extra = TcpStream::connect(&rtmp).unwrap();
        assert!(
            closed_within(&mut extra, Duration::from_secs(5)),
            "a third RTMP connection from one address is refused"
        );
    }
    let log = server.log();
    let lines =
        log.lines().filter(|l| l.contains("rtmp connection refused: too many connections from this address")).count();
    assert!((1..=2).contains(&lines), "30 refusals, {lines} log lines:\n{log}");
}

#[test]
fn http2_with_prior_knowledge_is_served_beside_http1() {
    let server = Server::start();
    let out = Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .arg(server.url("/api/streams/main"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
    let out = Command::new("curl")
        .args(["-s", "--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .arg(server.url("/api/streams/main"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.1 200");
}
