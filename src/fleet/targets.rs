//! The targets of a fleet run, from the three places that name them: `--target CONNINFO`
//! (repeatable), an inventory (`--targets FILE`, see `inventory`) and the service file
//! (`--service GLOB`, see `glob`); the inventory's schema is generated from `raw`.
//!
//! A target's name is what every output calls it, so it is chosen to be recognisable and
//! never secret: a service's name, else the server as the resolved spec names it
//! (`user@host:port/db`, built from the parsed fields, so no password), else only its position.
//! Names must be unique across the whole fleet ([`check_unique`]); the report files are named
//! after them, made safe for a file system and unique again ([`file_stems`]).

mod glob;
mod inventory;
mod raw;

use std::collections::HashSet;

pub use inventory::{Inventory, InventoryError, inventory};
pub use raw::{RawTarget, schema_json};

use super::{COMBINED, FleetTarget};
use crate::outputs::file_safe;
use crate::target::spec::{self, Environment, SpecError, service};
use glob::Glob;

/// The targets of `--target T…`, in the order given. A spec that does not resolve is still a
/// target (its run will say why it cannot connect) named `target-<i>` (1-based): its text may
/// hold a password.
pub fn from_conninfos(given: &[String], env: &Environment) -> Vec<FleetTarget> {
    given
        .iter()
        .enumerate()
        .map(|(index, conninfo)| {
            let name = spec::service_only(conninfo)
                .or_else(|| {
                    spec::resolve(Some(conninfo), env)
                        .ok()
                        .map(|spec| spec.to_string())
                })
                .unwrap_or_else(|| format!("target-{}", index + 1));
            FleetTarget {
                name: printable(&name),
                conninfo: conninfo.clone(),
                vars: Vec::new(),
            }
        })
        .collect()
}

/// The targets of `--service GLOB`: every service of the service files whose whole name
/// matches, in file order, each named after its service. No match is an error naming the glob
/// and the files looked in (a misspelt glob would otherwise check nothing and say OK).
pub fn from_services(pattern: &str, env: &Environment) -> Result<Vec<FleetTarget>, String> {
    let names = service::names(env).map_err(|error| error.to_string())?;
    let glob = Glob::new(pattern);
    let targets: Vec<FleetTarget> = names
        .iter()
        .filter(|name| glob.matches(name))
        .map(|name| FleetTarget {
            name: printable(name),
            conninfo: spec::service_conninfo(name),
            vars: Vec::new(),
        })
        .collect();
    if targets.is_empty() {
        return Err(SpecError::NoServiceMatches {
            glob: pattern.to_owned(),
            found: names,
            looked: service::looked(env),
        }
        .to_string());
    }
    Ok(targets)
}

/// `name` with its control characters escaped (`\u{1b}`): a name is in every output, the
/// terminal's and the reports' alike, and a service's section or a resolved user name can
/// hold an escape sequence, which an inventory's name may not.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_control() {
            true => c.escape_debug().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// Checks that no two targets of the combined fleet share a name: a name identifies a target
/// in every output and names its report.
pub fn check_unique(targets: &[FleetTarget]) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut twice: Vec<&str> = Vec::new();
    for target in targets {
        if !seen.insert(target.name.as_str()) && !twice.contains(&target.name.as_str()) {
            twice.push(&target.name);
        }
    }
    if twice.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = twice.iter().map(|name| format!("`{name}`")).collect();
    let (noun, verb) = match names.len() {
        1 => ("target name", "is"),
        _ => ("target names", "are"),
    };
    Err(format!(
        "{noun} {} {verb} given to more than one target (by `--target`, `--targets` or \
         `--service`); name each target once, for instance in an inventory (`--targets FILE`, \
         with `name:` for each)",
        names.join(", ")
    ))
}

/// The most bytes of a report file's stem: a file name has at most 255, and the stem still
/// takes a clash's `-N`, the journal's `.journal.jsonl` and the `.<name>.tmp-<pid>` an atomic
/// write goes through.
const STEM_BYTES: usize = 200;

/// The stem of a target's report file: its name with every character but `[A-Za-z0-9._-]`
/// made `-` (as the reports of a single run are named), cut to [`STEM_BYTES`]; `target` for an
/// empty name, and dashes for a name of dots alone, which would name a directory.
pub fn file_stem(name: &str) -> String {
    let mut stem = file_safe(name);
    // `file_safe` leaves ASCII alone: every byte is a character boundary.
    stem.truncate(STEM_BYTES);
    if stem.is_empty() {
        "target".to_owned()
    } else if stem.chars().all(|c| c == '.') {
        "-".repeat(stem.len())
    } else {
        stem
    }
}

/// The file stems of `targets`, in order, unique even where names differ only by what
/// [`file_stem`] replaces or by case (as a case-insensitive file system sees them), and never
/// the combined report's ([`COMBINED`]), which is written in the same directory last: a later
/// clash gets `-2`, `-3`, ….
pub fn file_stems(targets: &[FleetTarget]) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::from([COMBINED.to_lowercase()]);
    targets
        .iter()
        .map(|target| {
            let stem = file_stem(&target.name);
            let mut candidate = stem.clone();
            let mut suffix = 1;
            while !taken.insert(candidate.to_lowercase()) {
                suffix += 1;
                candidate = format!("{stem}-{suffix}");
            }
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests;
