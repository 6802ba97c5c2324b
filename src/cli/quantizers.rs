//! `bitlab quantizers [--experiment FILE]`: what the registry knows, and what a file declares.
use std::path::PathBuf;
use std::sync::Arc;

use bitlab::experiment::{Experiment, QuantConfig};
use bitlab::quant::{registry, Quantizer};

/// Arguments of `bitlab quantizers`.
#[derive(Debug, clap::Args)]
pub struct QuantizersArgs {
    /// Also list the quantizers declared in this experiment file (`[quantizers.NAME]`).
    #[arg(long, value_name = "FILE")]
    experiment: Option<PathBuf>,
}

/// Prints one row per quantizer (name, nominal bits per weight for a 1024x1024 weight, scale
/// granularity, packed inference kernel, origin, description), then the aliases.
pub fn run(args: QuantizersArgs) -> bitlab::Result<()> {
    let mut rows: Vec<(Arc<dyn Quantizer>, String)> = Vec::new();
    for name in registry::names() {
        let q = registry::resolve(&QuantConfig {
            scheme: name.to_string(),
            ..Default::default()
        })?;
        rows.push((q, "registered".into()));
    }
    if let Some(path) = &args.experiment {
        let experiment = Experiment::load(path)?;
        for declared in experiment.quantizers {
            let q = registry::resolve(&QuantConfig {
                scheme: declared.name.clone(),
                uniform: Some(declared.spec),
                ..Default::default()
            })?;
            rows.push((q, format!("declared in {}", path.display())));
        }
    }
    let width = rows
        .iter()
        .map(|(q, _)| q.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    // The kernel column shows each scheme's KernelBinding name: the kernel load_kernel returns.
    let kernels: Vec<String> = rows
        .iter()
        .map(|(q, _)| q.kernel().map_or("none".into(), |k| k.name().to_string()))
        .collect();
    let kernel_width = kernels.iter().map(String::len).max().unwrap_or(0).max(13);
    println!(
        "{:<width$} {:>9}  {:<12} {:<kernel_width$} description",
        "name", "bits/w", "granularity", "packed kernel"
    );
    for ((q, origin), kernel) in rows.iter().zip(&kernels) {
        println!(
            "{:<width$} {:>9.4}  {:<12} {kernel:<kernel_width$} {} [{origin}]",
            q.name(),
            q.bits_per_weight(),
            q.grid().granularity.to_string(),
            q.description()
        );
    }
    println!();
    println!("bits/w: packed bits per weight of a 1024x1024 weight, scales included.");
    println!("packed kernel: none means inference multiplies weights dequantized to fp32.");
    println!();
    println!("aliases:");
    for (alias, target) in registry::aliases() {
        println!("  {alias:<12} = {target}");
    }
    Ok(())
}
