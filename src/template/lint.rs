//! Lints of template sources, by scanning their tags: the ways a value can reach SQL
//! unescaped (warned about), and recursive loops (refused). Only the tags are read: comments
//! and `{% raw %}` blocks are template text, never code.

use std::ops::Range;

/// Byte ranges of every way a template can paste a value into SQL unescaped (validation
/// warns about each): the `safe` filter however it is applied — `| safe`, `{% filter safe %}`,
/// or by name as `map("safe")` — and `map` with a filter name computed at render time, which
/// could be `safe`. (`escape`/`e` are plain in this environment, see [`environment`](super::environment); macros
/// are not compiled in; `tojson` and `ident` return literals and quoted identifiers.) A
/// `{% raw %}` block is reported too: its text reaches the SQL as written.
///
/// Scans `{{ ... }}` and `{% ... %}` tags; skips `{# comments #}` and `{% raw %}` blocks (their
/// text is template source, never a value). A range runs from the `|` (when there is one) to the
/// end of `safe`, or covers the literal or the `map` that names it.
pub fn raw_interpolations(source: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    for tag in tags(source) {
        scan_raw(source, tag, &mut found);
    }
    found.extend(raw_blocks(source));
    found.sort_by_key(|range| range.start);
    found
}

/// The `{% raw %}` tags: what such a block holds reaches the SQL as written, unjudged by the
/// template's escaping (the rendered text is still judged before it is sent).
fn raw_blocks(source: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(offset) = source[pos..].find("{%") {
        let start = pos + offset;
        if is_raw_block_start(source, start + 2) {
            let end = source[start..]
                .find("%}")
                .map_or(source.len(), |e| start + e + 2);
            found.push(start..end);
        }
        pos = start + 2;
    }
    found
}

/// The byte ranges of the words `recursive` in `{% for %}` tags: a recursive loop (like a
/// macro, which this environment does not compile) can grow a value exponentially within the
/// recursion limit, so no template may use one.
pub fn recursive_loops(source: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    for tag in tags(source).filter(|tag| tag.statement) {
        let words = words(source, tag.body.clone());
        if words.first().map(|w| &source[w.clone()]) == Some("for") {
            found.extend(
                words
                    .into_iter()
                    .filter(|w| &source[w.clone()] == "recursive"),
            );
        }
    }
    found
}

/// A tag's code, for checks that read expressions in templates (`history.*` calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCode {
    /// An expression: the body of a `{{ … }}`, or the condition of an `{% if … %}` or
    /// `{% elif … %}`, without whitespace control.
    Expression(Range<usize>),
    /// Any other statement tag's body (`for`, `set`, …): no one expression to read.
    Statement(Range<usize>),
}

/// The code of every tag of a template, outside comments and raw blocks.
pub fn tag_code(source: &str) -> Vec<TagCode> {
    tags(source)
        .map(|tag| {
            let body = without_control(source, tag.body);
            if !tag.statement {
                return TagCode::Expression(body);
            }
            let first = words(source, body.clone()).into_iter().next();
            match first {
                Some(word) if matches!(&source[word.clone()], "if" | "elif") => {
                    TagCode::Expression(word.end..body.end)
                }
                _ => TagCode::Statement(body),
            }
        })
        .collect()
}

/// Whether `word` is one of the identifier words of `range` (outside string literals).
pub fn has_word(source: &str, range: Range<usize>, word: &str) -> bool {
    words(source, range).into_iter().any(|w| &source[w] == word)
}

/// `body` without the whitespace-control marks at its ends (`{{- x -}}`).
fn without_control(source: &str, body: Range<usize>) -> Range<usize> {
    let text = &source[body.clone()];
    let start = body.start + (text.len() - text.trim_start_matches(['-', '+', '~']).len());
    let end = body.end - (text.len() - text.trim_end_matches(['-', '+', '~']).len());
    start..end.max(start)
}

/// A `{{ }}` or `{% %}` tag: the byte range of its body.
#[derive(Clone)]
struct Tag {
    body: Range<usize>,
    statement: bool,
}

