//! A results database as bitlab wrote it before the typed vocabulary (schema version 1, rows
//! inserted as that bitlab inserted them), for the tests that open one with this bitlab.
use std::borrow::Cow;
use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

pub(crate) use super::kernel_id::tests::RECORDED_NAMES;

/// One old measurement row: (kind, kernel, seq_len, median, unit).
pub(crate) type OldMeasurement<'a> = (&'a str, &'a str, i64, f64, &'a str);

/// Writes version-1 rows the way the version-1 store wrote them.
pub(crate) struct OldDatabase {
    runtime: tokio::runtime::Runtime,
    pool: sqlx::SqlitePool,
}

impl OldDatabase {
    /// Creates `path` with migration 0001 only.
    pub(crate) fn create(path: &Path) -> OldDatabase {
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

    pub(crate) fn execute(&self, sql: &str, binds: &[&str]) -> i64 {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        self.runtime
            .block_on(query.execute(&self.pool))
            .unwrap()
            .last_insert_rowid()
    }

    pub(crate) fn experiment(&self, name: &str) -> i64 {
        self.execute(
            "INSERT INTO experiments (name, description, source_toml, created_at)
             VALUES (?, 'old', '', '2026-11-01T10:00:00.000Z')",
            &[name],
        )
    }

    pub(crate) fn trial(&self, experiment: i64, hash: &str, status: &str, config: &str) -> i64 {
        let experiment = experiment.to_string();
        self.execute(
            "INSERT INTO trials (experiment_id, hash, label, config_json, status, duration_s)
             VALUES (?, ?, ?, ?, ?, 1.0)",
            &[&experiment, hash, hash, config, status],
        )
    }

    pub(crate) fn metric(&self, trial: i64, key: &str, step: Option<i64>, value: f64) {
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

    pub(crate) fn measurements(&self, trial: i64, rows: &[OldMeasurement]) {
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

    pub(crate) fn close(self) {
        self.runtime.block_on(self.pool.close());
    }
}

pub(crate) const FP32_KERNEL: &str = "libtorch-fp32 + flash-cpu attention";
pub(crate) const TERNARY_KERNEL: &str = "bitlab-ternary-2bit-avx2 + flash-cpu attention";
pub(crate) const INT4_REFERENCE_KERNEL: &str =
    "libtorch-fp32 on dequantized int4 + flash-cpu attention";
pub(crate) const QAT_KERNEL: &str =
    "libtorch-fp32 QAT (ternary fake-quantized) + flash-cpu attention";

/// A version-1 database with a trial sweep, a kernel benchmark, a model-scaling benchmark and
/// one trial holding every kernel name bitlab recorded.
pub(crate) fn old_database(path: &Path) {
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
