//! Tokenized splits shared by every trial with the same data settings, so a sweep loads,
//! normalizes, trains a tokenizer for and encodes each dataset once.
use crate::data::{Dataset, EncodedSplit, TextEncoder};
use crate::experiment::{DatasetConfig, TokenizerKind};
use crate::Result;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

/// A dataset encoded for one [`DatasetConfig`].
pub struct PreparedData {
    /// The tokenizer.
    pub encoder: TextEncoder,
    /// Number of classes.
    pub num_labels: usize,
    /// Encoded training split.
    pub train: EncodedSplit,
    /// Encoded validation split.
    pub validation: EncodedSplit,
    /// Encoded test split.
    pub test: EncodedSplit,
}

/// Seed of the training subset: fixed, so every trial of a sweep sees the same examples.
pub(crate) const SUBSET_SEED: u64 = 0;

impl PreparedData {
    /// Loads, subsets, tokenizes and encodes the dataset `cfg` names, with the tokenizer of
    /// the pretrained checkpoint `pretrained` when `cfg.tokenizer.kind` is `pretrained`.
    pub fn prepare(
        datasets_dir: &Path,
        cfg: &DatasetConfig,
        pretrained: Option<&str>,
    ) -> Result<Self> {
        let mut dataset = Dataset::load(datasets_dir, &cfg.name)?;
        if let Some(n) = cfg.subset {
            dataset.subset_train(n, SUBSET_SEED);
        }
        if let Some(n) = cfg.eval_subset {
            dataset.subset_evaluation(n, SUBSET_SEED);
        }
        let encoder = match (cfg.tokenizer.kind, pretrained) {
            (TokenizerKind::Pretrained, Some(model)) => {
                TextEncoder::pretrained(datasets_dir, model, &dataset.name, cfg.lowercase)?
            }
            _ => TextEncoder::for_dataset(datasets_dir, &dataset, cfg)?,
        };
        Ok(Self {
            train: encoder.encode(&dataset.train, cfg.max_len)?,
            validation: encoder.encode(&dataset.validation, cfg.max_len)?,
            test: encoder.encode(&dataset.test, cfg.max_len)?,
            num_labels: dataset.num_labels(),
            encoder,
        })
    }
}

/// Prepared data keyed by the data configuration.
#[derive(Default)]
pub struct DataCache {
    entries: HashMap<String, Rc<PreparedData>>,
}

impl DataCache {
    /// Returns the prepared data for `cfg` (and pretrained checkpoint), preparing it on first use.
    pub fn get(
        &mut self,
        datasets_dir: &Path,
        cfg: &DatasetConfig,
        pretrained: Option<&str>,
    ) -> Result<Rc<PreparedData>> {
        let key = serde_json::to_string(&(cfg, pretrained)).expect("dataset config serializes");
        if let Some(entry) = self.entries.get(&key) {
            return Ok(entry.clone());
        }
        let prepared = Rc::new(PreparedData::prepare(datasets_dir, cfg, pretrained)?);
        self.entries.insert(key, prepared.clone());
        Ok(prepared)
    }
}
