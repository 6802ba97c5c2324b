//! The schemes the benchmarks time, as quantizers of the one registry ([`crate::quant`]): each
//! is a [`QuantConfig`] (fp32, bf16, fp16, int8, int4 with the config's group size, ternary) and
//! the kernel layout its packed weights load into. A benchmarked kernel is the quantizer's
//! `pack` of a random weight loaded with [`Quantizer::load_kernel`], the very kernel inference
//! runs under the same name; ternary (BitNet b1.58, Ma et al. 2024) is also timed in its 1.6-bit
//! base-3 layout ([`ternary_base3_kernel`]).
use std::sync::Arc;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::kernels::{LinearKernel, TorchInt4Pack, TorchInt8Pack};
use crate::quant::ternary_base3::ternary_base3_kernel;
use crate::quant::{registry, PackedTensor, QuantConfig, Quantizer};
use crate::{Error, Result};

/// Which kernel a benchmarked quantizer's packed weights load into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KernelLayout {
    /// The kernel the quantizer binds ([`crate::quant::WeightCodec::kernel`]), as inference.
    Inference,
    /// Ternary's 1.6-bit base-3 layout ([`ternary_base3_kernel`]).
    TernaryBase3,
}

/// A benchmarked scheme: a registered quantizer (by its [`QuantConfig`]'s scheme, with the
/// config's default group size) and the kernel layout it is timed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BenchedScheme {
    /// Registered quantizer name (`QuantConfig::scheme`).
    pub quantizer: &'static str,
    /// Kernel layout of its packed weights.
    pub layout: KernelLayout,
}

impl BenchedScheme {
    /// libtorch fp32 (the baseline).
    pub const FP32: Self = Self::inference("fp32");
    /// BitNet b1.58 ternary in inference's 2-bit layout.
    pub const TERNARY: Self = Self::inference("ternary");
    /// BitNet b1.58 ternary in the 1.6-bit base-3 layout.
    pub const TERNARY_BASE3: Self = Self {
        quantizer: "ternary",
        layout: KernelLayout::TernaryBase3,
    };

    /// Every benchmarked scheme, baseline first.
    pub const ALL: [Self; 7] = [
        Self::FP32,
        Self::inference("bf16"),
        Self::inference("fp16"),
        Self::inference("int8"),
        Self::inference("int4"),
        Self::TERNARY,
        Self::TERNARY_BASE3,
    ];

    /// The registered quantizer `name` in the kernel inference runs.
    const fn inference(name: &'static str) -> Self {
        Self {
            quantizer: name,
            layout: KernelLayout::Inference,
        }
    }

    /// The label stored results carry (their trial hashes cover it): the quantizer's name, and
    /// `ternary-1.6bit` for the base-3 layout, as recorded before the registry was shared.
    pub fn label(self) -> &'static str {
        match self.layout {
            KernelLayout::Inference => self.quantizer,
            KernelLayout::TernaryBase3 => "ternary-1.6bit",
        }
    }

    /// The scheme whose stored label is `label`, if one is benchmarked.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.label() == label)
    }

    /// The quantization settings that build this scheme's quantizer (the default group size).
    pub fn quant_config(self) -> QuantConfig {
        QuantConfig {
            scheme: self.quantizer.into(),
            ..QuantConfig::default()
        }
    }

    /// The registered quantizer (its activation quantization runs before the kernel).
    pub fn quantizer(self) -> Result<Arc<dyn Quantizer>> {
        registry::resolve(&self.quant_config())
    }

    /// Whether this scheme's kernel runs a `[rows, cols]` weight (libtorch's int8 and int4
    /// kernels need K and N in whole tiles: [`TorchInt8Pack::supports`],
    /// [`TorchInt4Pack::supports`]).
    pub fn supports(self, rows: usize, cols: usize) -> bool {
        match self.quantizer {
            "int8" => TorchInt8Pack::supports(rows, cols),
            "int4" => TorchInt4Pack::supports(rows, cols, self.quant_config().group_size),
            _ => true,
        }
    }

    /// The kernel of a `rows x cols` weight of random values (the values do not change the
    /// speed): `quantizer`'s `pack` of it ([`random_packed`]), loaded as inference loads it
    /// ([`BenchedScheme::load`]). Errors when the shape has no kernel.
    pub fn random_kernel(
        self,
        quantizer: &dyn Quantizer,
        rows: usize,
        cols: usize,
    ) -> Result<Box<dyn LinearKernel>> {
        self.load(quantizer, &random_packed(quantizer, rows, cols)?)
    }

    /// The kernel for `packed` (a weight `quantizer` packed), in its own resident copy:
    /// [`Quantizer::load_kernel`], or the base-3 layout's binding. Errors when the shape has
    /// no kernel.
    pub fn load(
        self,
        quantizer: &dyn Quantizer,
        packed: &PackedTensor,
    ) -> Result<Box<dyn LinearKernel>> {
        let kernel = match self.layout {
            KernelLayout::Inference => quantizer.load_kernel(packed)?,
            KernelLayout::TernaryBase3 => ternary_base3_kernel().load(packed)?,
        };
        kernel.ok_or_else(|| {
            Error::Invalid(format!(
                "scheme {} has no kernel for a {:?} weight",
                self.label(),
                packed.shape
            ))
        })
    }
}

