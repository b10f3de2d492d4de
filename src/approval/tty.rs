//! The terminal's mode, saved before a prompt so that it can be put back, and the raw mode a
//! menu reads its keys in.
//!
//! A prompt abandoned on Ctrl-C may leave the terminal raw (its thread is still blocked
//! reading): whoever abandons it restores the mode saved before it began. A menu holds the
//! terminal raw from its first key to its last, so keys typed while it redraws are neither
//! echoed nor held back for a line, and it waits for a key a short while at a time
//! ([`readable`]) so that it can close when the run is interrupted from outside.

/// Whether standard input has something to read (or has gone: a read then says so) within
/// `wait`; false when the wait was cut short by a signal.
pub fn readable(wait: std::time::Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one pollfd, valid for the call.
    let ready = unsafe { libc::poll(&mut fd, 1, millis) };
    ready > 0 && fd.revents != 0
}

pub struct Mode(libc::termios);

impl Mode {
    pub fn save() -> Option<Mode> {
        let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr writes a whole termios on success and nothing is read otherwise.
        let saved = unsafe { libc::tcgetattr(libc::STDIN_FILENO, termios.as_mut_ptr()) };
        // SAFETY: initialised by the successful call above.
        (saved == 0).then(|| Mode(unsafe { termios.assume_init() }))
    }

    /// Input raw (no echo, no line editing, no signals from keys: a Ctrl-C is read as a key),
    /// output as it was, so a line break still returns the cursor.
    pub fn raw(&self) {
        let mut raw = self.0;
        // SAFETY: cfmakeraw only edits the termios it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        raw.c_oflag = self.0.c_oflag;
        // SAFETY: a termios derived from one tcgetattr returned, for the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &raw) };
    }

    pub fn restore(&self) {
        // SAFETY: a termios that tcgetattr returned, for the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0) };
    }
}
