//! The crate's architecture, checked on its own imports: every path in the code (`use` trees,
//! globs, inline `crate::a::b` paths, `super::`, re-exports) is resolved to the file that defines
//! what it names (`layers/analysis.rs`), and on those references, for every file:
//!
//! - arrows point down: the engine (`src/engine/`) uses only itself, the training toolkit
//!   (`src/training/`) the engine, the reports (`src/reports/`) both; inside the engine each
//!   module uses only those below it in [`ENGINE`] (graph and autodiff use each other);
//! - a library module names what it uses by its real path, never through the re-exports of
//!   `src/lib.rs`, which are the public API's;
//! - no circle of files anywhere in `src/` but graph ↔ autodiff (a graph calls its backward,
//!   backward adds graph nodes);
//! - the kernel set, the ops, the graph and autodiff name no backend, and nothing of wgpu;
//! - no file over 720 lines, no function over 150.
//!
//! Planted faults (a circle, an upward import, a backend path in the graph, a path through the
//! root's re-exports, a long function) are cases the check must reject.

#[path = "layers/analysis.rs"]
mod analysis;

use std::collections::BTreeSet;
use std::path::Path;

use analysis::{cycles, Crate, Edge, Files};

/// The library's layers, lowest first.
const LAYERS: [&str; 3] = ["engine", "training", "reports"];

/// The engine's modules by level, lowest first: a module uses modules of lower levels only (and
/// graph and autodiff each other). As the README's picture draws them.
const ENGINE: &[(&str, u8)] = &[
    ("shape", 0),
    ("pool", 0),
    ("error", 1),
    ("gemm", 1),
    ("element", 2),
    ("op", 3),
    ("kernel", 4),
    ("backend", 5),
    ("graph", 6),
    ("autodiff", 6),
    ("plan", 7),
    ("check", 8),
    ("device", 8),
    ("expr", 8),
];

/// Modules that must name no backend and nothing of wgpu.
const BACKEND_FREE: [&str; 4] = ["op", "kernel", "graph", "autodiff"];

const MAX_FILE_LINES: usize = 720;
const MAX_FUNCTION_LINES: usize = 150;

/// `(layer, module)` of a library file: `src/engine/graph/mod.rs` → `("engine", "graph")`.
fn place(file: &str) -> Option<(&str, &str)> {
    let rest = file.strip_prefix("src/")?;
    let (layer, rest) = rest.split_once('/')?;
    let module = rest.split('/').next()?.trim_end_matches(".rs");
    LAYERS.contains(&layer).then_some((layer, module))
}

