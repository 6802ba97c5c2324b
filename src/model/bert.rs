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
//!
//! Generic over the encoder's [`Linear`] operation, so the packed model
//! ([`super::load_inference`]) is this code with [`super::PackedLinear`] layers.
use super::linear::{Linear, Pass};
use super::pretrained::BertConfig;
use super::quant_linear::{infallible, quant_linear_maker};
use super::{QuantEmbedding, QuantLinear, SequenceClassifier};
use crate::attention::{AttentionInput, AttentionKind};
use crate::quant::Quantizer;
use crate::{Error, Result};
use std::sync::Arc;
use tch::{nn, Kind, Tensor};

/// One BERT layer: post-norm self-attention and GELU feed-forward.
#[derive(Debug)]
struct BertLayer<L> {
    query: L,
    key: L,
    value: L,
    attention_output: L,
    attention_norm: nn::LayerNorm,
    intermediate: L,
    output: L,
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

impl<L: Linear> BertLayer<L> {
    fn build<E>(
        vs: &nn::Path,
        cfg: &BertConfig,
        linear: &mut impl FnMut(&nn::Path, usize, usize, bool) -> std::result::Result<L, E>,
    ) -> std::result::Result<Self, E> {
        let (d, ff) = (cfg.hidden_size, cfg.intermediate_size);
        let attention = vs / "attention";
        let this = |name: &str| &attention / "self" / name;
        let out = &attention / "output";
        Ok(Self {
            query: linear(&this("query"), d, d, true)?,
            key: linear(&this("key"), d, d, true)?,
            value: linear(&this("value"), d, d, true)?,
            attention_output: linear(&(&out / "dense"), d, d, true)?,
            attention_norm: layer_norm(&out / "LayerNorm", d, cfg.layer_norm_eps),
            intermediate: linear(&(vs / "intermediate" / "dense"), d, ff, true)?,
            output: linear(&(vs / "output" / "dense"), ff, d, true)?,
            output_norm: layer_norm(vs / "output" / "LayerNorm", d, cfg.layer_norm_eps),
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        heads: i64,
        attention: AttentionKind,
        dropout: f64,
        pass: &Pass,
    ) -> Result<Tensor> {
        let (b, l, d) = x
            .size3()
            .map_err(|e| Error::torch("a BERT layer input must be [batch, len, hidden]", e))?;
        let split = |t: Tensor| t.view([b, l, heads, d / heads]).transpose(1, 2);
        let q = split(self.query.forward(x, pass)?);
        let k = split(self.key.forward(x, pass)?);
        let v = split(self.value.forward(x, pass)?);
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: mask,
        };
        let context = attention.attend(&input).transpose(1, 2).reshape([b, l, d]);
        let attended = self
            .attention_output
            .forward(&context, pass)?
            .dropout(dropout, pass.train);
        let x = (attended + x).apply(&self.attention_norm);
        let hidden = self.intermediate.forward(&x, pass)?.gelu("none");
        let out = self
            .output
            .forward(&hidden, pass)?
            .dropout(dropout, pass.train);
        Ok((out + x).apply(&self.output_norm))
    }

    fn linears(&self) -> [&L; 6] {
        [
            &self.query,
            &self.key,
            &self.value,
            &self.attention_output,
            &self.intermediate,
            &self.output,
        ]
    }

    fn linears_mut(&mut self) -> [&mut L; 6] {
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
pub struct BertClassifier<L = QuantLinear> {
    word_embeddings: QuantEmbedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    embedding_norm: nn::LayerNorm,
    layers: Vec<BertLayer<L>>,
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
        let shape = BertShape {
            num_labels,
            dropout,
            attention,
        };
        infallible(Self::build(
            vs,
            cfg,
            shape,
            embedding_quantizer,
            &mut quant_linear_maker(&quantizer),
        ))
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

/// What a BERT classifier takes from the trial rather than from the checkpoint's config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertShape {
    /// Classes of the head.
    pub num_labels: usize,
    /// Hidden dropout (training only).
    pub dropout: f64,
    /// Attention kernel.
    pub attention: AttentionKind,
}

impl<L: Linear> BertClassifier<L> {
    /// Builds the model under `vs` with the shape of `cfg`, its encoder linear layers made by
    /// `linear(path, in_dim, out_dim, bias)` (Hugging Face's names, e.g.
    /// `encoder.layer.0.attention.self.query`); embeddings, LayerNorms and head are variables
    /// of `vs`, created in the same order for every `L`.
    pub fn build<E>(
        vs: &nn::Path,
        cfg: &BertConfig,
        shape: BertShape,
        embedding_quantizer: Option<Arc<dyn Quantizer>>,
        linear: &mut impl FnMut(&nn::Path, usize, usize, bool) -> std::result::Result<L, E>,
    ) -> std::result::Result<Self, E> {
        let d = cfg.hidden_size;
        let emb = vs / "embeddings";
        let table = |name: &str, rows: usize| {
            nn::embedding(&emb / name, rows as i64, d as i64, Default::default())
        };
        let encoder = vs / "encoder" / "layer";
        let word_embeddings = QuantEmbedding::new(
            &(&emb / "word_embeddings"),
            cfg.vocab_size,
            d,
            embedding_quantizer,
        );
        let position_embeddings = table("position_embeddings", cfg.max_position_embeddings);
        let token_type_embeddings = table("token_type_embeddings", cfg.type_vocab_size);
        let embedding_norm = layer_norm(&emb / "LayerNorm", d, cfg.layer_norm_eps);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| BertLayer::build(&(&encoder / i), cfg, &mut *linear))
            .collect::<std::result::Result<Vec<_>, E>>()?;
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embedding_norm,
            layers,
            head: nn::linear(
                vs / "head",
                d as i64,
                shape.num_labels as i64,
                Default::default(),
            ),
            heads: cfg.num_attention_heads as i64,
            dropout: shape.dropout,
            attention: shape.attention,
        })
    }

    /// Last hidden states `[batch, len, hidden]` (what Hugging Face's `BertModel` returns as
    /// `last_hidden_state`) for token ids and padding mask `[batch, len]`; token types are 0.
    pub fn hidden_states(&self, ids: &Tensor, mask: &Tensor, pass: &Pass) -> Result<Tensor> {
        let len = ids.size()[1];
        let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
        let types = Tensor::zeros_like(ids);
        let mut x = (self.word_embeddings.forward(ids, pass.mode)
            + positions.apply(&self.position_embeddings).unsqueeze(0)
            + types.apply(&self.token_type_embeddings))
        .apply(&self.embedding_norm)
        .dropout(self.dropout, pass.train);
        for layer in &self.layers {
            x = layer.forward(&x, mask, self.heads, self.attention, self.dropout, pass)?;
        }
        Ok(x)
    }
}

impl<L: Linear> SequenceClassifier<L> for BertClassifier<L> {
    fn logits(&self, ids: &Tensor, mask: &Tensor, pass: &Pass) -> Result<Tensor> {
        let x = self.hidden_states(ids, mask, pass)?;
        let m = mask.to_kind(x.kind()).unsqueeze(-1);
        let pooled = (&x * &m).sum_dim_intlist(1, false, x.kind())
            / m.sum_dim_intlist(1, false, x.kind()).clamp_min(1e-9);
        Ok(pooled.dropout(self.dropout, pass.train).apply(&self.head))
    }

    fn linears(&self) -> Vec<&L> {
        self.layers.iter().flat_map(|l| l.linears()).collect()
    }

    fn linears_mut(&mut self) -> Vec<&mut L> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.linears_mut())
            .collect()
    }

    fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
    }
}
