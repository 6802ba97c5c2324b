//! Reports from a database written before the typed vocabulary (schema version 1): after
//! migration `0002` the report data is what the old report derived from the same rows.
use crate::report::data::{kernels_of, scheme_of, seed_of, ReportData};
use crate::report::{kernel_bench, notes, scaling_bench};
use crate::store::v1_fixture::{old_database, INT4_REFERENCE_KERNEL, TERNARY_KERNEL};
use crate::store::{ExperimentKind, KernelBackend, KernelId, MeasurementKind, Store};

#[test]
fn a_version_1_database_gives_the_report_data_it_gave_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    old_database(&path);
    let store = Store::open(&path).unwrap();
    let trials = store.trials("paper").unwrap();

    // The report data of the trial sweep.
    let data = ReportData::load(&store, "paper").unwrap();
    assert_eq!(data.kind, ExperimentKind::TrialSweep);
    assert_eq!(data.schemes, ["fp32", "ternary", "int4", "int8", "unknown"]);
    assert_eq!(
        (scheme_of(&trials[2]), seed_of(&trials[2])),
        ("int4".to_string(), "1".to_string())
    );
    let latency: Vec<String> = kernels_of(&trials[1], MeasurementKind::Latency)
        .iter()
        .map(KernelId::to_string)
        .collect();
    assert_eq!(latency, [TERNARY_KERNEL]);
    let notes = notes::kernel_notes(&data);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with("ternary: timed with its own kernel"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("int4") && notes[1].contains("is fp32 latency"),
        "{notes:?}"
    );

    // The benchmarks get their own report templates, and their typed configurations read back.
    let kernels = ReportData::load(&store, "kernels").unwrap();
    assert!(kernel_bench::has_kernel_bench(&kernels));
    let points = kernel_bench::kernel_points(&kernels);
    assert_eq!(points.len(), 1);
    assert_eq!(
        (
            points[0].scheme.as_str(),
            points[0].rows,
            points[0].cols,
            points[0].residency.as_str(),
            points[0].copies,
            points[0].speedup_vs_fp32
        ),
        ("ternary", 256, 320, "cache", Some(4), Some(3.0))
    );
    assert_eq!(points[0].kernel.backend, Some(KernelBackend::Avx2));
    let scaling = ReportData::load(&store, "model-scaling").unwrap();
    assert!(scaling_bench::has_scaling_bench(&scaling));
    assert!(!kernel_bench::has_kernel_bench(&scaling));
    let points = scaling_bench::scaling_points(&scaling);
    assert_eq!(points.len(), 1);
    assert_eq!(
        (
            points[0].d_model,
            points[0].rss_growth_bytes,
            points[0].energy_estimate_pj_per_token
        ),
        (64, None, Some(12.5))
    );
    assert!(notes[1].contains(INT4_REFERENCE_KERNEL), "{notes:?}");
}
