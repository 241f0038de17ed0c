//! The OpenAPI document against the running server, with schemathesis (PyPI, installed by
//! `scripts/setup.sh --test`): it generates requests for every operation from the document
//! (valid ones, edge cases, stateful sequences following the responses) and checks that no
//! response is a 5xx, that every status code, content type and body matches what the document
//! says, and the rest of its standard checks.
//!
//! tus answers a missing or unknown `Tus-Resumable` with 412 (its spec says so), so 412 joins
//! the statuses that count as a refusal (`schemathesis.toml`, written beside the run).
//!
//! Left out: `positive_data_acceptance`, which expects every schema-valid request to succeed.
//! Some of the server's rules cannot be written as JSON Schema (a cursor must be one the server
//! handed out; profile names come from the configuration; a display name may not contain
//! characters that spoof another), so those requests rightly get a 400 problem.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let server = Server::start_with(&[("OXCAST_API_REQUESTS_PER_MINUTE", "1000000")]);
    let venv = std::env::var("OXCAST_PY_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/oxcast-py", std::env::var("HOME").unwrap()));
    // Its example cache goes to a scratch directory, not the checkout; so does its config.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(
        scratch.path().join("schemathesis.toml"),
        "[checks.negative_data_rejection]\n\
         expected-statuses = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, 460]\n\
         [checks.missing_required_header]\n\
         expected-statuses = [400, 401, 403, 404, 406, 412, 428, 429]\n",
    )
    .unwrap();
    let out = Command::new(format!("{venv}/bin/schemathesis"))
        .current_dir(scratch.path())
        .args(["run", &server.url("/api/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", "25", "--generation-deterministic", "--no-color"])
        // tests/clients/schemathesis_hooks.py teaches it tus's raw byte bodies.
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
        .output()
        .expect("run schemathesis (scripts/setup.sh --test installs it)");
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    assert!(report.contains("Tested: 1") || report.contains("Tested:"), "{report}");
    assert!(!server.log().contains("request failed"), "an internal error was logged:\n{}", server.log());
}
