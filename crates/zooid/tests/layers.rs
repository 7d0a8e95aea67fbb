//! Layers point down: the pure crates depend on no runtime and on no crate above them.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every crate a package pulls in (normal dependencies, transitively), from `cargo metadata`.
fn closure() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut direct: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let name = names[node["id"].as_str().unwrap()].clone();
        let deps = node["deps"].as_array().unwrap().iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null())
        });
        direct
            .entry(name)
            .or_default()
            .extend(deps.map(|d| names[d["pkg"].as_str().unwrap()].clone()));
    }
    let mut all = BTreeMap::new();
    for name in direct.keys() {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.clone()];
        while let Some(n) = stack.pop() {
            for d in direct.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        all.insert(name.clone(), seen);
    }
    all
}

#[test]
fn pure_crates_have_no_runtime_and_no_upward_edges() {
    let all = closure();
    let forbidden = ["tokio", "zooid-server", "zooid"];
    for pure in ["zooid-proto", "zooid-tree"] {
        for f in forbidden {
            assert!(!all[pure].contains(f), "{pure} depends on {f}");
        }
    }
    assert!(
        !all["zooid-proto"].contains("zooid-tree"),
        "zooid-proto depends on zooid-tree"
    );
}
