//! `runbook run` when it cannot connect: exit 3, a report that says why, and the password
//! nowhere — not on standard output, standard error or in the report — however it was given
//! (URL, `PGPASSWORD`, a pgpass file).
//!
//! Wrong passwords need a server that checks them: the shared one trusts every connection, so
//! those cases run against a private SCRAM cluster (`common::cluster`).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::cluster::Cluster;
use common::{Outcome, Test};

const PLAYBOOK: &str = "version: 1\nname: conn\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n";

/// The wrong password every case gives, and its percent-encoded form for URLs.
const SECRET: &str = "S3cr3t-Pa55w0rd!xyz";
const SECRET_IN_URL: &str = "S3cr3t-Pa55w0rd%21xyz";

/// What the run reads to find its server: none may leak in from the outer environment.
const CONNECTION_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGAPPNAME",
    "PGOPTIONS",
    "PGCONNECT_TIMEOUT",
];

/// A test with the playbook, a clean connection environment (HOME is the test's directory, so
/// no ~/.pgpass is found) and a 2 s connect timeout.
fn test() -> Test {
    let mut test = Test::new().playbook("conn.yaml", PLAYBOOK);
    for name in CONNECTION_VARIABLES {
        test = test.env_remove(name);
    }
    let home = test.dir().display().to_string();
    test.env("HOME", &home).env("PGCONNECT_TIMEOUT", "2")
}

/// libpq's variables pointing at the private cluster over TCP, without a password.
fn at_cluster(test: Test, cluster: &Cluster) -> Test {
    test.env("PGHOST", "127.0.0.1")
        .env("PGPORT", &cluster.port().to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "postgres")
}

/// Runs `runbook run conn.yaml --report report.md [extra]`.
fn run(test: Test, extra: &[&str]) -> Outcome {
    test.args(["run", "conn.yaml", "--report", "report.md"])
        .args(extra.iter().copied())
        .run()
}

fn report(outcome: &Outcome, name: &str) -> String {
    let path = outcome.dir.join(name);
    fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "no report at {}: {error}\n--- stderr\n{}",
            path.display(),
            outcome.stderr
        )
    })
}

/// Asserts that no form (nor a fragment) of `secret` is in stdout, stderr or the report.
fn assert_no_secret(outcome: &Outcome, report: &str, secret: &str) {
    let encoded = secret.replace('!', "%21");
    let fragment = &secret[..secret.len() / 2 + 1];
    for (place, text) in [
        ("stdout", outcome.stdout.as_str()),
        ("stderr", outcome.stderr.as_str()),
        ("the report", report),
    ] {
        for form in [secret, encoded.as_str(), fragment] {
            assert!(
                !text.contains(form),
                "the password (`{form}`) leaked into {place}:\n{text}"
            );
        }
    }
}

/// The common shape of a run that could not connect: UNKNOWN, the step not run, the error in
/// the report and on stderr.
fn assert_could_not_connect(outcome: &Outcome, report: &str, target: &str, reason: &str) {
    assert!(
        outcome
            .stderr
            .contains(&format!("cannot connect to `{target}`")),
        "stderr should name the target `{target}`:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(reason),
        "stderr should say `{reason}`:\n{}",
        outcome.stderr
    );
    assert!(report.starts_with("# conn — UNKNOWN\n"), "{report}");
    assert!(report.contains("**Error:** cannot connect to "), "{report}");
    assert!(
        report.contains(target),
        "the report names the target:\n{report}"
    );
    assert!(
        report.contains(reason),
        "the report gives the reason:\n{report}"
    );
    assert!(
        report.contains("| 1 | `one` | check | NOT RUN | — | the run could not start |"),
        "{report}"
    );
    assert!(report.contains("**UNKNOWN** (exit 3)"), "{report}");
}

