//! The inference form of the linear operation: one quantized linear layer with its weight
//! resident in the form its kernel runs on ([`crate::kernels::LinearKernel`], chosen by the
//! scheme's [`Quantizer::load_kernel`]): ternary layers run bitlab's 2-bit integer kernels
//! (BitNet b1.58, Ma et al., 2024), whose weights are never expanded to floating point; int8
//! and int4 run libtorch's packed weight-only kernels with bf16 activations; fp16 and bf16 run
//! libtorch in their own dtype. A scheme (or shape) without a kernel runs libtorch fp32 on its
//! dequantized weight, and the kernel name says so. A high-precision bias (pretrained BERT) and
//! an unmerged LoRA adapter (Hu et al., 2021: `base(x) + B(A(x)) * alpha / r`) are added in
//! f32 beside the packed product.
use super::linear::{add_bias_and_adapter, Linear, Pass};
use super::LoraAdapter;
use crate::kernels::{Backend, LinearKernel, TorchDense};
use crate::quant::{registry, PackedTensor, Quantizer};
use crate::{Error, Result};
use std::sync::Arc;
use tch::Tensor;

/// One linear layer `y = q_a(x) W^T (+ b) (+ LoRA(x))` running the scheme's inference kernel.
#[derive(Debug)]
pub struct PackedLinear {
    kernel: Box<dyn LinearKernel>,
    /// The model's scheme (for its activation quantization).
    quantizer: Arc<dyn Quantizer>,
    bias: Option<Tensor>,
    lora: Option<LoraAdapter>,
}

impl PackedLinear {
    /// Builds the layer for one packed artifact tensor of a model quantized with `quantizer`.
    pub fn from_packed(packed: &PackedTensor, quantizer: &Arc<dyn Quantizer>) -> Result<Self> {
        let scheme = registry::resolve_packed(&packed.scheme)?;
        let kernel = match scheme.load_kernel(packed)? {
            Some(kernel) => kernel,
            None => Box::new(TorchDense::dequantized(
                &scheme.unpack(packed)?,
                scheme.name(),
            )?),
        };
        Ok(Self::new(kernel, quantizer.clone()))
    }

    /// A layer running `kernel`, with `quantizer`'s activation quantization applied first
    /// unless the kernel quantizes its input itself; no bias, no adapter.
    pub fn new(kernel: Box<dyn LinearKernel>, quantizer: Arc<dyn Quantizer>) -> Self {
        Self {
            kernel,
            quantizer,
            bias: None,
            lora: None,
        }
    }

    /// The layer with a high-precision bias `[out]` and an unmerged LoRA adapter, when given.
    pub fn with_extras(mut self, bias: Option<Tensor>, lora: Option<LoraAdapter>) -> Self {
        self.bias = bias;
        self.lora = lora;
        self
    }

    /// Bytes of quantized weights this layer keeps resident (the bias and adapter, high
    /// precision, are not counted).
    pub fn resident_bytes(&self) -> usize {
        self.kernel.resident_bytes()
    }

    /// Name of the matmul kernel this layer runs with `backend`.
    pub fn kernel_name(&self, backend: Backend) -> String {
        self.kernel.kernel_name(backend)
    }

    /// The kernel the layer runs.
    pub fn kernel(&self) -> &dyn LinearKernel {
        self.kernel.as_ref()
    }

    /// `[rows, cols]` of the weight.
    pub fn shape(&self) -> [i64; 2] {
        [self.kernel.rows() as i64, self.kernel.cols() as i64]
    }

    /// True when an unmerged LoRA adapter runs beside the packed base.
    pub fn has_adapter(&self) -> bool {
        self.lora.is_some()
    }
}

impl Linear for PackedLinear {
    /// `x` is an f32 CPU tensor; errors when the pass carries no kernel context, the input's
    /// width is not the layer's, or the kernel fails.
    fn forward(&self, x: &Tensor, pass: &Pass) -> Result<Tensor> {
        let ctx = pass.kernels.as_ref().ok_or_else(|| {
            Error::Invalid("a packed linear layer runs only in a pass with kernels".into())
        })?;
        let mut shape = x.size();
        let cols = *shape.last().unwrap_or(&0);
        if cols as usize != self.kernel.cols() {
            return Err(Error::Invalid(format!(
                "linear-layer input {shape:?} does not end in the layer's {} inputs",
                self.kernel.cols()
            )));
        }
        let flat = x
            .f_reshape([-1, cols])
            .map_err(|e| Error::torch("flattening a linear layer's input", e))?;
        let input = if self.kernel.quantizes_activations() || self.quantizer.is_full_precision() {
            flat
        } else {
            self.quantizer.quantize_activation(&flat)
        };
        let y = self.kernel.forward(&input, ctx)?;
        if let Some(last) = shape.last_mut() {
            *last = self.kernel.rows() as i64;
        }
        let base = y
            .f_view(shape.as_slice())
            .map_err(|e| Error::torch("shaping a linear layer's output", e))?;
        Ok(add_bias_and_adapter(
            base,
            self.bias.as_ref(),
            self.lora.as_ref(),
            x,
            pass.train,
        ))
    }
}

/// The matmul kernels of `layers` as one name, e.g. `bitlab-ternary-2bit-avx2`; where layers
/// run different kernels (a shape a packed kernel cannot take), each with its layer count.
pub fn kernels_name<'a>(
    layers: impl IntoIterator<Item = &'a PackedLinear>,
    backend: Backend,
) -> String {
    let mut kernels: Vec<(String, usize)> = Vec::new();
    for layer in layers {
        let name = layer.kernel_name(backend);
        match kernels.iter_mut().find(|(k, _)| *k == name) {
            Some((_, count)) => *count += 1,
            None => kernels.push((name, 1)),
        }
    }
    match kernels.as_slice() {
        [] => "no quantized layers".to_string(),
        [(name, _)] => name.clone(),
        several => several
            .iter()
            .map(|(name, count)| format!("{name} ({count} layers)"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Bytes the quantized weights of `layers` keep resident.
pub fn resident_bytes<'a>(layers: impl IntoIterator<Item = &'a PackedLinear>) -> usize {
    layers.into_iter().map(PackedLinear::resident_bytes).sum()
}
