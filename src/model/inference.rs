//! Loading a packed artifact for inference: [`load_inference`] is the one place that decides
//! whether a model runs on packed kernels or on the dequantized libtorch reference, for every
//! caller (trial measurements, memory points, `bitlab infer`).
//!
//! On the CPU every family runs packed: the same [`super::Classifier`] or
//! [`super::BertClassifier`] code that trains, instantiated with [`PackedLinear`] layers
//! (BitNet b1.58, Ma et al., 2024: ternary weights stay at 2 bits and run bitlab's integer
//! kernels). Unmerged LoRA adapters run in f32 beside the packed base (PEFT semantics,
//! `base(x) + B(A(x)) * alpha / r`); a quantized embedding table is dequantized to f32 at load
//! (a lookup reads a few rows, so the table's storage, not its kernel, is what quantization
//! changes); both are named in [`InferenceModel::kernel_name`]. Bitlab's kernels are CPU-only,
//! so on CUDA the loader returns the dequantized reference on the device, named so.
use super::build::build_family;
use super::export::{load_reference, load_tensor, require_all_loaded};
use super::linear::Pass;
use super::packed_linear::{kernels_name, resident_bytes};
use super::{
    embedding_quantizer, variable_role, LoraAdapter, ModelDescription, PackedLinear,
    SequenceClassifier, VariableRole,
};
use crate::artifact::Artifact;
use crate::attention::AttentionKind;
use crate::kernels::{Backend, KernelContext, LinearKernel};
use crate::quant::{registry, PackedTensor, Quantizer};
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Tensor};

/// Where and how an inference model runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferenceOptions {
    /// The device: the CPU runs packed kernels, another device the dequantized reference.
    pub device: Device,
    /// Threads of bitlab's kernels (libtorch's intra-op threads are set by the caller).
    pub threads: usize,
    /// Instruction set of bitlab's kernels.
    pub backend: Backend,
}

impl InferenceOptions {
    /// `threads` CPU threads with the fastest backend this CPU supports.
    pub fn cpu(threads: usize) -> Self {
        Self::on(Device::Cpu, threads)
    }

    /// `device`, with `threads` kernel threads and the fastest backend where it is the CPU.
    pub fn on(device: Device, threads: usize) -> Self {
        Self {
            device,
            threads,
            backend: Backend::detect(),
        }
    }
}

/// The engine a loaded model runs on.
enum Engine {
    /// Packed kernels on the CPU.
    Packed {
        model: Box<dyn SequenceClassifier<PackedLinear>>,
        backend: Backend,
        pool: rayon::ThreadPool,
    },
    /// The dequantized libtorch reference on a device bitlab's kernels do not run on.
    Reference {
        model: Box<dyn SequenceClassifier>,
        device: Device,
    },
}

/// A model loaded from its artifact for inference (see the module docs).
pub struct InferenceModel {
    /// Owns the high-precision tensors (embeddings, norms, biases, adapters, head).
    _vs: nn::VarStore,
    engine: Engine,
    attention: AttentionKind,
    /// The model description the artifact's header stores.
    pub config: ModelDescription,
    /// The trial's quantizer.
    pub quantizer: Arc<dyn Quantizer>,
}

impl std::fmt::Debug for InferenceModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceModel")
            .field("kernel", &self.kernel_name())
            .finish()
    }
}

/// Loads the artifact at `path` (verified by [`Artifact::read`]) for inference as `opts` says:
/// packed on the CPU, the dequantized reference on other devices.
pub fn load_inference(path: &Path, opts: &InferenceOptions) -> Result<InferenceModel> {
    let artifact = Artifact::read(path)?;
    let config = ModelDescription::of(&artifact, path)?;
    let quantizer = registry::resolve(&config.quant)?;
    let attention = config.model.attention;
    if opts.device != Device::Cpu {
        let loaded = load_reference(&artifact, path, opts.device)?;
        return Ok(InferenceModel {
            _vs: loaded.vs,
            engine: Engine::Reference {
                model: loaded.model,
                device: opts.device,
            },
            attention,
            config,
            quantizer,
        });
    }
    let (vs, model) = build_packed(&artifact, &config, &quantizer, path)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| {
            Error::Invalid(format!("cannot start {} kernel threads: {e}", opts.threads))
        })?;
    Ok(InferenceModel {
        _vs: vs,
        engine: Engine::Packed {
            model,
            backend: opts.backend,
            pool,
        },
        attention,
        config,
        quantizer,
    })
}

