//! TEMPORARY (replaced by the fleet-targets branch).
use std::path::Path;

use super::FleetTarget;
use crate::diagnostic::Diagnostic;
use crate::load::Source;
use crate::target::spec::Environment;

pub struct Inventory {
    pub source: Source,
    pub targets: Vec<FleetTarget>,
}

pub enum InventoryError {
    Read(String),
    Invalid {
        source: Source,
        diagnostics: Vec<Diagnostic>,
    },
}

pub fn from_conninfos(given: &[String], _env: &Environment) -> Vec<FleetTarget> {
    given
        .iter()
        .map(|t| FleetTarget {
            name: t.clone(),
            conninfo: t.clone(),
            vars: Vec::new(),
        })
        .collect()
}

pub fn from_services(glob: &str, _env: &Environment) -> Result<Vec<FleetTarget>, String> {
    Err(format!("{glob}"))
}

pub fn inventory(path: &Path) -> Result<Inventory, InventoryError> {
    Err(InventoryError::Read(path.display().to_string()))
}

pub fn check_unique(_targets: &[FleetTarget]) -> Result<(), String> {
    Ok(())
}

pub fn file_stems(targets: &[FleetTarget]) -> Vec<String> {
    targets.iter().map(|t| t.name.replace('/', "-")).collect()
}
