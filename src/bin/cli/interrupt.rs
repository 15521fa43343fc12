//! Ctrl-C as a flag: the first one sets it (training then saves and exits cleanly); a second one
//! ends the process at once, as usual.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// The flag Ctrl-C sets, after [`install`].
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// Installs the handler. Without one (a platform ctrlc cannot serve) Ctrl-C keeps its default
/// behaviour and stops the process; that is said once.
pub fn install() {
    let result = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = result {
        eprintln!("note: Ctrl-C will stop without saving ({e})");
    }
}
