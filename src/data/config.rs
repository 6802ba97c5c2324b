//! A trial's data settings (`[dataset]` in an experiment file): which dataset, how long its
//! sequences may be, which subset is used, and how text becomes token ids. The experiment loader
//! fills them in; [`super::Dataset`] and the text encoder read them.
use serde::{Deserialize, Serialize};

/// Dataset and text pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Dataset name: a folder `datasets/<name>/` with a `manifest.toml`.
    pub name: String,
    /// Sequences are truncated (and batches padded) to at most this many tokens.
    pub max_len: usize,
    /// Use only this many training examples (stratified prefix after shuffling); all if absent.
    #[serde(default)]
    pub subset: Option<usize>,
    /// Evaluate on only this many validation and this many test examples (stratified); all if
    /// absent. For quick checks: accuracies from few examples are noisy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_subset: Option<usize>,
    /// Lowercase text during normalization (after NFKC and HTML stripping).
    #[serde(default = "yes")]
    pub lowercase: bool,
    /// Tokenizer: trained on the training split, or loaded from a file.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
}

/// How text becomes token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// `wordpiece` or `bpe` (trained on the training split and cached), or `file`.
    #[serde(default = "default_tokenizer_kind")]
    pub kind: TokenizerKind,
    /// Vocabulary size for trained tokenizers.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Path to a `tokenizer.json` when `kind = "file"`.
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            kind: default_tokenizer_kind(),
            vocab_size: default_vocab_size(),
            path: None,
        }
    }
}

/// Tokenizer families bitlab can train or load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// WordPiece trained on the training split.
    Wordpiece,
    /// Byte-pair encoding trained on the training split.
    Bpe,
    /// A given `tokenizer.json`.
    File,
    /// The `tokenizer.json` of the pretrained model named by `model.pretrained`.
    Pretrained,
}

fn yes() -> bool {
    true
}
fn default_tokenizer_kind() -> TokenizerKind {
    TokenizerKind::Wordpiece
}
fn default_vocab_size() -> usize {
    8000
}
