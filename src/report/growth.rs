//! Growth exponents: how a measurement scales with sequence length, as the least-squares slope
//! of log(value) against log(length). A value growing like `L^p` has exponent `p`: about 1 for
//! memory linear in length, about 2 for a kernel that materializes the `L x L` scores.
//!
//! Short lengths are dominated by costs that do not grow (the model's weights, per-call
//! overheads), so the fit uses the lengths at or above [`FIT_MIN_LEN`] when at least two such
//! lengths were measured, and every length otherwise; [`Growth`] says which.

/// Shortest length used in the fit when at least two lengths reach it.
pub const FIT_MIN_LEN: f64 = 512.0;

/// A fitted growth exponent and the lengths it was fitted over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// Least-squares slope of log(value) on log(length).
    pub exponent: f64,
    /// Shortest length in the fit.
    pub from_len: f64,
    /// Longest length in the fit.
    pub to_len: f64,
    /// Number of points in the fit.
    pub points: usize,
}

impl Growth {
    /// Fits `(length, value)` points; `None` with fewer than two usable points (positive
    /// length and value) or a single distinct length.
    pub fn fit(points: &[(f64, f64)]) -> Option<Growth> {
        let usable: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|&(len, value)| len > 0.0 && value > 0.0)
            .collect();
        let long: Vec<(f64, f64)> = usable
            .iter()
            .copied()
            .filter(|&(len, _)| len >= FIT_MIN_LEN)
            .collect();
        let chosen = if long.len() >= 2 { long } else { usable };
        if chosen.len() < 2 {
            return None;
        }
        let logs: Vec<(f64, f64)> = chosen.iter().map(|&(l, v)| (l.ln(), v.ln())).collect();
        let n = logs.len() as f64;
        let mean_x = logs.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = logs.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = logs.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        if sxx <= 0.0 {
            return None;
        }
        let sxy: f64 = logs.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        Some(Growth {
            exponent: sxy / sxx,
            from_len: chosen.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
            to_len: chosen.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
            points: chosen.len(),
        })
    }

    /// `L^1.02 (fit 512–4096)`: the exponent and the fitted range.
    pub fn describe(&self) -> String {
        format!(
            "L^{:.2} (fit {:.0}–{:.0})",
            self.exponent, self.from_len, self.to_len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_laws_recover_their_exponent_over_the_long_lengths() {
        // Flat below 512 (fixed costs dominate), quadratic from 512 on: the short lengths are
        // left out of the fit, so it sees the quadratic part only.
        let quadratic: Vec<(f64, f64)> = [128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0]
            .iter()
            .map(|&l: &f64| (l, 3.0 * l.max(512.0) * l.max(512.0)))
            .collect();
        let g = Growth::fit(&quadratic).unwrap();
        assert!((g.exponent - 2.0).abs() < 1e-9);
        assert_eq!((g.from_len, g.to_len, g.points), (512.0, 4096.0, 4));
        assert_eq!(g.describe(), "L^2.00 (fit 512–4096)");
    }

    #[test]
    fn short_series_fit_every_length_and_degenerate_ones_fit_nothing() {
        let g = Growth::fit(&[(16.0, 2.0), (64.0, 8.0)]).unwrap();
        assert!((g.exponent - 1.0).abs() < 1e-9);
        assert_eq!(g.from_len, 16.0);
        assert_eq!(Growth::fit(&[(16.0, 2.0)]), None);
        assert_eq!(Growth::fit(&[(16.0, 2.0), (16.0, 3.0)]), None);
        assert_eq!(
            Growth::fit(&[(16.0, 0.0), (64.0, 8.0)]),
            None,
            "zero is left out"
        );
    }
}