/// The tags of a template, outside comments and raw blocks. An unterminated tag runs to the
/// end of the source.
fn tags(source: &str) -> impl Iterator<Item = Tag> + '_ {
    let bytes = source.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while let Some(offset) = source.get(pos..)?.find('{') {
            let start = pos + offset;
            let (close, statement) = match bytes.get(start + 1) {
                Some(b'#') => {
                    pos = source[start + 2..].find("#}").map(|e| start + 4 + e)?;
                    continue;
                }
                Some(b'%') if is_raw_block_start(source, start + 2) => {
                    pos = find_endraw(source, start + 2)?;
                    continue;
                }
                Some(b'{') => (b'}', false),
                Some(b'%') => (b'%', true),
                _ => {
                    pos = start + 1;
                    continue;
                }
            };
            let end = tag_end(bytes, start + 2, close);
            pos = (end + 2).min(bytes.len()).max(start + 2);
            return Some(Tag {
                body: start + 2..end,
                statement,
            });
        }
        None
    })
}

/// Where the tag body starting at `from` ends (its closing `<close>}`), skipping strings.
fn tag_end(bytes: &[u8], from: usize, close: u8) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => i = string_end(bytes, i, quote),
            b if b == close && bytes.get(i + 1) == Some(&b'}') => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Index just past the string literal opening at `at`.
fn string_end(bytes: &[u8], at: usize, quote: u8) -> usize {
    let mut i = at + 1;
    while i < bytes.len() && bytes[i] != quote {
        if bytes[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    (i + 1).min(bytes.len())
}

/// The identifier words of a tag body, outside string literals.
fn words(source: &str, body: Range<usize>) -> Vec<Range<usize>> {
    let bytes = source.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut i = body.start;
    while i < body.end {
        match bytes[i] {
            quote @ (b'"' | b'\'') => i = string_end(bytes, i, quote).min(body.end),
            b if is_word(b) => {
                let start = i;
                while i < body.end && is_word(bytes[i]) {
                    i += 1;
                }
                found.push(start..i);
            }
            _ => i += 1,
        }
    }
    found
}

/// Records the raw interpolations of one tag body.
fn scan_raw(source: &str, tag: Tag, found: &mut Vec<Range<usize>>) {
    let bytes = source.as_bytes();
    let before = |at: usize| source[tag.body.start..at].trim_end();
    let mut i = tag.body.start;
    while i < tag.body.end {
        if let quote @ (b'"' | b'\'') = bytes[i] {
            let end = string_end(bytes, i, quote).min(tag.body.end);
            if source.get(i + 1..end.saturating_sub(1)) == Some("safe") {
                found.push(i..end);
            }
            i = end;
            continue;
        }
        i += 1;
    }
    for word in words(source, tag.body.clone()) {
        match &source[word.clone()] {
            "safe" if !before(word.start).ends_with('.') => {
                let start = match before(word.start).strip_suffix('|') {
                    Some(rest) if !rest.ends_with('|') => tag.body.start + rest.len(),
                    _ => word.start,
                };
                found.push(start..word.end);
            }
            "map" if names_filter_at_render_time(source, word.end, tag.body.end) => {
                found.push(word);
            }
            _ => {}
        }
    }
}

/// Whether the `map(` at `from` takes its filter name from something other than a literal
/// (`attribute=` maps attributes, which is harmless).
fn names_filter_at_render_time(source: &str, from: usize, end: usize) -> bool {
    let Some(rest) = source[from..end].trim_start().strip_prefix('(') else {
        return false;
    };
    let rest = rest.trim_start();
    !(rest.starts_with(['"', '\'', ')']) || rest.starts_with("attribute"))
}

/// Whether the `{%` tag whose body starts at `from` is `{% raw %}` (any
/// whitespace control).
fn is_raw_block_start(source: &str, from: usize) -> bool {
    let body = source[from..]
        .trim_start_matches(['-', '+', '~'])
        .trim_start();
    body.strip_prefix("raw").is_some_and(|rest| {
        rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '+' | '~'))
            .starts_with("%}")
    })
}

