//! The repository's shape, checked: every provider (and the template)
//! has the same source files for the same roles (and the optional
//! `codes.rs` for its code tables), and no module of core,
//! the host or the store imports a module that imports it back, directly
//! or through others.
//!
//! The import graph is read from the source text: `use crate::…` and
//! `crate::…` / `super::…` paths name a module (the longest known module
//! prefix; an item re-exported at the crate root counts as its own
//! module's). `mod` declarations are not imports, and a file's unit tests
//! (from `#[cfg(test)]` on) are left out. Comments are skipped, so a doc
//! link is not an import. The crate root's `pub use` re-exports are its
//! public facade, not imports of its own; a name defined at the root (a
//! macro, a function) counts as the root's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The roles a provider's `src/` may hold besides those, one file each:
/// `codes.rs`, its documented code tables, literally (TurkPos and the
/// template have none: Param documents no codes for a failure, the
/// template's few are a `match`).
const OPTIONAL_FILES: [&str; 1] = ["codes.rs"];

/// The roles every provider's `src/` holds, one file each.
const PROVIDER_FILES: [&str; 6] = [
    "documents.rs",
    "lib.rs",
    "outcome.rs",
    "reconcile.rs",
    "sim.rs",
    "wire.rs",
];

fn rust_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs"))
        .collect()
}

#[test]
fn every_provider_and_the_template_share_one_layout() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("providers"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "providers: {dirs:?}");
    dirs.push(root().join("examples/provider-template"));
    let expected: BTreeSet<String> = PROVIDER_FILES.iter().map(|s| (*s).to_owned()).collect();
    for dir in dirs {
        let src = dir.join("src");
        let mut files = rust_files(&src);
        files.retain(|f| !OPTIONAL_FILES.contains(&f.as_str()));
        assert_eq!(
            files,
            expected,
            "{}: a provider's src/ holds exactly these files (no subfolders)",
            src.display()
        );
        let subdirs: Vec<_> = std::fs::read_dir(&src)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.path())
            .collect();
        assert!(subdirs.is_empty(), "{}: {subdirs:?}", src.display());
    }
}