/// Name of the kernels the dequantized reference model of `quantizer` runs: every scheme's
/// matmul is libtorch fp32 on weights dequantized onto the scheme's grid, and the name says
/// so, so no report can mistake it for a low-bit speed.
pub fn reference_kernel_name(
    quantizer: &dyn Quantizer,
    attention: AttentionKind,
    device: Device,
) -> String {
    let matmul = if quantizer.is_full_precision() {
        "libtorch-fp32".to_string()
    } else {
        format!("libtorch-fp32 on dequantized {}", quantizer.name())
    };
    format!("{matmul} + {} attention", attention.kernel_name(device))
}

/// Builds the packed model of `artifact`: the family's own code with a [`PackedLinear`] per
/// quantized weight, and every other tensor unpacked into a CPU variable store.
fn build_packed(
    artifact: &Artifact,
    config: &ModelDescription,
    quantizer: &Arc<dyn Quantizer>,
    path: &Path,
) -> Result<(nn::VarStore, Box<dyn SequenceClassifier<PackedLinear>>)> {
    let bad = |message: String| Error::Artifact {
        path: path.to_path_buf(),
        message,
    };
    let role = |name: &str| variable_role(&config.model, name);
    let mut quantized: HashMap<&str, &PackedTensor> = artifact
        .tensors
        .iter()
        .filter(|t| role(&t.name) == VariableRole::Quantized)
        .map(|t| (t.name.as_str(), &t.packed))
        .collect();
    let adapted: HashSet<&str> = artifact
        .tensors
        .iter()
        .filter_map(|t| t.name.strip_suffix(&format!(".{}", super::lora::LORA_A)))
        .collect();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut linear = |p: &nn::Path, in_dim: usize, out_dim: usize, bias: bool| -> Result<_> {
        let name = p.components().collect::<Vec<_>>().join(".");
        let key = format!("{name}.weight");
        let packed = quantized
            .remove(key.as_str())
            .ok_or_else(|| bad(format!("tensor `{key}` is missing from the artifact")))?;
        let layer = PackedLinear::from_packed(packed, quantizer)?;
        let expected = [out_dim as i64, in_dim as i64];
        if layer.shape() != expected {
            return Err(bad(format!(
                "tensor `{key}` has shape {:?}, the model expects {expected:?}",
                layer.shape()
            )));
        }
        let bias = bias.then(|| p.zeros("bias", &[out_dim as i64]));
        let lora = adapted
            .contains(name.as_str())
            .then(|| LoraAdapter::new(p, in_dim, out_dim, &config.lora));
        Ok(layer.with_extras(bias, lora))
    };
    let model = build_family(&vs.root(), config, &mut linear)?;
    if let Some(extra) = quantized.keys().next() {
        return Err(bad(format!(
            "tensor `{extra}` does not belong to this model"
        )));
    }
    vs.freeze();
    let mut variables = vs.variables();
    for tensor in &artifact.tensors {
        if role(&tensor.name) != VariableRole::Quantized {
            load_tensor(&mut variables, tensor, path, Device::Cpu)?;
        }
    }
    require_all_loaded(&variables, path)?;
    Ok((vs, model))
}

