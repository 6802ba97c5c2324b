//! `bitlab quantizers`: what the registry knows.
use bitlab::experiment::QuantConfig;
use bitlab::quant::registry;

/// Prints name, nominal bits per weight and description of every registered quantizer.
pub fn run() -> bitlab::Result<()> {
    println!("{:<10} {:>6}  description", "name", "bits");
    for name in registry::names() {
        let q = registry::resolve(&QuantConfig {
            scheme: name.to_string(),
            ..Default::default()
        })?;
        println!(
            "{:<10} {:>6.3}  {}",
            q.name(),
            q.bits_per_weight(),
            q.description()
        );
    }
    for (alias, target) in registry::aliases() {
        println!("{alias:<10} {:>6}  alias of {target}", "");
    }
    Ok(())
}
