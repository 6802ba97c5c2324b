//! Criterion benchmarks of every inference kernel bitlab runs (libtorch fp32, bf16, fp16,
//! int8pack and int4pack; bitlab's ternary kernels at 2 bits and at 1.6 bits per weight, on
//! each instruction set this CPU has) on one LLaMA-like weight shape, matrix-vector (one token)
//! and matrix-matrix (32 tokens), on a 2-thread pool and libtorch's default threads.
//! Small on purpose: `bitlab bench kernels` is the full sweep (shapes, thread counts, cache
//! rotation) and records its results.
use bitlab::bench::scheme::BenchedScheme;
use bitlab::kernels::{Backend, KernelContext};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tch::{Device, Kind, Tensor};

fn every_kernel(c: &mut Criterion) {
    let (rows, cols) = (2048usize, 2048usize);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread pool");
    let mut group = c.benchmark_group(format!("matmul {rows}x{cols}"));
    for n in [1usize, 32] {
        group.throughput(Throughput::Elements((2 * rows * cols * n) as u64));
        let x = Tensor::randn([n as i64, cols as i64], (Kind::Float, Device::Cpu));
        for scheme in BenchedScheme::ALL {
            let quantizer = scheme
                .quantizer()
                .expect("every benchmarked scheme is registered");
            let kernel = scheme
                .random_kernel(quantizer.as_ref(), rows, cols)
                .expect("a packed random weight for every scheme at 2048x2048");
            let backends = if scheme.quantizer == "ternary" {
                Backend::available()
            } else {
                vec![Backend::detect()]
            };
            for backend in backends {
                let ctx = KernelContext {
                    backend,
                    pool: &pool,
                };
                let id = BenchmarkId::new(kernel.kernel_name(backend), n);
                group.bench_with_input(id, &n, |b, _| {
                    b.iter(|| black_box(kernel.forward(&x, &ctx).expect("kernel call")))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, every_kernel);
criterion_main!(benches);
