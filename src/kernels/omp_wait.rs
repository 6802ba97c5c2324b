//! libtorch's OpenMP workers (GNU libgomp) spin after each parallel region by default, so right
//! after a libtorch op they occupy the cores bitlab's rayon kernels are about to use: on two
//! cores the ternary prefill ran up to twice as slow behind a libtorch matmul. libgomp reads
//! `OMP_WAIT_POLICY` once, when it is loaded, so the `bitlab` binary sets it to `PASSIVE`
//! (workers sleep when idle) and re-executes itself before anything else runs, unless the user
//! set it. Every process of a sweep or benchmark therefore runs libtorch and bitlab's kernels
//! under the same policy; a sweep's environment records it.

/// The environment variable libgomp reads.
pub const OMP_WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// Re-executes the current program with `OMP_WAIT_POLICY=PASSIVE` when the variable is unset;
/// returns (and the program goes on unchanged) when it is set or the re-execution fails.
pub fn reexec_with_passive_omp_wait() {
    if std::env::var_os(OMP_WAIT_POLICY).is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        // `exec` only returns on failure; then this process simply runs as it is.
        let _failed = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(OMP_WAIT_POLICY, "PASSIVE")
            .exec();
    }
}

/// The policy this process runs under, as recorded with a sweep (`active`, libgomp's default,
/// when unset).
pub fn omp_wait_policy() -> String {
    std::env::var(OMP_WAIT_POLICY).unwrap_or_else(|_| "active (libgomp default)".into())
}
