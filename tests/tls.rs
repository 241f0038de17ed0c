//! The HTTPS listener on the real server, with certificates made at test time: HTTP/2 by ALPN
//! and HTTP/1.1 beside it, URLs in responses that say `https`, a renewed certificate picked up
//! without a restart (and a broken renewal that keeps the previous one), clients that fail or
//! stall the handshake closed without harm; and Chromium playing a live stream over HTTP/2 and
//! TLS on one connection.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as `cert.pem` and `key.pem`
/// into `dir`; returns the certificate's PEM (what a client trusts).
fn make_certificate(dir: &Path) -> String {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    // Written beside and renamed into place, as ACME clients do, so the server never reads half.
    for (name, text) in [("key.pem", made.signing_key.serialize_pem()), ("cert.pem", made.cert.pem())] {
        let temporary = dir.join(format!("{name}.new"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, dir.join(name)).unwrap();
    }
    made.cert.pem()
}

fn start_with_tls(dir: &Path, extra: &[(&str, &str)]) -> Server {
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let mut env = vec![
        ("OXCAST_HTTPS", "127.0.0.1:0"),
        ("OXCAST_TLS_CERT_FILE", cert.as_str()),
        ("OXCAST_TLS_KEY_FILE", key.as_str()),
        ("OXCAST_TLS_RELOAD_CHECK_SECONDS", "1"),
    ];
    env.extend_from_slice(extra);
    Server::start_with(&env)
}

/// A client that trusts only `cert_pem` (no system roots).
fn trusting(cert_pem: &str, http1_only: bool) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10));
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

fn https_url(server: &Server, path: &str) -> String {
    let port = server.https.as_deref().expect("the banner names the HTTPS listener").rsplit(':').next().unwrap();
    format!("https://localhost:{port}{path}")
}

fn metric(server: &Server, line_start: &str) -> u64 {
    let (_, text) = get_text(&server.url("/metrics"));
    text.lines()
        .find_map(|l| l.strip_prefix(line_start).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

#[test]
fn https_speaks_http2_and_http1_reloads_renewed_certificates_and_shrugs_off_bad_handshakes() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_certificate(dir.path());
    let server = start_with_tls(dir.path(), &[("OXCAST_HTTP_HEADER_TIMEOUT_SECONDS", "2")]);

    // HTTP/2 by ALPN, and HTTP/1.1 for clients that offer only that.
    let h2 = trusting(&first, false).get(https_url(&server, "/healthz")).send().unwrap();
    assert_eq!((h2.status().as_u16(), h2.version()), (200, reqwest::Version::HTTP_2));
    let h1 = trusting(&first, true).get(https_url(&server, "/healthz")).send().unwrap();
    assert_eq!((h1.status().as_u16(), h1.version()), (200, reqwest::Version::HTTP_11));
    // URLs the API writes for a client on HTTPS say https, with the HTTPS port.
    let created: Value = trusting(&first, false)
        .post(https_url(&server, "/api/streams"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "over-tls"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let player = created["player_url"].as_str().unwrap();
    assert!(player.starts_with(&https_url(&server, "/watch/")), "{created}");
    // The plain listener is unchanged.
    let plain = client().get(server.url("/healthz")).send().unwrap();
    assert_eq!((plain.status().as_u16(), plain.version()), (200, reqwest::Version::HTTP_11));

    // A client speaking plain HTTP to the TLS port, and one that connects and says nothing:
    // both closed (the silent one within the header timeout), the listener unharmed.
    let addr = server.https.clone().unwrap();
    let mut plaintext = TcpStream::connect(&addr).unwrap();
    plaintext.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut silent = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    for socket in [&mut plaintext, &mut silent] {
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        let mut total = Vec::new();
        while let Ok(n) = socket.read(&mut buf) {
            if n == 0 {
                break;
            }
            total.extend_from_slice(&buf[..n]);
        }
        assert!(!String::from_utf8_lossy(&total).contains("ok"), "no HTTP answer without TLS");
    }
    assert!(started.elapsed() < Duration::from_secs(8), "the silent client was closed after the header timeout");
    assert!(metric(&server, "oxcast_http_connections_refused_total{listener=\"https\",reason=\"tls_handshake\"}") >= 2);
    assert_eq!(trusting(&first, false).get(https_url(&server, "/healthz")).send().unwrap().status(), 200);

    // A renewal: new files in place, picked up without a restart; the old certificate is gone.
    let second = make_certificate(dir.path());
    wait_for("the renewed certificate", Duration::from_secs(20), || {
        trusting(&second, false).get(https_url(&server, "/healthz")).send().is_ok()
    });
    assert!(trusting(&first, false).get(https_url(&server, "/healthz")).send().is_err(), "the old one is retired");
    assert!(server.wait_for_log("TLS certificate reloaded", Duration::from_secs(5)));

    // A broken renewal (a key that is not the certificate's): logged, and the second stays.
    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(dir.path().join("key.pem.new"), other_key).unwrap();
    std::fs::rename(dir.path().join("key.pem.new"), dir.path().join("key.pem")).unwrap();
    assert!(server.wait_for_log("cannot be used; still serving the previous certificate", Duration::from_secs(20)));
    assert_eq!(trusting(&second, false).get(https_url(&server, "/healthz")).send().unwrap().status(), 200);
}

#[test]
fn chromium_plays_live_over_http2_and_tls_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    make_certificate(dir.path());
    let server = start_with_tls(
        dir.path(),
        &[("OXCAST_DEFAULT_PROFILE", "passthrough"), ("RUST_LOG", "info,oxcast::http_server=debug")],
    );
    let _publisher =
        ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 60, &["-tune", "zerolatency", "-g", "60"]);
    get_when_ready(&server.url("/live/main/index.m3u8"), Duration::from_secs(30));
    let established = || {
        metric(&server, "oxcast_http_connections_accepted_total{listener=\"https\"}")
            - metric(&server, "oxcast_http_connections_refused_total{listener=\"https\",reason=\"tls_handshake\"}")
    };
    let before = established();

    let out = Command::new("node")
        .args(["tests/browser/play.mjs", "--url", &https_url(&server, "/watch/main"), "--seconds", "8"])
        .arg("--ignore-https-errors")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/play.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(report["startupMs"].is_number() && report["advanced"].as_f64().unwrap() >= 2.0, "{report}");

    // Every request of the page (the page itself, hls.js, the blocking playlist reloads, the
    // parts) went over HTTP/2 ...
    let protocols = report["protocols"].as_object().unwrap();
    assert_eq!(protocols.keys().collect::<Vec<_>>(), ["h2"], "{report}");
    assert!(protocols["h2"].as_u64().unwrap() > 10, "{report}");
    let http2 = metric(&server, "oxcast_http_requests_total{listener=\"https\",version=\"2\"}");
    assert!(http2 > 10);
    assert_eq!(metric(&server, "oxcast_http_requests_total{listener=\"https\",version=\"1.1\"}"), 0);
    // ... multiplexed on one connection, the chat's websocket included (RFC 8441). (Chromium
    // may open and abandon a handshake or two before it takes the test's certificate: only
    // connections that completed one count.)
    let connections = established() - before;
    assert_eq!(connections, 1, "connections for one viewer\n{}", server.log());
}
