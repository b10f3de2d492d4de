//! Fuzzing the front end (source → loader → validate → diagnostics) with proptest: whatever
//! the text, nothing panics — not even in a helper thread whose panic would be swallowed.

use std::fs;
use std::path::PathBuf;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use runbook::load::Source;
use runbook::load::load;
use runbook::validate::validate;

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Counts every panic in the library or its dependencies (proptest catches the ones it sees; a
/// helper thread's may be swallowed).
///
/// The hook is process-wide and the other integration tests share this process: a panic raised
/// in `tests/` (another test's failing assertion) or on another test's own thread is theirs,
/// not the front end's, and is not counted.
fn count_panics() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_tests = info
                .location()
                .is_some_and(|location| location.file().starts_with("tests/"));
            let thread = std::thread::current();
            let other_test = thread
                .name()
                .is_some_and(|name| name != "main" && !name.starts_with("fuzz::"));
            if !in_tests && !other_test {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

/// Loads, validates and renders every diagnostic; panics (through the hook) are failures.
fn front_end(source: Source) {
    count_panics();
    let shown = source.clone();
    let (document, diagnostics) = load(source);
    for diagnostic in &diagnostics {
        let _ = diagnostic.render(&shown);
    }
    if let Some(document) = document {
        let (_playbook, diagnostics) = validate(&document);
        for diagnostic in &diagnostics {
            let _ = diagnostic.render(&shown);
        }
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic somewhere above");
}

fn text(input: &str) {
    front_end(Source::text("fuzz.yaml", input));
}

/// The seed inputs: tests/fuzz-corpus/*.yaml and the built-in playbooks.
fn corpus() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    for dir in ["tests/fuzz-corpus", "playbooks"] {
        let mut paths: Vec<PathBuf> = fs::read_dir(root.join(dir))
            .expect("the corpus directory")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            seeds.push(fs::read_to_string(&path).expect("a UTF-8 seed"));
        }
    }
    assert!(seeds.len() >= 3, "seeds found");
    seeds
}

const FRAGMENTS: &[&str] = &[
    "version",
    "version: 1",
    "name",
    "steps",
    "steps:",
    "params",
    "params:",
    "id",
    "id: a",
    "- id: b",
    "check",
    "check: ",
    "SELECT 1 AS x",
    "action",
    "preview",
    "manual",
    "when",
    "when: ",
    "assess",
    "assess:",
    "critical: ",
    "warning: ",
    "ok: ",
    "message: ",
    "requires",
    "requires: {",
    "timeout: ",
    "1s",
    "30m",
    "-1h",
    "max_rows: ",
    "20%",
    "approval: confirm",
    "on_error: abort",
    "transaction: false",
    "type: ",
    "integer",
    "duration",
    "list",
    "default: ",
    "choices: [",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "params.",
    "steps.",
    "facts.",
    "row_count",
    "| safe",
    "| ident",
    "|",
    "|-",
    ">",
    "- ",
    ":",
    ": ",
    ",",
    "[",
    "]",
    "{",
    "}",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    "  ",
    "\t",
    "'",
    "\"",
    "\\",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "? ",
    "---",
    "...",
    "#",
    "é",
    "日本",
    "\u{0}",
    "\u{feff}",
    "\u{202e}",
    "🦀",
    "\r\n",
    "~",
    "null",
    "true",
    "9999999999999999999999",
    "-0",
    ".nan",
];

fn fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..64).prop_map(|parts| parts.concat())
}

/// A seed with a run of fragments spliced in and a range deleted, at char boundaries.
fn mutated() -> impl Strategy<Value = String> {
    let seeds = corpus();
    (
        prop::sample::select(seeds),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        0usize..40,
        fragments(),
    )
        .prop_map(|(seed, at, cut, length, insert)| {
            let boundaries: Vec<usize> = seed
                .char_indices()
                .map(|(i, _)| i)
                .chain([seed.len()])
                .collect();
            let at = boundaries[at.index(boundaries.len())];
            let cut_start = boundaries[cut.index(boundaries.len())];
            let cut_end = boundaries
                .iter()
                .copied()
                .find(|&b| b >= cut_start + length)
                .unwrap_or(seed.len());
            let mut text = seed.clone();
            text.insert_str(at, &insert);
            let (start, end) = if at <= cut_start {
                (cut_start + insert.len(), cut_end + insert.len())
            } else if at >= cut_end {
                (cut_start, cut_end)
            } else {
                (cut_start, cut_start)
            };
            text.replace_range(start..end, "");
            text
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("fuzz.yaml");
        fs::write(&path, &bytes).expect("write the input");
        match Source::read(&path, "fuzz.yaml") {
            Ok(source) => front_end(source),
            Err(error) => drop(error.to_string()),
        }
        text(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_fragments_never_panic(input in fragments()) {
        text(&input);
    }

    #[test]
    fn mutated_playbooks_never_panic(input in mutated()) {
        text(&input);
    }
}

#[test]
fn the_corpus_never_panics() {
    for seed in corpus() {
        text(&seed);
    }
}

#[test]
fn deep_nesting_never_panics() {
    for depth in [64, 1_000, 20_000] {
        text(&"[".repeat(depth));
        text(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)));
        // Nested block sequences once cost quadratic time in `Spans::of` (66 s at depth 20,000);
        // positions are now recorded only down to a fixed depth.
        text(&"- ".repeat(depth));
        text(&format!(
            "steps:\n  - id: a\n    check: {}",
            "(".repeat(depth)
        ));
        text(&format!(
            "version: 1\nsteps:\n  - id: a\n    check: SELECT 1 AS x\n    assess:\n      - critical: {}x{}\n",
            "(".repeat(depth),
            ")".repeat(depth)
        ));
    }
}
