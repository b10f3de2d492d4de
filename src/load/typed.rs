//! A YAML value into a raw type, every problem of it reported in one round.
//!
//! serde's derive stops at the first unknown key or bad value, however deep it sits, and a
//! playbook author should see them all at once. So the value's own unknown keys are found first
//! against the type's fields (`fields`); then the value is deserialized again and again, each
//! round without the key serde rejected last, at whatever depth it is (`assess[0].status`,
//! `requires.server_version`), until what remains deserializes. Only that one key goes, so
//! its neighbours are still judged; each round removes a key, so there are at most as many
//! rounds as the value has keys.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_yaml::{Mapping, Value};

use super::spans::{Path, Spans};
use super::{backticked, describe_context, fields, located_error, type_error, unknown_key};
use crate::diagnostic::{Diagnostic, suggestion};

/// Deserializes `value` (found at `base`) into `T`, reporting every problem at its position.
/// What remains is still returned, so validation judges the rest of the mapping; `rejected`
/// gets the paths left out (and the keys a misspelling meant), which it must not judge as
/// missing.
pub(super) fn deserialize<T: DeserializeOwned>(
    value: &Value,
    base: &Path,
    spans: &Spans,
    diagnostics: &mut Vec<Diagnostic>,
    rejected: &mut HashSet<Path>,
) -> Option<T> {
    let error = match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => return Some(parsed),
        Err(error) => error,
    };
    let context = describe_context(base, value);
    let known = fields::of::<T>();
    let (Value::Mapping(mapping), false) = (value, known.is_empty()) else {
        diagnostics.push(located_error(error, base, &context, spans));
        return None;
    };
    let mut kept = Mapping::new();
    for (key, item) in mapping {
        match key.as_str() {
            Some(name) if !known.contains(&name) => {
                let meant = suggestion(name, known.iter().copied());
                let hint = meant.map(|s| format!("; did you mean `{s}`?"));
                let hint = hint.unwrap_or_default();
                diagnostics.push(unknown_key(name, &hint, base, &context, spans));
                rejected.insert(base.key(name));
                // A misspelt key is not also missing: the hint already names it.
                rejected.extend(meant.map(|meant| base.key(meant)));
            }
            _ => {
                kept.insert(key.clone(), item.clone());
            }
        }
    }
    let mut kept = Value::Mapping(kept);
    loop {
        let error = match serde_path_to_error::deserialize::<_, T>(&kept) {
            Ok(parsed) => return Some(parsed),
            Err(error) => error,
        };
        let mut segments: Vec<Segment> = error.path().iter().cloned().collect();
        let message = error.inner().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let echo =
            missing.is_some_and(|field| rejected.contains(&within(base, &segments).key(field)));
        // An unknown key deeper down: serde_path_to_error may or may not have stepped onto it.
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'));
        let mut meant = None;
        if let Some((key, expected)) = unknown {
            let onto = matches!(segments.last(), Some(Segment::Map { key: last }) if last == key);
            if !onto {
                segments.push(Segment::Map {
                    key: key.to_owned(),
                });
            }
            let candidates = backticked(expected);
            meant = suggestion(key, candidates.iter().map(String::as_str)).map(str::to_owned);
        }
        if !echo {
            let at = within(base, &segments);
            let diagnostic = match choices::<T>(&kept, &segments, &message) {
                Some(message) => type_error(&message, &at, &context, spans),
                None => located_error(error, base, &context, spans),
            };
            diagnostics.push(diagnostic);
            // The list this bad item goes with may hold more: each is said too.
            for (index, message) in other_bad_items::<T>(&kept, &segments) {
                let item = within(base, &segments[..segments.len() - 1]).index(index);
                diagnostics.push(type_error(&message, &item, &context, spans));
            }
        }
        let left_out = within(base, leave_out(&mut kept, &segments)?);
        if let (Some(meant), Some(parent)) = (meant, left_out.parent()) {
            rejected.insert(parent.key(&meant));
        }
        rejected.insert(left_out);
    }
}

/// When `segments` end at an item of a list (one of the wrong type, which goes with its list),
/// the list's other items of the wrong type, with what serde says of each: every item is
/// judged alone in the list's place, so the first bad one hides none of the others.
fn other_bad_items<T: DeserializeOwned>(
    kept: &Value,
    segments: &[Segment],
) -> Vec<(usize, String)> {
    let Some((Segment::Seq { index: reported }, list)) = segments.split_last() else {
        return Vec::new();
    };
    let mut probe = kept.clone();
    let Some(items) = at(&mut probe, list).and_then(|v| v.as_sequence().cloned()) else {
        return Vec::new();
    };
    let alone = within(&Path::root(), list).index(0);
    let mut bad = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let Some(place) = at(&mut probe, list) else {
            break;
        };
        *place = Value::Sequence(vec![item]);
        if index == *reported {
            continue;
        }
        if let Err(error) = serde_path_to_error::deserialize::<_, T>(&probe)
            && within(
                &Path::root(),
                &error.path().iter().cloned().collect::<Vec<_>>(),
            ) == alone
        {
            bad.push((index, error.into_inner().to_string()));
        }
    }
    bad
}

