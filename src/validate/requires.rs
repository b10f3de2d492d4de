//! What a step requires of the server (`requires:`): a version PostgreSQL can have, relation
//! names that can name a relation, and no blank role or extension names.

use crate::load::raw::RawRequires;
use crate::load::spans::Path;
use crate::playbook::Requirements;

use super::Validator;
use super::error::Problem;
use super::ident::is_relation_name;

impl Validator<'_> {
    /// The step's requirements, each bad one reported; `None` when it has none.
    pub(super) fn requires(
        &mut self,
        path: &Path,
        raw: Option<&RawRequires>,
    ) -> Option<Requirements> {
        let raw = raw?;
        if let Some(version) = raw.server_version
            && !(9..=99).contains(&version)
        {
            let location = self.document.value_location(&path.key("server_version"));
            self.report(Problem::InvalidServerVersion { version }, location);
        }
        let lists = [
            ("relations", &raw.relations),
            ("extensions", &raw.extensions),
            ("roles", &raw.roles),
        ];
        for (key, list) in lists {
            for (i, name) in list.iter().flatten().enumerate() {
                let name = name.clone();
                let problem = match key {
                    "relations" if !is_relation_name(&name) => Problem::InvalidRelation { name },
                    "relations" => continue,
                    _ if name.trim().is_empty() => Problem::BlankRequirement { name, key },
                    _ => continue,
                };
                let location = self.document.value_location(&path.key(key).index(i));
                self.report(problem, location);
            }
        }
        Some(Requirements {
            server_version: raw.server_version,
            superuser: raw.superuser.unwrap_or(false),
            relations: raw.relations.clone().unwrap_or_default(),
            extensions: raw.extensions.clone().unwrap_or_default(),
            roles: raw.roles.clone().unwrap_or_default(),
        })
    }
}
