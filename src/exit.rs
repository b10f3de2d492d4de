//! Exit codes of `run`, in the monitoring-plugin convention, and of usage errors.

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
/// The run could not finish as asked (monitoring plugins' UNKNOWN).
pub const UNKNOWN: u8 = 3;
/// Stopped by the operator, or an action was not approved.
pub const STOPPED: u8 = 4;
/// Command-line usage errors (sysexits' EX_USAGE).
pub const USAGE: u8 = 64;
