//! Gives the `bitlab` binary an rpath to libtorch so it runs without LD_LIBRARY_PATH.
//!
//! torch-sys finds libtorch through `$LIBTORCH`; we add `$LIBTORCH/lib` and, for the CPU-only
//! PyPI layout (see README), the CUDA runtime stubs next to it (`nvidia/cu13/lib`).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        return;
    };
    let mut dirs = vec![libtorch.join("lib")];
    if let Some(site) = libtorch.parent() {
        dirs.push(site.join("nvidia").join("cu13").join("lib"));
    }
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let dir = dir.canonicalize().unwrap_or(dir);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
