//! The process's peak resident set size (`VmHWM`), and resetting it to the current RSS
//! (`/proc/self/clear_refs`, Linux 4.0+), so one child process can measure the peak of one
//! operation after loading a model. Where the counter cannot be reset, the fallback is the
//! lifetime peak from `getrusage`, which can hide an operation smaller than the loading.
//!
//! (`memory.rs` has private copies of these two helpers; they belong here.)

/// Resets the peak-RSS counter to the current RSS and returns it, or the lifetime peak where
/// the counter cannot be reset.
pub(crate) fn reset_peak_rss() -> u64 {
    if std::fs::write("/proc/self/clear_refs", "5").is_ok() {
        if let Some(bytes) = status_field_bytes("VmHWM:") {
            return bytes;
        }
    }
    lifetime_peak_rss()
}

/// The peak RSS since the last reset (or since the process started), in bytes.
pub(crate) fn peak_rss() -> u64 {
    status_field_bytes("VmHWM:").unwrap_or_else(lifetime_peak_rss)
}

/// `getrusage`'s lifetime maximum RSS, in bytes.
fn lifetime_peak_rss() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as u64 * 1024 // Linux reports kilobytes
}

/// A `kB` field of /proc/self/status, in bytes.
fn status_field_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
