//! Stages hls.js for embedding: copies `web/node_modules/hls.js/dist/hls.min.js`
//! (installed by `npm ci --prefix api/web`, pinned by `web/package-lock.json`)
//! to `$OUT_DIR/hls.min.js`, where `src/web_assets.rs` picks it up with
//! `include_bytes!`. The binary thus serves the player with no CDN and no
//! files next to it.

use std::{env, fs, path::PathBuf};

const HLS_JS: &str = "web/node_modules/hls.js/dist/hls.min.js";
const HLS_PACKAGE_JSON: &str = "web/node_modules/hls.js/package.json";
const LOCKFILE: &str = "web/package-lock.json";

fn main() {
    println!("cargo:rerun-if-changed={HLS_JS}");
    println!("cargo:rerun-if-changed={HLS_PACKAGE_JSON}");
    println!("cargo:rerun-if-changed={LOCKFILE}");
    println!("cargo:rerun-if-changed=web/player.html");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("hls.min.js");
    let src = manifest_dir.join(HLS_JS);

    if !src.is_file() {
        panic!("hls.js is missing: run `npm ci --prefix api/web` (the README's commands do this)");
    }

    // A stale node_modules would silently embed a different hls.js than the
    // lockfile pins; compare versions when both can be read.
    let installed = fs::read_to_string(manifest_dir.join(HLS_PACKAGE_JSON)).ok().and_then(|s| version_after(&s, "{"));
    let locked =
        fs::read_to_string(manifest_dir.join(LOCKFILE)).ok().and_then(|s| version_after(&s, "\"node_modules/hls.js\""));
    if let (Some(installed), Some(locked)) = (installed, locked)
        && installed != locked
    {
        panic!(
            "api/web/node_modules has hls.js {installed} but web/package-lock.json pins {locked}: \
             run `npm ci --prefix api/web`"
        );
    }

    if let Err(e) = fs::copy(&src, &out) {
        panic!("copying {} to {}: {e}", src.display(), out.display());
    }
}

/// The value of the first `"version": "..."` after `anchor` in a JSON text.
fn version_after(json: &str, anchor: &str) -> Option<String> {
    let rest = &json[json.find(anchor)? + anchor.len()..];
    let rest = &rest[rest.find("\"version\"")? + "\"version\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}
