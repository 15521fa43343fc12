//! Ctrl-C as a flag: the first SIGINT sets it (training then saves and exits cleanly); a second
//! one ends the process at once, as usual.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// The flag Ctrl-C sets, after [`install`].
pub fn flag() -> &'static AtomicBool {
    &STOP
}

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    // Only async-signal-safe work here: an atomic store, or _exit on a second Ctrl-C.
    if STOP.swap(true, Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

/// Installs the handler (Unix); elsewhere Ctrl-C keeps its default behaviour.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler only touches an atomic and calls _exit, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}
