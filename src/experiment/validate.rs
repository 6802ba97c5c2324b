//! Checks on a resolved [`TrialConfig`] that serde's types alone cannot express.
//!
//! Every problem names the dotted key it concerns, what is wrong and how to fix it. Quantizer
//! names are deliberately not checked here: the quantizer registry (see [`crate::quant`])
//! resolves them, aliases included, right after validation (see [`super::ResolvedTrial`]).
use super::config::{QuantWarmup, TokenizerKind, TrialConfig};

/// One thing wrong with a trial's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted path of the offending key, e.g. `model.heads`.
    pub key: String,
    /// What is wrong, with the values involved.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// Every problem with `config`; empty when it is valid.
pub fn problems(config: &TrialConfig) -> Vec<Problem> {
    let mut found = Problems::default();
    check_dataset(config, &mut found);
    check_model(config, &mut found);
    check_quant_warmup(config, &mut found);
    check_lora(config, &mut found);
    check_train(config, &mut found);
    check_measure(config, &mut found);
    found.0
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: &str, message: String, fix: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_string(),
            message,
            fix: fix.into(),
        });
    }

    fn require_positive(&mut self, key: &str, value: usize) {
        if value == 0 {
            self.add(
                key,
                format!("{key} is 0"),
                format!("set {key} to 1 or more"),
            );
        }
    }

    fn require_probability(&mut self, key: &str, value: f64) {
        if !(0.0..1.0).contains(&value) {
            self.add(
                key,
                format!("{key} = {value} is not a probability in [0, 1)"),
                format!("set {key} to a value from 0 (off) up to, but not including, 1"),
            );
        }
    }
}

/// A dataset name is a folder name: letters, digits, `_`, `-` and `.`, not starting with `.`.
fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check_dataset(config: &TrialConfig, found: &mut Problems) {
    let dataset = &config.dataset;
    if !is_simple_name(&dataset.name) {
        found.add(
            "dataset.name",
            format!(
                "dataset.name = {:?} is not a simple folder name",
                dataset.name
            ),
            "use the name of a folder under datasets/ (letters, digits, `_`, `-`, `.`), \
             e.g. \"rotten_tomatoes\"",
        );
    }
    found.require_positive("dataset.max_len", dataset.max_len);
    if dataset.max_len > config.model.max_positions {
        found.add(
            "dataset.max_len",
            format!(
                "dataset.max_len = {} exceeds model.max_positions = {}",
                dataset.max_len, config.model.max_positions
            ),
            "lower dataset.max_len or raise model.max_positions",
        );
    }
    if dataset.eval_subset == Some(0) {
        found.add(
            "dataset.eval_subset",
            "dataset.eval_subset is 0, which leaves nothing to evaluate on".into(),
            "remove dataset.eval_subset to evaluate on all examples, or set it to 1 or more",
        );
    }
    if dataset.subset == Some(0) {
        found.add(
            "dataset.subset",
            "dataset.subset is 0, which leaves no training data".into(),
            "remove dataset.subset to use all examples, or set it to 1 or more",
        );
    }
    let tokenizer = &dataset.tokenizer;
    found.require_positive("dataset.tokenizer.vocab_size", tokenizer.vocab_size);
    if tokenizer.kind == TokenizerKind::File && tokenizer.path.is_none() {
        found.add(
            "dataset.tokenizer.path",
            "dataset.tokenizer.kind = \"file\" but dataset.tokenizer.path is not set".into(),
            "set dataset.tokenizer.path to a tokenizer.json, or use kind = \"wordpiece\"",
        );
    }
}

fn check_model(config: &TrialConfig, found: &mut Problems) {
    let model = &config.model;
    found.require_positive("model.max_positions", model.max_positions);
    if let Some(name) = &model.pretrained {
        check_pretrained(config, name, found);
    } else {
        check_shape(config, found);
    }
    found.require_probability("model.dropout", model.dropout);
    if config.quant.group_size == 0 {
        found.add(
            "quant.group_size",
            "quant.group_size is 0".into(),
            "set quant.group_size to a positive divisor of the layer widths, e.g. 32",
        );
    }
}

