//! `runbook run` when it cannot connect: exit 3, a report that says why, and the password
//! nowhere — not on standard output, standard error or in the report — however it was given
//! (URL, `PGPASSWORD`, a pgpass file).
//!
//! Wrong passwords need a server that checks them: the shared one trusts every connection, so
//! those cases run against a private SCRAM cluster (`common::cluster`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::cluster::Cluster;
use crate::common::db::Database;
use crate::common::pty::Pty;
use crate::common::{Outcome, Test};

const PLAYBOOK: &str = "version: 1\nname: conn\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n";

/// The wrong password every case gives, and its percent-encoded form for URLs.
const SECRET: &str = "S3cr3t-Pa55w0rd!xyz";
const SECRET_IN_URL: &str = "S3cr3t-Pa55w0rd%21xyz";

/// The playbook, with a clean connection environment.
fn test() -> Test {
    Test::new()
        .playbook("conn.yaml", PLAYBOOK)
        .clean_connection_env()
}

/// libpq's variables pointing at the private cluster over TCP, without a password.
fn at_cluster(test: Test, cluster: &Cluster) -> Test {
    test.env("PGHOST", "127.0.0.1")
        .env("PGPORT", &cluster.port().to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "postgres")
}

/// `runbook run conn.yaml` with a Markdown report.
fn run(test: Test) -> Test {
    test.args(["run", "conn.yaml"]).markdown_report()
}

/// What stderr shows when the run could not connect to `target`: the error, then the summary.
fn could_not_connect(target: &str, reason: &str) -> String {
    format!(
        "error: cannot connect to `{target}`: {reason}\nconn: UNKNOWN — [..] — 1 step, 1 not run — report: report.md\n"
    )
}

/// Why a run as `postgres` with a wrong password cannot connect to the cluster.
const WRONG_PASSWORD: &str = "password authentication failed for user \"postgres\"";

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

