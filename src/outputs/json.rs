//! The JSON report, for machines: the run record as it is, and the JSON Schema it follows
//! (`schema/report.schema.json`, generated from the record's types).

use super::Output;
use super::record::RunRecord;

/// The JSON report (pretty, trailing newline).
pub struct Json;

impl Output for Json {
    fn render(&self, record: &RunRecord) -> String {
        // The record has only string keys and plain values: serializing it cannot fail.
        let mut text = serde_json::to_string_pretty(record).unwrap_or_default();
        text.push('\n');
        text
    }

    fn extension(&self) -> &'static str {
        "json"
    }
}

/// The JSON Schema of the JSON report, pretty, trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RunRecord);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
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
