//! A database written before the typed vocabulary (schema version 1, rows inserted as that
//! bitlab inserted them) opens with this one: migration `0002` converts it, and everything a
//! report reads comes back typed and as before.
use std::borrow::Cow;
use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::kernel_id::tests::RECORDED_NAMES;
use super::{ExperimentKind, KernelBackend, KernelId, MeasurementKind, MetricKey, Store};
use crate::report::data::{kernels_of, scheme_of, seed_of, ReportData};
use crate::report::{kernel_bench, notes, scaling_bench};

/// One old measurement row: (kind, kernel, seq_len, median, unit).
type OldMeasurement<'a> = (&'a str, &'a str, i64, f64, &'a str);

/// Writes version-1 rows the way the version-1 store wrote them.
struct OldDatabase {
    runtime: tokio::runtime::Runtime,
    pool: sqlx::SqlitePool,
}

impl OldDatabase {
    /// Creates `path` with migration 0001 only.
    fn create(path: &Path) -> OldDatabase {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = runtime
            .block_on(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options),
            )
            .unwrap();
        let mut migrator = sqlx::migrate!("./migrations");
        let first = migrator.migrations[..1].to_vec();
        assert_eq!(first[0].version, 1);
        migrator.migrations = Cow::Owned(first);
        runtime.block_on(migrator.run(&pool)).unwrap();
        OldDatabase { runtime, pool }
    }

    fn execute(&self, sql: &str, binds: &[&str]) -> i64 {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        self.runtime
            .block_on(query.execute(&self.pool))
            .unwrap()
            .last_insert_rowid()
    }

    fn experiment(&self, name: &str) -> i64 {
        self.execute(
            "INSERT INTO experiments (name, description, source_toml, created_at)
             VALUES (?, 'old', '', '2026-11-01T10:00:00.000Z')",
            &[name],
        )
    }

    fn trial(&self, experiment: i64, hash: &str, status: &str, config: &str) -> i64 {
        let experiment = experiment.to_string();
        self.execute(
            "INSERT INTO trials (experiment_id, hash, label, config_json, status, duration_s)
             VALUES (?, ?, ?, ?, ?, 1.0)",
            &[&experiment, hash, hash, config, status],
        )
    }

    fn metric(&self, trial: i64, key: &str, step: Option<i64>, value: f64) {
        let (trial, value) = (trial.to_string(), value.to_string());
        match step {
            Some(step) => self.execute(
                "INSERT INTO metrics (trial_id, key, step, value) VALUES (?, ?, ?, ?)",
                &[&trial, key, &step.to_string(), &value],
            ),
            None => self.execute(
                "INSERT INTO metrics (trial_id, key, step, value) VALUES (?, ?, NULL, ?)",
                &[&trial, key, &value],
            ),
        };
    }

    fn measurements(&self, trial: i64, rows: &[OldMeasurement]) {
        for &(kind, kernel, seq_len, median, unit) in rows {
            self.execute(
                "INSERT INTO measurements (trial_id, kind, kernel, seq_len, batch, median, p95,
                                           repeats, unit)
                 VALUES (?, ?, ?, ?, 1, ?, ?, 5, ?)",
                &[
                    &trial.to_string(),
                    kind,
                    kernel,
                    &seq_len.to_string(),
                    &median.to_string(),
                    &(median * 1.5).to_string(),
                    unit,
                ],
            );
        }
    }

    fn close(self) {
        self.runtime.block_on(self.pool.close());
    }
}

const FP32_KERNEL: &str = "libtorch-fp32 + flash-cpu attention";
const TERNARY_KERNEL: &str = "bitlab-ternary-2bit-avx2 + flash-cpu attention";
const INT4_REFERENCE_KERNEL: &str = "libtorch-fp32 on dequantized int4 + flash-cpu attention";
const QAT_KERNEL: &str = "libtorch-fp32 QAT (ternary fake-quantized) + flash-cpu attention";

/// A version-1 database with a trial sweep, a kernel benchmark, a model-scaling benchmark and
/// one trial holding every kernel name bitlab recorded.
fn old_database(path: &Path) {
    let db = OldDatabase::create(path);
    let paper = db.experiment("paper");
    for (scheme, seed, kernel, accuracy) in [
        ("fp32", 0, FP32_KERNEL, 0.84),
        ("ternary", 0, TERNARY_KERNEL, 0.80),
        ("int4", 1, INT4_REFERENCE_KERNEL, 0.82),
    ] {
        let config = format!(
            r#"{{"seed":{seed},"quant":{{"scheme":"{scheme}","group_size":32}},"lora":{{"rank":0}},"model":{{"attention":"flash"}}}}"#
        );
        let trial = db.trial(paper, &format!("{scheme}-{seed}"), "done", &config);
        db.metric(trial, "test_accuracy", None, accuracy);
        db.metric(trial, "storage_bytes", None, 1000.0);
        db.metric(trial, "train_loss", Some(0), 0.6);
        db.metric(trial, "zeta", None, 7.0);
        db.measurements(
            trial,
            &[
                ("latency", kernel, 32, 1.0, "ms"),
                ("memory", kernel, 32, 2e8, "bytes"),
                ("train_step", QAT_KERNEL, 32, 5.0, "ms"),
            ],
        );
    }
    db.trial(
        paper,
        "int8-0",
        "failed",
        r#"{"seed":0,"quant":{"scheme":"int8"}}"#,
    );
    let names = db.trial(paper, "names", "pending", "{}");
    let every_name: Vec<OldMeasurement> = RECORDED_NAMES
        .iter()
        .map(|name| ("latency", *name, 8, 1.0, "ms"))
        .collect();
    db.measurements(names, &every_name);

    let kernels = db.experiment("kernels");
    let trial = db.trial(
        kernels,
        "kernel-ternary-256x320-t1",
        "done",
        r#"{"cols":320,"copies":4,"kernel":"bitlab-ternary-2bit-avx2","residency":"cache","rows":256,"scheme":"ternary","threads":1}"#,
    );
    db.measurements(
        trial,
        &[("kernel_time", "bitlab-ternary-2bit-avx2", 8, 0.5, "ms")],
    );
    db.metric(trial, "gflops", Some(8), 2.6);
    db.metric(trial, "speedup_vs_fp32", Some(8), 3.0);

    let scaling = db.experiment("model-scaling");
    let trial = db.trial(
        scaling,
        "stack-int4-d64-l1-t1",
        "done",
        r#"{"d_ff":256,"d_model":64,"energy_estimate_pj_per_token":12.5,"kernel":"libtorch-int4pack-g32-bf16","layers":1,"parameters":49152,"resident_weight_bytes":30000,"rss_growth_bytes":null,"scheme":"int4","threads":1}"#,
    );
    db.measurements(
        trial,
        &[("stack_time", "libtorch-int4pack-g32-bf16", 4, 0.25, "ms")],
    );
    db.metric(trial, "ms_per_token", Some(4), 0.0625);
    db.close();
}

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
