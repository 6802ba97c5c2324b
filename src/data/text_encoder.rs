//! Text to token ids: [`Normalizer`] followed by a Hugging Face `tokenizers` tokenizer.
//!
//! Trained tokenizers are WordPiece (Wu et al. 2016, as used by BERT, Devlin et al. 2019) or BPE
//! (Sennrich et al. 2016), learnt from the normalized training split with the special tokens
//! `[PAD]` (id 0), `[UNK]`, `[CLS]` and `[SEP]`; every sequence is wrapped as `[CLS] ... [SEP]`
//! so `pooling = "cls"` has a first token to read. They are cached as
//! `datasets/<name>/data/tokenizer-<kind>-<vocab>-<lower|cased>-<hash>.json`, where the hash covers
//! the normalized training texts, and reloaded when present.
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokenizers::decoders::bpe::BPEDecoder;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainerBuilder};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PostProcessor, Tokenizer, TruncationParams};

use super::batching::EncodedSplit;
use super::dataset::{Dataset, Example};
use super::normalize::Normalizer;
use super::{DatasetConfig, TokenizerKind};
use crate::{Error, Result};

/// Special tokens of trained tokenizers, in id order (`[PAD]` is id 0).
pub const SPECIAL_TOKENS: [&str; 4] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

/// Suffix BPE appends to word-final pieces, so decoding can restore spaces.
const BPE_WORD_END: &str = "</w>";

/// Bumped when the way tokenizers are trained changes, so old cache files are not reused.
const TRAINING_RECIPE_VERSION: &str = "bitlab-tokenizer-v1";

/// Turns examples into padded id tensors with one normalizer and one tokenizer.
#[derive(Debug, Clone)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    normalizer: Normalizer,
    dataset: String,
    vocab_size: usize,
    pad_id: i64,
    empty_text_id: i64,
}

impl TextEncoder {
    /// Trains (WordPiece or BPE per `cfg.tokenizer.kind`, `cfg.tokenizer.vocab_size`, on the
    /// normalized training texts) or loads `cfg.tokenizer.path` for `kind = "file"`. Trained
    /// tokenizers are cached under `datasets/<name>/data/` and reloaded on the next call.
    pub fn for_dataset(
        datasets_dir: &Path,
        dataset: &Dataset,
        cfg: &DatasetConfig,
    ) -> Result<TextEncoder> {
        let normalizer = Normalizer {
            lowercase: cfg.lowercase,
        };
        let kind = cfg.tokenizer.kind;
        if kind == TokenizerKind::Pretrained {
            return Err(Error::Dataset {
                name: dataset.name.clone(),
                message: "dataset.tokenizer.kind = \"pretrained\" needs model.pretrained".into(),
                fix: "set model.pretrained, or train a tokenizer (kind = \"wordpiece\")".into(),
            });
        }
        if kind == TokenizerKind::File {
            let path = cfg
                .tokenizer
                .path
                .as_deref()
                .ok_or_else(|| Error::Dataset {
                    name: dataset.name.clone(),
                    message:
                        "dataset.tokenizer.kind is \"file\" but dataset.tokenizer.path is not set"
                            .into(),
                    fix: "set dataset.tokenizer.path to a Hugging Face tokenizer.json".into(),
                })?;
            let tokenizer = Tokenizer::from_file(path).map_err(|e| Error::Dataset {
                name: dataset.name.clone(),
                message: format!("cannot load the tokenizer {path}: {e}"),
                fix: "point dataset.tokenizer.path at a readable Hugging Face tokenizer.json"
                    .into(),
            })?;
            return Ok(TextEncoder::from_tokenizer(
                tokenizer,
                normalizer,
                &dataset.name,
            ));
        }
        if cfg.tokenizer.vocab_size <= SPECIAL_TOKENS.len() {
            return Err(Error::Dataset {
                name: dataset.name.clone(),
                message: format!(
                    "dataset.tokenizer.vocab_size = {} leaves no room for words",
                    cfg.tokenizer.vocab_size
                ),
                fix: "use a vocab_size of a few thousand (the default is 8000)".into(),
            });
        }
        let texts: Vec<String> = dataset
            .train
            .par_iter()
            .map(|e| normalizer.apply(&e.text))
            .collect();
        let cache = cache_path(datasets_dir, dataset, cfg, &texts);
        if let Ok(tokenizer) = Tokenizer::from_file(&cache) {
            return Ok(TextEncoder::from_tokenizer(
                tokenizer,
                normalizer,
                &dataset.name,
            ));
        }
        let tokenizer = train_tokenizer(kind, cfg.tokenizer.vocab_size, &texts)
            .map_err(|e| tokenizer_error(&dataset.name, "training the tokenizer", e))?;
        save_atomically(&tokenizer, &cache, &dataset.name)?;
        Ok(TextEncoder::from_tokenizer(
            tokenizer,
            normalizer,
            &dataset.name,
        ))
    }

