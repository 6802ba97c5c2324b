//! Test support: random ternary matrices and inputs, and the straightforward reference every
//! kernel is checked against (dequantize, then an f64 matmul), written independently of the
//! kernels' loops (activation quantization by [`reference_activations`], plain scalar code).
//! The cross-checks of these against quant's QAT fake quantizers are quant's tests.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Random codes in {-1, 0, 1} (`rows * cols`) and a positive scale.
pub fn random_codes(rows: usize, cols: usize, seed: u64) -> (Vec<i8>, f32) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let codes = (0..rows * cols)
        .map(|_| rng.random_range(-1i8..=1))
        .collect();
    (codes, rng.random_range(0.5f32..50.0))
}

/// Random activations (`n * cols`) with per-token magnitudes spread over two decades.
pub fn random_input(n: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * cols);
    for _ in 0..n {
        let magnitude = rng.random_range(0.1f32..10.0);
        x.extend((0..cols).map(|_| rng.random_range(-magnitude..magnitude)));
    }
    x
}

/// BitNet b1.58's per-token int8 activation quantization (Ma et al., 2024), dequantized, written
/// as plainly as the recipe reads and independently of [`super::activations`]: per token of
/// `cols` values, `s = 127 / max(max|x|, 1e-5)` and `clamp(round_half_even(x s), -128, 127) / s`,
/// in f32 like libtorch's fake quantizer.
pub fn reference_activations(x: &[f32], cols: usize) -> Vec<f32> {
    x.chunks(cols)
        .flat_map(|token| {
            let absmax = token.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = 127.0f32 / absmax.max(1e-5);
            token
                .iter()
                .map(move |&v| (v * s).round_ties_even().clamp(-128.0, 127.0) / s)
        })
        .collect()
}

/// Checks `y` (`n * rows`, token-major) against `dequantize(codes) / scale` times the
/// quantized activations of [`reference_activations`], summed in f64.
///
/// Tolerance: the kernel's dot product is exact in integers; the only differences are f32
/// roundings of the two scales' reciprocals and of the result (each within 2^-24 relative)
/// and the f32 rounding of each dequantized activation in the reference, so
/// `|y - ref| <= 1e-5 * sum_k |x_k w_k| + 1e-30` is ample (about 40 ulps of the absolute sum)
/// yet catches any wrong code, sign, offset or scale.
pub fn assert_close_to_reference(
    y: &[f32],
    codes: &[i8],
    scale: f32,
    x: &[f32],
    rows: usize,
    cols: usize,
    n: usize,
) {
    assert_eq!(y.len(), n * rows);
    let xq = reference_activations(x, cols);
    for t in 0..n {
        for r in 0..rows {
            let (mut sum, mut abs) = (0f64, 0f64);
            for k in 0..cols {
                let w = f64::from(codes[r * cols + k]) / f64::from(scale);
                let term = f64::from(xq[t * cols + k]) * w;
                sum += term;
                abs += term.abs();
            }
            let got = f64::from(y[t * rows + r]);
            assert!(
                (got - sum).abs() <= 1e-5 * abs + 1e-30,
                "token {t}, row {r} of {rows}x{cols}: kernel {got}, reference {sum}"
            );
        }
    }
}

/// Runs `kernel` on `x` (`n * cols` values) and checks it against `sum_k x_k w(r, k)` in f64,
/// where `w(r, k)` is the dequantized weight: `|y - ref| <= rel * sum_k |x_k w_k| + 1e-30`.
/// Kernels with bf16 activations and outputs need `rel` of a few bf16 ulps (2^-8 each); a
/// wrong code, sign, layout or scale misses by the order of the absolute sum.
pub fn assert_kernel_matches_dense(
    kernel: &dyn super::LinearKernel,
    x: &[f32],
    n: usize,
    w: impl Fn(usize, usize) -> f64,
    rel: f64,
) {
    let (rows, cols) = (kernel.rows(), kernel.cols());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let ctx = super::KernelContext {
        backend: super::Backend::detect(),
        pool: &pool,
    };
    let input = Tensor::from_slice(x).view([n as i64, cols as i64]);
    let y = kernel.forward(&input, &ctx).unwrap();
    assert_eq!(y.size(), [n as i64, rows as i64]);
    let y = Vec::<f32>::try_from(&y.flatten(0, -1)).unwrap();
    for t in 0..n {
        for r in 0..rows {
            let (mut sum, mut abs) = (0f64, 0f64);
            for k in 0..cols {
                let term = f64::from(x[t * cols + k]) * w(r, k);
                sum += term;
                abs += term.abs();
            }
            let got = f64::from(y[t * rows + r]);
            assert!(
                (got - sum).abs() <= rel * abs + 1e-30,
                "{}: token {t}, row {r} of {rows}x{cols}: kernel {got}, reference {sum}",
                kernel.kernel_name(ctx.backend)
            );
        }
    }
}

/// `values` rounded to `kind` (e.g. bf16) and back to f32, as a kernel with that input dtype
/// sees them.
pub fn round_through(values: &[f32], kind: tch::Kind) -> Vec<f32> {
    Vec::try_from(
        &Tensor::from_slice(values)
            .to_kind(kind)
            .to_kind(tch::Kind::Float),
    )
    .unwrap()
}
