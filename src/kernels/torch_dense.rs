//! Dense weights multiplied by libtorch in their own dtype: fp32 (the baseline), bf16 and fp16
//! (activations are cast to the weight's dtype, the product cast back to f32). This is how the
//! fp32, fp16 and bf16 schemes run at inference, and how schemes without a packed kernel run
//! on their dequantized f32 weights (the kernel name then says "on dequantized").
use super::linear_kernel::{KernelContext, LinearKernel, MacArithmetic};
use super::Backend;
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// A `[rows, cols]` weight kept as a libtorch tensor of kind f32, bf16 or f16.
#[derive(Debug)]
pub struct TorchDense {
    weight: Tensor,
    /// Scheme whose weights were dequantized to f32, if any (named in the kernel name).
    dequantized_from: Option<String>,
}

impl TorchDense {
    /// Keeps `weight` (`[rows, cols]`, any float kind) resident in `kind` (Float, BFloat16 or
    /// Half). Errors on another rank or kind.
    pub fn new(weight: &Tensor, kind: Kind) -> Result<Self> {
        if !matches!(kind, Kind::Float | Kind::BFloat16 | Kind::Half) || weight.dim() != 2 {
            return Err(Error::Invalid(format!(
                "a dense kernel needs a 2-D weight kept in f32, bf16 or f16, got {:?} in {kind:?}",
                weight.size()
            )));
        }
        let weight = weight
            .f_to_kind(kind)
            .and_then(|w| w.f_contiguous())
            .map_err(|e| Error::torch("converting a dense weight", e))?;
        Ok(Self {
            weight,
            dequantized_from: None,
        })
    }

    /// f32 weights dequantized from `scheme` (which has no packed kernel): named
    /// `libtorch-fp32 on dequantized SCHEME` so a measurement never passes them off as low-bit.
    pub fn dequantized(weight: &Tensor, scheme: &str) -> Result<Self> {
        let mut dense = Self::new(weight, Kind::Float)?;
        dense.dequantized_from = Some(scheme.to_string());
        Ok(dense)
    }

    /// The resident weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl LinearKernel for TorchDense {
    fn rows(&self) -> usize {
        self.weight.size()[0] as usize
    }
    fn cols(&self) -> usize {
        self.weight.size()[1] as usize
    }
    fn forward(&self, x: &Tensor, _ctx: &KernelContext) -> Result<Tensor> {
        x.f_to_kind(self.weight.kind())
            .and_then(|x| x.f_matmul(&self.weight.tr()))
            .and_then(|y| y.f_to_kind(Kind::Float))
            .map_err(|e| Error::torch(format!("{} matmul", self.kernel_name(Backend::Portable)), e))
    }
    fn resident_bytes(&self) -> usize {
        self.weight.numel() * self.weight.kind().elt_size_in_bytes()
    }
    /// A 16-bit kernel casts its input to its dtype, which is exactly the fp16/bf16 schemes'
    /// activation quantization, so the caller need not round it first; f32 kernels (fp32,
    /// dequantized schemes) leave the scheme's activation quantization to the caller.
    fn quantizes_activations(&self) -> bool {
        self.dequantized_from.is_none() && self.weight.kind() != Kind::Float
    }
    fn arithmetic(&self) -> MacArithmetic {
        match self.weight.kind() {
            Kind::BFloat16 | Kind::Half => MacArithmetic::Fp16MulAdd,
            _ => MacArithmetic::Fp32MulAdd,
        }
    }
    fn kernel_name(&self, _backend: Backend) -> String {
        match (&self.dequantized_from, self.weight.kind()) {
            (Some(scheme), _) => format!("libtorch-fp32 on dequantized {scheme}"),
            (None, Kind::BFloat16) => "libtorch-bf16".into(),
            (None, Kind::Half) => "libtorch-fp16".into(),
            (None, _) => "libtorch-fp32".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_kernel_matches_dense, random_input, round_through};
    use tch::Device;

    #[test]
    fn every_dtype_matches_the_f64_reference_and_says_which_it_is() {
        for (kind, name, rel) in [
            (Kind::Float, "libtorch-fp32", 1e-5),
            (Kind::BFloat16, "libtorch-bf16", 1.0 / 64.0),
            (Kind::Half, "libtorch-fp16", 1.0 / 256.0),
        ] {
            let w = Tensor::randn([37, 70], (Kind::Float, Device::Cpu)).to_kind(kind);
            let dense = TorchDense::new(&w, kind).unwrap();
            assert_eq!(dense.kernel_name(Backend::Portable), name);
            assert_eq!(dense.resident_bytes(), 37 * 70 * kind.elt_size_in_bytes());
            let wv = Vec::<f32>::try_from(&w.to_kind(Kind::Float).flatten(0, -1)).unwrap();
            // Inputs already on the dtype's grid, so only accumulation and output round.
            let x = round_through(&random_input(5, 70, 3), kind);
            assert_kernel_matches_dense(&dense, &x, 5, |r, k| f64::from(wv[r * 70 + k]), rel);
        }
        let dq = TorchDense::dequantized(&Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), "nf4");
        assert_eq!(
            dq.unwrap().kernel_name(Backend::Portable),
            "libtorch-fp32 on dequantized nf4"
        );
    }
}
