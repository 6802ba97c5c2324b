//! The classifier run from its packed artifact, with the quantized weights resident in packed
//! form: ternary layers run bitlab's 2-bit integer kernels ([`crate::kernels::Ternary2Bit`]),
//! whose weights are never expanded to floating point. Schemes without a packed kernel yet run
//! libtorch fp32 on their dequantized weights, and [`PackedClassifier::kernel_name`] says so.
//!
//! The forward pass mirrors [`super::Classifier`] and [`super::Block`] exactly (BitNet b1.58,
//! Ma et al., 2024: an RMSNorm before every quantized linear layer, 8-bit per-token activations
//! for the schemes that quantize them), so the dequantized model loaded by
//! [`super::load_artifact`] is its reference: logits agree to float rounding and predictions
//! agree (see the test at the bottom).
use super::export::{load_tensor, require_all_loaded};
use super::{ArtifactConfig, Classifier, RmsNorm};
use crate::artifact::Artifact;
use crate::attention::{AttentionInput, AttentionKind};
use crate::experiment::{ModelConfig, Pooling};
use crate::kernels::{Backend, Ternary2Bit};
use crate::quant::{registry, PackedTensor, Quantizer};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

/// One quantized linear layer `y = q_a(x) W^T` in the form it runs in.
#[derive(Debug)]
pub enum PackedLinear {
    /// Ternary weights at 2 bits; activations quantized to int8 per token inside the kernel.
    Ternary2Bit(Ternary2Bit),
    /// Weights dequantized onto the scheme's grid, multiplied by libtorch in fp32 after the
    /// scheme's activation fake quantization (the path of schemes without a packed kernel).
    DequantizedFp32 {
        /// `[out, in]` f32 weights on the grid.
        weight: Tensor,
        /// The scheme (for its activation quantization).
        quantizer: Arc<dyn Quantizer>,
    },
}

impl PackedLinear {
    /// Builds the layer for one packed artifact tensor of a model quantized with `quantizer`.
    pub fn from_packed(packed: &PackedTensor, quantizer: &Arc<dyn Quantizer>) -> Result<Self> {
        if packed.scheme == "ternary" {
            return Ternary2Bit::from_packed(packed).map(PackedLinear::Ternary2Bit);
        }
        let weight = registry::resolve_packed(&packed.scheme)?.unpack(packed)?;
        Ok(PackedLinear::DequantizedFp32 {
            weight,
            quantizer: quantizer.clone(),
        })
    }

    /// Applies the layer to `x` (`[..., in]`, f32 on the CPU); packed kernels run with
    /// `backend` on the rayon `pool`.
    pub fn forward(&self, x: &Tensor, backend: Backend, pool: &rayon::ThreadPool) -> Tensor {
        match self {
            PackedLinear::Ternary2Bit(m) => {
                let mut shape = x.size();
                let cols = *shape.last().expect("linear input has a feature dimension");
                assert_eq!(cols as usize, m.cols(), "linear input width");
                let values = Vec::<f32>::try_from(&x.to_kind(Kind::Float).flatten(0, -1))
                    .expect("linear input is a float CPU tensor");
                let n = values.len() / m.cols();
                let y = pool.install(|| m.forward(&values, n, backend));
                *shape.last_mut().expect("non-empty shape") = m.rows() as i64;
                Tensor::from_slice(&y).view(shape.as_slice())
            }
            PackedLinear::DequantizedFp32 { weight, quantizer } => {
                if quantizer.is_full_precision() {
                    x.matmul(&weight.tr())
                } else {
                    quantizer.quantize_activation(x).matmul(&weight.tr())
                }
            }
        }
    }

    /// Bytes of weights this layer keeps resident.
    pub fn resident_bytes(&self) -> usize {
        match self {
            PackedLinear::Ternary2Bit(m) => m.resident_bytes(),
            PackedLinear::DequantizedFp32 { weight, .. } => weight.numel() * 4,
        }
    }

    /// Name of the matmul kernel this layer runs with `backend`.
    pub fn kernel_name(&self, backend: Backend) -> String {
        match self {
            PackedLinear::Ternary2Bit(_) => format!("bitlab-ternary-2bit-{}", backend.name()),
            PackedLinear::DequantizedFp32 { quantizer, .. } if quantizer.is_full_precision() => {
                "libtorch-fp32".into()
            }
            PackedLinear::DequantizedFp32 { quantizer, .. } => {
                format!("libtorch-fp32 on dequantized {}", quantizer.name())
            }
        }
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
        backend: Backend,
        pool: &rayon::ThreadPool,
    ) -> Tensor {
        let (b, l, d) = x
            .size3()
            .expect("block input must be [batch, len, d_model]");
        let head_dim = d / heads;
        let qkv = self.qkv.forward(&self.attn_norm.forward(x), backend, pool);
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
            .forward(&self.attn_out_norm.forward(&attended), backend, pool);
        let x = x + attn;
        let hidden = self
            .ffn_up
            .forward(&self.ffn_norm.forward(&x), backend, pool)
            .gelu("none");
        let ffn = self
            .ffn_down
            .forward(&self.ffn_down_norm.forward(&hidden), backend, pool);
        x + ffn
    }

