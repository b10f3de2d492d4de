//! Inventories: a valid one read into targets, the corpus of invalid ones with their exact
//! messages, read errors, and the committed JSON Schema.

use std::fs;
use std::path::PathBuf;

use super::*;
use crate::param::{ParamType, ParamValue};

fn parsed(text: &str) -> Result<Inventory, InventoryError> {
    parse(Source::text("targets.yaml", text))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const VALID: &str = "\
# the fleet
- name: prod-db1
  url: postgres://ops@db1:5432/app
  vars:
    idle_after: 15m
    max_rows: 5
    ratio: 0.5
    dry: true
    roles: [postgres, admin]
    none: []
- name: eu west
  service: eu-west
- {name: staging, service: 'my staging', vars: }
";

#[test]
fn a_valid_inventory_gives_its_targets_in_order() {
    let inventory = parsed(VALID).unwrap_or_else(|e| panic!("{}", e.render()));
    let targets = &inventory.targets;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["prod-db1", "eu west", "staging"]);
    assert_eq!(targets[0].conninfo, "postgres://ops@db1:5432/app");
    assert_eq!(targets[1].conninfo, "service=eu-west");
    assert_eq!(targets[2].conninfo, "service='my staging'");
    assert!(targets[1].vars.is_empty() && targets[2].vars.is_empty());
    let vars: Vec<String> = targets[0].vars.iter().map(TargetVar::assignment).collect();
    assert_eq!(
        vars,
        [
            "idle_after=15m",
            "max_rows=5",
            "ratio=0.5",
            "dry=true",
            "roles=[postgres, admin]",
            "none=[]",
        ]
    );
    let at = |line, column, width| {
        Some(Location {
            line,
            column,
            width,
        })
    };
    assert_eq!(targets[0].vars[0].at, at(5, 17, "15m".len()));
    assert_eq!(targets[0].vars[4].at, at(9, 12, "[postgres, admin]".len()));
    assert_eq!(inventory.source.name, "targets.yaml");
}

#[test]
fn a_list_var_reads_back_through_var_item_for_item() {
    let inventory = parsed(
        "- name: a\n  service: a\n  vars:\n    l: [x y, 'it''s', 3, true, \"[b\", \"c]\"]\n",
    )
    .unwrap_or_else(|e| panic!("{}", e.render()));
    let var = &inventory.targets[0].vars[0];
    assert_eq!(var.value, "[x y, it's, 3, true, [b, c]]");
    let items = ["x y", "it's", "3", "true", "[b", "c]"];
    let expected = ParamValue::List(
        items
            .iter()
            .map(|item| ParamValue::String((*item).to_owned()))
            .collect(),
    );
    assert_eq!(
        ParamValue::parse(ParamType::List, ParamType::String, &var.value),
        Ok(expected)
    );
}