/// Index just past the `{% endraw %}` tag after `from`.
fn find_endraw(source: &str, from: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(offset) = source[pos..].find("{%") {
        let tag = pos + offset + 2;
        let body = source[tag..]
            .trim_start_matches(['-', '+', '~'])
            .trim_start();
        if let Some(rest) = body.strip_prefix("endraw") {
            let rest = rest
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '+' | '~'));
            if rest.starts_with("%}") {
                let end_of_rest = source.len() - rest.len();
                return Some(end_of_rest + 2);
            }
        }
        pos = tag;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_code_reads_expressions_and_conditions() {
        let source = "a {{- x | round -}} {% if y > 1 %}{% for r in rows %}{% elif z %}{% endif %}{# {{ c }} #}";
        let code: Vec<(bool, &str)> = tag_code(source)
            .into_iter()
            .map(|code| match code {
                TagCode::Expression(range) => (true, source[range].trim()),
                TagCode::Statement(range) => (false, source[range].trim()),
            })
            .collect();
        assert_eq!(
            code,
            [
                (true, "x | round"),
                (true, "y > 1"),
                (false, "for r in rows"),
                (true, "z"),
                (false, "endif")
            ]
        );
        assert!(has_word(source, 0..source.len(), "rows"));
        assert!(!has_word("{{ 'history' }}", 0..15, "history"));
    }

    #[test]
    fn raw_interpolations_finds_safe() {
        let source =
            "a {{ x|safe }} b {{ y | safe }} {{ '|safe' }} {{ z | safer }} {{ w | upper | safe }}";
        let ranges = raw_interpolations(source);
        let texts: Vec<&str> = ranges.iter().map(|r| &source[r.clone()]).collect();
        assert_eq!(texts, ["|safe", "| safe", "| safe"]);
        assert_eq!(ranges[0], 6..11);

        let source = "{# {{ x|safe }} #}{% raw %}{{ y|safe }}{% endraw %}{%- set q = v|safe -%}{{ \"}}|safe\" }}";
        let ranges = raw_interpolations(source);
        let texts: Vec<&str> = ranges.iter().map(|r| &source[r.clone()]).collect();
        assert_eq!(texts, ["{% raw %}", "|safe"]);
        assert!(source[..ranges[1].start].ends_with("set q = v"));

        assert!(raw_interpolations("SELECT 1 | 2 {{ a || b }}").is_empty());
        // An unterminated tag (a syntax error anyway) still reports what it holds.
        assert_eq!(raw_interpolations("{{ unterminated | safe"), vec![16..22]);
        assert!(raw_interpolations("").is_empty());
        assert_eq!(raw_interpolations("{{-x|safe-}}"), vec![4..9]);
    }

    #[test]
    fn every_spelling_of_safe_is_a_raw_interpolation() {
        let texts = |source: &'static str| -> Vec<&'static str> {
            raw_interpolations(source)
                .into_iter()
                .map(|r| &source[r])
                .collect()
        };
        assert_eq!(
            texts("{{ [params.x] | map(\"safe\") | first }}"),
            ["\"safe\""]
        );
        assert_eq!(texts("{{ [x] | map('safe') | first }}"), ["'safe'"]);
        assert_eq!(texts("{% filter safe %}{{ x }}{% endfilter %}"), ["safe"]);
        assert_eq!(texts("{{ [x] | map(params.f) | first }}"), ["map"]);
        assert!(texts("{{ rows | map(attribute='pid') | list }} {{ r.safe }}").is_empty());
        assert!(texts("{{ rows | map('upper') }} {{ 'safety' }}").is_empty());
    }

    #[test]
    fn recursive_loops_are_found() {
        let source = "{% for r in rows recursive %}{{ loop(r.children) }}{% endfor %}";
        let found = recursive_loops(source);
        assert_eq!(found.len(), 1);
        assert_eq!(&source[found[0].clone()], "recursive");
        assert!(recursive_loops("{% for recursive in rows %}{% endfor %}").len() == 1);
        assert!(recursive_loops("{{ 'recursive' }}{% for r in rows %}{% endfor %}").is_empty());
    }
}