/// The module path of a source file under `src`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        format!("crate::{}", parts.join("::"))
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments, string contents and unit tests.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The inline modules (`mod name { … }`) of a file's code: byte range and
/// name, so that `super::` inside one is read from there.
fn inline_modules(code: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("mod ") {
        let at = from + i;
        from = at + 4;
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + 4..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = rest[name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0;
        for (j, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((open, open + j, name.clone()));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Every path the code names from `crate::` or `super::` (groups in `use`
/// statements expanded), as segments relative to the crate root.
fn paths(code: &str, module: &str, modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let file_module: Vec<String> = module.split("::").skip(1).map(str::to_owned).collect();
    let inline = inline_modules(code);
    let mut at = 0;
    while at < code.len() {
        let tail = &code[at..];
        let boundary = at == 0 || !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let (base, after) = if boundary && tail.starts_with("crate::") {
            (Vec::new(), &tail["crate::".len()..])
        } else if boundary && tail.starts_with("super::") {
            let mut base = file_module.clone();
            base.extend(
                inline
                    .iter()
                    .filter(|(a, b, _)| *a < at && at < *b)
                    .map(|(_, _, n)| n.clone()),
            );
            let mut t = tail;
            while let Some(r) = t.strip_prefix("super::") {
                base.pop();
                t = r;
            }
            (base, t)
        } else if boundary
            && !code[..at].ends_with(':')
            && let Some((here, after)) = child_path(tail, &file_module, &inline, at, modules)
        {
            // `child::…` or `self::child::…`: a module of this one.
            (here, after)
        } else {
            at += tail.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        expand(base, after, &mut out);
        at = (code.len() - after.len()).max(at + 1);
    }
    out
}

/// `tail` starts with a path to a child module of the module at `at`
/// (`child::` or `self::child::`): that module's own path and the text
/// after `self::`.
fn child_path<'a>(
    tail: &'a str,
    file_module: &[String],
    inline: &[(usize, usize, String)],
    at: usize,
    modules: &BTreeSet<String>,
) -> Option<(Vec<String>, &'a str)> {
    let t = tail.strip_prefix("self::").unwrap_or(tail);
    let ident: String = t
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() || !t[ident.len()..].starts_with("::") {
        return None;
    }
    let mut here = file_module.to_vec();
    here.extend(
        inline
            .iter()
            .filter(|(a, b, _)| *a < at && at < *b)
            .map(|(_, _, n)| n.clone()),
    );
    let mut child = here.clone();
    child.push(ident);
    modules
        .contains(&format!("crate::{}", child.join("::")))
        .then_some((here, t))
}

/// The code without its `pub use …;` statements: re-exports are a
/// module's public facade, not imports of its own.
fn without_reexports(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = rest.find("pub use ") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').map_or(rest.len(), |e| i + e + 1);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Reads `a::b::{c, d::e}` after a prefix into full paths.
fn expand(base: Vec<String>, text: &str, out: &mut Vec<Vec<String>>) {
    let mut path = base;
    let mut t = text;
    loop {
        let t2 = t.trim_start();
        if let Some(group) = t2.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let inner = &group[..end];
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let item = inner[start..j].trim();
                        if !item.is_empty() {
                            expand(path.clone(), item, out);
                        }
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let ident: String = t2
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() || ident == "self" {
            out.push(path);
            return;
        }
        path.push(ident.clone());
        let after = &t2[ident.len()..];
        match after.strip_prefix("::") {
            Some(r) => t = r,
            None => {
                out.push(path);
                return;
            }
        }
    }
}

/// The module graph of the crate whose sources are in `src`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    all_files(src, &mut files);
    // A binary's `main.rs` beside `lib.rs` is another crate (it uses the
    // library by name, not through `crate::`).
    if src.join("lib.rs").is_file() {
        files.retain(|f| f != &src.join("main.rs"));
    }
    let texts: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                module_of(src, f),
                code(&std::fs::read_to_string(f).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    // Items re-exported at the root (`pub use x::{A, B}`) belong to `x`.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    if let Some(root_code) = texts.get("crate") {
        for stmt in root_code.split(';') {
            let Some(i) = stmt.find("pub use ") else {
                continue;
            };
            let mut found = Vec::new();
            expand(Vec::new(), &stmt[i + "pub use ".len()..], &mut found);
            for p in found {
                if p.len() >= 2 && modules.contains(&format!("crate::{}", p[0])) {
                    reexports.insert(p[p.len() - 1].clone(), format!("crate::{}", p[0]));
                }
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &texts {
        // `pub use x::…` re-exports are a facade, not code of their own:
        // at the root they resolve names (above); they are no edges.
        for p in paths(&without_reexports(text), module, &modules) {
            let target = (1..=p.len())
                .rev()
                .map(|n| format!("crate::{}", p[..n].join("::")))
                .find(|m| modules.contains(m))
                .or_else(|| p.first().and_then(|first| reexports.get(first).cloned()))
                .unwrap_or_else(|| "crate".to_owned());
            if &target != module {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
        edges.entry(module.clone()).or_default();
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                scc.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn assert_acyclic(crate_src: &str) {
    let edges = graph(&root().join(crate_src));
    assert!(edges.len() > 1, "{crate_src}: no modules found");
    let found = cycles(&edges);
    let described: Vec<String> = found
        .iter()
        .map(|scc| {
            let members: BTreeSet<&String> = scc.iter().collect();
            let inside: Vec<String> = scc
                .iter()
                .flat_map(|m| {
                    edges[m]
                        .iter()
                        .filter(|t| members.contains(t))
                        .map(move |t| format!("{m} -> {t}"))
                })
                .collect();
            inside.join(", ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "{crate_src}: modules that import each other: {described:#?}"
    );
}

#[test]
fn core_has_no_import_cycle() {
    assert_acyclic("core/src");
}

#[test]
fn the_host_has_no_import_cycle() {
    assert_acyclic("host/src");
}

#[test]
fn the_store_has_no_import_cycle() {
    assert_acyclic("host/store/src");
}

/// The checker itself finds a cycle, through a group import and through
/// `super::`, and does not take a comment or a string for an import.
#[test]
fn the_checker_sees_cycles_and_ignores_comments() {
    let dir = std::env::temp_dir().join(format!("payops-cycles-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod a;\npub mod b;\npub use a::Thing;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a.rs"),
        "use crate::{b::c::{self, Other}};\npub struct Thing;\n",
    )
    .unwrap();
    std::fs::write(src.join("b/mod.rs"), "pub mod c;\n").unwrap();
    std::fs::write(
        src.join("b/c.rs"),
        "pub struct Other;\nfn f() -> crate::Thing { super::super::a::Thing }\n",
    )
    .unwrap();
    let edges = graph(&src);
    assert_eq!(
        cycles(&edges),
        vec![vec!["crate::a".to_owned(), "crate::b::c".to_owned()]]
    );
    std::fs::write(
        src.join("b/c.rs"),
        "pub struct Other;\n/// [`crate::a::Thing`]\nfn f() -> &'static str { \"crate::a\" }\n",
    )
    .unwrap();
    assert!(cycles(&graph(&src)).is_empty());
    // The root's own code using a child that uses the root's own item.
    std::fs::write(
        src.join("lib.rs"),
        "pub mod a;\npub mod b;\npub struct Root;\nfn g() { let _ = a::Thing; }\n",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "pub struct Thing(crate::Root);\n").unwrap();
    assert_eq!(
        cycles(&graph(&src)),
        vec![vec!["crate".to_owned(), "crate::a".to_owned()]]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
