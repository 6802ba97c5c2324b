//! Pretrained BERT-family checkpoints (Devlin et al., 2019) that bitlab can fine-tune to low bits
//! (the realistic use of BitNet b1.58-style quantization with LoRA: start from a trained model).
//!
//! Which checkpoints exist and where their verified files are is [`crate::assets::pretrained`]'s
//! business (re-exported here); this module reads them: the config and the weights.
mod bert_config;
mod weights;

pub use crate::assets::pretrained::{
    fetch, find, locate, names, require, PretrainedFiles, PretrainedModel, CATALOG, CONFIG_FILE,
    TOKENIZER_FILE, WEIGHTS_FILE,
};
pub use bert_config::BertConfig;
pub use weights::load_weights;
