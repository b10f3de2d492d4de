//! A strict parser of a monitoring-plugin answer, as the monitoring-plugins development
//! guidelines define it: the first line `<text> | <perfdata>` (split on its first `|`), the
//! text `<name> <STATUS>: <message>` with no `;`, perfdata items separated by one space, each
//! `'label'=value[UOM];[warn];[crit];[min];[max]` — the label quoted (`''` for a quote, no
//! `=`), the value a plain number (no exponent) or `U`, the UOM one the guidelines list, the
//! thresholds ranges (`[@][start:][end]`, start a number or `~`), min and max numbers — then
//! lines of long output, none holding a `|`.

/// A parsed answer.
#[derive(Debug)]
pub struct Answer {
    pub name: String,
    pub status: String,
    pub message: String,
    pub perfdata: Vec<Perf>,
    pub long: Vec<String>,
}

/// One perfdata item.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    pub label: String,
    /// `None` for `U`.
    pub value: Option<f64>,
    pub uom: String,
    pub warn: Option<String>,
    pub crit: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

const STATUSES: &[&str] = &["OK", "WARNING", "CRITICAL", "UNKNOWN"];
const UOMS: &[&str] = &["", "s", "us", "ms", "%", "B", "KB", "MB", "GB", "TB", "c"];

/// Parses `output` (all of stdout), or says what breaks the syntax.
pub fn parse(output: &str) -> Result<Answer, String> {
    let body = output
        .strip_suffix('\n')
        .ok_or("the answer does not end with a line break")?;
    let mut lines = body.split('\n');
    let first = lines.next().unwrap_or_default();
    let (text, perfdata) = match first.split_once('|') {
        Some((text, perfdata)) => {
            let text = text
                .strip_suffix(' ')
                .ok_or("no space before the `|` that starts the perfdata")?;
            let perfdata = perfdata
                .strip_prefix(' ')
                .ok_or("no space after the `|` that starts the perfdata")?;
            (text, Some(perfdata))
        }
        None => (first, None),
    };
    if text.contains(';') {
        return Err(format!("the text holds a `;`: {text:?}"));
    }
    let (head, message) = text
        .split_once(": ")
        .ok_or_else(|| format!("no `<name> <STATUS>: ` in {text:?}"))?;
    let (name, status) = head
        .rsplit_once(' ')
        .ok_or_else(|| format!("no name before the status in {head:?}"))?;
    if name.is_empty() || !STATUSES.contains(&status) {
        return Err(format!("`{head}` is not `<name> <STATUS>`"));
    }
    let perfdata = match perfdata {
        Some(perfdata) => items(perfdata)?,
        None => Vec::new(),
    };
    let long: Vec<String> = lines.map(str::to_owned).collect();
    if let Some(line) = long
        .iter()
        .find(|line| line.contains('|') || line.is_empty())
    {
        return Err(format!(
            "a long-output line is empty or holds a `|`: {line:?}"
        ));
    }
    Ok(Answer {
        name: name.to_owned(),
        status: status.to_owned(),
        message: message.to_owned(),
        perfdata,
        long,
    })
}

fn items(mut rest: &str) -> Result<Vec<Perf>, String> {
    let mut items = Vec::new();
    loop {
        let (label, after) = label(rest)?;
        let end = after.find(' ').unwrap_or(after.len());
        items.push(fields(label, &after[..end])?);
        if end == after.len() {
            return Ok(items);
        }
        rest = &after[end + 1..];
        if rest.is_empty() || rest.starts_with(' ') {
            return Err("perfdata items are separated by exactly one space".to_owned());
        }
    }
}

/// `'label'=`: the label and what follows the `=`.
fn label(text: &str) -> Result<(String, &str), String> {
    let mut chars = text
        .strip_prefix('\'')
        .ok_or_else(|| format!("a perfdata label is not quoted: {text:?}"))?;
    let mut label = String::new();
    loop {
        let at = chars
            .find('\'')
            .ok_or_else(|| format!("an unterminated label in {text:?}"))?;
        label.push_str(&chars[..at]);
        chars = &chars[at + 1..];
        match chars.strip_prefix('\'') {
            Some(after) => {
                label.push('\'');
                chars = after;
            }
            None => break,
        }
    }
    if label.is_empty() || label.contains('=') {
        return Err(format!("the label {label:?} is empty or holds `=`"));
    }
    let after = chars
        .strip_prefix('=')
        .ok_or_else(|| format!("no `=` after the label {label:?}"))?;
    Ok((label, after))
}