/// A model trained from scratch needs its whole shape.
fn check_shape(config: &TrialConfig, found: &mut Problems) {
    let model = &config.model;
    found.require_positive("model.layers", model.layers);
    found.require_positive("model.d_model", model.d_model);
    found.require_positive("model.heads", model.heads);
    found.require_positive("model.d_ff", model.d_ff);
    if model.heads > 0 && model.d_model % model.heads != 0 {
        let divisors: Vec<String> = (1..=model.d_model.min(64))
            .filter(|h| model.d_model % h == 0)
            .map(|h| h.to_string())
            .collect();
        found.add(
            "model.heads",
            format!(
                "model.heads = {} does not divide model.d_model = {}",
                model.heads, model.d_model
            ),
            format!(
                "choose model.heads among the divisors of d_model: {}",
                divisors.join(", ")
            ),
        );
    }
    if config.dataset.tokenizer.kind == TokenizerKind::Pretrained {
        found.add(
            "dataset.tokenizer.kind",
            "dataset.tokenizer.kind = \"pretrained\" but model.pretrained is not set".into(),
            "set model.pretrained (e.g. \"all-minilm-l6-v2\"), or train a tokenizer \
             (kind = \"wordpiece\")",
        );
    }
}

/// A pretrained model takes its shape and tokenizer from its checkpoint.
fn check_pretrained(config: &TrialConfig, name: &str, found: &mut Problems) {
    let model = &config.model;
    if crate::assets::pretrained::find(name).is_none() {
        found.add(
            "model.pretrained",
            format!("model.pretrained = {name:?} is not a known pretrained model"),
            format!(
                "use one of: {}",
                crate::assets::pretrained::names().join(", ")
            ),
        );
    }
    for (key, value) in [
        ("model.layers", model.layers),
        ("model.d_model", model.d_model),
        ("model.heads", model.heads),
        ("model.d_ff", model.d_ff),
    ] {
        if value != 0 {
            found.add(
                key,
                format!("{key} = {value} is set, but model.pretrained takes the shape from the checkpoint's config.json"),
                format!("remove {key} (or remove model.pretrained to train from scratch)"),
            );
        }
    }
    if config.dataset.tokenizer.kind != TokenizerKind::Pretrained {
        found.add(
            "dataset.tokenizer.kind",
            format!(
                "model.pretrained = {name:?} needs its own tokenizer, but dataset.tokenizer.kind is not \"pretrained\""
            ),
            "set dataset.tokenizer.kind = \"pretrained\"",
        );
    }
}

fn check_quant_warmup(config: &TrialConfig, found: &mut Problems) {
    let quant = &config.quant;
    match quant.warmup {
        QuantWarmup::Linear if quant.warmup_steps == 0 => found.add(
            "quant.warmup_steps",
            "quant.warmup = \"linear\" but quant.warmup_steps is 0".into(),
            "set quant.warmup_steps to the number of optimizer steps, e.g. 1000 (the study's best)",
        ),
        QuantWarmup::None if quant.warmup_steps > 0 => found.add(
            "quant.warmup",
            format!(
                "quant.warmup_steps = {} is set but quant.warmup is \"none\"",
                quant.warmup_steps
            ),
            "set quant.warmup = \"linear\", or remove quant.warmup_steps",
        ),
        _ => {}
    }
}

