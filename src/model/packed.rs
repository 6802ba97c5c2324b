//! The classifier run from its packed artifact, with the quantized weights resident in the
//! form their inference kernel runs on ([`crate::kernels::LinearKernel`], chosen by the
//! scheme's [`Quantizer::load_kernel`]): ternary layers run bitlab's 2-bit integer kernels,
//! whose weights are never expanded to floating point; int8 and int4 run libtorch's packed
//! weight-only kernels with bf16 activations; fp16 and bf16 run libtorch in their own dtype.
//! Schemes (or shapes) without a kernel run libtorch fp32 on their dequantized weights, and
//! [`PackedClassifier::kernel_name`] says so.
//!
//! The forward pass mirrors [`super::Classifier`] and [`super::Block`] exactly (BitNet b1.58,
//! Ma et al., 2024: an RMSNorm before every quantized linear layer, 8-bit per-token activations
//! for the schemes that quantize them), so the dequantized model loaded by
//! [`super::load_artifact`] is its reference: logits agree to the kernels' rounding (f32 for
//! ternary, bf16 for the libtorch int8/int4 kernels) and predictions agree (see the tests at
//! the bottom).
use super::export::{load_tensor, require_all_loaded};
use super::{ArtifactConfig, Classifier, RmsNorm};
use crate::artifact::Artifact;
use crate::attention::{AttentionInput, AttentionKind};
use crate::experiment::{ModelConfig, Pooling};
use crate::kernels::{Backend, KernelContext, LinearKernel, TorchDense};
use crate::quant::{registry, PackedTensor, Quantizer};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

/// One quantized linear layer `y = q_a(x) W^T` in the form it runs in: the scheme's own
/// inference kernel ([`Quantizer::load_kernel`]: bitlab's ternary kernels, libtorch's int8/int4
/// packed kernels, fp16/bf16/fp32 dense), or, for a scheme or shape without one, libtorch fp32
/// on the dequantized weights, named so.
#[derive(Debug)]
pub struct PackedLinear {
    kernel: Box<dyn LinearKernel>,
    /// The model's scheme (for its activation quantization).
    quantizer: Arc<dyn Quantizer>,
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
    /// unless the kernel quantizes its input itself.
    pub fn new(kernel: Box<dyn LinearKernel>, quantizer: Arc<dyn Quantizer>) -> Self {
        Self { kernel, quantizer }
    }

    /// Applies the layer to `x` (`[..., in]`, f32 on the CPU).
    pub fn forward(&self, x: &Tensor, ctx: &KernelContext) -> Result<Tensor> {
        let mut shape = x.size();
        let cols = *shape.last().unwrap_or(&0);
        if cols as usize != self.kernel.cols() {
            return Err(Error::Invalid(format!(
                "linear-layer input {shape:?} does not end in the layer's {} inputs",
                self.kernel.cols()
            )));
        }
        let flat = x.reshape([-1, cols]);
        let input = if self.kernel.quantizes_activations() || self.quantizer.is_full_precision() {
            flat
        } else {
            self.quantizer.quantize_activation(&flat)
        };
        let y = self.kernel.forward(&input, ctx)?;
        if let Some(last) = shape.last_mut() {
            *last = self.kernel.rows() as i64;
        }
        y.f_view(shape.as_slice())
            .map_err(|e| Error::torch("shaping a linear layer's output", e))
    }

    /// Bytes of weights this layer keeps resident.
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
}

/// One transformer block with packed linear layers (the math of [`super::Block`]).
#[derive(Debug)]
struct PackedBlock {
    attn_norm: RmsNorm,
    qkv: PackedLinear,
    attn_out_norm: RmsNorm,
    attn_out: PackedLinear,
    ffn_norm: RmsNorm,
    ffn_up: PackedLinear,
    ffn_down_norm: RmsNorm,
    ffn_down: PackedLinear,
}

