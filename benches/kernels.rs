//! Criterion benchmarks of bitlab's 2-bit ternary kernel against libtorch fp32 on one
//! LLaMA-like weight shape, matrix-vector (one token) and matrix-matrix (32 tokens), on the
//! current rayon pool and libtorch's default threads. Small on purpose: `bitlab bench kernels`
//! is the full sweep (shapes, thread counts, schemes, cache rotation) and records its results.
use bitlab::kernels::{Backend, Ternary2Bit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tch::{Device, Kind, Tensor};

fn ternary_vs_fp32(c: &mut Criterion) {
    let (rows, cols) = (2048usize, 2048usize);
    let ternary = Ternary2Bit::random(rows, cols, 0).expect("random ternary matrix");
    let fp32 = Tensor::randn([rows as i64, cols as i64], (Kind::Float, Device::Cpu));
    let mut group = c.benchmark_group(format!("matmul {rows}x{cols}"));
    for n in [1usize, 32] {
        group.throughput(Throughput::Elements((2 * rows * cols * n) as u64));
        let x = Tensor::randn([n as i64, cols as i64], (Kind::Float, Device::Cpu));
        let xs = Vec::<f32>::try_from(&x.flatten(0, -1)).expect("f32 input");
        for backend in Backend::available() {
            let name = format!("bitlab-ternary-2bit-{}", backend.name());
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| black_box(ternary.forward(&xs, n, backend)))
            });
        }
        group.bench_with_input(BenchmarkId::new("libtorch-fp32", n), &n, |b, _| {
            b.iter(|| black_box(x.linear::<Tensor>(&fp32, None)))
        });
    }
    group.finish();
}

criterion_group!(benches, ternary_vs_fp32);
criterion_main!(benches);
