//! Every inference matmul kernel bitlab runs, by scheme ([`BenchScheme`]), with weights of
//! random values in its resident form: what the benchmarks (`crate::bench`, `benches/`) time and
//! what tests exercise. The values do not change the speed. BitNet b1.58 ternary kernels (Ma et
//! al., 2024) at 2 and 1.6 bits per weight, and libtorch's fp32, bf16, fp16, int8 and int4.
use super::{LinearKernel, Ternary1p6, Ternary2Bit, TorchDense, TorchInt4Pack, TorchInt8Pack};
use crate::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// A matmul implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BenchScheme {
    /// libtorch fp32 `linear` (the baseline).
    Fp32,
    /// libtorch bf16 matmul, bf16 activations.
    Bf16,
    /// libtorch fp16 matmul, fp16 activations.
    Fp16,
    /// libtorch `_weight_int8pack_mm`: int8 weights, per-row bf16 scales, bf16 activations.
    Int8,
    /// libtorch `_weight_int4pack_mm_for_cpu`: int4 weights in groups of [`INT4_GROUP`],
    /// bf16 activations.
    Int4,
    /// bitlab's 2-bit ternary kernel, int8 per-token activations.
    Ternary2Bit,
    /// bitlab's 1.6-bit base-3 ternary kernel (ggml TQ1_0's trit encoding), int8 per-token
    /// activations.
    Ternary1p6,
}

impl BenchScheme {
    /// Every scheme, baseline first.
    pub const ALL: [BenchScheme; 7] = [
        Self::Fp32,
        Self::Bf16,
        Self::Fp16,
        Self::Int8,
        Self::Int4,
        Self::Ternary2Bit,
        Self::Ternary1p6,
    ];

    /// Short scheme name (`fp32`, `bf16`, `fp16`, `int8`, `int4`, `ternary`, `ternary-1.6bit`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Fp16 => "fp16",
            Self::Int8 => "int8",
            Self::Int4 => "int4",
            Self::Ternary2Bit => "ternary",
            Self::Ternary1p6 => "ternary-1.6bit",
        }
    }

    /// The registered quantizer whose activation quantization runs before this kernel (the
    /// 1.6-bit layout holds the same `ternary` weights).
    pub fn quantizer_name(self) -> &'static str {
        match self {
            Self::Ternary2Bit | Self::Ternary1p6 => "ternary",
            other => other.name(),
        }
    }

    /// Whether this scheme's kernel runs a `[rows, cols]` weight (libtorch's int8 and int4
    /// kernels need K and N in whole tiles: [`TorchInt8Pack::supports`],
    /// [`TorchInt4Pack::supports`]).
    pub fn supports(self, rows: usize, cols: usize) -> bool {
        match self {
            Self::Int8 => TorchInt8Pack::supports(rows, cols),
            Self::Int4 => TorchInt4Pack::supports(rows, cols, INT4_GROUP),
            _ => true,
        }
    }

    /// A `rows x cols` weight of random values in this scheme's kernel (the values do not
    /// change the speed).
    pub fn random_kernel(
        self,
        rows: usize,
        cols: usize,
        seed: u64,
    ) -> Result<Box<dyn LinearKernel>> {
        let dense = |kind: Kind| -> Result<Box<dyn LinearKernel>> {
            let w = Tensor::randn([rows as i64, cols as i64], (Kind::Float, Device::Cpu)) * 0.02;
            Ok(Box::new(TorchDense::new(&w, kind)?))
        };
        Ok(match self {
            Self::Fp32 => dense(Kind::Float)?,
            Self::Bf16 => dense(Kind::BFloat16)?,
            Self::Fp16 => dense(Kind::Half)?,
            Self::Int8 => Box::new(TorchInt8Pack::random(rows, cols, seed)?),
            Self::Int4 => Box::new(TorchInt4Pack::random(rows, cols, INT4_GROUP, seed)?),
            Self::Ternary2Bit => Box::new(Ternary2Bit::random(rows, cols, seed)?),
            Self::Ternary1p6 => Box::new(Ternary1p6::random(rows, cols, seed)?),
        })
    }
}

/// Weights per int4 group in the benchmark (ggml's q4_0 and ANCHORS.md's int4 figures use 32).
pub const INT4_GROUP: usize = 32;

impl Ternary2Bit {
    /// A `rows x cols` matrix of uniformly random codes (for benchmarks: the values do not
    /// change the speed), scale 1.
    pub fn random(rows: usize, cols: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let codes: Vec<i8> = (0..rows * cols)
            .map(|_| rng.random_range(-1i8..=1))
            .collect();
        Ternary2Bit::from_codes(&codes, rows, cols, 1.0)
    }
}

impl Ternary1p6 {
    /// A `rows x cols` matrix of uniformly random codes (for benchmarks: the values do not
    /// change the speed), scale 1.
    pub fn random(rows: usize, cols: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let codes: Vec<i8> = (0..rows * cols)
            .map(|_| rng.random_range(-1i8..=1))
            .collect();
        Ternary1p6::from_codes(&codes, rows, cols, 1.0)
    }
}
