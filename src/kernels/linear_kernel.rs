//! [`LinearKernel`]: the extension point for inference matmul kernels, `y = x W^T` with `W`
//! resident in the kernel's own form (packed codes, a libtorch-packed int4/int8 layout, or a
//! 16-bit copy).
//!
//! A quantizer opts in through its `load_kernel` (in `quant`, which depends on this module, never
//! the reverse), which turns one packed artifact tensor into a boxed kernel; the packed
//! classifier and the model-size benchmark run every linear layer through this trait and record
//! [`LinearKernel::kernel_name`] with every figure. Adding a kernel: one file implementing these
//! six methods, and one `load_kernel` in the scheme's quantizer. bitlab's ternary kernels
//! implement it once, generically ([`super::PackedTernary`]).
use super::Backend;
use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Where a kernel call runs: the instruction set for bitlab's own kernels and the rayon pool
/// they split rows over (libtorch kernels use libtorch's intra-op threads).
#[derive(Clone, Copy)]
pub struct KernelContext<'a> {
    /// Instruction set of bitlab's kernels.
    pub backend: Backend,
    /// Thread pool of bitlab's kernels.
    pub pool: &'a rayon::ThreadPool,
}

/// The arithmetic one weight costs per token in a kernel, by the format of its operands (what
/// the energy estimate in [`super::energy`] charges, with BitNet's per-operation energies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacArithmetic {
    /// An f32 multiply and an f32 add.
    Fp32MulAdd,
    /// A 16-bit float multiply and add: fp16 and bf16 weights, and weight-only int8/int4
    /// kernels that widen their weights to multiply 16-bit activations.
    Fp16MulAdd,
    /// One int8 add or subtract: a ternary weight times an 8-bit activation (BitNet b1.58,
    /// Ma et al., 2024).
    Int8Add,
}

/// A weight matrix `[rows, cols]` (`[out, in]`) in the resident form one kernel runs on.
pub trait LinearKernel: Send + std::fmt::Debug {
    /// Output features.
    fn rows(&self) -> usize;
    /// Input features.
    fn cols(&self) -> usize;
    /// `y = x W^T` for `x` of shape `[n, cols]` (f32, CPU); returns `[n, rows]` f32.
    fn forward(&self, x: &Tensor, ctx: &KernelContext) -> Result<Tensor>;
    /// Bytes of weights (codes and scales) this kernel keeps resident.
    fn resident_bytes(&self) -> usize;
    /// The kernel's name as measurements record it, e.g. `bitlab-ternary-2bit-avx2`.
    fn kernel_name(&self, backend: Backend) -> String;
    /// The arithmetic each weight costs per token (for the energy estimate).
    fn arithmetic(&self) -> MacArithmetic;
    /// True when the kernel quantizes its input itself (bitlab's ternary kernels quantize
    /// activations to int8 per token inside); otherwise the caller applies the scheme's
    /// activation fake quantization first.
    fn quantizes_activations(&self) -> bool {
        false
    }
}

/// Runs a kernel over f32 slices (`n * cols` in, `n * rows` out) on a `[n, cols]` tensor. The
/// input is read in place when it is already a contiguous f32 CPU tensor (a prefill's input is
/// tens of MB; copying it cost more than quantizing it).
pub(crate) fn forward_f32_slices(
    x: &Tensor,
    rows: usize,
    cols: usize,
    kernel: impl FnOnce(&[f32], usize) -> Vec<f32>,
) -> Result<Tensor> {
    if x.device() != Device::Cpu {
        return Err(Error::Invalid(format!(
            "bitlab's kernels run on the CPU; the input is on {:?}",
            x.device()
        )));
    }
    let x = x
        .f_to_kind(Kind::Float)
        .and_then(|x| x.f_contiguous())
        .map_err(|e| Error::torch("preparing a linear-layer input for the kernel", e))?;
    let len = x.numel();
    if len % cols.max(1) != 0 {
        return Err(Error::Invalid(format!(
            "linear-layer input of {len} values is not a whole number of {cols}-wide tokens"
        )));
    }
    let values: &[f32] = if len == 0 {
        &[]
    } else {
        // SAFETY: `x` is a contiguous f32 tensor on the CPU holding `len` values; it outlives
        // this borrow (it is dropped at the end of the function) and nothing writes to it.
        unsafe { std::slice::from_raw_parts(x.data_ptr() as *const f32, len) }
    };
    let n = len / cols.max(1);
    let y = kernel(values, n);
    Tensor::from_slice(&y)
        .f_view([n as i64, rows as i64])
        .map_err(|e| Error::torch("shaping the kernel output", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::random_codes;
    use crate::kernels::Ternary2Bit;

    #[test]
    fn non_contiguous_and_double_inputs_read_the_same_values() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let ctx = KernelContext {
            backend: Backend::detect(),
            pool: &pool,
        };
        let (codes, scale) = random_codes(16, 128, 5);
        let kernel: Box<dyn LinearKernel> =
            Box::new(Ternary2Bit::from_codes(&codes, 16, 128, scale).unwrap());
        let x = Tensor::randn([3, 128], (Kind::Float, Device::Cpu));
        let expected = kernel.forward(&x, &ctx).unwrap();
        let strided = x.t_copy().t_(); // same values, column-major strides
        assert!(!strided.is_contiguous());
        for input in [strided, x.to_kind(Kind::Double)] {
            let got = kernel.forward(&input, &ctx).unwrap();
            assert_eq!(got.size(), [3, 16]);
            assert!(got.equal(&expected));
        }
        let ragged = Tensor::randn([5, 100], (Kind::Float, Device::Cpu));
        let err = kernel.forward(&ragged, &ctx).unwrap_err();
        assert!(err.to_string().contains("128-wide tokens"), "{err}");
    }
}
