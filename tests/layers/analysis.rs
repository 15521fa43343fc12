//! The crate's source read as rustc reads its module tree: every file parsed with `syn`, every
//! module with the names it defines and imports, and every path in its code (`use` trees, globs,
//! inline `crate::a::b` paths, `super::`, re-exports followed to the end) resolved to the file
//! that defines what it names. What `tests/layers.rs` checks is drawn from this.
//!
//! Code only: comments and doc links name nothing, unit-test modules (`#[cfg(test)]`) are left
//! out, and macro bodies (unparsed tokens) are not read. Method calls are not paths and are not
//! followed.

use std::collections::{BTreeMap, BTreeSet};

use syn::visit::Visit;

/// Source files by their path from the crate's folder (`src/engine/graph/mod.rs`).
pub type Files = BTreeMap<String, String>;

/// One module of the tree.
#[derive(Debug)]
pub struct Module {
    pub file: String,
    pub parent: Option<usize>,
    pub children: BTreeMap<String, usize>,
    /// Names of the items it defines (types, traits, functions, constants, macros).
    pub items: BTreeSet<String>,
    pub uses: Vec<Use>,
    /// The paths its code names (besides its `use`s), with their lines.
    pub paths: Vec<(Vec<String>, usize)>,
}

/// One name a `use` brings into scope: `name` (its alias, or `*` for a glob) for `path`.
#[derive(Clone, Debug)]
pub struct Use {
    pub name: String,
    pub path: Vec<String>,
    pub line: usize,
}

/// What a path names.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Module(usize),
    /// An item `name` defined in module `module`.
    Item {
        module: usize,
        name: String,
    },
    /// Outside this crate (std, a dependency) or a local name (a variable, a generic).
    Outside,
    /// Starts inside the crate but names nothing there.
    Unresolved,
}

/// A resolved reference from one file to what another defines.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The path as written, and where.
    pub path: String,
    pub line: usize,
    /// True when the path reaches its target through a re-export of the crate root
    /// (`src/lib.rs`) rather than by the target's real path.
    pub through_root: bool,
}

/// A function and its length in lines, from `fn` to its closing brace.
#[derive(Clone, Debug)]
pub struct Function {
    pub file: String,
    pub name: String,
    pub line: usize,
    pub lines: usize,
}

/// A crate's module tree and what its paths resolve to.
pub struct Crate {
    pub modules: Vec<Module>,
    pub functions: Vec<Function>,
    pub problems: Vec<String>,
    /// What each `macro_rules!` met so far defines where it is invoked.
    macros: BTreeMap<String, Vec<String>>,
}

/// The items a `macro_rules!` body defines at its top level: the name after each `enum`,
/// `struct`, `trait`, `fn`, ... that is written out (not a `$metavariable`).
fn generated_items(body: proc_macro2::TokenStream) -> Vec<String> {
    use proc_macro2::TokenTree;
    const KEYWORDS: [&str; 8] = ["enum", "struct", "union", "trait", "fn", "const", "static", "type"];
    let mut out = Vec::new();
    // Arms are `(pattern) => { body }`: read each body's top-level tokens.
    for tree in body {
        let TokenTree::Group(arm) = tree else { continue };
        if arm.delimiter() != proc_macro2::Delimiter::Brace {
            continue;
        }
        let mut after_keyword = false;
        for t in arm.stream() {
            match t {
                TokenTree::Ident(i) if after_keyword => {
                    out.push(i.to_string());
                    after_keyword = false;
                }
                TokenTree::Ident(i) => after_keyword = KEYWORDS.contains(&i.to_string().as_str()),
                _ => after_keyword = false,
            }
        }
    }
    out
}

fn has_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().trim() == "test")
    })
}

fn line(span: proc_macro2::Span) -> usize {
    span.start().line
}

/// Flattens a `use` tree into one [`Use`] per name.
fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Use>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let (alias, path) = if name == "self" {
                (prefix.last().cloned().unwrap_or_default(), prefix.clone())
            } else {
                (name.clone(), [prefix.clone(), vec![name]].concat())
            };
            out.push(Use {
                name: alias,
                path,
                line: line(n.ident.span()),
            });
        }
        syn::UseTree::Rename(r) => out.push(Use {
            name: r.rename.to_string(),
            path: [prefix.clone(), vec![r.ident.to_string()]].concat(),
            line: line(r.ident.span()),
        }),
        syn::UseTree::Glob(g) => out.push(Use {
            name: "*".into(),
            path: prefix.clone(),
            line: line(g.star_token.span),
        }),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten(t, prefix, out);
            }
        }
    }
}

/// Collects a module's paths, nested `use`s and function lengths, skipping child modules (read
/// on their own), unit tests and macro bodies.
struct Collector<'a> {
    file: &'a str,
    uses: Vec<Use>,
    paths: Vec<(Vec<String>, usize)>,
    functions: Vec<Function>,
}

