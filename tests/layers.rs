//! The crate's layers, read off its source: the engine (`src/engine/`), the training toolkit
//! (`src/training/`) and the reports (`src/reports/`). A module may use modules of its own layer
//! or below, never above, and no modules depend on each other in a cycle but `graph` and
//! `autodiff` (a graph calls its backward; backward adds graph nodes). Code only: comments may
//! point anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 3] = ["engine", "training", "reports"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each top-level module (a file or folder under a layer's folder) and its layer.
fn modules(src: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (layer, name) in LAYERS.iter().enumerate() {
        for entry in std::fs::read_dir(src.join(name)).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if stem != "mod" {
                out.insert(stem, layer);
            }
        }
    }
    out
}

/// The code of a file without its comments and its unit tests (a `#[cfg(test)]` module at the
/// end, which may `use super::*`).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names through `crate::`: `crate::graph::Tensor` and
/// each name of `crate::{op::Epilogue, shape::Shape}`.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: the first word of each comma-separated part.
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut parts = vec![String::new()];
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => parts.push(String::new()),
                    c => parts.last_mut().unwrap().push(c),
                }
            }
            parts.iter().map(|p| first_word(p.trim())).collect()
        } else {
            vec![first_word(rest)]
        };
        for name in names {
            // `crate::engine::graph` names `graph`.
            let name = if LAYERS.contains(&name.as_str()) {
                let after = &rest[name.len() + 2..];
                first_word(after)
            } else {
                name
            };
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn first_word(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

#[test]
fn arrows_point_down_and_only_graph_and_autodiff_form_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for (layer, name) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&src.join(name), &mut files);
        for file in files {
            let rel = file.strip_prefix(src.join(name)).unwrap();
            let module = rel.components().next().unwrap().as_os_str().to_string_lossy();
            let module = module.trim_end_matches(".rs").to_string();
            if module == "mod" {
                continue;
            }
            let text = code(&std::fs::read_to_string(&file).unwrap());
            // `super::` out of a top-level module would name its layer's other modules unseen.
            let at_root = rel.components().count() == 1 || rel.ends_with("mod.rs") && rel.components().count() == 2;
            assert!(
                !(at_root && text.contains("super::")),
                "{}: use crate:: paths, not super::, at a module's root",
                file.display()
            );
            for target in referenced(&text) {
                let Some(&to) = modules.get(&target) else { continue };
                if target == module {
                    continue;
                }
                if to > layer {
                    upward.push(format!(
                        "{} ({}) uses {target} ({})",
                        file.display(),
                        LAYERS[layer],
                        LAYERS[to]
                    ));
                }
                uses.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    assert!(upward.is_empty(), "modules reaching up a layer:\n{}", upward.join("\n"));

    // Cycles: a module that reaches itself through the modules it uses.
    let allowed = |a: &str, b: &str| matches!((a, b), ("graph", "autodiff") | ("autodiff", "graph"));
    let mut cycles = Vec::new();
    for start in uses.keys() {
        let mut stack: Vec<Vec<String>> = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().unwrap();
            for next in uses.get(last).into_iter().flatten() {
                if allowed(last, next) {
                    continue;
                }
                if next == start {
                    cycles.push([path.clone(), vec![next.clone()]].concat().join(" → "));
                } else if seen.insert(next.clone()) {
                    stack.push([path.clone(), vec![next.clone()]].concat());
                }
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
    for (layer, name) in LAYERS.iter().enumerate().rev() {
        let members: Vec<&str> = modules
            .iter()
            .filter(|(_, &l)| l == layer)
            .map(|(m, _)| m.as_str())
            .collect();
        println!("  {name:<9} {}", members.join(", "));
    }
}

#[test]
fn no_source_file_is_longer_than_about_700_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > 720)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}
