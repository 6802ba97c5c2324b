//! Criterion benchmarks of bitlab's ternary kernels (2 bits per weight, and base 3 at 1.6 bits
//! per weight) against libtorch fp32 on one LLaMA-like weight shape, matrix-vector (one token)
//! and matrix-matrix (32 tokens), on the current rayon pool and libtorch's default threads.
//! Small on purpose: `bitlab bench kernels` is the full sweep (shapes, thread counts, schemes,
//! cache rotation) and records its results.
use bitlab::kernels::{Backend, Ternary1p6, Ternary2Bit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tch::{Device, Kind, Tensor};

fn ternary_vs_fp32(c: &mut Criterion) {
    let (rows, cols) = (2048usize, 2048usize);
    let two_bit = Ternary2Bit::random(rows, cols, 0).expect("random 2-bit ternary matrix");
    let base3 = Ternary1p6::random(rows, cols, 0).expect("random 1.6-bit ternary matrix");
    let fp32 = Tensor::randn([rows as i64, cols as i64], (Kind::Float, Device::Cpu));
    let mut group = c.benchmark_group(format!("matmul {rows}x{cols}"));
    for n in [1usize, 32] {
        group.throughput(Throughput::Elements((2 * rows * cols * n) as u64));
        let x = Tensor::randn([n as i64, cols as i64], (Kind::Float, Device::Cpu));
        let xs = Vec::<f32>::try_from(&x.flatten(0, -1)).expect("f32 input");
        for backend in Backend::available() {
            let name = format!("bitlab-ternary-2bit-{}", backend.name());
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| black_box(two_bit.forward(&xs, n, backend)))
            });
            let name = format!("bitlab-ternary-1.6bit-{}", backend.name());
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| black_box(base3.forward(&xs, n, backend)))
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
