//! Shell-style patterns for `--service GLOB`, as fnmatch(3) reads them: `*`, `?`, `[abc]`,
//! `[a-z]`, `[!x]`, and `\` to take the next character as it is. The pattern matches the whole
//! name. A `[` that is never closed is an ordinary character, as it is for the shell.
//!
//! Matching is the two-cursor walk with one backtrack point (the last `*`), so a hostile pattern
//! such as `*a*a*a*b` costs at most (name length × pattern length) steps, never exponential.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<Token>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This character exactly.
    Char(char),
    /// `?`: any one character.
    Any,
    /// `*`: any run of characters, none included.
    Star,
    /// `[…]`: one character in (or, negated, not in) these ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    /// Reads `pattern`; every text is a pattern (a lone `[` or `\` stands for itself).
    pub fn new(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let token = match chars[i] {
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    Token::Char(chars[i])
                }
                '[' => match class(&chars[i + 1..]) {
                    Some((token, used)) => {
                        i += used;
                        token
                    }
                    None => Token::Char('['),
                },
                c => Token::Char(c),
            };
            tokens.push(token);
            i += 1;
        }
        Glob(tokens)
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let tokens = &self.0;
        let (mut t, mut n) = (0, 0);
        // After the last `*` seen: the token after it and where in the name it took over.
        let mut backtrack: Option<(usize, usize)> = None;
        while n < name.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    backtrack = Some((t + 1, n));
                    t += 1;
                }
                Some(token) if token.takes(name[n]) => {
                    t += 1;
                    n += 1;
                }
                _ => match backtrack {
                    // Let the last `*` take one more character and try again from there.
                    Some((after_star, start)) => {
                        t = after_star;
                        n = start + 1;
                        backtrack = Some((after_star, start + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens[t..].iter().all(|token| *token == Token::Star)
    }
}

impl Token {
    /// Whether this one-character token takes `c`.
    fn takes(&self, c: char) -> bool {
        match self {
            Token::Char(expected) => *expected == c,
            Token::Any => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated
            }
        }
    }
}

/// The class after a `[`: its token and how many characters it used, `]` included; `None`
/// when no `]` closes it. A `]` right after `[` or `[!` is a member, as in fnmatch.
fn class(chars: &[char]) -> Option<(Token, usize)> {
    let negated = matches!(chars.first(), Some('!' | '^'));
    let mut i = usize::from(negated);
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&high)) if high != ']' => {
                ranges.push((c, high));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).matches(name)
    }

    /// Each `(pattern, name, whether it matches)`.
    fn check(cases: &[(&str, &str, bool)]) {
        for (pattern, name, expected) in cases {
            assert_eq!(matches(pattern, name), *expected, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn stars_and_question_marks_match_the_whole_name() {
        check(&[
            ("prod-*", "prod-1", true),
            ("prod-*", "prod-", true),
            ("prod-*", "prod", false),
            ("prod-*", "xprod-1", false),
            ("*-db", "eu-db", true),
            ("*-db", "eu-db2", false),
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("p?od", "prod", true),
            ("p?od", "pod", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abcbc", true),
            ("a*b*c", "acb", false),
            ("**x", "x", true),
            ("prod", "prod", true),
            ("prod", "Prod", false),
            ("é?", "éé", true),
        ]);
    }

    #[test]
    fn classes_ranges_and_negation() {
        check(&[
            ("db[123]", "db2", true),
            ("db[123]", "db4", false),
            ("db[a-c]", "dbb", true),
            ("db[a-c]", "dbd", false),
            ("db[!x]", "dby", true),
            ("db[!x]", "dbx", false),
            ("db[^x]", "dbx", false),
            ("db[!a-c0-9]", "db5", false),
            ("db[!a-c0-9]", "dbz", true),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("[*?]x", "*x", true),
            ("[*?]x", "ax", false),
        ]);
    }

    #[test]
    fn escapes_and_unclosed_brackets_are_characters() {
        check(&[
            (r"a\*", "a*", true),
            (r"a\*", "ab", false),
            (r"a\?", "a?", true),
            ("a\\", "a\\", true),
            ("db[1", "db[1", true),
            ("db[1", "db1", false),
            ("[", "[", true),
            ("[!", "[!", true),
        ]);
    }

    #[test]
    fn many_stars_do_not_take_exponential_time() {
        let name = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(50));
        let started = std::time::Instant::now();
        assert!(!matches(&pattern, &name));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