/// The path below `base` that serde's `segments` name.
pub(super) fn within(base: &Path, segments: &[Segment]) -> Path {
    segments
        .iter()
        .fold(base.clone(), |path, segment| match segment {
            Segment::Seq { index } => path.index(*index),
            Segment::Map { key } => path.key(key),
            Segment::Enum { .. } | Segment::Unknown => path,
        })
}

/// Removes from `value` the deepest mapping key on `segments` (an item of a list goes with its
/// list, whose later items would otherwise move up and be misplaced); returns the segments that
/// name it, or `None` when there is no key to remove.
fn leave_out<'s>(value: &mut Value, segments: &'s [Segment]) -> Option<&'s [Segment]> {
    let last = segments
        .iter()
        .rposition(|segment| matches!(segment, Segment::Map { .. }))?;
    let Segment::Map { key } = &segments[last] else {
        return None;
    };
    at(value, &segments[..last])?
        .as_mapping_mut()?
        .remove(key.as_str())?;
    Some(&segments[..=last])
}

/// The value `segments` lead to.
fn at<'v>(value: &'v mut Value, segments: &[Segment]) -> Option<&'v mut Value> {
    segments
        .iter()
        .try_fold(value, |value, segment| match segment {
            Segment::Seq { index } => value.as_sequence_mut()?.get_mut(*index),
            Segment::Map { key } => value.as_mapping_mut()?.get_mut(key.as_str()),
            Segment::Enum { .. } | Segment::Unknown => Some(value),
        })
}

/// serde_yaml's words for a mapping or list given where one word of a set is expected ("expected
/// a Value::Tagged enum") with the set in their place, asked of `T` itself: a word no set holds,
/// put there instead, makes serde list them.
fn choices<T: DeserializeOwned>(
    kept: &Value,
    segments: &[Segment],
    message: &str,
) -> Option<String> {
    let found = message.strip_suffix(", expected a Value::Tagged enum")?;
    let mut probe = kept.clone();
    *at(&mut probe, segments)? = Value::String("\u{0}".to_owned());
    let error = serde_path_to_error::deserialize::<_, T>(&probe).err()?;
    let listed = error.inner().to_string();
    // serde says "expected `a` or `b`" of two, "expected one of `a`, `b`, `c`" of more.
    let (_, expected) = listed.split_once("`, expected ")?;
    let words = backticked(expected)
        .iter()
        .map(|word| format!("`{word}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!("{found}, expected one of {words}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::raw::RawStep;

    fn diagnosed(yaml: &str) -> (Option<RawStep>, Vec<Diagnostic>, HashSet<Path>) {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        let spans = Spans::of(yaml);
        let mut diagnostics = Vec::new();
        let mut rejected = HashSet::new();
        let base = Path::root();
        let step = deserialize(&value, &base, &spans, &mut diagnostics, &mut rejected);
        (step, diagnostics, rejected)
    }

    fn problems(yaml: &str) -> (Option<RawStep>, Vec<String>, HashSet<Path>) {
        let (step, diagnostics, rejected) = diagnosed(yaml);
        let messages = diagnostics.into_iter().map(|d| d.message).collect();
        (step, messages, rejected)
    }

    #[test]
    fn every_problem_of_a_nested_mapping_is_reported_and_its_neighbours_kept() {
        let yaml = "id: a\ncheck: SELECT 1\nassess:\n  - warnig: x\n    mesage: y\n    recommendation: [z]\n  - ok: w\nrequires:\n  superuser: maybe\n  roles: [r]\n";
        let (step, messages, rejected) = problems(yaml);
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(
            messages[0].starts_with("unknown key `warnig`"),
            "{messages:?}"
        );
        let step = step.unwrap();
        let assess = step.assess.unwrap();
        assert_eq!(assess.len(), 2);
        assert_eq!(assess[1].ok.as_deref(), Some("w"));
        assert_eq!(step.requires.unwrap().roles.unwrap(), ["r"]);
        let first = Path::root().key("assess").index(0);
        assert!(rejected.contains(&first.key("warning")), "the key it meant");
        assert!(rejected.contains(&first.key("recommendation")));
    }

    #[test]
    fn a_bad_item_of_a_list_of_text_goes_with_its_list() {
        let (step, messages, rejected) = problems("id: a\nfunctions: [f, [g]]\ncheck: x\n");
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(step.unwrap().functions.is_none());
        assert!(rejected.contains(&Path::root().key("functions")));
    }

    #[test]
    fn every_bad_item_of_a_list_is_reported() {
        let yaml = "id: a\nfunctions: [{x: 1}, f, [g], h, [i]]\ncheck: x\nrequires:\n  roles: [[r], s, {t: 1}]\n";
        let (step, messages, rejected) = problems(yaml);
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(
            messages.iter().all(|m| m.contains("expected a string")),
            "{messages:?}"
        );
        let step = step.unwrap();
        assert!(step.functions.is_none() && step.requires.unwrap().roles.is_none());
        assert!(rejected.contains(&Path::root().key("functions")));
        let (_, diagnostics, _) = diagnosed(yaml);
        let places: Vec<_> = diagnostics
            .iter()
            .map(|d| d.location.map(|l| (l.line, l.column)))
            .collect();
        let expected = [(2, 13), (2, 24), (2, 32), (5, 11), (5, 19)];
        assert_eq!(places, expected.map(Some), "{diagnostics:?}");
    }
}
