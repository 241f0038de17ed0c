//! Signed playback end to end, on the real server: a signed live stream and a signed video play
//! in headless Chromium (hls.js) with a playback JWT that the test signs itself, as a creator's
//! backend would, with a key made through the API; without a token, or with an expired one,
//! one for another subject, for another audience, not valid yet, forged, or signed with a
//! revoked or rotated-out key, every kind of media URL answers 403 and no media byte. The media
//! tokens the server writes into playlists are shared by viewers whose tokens end in the same
//! window (one CDN cache entry), and responses are never cacheable past them.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ADMIN: &str = ADMIN_TOKEN;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = client().request(method, server.url(path)).bearer_auth(ADMIN).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// A signing key made through the API: (kid, private PEM, algorithm).
fn signing_key(server: &Server, algorithm: &str) -> (String, String, Algorithm) {
    let (status, key) =
        api(server, reqwest::Method::POST, "/api/signing-keys", json!({"algorithm": algorithm, "name": "backend"}));
    assert_eq!(status, 201, "{key}");
    assert!(key["public_key"].as_str().unwrap().contains("BEGIN PUBLIC KEY"), "{key}");
    let alg = if algorithm == "RS256" { Algorithm::RS256 } else { Algorithm::EdDSA };
    (key["id"].as_str().unwrap().to_owned(), key["private_key"].as_str().unwrap().to_owned(), alg)
}

/// A JWT signed with `key` (what a creator's backend does with the private key).
fn sign(key: &(String, String, Algorithm), claims: &Value) -> String {
    let encoding = match key.2 {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(key.1.as_bytes()),
        _ => EncodingKey::from_ed_pem(key.1.as_bytes()),
    }
    .unwrap();
    let mut header = Header::new(key.2);
    header.kid = Some(key.0.clone());
    jsonwebtoken::encode(&header, claims, &encoding).unwrap()
}

fn token(key: &(String, String, Algorithm), sub: &str, aud: &str, exp: u64) -> String {
    sign(key, &json!({"sub": sub, "aud": aud, "exp": exp}))
}

/// An anonymous GET (no credentials: the owner would need no token).
fn fetch(url: &str) -> (u16, String, Vec<u8>) {
    let r = client().get(url).send().unwrap();
    let status = r.status().as_u16();
    let cache = r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, cache, r.bytes().unwrap().to_vec())
}

/// `url` with `query` added.
fn with(url: &str, query: &str) -> String {
    format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' })
}

/// Every URL a response refuses must be a 403 with a reason and none of the media.
fn assert_refused(url: &str, reason: &str) {
    let (status, cache, body) = fetch(url);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "{url}: {text}");
    assert!(text.contains(reason), "{url}: expected {reason:?}, got {text:?}");
    assert!(!text.contains("#EXTM3U") && body.len() < 200, "{url} leaked media: {text}");
    assert_eq!(cache, "no-store", "{url}");
}

/// The URI lines and URI="..." attributes of a playlist.
fn uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            let mut rest = line;
            while let Some(at) = rest.find("URI=\"") {
                let after = &rest[at + 5..];
                let end = after.find('"').unwrap();
                out.push(after[..end].to_owned());
                rest = &after[end..];
            }
        } else if !line.is_empty() {
            out.push(line.to_owned());
        }
    }
    out
}

/// Resolves `uri` against the playlist URL `base`.
fn resolve(base: &str, uri: &str) -> String {
    let dir = &base[..base.split('?').next().unwrap().rfind('/').unwrap() + 1];
    let mut url = format!("{dir}{uri}");
    while let Some(at) = url.find("/../") {
        let head = &url[..at];
        let cut = head.rfind('/').unwrap();
        url = format!("{}{}", &url[..cut], &url[at + 3..]);
    }
    url
}

/// `max-age=N` of a Cache-Control value.
fn max_age(cache: &str) -> u64 {
    cache
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache:?}"))
}

/// Plays `url` in headless Chromium for `seconds` (after clicking `click`, if given); returns
/// play.mjs's report.
fn play(url: &str, seconds: u32, click: Option<&str>) -> Value {
    let seconds = seconds.to_string();
    let mut args = vec!["--url", url, "--seconds", &seconds];
    if let Some(selector) = click {
        args.extend(["--click", selector]);
    }
    play_report(&args)
}

