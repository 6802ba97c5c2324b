//! The inference kernel a codec binds its packed weights to, named once.
//!
//! A [`KernelBinding`] pairs the kernel family's name (what `bitlab quantizers` lists) with the
//! loader that builds that kernel for one packed weight (what inference runs), so the listing
//! and the kernel that runs cannot drift apart. [`super::Quantizer::load_kernel`] is the only
//! caller of the loader.
use std::borrow::Cow;
use std::fmt;

use super::PackedTensor;
use crate::kernels::LinearKernel;
use crate::Result;

/// Builds a kernel's resident form for one packed weight; `Ok(None)` when this shape has none.
type Loader<'a> = Box<dyn Fn(&PackedTensor) -> Result<Option<Box<dyn LinearKernel>>> + 'a>;

/// A kernel family (e.g. `bitlab-ternary-2bit`, `libtorch-int8pack-bf16`) and the loader that
/// builds it for one packed weight of the codec that returned it.
pub struct KernelBinding<'a> {
    name: Cow<'static, str>,
    load: Loader<'a>,
}

impl<'a> KernelBinding<'a> {
    /// Binds the kernel family `name` to `load`, which builds it for one packed weight and
    /// returns `Ok(None)` for a shape the kernel does not run.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        load: impl Fn(&PackedTensor) -> Result<Option<Box<dyn LinearKernel>>> + 'a,
    ) -> Self {
        Self {
            name: name.into(),
            load: Box::new(load),
        }
    }

    /// The kernel's name as listings show it: what the loaded kernel's
    /// [`LinearKernel::kernel_name`] records, less the backend suffix bitlab's own kernels add
    /// (`-avx2`, `-portable`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kernel for one packed weight `p`, or `Ok(None)` when this shape has none.
    pub fn load(&self, p: &PackedTensor) -> Result<Option<Box<dyn LinearKernel>>> {
        (self.load)(p)
    }
}

impl fmt::Debug for KernelBinding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelBinding")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use crate::kernels::Backend;
    use crate::quant::QuantConfig;
    use crate::quant::{names, resolve};

    /// `bitlab quantizers` lists `kernel().name()`; inference runs `load_kernel`: for every
    /// registered scheme they are the same kernel (a shape every kernel runs: 64 x 256).
    #[test]
    fn the_listed_kernel_is_the_kernel_that_loads() {
        let w = Tensor::randn([64, 256], (Kind::Float, Device::Cpu));
        let mut bound = 0;
        for name in names() {
            let q = resolve(&QuantConfig {
                scheme: name.into(),
                ..QuantConfig::default()
            })
            .unwrap();
            let packed = q.pack(&w).unwrap();
            let listed = q.kernel().map(|k| k.name().to_string());
            let loaded = q.load_kernel(&packed).unwrap();
            match (listed, loaded) {
                (None, None) => {}
                (Some(listed), Some(kernel)) => {
                    let backend = Backend::Portable;
                    let recorded = kernel.kernel_name(backend);
                    assert!(
                        recorded == listed || recorded == format!("{listed}-{}", backend.name()),
                        "{name}: listed `{listed}`, runs `{recorded}`"
                    );
                    bound += 1;
                }
                (listed, loaded) => panic!(
                    "{name}: listed {listed:?}, loaded {:?}",
                    loaded.map(|k| k.kernel_name(Backend::Portable))
                ),
            }
        }
        assert!(bound >= 6, "only {bound} schemes bind a kernel");
    }
}