    /// Loads the `tokenizer.json` of the pretrained checkpoint `model` (checked against its
    /// pinned sha256), with bitlab's normalizer in front (BERT's own normalizer then lowercases
    /// and strips accents as the checkpoint expects).
    pub fn pretrained(
        datasets_dir: &Path,
        model: &str,
        dataset: &str,
        lowercase: bool,
    ) -> Result<TextEncoder> {
        let entry = crate::assets::pretrained::require(model)?;
        let files = crate::assets::pretrained::locate(datasets_dir, entry)?;
        let tokenizer = Tokenizer::from_file(&files.tokenizer).map_err(|e| Error::Pretrained {
            name: model.to_string(),
            message: format!("cannot load {}: {e}", files.tokenizer.display()),
            fix: "run `bitlab datasets fetch` to extract the checkpoint again".into(),
        })?;
        Ok(TextEncoder::from_tokenizer(
            tokenizer,
            Normalizer { lowercase },
            dataset,
        ))
    }

    /// Wraps an existing tokenizer (for example a pretrained model's `tokenizer.json`).
    /// `dataset` only names the data in error messages.
    pub fn from_tokenizer(
        tokenizer: Tokenizer,
        normalizer: Normalizer,
        dataset: &str,
    ) -> TextEncoder {
        let largest_id = tokenizer
            .get_vocab(true)
            .into_values()
            .max()
            .map_or(0, |id| id as usize + 1);
        let vocab_size = largest_id.max(tokenizer.get_vocab_size(true));
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| {
                ["[PAD]", "<pad>"]
                    .iter()
                    .find_map(|t| tokenizer.token_to_id(t))
            })
            .unwrap_or(0) as i64;
        let empty_text_id = ["[UNK]", "<unk>"]
            .iter()
            .find_map(|t| tokenizer.token_to_id(t))
            .map_or(pad_id, i64::from);
        TextEncoder {
            tokenizer,
            normalizer,
            dataset: dataset.to_string(),
            vocab_size,
            pad_id,
            empty_text_id,
        }
    }

    /// The wrapped tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The normalizer applied before tokenizing.
    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// Vocabulary size including special tokens (one more than the largest id): the model's
    /// embedding table needs this many rows.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// Normalizes and tokenizes `examples`, truncating each to `max_len` tokens (the tokenizer's
    /// own special tokens, such as `[CLS]` and `[SEP]`, are kept) and padding with
    /// [`pad_id`](Self::pad_id). A text that yields no tokens at all becomes a single `[UNK]` so
    /// every row has at least one attended position.
    pub fn encode(&self, examples: &[Example], max_len: usize) -> Result<EncodedSplit> {
        let added = self
            .tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_len <= added {
            return Err(Error::Dataset {
                name: self.dataset.clone(),
                message: format!("dataset.max_len = {max_len} leaves no room for text next to {added} special tokens"),
                fix: format!("set dataset.max_len above {added}"),
            });
        }
        let mut tokenizer = self.tokenizer.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| tokenizer_error(&self.dataset, "setting up truncation", e))?;
        tokenizer.with_padding(None);
        let texts: Vec<String> = examples
            .par_iter()
            .map(|e| keep_first_words(self.normalizer.apply(&e.text), max_len))
            .collect();
        let encodings = tokenizer
            .encode_batch_fast(texts, true)
            .map_err(|e| tokenizer_error(&self.dataset, "tokenizing", e))?;
        let rows: Vec<Vec<i64>> = encodings
            .iter()
            .map(|encoding| match encoding.get_ids() {
                [] => vec![self.empty_text_id],
                ids => ids.iter().map(|&id| i64::from(id)).collect(),
            })
            .collect();
        let labels: Vec<i64> = examples.iter().map(|e| e.label).collect();
        Ok(EncodedSplit::from_rows(
            &rows,
            &labels,
            max_len,
            self.pad_id,
        ))
    }
}

/// Cuts normalized text (single spaces) after its first `words` words. Every word yields at
/// least one token, so the first `words` tokens are unchanged while long reviews are not
/// tokenized in full only to be truncated.
fn keep_first_words(mut text: String, words: usize) -> String {
    if let Some((cut, _)) = text.match_indices(' ').nth(words.saturating_sub(1)) {
        text.truncate(cut);
    }
    text
}

