//! The parser against libpq's documented examples ("Connection Strings", "Environment
//! Variables", "The Connection Service File"), and the precedence between the levels.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

/// An environment with `vars`, the OS user `osuser`, and no home or system service file unless
/// the case gives them (`PGSYSCONFDIR` points at an empty place by default).
fn env(vars: &[(&str, &str)]) -> Environment {
    Environment::isolated(vars)
}

fn resolved(conninfo: &str, vars: &[(&str, &str)]) -> ConnSpec {
    resolve(Some(conninfo), &env(vars)).unwrap_or_else(|e| panic!("{conninfo}: {e}"))
}

fn error(conninfo: &str, vars: &[(&str, &str)]) -> SpecError {
    match resolve(Some(conninfo), &env(vars)) {
        Ok(spec) => panic!("{conninfo} resolved to {spec}"),
        Err(error) => error,
    }
}

fn password(spec: &ConnSpec) -> Option<&str> {
    spec.password.as_ref().map(Password::expose)
}

#[test]
fn connection_strings_name_the_server_libpq_names() {
    let cases = [
        ("", "osuser@/var/run/postgresql:5432/osuser"),
        ("postgresql://", "osuser@/var/run/postgresql:5432/osuser"),
        ("postgresql://localhost", "osuser@localhost:5432/osuser"),
        (
            "postgresql://localhost:5433",
            "osuser@localhost:5433/osuser",
        ),
        ("postgresql://localhost/mydb", "osuser@localhost:5432/mydb"),
        ("postgresql://user@localhost", "user@localhost:5432/user"),
        (
            "postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp",
            "other@localhost:5432/otherdb",
        ),
        (
            "postgresql:///mydb?host=localhost&port=5433",
            "osuser@localhost:5433/mydb",
        ),
        (
            "postgresql://[2001:db8::1234]/database",
            "osuser@[2001:db8::1234]:5432/database",
        ),
        ("postgres://[::1]:5433/db", "osuser@[::1]:5433/db"),
        (
            "postgresql:///dbname?host=/var/lib/postgresql",
            "osuser@/var/lib/postgresql:5432/dbname",
        ),
        (
            "postgresql://%2Fvar%2Flib%2Fpostgresql/dbname",
            "osuser@/var/lib/postgresql:5432/dbname",
        ),
        ("postgres://us%40er@h/d%20b", "us@er@h:5432/d b"),
        ("postgres://h/db?dbname=other&user=u", "u@h:5432/other"),
        (
            "host=localhost port=5432 dbname=mydb connect_timeout=10",
            "osuser@localhost:5432/mydb",
        ),
        (
            "host=127.0.0.1 port = 5432 dbname='my db' user =ops",
            "ops@127.0.0.1:5432/my db",
        ),
        (r"dbname=a\ b host=/tmp", "osuser@/tmp:5432/a b"),
        ("hostaddr=10.0.0.5 host=db1", "osuser@10.0.0.5:5432/osuser"),
        ("host='' dbname=x", "osuser@/var/run/postgresql:5432/x"),
        // As in libpq: the blanks after `=` are skipped, so the value is the next word.
        ("host= dbname=x", "osuser@dbname=x:5432/osuser"),
    ];
    for (conninfo, display) in cases {
        assert_eq!(resolved(conninfo, &[]).to_string(), display, "{conninfo}");
    }
}

#[test]
fn values_are_unquoted_unescaped_and_decoded() {
    let spec = resolved(r"password='it\'s a \\ test' sslmode=require", &[]);
    assert_eq!(password(&spec), Some(r"it's a \ test"));
    assert_eq!(spec.sslmode, SslMode::Require);
    let spec = resolved("postgresql://user:p%2Fw%3A@localhost?ssl=true", &[]);
    assert_eq!(password(&spec), Some("p/w:"));
    assert_eq!(spec.sslmode, SslMode::Require);
    let spec = resolved("postgres://u:pa:ss@h/db?connect_timeout=0", &[]);
    assert_eq!(password(&spec), Some("pa:ss"));
    assert_eq!(spec.connect_timeout, None);
    let spec = resolved(
        "connect_timeout=7 options='-c geqo=off --work-mem=64MB'",
        &[],
    );
    assert_eq!(spec.connect_timeout, Some(7));
    let settings = spec.options.map(|(settings, _)| settings);
    let expected = [("geqo", "off"), ("work_mem", "64MB")].map(|(k, v)| (k.into(), v.into()));
    assert_eq!(settings, Some(expected.to_vec()));
}

