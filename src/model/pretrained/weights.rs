//! Copies a checkpoint's safetensors weights into a model's variable store. bitlab names its
//! BERT variables exactly as Hugging Face's `BertModel` does (`encoder.layer.0.attention.self.
//! query.weight`, ...), so the import is a name-by-name copy with shape checks.
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::nn;

/// Fills every variable of `vs` whose name passes `from_checkpoint` with the tensor of the same
/// name in the safetensors file `path`. A missing tensor or a shape mismatch is an error;
/// checkpoint tensors the model does not use (BERT's pooler, `position_ids`) are ignored.
/// Returns the number of tensors copied.
pub fn load_weights(
    vs: &nn::VarStore,
    path: &Path,
    name: &str,
    from_checkpoint: impl Fn(&str) -> bool,
) -> Result<usize> {
    let corrupt = |message: String| Error::Pretrained {
        name: name.to_string(),
        message,
        fix: "run `bitlab datasets fetch` to extract the checkpoint again".into(),
    };
    let stored: HashMap<String, tch::Tensor> = tch::Tensor::read_safetensors(path)
        .map_err(|e| corrupt(format!("cannot read {}: {e}", path.display())))?
        .into_iter()
        .collect();
    let mut copied = 0;
    tch::no_grad(|| -> Result<()> {
        let mut variables: Vec<_> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (var_name, mut var) in variables {
            if !from_checkpoint(&var_name) {
                continue;
            }
            let source = stored
                .get(&var_name)
                .ok_or_else(|| corrupt(format!("{} has no tensor {var_name}", path.display())))?;
            if source.size() != var.size() {
                return Err(corrupt(format!(
                    "{var_name} has shape {:?} in {}, the model needs {:?}",
                    source.size(),
                    path.display(),
                    var.size()
                )));
            }
            var.f_copy_(&source.to_kind(var.kind()))
                .map_err(|e| Error::torch(format!("copying {var_name}"), e))?;
            copied += 1;
        }
        Ok(())
    })?;
    Ok(copied)
}