impl PackedBlock {
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        heads: i64,
        attention: AttentionKind,
        ctx: &KernelContext,
    ) -> Result<Tensor> {
        let (b, l, d) = x
            .size3()
            .expect("block input must be [batch, len, d_model]");
        let head_dim = d / heads;
        let qkv = self.qkv.forward(&self.attn_norm.forward(x), ctx)?;
        let qkv = qkv
            .view([b, l, 3, heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: mask,
        };
        let attended = attention.attend(&input).transpose(1, 2).reshape([b, l, d]);
        let attn = self
            .attn_out
            .forward(&self.attn_out_norm.forward(&attended), ctx)?;
        let x = x + attn;
        let hidden = self
            .ffn_up
            .forward(&self.ffn_norm.forward(&x), ctx)?
            .gelu("none");
        let ffn = self
            .ffn_down
            .forward(&self.ffn_down_norm.forward(&hidden), ctx)?;
        Ok(x + ffn)
    }

    fn linears(&self) -> [&PackedLinear; 4] {
        [&self.qkv, &self.attn_out, &self.ffn_up, &self.ffn_down]
    }
}

/// A stack of transformer blocks of the classifier's shape with random weights in one kernel,
/// for the model-size benchmark (weight values do not change the speed): the same blocks, the
/// same kernels and the same activation quantization as [`PackedClassifier`], at shapes far
/// larger than a trained classifier.
pub struct PackedBlockStack {
    /// Owns the RMSNorm gains.
    _vs: nn::VarStore,
    blocks: Vec<PackedBlock>,
    heads: i64,
    attention: AttentionKind,
}

impl PackedBlockStack {
    /// `layers` blocks of width `d_model`, feed-forward width `d_ff` and `heads` heads, each
    /// linear layer made by `kernel(rows, cols, seed)` and run after `quantizer`'s activation
    /// quantization (unless the kernel quantizes its input itself).
    pub fn random(
        shape: StackShape,
        quantizer: Arc<dyn Quantizer>,
        mut kernel: impl FnMut(usize, usize, u64) -> Result<Box<dyn LinearKernel>>,
    ) -> Result<Self> {
        let StackShape {
            d_model: d,
            d_ff: ff,
            layers,
            heads,
        } = shape;
        if heads == 0 || d % heads != 0 {
            return Err(Error::Invalid(format!(
                "{heads} heads do not divide d_model {d}"
            )));
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let block = &root / "blocks" / i;
            let seed = 4 * i as u64;
            let mut linear = |rows: usize, cols: usize, offset: u64| {
                kernel(rows, cols, seed + offset).map(|k| PackedLinear::new(k, quantizer.clone()))
            };
            blocks.push(PackedBlock {
                attn_norm: RmsNorm::new(&(&block / "attn_norm"), d),
                qkv: linear(3 * d, d, 0)?,
                attn_out_norm: RmsNorm::new(&(&block / "attn_out_norm"), d),
                attn_out: linear(d, d, 1)?,
                ffn_norm: RmsNorm::new(&(&block / "ffn_norm"), d),
                ffn_up: linear(ff, d, 2)?,
                ffn_down_norm: RmsNorm::new(&(&block / "ffn_down_norm"), ff),
                ffn_down: linear(d, ff, 3)?,
            });
        }
        Ok(Self {
            _vs: vs,
            blocks,
            heads: heads as i64,
            attention: AttentionKind::Flash,
        })
    }

    /// Runs every block on `x` (`[batch, len, d_model]`, f32, no padding).
    pub fn forward(&self, x: &Tensor, ctx: &KernelContext) -> Result<Tensor> {
        let (b, l, _) = x
            .size3()
            .map_err(|e| Error::torch("a block-stack input must be [batch, len, d_model]", e))?;
        let mask = Tensor::ones([b, l], (Kind::Int64, Device::Cpu));
        tch::no_grad(|| {
            let mut x = x.shallow_clone();
            for block in &self.blocks {
                x = block.forward(&x, &mask, self.heads, self.attention, ctx)?;
            }
            Ok(x)
        })
    }

    /// Weights in the linear layers.
    pub fn parameters(&self) -> usize {
        self.blocks
            .iter()
            .flat_map(|b| b.linears())
            .map(|l| (l.shape()[0] * l.shape()[1]) as usize)
            .sum()
    }

    /// Bytes the linear layers keep resident.
    pub fn resident_bytes(&self) -> usize {
        blocks_resident_bytes(&self.blocks)
    }

    /// Estimated picojoules per token of the linear layers' arithmetic
    /// ([`crate::measure::energy`]: BitNet's 7 nm per-operation energies).
    pub fn energy_estimate_pj_per_token(&self) -> f64 {
        blocks_energy_pj_per_token(&self.blocks)
    }