/// `quantizer`'s packed form of a `rows x cols` weight of standard normal values.
pub fn random_packed(quantizer: &dyn Quantizer, rows: usize, cols: usize) -> Result<PackedTensor> {
    let weight = Tensor::f_randn([rows as i64, cols as i64], (Kind::Float, Device::Cpu))
        .map_err(|e| Error::torch(format!("a random {rows}x{cols} weight"), e))?;
    quantizer.pack(&weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::energy::matmul_energy_pj_per_token;
    use crate::kernels::Backend;

    /// The labels stored results carry, and the kernels that run under them.
    #[test]
    fn every_scheme_keeps_its_stored_label_and_runs_inferences_kernel() {
        let labels: Vec<&str> = BenchedScheme::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            [
                "fp32",
                "bf16",
                "fp16",
                "int8",
                "int4",
                "ternary",
                "ternary-1.6bit"
            ]
        );
        for scheme in BenchedScheme::ALL {
            assert_eq!(BenchedScheme::from_label(scheme.label()), Some(scheme));
            let quantizer = scheme.quantizer().unwrap();
            let kernel = scheme.random_kernel(quantizer.as_ref(), 64, 256).unwrap();
            let recorded = kernel.kernel_name(Backend::Portable);
            let listed = match scheme.layout {
                KernelLayout::Inference => quantizer.kernel().unwrap().name().to_string(),
                KernelLayout::TernaryBase3 => ternary_base3_kernel().name().to_string(),
            };
            assert!(
                recorded == listed || recorded == format!("{listed}-portable"),
                "{}: listed {listed}, runs {recorded}",
                scheme.label()
            );
        }
        let int4 = BenchedScheme::from_label("int4").unwrap();
        let kernel = int4
            .random_kernel(int4.quantizer().unwrap().as_ref(), 64, 256)
            .unwrap();
        assert_eq!(
            kernel.kernel_name(Backend::Portable),
            "libtorch-int4pack-g32-bf16"
        );
        assert!(BenchedScheme::from_label("ternary-2bit").is_none());
    }

    #[test]
    fn each_scheme_is_charged_the_arithmetic_its_kernel_runs() {
        let (rows, cols) = (64, 128);
        let expected = [
            ("fp32", 1.69),
            ("bf16", 0.50),
            ("fp16", 0.50),
            // libtorch's weight-only kernels multiply bf16 activations by widened weights.
            ("int8", 0.50),
            ("int4", 0.50),
            ("ternary", 0.007),
            ("ternary-1.6bit", 0.007),
        ];
        assert_eq!(expected.len(), BenchedScheme::ALL.len());
        for (label, pj) in expected {
            let scheme = BenchedScheme::from_label(label).unwrap();
            let quantizer = scheme.quantizer().unwrap();
            let kernel = scheme
                .random_kernel(quantizer.as_ref(), rows, cols)
                .unwrap();
            let got = matmul_energy_pj_per_token([kernel.as_ref()]);
            let want = (rows * cols) as f64 * pj;
            assert!((got - want).abs() < 1e-9 * want, "{label}: {got} vs {want}");
        }
    }
}
