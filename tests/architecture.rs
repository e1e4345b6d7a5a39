//! The code's structure, checked: imports only go down. No cycle among the library's modules
//! (`crate::a` naming `crate::b` is an arrow a → b), and none among the files of one folder
//! module (`super::sibling`). A new cycle fails here, naming the modules in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every library source file (the binaries and test files left out), with its module path
/// (`config::display`), its text without comments and without its test module.
fn sources() -> Vec<(Vec<String>, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "bin") {
                continue;
            }
            pending.extend(
                std::fs::read_dir(&path)
                    .expect("readable")
                    .map(|entry| entry.expect("an entry").path()),
            );
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && path.file_name().is_none_or(|name| name != "tests.rs")
        {
            files.push(path);
        }
    }
    files
        .into_iter()
        .map(|path| (module_of(&root, &path), code_of(&path)))
        .collect()
}

fn module_of(root: &Path, path: &Path) -> Vec<String> {
    let relative = path.strip_prefix(root).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        parts.pop();
    }
    parts
}

/// The file's code: comment lines and its `#[cfg(test)]` part dropped.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source");
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow each `prefix` in `code`: `crate::a::b` gives `a`, and
/// `crate::{a, b::c}` gives `a` and `b`.
fn named_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(first_word(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            names.insert(first_word(&item));
        } else {
            names.insert(first_word(rest));
        }
    }
    names.remove("");
    names
}

fn first_word(text: &str) -> String {
    text.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The cycles of `graph`, each as the modules of one strongly connected component.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Reachability closure: small graphs, so simple is enough.
    let reaches = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&String> = graph.get(from).into_iter().flatten().collect();
        while let Some(next) = pending.pop() {
            if seen.insert(next.clone()) {
                pending.extend(graph.get(next).into_iter().flatten());
            }
        }
        seen
    };
    let closure: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|node| (node, reaches(node))).collect();
    let mut found: Vec<Vec<String>> = Vec::new();
    for (node, reach) in &closure {
        if !reach.contains(*node) {
            continue;
        }
        let mut component: Vec<String> = reach
            .iter()
            .filter(|other| closure.get(other).is_some_and(|back| back.contains(*node)))
            .cloned()
            .collect();
        component.sort();
        if !found.contains(&component) {
            found.push(component);
        }
    }
    found
}

/// The arrows of the library: between top-level modules (`crate::x`), and between sibling files
/// of each folder module (`super::x`, `crate::folder::x`).
fn graphs() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let sources = sources();
    let top: BTreeSet<String> = sources
        .iter()
        .filter_map(|(module, _)| module.first().cloned())
        .collect();
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, code) in &sources {
        let Some(own) = module.first() else {
            continue;
        };
        let crate_names = named_after(code, "crate::");
        let arrows = graphs
            .entry("crate".to_owned())
            .or_default()
            .entry(own.clone())
            .or_default();
        arrows.extend(
            crate_names
                .iter()
                .filter(|name| top.contains(*name) && *name != own)
                .cloned(),
        );
        // Sibling files of a folder module: `super::x` from a file of the folder, and
        // `crate::folder::x` alike.
        if module.len() == 2 {
            let folder = &module[0];
            let siblings: BTreeSet<String> = sources
                .iter()
                .filter(|(other, _)| other.len() == 2 && other[0] == *folder)
                .map(|(other, _)| other[1].clone())
                .collect();
            let mut named = named_after(code, "super::");
            named.extend(named_after(code, &format!("crate::{folder}::")));
            let arrows = graphs
                .entry(folder.clone())
                .or_default()
                .entry(module[1].clone())
                .or_default();
            arrows.extend(
                named
                    .into_iter()
                    .filter(|name| siblings.contains(name) && *name != module[1]),
            );
        }
    }
    graphs
}

#[test]
fn imports_only_go_down_no_module_is_in_a_cycle() {
    let graphs = graphs();
    assert!(
        graphs["crate"].contains_key("pipeline") && graphs["crate"]["pipeline"].contains("scan"),
        "the graph was read: {:?}",
        graphs["crate"]
    );
    let mut found = Vec::new();
    for (room, graph) in &graphs {
        for cycle in cycles(graph) {
            found.push(format!("{room}: {}", cycle.join(" <-> ")));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other: {found:#?}"
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycles(&graph), [vec!["a", "b", "c"]]);
}

/// docs/ARCHITECTURE.md.
fn architecture() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
        .expect("docs/ARCHITECTURE.md")
}

/// The backticked spans of `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The file of a module path (`pipeline::run` → src/pipeline/run.rs), if there is one.
fn module_file(path: &[&str]) -> Option<std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let joined: std::path::PathBuf = path.iter().collect();
    [
        src.join(&joined).with_extension("rs"),
        src.join(&joined).join("mod.rs"),
    ]
    .into_iter()
    .find(|file| file.is_file())
}

/// Whether `file` defines (or re-exports) `name`.
fn defines(file: &Path, name: &str) -> bool {
    let code = std::fs::read_to_string(file).expect("readable");
    let declared = [
        "fn ", "struct ", "enum ", "const ", "type ", "trait ", "mod ", "static ",
    ]
    .iter()
    .any(|kind| {
        code.match_indices(&format!("{kind}{name}"))
            .any(|(at, found)| {
                code[at + found.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            })
    });
    let reexported = code.lines().any(|line| {
        line.trim_start().starts_with("pub use ")
            && line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == name)
    });
    declared || reexported
}