impl Collector<'_> {
    fn function(&mut self, name: &syn::Ident, sig: &syn::Signature, block: &syn::Block) {
        let start = line(sig.fn_token.span);
        let end = block.brace_token.span.close().end().line;
        self.functions.push(Function {
            file: self.file.to_string(),
            name: name.to_string(),
            line: start,
            lines: end + 1 - start,
        });
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs = match i {
            syn::Item::Fn(x) => &x.attrs,
            syn::Item::Impl(x) => &x.attrs,
            syn::Item::Mod(_) => return,
            syn::Item::Use(x) => &x.attrs,
            syn::Item::Const(x) => &x.attrs,
            syn::Item::Struct(x) => &x.attrs,
            syn::Item::Enum(x) => &x.attrs,
            syn::Item::Static(x) => &x.attrs,
            syn::Item::Trait(x) => &x.attrs,
            syn::Item::Type(x) => &x.attrs,
            _ => return syn::visit::visit_item(self, i),
        };
        if !has_cfg_test(attrs) {
            syn::visit::visit_item(self, i);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        flatten(&u.tree, &mut Vec::new(), &mut self.uses);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(first) = p.segments.first() {
            self.paths.push((segs, line(first.ident.span())));
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, _: &'ast syn::Macro) {}

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.function(&f.sig.ident, &f.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// The name an item defines, if it defines one in the type or value namespace (or is a macro).
fn item_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::TraitAlias(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

impl Crate {
    /// Reads the crate whose root file is `root` (`src/lib.rs`, `src/bin/shadergrad.rs`).
    pub fn read(files: &Files, root: &str) -> Crate {
        let mut c = Crate {
            modules: Vec::new(),
            functions: Vec::new(),
            problems: Vec::new(),
            macros: BTreeMap::new(),
        };
        match files.get(root).map(|text| syn::parse_file(text)) {
            Some(Ok(ast)) => {
                let dir = root.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                c.add_module(files, root, None, &ast.items, &dir);
            }
            Some(Err(e)) => c.problems.push(format!("{root}: {e}")),
            None => c.problems.push(format!("{root}: no such file")),
        }
        c
    }

    /// Adds a module of `items` from `file`, whose child files live in `dir`, and its children.
    fn add_module(
        &mut self,
        files: &Files,
        file: &str,
        parent: Option<usize>,
        items: &[syn::Item],
        dir: &str,
    ) -> usize {
        let id = self.modules.len();
        let mut collector = Collector {
            file,
            uses: Vec::new(),
            paths: Vec::new(),
            functions: Vec::new(),
        };
        for item in items {
            collector.visit_item(item);
        }
        self.functions.extend(collector.functions);
        let mut names: BTreeSet<String> = items.iter().filter_map(item_name).collect();
        for item in items {
            let syn::Item::Macro(m) = item else { continue };
            match &m.ident {
                Some(defined) => {
                    self.macros
                        .insert(defined.to_string(), generated_items(m.mac.tokens.clone()));
                }
                None => {
                    let invoked = m.mac.path.segments.last().map(|s| s.ident.to_string());
                    if let Some(made) = invoked.and_then(|n| self.macros.get(&n)) {
                        names.extend(made.iter().cloned());
                    }
                }
            }
        }
        self.modules.push(Module {
            file: file.to_string(),
            parent,
            children: BTreeMap::new(),
            items: names,
            uses: collector.uses,
            paths: collector.paths,
        });
        for item in items {
            let syn::Item::Mod(m) = item else { continue };
            if has_cfg_test(&m.attrs) {
                continue;
            }
            let name = m.ident.to_string();
            let child = match &m.content {
                Some((_, inner)) => self.add_module(files, file, Some(id), inner, &format!("{dir}/{name}")),
                None => {
                    let candidates = [format!("{dir}/{name}.rs"), format!("{dir}/{name}/mod.rs")];
                    let Some(found) = candidates.iter().find(|f| files.contains_key(*f)) else {
                        self.problems.push(format!("{file}: no file for `mod {name}`"));
                        continue;
                    };
                    match syn::parse_file(&files[found]) {
                        Ok(ast) => self.add_module(files, found, Some(id), &ast.items, &format!("{dir}/{name}")),
                        Err(e) => {
                            self.problems.push(format!("{found}: {e}"));
                            continue;
                        }
                    }
                }
            };
            self.modules[id].children.insert(name, child);
        }
        id
    }

    /// What `name` means inside module `m`: a child module, an item, an import or a glob's.
    /// `root_hop` is set when the answer comes through the crate root's re-exports.
    fn lookup(&self, m: usize, name: &str, root_hop: &mut bool, depth: usize) -> Option<Target> {
        let module = &self.modules[m];
        if let Some(&child) = module.children.get(name) {
            return Some(Target::Module(child));
        }
        if module.items.contains(name) {
            return Some(Target::Item {
                module: m,
                name: name.into(),
            });
        }
        let at_root = self.modules[m].parent.is_none() || self.modules[m].file == self.modules[0].file;
        // A use whose path starts with its own name (`use ndarray::{self, Array2}`) names an
        // outside crate: a child module of that name would have been found above.
        for u in module.uses.iter().filter(|u| u.name == name && u.path[0] != name) {
            let t = self.resolve_from(m, &u.path, root_hop, depth + 1);
            if t != Target::Outside && t != Target::Unresolved {
                *root_hop |= at_root;
                return Some(t);
            }
        }
        for u in module.uses.iter().filter(|u| u.name == "*") {
            if let Target::Module(g) = self.resolve_from(m, &u.path, root_hop, depth + 1) {
                if depth < 16 {
                    if let Some(t) = self.lookup(g, name, root_hop, depth + 1) {
                        *root_hop |= at_root;
                        return Some(t);
                    }
                }
            }
        }
        None
    }

    /// Resolves `segs` as written in module `m`.
    pub fn resolve_from(&self, m: usize, segs: &[String], root_hop: &mut bool, depth: usize) -> Target {
        if depth > 16 || segs.is_empty() {
            return Target::Unresolved;
        }
        let (mut at, mut rest) = match segs[0].as_str() {
            "crate" => (0, &segs[1..]),
            "self" => (m, &segs[1..]),
            "super" => {
                let mut at = m;
                let mut rest = segs;
                while rest.first().is_some_and(|s| s == "super") {
                    let Some(p) = self.modules[at].parent else {
                        return Target::Unresolved;
                    };
                    at = p;
                    rest = &rest[1..];
                }
                (at, rest)
            }
            first => match self.lookup(m, first, root_hop, depth) {
                Some(Target::Module(c)) => (c, &segs[1..]),
                Some(item) => return item,
                None => return Target::Outside,
            },
        };
        while let Some(next) = rest.first() {
            if self.modules[at].file == self.modules[0].file && self.modules[at].parent.is_some() {
                // An inline module of the crate root: a facade of re-exports.
                *root_hop = true;
            }
            match self.lookup(at, next, root_hop, depth) {
                Some(Target::Module(c)) => {
                    at = c;
                    rest = &rest[1..];
                }
                Some(item) => return item,
                None => return Target::Unresolved,
            }
        }
        Target::Module(at)
    }

    /// Every reference from one file to an item another file defines, and every path inside
    /// the crate that names nothing (added to `problems`).
    pub fn edges(&mut self) -> Vec<Edge> {
        let mut edges = Vec::new();
        let mut unresolved = Vec::new();
        for (m, module) in self.modules.iter().enumerate() {
            let written = module
                .uses
                .iter()
                .filter(|u| u.name != "*")
                .map(|u| (u.path.clone(), u.line))
                .chain(module.paths.iter().cloned());
            for (segs, line) in written {
                let mut root_hop = false;
                let target = self.resolve_from(m, &segs, &mut root_hop, 0);
                let to = match &target {
                    Target::Item { module, .. } => &self.modules[*module].file,
                    Target::Unresolved => {
                        unresolved.push(format!("{}:{line}: `{}` names nothing", module.file, segs.join("::")));
                        continue;
                    }
                    Target::Module(_) | Target::Outside => continue,
                };
                if *to != module.file {
                    edges.push(Edge {
                        from: module.file.clone(),
                        to: to.clone(),
                        path: segs.join("::"),
                        line,
                        through_root: root_hop,
                    });
                }
            }
        }
        self.problems.extend(unresolved);
        edges
    }
}

/// The cycles among files that `edges` form (each as `a → b → a`), found depth first.
pub fn cycles(edges: &[Edge]) -> Vec<String> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        next.entry(&e.from).or_default().insert(&e.to);
    }
    let mut found = BTreeSet::new();
    for &start in next.keys() {
        let mut stack: Vec<Vec<&str>> = vec![vec![start]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = *path.last().unwrap();
            for &n in next.get(last).into_iter().flatten() {
                if n == start {
                    // Named from its smallest file, so each cycle is reported once.
                    let min = path.iter().enumerate().min_by_key(|(_, f)| **f).map_or(0, |(i, _)| i);
                    let mut ring: Vec<&str> = path[min..].iter().chain(&path[..min]).copied().collect();
                    ring.push(ring[0]);
                    found.insert(ring.join(" → "));
                } else if seen.insert(n) {
                    stack.push([path.clone(), vec![n]].concat());
                }
            }
        }
    }
    found.into_iter().collect()
}
