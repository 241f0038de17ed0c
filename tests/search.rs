//! Search on the real server: uploaded videos found once ready (typos, prefixes, highlighted
//! snippets), private ones only by their owner, streams beside them, suggestions as you type,
//! parameters checked; the index following changes the CLI writes to the database, catching up
//! after a restart, and `oxcast index rebuild` (refused while a server holds the index).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn search(server: &Server, query: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(server.url(&format!("/api/search?{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn video_titles(result: &Value) -> Vec<String> {
    result["videos"]["items"].as_array().unwrap().iter().map(|v| v["title"].as_str().unwrap().to_owned()).collect()
}

fn stream_names(result: &Value) -> Vec<String> {
    result["streams"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
}

fn oxcast(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oxcast")).args(args).arg("--data-dir").arg(data_dir).output().unwrap()
}

#[test]
fn search_finds_what_is_ready_hides_what_is_private_and_follows_the_catalog_across_restarts() {
    let server = Server::start();
    let clip = test_clip(2, "160x120", false);
    let public = common::uploads::upload_once(
        &server,
        &clip,
        &[("title", "Rust programming tutorial"), ("description", "Learn <b>Rust</b> by doing"), ("privacy", "public")],
    );
    let private =
        common::uploads::upload_once(&server, &clip, &[("title", "Rust secret plans"), ("privacy", "private")]);
    common::uploads::wait_ready(&server, &public);
    common::uploads::wait_ready(&server, &private);

    // Anyone finds the public video, with a typo and a word half typed; snippets are escaped.
    wait_for("the index to have the ready video", Duration::from_secs(10), || {
        video_titles(&search(&server, "q=tutorail", None).1) == ["Rust programming tutorial"]
    });
    let (status, found) = search(&server, "q=rust+progr", None);
    assert_eq!(status, 200);
    let hit = &found["videos"]["items"][0];
    assert_eq!(hit["id"], public);
    assert_eq!(hit["title_html"], "<mark>Rust</mark> <mark>programming</mark> tutorial");
    assert_eq!(hit["description_html"], "Learn &lt;b&gt;<mark>Rust</mark>&lt;/b&gt; by doing");
    assert_eq!(hit["page_url"], format!("/v/{public}"));
    assert!(hit["poster_url"].as_str().unwrap().ends_with("poster.jpg"), "{hit}");
    assert!(hit["duration_seconds"].as_f64().unwrap() > 1.5);

    // The private video: nobody else finds it, in results or suggestions; its owner does.
    assert_eq!(video_titles(&search(&server, "q=rust", None).1), ["Rust programming tutorial"]);
    let (_, suggestions) = get_json(&server, "/api/search/suggest?q=secr", None);
    assert_eq!(suggestions["items"], serde_json::json!([]));
    let (_, mine) = search(&server, "q=rust", Some(ADMIN_TOKEN));
    let mut titles = video_titles(&mine);
    titles.sort();
    assert_eq!(titles, ["Rust programming tutorial", "Rust secret plans"]);
    let (_, suggestions) = get_json(&server, "/api/search/suggest?q=secr", Some(ADMIN_TOKEN));
    assert_eq!(suggestions["items"][0]["text"], "Rust secret plans");
    assert_eq!(suggestions["items"][0]["url"], format!("/v/{private}"));

    // Making it public shows it to everyone.
    let patched = client()
        .patch(server.url(&format!("/api/videos/{private}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"privacy": "public", "title": "Rust open plans"}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    wait_for("the change to reach the index", Duration::from_secs(10), || {
        video_titles(&search(&server, "q=plans", None).1) == ["Rust open plans"]
    });

    // Streams: their titles, beside the videos; a stream the CLI creates (a second writer to the
    // database) is found too, because the index follows the database's change log.
    let renamed = client()
        .patch(server.url("/api/streams/main"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"title": "Rust live coding"}))
        .send()
        .unwrap();
    assert_eq!(renamed.status(), 200);
    server.cli_create_stream("rustacean-radio");
    wait_for("both streams", Duration::from_secs(10), || {
        let mut names = stream_names(&search(&server, "q=rust", None).1);
        names.sort();
        names == ["main", "rustacean-radio"]
    });
    assert!(stream_names(&search(&server, "q=rust&type=video", None).1).is_empty());
    assert!(video_titles(&search(&server, "q=rust&type=live", None).1).is_empty());

    // Bad parameters: a problem each, never a 500.
    for (query, says) in [
        ("sort=sideways", "sort must be"),
        ("type=podcasts", "type must be"),
        ("limit=0", "limit must be"),
        ("cursor=garbage", "cursor"),
        ("min_duration=-4", "durations"),
        ("published_after=yesterday", "not a date"),
        ("nonsense=1", "unknown field"),
        ("limit=50&cursor=o990", "deep"),
    ] {
        let (status, problem) = search(&server, query, None);
        assert_eq!(status, 400, "{query}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(says), "{query}: {problem}");
    }

    // One writer per index: the CLI cannot rebuild under a running server, and says why.
    let out = oxcast(&["index", "rebuild"], server.data_dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another oxcast process"), "{out:?}");

    // While the server is down: a stream is created and the index rebuilt; after the restart
    // the index has both, then follows on from where the rebuild left it.
    let server = server.kill_and_restart_after(&[], |dir| {
        let created = oxcast(&["stream", "create", "rust-while-down"], dir);
        assert!(created.status.success(), "{created:?}");
        let rebuilt = oxcast(&["index", "rebuild"], dir);
        assert!(rebuilt.status.success(), "{rebuilt:?}");
        assert!(String::from_utf8_lossy(&rebuilt.stdout).contains("rebuilt: 5 videos and streams"), "{rebuilt:?}");
    });
    let (_, after) = search(&server, "q=rust+while", None);
    assert_eq!(stream_names(&after), ["rust-while-down"]);
    let server = server.kill_and_restart_after(&[], |dir| {
        assert!(oxcast(&["stream", "create", "rust-after-rebuild"], dir).status.success());
    });
    wait_for("the restarted node to catch up", Duration::from_secs(10), || {
        stream_names(&search(&server, "q=after+rebuild", None).1) == ["rust-after-rebuild"]
    });
    assert_eq!(video_titles(&search(&server, "q=tutorial", None).1), ["Rust programming tutorial"]);

    // The page: typing with a typo finds the video, marked; suggestions; a filter; the URL;
    // the keyboard to the video page.
    let shot = std::env::temp_dir().join(format!("oxcast-search-{}.png", std::process::id()));
    let out = Command::new("node")
        .args(["tests/browser/search_page.mjs", "--url", &server.http, "--type", "rust tutorail"])
        .args(["--expect", "Rust programming tutorial", "--shot", shot.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/search_page.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!((report["error"].clone(), report["done"].clone()), (Value::Null, Value::Bool(true)), "{report}");
    assert_eq!(report["pageErrors"], serde_json::json!([]), "{report}");
    assert_eq!(report["unlabelled"], serde_json::json!([]), "{report}");
    assert_eq!(report["navigationsWhileTyping"], 0, "results follow the typing without a reload: {report}");
    assert_eq!(
        report["marked"],
        serde_json::json!(["<mark>Rust</mark> programming <mark>tutorial</mark>"]),
        "{report}"
    );
    assert!(report["suggestions"].as_array().unwrap().iter().any(|s| s == "Rust programming tutorial"), "{report}");
    assert!(report["restored"]["url"].as_str().unwrap().contains("q=rust+tutorail"), "{report}");
    assert_eq!(report["restored"]["q"], "rust tutorail");
    assert!(
        report["opened"].as_str().unwrap().starts_with("/v/")
            || report["opened"].as_str().unwrap().starts_with("/watch/")
    );
    eprintln!("search page screenshot: {}", shot.display());
}

fn get_json(server: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.json().unwrap())
}
