//! Embeds every playbook in `playbooks/` into the binary, so `runbook run daily-monitoring`
//! works from any directory after `cargo install`.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    println!("cargo::rerun-if-changed=playbooks");
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("playbooks");
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map(|read| read.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.retain(|path| path.extension().is_some_and(|ext| ext == "yaml"));
    entries.sort();
    let mut code = String::from(
        "/// Playbooks built into the binary: (file stem, text).\npub static BUILT_IN: &[(&str, &str)] = &[\n",
    );
    for path in entries {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("playbook names are UTF-8");
        writeln!(
            code,
            "    ({stem:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