fn check_lora(config: &TrialConfig, found: &mut Problems) {
    let lora = &config.lora;
    // `rank` is unsigned, so rank >= 0 holds by type; rank 0 disables adapters.
    if lora.rank > 0 && !(lora.alpha.is_finite() && lora.alpha > 0.0) {
        found.add(
            "lora.alpha",
            format!(
                "lora.alpha = {} must be a positive finite number",
                lora.alpha
            ),
            "set lora.alpha to e.g. 16 (adapters are scaled by alpha / rank)",
        );
    }
    found.require_probability("lora.dropout", lora.dropout);
    if lora.rank > 0 && (lora.targets.is_empty() || lora.targets.iter().any(|t| t.is_empty())) {
        found.add(
            "lora.targets",
            format!("lora.targets = {:?} selects nothing", lora.targets),
            "list layer-name patterns, e.g. [\"query\", \"value\"], or [\"all-linear\"]",
        );
    }
}

fn check_train(config: &TrialConfig, found: &mut Problems) {
    let train = &config.train;
    found.require_positive("train.batch_size", train.batch_size);
    if !(train.lr.is_finite() && train.lr > 0.0) {
        found.add(
            "train.lr",
            format!("train.lr = {} must be a positive finite number", train.lr),
            "set train.lr to e.g. 1e-3",
        );
    }
    if train.epochs == 0 && train.max_steps.is_none() {
        found.add(
            "train.epochs",
            "train.epochs is 0 and train.max_steps is not set, so training never runs".into(),
            "set train.epochs to 1 or more, or set train.max_steps",
        );
    }
    if train.max_steps == Some(0) {
        found.add(
            "train.max_steps",
            "train.max_steps is 0, so training never runs".into(),
            "remove train.max_steps or set it to 1 or more",
        );
    }
    if !(train.weight_decay.is_finite() && train.weight_decay >= 0.0) {
        found.add(
            "train.weight_decay",
            format!(
                "train.weight_decay = {} must be a finite number >= 0",
                train.weight_decay
            ),
            "set train.weight_decay to e.g. 0.01, or 0 for none",
        );
    }
    if let Some(clip) = train.grad_clip {
        if !(clip.is_finite() && clip > 0.0) {
            found.add(
                "train.grad_clip",
                format!("train.grad_clip = {clip} must be a positive finite number"),
                "set train.grad_clip to e.g. 1.0, or remove it to disable clipping",
            );
        }
    }
}

