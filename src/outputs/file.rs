//! Writing what a run leaves behind — reports, metrics, the journal — and nothing else on the way.
//!
//! A report is written atomically (a temporary file in the same directory, fsynced, renamed
//! over the target) because it is the record of what was done to a server: a crash or a full
//! disk mid-write must leave the previous report or the whole new one, never half of one.
//! A report is created readable by its owner only ([`private`]), since it holds other users'
//! query texts; the metrics (`--metrics`) are the same kind of write, atomic and as careful
//! about what the path names, but readable by all: node_exporter reads them as another user,
//! and they hold numbers and names only ([`Artifact`]).
//!
//! Only a regular file is replaced. A path that names something else — a device such as
//! `/dev/null`, a FIFO, a terminal, `/proc/self/fd/1` — is written to as it is: replacing it
//! would put a 0600 file where the system keeps a device. A symbolic link to a regular file
//! is refused (replacing it would cut the link, and following it would write a file the link's
//! owner chose); a directory, a missing parent directory (other than the default report
//! directory, which is created) and a directory the run cannot create files in are refused.
//! [`prepare`] finds all of this before the run starts, so that no action runs whose report
//! could not be written.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where an output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// What is written: it names the file in errors and decides who may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// A report: other users' query texts, so readable by its owner only (0600).
    Report,
    /// Prometheus metrics (`--metrics`): numbers and names, no query text and no password,
    /// read by node_exporter running as another user, so readable by all (0644).
    Metrics,
}

impl Artifact {
    #[cfg(unix)]
    fn mode(self) -> u32 {
        match self {
            Artifact::Report => 0o600,
            Artifact::Metrics => 0o644,
        }
    }
}

impl std::fmt::Display for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Artifact::Report => "the report",
            Artifact::Metrics => "the metrics",
        })
    }
}

#[derive(Debug, Error)]
pub enum WriteError {
    #[error("cannot write {what} to standard output: {source}")]
    Stdout { what: Artifact, source: io::Error },
    #[error("cannot write {what} to `{}`: it does not name a file", .path.display())]
    NotAFile { what: Artifact, path: PathBuf },
    #[error(
        "cannot create the directory `{}` for {what} `{}`: {source}",
        .directory.display(),
        .path.display()
    )]
    CreateDirectory {
        what: Artifact,
        directory: PathBuf,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot write {what} to `{}`: {source}", .path.display())]
    Write {
        what: Artifact,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot write {what} to `{}`: it is a directory", .path.display())]
    Directory { what: Artifact, path: PathBuf },
    #[error(
        "cannot write {what} to `{}`: it is a symbolic link; give the path it points to",
        .path.display()
    )]
    Symlink { what: Artifact, path: PathBuf },
    #[error(
        "cannot write {what} to `{}`: `{}` is not an existing directory",
        .path.display(),
        .directory.display()
    )]
    NoDirectory {
        what: Artifact,
        path: PathBuf,
        directory: PathBuf,
    },
    #[error(
        "cannot write {what} to `{}`: it belongs to another user (uid {owner}) in a sticky directory, where only its owner may replace it",
        .path.display()
    )]
    OthersInSticky {
        what: Artifact,
        path: PathBuf,
        owner: u32,
    },
}

/// How a report path is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file, or none yet: replaced atomically.
    Replace,
    /// A device, FIFO, terminal or socket: written to as it is.
    InPlace,
}

/// How `path` will be written, or why it cannot be, found before anything runs: for a file to
/// replace, a file is created in its directory and removed again. `create_directory`: the
/// directory may be created (the default report directory).
pub fn prepare(what: Artifact, path: &Path, create_directory: bool) -> Result<Kind, WriteError> {
    let kind = kind_of(what, path)?;
    if kind == Kind::InPlace {
        // Opening it is the probe (a FIFO without a reader is opened when the report is due).
        return Ok(kind);
    }
    let (name, directory) = parts(what, path)?;
    if !directory.is_dir() {
        if !create_directory {
            return Err(WriteError::NoDirectory {
                what,
                path: path.into(),
                directory: directory.into(),
            });
        }
        make_directory(what, directory, path)?;
    }
    replaceable(what, path, directory)?;
    // Created and removed, never synced: the probe asks whether a file can be made there.
    let probe = temporary(directory, name);
    create(what, &probe)
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|source| WriteError::Write {
            what,
            path: path.into(),
            source,
        })?;
    Ok(kind)
}