/// Whether a player started and moved on by at least a second: it opened the playlists, the init
/// segment and media, whatever the machine's load did to smoothness.
fn plays(report: &Value) -> bool {
    report["startupMs"].is_number() && report["advanced"].as_f64().is_some_and(|s| s >= 1.0)
}

/// Media URLs of every kind a live playlist names: (kind, URL without any token).
fn live_media(server: &Server, token: &str) -> Vec<(&'static str, String)> {
    let master_url = server.url("/live/main/index.m3u8");
    let master = get_when_ready(&with(&master_url, &format!("token={token}")), Duration::from_secs(20)).text().unwrap();
    let variants = uris(&master);
    assert!(!variants.is_empty() && variants.iter().all(|u| u.contains("?mt=")), "{master}");
    let media_url = resolve(&master_url, &variants[0]);
    // Wait until the window holds a whole segment (the first one closes after a GOP).
    let mut media = String::new();
    wait_for("a complete segment", Duration::from_secs(20), || {
        media = String::from_utf8_lossy(&fetch(&media_url).2).into_owned();
        media.contains("seg-")
    });
    let named = uris(&media);
    assert!(named.iter().all(|u| u.contains("mt=")), "every URI carries the media token:\n{media}");
    let pick = |prefix: &str| {
        let uri = named.iter().find(|u| u.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in {media}"));
        resolve(&media_url, uri.split('?').next().unwrap())
    };
    vec![
        ("multivariant", master_url.clone()),
        ("media playlist", media_url.split('?').next().unwrap().to_owned()),
        ("init segment", pick("init-")),
        ("segment", pick("seg-")),
        ("part", pick("part-")),
    ]
}

#[test]
fn a_signed_live_stream_plays_with_a_token_and_refuses_every_other_request() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let (status, stream) =
        api(&server, reqwest::Method::PATCH, "/api/streams/main", json!({"playback_policy": "signed"}));
    assert_eq!((status, stream["playback_policy"].as_str()), (200, Some("signed")), "{stream}");
    let key = signing_key(&server, "RS256");
    let _publisher =
        ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 90, &["-tune", "zerolatency", "-g", "60"]);
    let good = token(&key, "main", "playback", now() + 600);
    // Wait until the stream is live and its window holds a whole segment.
    live_media(&server, &good);

    // A valid token plays in the player page and in a plain hls.js embed. What is checked is
    // access: the player got every kind of media and played some of it. (Smoothness is not:
    // with two tests encoding on two cores, the live edge can stall for seconds; latency and
    // stalls are measured in bench/, not asserted here.)
    for page in ["/watch/main", "/embed/live/main"] {
        let report = play(&server.url(&format!("{page}?token={good}")), 6, None);
        assert!(plays(&report), "{page}: {report}");
    }
    // Each kind of URL opens with the token on it. The URLs are read now, not before the pages
    // played: by then the segment read first may have slid out of the window.
    let media = live_media(&server, &good);
    for (kind, url) in &media {
        let (status, _, body) = fetch(&with(url, &format!("token={good}")));
        assert_eq!(status, 200, "{kind} {url} with a valid token");
        assert!(!body.is_empty(), "{kind}");
    }

    // Signed by another key under this key's kid: with the same algorithm, then with another.
    let forged_key = (key.0.clone(), signing_key(&server, "RS256").1, Algorithm::RS256);
    let wrong_alg_key = (key.0.clone(), signing_key(&server, "EdDSA").1, Algorithm::EdDSA);
    let refused = [
        (String::new(), "needs a signed playback token"),
        (token(&key, "main", "playback", now() - 60), "expired"),
        (token(&key, "other-stream", "playback", now() + 600), "another stream or video"),
        (token(&key, "main", "thumbnail", now() + 600), "another use"),
        (
            sign(&key, &json!({"sub": "main", "aud": "playback", "exp": now() + 600, "nbf": now() + 300})),
            "not valid yet",
        ),
        (sign(&forged_key, &json!({"sub": "main", "aud": "playback", "exp": now() + 600})), "signature is not valid"),
        (sign(&wrong_alg_key, &json!({"sub": "main", "aud": "playback", "exp": now() + 600})), "algorithm"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.x".to_owned(), "unknown key"),
        ("not-a-jwt".to_owned(), "malformed"),
    ];
    for (bad, reason) in &refused {
        for (kind, url) in &media {
            let url = if bad.is_empty() { url.clone() } else { with(url, &format!("token={bad}")) };
            assert_refused(&url, reason);
            let _ = kind;
        }
    }
    // A media token for another stream, or with its signature changed, opens nothing.
    let mt_url = server.url("/live/main/index.m3u8");
    let (_, _, master) = fetch(&with(&mt_url, &format!("token={good}")));
    let master = String::from_utf8_lossy(&master).into_owned();
    let mt = master.split("mt=").nth(1).unwrap().split(['"', '\n', '&']).next().unwrap().to_owned();
    let (exp, sig) = mt.split_once('.').unwrap();
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{exp}.{flipped}{}", &sig[1..]);
    assert_refused(&with(&media[1].1, &format!("mt={tampered}")), "signature");
    assert_eq!(fetch(&with(&media[1].1, &format!("mt={mt}"))).0, 200);

    // The owner needs no token; the API mints one for a token holder.
    let owner = client().get(&media[0].1).bearer_auth(ADMIN).send().unwrap();
    assert_eq!(owner.status().as_u16(), 200);
    let (status, minted) =
        api(&server, reqwest::Method::POST, "/api/streams/main/playback-tokens", json!({"ttl_seconds": 120}));
    assert_eq!(status, 201, "{minted}");
    assert_eq!(fetch(&server.url(minted["url"].as_str().unwrap())).0, 200, "{minted}");

    // Revoking the key refuses its tokens at once.
    let (status, _) = api(&server, reqwest::Method::DELETE, &format!("/api/signing-keys/{}", key.0), json!({}));
    assert_eq!(status, 204);
    for (_, url) in &media {
        assert_refused(&with(url, &format!("token={good}")), "revoked");
    }
    // Public again: no token needed.
    api(&server, reqwest::Method::PATCH, "/api/streams/main", json!({"playback_policy": "public"}));
    assert_eq!(fetch(&media[0].1).0, 200);
}

