//! The quantizer conformance suite: every registered quantizer (`registry::names()`) and every
//! quantizer declared in `experiments/quantizers.toml` must pass the same checks, with no
//! per-quantizer code here. A new scheme is covered the moment it is registered or declared.
//!
//! What is checked, precisely (`q` is `quantize_weight`, all tensors f32 on the CPU):
//! 1. **Grid**: `q(w)` has the shape and kind of `w`, does not track gradients, and each scale
//!    block the scheme declares ([`Quantizer::grid`]: per tensor, channel, group or flat block)
//!    holds at most `grid().levels` distinct values (`2^bits` or fewer).
//! 2. **Re-quantization**, as the scheme declares it ([`Quantizer::requantize`]):
//!    `Exact`: `q(q(w)) == q(w)` bit for bit; `UpToScaleRounding`: the same codes and
//!    `|q(q(w)) - q(w)| <= 2^-20 |q(w)|` elementwise (a recomputed f32 step may round; a changed
//!    code moves a value by at least 1/255 of the block's range, far above that bound);
//!    `SameCodes`: `q(q(w)) = c_b q(w)` with one `c_b > 0` per block (BitNet b1.58's absmean
//!    rescales by the share of non-zero codes); `OnGridOnly`: `q(q(w))` is on the grid.
//! 3. **Straight-through estimator**: with `y = ste(w, q(w), 1)`, `y` equals `q(w)` up to f32
//!    rounding of `w + (q(w) - w)`, and the gradient of `sum(y * r)` with respect to `w` is
//!    exactly `r`, for weights and for `ste(x, quantize_activation(x), 1)`. bitlab's STE is the
//!    identity everywhere (BitNet b1.58's `x + (q(x) - x).detach()`), so "inside the clipping
//!    range" holds a fortiori; no scheme masks the gradient outside its range.
//! 4. **Packing is exact**: `unpack(pack(w)) == q(w)` bit for bit on random shapes (proptest),
//!    also through `resolve_packed(tag)` (what artifact loading does), and a packed tensor with
//!    a byte missing is refused.
//! 5. **Bits per weight**: `bits_per_weight()` equals `8 * pack(w).data.len() / numel` for a
//!    `[1024, 1024]` weight, to 1e-9.
//! 6. **Determinism**: `q(w)` and `pack(w)` are identical across calls and across instances.
//! 7. **Edge cases**: all zeros quantize to zeros; constant rows and tiny values quantize to
//!    finite values that pack exactly; huge values (1e30, 3e38) and non-finite ones (NaN, inf)
//!    never panic, and `pack` either succeeds with finite values that unpack exactly or fails
//!    with a `Quantization` error whose message says `fix:` (NaN and inf must fail).
//! 8. **Sanity**: on Gaussian weights, `||q(w) - w|| < ||w||` (catches sign and scale bugs).
use std::path::Path;
use std::sync::Arc;

use bitlab::experiment::{Experiment, QuantConfig};
use bitlab::quant::{registry, ste, Quantizer, Requantize};
use bitlab::Error;
use proptest::prelude::*;
use tch::{Device, Kind, Tensor};

/// A quantizer under test and where it comes from.
struct Subject {
    label: String,
    quantizer: Arc<dyn Quantizer>,
}

/// Every registered quantizer (default settings) and every one declared in
/// experiments/quantizers.toml.
fn subjects() -> Vec<Subject> {
    let mut all: Vec<Subject> = registry::names()
        .into_iter()
        .map(|name| Subject {
            label: format!("registered `{name}`"),
            quantizer: registry::resolve(&QuantConfig {
                scheme: name.into(),
                ..QuantConfig::default()
            })
            .unwrap(),
        })
        .collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quantizers.toml");
    let declared = Experiment::load(&path).unwrap().quantizers;
    assert!(
        !declared.is_empty(),
        "{} declares no quantizers",
        path.display()
    );
    for d in declared {
        all.push(Subject {
            label: format!("declared `{}`", d.name),
            quantizer: registry::resolve(&QuantConfig {
                scheme: d.name.clone(),
                uniform: Some(d.spec),
                ..QuantConfig::default()
            })
            .unwrap(),
        });
    }
    all
}

