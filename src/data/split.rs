//! Seeded, stratified splitting and subsetting.
//!
//! Every random choice here draws from ChaCha8 seeded with a `u64`. The shuffle is a plain
//! Fisher-Yates written out here rather than `rand`'s `SliceRandom::shuffle`, whose output `rand`
//! does not promise to keep across versions: the committed dataset manifests pin the sha256 of the
//! split files, so the same seed must give the same split with any `rand` release.
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shuffles `items` in place, reproducibly for a given `seed` (Fisher-Yates with unbiased draws).
pub fn seeded_shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..items.len()).rev() {
        let j = uniform_below(&mut rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A uniform draw from `0..bound` (`bound > 0`) by rejection, so no value is favoured.
fn uniform_below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let draw = rng.next_u64();
        if draw < zone {
            return draw % bound;
        }
    }
}

/// Row indices of the three splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitIndices {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub validation: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits rows `0..labels.len()` into train/validation/test, label by label, so each split keeps
/// the label proportions. Per label with `c` rows, validation gets `floor(c * validation)`, test
/// `floor(c * test)` and train the rest. Each split is then shuffled so labels interleave.
pub fn stratified_split(labels: &[i64], validation: f64, test: f64, seed: u64) -> SplitIndices {
    let mut split = SplitIndices {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for (offset, mut rows) in rows_by_label(labels).into_iter().enumerate() {
        seeded_shuffle(&mut rows, seed.wrapping_add(offset as u64));
        let n_validation = fraction_of(rows.len(), validation);
        let n_test = fraction_of(rows.len(), test).min(rows.len() - n_validation);
        split.validation.extend_from_slice(&rows[..n_validation]);
        split
            .test
            .extend_from_slice(&rows[n_validation..n_validation + n_test]);
        split
            .train
            .extend_from_slice(&rows[n_validation + n_test..]);
    }
    let mixing_seed = seed ^ 0x5eed_5eed_5eed_5eed;
    seeded_shuffle(&mut split.train, mixing_seed);
    seeded_shuffle(&mut split.validation, mixing_seed.wrapping_add(1));
    seeded_shuffle(&mut split.test, mixing_seed.wrapping_add(2));
    split
}

/// Picks `n` of the rows `0..labels.len()` with the label proportions kept (largest-remainder
/// rounding, so exactly `n` come back when `n <= labels.len()`). The result is in ascending row
/// order. Asking for as many rows as there are, or more, returns all of them.
pub fn stratified_subset(labels: &[i64], n: usize, seed: u64) -> Vec<usize> {
    let total = labels.len();
    if n >= total {
        return (0..total).collect();
    }
    let groups = rows_by_label(labels);
    let mut quotas: Vec<usize> = groups.iter().map(|rows| rows.len() * n / total).collect();
    let mut by_remainder: Vec<usize> = (0..groups.len()).collect();
    // Largest remainder first; ties go to the smaller label so the choice is deterministic.
    by_remainder.sort_by_key(|&g| std::cmp::Reverse(groups[g].len() * n % total));
    let missing = n - quotas.iter().sum::<usize>();
    for &g in by_remainder.iter().take(missing) {
        quotas[g] += 1;
    }
    let mut chosen = Vec::with_capacity(n);
    for (offset, (mut rows, quota)) in groups.into_iter().zip(quotas).enumerate() {
        seeded_shuffle(&mut rows, seed.wrapping_add(offset as u64));
        chosen.extend_from_slice(&rows[..quota]);
    }
    chosen.sort_unstable();
    chosen
}

/// Row indices grouped by label, groups ordered by label value, rows ascending within a group.
fn rows_by_label(labels: &[i64]) -> Vec<Vec<usize>> {
    let mut groups: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for (row, &label) in labels.iter().enumerate() {
        groups.entry(label).or_default().push(row);
    }
    groups.into_values().collect()
}

/// `floor(count * fraction)`, tolerant of the float error in products like `12500 * 0.1`.
fn fraction_of(count: usize, fraction: f64) -> usize {
    ((count as f64 * fraction) + 1e-9).floor() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(labels: &[i64], rows: &[usize], label: i64) -> usize {
        rows.iter().filter(|&&r| labels[r] == label).count()
    }

    #[test]
    fn shuffle_is_a_permutation_that_depends_on_the_seed() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        let mut c = a.clone();
        seeded_shuffle(&mut a, 7);
        seeded_shuffle(&mut b, 7);
        seeded_shuffle(&mut c, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn shuffle_output_is_pinned_for_a_seed() {
        // The committed manifests pin split checksums: this order must never change.
        let mut items: Vec<u8> = (0..8).collect();
        seeded_shuffle(&mut items, 1234);
        let mut again: Vec<u8> = (0..8).collect();
        seeded_shuffle(&mut again, 1234);
        assert_eq!(items, again);
        assert_eq!(items, PINNED_ORDER_SEED_1234);
    }

    /// `seeded_shuffle((0..8), 1234)`, recorded when the built-in manifests were generated.
    const PINNED_ORDER_SEED_1234: [u8; 8] = [1, 6, 3, 2, 4, 7, 0, 5];

    #[test]
    fn split_keeps_label_balance_and_covers_every_row_once() {
        // 300 negatives, 100 positives.
        let labels: Vec<i64> = (0..400).map(|i| i64::from(i % 4 == 0)).collect();
        let split = stratified_split(&labels, 0.1, 0.2, 1234);
        assert_eq!(
            (split.train.len(), split.validation.len(), split.test.len()),
            (280, 40, 80)
        );
        assert_eq!(count(&labels, &split.validation, 1), 10);
        assert_eq!(count(&labels, &split.test, 1), 20);
        assert_eq!(count(&labels, &split.train, 1), 70);
        let mut all: Vec<usize> = [
            split.train.clone(),
            split.validation.clone(),
            split.test.clone(),
        ]
        .concat();
        all.sort_unstable();
        assert_eq!(all, (0..400).collect::<Vec<_>>());
    }

    #[test]
    fn split_is_deterministic_and_seed_dependent() {
        let labels: Vec<i64> = (0..200).map(|i| i % 3).collect();
        assert_eq!(
            stratified_split(&labels, 0.1, 0.1, 5),
            stratified_split(&labels, 0.1, 0.1, 5)
        );
        assert_ne!(
            stratified_split(&labels, 0.1, 0.1, 5),
            stratified_split(&labels, 0.1, 0.1, 6)
        );
    }

    #[test]
    fn split_interleaves_labels() {
        let labels: Vec<i64> = (0..100).map(|i| i64::from(i >= 50)).collect();
        let split = stratified_split(&labels, 0.0, 0.0, 3);
        let first_half_positives = count(&labels, &split.train[..50], 1);
        assert!(first_half_positives > 10 && first_half_positives < 40);
    }

    #[test]
    fn subset_keeps_proportions_and_exact_size() {
        let labels: Vec<i64> = (0..1000).map(|i| i64::from(i % 4 == 0)).collect();
        let subset = stratified_subset(&labels, 101, 9);
        assert_eq!(subset.len(), 101);
        let positives = count(&labels, &subset, 1);
        assert!((25..=26).contains(&positives), "{positives} positives");
        assert!(subset.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(subset, stratified_subset(&labels, 101, 9));
        assert_ne!(subset, stratified_subset(&labels, 101, 10));
    }

    #[test]
    fn subset_larger_than_the_data_returns_everything() {
        let labels = [0, 1, 0];
        assert_eq!(stratified_subset(&labels, 10, 1), vec![0, 1, 2]);
    }
}