    fn linears(&self) -> [&PackedLinear; 4] {
        [&self.qkv, &self.attn_out, &self.ffn_up, &self.ffn_down]
    }
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
    /// (CPU tensors), computed as [`Classifier::forward`] computes them at inference.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let len = ids.size()[1];
            let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
            let mut x = ids.apply(&self.token_embedding)
                + positions.apply(&self.position_embedding).unsqueeze(0);
            for block in &self.blocks {
                x = block.forward(
                    &x,
                    mask,
                    self.cfg.heads as i64,
                    self.attention,
                    self.backend,
                    &self.pool,
                );
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
            pooled.apply(&self.head)
        })
    }

    /// Switches the attention kernel (all kernels compute the same function).
    pub fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
    }

    /// Name of the matmul kernel of the quantized layers plus the attention kernel, e.g.
    /// `bitlab-ternary-2bit-avx2 + flash-cpu attention` (recorded with every measurement).
    pub fn kernel_name(&self) -> String {
        let matmul = self.blocks.first().map_or_else(
            || "no quantized layers".into(),
            |b| b.qkv.kernel_name(self.backend),
        );
        format!(
            "{matmul} + {} attention",
            self.attention.kernel_name(Device::Cpu)
        )
    }

    /// Bytes of quantized-layer weights kept resident (packed codes and scales, or fp32 values
    /// for schemes that run dequantized).
    pub fn resident_quantized_bytes(&self) -> usize {
        self.blocks
            .iter()
            .flat_map(|b| b.linears())
            .map(PackedLinear::resident_bytes)
            .sum()
    }
}

/// `Err(actual shape)` unless `layer` is `[rows, cols]`.
fn check_linear_shape(
    layer: &PackedLinear,
    rows: i64,
    cols: i64,
) -> std::result::Result<(), Vec<i64>> {
    let shape = match layer {
        PackedLinear::Ternary2Bit(m) => vec![m.rows() as i64, m.cols() as i64],
        PackedLinear::DequantizedFp32 { weight, .. } => weight.size(),
    };
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
        let got = packed.forward(&ids, &mask);
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
            let scale = expected.abs().max().double_value(&[]).max(1e-3);
            let bound = 1e-2 * scale;
            let diff = (&got - &expected).abs().max().double_value(&[]);
            assert!(
                diff <= bound,
                "{backend:?}: logits differ by {diff} (scale {scale})"
            );
            let top2 = expected.topk(2, -1, true, true).0;
            let margin = top2.select(1, 0) - top2.select(1, 1);
            let decided = margin.gt(2.0 * bound);
            let same = got.argmax(-1, false).eq_tensor(&expected.argmax(-1, false));
            let wrong = decided.logical_and(&same.logical_not());
            assert_eq!(
                wrong.sum(Kind::Int64).int64_value(&[]),
                0,
                "{backend:?}: a clearly decided prediction changed"
            );
        }
    }

    #[test]
    fn ternary_weights_stay_packed_at_about_two_bits() {
        let (_, packed, _) = reference_and_packed("ternary", Backend::Portable);
        let weights: usize = packed
            .blocks
            .iter()
            .flat_map(|b| b.linears())
            .map(|l| match l {
                PackedLinear::Ternary2Bit(m) => m.rows() * m.cols(),
                PackedLinear::DequantizedFp32 { .. } => panic!("ternary layer ran dequantized"),
            })
            .sum();
        let bits = 8.0 * packed.resident_quantized_bytes() as f64 / weights as f64;
        // 2 bits per weight plus one f32 scale per layer (no row padding at these widths).
        assert!(
            bits > 2.0 && bits < 2.01,
            "{bits} bits per resident ternary weight"
        );
    }

    #[test]
    fn other_schemes_run_dequantized_and_say_so() {
        let (expected, packed, got) = reference_and_packed("int8", Backend::detect());
        assert!(packed
            .kernel_name()
            .starts_with("libtorch-fp32 on dequantized int8"));
        assert!(got.allclose(&expected, 1e-5, 1e-6, false));
    }
}
