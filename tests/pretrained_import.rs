//! The pretrained import is exact: bitlab's BERT, loaded from all-MiniLM-L6-v2's safetensors,
//! reproduces the hidden states Hugging Face transformers computes for the same padded batch
//! (tests/fixtures/minilm/reference.json, made by make_fixture.py there), within 1e-4 on every
//! real token and with every attention kernel; and bitlab's text pipeline with the model's own
//! tokenizer produces the same token ids.
//!
//! Needs the checkpoint fetched (`just test` runs `just setup`, which runs `bitlab datasets fetch`).
use bitlab::attention::AttentionKind;
use bitlab::data::{Example, TextEncoder};
use bitlab::experiment::QuantConfig;
use bitlab::model::pretrained::{self, BertConfig};
use bitlab::model::{BertClassifier, Pass};
use bitlab::quant::registry;
use serde::Deserialize;
use std::path::PathBuf;
use tch::{nn, Device, Kind, Tensor};

const MODEL: &str = "all-minilm-l6-v2";

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<String>,
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    embeddings: Vec<Vec<Vec<f64>>>,
    last_hidden_state: Vec<Vec<Vec<f64>>>,
    mean_pooled: Vec<Vec<f64>>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> Reference {
    let path = repo().join("tests/fixtures/minilm/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(rows: &[Vec<i64>]) -> Tensor {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, rows[0].len() as i64])
}

fn floats3(rows: &[Vec<Vec<f64>>]) -> Tensor {
    let flat: Vec<f64> = rows.iter().flatten().flatten().copied().collect();
    Tensor::from_slice(&flat)
        .view([rows.len() as i64, rows[0].len() as i64, -1])
        .to_kind(Kind::Float)
}

/// Largest absolute difference over real (unpadded) tokens.
fn max_diff_on_tokens(got: &Tensor, want: &Tensor, mask: &Tensor) -> f64 {
    let keep = mask.unsqueeze(-1).to_kind(Kind::Float);
    ((got - want).abs() * keep).max().double_value(&[])
}

fn model(attention: AttentionKind) -> (nn::VarStore, BertClassifier) {
    let datasets = repo().join("datasets");
    let entry = pretrained::require(MODEL).unwrap();
    let files = pretrained::locate(&datasets, entry).unwrap_or_else(|e| {
        panic!("{e}\n(the checkpoint is fetched by `bitlab datasets fetch`, run by `just setup`)")
    });
    let config = BertConfig::load(&files.config, MODEL).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let fp32 = registry::resolve(&QuantConfig::default()).unwrap();
    let model = BertClassifier::new(&vs.root(), &config, 2, 0.0, attention, fp32, None);
    let copied = pretrained::load_weights(
        &vs,
        &files.weights,
        MODEL,
        BertClassifier::is_pretrained_variable,
    )
    .unwrap();
    assert_eq!(
        copied,
        5 + 16 * 6,
        "embeddings (5) and 16 tensors per layer"
    );
    (vs, model)
}

#[test]
fn hidden_states_match_transformers_within_1e4_with_every_kernel() {
    let reference = reference();
    let input = ids(&reference.input_ids);
    let mask = ids(&reference.attention_mask);
    let want = floats3(&reference.last_hidden_state);
    for attention in [
        AttentionKind::Flash,
        AttentionKind::Math,
        AttentionKind::Naive,
        AttentionKind::Chunked,
    ] {
        let (_vs, model) = model(attention);
        let got = tch::no_grad(|| model.hidden_states(&input, &mask, &Pass::reference())).unwrap();
        assert_eq!(got.size(), want.size());
        let diff = max_diff_on_tokens(&got, &want, &mask);
        assert!(
            diff < 1e-4,
            "{attention:?}: last hidden state differs by {diff}"
        );
    }
}

#[test]
fn embeddings_and_mean_pooling_match_transformers() {
    let reference = reference();
    let input = ids(&reference.input_ids);
    let mask = ids(&reference.attention_mask);
    let (vs, model) = model(AttentionKind::Flash);
    let hidden = tch::no_grad(|| model.hidden_states(&input, &mask, &Pass::reference())).unwrap();
    let m = mask.unsqueeze(-1).to_kind(Kind::Float);
    let pooled = (&hidden * &m).sum_dim_intlist(1, false, Kind::Float)
        / m.sum_dim_intlist(1, false, Kind::Float);
    let flat: Vec<f64> = reference.mean_pooled.iter().flatten().copied().collect();
    let want = Tensor::from_slice(&flat)
        .view([input.size()[0], -1])
        .to_kind(Kind::Float);
    let diff = (&pooled - &want).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "mean pooled differs by {diff}");

    // The embedding layer alone (word + position + type, LayerNorm), from the stored tables.
    let tables = vs.variables();
    let len = input.size()[1];
    let emb = tch::no_grad(|| {
        let x = tables["embeddings.word_embeddings.weight"]
            .index_select(0, &input.view([-1]))
            .view([input.size()[0], len, -1])
            + tables["embeddings.position_embeddings.weight"]
                .narrow(0, 0, len)
                .unsqueeze(0)
            + tables["embeddings.token_type_embeddings.weight"].get(0);
        x.layer_norm(
            [384],
            Some(&tables["embeddings.LayerNorm.weight"]),
            Some(&tables["embeddings.LayerNorm.bias"]),
            1e-12,
            false,
        )
    });
    let diff = max_diff_on_tokens(&emb, &floats3(&reference.embeddings), &mask);
    assert!(diff < 1e-4, "embedding output differs by {diff}");
}

#[test]
fn bitlab_tokenizes_like_transformers() {
    let reference = reference();
    let encoder =
        TextEncoder::pretrained(&repo().join("datasets"), MODEL, "fixture", true).unwrap();
    let examples: Vec<Example> = reference
        .sentences
        .iter()
        .map(|text| Example {
            text: text.clone(),
            label: 0,
        })
        .collect();
    let encoded = encoder.encode(&examples, 64).unwrap();
    let batch = encoded.batches(examples.len(), None).remove(0);
    let got = batch.ids.narrow(1, 0, reference.input_ids[0].len() as i64);
    assert_eq!(
        Vec::<Vec<i64>>::try_from(&got).unwrap(),
        reference.input_ids
    );
    assert_eq!(encoder.pad_id(), 0);
}

#[test]
fn a_wrong_model_name_is_refused_with_the_known_names() {
    let err = pretrained::require("bert-huge").unwrap_err().to_string();
    assert!(err.contains("all-minilm-l6-v2"), "{err}");
}
