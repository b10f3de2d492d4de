//! The offline commands: `validate`, `list`, `show`, `schema`.

use std::io::Write as _;

use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::load;
use crate::load::raw::RawPlaybook;
use crate::load::{Origin, Source, SourceError};
use crate::playbook::Playbook;
use crate::show;
use crate::terminal_text::for_terminal_line;
use crate::validate::validate as check;

/// Reads and checks one playbook; diagnostics are rendered against its source.
pub struct Checked {
    pub source: Source,
    pub playbook: Option<Playbook>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn of(source: Source) -> Checked {
        let (document, mut diagnostics) = load::load(source.clone());
        let playbook = document.and_then(|document| {
            let (playbook, more) = check(&document);
            diagnostics.extend(more);
            playbook
        });
        diagnostics.sort_by_key(|d| d.location.map(|l| (l.line, l.column)));
        // A step or param that did not deserialize was reported by the loader and left out.
        let playbook = playbook.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
        Checked {
            source,
            playbook,
            diagnostics,
        }
    }

    pub fn render_diagnostics(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.source))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn validate(arguments: &[String]) -> u8 {
    // Each playbook is checked on its own thread; results are printed in the order given.
    let results: Vec<Result<Checked, SourceError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = arguments
            .iter()
            .map(|argument| scope.spawn(move || Source::locate(argument).map(Checked::of)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut failed = 0;
    let mut misnamed = false;
    for result in results {
        let checked = match result {
            Ok(checked) => checked,
            Err(error) => {
                eprintln!("error: {}", for_terminal_line(&error.to_string()));
                misnamed |= error.is_usage();
                failed += 1;
                continue;
            }
        };
        if !checked.diagnostics.is_empty() {
            eprintln!("{}", checked.render_diagnostics());
        }
        let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = checked.diagnostics.len() - errors;
        match &checked.playbook {
            Some(playbook) => println!(
                "{}: ok ({}{})",
                checked.source.name,
                plural(playbook.steps.len(), "step", ""),
                plural(warnings, "warning", ", ")
            ),
            None => {
                failed += 1;
                eprintln!(
                    "{}: invalid ({}{})",
                    checked.source.name,
                    plural(errors.max(1), "error", ""),
                    plural(warnings, "warning", ", ")
                );
            }
        }
    }
    // An argument that names no playbook is the command's mistake, and says so over the
    // playbooks' own.
    if misnamed {
        exit::USAGE
    } else {
        u8::from(failed > 0)
    }
}

/// "3 errors" with a prefix, or nothing for zero.
fn plural(count: usize, noun: &str, prefix: &str) -> String {
    match count {
        0 => String::new(),
        1 => format!("{prefix}1 {noun}"),
        n => format!("{prefix}{n} {noun}s"),
    }
}

/// The playbooks found, one a line; titles are shown with their control characters escaped.
pub fn list() -> u8 {
    let mut rows = Vec::new();
    let mut failed = false;
    for found in Source::all() {
        match found {
            Ok(source) => {
                let origin = match &source.origin {
                    Origin::File(path) => path.display().to_string(),
                    Origin::BuiltIn => "built-in".to_owned(),
                };
                let checked = Checked::of(source);
                match checked.playbook {
                    Some(playbook) => rows.push([
                        playbook.name,
                        for_terminal_line(&origin).into_owned(),
                        playbook.steps.len().to_string(),
                        for_terminal_line(&playbook.title).into_owned(),
                    ]),
                    None => rows.push([
                        checked.source.stem.clone(),
                        origin,
                        "-".to_owned(),
                        "(invalid: run `runbook validate`)".to_owned(),
                    ]),
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                failed = true;
            }
        }
    }
    let header = ["NAME", "SOURCE", "STEPS", "TITLE"].map(str::to_owned);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(
            out,
            "{:w0$}  {:w1$}  {:>w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    u8::from(failed)
}

pub fn show(argument: &str) -> u8 {
    let source = match Source::locate(argument) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("error: {}", for_terminal_line(&error.to_string()));
            return if error.is_usage() { exit::USAGE } else { 1 };
        }
    };
    let checked = Checked::of(source);
    if !checked.diagnostics.is_empty() {
        eprintln!("{}", checked.render_diagnostics());
    }
    match &checked.playbook {
        Some(playbook) => {
            print!("{}", show::render(playbook));
            0
        }
        None => 1,
    }
}

/// The JSON Schema of the playbook format, generated from the raw types.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RawPlaybook);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

pub fn schema() -> u8 {
    print!("{}", schema_json());
    0
}
