//! Ctrl-C handling: the first Ctrl-C asks the running trial to stop at the next step (so the
//! store can mark it interrupted and keep every finished trial); a second one exits at once.
use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the Ctrl-C handler (idempotent).
pub fn install_interrupt_handler() {
    INSTALL.call_once(|| {
        let result = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting now (the running trial stays marked running and is resumed next time)");
                std::process::exit(130);
            }
            eprintln!("\nCtrl-C: stopping after the current step; press again to exit immediately");
        });
        if let Err(e) = result {
            eprintln!("warning: cannot install the Ctrl-C handler ({e}); Ctrl-C will kill bitlab without cleanup");
        }
    });
}

/// True once Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Returns [`Error::Interrupted`] once Ctrl-C was pressed.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
