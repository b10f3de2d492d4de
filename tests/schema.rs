//! The committed JSON Schema is the one the binary generates.

mod common;

use common::{root, runbook_in_root};

#[test]
fn committed_schema_matches_runbook_schema() {
    let output = runbook_in_root(["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let generated = String::from_utf8(output.stdout).unwrap();
    let committed = std::fs::read_to_string(root().join("schema/playbook.schema.json")).unwrap();
    assert!(
        generated == committed,
        "schema/playbook.schema.json is stale: run `cargo run -- schema > schema/playbook.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let step = &schema["$defs"]["RawStep"];
    assert_eq!(
        step["additionalProperties"], false,
        "unknown step keys are rejected"
    );
    assert!(
        step["properties"]["check"]["description"]
            .as_str()
            .unwrap()
            .contains("READ ONLY"),
        "doc comments become descriptions for editor help"
    );
}