#[test]
fn what_libpq_would_not_read_as_intended_is_an_error_that_quotes_no_value() {
    let cases = [
        ("localhost:5432", "expected a URL"),
        ("mydb", "expected a URL"),
        (
            "host=h bogus=1 other=2",
            r#"invalid connection options "bogus", "other""#,
        ),
        (
            "postgres://h/db?bogus=1",
            r#"invalid connection option "bogus""#,
        ),
        ("host dbname=x", "missing `=` after `host`"),
        ("host=h dbname='unterminated", "unterminated quoted string"),
        ("postgres://[::1/db", "without its closing `]`"),
        ("postgres://[]/db", "an empty IPv6 address"),
        (
            "postgres://[::1]x/db",
            "unexpected character after an IPv6 address",
        ),
        ("postgres://h/db?sslmode", "without `=`"),
        ("postgres://h/db?a=b=c", "a second `=`"),
        ("postgres://h/%zzdb", "invalid percent-encoded token"),
        ("postgres://h/a%00b", "forbidden `%00`"),
        (
            "postgres://h/db?sslmode=bogus",
            "`sslmode` (from the connection string)",
        ),
        ("port=abc", "expected a port number from 1 to 65535"),
        ("postgres://h:99999/db", "expected a port number"),
        ("hostaddr=db1", "expected a numeric IP address"),
        ("connect_timeout=soon", "expected a whole number of seconds"),
        ("options=-X", "expected `-c name=value` settings"),
        (
            "postgresql://host1:123,host2:456/somedb?target_session_attrs=any",
            "multiple hosts are not supported (`host` from the connection string",
        ),
        ("host=a,b", "multiple hosts are not supported"),
        (
            "host=h target_session_attrs=read-write",
            "`target_session_attrs` (from the connection string) is not supported by runbook \
             except as any",
        ),
    ];
    for (conninfo, expected) in cases {
        let message = error(conninfo, &[]).to_string();
        assert!(message.contains(expected), "{conninfo}: {message}");
    }
    assert!(resolve(Some("target_session_attrs=any"), &env(&[])).is_ok());
}

#[test]
fn a_misplaced_password_is_never_echoed() {
    // An unencoded `/` ends libpq's user info early: it would read host `alice`, port
    // `S3cr3t` and database `Pa55w0rd@127.0.0.1:5432/postgres`.
    let cases = [
        (
            "postgres://alice:S3cr3t/Pa55w0rd@127.0.0.1:5432/postgres",
            ["S3cr3t", "Pa55w0rd"],
        ),
        ("postgres://alice:12/34@127.0.0.1/postgres", ["12", "34"]),
        (
            "postgres://alice:Pa@55w0rd@127.0.0.1/postgres",
            ["Pa", "55w0rd"],
        ),
        ("password=S3cr3t Pa55w0rd host=h", ["S3cr3t", "Pa55w0rd"]),
        ("password=S3cr3t Pa55w0rd=x host=h", ["S3cr3t", "Pa55w0rd"]),
        ("host=h S3cr3t Pa55w0rd", ["S3cr3t", "Pa55w0rd"]),
    ];
    for (conninfo, fragments) in cases {
        let error = error(conninfo, &[]);
        let shown = format!("{error} {}", error.target());
        for fragment in fragments {
            assert!(!shown.contains(fragment), "{conninfo}: {shown}");
        }
    }
}

#[test]
fn a_password_prints_nowhere_however_short() {
    let spec = resolved("postgres://alice:a@db1/app", &[]);
    assert_eq!(password(&spec), Some("a"));
    assert_eq!(spec.to_string(), "alice@db1:5432/app");
    let debug = format!("{spec:?}");
    assert!(debug.contains("Password(***)"), "{debug}");
    let spec = resolved("host=db1 password=S3cr3t-xyz", &[]);
    assert!(!format!("{spec} {spec:?}").contains("S3cr3t"));
}