/// `datasets/<name>/data/tokenizer-<kind>-<vocab>-<lower|cased>-<hash of texts>.json`.
fn cache_path(
    datasets_dir: &Path,
    dataset: &Dataset,
    cfg: &DatasetConfig,
    texts: &[String],
) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(TRAINING_RECIPE_VERSION.as_bytes());
    for text in texts {
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
    }
    let hash = hex::encode(hasher.finalize());
    let kind = match cfg.tokenizer.kind {
        TokenizerKind::Wordpiece => "wordpiece",
        TokenizerKind::Bpe => "bpe",
        TokenizerKind::File => "file",
        TokenizerKind::Pretrained => "pretrained",
    };
    let case = if cfg.lowercase { "lower" } else { "cased" };
    let name = format!(
        "tokenizer-{kind}-{}-{case}-{}.json",
        cfg.tokenizer.vocab_size,
        &hash[..12]
    );
    datasets_dir.join(&dataset.name).join("data").join(name)
}

/// Trains a WordPiece or BPE tokenizer with a BERT pre-tokenizer (whitespace and punctuation
/// splits) and a `[CLS] $A [SEP]` post-processor.
fn train_tokenizer(
    kind: TokenizerKind,
    vocab_size: usize,
    texts: &[String],
) -> tokenizers::Result<Tokenizer> {
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let (mut tokenizer, mut trainer): (Tokenizer, TrainerWrapper) = match kind {
        TokenizerKind::Bpe => {
            let model = BPE::builder()
                .unk_token("[UNK]".into())
                .end_of_word_suffix(BPE_WORD_END.into())
                .build()?;
            let trainer = BpeTrainerBuilder::new()
                .vocab_size(vocab_size)
                .min_frequency(2)
                .special_tokens(specials)
                .end_of_word_suffix(BPE_WORD_END.into())
                .show_progress(false)
                .build();
            let mut tokenizer = Tokenizer::new(model);
            tokenizer.with_decoder(Some(BPEDecoder::new(BPE_WORD_END.into())));
            (tokenizer, trainer.into())
        }
        TokenizerKind::Wordpiece | TokenizerKind::File | TokenizerKind::Pretrained => {
            let model = WordPiece::builder().unk_token("[UNK]".into()).build()?;
            let trainer = WordPieceTrainerBuilder::new()
                .vocab_size(vocab_size)
                .min_frequency(2)
                .special_tokens(specials)
                .show_progress(false)
                .build();
            let mut tokenizer = Tokenizer::new(model);
            tokenizer.with_decoder(Some(WordPieceDecoder::default()));
            (tokenizer, trainer.into())
        }
    };
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.train(&mut trainer, texts.iter())?;
    let id = |token: &str| {
        tokenizer
            .token_to_id(token)
            .ok_or_else(|| format!("{token} missing after training"))
    };
    let template = TemplateProcessing::builder()
        .try_single("[CLS] $A [SEP]")?
        .special_tokens(vec![("[CLS]", id("[CLS]")?), ("[SEP]", id("[SEP]")?)])
        .build()?;
    tokenizer.with_post_processor(Some(template));
    Ok(tokenizer)
}

/// Saves through a temporary file and a rename, so a crash never leaves half a cache file.
fn save_atomically(tokenizer: &Tokenizer, path: &Path, dataset: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let temporary = path.with_extension("json.partial");
    tokenizer
        .save(&temporary, false)
        .map_err(|e| tokenizer_error(dataset, &format!("saving {}", temporary.display()), e))?;
    std::fs::rename(&temporary, path).map_err(|e| Error::io(path, e))
}

