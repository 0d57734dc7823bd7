//! Ctrl-C and SIGTERM: the first asks the run to stop taking new work (what is finished
//! still lands, and the run says how far it got); a second one ends the process at once.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the handlers (once; later calls do nothing). Without it, [`requested`] is
/// never true and signals keep their default effect.
pub(crate) fn install() {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the flag is set: exit at once with 128 + SIGINT, as a
        // shell reports it. Then the first sets the flag. Failing to install either only
        // leaves the default (immediate exit), which is safe: every finished pair is on disk.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone());
        let _ = signal_hook::flag::register(signal, flag.clone());
    }
}

/// The flag a signal sets, for code that polls it (`None` before [`install`]).
pub(crate) fn flag() -> Option<&'static AtomicBool> {
    FLAG.get().map(|f| &**f)
}

/// Whether Ctrl-C or SIGTERM has asked the run to stop.
pub(crate) fn requested() -> bool {
    flag().is_some_and(|f| f.load(Ordering::Relaxed))
}