fn level(module: &str) -> Option<u8> {
    ENGINE.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

/// Why an edge breaks the layering, if it does.
fn upward(e: &Edge) -> Option<String> {
    let ((from_layer, from_mod), (to_layer, to_mod)) = (place(&e.from)?, place(&e.to)?);
    let rank = |l: &str| LAYERS.iter().position(|x| *x == l);
    if rank(to_layer) > rank(from_layer) {
        return Some(format!("{from_layer} uses {to_layer}"));
    }
    if from_layer != "engine" || to_layer != "engine" || from_mod == to_mod || from_mod == "mod" {
        return None;
    }
    if matches!((from_mod, to_mod), ("graph", "autodiff") | ("autodiff", "graph")) {
        return None;
    }
    match (level(from_mod), level(to_mod)) {
        (Some(a), Some(b)) if b < a => None,
        (Some(_), Some(_)) => Some(format!(
            "engine::{from_mod} uses engine::{to_mod}, which is not below it"
        )),
        _ => Some(format!("engine::{from_mod} or engine::{to_mod} has no level in ENGINE")),
    }
}

/// Every way `files` (a crate: `src/lib.rs`, `src/bin/shadergrad.rs`, ...) breaks the rules.
fn check(files: &Files) -> Vec<String> {
    let mut faults = Vec::new();
    let mut lib = Crate::read(files, "src/lib.rs");
    let lib_edges = lib.edges();
    let mut bin_edges = Vec::new();
    let mut functions = lib.functions.clone();
    faults.extend(lib.problems.iter().map(|p| format!("unreadable: {p}")));
    if files.contains_key("src/bin/shadergrad.rs") {
        let mut bin = Crate::read(files, "src/bin/shadergrad.rs");
        bin_edges = bin.edges();
        functions.extend(bin.functions.iter().cloned());
        faults.extend(bin.problems.iter().map(|p| format!("unreadable: {p}")));
    }
    for e in lib_edges.iter().filter(|e| e.from != "src/lib.rs") {
        let at = format!("{}:{} `{}` → {}", e.from, e.line, e.path, e.to);
        if let Some(why) = upward(e) {
            faults.push(format!("upward: {at}: {why}"));
        }
        if e.through_root {
            faults.push(format!(
                "not its real path: {at}: named through the re-exports of src/lib.rs"
            ));
        }
        let backend_free = place(&e.from).is_some_and(|(l, m)| l == "engine" && BACKEND_FREE.contains(&m));
        if backend_free && place(&e.to).is_some_and(|(_, m)| m == "backend") {
            faults.push(format!("backend path: {at}"));
        }
    }
    for m in &lib.modules {
        let backend_free = place(&m.file).is_some_and(|(l, m)| l == "engine" && BACKEND_FREE.contains(&m));
        let written = m
            .uses
            .iter()
            .map(|u| (&u.path, u.line))
            .chain(m.paths.iter().map(|(p, l)| (p, *l)));
        for (path, line) in written {
            if backend_free && path.first().is_some_and(|s| s == "wgpu") {
                faults.push(format!("backend path: {}:{line} `{}`", m.file, path.join("::")));
            }
        }
    }
    // graph → autodiff is the one back-edge allowed: a graph calls its own backward.
    let allowed = |e: &&Edge| {
        !(place(&e.from).is_some_and(|(_, m)| m == "graph") && place(&e.to).is_some_and(|(_, m)| m == "autodiff"))
            && e.from != "src/lib.rs"
    };
    let kept: Vec<Edge> = lib_edges.iter().filter(allowed).cloned().collect();
    faults.extend(cycles(&kept).into_iter().map(|c| format!("circle: {c}")));
    faults.extend(cycles(&bin_edges).into_iter().map(|c| format!("circle: {c}")));
    for (file, text) in files {
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            faults.push(format!("long file: {file}: {n} lines"));
        }
    }
    for f in functions.iter().filter(|f| f.lines > MAX_FUNCTION_LINES) {
        faults.push(format!(
            "long function: {}:{} `{}`: {} lines",
            f.file, f.line, f.name, f.lines
        ));
    }
    faults
}

fn read_tree(dir: &Path, root: &Path, out: &mut Files) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).unwrap());
        }
    }
}

fn sources() -> Files {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Files::new();
    read_tree(&root.join("src"), root, &mut files);
    files
}

#[test]
fn the_source_keeps_its_architecture() {
    let files = sources();
    let faults = check(&files);
    assert!(faults.is_empty(), "{} faults:\n{}", faults.len(), faults.join("\n"));
    let mut lib = Crate::read(&files, "src/lib.rs");
    let edges = lib.edges();
    let mut arrows: BTreeSet<(String, String)> = BTreeSet::new();
    for e in edges.iter().filter(|e| e.from != "src/lib.rs") {
        if let (Some((_, a)), Some((_, b))) = (place(&e.from), place(&e.to)) {
            if a != b {
                arrows.insert((a.to_string(), b.to_string()));
            }
        }
    }
    println!(
        "  {} files, {} references between files, {} arrows between modules:",
        files.len(),
        edges.len(),
        arrows.len()
    );
    for (a, b) in &arrows {
        println!("    {a} → {b}");
    }
}

/// A small crate laid out as this one is, breaking no rule: the planted faults are added to it.
fn fixture() -> Files {
    let files = [
        ("src/lib.rs", "mod engine;\npub use engine::{graph, op};\npub use engine::graph::Graph;\n"),
        (
            "src/engine/mod.rs",
            "pub mod autodiff;\npub mod backend;\npub mod graph;\npub mod kernel;\npub mod op;\n",
        ),
        ("src/engine/op/mod.rs", "mod table;\npub use table::UnaryOp;\n"),
        ("src/engine/op/table.rs", "pub enum UnaryOp { Relu }\n"),
        (
            "src/engine/kernel.rs",
            "use crate::engine::op::UnaryOp;\npub enum Kernel { Unary(UnaryOp) }\n",
        ),
        (
            "src/engine/graph/mod.rs",
            "pub mod rules;\nuse super::kernel::Kernel;\npub struct Graph(Vec<Kernel>);\nimpl Graph {\n    pub fn backward(&self) { crate::engine::autodiff::backward(self) }\n}\n",
        ),
        (
            "src/engine/graph/rules.rs",
            "use super::Graph;\npub fn rule(_: &Graph) {}\n",
        ),
        (
            "src/engine/autodiff.rs",
            "use crate::engine::graph::Graph;\npub fn backward(g: &Graph) { super::graph::rules::rule(g) }\n",
        ),
        (
            "src/engine/backend/mod.rs",
            "pub mod cpu;\npub trait Backend { fn run(&self, k: crate::engine::kernel::Kernel); }\n",
        ),
        (
            "src/engine/backend/cpu.rs",
            "use super::Backend;\nuse crate::engine::kernel::Kernel;\npub struct Cpu;\nimpl Backend for Cpu { fn run(&self, _: Kernel) {} }\n",
        ),
    ];
    files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
}