fn tokenizer_error(dataset: &str, doing: &str, error: tokenizers::Error) -> Error {
    Error::Dataset {
        name: dataset.to_string(),
        message: format!("tokenizer failed while {doing}: {error}"),
        fix: "check dataset.tokenizer in the experiment file; delete datasets/<name>/data/tokenizer-*.json to retrain".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TokenizerConfig;

    fn toy_dataset() -> Dataset {
        let words = [
            "good", "great", "bad", "awful", "film", "movie", "plot", "acting", "the", "was",
        ];
        let train = (0..200)
            .map(|i| Example {
                text: format!(
                    "The {} {} <br />{} {}!",
                    words[i % 10],
                    words[(i * 3) % 10],
                    words[(i * 7) % 10],
                    words[(i / 10) % 10]
                ),
                label: (i % 2) as i64,
            })
            .collect();
        Dataset {
            name: "toy".into(),
            label_names: vec!["neg".into(), "pos".into()],
            train,
            validation: vec![],
            test: vec![],
        }
    }

    fn config(kind: TokenizerKind, max_len: usize) -> DatasetConfig {
        DatasetConfig {
            name: "toy".into(),
            max_len,
            subset: None,
            eval_subset: None,
            lowercase: true,
            tokenizer: TokenizerConfig {
                kind,
                vocab_size: 200,
                path: None,
            },
        }
    }

    fn cached_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("toy/data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn trained_wordpiece_has_pad_zero_and_wraps_in_cls_sep() {
        let dir = tempfile::tempdir().unwrap();
        let encoder = TextEncoder::for_dataset(
            dir.path(),
            &toy_dataset(),
            &config(TokenizerKind::Wordpiece, 16),
        )
        .unwrap();
        assert_eq!(encoder.pad_id(), 0);
        assert!(encoder.vocab_size() > SPECIAL_TOKENS.len() && encoder.vocab_size() <= 200);
        let t = encoder.tokenizer();
        let encoding = t.encode("the good film", true).unwrap();
        assert_eq!(
            encoding.get_tokens(),
            ["[CLS]", "the", "good", "film", "[SEP]"]
        );
    }

    #[test]
    fn encode_pads_truncates_and_keeps_specials() {
        let dir = tempfile::tempdir().unwrap();
        let encoder = TextEncoder::for_dataset(
            dir.path(),
            &toy_dataset(),
            &config(TokenizerKind::Wordpiece, 5),
        )
        .unwrap();
        let cls = encoder.tokenizer().token_to_id("[CLS]").unwrap() as i64;
        let sep = encoder.tokenizer().token_to_id("[SEP]").unwrap() as i64;
        let examples = [
            Example {
                text: "GOOD<br />film".into(),
                label: 1,
            },
            Example {
                text: "the good bad awful film movie plot".into(),
                label: 0,
            },
            Example {
                text: "   ".into(),
                label: 1,
            },
        ];
        let split = encoder.encode(&examples, 5).unwrap();
        assert_eq!(split.ids.size(), vec![3, 5]);
        assert_eq!(split.lengths, vec![4, 5, 2]);
        let ids = Vec::<Vec<i64>>::try_from(&split.ids).unwrap();
        let good = encoder.tokenizer().token_to_id("good").unwrap() as i64;
        let film = encoder.tokenizer().token_to_id("film").unwrap() as i64;
        assert_eq!(
            ids[0],
            vec![cls, good, film, sep, 0],
            "lowercased and HTML stripped"
        );
        assert_eq!(
            (ids[1][0], ids[1][4]),
            (cls, sep),
            "truncation keeps [CLS] and [SEP]"
        );
        assert_eq!(ids[2], vec![cls, sep, 0, 0, 0]);
        let mask = Vec::<Vec<i64>>::try_from(&split.mask).unwrap();
        assert_eq!(
            mask,
            vec![vec![1, 1, 1, 1, 0], vec![1; 5], vec![1, 1, 0, 0, 0]]
        );
        assert_eq!(Vec::<i64>::try_from(&split.labels).unwrap(), vec![1, 0, 1]);
    }

    #[test]
    fn only_the_first_words_are_kept_before_tokenizing() {
        assert_eq!(keep_first_words("a b c d".into(), 2), "a b");
        assert_eq!(keep_first_words("a b".into(), 2), "a b");
        assert_eq!(keep_first_words("a b".into(), 5), "a b");
    }

    #[test]
    fn cutting_words_early_gives_the_same_ids_as_full_tokenization() {
        let dir = tempfile::tempdir().unwrap();
        let data = toy_dataset();
        let encoder =
            TextEncoder::for_dataset(dir.path(), &data, &config(TokenizerKind::Wordpiece, 8))
                .unwrap();
        let long = Example {
            text: data
                .train
                .iter()
                .map(|e| e.text.as_str())
                .collect::<Vec<_>>()
                .join(" zzz, "),
            label: 0,
        };
        let mut full = encoder.tokenizer().clone();
        full.with_truncation(Some(TruncationParams {
            max_length: 8,
            ..Default::default()
        }))
        .unwrap();
        let expected: Vec<i64> = full
            .encode(encoder.normalizer().apply(&long.text), true)
            .unwrap()
            .get_ids()
            .iter()
            .map(|&id| i64::from(id))
            .collect();
        let split = encoder.encode(&[long], 8).unwrap();
        assert_eq!(
            Vec::<Vec<i64>>::try_from(&split.ids).unwrap(),
            vec![expected]
        );
    }

    #[test]
    fn max_len_must_leave_room_for_text() {
        let dir = tempfile::tempdir().unwrap();
        let encoder = TextEncoder::for_dataset(
            dir.path(),
            &toy_dataset(),
            &config(TokenizerKind::Wordpiece, 2),
        )
        .unwrap();
        let msg = encoder
            .encode(&toy_dataset().train[..1], 2)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("dataset.max_len"), "{msg}");
    }

    #[test]
    fn tokenizer_cache_round_trips_and_depends_on_the_texts() {
        let dir = tempfile::tempdir().unwrap();
        let data = toy_dataset();
        let cfg = config(TokenizerKind::Bpe, 16);
        let first = TextEncoder::for_dataset(dir.path(), &data, &cfg).unwrap();
        let files = cached_files(dir.path());
        assert_eq!(files.len(), 1);
        assert!(
            files[0].starts_with("tokenizer-bpe-200-lower-") && files[0].ends_with(".json"),
            "{files:?}"
        );
        let reloaded = TextEncoder::for_dataset(dir.path(), &data, &cfg).unwrap();
        assert_eq!(
            cached_files(dir.path()),
            files,
            "second call reuses the cache"
        );
        let a = first.encode(&data.train[..20], 16).unwrap();
        let b = reloaded.encode(&data.train[..20], 16).unwrap();
        assert_eq!(
            Vec::<Vec<i64>>::try_from(&a.ids).unwrap(),
            Vec::<Vec<i64>>::try_from(&b.ids).unwrap()
        );
        assert_eq!(first.vocab_size(), reloaded.vocab_size());
        let mut fewer = data.clone();
        fewer.subset_train(100, 1);
        TextEncoder::for_dataset(dir.path(), &fewer, &cfg).unwrap();
        assert_eq!(
            cached_files(dir.path()).len(),
            2,
            "other texts, other cache file"
        );
    }

    #[test]
    fn file_tokenizer_loads_a_saved_tokenizer_and_requires_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let data = toy_dataset();
        TextEncoder::for_dataset(dir.path(), &data, &config(TokenizerKind::Wordpiece, 16)).unwrap();
        let saved = dir
            .path()
            .join("toy/data")
            .join(&cached_files(dir.path())[0]);
        let mut cfg = config(TokenizerKind::File, 16);
        let msg = TextEncoder::for_dataset(dir.path(), &data, &cfg)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("dataset.tokenizer.path"), "{msg}");
        cfg.tokenizer.path = Some(saved.display().to_string());
        let encoder = TextEncoder::for_dataset(dir.path(), &data, &cfg).unwrap();
        assert_eq!(encoder.pad_id(), 0);
        cfg.tokenizer.path = Some(dir.path().join("nope.json").display().to_string());
        let msg = TextEncoder::for_dataset(dir.path(), &data, &cfg)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope.json"), "{msg}");
    }

    /// Trains WordPiece (8,000 words, lowercase) on the real built-in training splits, which
    /// must be fetched first: `cargo test --lib data::text_encoder -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn trains_on_the_real_builtin_datasets() {
        let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
        let cache = tempfile::tempdir().unwrap();
        for name in ["rotten_tomatoes", "imdb"] {
            let data = Dataset::load(&datasets, name).unwrap();
            let mut cfg = config(TokenizerKind::Wordpiece, 128);
            cfg.name = name.into();
            cfg.tokenizer.vocab_size = 8000;
            let started = std::time::Instant::now();
            let encoder = TextEncoder::for_dataset(cache.path(), &data, &cfg).unwrap();
            let trained = started.elapsed();
            let started = std::time::Instant::now();
            let test = encoder.encode(&data.test, 128).unwrap();
            let mean_len = test.lengths.iter().sum::<usize>() as f64 / test.len() as f64;
            eprintln!(
                "{name}: trained on {} texts in {trained:.2?}, vocab {}, encoded {} test texts in {:.2?}, mean length {mean_len:.1}",
                data.train.len(),
                encoder.vocab_size(),
                test.len(),
                started.elapsed()
            );
            assert_eq!(encoder.vocab_size(), 8000);
            let started = std::time::Instant::now();
            TextEncoder::for_dataset(cache.path(), &data, &cfg).unwrap();
            eprintln!(
                "{name}: reloaded from the cache in {:.2?}",
                started.elapsed()
            );
        }
    }
}