/// Refuses an existing file that the rename at the end could not replace: in a sticky
/// directory (`/tmp`), only the file's owner, the directory's owner or root may.
fn replaceable(what: Artifact, path: &Path, directory: &Path) -> Result<(), WriteError> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(file), Ok(dir)) = (fs::symlink_metadata(path), fs::metadata(directory)) else {
        return Ok(());
    };
    let euid = effective_uid();
    let sticky = dir.mode() & 0o1000 != 0;
    if sticky && euid != 0 && file.uid() != euid && dir.uid() != euid {
        return Err(WriteError::OthersInSticky {
            what,
            path: path.into(),
            owner: file.uid(),
        });
    }
    Ok(())
}

/// Reserves a default report name of its own for this run: `path` if no file has it yet,
/// else `<stem>-2.<ext>`, `-3`, ... — created empty and exclusively, so two runs started in
/// the same second never share a report or a journal. The report replaces it at the end.
pub fn reserve(path: &Path) -> Result<PathBuf, WriteError> {
    let what = Artifact::Report;
    let (name, directory) = parts(what, path)?;
    make_directory(what, directory, path)?;
    let name = Path::new(name);
    let stem = name.file_stem().unwrap_or_default().to_string_lossy();
    let extension = name
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()));
    for n in 1..=1000 {
        let candidate = match n {
            1 => path.to_owned(),
            n => directory.join(format!("{stem}-{n}{}", extension.as_deref().unwrap_or(""))),
        };
        match private().write(true).create_new(true).open(&candidate) {
            Ok(_) => return Ok(candidate),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(WriteError::Write {
                    what,
                    path: candidate,
                    source,
                });
            }
        }
    }
    Err(WriteError::Write {
        what,
        path: path.into(),
        source: io::Error::other("1000 runs already have a report of this name and second"),
    })
}

/// Reserves a directory of its own for a fleet run's reports: `path` if nothing has that name
/// yet, else `<path>-2`, `-3`, ... — created exclusively (owner-only: the reports hold other
/// users' query texts), so two fleet runs started in the same second never share one.
pub fn reserve_directory(path: &Path) -> Result<PathBuf, WriteError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let what = Artifact::Report;
    let (name, parent) = parts(what, path)?;
    make_directory(what, parent, path)?;
    let name = name.to_string_lossy();
    for n in 1..=1000 {
        let candidate = match n {
            1 => path.to_owned(),
            n => parent.join(format!("{name}-{n}")),
        };
        match fs::DirBuilder::new().mode(0o700).create(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(WriteError::CreateDirectory {
                    what,
                    directory: candidate.clone(),
                    path: candidate,
                    source,
                });
            }
        }
    }
    Err(WriteError::CreateDirectory {
        what,
        directory: path.into(),
        path: path.into(),
        source: io::Error::other("1000 runs already have a directory of this name and second"),
    })
}

/// What `path` is: refused when it is a directory or a link to a regular file.
pub fn kind_of(what: Artifact, path: &Path) -> Result<Kind, WriteError> {
    let Ok(own) = fs::symlink_metadata(path) else {
        return Ok(Kind::Replace);
    };
    let target = fs::metadata(path).ok();
    match target {
        Some(target) if target.is_dir() => Err(WriteError::Directory {
            what,
            path: path.into(),
        }),
        Some(target) if !target.is_file() => Ok(Kind::InPlace),
        _ if own.file_type().is_symlink() => Err(WriteError::Symlink {
            what,
            path: path.into(),
        }),
        _ => Ok(Kind::Replace),
    }
}

/// Creates `directory` (and its parents) for the file `path`.
pub fn make_directory(what: Artifact, directory: &Path, path: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(directory).map_err(|source| WriteError::CreateDirectory {
        what,
        directory: directory.into(),
        path: path.into(),
        source,
    })
}

