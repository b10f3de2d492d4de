//! The committed JSON Schema is the one the binary generates.

use crate::common::{Test, root};

#[test]
fn committed_schema_matches_runbook_schema() {
    let outcome = Test::new()
        .args(["schema"])
        .stdout_any(
            "compared below with the committed schema, naming the command that regenerates it",
        )
        .run();
    let committed = std::fs::read_to_string(root().join("schema/playbook.schema.json")).unwrap();
    assert!(
        outcome.stdout == committed,
        "schema/playbook.schema.json is stale: run `cargo run -- schema > schema/playbook.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
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
