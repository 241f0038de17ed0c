//! The rules ARCHITECTURE.md states, checked (in the spirit of rust-analyzer's tidy tests):
//! which crate may depend on which, that the crates with one job keep their protocol, GStreamer,
//! SQL and HTTP dependencies to themselves, and that every source file says why it exists.
//!
//! The table lives in ARCHITECTURE.md between `<!-- tidy:dependencies -->` markers, so the map
//! and the check cannot drift apart: change the rule there, and this test enforces the new one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of the table.
#[derive(Debug)]
struct Rule {
    workspace: BTreeSet<String>,
    any_workspace: bool,
    restricted: BTreeSet<String>,
    restricted_in_tests: BTreeSet<String>,
    planned: bool,
}

/// Parses `| crate | workspace crates | restricted crates | restricted crates in tests |`.
fn rules(architecture: &str) -> (BTreeMap<String, Rule>, BTreeSet<String>) {
    let start = architecture.find("<!-- tidy:dependencies -->").expect("ARCHITECTURE.md has the dependency table");
    let end = architecture.find("<!-- /tidy:dependencies -->").expect("the table is closed");
    let section = &architecture[start..end];
    let list = |cell: &str| -> BTreeSet<String> {
        cell.split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .filter(|c| !c.is_empty() && c != "—" && c != "-")
            .collect()
    };
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 4, "four columns: {line}");
        let name = cells[0].trim_matches('`').split_whitespace().next().unwrap().trim_matches('`').to_owned();
        let rule = Rule {
            any_workspace: cells[1].contains("every workspace crate"),
            workspace: list(cells[1]),
            restricted: list(cells[2]),
            restricted_in_tests: list(cells[3]),
            planned: cells[0].contains("(planned)"),
        };
        table.insert(name, rule);
    }
    let restricted_line = section
        .lines()
        .find_map(|l| l.strip_prefix("Restricted crates:"))
        .expect("the section names the restricted crates");
    (table, list(restricted_line))
}

#[derive(Debug)]
struct Package {
    name: String,
    dir: PathBuf,
    /// (package name, kind: None normal / "dev" / "build")
    dependencies: Vec<(String, Option<String>)>,
}

fn workspace() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().unwrap().to_owned(),
            dir: Path::new(p["manifest_path"].as_str().unwrap()).parent().unwrap().to_owned(),
            dependencies: p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| (d["name"].as_str().unwrap().to_owned(), d["kind"].as_str().map(str::to_owned)))
                .collect(),
        })
        .collect()
}

fn is_restricted(dep: &str, restricted: &BTreeSet<String>) -> bool {
    restricted.iter().any(|r| match r.strip_suffix('*') {
        Some(prefix) => dep.starts_with(prefix),
        None => dep == r,
    })
}

fn allowed(dep: &str, allowed: &BTreeSet<String>) -> bool {
    is_restricted(dep, allowed)
}

/// Every violation of the table, as sentences.
fn violations(architecture: &str, packages: &[Package]) -> Vec<String> {
    let (table, restricted) = rules(architecture);
    let members: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let mut found = Vec::new();
    for (name, rule) in &table {
        if !rule.planned && !members.contains(name.as_str()) {
            found.push(format!("ARCHITECTURE.md names {name}, which is not in the workspace (mark it planned?)"));
        }
    }
    for p in packages {
        let Some(rule) = table.get(&p.name) else {
            found.push(format!("{} has no row in ARCHITECTURE.md's dependency table", p.name));
            continue;
        };
        for (dep, kind) in &p.dependencies {
            let test_only = kind.as_deref() == Some("dev");
            if members.contains(dep.as_str()) {
                if !test_only && !rule.any_workspace && !rule.workspace.contains(dep) && dep != &p.name {
                    found.push(format!("{} depends on {dep}, which the table does not allow", p.name));
                }
            } else if is_restricted(dep, &restricted) {
                let ok = allowed(dep, &rule.restricted) || (test_only && allowed(dep, &rule.restricted_in_tests));
                if !ok {
                    let how = if test_only { "in its tests" } else { "" };
                    found.push(format!("{} uses {dep} {how}, which only the table's named crates may", p.name));
                }
            }
        }
    }
    found
}

#[test]
fn crates_depend_only_on_what_architecture_md_allows() {
    let architecture = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let found = violations(&architecture, &workspace());
    assert!(found.is_empty(), "dependency rules broken:\n  {}", found.join("\n  "));
}

#[test]
fn the_check_catches_a_forbidden_dependency() {
    // The same table against a made-up workspace that breaks each kind of rule.
    let architecture = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let (table, _) = rules(&architecture);
    let package = |name: &str, deps: &[(&str, Option<&str>)]| Package {
        name: name.into(),
        dir: PathBuf::new(),
        dependencies: deps.iter().map(|(d, k)| ((*d).to_owned(), k.map(str::to_owned))).collect(),
    };
    let mut fake: Vec<Package> = table.iter().filter(|(_, r)| !r.planned).map(|(name, _)| package(name, &[])).collect();
    fake.retain(|p| !["oxcast-media", "oxcast-chat", "oxcast-api", "oxcast-ingest"].contains(&p.name.as_str()));
    fake.push(package("oxcast-media", &[("axum", None), ("serde_json", None)]));
    fake.push(package("oxcast-chat", &[("gstreamer", None), ("oxcast-store", None)]));
    fake.push(package("oxcast-api", &[("sqlx", None), ("rml_rtmp", Some("dev"))]));
    fake.push(package("oxcast-ingest", &[("oxcast-store", None)]));
    fake.push(package("oxcast-newcomer", &[]));
    let found = violations(&architecture, &fake).join("\n");
    for expected in [
        "oxcast-media uses axum",
        "oxcast-media uses serde_json",
        "oxcast-chat uses gstreamer",
        "oxcast-chat depends on oxcast-store",
        "oxcast-api uses sqlx",
        "oxcast-api uses rml_rtmp in its tests",
        "oxcast-ingest depends on oxcast-store",
        "oxcast-newcomer has no row",
    ] {
        assert!(found.contains(expected), "missed {expected:?} in:\n{found}");
    }
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    for p in workspace() {
        for dir in ["src", "tests", "examples", "benches", "bench"] {
            rust_files(&p.dir.join(dir), &mut files);
        }
        if p.dir.join("build.rs").exists() {
            files.push(p.dir.join("build.rs"));
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files do not start with a `//!` module doc:\n  {}", missing.join("\n  "));
}
