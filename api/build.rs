//! Stages the browser assets for embedding: hls.js (`web/node_modules/hls.js/dist/hls.min.js`),
//! the API reference renderer (`web/node_modules/redoc/bundles/redoc.standalone.js`) and the tus
//! client of the upload page (`web/node_modules/tus-js-client/dist/tus.min.js`), all
//! installed by `npm ci --prefix api/web` and pinned by `web/package-lock.json`, are copied to
//! `$OUT_DIR`, where `src/web_assets.rs` picks them up with `include_bytes!`. The binary thus
//! serves the player and the docs page with no CDN and no files next to it.

use std::{env, fs, path::PathBuf};

/// (package, file inside it, name in OUT_DIR)
const ASSETS: [(&str, &str, &str); 3] = [
    ("hls.js", "dist/hls.min.js", "hls.min.js"),
    ("redoc", "bundles/redoc.standalone.js", "redoc.standalone.js"),
    ("tus-js-client", "dist/tus.min.js", "tus.min.js"),
];
const LOCKFILE: &str = "web/package-lock.json";

fn main() {
    println!("cargo:rerun-if-changed={LOCKFILE}");
    for page in [
        "web/player.html",
        "web/layout.html",
        "web/studio.html",
        "web/login.html",
        "web/docs.html",
        "web/video.html",
        "web/embed_live.html",
        "web/upload.html",
    ] {
        println!("cargo:rerun-if-changed={page}");
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let lock = fs::read_to_string(manifest_dir.join(LOCKFILE)).ok();
    for (package, file, staged) in ASSETS {
        let src = manifest_dir.join("web/node_modules").join(package).join(file);
        let package_json = manifest_dir.join("web/node_modules").join(package).join("package.json");
        println!("cargo:rerun-if-changed={}", src.display());
        println!("cargo:rerun-if-changed={}", package_json.display());
        if !src.is_file() {
            panic!("{package} is missing: run `npm ci --prefix api/web` (the README's commands do this)");
        }
        // A stale node_modules would silently embed another version than the lockfile pins.
        let installed = fs::read_to_string(&package_json).ok().and_then(|s| version_after(&s, "{"));
        let locked = lock.as_deref().and_then(|s| version_after(s, &format!("\"node_modules/{package}\"")));
        if let (Some(installed), Some(locked)) = (installed, locked)
            && installed != locked
        {
            panic!(
                "api/web/node_modules has {package} {installed} but web/package-lock.json pins {locked}: \
                 run `npm ci --prefix api/web`"
            );
        }
        let out = out_dir.join(staged);
        if let Err(e) = fs::copy(&src, &out) {
            panic!("copying {} to {}: {e}", src.display(), out.display());
        }
    }
}

/// The value of the first `"version": "..."` after `anchor` in a JSON text.
fn version_after(json: &str, anchor: &str) -> Option<String> {
    let rest = &json[json.find(anchor)? + anchor.len()..];
    let rest = &rest[rest.find("\"version\"")? + "\"version\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}
