//! Adding a benchmark, done as docs/ARCHITECTURE.md says ("Add a benchmark"): one type that
//! implements `bench::Benchmark`, recorded by the one recorder (`bench::record`), and read back
//! through the store's typed vocabulary like every other result. The benchmark here times
//! bitlab's ternary matrix-vector kernel against libtorch fp32 on one small shape, for real.
use bitlab::bench::scheme::BenchedScheme;
use bitlab::bench::timing::{thread_pool, time_calls, TimingBudget};
use bitlab::bench::{self, Benchmark, PointTiming};
use bitlab::kernels::{Backend, KernelContext};
use bitlab::measure::{median, percentile};
use bitlab::store::{ExperimentKind, MeasurementKind, MetricKey, Store};
use bitlab::Result;
use serde::Serialize;
use tch::{Kind, Tensor};

/// One timed point: a scheme's kernel on a `rows x cols` matrix and one token.
#[derive(Debug, Clone)]
struct MatvecPoint {
    scheme: BenchedScheme,
    kernel: String,
    rows: usize,
    cols: usize,
    median_ms: f64,
    p95_ms: f64,
    repeats: usize,
}

/// The stored configuration of a trial of [`TinyMatvecBench`].
#[derive(Debug, Serialize)]
struct MatvecConfig {
    scheme: String,
    rows: usize,
    cols: usize,
}

/// The new benchmark: every scheme in `schemes` on one shape.
struct TinyMatvecBench {
    schemes: Vec<BenchedScheme>,
    rows: usize,
    cols: usize,
    repeats: usize,
}

impl Benchmark for TinyMatvecBench {
    type Point = MatvecPoint;
    const EXPERIMENT: &'static str = "tiny-matvec";
    const DESCRIPTION: &'static str = "one matrix-vector product per scheme (extension test)";
    const KIND: ExperimentKind = ExperimentKind::KernelBench;
    const TIMING: MeasurementKind = MeasurementKind::KernelTime;

    fn run(&self, progress: &mut dyn FnMut(&MatvecPoint)) -> Result<Vec<MatvecPoint>> {
        let pool = thread_pool(1)?;
        let ctx = KernelContext {
            backend: Backend::detect(),
            pool: &pool,
        };
        let x = Tensor::randn([1, self.cols as i64], (Kind::Float, tch::Device::Cpu));
        let budget = TimingBudget {
            warmup: 1,
            repeats: self.repeats,
            max_seconds: 5.0,
            min_repeats: self.repeats,
        };
        let mut points = Vec::new();
        for &scheme in &self.schemes {
            let quantizer = scheme.quantizer()?;
            let kernel = scheme.random_kernel(quantizer.as_ref(), self.rows, self.cols)?;
            let times = time_calls(budget, |_| {
                let y = kernel.forward(&x, &ctx)?;
                assert_eq!(y.size(), [1, self.rows as i64]);
                Ok(())
            })?;
            let point = MatvecPoint {
                scheme,
                kernel: kernel.kernel_name(ctx.backend),
                rows: self.rows,
                cols: self.cols,
                median_ms: median(&times),
                p95_ms: percentile(&times, 0.95),
                repeats: times.len(),
            };
            progress(&point);
            points.push(point);
        }
        Ok(points)
    }

    fn trial_of(point: &MatvecPoint) -> (String, String) {
        let label = format!("{} {}x{}", point.scheme.label(), point.rows, point.cols);
        (label.to_lowercase().replace(' ', "-"), label)
    }

    fn trial_config(point: &MatvecPoint) -> Result<serde_json::Value> {
        bench::record::stored_config(&MatvecConfig {
            scheme: point.scheme.label().to_string(),
            rows: point.rows,
            cols: point.cols,
        })
    }

    fn timing_of(point: &MatvecPoint) -> PointTiming<'_> {
        PointTiming {
            kernel: &point.kernel,
            tokens: 1,
            median_ms: point.median_ms,
            p95_ms: point.p95_ms,
            repeats: point.repeats,
        }
    }

    fn metrics_of(point: &MatvecPoint) -> Vec<(MetricKey, Option<f64>)> {
        let flops = 2.0 * (point.rows * point.cols) as f64;
        vec![(MetricKey::Gflops, Some(flops / (point.median_ms * 1e6)))]
    }

    fn threads_of(_: &MatvecPoint) -> usize {
        1
    }
}

#[test]
fn a_new_benchmark_is_one_trait_impl_recorded_by_the_one_recorder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let bench = TinyMatvecBench {
        schemes: vec![BenchedScheme::FP32, BenchedScheme::TERNARY],
        rows: 256,
        cols: 512,
        repeats: 5,
    };
    let mut seen = 0;
    let points = bench.run(&mut |_| seen += 1).unwrap();
    assert_eq!(seen, 2);
    bench::record::<TinyMatvecBench>(&store, &points).unwrap();

    let experiment = store
        .experiments()
        .unwrap()
        .into_iter()
        .find(|e| e.name == TinyMatvecBench::EXPERIMENT)
        .expect("the benchmark's experiment is recorded");
    assert_eq!(experiment.kind, ExperimentKind::KernelBench);
    let trials = store.trials(TinyMatvecBench::EXPERIMENT).unwrap();
    assert_eq!(trials.len(), 2, "one trial per timed configuration");
    for (trial, point) in trials.iter().zip(&points) {
        assert_eq!(trial.measurements.len(), 1);
        let m = &trial.measurements[0];
        assert_eq!(m.kind, MeasurementKind::KernelTime);
        assert_eq!(
            m.kernel.to_string(),
            point.kernel,
            "the kernel that ran is named"
        );
        assert_eq!(m.median, point.median_ms);
        assert!(trial.metric_at(MetricKey::Gflops, 1).unwrap() > 0.0);
    }
    // bitlab's own ternary kernel ran, not a dequantized fp32 stand-in.
    assert!(
        trials[1].measurements[0]
            .kernel
            .to_string()
            .starts_with("bitlab-ternary-2bit-"),
        "{}",
        trials[1].measurements[0].kernel
    );
    assert!(!trials[1].measurements[0].kernel.dequantized);
}