#[test]
fn a_refused_connection_names_the_target_and_still_writes_the_default_report() {
    let url = format!("postgres://alice:{SECRET}@127.0.0.1:1/postgres");
    let outcome = test()
        .args(["run", "conn.yaml", "--database-url", &url])
        .run()
        .code(3);
    // No --report: the default `./runbook-reports/<name>-<timestamp>.md`.
    let directory = outcome.dir.join("runbook-reports");
    let reports: Vec<_> = fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("no {}: {e}\n{}", directory.display(), outcome.stderr))
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let name = reports[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("conn-") && name.ends_with(".md"),
        "unexpected report name {name}"
    );
    let report = report(&outcome, &format!("runbook-reports/{name}"));
    assert!(
        outcome
            .stderr
            .contains(&format!("report: runbook-reports/{name}"))
            || outcome.stderr.contains(&name),
        "{}",
        outcome.stderr
    );
    // user, host, port and database.
    assert_could_not_connect(
        &outcome,
        &report,
        "alice@127.0.0.1:1/postgres",
        "Connection refused",
    );
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn a_missing_database_is_named() {
    let url = format!("postgres://root:{SECRET_IN_URL}@127.0.0.1:5432/no_such_db_xyz");
    let outcome = run(test(), &["--database-url", &url]).code(3);
    let report = report(&outcome, "report.md");
    assert_could_not_connect(
        &outcome,
        &report,
        "root@127.0.0.1:5432/no_such_db_xyz",
        "database \"no_such_db_xyz\" does not exist",
    );
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn a_wrong_password_in_the_url_is_never_shown() {
    let cluster = Cluster::start();
    let url = cluster.url("postgres", SECRET_IN_URL, "postgres");
    let outcome = run(test(), &["--database-url", &url]).code(3);
    let report = report(&outcome, "report.md");
    assert_could_not_connect(
        &outcome,
        &report,
        &format!("postgres@127.0.0.1:{}/postgres", cluster.port()),
        "password authentication failed for user \"postgres\"",
    );
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn a_wrong_password_in_pgpassword_is_never_shown() {
    let cluster = Cluster::start();
    let outcome = run(at_cluster(test(), &cluster).env("PGPASSWORD", SECRET), &[]).code(3);
    let report = report(&outcome, "report.md");
    assert_could_not_connect(
        &outcome,
        &report,
        &format!("postgres@127.0.0.1:{}/postgres", cluster.port()),
        "password authentication failed for user \"postgres\"",
    );
    assert_no_secret(&outcome, &report, SECRET);
}

/// Writes a pgpass file (mode 0600) for the cluster with `password`; returns its path.
fn pgpass(dir: &Path, cluster: &Cluster, password: &str) -> String {
    let path = dir.join("pgpass");
    fs::write(
        &path,
        format!("127.0.0.1:{}:*:postgres:{password}\n", cluster.port()),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[test]
fn a_wrong_password_in_a_pgpass_file_is_never_shown() {
    let cluster = Cluster::start();
    let test = test();
    let file = pgpass(test.dir(), &cluster, SECRET);
    let outcome = run(at_cluster(test, &cluster).env("PGPASSFILE", &file), &[]).code(3);
    let report = report(&outcome, "report.md");
    assert_could_not_connect(
        &outcome,
        &report,
        &format!("postgres@127.0.0.1:{}/postgres", cluster.port()),
        "password authentication failed for user \"postgres\"",
    );
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn the_right_password_in_a_pgpass_file_connects() {
    // The control for the case above: the file is read at all.
    let cluster = Cluster::start();
    let test = test();
    let file = pgpass(test.dir(), &cluster, cluster.password());
    let outcome = run(at_cluster(test, &cluster).env("PGPASSFILE", &file), &[]).code(0);
    let report = report(&outcome, "report.md");
    assert_no_secret(&outcome, &report, cluster.password());
}

#[test]
fn the_right_password_connects_and_the_target_has_no_password() {
    let cluster = Cluster::start();
    let outcome = run(
        at_cluster(test(), &cluster).env("PGPASSWORD", cluster.password()),
        &[],
    )
    .code(0);
    let report = report(&outcome, "report.md");
    let target = format!(
        "| Target | postgres@127.0.0.1:{}/postgres |",
        cluster.port()
    );
    assert!(report.contains(&target), "no `{target}` in:\n{report}");
    assert!(report.starts_with("# conn — OK\n"), "{report}");
    assert_no_secret(&outcome, &report, cluster.password());
}

#[test]
fn database_url_from_the_environment_is_used_and_its_password_never_shown() {
    // `DATABASE_URL` names the private cluster with a wrong password. Were it ignored, the
    // run would fall back to the shared server's socket (trust) and succeed.
    let cluster = Cluster::start();
    let url = cluster.url("postgres", SECRET_IN_URL, "postgres");
    let outcome = run(test().env("DATABASE_URL", &url), &[]).code(3);
    let report = report(&outcome, "report.md");
    assert_could_not_connect(
        &outcome,
        &report,
        &format!("postgres@127.0.0.1:{}/postgres", cluster.port()),
        "password authentication failed for user \"postgres\"",
    );
    assert_no_secret(&outcome, &report, SECRET);
}

/// A URL that does not parse: exit 3, a report that says so, and the password nowhere.
fn assert_invalid_url_hides_the_password(url: &str) {
    let outcome = run(test(), &["--database-url", url]).code(3);
    let report = report(&outcome, "report.md");
    assert!(
        outcome.stderr.contains("invalid connection URL"),
        "{}",
        outcome.stderr
    );
    assert!(report.starts_with("# conn — UNKNOWN\n"), "{report}");
    assert!(report.contains("invalid connection URL"), "{report}");
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn an_unparsable_url_hides_the_password_in_its_user_info() {
    assert_invalid_url_hides_the_password(&format!(
        "postgres://alice:{SECRET_IN_URL}@127.0.0.1:notaport/postgres"
    ));
}

#[test]
fn an_unparsable_url_hides_the_password_in_its_query() {
    // sqlx (like libpq) accepts `?password=`.
    assert_invalid_url_hides_the_password(&format!(
        "postgres://alice@127.0.0.1:notaport/postgres?password={SECRET_IN_URL}"
    ));
}

#[test]
fn an_unparsable_url_hides_a_password_with_a_slash() {
    // A password pasted without percent-encoding its `/`: the URL no longer parses (the
    // authority ends at the slash), but the text after `alice:` is still the password.
    let secret = SECRET.replace('-', "/");
    let outcome = run(
        test(),
        &[
            "--database-url",
            &format!("postgres://alice:{secret}@127.0.0.1:5432/postgres"),
        ],
    )
    .code(3);
    let report = report(&outcome, "report.md");
    assert!(report.contains("invalid connection URL"), "{report}");
    assert_no_secret(&outcome, &report, &secret);
}

#[test]
fn help_does_not_show_the_password() {
    let outcome = test()
        .env("PGPASSWORD", SECRET)
        .env(
            "DATABASE_URL",
            &format!("postgres://alice:{SECRET_IN_URL}@127.0.0.1:1/postgres"),
        )
        .args(["run", "--help"])
        .run()
        .code(0);
    assert!(
        outcome.stdout.contains("--database-url"),
        "{}",
        outcome.stdout
    );
    assert_no_secret(&outcome, "", SECRET);
}
