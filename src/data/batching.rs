//! Encoded splits as tensors, and their division into (optionally shuffled) mini-batches with
//! dynamic padding: each batch is cut to the longest sequence it holds, so short-sentence batches
//! do not pay for `max_len`.
use tch::{Kind, Tensor};

use super::split::seeded_shuffle;

/// A whole split, tokenized and padded to one length.
#[derive(Debug)]
pub struct EncodedSplit {
    /// Token ids, `[N, max_len]` Int64, padded with the tokenizer's pad id.
    pub ids: Tensor,
    /// Attention mask, `[N, max_len]` Int64: 1 for tokens, 0 for padding.
    pub mask: Tensor,
    /// Class indices, `[N]` Int64.
    pub labels: Tensor,
    /// Number of real tokens per row (at most `max_len`).
    pub lengths: Vec<usize>,
}

/// One mini-batch, `B` rows trimmed to the longest row `L` in the batch.
#[derive(Debug)]
pub struct Batch {
    /// Token ids, `[B, L]` Int64.
    pub ids: Tensor,
    /// Attention mask, `[B, L]` Int64 (1 = token, 0 = padding).
    pub mask: Tensor,
    /// Class indices, `[B]` Int64.
    pub labels: Tensor,
}

impl EncodedSplit {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the split has no rows.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Splits the rows into batches of `batch_size` (the last one may be smaller; a
    /// `batch_size` of 0 is treated as 1). Rows stay in order when `shuffle_seed` is `None`,
    /// otherwise they are shuffled with ChaCha8 seeded by it, the same way on every run.
    /// Each batch is trimmed to the longest sequence it contains.
    pub fn batches(&self, batch_size: usize, shuffle_seed: Option<u64>) -> Vec<Batch> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(seed) = shuffle_seed {
            seeded_shuffle(&mut order, seed);
        }
        order
            .chunks(batch_size.max(1))
            .map(|rows| {
                let longest = rows
                    .iter()
                    .map(|&r| self.lengths[r])
                    .max()
                    .unwrap_or(0)
                    .max(1);
                let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
                let index = Tensor::from_slice(&index).to_device(self.ids.device());
                let take = |t: &Tensor| {
                    t.index_select(0, &index)
                        .narrow(1, 0, longest as i64)
                        .contiguous()
                };
                Batch {
                    ids: take(&self.ids),
                    mask: take(&self.mask),
                    labels: self.labels.index_select(0, &index),
                }
            })
            .collect()
    }

    /// Builds a split from per-row token ids, padding (or cutting) every row to `max_len`.
    pub(crate) fn from_rows(
        rows: &[Vec<i64>],
        labels: &[i64],
        max_len: usize,
        pad_id: i64,
    ) -> EncodedSplit {
        let mut ids = vec![pad_id; rows.len() * max_len];
        let mut mask = vec![0i64; rows.len() * max_len];
        let mut lengths = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            let length = row.len().min(max_len);
            ids[r * max_len..r * max_len + length].copy_from_slice(&row[..length]);
            mask[r * max_len..r * max_len + length].fill(1);
            lengths.push(length);
        }
        let shape = [rows.len() as i64, max_len as i64];
        EncodedSplit {
            ids: Tensor::from_slice(&ids).view(shape),
            mask: Tensor::from_slice(&mask).view(shape),
            labels: Tensor::from_slice(labels).to_kind(Kind::Int64),
            lengths,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_rows(t: &Tensor) -> Vec<Vec<i64>> {
        Vec::<Vec<i64>>::try_from(t).unwrap()
    }

    fn labels(b: &Batch) -> Vec<i64> {
        Vec::<i64>::try_from(&b.labels).unwrap()
    }

    fn sample() -> EncodedSplit {
        let rows = vec![
            vec![5, 6],
            vec![7],
            vec![8, 9, 10, 11],
            vec![12, 13, 14],
            vec![15],
        ];
        EncodedSplit::from_rows(&rows, &[0, 1, 0, 1, 1], 3, 0)
    }

    #[test]
    fn rows_are_padded_and_cut_with_masks_and_lengths() {
        let split = sample();
        assert_eq!(split.len(), 5);
        assert_eq!(split.lengths, vec![2, 1, 3, 3, 1]);
        assert_eq!(split.ids.kind(), Kind::Int64);
        assert_eq!(
            to_rows(&split.ids),
            vec![
                vec![5, 6, 0],
                vec![7, 0, 0],
                vec![8, 9, 10],
                vec![12, 13, 14],
                vec![15, 0, 0]
            ]
        );
        assert_eq!(to_rows(&split.mask)[1], vec![1, 0, 0]);
        assert_eq!(to_rows(&split.mask)[2], vec![1, 1, 1]);
    }

    #[test]
    fn ordered_batches_are_trimmed_to_their_longest_row() {
        let batches = sample().batches(2, None);
        assert_eq!(batches.len(), 3);
        assert_eq!(to_rows(&batches[0].ids), vec![vec![5, 6], vec![7, 0]]);
        assert_eq!(to_rows(&batches[0].mask), vec![vec![1, 1], vec![1, 0]]);
        assert_eq!(batches[1].ids.size(), vec![2, 3]);
        assert_eq!(to_rows(&batches[2].ids), vec![vec![15]]);
        assert_eq!(labels(&batches[0]), vec![0, 1]);
    }

    #[test]
    fn seeded_shuffle_is_deterministic_and_covers_every_row() {
        let split = sample();
        let order = |seed| -> Vec<i64> {
            split
                .batches(2, Some(seed))
                .iter()
                .flat_map(|b| to_rows(&b.ids).into_iter().map(|r| r[0]))
                .collect()
        };
        assert_eq!(order(42), order(42));
        let mut firsts = order(42);
        firsts.sort_unstable();
        assert_eq!(firsts, vec![5, 7, 8, 12, 15]);
        assert!((0..20).any(|seed| order(seed) != order(42)));
    }

    #[test]
    fn empty_split_has_no_batches() {
        let split = EncodedSplit::from_rows(&[], &[], 4, 0);
        assert!(split.is_empty());
        assert_eq!(split.ids.size(), vec![0, 4]);
        assert!(split.batches(8, Some(1)).is_empty());
    }

    #[test]
    fn zero_batch_size_means_one_row_per_batch() {
        assert_eq!(sample().batches(0, None).len(), 5);
    }
}
