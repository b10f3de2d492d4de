//! `runbook completions` and `runbook man`: generated here, in every test run, so CI proves
//! the scripts and the page that the README tells users to install. The bash script is run by
//! bash, the page by groff (which `.ci/run` installs).

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use crate::common::Test;

/// What `command` prints given `input` on stdin; it must be installed (bash, and groff, which
/// `.ci/run` installs).
fn piped(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("run {command:?}: {error}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("feed its input");
    child.wait_with_output().expect("it ends")
}

/// The completion script for `shell`.
fn script(shell: &str) -> String {
    Test::new()
        .args(["completions", shell])
        .stdout_any("the generated script, checked by the caller")
        .run()
        .stdout
}

/// What the bash script completes for `line` (the word under the cursor last), one a line.
fn bash_completes(line: &[&str]) -> Vec<String> {
    let words = line
        .iter()
        .map(|word| format!("'{word}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source /dev/stdin\nCOMP_WORDS=({words})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n_runbook runbook \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        line.len() - 1
    );
    let output = piped(
        Command::new("bash").args(["--norc", "-c", &program]),
        &script("bash"),
    );
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "bash: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_bash_script_defines_its_function_and_names_the_commands_and_flags() {
    let script = script("bash");
    assert!(script.contains("_runbook() {"), "{script}");
    assert!(
        script.contains("complete -F _runbook -o nosort -o bashdefault -o default runbook"),
        "{script}"
    );
    for word in [
        "run",
        "validate",
        "list",
        "show",
        "schema",
        "completions",
        "man",
        "--target",
    ] {
        assert!(script.contains(word), "{word}: {script}");
    }
}

#[test]
fn the_bash_script_completes_commands_and_run_flags() {
    assert_eq!(bash_completes(&["runbook", "va"]), ["validate"]);
    assert_eq!(
        bash_completes(&["runbook", "run", "--targ"]),
        ["--target", "--targets"]
    );
    assert_eq!(bash_completes(&["runbook", "completions", "z"]), ["zsh"]);
}

#[test]
fn the_zsh_and_fish_scripts_name_the_commands_and_flags() {
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef runbook\n"), "{zsh}");
    assert!(zsh.contains("'*--target=[Run on this target too"), "{zsh}");
    let fish = script("fish");
    assert!(
        fish.contains("complete -c runbook -n \"__fish_runbook_needs_command\" -f -a \"run\""),
        "{fish}"
    );
    assert!(
        fish.contains("complete -c runbook -n \"__fish_runbook_using_subcommand run\" -l target"),
        "{fish}"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    Test::new()
        .args(["completions", "tcsh"])
        .status(64)
        .stderr_any("clap's list of the possible values")
        .run();
}

/// The manual page's roff.
fn page() -> String {
    Test::new()
        .args(["man"])
        .stdout_any("the page, checked by the caller")
        .run()
        .stdout
}

#[test]
fn the_man_page_has_its_sections_and_the_run_options() {
    let page = page();
    let sections: Vec<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix(".SH "))
        .collect();
    assert_eq!(
        sections,
        [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "COMMANDS",
            "\"RUN OPTIONS\"",
            "\"VALIDATE OPTIONS\"",
            "\"SHOW OPTIONS\"",
            "\"HISTORY OPTIONS\"",
            "\"COMPLETIONS OPTIONS\"",
            "\"EXIT STATUS\"",
            "VERSION",
        ]
    );
    assert!(page.contains("\n.TH runbook 1 "), "{page}");
    for option in [
        "\\fB\\-\\-target\\fR",
        "\\fB\\-\\-dry\\-run\\fR",
        "\\fB\\-\\-nagios\\fR",
    ] {
        assert!(page.contains(option), "{option}: {page}");
    }
    assert!(page.contains("\n\\fBrunbook run\\fR\n"), "{page}");
}

#[test]
fn the_man_page_is_roff_that_groff_reads_without_a_warning() {
    let output = piped(
        Command::new("groff").args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"]),
        &page(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "groff: {stderr}"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("NAME\n       runbook - "), "{text}");
    assert!(text.contains("RUN OPTIONS\n"), "{text}");
    assert!(text.contains("--var <NAME=VALUE>"), "{text}");
}
