//! SIGTERM and SIGINT, turned into a readable pipe the event loop polls.
//!
//! As PID 1 in a scratch container, a process without handlers ignores SIGTERM, and every
//! pod stop would wait for the kill timeout. The handler only writes one byte to a
//! non-blocking pipe (async-signal-safe); the loop sees the pipe become readable and starts
//! draining.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

static WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_signal: libc::c_int) {
    let fd = WRITE_END.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a valid one-byte local. A full
        // pipe (EAGAIN) only means a wake-up is already pending.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// The read end of the signal pipe.
pub struct SignalPipe {
    read_end: RawFd,
}

impl SignalPipe {
    /// Creates the pipe and installs the handlers for SIGTERM and SIGINT.
    pub fn install() -> io::Result<SignalPipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a valid array of two ints as pipe2(2) requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        WRITE_END.store(write_end, Ordering::Relaxed);
        for signal in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid;
            // the handler only calls async-signal-safe functions.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(SignalPipe { read_end })
    }

    pub fn fd(&self) -> RawFd {
        self.read_end
    }

    /// Empties the pipe; returns true when at least one signal had arrived.
    pub fn take(&self) -> bool {
        let mut buf = [0u8; 64];
        let mut seen = false;
        loop {
            // SAFETY: buf is a valid writable buffer of the given length.
            let n = unsafe { libc::read(self.read_end, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return seen;
            }
            seen = true;
        }
    }
}
