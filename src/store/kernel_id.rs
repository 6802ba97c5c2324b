//! [`KernelId`]: which kernels produced a measurement, stored as columns (matmul kernel,
//! instruction set of bitlab's kernels, whether weights were dequantized to full precision
//! before the matmul, attention kernel) so readers never search a kernel name for a word.
//!
//! Kernels name themselves with text (`LinearKernel::kernel_name`, the packed classifier's
//! `kernel_name`: `"{matmul} + {attention} attention"`); [`KernelId::from_recorded_name`] is the
//! one place that text is split into columns, the same rule migration `0002` applied once to
//! the rows of older databases. [`KernelId`]'s `Display` gives the recorded name back exactly.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The instruction set a bitlab kernel ran on (libtorch kernels record none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KernelBackend {
    /// x86-64 AVX2.
    Avx2,
    /// Plain Rust.
    Portable,
}

impl KernelBackend {
    /// The stored text, also the suffix of the kernel's name: `avx2` or `portable`.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelBackend::Avx2 => "avx2",
            KernelBackend::Portable => "portable",
        }
    }
}

impl FromStr for KernelBackend {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "avx2" => Ok(KernelBackend::Avx2),
            "portable" => Ok(KernelBackend::Portable),
            other => Err(Error::Invalid(format!(
                "unknown kernel backend `{other}` (known: avx2, portable); fix: read this \
                 database with the bitlab version that wrote it, or use a fresh --db"
            ))),
        }
    }
}

/// The kernels one measurement ran.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KernelId {
    /// The matmul kernel(s) as named, e.g. `bitlab-ternary-2bit-avx2`, `libtorch-fp32 on
    /// dequantized int4`, or several with their layer counts.
    pub matmul: String,
    /// The instruction set of bitlab's kernel, when one of bitlab's kernels ran.
    pub backend: Option<KernelBackend>,
    /// Whether the weights were dequantized (or fake-quantized) to full precision before a
    /// full-precision matmul: then the time is full-precision time, whatever the scheme.
    pub dequantized: bool,
    /// The attention kernel, when the measurement ran attention (e.g. `flash-cpu`).
    pub attention: Option<String>,
}

impl KernelId {
    /// Splits a kernel name as kernels record it (`"{matmul} + {attention} attention"`, or a
    /// matmul name alone) into its columns: the backend is the `-avx2` / `-portable` suffix of
    /// bitlab's kernels, and the weights count as dequantized when the name says
    /// `dequantized` or `fake-quantized` (ASCII case ignored, as SQL's `LIKE`). Migration
    /// `0002_typed_results.sql` applies the same rule to older rows.
    pub fn from_recorded_name(name: &str) -> KernelId {
        let (matmul, attention) = match name
            .split_once(" + ")
            .and_then(|(matmul, rest)| Some((matmul, rest.strip_suffix(" attention")?)))
        {
            Some((matmul, attention)) => (matmul.to_string(), Some(attention.to_string())),
            None => (name.to_string(), None),
        };
        let lower = name.to_ascii_lowercase();
        let backend = if lower.contains("-avx2") {
            Some(KernelBackend::Avx2)
        } else if lower.contains("-portable") {
            Some(KernelBackend::Portable)
        } else {
            None
        };
        KernelId {
            matmul,
            backend,
            dequantized: lower.contains("dequantized") || lower.contains("fake-quantized"),
            attention,
        }
    }
}

impl fmt::Display for KernelId {
    /// The name as the kernels recorded it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.matmul)?;
        if let Some(attention) = &self.attention {
            write!(f, " + {attention} attention")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Kernel names bitlab has recorded (and awkward ones), for this module's tests and the
    /// migration test that checks SQL splits them the same way.
    pub(crate) const RECORDED_NAMES: [&str; 12] = [
        "libtorch-fp32",
        "libtorch-fp32 (dequantized)",
        "libtorch-fp32 + flash-cpu attention",
        "libtorch-fp32 on dequantized int4 + sdpa-math attention",
        "bitlab-ternary-2bit-avx2 + flash-cpu attention",
        "bitlab-ternary-1.6bit-portable",
        "bitlab-ternary-2bit-avx2 (8 layers), libtorch-fp32 (2 layers) + chunked attention",
        "libtorch-fp32 QAT (ternary fake-quantized) + naive attention",
        "libtorch-int4pack-g32-bf16",
        "x + attention",
        "x +  attention",
        "a + b + c attention",
    ];

    #[test]
    fn the_display_gives_every_recorded_name_back() {
        for name in RECORDED_NAMES {
            assert_eq!(KernelId::from_recorded_name(name).to_string(), name);
        }
    }

    #[test]
    fn names_split_into_their_columns() {
        let packed = KernelId::from_recorded_name("bitlab-ternary-2bit-avx2 + flash-cpu attention");
        assert_eq!(
            packed,
            KernelId {
                matmul: "bitlab-ternary-2bit-avx2".into(),
                backend: Some(KernelBackend::Avx2),
                dequantized: false,
                attention: Some("flash-cpu".into()),
            }
        );
        let reference =
            KernelId::from_recorded_name("libtorch-fp32 on dequantized int4 + sdpa-math attention");
        assert!(reference.dequantized && reference.backend.is_none());
        assert_eq!(reference.matmul, "libtorch-fp32 on dequantized int4");
        let qat = KernelId::from_recorded_name(
            "libtorch-fp32 QAT (ternary fake-quantized) + naive attention",
        );
        assert!(qat.dequantized);
        let plain = KernelId::from_recorded_name("libtorch-int4pack-g32-bf16");
        assert_eq!((plain.attention, plain.dequantized), (None, false));
        assert_eq!(
            KernelId::from_recorded_name("bitlab-ternary-1.6bit-portable").backend,
            Some(KernelBackend::Portable)
        );
    }

    #[test]
    fn backends_parse_and_unknown_ones_are_errors() {
        for backend in [KernelBackend::Avx2, KernelBackend::Portable] {
            assert_eq!(backend.as_str().parse::<KernelBackend>().unwrap(), backend);
        }
        let err = "neon".parse::<KernelBackend>().unwrap_err().to_string();
        assert!(err.contains("unknown kernel backend `neon`"), "{err}");
    }
}
