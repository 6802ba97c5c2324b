//! A BERT encoder classifier (Devlin et al., 2019) with Hugging Face `BertModel`'s variable names,
//! so pretrained checkpoints load by name (see [`super::pretrained`]). Every encoder linear layer
//! is a [`QuantLinear`], so a pretrained model is fine-tuned to low bits exactly as the BitNet
//! encoder is trained: weights and input activations fake-quantized with the straight-through
//! estimator (BitNet b1.58, Ma et al., 2024), warmed in with lambda from 0 to 1 (Hugging Face's
//! 1.58-bit fine-tuning study), optionally with LoRA adapters (Hu et al., 2021).
//!
//! Unlike BitNet's BitLinear, no RMSNorm is inserted before the quantized layers: at lambda = 0
//! the network is exactly the pretrained one, which is what warming quantization in relies on.
//! Embeddings, LayerNorms and the head stay in high precision (the word table may be stored
//! low-bit with `quant.embeddings`). The head reads the masked mean of the last hidden states,
//! the pooling sentence-transformers trained all-MiniLM-L6-v2 with. Attention-probability
//! dropout is not applied (the kernels have none); hidden dropout is `model.dropout`.
use super::pretrained::BertConfig;
use super::{QuantEmbedding, QuantLinear, QuantMode, SequenceClassifier};
use crate::attention::{AttentionInput, AttentionKind};
use crate::quant::Quantizer;
use std::sync::Arc;
use tch::{nn, Kind, Tensor};

/// One BERT layer: post-norm self-attention and GELU feed-forward.
#[derive(Debug)]
struct BertLayer {
    query: QuantLinear,
    key: QuantLinear,
    value: QuantLinear,
    attention_output: QuantLinear,
    attention_norm: nn::LayerNorm,
    intermediate: QuantLinear,
    output: QuantLinear,
    output_norm: nn::LayerNorm,
}

fn layer_norm(vs: nn::Path, dim: usize, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        vs,
        vec![dim as i64],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}

impl BertLayer {
    fn new(vs: &nn::Path, cfg: &BertConfig, quantizer: &Arc<dyn Quantizer>) -> Self {
        let (d, ff) = (cfg.hidden_size, cfg.intermediate_size);
        let linear = |path: nn::Path, i, o| QuantLinear::new(&path, i, o, true, quantizer.clone());
        let attention = vs / "attention";
        let this = |name: &str| &attention / "self" / name;
        let out = &attention / "output";
        Self {
            query: linear(this("query"), d, d),
            key: linear(this("key"), d, d),
            value: linear(this("value"), d, d),
            attention_output: linear(&out / "dense", d, d),
            attention_norm: layer_norm(&out / "LayerNorm", d, cfg.layer_norm_eps),
            intermediate: linear(vs / "intermediate" / "dense", d, ff),
            output: linear(vs / "output" / "dense", ff, d),
            output_norm: layer_norm(vs / "output" / "LayerNorm", d, cfg.layer_norm_eps),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        heads: i64,
        attention: AttentionKind,
        mode: QuantMode,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let (b, l, d) = x
            .size3()
            .expect("BERT layer input must be [batch, len, hidden]");
        let split = |t: Tensor| t.view([b, l, heads, d / heads]).transpose(1, 2);
        let q = split(self.query.forward(x, mode, train));
        let k = split(self.key.forward(x, mode, train));
        let v = split(self.value.forward(x, mode, train));
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: mask,
        };
        let context = attention.attend(&input).transpose(1, 2).reshape([b, l, d]);
        let attended = self
            .attention_output
            .forward(&context, mode, train)
            .dropout(dropout, train);
        let x = (attended + x).apply(&self.attention_norm);
        let hidden = self.intermediate.forward(&x, mode, train).gelu("none");
        let out = self
            .output
            .forward(&hidden, mode, train)
            .dropout(dropout, train);
        (out + x).apply(&self.output_norm)
    }

    fn linears(&self) -> [&QuantLinear; 6] {
        [
            &self.query,
            &self.key,
            &self.value,
            &self.attention_output,
            &self.intermediate,
            &self.output,
        ]
    }

    fn linears_mut(&mut self) -> [&mut QuantLinear; 6] {
        [
            &mut self.query,
            &mut self.key,
            &mut self.value,
            &mut self.attention_output,
            &mut self.intermediate,
            &mut self.output,
        ]
    }
}

