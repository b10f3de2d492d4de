//! The kinds of the names every expression may read, in one place: facts, params, the
//! attributes every step has. Result columns get theirs from the SQL (`sql::kinds`).

use super::kind::Kind;
use crate::param::ParamType;

/// The kind of `facts.<name>`; `None` for a name that is not a fact.
///
/// Every fact in `crate::facts::FACTS` must have one: a test fails for a fact added without.
pub fn fact_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "server_version"
        | "server_version_num"
        | "max_connections"
        | "superuser_reserved_connections"
        | "reserved_connections"
        | "usable_connections"
        | "backend_pid" => Kind::Number,
        "current_user" | "database" | "backend_start" | "server_started" => Kind::Text,
        "superuser" | "in_recovery" | "can_read_all_stats" | "can_signal_backend" => Kind::Boolean,
        "extensions" => Kind::List,
        _ => return None,
    })
}

/// The kind of `params.<name>` of a param declared as `kind`.
pub fn param_kind(kind: ParamType) -> Kind {
    match kind {
        ParamType::String | ParamType::Database => Kind::Text,
        ParamType::Integer | ParamType::Number => Kind::Number,
        ParamType::Boolean => Kind::Boolean,
        ParamType::Duration => Kind::Duration,
        ParamType::List => Kind::List,
    }
}

/// The kind of `steps.<id>.<attribute>` for what every step has besides its columns.
pub fn step_attribute_kind(attribute: &str) -> Option<Kind> {
    Some(match attribute {
        "row_count" => Kind::Number,
        "status" | "severity" | "message" => Kind::Text,
        "rows" => Kind::List,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_has_a_kind() {
        for (fact, _) in crate::facts::FACTS {
            assert!(
                fact_kind(fact).is_some(),
                "fact `{fact}` has no kind in expr::scope"
            );
        }
        assert_eq!(fact_kind("nope"), None);
    }

    #[test]
    fn every_step_attribute_has_a_kind() {
        for attribute in ["rows", "row_count", "status", "severity", "message"] {
            assert!(step_attribute_kind(attribute).is_some(), "{attribute}");
        }
    }
}
