//! A database written before the typed vocabulary (schema version 1) opens with this bitlab:
//! migration `0002` converts it, and every row reads back typed, as it was written.
use super::v1_fixture::{old_database, OldDatabase, RECORDED_NAMES, TERNARY_KERNEL};
use super::{ExperimentKind, KernelBackend, KernelId, MeasurementKind, MetricKey, Store};

#[test]
fn a_version_1_database_reads_back_typed_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    old_database(&path);
    let store = Store::open(&path).unwrap();

    // The experiment kind is derived once from the measurements the old report sniffed.
    let kinds: Vec<(String, ExperimentKind)> = store
        .experiments()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("kernels".to_string(), ExperimentKind::KernelBench),
            ("model-scaling".to_string(), ExperimentKind::ModelScaling),
            ("paper".to_string(), ExperimentKind::TrialSweep),
        ]
    );

    // Trial metrics: known keys typed, an unknown old key kept as `Other`.
    let trials = store.trials("paper").unwrap();
    let fp32 = &trials[0];
    assert_eq!(fp32.final_metric(MetricKey::TestAccuracy), Some(0.84));
    assert_eq!(fp32.metric_at(MetricKey::TrainLoss, 0), Some(0.6));
    assert_eq!(
        fp32.final_metric(MetricKey::Other("zeta".into())),
        Some(7.0)
    );

    // Measurement kinds and kernel columns.
    let kinds: Vec<MeasurementKind> = fp32.measurements.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            MeasurementKind::Latency,
            MeasurementKind::Memory,
            MeasurementKind::TrainStep
        ]
    );
    let ternary = &trials[1].measurements[0];
    assert_eq!(
        ternary.kernel,
        KernelId {
            matmul: "bitlab-ternary-2bit-avx2".into(),
            backend: Some(KernelBackend::Avx2),
            dequantized: false,
            attention: Some("flash-cpu".into()),
        }
    );
    assert_eq!(ternary.kernel.to_string(), TERNARY_KERNEL);
    let reference = &trials[2].measurements[0].kernel;
    assert!(reference.dequantized && reference.backend.is_none());
    assert!(
        trials[2].measurements[2].kernel.dequantized,
        "QAT fake-quantizes"
    );
    assert!(!fp32.measurements[0].kernel.dequantized);

    // SQL split every recorded name exactly as KernelId::from_recorded_name does, and the
    // names read back unchanged.
    let names = trials.iter().find(|t| t.hash == "names").unwrap();
    assert_eq!(names.measurements.len(), RECORDED_NAMES.len());
    for (m, name) in names.measurements.iter().zip(RECORDED_NAMES) {
        assert_eq!(m.kernel, KernelId::from_recorded_name(name), "{name}");
        assert_eq!(m.kernel.to_string(), name);
    }

    // The benchmarks' typed configurations read back.
    let kernel_trial = &store.trials("kernels").unwrap()[0];
    let config = kernel_trial.kernel_bench_config();
    assert_eq!(
        (
            config.scheme.as_deref(),
            config.rows,
            config.cols,
            config.copies
        ),
        (Some("ternary"), Some(256), Some(320), Some(4))
    );
    assert_eq!(
        kernel_trial.measurements[0].kernel.backend,
        Some(KernelBackend::Avx2)
    );
    let scaling = store.trials("model-scaling").unwrap()[0].scaling_config();
    assert_eq!(
        (
            scaling.d_model,
            scaling.rss_growth_bytes,
            scaling.energy_estimate_pj_per_token
        ),
        (Some(64), None, Some(12.5))
    );
}

#[test]
fn an_unknown_measurement_kind_in_an_old_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let db = OldDatabase::create(&path);
    let experiment = db.experiment("odd");
    let trial = db.trial(experiment, "h", "done", "{}");
    db.measurements(trial, &[("flops", "libtorch-fp32", 8, 1.0, "ms")]);
    db.close();
    let store = Store::open(&path).unwrap();
    let err = store.trials("odd").unwrap_err().to_string();
    assert!(
        err.contains("trial 1 of `odd`") && err.contains("unknown measurement kind `flops`"),
        "{err}"
    );
}