/// Issue 17: ARCHITECTURE.md drifted (`run::scan_accounts` did not exist, `securityhub` was
/// missing from the modules that call AWS). Kept true here, as rust-analyzer's tidy tests do:
/// every `module::item` it names exists, every library module has its entry in the code map,
/// and the modules it says call AWS are those that do.
#[test]
fn the_architecture_document_names_what_exists() {
    let doc = architecture();
    let missing: Vec<String> = backticked(&doc).into_iter().flat_map(missing_in).collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what does not exist: {missing:#?}"
    );
}

#[test]
fn every_module_has_its_code_map_entry() {
    let doc = architecture();
    let named: BTreeSet<String> = doc
        .split("- **`")
        .skip(1)
        .filter_map(|entry| entry.split('`').next())
        .map(str::to_owned)
        .collect();
    let modules: BTreeSet<String> = sources()
        .into_iter()
        .filter_map(|(module, _)| module.first().cloned())
        .collect();
    let unnamed: Vec<&String> = modules.difference(&named).collect();
    assert!(
        unnamed.is_empty(),
        "modules without a code-map entry: {unnamed:?}"
    );
    let gone: Vec<&String> = named.difference(&modules).collect();
    assert!(gone.is_empty(), "code-map entries of no module: {gone:?}");
}

/// What a backticked `span` of the document names that does not exist, when it is a path
/// (`module::item`, `module::{a, b}`).
fn missing_in(span: &str) -> Vec<String> {
    let path = span.split('(').next().unwrap_or_default();
    let segments: Vec<&str> = path.split("::").collect();
    let is_path = segments.len() >= 2
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_{}, ".contains(c))
        });
    if !is_path {
        return Vec::new();
    }
    let Some((segments, split)) = rooted(&segments) else {
        return Vec::new();
    };
    let file = module_file(&segments[..split]).expect("found by rooted");
    let rest = segments[split..].join("::");
    rest.trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|name| name.trim().split("::").next())
        .filter(|name| !name.is_empty())
        .filter(|name| {
            module_file(&[&segments[..split], &[*name]].concat()).is_none() && !defines(&file, name)
        })
        .map(|name| format!("`{span}`: no `{name}` in {}", file.display()))
        .collect()
}

/// A path from the crate's root, or from one of its folder modules (`run::…` in pipeline's
/// section): the full path, and where its longest module prefix that is a file ends (the
/// rest are items in it).
fn rooted<'s>(segments: &[&'s str]) -> Option<(Vec<&'s str>, usize)> {
    const FOLDERS: [&str; 7] = [
        "pipeline",
        "config",
        "report",
        "scan",
        "remediate",
        "digest",
        "rules",
    ];
    let mut best: Option<(Vec<&str>, usize, usize)> = None;
    for root in std::iter::once(Vec::new()).chain(FOLDERS.iter().map(|folder| vec![*folder])) {
        let depth = root.len();
        let full = [root, segments.to_vec()].concat();
        let Some(split) = (depth + 1..full.len())
            .rev()
            .find(|&split| module_file(&full[..split]).is_some())
        else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(_, _, length)| split - depth > *length)
        {
            best = Some((full, split, split - depth));
        }
    }
    best.map(|(full, split, _)| (full, split))
}

#[test]
fn the_modules_said_to_call_aws_are_those_that_do() {
    let doc = architecture();
    let line = doc
        .lines()
        .find(|line| line.starts_with("- Only `") && line.contains("call AWS"))
        .expect("the invariant that names the modules calling AWS");
    let said: BTreeSet<String> = backticked(line.split("call AWS").next().unwrap_or_default())
        .into_iter()
        .map(str::to_owned)
        .collect();
    // A module calls AWS when its code sends a request (`.send()`): `scan` names a folder,
    // `remediate::apply` one file of it.
    let mut calling = BTreeSet::new();
    for (module, code) in sources() {
        if !code.contains(".send()") {
            continue;
        }
        let whole = module.first().cloned().unwrap_or_default();
        let file = module.join("::");
        calling.insert(if said.contains(&file) { file } else { whole });
    }
    assert_eq!(said, calling, "ARCHITECTURE.md's list against the code");
}

/// The types that derive `Serialize` outside the report module (whose every type is one), with
/// their module.
fn serializable() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (module, code) in sources() {
        if module.first().is_some_and(|first| first == "report") {
            continue;
        }
        let mut derived = false;
        for line in code.lines().map(str::trim) {
            if line.starts_with("#[derive(") {
                derived = line.contains("Serialize");
            } else if let Some(rest) = ["pub struct ", "pub enum "]
                .iter()
                .find_map(|kind| line.strip_prefix(kind))
            {
                if derived {
                    found.push((module.join("::"), first_word(rest)));
                }
                derived = false;
            }
        }
    }
    found
}

#[test]
fn the_architecture_document_lists_every_serializable_type() {
    let doc = architecture();
    let section = doc
        .split("- Serializable types")
        .nth(1)
        .and_then(|rest| rest.split("\n- ").next())
        .expect("the serializable types' paragraph");
    let words: BTreeSet<&str> = section
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    let types = serializable();
    assert!(
        types.iter().any(|(_, name)| name == "AccountState"),
        "the types were read: {types:?}"
    );
    let unlisted: Vec<String> = types
        .into_iter()
        .filter(|(_, name)| !words.contains(name.as_str()))
        .map(|(module, name)| format!("{module}::{name}"))
        .collect();
    assert!(
        unlisted.is_empty(),
        "serializable, and not in ARCHITECTURE.md: {unlisted:?}"
    );
}
