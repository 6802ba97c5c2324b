//! libtorch's OpenMP workers (GNU libgomp) spin for about 300,000 iterations after each
//! parallel region by default, so right after a libtorch op they occupy the cores bitlab's rayon
//! kernels are about to use: on two cores the ternary prefill of the paper's model ran up to
//! twice as slow behind libtorch's norms and attention. Letting idle workers sleep at once
//! (`OMP_WAIT_POLICY=PASSIVE`) frees the cores but makes every small libtorch op wake its
//! workers (fp32's one-sequence latency of the paper's model tripled); a short spin
//! (`GOMP_SPINCOUNT=10000`) keeps back-to-back libtorch ops fast and frees the cores within
//! microseconds, so both kinds of kernel run near their best.
//!
//! libgomp reads these variables once, when it is loaded, so the `bitlab` binary sets
//! `GOMP_SPINCOUNT` and re-executes itself before anything else runs, unless the user set
//! either variable. A sweep's environment records the setting.

/// The libgomp variables that decide how long idle workers spin.
pub const OMP_SPIN_VARIABLES: [&str; 2] = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT"];

/// The spin count bitlab sets.
pub const SHORT_SPIN: &str = "10000";

/// Re-executes the current program with `GOMP_SPINCOUNT` set to [`SHORT_SPIN`] when neither
/// variable of [`OMP_SPIN_VARIABLES`] is set; returns (and the program goes on unchanged) when
/// one is set or the re-execution fails.
pub fn reexec_with_short_omp_spin() {
    if OMP_SPIN_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
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
            .env(OMP_SPIN_VARIABLES[1], SHORT_SPIN)
            .exec();
    }
}

/// The spin setting this process runs under, as a sweep records it, e.g.
/// `GOMP_SPINCOUNT=10000`; `libgomp default` when neither variable is set.
pub fn omp_spin_setting() -> String {
    let set: Vec<String> = OMP_SPIN_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok().map(|value| format!("{v}={value}")))
        .collect();
    if set.is_empty() {
        "libgomp default".into()
    } else {
        set.join(", ")
    }
}
