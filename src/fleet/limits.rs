//! How many targets a fleet can run at once without running out of file descriptors.
//!
//! A running target holds its connection, a side connection while a stop cancels its query,
//! and its journal and report while they are written. Under cron or systemd the soft
//! open-file limit is often 1024 or less, well below what `--parallel` accepts: past it,
//! targets end UNKNOWN with "Too many open files" and no report. So a fleet raises its soft
//! limit to the hard one, as servers do, and runs no more targets at once than what is left
//! can take, saying so.

/// Descriptors a running target may hold at once.
const PER_TARGET: libc::rlim_t = 4;

/// Descriptors kept for the rest of the process: the standard streams, the runtime, the
/// inventory, the combined report, the metrics.
const RESERVED: libc::rlim_t = 64;

/// `parallel`, or fewer when the open-file limit cannot take that many targets at once; and
/// that limit, for the warning.
pub fn bounded(parallel: usize) -> (usize, libc::rlim_t) {
    let limit = raise_open_files();
    let room = limit.saturating_sub(RESERVED) / PER_TARGET;
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    (parallel.min(room), limit)
}

/// Raises the soft open-file limit to the hard one; gives the soft limit then in force
/// (the largest value when it cannot be read: `--parallel` is trusted then).
fn raise_open_files() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return libc::RLIM_INFINITY;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads only the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_is_kept_within_the_open_file_limit() {
        let (parallel, limit) = bounded(usize::MAX);
        assert!(parallel >= 1);
        if limit != libc::RLIM_INFINITY {
            let fits = limit.saturating_sub(RESERVED) / PER_TARGET;
            assert_eq!(parallel, usize::try_from(fits.max(1)).unwrap());
        }
        assert_eq!(bounded(1).0, 1);
    }
}
