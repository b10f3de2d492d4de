//! `completions` and `man`: the shell completion scripts and the manual page, generated from
//! the clap definition in `cli`, so neither can drift from the flags `--help` shows.
//!
//! Printed by a command, not written at build time: an install step (a package, a dotfile)
//! runs the binary it installs, and a test generates exactly what a user would.

use std::io::Write as _;

use clap::CommandFactory as _;
use roff::{Roff, bold, roman};

use crate::cli::Cli;
use crate::run::say;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "runbook", &mut script);
    print_out(&script)
}

/// Prints the manual page, runbook(1), on stdout.
pub fn man() -> u8 {
    match page() {
        Ok(page) => print_out(&page),
        Err(error) => {
            say(&format!("error: cannot render the manual page: {error}"));
            1
        }
    }
}

/// One page for the whole program, as `man runbook` finds one: clap_mangen's name, synopsis
/// and description of `runbook`, then its commands (named `runbook run`, not clap_mangen's
/// `runbook-run(1)`, a page that does not exist), a section of options for each command
/// (`RUN OPTIONS`, ...) and the exit statuses.
fn page() -> std::io::Result<Vec<u8>> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        commands.control("TP", []);
        commands.text([bold(format!("runbook {}", sub.get_name()))]);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            for paragraph in about.to_string().split("\n\n") {
                commands.text([roman(paragraph.replace('\n', " "))]);
                commands.control("sp", []);
            }
        }
    }
    commands.to_writer(&mut page)?;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        if sub.get_arguments().all(|arg| arg.is_hide_set()) {
            continue;
        }
        let heading = format!("{} options", sub.get_name());
        let sub = sub
            .clone()
            .disable_help_flag(true)
            .mut_args(|arg| arg.help_heading(heading.clone()));
        clap_mangen::Man::new(sub).render_options_section(&mut page)?;
    }
    let mut statuses = Roff::new();
    statuses.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUSES {
        statuses.control("TP", []);
        statuses.text([bold(*code)]);
        statuses.text([roman(*meaning)]);
    }
    statuses.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// The exit statuses, as the README's table says them.
const EXIT_STATUSES: &[(&str, &str)] = &[
    (
        "0",
        "OK: every step passed (validate: every playbook is valid).",
    ),
    ("1", "WARNING (validate, show: a playbook is invalid)."),
    ("2", "CRITICAL."),
    (
        "3",
        "UNKNOWN: the run could not finish as asked (an invalid playbook, no connection, a step that failed, a report not written).",
    ),
    ("4", "Stopped by the operator, or an action not approved."),
    (
        "64",
        "A usage error: a bad flag, no such playbook, an unknown --only id, a --var that is unknown or invalid, a required param not set. With --nagios, 3.",
    ),
];

/// Writes `bytes` to stdout: 0, or 1 when stdout is gone.
fn print_out(bytes: &[u8]) -> u8 {
    let mut out = std::io::stdout().lock();
    u8::from(out.write_all(bytes).and_then(|()| out.flush()).is_err())
}