fn fields(label: String, text: &str) -> Result<Perf, String> {
    let parts: Vec<&str> = text.split(';').collect();
    if parts.len() > 5 {
        return Err(format!("more than four `;` fields in {text:?}"));
    }
    let (value, uom) = match parts[0] {
        "U" => (None, String::new()),
        first => {
            let digits = first
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(first.len());
            let uom = &first[digits..];
            if !UOMS.contains(&uom) {
                return Err(format!("`{uom}` is not a unit of measure ({text:?})"));
            }
            (Some(number(&first[..digits])?), uom.to_owned())
        }
    };
    let field = |i: usize| parts.get(i).copied().filter(|f| !f.is_empty());
    let warn = field(1).map(range).transpose()?;
    let crit = field(2).map(range).transpose()?;
    let min = field(3).map(number).transpose()?;
    let max = field(4).map(number).transpose()?;
    Ok(Perf {
        label,
        value,
        uom,
        warn,
        crit,
        min,
        max,
    })
}

/// `-?[0-9]+(\.[0-9]+)?`: a number as the guidelines write it, no exponent.
fn number(text: &str) -> Result<f64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return Err(format!("`{text}` is not a plain number"));
    }
    text.parse().map_err(|e| format!("`{text}`: {e}"))
}

/// `[@][start:][end]`, start a number or `~`.
fn range(text: &str) -> Result<String, String> {
    let body = text.strip_prefix('@').unwrap_or(text);
    let bad = || format!("`{text}` is not a range");
    match body.split_once(':') {
        Some((start, end)) => {
            if start != "~" && !start.is_empty() {
                number(start).map_err(|_| bad())?;
            }
            if !end.is_empty() {
                number(end).map_err(|_| bad())?;
            }
        }
        None => {
            number(body).map_err(|_| bad())?;
        }
    }
    Ok(text.to_owned())
}

#[test]
fn the_parser_reads_a_whole_answer() {
    let answer = parse(
        "db WARNING: `x`: 3 idle | 'x.n.it''s'=3;5;10;0 'y'=1.5s 'z'=U 'p'=42%;@10:20;~:90;;100\nWARNING x: 3 idle\n",
    )
    .unwrap();
    assert_eq!(
        (answer.name.as_str(), answer.status.as_str()),
        ("db", "WARNING")
    );
    assert_eq!(answer.message, "`x`: 3 idle");
    assert_eq!(answer.long, ["WARNING x: 3 idle"]);
    let labels: Vec<&str> = answer.perfdata.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["x.n.it's", "y", "z", "p"]);
    assert_eq!(answer.perfdata[0].warn.as_deref(), Some("5"));
    assert_eq!(answer.perfdata[0].min, Some(0.0));
    assert_eq!(
        (answer.perfdata[1].value, answer.perfdata[1].uom.as_str()),
        (Some(1.5), "s")
    );
    assert_eq!(answer.perfdata[2].value, None);
    assert_eq!(answer.perfdata[3].crit.as_deref(), Some("~:90"));
    assert_eq!(answer.perfdata[3].max, Some(100.0));
    assert!(parse("db OK: 1 step\n").unwrap().perfdata.is_empty());
}

#[test]
fn the_parser_rejects_what_the_guidelines_do_not_allow() {
    for (line, why) in [
        ("db OK: fine", "no final line break"),
        ("db FINE: x\n", "an unknown status"),
        ("OK: x\n", "no name"),
        ("db OK: a; b\n", "a `;` in the text"),
        ("db OK: x |'a'=1\n", "no space after `|`"),
        ("db OK: x | a=1\n", "an unquoted label"),
        ("db OK: x | 'a=b'=1\n", "`=` in a label"),
        ("db OK: x | 'a'=1e3\n", "an exponent"),
        ("db OK: x | 'a'=1.\n", "a bare decimal point"),
        ("db OK: x | 'a'=1xB\n", "an unknown unit"),
        ("db OK: x | 'a'=1;;;;;\n", "five `;` fields"),
        ("db OK: x | 'a'=1;1:2:3\n", "a bad range"),
        ("db OK: x | 'a'=1;;;zero\n", "a bad min"),
        ("db OK: x | 'a'=1  'b'=2\n", "two spaces between items"),
        ("db OK: x | 'a'=1 \n", "a trailing space"),
        ("db OK: x | 'a=1\n", "an unterminated label"),
        ("db OK: x\nWARNING a | b\n", "a `|` in long output"),
    ] {
        assert!(parse(line).is_err(), "accepted {line:?} ({why})");
    }
}