/// Uploads a small video with tus, signed from the start; returns its id once ready.
fn signed_video(server: &Server) -> String {
    let bytes = test_clip(8, "640x360", true);
    let metadata = [("filename", "in.mp4"), ("privacy", "unlisted"), ("playback_policy", "signed")];
    let id = common::uploads::upload_once(server, &bytes, &metadata);
    wait_for("the signed video to be ready", Duration::from_secs(120), || {
        let v = api(server, reqwest::Method::GET, &format!("/api/videos/{id}"), Value::Null).1;
        assert_ne!(v["status"], "failed", "{v}");
        v["status"] == "ready"
    });
    id
}

#[test]
fn a_signed_video_plays_with_a_token_its_media_urls_are_shared_and_refusals_leak_nothing() {
    let server = Server::start();
    let id = signed_video(&server);
    let (_, view) = api(&server, reqwest::Method::GET, &format!("/api/videos/{id}"), Value::Null);
    assert_eq!(view["playback_policy"], "signed", "{view}");
    let key = signing_key(&server, "EdDSA");

    // Two viewers whose tokens end in the same media-token window get byte-identical playlists.
    let window = 3600;
    let end = (now() + 300).div_ceil(window) * window;
    let (a, b) = (token(&key, &id, "playback", end - 10), token(&key, &id, "playback", end - 100));
    let master_url = server.url(&format!("/vod/{id}/index.m3u8"));
    let (status, cache, master_a) = fetch(&with(&master_url, &format!("token={a}")));
    assert_eq!(status, 200);
    assert!(max_age(&cache) <= end - now() + 1, "cached past the media token: {cache}");
    let (_, _, master_b) = fetch(&with(&master_url, &format!("token={b}")));
    assert_eq!(master_a, master_b, "viewers in one window share media URLs");
    let master = String::from_utf8(master_a).unwrap();
    let variant = resolve(&master_url, &uris(&master)[0]);
    let (status, _, media) = fetch(&variant);
    assert_eq!(status, 200, "the variant's own URI opens it");
    let media = String::from_utf8(media).unwrap();
    let named = uris(&media);
    assert!(named.len() >= 3 && named.iter().all(|u| u.contains("?mt=")), "{media}");
    for uri in &named {
        let (status, cache, body) = fetch(&resolve(&variant, uri));
        assert_eq!(status, 200, "{uri}");
        assert!(!body.is_empty() && cache.starts_with("public"), "{uri}: {cache}");
        assert!(max_age(&cache) <= end - now() + 1, "{uri}: {cache}");
    }
    let bare = |path: &str| server.url(&format!("/vod/{id}/{path}"));
    let media_urls = [
        ("playback", bare("index.m3u8")),
        ("playback", variant.split('?').next().unwrap().to_owned()),
        ("playback", resolve(&variant, named[0].split('?').next().unwrap())),
        ("playback", resolve(&variant, named[1].split('?').next().unwrap())),
        ("thumbnail", bare("poster.jpg")),
        ("storyboard", bare("storyboard.jpg")),
        ("storyboard", bare("storyboard.vtt")),
    ];
    // The storyboard track's cues carry their token too.
    let sb = token(&key, &id, "storyboard", now() + 600);
    let (status, _, track) = fetch(&with(&bare("storyboard.vtt"), &format!("token={sb}")));
    assert_eq!(status, 200);
    let track = String::from_utf8(track).unwrap();
    let cue = track.lines().find(|l| l.starts_with("storyboard.jpg")).unwrap();
    assert!(cue.starts_with("storyboard.jpg?mt="), "{cue}");
    let sprite = server.url(&format!("/vod/{id}/{}", cue.split('#').next().unwrap()));
    assert_eq!(fetch(&sprite).0, 200);

    // Each audience's own token opens its URLs; every wrong one is refused on every kind.
    for (aud, url) in &media_urls {
        let (status, _, _) = fetch(&with(url, &format!("token={}", token(&key, &id, aud, now() + 600))));
        assert_eq!(status, 200, "{url} with an {aud} token");
        assert_refused(url, "needs a signed playback token");
        assert_refused(&with(url, &format!("token={}", token(&key, &id, aud, now() - 30))), "expired");
        assert_refused(&with(url, &format!("token={}", token(&key, "v_someoneelse", aud, now() + 600))), "another");
        let wrong_aud = if *aud == "playback" { "thumbnail" } else { "playback" };
        assert_refused(&with(url, &format!("token={}", token(&key, &id, wrong_aud, now() + 600))), "another use");
        assert_refused(&with(url, "mt=99999999999.AAAAAAAAAAAAAAAAAAAAAA"), "signature");
    }
    // The pages: refused without a token (a page saying why), playing with one.
    let (status, _, page) = fetch(&server.url(&format!("/v/{id}")));
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&page).contains("needs a signed playback token"));
    let report = play(&server.url(&format!("/v/{id}?token={a}")), 5, Some("#play"));
    assert!(plays(&report), "{report}");

    // The owner's listing carries a poster URL with a thumbnail token of its own.
    let (_, list) = api(&server, reqwest::Method::GET, "/api/videos", Value::Null);
    let poster = list["items"][0]["poster_url"].as_str().unwrap();
    assert!(poster.contains("?mt="), "{poster}");
    let (status, _, jpeg) = fetch(&server.url(poster));
    assert_eq!((status, &jpeg[..2]), (200, &[0xFF, 0xD8][..]), "the listed poster opens");
    // The convenience endpoint mints a token with the server's key.
    let (status, minted) = api(
        &server,
        reqwest::Method::POST,
        &format!("/api/videos/{id}/playback-tokens"),
        json!({"audience": "thumbnail", "ttl_seconds": 60}),
    );
    assert_eq!(status, 201, "{minted}");
    assert_eq!(fetch(&server.url(minted["url"].as_str().unwrap())).0, 200);

    // Rotation: the old key works through its grace, then not; the new key works.
    let (status, rotated) = api(
        &server,
        reqwest::Method::POST,
        &format!("/api/signing-keys/{}/rotate", key.0),
        json!({"grace_seconds": 0}),
    );
    assert_eq!(status, 201, "{rotated}");
    let new_key =
        (rotated["id"].as_str().unwrap().to_owned(), rotated["private_key"].as_str().unwrap().to_owned(), key.2);
    assert_refused(&with(&master_url, &format!("token={}", token(&key, &id, "playback", now() + 600))), "revoked");
    assert_eq!(fetch(&with(&master_url, &format!("token={}", token(&new_key, &id, "playback", now() + 600)))).0, 200);
    let (_, keys) = api(&server, reqwest::Method::GET, "/api/signing-keys", Value::Null);
    let states: Vec<(&str, &str)> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["id"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert!(
        states.contains(&(key.0.as_str(), "expired")) && states.contains(&(new_key.0.as_str(), "active")),
        "{keys}"
    );
    assert!(keys["items"].as_array().unwrap().iter().all(|k| k.get("private_key").is_none()), "no private key listed");
}
