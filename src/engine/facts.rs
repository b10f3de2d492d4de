//! Gathering the facts of a run in one round trip.
//!
//! One statement reads every fact `crate::facts` names, plus what the playbook's `requires`
//! guards need (which relations exist, which roles the connected role belongs to), so guards
//! are decided without further queries.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use super::{Engine, RunError};
use crate::events::Event;
use crate::playbook::Playbook;
use crate::sql::literal as sql_literal;
use crate::target::{Limits, QueryError, Target, Wrap};

/// The engine's own session on the server (as the target says it is, across reconnections):
/// a pid is only it while the start matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub pid: i64,
    pub started: String,
}

/// The facts of a run, as JSON (templates see them as `facts.*`).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub json: Map<String, Json>,
    /// Which of the relations named in `requires` exist.
    pub relations: Map<String, Json>,
    /// The server's databases, for the params that name one.
    pub databases: Vec<String>,
    /// Roles whose privileges the connected role has (`pg_has_role(…, 'USAGE')`: through
    /// inheriting grants; a NOINHERIT member has to `SET ROLE` first, so it does not count).
    pub roles: Vec<String>,
}

impl Facts {
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.json.get(name)
    }

    pub fn int(&self, name: &str) -> i64 {
        self.get(name).and_then(Json::as_i64).unwrap_or(0)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name).and_then(Json::as_bool).unwrap_or(false)
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name)
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned()
    }

    pub fn extensions(&self) -> Vec<String> {
        self.get("extensions")
            .and_then(Json::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn relation_exists(&self, name: &str) -> bool {
        self.relations
            .get(name)
            .and_then(Json::as_bool)
            .unwrap_or(false)
    }
}

impl Engine<'_> {
    /// Reads the server's facts and puts them in scope. The run cannot go on without them.
    pub(super) async fn gather(&mut self, target: &mut impl Target) -> Result<(), RunError> {
        let mut facts = read(target, self.playbook)
            .await
            .map_err(|error| RunError::Facts {
                message: error.to_string(),
            })?;
        // The session said who it is when it connected: the facts need not ask again.
        if let Some(backend) = target.backend() {
            own_session(&mut facts.json, &backend);
        }
        self.scope
            .set_facts(minijinja::Value::from(minijinja::value::Serde(&facts.json)));
        self.emit(&Event::FactsGathered { facts: &facts });
        self.facts = facts;
        self.databases_exist()
    }

    /// Every `database` param names a database the server has: a misspelt name would scope
    /// every query to nothing and report all green.
    fn databases_exist(&self) -> Result<(), RunError> {
        let known = &self.facts.databases;
        match self
            .databases
            .iter()
            .find(|(_, name)| !known.contains(name))
        {
            None => Ok(()),
            Some((param, name)) => {
                let hint = crate::diagnostic::suggestion(name, known.iter().map(String::as_str))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                Err(RunError::NoSuchDatabase {
                    param: param.clone(),
                    name: name.clone(),
                    hint,
                })
            }
        }
    }

    /// After a reconnection the engine's session is another backend: `backend_pid` and
    /// `backend_start` follow it, for templates and for what spares the engine's own session.
    pub(super) fn follow_backend(&mut self, backend: &Backend) {
        let json = &mut self.facts.json;
        own_session(json, backend);
        self.scope
            .set_facts(minijinja::Value::from(minijinja::value::Serde(json)));
    }
}

/// `backend_pid` and `backend_start`: the engine's own session, as the target knows it.
fn own_session(json: &mut Map<String, Json>, backend: &Backend) {
    json.insert("backend_pid".to_owned(), Json::from(backend.pid));
    json.insert(
        "backend_start".to_owned(),
        Json::from(backend.started.clone()),
    );
}

/// Reads the facts; `Err` when the statement fails (the run cannot go on without them).
async fn read(target: &mut impl Target, playbook: &Playbook) -> Result<Facts, QueryError> {
    let relations: BTreeSet<&str> = playbook
        .steps
        .iter()
        .flat_map(|step| step.requires.relations.iter().map(String::as_str))
        .collect();
    let sql = facts_sql(&relations);
    let mut text = None;
    target
        .run(&sql, Wrap::ReadOnly, Limits::short(10, 5), |_, row, _| {
            text = row.into_iter().next().flatten();
            Ok(())
        })
        .await?;
    let parsed: Json = text
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Json::Null);
    let Json::Object(mut json) = parsed else {
        return Err(QueryError::plain(
            "the facts query returned no row (is the connected role in `pg_roles`?)".to_owned(),
        ));
    };
    let relations = match json.remove("relations") {
        Some(Json::Object(map)) => map,
        _ => Map::new(),
    };
    let names = |value: Option<Json>| match value {
        Some(Json::Array(names)) => names
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let roles = names(json.remove("roles"));
    let databases = names(json.remove("databases"));
    Ok(Facts {
        json,
        relations,
        databases,
        roles,
    })
}

/// One statement returning every fact as a JSON object.
fn facts_sql(relations: &BTreeSet<&str>) -> String {
    let relations = relations
        .iter()
        .filter_map(|name| {
            let literal = sql_literal::literal(&minijinja::Value::from(*name)).ok()?;
            Some(format!("{literal}, to_regclass({literal}) IS NOT NULL"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT json_build_object(
  'server_version', current_setting('server_version_num')::int / 10000,
  'server_version_num', current_setting('server_version_num')::int,
  'current_user', current_user,
  'superuser', r.rolsuper,
  'database', current_database(),
  'max_connections', current_setting('max_connections')::int,
  'superuser_reserved_connections', current_setting('superuser_reserved_connections')::int,
  'reserved_connections', coalesce(current_setting('reserved_connections', true)::int, 0),
  'usable_connections', current_setting('max_connections')::int
      - current_setting('superuser_reserved_connections')::int
      - coalesce(current_setting('reserved_connections', true)::int, 0),
  'extensions', (SELECT coalesce(json_agg(extname ORDER BY extname), '[]') FROM pg_extension),
  'in_recovery', pg_is_in_recovery(),
  'backend_pid', pg_backend_pid(),
  'backend_start', NULL,
  'server_started', pg_postmaster_start_time()::text,
  'can_read_all_stats', r.rolsuper OR pg_has_role('pg_read_all_stats', 'USAGE'),
  'can_signal_backend', r.rolsuper OR pg_has_role('pg_signal_backend', 'USAGE'),
  'roles', (SELECT coalesce(json_agg(rolname ORDER BY rolname), '[]') FROM pg_roles
            WHERE pg_has_role(current_user, oid, 'USAGE')),
  'databases', (SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database),
  'relations', json_build_object({relations})
)::text
FROM pg_roles AS r WHERE r.rolname = current_user"
    )
}
