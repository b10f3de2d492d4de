//! Typed parameter values: from a YAML default, or from `--var NAME=VALUE` text.
//!
//! A value is parsed by its declared type once, here; templates then receive typed values, so
//! a duration is interpolated as an `interval` and a list as an `ARRAY[...]` without any
//! guessing from the text.

use std::fmt;

use indexmap::IndexMap;
use minijinja::Value;

use crate::diagnostic::did_you_mean;
use crate::duration::Duration;
pub use crate::load::raw::ParamType;

/// A declared parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: ParamType,
    /// Item type of a list.
    pub items: ParamType,
    pub default: Option<ParamValue>,
    pub required: bool,
    pub choices: Vec<ParamValue>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    Duration(Duration),
    List(Vec<ParamValue>),
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Duration => "duration",
            ParamType::List => "list",
            ParamType::Database => "database",
        }
    }
}

impl ParamType {
    /// "a string", "an integer": for messages.
    pub fn described(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Database => "a database name",
            ParamType::Integer => "an integer",
            ParamType::Number => "a number",
            ParamType::Boolean => "a boolean",
            ParamType::Duration => "a duration",
            ParamType::List => "a list",
        }
    }
}

impl ParamValue {
    /// A YAML value (a default or a choice) as a value of `kind`.
    pub fn from_yaml(
        kind: ParamType,
        items: ParamType,
        value: &serde_yaml::Value,
    ) -> Result<ParamValue, String> {
        use serde_yaml::Value as Yaml;
        let mismatch = || {
            format!(
                "expected {}, found {}",
                kind.described(),
                serde_yaml::to_string(value)
                    .map(|s| format!("`{}`", s.trim_end()))
                    .unwrap_or_else(|_| "a value".to_owned())
            )
        };
        match (kind, value) {
            (ParamType::List, Yaml::Sequence(elements)) => elements
                .iter()
                .map(|element| ParamValue::from_yaml(items, ParamType::String, element))
                .collect::<Result<_, _>>()
                .map(ParamValue::List),
            (ParamType::List, _) => Err(mismatch()),
            (ParamType::String | ParamType::Database, Yaml::String(text)) => {
                Ok(ParamValue::String(text.clone()))
            }
            (ParamType::String, Yaml::Number(n)) => Ok(ParamValue::String(n.to_string())),
            (ParamType::Integer, Yaml::Number(n)) => {
                n.as_i64().map(ParamValue::Integer).ok_or_else(mismatch)
            }
            (ParamType::Number, Yaml::Number(n)) => {
                n.as_f64().map(ParamValue::Number).ok_or_else(mismatch)
            }
            (ParamType::Boolean, Yaml::Bool(b)) => Ok(ParamValue::Boolean(*b)),
            (ParamType::Duration, Yaml::String(text)) => text
                .parse()
                .map(ParamValue::Duration)
                .map_err(|error| format!("{error}")),
            (ParamType::Duration, Yaml::Number(n)) if n.as_i64() == Some(0) => {
                Ok(ParamValue::Duration(Duration::from_secs(0)))
            }
            _ => Err(mismatch()),
        }
    }

    /// Command-line text as a value of `kind`: durations as `30s`, lists as `a,b` or `[a, b]`.
    pub fn parse(kind: ParamType, items: ParamType, text: &str) -> Result<ParamValue, String> {
        let invalid = |what: &str| format!("`{text}` is not {what}");
        match kind {
            ParamType::String | ParamType::Database => Ok(ParamValue::String(text.to_owned())),
            ParamType::Integer => text
                .trim()
                .parse()
                .map(ParamValue::Integer)
                .map_err(|_| invalid("an integer")),
            ParamType::Number => match text.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(ParamValue::Number(n)),
                _ => Err(invalid("a number")),
            },
            ParamType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(ParamValue::Boolean(true)),
                "false" | "no" | "off" | "0" => Ok(ParamValue::Boolean(false)),
                _ => Err(invalid("a boolean (true or false)")),
            },
            ParamType::Duration => text
                .trim()
                .parse()
                .map(ParamValue::Duration)
                .map_err(|error| format!("{error}")),
            ParamType::List => {
                let inner = text.trim();
                let inner = inner
                    .strip_prefix('[')
                    .and_then(|rest| rest.strip_suffix(']'))
                    .unwrap_or(inner);
                if inner.trim().is_empty() {
                    return Ok(ParamValue::List(Vec::new()));
                }
                inner
                    .split(',')
                    .map(|item| ParamValue::parse(items, ParamType::String, item.trim()))
                    .collect::<Result<_, _>>()
                    .map(ParamValue::List)
            }
        }
    }

    /// The value as templates and expressions see it.
    pub fn to_value(&self) -> Value {
        match self {
            ParamValue::String(text) => Value::from(text.as_str()),
            ParamValue::Integer(n) => Value::from(*n),
            ParamValue::Number(n) => Value::from(*n),
            ParamValue::Boolean(b) => Value::from(*b),
            ParamValue::Duration(d) => d.to_value(),
            ParamValue::List(items) => {
                Value::from(items.iter().map(ParamValue::to_value).collect::<Vec<_>>())
            }
        }
    }
}