/// The common shape of the report of a run that could not connect: UNKNOWN, the step not run,
/// the error with the target and the reason.
fn assert_could_not_connect(report: &str, target: &str, reason: &str) {
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
        .args(["run", "conn.yaml"])
        .database_url(&url)
        .status(3)
        // How long the connection was retried varies, and so does the report's time stamp.
        .stderr(
            "error: cannot connect to `alice@127.0.0.1:1/postgres`: error communicating with database: Connection refused (os error 111) (retried for [..] s)\n\
             conn: UNKNOWN — [..] — 1 step, 1 not run — report: runbook-reports/conn-[..].md\n",
        )
        .run();
    // No --report: the default `./runbook-reports/<name>-<timestamp>.md`.
    let directory = outcome.path("runbook-reports");
    let reports: Vec<_> = fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("no {}: {e}", directory.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let name = reports[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("conn-") && name.ends_with(".md"),
        "unexpected report name {name}"
    );
    assert!(
        outcome
            .stderr
            .ends_with(&format!("report: runbook-reports/{name}\n")),
        "{}",
        outcome.stderr
    );
    let report = outcome.read(&format!("runbook-reports/{name}"));
    // user, host, port and database.
    assert_could_not_connect(&report, "alice@127.0.0.1:1/postgres", "Connection refused");
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn a_missing_database_is_named() {
    let url = format!("postgres://root:{SECRET_IN_URL}@127.0.0.1:5432/no_such_db_xyz");
    let target = "root@127.0.0.1:5432/no_such_db_xyz";
    let reason = "database \"no_such_db_xyz\" does not exist";
    let outcome = run(test())
        .database_url(&url)
        .status(3)
        .stderr(&could_not_connect(target, reason))
        .run();
    let report = outcome.markdown();
    assert_could_not_connect(&report, target, reason);
    assert_no_secret(&outcome, &report, SECRET);
}

/// A run against the cluster that fails on the wrong password: the error on stderr and in the
/// report, and the password nowhere.
fn assert_wrong_password(cluster: &Cluster, test: Test) {
    let target = format!("postgres@127.0.0.1:{}/postgres", cluster.port());
    let outcome = run(test)
        .status(3)
        .stderr(&could_not_connect(&target, WRONG_PASSWORD))
        .run();
    let report = outcome.markdown();
    assert_could_not_connect(&report, &target, WRONG_PASSWORD);
    assert_no_secret(&outcome, &report, SECRET);
}

#[test]
fn a_wrong_password_in_the_url_is_never_shown() {
    let cluster = Cluster::start();
    let url = cluster.url("postgres", SECRET_IN_URL, "postgres");
    assert_wrong_password(&cluster, test().database_url(&url));
}

#[test]
fn a_wrong_password_in_pgpassword_is_never_shown() {
    let cluster = Cluster::start();
    assert_wrong_password(
        &cluster,
        at_cluster(test(), &cluster).env("PGPASSWORD", SECRET),
    );
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
    assert_wrong_password(
        &cluster,
        at_cluster(test, &cluster).env("PGPASSFILE", &file),
    );
}

#[test]
fn the_right_password_in_a_pgpass_file_connects() {
    // The control for the case above: the file is read at all.
    let cluster = Cluster::start();
    let test = test();
    let file = pgpass(test.dir(), &cluster, cluster.password());
    let outcome = run(at_cluster(test, &cluster).env("PGPASSFILE", &file))
        .stderr("conn: OK — 1 step — report: report.md\n")
        .run();
    assert_no_secret(&outcome, &outcome.markdown(), cluster.password());
}

#[test]
fn the_right_password_connects_and_the_target_has_no_password() {
    let cluster = Cluster::start();
    let outcome = run(at_cluster(test(), &cluster).env("PGPASSWORD", cluster.password()))
        .stderr("conn: OK — 1 step — report: report.md\n")
        .run();
    let report = outcome.markdown();
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
    assert_wrong_password(&cluster, test().env("DATABASE_URL", &url));
}

/// A URL that does not resolve: exit 3 with `target` and `reason`, a report that says so, and
/// the password (`secret`) nowhere.
fn assert_invalid_url_hides_the_password(url: &str, secret: &str, target: &str, reason: &str) {
    let outcome = run(test())
        .database_url(url)
        .status(3)
        .stderr(&could_not_connect(target, reason))
        .run();
    let report = outcome.markdown();
    assert!(report.starts_with("# conn — UNKNOWN\n"), "{report}");
    assert!(report.contains(reason), "{report}");
    assert_no_secret(&outcome, &report, secret);
}

/// Why a URL with port `notaport` does not resolve.
const INVALID_PORT: &str = "invalid value for connection option `port` (from the connection \
                            string): expected a port number from 1 to 65535";

/// The target of a spec that parsed but did not resolve.
const UNRESOLVED: &str = "the server named by the connection settings";

#[test]
fn an_unparsable_url_hides_the_password_in_its_user_info() {
    assert_invalid_url_hides_the_password(
        &format!("postgres://alice:{SECRET_IN_URL}@127.0.0.1:notaport/postgres"),
        SECRET,
        UNRESOLVED,
        INVALID_PORT,
    );
}

#[test]
fn an_unparsable_url_hides_the_password_in_its_query() {
    // sqlx (like libpq) accepts `?password=`.
    assert_invalid_url_hides_the_password(
        &format!("postgres://alice@127.0.0.1:notaport/postgres?password={SECRET_IN_URL}"),
        SECRET,
        UNRESOLVED,
        INVALID_PORT,
    );
}

#[test]
fn an_unparsable_url_hides_a_password_with_a_slash() {
    // A password pasted without percent-encoding its `/`: libpq would read the text before
    // the slash as host `alice` and port, the rest as the database name; runbook refuses it.
    let secret = SECRET.replace('-', "/");
    assert_invalid_url_hides_the_password(
        &format!("postgres://alice:{secret}@127.0.0.1:5432/postgres"),
        &secret,
        "the connection string (not shown: it could not be parsed)",
        "invalid connection string: an `@` after the host: a `/`, `@` or `?` in the user name \
         or password must be percent-encoded (`%2F`, `%40`, `%3F`)",
    );
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
        .stdout_contains("--database-url")
        .run();
    assert_no_secret(&outcome, "", SECRET);
}

/// The playbook, with a service file in the test's directory (`PGSERVICEFILE`) and no system
/// one (`PGSYSCONFDIR` is the test's directory too, without a `pg_service.conf`).
fn with_services(services: &str) -> Test {
    let test = test();
    let dir = test.dir().display().to_string();
    let file = test.dir().join("services.conf");
    fs::write(&file, services).unwrap();
    test.env("PGSERVICEFILE", &file.display().to_string())
        .env("PGSYSCONFDIR", &dir)
}

/// A service naming the shared server over TCP, database `test`.
const LOCAL_SERVICE: &str =
    "# the shared server\n[local]\nhost=127.0.0.1\nport=5432\ndbname=test\nuser=root\n";

/// Asserts that the run connected to the service's server, as the report's target says.
fn assert_reached_local_service(test: Test) {
    let outcome = run(test)
        .stderr("conn: OK — 1 step — report: report.md\n")
        .run();
    let report = outcome.markdown();
    assert!(
        report.contains("| Target | root@127.0.0.1:5432/test |"),
        "{report}"
    );
}

#[test]
fn pgservice_names_the_server_from_the_service_file() {
    assert_reached_local_service(with_services(LOCAL_SERVICE).env("PGSERVICE", "local"));
}

#[test]
fn a_service_in_a_keyword_string_names_the_server() {
    assert_reached_local_service(with_services(LOCAL_SERVICE).database_url("service=local"));
}

#[test]
fn a_service_in_a_url_query_names_the_server() {
    assert_reached_local_service(
        with_services(LOCAL_SERVICE).database_url("postgresql:///?service=local"),
    );
}

#[test]
fn a_keyword_string_names_the_server() {
    assert_reached_local_service(
        test().database_url("host=127.0.0.1 port = 5432 dbname='test' user=root"),
    );
}

/// libpq never asks for SSL on a Unix socket, whatever `sslmode` says (the server would refuse
/// it there): a `PGSSLMODE=require` set for the remote servers must not lock a DBA out of
/// the local one, as it does not in psql.
#[test]
fn any_sslmode_connects_over_a_unix_socket_as_psql_does() {
    for mode in ["require", "verify-full", "prefer", "allow"] {
        let outcome = run(test()
            .env("PGHOST", "/var/run/postgresql")
            .env("PGDATABASE", "test")
            .env("PGSSLMODE", mode))
        .stderr("conn: OK — 1 step — report: report.md\n")
        .run();
        let report = outcome.markdown();
        assert!(
            report.contains("| Target | root@/var/run/postgresql:5432/test |"),
            "sslmode={mode}: {report}"
        );
    }
}

#[test]
fn an_unknown_service_stops_the_run_before_any_connection() {
    // Were the service ignored, the run would reach the shared server on its socket (trust)
    // and succeed.
    let test = with_services(LOCAL_SERVICE).env("PGSERVICE", "prod");
    // stderr shows the test's directory as `[TMP]`; the report has it as it is.
    let reason = |dir: &str| {
        format!(
            "definition of service \"prod\" not found; looked in `{dir}/services.conf`, \
             `{dir}/pg_service.conf` (does not exist)"
        )
    };
    let dir = test.dir().display().to_string();
    let outcome = run(test)
        .status(3)
        .stderr(&could_not_connect("service=prod", &reason("[TMP]")))
        .run();
    assert_could_not_connect(&outcome.markdown(), "service=prod", &reason(&dir));
}

#[test]
fn a_bare_host_and_port_is_refused_not_read_as_a_database() {
    let reason = "expected a URL (`postgres://user@host:port/dbname`) or `keyword=value` pairs \
                  (`host=… port=… dbname=…`); to name a database alone, write `dbname=NAME`";
    let outcome = run(test())
        .database_url("localhost:5432")
        .status(3)
        .stderr(&could_not_connect(
            "the connection string (not shown: it could not be parsed)",
            reason,
        ))
        .run();
    assert!(outcome.markdown().contains(reason));
}

#[test]
fn a_wrong_password_in_a_service_file_is_never_shown() {
    let cluster = Cluster::start();
    let services = format!(
        "[scram]\nhost=127.0.0.1\nport={}\ndbname=postgres\nuser=postgres\npassword={SECRET}\n",
        cluster.port()
    );
    assert_wrong_password(&cluster, with_services(&services).env("PGSERVICE", "scram"));
}

#[test]
fn a_one_character_password_is_never_shown_and_leaves_messages_whole() {
    let cluster = Cluster::start();
    let url = format!(
        "postgres://postgres:a@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let target = format!("postgres@127.0.0.1:{}/postgres", cluster.port());
    // `password authentication failed` keeps its `a`s: nothing is scrubbed by substring.
    let outcome = run(test().database_url(&url))
        .status(3)
        .stderr(&could_not_connect(&target, WRONG_PASSWORD))
        .run();
    assert!(!outcome.stderr.contains(":a@"), "{}", outcome.stderr);
    assert!(!outcome.markdown().contains(":a@"));
}

const ONE_CHECK: &str = "version: 1\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n";

#[test]
fn at_a_terminal_the_server_is_named_before_connecting_and_a_wait_says_why() {
    // Nothing listens on port 1: every attempt is refused at once, and the engine retries.
    let url = "postgres://nobody:s3cr3t@127.0.0.1:1/app?connect_timeout=3";
    let mut pty = Pty::run_url(url, ONE_CHECK, &[], &[]);
    pty.expect("connecting to nobody@127.0.0.1:1/app");
    pty.expect(
        "connecting to nobody@127.0.0.1:1/app: the server does not answer; retrying for up to ",
    );
    assert_eq!(pty.finish(), 3, "{}", pty.screen());
    let screen = pty.screen();
    assert!(!screen.contains("s3cr3t"), "{screen}");
    assert!(!screen.contains("connected to"), "{screen}");

    // Reached, the line stays and names the server the steps ran on.
    let db = Database::new();
    let mut pty = Pty::run(&db, ONE_CHECK, &[]);
    pty.expect(&format!(
        "connected to root@/var/run/postgresql:5432/{}",
        db.name
    ));
    assert_eq!(pty.finish(), 0, "{}", pty.screen());
}

#[test]
fn off_a_terminal_nothing_is_said_while_connecting() {
    let url = "postgres://nobody@127.0.0.1:1/app?connect_timeout=1";
    let outcome = Test::new()
        .playbook("one.yaml", ONE_CHECK)
        .args(["run", "one.yaml"])
        .database_url(url)
        .status(3)
        .stderr_any("checked below: only that no spinner line is in it")
        .run();
    assert!(
        !outcome.stderr.contains("connecting to"),
        "{}",
        outcome.stderr
    );
}
