//! The environment a sweep ran in: code version (and whether the build was optimized, which
//! bitlab's own kernels' timings depend on), libtorch and its OpenMP spin setting, CPU, threads,
//! host and device.
use crate::store::Environment;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Captures the environment for a sweep on `device` with `threads` intra-op threads.
pub fn capture_environment(device: tch::Device, threads: usize) -> Environment {
    let device = match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    };
    Environment {
        git_commit: git(&["rev-parse", "HEAD"]),
        git_dirty: git(&["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty()),
        bitlab_version: format!(
            "{} ({} build)",
            env!("CARGO_PKG_VERSION"),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        ),
        libtorch_version: format!(
            "{} (OpenMP idle workers: {})",
            env!("BITLAB_LIBTORCH_VERSION"),
            crate::kernels::omp_wait::omp_spin_setting()
        ),
        cpu_model: cpu_model(),
        threads: threads as i64,
        host: host(),
        device,
    }
}
