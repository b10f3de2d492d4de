//! Colour for the statuses a person reads on standard error, decided once by the command line
//! (`--color`, `NO_COLOR`, whether stderr is a terminal) and handed down as a value.
//!
//! Only ever applied after the text was made safe (`terminal_text`): the escape codes added
//! here are the only ones that reach the terminal. Files and standard output never see them.

use super::record::Status;

/// Whether statuses are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Text as it is: off a terminal, with `NO_COLOR`, or `--color never`.
    Plain,
    /// ANSI colours (SGR codes).
    Colour,
}

impl Paint {
    /// `text` in the colour of `status` (OK green, WARNING yellow, CRITICAL red, UNKNOWN bold
    /// magenta, STOPPED bold red, MANUAL cyan, SKIPPED and NOT RUN dim).
    pub fn status(self, status: Status, text: &str) -> String {
        match self {
            Paint::Plain => text.to_owned(),
            Paint::Colour => format!("\x1b[{}m{text}\x1b[0m", sgr(status)),
        }
    }

    /// The status's label, coloured.
    pub fn label(self, status: Status) -> String {
        self.status(status, status.label())
    }
}

/// The SGR parameters of a status's colour.
fn sgr(status: Status) -> &'static str {
    match status {
        Status::Ok => "32",
        Status::Warning => "33",
        Status::Critical => "31",
        Status::Unknown => "1;35",
        Status::Stopped => "1;31",
        Status::Manual => "36",
        Status::Skipped | Status::NotRun => "2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_the_text_as_it_is() {
        assert_eq!(Paint::Plain.label(Status::Critical), "CRITICAL");
    }

    #[test]
    fn colour_wraps_the_label_in_its_status_colour_and_resets() {
        assert_eq!(Paint::Colour.label(Status::Ok), "\x1b[32mOK\x1b[0m");
        assert_eq!(
            Paint::Colour.label(Status::Warning),
            "\x1b[33mWARNING\x1b[0m"
        );
        assert_eq!(
            Paint::Colour.label(Status::Critical),
            "\x1b[31mCRITICAL\x1b[0m"
        );
        assert_eq!(
            Paint::Colour.label(Status::Unknown),
            "\x1b[1;35mUNKNOWN\x1b[0m"
        );
    }
}