/// `fixture()` with `text` appended to `file` (or a new file).
fn planted(file: &str, text: &str) -> Files {
    let mut files = fixture();
    files.entry(file.to_string()).or_default().push_str(text);
    files
}

fn rejects(files: &Files, kind: &str) -> String {
    let faults = check(files);
    let found: Vec<&String> = faults.iter().filter(|f| f.starts_with(kind)).collect();
    assert!(!found.is_empty(), "expected a `{kind}` fault, got: {faults:#?}");
    found[0].clone()
}

#[test]
fn the_fixture_breaks_no_rule() {
    let faults = check(&fixture());
    assert!(faults.is_empty(), "{faults:#?}");
    let mut c = Crate::read(&fixture(), "src/lib.rs");
    let edges = c.edges();
    assert!(
        edges
            .iter()
            .any(|e| e.from == "src/engine/kernel.rs" && e.to == "src/engine/op/table.rs"),
        "`crate::engine::op::UnaryOp` resolved through op's facade to table.rs: {edges:#?}"
    );
}

#[test]
fn a_planted_circle_is_rejected() {
    // op ↔ kernel through an inline path.
    let files = planted(
        "src/engine/op/table.rs",
        "pub fn f(_: crate::engine::kernel::Kernel) {}\n",
    );
    let fault = rejects(&files, "circle:");
    assert!(
        fault.contains("src/engine/kernel.rs") && fault.contains("src/engine/op/table.rs"),
        "{fault}"
    );
    // A folder's mod.rs that is home to what its child uses, and re-exports the child.
    let files = planted("src/engine/graph/mod.rs", "pub use rules::rule;\n");
    rejects(&files, "circle:");
}

#[test]
fn a_planted_upward_import_is_rejected() {
    let files = planted(
        "src/engine/op/table.rs",
        "use crate::engine::graph::Graph;\npub fn f(_: Graph) {}\n",
    );
    let fault = rejects(&files, "upward:");
    assert!(fault.contains("engine::op uses engine::graph"), "{fault}");
    let mut files = planted("src/training/mod.rs", "pub mod fit;\n");
    files.insert("src/training/fit.rs".into(), "pub fn fit() {}\n".into());
    files.get_mut("src/lib.rs").unwrap().push_str("mod training;\n");
    files
        .get_mut("src/engine/kernel.rs")
        .unwrap()
        .push_str("pub fn k() { crate::training::fit::fit() }\n");
    let fault = rejects(&files, "upward:");
    assert!(fault.contains("engine uses training"), "{fault}");
}

#[test]
fn a_planted_backend_path_is_rejected() {
    let files = planted(
        "src/engine/graph/rules.rs",
        "use crate::engine::backend::Backend;\npub fn b(_: &dyn Backend) {}\n",
    );
    rejects(&files, "backend path:");
    let files = planted("src/engine/kernel.rs", "pub fn w(_: wgpu::Device) {}\n");
    rejects(&files, "backend path:");
}

#[test]
fn a_path_through_the_roots_re_exports_is_rejected() {
    let files = planted("src/engine/autodiff.rs", "pub fn g(_: crate::Graph) {}\n");
    rejects(&files, "not its real path:");
    let files = planted(
        "src/engine/backend/cpu.rs",
        "use crate::op::UnaryOp;\npub fn o(_: UnaryOp) {}\n",
    );
    rejects(&files, "not its real path:");
}

#[test]
fn planted_long_functions_and_files_are_rejected() {
    let body = "    let _x = 1;\n".repeat(MAX_FUNCTION_LINES);
    let files = planted("src/engine/op/table.rs", &format!("pub fn long() {{\n{body}}}\n"));
    rejects(&files, "long function:");
    let files = planted("src/engine/op/table.rs", &"// filler\n".repeat(MAX_FILE_LINES));
    rejects(&files, "long file:");
}

#[test]
fn a_path_that_names_nothing_is_reported() {
    let files = planted("src/engine/kernel.rs", "pub fn n(_: crate::engine::op::NoSuchOp) {}\n");
    rejects(&files, "unreadable:");
}