    /// The matmul kernel of the first layer, e.g. `bitlab-ternary-2bit-avx2`.
    pub fn kernel_name(&self, backend: Backend) -> String {
        self.blocks
            .first()
            .map_or_else(|| "no layers".into(), |b| b.qkv.kernel_name(backend))
    }
}

/// The shape of a [`PackedBlockStack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackShape {
    /// Model width.
    pub d_model: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Blocks.
    pub layers: usize,
    /// Attention heads (must divide `d_model`).
    pub heads: usize,
}

/// The sequence classifier running on packed weights (CPU only).
pub struct PackedClassifier {
    /// Owns the high-precision tensors (embeddings, norms, head).
    _vs: nn::VarStore,
    token_embedding: nn::Embedding,
    position_embedding: nn::Embedding,
    blocks: Vec<PackedBlock>,
    final_norm: RmsNorm,
    head: nn::Linear,
    cfg: ModelConfig,
    attention: AttentionKind,
    backend: Backend,
    pool: rayon::ThreadPool,
    /// The header configuration of the artifact.
    pub config: ArtifactConfig,
}

impl std::fmt::Debug for PackedClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedClassifier")
            .field("blocks", &self.blocks.len())
            .field("kernel", &self.kernel_name())
            .finish()
    }
}

impl PackedClassifier {
    /// Loads the artifact at `path` (verified by [`Artifact::read`]) and keeps its quantized
    /// weights packed; kernels run on `threads` rayon threads with `backend`.
    pub fn load(path: &Path, threads: usize, backend: Backend) -> Result<Self> {
        let artifact = Artifact::read(path)?;
        Self::from_artifact(&artifact, path, threads, backend)
    }

    /// True when the packed engine can run the model `config` describes: the BitNet encoder
    /// trained from scratch, with LoRA adapters merged or absent and a high-precision embedding
    /// table. Other models (pretrained BERT, adapters kept beside a quantized base) run on the
    /// dequantized libtorch reference, and their measurements name that kernel.
    pub fn supports(config: &ArtifactConfig) -> bool {
        let trial = &config.trial;
        trial.model.pretrained.is_none()
            && (trial.lora.rank == 0 || config.merged_lora)
            && trial.quant.embeddings.is_none()
    }

