//! Params: their names, types, defaults and choices.
//!
//! A default or a choice is converted to the param's type here, once, so a run never meets a
//! default it cannot use, and `show` can print defaults as the values they are.

use crate::load::raw::RawParam;
use crate::load::spans::Path;
use crate::param::{Param, ParamType, ParamValue, check_choice};

use super::Validator;
use super::error::Problem;
use super::ident::is_identifier;

impl Validator<'_> {
    /// The checked param, or `None` when it has an error (already reported).
    pub(super) fn param(&mut self, name: &str, raw: &RawParam) -> Option<Param> {
        let path = Path::root().key("params").key(name);
        let mut ok = true;
        if !is_identifier(name) {
            let location = self.document.key_location(&path);
            let name = name.to_owned();
            self.report(Problem::InvalidParamName { name }, location);
            ok = false;
        }
        let items = raw.items.unwrap_or(ParamType::String);
        ok &= self.items(&path, name, raw, items);
        let default = raw
            .default
            .as_ref()
            .and_then(|value| self.typed(&path, name, raw, items, "default", value));
        ok &= raw.default.is_none() || default.is_some();
        let choices: Vec<ParamValue> = raw
            .choices
            .iter()
            .flatten()
            .filter_map(|value| self.typed(&path, name, raw, items, "choices", value))
            .collect();
        let param = Param {
            name: name.to_owned(),
            kind: raw.kind,
            items,
            default,
            required: raw.required,
            choices,
            description: raw.description.clone(),
        };
        ok &= self.default_applies(&path, &param);
        ok.then_some(param)
    }

    /// `items` is given only to lists, and is not itself a list.
    fn items(&mut self, path: &Path, name: &str, raw: &RawParam, items: ParamType) -> bool {
        let mut ok = true;
        if raw.items.is_some() && raw.kind != ParamType::List {
            let location = self.document.key_location(&path.key("items"));
            let (name, kind) = (name.to_owned(), raw.kind.name());
            self.report(Problem::ItemsWithoutList { name, kind }, location);
            ok = false;
        }
        if items == ParamType::List {
            let location = self.document.value_location(&path.key("items"));
            let name = name.to_owned();
            self.report(Problem::ListOfLists { name }, location);
            ok = false;
        }
        ok
    }

    /// The YAML value under `key` as a value of the param's type.
    fn typed(
        &mut self,
        path: &Path,
        name: &str,
        raw: &RawParam,
        items: ParamType,
        key: &'static str,
        value: &serde_yaml::Value,
    ) -> Option<ParamValue> {
        match ParamValue::from_yaml(raw.kind, items, value) {
            Ok(value) => Some(value),
            Err(error) => {
                let location = self.document.value_location(&path.key(key));
                let name = name.to_owned();
                self.report(Problem::InvalidParamValue { key, name, error }, location);
                None
            }
        }
    }

    /// The default is one of the choices; a default of a required param is pointless.
    fn default_applies(&mut self, path: &Path, param: &Param) -> bool {
        let Some(default) = &param.default else {
            return true;
        };
        let mut ok = true;
        if let Err(error) = check_choice(param, default) {
            let location = self.document.value_location(&path.key("default"));
            self.report(Problem::DefaultNotAChoice { error }, location);
            ok = false;
        }
        if param.required {
            let location = self.document.key_location(&path.key("required"));
            let name = param.name.clone();
            self.report(Problem::RequiredWithDefault { name }, location);
        }
        ok
    }
}