fn parts(what: Artifact, path: &Path) -> Result<(&std::ffi::OsStr, &Path), WriteError> {
    let name = path.file_name().ok_or_else(|| WriteError::NotAFile {
        what,
        path: path.into(),
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok((name, directory))
}

fn temporary(directory: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let mut temporary_name = OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    directory.join(temporary_name)
}

/// The user the run's files belong to (the effective uid).
pub fn effective_uid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Options that create a file readable and writable by its owner only (0600 on unix).
pub fn private() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// The journal beside a report: `x.md` → `x.journal.jsonl`.
pub fn beside(report: &Path) -> PathBuf {
    report.with_extension("journal.jsonl")
}

/// Writes `text`; a file is replaced atomically, with the mode `what` is given.
pub fn write(what: Artifact, text: &str, destination: &Destination) -> Result<(), WriteError> {
    match destination {
        Destination::Stdout => {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|source| WriteError::Stdout { what, source })
        }
        Destination::File(path) => write_file(what, text, path),
    }
}

/// [`write`] on a thread of its own, for a caller whose thread must not wait on the disk: a
/// fleet's one engine thread drives every target, and a report's two fsyncs would stall all
/// of them. The same write, the same errors.
pub async fn write_aside(
    what: Artifact,
    text: String,
    destination: Destination,
) -> Result<(), WriteError> {
    let at = destination.clone();
    tokio::task::spawn_blocking(move || write(what, &text, &destination))
        .await
        .unwrap_or_else(|failed| {
            let source = io::Error::other(format!("the writing thread failed: {failed}"));
            Err(match at {
                Destination::Stdout => WriteError::Stdout { what, source },
                Destination::File(path) => WriteError::Write { what, path, source },
            })
        })
}

fn write_file(what: Artifact, text: &str, path: &Path) -> Result<(), WriteError> {
    let error = |source| WriteError::Write {
        what,
        path: path.into(),
        source,
    };
    if kind_of(what, path)? == Kind::InPlace {
        let mut file = OpenOptions::new().write(true).open(path).map_err(error)?;
        return file
            .write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(error);
    }
    let (name, directory) = parts(what, path)?;
    make_directory(what, directory, path)?;
    let temporary = temporary(directory, name);
    let result = write_synced(what, &temporary, text).and_then(|()| fs::rename(&temporary, path));
    if let Err(source) = result {
        let _ = fs::remove_file(&temporary);
        return Err(error(source));
    }
    sync_directory(directory);
    Ok(())
}

/// Writes a new file (see [`create`]) and flushes it to disk.
fn write_synced(what: Artifact, path: &Path, text: &str) -> io::Result<()> {
    let mut file = create(what, path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Creates a new, empty file with the mode of `what` on unix, whatever the umask.
fn create(what: Artifact, path: &Path) -> io::Result<fs::File> {
    // A leftover from a crashed run with the same pid; `create_new` then refuses symlinks.
    let _ = fs::remove_file(path);
    let file = private().write(true).create_new(true).open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(what.mode()))?;
    }
    #[cfg(not(unix))]
    let _ = what;
    Ok(file)
}

/// Makes the rename durable. Best effort: the report is complete either way.
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    if let Ok(directory) = fs::File::open(directory) {
        let _ = directory.sync_all();
    }
    #[cfg(not(unix))]
    let _ = directory;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_the_report_atomically_for_its_owner_only() {
        let directory = tempfile::tempdir().unwrap();
        let reports = directory.path().join("runbook-reports");
        let path = reports.join("cleanup.md");
        let destination = Destination::File(path.clone());
        write(Artifact::Report, "first\n", &destination).unwrap();
        write(Artifact::Report, "# second\n| a |\n", &destination).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "# second\n| a |\n");
        let names: Vec<_> = fs::read_dir(&reports)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["cleanup.md"], "no temporary file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn write_under_a_regular_file_is_an_error_naming_the_path() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("not-a-directory");
        fs::write(&file, "").unwrap();
        let path = file.join("report.md");
        let error = write(Artifact::Report, "text", &Destination::File(path.clone())).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot create the directory `{}` for the report `{}`: ",
                file.display(),
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn write_needs_a_file_name() {
        let error = write(
            Artifact::Report,
            "text",
            &Destination::File(PathBuf::from("/")),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot write the report to `/`: it is a directory"
        );
    }

    #[test]
    fn the_journal_goes_beside_the_report() {
        assert_eq!(
            beside(Path::new("r/x.md")),
            PathBuf::from("r/x.journal.jsonl")
        );
    }
}