fn check_measure(config: &TrialConfig, found: &mut Problems) {
    let measure = &config.measure;
    let max_positions = config.model.max_positions;
    if measure.seq_lens.is_empty() {
        found.add(
            "measure.seq_lens",
            "measure.seq_lens is empty".into(),
            "list at least one sequence length, e.g. seq_lens = [32, 64, 128]",
        );
    }
    for &len in &measure.seq_lens {
        if len == 0 || len > max_positions {
            found.add(
                "measure.seq_lens",
                format!(
                    "measure.seq_lens contains {len}, outside 1..={max_positions} \
                     (model.max_positions)"
                ),
                "remove that length, or raise model.max_positions to cover it",
            );
        }
    }
    if measure.batch_sizes.is_empty() || measure.batch_sizes.contains(&0) {
        found.add(
            "measure.batch_sizes",
            format!(
                "measure.batch_sizes = {:?} must be non-empty and positive",
                measure.batch_sizes
            ),
            "list positive batch sizes, e.g. batch_sizes = [1, 16]",
        );
    }
    found.require_positive("measure.repeats", measure.repeats);
    found.require_positive("measure.threads", measure.threads);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TrialConfig {
        toml::from_str(
            "[dataset]\nname = \"rotten_tomatoes\"\nmax_len = 32\n\
             [model]\nlayers = 1\nd_model = 32\nheads = 2\nd_ff = 64\nmax_positions = 128\n\
             [train]\nbatch_size = 4\nlr = 1e-3\n\
             [measure]\nseq_lens = [16, 64]\n",
        )
        .unwrap()
    }

    fn keys(config: &TrialConfig) -> Vec<String> {
        problems(config).into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn valid_config_has_no_problems() {
        assert_eq!(problems(&base()), vec![]);
    }

    #[test]
    fn heads_must_divide_d_model() {
        let mut config = base();
        config.model.heads = 3;
        let found = problems(&config);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "model.heads");
        assert!(found[0]
            .message
            .contains("does not divide model.d_model = 32"));
        assert!(
            found[0].fix.contains("1, 2, 4, 8, 16, 32"),
            "{}",
            found[0].fix
        );
    }

    #[test]
    fn lengths_must_fit_the_position_table() {
        let mut config = base();
        config.dataset.max_len = 256;
        config.measure.seq_lens = vec![16, 512];
        let found = problems(&config);
        assert_eq!(keys(&config), vec!["dataset.max_len", "measure.seq_lens"]);
        assert!(found[1].message.contains("512"));
        assert!(found[1].fix.contains("model.max_positions"));
    }

    #[test]
    fn training_settings_are_checked() {
        let mut config = base();
        config.train.batch_size = 0;
        config.train.lr = f64::NAN;
        config.train.epochs = 0;
        config.model.dropout = 1.0;
        assert_eq!(
            keys(&config),
            vec![
                "model.dropout",
                "train.batch_size",
                "train.lr",
                "train.epochs"
            ]
        );
        config.train.epochs = 0;
        config.train.max_steps = Some(10);
        assert!(!keys(&config).contains(&"train.epochs".to_string()));
        config.train.lr = -1.0;
        assert!(keys(&config).contains(&"train.lr".to_string()));
    }

    #[test]
    fn measurement_settings_are_checked() {
        let mut config = base();
        config.measure.repeats = 0;
        config.measure.threads = 0;
        assert_eq!(keys(&config), vec!["measure.repeats", "measure.threads"]);
        assert!(problems(&config)[0].fix.contains("1 or more"));
    }

    #[test]
    fn warmup_needs_steps_and_steps_need_warmup() {
        let mut config = base();
        config.quant.warmup = QuantWarmup::Linear;
        assert_eq!(keys(&config), vec!["quant.warmup_steps"]);
        config.quant.warmup_steps = 100;
        assert!(problems(&config).is_empty());
        config.quant.warmup = QuantWarmup::None;
        assert_eq!(keys(&config), vec!["quant.warmup"]);
    }

    #[test]
    fn a_pretrained_model_takes_its_shape_and_tokenizer_from_the_checkpoint() {
        let mut config = base();
        config.model.pretrained = Some("all-minilm-l6-v2".into());
        assert_eq!(
            keys(&config),
            vec![
                "model.layers",
                "model.d_model",
                "model.heads",
                "model.d_ff",
                "dataset.tokenizer.kind"
            ]
        );
        config.model.layers = 0;
        config.model.d_model = 0;
        config.model.heads = 0;
        config.model.d_ff = 0;
        config.dataset.tokenizer.kind = TokenizerKind::Pretrained;
        assert!(problems(&config).is_empty(), "{:?}", problems(&config));
        config.model.pretrained = Some("bert-huge".into());
        let found = problems(&config);
        assert_eq!(found[0].key, "model.pretrained");
        assert!(found[0].fix.contains("all-minilm-l6-v2"));
    }

    #[test]
    fn a_pretrained_tokenizer_needs_a_pretrained_model() {
        let mut config = base();
        config.dataset.tokenizer.kind = TokenizerKind::Pretrained;
        assert_eq!(keys(&config), vec!["dataset.tokenizer.kind"]);
    }

    #[test]
    fn dataset_name_must_be_a_simple_name() {
        for bad in ["", "../etc", "a/b", ".hidden", "two words"] {
            let mut config = base();
            config.dataset.name = bad.into();
            assert_eq!(keys(&config), vec!["dataset.name"], "{bad:?}");
        }
        let mut config = base();
        config.dataset.name = "imdb-v1.2_small".into();
        assert!(problems(&config).is_empty());
    }
}
