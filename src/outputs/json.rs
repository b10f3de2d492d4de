//! The JSON report, for machines: the run record as it is, and the JSON Schema it follows
//! (`schema/report.schema.json`, generated from the record's types).

use serde::Serialize;

use super::Output;
use super::record::RunRecord;

/// The JSON report (pretty, trailing newline).
pub struct Json;

impl Output for Json {
    fn render(&self, record: &RunRecord) -> String {
        pretty(record)
    }

    fn extension(&self) -> &'static str {
        "json"
    }
}

/// The JSON Schema of the JSON report, pretty, trailing newline.
pub fn schema_json() -> String {
    pretty(&schemars::schema_for!(RunRecord))
}

/// A record or a schema as pretty JSON with a trailing newline. Ours have only string keys and
/// plain values: serializing them cannot fail.
pub(crate) fn pretty(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::example::record;

    #[test]
    fn json_report_is_the_record() {
        let text = Json.render(&record());
        assert!(text.ends_with("}\n"));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["status"], "UNKNOWN");
        assert_eq!(value["mode"], "live");
        assert_eq!(value["steps"][4]["status"], "NOT_RUN");
        assert_eq!(value["steps"][0]["rows"][1][1], serde_json::Value::Null);
        assert_eq!(value["steps"][0]["rows"][0][0], 4242);
        assert_eq!(value["steps"][0]["rows"][0][1], "app");
        assert_eq!(
            value["steps"][0]["column_types"],
            serde_json::json!(["integer", "text", "text"])
        );
        assert_eq!(value["steps"][3]["error"]["sqlstate"], "25006");
    }
}
