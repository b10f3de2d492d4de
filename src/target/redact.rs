//! The last guard on texts that leave the target: the known password replaced by `***`.
//!
//! The target's name is built from the parsed spec and the driver never sees the connection
//! string, so no text is expected to hold the password; this only scrubs what a server or the
//! driver might echo. A short password is left alone: replacing every `a` of a message with
//! `***` for a one-character password would garble the message and, by its pattern, tell the
//! password.

/// Passwords shorter than this are not scrubbed (see the module note).
const SCRUBBED_FROM: usize = 4;

/// `text` with every secret replaced by `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if secret.chars().count() >= SCRUBBED_FROM {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_passwords_are_scrubbed_and_short_ones_leave_the_text_alone() {
        let secrets = vec!["s:cret".to_owned()];
        assert_eq!(redact("failed for s:cret", &secrets), "failed for ***");
        let one = vec!["a".to_owned()];
        let message = "password authentication failed for user \"alice\"";
        assert_eq!(redact(message, &one), message);
    }
}
