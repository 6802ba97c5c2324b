//! The process's peak resident set size (`VmHWM`), and resetting it to the current RSS
//! (`/proc/self/clear_refs`, Linux 4.0+), so one child process can measure the peak of one
//! operation after loading a model. Where the counter cannot be reset, the fallback is the
//! lifetime peak from `getrusage`, which can hide an operation smaller than the loading.
//! [`run_memory_child`] runs one such point in a fresh `bitlab` process.
use super::MemoryPoint;
use crate::{Error, Result};
use std::path::Path;
use std::process::Command;

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

/// The current resident set size (`VmRSS`), in bytes, where /proc is readable.
pub(crate) fn current_rss() -> Option<u64> {
    status_field_bytes("VmRSS:")
}

/// `getrusage`'s lifetime maximum RSS, in bytes.
fn lifetime_peak_rss() -> u64 {
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we pass, which lives for the call.
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

/// What a memory child process measures.
pub(crate) struct ChildPoint<'a> {
    /// The packed model artifact to load.
    pub artifact: &'a Path,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Sequences per batch.
    pub batch: usize,
    /// Intra-op threads.
    pub threads: usize,
    /// Device name (`cpu`, `cuda:N`).
    pub device: &'a str,
    /// Further arguments the subcommand takes (e.g. a training step's optimizer settings).
    pub extra_args: Vec<String>,
}

/// Runs `exe <subcommand> --artifact .. --seq-len .. --batch .. --threads .. --device ..` (then
/// `point.extra_args`) in a
/// fresh process and parses the [`MemoryPoint`] JSON line it prints last; `what` names the point
/// in errors.
pub(crate) fn run_memory_child(
    exe: &Path,
    subcommand: &str,
    point: &ChildPoint,
    what: &str,
) -> Result<MemoryPoint> {
    let fail = |message: String| Error::Measure {
        what: what.to_string(),
        message,
    };
    let output = Command::new(exe)
        .arg(subcommand)
        .arg("--artifact")
        .arg(point.artifact)
        .args(["--seq-len", &point.seq_len.to_string()])
        .args(["--batch", &point.batch.to_string()])
        .args([
            "--threads",
            &point.threads.to_string(),
            "--device",
            point.device,
        ])
        .args(&point.extra_args)
        .output()
        .map_err(|e| fail(format!("cannot start {} ({e})", exe.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!(
            "child process {}: {}",
            output.status,
            stderr.trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| fail(format!("unreadable child output `{line}` ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_counter_resets_and_sees_a_new_allocation() {
        assert!(
            std::fs::write("/proc/self/clear_refs", "5").is_ok(),
            "/proc/self/clear_refs is not writable; memory points would fall back to getrusage"
        );
        // Tests run in parallel in this process and free memory meanwhile, so the block is
        // large (512 MiB) and the slack for others' frees generous (128 MiB): a 64 MiB block
        // with 4 MiB of slack failed when other tests freed about 60 MiB meanwhile.
        let baseline = reset_peak_rss();
        let block = vec![1u8; 512 << 20];
        std::hint::black_box(&block);
        let peak = peak_rss();
        assert!(
            peak >= baseline + (384 << 20),
            "peak {peak} baseline {baseline}"
        );
    }
}