/// Every `tests/invalid-targets/NAME.yaml` fails with exactly `NAME.expected`.
/// `RUNBOOK_BLESS=1 cargo test --lib fleet::targets::` rewrites the expectations (review the diff!).
#[test]
fn invalid_inventories_report_every_problem_at_its_location() {
    let dir = root().join("tests/invalid-targets");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 12,
        "the corpus has only {} cases",
        cases.len()
    );
    let bless = std::env::var_os("RUNBOOK_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let relative = case.strip_prefix(root()).unwrap().display().to_string();
        let source = Source::read(&case, &relative).unwrap();
        let rendered = match parse(source) {
            Ok(inventory) => panic!("{relative} is valid: {:?}", inventory.targets),
            Err(error) => error.render(),
        };
        assert!(
            rendered.contains(&format!(" --> {relative}:")),
            "{relative}: every problem needs a file:line:column:\n{rendered}"
        );
        let expected_path = case.with_extension("expected");
        if bless {
            fs::write(&expected_path, &rendered).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if rendered != expected {
            failures.push(format!(
                "--- {relative}\nexpected:\n{expected}\nactual:\n{rendered}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_url_is_never_quoted_in_a_message() {
    let text = "- name: a\n  url: postgres://u:hunter2@h/d\n  service: s\n- name: b\n  url: {password: hunter2}\n";
    let Err(InventoryError::Invalid { diagnostics, .. }) = parsed(text) else {
        panic!("valid");
    };
    assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
    for diagnostic in &diagnostics {
        assert!(
            !diagnostic.message.contains("hunter2"),
            "{}",
            diagnostic.message
        );
    }
    // `both` points at `service`, not at the line of the url.
    assert_eq!(diagnostics[0].location.map(|l| l.line), Some(3));
}

#[test]
fn no_line_a_message_shows_holds_a_password() {
    let texts = [
        "- {name: a, url: \"postgres://u:hunter2@h/d\", bogus: 1}\n",
        "- {name: a/b, url: postgres://u:hunter2@h/d}\n",
        "- {name: a, url: \"host=h password = 'hun ter2' x=1\", nam: 1}\n",
        "- {name: a, url: \"postgres://u@h/d?sslpassword=hunter2&x=1\", nam: 1}\n",
        "- name: a\n  url: [postgres://u:hunter2@h/d]\n",
        "- name: b\n  url: {password: hunter2}\n",
        "- {name: a, url: \"postgres://u:hunter2@h/d\"\n",
    ];
    for text in texts {
        let Err(error) = parsed(text) else {
            panic!("valid: {text}");
        };
        let rendered = error.render();
        assert!(rendered.contains(" | "), "a line is shown: {rendered}");
        for secret in ["hunter2", "hun ter2", "ter2"] {
            assert!(!rendered.contains(secret), "{text}\n{rendered}");
        }
    }
}

#[test]
fn masking_keeps_every_line_and_column() {
    let text = "- {name: ü, url: \"postgres://u:pä ss@h/d\", x: 1}\n  password='a\\'b' c\n";
    assert_eq!(
        masked(text),
        "- {name: ü, url: \"postgres://u:*****@h/d\", x: 1}\n  password='****' c\n"
    );
    let text = "url: postgres://u:pä@h/d # password=x\n";
    assert_eq!(masked(text), "url: postgres://u:**@h/d # password=*\n");
    assert_eq!(masked(text).chars().count(), text.chars().count());
}

#[test]
fn files_that_cannot_be_read_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let error = inventory(&missing).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot read `{}`: ", missing.display())),
        "{error}"
    );
    assert!(error.render().starts_with("error: cannot read"));

    let latin1 = dir.path().join("latin1.yaml");
    fs::write(&latin1, b"- name: caf\xe9\n").unwrap();
    assert_eq!(
        inventory(&latin1).unwrap_err().to_string(),
        format!(
            "{}:1:12: the file is not UTF-8 text (invalid byte at offset 11)",
            latin1.display()
        )
    );

    let large = dir.path().join("large.yaml");
    fs::File::create(&large)
        .unwrap()
        .set_len(64 * 1024 * 1024 + 1)
        .unwrap();
    assert_eq!(
        inventory(&large).unwrap_err().to_string(),
        format!(
            "`{}` is 67108865 bytes; inventories larger than 67108864 bytes are refused",
            large.display()
        )
    );

    let good = dir.path().join("good.yaml");
    fs::write(&good, VALID).unwrap();
    assert_eq!(inventory(&good).unwrap().targets.len(), 3);
}

#[test]
fn hostile_inventories_are_errors_never_panics() {
    let deep = format!(
        "- name: a\n  service: b\n  vars: {{x: {}}}\n",
        "[".repeat(10_000)
    );
    let aliases =
        "- &t {name: a, service: b}\n- *t\n- {name: c, service: d, vars: {x: &l [a, b], y: *l}}\n";
    for text in [
        "",
        ":",
        "- [",
        "- ? [a]\n  : b\n",
        "- {name: a, service: b, vars: {x: !tag 1, [k]: v, 5: z}}\n",
        "- name: a\n  service: b\n  vars: {x: [[[]]]}\n",
        deep.as_str(),
        aliases,
        "---\n- name: a\n  service: b\n---\n- name: c\n",
    ] {
        assert!(parsed(text).is_err(), "{text:?} was accepted");
    }
}