/// Runs `check` on every subject and fails once, listing every subject that failed.
fn for_every_quantizer(check: impl Fn(&dyn Quantizer) -> Result<(), String>) {
    let failures: Vec<String> = subjects()
        .iter()
        .filter_map(|s| {
            check(s.quantizer.as_ref())
                .err()
                .map(|e| format!("{}: {e}", s.label))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Shapes that are not multiples of 4, 5, 8, the group sizes or the nf4 block, plus a 3-D one.
const SHAPES: [&[i64]; 5] = [&[7, 70], &[3, 5], &[1, 130], &[2, 3, 40], &[16, 64]];

fn randn(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (Kind::Float, Device::Cpu))
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.detach().to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

/// Checks that every scale block of `t` holds at most the declared number of levels.
fn on_grid(q: &dyn Quantizer, t: &Tensor) -> Result<(), String> {
    let grid = q.grid();
    let v = values(t);
    for (b, block) in grid.granularity.blocks(&t.size()).iter().enumerate() {
        let mut distinct: Vec<f32> = block.iter().map(|&i| v[i]).collect();
        distinct.sort_by(f32::total_cmp);
        distinct.dedup_by(|a, b| a == b || (a.is_nan() && b.is_nan()));
        if distinct.len() as u64 > grid.levels {
            return Err(format!(
                "block {b} ({}) of a {:?} tensor holds {} distinct values, more than the {} \
                 levels declared",
                grid.granularity,
                t.size(),
                distinct.len(),
                grid.levels
            ));
        }
    }
    Ok(())
}

#[test]
fn values_lie_on_the_declared_grid() {
    for_every_quantizer(|q| {
        for (i, shape) in SHAPES.iter().enumerate() {
            let w = randn(shape, i as i64) * 0.1;
            let wq = q.quantize_weight(&w.set_requires_grad(true));
            if wq.size() != w.size() || wq.kind() != Kind::Float {
                return Err(format!("q(w) is {:?} {:?}", wq.size(), wq.kind()));
            }
            if wq.requires_grad() {
                return Err("q(w) tracks gradients; compute it without them".into());
            }
            on_grid(q, &wq)?;
        }
        Ok(())
    });
}

#[test]
fn requantization_behaves_as_declared() {
    const REL: f32 = 1.0 / (1 << 20) as f32;
    for_every_quantizer(|q| {
        for (i, shape) in SHAPES.iter().enumerate() {
            let once = q.quantize_weight(&randn(shape, 10 + i as i64));
            let twice = q.quantize_weight(&once);
            let (a, b) = (values(&once), values(&twice));
            let mismatch = |what: &str, j: usize| {
                Err(format!(
                    "{what} ({}): at flat index {j} of a {shape:?} tensor q(w) = {} but \
                     q(q(w)) = {}",
                    q.requantize(),
                    a[j],
                    b[j]
                ))
            };
            match q.requantize() {
                Requantize::Exact => {
                    if let Some(j) = (0..a.len()).find(|&j| a[j].to_bits() != b[j].to_bits()) {
                        return mismatch("not bit-for-bit idempotent", j);
                    }
                }
                Requantize::UpToScaleRounding => {
                    if let Some(j) = (0..a.len()).find(|&j| (b[j] - a[j]).abs() > REL * a[j].abs())
                    {
                        return mismatch("not idempotent up to scale rounding", j);
                    }
                }
                Requantize::SameCodes => {
                    for block in q.grid().granularity.blocks(&once.size()) {
                        let Some(&k) = block
                            .iter()
                            .max_by(|&&x, &&y| a[x].abs().total_cmp(&a[y].abs()))
                        else {
                            continue;
                        };
                        let c = if a[k] == 0.0 { 1.0 } else { b[k] / a[k] };
                        if c.is_nan() || c <= 0.0 {
                            return mismatch("rescale factor is not positive", k);
                        }
                        if let Some(&j) = block
                            .iter()
                            .find(|&&j| (b[j] - c * a[j]).abs() > REL * b[j].abs().max(1e-30))
                        {
                            return mismatch("codes changed on re-quantization", j);
                        }
                    }
                }
                Requantize::OnGridOnly => on_grid(q, &twice)?,
            }
        }
        Ok(())
    });
}

#[test]
fn the_straight_through_gradient_is_the_identity() {
    for_every_quantizer(|q| {
        let w = randn(&[6, 70], 20).set_requires_grad(true);
        let x = randn(&[2, 5, 70], 21).set_requires_grad(true);
        let r = randn(&[6, 70], 22);
        let rx = randn(&[2, 5, 70], 23);
        for (input, quantized, upstream, what) in [
            (&w, q.quantize_weight(&w), &r, "weights"),
            (&x, q.quantize_activation(&x), &rx, "activations"),
        ] {
            let y = ste(input, &quantized, 1.0);
            let forward = f64::try_from((&y - &quantized).abs().max()).unwrap();
            let bound = 1e-6 * f64::try_from(quantized.abs().max()).unwrap().max(1.0);
            if forward > bound {
                return Err(format!("{what}: ste forward differs from q by {forward}"));
            }
            let grads =
                Tensor::run_backward(&[(&y * upstream).sum(Kind::Float)], &[input], false, false);
            if !grads[0].equal(upstream) {
                return Err(format!(
                    "{what}: the gradient through ste is not the identity"
                ));
            }
        }
        Ok(())
    });
}

/// Packs `w`, unpacks it directly and through the unpacker its tag resolves to, and compares
/// both with `q(w)` bit for bit; a packed tensor missing a byte must be refused.
fn packs_exactly(q: &dyn Quantizer, w: &Tensor) -> Result<(), String> {
    let expected = q.quantize_weight(w);
    let packed = q
        .pack(w)
        .map_err(|e| format!("pack failed on {:?}: {e}", w.size()))?;
    let direct = q
        .unpack(&packed)
        .map_err(|e| format!("unpack failed: {e}"))?;
    let by_tag = registry::resolve_packed(&packed.scheme)
        .and_then(|u| u.unpack(&packed))
        .map_err(|e| format!("tag `{}` does not unpack: {e}", packed.scheme))?;
    for (how, got) in [("unpack", direct), ("resolve_packed(tag).unpack", by_tag)] {
        if got.size() != w.size() || !got.equal(&expected) {
            return Err(format!(
                "{how}(pack(w)) != q(w) for a {:?} tensor (max diff {})",
                w.size(),
                f64::try_from((got.reshape(w.size()) - &expected).abs().max()).unwrap_or(f64::NAN)
            ));
        }
    }
    let mut truncated = packed.clone();
    truncated.data.pop();
    if q.unpack(&truncated).is_ok() {
        return Err("unpack accepted a packed tensor with a byte missing".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn pack_then_unpack_is_exact_on_random_shapes(
        rows in 1i64..9, cols in 1i64..150, scale in -3i32..3, seed in 0i64..10_000
    ) {
        let w = randn(&[rows, cols], seed) * 10f64.powi(scale);
        let failures: Vec<String> = subjects()
            .iter()
            .filter_map(|s| packs_exactly(s.quantizer.as_ref(), &w).err().map(|e| format!("{}: {e}", s.label)))
            .collect();
        prop_assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }
}

#[test]
fn stated_bits_per_weight_equal_the_packed_bytes_of_a_1024_square_weight() {
    let w = randn(&[1024, 1024], 30) * 0.02;
    for_every_quantizer(|q| {
        let packed = q.pack(&w).map_err(|e| e.to_string())?;
        let measured = 8.0 * packed.data.len() as f64 / packed.numel() as f64;
        if (measured - q.bits_per_weight()).abs() > 1e-9 {
            return Err(format!(
                "bits_per_weight() = {} but the packed [1024, 1024] tensor holds {} bytes = {} \
                 bits per weight",
                q.bits_per_weight(),
                packed.data.len(),
                measured
            ));
        }
        Ok(())
    });
}

#[test]
fn results_are_deterministic() {
    let again: Vec<Subject> = subjects();
    let w = randn(&[9, 100], 40);
    let failures: Vec<String> = subjects()
        .iter()
        .zip(&again)
        .filter_map(|(s, t)| {
            let (a, b) = (
                s.quantizer.quantize_weight(&w),
                t.quantizer.quantize_weight(&w),
            );
            let same_values = a.equal(&b) && a.equal(&s.quantizer.quantize_weight(&w));
            let (p, r) = (s.quantizer.pack(&w).ok()?, t.quantizer.pack(&w).ok()?);
            (!same_values || p != r).then(|| format!("{}: results differ between calls", s.label))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// `pack` of a degenerate input either succeeds and round-trips with finite values, or fails
/// with a quantization error that says how to fix it.
fn works_or_fails_clearly(q: &dyn Quantizer, w: &Tensor, what: &str) -> Result<(), String> {
    let _ = q.quantize_weight(w); // must not panic
    match q.pack(w) {
        Ok(_) => {
            packs_exactly(q, w).map_err(|e| format!("{what}: {e}"))?;
            if values(&q.quantize_weight(w)).iter().any(|v| !v.is_finite()) {
                return Err(format!("{what}: packed, but q(w) is not finite"));
            }
            Ok(())
        }
        Err(Error::Quantization { message, .. }) if message.contains("fix:") => Ok(()),
        Err(other) => Err(format!("{what}: unclear error `{other}` (no `fix:`)")),
    }
}

#[test]
fn degenerate_inputs_work_or_fail_with_a_clear_error() {
    for_every_quantizer(|q| {
        let zeros = Tensor::zeros([4, 70], (Kind::Float, Device::Cpu));
        let wq = q.quantize_weight(&zeros);
        if values(&wq).iter().any(|&v| v != 0.0) {
            return Err("all-zero weights do not quantize to zeros".into());
        }
        packs_exactly(q, &zeros).map_err(|e| format!("zeros: {e}"))?;

        let constants = Tensor::from_slice(&[0.5f32, -2.0, 0.0, 1e-3])
            .view([4, 1])
            .expand([4, 70], false)
            .contiguous();
        packs_exactly(q, &constants).map_err(|e| format!("constant rows: {e}"))?;
        on_grid(q, &q.quantize_weight(&constants))?;
        works_or_fails_clearly(q, &(randn(&[4, 70], 50) * 1e-30), "tiny values")?;

        works_or_fails_clearly(q, &(randn(&[4, 70], 51) * 1e30), "values near 1e30")?;
        let near_max = randn(&[4, 70], 52);
        let _ = near_max.get(1).get(3).fill_(3e38);
        works_or_fails_clearly(q, &near_max, "a value of 3e38")?;

        for bad in [f64::NAN, f64::INFINITY] {
            let w = randn(&[4, 70], 53);
            let _ = w.get(2).get(7).fill_(bad);
            let _ = q.quantize_weight(&w); // must not panic
            match q.pack(&w) {
                Err(Error::Quantization { message, .. }) if message.contains("fix:") => {}
                Err(other) => return Err(format!("{bad}: unclear error `{other}`")),
                Ok(_) => return Err(format!("pack accepted a weight holding {bad}")),
            }
        }
        Ok(())
    });
}

#[test]
fn quantization_error_is_below_the_signal() {
    let w = randn(&[32, 128], 60);
    for_every_quantizer(|q| {
        let error = f64::try_from((q.quantize_weight(&w) - &w).norm()).unwrap();
        let signal = f64::try_from(w.norm()).unwrap();
        if error < signal {
            Ok(())
        } else {
            Err(format!(
                "||q(w) - w|| = {error} is not below ||w|| = {signal}"
            ))
        }
    });
}