impl InferenceModel {
    /// Logits `[batch, num_labels]` for token ids `[batch, len]` with padding mask
    /// `[batch, len]` on the model's device (the CPU when packed), without gradients. Errors
    /// when a kernel call fails (a libtorch exception, an input of the wrong width).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        tch::no_grad(|| match &self.engine {
            Engine::Packed {
                model,
                backend,
                pool,
            } => {
                let kernels = KernelContext {
                    backend: *backend,
                    pool,
                };
                model.logits(ids, mask, &Pass::packed(kernels))
            }
            Engine::Reference { model, .. } => model.logits(ids, mask, &Pass::reference()),
        })
    }

    /// True when the quantized layers run packed kernels (on the CPU).
    pub fn is_packed(&self) -> bool {
        matches!(self.engine, Engine::Packed { .. })
    }

    /// The device the model runs on (inputs go there).
    pub fn device(&self) -> Device {
        match &self.engine {
            Engine::Packed { .. } => Device::Cpu,
            Engine::Reference { device, .. } => *device,
        }
    }

    /// Switches the attention kernel (all kernels compute the same function).
    pub fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
        match &mut self.engine {
            Engine::Packed { model, .. } => model.set_attention(attention),
            Engine::Reference { model, .. } => model.set_attention(attention),
        }
    }

    /// The packed linear layers, in order (empty for the reference).
    pub fn packed_linears(&self) -> Vec<&PackedLinear> {
        match &self.engine {
            Engine::Packed { model, .. } => model.linears(),
            Engine::Reference { .. } => Vec::new(),
        }
    }

    /// Name of the kernels that run, recorded with every measurement: the matmul kernels of
    /// the quantized layers (each with its layer count where they differ), unmerged LoRA
    /// adapters, the attention kernel and a quantized embedding table expanded at load, e.g.
    /// `bitlab-ternary-2bit-avx2 + flash-cpu attention`. The reference says it multiplies
    /// dequantized weights in fp32 ([`reference_kernel_name`]).
    pub fn kernel_name(&self) -> String {
        let Engine::Packed { backend, .. } = &self.engine else {
            return reference_kernel_name(self.quantizer.as_ref(), self.attention, self.device());
        };
        let linears = self.packed_linears();
        let mut name = kernels_name(linears.iter().copied(), *backend);
        let adapted = linears.iter().filter(|l| l.has_adapter()).count();
        if adapted > 0 {
            name.push_str(&format!(" + libtorch-fp32 LoRA ({adapted} layers)"));
        }
        format!(
            "{name} + {} attention{}",
            self.attention.kernel_name(Device::Cpu),
            self.embedding_note()
        )
    }

    /// `" (SCHEME embeddings expanded to f32 at load)"` when the artifact stores the embedding
    /// table quantized, else empty.
    fn embedding_note(&self) -> String {
        match embedding_quantizer(&self.config.quant) {
            Ok(Some(scheme)) => format!(" ({} embeddings expanded to f32 at load)", scheme.name()),
            _ => String::new(),
        }
    }

    /// Bytes of quantized-layer weights kept resident by the packed kernels (packed codes and
    /// scales, 16-bit copies, or fp32 values for schemes that run dequantized); `None` for the
    /// reference.
    pub fn resident_quantized_bytes(&self) -> Option<usize> {
        self.is_packed()
            .then(|| resident_bytes(self.packed_linears()))
    }

    /// The kernels of the quantized linear layers, in order (empty for the reference): what
    /// the energy estimate charges (`kernels::energy`).
    pub fn kernels(&self) -> Vec<&dyn LinearKernel> {
        self.packed_linears()
            .into_iter()
            .map(PackedLinear::kernel)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pretrained::BertConfig;
    use crate::model::LoraConfig;
    use crate::model::{
        build_model, export_artifact, load_artifact, Classifier, LoadedModel, ModelDims, QuantMode,
        WeightSource,
    };
    use tch::Kind;

    fn trial(scheme: &str) -> ModelDescription {
        let mut trial = crate::model::smoke_trial(scheme);
        // Widths that are whole 128-weight blocks, so resident bytes show the bare 2 bits.
        trial.model.d_model = 128;
        trial.model.d_ff = 256;
        // Groups libtorch's int4 kernel takes.
        trial.quant.group_size = 32;
        trial
    }

    fn header(trial: ModelDescription, bert: Option<BertConfig>) -> ModelDescription {
        ModelDescription {
            dims: ModelDims {
                vocab_size: 60,
                num_labels: 3,
            },
            bert,
            ..trial
        }
    }

    /// A 2-layer BERT of width 64 (4 heads, feed-forward 128), the shape of MiniLM in small.
    fn tiny_bert() -> BertConfig {
        BertConfig {
            model_type: "bert".into(),
            hidden_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 128,
            max_position_embeddings: 32,
            type_vocab_size: 2,
            vocab_size: 60,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
            position_embedding_type: "absolute".into(),
        }
    }

    /// Exports the model in `vs` (built from `header`), loads it back as the dequantized
    /// reference and as the packed model on `backend`, and returns both with their logits on
    /// random inputs with padding.
    fn reference_and_packed(
        vs: &nn::VarStore,
        header: &ModelDescription,
        backend: Backend,
    ) -> (LoadedModel, Tensor, InferenceModel, Tensor) {
        let quantizer = registry::resolve(&header.quant).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bitlab");
        export_artifact(vs, &quantizer, header, &path).unwrap();
        let reference = load_artifact(&path, Device::Cpu).unwrap();
        let opts = InferenceOptions {
            device: Device::Cpu,
            threads: 2,
            backend,
        };
        let packed = load_inference(&path, &opts).unwrap();
        assert!(packed.is_packed());
        let ids = Tensor::randint_low(1, 60, [64, 11], (Kind::Int64, Device::Cpu));
        let mask = Tensor::ones([64, 11], (Kind::Int64, Device::Cpu));
        let _ = mask.narrow(1, 7, 4).narrow(0, 0, 32).fill_(0);
        let expected = tch::no_grad(|| {
            reference
                .model
                .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
        })
        .unwrap();
        let got = packed.forward(&ids, &mask).unwrap();
        (reference, expected, packed, got)
    }

    /// A random BitNet encoder of `scheme`, exported and loaded both ways.
    fn encoder(scheme: &str, backend: Backend) -> (Tensor, InferenceModel, Tensor) {
        tch::manual_seed(17);
        let header = header(trial(scheme), None);
        let quantizer = registry::resolve(&header.quant).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Classifier::new(&vs.root(), &header.model, header.dims, quantizer, None);
        let (_, expected, packed, got) = reference_and_packed(&vs, &header, backend);
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
            let (expected, packed, got) = encoder("ternary", backend);
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
        let (_, packed, _) = encoder("ternary", Backend::Portable);
        let weights: usize = packed
            .packed_linears()
            .iter()
            .map(|l| {
                assert!(l
                    .kernel_name(Backend::Portable)
                    .starts_with("bitlab-ternary"));
                let [rows, cols] = l.shape();
                (rows * cols) as usize
            })
            .sum();
        let bytes = packed.resident_quantized_bytes().unwrap();
        let bits = 8.0 * bytes as f64 / weights as f64;
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
            let (expected, packed, got) = encoder(scheme, Backend::detect());
            assert!(
                packed.kernel_name().starts_with(kernel),
                "{scheme}: {}",
                packed.kernel_name()
            );
            assert_agrees(&expected, &got, 5e-2, scheme);
            let weights: i64 = packed
                .packed_linears()
                .iter()
                .map(|l| l.shape()[0] * l.shape()[1])
                .sum();
            let resident = packed.resident_quantized_bytes().unwrap();
            let per_weight = resident as f64 / weights as f64;
            assert!(
                // int8 adds one bf16 scale per row of at least 128 weights.
                per_weight >= bytes_per_weight && per_weight <= bytes_per_weight + 2.0 / 128.0,
                "{scheme}: {per_weight} resident bytes per weight"
            );
        }
    }

    #[test]
    fn schemes_without_a_kernel_run_dequantized_and_say_so() {
        let (expected, packed, got) = encoder("nf4", Backend::detect());
        assert!(
            packed
                .kernel_name()
                .starts_with("libtorch-fp32 on dequantized nf4"),
            "{}",
            packed.kernel_name()
        );
        assert!(got.allclose(&expected, 1e-5, 1e-6, false));
    }

    /// Builds the model of `header` as an artifact would (adapters attached when the trial has
    /// them), with every adapter's `B` drawn at random so adapters change the output.
    fn built(header: &ModelDescription) -> nn::VarStore {
        let quantizer = registry::resolve(&header.quant).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _model = build_model(&mut vs, header, &quantizer, WeightSource::Artifact).unwrap();
        tch::no_grad(|| {
            for (name, tensor) in vs.variables() {
                if name.ends_with(super::super::lora::LORA_B) {
                    let _ = tensor.shallow_clone().normal_(0.0, 0.3);
                }
            }
        });
        vs
    }

    fn lora(rank: usize, targets: &[&str]) -> LoraConfig {
        LoraConfig {
            rank,
            alpha: 8.0,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Pretrained-BERT-family models (biases, post-LayerNorm, no RMSNorm before the quantized
    /// layers) run the same BERT code on packed ternary kernels, with and without unmerged
    /// LoRA adapters on the query and value projections. As for the encoder, int8 activation
    /// codes taking the neighbouring value at a .5 boundary are the only source of difference,
    /// but BERT's linear inputs are not RMS-normalized, so a token's absmax scale (and with it
    /// one code step) is larger: over 60 random draws logits moved by at most 1.3e-2 of their
    /// scale. The bound is 5e-2, while a wrong code, scale, bias or adapter moves logits by the
    /// order of the logits themselves.
    #[test]
    fn pretrained_bert_runs_packed_with_and_without_adapters() {
        tch::manual_seed(5);
        for (rank, adapted) in [(0, 0), (2, 4)] {
            let mut trial = trial("ternary");
            trial.model.pretrained = Some("all-minilm-l6-v2".into());
            trial.lora = lora(rank, &["query", "value"]);
            let header = header(trial, Some(tiny_bert()));
            let vs = built(&header);
            for backend in Backend::available() {
                let (_, expected, packed, got) = reference_and_packed(&vs, &header, backend);
                let name = packed.kernel_name();
                assert!(name.starts_with("bitlab-ternary-2bit-"), "{name}");
                assert_eq!(
                    packed.packed_linears().len(),
                    12,
                    "6 linear layers per BERT layer"
                );
                let lora_note = format!("libtorch-fp32 LoRA ({adapted} layers)");
                assert_eq!(name.contains(&lora_note), adapted > 0, "{name}");
                assert_agrees(
                    &expected,
                    &got,
                    5e-2,
                    &format!("BERT rank {rank} {backend:?}"),
                );
            }
        }
    }

    /// A BitNet encoder with LoRA adapters kept beside its ternary base (quantized bases are
    /// never merged) runs `base(x) + B(A(x)) * alpha / r` with the packed base, within the
    /// encoder's bound (over 60 random draws, with adapters or with an int4 table, logits moved
    /// by at most 2.6e-3 of their scale).
    #[test]
    fn unmerged_lora_adapters_run_beside_the_packed_base() {
        tch::manual_seed(9);
        let mut trial = trial("ternary");
        trial.lora = lora(4, &["all-linear"]);
        let header = header(trial, None);
        let vs = built(&header);
        let (reference, expected, packed, got) =
            reference_and_packed(&vs, &header, Backend::detect());
        assert!(!reference.config.merged_lora);
        let layers = packed.packed_linears().len();
        assert!(packed.packed_linears().iter().all(|l| l.has_adapter()));
        assert!(
            packed
                .kernel_name()
                .contains(&format!("libtorch-fp32 LoRA ({layers} layers)")),
            "{}",
            packed.kernel_name()
        );
        assert_agrees(&expected, &got, 1e-2, "LoRA");
    }

    /// A token table stored at int4 is expanded to f32 at load (the reference does the same),
    /// and the kernel name says so; the linear layers still run the ternary kernel.
    #[test]
    fn quantized_embeddings_are_expanded_at_load_and_named() {
        tch::manual_seed(11);
        let mut trial = trial("ternary");
        trial.quant.embeddings = Some("int4".into());
        let header = header(trial, None);
        let vs = built(&header);
        let (_, expected, packed, got) = reference_and_packed(&vs, &header, Backend::detect());
        let name = packed.kernel_name();
        assert!(name.starts_with("bitlab-ternary-2bit-"), "{name}");
        assert!(
            name.ends_with("(int4 embeddings expanded to f32 at load)"),
            "{name}"
        );
        assert_agrees(&expected, &got, 1e-2, "int4 embeddings");
    }
}
