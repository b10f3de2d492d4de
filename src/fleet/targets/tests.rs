//! The targets of `--target` and `--service`, their names and their report files.

use std::fs;

use super::*;

fn target(name: &str) -> FleetTarget {
    FleetTarget {
        name: name.to_owned(),
        conninfo: format!("service={name}"),
        vars: Vec::new(),
    }
}

fn names(targets: &[FleetTarget]) -> Vec<&str> {
    targets.iter().map(|t| t.name.as_str()).collect()
}

/// An environment with the OS user `osuser` and no service file but those a case gives.
fn env(vars: &[(&str, &str)]) -> Environment {
    Environment::isolated(vars)
}

#[test]
fn conninfo_targets_are_named_by_service_or_server_never_by_their_text() {
    let given: Vec<String> = [
        "service=prod-1",
        "postgres://ops:s3cret@db1:6543/app",
        "host=db2 dbname=app user=ops password=hunter2",
        "postgres://u:pa/ss@host/db",
        "localhost:5432",
        "dbname=app service=prod-1",
    ]
    .map(str::to_owned)
    .to_vec();
    let targets = from_conninfos(&given, &env(&[]));
    assert_eq!(
        names(&targets),
        [
            "prod-1",
            "ops@db1:6543/app",
            "ops@db2:5432/app",
            "target-4",
            "target-5",
            // Not a service alone, and the service is nowhere: named by position.
            "target-6",
        ]
    );
    for (target, conninfo) in targets.iter().zip(&given) {
        assert_eq!(&target.conninfo, conninfo);
        assert!(target.vars.is_empty());
        for secret in ["s3cret", "hunter2", "pa/ss"] {
            assert!(!target.name.contains(secret), "{}", target.name);
        }
    }
}

#[test]
fn service_targets_match_the_glob_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home.conf");
    fs::write(&home, "[prod-b]\nhost=b\n[staging]\n[prod-a]\n[my prod]\n").unwrap();
    fs::write(dir.path().join("pg_service.conf"), "[prod-a]\n[prod-c]\n").unwrap();
    let home = home.display().to_string();
    let sysconf = dir.path().display().to_string();
    let files = env(&[("PGSERVICEFILE", &home), ("PGSYSCONFDIR", &sysconf)]);

    let targets = from_services("prod-*", &files).unwrap();
    assert_eq!(names(&targets), ["prod-b", "prod-a", "prod-c"]);
    assert_eq!(targets[0].conninfo, "service=prod-b");
    let all = from_services("*", &files).unwrap();
    assert_eq!(all[3].name, "my prod");
    assert_eq!(all[3].conninfo, "service='my prod'");
    assert_eq!(
        names(&from_services("prod-[!b]", &files).unwrap()),
        ["prod-a", "prod-c"]
    );

    assert_eq!(
        from_services("prd-*", &files).unwrap_err(),
        format!(
            "no service matches `prd-*` (services: `prod-b`, `staging`, `prod-a`, `my prod`, \
             `prod-c`); looked in `{home}`, `{sysconf}/pg_service.conf`"
        )
    );
    assert_eq!(
        from_services("prod-*", &env(&[])).unwrap_err(),
        "no service matches `prod-*` (no service is defined); looked in \
         `/nonexistent-sysconfdir/pg_service.conf` (does not exist)"
    );
}

#[test]
fn an_unreadable_service_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().display().to_string();
    let error = from_services("*", &env(&[("PGSERVICEFILE", &file)])).unwrap_err();
    assert!(
        error.starts_with(&format!("cannot read service file `{file}`: ")),
        "{error}"
    );
}

#[test]
fn names_are_unique_across_the_fleet() {
    assert_eq!(check_unique(&[target("a"), target("b")]), Ok(()));
    assert_eq!(check_unique(&[]), Ok(()));
    let suggestion = "name each target once, for instance in an inventory (`--targets FILE`, \
                      with `name:` for each)";
    assert_eq!(
        check_unique(&[target("a"), target("b"), target("a"), target("a")]),
        Err(format!(
            "target name `a` is given to more than one target (by `--target`, `--targets` or \
             `--service`); {suggestion}"
        ))
    );
    assert_eq!(
        check_unique(&[target("a"), target("b"), target("b"), target("a")]),
        Err(format!(
            "target names `b`, `a` are given to more than one target (by `--target`, \
             `--targets` or `--service`); {suggestion}"
        ))
    );
}

#[test]
fn file_stems_are_safe_and_unique() {
    for (name, stem) in [
        ("prod-db1", "prod-db1"),
        ("ops@db1:5432/app", "ops-db1-5432-app"),
        ("../etc/passwd", "..-etc-passwd"),
        ("", "target"),
        (".", "-"),
        ("..", "--"),
        ("...", "---"),
        ("été", "-t-"),
        ("a\nb", "a-b"),
    ] {
        assert_eq!(file_stem(name), stem, "{name:?}");
    }
    let targets: Vec<FleetTarget> = ["a/b", "a-b", "a:b", "a-b-2", "DB", "db", ""]
        .into_iter()
        .map(target)
        .collect();
    assert_eq!(
        file_stems(&targets),
        ["a-b", "a-b-2", "a-b-3", "a-b-2-2", "DB", "db-2", "target"]
    );
}

#[test]
fn control_characters_in_a_services_or_servers_name_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home.conf");
    fs::write(&home, "[prod-\x1b]0;owned\x07]\nhost=h\n").unwrap();
    let home = home.display().to_string();
    let files = env(&[("PGSERVICEFILE", &home)]);
    let targets = from_services("prod-*", &files).unwrap();
    assert_eq!(names(&targets), ["prod-\\u{1b}]0;owned\\u{7}"]);
    assert_eq!(targets[0].conninfo, "service=prod-\x1b]0;owned\x07");
    let given = ["host=h port=5432 user='\x1b[2J' dbname=d".to_owned()];
    let targets = from_conninfos(&given, &env(&[]));
    assert_eq!(names(&targets), ["\\u{1b}[2J@h:5432/d"]);
}

#[test]
fn no_stem_is_the_combined_reports_or_too_long_for_a_file_name() {
    let long = "x".repeat(300);
    let longer = format!("{long}y");
    let targets: Vec<FleetTarget> = ["summary", "Summary", &long, &longer]
        .into_iter()
        .map(target)
        .collect();
    let stems = file_stems(&targets);
    assert_eq!(stems[..2], ["summary-2", "Summary-3"]);
    assert_eq!(stems[2], "x".repeat(200));
    assert_eq!(stems[3], format!("{}-2", "x".repeat(200)));
    // The journal's temporary file, the longest name written, still fits.
    let journal = format!(".{}.journal.jsonl.tmp-4194304", stems[3]);
    assert!(journal.len() <= 255, "{}", journal.len());
}