#[test]
fn the_environment_fills_what_the_string_leaves_unset() {
    let vars = [
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGDATABASE", "envdb"),
        ("PGPASSWORD", "envpass"),
        ("PGSSLMODE", "disable"),
        ("PGCONNECT_TIMEOUT", "3"),
    ];
    let spec = resolved("", &vars);
    assert_eq!(spec.to_string(), "envuser@envhost:6000/envdb");
    assert_eq!(password(&spec), Some("envpass"));
    assert_eq!(
        (spec.sslmode, spec.connect_timeout),
        (SslMode::Disable, Some(3))
    );
    let spec = resolved("postgres://u:p@h/db?sslmode=require", &vars);
    assert_eq!(spec.to_string(), "u@h:6000/db");
    assert_eq!(
        (password(&spec), spec.sslmode),
        (Some("p"), SslMode::Require)
    );
    // An empty variable is unset; the database defaults to the user.
    let spec = resolved("", &[("PGHOST", ""), ("PGUSER", "ops")]);
    assert_eq!(spec.to_string(), "ops@/var/run/postgresql:5432/ops");
    let message = error("", &[("PGTARGETSESSIONATTRS", "primary")]).to_string();
    assert!(
        message.contains("`target_session_attrs` (from `PGTARGETSESSIONATTRS`)"),
        "{message}"
    );
    let no_user = resolve(None, &Environment::with([]));
    assert!(matches!(no_user, Err(SpecError::NoUser)));
}

/// Writes `text` to `dir/name`, returning the path as text.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Environment variables of a case.
type Vars<'a> = &'a [(&'a str, &'a str)];

const SERVICES: &str = "# services\n\
    [staging]\n\
    host=staging-db\n\
    \n\
    [prod]\n\
    \x20 host=db1  \n\
    port=6543\n\
    dbname=app\n\
    # a comment\n\
    user=ops\n\
    [other]\n\
    password=not-prods\n";

#[test]
fn a_service_gives_what_the_string_leaves_unset_before_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "services.conf", SERVICES);
    let with = |vars: &[(&'static str, &'static str)]| {
        let mut vars = vars.to_vec();
        vars.push(("PGSERVICEFILE", file.as_str()));
        vars
    };
    let cases: [(&str, Vars, &str); 8] = [
        ("", &[("PGSERVICE", "prod")], "ops@db1:6543/app"),
        ("service=prod", &[], "ops@db1:6543/app"),
        ("postgres:///?service=prod", &[], "ops@db1:6543/app"),
        ("postgres:///other?service=prod", &[], "ops@db1:6543/other"),
        (
            "service=prod user=me",
            &[("PGUSER", "envuser")],
            "me@db1:6543/app",
        ),
        // The service beats the environment; the environment fills what it lacks.
        (
            "service=staging",
            &[("PGHOST", "envhost"), ("PGPORT", "7000")],
            "osuser@staging-db:7000/osuser",
        ),
        // A service in the string wins over PGSERVICE.
        (
            "service=staging",
            &[("PGSERVICE", "prod")],
            "osuser@staging-db:5432/osuser",
        ),
        (
            "",
            &[("PGSERVICE", "")],
            "osuser@/var/run/postgresql:5432/osuser",
        ),
    ];
    for (conninfo, vars, display) in cases {
        let spec = resolved(conninfo, &with(vars));
        assert_eq!(spec.to_string(), display, "{conninfo} {vars:?}");
        // The section of `prod` ends at `[other]`.
        assert_eq!(password(&spec), None, "{conninfo}");
    }
}

#[test]
fn the_first_file_that_has_the_service_wins() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let sysconf = dir.path().join("etc");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&sysconf).unwrap();
    write(
        &home,
        ".pg_service.conf",
        "[mine]\nhost=home-db\n[both]\nhost=home-both\n",
    );
    write(
        &sysconf,
        "pg_service.conf",
        "[both]\nhost=sys-both\n[sys]\nhost=sys-db\n",
    );
    let sysconf = sysconf.display().to_string();
    let env = Environment {
        home: Some(home.clone()),
        ..env(&[("PGSYSCONFDIR", &sysconf)])
    };
    for (service, host) in [
        ("mine", "home-db"),
        ("both", "home-both"),
        ("sys", "sys-db"),
    ] {
        let spec = resolve(Some(&format!("service={service}")), &env).unwrap();
        assert_eq!(spec.host, Host::Tcp(host.to_owned()), "{service}");
    }
    let message = resolve(Some("service=nowhere"), &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "definition of service \"nowhere\" not found; looked in `{}/.pg_service.conf`, \
             `{sysconf}/pg_service.conf`",
            home.display()
        )
    );
}