impl fmt::Display for ParamValue {
    /// As a user would write it on the command line: `1h`, `[postgres, admin]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::String(text) => write!(f, "{text}"),
            ParamValue::Integer(n) => write!(f, "{n}"),
            ParamValue::Number(n) => write!(f, "{n}"),
            ParamValue::Boolean(b) => write!(f, "{b}"),
            ParamValue::Duration(d) => write!(f, "{d}"),
            ParamValue::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// `params` holding each param's default (params without one are absent): what a template
/// sees outside a run.
pub fn defaults(params: &[Param]) -> Value {
    let params: std::collections::BTreeMap<String, Value> = params
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.default.as_ref()?.to_value())))
        .collect();
    minijinja::context! { params => Value::from(params) }
}

/// The parameter values of one run: defaults overridden by `--var NAME=VALUE`.
///
/// Every problem is returned, not just the first: unknown names (with did-you-mean), values
/// not of their type or not among the choices, and required params left unset.
pub fn resolve(
    params: &[Param],
    vars: &[String],
) -> Result<IndexMap<String, ParamValue>, Vec<String>> {
    let mut errors = Vec::new();
    let mut values: IndexMap<String, ParamValue> = IndexMap::new();
    for var in vars {
        match var_value(params, var) {
            Ok((name, value)) => {
                values.insert(name, value);
            }
            Err(error) => errors.push(error),
        }
    }
    let mut resolved = IndexMap::new();
    for param in params {
        match values
            .shift_remove(&param.name)
            .or_else(|| param.default.clone())
        {
            Some(value) => {
                resolved.insert(param.name.clone(), value);
            }
            None if param.required => errors.push(format!(
                "param `{}` is required: set it with `--var {}=VALUE`",
                param.name, param.name
            )),
            // An optional param without default is NULL in SQL and none in expressions.
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// The param one `--var NAME=VALUE` sets, and its value.
fn var_value(params: &[Param], var: &str) -> Result<(String, ParamValue), String> {
    let Some((name, text)) = var.split_once('=') else {
        return Err(format!("`--var {var}` is not of the form NAME=VALUE"));
    };
    setting(params, name.trim(), text, " in `--var`")
}

/// Whether one `--var NAME=VALUE` sets a param of `params` to a value it takes; else why not.
pub fn check_var(params: &[Param], var: &str) -> Result<(), String> {
    var_value(params, var).map(drop)
}

/// Whether `name: text` sets a param of `params` to a value it takes (an inventory's `vars`);
/// else why not.
pub fn check_setting(params: &[Param], name: &str, text: &str) -> Result<(), String> {
    setting(params, name, text, "").map(drop)
}

/// The param `name` and its value `text`; `given`: where it was given, for an unknown name.
fn setting(
    params: &[Param],
    name: &str,
    text: &str,
    given: &str,
) -> Result<(String, ParamValue), String> {
    let Some(param) = params.iter().find(|p| p.name == name) else {
        let known: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        let list = if known.is_empty() {
            "this playbook has no params".to_owned()
        } else {
            format!("params: {}", known.join(", "))
        };
        return Err(format!(
            "unknown param `{name}`{given}{} ({list})",
            did_you_mean(name, known.iter().copied())
        ));
    };
    match ParamValue::parse(param.kind, param.items, text) {
        Ok(value) => {
            check_choice(param, &value)?;
            Ok((name.to_owned(), value))
        }
        Err(error) => Err(format!(
            "invalid value for param `{name}` ({}): {error}",
            param.kind.name()
        )),
    }
}

pub fn check_choice(param: &Param, value: &ParamValue) -> Result<(), String> {
    if param.choices.is_empty() || param.choices.contains(value) {
        return Ok(());
    }
    let choices: Vec<String> = param.choices.iter().map(|c| format!("`{c}`")).collect();
    Err(format!(
        "`{value}` is not a valid value for param `{}`; choose one of {}",
        param.name,
        choices.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, kind: ParamType, default: Option<ParamValue>) -> Param {
        Param {
            name: name.to_owned(),
            kind,
            items: ParamType::String,
            default,
            required: false,
            choices: Vec::new(),
            description: None,
        }
    }

    fn params() -> Vec<Param> {
        vec![
            param(
                "idle_after",
                ParamType::Duration,
                Some(ParamValue::Duration(Duration::from_secs(3600))),
            ),
            param(
                "protected_roles",
                ParamType::List,
                Some(ParamValue::List(vec![ParamValue::String(
                    "postgres".into(),
                )])),
            ),
            param("limit", ParamType::Integer, Some(ParamValue::Integer(5))),
            param("ratio", ParamType::Number, None),
            param(
                "verbose",
                ParamType::Boolean,
                Some(ParamValue::Boolean(false)),
            ),
        ]
    }

    #[test]
    fn vars_are_parsed_by_their_declared_type() {
        let vars = [
            "idle_after=15m",
            "protected_roles=a, b",
            "limit=7",
            "ratio=0.5",
            "verbose=yes",
        ]
        .map(String::from);
        let values = resolve(&params(), &vars).unwrap();
        assert_eq!(
            values["idle_after"],
            ParamValue::Duration(Duration::from_secs(900))
        );
        assert_eq!(
            values["protected_roles"],
            ParamValue::List(vec![
                ParamValue::String("a".into()),
                ParamValue::String("b".into())
            ])
        );
        assert_eq!(values["limit"], ParamValue::Integer(7));
        assert_eq!(values["ratio"], ParamValue::Number(0.5));
        assert_eq!(values["verbose"], ParamValue::Boolean(true));
    }

    #[test]
    fn lists_accept_brackets_and_empty() {
        let list = ParamValue::parse(ParamType::List, ParamType::String, "[x, y]").unwrap();
        assert_eq!(list.to_string(), "[x, y]");
        assert_eq!(
            ParamValue::parse(ParamType::List, ParamType::String, "[]").unwrap(),
            ParamValue::List(vec![])
        );
        let ints = ParamValue::parse(ParamType::List, ParamType::Integer, "1,2").unwrap();
        assert_eq!(
            ints,
            ParamValue::List(vec![ParamValue::Integer(1), ParamValue::Integer(2)])
        );
        assert!(ParamValue::parse(ParamType::List, ParamType::Integer, "1,x").is_err());
    }

    #[test]
    fn defaults_apply_and_every_error_is_reported() {
        let values = resolve(&params(), &[]).unwrap();
        assert_eq!(values["limit"], ParamValue::Integer(5));
        assert!(!values.contains_key("ratio"));
        let vars = ["idle_aftr=1h", "limit=many", "idle_after=5x", "noequals"].map(String::from);
        let errors = resolve(&params(), &vars).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "unknown param `idle_aftr` in `--var`; did you mean `idle_after`? (params: idle_after, protected_roles, limit, ratio, verbose)".to_owned(),
                "invalid value for param `limit` (integer): `many` is not an integer".to_owned(),
                "invalid value for param `idle_after` (duration): invalid duration `5x`: unknown unit `x`; use ms, s, m, h, d or w (for example `30s`, `15m`, `1h`, `2d`)".to_owned(),
                "`--var noequals` is not of the form NAME=VALUE".to_owned(),
            ]
        );
    }

    #[test]
    fn required_params_must_be_set() {
        let mut required = param("target", ParamType::String, None);
        required.required = true;
        let errors = resolve(&[required], &[]).unwrap_err();
        assert_eq!(
            errors,
            vec!["param `target` is required: set it with `--var target=VALUE`".to_owned()]
        );
    }

    #[test]
    fn choices_are_enforced() {
        let mut mode = param("mode", ParamType::String, None);
        mode.choices = vec![
            ParamValue::String("fast".into()),
            ParamValue::String("smart".into()),
        ];
        let errors = resolve(&[mode], &["mode=slow".to_owned()]).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "`slow` is not a valid value for param `mode`; choose one of `fast`, `smart`"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn yaml_defaults_are_typed() {
        let yaml = |text: &str| serde_yaml::from_str::<serde_yaml::Value>(text).unwrap();
        assert_eq!(
            ParamValue::from_yaml(ParamType::Duration, ParamType::String, &yaml("1h")),
            Ok(ParamValue::Duration(Duration::from_secs(3600)))
        );
        assert_eq!(
            ParamValue::from_yaml(ParamType::Integer, ParamType::String, &yaml("'5'")),
            Err("expected an integer, found `'5'`".to_owned())
        );
        assert!(ParamValue::from_yaml(ParamType::List, ParamType::String, &yaml("[a, 1]")).is_ok());
        assert!(
            ParamValue::from_yaml(ParamType::Boolean, ParamType::String, &yaml("yes")).is_err()
        );
    }
}
