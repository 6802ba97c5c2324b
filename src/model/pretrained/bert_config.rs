//! A BERT checkpoint's `config.json` (Devlin et al., 2019; Hugging Face `BertConfig`): the shape
//! bitlab rebuilds the encoder with. Keys bitlab does not use are ignored; settings it cannot
//! reproduce exactly (another activation, relative positions) are refused.
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The parts of a BERT `config.json` that define the computation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Must be `bert`.
    pub model_type: String,
    /// Hidden size.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads (divide `hidden_size`).
    pub num_attention_heads: usize,
    /// Feed-forward inner size.
    pub intermediate_size: usize,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    pub type_vocab_size: usize,
    /// Rows of the word table.
    pub vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Feed-forward activation; bitlab implements `gelu` (the exact, erf-based one).
    pub hidden_act: String,
    /// Must be `absolute`.
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads and checks `path`; `name` is the model name for error messages.
    pub fn load(path: &Path, name: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| Error::Pretrained {
            name: name.to_string(),
            message: format!("{} is not a BERT config.json: {e}", path.display()),
            fix: "run `bitlab datasets fetch` to extract the checkpoint again".into(),
        })?;
        config.check(name)?;
        Ok(config)
    }

    fn check(&self, name: &str) -> Result<()> {
        let refuse = |message: String| Error::Pretrained {
            name: name.to_string(),
            message,
            fix: "bitlab imports BERT encoders with absolute positions and exact GELU only".into(),
        };
        if self.model_type != "bert" {
            return Err(refuse(format!("model_type is {:?}", self.model_type)));
        }
        if self.hidden_act != "gelu" {
            return Err(refuse(format!("hidden_act is {:?}", self.hidden_act)));
        }
        if self.position_embedding_type != "absolute" {
            return Err(refuse(format!(
                "position_embedding_type is {:?}",
                self.position_embedding_type
            )));
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(refuse(format!(
                "{} heads do not divide hidden size {}",
                self.num_attention_heads, self.hidden_size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let good = r#"{"model_type":"bert","hidden_size":8,"num_hidden_layers":1,
            "num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":32,
            "type_vocab_size":2,"vocab_size":50,"layer_norm_eps":1e-12,"hidden_act":"gelu",
            "extra_key":true}"#;
        std::fs::write(&path, good).unwrap();
        assert_eq!(BertConfig::load(&path, "m").unwrap().hidden_size, 8);
        std::fs::write(&path, good.replace("\"gelu\"", "\"relu\"")).unwrap();
        let err = BertConfig::load(&path, "m").unwrap_err().to_string();
        assert!(err.contains("hidden_act is \"relu\""), "{err}");
        std::fs::write(&path, "{").unwrap();
        let err = BertConfig::load(&path, "m").unwrap_err().to_string();
        assert!(err.contains("not a BERT config.json"), "{err}");
    }
}
