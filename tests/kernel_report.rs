//! End to end: `bitlab bench kernels --quick` into a temporary database, then
//! `bitlab report kernels` renders the kernel chart and table from the stored results alone.
mod common;
use std::path::Path;
use std::process::Output;

fn bitlab(args: &[&str], tmp: &Path) -> Output {
    let out = common::bitlab(args, tmp);
    assert!(
        out.status.success(),
        "bitlab {args:?} failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

#[test]
fn a_stored_quick_bench_renders_the_kernel_chart_and_table() {
    let tmp = tempfile::tempdir().unwrap();
    bitlab(&["bench", "kernels", "--quick"], tmp.path());
    let reports = tmp.path().join("reports");
    let out = bitlab(
        &["report", "kernels", "--out", reports.to_str().unwrap()],
        tmp.path(),
    );
    let written = String::from_utf8_lossy(&out.stdout);
    let dir = reports.join("kernels");
    for name in ["kernels.svg", "kernels.png", "report.md", "index.html"] {
        assert!(dir.join(name).is_file(), "{name} missing; wrote {written}");
    }
    assert!(
        !dir.join("latency.svg").exists(),
        "a kernel report has no model charts"
    );

    let svg = std::fs::read_to_string(dir.join("kernels.svg")).unwrap();
    assert!(svg.contains("256x320 [out, in], 1 thread"), "one panel");
    for legend in [
        "fp32 — libtorch-fp32, 1 thread",
        "ternary — bitlab-ternary-2bit-",
        "ternary-1.6bit — bitlab-ternary-1.6bit-",
    ] {
        assert!(svg.contains(legend), "legend {legend}");
    }
    let png = std::fs::read(dir.join("kernels.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("![Matmul kernel time vs tokens per call"),
        "{md}"
    );
    assert!(md.contains(
        "| shape [out, in] | tokens n | scheme | kernel | threads | median ms | p95 ms | \
         GFLOP/s | weight GB/s | ratio to fp32 (speed-up) | weights read from |"
    ));
    // The quick config: 7 schemes x n = 1, 8, one shape, one thread count, weight copies that
    // fit in the cache.
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| 256x320 |"))
        .collect();
    assert_eq!(rows.len(), 14, "{md}");
    for scheme in [
        "fp32",
        "bf16",
        "fp16",
        "int8",
        "int4",
        "ternary",
        "ternary-1.6bit",
    ] {
        assert_eq!(
            rows.iter()
                .filter(|r| r.contains(&format!("| {scheme} |")))
                .count(),
            2,
            "{scheme}: {md}"
        );
    }
    assert!(rows
        .iter()
        .all(|r| r.contains("| cache (") && r.ends_with("copies) |")));
    assert!(rows.iter().any(
        |r| r.starts_with("| 256x320 | 1 | fp32 | libtorch-fp32 | 1 |") && r.contains("| 1.00x |")
    ));
    assert!(md.contains("fastest ternary kernel"), "overview note");
}

#[test]
fn a_stored_quick_model_scaling_run_renders_time_memory_and_the_energy_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    bitlab(&["bench", "model", "--quick"], tmp.path());
    let reports = tmp.path().join("reports");
    bitlab(
        &[
            "report",
            "model-scaling",
            "--out",
            reports.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let dir = reports.join("model-scaling");
    let svg = std::fs::read_to_string(dir.join("scaling.svg")).unwrap();
    assert!(svg.contains("resident weight memory"), "memory panel");
    assert!(
        svg.contains("matmul energy per token (estimate"),
        "energy panel"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| matmul energy estimate µJ / token |"), "{md}");
    assert!(md.contains("estimate, not a measurement"), "{md}");
    // The energy cell is the last one; the quick sizes are 64x1 and 128x2.
    let energy = |scheme: &str| -> f64 {
        let row = md
            .lines()
            .find(|l| l.starts_with("| 128x2 |") && l.contains(&format!("| {scheme} |")))
            .unwrap_or_else(|| panic!("no 128x2 {scheme} row: {md}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        cells[cells.len() - 2].parse().unwrap()
    };
    // 128x2: 2 * (4 * 128^2 + 2 * 128 * 512) = 393216 weights.
    let weights = 393_216.0;
    for (scheme, pj_per_weight) in [("fp32", 1.69), ("bf16", 0.50), ("ternary", 0.007)] {
        let want = weights * pj_per_weight * 1e-6;
        let got = energy(scheme);
        assert!(
            (got - want).abs() < 1e-4 * want,
            "{scheme}: {got} µJ, want {want}"
        );
    }
    assert!(md.contains("estimated matmul energy"), "overview bullets");
}
