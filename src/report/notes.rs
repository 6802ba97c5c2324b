//! Statements about which kernel produced each scheme's latency, derived from the kernel ids
//! recorded with the measurements (never assumed from the scheme name).
//!
//! A fake-quantized scheme whose weights are dequantized before a full-precision matmul runs at
//! fp32 speed: its latency is fp32 latency, and a low-bit speed claim needs a packed kernel
//! (see DESIGN.md, "Things that are easy to get wrong").
use super::data::{ReportData, BASELINE_SCHEME};
use crate::store::KernelId;

/// One sentence per (scheme, latency kernel) saying whether that latency is fp32 latency.
pub fn kernel_notes(data: &ReportData) -> Vec<String> {
    let summaries = data.scheme_summaries();
    let baseline_kernels: Vec<KernelId> = summaries
        .iter()
        .find(|s| s.scheme == BASELINE_SCHEME)
        .map(|s| s.kernels.clone())
        .unwrap_or_default();
    let mut notes = Vec::new();
    for summary in summaries.iter().filter(|s| s.scheme != BASELINE_SCHEME) {
        for kernel in &summary.kernels {
            let scheme = &summary.scheme;
            let note = if kernel.dequantized {
                format!(
                    "{scheme}: timed with kernel \"{kernel}\", which dequantizes the weights and \
                     multiplies in full precision, so this latency is fp32 latency: fake \
                     quantization saves storage, not time."
                )
            } else if baseline_kernels.contains(kernel) {
                format!(
                    "{scheme}: timed with the same kernel as {BASELINE_SCHEME} (\"{kernel}\"), so \
                     this latency is fp32 latency."
                )
            } else {
                format!("{scheme}: timed with its own kernel \"{kernel}\"; this latency is that kernel's.")
            };
            notes.push(note);
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::{kernel, trial};

    #[test]
    fn notes_follow_the_recorded_kernel_names() {
        let mut packed = trial(3, "ternary", 0, "done", 0.7, 100);
        for m in &mut packed.measurements {
            m.kernel = kernel("ternary-avx2 (packed 2-bit)");
        }
        let mut same = trial(4, "fp16", 0, "done", 0.7, 100);
        for m in &mut same.measurements {
            m.kernel = kernel("libtorch-fp32");
        }
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![
                trial(1, "fp32", 0, "done", 0.8, 100),
                trial(2, "int8", 0, "done", 0.8, 100),
                packed,
                same,
            ],
        );
        let notes = kernel_notes(&data);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("int8") && notes[0].contains("is fp32 latency"));
        assert!(notes[1].starts_with("ternary") && notes[1].contains("its own kernel"));
        assert!(notes[2].starts_with("fp16") && notes[2].contains("same kernel as fp32"));
    }

    #[test]
    fn no_latency_no_notes() {
        let mut t = trial(1, "int8", 0, "done", 0.8, 100);
        t.measurements.clear();
        assert!(kernel_notes(&ReportData::new("e", "", None, vec![t])).is_empty());
    }
}
