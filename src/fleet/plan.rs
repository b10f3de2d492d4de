//! A fleet run's plan, made before anything connects: the targets gathered (`--target`,
//! `--targets`, `--service`), checked unique, cut to the shard, each with its params' values
//! and its report's file name, and how many may run at once.

use std::path::PathBuf;

use indexmap::IndexMap;

use super::shard::Shard;
use super::{FleetTarget, limits, targets};
use crate::config::{FleetConfig, RunConfig};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::param::{self, ParamValue};
use crate::playbook::Playbook;
use crate::run::early;
use crate::target::spec::Environment;
use crate::terminal_text::for_terminal;

/// The targets of a fleet run, each with its params' values and its report's file name,
/// decided before anything connects.
pub struct Plan {
    pub targets: Vec<Planned>,
    pub shard: Option<Shard>,
    /// At most this many targets run at once.
    pub parallel: usize,
    /// `--max-failures`.
    pub max_failures: Option<usize>,
    /// `--report-dir`: reports there replace the last run's; `None`: a new directory.
    pub report_dir: Option<PathBuf>,
}

pub struct Planned {
    pub target: FleetTarget,
    pub values: IndexMap<String, ParamValue>,
    /// Its report's and journal's file name in the run's directory, without extension.
    pub stem: String,
}

/// Gathers the fleet's targets (`--target`, `--targets`, `--service`, in that order), cuts
/// them to the shard and resolves each one's params (the playbook's defaults, then the
/// inventory's `vars`, then `--var`). Any mistake in any target runs nothing: the exit code
/// of why comes back, the problems printed, an inventory's at `file:line:column`.
pub fn plan(config: &RunConfig, fleet: &FleetConfig, playbook: &Playbook) -> Result<Plan, u8> {
    let env = Environment::current();
    let usage = |error: &str| {
        eprintln!("error: {}", for_terminal(error));
        early(config, &playbook.name, exit::USAGE, error)
    };
    let mut all = targets::from_conninfos(&fleet.targets, &env);
    let mut inventory = None;
    if let Some(path) = &fleet.inventory {
        match targets::inventory(path) {
            Ok(read) => {
                all.extend(read.targets.iter().cloned());
                inventory = Some(read.source);
            }
            Err(error) => {
                eprint!("{}", for_terminal(&error.render()));
                let error = format!("{error}; nothing was run");
                return Err(early(config, &playbook.name, exit::UNKNOWN, &error));
            }
        }
    }
    if let Some(glob) = &fleet.service {
        all.extend(targets::from_services(glob, &env).map_err(|error| usage(&error))?);
    }
    targets::check_unique(&all).map_err(|error| usage(&error))?;
    if let Some(shard) = &fleet.shard {
        all.retain(|target| shard.keeps(&target.name));
    }
    let mut problems = Vec::new();
    let mut errors = Vec::new();
    let mut planned = Vec::new();
    let stems = targets::file_stems(&all);
    for (target, stem) in all.into_iter().zip(stems) {
        for var in &target.vars {
            if let Err(error) = param::check_setting(&playbook.params, &var.name, &var.value) {
                problems.push(Diagnostic::error(
                    format!("target `{}`: {error}", target.name),
                    var.at,
                ));
            }
        }
        let mut vars: Vec<String> = target.vars.iter().map(|var| var.assignment()).collect();
        vars.extend(config.vars.iter().cloned());
        match param::resolve(&playbook.params, &vars) {
            Ok(values) => planned.push(Planned {
                target,
                values,
                stem,
            }),
            Err(found) if problems.is_empty() => errors.extend(
                found
                    .into_iter()
                    .map(|error| format!("target `{}`: {error}", target.name)),
            ),
            Err(_) => {}
        }
    }
    if let (Some(source), false) = (&inventory, problems.is_empty()) {
        for problem in &problems {
            eprintln!("{}", problem.render(source));
        }
        errors.push(format!(
            "`{}` sets vars the playbook does not accept; nothing was run",
            source.name
        ));
    }
    if !errors.is_empty() {
        for error in &errors {
            eprintln!("error: {}", for_terminal(error));
        }
        return Err(early(
            config,
            &playbook.name,
            exit::UNKNOWN,
            &errors.join("; "),
        ));
    }
    // Only when it matters: with fewer targets than `--parallel`, fewer run at once anyway.
    let (bounded, files) = limits::bounded(fleet.parallel);
    let parallel = if bounded < fleet.parallel.min(planned.len()) {
        eprintln!(
            "warning: {bounded} targets at once, not {}: this process may open {files} files \
             (`ulimit -n`), and each running target needs a few",
            fleet.parallel
        );
        bounded
    } else {
        fleet.parallel
    };
    Ok(Plan {
        targets: planned,
        shard: fleet.shard,
        parallel,
        max_failures: fleet.max_failures,
        report_dir: fleet.report_dir.clone(),
    })
}