/// BERT encoder, masked mean pooling and a linear classification head (variable `head`).
#[derive(Debug)]
pub struct BertClassifier {
    word_embeddings: QuantEmbedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    embedding_norm: nn::LayerNorm,
    layers: Vec<BertLayer>,
    head: nn::Linear,
    heads: i64,
    dropout: f64,
    attention: AttentionKind,
}

impl BertClassifier {
    /// Builds the model under `vs` with the shape of `cfg`, quantizing every encoder linear
    /// layer with `quantizer` and the word table with `embedding_quantizer` when given.
    pub fn new(
        vs: &nn::Path,
        cfg: &BertConfig,
        num_labels: usize,
        dropout: f64,
        attention: AttentionKind,
        quantizer: Arc<dyn Quantizer>,
        embedding_quantizer: Option<Arc<dyn Quantizer>>,
    ) -> Self {
        let d = cfg.hidden_size;
        let emb = vs / "embeddings";
        let table = |name: &str, rows: usize| {
            nn::embedding(&emb / name, rows as i64, d as i64, Default::default())
        };
        let encoder = vs / "encoder" / "layer";
        Self {
            word_embeddings: QuantEmbedding::new(
                &(&emb / "word_embeddings"),
                cfg.vocab_size,
                d,
                embedding_quantizer,
            ),
            position_embeddings: table("position_embeddings", cfg.max_position_embeddings),
            token_type_embeddings: table("token_type_embeddings", cfg.type_vocab_size),
            embedding_norm: layer_norm(&emb / "LayerNorm", d, cfg.layer_norm_eps),
            layers: (0..cfg.num_hidden_layers)
                .map(|i| BertLayer::new(&(&encoder / i), cfg, &quantizer))
                .collect(),
            head: nn::linear(vs / "head", d as i64, num_labels as i64, Default::default()),
            heads: cfg.num_attention_heads as i64,
            dropout,
            attention,
        }
    }

    /// Last hidden states `[batch, len, hidden]` (what Hugging Face's `BertModel` returns as
    /// `last_hidden_state`) for token ids and padding mask `[batch, len]`; token types are 0.
    pub fn hidden_states(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        mode: QuantMode,
        train: bool,
    ) -> Tensor {
        let len = ids.size()[1];
        let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
        let types = Tensor::zeros_like(ids);
        let mut x = (self.word_embeddings.forward(ids, mode)
            + positions.apply(&self.position_embeddings).unsqueeze(0)
            + types.apply(&self.token_type_embeddings))
        .apply(&self.embedding_norm)
        .dropout(self.dropout, train);
        for layer in &self.layers {
            x = layer.forward(
                &x,
                mask,
                self.heads,
                self.attention,
                mode,
                self.dropout,
                train,
            );
        }
        x
    }

    /// True when the variable `name` comes from a pretrained checkpoint (everything except the
    /// classification head and LoRA adapters).
    pub fn is_pretrained_variable(name: &str) -> bool {
        !name.starts_with("head.") && !super::is_adapter_variable(name)
    }

    /// True when the variable `name` is a quantized encoder weight.
    pub fn is_quantized_weight(name: &str) -> bool {
        name.starts_with("encoder.layer.")
            && name.ends_with(".weight")
            && !name.contains("LayerNorm")
    }

    /// True when the variable `name` is the word embedding table.
    pub fn is_word_embedding(name: &str) -> bool {
        name == "embeddings.word_embeddings.weight"
    }
}

impl SequenceClassifier for BertClassifier {
    fn forward(&self, ids: &Tensor, mask: &Tensor, mode: QuantMode, train: bool) -> Tensor {
        let x = self.hidden_states(ids, mask, mode, train);
        let m = mask.to_kind(x.kind()).unsqueeze(-1);
        let pooled = (&x * &m).sum_dim_intlist(1, false, x.kind())
            / m.sum_dim_intlist(1, false, x.kind()).clamp_min(1e-9);
        pooled.dropout(self.dropout, train).apply(&self.head)
    }

    fn quant_linears(&self) -> Vec<&QuantLinear> {
        self.layers.iter().flat_map(|l| l.linears()).collect()
    }

    fn quant_linears_mut(&mut self) -> Vec<&mut QuantLinear> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.linears_mut())
            .collect()
    }

    fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
    }
}
