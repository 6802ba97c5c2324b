//! The attention setting of a trial's `[model]` table: which kernel computes attention.
use serde::{Deserialize, Serialize};

/// Attention kernels selectable in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// Explicit softmax(QK^T)V, materializing the L x L score matrix.
    Naive,
    /// libtorch's math scaled-dot-product attention.
    Math,
    /// libtorch's CPU flash attention (memory-efficient, has a backward).
    #[default]
    Flash,
    /// bitlab's own blocked attention with an online softmax, from tch operations
    /// (memory linear in length at inference; see `src/attention/chunked.rs`).
    Chunked,
}