    /// Builds the model from an artifact already read from `path` (named in errors).
    pub fn from_artifact(
        artifact: &Artifact,
        path: &Path,
        threads: usize,
        backend: Backend,
    ) -> Result<Self> {
        let bad = |message: String| Error::Artifact {
            path: path.to_path_buf(),
            message,
        };
        let config = ArtifactConfig::of(artifact, path)?;
        if !Self::supports(&config) {
            return Err(bad(
                "the packed engine runs BitNet encoders trained from scratch with \
                 LoRA merged or absent and high-precision embeddings; load this model with \
                 load_artifact (the libtorch reference) instead"
                    .into(),
            ));
        }
        let quantizer = registry::resolve(&config.trial.quant)?;
        let cfg = config.trial.model.clone();
        let (d, ff) = (cfg.d_model as i64, cfg.d_ff);
        let mut vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let embedding = nn::EmbeddingConfig::default();
        let token_embedding = nn::embedding(
            &root / "token_embedding",
            config.dims.vocab_size as i64,
            d,
            embedding,
        );
        let position_embedding = nn::embedding(
            &root / "position_embedding",
            cfg.max_positions as i64,
            d,
            embedding,
        );
        let final_norm = RmsNorm::new(&(&root / "final_norm"), cfg.d_model);
        let head = nn::linear(
            &root / "head",
            d,
            config.dims.num_labels as i64,
            Default::default(),
        );
        let norms: Vec<[RmsNorm; 4]> = (0..cfg.layers)
            .map(|i| {
                let block = &root / "blocks" / i;
                [
                    RmsNorm::new(&(&block / "attn_norm"), cfg.d_model),
                    RmsNorm::new(&(&block / "attn_out_norm"), cfg.d_model),
                    RmsNorm::new(&(&block / "ffn_norm"), cfg.d_model),
                    RmsNorm::new(&(&block / "ffn_down_norm"), ff),
                ]
            })
            .collect();
        vs.freeze();
        let mut variables = vs.variables();
        let mut linears: HashMap<String, PackedLinear> = HashMap::new();
        for tensor in &artifact.tensors {
            if Classifier::is_quantized_weight(&tensor.name) {
                let layer = PackedLinear::from_packed(&tensor.packed, &quantizer)?;
                linears.insert(tensor.name.clone(), layer);
                continue;
            }
            load_tensor(&mut variables, tensor, path, Device::Cpu)?;
        }
        require_all_loaded(&variables, path)?;
        let mut blocks = Vec::with_capacity(cfg.layers);
        for (i, [attn_norm, attn_out_norm, ffn_norm, ffn_down_norm]) in
            norms.into_iter().enumerate()
        {
            let mut take = |name: &str, rows: i64, cols: i64| {
                let key = format!("blocks.{i}.{name}.weight");
                let layer = linears
                    .remove(&key)
                    .ok_or_else(|| bad(format!("tensor `{key}` is missing from the artifact")))?;
                check_linear_shape(&layer, rows, cols).map_err(|shape| {
                    bad(format!(
                        "tensor `{key}` has shape {shape:?}, the model expects [{rows}, {cols}]"
                    ))
                })?;
                Ok::<_, Error>(layer)
            };
            let ff = ff as i64;
            blocks.push(PackedBlock {
                attn_norm,
                qkv: take("qkv", 3 * d, d)?,
                attn_out_norm,
                attn_out: take("attn_out", d, d)?,
                ffn_norm,
                ffn_up: take("ffn_up", ff, d)?,
                ffn_down_norm,
                ffn_down: take("ffn_down", d, ff)?,
            });
        }
        if let Some(extra) = linears.keys().next() {
            return Err(bad(format!(
                "tensor `{extra}` does not belong to this model"
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start {threads} kernel threads: {e}")))?;
        Ok(Self {
            _vs: vs,
            token_embedding,
            position_embedding,
            blocks,
            final_norm,
            head,
            attention: cfg.attention,
            cfg,
            backend,
            pool,
            config,
        })
    }

    /// Logits `[batch, num_labels]` for token ids `[batch, len]` with padding mask `[batch, len]`
    /// (CPU tensors), computed as [`Classifier::forward`] computes them at inference. Errors
    /// when a kernel call fails (a libtorch exception, an input of the wrong width).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let ctx = KernelContext {
            backend: self.backend,
            pool: &self.pool,
        };
        tch::no_grad(|| {
            let len = ids.size()[1];
            let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
            let mut x = ids.apply(&self.token_embedding)
                + positions.apply(&self.position_embedding).unsqueeze(0);
            for block in &self.blocks {
                x = block.forward(&x, mask, self.cfg.heads as i64, self.attention, &ctx)?;
            }
            let x = self.final_norm.forward(&x);
            let pooled = match self.cfg.pooling {
                Pooling::Cls => x.select(1, 0),
                Pooling::Mean => {
                    let m = mask.to_kind(x.kind()).unsqueeze(-1);
                    (&x * &m).sum_dim_intlist(1, false, x.kind())
                        / m.sum_dim_intlist(1, false, x.kind()).clamp_min(1.0)
                }
            };
            Ok(pooled.apply(&self.head))
        })
    }

    /// Switches the attention kernel (all kernels compute the same function).
    pub fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
    }

    /// Name of the matmul kernels of the quantized layers plus the attention kernel, e.g.
    /// `bitlab-ternary-2bit-avx2 + flash-cpu attention` (recorded with every measurement).
    /// Where layers run different kernels (a shape a packed kernel cannot take), every kernel
    /// is named with its layer count.
    pub fn kernel_name(&self) -> String {
        let mut kernels: Vec<(String, usize)> = Vec::new();
        for layer in self.blocks.iter().flat_map(|b| b.linears()) {
            let name = layer.kernel_name(self.backend);
            match kernels.iter_mut().find(|(k, _)| *k == name) {
                Some((_, count)) => *count += 1,
                None => kernels.push((name, 1)),
            }
        }
        let matmul = match kernels.as_slice() {
            [] => "no quantized layers".to_string(),
            [(name, _)] => name.clone(),
            several => several
                .iter()
                .map(|(name, count)| format!("{name} ({count} layers)"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!(
            "{matmul} + {} attention",
            self.attention.kernel_name(Device::Cpu)
        )
    }

    /// Bytes of quantized-layer weights kept resident (packed codes and scales, 16-bit copies,
    /// or fp32 values for schemes that run dequantized).
    pub fn resident_quantized_bytes(&self) -> usize {
        blocks_resident_bytes(&self.blocks)
    }

    /// Estimated picojoules per token of the quantized linear layers' arithmetic, in the
    /// kernels they run ([`crate::measure::energy`]: BitNet's 7 nm per-operation energies; the
    /// high-precision head and embeddings are left out).
    pub fn energy_estimate_pj_per_token(&self) -> f64 {
        blocks_energy_pj_per_token(&self.blocks)
    }
}

/// Bytes the blocks' linear layers keep resident.
fn blocks_resident_bytes(blocks: &[PackedBlock]) -> usize {
    blocks
        .iter()
        .flat_map(|b| b.linears())
        .map(PackedLinear::resident_bytes)
        .sum()
}

/// [`crate::measure::energy::matmul_energy_pj_per_token`] over the blocks' linear layers.
fn blocks_energy_pj_per_token(blocks: &[PackedBlock]) -> f64 {
    crate::measure::energy::matmul_energy_pj_per_token(
        blocks
            .iter()
            .flat_map(|b| b.linears())
            .map(PackedLinear::kernel),
    )
}

/// `Err(actual shape)` unless `layer` is `[rows, cols]`.
fn check_linear_shape(
    layer: &PackedLinear,
    rows: i64,
    cols: i64,
) -> std::result::Result<(), Vec<i64>> {
    let shape = layer.shape().to_vec();
    if shape == [rows, cols] {
        Ok(())
    } else {
        Err(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::TrialConfig;
    use crate::model::{export_artifact, load_artifact, ModelDims, QuantMode};

    fn trial(scheme: &str) -> TrialConfig {
        let mut trial = crate::model::smoke_trial(scheme);
        // Widths that are whole 128-weight blocks, so resident bytes show the bare 2 bits.
        trial.model.d_model = 128;
        trial.model.d_ff = 256;
        // Groups libtorch's int4 kernel takes.
        trial.quant.group_size = 32;
        trial
    }

    /// Exports a random model of `scheme` and returns (reference logits, packed model, packed
    /// logits) on random inputs with padding.
    fn reference_and_packed(scheme: &str, backend: Backend) -> (Tensor, PackedClassifier, Tensor) {
        tch::manual_seed(17);
        let trial = trial(scheme);
        let quantizer = registry::resolve(&trial.quant).unwrap();
        let dims = ModelDims {
            vocab_size: 60,
            num_labels: 3,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Classifier::new(&vs.root(), &trial.model, dims, quantizer.clone(), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bitlab");
        let config = ArtifactConfig {
            trial,
            dims,
            pad_id: 0,
            bert: None,
            merged_lora: false,
        };
        export_artifact(&vs, &quantizer, &config, &path).unwrap();
        let reference = load_artifact(&path, Device::Cpu).unwrap();
        let packed = PackedClassifier::load(&path, 2, backend).unwrap();
        let ids = Tensor::randint_low(1, 60, [64, 11], (Kind::Int64, Device::Cpu));
        let mask = Tensor::ones([64, 11], (Kind::Int64, Device::Cpu));
        let _ = mask.narrow(1, 7, 4).narrow(0, 0, 32).fill_(0);
        let expected = tch::no_grad(|| {
            reference
                .model
                .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
        });
        let got = packed.forward(&ids, &mask).unwrap();
        (expected, packed, got)
    }

    /// Tolerance: the packed kernel computes each integer dot product exactly where libtorch
    /// sums f32 products, so layer outputs differ by f32 rounding (~1e-6 relative); sometimes an
    /// activation lands within rounding of a .5 boundary and takes the neighbouring int8 code,
    /// moving that layer's output by one activation step. Over 300 random draws this moved
    /// logits by at most 2.6e-3 of the logit scale; the bound is 1e-2, while a wrong code,
    /// scale or layout moves logits by the order of the logits themselves. Predictions must
    /// agree on every row whose top two reference logits are further apart than the bound.
    /// (The seed does not pin the inputs: tests run in parallel and share libtorch's generator.)
    #[test]
    fn packed_ternary_logits_match_the_dequantized_reference_on_every_backend() {
        for backend in Backend::available() {
            let (expected, packed, got) = reference_and_packed("ternary", backend);
            assert!(packed.kernel_name().starts_with("bitlab-ternary-2bit-"));
            assert_agrees(&expected, &got, 1e-2, &format!("{backend:?}"));
        }
    }

    /// `got` is within `relative` of the logit scale of `expected`, and predictions agree on
    /// every row whose top two reference logits are further apart than twice that bound.
    fn assert_agrees(expected: &Tensor, got: &Tensor, relative: f64, what: &str) {
        let scale = expected.abs().max().double_value(&[]).max(1e-3);
        let bound = relative * scale;
        let diff = (got - expected).abs().max().double_value(&[]);
        assert!(
            diff <= bound,
            "{what}: logits differ by {diff} (scale {scale})"
        );
        let top2 = expected.topk(2, -1, true, true).0;
        let margin = top2.select(1, 0) - top2.select(1, 1);
        let decided = margin.gt(2.0 * bound);
        let same = got.argmax(-1, false).eq_tensor(&expected.argmax(-1, false));
        let wrong = decided.logical_and(&same.logical_not());
        assert_eq!(
            wrong.sum(Kind::Int64).int64_value(&[]),
            0,
            "{what}: a clearly decided prediction changed"
        );
    }

    #[test]
    fn ternary_weights_stay_packed_at_about_two_bits() {
        let (_, packed, _) = reference_and_packed("ternary", Backend::Portable);
        let weights: usize = packed
            .blocks
            .iter()
            .flat_map(|b| b.linears())
            .map(|l| {
                assert!(l
                    .kernel_name(Backend::Portable)
                    .starts_with("bitlab-ternary"));
                let [rows, cols] = l.shape();
                (rows * cols) as usize
            })
            .sum();
        let bits = 8.0 * packed.resident_quantized_bytes() as f64 / weights as f64;
        // 2 bits per weight plus one f32 scale per layer (no row padding at these widths).
        assert!(
            bits > 2.0 && bits < 2.01,
            "{bits} bits per resident ternary weight"
        );
    }

    /// int8 and int4 run libtorch's packed kernels and fp16/bf16 their own dtype, all with
    /// 16-bit activations: every layer rounds its input (and the 8/4-bit kernels their scales
    /// and output) to bf16 or fp16, a relative error of 2^-9 (bf16) per rounding. Over 30 random
    /// draws logits moved by at most 1.3e-2 of their scale (int8; int4 6.7e-3, bf16 4.3e-3);
    /// the bound is 5e-2, while a wrong layout or scale misses by the logits' own size.
    /// Resident bytes are the kernels' own forms, never fp32.
    #[test]
    fn int8_int4_and_half_schemes_run_their_own_kernels() {
        for (scheme, kernel, bytes_per_weight) in [
            ("int8", "libtorch-int8pack-bf16", 1.0),
            // 4 bits plus a bf16 scale and a bf16 zero per group of 32.
            ("int4", "libtorch-int4pack-g32", 0.5 + 4.0 / 32.0),
            ("bf16", "libtorch-bf16", 2.0),
            ("fp16", "libtorch-fp16", 2.0),
            ("fp32", "libtorch-fp32", 4.0),
        ] {
            let (expected, packed, got) = reference_and_packed(scheme, Backend::detect());
            assert!(
                packed.kernel_name().starts_with(kernel),
                "{scheme}: {}",
                packed.kernel_name()
            );
            assert_agrees(&expected, &got, 5e-2, scheme);
            let weights: i64 = packed
                .blocks
                .iter()
                .flat_map(|b| b.linears())
                .map(|l| l.shape()[0] * l.shape()[1])
                .sum();
            let per_weight = packed.resident_quantized_bytes() as f64 / weights as f64;
            assert!(
                // int8 adds one bf16 scale per row of at least 128 weights.
                per_weight >= bytes_per_weight && per_weight <= bytes_per_weight + 2.0 / 128.0,
                "{scheme}: {per_weight} resident bytes per weight"
            );
        }
    }

    #[test]
    fn schemes_without_a_kernel_run_dequantized_and_say_so() {
        let (expected, packed, got) = reference_and_packed("nf4", Backend::detect());
        assert!(
            packed
                .kernel_name()
                .starts_with("libtorch-fp32 on dequantized nf4"),
            "{}",
            packed.kernel_name()
        );
        assert!(got.allclose(&expected, 1e-5, 1e-6, false));
    }
}
