//! An inventory exactly as written: the serde type the JSON Schema
//! (`schema/targets.schema.json`) is generated from, and how its vars' values become the text
//! `--var` takes.
//!
//! Its doc comments are what an editor shows as help. A var is kept as a raw YAML value: the
//! checks in `inventory` report a mapping or an unusable list item at its place, which a typed
//! field would reduce to serde's first complaint.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;

use crate::load::describe_value;

/// One target of an inventory (`--targets FILE`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["url"] }, { "required": ["service"] }]))]
pub struct RawTarget {
    /// The target's name in every output (the fleet's summary, `--nagios`, `--metrics`) and
    /// its report's file name. Unique in the fleet; no `/` and no control characters.
    pub name: String,
    /// Where to connect: a libpq connection string, `postgres://user@host:port/db` or
    /// `host=db1 dbname=app`; what it leaves out comes from the environment, as for psql.
    /// Give `url` or `service`, not both.
    #[serde(default)]
    #[schemars(with = "String")]
    pub url: Option<String>,
    /// Where to connect: a service of the service file (`pg_service.conf`), as `service=NAME`.
    /// Give `url` or `service`, not both.
    #[serde(default)]
    #[schemars(with = "String")]
    pub service: Option<String>,
    /// Playbook params for this target, as `--var NAME=VALUE` would set them (after the
    /// playbook's defaults, before `--var`): a scalar (`15m`, `5`, `true`) or a list of scalars.
    #[serde(default)]
    #[schemars(schema_with = "vars_schema")]
    pub vars: Option<IndexMap<String, Value>>,
}

/// The keys of a target, as [`RawTarget`] names them (a test holds the two together).
pub(super) const KEYS: [&str; 4] = ["name", "url", "service", "vars"];

/// The vars' schema: names to scalars or lists of scalars (serde_yaml's values have none);
/// `vars:` with nothing after it is no vars.
fn vars_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["object", "null"],
        "additionalProperties": {
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } }
            ]
        }
    })
}

/// The inventory's JSON Schema, as committed in `schema/targets.schema.json`.
pub fn schema_json() -> String {
    let mut schema = schemars::schema_for!(Vec<RawTarget>);
    schema.insert("title".to_owned(), "runbook targets".into());
    schema.insert(
        "$id".to_owned(),
        "https://runbook.dev/schema/targets.schema.json".into(),
    );
    schema.insert("minItems".to_owned(), 1.into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// A scalar as `--var` text: `15m`, `5`, `0.5`, `true`.
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(boolean) => Some(boolean.to_string()),
        _ => None,
    }
}

/// A checked var's value as `--var` text; a list as `[a, b]`, which `--var` splits at commas.
pub(super) fn var_text(value: &Value) -> String {
    match value {
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().filter_map(scalar_text).collect();
            format!("[{}]", items.join(", "))
        }
        other => scalar_text(other).unwrap_or_default(),
    }
}

/// Why a list item cannot go through `--var` as it is, if it cannot.
pub(super) fn item_problem(item: &Value) -> Option<String> {
    let Some(text) = scalar_text(item) else {
        let found = match item {
            Value::Null => "empty",
            other => describe_value(other),
        };
        return Some(format!("is {found}; a list's items are scalars"));
    };
    if text.is_empty() {
        Some("is empty; `--var` reads no empty item".to_owned())
    } else if text.contains(',') {
        Some("holds `,`, which `--var` reads as a separator between items".to_owned())
    } else if text.trim() != text {
        Some("begins or ends with a blank, which `--var` drops".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    /// The committed schema is the generated one.
    /// `RUNBOOK_UPDATE_SCHEMA=1 cargo test --lib fleet::targets::` regenerates it.
    #[test]
    fn committed_targets_schema_matches_the_library() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/targets.schema.json");
        let generated = schema_json();
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            fs::write(&path, &generated).unwrap();
        }
        let committed = fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schema/targets.schema.json is stale: run `RUNBOOK_UPDATE_SCHEMA=1 cargo test --lib fleet::targets::`"
        );
        let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
        assert_eq!(schema["type"], "array");
        let target = &schema["$defs"]["RawTarget"];
        assert_eq!(
            target["additionalProperties"], false,
            "unknown keys are rejected"
        );
        let properties: Vec<&str> = target["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(properties, KEYS, "the checks know the schema's keys");
        assert_eq!(target["required"], serde_json::json!(["name"]));
        assert!(
            target["properties"]["vars"]["description"]
                .as_str()
                .unwrap_or_default()
                .contains("--var"),
            "doc comments become descriptions: {target}"
        );
    }
}