#[test]
fn an_unknown_service_is_an_error_listing_every_file_never_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.conf").display().to_string();
    let sysconf = dir.path().display().to_string();
    let vars = [
        ("PGSERVICEFILE", missing.as_str()),
        ("PGSYSCONFDIR", &sysconf),
    ];
    let error = error("", &[vars[0], vars[1], ("PGSERVICE", "prod")]);
    assert_eq!(error.target(), "service=prod");
    assert_eq!(
        error.to_string(),
        format!(
            "definition of service \"prod\" not found; looked in `{missing}` (does not exist), \
             `{sysconf}/pg_service.conf` (does not exist)"
        )
    );
}

#[test]
fn a_service_file_is_read_with_libpqs_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[s]\nhost = db1\n", "line 2: no spaces around `=`"),
        (
            "[s]\nhost=db1\nservice=t\n",
            "line 3: nested service specifications",
        ),
        (
            "[s]\nbogus=1\n",
            "line 2: invalid connection option \"bogus\"",
        ),
        ("[s]\njust-a-word\n", "line 2: expected `keyword=value`"),
        (
            "[s]\ntarget_session_attrs=primary\n",
            "is not supported by runbook",
        ),
    ];
    for (text, expected) in cases {
        let file = write(dir.path(), "s.conf", text);
        let message = error("service=s", &[("PGSERVICEFILE", &file)]).to_string();
        assert!(message.contains(expected), "{text:?}: {message}");
    }
    // Lines outside the service are not read.
    let file = write(
        dir.path(),
        "s.conf",
        "bogus line\n[t]\nnot=read\n[s]\nhost=db1\n",
    );
    let spec = resolved("service=s", &[("PGSERVICEFILE", &file)]);
    assert_eq!(spec.host, Host::Tcp("db1".to_owned()));
}

#[test]
fn a_password_file_matches_the_resolved_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "pgpass",
        "localhost:5432:*:alice:socket-pw\ndb1:6543:app:ops:db1-pw\n",
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let services = write(dir.path(), "services.conf", SERVICES);
    let vars = [("PGPASSFILE", file.as_str()), ("PGSERVICEFILE", &services)];
    let cases = [
        ("user=alice", Some("socket-pw")),
        ("user=alice host=/var/run/postgresql", Some("socket-pw")),
        ("user=alice host=/tmp", None),
        ("service=prod", Some("db1-pw")),
        ("service=prod password=given", Some("given")),
        ("service=prod dbname=other", None),
    ];
    for (conninfo, expected) in cases {
        assert_eq!(password(&resolved(conninfo, &vars)), expected, "{conninfo}");
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let spec = resolved("user=alice", &vars);
    assert_eq!(password(&spec), None);
    assert_eq!(spec.warnings.len(), 1, "{:?}", spec.warnings);
}

#[test]
fn service_names_come_in_file_order_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let home = write(dir.path(), "home.conf", "[b]\nhost=x\n [a] \n[b]\n");
    write(
        dir.path(),
        "pg_service.conf",
        "# [c]\n[a]\n[c]\n[broken\n[]\n",
    );
    let sysconf = dir.path().display().to_string();
    let both = env(&[("PGSERVICEFILE", &home), ("PGSYSCONFDIR", &sysconf)]);
    assert_eq!(service::names(&both).unwrap(), ["b", "a", "c"]);
    let missing = env(&[("PGSERVICEFILE", "/nonexistent/file.conf")]);
    assert_eq!(service::names(&missing).unwrap(), Vec::<String>::new());
    assert_eq!(
        service::looked(&missing),
        [
            ("/nonexistent/file.conf".into(), false),
            ("/nonexistent-sysconfdir/pg_service.conf".into(), false)
        ]
    );
}

#[test]
fn a_string_naming_only_a_service_names_it() {
    for (conninfo, expected) in [
        ("service=prod", Some("prod")),
        (" service = 'my prod' ", Some("my prod")),
        ("postgres:///?service=prod", Some("prod")),
        ("service=prod dbname=app", None),
        ("service=", None),
        ("host=db1", None),
        ("not a string", None),
    ] {
        assert_eq!(service_only(conninfo).as_deref(), expected, "{conninfo}");
    }
    for name in ["prod-1", "my prod", "it's", r"back\slash", ""] {
        let conninfo = service_conninfo(name);
        let named = service_only(&conninfo);
        assert_eq!(
            named.as_deref(),
            Some(name).filter(|n| !n.is_empty()),
            "{conninfo}"
        );
    }
    assert_eq!(service_conninfo("prod-1"), "service=prod-1");
    assert_eq!(service_conninfo("it's"), r"service='it\'s'");
}
